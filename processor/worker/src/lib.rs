//! Processor workers: the delivery engine run over Kafka.
//!
//! A processor is a consumer-group member on the HyperEvents topic with one
//! engine per assigned partition ([`processor::run`]); a replay re-runs the
//! engine over a time range of that topic ([`replay::run`]). Both write
//! deliveries, spans and window rows to output topics, each output on the
//! partition number of the input that caused it, with its source position in
//! headers.
//!
//! **Why this shape.** The broker we run on (and many managed ones) has no
//! transactions, yet the pipeline must lose nothing and repeat nothing. So
//! exactly-once is built from three plain facts: the engine is deterministic
//! (same records in, same outputs out, same ids); offsets are committed only
//! after outputs are acknowledged; and a new owner of a partition rebuilds the
//! engine from before the committed offset and suppresses every output whose
//! source position is below the committed offset or already on the output
//! partition. `docs/pipeline.md` ("Processors", "Offsets and exactly-once",
//! "Replay") has the full argument and its limits.
#![deny(missing_docs)]

pub mod config;
pub mod engine;
pub mod error;
pub mod metrics;
pub mod outputs;
pub mod partition;
pub mod plan;
pub mod processor;
pub mod replay;
#[cfg(feature = "testing")]
pub mod testing;
pub mod topics;

pub use engine::{EngineFactory, PartitionEngine};
pub use error::WorkerError;
pub use metrics::WorkerMetrics;
pub use processor::{Control, ProcessorConfig, RunSummary};
pub use replay::{ReplayConfig, ReplayProgress, ReplaySummary};
