//! Prometheus metrics of a processor worker.
//!
//! Counted only for outputs actually written: outputs suppressed during a
//! state rebuild were counted by the worker that wrote them, so the sum over
//! all workers counts each delivery once. Delivery results count first
//! versions only (a correction re-states a verdict; it is counted in
//! `lunettes_delivery_corrections_total`), in the spirit of the original's
//! `slo_pod_startup_*` metrics but with Prometheus naming.

use lunettes_schemas::{Action, Delivery, Output};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::outputs::OutputKind;

/// The kubelet pod-startup SLI histogram buckets, in seconds.
pub const SLI_BUCKETS: [f64; 25] = [
    0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 180.0, 240.0,
    300.0, 360.0, 480.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0,
];

/// Every metric a processor exports.
#[derive(Debug, Clone)]
pub struct WorkerMetrics {
    /// `lunettes_hyperevents_total{mode="live"|"rebuild"}`.
    pub hyperevents: IntCounterVec,
    /// `lunettes_hyperevents_rejected_total`: not HyperEvents, dead-lettered.
    pub rejected: IntCounter,
    /// `lunettes_consumer_lag_records{partition}`.
    pub lag: IntGaugeVec,
    /// `lunettes_in_flight_pods{partition}`.
    pub in_flight: IntGaugeVec,
    /// `lunettes_assigned_partitions`.
    pub assigned: IntGauge,
    /// `lunettes_pod_startup_result_total{cluster,namespace,result,code}`.
    pub startup_result: IntCounterVec,
    /// `lunettes_pod_delete_result_total{cluster,namespace,result,code}`.
    pub delete_result: IntCounterVec,
    /// `lunettes_delivery_corrections_total{action}`.
    pub corrections: IntCounterVec,
    /// `lunettes_pod_startup_sli_seconds{cluster}` (Lunettes infrastructure SLI).
    pub startup_sli: HistogramVec,
    /// `lunettes_pod_startup_k8s_sli_seconds{cluster}` (official Kubernetes SLI).
    pub startup_k8s_sli: HistogramVec,
    /// `lunettes_pod_startup_phase_seconds{cluster,phase}`.
    pub startup_phase: HistogramVec,
    /// `lunettes_output_records_total{topic}`.
    pub outputs: IntCounterVec,
    /// `lunettes_outputs_suppressed_total{reason="rebuild"|"already_written"}`.
    pub suppressed: IntCounterVec,
    /// `lunettes_output_ack_seconds`: first send of a batch to its last acknowledgement.
    pub output_ack_seconds: Histogram,
    /// `lunettes_rebuild_duration_seconds`: assignment to the first live record.
    pub rebuild_seconds: Histogram,
    /// `lunettes_offset_commits_total{result="ok"|"error"}`.
    pub commits: IntCounterVec,
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> prometheus::Result<HistogramVec> {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )?;
    r.register(Box::new(h.clone()))?;
    Ok(h)
}

