//! Prometheus metrics of the ClickHouse sink.
//!
//! Names follow Prometheus conventions with the `lunettes_clickhouse_sink_`
//! prefix: counters end in `_total`, durations are seconds. Rows per second
//! is `rate(lunettes_clickhouse_sink_rows_written_total[1m])`; lag is what
//! librdkafka reports per partition (statistics every 5 s).

use prometheus::{
    exponential_buckets, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Buckets of `ingest_to_row_seconds`, in seconds. Dense around the
/// linger (0.2-1 s) and the 2 s latency goal, so quantiles near them are read
/// from a bucket edge instead of interpolated across a doubling bucket.
pub const INGEST_TO_ROW_BUCKETS: [f64; 20] = [
    0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0,
    7.5, 10.0, 30.0,
];

/// The sink's metrics.
#[derive(Debug, Clone)]
pub struct SinkMetrics {
    /// Rows acknowledged by ClickHouse, by table.
    pub rows_written: IntCounterVec,
    /// Batches flushed, by table and reason (rows, bytes, linger, drain).
    pub batches: IntCounterVec,
    /// Rows per insert, by table.
    pub batch_rows: HistogramVec,
    /// Input bytes per insert, by table.
    pub batch_bytes: HistogramVec,
    /// Insert latency including retries, by table.
    pub insert_seconds: HistogramVec,
    /// Retried insert attempts, by table.
    pub insert_retries: IntCounterVec,
    /// Records that decoded but produce no row, by topic and reason.
    pub records_skipped: IntCounterVec,
    /// Records that could not be decoded or converted, by topic.
    pub records_rejected: IntCounterVec,
    /// Consumer lag in messages, by topic and partition.
    pub consumer_lag: IntGaugeVec,
    /// Time from the record's Kafka timestamp to ClickHouse acknowledging its row.
    pub ingest_to_row_seconds: HistogramVec,
}

impl SinkMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let p = "lunettes_clickhouse_sink_";
        let m = SinkMetrics {
            rows_written: IntCounterVec::new(
                Opts::new(
                    format!("{p}rows_written_total"),
                    "Rows acknowledged by ClickHouse.",
                ),
                &["table"],
            )?,
            batches: IntCounterVec::new(
                Opts::new(format!("{p}batches_total"), "Batches flushed, by reason."),
                &["table", "reason"],
            )?,
            batch_rows: HistogramVec::new(
                HistogramOpts::new(format!("{p}batch_rows"), "Rows per insert.")
                    .buckets(exponential_buckets(1.0, 4.0, 10)?),
                &["table"],
            )?,
            batch_bytes: HistogramVec::new(
                HistogramOpts::new(format!("{p}batch_bytes"), "Input bytes per insert.")
                    .buckets(exponential_buckets(1024.0, 4.0, 10)?),
                &["table"],
            )?,
            insert_seconds: HistogramVec::new(
                HistogramOpts::new(
                    format!("{p}insert_duration_seconds"),
                    "Insert latency including retries.",
                )
                .buckets(exponential_buckets(0.001, 2.5, 14)?),
                &["table"],
            )?,
            insert_retries: IntCounterVec::new(
                Opts::new(
                    format!("{p}insert_retries_total"),
                    "Retried insert attempts.",
                ),
                &["table"],
            )?,
            records_skipped: IntCounterVec::new(
                Opts::new(
                    format!("{p}records_skipped_total"),
                    "Records that decoded but produce no row (watermarks, hourly windows).",
                ),
                &["topic", "reason"],
            )?,
            records_rejected: IntCounterVec::new(
                Opts::new(
                    format!("{p}records_rejected_total"),
                    "Records that could not be decoded or converted (logged with their offset).",
                ),
                &["topic"],
            )?,
            consumer_lag: IntGaugeVec::new(
                Opts::new(
                    format!("{p}consumer_lag_messages"),
                    "Consumer lag per partition.",
                ),
                &["topic", "partition"],
            )?,
            ingest_to_row_seconds: HistogramVec::new(
                HistogramOpts::new(
                    format!("{p}ingest_to_row_seconds"),
                    "Kafka record timestamp to ClickHouse acknowledging its row.",
                )
                .buckets(INGEST_TO_ROW_BUCKETS.to_vec()),
                &["table"],
            )?,
        };
        registry.register(Box::new(m.rows_written.clone()))?;
        registry.register(Box::new(m.batches.clone()))?;
        registry.register(Box::new(m.batch_rows.clone()))?;
        registry.register(Box::new(m.batch_bytes.clone()))?;
        registry.register(Box::new(m.insert_seconds.clone()))?;
        registry.register(Box::new(m.insert_retries.clone()))?;
        registry.register(Box::new(m.records_skipped.clone()))?;
        registry.register(Box::new(m.records_rejected.clone()))?;
        registry.register(Box::new(m.consumer_lag.clone()))?;
        registry.register(Box::new(m.ingest_to_row_seconds.clone()))?;
        Ok(m)
    }
}
