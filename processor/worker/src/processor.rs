//! The processor: a consumer-group member running one engine per assigned
//! HyperEvents partition.
//!
//! **Thread model.** The worker polls a `BaseConsumer` on a thread of its
//! own. Records are processed as they are polled and their outputs sent
//! without waiting; at a batch boundary (N records or T ms) the worker waits
//! for every acknowledgement and only then commits the next offsets. Rebalance
//! callbacks run inside `poll` on the same thread, between two records, so a
//! revoke can finish the batch (wait, commit) before giving the partition up,
//! and an assignment can plan the rebuild (committed offset, rebuild start,
//! output tail) before the first record of it is fetched.
//!
//! **Time.** The worker never reads the wall clock for engine decisions;
//! watermark HyperEvents move the engine's clock, so outputs are a pure
//! function of the partition's records (the wall clock only paces batches).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lunettes_runtime::telemetry::Readiness;
use lunettes_runtime::{KafkaConfig, Shutdown};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, DefaultConsumerContext, RebalanceProtocol,
};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::engine::EngineFactory;
use crate::error::WorkerError;
use crate::metrics::WorkerMetrics;
use crate::outputs::{OutputSink, OutputTopics};
use crate::partition::{Destinations, InputRecord, PartitionCounts, PartitionState, StartPlan};
use crate::plan::plan_assignment;
use crate::topics::{output_topics, prepare_topics};

/// Attempts at planning an assigned partition before the worker stops.
const PLAN_ATTEMPTS: u32 = 3;

/// Settings of a processor worker.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Brokers, topics and pass-through librdkafka properties.
    pub kafka: KafkaConfig,
    /// Consumer group.
    pub group: String,
    /// How far before the committed offset a new owner starts rebuilding
    /// state (in message time). Must exceed the longest open delivery that
    /// matters: give-up (35 min) plus lateness, and an hour window.
    pub horizon: Duration,
    /// A batch ends after this many records...
    pub batch_records: usize,
    /// ...or this long after its first record.
    pub batch_interval: Duration,
    /// `client.id` prefix.
    pub client_id: String,
}

impl ProcessorConfig {
    /// Defaults for `group` on `kafka`: horizon 2 h, batches of 5000 records or 200 ms.
    pub fn new(kafka: KafkaConfig, group: impl Into<String>) -> Self {
        ProcessorConfig {
            kafka,
            group: group.into(),
            horizon: Duration::from_secs(2 * 3600),
            batch_records: 5000,
            batch_interval: Duration::from_millis(200),
            client_id: "lunettes-processor".into(),
        }
    }
}

/// How a run ended and what it did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Counts summed over every partition this worker owned.
    pub counts: PartitionCounts,
    /// Batches committed.
    pub commits: u64,
    /// The run ended by [`Control::crash`] (nothing flushed or committed).
    pub crashed: bool,
    /// Every assignment this worker planned, in order: partition and plan.
    pub plans: Vec<(i32, StartPlan)>,
}

/// How a caller stops a running processor.
#[derive(Debug, Clone)]
pub struct Control {
    /// Graceful: finish the batch, wait for acknowledgements, commit, leave.
    pub shutdown: Shutdown,
    /// Abrupt, as a crash: stop at once without waiting or committing
    /// (outputs in flight may or may not land). For tests of recovery.
    pub crash: Arc<AtomicBool>,
    /// Fault injection: crash (as [`Control::crash`]) right after this many
    /// records were handled, outputs sent but not awaited or committed.
    pub crash_after_records: Option<u64>,
    /// With `crash_after_records`: wait for the outputs' acknowledgements
    /// before crashing, so they are certainly written but not committed (the
    /// window a new owner's output-tail check exists for).
    pub crash_after_acks: bool,
}

impl Control {
    /// A control that stops on `shutdown` only.
    pub fn graceful(shutdown: Shutdown) -> Self {
        Control {
            shutdown,
            crash: Arc::new(AtomicBool::new(false)),
            crash_after_records: None,
            crash_after_acks: false,
        }
    }
}

