//! One OTLP export over gRPC or HTTP/protobuf, its retry policy, and the
//! retry loop that honours the server's requested delay.
//!
//! The retry classification is the OTLP specification's: gRPC `CANCELLED`,
//! `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE`, `DATA_LOSS`
//! and `RESOURCE_EXHAUSTED`, HTTP 429/502/503/504, and any transport failure
//! (refused, reset, timed out) are retried; everything else (a 400, an
//! `INVALID_ARGUMENT`) would fail the same way forever. `RESOURCE_EXHAUSTED`
//! is retried even without `RetryInfo` (the spec allows dropping it), because
//! dropping a delivery trace under backend overload is exactly the loss this
//! sink exists to avoid; the backoff keeps the pressure bounded. A delay the
//! server asks for (`Retry-After`, `google.rpc.RetryInfo`) replaces the
//! exponential one, capped at `max_backoff_ms`.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::Uri;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lunettes_runtime::Shutdown;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt;

use super::config::{OtlpProtocol, ValidatedOtlpConfig};
use super::error::ExportError;
use crate::util::retry::{Backoff, RetryConfig, RetryError, RetryLogic};

/// The backend's answer to an accepted export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOutcome {
    /// Spans the backend accepted the request for but refused
    /// (`partial_success.rejected_spans`); not retried, per the spec.
    pub rejected_spans: i64,
    /// The backend's explanation of a partial success.
    pub message: String,
}

/// Which export errors are worth retrying.
#[derive(Debug, Clone, Copy, Default)]
pub struct OtlpRetryLogic;

impl RetryLogic for OtlpRetryLogic {
    type Error = ExportError;

