//! Spans and traces: the configuration (`config`), the per-pod marks that
//! matchers record (`track`), and the SpanRecords emitted with a verdict
//! (`emit`).

pub mod config;
pub(crate) mod emit;
pub(crate) mod track;
