//! The whole trace path with every real part: simulator -> HyperEvents
//! published as the collectors publish them -> real broker -> processor
//! worker (`lunettes-worker`, one engine per partition) -> spans topic ->
//! OTLP sink -> OTLP receiver over loopback gRPC. The receiver must get
//! exactly one trace per delivery, with exactly the span ids one engine
//! computes over the same input, and a second sink in a fresh group (a
//! replay of the spans topic) must export the identical ids.

mod otlp_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lunettes_otlp_receiver::{OtlpReceiver, ReceiverConfig};
use lunettes_processor::{Engine, EngineConfig};
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::{KafkaConfig, Shutdown};
use lunettes_schemas::{HyperEvent, Output};
use lunettes_sinks::otlp::OtlpProtocol;
use lunettes_worker::processor::{run, Control, ProcessorConfig};
use lunettes_worker::testing::{collector_stream, publish_as_collector};
use lunettes_worker::WorkerMetrics;
use otlp_common::SinkRun;

const PARTITIONS: i32 = 3;

/// Simulated HyperEvents in collector order, a watermark per cluster every
/// 10 s of event time and a final one far ahead that closes every delivery
/// (watermarks go to every partition).
fn hyperevents(pods: usize) -> Vec<(HyperEvent, bool)> {
    let cfg = lunettes_loadtest::SimConfig {
        clusters: 2,
        pods,
        seed: 5,
        pods_per_second: 2.0,
        ..Default::default()
    };
    collector_stream(&cfg, 10_000_000).0
}

/// Publishes as a collector does: key = pod key, timestamp = observed ms,
/// watermarks to every partition.
async fn publish(kafka: &KafkaConfig, events: &[(HyperEvent, bool)]) {
    publish_as_collector(kafka, events, PARTITIONS).await;
}

/// (trace id, span id, parent id) of every span.
type SpanIds = BTreeSet<(String, String, String)>;

/// (trace id, span id, parent id) of every span one engine emits over the
/// whole input, and the trace id of every delivery.
fn direct_run(events: &[(HyperEvent, bool)]) -> (SpanIds, BTreeMap<String, String>) {
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for (ev, _) in events {
        engine.process(ev, &mut out);
    }
    engine.finish(&mut out);
    let mut spans = BTreeSet::new();
    let mut traces = BTreeMap::new();
    for o in out {
        match o {
            Output::Span(s) => {
                spans.insert((
                    s.trace_id.to_string(),
                    s.span_id,
                    s.parent_span_id.to_string(),
                ));
            }
            Output::Delivery(d) => {
                traces.insert(d.id, d.trace_id);
            }
            Output::Window(_) => {}
        }
    }
    (spans, traces)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_to_processor_to_otlp_receiver() {
    // SQLite storage: the processor needs correct ListOffsets answers, which
    // tansu's memory storage does not give for multi-record batches.
    let dir = std::env::temp_dir().join(format!("lunettes-otlp-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broker = TestBroker::start_with_storage(Some(dir.join("broker.db"))).expect("tansu");
    let mut kafka = KafkaConfig {
        brokers: broker.bootstrap(),
        ..Default::default()
    };
    // Outputs keep the input's partition numbers; whoever creates the
    // spans topic first (processor or sink) must give it as many.
    kafka.topics.hyperevents.partitions = PARTITIONS;
    kafka.topics.deliveries.partitions = PARTITIONS;
    kafka.topics.spans.partitions = PARTITIONS;
    kafka.topics.windows.partitions = PARTITIONS;
    let events = hyperevents(150);
    publish(&kafka, &events).await;
    let (expected, delivery_traces) = direct_run(&events);
    assert!(expected.len() > 300, "only {} spans", expected.len());

    // The processor, as `lunettes process` runs it.
    let (stop_processor, shutdown) = Shutdown::new();
    let processor = {
        let cfg = ProcessorConfig::new(kafka.clone(), "otlp-e2e-processors");
        let metrics = WorkerMetrics::register(&prometheus::Registry::new()).unwrap();
        let control = Control::graceful(shutdown);
        std::thread::spawn(move || {
            run(
                &cfg,
                |p| {
                    Engine::new(EngineConfig {
                        shard: p,
                        ..Default::default()
                    })
                },
                metrics,
                &control,
                None,
            )
        })
    };

    let receiver = OtlpReceiver::start(ReceiverConfig::loopback())
        .await
        .unwrap();
    let sink = SinkRun::start(&kafka, &receiver, OtlpProtocol::Grpc, "otlp-e2e-sink");
    let arrived = receiver
        .wait_for_spans(expected.len() as u64, Duration::from_secs(240))
        .await;
    // Linger a little: anything beyond the expected spans would be a duplicate.
    tokio::time::sleep(Duration::from_secs(2)).await;
    sink.stop().await;
    stop_processor.trigger();
    let summary = processor.join().unwrap().expect("processor ran cleanly");
    assert!(!summary.crashed);
    assert!(
        arrived,
        "received {} of {} spans",
        receiver.span_count(),
        expected.len()
    );

    let received = receiver.spans();
    let got: BTreeSet<(String, String, String)> = received
        .iter()
        .map(|s| {
            (
                s.trace_id.clone(),
                s.span_id.clone(),
                s.parent_span_id.clone(),
            )
        })
        .collect();
    assert_eq!(received.len(), got.len(), "a span arrived twice");
    assert_eq!(
        got, expected,
        "span ids differ from one engine over the same input"
    );

    // One trace per delivery: a delivery's spans all carry its trace id,
    // with one root and the children under it.
    let mut by_delivery: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut roots: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in &received {
        by_delivery
            .entry(s.attributes["lunettes.delivery.id"].as_str())
            .or_default()
            .insert(s.trace_id.as_str());
        if s.parent_span_id.is_empty() {
            roots
                .entry(s.trace_id.as_str())
                .or_default()
                .push(s.span_id.as_str());
        }
    }
    for (delivery, traces) in &by_delivery {
        assert_eq!(traces.len(), 1, "delivery {delivery} in traces {traces:?}");
        let trace = traces.iter().next().unwrap();
        assert_eq!(delivery_traces[*delivery], *trace);
        assert_eq!(
            roots[trace].len(),
            1,
            "trace {trace} roots {:?}",
            roots[trace]
        );
    }
    for s in received.iter().filter(|s| !s.parent_span_id.is_empty()) {
        assert_eq!(s.parent_span_id, roots[s.trace_id.as_str()][0]);
    }

    // A replay of the spans topic in a fresh group: identical ids.
    receiver.clear();
    let replay = SinkRun::start(&kafka, &receiver, OtlpProtocol::Http, "otlp-e2e-replay");
    assert!(
        receiver
            .wait_for_spans(expected.len() as u64, Duration::from_secs(120))
            .await
    );
    replay.stop().await;
    let again: BTreeSet<(String, String, String)> = receiver
        .spans()
        .iter()
        .map(|s| {
            (
                s.trace_id.clone(),
                s.span_id.clone(),
                s.parent_span_id.clone(),
            )
        })
        .collect();
    assert_eq!(again, got);
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
