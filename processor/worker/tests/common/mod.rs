//! Shared pieces of the worker tests: simulator HyperEvents published to a
//! real broker the way collectors publish them, reading topics back, and the
//! expected outputs computed by running the engine directly on each
//! partition's records.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lunettes_loadtest::SimConfig;
use lunettes_processor::{Engine, EngineConfig};
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::KafkaConfig;
use lunettes_schemas::{avro, HyperEvent, Output};
use lunettes_worker::outputs::{
    canonical_order, encode_output, read_src_headers, OutputKind, SrcPos,
};
use lunettes_worker::plan::{committed, read_range, watermarks};
use lunettes_worker::testing::{collector_stream, publish_as_collector};
use lunettes_worker::PartitionEngine;
use rdkafka::consumer::DefaultConsumerContext;
use rdkafka::Message;

/// A broker with durable (SQLite) storage in a temporary directory.
///
/// Not the in-memory engine: tansu 0.6's memory storage answers ListOffsets
/// "latest" with the base offset of the newest batch + 1 (too low for
/// multi-record batches) and looks timestamps up by batch append time, not
/// record time; its SQLite engine answers both correctly, and the processor
/// relies on both (output tails, rebuild start, replay ranges).
pub fn broker() -> (TestBroker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_with_storage(Some(dir.path().join("broker.db")))
        .expect("start tansu with sqlite storage");
    (broker, dir)
}

/// A config on `broker` with topic names unique to `tag` and `partitions` partitions.
pub fn kafka_config(broker: &TestBroker, tag: &str, partitions: i32) -> KafkaConfig {
    let mut cfg = KafkaConfig {
        brokers: broker.bootstrap(),
        ..Default::default()
    };
    let t = &mut cfg.topics;
    t.hyperevents.name = format!("{tag}.hyperevents");
    t.hyperevents.partitions = partitions;
    t.deliveries.name = format!("{tag}.deliveries");
    t.spans.name = format!("{tag}.spans");
    t.windows.name = format!("{tag}.windows");
    t.dead_letter.name = format!("{tag}.dead-letter");
    cfg
}

/// The engine every test runs (defaults, shard = partition).
pub fn engine(partition: i32) -> Engine {
    Engine::new(EngineConfig {
        shard: partition,
        ..EngineConfig::default()
    })
}

/// Simulator output in collector order with periodic and final watermarks
/// (see [`collector_stream`]); seed 42.
pub fn sim_hyperevents(
    clusters: usize,
    pods: usize,
    pods_per_second: f64,
    watermark_every_us: i64,
) -> Vec<(HyperEvent, bool)> {
    let cfg = SimConfig {
        clusters,
        pods,
        seed: 42,
        pods_per_second,
        ..SimConfig::default()
    };
    collector_stream(&cfg, watermark_every_us).0
}

/// Publishes like a collector (see [`publish_as_collector`]).
pub async fn publish(cfg: &KafkaConfig, events: &[(HyperEvent, bool)], partitions: i32) {
    publish_as_collector(cfg, events, partitions).await;
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub offset: i64,
    pub timestamp_ms: Option<i64>,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub src: Option<SrcPos>,
    pub replay: bool,
}

/// Every record of every partition of `topic`, in offset order.
pub fn read_topic(cfg: &KafkaConfig, topic: &str, partitions: i32) -> BTreeMap<i32, Vec<Rec>> {
    let reader = cfg.reader("test-read").unwrap();
    let mut out = BTreeMap::new();
    for p in 0..partitions {
        let (low, high) = watermarks(&reader, topic, p).unwrap();
        let mut recs = Vec::new();
        read_range(&reader, topic, p, low, high, |m| {
            let h = read_src_headers(m);
            recs.push(Rec {
                offset: m.offset(),
                timestamp_ms: m.timestamp().to_millis(),
                key: m.key().unwrap_or_default().to_vec(),
                payload: m.payload().unwrap_or_default().to_vec(),
                src: h.map(|h| h.pos),
                replay: h.is_some_and(|h| h.replay),
            });
        })
        .unwrap();
        out.insert(p, recs);
    }
    out
}

/// An output as the test compares it: source position, key, decoded value.
///
/// Decoded, not bytes: the comparison should not depend on encoding details
/// (maps are written in sorted key order now, but were in hash order before,
/// and a record written by an older worker may still be on the topic).
pub type Expected = (SrcPos, Vec<u8>, Output);

/// Decodes an output value of topic kind `k` (deliveries, spans, windows).
pub fn decode_output(k: usize, bytes: &[u8]) -> Output {
    match k {
        0 => Output::Delivery(avro::decode(bytes).expect("a Delivery")),
        1 => Output::Span(avro::decode(bytes).expect("a SpanRecord")),
        _ => Output::Window(avro::decode(bytes).expect("a WindowRow")),
    }
}

