//! The sink loop: consume, decode, batch per table, insert, then commit.
//!
//! One Kafka consumer reads the output topics (and optionally the HyperEvents
//! topic); every topic feeds exactly one table, so the offsets of a topic
//! partition advance only with its own table's inserts. A record is decoded
//! (Avro single-object) and moved into its table's [`Batch`]; a batch is
//! flushed on rows, bytes or linger. Due batches of different tables are
//! inserted concurrently; after ClickHouse acknowledged an insert the offsets
//! it covers are committed (`last + 1` per partition), never before. A crash
//! between insert and commit therefore re-reads and re-inserts rows, which
//! the deduplication token and the `ReplacingMergeTree` keys absorb: nothing
//! is lost and nothing is visibly duplicated.
//!
//! Records that cannot be decoded or converted are logged with their
//! topic/partition/offset, counted, and committed with their neighbours
//! (they would fail identically forever). Inserts that fail permanently stop
//! the sink without committing.
//!
//! On shutdown the loop stops consuming, flushes what it holds (one attempt
//! per batch, no backoff) and commits synchronously what was acknowledged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lunettes_runtime::telemetry::Readiness;
use lunettes_runtime::Shutdown;
use lunettes_schemas::avro::{self, AvroRecord};
use lunettes_schemas::{HyperEvent, SpanRecord, WindowRow};
use prometheus::IntGaugeVec;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::Notify;

use super::config::ValidatedConfig;
use super::error::{is_retriable, Error, Result};
use super::metrics::SinkMetrics;
use super::migrate::{migrate, MigrateOptions};
use super::request_builder::{
    hyperevent_row, window_row, Converted, HyperEventRow, SpanRow, WindowRowCh,
};
use super::rowbinary::{DeliveryTranscoder, DELIVERY_COLUMNS};
use super::service::{ClickHouseService, InsertBody, RowBinary};
use crate::util::batch::{Batch, BatchConfig, FlushReason, OffsetRanges};
use crate::util::retry::{Backoff, RetryError};

/// A destination table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// `deliveries`.
    Deliveries,
    /// `spans`.
    Spans,
    /// `slo_windows_1m`.
    Windows,
    /// `hyperevents`.
    HyperEvents,
}

impl Table {
    /// Table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Deliveries => "deliveries",
            Table::Spans => "spans",
            Table::Windows => "slo_windows_1m",
            Table::HyperEvents => "hyperevents",
        }
    }
}

/// Fault injection for crash tests: after `park_after_inserts` acknowledged
/// inserts the sink stops *before* committing their offsets, signals
/// `parked`, and waits forever (the test then kills it). Inert by default.
#[derive(Debug, Clone, Default)]
pub struct RunHooks {
    /// Park after this many acknowledged inserts.
    pub park_after_inserts: Option<u64>,
    /// Notified when parked.
    pub parked: Arc<Notify>,
}

/// Counters of one run, for callers and tests.
#[derive(Debug, Default)]
pub struct RunStats {
    /// Rows acknowledged by ClickHouse.
    pub rows_written: AtomicU64,
    /// Acknowledged inserts.
    pub inserts: AtomicU64,
    /// Records rejected (undecodable or unconvertible).
    pub rejected: AtomicU64,
    /// Offset commits requested.
    pub commits: AtomicU64,
}

/// librdkafka context publishing consumer lag from its statistics.
struct SinkContext {
    lag: IntGaugeVec,
}

