//! Errors of the OTLP sink, each saying whether retrying can help.
//!
//! Three kinds of failure need three different reactions: a record that
//! cannot be converted ([`InvalidSpan`]) is rejected alone and its offset
//! committed (re-reading it would fail the same way); an export the backend
//! refused or could not take ([`ExportError`]) is retried or, if permanent,
//! isolated down to the offending trace; and a failure of the sink itself
//! ([`Error`]) stops it without committing, so nothing is lost.

use std::time::Duration;

/// A SpanRecord that cannot be exported as an OTLP span.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSpan {
    /// A trace/span/parent id is not valid hex of the right length.
    #[error("{field} {value:?}: {problem}")]
    BadId {
        /// Which id.
        field: &'static str,
        /// The value found.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A timestamp is negative or overflows nanoseconds.
    #[error("{field} = {micros} µs is not a valid Unix time for OTLP")]
    BadTime {
        /// Which timestamp.
        field: &'static str,
        /// The value found.
        micros: i64,
    },
    /// A field needed for the resource is empty.
    #[error("{field} is empty")]
    MissingField {
        /// Which field.
        field: &'static str,
    },
}

/// What went wrong with one export request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExportError {
    /// The gRPC call returned a non-OK status.
    #[error("OTLP gRPC export: {code:?}: {message}")]
    Grpc {
        /// The gRPC status code.
        code: tonic::Code,
        /// The status message.
        message: String,
        /// Delay the server asked for (`google.rpc.RetryInfo`).
        retry_after: Option<Duration>,
    },
    /// The HTTP call returned a non-2xx status.
    #[error("OTLP HTTP export: status {status}: {message}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// Message from the body's `google.rpc.Status`, or the raw body.
        message: String,
        /// Delay the server asked for (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// The request could not be sent or the response not read (connection
    /// refused, reset, timeout).
    #[error("OTLP transport: {0}")]
    Transport(String),
}

impl ExportError {
    /// Delay the server asked for before the next attempt, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ExportError::Grpc { retry_after, .. } | ExportError::Http { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Short label for metrics: the gRPC code, the HTTP status or the kind.
    pub fn reason(&self) -> String {
        match self {
            ExportError::Grpc { code, .. } => format!("grpc_{}", grpc_code_label(*code)),
            ExportError::Http { status, .. } => format!("http_{status}"),
            ExportError::Transport(_) => "transport".into(),
        }
    }
}

fn grpc_code_label(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "ok",
        Cancelled => "cancelled",
        Unknown => "unknown",
        InvalidArgument => "invalid_argument",
        DeadlineExceeded => "deadline_exceeded",
        NotFound => "not_found",
        AlreadyExists => "already_exists",
        PermissionDenied => "permission_denied",
        ResourceExhausted => "resource_exhausted",
        FailedPrecondition => "failed_precondition",
        Aborted => "aborted",
        OutOfRange => "out_of_range",
        Unimplemented => "unimplemented",
        Internal => "internal",
        Unavailable => "unavailable",
        DataLoss => "data_loss",
        Unauthenticated => "unauthenticated",
    }
}

/// A failure of the sink as a whole.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error("otlp sink config: {0}")]
    Config(String),
    /// Kafka client creation, subscription, or reading failed.
    #[error("otlp sink: {0}")]
    Kafka(#[from] lunettes_runtime::kafka::KafkaError),
    /// A Kafka operation failed.
    #[error("otlp sink: kafka: {0}")]
    KafkaOp(#[from] rdkafka::error::KafkaError),
    /// Metrics registration failed.
    #[error("otlp sink metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The metrics endpoint could not be served.
    #[error("otlp sink metrics endpoint: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias of the OTLP sink.
pub type Result<T, E = Error> = std::result::Result<T, E>;
