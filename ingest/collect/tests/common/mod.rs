//! Shared pieces of the collector tests: a real broker (tansu on loopback),
//! unique topics per test, a publisher, and reading a topic back.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lunettes_collect::{CollectorMetrics, PublishOptions, Publisher};
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::KafkaConfig;
use lunettes_schemas::{avro, DeadLetter, HyperEvent, Kind};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// Kafka settings with topics unique to `test` and `partitions` partitions.
pub fn kafka(bootstrap: &str, test: &str, partitions: i32) -> KafkaConfig {
    let mut k = KafkaConfig {
        brokers: bootstrap.to_string(),
        ..Default::default()
    };
    k.topics.hyperevents.name = format!("{test}.hyperevents");
    k.topics.hyperevents.partitions = partitions;
    k.topics.dead_letter.name = format!("{test}.dead-letter");
    k.topics.dead_letter.partitions = 1;
    k
}

/// A publisher on `kafka` with `opts`.
pub async fn publisher(kafka: &KafkaConfig, opts: PublishOptions) -> Arc<Publisher> {
    // reqwest is built without a default TLS crypto provider; every test
    // makes a publisher first, so install ring here once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Arc::new(
        Publisher::connect(kafka, "collect-test", opts, CollectorMetrics::new())
            .await
            .expect("publisher connects"),
    )
}

/// One record read back from a topic.
#[derive(Debug, Clone)]
pub struct Read {
    pub partition: i32,
    pub key: String,
    pub payload: Vec<u8>,
}

impl Read {
    pub fn event(&self) -> HyperEvent {
        avro::decode(&self.payload).expect("a HyperEvent")
    }
    pub fn dead_letter(&self) -> DeadLetter {
        avro::decode(&self.payload).expect("a DeadLetter")
    }
}

/// Reads `topic` from the beginning of every partition until `expect`
/// records arrived and then nothing more for `quiet` (so duplicates arriving
/// late are seen too), or until `deadline`.
pub fn read_topic(
    kafka: &KafkaConfig,
    topic: &str,
    expect: usize,
    quiet: Duration,
    deadline: Duration,
) -> Vec<Read> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", format!("reader-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    assert!(partitions > 0, "topic {topic} exists");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let start = Instant::now();
    let mut last = Instant::now();
    let mut out = Vec::new();
    while start.elapsed() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                out.push(Read {
                    partition: m.partition(),
                    key: m
                        .key()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .unwrap_or_default(),
                    payload: m.payload().unwrap_or_default().to_vec(),
                });
                last = Instant::now();
            }
            Some(Err(e)) => panic!("consume {topic}: {e}"),
            None => {
                if out.len() >= expect && last.elapsed() >= quiet {
                    break;
                }
            }
        }
    }
    out
}

/// HyperEvents (not watermarks) read back, counted by dedup id.
pub fn by_dedup(reads: &[Read]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in reads {
        let e = r.event();
        if e.kind != Kind::Watermark {
            *m.entry(e.dedup_id).or_insert(0) += 1;
        }
    }
    m
}

/// Real audit events about pods (falco trace files) as templates: `n` pod
/// creations, each followed by a Metadata-level binding record that carries
/// no uid (resolved from the create). Each line is one audit event.
pub fn audit_lines(prefix: &str, n: usize) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/falco");
    let templates: Vec<serde_json::Value> = [
        "create_nginx_pod_privileged.json",
        "create_nginx_pod_unprivileged.json",
        "create_pod_kube_system_namespace.json",
    ]
    .iter()
    .map(|f| serde_json::from_slice(&std::fs::read(dir.join(f)).unwrap()).unwrap())
    .collect();
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n {
        let mut ev = templates[i % templates.len()].clone();
        let name = format!("{prefix}-pod-{i}");
        let uid = format!("{prefix}-uid-{i}");
        ev["auditID"] = format!("{prefix}-create-{i}").into();
        ev["responseObject"]["metadata"]["name"] = name.clone().into();
        ev["responseObject"]["metadata"]["uid"] = uid.into();
        let ns = ev["objectRef"]["namespace"].as_str().unwrap().to_string();
        let ts = ev["stageTimestamp"].clone();
        out.push(ev.to_string());
        let binding = serde_json::json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": format!("{prefix}-bind-{i}"), "stage": "ResponseComplete", "verb": "create",
            "user": {"username": "system:kube-scheduler"},
            "objectRef": {"resource": "pods", "subresource": "binding", "namespace": ns, "name": name},
            "responseStatus": {"code": 201}, "requestReceivedTimestamp": ts, "stageTimestamp": ts
        });
        out.push(binding.to_string());
    }
    out
}

/// A broker with durable storage in `dir` (survives kill + restart).
pub fn durable_broker(dir: &Path) -> TestBroker {
    TestBroker::start_with_storage(Some(dir.join("tansu.db"))).expect("start durable tansu")
}

/// The dedup ids a fresh normalizer derives from `lines` (the pure
/// reference the collectors must reproduce on the topic).
pub fn expected_dedups(cluster: &str, lines: &[String]) -> std::collections::HashSet<String> {
    let mut n = lunettes_ingest::Normalizer::new(cluster);
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let _ = n.normalize_line("reference", i as u64 + 1, l.as_bytes(), &mut out);
    }
    let set: std::collections::HashSet<String> = out.into_iter().map(|e| e.dedup_id).collect();
    set
}
