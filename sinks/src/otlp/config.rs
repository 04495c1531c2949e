//! Configuration of `lunettes sink otlp`.
//!
//! A YAML file (every field optional, unknown fields rejected) with command
//! line overrides; [`OtlpSinkConfig::validate`] checks it once, purely, and
//! returns a [`ValidatedOtlpConfig`] whose values the async parts trust
//! (parsed URI, header names and values already checked), so a typo fails at
//! start with the field named, not at the first export.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue, Uri};
use lunettes_runtime::KafkaConfig;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::request_builder::ResourceScope;
use crate::util::batch::BatchConfig;
use crate::util::retry::RetryConfig;

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OtlpProtocol {
    /// OTLP/gRPC (`TraceService/Export`), default port 4317.
    #[default]
    Grpc,
    /// OTLP/HTTP with binary protobuf (`POST /v1/traces`), default port 4318.
    Http,
}

impl OtlpProtocol {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::Http => "http",
        }
    }
}

impl std::str::FromStr for OtlpProtocol {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "grpc" => Ok(OtlpProtocol::Grpc),
            "http" | "http/protobuf" => Ok(OtlpProtocol::Http),
            other => Err(format!(
                "unknown OTLP protocol {other:?} (expected grpc or http)"
            )),
        }
    }
}

/// Where the OTLP backend is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpEndpoint {
    /// Base URL: `http://host:4317` for gRPC, `http://host:4318` for HTTP
    /// (`/v1/traces` is appended unless the URL already has a path).
    pub endpoint: String,
    /// `grpc` or `http`.
    pub protocol: OtlpProtocol,
    /// Extra request headers (gRPC metadata), e.g. an authorization token
    /// or a tenant id (`X-Scope-OrgID` for Tempo).
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for OtlpEndpoint {
    fn default() -> Self {
        OtlpEndpoint {
            endpoint: "http://127.0.0.1:4317".into(),
            protocol: OtlpProtocol::Grpc,
            headers: BTreeMap::new(),
            timeout_ms: 10_000,
        }
    }
}

/// Configuration of `lunettes sink otlp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpSinkConfig {
    /// Kafka brokers, topics and client properties (the spans topic is read).
    pub kafka: KafkaConfig,
    /// The OTLP backend.
    pub otlp: OtlpEndpoint,
    /// Consumer group.
    pub group: String,
    /// Batching of consumed spans (`max_rows` counts spans).
    pub batch: BatchConfig,
    /// Most spans in one export request; whole traces are never split, so a
    /// single larger trace still goes in one request.
    pub max_spans_per_request: usize,
    /// Export requests of one batch in flight at once (the batch is
    /// committed when all of them are acknowledged).
    pub max_in_flight: usize,
    /// Retry backoff of failed exports (a server's `Retry-After` /
    /// `RetryInfo` delay is used instead when it sends one, capped at
    /// `max_backoff_ms`).
    pub retry: RetryConfig,
    /// One OTLP Resource per pod (`pod`, default) or per cluster (`cluster`).
    pub resource_scope: ResourceScope,
    /// Address of the `/metrics` + `/healthz` + `/readyz` endpoint; none to
    /// serve none.
    pub metrics_addr: Option<String>,
}

