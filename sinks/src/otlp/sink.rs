//! The consume -> batch -> export -> commit loop of `lunettes sink otlp`.
//!
//! Reading top to bottom: records from the spans topic are decoded and
//! converted one by one (a malformed one is rejected alone, named by
//! topic/partition/offset, and its offset still committed); converted spans
//! collect in a [`Batch`] until it is full or has lingered; the batch is
//! grouped into per-trace requests and exported with retries; only when every
//! request of the batch is acknowledged are the batch's offsets committed.
//!
//! So a crash or a kill at any point re-exports at most the uncommitted
//! batch, with the same ids (at-least-once delivery of identical spans; OTLP
//! backends key spans by trace and span id). On SIGTERM the current batch is
//! exported and committed before the loop returns; if the backend is failing
//! at that moment, retries stop and the batch is left uncommitted for the
//! next run rather than dropped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use lunettes_runtime::telemetry::Readiness;
use lunettes_runtime::Shutdown;
use lunettes_schemas::SpanRecord;
use prometheus::{IntGaugeVec, Opts, Registry};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::{ClientContext, Message, Offset, Statistics, TopicPartitionList};

use super::config::ValidatedOtlpConfig;
use super::error::Result;
use super::metrics::OtlpMetrics;
use super::request_builder::{build_requests, convert, split_by_trace, OtlpSpan, TraceRequest};
use super::service::{export_with_retry, OtlpService};
use crate::util::batch::Batch;
use crate::util::retry::RetryError;

/// Counters of one run, readable while it runs (tests wait on them).
#[derive(Debug, Default)]
pub struct OtlpRunStats {
    /// Records read.
    pub records: AtomicU64,
    /// Records rejected as malformed.
    pub rejected: AtomicU64,
    /// Spans acknowledged by the backend.
    pub spans_exported: AtomicU64,
    /// Traces acknowledged (distinct trace ids per request).
    pub traces_exported: AtomicU64,
    /// Export requests acknowledged.
    pub requests: AtomicU64,
    /// Spans the backend refused permanently.
    pub spans_failed: AtomicU64,
    /// Offset commits made.
    pub commits: AtomicU64,
    /// Whether the run ended with a batch left uncommitted (shutdown while
    /// the backend was failing).
    pub left_uncommitted: AtomicBool,
}

/// librdkafka context publishing consumer lag from its statistics.
struct LagContext {
    lag: IntGaugeVec,
}

impl ClientContext for LagContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.lag
                        .with_label_values(&[topic.as_str(), &partition.to_string()])
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for LagContext {}

