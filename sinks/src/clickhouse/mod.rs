//! ClickHouse sink: schema migrations, row encoding and batched, idempotent
//! RowBinary inserts.
//!
//! Laid out by role, like Vector's sinks: [`config`] (what the operator
//! sets), [`request_builder`] (records to rows; [`rowbinary`] transcodes delivery
//! records straight to RowBinary), [`service`] (one insert,
//! retried, classified by [`error`]), [`sink`] (the consume-batch-insert-commit
//! loop), plus [`migrate`](mod@migrate) (the versioned schema in `schemas/clickhouse/`)
//! and [`metrics`]. The guarantees and the SQL to read the tables are in
//! `docs/clickhouse.md`.

pub mod config;
pub mod error;
pub mod metrics;
pub mod migrate;
pub mod request_builder;
pub mod rowbinary;
pub mod service;
pub mod sink;

pub use config::{ClickHouseEndpoint, ClickHouseSinkConfig, ValidatedConfig};
pub use error::{Error, Result};
pub use metrics::SinkMetrics;
pub use migrate::{migrate, MigrateOptions, MigrationReport, MIGRATIONS};
pub use service::ClickHouseService;
pub use sink::{run, RunHooks, RunStats, Table};