impl ClientContext for SinkContext {
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

impl ConsumerContext for SinkContext {}

#[derive(Default)]
struct Batches {
    /// Delivery rows are transcoded to RowBinary on arrival
    /// ([`DeliveryTranscoder`]): the batch keeps their provenance, the rows
    /// themselves are in `delivery_bytes`.
    deliveries: Batch<()>,
    delivery_bytes: Vec<u8>,
    spans: Batch<SpanRow>,
    windows: Batch<WindowRowCh>,
    hyperevents: Batch<HyperEventRow>,
}

impl Batches {
    fn deadline(&self, c: &BatchConfig) -> Option<Instant> {
        [
            self.deliveries.deadline(c),
            self.spans.deadline(c),
            self.windows.deadline(c),
            self.hyperevents.deadline(c),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn any_due(&self, c: &BatchConfig, now: Instant) -> bool {
        self.deliveries.due(c, now).is_some()
            || self.spans.due(c, now).is_some()
            || self.windows.due(c, now).is_some()
            || self.hyperevents.due(c, now).is_some()
    }
}

fn take<R>(
    b: &mut Batch<R>,
    c: &BatchConfig,
    now: Instant,
    drain: bool,
) -> Option<(Batch<R>, FlushReason)> {
    let reason = match b.due(c, now) {
        Some(r) => r,
        None if drain && !b.is_empty() => FlushReason::Drain,
        None => return None,
    };
    Some((b.take(), reason))
}

/// [`take`], with the rows moved out as the insert body.
fn take_rows<R>(
    b: &mut Batch<R>,
    c: &BatchConfig,
    now: Instant,
    drain: bool,
) -> Option<(Batch<R>, FlushReason, Vec<R>)> {
    take(b, c, now, drain).map(|(mut b, reason)| {
        let rows = std::mem::take(&mut b.rows);
        (b, reason, rows)
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The sink's state between messages.
struct SinkCore {
    config: ValidatedConfig,
    transcoder: &'static DeliveryTranscoder,
    service: ClickHouseService,
    metrics: SinkMetrics,
    batches: Batches,
    shutdown: Shutdown,
    stats: Arc<RunStats>,
    tables: Vec<(String, Table)>,
}

impl SinkCore {
    fn table_of(&self, topic: &str) -> Option<Table> {
        self.tables
            .iter()
            .find(|(t, _)| t == topic)
            .map(|(_, table)| *table)
    }

    fn accept(&mut self, msg: &BorrowedMessage<'_>) {
        let topic = msg.topic();
        let at = (topic, msg.partition(), msg.offset());
        let produced_ms = msg.timestamp().to_millis().unwrap_or_else(now_ms);
        let payload = msg.payload().unwrap_or_default();
        let Some(table) = self.table_of(topic) else {
            tracing::warn!(
                topic,
                "record from a topic the sink did not subscribe to; ignored"
            );
            return;
        };
        let ctx = Place {
            metrics: &self.metrics,
            stats: &self.stats,
            payload,
            produced_ms,
            at,
        };
        match table {
            Table::Deliveries => {
                let out = &mut self.batches.delivery_bytes;
                match self.transcoder.append(payload, out) {
                    Ok(()) => self
                        .batches
                        .deliveries
                        .push((), payload.len(), produced_ms, at),
                    Err(e) => ctx.reject(&mut self.batches.deliveries, &e.to_string()),
                }
            }
            Table::Spans => ctx
                .place::<SpanRecord, _>(&mut self.batches.spans, |s| Ok(Ok(SpanRow::try_from(s)?))),
            Table::Windows => ctx.place::<WindowRow, _>(&mut self.batches.windows, window_row),
            Table::HyperEvents => {
                ctx.place::<HyperEvent, _>(&mut self.batches.hyperevents, hyperevent_row)
            }
        }
    }

    /// Flushes due batches (all non-empty ones with `drain`). Returns the
    /// offsets acknowledged (to commit), and the first permanent error if a
    /// table failed: the tables that succeeded are committed all the same.
    async fn flush(&mut self, drain: bool) -> (Vec<OffsetRanges>, Option<Error>) {
        let c = self.config.config.batch.clone();
        let now = Instant::now();
        let d = take(&mut self.batches.deliveries, &c, now, drain).map(|(b, reason)| {
            let body = RowBinary {
                columns: &DELIVERY_COLUMNS,
                bytes: std::mem::take(&mut self.batches.delivery_bytes).into(),
                rows: b.rows.len(),
            };
            (b, reason, body)
        });
        let s = take_rows(&mut self.batches.spans, &c, now, drain);
        let w = take_rows(&mut self.batches.windows, &c, now, drain);
        let h = take_rows(&mut self.batches.hyperevents, &c, now, drain);
        let this = &*self;
        let (d, s, w, h) = tokio::join!(
            this.flush_batch(Table::Deliveries, d),
            this.flush_batch(Table::Spans, s),
            this.flush_batch(Table::Windows, w),
            this.flush_batch(Table::HyperEvents, h),
        );
        let mut acked = Vec::new();
        let mut first_error = None;
        for r in [d, s, w, h] {
            match r {
                Ok(Some(o)) => acked.push(o),
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        (acked, first_error)
    }

    /// Inserts `body`, the rows of `batch` (whose own `rows` are moved out
    /// into the body or unused).
    async fn flush_batch<R, B: InsertBody>(
        &self,
        table: Table,
        batch: Option<(Batch<R>, FlushReason, B)>,
    ) -> Result<Option<OffsetRanges>> {
        let Some((batch, reason, body)) = batch else {
            return Ok(None);
        };
        let name = table.name();
        let rows = body.row_count();
        if rows == 0 {
            return Ok(Some(batch.offsets));
        }
        let token = batch.offsets.token();
        let shutdown = self.shutdown.clone();
        let metrics = &self.metrics;
        let result = self
            .service
            .insert(name, &body, &token, Some(&shutdown), |e, delay| {
                metrics.insert_retries.with_label_values(&[name]).inc();
                tracing::warn!(table = name, rows, error = %e, ?delay, "insert failed; retrying");
            })
            .await;
        match result {
            Ok(report) => {
                let m = &self.metrics;
                m.rows_written
                    .with_label_values(&[name])
                    .inc_by(report.rows as u64);
                m.batches.with_label_values(&[name, reason.as_str()]).inc();
                m.batch_rows
                    .with_label_values(&[name])
                    .observe(report.rows as f64);
                m.batch_bytes
                    .with_label_values(&[name])
                    .observe(batch.bytes as f64);
                m.insert_seconds
                    .with_label_values(&[name])
                    .observe(report.elapsed.as_secs_f64());
                let hist = m.ingest_to_row_seconds.with_label_values(&[name]);
                let acked = now_ms();
                for produced in &batch.produced_ms {
                    hist.observe((acked - produced).max(0) as f64 / 1000.0);
                }
                self.stats
                    .rows_written
                    .fetch_add(report.rows as u64, Ordering::Relaxed);
                self.stats.inserts.fetch_add(1, Ordering::Relaxed);
                Ok(Some(batch.offsets))
            }
            Err(RetryError::ShutDown(e)) => {
                tracing::warn!(
                    table = name,
                    rows,
                    error = %e,
                    "shutting down with an unacknowledged batch; its offsets stay uncommitted and it is re-read at restart"
                );
                Ok(None)
            }
            Err(RetryError::Permanent(source)) => Err(Error::Insert {
                table: name,
                rows,
                source,
            }),
        }
    }
}

/// One record's context while it is placed into its batch.
struct Place<'a> {
    metrics: &'a SinkMetrics,
    stats: &'a RunStats,
    payload: &'a [u8],
    produced_ms: i64,
    at: (&'a str, i32, i64),
}

impl Place<'_> {
    fn place<T: AvroRecord, R>(
        &self,
        batch: &mut Batch<R>,
        convert: impl FnOnce(T) -> Converted<R>,
    ) {
        let topic = self.at.0;
        let converted = avro::decode::<T>(self.payload)
            .map_err(|e| e.to_string())
            .and_then(|record| convert(record).map_err(|e| e.to_string()));
        match converted {
            Ok(Ok(row)) => batch.push(row, self.payload.len(), self.produced_ms, self.at),
            Ok(Err(skip)) => {
                self.metrics
                    .records_skipped
                    .with_label_values(&[topic, skip.as_str()])
                    .inc();
                batch.cover(self.at);
            }
            Err(error) => self.reject(batch, &error),
        }
    }

    /// Logs, counts and covers a record that cannot become a row.
    fn reject<R>(&self, batch: &mut Batch<R>, error: &str) {
        let (topic, partition, offset) = self.at;
        tracing::error!(topic, partition, offset, %error, bytes = self.payload.len(), "rejected record: cannot decode or convert; skipped");
        self.metrics
            .records_rejected
            .with_label_values(&[topic])
            .inc();
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        batch.cover(self.at);
    }
}

fn commit(
    consumer: &StreamConsumer<SinkContext>,
    acked: &[OffsetRanges],
    mode: CommitMode,
    stats: &RunStats,
) {
    let mut list = TopicPartitionList::new();
    for ranges in acked {
        for (topic, partition, next) in ranges.commit_positions() {
            if let Err(e) = list.add_partition_offset(topic, partition, Offset::Offset(next)) {
                tracing::error!(topic, partition, next, error = %e, "cannot build offset commit");
            }
        }
    }
    if list.count() == 0 {
        return;
    }
    stats.commits.fetch_add(1, Ordering::Relaxed);
    // A failed commit (e.g. after a rebalance moved the partition) only
    // means the rows are re-read and collapse again; never fatal.
    if let Err(e) = consumer.commit(&list, mode) {
        tracing::warn!(error = %e, "offset commit failed; the rows will be re-read and deduplicated");
    }
}

/// Applies migrations, retrying while ClickHouse is unreachable.
async fn migrate_with_retry(config: &ValidatedConfig, shutdown: &Shutdown) -> Result<()> {
    let c = &config.config;
    let options = MigrateOptions {
        database: c.clickhouse.database.clone(),
        ttl_days: c.ttl_days,
        alter_ttl: false,
    };
    let server = c.clickhouse.server_client();
    let mut backoff = Backoff::new(&c.retry);
    loop {
        match migrate(&server, &options).await {
            Ok(report) => {
                tracing::info!(applied = ?report.applied, already = ?report.already_applied, "migrations done");
                return Ok(());
            }
            Err(Error::ClickHouse(e)) if is_retriable(&e) && !shutdown.is_triggered() => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, ?delay, "ClickHouse not reachable for migrations; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs the sink until `shutdown`, then drains and commits.
///
/// `ready` turns true once the consumer is subscribed. Returns the counters
/// of the run; an error means a permanent failure (configuration, schema) and
/// the offsets of the failed batch stay uncommitted.
pub async fn run(
    config: ValidatedConfig,
    metrics: SinkMetrics,
    ready: Readiness,
    shutdown: Shutdown,
    hooks: RunHooks,
    stats: Arc<RunStats>,
) -> Result<()> {
    let c = &config.config;
    if c.migrate {
        migrate_with_retry(&config, &shutdown).await?;
    }
    let mut kafka = c.kafka.clone();
    kafka
        .consumer
        .entry("statistics.interval.ms".into())
        .or_insert_with(|| "5000".into());
    let mut tables = vec![
        (kafka.topics.deliveries.name.clone(), Table::Deliveries),
        (kafka.topics.spans.name.clone(), Table::Spans),
        (kafka.topics.windows.name.clone(), Table::Windows),
    ];
    let mut specs = vec![
        &kafka.topics.deliveries,
        &kafka.topics.spans,
        &kafka.topics.windows,
    ];
    if c.raw_hyperevents {
        tables.push((kafka.topics.hyperevents.name.clone(), Table::HyperEvents));
        specs.push(&kafka.topics.hyperevents);
    }
    if kafka.create_topics {
        kafka.ensure_topics(&specs).await?;
    }
    let consumer = kafka.consumer(
        &c.group,
        SinkContext {
            lag: metrics.consumer_lag.clone(),
        },
    )?;
    let names: Vec<&str> = tables.iter().map(|(t, _)| t.as_str()).collect();
    consumer.subscribe(&names)?;
    tracing::info!(topics = ?names, group = %c.group, url = %c.clickhouse.url, database = %c.clickhouse.database, "ClickHouse sink started");

    let service = ClickHouseService::new(
        c.clickhouse.client(),
        c.retry.clone(),
        c.clickhouse.timeout(),
    );
    let batch_config = c.batch.clone();
    let mut core = SinkCore {
        config: config.clone(),
        transcoder: DeliveryTranscoder::global()
            .expect("the bundled Delivery schema maps onto the deliveries columns (unit-tested)"),
        service,
        metrics,
        batches: Batches::default(),
        shutdown: shutdown.clone(),
        stats: stats.clone(),
        tables,
    };
    ready.set(true);

    let result = loop {
        let deadline = core.batches.deadline(&batch_config);
        let linger = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = shutdown.clone().wait() => break Ok(()),
            msg = consumer.recv() => match msg {
                Ok(m) => core.accept(&m),
                Err(e) => {
                    tracing::warn!(error = %e, "kafka consumer error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = linger => {}
        }
        if !core.batches.any_due(&batch_config, Instant::now()) {
            continue;
        }
        let (acked, failed) = core.flush(false).await;
        if let Some(e) = failed {
            commit(&consumer, &acked, CommitMode::Sync, &stats);
            break Err(e);
        }
        if let Some(limit) = hooks.park_after_inserts {
            if stats.inserts.load(Ordering::Relaxed) >= limit {
                tracing::warn!(
                    inserts = limit,
                    "crash hook: parked after insert, before commit"
                );
                hooks.parked.notify_one();
                std::future::pending::<()>().await;
            }
        }
        commit(&consumer, &acked, CommitMode::Async, &stats);
    };
    ready.set(false);
    result?;
    // Drain: everything held is flushed once and committed synchronously.
    let (acked, failed) = core.flush(true).await;
    commit(&consumer, &acked, CommitMode::Sync, &stats);
    if let Some(e) = failed {
        return Err(e);
    }
    tracing::info!(
        rows = stats.rows_written.load(Ordering::Relaxed),
        inserts = stats.inserts.load(Ordering::Relaxed),
        "ClickHouse sink stopped"
    );
    Ok(())
}