struct Shared<E> {
    partitions: BTreeMap<i32, PartitionState<E>>,
    sink: OutputSink,
    reader: BaseConsumer<DefaultConsumerContext>,
    fatal: Option<WorkerError>,
    abandoned: bool,
    finished: PartitionCounts,
    commits: u64,
    plans: Vec<(i32, StartPlan)>,
}

struct GroupContext<F: EngineFactory> {
    shared: Mutex<Shared<F::Engine>>,
    factory: F,
    input_topic: String,
    dead_letter: String,
    outputs: OutputTopics,
    horizon: Duration,
    metrics: WorkerMetrics,
}

impl<F: EngineFactory> GroupContext<F> {
    fn lock(&self) -> MutexGuard<'_, Shared<F::Engine>> {
        // A panic while holding the lock is a bug; keep serving so the
        // error surfaces through `fatal` rather than a poisoned mutex.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn destinations(&self) -> Destinations<'_> {
        Destinations {
            topics: &self.outputs,
            dead_letter: Some(&self.dead_letter),
            input_topic: &self.input_topic,
        }
    }

    /// Waits for every pending output, then commits the partitions in
    /// `only` (all when `None`) whose processed offset moved.
    fn complete_batch(
        &self,
        shared: &mut Shared<F::Engine>,
        consumer: &BaseConsumer<Self>,
        only: Option<&[i32]>,
    ) -> Result<(), WorkerError> {
        let (n, waited) = shared.sink.await_acks()?;
        if n > 0 {
            self.metrics
                .output_ack_seconds
                .observe(waited.as_secs_f64());
        }
        let mut tpl = TopicPartitionList::new();
        let mut moved = Vec::new();
        for (p, state) in &shared.partitions {
            if only.is_some_and(|o| !o.contains(p)) {
                continue;
            }
            self.metrics
                .in_flight
                .with_label_values(&[&p.to_string()])
                .set(state.in_flight() as i64);
            if let Some(next) = state.commit_candidate() {
                tpl.add_partition_offset(&self.input_topic, *p, Offset::Offset(next))?;
                moved.push((*p, next));
            }
        }
        if moved.is_empty() {
            return Ok(());
        }
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {
                self.metrics.commits.with_label_values(&["ok"]).inc();
                shared.commits += 1;
                for (p, next) in moved {
                    if let Some(s) = shared.partitions.get_mut(&p) {
                        s.committed = next;
                    }
                }
            }
            Err(e) => {
                // Harmless for correctness: the next owner suppresses what is
                // already on the output partitions. Retried at the next batch.
                self.metrics.commits.with_label_values(&["error"]).inc();
                tracing::warn!(error = %e, "offset commit failed; will retry");
            }
        }
        Ok(())
    }

    fn on_assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let mut shared = self.lock();
        let parts: Vec<i32> = tpl
            .elements_for_topic(&self.input_topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        for p in parts {
            if let Some(existing) = shared.partitions.get(&p) {
                let next = existing.next_offset;
                let _ = tpl.set_partition_offset(&self.input_topic, p, Offset::Offset(next));
                continue;
            }
            // Planning only reads (committed offset, output tails, offsets
            // for times), so a broker too slow to answer in time is retried
            // before the worker gives up; each read has its own timeout and
            // three attempts stay well inside max.poll.interval.ms.
            let mut attempt = 1;
            let planned = loop {
                let planned = plan_assignment(
                    consumer,
                    &shared.reader,
                    &self.input_topic,
                    &self.outputs,
                    p,
                    self.horizon,
                );
                match planned {
                    Err(e) if attempt < PLAN_ATTEMPTS => {
                        tracing::warn!(partition = p, attempt, error = %e, "planning an assigned partition failed; retrying");
                        std::thread::sleep(Duration::from_secs(attempt as u64));
                        attempt += 1;
                    }
                    done => break done,
                }
            };
            match planned {
                Ok(plan) => {
                    tracing::info!(partition = p, ?plan, "partition assigned");
                    let _ =
                        tpl.set_partition_offset(&self.input_topic, p, Offset::Offset(plan.start));
                    shared.plans.push((p, plan.clone()));
                    let engine = self.factory.engine_for(p);
                    shared
                        .partitions
                        .insert(p, PartitionState::new(p, engine, plan));
                }
                Err(e) => {
                    tracing::error!(partition = p, error = %e, "cannot plan assigned partition");
                    shared.fatal.get_or_insert(e);
                }
            }
        }
        self.metrics.assigned.set(shared.partitions.len() as i64);
        drop(shared);
        let result = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_assign(tpl),
            _ => consumer.assign(tpl),
        };
        if let Err(e) = result {
            self.lock().fatal.get_or_insert(e.into());
        }
    }

    fn on_revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let parts: Vec<i32> = tpl
            .elements_for_topic(&self.input_topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        let mut shared = self.lock();
        let lost = consumer.assignment_lost();
        if !shared.abandoned && !lost && shared.fatal.is_none() {
            if let Err(e) = self.complete_batch(&mut shared, consumer, Some(&parts)) {
                shared.fatal.get_or_insert(e);
            }
        }
        for p in &parts {
            if let Some(state) = shared.partitions.remove(p) {
                tracing::info!(partition = p, lost, counts = ?state.counts, "partition revoked");
                add_counts(&mut shared.finished, &state.counts);
            }
            let label = p.to_string();
            let _ = self.metrics.in_flight.remove_label_values(&[&label]);
            let _ = self.metrics.lag.remove_label_values(&[&label]);
        }
        self.metrics.assigned.set(shared.partitions.len() as i64);
        drop(shared);
        let result = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_unassign(tpl),
            _ => consumer.unassign(),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "unassign failed");
        }
    }
}