/// The outputs an uninterrupted processor writes, per output kind and
/// partition: a fresh engine per partition fed that partition's records in
/// offset order.
pub fn expected_outputs(input: &BTreeMap<i32, Vec<Rec>>) -> [BTreeMap<i32, Vec<Expected>>; 3] {
    let mut result: [BTreeMap<i32, Vec<Expected>>; 3] = Default::default();
    for (&p, recs) in input {
        let mut engine = engine(p);
        let mut out = Vec::new();
        for r in recs {
            // Not a HyperEvent: the processor dead-letters it, no outputs.
            let Ok(ev) = avro::decode::<HyperEvent>(&r.payload) else {
                continue;
            };
            out.clear();
            PartitionEngine::process(&mut engine, &ev, &mut out);
            canonical_order(&mut out);
            let mut seq = [0u32; 3];
            for o in &out {
                let k = OutputKind::of(o).index();
                let (key, payload) = encode_output(o).unwrap();
                result[k].entry(p).or_default().push((
                    SrcPos {
                        offset: r.offset,
                        seq: seq[k],
                    },
                    key.into_bytes(),
                    decode_output(k, &payload),
                ));
                seq[k] += 1;
            }
        }
    }
    result
}

/// What is on the output topics, in the same shape as [`expected_outputs`].
pub fn actual_outputs(
    cfg: &KafkaConfig,
    names: [&str; 3],
    partitions: i32,
    replay: Option<bool>,
) -> [BTreeMap<i32, Vec<Expected>>; 3] {
    let mut result: [BTreeMap<i32, Vec<Expected>>; 3] = Default::default();
    for (k, name) in names.iter().enumerate() {
        for (p, recs) in read_topic(cfg, name, partitions) {
            let v: Vec<Expected> = recs
                .into_iter()
                .filter(|r| replay.is_none_or(|want| r.replay == want))
                .map(|r| {
                    let value = decode_output(k, &r.payload);
                    (r.src.expect("output has source headers"), r.key, value)
                })
                .collect();
            if !v.is_empty() {
                result[k].insert(p, v);
            }
        }
    }
    result
}

/// Waits until `group` has committed the end of every input partition.
pub fn wait_caught_up(cfg: &KafkaConfig, group: &str, partitions: i32, timeout: Duration) {
    let mut c = cfg.consumer_config(group);
    c.set("client.id", "test-lag-probe");
    let probe: rdkafka::consumer::BaseConsumer =
        c.create_with_context(DefaultConsumerContext).unwrap();
    let reader = cfg.reader("test-lag").unwrap();
    let topic = cfg.topics.hyperevents.name.as_str();
    let deadline = Instant::now() + timeout;
    loop {
        let mut behind = Vec::new();
        for p in 0..partitions {
            let (_, high) = watermarks(&reader, topic, p).unwrap();
            let c = committed(&probe, topic, p).unwrap().unwrap_or(0);
            if c < high {
                behind.push(format!("{p}: {c}/{high}"));
            }
        }
        if behind.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group {group} not caught up within {timeout:?}: {}",
            behind.join(", ")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Committed offsets of `group`, summed over partitions.
pub fn committed_total(cfg: &KafkaConfig, group: &str, partitions: i32) -> i64 {
    let mut c = cfg.consumer_config(group);
    c.set("client.id", "test-commit-probe");
    let probe: rdkafka::consumer::BaseConsumer =
        c.create_with_context(DefaultConsumerContext).unwrap();
    let topic = cfg.topics.hyperevents.name.as_str();
    (0..partitions)
        .map(|p| committed(&probe, topic, p).unwrap().unwrap_or(0))
        .sum()
}

/// Output names of a config.
pub fn output_names(cfg: &KafkaConfig) -> [&str; 3] {
    [
        cfg.topics.deliveries.name.as_str(),
        cfg.topics.spans.name.as_str(),
        cfg.topics.windows.name.as_str(),
    ]
}

/// Asserts two output sets are identical, with a readable first difference.
pub fn assert_same_outputs(
    actual: &[BTreeMap<i32, Vec<Expected>>; 3],
    expected: &[BTreeMap<i32, Vec<Expected>>; 3],
) {
    for k in 0..3 {
        let kind = OutputKind::ALL[k].as_str();
        let parts: std::collections::BTreeSet<i32> = actual[k]
            .keys()
            .chain(expected[k].keys())
            .copied()
            .collect();
        for p in parts {
            let a = actual[k].get(&p).map(Vec::as_slice).unwrap_or(&[]);
            let e = expected[k].get(&p).map(Vec::as_slice).unwrap_or(&[]);
            if a != e {
                let first = a
                    .iter()
                    .zip(e)
                    .position(|(x, y)| x != y)
                    .unwrap_or(a.len().min(e.len()));
                panic!(
                    "{kind}[{p}]: {} records written, {} expected; first difference at #{first}: \
                     actual {:?} vs expected {:?}",
                    a.len(),
                    e.len(),
                    a.get(first)
                        .map(|r| (r.0, String::from_utf8_lossy(&r.1), &r.2)),
                    e.get(first)
                        .map(|r| (r.0, String::from_utf8_lossy(&r.1), &r.2)),
                );
            }
        }
    }
}

/// Delivery outputs of a set, decoded.
pub fn deliveries(set: &[BTreeMap<i32, Vec<Expected>>; 3]) -> Vec<lunettes_schemas::Delivery> {
    set[0]
        .values()
        .flatten()
        .filter_map(|(_, _, v)| match v {
            Output::Delivery(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

/// Runs one engine over all events in order (what `lunettes analyze` does
/// with the same input, the final watermark standing in for end of input).
pub fn single_engine_outputs(events: &[(HyperEvent, bool)]) -> Vec<Output> {
    let mut engine = engine(0);
    let mut out = Vec::new();
    for (ev, _) in events {
        PartitionEngine::process(&mut engine, ev, &mut out);
    }
    out
}
