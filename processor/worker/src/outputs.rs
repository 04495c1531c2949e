//! Output records on Kafka: which topic, which key, which headers, and the
//! producer side that waits for every acknowledgement before an offset may
//! be committed.
//!
//! Every output goes to the **same partition number as the input record**
//! that caused it, with headers naming that source position
//! (`src-partition`, `src-offset`, `src-seq`). Because the engine is
//! deterministic, `(src-offset, src-seq)` identifies an output exactly: the
//! `src-seq`-th record written to this topic while processing input
//! `src-offset`. Reading back the last such header of an output partition
//! therefore tells a new owner precisely which outputs already exist, down to
//! the middle of one input's outputs (a watermark can fire many verdicts at
//! once, and a crash can land between them).

use std::time::{Duration, Instant};

use futures_executor::block_on;
use lunettes_schemas::avro::{self, AvroError};
use lunettes_schemas::Output;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::Message;

use crate::error::WorkerError;

/// Header: input partition of the record whose processing emitted the output.
pub const HEADER_SRC_PARTITION: &str = "src-partition";
/// Header: input offset of the record whose processing emitted the output.
pub const HEADER_SRC_OFFSET: &str = "src-offset";
/// Header: index of the output among those the same input record emitted to
/// the same topic (0-based).
pub const HEADER_SRC_SEQ: &str = "src-seq";
/// Header present (value: the replay's `--from` in ms) on outputs written by
/// `lunettes replay`; live processors ignore such records when they look for
/// the last output they wrote.
pub const HEADER_REPLAY: &str = "lunettes-replay";
/// Header on dead-letter records: why the input was rejected.
pub const HEADER_REASON: &str = "reason";

/// The three output topics, in [`OutputKind`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTopics {
    /// Topic names indexed by [`OutputKind::index`].
    pub names: [String; 3],
}

impl OutputTopics {
    /// The topic of `kind`.
    pub fn name(&self, kind: OutputKind) -> &str {
        &self.names[kind.index()]
    }
}

/// Which output topic a record belongs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputKind {
    /// `Delivery`, keyed by delivery id.
    Delivery,
    /// `SpanRecord`, keyed by trace id.
    Span,
    /// `WindowRow`, keyed by window id.
    Window,
}

impl OutputKind {
    /// All kinds, in topic order.
    pub const ALL: [OutputKind; 3] = [OutputKind::Delivery, OutputKind::Span, OutputKind::Window];

    /// Position in [`OutputTopics::names`].
    pub fn index(self) -> usize {
        match self {
            OutputKind::Delivery => 0,
            OutputKind::Span => 1,
            OutputKind::Window => 2,
        }
    }

    /// The kind of an output.
    pub fn of(output: &Output) -> OutputKind {
        match output {
            Output::Delivery(_) => OutputKind::Delivery,
            Output::Span(_) => OutputKind::Span,
            Output::Window(_) => OutputKind::Window,
        }
    }

    /// Lowercase name for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Delivery => "deliveries",
            OutputKind::Span => "spans",
            OutputKind::Window => "windows",
        }
    }
}

/// Puts the outputs of one input record in a canonical order: by topic,
/// then id (trace id for spans), then version, then span id.
///
/// Suppression counts outputs by position (`src-seq`), so the position must
/// depend only on *which* outputs an input produced, never on the order the
/// engine happened to emit them in. That order can depend on engine history
/// a rebuilt engine does not share (string interning order decides the
/// order of a delivery's spans, for one), while the set does not. Versions
/// of one id keep their order, as consumers expect.
pub fn canonical_order(outputs: &mut [Output]) {
    fn sort_key(o: &Output) -> (usize, &str, i32, &str) {
        match o {
            Output::Delivery(d) => (0, d.id.as_str(), d.version, ""),
            Output::Span(s) => (1, &*s.trace_id, 0, s.span_id.as_str()),
            Output::Window(w) => (2, w.id.as_str(), w.version, ""),
        }
    }
    if outputs.len() > 1 {
        outputs.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    }
}

/// The Kafka key (the record's deterministic id) and Avro value of an output.
pub fn encode_output(output: &Output) -> Result<(String, Vec<u8>), AvroError> {
    Ok(match output {
        Output::Delivery(d) => (d.id.clone(), avro::encode(d)?),
        Output::Span(s) => (s.trace_id.to_string(), avro::encode(s)?),
        Output::Window(w) => (w.id.clone(), avro::encode(w)?),
    })
}

/// Position of an output in its input partition: `(src-offset, src-seq)`,
/// ordered the way they were produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SrcPos {
    /// Input offset.
    pub offset: i64,
    /// Index among that input's outputs to the same topic.
    pub seq: u32,
}

/// The source headers of an output record, when it has them all and they parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrcHeaders {
    /// `src-partition`.
    pub partition: i32,
    /// `src-offset` and `src-seq`.
    pub pos: SrcPos,
    /// Written by a replay rather than a live processor.
    pub replay: bool,
}

