//! One input partition's engine and the rule that decides which of its
//! outputs are written.
//!
//! **Why suppression and not snapshots.** Engine state is not stored
//! anywhere: a worker that takes a partition over re-reads the last
//! `horizon` of it and lets a fresh engine rebuild the state. Because the
//! engine is deterministic, it re-emits exactly the outputs the previous
//! owner emitted for those records; they are *suppressed*, by source
//! position:
//! - every output of an input below the group's committed offset (the
//!   previous owner committed it only after its outputs were acknowledged);
//! - every output at or below the last `(src-offset, src-seq)` already on
//!   the output partition (the previous owner produced and got them
//!   acknowledged but died before committing).
//!
//! What is left is exactly what is missing, so nothing is lost and nothing
//! is written twice, without Kafka transactions.

use std::time::Instant;

use lunettes_schemas::{avro, DeadLetter, HyperEvent, Output};
use rdkafka::message::OwnedHeaders;

use crate::engine::PartitionEngine;
use crate::error::WorkerError;
use crate::metrics::WorkerMetrics;
use crate::outputs::{
    canonical_order, encode_output, OutgoingRecord, OutputKind, OutputSink, OutputTopics, SrcPos,
    HEADER_REASON,
};

/// Where a partition's processing starts and what it must not write again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartPlan {
    /// First input offset to read.
    pub start: i64,
    /// Inputs below this offset only rebuild state: their outputs are
    /// suppressed (the committed offset, or the replay's `--from`).
    pub suppress_below: i64,
    /// Last output already on each output partition (by [`OutputKind::index`]).
    pub written: [Option<SrcPos>; 3],
    /// The offset the group had committed (what a commit must not go below).
    pub committed: i64,
}

/// How an input record was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Fed to the engine.
    Processed,
    /// Already processed (a re-delivered offset): skipped.
    Duplicate,
    /// Not a HyperEvent: sent to the dead-letter topic (or, while rebuilding,
    /// skipped: the previous owner sent it).
    Rejected,
}

/// Counts of one partition, for metrics and run summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionCounts {
    /// Records fed to the engine while rebuilding (below `suppress_below`).
    pub rebuilt: u64,
    /// Records fed to the engine live.
    pub live: u64,
    /// Outputs written.
    pub written: u64,
    /// Outputs suppressed (already written).
    pub suppressed: u64,
    /// Records rejected as not HyperEvents.
    pub rejected: u64,
}

/// One partition's engine and progress.
pub struct PartitionState<E> {
    /// Partition number (also the engine shard).
    pub partition: i32,
    engine: E,
    plan: StartPlan,
    /// Next input offset to read (last processed + 1).
    pub next_offset: i64,
    /// Highest offset committed for the group (or the plan's).
    pub committed: i64,
    rebuild_started: Option<Instant>,
    out_buf: Vec<Output>,
    /// Counts so far.
    pub counts: PartitionCounts,
}

impl<E> std::fmt::Debug for PartitionState<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionState")
            .field("partition", &self.partition)
            .field("plan", &self.plan)
            .field("next_offset", &self.next_offset)
            .field("committed", &self.committed)
            .finish()
    }
}

/// What a partition needs to write: the output topics and the dead-letter topic.
#[derive(Debug)]
pub struct Destinations<'a> {
    /// Output topic names.
    pub topics: &'a OutputTopics,
    /// Dead-letter topic name (`None`: rejected inputs are only counted).
    pub dead_letter: Option<&'a str>,
    /// Input topic (named in dead-letter records).
    pub input_topic: &'a str,
}

/// An input record as the partition sees it.
#[derive(Debug, Clone, Copy)]
pub struct InputRecord<'a> {
    /// Offset.
    pub offset: i64,
    /// Message timestamp, ms.
    pub timestamp_ms: Option<i64>,
    /// Key.
    pub key: Option<&'a [u8]>,
    /// Value.
    pub payload: Option<&'a [u8]>,
}

impl<E: PartitionEngine> PartitionState<E> {
    /// A partition starting from `plan` with a fresh `engine`.
    pub fn new(partition: i32, engine: E, plan: StartPlan) -> Self {
        let rebuilding = plan.start < plan.suppress_below;
        PartitionState {
            partition,
            engine,
            next_offset: plan.start,
            committed: plan.committed,
            plan,
            rebuild_started: rebuilding.then(Instant::now),
            out_buf: Vec::new(),
            counts: PartitionCounts::default(),
        }
    }

    /// The plan this partition started from.
    pub fn plan(&self) -> &StartPlan {
        &self.plan
    }

    /// Pods open in the engine.
    pub fn in_flight(&self) -> usize {
        self.engine.in_flight()
    }

    /// Whether outputs are still being suppressed for rebuilt records.
    pub fn rebuilding(&self) -> bool {
        self.next_offset < self.plan.suppress_below
    }

    /// The offset to commit now, if it moved past what is committed (never
    /// below the plan's committed offset, so a rebuild never rewinds the group).
    pub fn commit_candidate(&self) -> Option<i64> {
        (self.next_offset > self.committed).then_some(self.next_offset)
    }

