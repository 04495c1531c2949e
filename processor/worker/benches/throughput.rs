//! Processor throughput through a real broker, against raw rdkafka
//! consume-and-produce of the same messages, as a ratio in one run.
//!
//! `cargo bench -p lunettes-worker --bench throughput` (release). Needs
//! `tansu` (deploy/dev/install.sh). Environment: `BENCH_PODS` (default
//! 3000), `BENCH_PARTITIONS` (4).
//!
//! * raw: a group consumer copies every HyperEvent message (key, value,
//!   timestamp) to another topic on the same partition, waits for the
//!   acknowledgements and commits every 5000 messages: no decoding, no engine.
//! * processor: `lunettes_worker::processor::run` with the real engine:
//!   decode, engine, encode and produce outputs with headers, wait, commit.
//!
//! Both are timed from their first assigned partition (group join excluded)
//! to the commit of the last input offset. Goal: processor >= 0.5x raw.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_executor::block_on;
use lunettes_ingest::Normalizer;
use lunettes_loadtest::{simulate, SimConfig};
use lunettes_processor::{Engine, EngineConfig};
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::{KafkaConfig, Shutdown, TopicSpec};
use lunettes_schemas::HyperEvent;
use lunettes_worker::plan::{committed, watermarks};
use lunettes_worker::processor::{run, Control, ProcessorConfig};
use lunettes_worker::testing::publish_as_collector;
use lunettes_worker::WorkerMetrics;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, DefaultConsumerContext};
use rdkafka::producer::FutureRecord;
use rdkafka::{Message, Offset, TopicPartitionList};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn hyperevents(pods: usize) -> Vec<(HyperEvent, bool)> {
    let cfg = SimConfig {
        clusters: 2,
        pods,
        seed: 7,
        ..SimConfig::default()
    };
    let (outputs, _) = simulate(&cfg);
    let mut all = Vec::new();
    for c in &outputs {
        let mut n = Normalizer::new(c.cluster.clone());
        for (i, line) in c.audit_lines.iter().chain(&c.event_lines).enumerate() {
            // Simulator lines normalize; a bad one would only shrink the input.
            let _ = n.normalize_line("sim", i as u64 + 1, line.as_bytes(), &mut all);
        }
    }
    all.sort_by_key(|e| e.observed_us);
    let mut out = Vec::with_capacity(all.len());
    let mut next: BTreeMap<String, i64> = BTreeMap::new();
    for ev in all {
        let due = next.entry(ev.cluster.clone()).or_insert(ev.observed_us);
        if ev.observed_us >= *due {
            *due = ev.observed_us + 5_000_000;
            out.push((HyperEvent::watermark(&ev.cluster, ev.observed_us - 1), true));
        }
        out.push((ev, false));
    }
    out
}

fn committed_total(kafka: &KafkaConfig, group: &str, partitions: i32) -> i64 {
    let probe: BaseConsumer = kafka
        .consumer_config(group)
        .create_with_context(DefaultConsumerContext)
        .expect("probe");
    (0..partitions)
        .map(|p| {
            committed(&probe, &kafka.topics.hyperevents.name, p)
                .expect("committed")
                .unwrap_or(0)
        })
        .sum()
}

