//! The apiserver's audit **webhook backend**: `POST` of `audit.k8s.io/v1`
//! `EventList` batches.
//!
//! The apiserver retries a batch until it gets a 2xx, so the one rule here is:
//! answer 200 only after Kafka acknowledged every HyperEvent and dead letter
//! derived from the batch. Any failure (broker down, buffer full, timeout)
//! becomes a 503 within a bounded time (`--ack-timeout`, `--buffer-wait`), and
//! the apiserver's retry covers it. A retried batch that was in fact partly
//! delivered carries the same audit IDs, hence the same HyperEvent `dedup_id`s,
//! which the processors de-duplicate.
//!
//! Answers: 401 without valid credentials (a client certificate signed by
//! `--client-ca`, or the bearer token of `--token-file`), 413 above
//! `--max-body-bytes`, 400 for a body that is not JSON or not an `EventList`.
//! A malformed item inside a valid batch goes to the dead-letter topic and
//! the rest is published.

mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use http_body_util::BodyExt;
use lunettes_ingest::Normalizer;
use serde::Deserialize;
use serde_json::value::RawValue;

pub use server::{TlsFiles, WebhookServer};

use crate::deadletter::dead_letter;
use crate::publish::{PublishError, Publisher};

/// Default body limit: 32 MiB, above the apiserver's default batch size.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 << 20;

/// Settings of the webhook collector.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Cluster name stamped on every HyperEvent.
    pub cluster: String,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// TLS certificate, key and optional client CA; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    /// File holding the bearer token clients must present.
    pub token_file: Option<PathBuf>,
    /// Largest accepted body in bytes.
    pub max_body_bytes: usize,
}

/// What the TLS layer learned about the connection a request came on.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnInfo {
    /// The client presented a certificate that verified against the client CA.
    pub verified_client_cert: bool,
}

/// Shared state of the request handler.
struct App {
    cluster: String,
    normalizer: Mutex<Normalizer>,
    publisher: Arc<Publisher>,
    token: Option<String>,
    client_ca: bool,
    max_body_bytes: usize,
}

/// The webhook's routes: `POST /` and `POST /audit` take batches.
fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/", post(receive))
        .route("/audit", post(receive))
        .with_state(app)
}

/// The batch envelope; items stay raw so each is normalized (and, if bad,
/// dead-lettered) on its own.
#[derive(Deserialize)]
struct EventList<'a> {
    #[serde(default)]
    kind: Option<String>,
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

impl App {
    fn authorized(&self, conn: &ConnInfo, headers: &HeaderMap) -> bool {
        if self.token.is_none() && !self.client_ca {
            return true;
        }
        if self.client_ca && conn.verified_client_cert {
            return true;
        }
        let Some(token) = &self.token else {
            return false;
        };
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|presented| {
                constant_time_eq(presented.trim().as_bytes(), token.as_bytes())
            })
    }
}

/// Compares without an early exit, so timing does not reveal the prefix length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn receive(
    State(app): State<Arc<App>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let metrics = app.publisher.metrics();
    if !app.authorized(&conn, &headers) {
        metrics.error("unauthorized");
        let mut r = plain(
            StatusCode::UNAUTHORIZED,
            "valid client certificate or bearer token required\n".into(),
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        // The body is left unread, so hyper will not reuse this connection;
        // say so, or the client may pool it and send its next request into a
        // socket that is closing (seen as `IncompleteMessage`).
        r.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        return r;
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // Far too large: not worth reading just to answer politely.
    let hopeless = declared.is_some_and(|n| n > app.max_body_bytes.saturating_mul(4));
    let read = if hopeless {
        Ok(None)
    } else {
        read_body(body, app.max_body_bytes).await
    };
    let bytes = match read {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            metrics.error("too_large");
            let mut r = plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {} bytes\n", app.max_body_bytes),
            );
            r.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            return r;
        }
        Err(e) => {
            metrics.error("bad_request");
            let mut r = plain(StatusCode::BAD_REQUEST, format!("reading body: {e}\n"));
            r.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            return r;
        }
    };
    let items = match parse_batch(&bytes) {
        Ok(items) => items,
        Err(reason) => {
            metrics.error("bad_request");
            return plain(StatusCode::BAD_REQUEST, format!("{reason}\n"));
        }
    };
    let keep_raw = app.publisher.options().dead_letter_raw;
    let input = "webhook";
    let mut events = Vec::new();
    let mut dead = Vec::new();
    {
        let mut normalizer = app.normalizer.lock().unwrap_or_else(|p| p.into_inner());
        for (i, item) in items.iter().enumerate() {
            let raw = item.get().as_bytes();
            if let Err(e) = normalizer.normalize_line(input, i as u64 + 1, raw, &mut events) {
                dead.push(dead_letter(&app.cluster, &e, raw, keep_raw));
            }
        }
    }
    metrics
        .records_in
        .with_label_values(&[app.cluster.as_str(), "webhook"])
        .inc_by(items.len() as u64);
    match app.publisher.publish(&events, &dead).await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            format!(
                "{{\"items\":{},\"events\":{},\"dead_letters\":{}}}\n",
                items.len(),
                events.len(),
                dead.len()
            ),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, items = items.len(), "batch not acknowledged; answering 503 so the apiserver retries");
            let mut r = plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not acknowledged by Kafka: {e}\n"),
            );
            let retry = match e {
                PublishError::BufferFull { .. } => "5",
                _ => "1",
            };
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static(retry));
            r
        }
    }
}

/// Reads the body; `None` when it is larger than `max`. An oversized body is
/// read on (and discarded, up to 4x `max`) so the client, still sending,
/// receives the 413 instead of a reset connection.
async fn read_body(mut body: Body, max: usize) -> Result<Option<Vec<u8>>, axum::Error> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        seen += data.len();
        if seen <= max {
            buf.extend_from_slice(&data);
        } else if seen > max.saturating_mul(4) {
            break;
        }
    }
    Ok((seen <= max).then_some(buf))
}

/// The raw items of an `EventList` body, or why the body is not one.
fn parse_batch(bytes: &[u8]) -> Result<Vec<&RawValue>, String> {
    match serde_json::from_slice::<EventList<'_>>(bytes) {
        Ok(EventList {
            items: Some(items), ..
        }) => Ok(items),
        Ok(EventList { kind, items: None }) => Err(format!(
            "body is JSON but not an audit EventList: no `items` (kind {})",
            kind.as_deref().unwrap_or("missing")
        )),
        Err(e) => match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Err(_) => Err(format!("body is not JSON: {e}")),
            Ok(_) => Err(format!("body is JSON but not an audit EventList: {e}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_shapes() {
        assert_eq!(
            parse_batch(br#"{"kind":"EventList","items":[{"a":1},{"b":[2]}]}"#)
                .unwrap()
                .len(),
            2
        );
        assert!(parse_batch(b"hello")
            .unwrap_err()
            .starts_with("body is not JSON"));
        assert!(parse_batch(br#"{"kind":"Event"}"#)
            .unwrap_err()
            .contains("no `items`"));
        assert!(parse_batch(br#"{"items":3}"#)
            .unwrap_err()
            .contains("not an audit EventList"));
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
