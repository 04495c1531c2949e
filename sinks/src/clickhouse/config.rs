//! Configuration of the ClickHouse sink and of `lunettes migrate`.
//!
//! A YAML file (every field optional, unknown fields rejected) with command
//! line overrides; [`ClickHouseSinkConfig::validate`] checks it once, purely,
//! and returns a [`ValidatedConfig`] the async parts trust.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use lunettes_runtime::KafkaConfig;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use crate::util::batch::BatchConfig;
use crate::util::retry::RetryConfig;

/// Where ClickHouse is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseEndpoint {
    /// HTTP interface URL, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding the Lunettes tables.
    pub database: String,
    /// User (`X-ClickHouse-User`); none for the default user.
    pub user: Option<String>,
    /// Password (`X-ClickHouse-Key`).
    pub password: Option<String>,
    /// Per-request send and response timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Ask the server for the column types before each table's first insert
    /// and check the row structs against them (costs a query and some CPU per
    /// row; the test suite checks the same thing once). Does not apply to
    /// `deliveries`, whose rows are transcoded to RowBinary by the sink
    /// itself (`rowbinary`; tested byte for byte against the crate).
    pub validation: bool,
}

impl Default for ClickHouseEndpoint {
    fn default() -> Self {
        ClickHouseEndpoint {
            url: "http://127.0.0.1:8123".into(),
            database: "lunettes".into(),
            user: None,
            password: None,
            timeout_ms: 60_000,
            validation: false,
        }
    }
}

impl ClickHouseEndpoint {
    /// Checks the URL and database name.
    pub fn validate(&self) -> Result<()> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "url {:?} must start with http:// (the ClickHouse HTTP interface)",
                self.url
            )));
        }
        if self.url.starts_with("https://") {
            return Err(Error::Config(format!(
                "url {:?}: TLS is not built in; put a TLS-terminating proxy or a sidecar in front",
                self.url
            )));
        }
        if !is_identifier(&self.database) {
            return Err(Error::Config(format!(
                "database {:?} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)",
                self.database
            )));
        }
        if self.timeout_ms == 0 {
            return Err(Error::Config("timeout_ms must be positive".into()));
        }
        Ok(())
    }

    /// A client for the server, not bound to a database.
    pub fn server_client(&self) -> clickhouse::Client {
        let mut client = clickhouse::Client::default()
            .with_url(&self.url)
            .with_validation(self.validation)
            .with_product_info("lunettes", env!("CARGO_PKG_VERSION"));
        if let Some(user) = &self.user {
            client = client.with_user(user);
        }
        if let Some(password) = &self.password {
            client = client.with_password(password);
        }
        client
    }

    /// A client bound to [`Self::database`].
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.database)
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Whether `s` is a plain SQL identifier (safe to splice into DDL).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Configuration of `lunettes sink clickhouse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseSinkConfig {
    /// Kafka brokers, topics and client properties.
    pub kafka: KafkaConfig,
    /// ClickHouse endpoint.
    pub clickhouse: ClickHouseEndpoint,
    /// Consumer group.
    pub group: String,
    /// Batching per table.
    pub batch: BatchConfig,
    /// Retry backoff of failed inserts.
    pub retry: RetryConfig,
    /// Also consume the HyperEvents topic into the `hyperevents` table.
    pub raw_hyperevents: bool,
    /// Address of the `/metrics` + `/healthz` + `/readyz` endpoint.
    pub metrics_addr: Option<String>,
    /// Apply pending migrations at start.
    pub migrate: bool,
    /// TTL of the tables in days, used when migrations create them.
    pub ttl_days: u32,
}

impl Default for ClickHouseSinkConfig {
    fn default() -> Self {
        ClickHouseSinkConfig {
            kafka: KafkaConfig::default(),
            clickhouse: ClickHouseEndpoint::default(),
            group: "lunettes-sink-clickhouse".into(),
            batch: BatchConfig::default(),
            retry: RetryConfig::default(),
            raw_hyperevents: false,
            metrics_addr: Some("0.0.0.0:9464".into()),
            migrate: false,
            ttl_days: DEFAULT_TTL_DAYS,
        }
    }
}

/// Default table TTL.
pub const DEFAULT_TTL_DAYS: u32 = 30;

impl ClickHouseSinkConfig {
    /// Reads a YAML file.
    pub fn from_yaml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            context: format!("reading config {}", path.display()),
            source,
        })?;
        serde_yaml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Checks the configuration.
    pub fn validate(self) -> Result<ValidatedConfig> {
        self.clickhouse.validate()?;
        if self.group.trim().is_empty() {
            return Err(Error::Config("group must not be empty".into()));
        }
        if self.batch.max_rows == 0 || self.batch.max_bytes == 0 {
            return Err(Error::Config(
                "batch.max_rows and batch.max_bytes must be positive".into(),
            ));
        }
        if self.ttl_days == 0 {
            return Err(Error::Config("ttl_days must be at least 1".into()));
        }
        if self.retry.initial_backoff_ms == 0
            || self.retry.max_backoff_ms < self.retry.initial_backoff_ms
        {
            return Err(Error::Config(
                "retry: need 0 < initial_backoff_ms <= max_backoff_ms".into(),
            ));
        }
        let metrics_addr =
            match &self.metrics_addr {
                Some(a) if !a.is_empty() => Some(a.parse::<SocketAddr>().map_err(|e| {
                    Error::Config(format!("metrics_addr {a:?} is not host:port: {e}"))
                })?),
                _ => None,
            };
        Ok(ValidatedConfig {
            metrics_addr,
            config: self,
        })
    }
}

/// A checked [`ClickHouseSinkConfig`].
#[derive(Debug, Clone)]
pub struct ValidatedConfig {
    /// The configuration.
    pub config: ClickHouseSinkConfig,
    /// Parsed metrics address.
    pub metrics_addr: Option<SocketAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_with_unknown_field_is_rejected() {
        let err = serde_yaml::from_str::<ClickHouseSinkConfig>("grup: x\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `grup`"), "{err}");
    }

    #[test]
    fn validation_names_the_bad_value() {
        let mut c = ClickHouseSinkConfig::default();
        c.clickhouse.database = "lun-ettes".into();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("\"lun-ettes\""), "{err}");
        let c = ClickHouseSinkConfig {
            metrics_addr: Some("nope".into()),
            ..ClickHouseSinkConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("metrics_addr"));
        let c: ClickHouseSinkConfig = serde_yaml::from_str(
            "clickhouse: {url: 'http://ch:8123', database: lun}\nbatch: {max_rows: 10000}\n",
        )
        .unwrap();
        let v = c.validate().unwrap();
        assert_eq!(v.config.batch.max_rows, 10_000);
        assert_eq!(v.config.batch.linger_ms, 500);
    }
}