/// Reads the source headers of an output record.
pub fn read_src_headers(message: &BorrowedMessage<'_>) -> Option<SrcHeaders> {
    let headers = message.headers()?;
    let (mut partition, mut offset, mut seq, mut replay) = (None, None, None, false);
    for h in headers.iter() {
        let value = h.value.and_then(|v| std::str::from_utf8(v).ok());
        match h.key {
            HEADER_SRC_PARTITION => partition = value.and_then(|v| v.parse::<i32>().ok()),
            HEADER_SRC_OFFSET => offset = value.and_then(|v| v.parse::<i64>().ok()),
            HEADER_SRC_SEQ => seq = value.and_then(|v| v.parse::<u32>().ok()),
            HEADER_REPLAY => replay = true,
            _ => {}
        }
    }
    Some(SrcHeaders {
        partition: partition?,
        pos: SrcPos {
            offset: offset?,
            seq: seq.unwrap_or(0),
        },
        replay,
    })
}

fn src_headers(partition: i32, pos: SrcPos, replay: Option<&str>) -> OwnedHeaders {
    let (p, o, s) = (
        partition.to_string(),
        pos.offset.to_string(),
        pos.seq.to_string(),
    );
    let h = OwnedHeaders::new_with_capacity(4)
        .insert(Header {
            key: HEADER_SRC_PARTITION,
            value: Some(&p),
        })
        .insert(Header {
            key: HEADER_SRC_OFFSET,
            value: Some(&o),
        })
        .insert(Header {
            key: HEADER_SRC_SEQ,
            value: Some(&s),
        });
    match replay {
        Some(r) => h.insert(Header {
            key: HEADER_REPLAY,
            value: Some(r),
        }),
        None => h,
    }
}

/// A record to produce.
#[derive(Debug)]
pub struct OutgoingRecord<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition (always explicit: outputs follow their input's partition).
    pub partition: i32,
    /// Key.
    pub key: &'a [u8],
    /// Value.
    pub payload: &'a [u8],
    /// Message timestamp, ms.
    pub timestamp_ms: Option<i64>,
    /// Headers.
    pub headers: OwnedHeaders,
}

/// The producer side of a worker: sends without blocking, remembers every
/// pending acknowledgement, and waits for all of them at a batch boundary.
pub struct OutputSink {
    producer: FutureProducer,
    pending: Vec<(DeliveryFuture, String)>,
    first_send: Option<Instant>,
    replay_tag: Option<String>,
}

impl std::fmt::Debug for OutputSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputSink")
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl OutputSink {
    /// A sink over `producer`; with `replay_tag`, every output carries the
    /// [`HEADER_REPLAY`] header with that value.
    pub fn new(producer: FutureProducer, replay_tag: Option<String>) -> Self {
        OutputSink {
            producer,
            pending: Vec::new(),
            first_send: None,
            replay_tag,
        }
    }

    /// Records sent and not yet known to be acknowledged.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Sends an output with its source headers.
    pub fn send_output(
        &mut self,
        topic: &str,
        partition: i32,
        pos: SrcPos,
        key: &str,
        payload: &[u8],
        timestamp_ms: Option<i64>,
    ) -> Result<(), WorkerError> {
        let headers = src_headers(partition, pos, self.replay_tag.as_deref());
        self.send(OutgoingRecord {
            topic,
            partition,
            key: key.as_bytes(),
            payload,
            timestamp_ms,
            headers,
        })
    }

    /// Sends any record. When the producer's bounded queue is full this
    /// waits (back-pressure) instead of failing.
    pub fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), WorkerError> {
        let topic = record.topic.to_string();
        let mut fr = FutureRecord::to(record.topic)
            .partition(record.partition)
            .key(record.key)
            .payload(record.payload)
            .headers(record.headers);
        if let Some(ts) = record.timestamp_ms {
            fr = fr.timestamp(ts);
        }
        let started = Instant::now();
        loop {
            match self.producer.send_result(fr) {
                Ok(fut) => {
                    self.first_send.get_or_insert_with(Instant::now);
                    self.pending.push((fut, topic));
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if started.elapsed() > Duration::from_secs(300) {
                        return Err(WorkerError::Produce {
                            topic,
                            reason: "producer queue full for 5 minutes (broker unreachable?)"
                                .into(),
                        });
                    }
                    fr = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => {
                    return Err(WorkerError::Produce {
                        topic,
                        reason: e.to_string(),
                    })
                }
            }
        }
    }

    /// Waits until every record sent so far is acknowledged. Returns how many
    /// there were and how long the oldest waited; the first failure is an
    /// error (the caller must not commit past it).
    pub fn await_acks(&mut self) -> Result<(usize, Duration), WorkerError> {
        let n = self.pending.len();
        let mut first_err = None;
        for (fut, topic) in self.pending.drain(..) {
            let result = match block_on(fut) {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((e, _))) => Err(e.to_string()),
                Err(_) => Err("producer dropped the delivery report".to_string()),
            };
            if let (Err(reason), None) = (result, &first_err) {
                first_err = Some(WorkerError::Produce { topic, reason });
            }
        }
        let waited = self
            .first_send
            .take()
            .map(|t| t.elapsed())
            .unwrap_or_default();
        match first_err {
            Some(e) => Err(e),
            None => Ok((n, waited)),
        }
    }
}
