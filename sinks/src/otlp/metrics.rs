//! Prometheus metrics of the OTLP sink (`lunettes_otlp_*`).
//!
//! Enough to answer the operator's questions without logs: is it keeping up
//! (spans/s exported, record age at export), is the backend healthy (export
//! latency, retries by reason), and is anything being lost on purpose
//! (records rejected as malformed, spans the backend refused for good).

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts,
    Registry,
};

/// The sink's metrics, registered in one registry.
#[derive(Debug, Clone)]
pub struct OtlpMetrics {
    /// Kafka records read from the spans topic.
    pub records_consumed: IntCounter,
    /// Records that could not be exported, by reason (`decode`, `invalid_span`).
    pub records_rejected: IntCounterVec,
    /// Spans the backend accepted.
    pub spans_exported: IntCounter,
    /// Traces (distinct trace ids per request) the backend accepted.
    pub traces_exported: IntCounter,
    /// Export requests that succeeded.
    pub requests_exported: IntCounter,
    /// Duration of each export attempt, by protocol.
    pub export_duration: HistogramVec,
    /// Retries of export requests, by reason (`grpc_unavailable`, `http_503`, `transport`, ...).
    pub retries: IntCounterVec,
    /// Export requests that failed permanently, by reason.
    pub failures: IntCounterVec,
    /// Spans dropped because the backend refused them for good, by reason.
    pub spans_failed: IntCounterVec,
    /// Spans per flushed batch.
    pub batch_spans: Histogram,
    /// Seconds from a record's Kafka timestamp to its export acknowledgement.
    pub record_age: Histogram,
    /// Offset commits that failed (the records will be exported again).
    pub commit_failures: IntCounter,
}

impl OtlpMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = OtlpMetrics {
            records_consumed: IntCounter::new(
                "lunettes_otlp_records_consumed_total",
                "Kafka records read from the spans topic.",
            )?,
            records_rejected: IntCounterVec::new(
                Opts::new(
                    "lunettes_otlp_records_rejected_total",
                    "Records that could not be exported (malformed), by reason.",
                ),
                &["reason"],
            )?,
            spans_exported: IntCounter::new(
                "lunettes_otlp_spans_exported_total",
                "Spans the OTLP backend accepted.",
            )?,
            traces_exported: IntCounter::new(
                "lunettes_otlp_traces_exported_total",
                "Traces (distinct trace ids per request) the OTLP backend accepted.",
            )?,
            requests_exported: IntCounter::new(
                "lunettes_otlp_export_requests_total",
                "Export requests the OTLP backend accepted.",
            )?,
            export_duration: HistogramVec::new(
                HistogramOpts::new(
                    "lunettes_otlp_export_duration_seconds",
                    "Duration of each OTLP export attempt.",
                )
                .buckets(exponential_buckets(0.000_5, 2.0, 16)?),
                &["protocol"],
            )?,
            retries: IntCounterVec::new(
                Opts::new(
                    "lunettes_otlp_export_retries_total",
                    "Export attempts that failed with a retryable error, by reason.",
                ),
                &["reason"],
            )?,
            failures: IntCounterVec::new(
                Opts::new(
                    "lunettes_otlp_export_failures_total",
                    "Export requests that failed permanently, by reason.",
                ),
                &["reason"],
            )?,
            spans_failed: IntCounterVec::new(
                Opts::new(
                    "lunettes_otlp_spans_failed_total",
                    "Spans dropped because the backend refused them permanently, by reason.",
                ),
                &["reason"],
            )?,
            batch_spans: Histogram::with_opts(
                HistogramOpts::new("lunettes_otlp_batch_spans", "Spans per flushed batch.")
                    .buckets(exponential_buckets(1.0, 4.0, 9)?),
            )?,
            record_age: Histogram::with_opts(
                HistogramOpts::new(
                    "lunettes_otlp_record_age_seconds",
                    "Seconds from a record's Kafka timestamp to its export acknowledgement.",
                )
                .buckets(exponential_buckets(0.01, 2.0, 16)?),
            )?,
            commit_failures: IntCounter::new(
                "lunettes_otlp_commit_failures_total",
                "Offset commits that failed (the records will be exported again).",
            )?,
        };
        registry.register(Box::new(m.records_consumed.clone()))?;
        registry.register(Box::new(m.records_rejected.clone()))?;
        registry.register(Box::new(m.spans_exported.clone()))?;
        registry.register(Box::new(m.traces_exported.clone()))?;
        registry.register(Box::new(m.requests_exported.clone()))?;
        registry.register(Box::new(m.export_duration.clone()))?;
        registry.register(Box::new(m.retries.clone()))?;
        registry.register(Box::new(m.failures.clone()))?;
        registry.register(Box::new(m.spans_failed.clone()))?;
        registry.register(Box::new(m.batch_spans.clone()))?;
        registry.register(Box::new(m.record_age.clone()))?;
        registry.register(Box::new(m.commit_failures.clone()))?;
        Ok(m)
    }
}
