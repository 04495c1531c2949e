//! Replay: re-run the engine over a time range of the HyperEvents topic.
//!
//! Per partition, three offsets are fixed at start: `from` (first record at
//! or after `--from`), `end` (first record at or after `--to`, or the high
//! watermark captured at start, so a replay of a live topic terminates), and
//! `start` (first record at or after `--from` minus the horizon). A fresh
//! engine reads `start..end`; outputs of records below `from` only rebuild
//! state and are suppressed. This is exactly what a live processor does after
//! an assignment, so the outputs are the live run's: same ids, versions and
//! contents, on the same partition numbers, with the same source headers plus
//! `lunettes-replay` (which live processors skip when looking for what they
//! wrote last).
//!
//! With `--group`, progress is committed under that consumer group after
//! each acknowledged batch; running the same replay again resumes after the
//! committed offset (rebuilding from before it) instead of starting over.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lunettes_runtime::{KafkaConfig, Shutdown};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, DefaultConsumerContext};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::engine::EngineFactory;
use crate::error::WorkerError;
use crate::outputs::{OutputSink, OutputTopics};
use crate::partition::{Destinations, InputRecord, PartitionCounts, PartitionState, StartPlan};
use crate::plan::{committed, offset_for_time, rebuild_start, watermarks};
use crate::topics::{output_topics, partition_count, prepare_topics};

/// Settings of a replay.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Brokers, topics and pass-through librdkafka properties.
    pub kafka: KafkaConfig,
    /// Start of the range, ms since the epoch (message time).
    pub from_ms: i64,
    /// End of the range (exclusive), ms; `None`: the end offsets at start.
    pub to_ms: Option<i64>,
    /// State rebuild horizon before `from` (as for the live processors).
    pub horizon: Duration,
    /// Prefix of the output topic names (`""`: the live output topics).
    pub topic_prefix: String,
    /// Only these input partitions (`None`: all).
    pub partitions: Option<Vec<i32>>,
    /// Consumer group to commit progress under (`None`: no commits).
    pub group: Option<String>,
    /// Records between acknowledgement waits (and commits, with a group).
    pub batch_records: usize,
    /// `client.id`.
    pub client_id: String,
}

impl ReplayConfig {
    /// A replay of `[from_ms, to_ms)` with a 2 h horizon into the live output topics.
    pub fn new(kafka: KafkaConfig, from_ms: i64, to_ms: Option<i64>) -> Self {
        ReplayConfig {
            kafka,
            from_ms,
            to_ms,
            horizon: Duration::from_secs(2 * 3600),
            topic_prefix: String::new(),
            partitions: None,
            group: None,
            batch_records: 5000,
            client_id: "lunettes-replay".into(),
        }
    }
}

/// Progress of a replay, reported after each batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayProgress {
    /// Records to read in all (rebuild included).
    pub total: u64,
    /// Records read so far.
    pub done: u64,
    /// Outputs written so far.
    pub written: u64,
}

/// The offsets a replay used for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    /// Input partition.
    pub partition: i32,
    /// First offset read (rebuild start).
    pub start: i64,
    /// First offset whose outputs are written (`--from`, or where a
    /// previous run of the same group stopped).
    pub from: i64,
    /// First offset not read.
    pub end: i64,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Offsets per partition.
    pub ranges: Vec<PartitionRange>,
    /// Counts summed over partitions.
    pub counts: PartitionCounts,
    /// Stopped by shutdown before the end.
    pub interrupted: bool,
}

fn plan_partition(
    cfg: &ReplayConfig,
    reader: &BaseConsumer,
    group_consumer: Option<&BaseConsumer>,
    topic: &str,
    p: i32,
) -> Result<(PartitionRange, StartPlan), WorkerError> {
    let (low, high) = watermarks(reader, topic, p)?;
    let end = match cfg.to_ms {
        Some(to) => offset_for_time(reader, topic, p, to, high)?,
        None => high,
    };
    let from = offset_for_time(reader, topic, p, cfg.from_ms, high)?.min(end);
    let resume = match group_consumer {
        Some(g) => committed(g, topic, p)?.filter(|c| *c > from && *c <= end),
        None => None,
    };
    let (start, from) = match resume {
        Some(c) => (rebuild_start(reader, topic, p, c, cfg.horizon)?, c),
        None => {
            let back = cfg.from_ms - cfg.horizon.as_millis() as i64;
            (
                offset_for_time(reader, topic, p, back, high)?.clamp(low, from),
                from,
            )
        }
    };
    let range = PartitionRange {
        partition: p,
        start,
        from,
        end,
    };
    let plan = StartPlan {
        start,
        suppress_below: from,
        written: [None; 3],
        committed: from,
    };
    Ok((range, plan))
}

