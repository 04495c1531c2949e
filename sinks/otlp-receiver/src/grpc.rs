//! The gRPC side: the official `TraceService` served by tonic.

use std::net::SocketAddr;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{Shared, Transport, Verdict};

struct Service {
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        match self.shared.handle(Transport::Grpc, request.into_inner()) {
            Verdict::Accept => Ok(Response::new(ExportTraceServiceResponse::default())),
            Verdict::Unavailable(delay) => Err(match delay {
                Some(d) => Status::with_error_details(
                    Code::Unavailable,
                    "receiver fault switch: unavailable",
                    ErrorDetails::with_retry_info(Some(d)),
                ),
                None => Status::unavailable("receiver fault switch: unavailable"),
            }),
            Verdict::Invalid(message) => Err(Status::invalid_argument(message)),
        }
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
    let task = tokio::spawn(async move {
        let result = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Service { shared }))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!("OTLP gRPC receiver on {bound}: {e}");
        }
    });
    Ok((bound, task))
}
