//! A small client of the API, for `lunettes debug --api` and the tests.
//!
//! Plain HTTP/1.1 GETs through hyper (already part of the build for the
//! sinks), JSON bodies decoded into the same [`crate::model`] types the
//! server encodes. An error answer is turned into [`Error::Remote`] carrying
//! the server's own message, so the terminal shows what the API said.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorBody, Result};
use crate::model::{DebugPodAnswer, SloReport};

/// A client of one API base URL (`http://127.0.0.1:8080`).
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    http: Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .finish()
    }
}

/// Raw answer: status, content type and body.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` header.
    pub content_type: String,
    /// Body.
    pub body: Bytes,
}

impl ApiClient {
    /// A client for `base` (must start with `http://`).
    pub fn new(base: &str) -> Result<Self> {
        if !base.starts_with("http://") {
            return Err(Error::Config(format!(
                "--api {base:?} must start with http://"
            )));
        }
        Ok(ApiClient {
            base: base.trim_end_matches('/').to_string(),
            http: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// GETs `path_and_query` (`/api/v1/...?...`) and returns the raw answer.
    pub async fn get_raw(&self, path_and_query: &str) -> Result<RawAnswer> {
        let url = format!("{}{}", self.base, path_and_query);
        let client_err = |message: String| Error::Client {
            url: url.clone(),
            message,
        };
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| client_err(format!("bad URL: {e}")))?;
        let resp = self
            .http
            .get(uri)
            .await
            .map_err(|e| client_err(format!("{e}")))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| client_err(format!("reading the body: {e}")))?
            .to_bytes();
        Ok(RawAnswer {
            status,
            content_type,
            body,
        })
    }

    /// GETs a JSON answer; error statuses become [`Error::Remote`].
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        let qs = serde_urlencoded::to_string(query).map_err(|e| Error::Client {
            url: path.to_string(),
            message: format!("cannot encode the query: {e}"),
        })?;
        let path_and_query = if qs.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{qs}")
        };
        let raw = self.get_raw(&path_and_query).await?;
        let url = format!("{}{}", self.base, path_and_query);
        if !(200..300).contains(&raw.status) {
            let message = serde_json::from_slice::<ErrorBody>(&raw.body)
                .map(|b| match b.error.parameter {
                    Some(p) => format!("parameter {p:?}: {}", b.error.message),
                    None => b.error.message,
                })
                .unwrap_or_else(|_| String::from_utf8_lossy(&raw.body).into_owned());
            return Err(Error::Remote {
                url,
                status: raw.status,
                message,
            });
        }
        serde_json::from_slice(&raw.body).map_err(|e| Error::Client {
            url,
            message: format!("unexpected answer: {e}"),
        })
    }

    /// `GET /api/v1/debugpod` with `query` pairs (`uid`, `namespace`, ...).
    pub async fn debugpod(&self, query: &[(&str, String)]) -> Result<DebugPodAnswer> {
        self.get_json("/api/v1/debugpod", query).await
    }

    /// `GET /api/v1/debugslo` with `query` pairs.
    pub async fn debugslo(&self, query: &[(&str, String)]) -> Result<SloReport> {
        self.get_json("/api/v1/debugslo", query).await
    }
}
