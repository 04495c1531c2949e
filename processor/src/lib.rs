//! The delivery engine of Lunettes-rs: a pure library (no I/O, no clock
//! reads, no async runtime) that turns [`HyperEvent`]s into pod delivery
//! verdicts, spans and SLO window rows.
//!
//! Files (`lunettes analyze`), Kafka workers and tests all drive the same
//! code: feed events with [`Engine::process`] (or a batch of them with
//! [`Engine::process_batch`], which prefetches their pods' memory ahead and
//! yields the same outputs), move a quiet cluster's clock
//! with [`Engine::tick`], and call [`Engine::finish`] at the end of a finite
//! input. Outputs are deterministic: the same input set, in any order within
//! the lateness bound, yields the same records, ids and versions.
//!
//! ```
//! use lunettes_processor::{Engine, EngineConfig};
//! use lunettes_schemas::{HyperEvent, Output, DeliveryResult};
//!
//! let mut engine = Engine::new(EngineConfig::default());
//! let mut out = Vec::new();
//! let mut ev = HyperEvent::example();          // pod:create:success at t0
//! let t0 = ev.time_us;
//! engine.process(&ev, &mut out);
//! ev.operations = vec!["condition:Ready:true".into()];
//! ev.time_us = t0 + 5_000_000;
//! ev.dedup_id = "ready".into();
//! engine.process(&ev, &mut out);
//! engine.finish(&mut out);
//! let d = out.iter().find_map(|o| match o { Output::Delivery(d) => Some(d), _ => None }).unwrap();
//! assert_eq!(d.result, DeliveryResult::Success);
//! assert_eq!(d.slo_ms, Some(90_000));
//! ```
#![deny(missing_docs)]

mod classify;
mod diagnose;
pub mod diagnosis;
pub mod duration;
mod engine;
mod error;
mod fasthash;
mod fields;
pub mod ids;
mod intern;
mod opplan;
mod pod;
mod prefetch;
pub mod slo;
pub mod spans;
mod stamp;
mod timeline;
mod timers;
mod verdict;
mod windows;

pub use engine::{Engine, EngineStats};
pub use error::ConfigError;
pub use lunettes_schemas::HyperEvent;
pub use slo::{PodClass, SloConfig};
pub use spans::config::SpanConfig;

/// Engine configuration. `Default` = the embedded `config/slo.json` and
/// `config/spans.json`, lateness 30 s, give-up 35 min, spans emitted.
#[derive(Debug)]
pub struct EngineConfig {
    /// SLO configuration (its `Lateness`/`GiveUp` keys, when set, override the fields below).
    pub slo: SloConfig,
    /// Span configuration.
    pub spans: SpanConfig,
    /// Shard (Kafka partition) number written into window rows.
    pub shard: i32,
    /// Lateness bound, µs: the watermark trails the latest event time by this much.
    pub lateness_us: i64,
    /// Give-up horizon, µs: a create delivery not complete by then is `abandoned`.
    pub give_up_us: i64,
    /// Emit SpanRecords with verdicts.
    pub emit_spans: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            slo: SloConfig::default(),
            spans: SpanConfig::default(),
            shard: 0,
            lateness_us: 30_000_000,
            give_up_us: 35 * 60_000_000,
            emit_spans: true,
        }
    }
}
