//! Prometheus metrics of a collector.
//!
//! One registry per collector process, served on `/metrics` by
//! `lunettes_runtime::telemetry`. The counters answer the questions an
//! operator asks of a collector: is input arriving (`records_in`), is it
//! leaving (`events_out`, `publish_latency`), is anything rejected
//! (`dead_letters`, `errors` by reason), is the broker keeping up
//! (`buffer_depth`), and would one pod's records split across partitions
//! (`unresolved_uid`).

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// The metrics of one collector process.
#[derive(Debug, Clone)]
pub struct CollectorMetrics {
    /// The registry every metric below is registered in.
    pub registry: Registry,
    /// Input records read, by cluster and source (`webhook`, `audit-file`, `watch`, `file`).
    pub records_in: IntCounterVec,
    /// HyperEvents acknowledged by Kafka, by cluster.
    pub events_out: IntCounterVec,
    /// Rejected input records acknowledged on the dead-letter topic, by cluster.
    pub dead_letters: IntCounterVec,
    /// Failures by reason (`publish`, `buffer_full`, `unauthorized`, `too_large`, `bad_request`, `watch`, `read`).
    pub errors: IntCounterVec,
    /// Time from handing a batch to the producer to the last acknowledgement.
    pub publish_latency: Histogram,
    /// Records handed to the producer and not yet acknowledged.
    pub buffer_depth: IntGauge,
    /// HyperEvents whose pod UID could not be resolved (keyed by `namespace/name`), by cluster.
    pub unresolved_uid: IntCounterVec,
    /// Watermark records acknowledged (one per partition per tick), by cluster.
    pub watermarks: IntCounterVec,
    /// Pods found deleted by a relist (gone while no watch was looking), by cluster.
    pub gone_pods: IntCounterVec,
    /// Last watermark time published, seconds since the epoch, by cluster.
    pub watermark_time: IntGaugeVec,
}

impl Default for CollectorMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl CollectorMetrics {
    /// Creates and registers the collector metrics in a fresh registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let records_in = counter(
            "lunettes_collector_records_in_total",
            "Input records read, by cluster and source.",
            &["cluster", "source"],
        );
        let events_out = counter(
            "lunettes_collector_events_out_total",
            "HyperEvents acknowledged by Kafka.",
            &["cluster"],
        );
        let dead_letters = counter(
            "lunettes_collector_dead_letters_total",
            "Rejected input records published to the dead-letter topic.",
            &["cluster"],
        );
        let errors = counter(
            "lunettes_collector_errors_total",
            "Collector failures by reason.",
            &["reason"],
        );
        let unresolved_uid = counter(
            "lunettes_collector_unresolved_uid_total",
            "HyperEvents published without a pod UID (keyed by namespace/name).",
            &["cluster"],
        );
        let watermarks = counter(
            "lunettes_collector_watermarks_total",
            "Watermark records acknowledged (one per partition per tick).",
            &["cluster"],
        );
        let gone_pods = counter(
            "lunettes_collector_pods_gone_unwatched_total",
            "Pods a relist no longer held, deleted while no watch was looking.",
            &["cluster"],
        );
        let publish_latency = Histogram::with_opts(
            HistogramOpts::new(
                "lunettes_collector_publish_latency_seconds",
                "Time from handing a batch to the producer to its last acknowledgement.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(publish_latency.clone()))
            .expect("unique metric");
        let buffer_depth = IntGauge::new(
            "lunettes_collector_buffer_depth",
            "Records handed to the producer and not yet acknowledged.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(buffer_depth.clone()))
            .expect("unique metric");
        let watermark_time = IntGaugeVec::new(
            Opts::new(
                "lunettes_collector_watermark_time_seconds",
                "Last watermark time published, seconds since the epoch.",
            ),
            &["cluster"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(watermark_time.clone()))
            .expect("unique metric");
        CollectorMetrics {
            registry,
            records_in,
            events_out,
            dead_letters,
            errors,
            publish_latency,
            buffer_depth,
            unresolved_uid,
            watermarks,
            gone_pods,
            watermark_time,
        }
    }

    /// Counts one failure of kind `reason`.
    pub fn error(&self, reason: &str) {
        self.errors.with_label_values(&[reason]).inc();
    }
}