/// Runs the sink until `shutdown` fires.
///
/// `registry` receives the consumer lag gauge (`lunettes_otlp_consumer_lag`);
/// `ready` is set once subscribed and cleared on the way out.
pub async fn run(
    config: ValidatedOtlpConfig,
    metrics: OtlpMetrics,
    registry: &Registry,
    ready: Readiness,
    shutdown: Shutdown,
    stats: Arc<OtlpRunStats>,
) -> Result<()> {
    let lag = IntGaugeVec::new(
        Opts::new(
            "lunettes_otlp_consumer_lag",
            "Records not yet read, per spans-topic partition.",
        ),
        &["topic", "partition"],
    )?;
    // A second run in the same process (tests) registers the same name again.
    let _ = registry.register(Box::new(lag.clone()));
    let mut kafka = config.kafka.clone();
    kafka
        .consumer
        .entry("statistics.interval.ms".into())
        .or_insert_with(|| "5000".into());
    let topic = kafka.topics.spans.name.clone();
    if kafka.create_topics {
        kafka.ensure_topics(&[&kafka.topics.spans]).await?;
    }
    let consumer: StreamConsumer<LagContext> = kafka.consumer(&config.group, LagContext { lag })?;
    consumer.subscribe(&[topic.as_str()])?;
    let service =
        OtlpService::new(&config).map_err(|e| super::error::Error::Config(e.to_string()))?;
    let protocol = service.protocol().as_str();
    tracing::info!(topic, group = config.group, uri = %config.uri, protocol, "otlp sink started");
    ready.set(true);

    let mut batch: Batch<OtlpSpan> = Batch::default();
    let mut interrupted = false;
    loop {
        if shutdown.is_triggered() {
            break;
        }
        let deadline = batch.deadline(&config.batch);
        let stop = shutdown.clone();
        tokio::select! {
            _ = stop.wait() => break,
            _ = sleep_until(deadline) => {}
            received = consumer.recv() => match received {
                Ok(msg) => {
                    stats.records.fetch_add(1, Ordering::Relaxed);
                    metrics.records_consumed.inc();
                    let at = (msg.topic(), msg.partition(), msg.offset());
                    let produced_ms = msg.timestamp().to_millis().unwrap_or(0);
                    match decode(msg.payload(), &config) {
                        Ok(span) => {
                            let bytes = msg.payload().map_or(0, <[u8]>::len);
                            batch.push(span, bytes, produced_ms, at);
                        }
                        Err((reason, problem)) => {
                            tracing::error!(
                                topic = at.0, partition = at.1, offset = at.2,
                                "rejected span record: {problem}"
                            );
                            metrics.records_rejected.with_label_values(&[reason]).inc();
                            stats.rejected.fetch_add(1, Ordering::Relaxed);
                            batch.cover(at);
                        }
                    }
                }
                Err(e) => {
                    // Broker trouble is transient for librdkafka; it reconnects.
                    tracing::warn!("reading {topic}: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
        if batch.due(&config.batch, Instant::now()).is_some()
            && !flush(
                &mut batch, &consumer, &service, &config, &metrics, &stats, &shutdown,
            )
            .await
        {
            interrupted = true;
            break;
        }
    }
    // Shutdown: export and commit what was read, unless the loop already
    // stopped because an export could not complete.
    if !interrupted && !batch.is_empty() {
        flush(
            &mut batch, &consumer, &service, &config, &metrics, &stats, &shutdown,
        )
        .await;
    }
    ready.set(false);
    tracing::info!(
        exported = stats.spans_exported.load(Ordering::Relaxed),
        "otlp sink stopped"
    );
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

fn decode(
    payload: Option<&[u8]>,
    config: &ValidatedOtlpConfig,
) -> std::result::Result<OtlpSpan, (&'static str, String)> {
    let bytes = payload.ok_or(("decode", "empty payload (tombstone)".to_string()))?;
    let record: SpanRecord = lunettes_schemas::avro::decode(bytes)
        .map_err(|e| ("decode", format!("not an Avro SpanRecord: {e}")))?;
    convert(&record, config.resource_scope).map_err(|e| {
        (
            "invalid_span",
            format!(
                "span {:?} of trace {:?} ({}): {e}",
                record.name, record.trace_id, record.pod_uid
            ),
        )
    })
}

/// Exports the batch and commits its offsets. Returns false when shutdown
/// began while an export was still failing: then nothing was committed and
/// the loop must stop.
async fn flush<C: ConsumerContext>(
    batch: &mut Batch<OtlpSpan>,
    consumer: &StreamConsumer<C>,
    service: &OtlpService,
    config: &ValidatedOtlpConfig,
    metrics: &OtlpMetrics,
    stats: &OtlpRunStats,
    shutdown: &Shutdown,
) -> bool {
    let taken = batch.take();
    metrics.batch_spans.observe(taken.rows.len() as f64);
    let requests = build_requests(taken.rows, config.max_spans_per_request);
    // Requests are independent (whole traces each): send several at once,
    // commit only when every one of them is through.
    let mut exported = Vec::with_capacity(requests.len());
    for group in requests.chunks(config.max_in_flight) {
        let sends = group
            .iter()
            .map(|request| export_isolating(request, service, config, metrics, stats, shutdown));
        exported.extend(join_all(sends).await);
    }
    if exported.contains(&false) {
        stats.left_uncommitted.store(true, Ordering::Relaxed);
        tracing::warn!(
            offsets = taken.offsets.token(),
            "shutdown while the OTLP backend was failing: batch left uncommitted, it is exported again after restart"
        );
        return false;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    for produced in &taken.produced_ms {
        if *produced > 0 {
            metrics
                .record_age
                .observe((now_ms - produced).max(0) as f64 / 1000.0);
        }
    }
    let mut positions = TopicPartitionList::new();
    for (topic, partition, next) in taken.offsets.commit_positions() {
        if let Err(e) = positions.add_partition_offset(topic, partition, Offset::Offset(next)) {
            tracing::error!("offset {topic}/{partition}/{next}: {e}");
        }
    }
    if positions.count() > 0 {
        match consumer.commit(&positions, CommitMode::Sync) {
            Ok(()) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // Typically a partition moved to another member mid-batch: it
                // exports these records again, with the same ids.
                metrics.commit_failures.inc();
                tracing::warn!(offsets = taken.offsets.token(), "commit failed: {e}");
            }
        }
    }
    true
}

/// Exports one request; on a permanent failure exports its traces one by one
/// so only the traces the backend refuses are dropped. Returns false when
/// shutdown interrupted a failing export.
async fn export_isolating(
    request: &TraceRequest,
    service: &OtlpService,
    config: &ValidatedOtlpConfig,
    metrics: &OtlpMetrics,
    stats: &OtlpRunStats,
    shutdown: &Shutdown,
) -> bool {
    match export_one(request, service, config, metrics, stats, shutdown).await {
        Outcome::Done => true,
        Outcome::ShutDown => false,
        Outcome::Permanent(reason, message) if request.traces <= 1 => {
            drop_refused(request, &reason, &message, metrics, stats);
            true
        }
        Outcome::Permanent(reason, message) => {
            tracing::warn!(
                traces = request.traces,
                "backend refused a request ({message}); exporting its traces one by one"
            );
            metrics.failures.with_label_values(&[&reason]).inc();
            for single in split_by_trace(&request.request) {
                match export_one(&single, service, config, metrics, stats, shutdown).await {
                    Outcome::Done => {}
                    Outcome::ShutDown => return false,
                    Outcome::Permanent(reason, message) => {
                        drop_refused(&single, &reason, &message, metrics, stats)
                    }
                }
            }
            true
        }
    }
}

enum Outcome {
    Done,
    ShutDown,
    Permanent(String, String),
}

async fn export_one(
    request: &TraceRequest,
    service: &OtlpService,
    config: &ValidatedOtlpConfig,
    metrics: &OtlpMetrics,
    stats: &OtlpRunStats,
    shutdown: &Shutdown,
) -> Outcome {
    let protocol = service.protocol().as_str();
    let result = export_with_retry(
        service,
        &request.request,
        &config.retry,
        shutdown,
        |error, delay| {
            metrics.retries.with_label_values(&[&error.reason()]).inc();
            tracing::warn!(?delay, "export failed, retrying: {error}");
        },
        |took| {
            metrics
                .export_duration
                .with_label_values(&[protocol])
                .observe(took.as_secs_f64())
        },
    )
    .await;
    match result {
        Ok(outcome) => {
            let rejected = usize::try_from(outcome.rejected_spans.max(0)).unwrap_or(usize::MAX);
            let accepted = request.spans.saturating_sub(rejected);
            if rejected > 0 {
                tracing::error!(
                    rejected,
                    "backend accepted the request but rejected spans: {}",
                    outcome.message
                );
                metrics
                    .spans_failed
                    .with_label_values(&["partial_success"])
                    .inc_by(rejected as u64);
                stats
                    .spans_failed
                    .fetch_add(rejected as u64, Ordering::Relaxed);
            }
            metrics.requests_exported.inc();
            metrics.spans_exported.inc_by(accepted as u64);
            metrics.traces_exported.inc_by(request.traces as u64);
            stats.requests.fetch_add(1, Ordering::Relaxed);
            stats
                .spans_exported
                .fetch_add(accepted as u64, Ordering::Relaxed);
            stats
                .traces_exported
                .fetch_add(request.traces as u64, Ordering::Relaxed);
            Outcome::Done
        }
        Err(RetryError::ShutDown(_)) => Outcome::ShutDown,
        Err(RetryError::Permanent(e)) => Outcome::Permanent(e.reason(), e.to_string()),
    }
}

fn drop_refused(
    request: &TraceRequest,
    reason: &str,
    message: &str,
    metrics: &OtlpMetrics,
    stats: &OtlpRunStats,
) {
    let trace_ids: Vec<String> = request
        .request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| hex(&s.trace_id))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    tracing::error!(
        ?trace_ids,
        spans = request.spans,
        "backend refused the trace permanently, dropped: {message}"
    );
    metrics.failures.with_label_values(&[reason]).inc();
    metrics
        .spans_failed
        .with_label_values(&[reason])
        .inc_by(request.spans as u64);
    stats
        .spans_failed
        .fetch_add(request.spans as u64, Ordering::Relaxed);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
