//! Sinks of the Lunettes-rs pipeline.
//!
//! The processors publish Avro records to Kafka; sinks consume them and
//! write them where people look: ClickHouse for SQL and dashboards, an OTLP
//! backend for traces. Every sink commits Kafka offsets only after its
//! destination acknowledged the write, and writes idempotently (deterministic
//! ids, replacing tables, deduplication tokens), so a crash, a retry or a full
//! replay never creates a visible duplicate.
#![deny(missing_docs)]

pub mod clickhouse;
pub mod otlp;
pub mod testing;
pub mod util;