fn add_counts(total: &mut PartitionCounts, c: &PartitionCounts) {
    total.rebuilt += c.rebuilt;
    total.live += c.live;
    total.written += c.written;
    total.suppressed += c.suppressed;
    total.rejected += c.rejected;
}

impl<F: EngineFactory> ClientContext for GroupContext<F> {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.input_topic) else {
            return;
        };
        for (p, part) in &topic.partitions {
            if *p >= 0 && part.consumer_lag >= 0 {
                self.metrics
                    .lag
                    .with_label_values(&[&p.to_string()])
                    .set(part.consumer_lag);
            }
        }
    }
}

impl<F: EngineFactory> ConsumerContext for GroupContext<F> {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.on_assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.on_revoke(consumer, tpl),
            other => {
                tracing::error!(error = ?other, "rebalance error");
                let _ = consumer.unassign();
            }
        }
    }
}

/// Runs a processor until `control` stops it. Blocking: call it on a thread
/// of its own (or `spawn_blocking`).
pub fn run<F: EngineFactory>(
    cfg: &ProcessorConfig,
    factory: F,
    metrics: WorkerMetrics,
    control: &Control,
    ready: Option<&Readiness>,
) -> Result<RunSummary, WorkerError> {
    if cfg.batch_records == 0 {
        return Err(WorkerError::Config(
            "batch_records must be at least 1".into(),
        ));
    }
    let kafka = &cfg.kafka;
    let outputs = output_topics(kafka, "");
    let reader = kafka.reader(&format!("{}-{}", cfg.client_id, cfg.group))?;
    prepare_topics(kafka, &reader, &outputs)?;
    let producer = kafka.producer(&cfg.client_id)?;
    let input_topic = kafka.topics.hyperevents.name.clone();
    let context = GroupContext {
        shared: Mutex::new(Shared {
            partitions: BTreeMap::new(),
            sink: OutputSink::new(producer, None),
            reader,
            fatal: None,
            abandoned: false,
            finished: PartitionCounts::default(),
            commits: 0,
            plans: Vec::new(),
        }),
        factory,
        input_topic: input_topic.clone(),
        dead_letter: kafka.topics.dead_letter.name.clone(),
        outputs,
        horizon: cfg.horizon,
        metrics,
    };
    let mut client = kafka.consumer_config(&cfg.group);
    client.set("client.id", &cfg.client_id);
    if !kafka.consumer.contains_key("statistics.interval.ms") {
        client.set("statistics.interval.ms", "5000");
    }
    let consumer: BaseConsumer<GroupContext<F>> = client.create_with_context(context)?;
    consumer.subscribe(&[&input_topic])?;
    if let Some(r) = ready {
        r.set(true);
    }
    let result = poll_loop(cfg, &consumer, control);
    if let Some(r) = ready {
        r.set(false);
    }
    let ctx = consumer.context().clone();
    if let Err(e) = result {
        ctx.lock().abandoned = true;
        drop(consumer);
        return Err(e);
    }
    let crashed = control.crash.load(Ordering::SeqCst);
    if crashed {
        ctx.lock().abandoned = true;
    }
    // Leaving the group revokes every partition: the revoke callback
    // completes the last batch (unless abandoned) and commits.
    consumer.unsubscribe();
    drop(consumer);
    let shared = ctx.lock();
    if let (false, Some(e)) = (crashed, &shared.fatal) {
        return Err(WorkerError::Config(format!("while leaving the group: {e}")));
    }
    let mut counts = shared.finished;
    for s in shared.partitions.values() {
        add_counts(&mut counts, &s.counts);
    }
    Ok(RunSummary {
        counts,
        commits: shared.commits,
        crashed,
        plans: shared.plans.clone(),
    })
}

