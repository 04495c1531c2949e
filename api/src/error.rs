//! Errors of the API and how they reach a caller.
//!
//! A caller must be able to tell *their* mistake from *ours*: a bad query
//! parameter is a 400 naming the parameter, an unknown pod a 404, and a
//! ClickHouse failure a 502 (the API itself is fine, its store is not). Every
//! error body is JSON of one shape, `{"error": {"status", "parameter"?,
//! "message"}}`, so clients (the page, `lunettes debug`) print it as is.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong answering a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A query parameter is missing, unknown, repeated or malformed.
    #[error("parameter {parameter:?}: {message}")]
    BadParameter {
        /// The offending parameter.
        parameter: String,
        /// What is wrong with it.
        message: String,
    },
    /// Nothing matched the query.
    #[error("{0}")]
    NotFound(String),
    /// ClickHouse did not answer or answered an error.
    #[error("ClickHouse query {query} failed: {source}")]
    Store {
        /// Which query (a short name, not the SQL).
        query: &'static str,
        /// The client error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// ClickHouse did not answer within the request timeout.
    #[error("ClickHouse did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// A configuration value is invalid (`lunettes api` flags).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The debug client could not reach the API or read its answer.
    #[error("request to {url} failed: {message}")]
    Client {
        /// The URL requested.
        url: String,
        /// What happened.
        message: String,
    },
    /// The API answered an error (what the client saw).
    #[error("{url} answered {status}: {message}")]
    Remote {
        /// The URL requested.
        url: String,
        /// HTTP status.
        status: u16,
        /// The `error.message` of the body, or the body itself.
        message: String,
    },
}

impl Error {
    /// A [`Error::BadParameter`].
    pub fn bad(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        Error::BadParameter {
            parameter: parameter.into(),
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadParameter { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Store { .. } | Error::Client { .. } | Error::Remote { .. } => {
                StatusCode::BAD_GATEWAY
            }
            Error::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Error::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// HTTP status code.
    pub status: u16,
    /// The query parameter at fault (400 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// Human-readable explanation.
    pub message: String,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let (parameter, message) = match self {
            Error::BadParameter { parameter, message } => (Some(parameter), message),
            other => (None, other.to_string()),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                status: status.as_u16(),
                parameter,
                message,
            },
        };
        (status, Json(body)).into_response()
    }
}
