//! Where to start reading a partition, and what is already written.
//!
//! **Rebuild start.** The engine's open state at input offset C depends only
//! on records within the longest open delivery before C (give-up 35 min plus
//! lateness for creates; the windows being corrected). So a new owner starts
//! at `offsets_for_times(timestamp(C-1) - horizon)` rather than at the
//! beginning of retention: bounded work per rebalance, and with the horizon
//! longer than any open delivery, identical outputs after C.
//!
//! **Output tail.** Outputs are written in source order to the output
//! partition with the input's number, so the last record there (ignoring
//! replay-written ones) carries the highest source position written. Reading
//! a few records back from the end finds it.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::error::WorkerError;
use crate::outputs::{read_src_headers, OutputTopics, SrcPos};
use crate::partition::StartPlan;

const TIMEOUT: Duration = Duration::from_secs(30);
/// Records read back from an output partition's end at first; doubled while
/// only replay-written records are found.
const TAIL_WINDOW: i64 = 256;

fn read_err(topic: &str, partition: i32, reason: impl Into<String>) -> WorkerError {
    WorkerError::Read {
        topic: topic.to_string(),
        partition,
        reason: reason.into(),
    }
}

/// Low and high watermarks of a partition.
pub fn watermarks<C: ConsumerContext>(
    reader: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), WorkerError> {
    reader
        .fetch_watermarks(topic, partition, TIMEOUT)
        .map_err(|e| read_err(topic, partition, format!("watermarks: {e}")))
}

/// The first offset whose timestamp is at or after `ts_ms`, or `high` when
/// there is none.
pub fn offset_for_time<C: ConsumerContext>(
    reader: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    ts_ms: i64,
    high: i64,
) -> Result<i64, WorkerError> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(ts_ms.max(0)))
        .map_err(|e| read_err(topic, partition, e.to_string()))?;
    let found = reader
        .offsets_for_times(tpl, TIMEOUT)
        .map_err(|e| read_err(topic, partition, format!("offsets for times: {e}")))?;
    let elem = found.find_partition(topic, partition).ok_or_else(|| {
        read_err(
            topic,
            partition,
            "offsets for times: partition missing in answer",
        )
    })?;
    if let Err(e) = elem.error() {
        return Err(read_err(
            topic,
            partition,
            format!("offsets for times: {e}"),
        ));
    }
    Ok(match elem.offset() {
        Offset::Offset(o) => o.min(high),
        _ => high,
    })
}

/// Reads `[from, to)` of a partition with `reader` (which it re-assigns),
/// calling `each` per record.
pub fn read_range<C: ConsumerContext>(
    reader: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    from: i64,
    to: i64,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> Result<(), WorkerError> {
    if from >= to {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))
        .map_err(|e| read_err(topic, partition, e.to_string()))?;
    reader
        .assign(&tpl)
        .map_err(|e| read_err(topic, partition, format!("assign: {e}")))?;
    // A deadline on inactivity, not on the whole range: a long range on a
    // busy broker is fine as long as records keep coming.
    let mut deadline = Instant::now() + TIMEOUT;
    let mut next = from;
    while next < to {
        if Instant::now() > deadline {
            return Err(read_err(
                topic,
                partition,
                format!("no record for {TIMEOUT:?} while reading offsets {next}..{to}"),
            ));
        }
        match reader.poll(Duration::from_millis(200)) {
            Some(Ok(m)) if m.topic() == topic && m.partition() == partition => {
                deadline = Instant::now() + TIMEOUT;
                if m.offset() >= next {
                    next = m.offset() + 1;
                    if m.offset() < to {
                        each(&m);
                    }
                }
            }
            Some(Ok(_)) | None => {}
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(read_err(topic, partition, e.to_string())),
        }
    }
    reader
        .unassign()
        .map_err(|e| read_err(topic, partition, format!("unassign: {e}")))?;
    Ok(())
}

/// Timestamp (ms) of the record at `offset`, or of the first one after it.
pub fn timestamp_at<C: ConsumerContext>(
    reader: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    offset: i64,
    high: i64,
) -> Result<Option<i64>, WorkerError> {
    let mut ts = None;
    read_range(
        reader,
        topic,
        partition,
        offset,
        high.min(offset + 1),
        |m| {
            ts = m.timestamp().to_millis();
        },
    )?;
    Ok(ts)
}

/// The highest source position among live (non-replay) outputs of input
/// partition `partition` on `topic`'s partition of the same number.
pub fn last_written<C: ConsumerContext>(
    reader: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Result<Option<SrcPos>, WorkerError> {
    let (low, high) = watermarks(reader, topic, partition)?;
    let mut end = high;
    let mut window = TAIL_WINDOW;
    while end > low {
        let from = (end - window).max(low);
        let mut best: Option<SrcPos> = None;
        read_range(reader, topic, partition, from, end, |m| {
            if let Some(h) = read_src_headers(m) {
                if !h.replay && h.partition == partition {
                    best = best.max(Some(h.pos));
                }
            }
        })?;
        if best.is_some() {
            return Ok(best);
        }
        end = from;
        window *= 2;
    }
    Ok(None)
}

/// Committed offset of `group` for one partition, if any.
pub fn committed<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, WorkerError> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let got = consumer
        .committed_offsets(tpl, TIMEOUT)
        .map_err(|e| read_err(topic, partition, format!("committed offset: {e}")))?;
    Ok(got
        .find_partition(topic, partition)
        .and_then(|e| match e.offset() {
            Offset::Offset(o) if o >= 0 => Some(o),
            _ => None,
        }))
}

/// The rebuild start for input offset `resume` (the first offset whose
/// outputs count): the first offset at or after `timestamp(resume-1) -
/// horizon`, never above `resume` nor below the low watermark.
pub fn rebuild_start<C: ConsumerContext>(
    reader: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    resume: i64,
    horizon: Duration,
) -> Result<i64, WorkerError> {
    let (low, high) = watermarks(reader, topic, partition)?;
    if resume <= low {
        return Ok(low);
    }
    let ts = timestamp_at(reader, topic, partition, resume - 1, high)?;
    let Some(ts) = ts else {
        // The record before `resume` is gone (retention): start at the oldest.
        return Ok(low);
    };
    let start = offset_for_time(
        reader,
        topic,
        partition,
        ts - horizon.as_millis() as i64,
        high,
    )?;
    Ok(start.clamp(low, resume))
}

/// The plan of a partition newly assigned to a group member.
pub fn plan_assignment<C: ConsumerContext, R: ConsumerContext>(
    group_consumer: &BaseConsumer<C>,
    reader: &BaseConsumer<R>,
    input_topic: &str,
    outputs: &OutputTopics,
    partition: i32,
    horizon: Duration,
) -> Result<StartPlan, WorkerError> {
    let committed = committed(group_consumer, input_topic, partition)?;
    let mut written = [None; 3];
    for (slot, name) in written.iter_mut().zip(&outputs.names) {
        *slot = last_written(reader, name, partition)?;
    }
    let (low, _) = watermarks(reader, input_topic, partition)?;
    let plan = match committed {
        Some(c) => StartPlan {
            start: rebuild_start(reader, input_topic, partition, c, horizon)?,
            suppress_below: c,
            written,
            committed: c,
        },
        None => StartPlan {
            start: low,
            suppress_below: low,
            written,
            committed: -1,
        },
    };
    Ok(plan)
}