/// Copies every input message to `copy_topic`, committing every 5000.
fn raw_copy(kafka: &KafkaConfig, copy_topic: &str, total: i64) -> Duration {
    let consumer: BaseConsumer = kafka
        .consumer_config("bench-raw")
        .create_with_context(DefaultConsumerContext)
        .expect("consumer");
    consumer
        .subscribe(&[&kafka.topics.hyperevents.name])
        .expect("subscribe");
    let producer = kafka.producer("bench-raw").expect("producer");
    let mut pending = Vec::new();
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let mut seen = 0i64;
    let mut started = None;
    while seen < total {
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m.expect("message");
        started.get_or_insert_with(Instant::now);
        let mut rec = FutureRecord::to(copy_topic)
            .partition(m.partition())
            .key(m.key().unwrap_or_default())
            .payload(m.payload().unwrap_or_default());
        if let Some(ts) = m.timestamp().to_millis() {
            rec = rec.timestamp(ts);
        }
        loop {
            match producer.send_result(rec) {
                Ok(f) => {
                    pending.push(f);
                    break;
                }
                Err((_, back)) => {
                    rec = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        next.insert(m.partition(), m.offset() + 1);
        seen += 1;
        if pending.len() >= 5000 || seen == total {
            for f in pending.drain(..) {
                block_on(f).expect("delivery").expect("acknowledged");
            }
            let mut tpl = TopicPartitionList::new();
            for (p, o) in &next {
                tpl.add_partition_offset(&kafka.topics.hyperevents.name, *p, Offset::Offset(*o))
                    .expect("tpl");
            }
            consumer.commit(&tpl, CommitMode::Sync).expect("commit");
        }
    }
    started.map(|s| s.elapsed()).unwrap_or_default()
}

fn main() {
    let pods = env_or("BENCH_PODS", 3000);
    let partitions = env_or("BENCH_PARTITIONS", 4) as i32;
    // In-memory storage: the fastest tansu has. Its ListOffsets answers are
    // wrong for multi-record batches, which matters only when a partition is
    // taken over with outputs already written: not the case in this run.
    let broker = TestBroker::start();
    let mut kafka = KafkaConfig {
        brokers: broker.bootstrap(),
        ..Default::default()
    };
    kafka.topics.hyperevents.partitions = partitions;
    let copy = TopicSpec {
        name: "bench.raw-copy".into(),
        partitions,
        retention_ms: None,
        replication: 1,
    };
    block_on(kafka.ensure_topics(&[&kafka.topics.hyperevents, &copy])).expect("topics");

    let events = hyperevents(pods);
    let t = Instant::now();
    let total = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(publish_as_collector(&kafka, &events, partitions)) as i64;
    eprintln!(
        "published {total} HyperEvent messages ({pods} pods, {partitions} partitions) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let reader = kafka.reader("bench").expect("reader");
    let on_broker: i64 = (0..partitions)
        .map(|p| {
            watermarks(&reader, &kafka.topics.hyperevents.name, p)
                .expect("wm")
                .1
        })
        .sum();
    eprintln!("broker reports {on_broker} messages");

    let raw = raw_copy(&kafka, &copy.name, total);
    let raw_rate = total as f64 / raw.as_secs_f64();
    eprintln!(
        "raw consume-and-produce: {total} messages in {:.2} s = {raw_rate:.0} msg/s",
        raw.as_secs_f64()
    );

    let registry = prometheus::Registry::new();
    let metrics = WorkerMetrics::register(&registry).expect("metrics");
    let (trigger, shutdown) = Shutdown::new();
    let control = Control::graceful(shutdown);
    let cfg = ProcessorConfig::new(kafka.clone(), "bench-processors");
    let worker = {
        let (metrics, control) = (metrics.clone(), control.clone());
        std::thread::spawn(move || {
            run(
                &cfg,
                |p| {
                    Engine::new(EngineConfig {
                        shard: p,
                        ..EngineConfig::default()
                    })
                },
                metrics,
                &control,
                None,
            )
        })
    };
    while metrics.assigned.get() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    while committed_total(&kafka, "bench-processors", partitions) < total {
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    trigger.trigger();
    let summary = worker.join().expect("thread").expect("processor");
    let rate = total as f64 / took.as_secs_f64();
    eprintln!(
        "processor: {total} HyperEvents in {:.2} s = {rate:.0} msg/s, {} outputs written",
        took.as_secs_f64(),
        summary.counts.written
    );
    println!(
        "processor/raw throughput ratio: {:.2}x ({rate:.0} vs {raw_rate:.0} msg/s, {total} messages)",
        rate / raw_rate
    );
}