    fn is_retriable(&self, error: &ExportError) -> bool {
        use tonic::Code;
        match error {
            ExportError::Grpc { code, .. } => matches!(
                code,
                Code::Cancelled
                    | Code::DeadlineExceeded
                    | Code::Aborted
                    | Code::OutOfRange
                    | Code::Unavailable
                    | Code::DataLoss
                    | Code::ResourceExhausted
            ),
            ExportError::Http { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            ExportError::Transport(_) => true,
        }
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

enum Transport {
    Grpc(TraceServiceClient<Channel>),
    // Boxed: the pooled client is several times the size of a channel.
    Http { client: Box<HttpClient>, uri: Uri },
}

/// An OTLP traces client over the configured transport.
pub struct OtlpService {
    transport: Transport,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    timeout: Duration,
}

impl std::fmt::Debug for OtlpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpService")
            .field("protocol", &self.protocol())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl OtlpService {
    /// A client for `config`. The gRPC channel connects lazily, so the sink
    /// starts (and retries) while the backend is still coming up.
    pub fn new(config: &ValidatedOtlpConfig) -> Result<Self, ExportError> {
        let transport = match config.protocol {
            OtlpProtocol::Grpc => {
                let endpoint = Endpoint::from(config.uri.clone())
                    .connect_timeout(config.timeout)
                    .timeout(config.timeout)
                    .tcp_nodelay(true);
                Transport::Grpc(TraceServiceClient::new(endpoint.connect_lazy()))
            }
            OtlpProtocol::Http => {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                connector.set_connect_timeout(Some(config.timeout));
                Transport::Http {
                    client: Box::new(Client::builder(TokioExecutor::new()).build(connector)),
                    uri: config.uri.clone(),
                }
            }
        };
        Ok(OtlpService {
            transport,
            headers: config.headers.clone(),
            timeout: config.timeout,
        })
    }

    /// The transport in use.
    pub fn protocol(&self) -> OtlpProtocol {
        match self.transport {
            Transport::Grpc(_) => OtlpProtocol::Grpc,
            Transport::Http { .. } => OtlpProtocol::Http,
        }
    }

    /// Sends one request, once.
    pub async fn export(
        &self,
        request: &ExportTraceServiceRequest,
    ) -> Result<ExportOutcome, ExportError> {
        match &self.transport {
            Transport::Grpc(client) => self.export_grpc(client.clone(), request).await,
            Transport::Http { client, uri } => self.export_http(client, uri, request).await,
        }
    }

    async fn export_grpc(
        &self,
        mut client: TraceServiceClient<Channel>,
        request: &ExportTraceServiceRequest,
    ) -> Result<ExportOutcome, ExportError> {
        let mut call = tonic::Request::new(request.clone());
        call.set_timeout(self.timeout);
        for (name, value) in &self.headers {
            // Both were validated as HTTP header name/value at config time.
            let key = MetadataKey::from_bytes(name.as_str().as_bytes())
                .map_err(|e| ExportError::Transport(format!("header {name}: {e}")))?;
            let value = MetadataValue::try_from(value.as_bytes())
                .map_err(|e| ExportError::Transport(format!("header {name}: {e}")))?;
            call.metadata_mut().insert(key, value);
        }
        match client.export(call).await {
            Ok(response) => Ok(outcome(response.into_inner())),
            Err(status) => Err(ExportError::Grpc {
                code: status.code(),
                message: status.message().to_string(),
                retry_after: status
                    .get_details_retry_info()
                    .and_then(|info| info.retry_delay),
            }),
        }
    }

    async fn export_http(
        &self,
        client: &HttpClient,
        uri: &Uri,
        request: &ExportTraceServiceRequest,
    ) -> Result<ExportOutcome, ExportError> {
        let mut builder =
            http::Request::post(uri.clone()).header(CONTENT_TYPE, "application/x-protobuf");
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let body = Full::new(Bytes::from(request.encode_to_vec()));
        let http_request = builder
            .body(body)
            .map_err(|e| ExportError::Transport(format!("building request: {e}")))?;
        let exchange = async {
            let response = client
                .request(http_request)
                .await
                .map_err(|e| ExportError::Transport(format!("POST {uri}: {}", error_chain(&e))))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ExportError::Transport(format!("reading response of {uri}: {e}")))?
                .to_bytes();
            Ok::<_, ExportError>((status, retry_after, body))
        };
        let (status, retry_after, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                ExportError::Transport(format!("POST {uri}: no response within {:?}", self.timeout))
            })??;
        if status.is_success() {
            // An undecodable 2xx body still means the backend took the data;
            // retrying would only send it twice.
            let response = ExportTraceServiceResponse::decode(body.as_ref()).unwrap_or_default();
            return Ok(outcome(response));
        }
        Err(ExportError::Http {
            status: status.as_u16(),
            message: http_error_message(&body),
            retry_after,
        })
    }
}

fn outcome(response: ExportTraceServiceResponse) -> ExportOutcome {
    match response.partial_success {
        Some(p) => ExportOutcome {
            rejected_spans: p.rejected_spans,
            message: p.error_message,
        },
        None => ExportOutcome::default(),
    }
}

/// The message of an OTLP/HTTP error body (a `google.rpc.Status` protobuf),
/// or the body as text when it is not one.
fn http_error_message(body: &[u8]) -> String {
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    match RpcStatus::decode(body) {
        Ok(s) if !s.message.is_empty() => s.message,
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.len() > 512 {
                format!("{}...", &text[..text.floor_char_boundary(512)])
            } else {
                text.to_string()
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// Parses `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What a retried export did, for metrics and logs.
#[derive(Debug, Clone, Default)]
pub struct RetryReport {
    /// Attempts made (1 = no retry).
    pub attempts: u32,
    /// Duration of each attempt.
    pub attempt_durations: Vec<Duration>,
}

/// Exports `request`, retrying retryable failures with backoff until it
/// succeeds, fails permanently, or shutdown begins (then the caller must not
/// commit: the records are read again after the restart).
///
/// `on_retry(error, delay)` is called before each sleep, `on_attempt(duration)`
/// after each attempt.
pub async fn export_with_retry(
    service: &OtlpService,
    request: &ExportTraceServiceRequest,
    config: &RetryConfig,
    shutdown: &Shutdown,
    mut on_retry: impl FnMut(&ExportError, Duration),
    mut on_attempt: impl FnMut(Duration),
) -> Result<ExportOutcome, RetryError<ExportError>> {
    let logic = OtlpRetryLogic;
    let mut backoff = Backoff::new(config);
    let cap = Duration::from_millis(config.max_backoff_ms);
    loop {
        let started = Instant::now();
        let result = service.export(request).await;
        on_attempt(started.elapsed());
        let error = match result {
            Ok(outcome) => return Ok(outcome),
            Err(e) => e,
        };
        if !logic.is_retriable(&error) {
            return Err(RetryError::Permanent(error));
        }
        if shutdown.is_triggered() {
            return Err(RetryError::ShutDown(error));
        }
        let exponential = backoff.next_delay();
        let delay = error
            .retry_after()
            .map_or(exponential, |hint| hint.min(cap));
        on_retry(&error, delay);
        let stop = shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait() => return Err(RetryError::ShutDown(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_otlp_spec() {
        let logic = OtlpRetryLogic;
        let grpc = |code| ExportError::Grpc {
            code,
            message: String::new(),
            retry_after: None,
        };
        for code in [
            tonic::Code::Unavailable,
            tonic::Code::ResourceExhausted,
            tonic::Code::DeadlineExceeded,
            tonic::Code::Aborted,
        ] {
            assert!(logic.is_retriable(&grpc(code)), "{code:?}");
        }
        for code in [
            tonic::Code::InvalidArgument,
            tonic::Code::Unauthenticated,
            tonic::Code::PermissionDenied,
            tonic::Code::Unimplemented,
        ] {
            assert!(!logic.is_retriable(&grpc(code)), "{code:?}");
        }
        let http = |status| ExportError::Http {
            status,
            message: String::new(),
            retry_after: None,
        };
        for s in [429, 502, 503, 504] {
            assert!(logic.is_retriable(&http(s)), "{s}");
        }
        for s in [400, 401, 404, 413, 415, 500] {
            assert!(!logic.is_retriable(&http(s)), "{s}");
        }
        assert!(logic.is_retriable(&ExportError::Transport("refused".into())));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        // 2015-10-21 07:28:10 GMT is 10 s after `now`.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn http_error_bodies_are_read_as_rpc_status_or_text() {
        // google.rpc.Status{code: 3, message: "bad span"}
        let body = [
            0x08, 0x03, 0x12, 0x08, b'b', b'a', b'd', b' ', b's', b'p', b'a', b'n',
        ];
        assert_eq!(http_error_message(&body), "bad span");
        assert_eq!(http_error_message(b"plain text"), "plain text");
    }
}