/// Runs a replay to its end (or until `shutdown`). Blocking. `progress` is
/// called after every batch and once at the end.
pub fn run<F: EngineFactory>(
    cfg: &ReplayConfig,
    factory: F,
    shutdown: &Shutdown,
    progress: &mut dyn FnMut(&ReplayProgress),
) -> Result<ReplaySummary, WorkerError> {
    if cfg.batch_records == 0 {
        return Err(WorkerError::Config(
            "batch_records must be at least 1".into(),
        ));
    }
    if let Some(to) = cfg.to_ms {
        if to <= cfg.from_ms {
            return Err(WorkerError::Config(format!(
                "--to ({to} ms) must be after --from ({} ms)",
                cfg.from_ms
            )));
        }
    }
    let kafka = &cfg.kafka;
    let topic = kafka.topics.hyperevents.name.clone();
    let reader = kafka.reader(&cfg.client_id)?;
    let outputs: OutputTopics = output_topics(kafka, &cfg.topic_prefix);
    let n = if kafka.create_topics || !cfg.topic_prefix.is_empty() {
        let mut k = kafka.clone();
        k.create_topics = true;
        prepare_topics(&k, &reader, &outputs)?
    } else {
        prepare_topics(kafka, &reader, &outputs)?
    };
    let partitions: Vec<i32> = match &cfg.partitions {
        Some(list) => {
            if let Some(bad) = list.iter().find(|p| **p < 0 || **p >= n) {
                return Err(WorkerError::Config(format!(
                    "partition {bad} does not exist: {topic} has partitions 0..{}",
                    n - 1
                )));
            }
            list.clone()
        }
        None => (0..n).collect(),
    };
    let group_consumer: Option<BaseConsumer> = match &cfg.group {
        Some(g) => {
            let mut c = kafka.consumer_config(g);
            c.set("client.id", &cfg.client_id);
            Some(c.create_with_context(DefaultConsumerContext)?)
        }
        None => None,
    };
    let mut states = BTreeMap::new();
    let mut summary = ReplaySummary::default();
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    let mut report = ReplayProgress::default();
    for p in partitions {
        let (range, plan) = plan_partition(cfg, &reader, group_consumer.as_ref(), &topic, p)?;
        tracing::info!(?range, "replay partition");
        summary.ranges.push(range);
        report.total += (range.end - range.start).max(0) as u64;
        if range.start < range.end {
            tpl.add_partition_offset(&topic, p, Offset::Offset(range.start))?;
            ends.insert(p, range.end);
            states.insert(p, PartitionState::new(p, factory.engine_for(p), plan));
        }
    }
    let consumer = group_consumer.as_ref().unwrap_or(&reader);
    consumer.assign(&tpl)?;
    let producer = kafka.producer(&cfg.client_id)?;
    let mut sink = OutputSink::new(producer, Some(cfg.from_ms.to_string()));
    let dest = Destinations {
        topics: &outputs,
        dead_letter: None,
        input_topic: &topic,
    };
    let mut in_batch = 0usize;
    let mut last_record = Instant::now();
    let mut open = ends.len();
    progress(&report);
    while open > 0 {
        if shutdown.is_triggered() {
            summary.interrupted = true;
            break;
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                last_record = Instant::now();
                let p = m.partition();
                let (Some(state), Some(&end)) = (states.get_mut(&p), ends.get(&p)) else {
                    continue;
                };
                if m.offset() >= end || state.next_offset >= end {
                    continue;
                }
                let before = state.next_offset;
                state.handle(
                    InputRecord {
                        offset: m.offset(),
                        timestamp_ms: m.timestamp().to_millis(),
                        key: m.key(),
                        payload: m.payload(),
                    },
                    &mut sink,
                    &dest,
                    None,
                )?;
                report.done += (state.next_offset - before).max(0) as u64;
                in_batch += 1;
                if state.next_offset >= end {
                    open -= 1;
                    let mut done = TopicPartitionList::new();
                    done.add_partition(&topic, p);
                    let _ = consumer.pause(&done);
                }
            }
            Some(Err(e)) => tracing::warn!(error = %e, "consumer error"),
            None => {
                if last_record.elapsed() > Duration::from_secs(60) {
                    let stuck: Vec<String> = states
                        .iter()
                        .filter(|(p, s)| s.next_offset < ends[p])
                        .map(|(p, s)| format!("{p} at {} of {}", s.next_offset, ends[p]))
                        .collect();
                    return Err(WorkerError::Read {
                        topic: topic.clone(),
                        partition: -1,
                        reason: format!("no record for 60 s; partitions {}", stuck.join(", ")),
                    });
                }
            }
        }
        if in_batch >= cfg.batch_records || (open == 0 && in_batch > 0) {
            complete(&mut sink, &states, consumer, cfg.group.is_some(), &topic)?;
            report.written = states.values().map(|s| s.counts.written).sum();
            progress(&report);
            in_batch = 0;
        }
    }
    complete(&mut sink, &states, consumer, cfg.group.is_some(), &topic)?;
    report.written = states.values().map(|s| s.counts.written).sum();
    progress(&report);
    for s in states.values() {
        let c = &s.counts;
        summary.counts.rebuilt += c.rebuilt;
        summary.counts.live += c.live;
        summary.counts.written += c.written;
        summary.counts.suppressed += c.suppressed;
        summary.counts.rejected += c.rejected;
    }
    Ok(summary)
}

fn complete<E: crate::engine::PartitionEngine>(
    sink: &mut OutputSink,
    states: &BTreeMap<i32, PartitionState<E>>,
    consumer: &BaseConsumer,
    commit: bool,
    topic: &str,
) -> Result<(), WorkerError> {
    sink.await_acks()?;
    if !commit {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    for (p, s) in states {
        if s.next_offset > s.plan().suppress_below {
            tpl.add_partition_offset(topic, *p, Offset::Offset(s.next_offset))?;
        }
    }
    if tpl.count() > 0 {
        consumer.commit(&tpl, CommitMode::Sync)?;
    }
    Ok(())
}

/// Partition count of the HyperEvents topic (for callers validating
/// `--partitions` before a run).
pub fn input_partitions(kafka: &KafkaConfig) -> Result<i32, WorkerError> {
    let reader = kafka.reader("lunettes-replay-meta")?;
    partition_count(&reader, &kafka.topics.hyperevents.name)
}
