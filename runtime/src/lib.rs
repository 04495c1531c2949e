//! Shared I/O plumbing of the long-running Lunettes-rs workers.
//!
//! The engine and the normalizers are pure libraries; everything that talks
//! to the outside world for the collectors, processors and sinks is built
//! from these few pieces, so every worker has the same Kafka guarantees
//! (idempotent acks=all producers, manual offset commits), the same
//! `/metrics` + `/healthz` endpoint, and the same SIGTERM behaviour.
#![deny(missing_docs)]

pub mod kafka;
pub mod shutdown;
pub mod telemetry;
pub mod testing;

pub use kafka::{KafkaConfig, TopicSpec, Topics};
pub use shutdown::Shutdown;