impl WorkerMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let r = registry;
        let lag = IntGaugeVec::new(
            Opts::new(
                "lunettes_consumer_lag_records",
                "HyperEvents not yet committed by this worker, per assigned partition",
            ),
            &["partition"],
        )?;
        r.register(Box::new(lag.clone()))?;
        let in_flight = IntGaugeVec::new(
            Opts::new(
                "lunettes_in_flight_pods",
                "Pods with an open delivery, per partition",
            ),
            &["partition"],
        )?;
        r.register(Box::new(in_flight.clone()))?;
        let assigned = IntGauge::new(
            "lunettes_assigned_partitions",
            "HyperEvents partitions assigned to this worker",
        )?;
        r.register(Box::new(assigned.clone()))?;
        let rejected = IntCounter::new(
            "lunettes_hyperevents_rejected_total",
            "Input records that are not HyperEvents (sent to the dead-letter topic)",
        )?;
        r.register(Box::new(rejected.clone()))?;
        let latency_buckets = prometheus::exponential_buckets(0.001, 2.0, 16)?;
        let output_ack_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "lunettes_output_ack_seconds",
                "Time from a batch's first output send to its last acknowledgement",
            )
            .buckets(latency_buckets),
        )?;
        r.register(Box::new(output_ack_seconds.clone()))?;
        let rebuild_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "lunettes_rebuild_duration_seconds",
                "Time to rebuild a newly assigned partition's state up to its committed offset",
            )
            .buckets(prometheus::exponential_buckets(0.01, 2.0, 16)?),
        )?;
        r.register(Box::new(rebuild_seconds.clone()))?;
        let result_labels = ["cluster", "namespace", "result", "code"];
        Ok(WorkerMetrics {
            hyperevents: counter(
                r,
                "lunettes_hyperevents_total",
                "HyperEvents fed to engines (mode=rebuild: re-read to rebuild state)",
                &["mode"],
            )?,
            rejected,
            lag,
            in_flight,
            assigned,
            startup_result: counter(
                r,
                "lunettes_pod_startup_result_total",
                "Pod create deliveries by verdict and diagnosis code",
                &result_labels,
            )?,
            delete_result: counter(
                r,
                "lunettes_pod_delete_result_total",
                "Pod delete deliveries by verdict and diagnosis code",
                &result_labels,
            )?,
            corrections: counter(
                r,
                "lunettes_delivery_corrections_total",
                "Delivery verdicts re-stated with a higher version",
                &["action"],
            )?,
            startup_sli: histogram(
                r,
                "lunettes_pod_startup_sli_seconds",
                "Lunettes infrastructure pod-startup SLI (user-owned time excluded)",
                &["cluster"],
                &SLI_BUCKETS,
            )?,
            startup_k8s_sli: histogram(
                r,
                "lunettes_pod_startup_k8s_sli_seconds",
                "Official Kubernetes pod-startup SLI (pulls and init containers excluded)",
                &["cluster"],
                &SLI_BUCKETS,
            )?,
            startup_phase: histogram(
                r,
                "lunettes_pod_startup_phase_seconds",
                "Duration of each pod-startup phase",
                &["cluster", "phase"],
                &SLI_BUCKETS,
            )?,
            outputs: counter(
                r,
                "lunettes_output_records_total",
                "Output records produced, by topic",
                &["topic"],
            )?,
            suppressed: counter(
                r,
                "lunettes_outputs_suppressed_total",
                "Outputs not produced because an earlier owner already had",
                &["reason"],
            )?,
            output_ack_seconds,
            rebuild_seconds,
            commits: counter(
                r,
                "lunettes_offset_commits_total",
                "Offset commits of this worker",
                &["result"],
            )?,
        })
    }

    pub(crate) fn hyperevent(&self, live: bool) {
        self.hyperevents
            .with_label_values(&[if live { "live" } else { "rebuild" }])
            .inc();
    }

    pub(crate) fn suppressed(&self, live: bool) {
        self.suppressed
            .with_label_values(&[if live { "already_written" } else { "rebuild" }])
            .inc();
    }

    pub(crate) fn output(&self, kind: OutputKind, output: &Output) {
        self.outputs.with_label_values(&[kind.as_str()]).inc();
        if let Output::Delivery(d) = output {
            self.delivery(d);
        }
    }

    fn delivery(&self, d: &Delivery) {
        if d.version > 1 {
            self.corrections
                .with_label_values(&[d.action.as_str()])
                .inc();
            return;
        }
        let labels = [
            d.cluster.as_str(),
            d.namespace.as_str(),
            d.result.as_str(),
            d.code.as_str(),
        ];
        match d.action {
            Action::Delete => self.delete_result.with_label_values(&labels).inc(),
            Action::Create => {
                self.startup_result.with_label_values(&labels).inc();
                let cluster = [d.cluster.as_str()];
                if let Some(ms) = d.sli_ms {
                    self.startup_sli
                        .with_label_values(&cluster)
                        .observe(ms as f64 / 1000.0);
                }
                if let Some(ms) = d.k8s_sli_ms {
                    self.startup_k8s_sli
                        .with_label_values(&cluster)
                        .observe(ms as f64 / 1000.0);
                }
                for (phase, ms) in d.phases.iter() {
                    if let Some(ms) = ms {
                        self.startup_phase
                            .with_label_values(&[d.cluster.as_str(), phase])
                            .observe(ms as f64 / 1000.0);
                    }
                }
            }
        }
    }
}
