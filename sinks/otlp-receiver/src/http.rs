//! The HTTP side: `POST /v1/traces` with a binary protobuf body, as the
//! OTLP/HTTP specification defines it. Anything else (JSON bodies, compressed
//! bodies, other paths) is refused loudly, so a sink that drifts from the
//! protocol fails its tests instead of passing by accident.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{Shared, Transport, Verdict};

const PROTOBUF: &str = "application/x-protobuf";

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn error(status: StatusCode, grpc_code: i32, message: String) -> Response {
    let body = RpcStatus {
        code: grpc_code,
        message,
    }
    .encode_to_vec();
    (status, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
}

async fn traces(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some(PROTOBUF) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            3,
            format!("content-type {content_type:?} is not supported; send {PROTOBUF}"),
        );
    }
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        if encoding.as_bytes() != b"identity" {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                3,
                format!("content-encoding {encoding:?} is not supported by this receiver"),
            );
        }
    }
    let request = match ExportTraceServiceRequest::decode(body.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                3,
                format!("body is not an ExportTraceServiceRequest: {e}"),
            )
        }
    };
    match shared.handle(Transport::Http, request) {
        Verdict::Accept => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, PROTOBUF)],
            ExportTraceServiceResponse::default().encode_to_vec(),
        )
            .into_response(),
        Verdict::Unavailable(delay) => {
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                14,
                "receiver fault switch: unavailable".into(),
            );
            if let Some(d) = delay {
                // Retry-After has whole seconds: round up.
                let secs = d.as_millis().div_ceil(1000);
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            response
        }
        Verdict::Invalid(message) => error(StatusCode::BAD_REQUEST, 3, message),
    }
}

/// Binds `addr` and serves until `stop` turns true.
pub(crate) async fn serve(
    addr: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route("/v1/traces", post(traces))
        // Large traces in one request are legitimate; the default is 2 MiB.
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .with_state(shared);
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!("OTLP HTTP receiver on {bound}: {e}");
        }
    });
    Ok((bound, task))
}
