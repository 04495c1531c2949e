//! Fixtures of the OTLP sink tests: engine output from the simulator, a
//! producer for the spans topic, a sink run that can be stopped or killed,
//! and committed-offset queries against the broker.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use lunettes_otlp_receiver::OtlpReceiver;
use lunettes_processor::{Engine, EngineConfig};
use lunettes_runtime::shutdown::ShutdownTrigger;
use lunettes_runtime::telemetry::Readiness;
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::{KafkaConfig, Shutdown};
use lunettes_schemas::{Delivery, HyperEvent, Output, SpanRecord};
use lunettes_sinks::otlp::{run, OtlpMetrics, OtlpProtocol, OtlpRunStats, OtlpSinkConfig};
use lunettes_sinks::util::batch::BatchConfig;
use lunettes_sinks::util::retry::RetryConfig;
use prometheus::Registry;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

/// Engine output of a simulated fleet.
pub struct EngineFixture {
    /// SpanRecords in emission order.
    pub spans: Vec<SpanRecord>,
    /// Deliveries by id, the version the spans were emitted with (the first).
    pub deliveries: BTreeMap<String, Delivery>,
}

impl EngineFixture {
    /// Distinct (trace, span) ids.
    pub fn unique_span_count(&self) -> usize {
        self.spans
            .iter()
            .map(|s| (&s.trace_id, &s.span_id))
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Distinct span ids of one trace.
    pub fn spans_of_trace(&self, trace_id: &str) -> usize {
        self.spans
            .iter()
            .filter(|s| &*s.trace_id == trace_id)
            .map(|s| &s.span_id)
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// Simulator -> Normalizer -> Engine, in-process.
pub fn engine_fixture(clusters: usize, pods: usize) -> EngineFixture {
    let cfg = lunettes_loadtest::SimConfig {
        clusters,
        pods,
        seed: 11,
        ..Default::default()
    };
    let (outputs, _truth) = lunettes_loadtest::simulate(&cfg);
    let mut engine = Engine::new(EngineConfig {
        emit_spans: true,
        ..Default::default()
    });
    let mut out = Vec::new();
    for c in &outputs {
        let mut norm = lunettes_ingest::Normalizer::new(c.cluster.clone());
        let mut events: Vec<HyperEvent> = Vec::new();
        let r = norm.normalize_document(
            "audit.log",
            c.audit_lines.join("\n").as_bytes(),
            &mut events,
        );
        assert!(r.errors.is_empty(), "{:?}", r.errors.first());
        let r = norm.normalize_document(
            "events.jsonl",
            c.event_lines.join("\n").as_bytes(),
            &mut events,
        );
        assert!(r.errors.is_empty(), "{:?}", r.errors.first());
        events.sort_by_key(|e| e.time_us);
        for e in &events {
            engine.process(e, &mut out);
        }
    }
    engine.finish(&mut out);
    let mut spans = Vec::new();
    let mut deliveries = BTreeMap::new();
    for o in out {
        match o {
            Output::Span(s) => spans.push(s),
            Output::Delivery(d) => {
                deliveries.entry(d.id.clone()).or_insert(d);
            }
            Output::Window(_) => {}
        }
    }
    assert!(!spans.is_empty(), "the engine emitted no spans");
    EngineFixture { spans, deliveries }
}

/// Kafka settings for a test broker (spans topic with 3 partitions).
pub fn kafka_config(broker: &TestBroker) -> KafkaConfig {
    let mut kafka = KafkaConfig {
        brokers: broker.bootstrap(),
        ..Default::default()
    };
    kafka.topics.spans.partitions = 3;
    kafka
}

/// Produces `spans` to the spans topic, keyed by trace id, Avro encoded, and
/// waits for every acknowledgement. Returns the end offsets, summed over
/// partitions.
pub async fn produce_spans(kafka: &KafkaConfig, spans: &[SpanRecord]) -> i64 {
    kafka
        .ensure_topics(&[&kafka.topics.spans])
        .await
        .expect("create spans topic");
    let payloads: Vec<(String, Vec<u8>)> = spans
        .iter()
        .map(|s| {
            (
                s.trace_id.to_string(),
                lunettes_schemas::avro::encode(s).expect("encode span"),
            )
        })
        .collect();
    produce_raw(kafka, &payloads).await
}

/// Produces raw `(key, payload)` records to the spans topic. Returns the end
/// offsets (last acknowledged offset + 1 per partition), summed.
pub async fn produce_raw(kafka: &KafkaConfig, records: &[(String, Vec<u8>)]) -> i64 {
    kafka
        .ensure_topics(&[&kafka.topics.spans])
        .await
        .expect("create spans topic");
    let producer = kafka.producer("otlp-test").expect("producer");
    let topic = kafka.topics.spans.name.clone();
    let mut pending = Vec::new();
    for (key, payload) in records {
        let record = FutureRecord::to(&topic).key(key).payload(payload);
        pending.push(producer.send_result(record).expect("queue record"));
    }
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for p in pending {
        let delivered = p.await.expect("delivery future").expect("broker ack");
        let end = ends.entry(delivered.partition).or_default();
        *end = (*end).max(delivered.offset + 1);
    }
    ends.values().sum()
}

/// The sink configuration the tests use: small batches, fast backoff.
pub fn sink_config(
    kafka: &KafkaConfig,
    endpoint: String,
    protocol: OtlpProtocol,
    group: &str,
) -> OtlpSinkConfig {
    let mut c = OtlpSinkConfig {
        kafka: kafka.clone(),
        group: group.into(),
        batch: BatchConfig {
            max_rows: 300,
            max_bytes: 4 << 20,
            linger_ms: 200,
        },
        max_spans_per_request: 100,
        retry: RetryConfig {
            initial_backoff_ms: 20,
            max_backoff_ms: 5_000,
        },
        metrics_addr: None,
        ..Default::default()
    };
    c.otlp.endpoint = endpoint;
    c.otlp.protocol = protocol;
    c.otlp.timeout_ms = 5_000;
    c
}

/// A sink running in a task.
pub struct SinkRun {
    pub task: tokio::task::JoinHandle<lunettes_sinks::otlp::Result<()>>,
    pub trigger: ShutdownTrigger,
    pub stats: Arc<OtlpRunStats>,
    pub registry: Registry,
}

/// Plain numbers of a finished run.
#[derive(Debug)]
pub struct Stats {
    pub records: u64,
    pub rejected: u64,
    pub spans_exported: u64,
    pub spans_failed: u64,
    pub commits: u64,
    pub left_uncommitted: bool,
}

/// The sink configuration for exporting to `receiver` over `protocol`.
pub fn receiver_config(
    kafka: &KafkaConfig,
    receiver: &OtlpReceiver,
    protocol: OtlpProtocol,
    group: &str,
) -> OtlpSinkConfig {
    let endpoint = match protocol {
        OtlpProtocol::Grpc => receiver.grpc_endpoint(),
        OtlpProtocol::Http => receiver.http_endpoint(),
    }
    .expect("receiver serves the protocol");
    sink_config(kafka, endpoint, protocol, group)
}

impl SinkRun {
    /// Starts a sink against `receiver` over `protocol`.
    pub fn start(
        kafka: &KafkaConfig,
        receiver: &OtlpReceiver,
        protocol: OtlpProtocol,
        group: &str,
    ) -> SinkRun {
        Self::start_with(receiver_config(kafka, receiver, protocol, group))
    }

    /// Starts a sink with `config`.
    pub fn start_with(config: OtlpSinkConfig) -> SinkRun {
        let validated = config.validate().expect("valid config");
        let registry = Registry::new();
        let metrics = OtlpMetrics::register(&registry).expect("metrics");
        let (trigger, shutdown) = Shutdown::new();
        let stats = Arc::new(OtlpRunStats::default());
        let task = {
            let stats = stats.clone();
            let registry = registry.clone();
            tokio::spawn(async move {
                run(
                    validated,
                    metrics,
                    &registry,
                    Readiness::default(),
                    shutdown,
                    stats,
                )
                .await
            })
        };
        SinkRun {
            task,
            trigger,
            stats,
            registry,
        }
    }

    fn numbers(stats: &OtlpRunStats) -> Stats {
        Stats {
            records: stats.records.load(Ordering::SeqCst),
            rejected: stats.rejected.load(Ordering::SeqCst),
            spans_exported: stats.spans_exported.load(Ordering::SeqCst),
            spans_failed: stats.spans_failed.load(Ordering::SeqCst),
            commits: stats.commits.load(Ordering::SeqCst),
            left_uncommitted: stats.left_uncommitted.load(Ordering::SeqCst),
        }
    }

    /// Graceful stop (SIGTERM): waits for the loop to return.
    pub async fn stop(self) -> Stats {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("sink stops within 30 s")
            .expect("sink task")
            .expect("sink run");
        Self::numbers(&self.stats)
    }

    /// Crash: the task is dropped wherever it is, nothing runs after.
    pub async fn kill(self) -> Stats {
        self.task.abort();
        let _ = self.task.await;
        Self::numbers(&self.stats)
    }

    /// Value of a metric family's first sample (counter or gauge), summed over labels.
    pub fn metric(&self, name: &str) -> f64 {
        self.registry
            .gather()
            .iter()
            .filter(|f| f.name() == name)
            .flat_map(|f| f.get_metric())
            .map(|m| m.get_counter().get_value())
            .sum()
    }
}

fn partitions(kafka: &KafkaConfig) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for p in 0..kafka.topics.spans.partitions {
        tpl.add_partition(&kafka.topics.spans.name, p);
    }
    tpl
}

/// Sum over the spans topic's partitions of `group`'s committed offsets.
pub async fn committed_total(kafka: &KafkaConfig, group: &str) -> i64 {
    let kafka = kafka.clone();
    let group = group.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = kafka
            .client_config()
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let committed = consumer
            .committed_offsets(partitions(&kafka), Duration::from_secs(10))
            .expect("committed offsets");
        committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            })
            .sum()
    })
    .await
    .expect("blocking task")
}