impl Default for OtlpSinkConfig {
    fn default() -> Self {
        OtlpSinkConfig {
            kafka: KafkaConfig::default(),
            otlp: OtlpEndpoint::default(),
            group: "lunettes-sink-otlp".into(),
            batch: BatchConfig {
                max_rows: 5_000,
                max_bytes: 8 << 20,
                linger_ms: 500,
            },
            max_spans_per_request: 1_000,
            max_in_flight: 4,
            retry: RetryConfig::default(),
            resource_scope: ResourceScope::Pod,
            metrics_addr: Some("0.0.0.0:9465".into()),
        }
    }
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct ValidatedOtlpConfig {
    /// Kafka settings.
    pub kafka: KafkaConfig,
    /// Consumer group.
    pub group: String,
    /// Transport.
    pub protocol: OtlpProtocol,
    /// Full request URI: the base for gRPC, `.../v1/traces` for HTTP.
    pub uri: Uri,
    /// Parsed extra headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Batching.
    pub batch: BatchConfig,
    /// Most spans per request.
    pub max_spans_per_request: usize,
    /// Requests in flight at once.
    pub max_in_flight: usize,
    /// Retry backoff.
    pub retry: RetryConfig,
    /// Resource grouping.
    pub resource_scope: ResourceScope,
    /// Metrics endpoint address.
    pub metrics_addr: Option<SocketAddr>,
}

impl OtlpSinkConfig {
    /// Reads a YAML file.
    pub fn from_yaml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("reading {}: {e}", path.display())))?;
        serde_yaml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<ValidatedOtlpConfig> {
        let endpoint = self.otlp.endpoint.trim();
        if endpoint.starts_with("https://") {
            return Err(Error::Config(format!(
                "otlp.endpoint {endpoint:?}: TLS is not built in; export to a local OpenTelemetry Collector (or a TLS-terminating sidecar) over http://"
            )));
        }
        if !endpoint.starts_with("http://") {
            return Err(Error::Config(format!(
                "otlp.endpoint {endpoint:?} must start with http://"
            )));
        }
        let base: Uri = endpoint
            .parse()
            .map_err(|e| Error::Config(format!("otlp.endpoint {endpoint:?}: {e}")))?;
        if base.host().is_none_or(str::is_empty) {
            return Err(Error::Config(format!(
                "otlp.endpoint {endpoint:?} has no host"
            )));
        }
        let uri = match self.otlp.protocol {
            OtlpProtocol::Grpc => base,
            OtlpProtocol::Http => http_traces_uri(base)?,
        };
        let mut headers = Vec::with_capacity(self.otlp.headers.len());
        for (name, value) in &self.otlp.headers {
            // gRPC metadata keys must be lowercase; HTTP does not care.
            let lower = name.to_ascii_lowercase();
            let header_name = HeaderName::from_bytes(lower.as_bytes())
                .map_err(|e| Error::Config(format!("otlp.headers: name {name:?}: {e}")))?;
            let header_value = HeaderValue::from_str(value)
                .map_err(|e| Error::Config(format!("otlp.headers: value of {name:?}: {e}")))?;
            headers.push((header_name, header_value));
        }
        if self.otlp.timeout_ms == 0 {
            return Err(Error::Config("otlp.timeout_ms must be positive".into()));
        }
        if self.group.trim().is_empty() {
            return Err(Error::Config("group must not be empty".into()));
        }
        if self.max_spans_per_request == 0 {
            return Err(Error::Config(
                "max_spans_per_request must be positive".into(),
            ));
        }
        if self.max_in_flight == 0 {
            return Err(Error::Config("max_in_flight must be positive".into()));
        }
        if self.batch.max_rows == 0 {
            return Err(Error::Config("batch.max_rows must be positive".into()));
        }
        if self.retry.initial_backoff_ms == 0
            || self.retry.max_backoff_ms < self.retry.initial_backoff_ms
        {
            return Err(Error::Config(
                "retry: need 0 < initial_backoff_ms <= max_backoff_ms".into(),
            ));
        }
        let metrics_addr = match &self.metrics_addr {
            None => None,
            Some(a) => Some(a.parse::<SocketAddr>().map_err(|e| {
                Error::Config(format!("metrics_addr {a:?}: {e} (expected host:port)"))
            })?),
        };
        Ok(ValidatedOtlpConfig {
            kafka: self.kafka.clone(),
            group: self.group.clone(),
            protocol: self.otlp.protocol,
            uri,
            headers,
            timeout: Duration::from_millis(self.otlp.timeout_ms),
            batch: self.batch.clone(),
            max_spans_per_request: self.max_spans_per_request,
            max_in_flight: self.max_in_flight,
            retry: self.retry.clone(),
            resource_scope: self.resource_scope,
            metrics_addr,
        })
    }
}

/// `base` with the OTLP/HTTP traces path when it has no path of its own.
fn http_traces_uri(base: Uri) -> Result<Uri> {
    let has_path = base.path() != "/" && !base.path().is_empty();
    if has_path {
        return Ok(base);
    }
    let mut parts = base.into_parts();
    parts.path_and_query = Some(PathAndQuery::from_static("/v1/traces"));
    Uri::from_parts(parts).map_err(|e| Error::Config(format!("otlp.endpoint: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let v = OtlpSinkConfig::default().validate().unwrap();
        assert_eq!(v.protocol, OtlpProtocol::Grpc);
        assert_eq!(v.uri.to_string(), "http://127.0.0.1:4317/");
        assert_eq!(v.metrics_addr, Some("0.0.0.0:9465".parse().unwrap()));
    }

    #[test]
    fn http_gets_the_traces_path_unless_given_one() {
        let mut c = OtlpSinkConfig::default();
        c.otlp.protocol = OtlpProtocol::Http;
        c.otlp.endpoint = "http://collector:4318".into();
        assert_eq!(
            c.validate().unwrap().uri.to_string(),
            "http://collector:4318/v1/traces"
        );
        c.otlp.endpoint = "http://collector:4318/custom/traces".into();
        assert_eq!(
            c.validate().unwrap().uri.to_string(),
            "http://collector:4318/custom/traces"
        );
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = OtlpSinkConfig::default();
        c.otlp.endpoint = "https://tempo:4317".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("TLS is not built in"));
        c.otlp.endpoint = "tempo:4317".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("must start with http://"));
        let mut c = OtlpSinkConfig::default();
        c.otlp.headers.insert("bad header".into(), "x".into());
        assert!(c.validate().unwrap_err().to_string().contains("bad header"));
        let c = OtlpSinkConfig {
            metrics_addr: Some("nowhere".into()),
            ..Default::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("metrics_addr"));
    }

    #[test]
    fn yaml_rejects_unknown_fields() {
        let err = serde_yaml::from_str::<OtlpSinkConfig>("otlp: {endpont: x}").unwrap_err();
        assert!(err.to_string().contains("endpont"), "{err}");
        let ok: OtlpSinkConfig = serde_yaml::from_str(
            "otlp: {endpoint: 'http://c:4318', protocol: http}\nresource_scope: cluster",
        )
        .unwrap();
        assert_eq!(ok.otlp.protocol, OtlpProtocol::Http);
        assert_eq!(ok.resource_scope, ResourceScope::Cluster);
    }

    #[test]
    fn protocol_parses_from_cli_spelling() {
        assert_eq!("grpc".parse::<OtlpProtocol>().unwrap(), OtlpProtocol::Grpc);
        assert_eq!(
            "http/protobuf".parse::<OtlpProtocol>().unwrap(),
            OtlpProtocol::Http
        );
        assert!("thrift"
            .parse::<OtlpProtocol>()
            .unwrap_err()
            .contains("thrift"));
    }
}
