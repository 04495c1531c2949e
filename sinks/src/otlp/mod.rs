//! OTLP traces sink: exports each delivery trace to an OpenTelemetry backend
//! (Jaeger, Tempo, an OpenTelemetry Collector) over OTLP/gRPC or
//! OTLP/HTTP-protobuf, using the official OTLP protobuf definitions.
//!
//! Laid out by role, like Vector's sinks: [`config`] (what the operator sets,
//! validated once), [`request_builder`] (SpanRecords to OTLP requests, pure,
//! with the attribute mapping in [`semconv`]), [`service`] (one export and the
//! retry policy that classifies gRPC codes and HTTP statuses), [`sink`] (the
//! consume-batch-export-commit loop), [`metrics`] and [`error`]. Guarantees,
//! attribute tables and a demo are in `docs/otlp.md`.
//!
//! Ids come straight from the engine's deterministic hex ids, so a replay
//! exports the same trace and span ids, and offsets are committed only after
//! the backend acknowledged the export.

pub mod config;
pub mod error;
pub mod metrics;
pub mod request_builder;
pub mod semconv;
pub mod service;
pub mod sink;

pub use config::{OtlpEndpoint, OtlpProtocol, OtlpSinkConfig, ValidatedOtlpConfig};
pub use error::{Error, ExportError, InvalidSpan, Result};
pub use metrics::OtlpMetrics;
pub use request_builder::{
    build_requests, convert, split_by_trace, OtlpSpan, ResourceScope, TraceRequest,
};
pub use service::{export_with_retry, ExportOutcome, OtlpRetryLogic, OtlpService};
pub use sink::{run, OtlpRunStats};