fn poll_loop<F: EngineFactory>(
    cfg: &ProcessorConfig,
    consumer: &BaseConsumer<GroupContext<F>>,
    control: &Control,
) -> Result<(), WorkerError> {
    let ctx = consumer.context().clone();
    let mut in_batch = 0usize;
    let mut handled = 0u64;
    let mut batch_started: Option<Instant> = None;
    loop {
        if control.crash.load(Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(e) = ctx.lock().fatal.take() {
            return Err(e);
        }
        if control.shutdown.is_triggered() {
            let mut shared = ctx.lock();
            return ctx.complete_batch(&mut shared, consumer, None);
        }
        let wait = match batch_started {
            Some(t) => cfg.batch_interval.saturating_sub(t.elapsed()),
            None => Duration::from_millis(100),
        };
        match consumer.poll(wait.max(Duration::from_millis(1))) {
            Some(Ok(m)) => {
                let record = InputRecord {
                    offset: m.offset(),
                    timestamp_ms: m.timestamp().to_millis(),
                    key: m.key(),
                    payload: m.payload(),
                };
                let partition = m.partition();
                let mut guard = ctx.lock();
                let shared = &mut *guard;
                let dest = ctx.destinations();
                match shared.partitions.get_mut(&partition) {
                    Some(state) => {
                        state.handle(record, &mut shared.sink, &dest, Some(&ctx.metrics))?;
                    }
                    None => {
                        tracing::warn!(
                            partition,
                            offset = record.offset,
                            "record of a partition not held; skipped"
                        );
                    }
                }
                in_batch += 1;
                handled += 1;
                batch_started.get_or_insert_with(Instant::now);
                if control.crash_after_records.is_some_and(|n| handled >= n) {
                    if control.crash_after_acks {
                        shared.sink.await_acks()?;
                    }
                    control.crash.store(true, Ordering::SeqCst);
                    continue;
                }
            }
            Some(Err(e)) => tracing::warn!(error = %e, "consumer error"),
            None => {}
        }
        let due = batch_started.is_some_and(|t| t.elapsed() >= cfg.batch_interval);
        if in_batch >= cfg.batch_records || (in_batch > 0 && due) {
            let mut shared = ctx.lock();
            ctx.complete_batch(&mut shared, consumer, None)?;
            in_batch = 0;
            batch_started = None;
        }
    }
}