    /// Decodes, processes and writes the outputs of one record.
    pub fn handle(
        &mut self,
        record: InputRecord<'_>,
        sink: &mut OutputSink,
        dest: &Destinations<'_>,
        metrics: Option<&WorkerMetrics>,
    ) -> Result<Handled, WorkerError> {
        if record.offset < self.next_offset {
            return Ok(Handled::Duplicate);
        }
        self.next_offset = record.offset + 1;
        let live = record.offset >= self.plan.suppress_below;
        let event: HyperEvent = match decode(record.payload) {
            Ok(ev) => ev,
            Err(reason) => {
                self.counts.rejected += 1;
                if live {
                    self.dead_letter(&record, &reason, sink, dest, metrics)?;
                }
                self.after_record(metrics);
                return Ok(Handled::Rejected);
            }
        };
        if live {
            self.counts.live += 1;
        } else {
            self.counts.rebuilt += 1;
        }
        if let Some(m) = metrics {
            m.hyperevent(live);
        }
        self.out_buf.clear();
        self.engine.process(&event, &mut self.out_buf);
        canonical_order(&mut self.out_buf);
        let mut seq = [0u32; 3];
        for output in self.out_buf.drain(..) {
            let kind = OutputKind::of(&output);
            let pos = SrcPos {
                offset: record.offset,
                seq: seq[kind.index()],
            };
            seq[kind.index()] += 1;
            let already = !live || self.plan.written[kind.index()].is_some_and(|w| pos <= w);
            if already {
                self.counts.suppressed += 1;
                if let Some(m) = metrics {
                    m.suppressed(live);
                }
                continue;
            }
            let (key, payload) = encode_output(&output).map_err(|e| WorkerError::Produce {
                topic: dest.topics.name(kind).to_string(),
                reason: format!("encoding output of input offset {}: {e}", record.offset),
            })?;
            sink.send_output(
                dest.topics.name(kind),
                self.partition,
                pos,
                &key,
                &payload,
                record.timestamp_ms,
            )?;
            self.counts.written += 1;
            if let Some(m) = metrics {
                m.output(kind, &output);
            }
        }
        self.after_record(metrics);
        Ok(Handled::Processed)
    }

    fn after_record(&mut self, metrics: Option<&WorkerMetrics>) {
        if self.next_offset >= self.plan.suppress_below {
            if let Some(started) = self.rebuild_started.take() {
                let took = started.elapsed();
                tracing::info!(
                    partition = self.partition,
                    records = self.counts.rebuilt,
                    seconds = took.as_secs_f64(),
                    "state rebuilt; outputs live from here"
                );
                if let Some(m) = metrics {
                    m.rebuild_seconds.observe(took.as_secs_f64());
                }
            }
        }
    }

    fn dead_letter(
        &mut self,
        record: &InputRecord<'_>,
        reason: &str,
        sink: &mut OutputSink,
        dest: &Destinations<'_>,
        metrics: Option<&WorkerMetrics>,
    ) -> Result<(), WorkerError> {
        tracing::warn!(
            topic = dest.input_topic,
            partition = self.partition,
            offset = record.offset,
            reason,
            "rejected input record"
        );
        if let Some(m) = metrics {
            m.rejected.inc();
        }
        let Some(topic) = dest.dead_letter else {
            return Ok(());
        };
        let raw = record.payload.unwrap_or_default();
        let letter = DeadLetter {
            cluster: String::new(),
            input: format!("kafka:{}[{}]", dest.input_topic, self.partition),
            line: Some(record.offset),
            reason: reason.to_string(),
            // The record's own timestamp, not the wall clock: a rebuilt
            // worker would write the same letter.
            received_us: record.timestamp_ms.unwrap_or_default().saturating_mul(1000),
            raw_len: raw.len() as i64,
            raw_sha256: sha256_hex(raw),
            // The offset locates the raw record on the input topic; bytes we
            // could not parse are bytes we could not redact.
            raw: None,
        };
        let value = avro::encode(&letter).map_err(|e| WorkerError::Produce {
            topic: topic.to_string(),
            reason: format!("encoding dead letter: {e}"),
        })?;
        let (p, o) = (self.partition.to_string(), record.offset.to_string());
        let headers = OwnedHeaders::new_with_capacity(3)
            .insert(rdkafka::message::Header {
                key: HEADER_REASON,
                value: Some(reason),
            })
            .insert(rdkafka::message::Header {
                key: crate::outputs::HEADER_SRC_PARTITION,
                value: Some(&p),
            })
            .insert(rdkafka::message::Header {
                key: crate::outputs::HEADER_SRC_OFFSET,
                value: Some(&o),
            });
        sink.send(OutgoingRecord {
            topic,
            partition: -1,
            key: record.key.unwrap_or_default(),
            payload: &value,
            timestamp_ms: record.timestamp_ms,
            headers,
        })
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode(payload: Option<&[u8]>) -> Result<HyperEvent, String> {
    match payload {
        None | Some([]) => Err("empty value: expected an Avro single-object HyperEvent".into()),
        Some(bytes) => {
            avro::decode::<HyperEvent>(bytes).map_err(|e| format!("not a HyperEvent: {e}"))
        }
    }
}
