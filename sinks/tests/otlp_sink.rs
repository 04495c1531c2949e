//! End to end through real parts: engine SpanRecords (simulator ->
//! Normalizer -> Engine, in-process) are produced to the spans topic of a
//! real Kafka-protocol broker (tansu on loopback), `lunettes sink otlp`'s
//! loop exports them to a real OTLP receiver over loopback gRPC or HTTP, and
//! the tests check what the receiver got: one trace per delivery, root and
//! children, the engine's ids unchanged and stable across a replay,
//! attributes per the Kubernetes semantic conventions, error status with the
//! code; retries after injected UNAVAILABLE/503 lose nothing; offsets are
//! committed only after the export, so a sink killed before its export
//! completes is followed by one that exports the same traces.

mod otlp_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use lunettes_otlp_receiver::{OtlpReceiver, ReceiverConfig};
use lunettes_runtime::testing::TestBroker;
use lunettes_schemas::{DeliveryResult, SpanStatus};
use lunettes_sinks::otlp::OtlpProtocol;
use otlp_common::*;

/// One span as the receiver saw it, reduced to what must be stable.
type SpanKey = (String, String, String, String, u64, u64, i32);

fn keys(spans: &[lunettes_otlp_receiver::ReceivedSpan]) -> BTreeSet<SpanKey> {
    spans
        .iter()
        .map(|s| {
            (
                s.trace_id.clone(),
                s.span_id.clone(),
                s.parent_span_id.clone(),
                s.name.clone(),
                s.start_unix_nano,
                s.end_unix_nano,
                s.status_code,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_exports_one_trace_per_delivery_with_k8s_attributes() {
    let fixture = engine_fixture(2, 40);
    assert!(
        fixture
            .deliveries
            .values()
            .any(|d| d.result != DeliveryResult::Success),
        "the simulated fleet must contain failed deliveries"
    );
    let broker = TestBroker::start();
    let kafka = kafka_config(&broker);
    let end = produce_spans(&kafka, &fixture.spans).await;
    let receiver = OtlpReceiver::start(ReceiverConfig::loopback())
        .await
        .unwrap();

    let sink = SinkRun::start(&kafka, &receiver, OtlpProtocol::Grpc, "g-grpc");
    let expected = fixture.unique_span_count() as u64;
    assert!(
        receiver
            .wait_for_spans(expected, Duration::from_secs(60))
            .await,
        "received {} of {expected} spans",
        receiver.span_count()
    );
    let stats = sink.stop().await;
    assert_eq!(stats.rejected, 0);
    assert!(stats.commits >= 1);

    let received = receiver.spans();
    assert_structure(&fixture, &received);

    // Offsets were committed after the export: the group has nothing left.
    assert_eq!(committed_total(&kafka, "g-grpc").await, end);
    let again = SinkRun::start(&kafka, &receiver, OtlpProtocol::Grpc, "g-grpc");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = again.stop().await;
    assert_eq!(
        stats.spans_exported, 0,
        "a restarted sink re-exported committed spans"
    );
    assert_eq!(receiver.span_count(), received.len() as u64);
}

/// Checks the received spans against the engine's records and deliveries.
fn assert_structure(fixture: &EngineFixture, received: &[lunettes_otlp_receiver::ReceivedSpan]) {
    // Every received span is one the engine made, ids unchanged.
    let produced: BTreeMap<(String, String), &lunettes_schemas::SpanRecord> = fixture
        .spans
        .iter()
        .map(|s| ((s.trace_id.to_string(), s.span_id.clone()), s))
        .collect();
    let mut by_trace: BTreeMap<String, Vec<&lunettes_otlp_receiver::ReceivedSpan>> =
        BTreeMap::new();
    for r in received {
        let rec = produced
            .get(&(r.trace_id.clone(), r.span_id.clone()))
            .unwrap_or_else(|| {
                panic!(
                    "received span {}/{} was never produced",
                    r.trace_id, r.span_id
                )
            });
        assert_eq!(r.parent_span_id.as_str(), &*rec.parent_span_id);
        assert_eq!(r.name, rec.name);
        assert_eq!(r.start_unix_nano, rec.start_us as u64 * 1000);
        assert_eq!(r.end_unix_nano, rec.end_us.max(rec.start_us) as u64 * 1000);
        let code = match rec.status {
            SpanStatus::Unset => 0,
            SpanStatus::Ok => 1,
            SpanStatus::Error => 2,
        };
        assert_eq!(r.status_code, code, "status of {}", r.name);
        // Resource attributes per the Kubernetes semantic conventions.
        assert_eq!(r.resource["service.name"], "lunettes");
        assert_eq!(r.resource["k8s.cluster.name"].as_str(), &*rec.cluster);
        // Empty values (a rejected create has no pod UID, an unscheduled pod
        // no node) are left out, not sent as "".
        let present = |key: &str, value: &str| {
            assert_eq!(
                r.resource.get(key).map(String::as_str),
                (!value.is_empty()).then_some(value),
                "{key} of {}",
                r.trace_id
            )
        };
        present("k8s.namespace.name", &rec.namespace);
        present("k8s.pod.name", &rec.pod_name);
        present("k8s.pod.uid", &rec.pod_uid);
        present("k8s.node.name", &rec.node);
        assert_eq!(
            r.attributes["lunettes.delivery.id"].as_str(),
            &*rec.delivery_id
        );
        if let Some(c) = rec.attributes.get("container") {
            assert_eq!(&r.attributes["k8s.container.name"], c);
        }
        by_trace.entry(r.trace_id.clone()).or_default().push(r);
    }
    // Exactly one trace per delivery, and every delivery has its trace.
    let traced: BTreeSet<&str> = fixture
        .deliveries
        .values()
        .filter(|d| fixture.spans.iter().any(|s| *s.delivery_id == *d.id))
        .map(|d| d.trace_id.as_str())
        .collect();
    assert_eq!(
        by_trace.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        traced
    );
    for d in fixture
        .deliveries
        .values()
        .filter(|d| traced.contains(d.trace_id.as_str()))
    {
        let spans = &by_trace[&d.trace_id];
        let delivery_ids: BTreeSet<&str> = spans
            .iter()
            .map(|s| s.attributes["lunettes.delivery.id"].as_str())
            .collect();
        assert_eq!(
            delivery_ids,
            BTreeSet::from([d.id.as_str()]),
            "trace {} mixes deliveries",
            d.trace_id
        );
        // One root; every child hangs off it.
        let roots: BTreeSet<&str> = spans
            .iter()
            .filter(|s| s.parent_span_id.is_empty())
            .map(|s| s.span_id.as_str())
            .collect();
        assert_eq!(roots.len(), 1, "trace {} has roots {roots:?}", d.trace_id);
        let root_id = *roots.iter().next().unwrap();
        let root = spans.iter().find(|s| s.span_id == root_id).unwrap();
        for child in spans.iter().filter(|s| !s.parent_span_id.is_empty()) {
            assert_eq!(
                child.parent_span_id, root_id,
                "{} in {}",
                child.name, d.trace_id
            );
        }
        // The root's verdict, and the error status with the code on failures.
        assert_eq!(root.attributes["lunettes.result"], d.result.as_str());
        if d.result == DeliveryResult::Success {
            assert_eq!(root.status_code, 1);
        } else {
            assert_eq!(root.status_code, 2, "root of failed delivery {}", d.id);
            assert_eq!(root.status_message, d.code);
            assert_eq!(root.attributes["lunettes.code"], d.code);
        }
        // Same span count as the engine made (distinct span ids).
        let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
        assert_eq!(ids.len(), fixture.spans_of_trace(&d.trace_id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_with_a_fresh_group_exports_identical_ids_over_grpc_and_http() {
    let fixture = engine_fixture(1, 30);
    let broker = TestBroker::start();
    let kafka = kafka_config(&broker);
    let end = produce_spans(&kafka, &fixture.spans).await;
    let receiver = OtlpReceiver::start(ReceiverConfig::loopback())
        .await
        .unwrap();
    let expected = fixture.unique_span_count() as u64;

    let first = SinkRun::start(&kafka, &receiver, OtlpProtocol::Grpc, "replay-1");
    assert!(
        receiver
            .wait_for_spans(expected, Duration::from_secs(60))
            .await
    );
    first.stop().await;
    let run1 = receiver.spans();
    assert!(run1
        .iter()
        .all(|s| s.transport == lunettes_otlp_receiver::Transport::Grpc));
    receiver.clear();

    let second = SinkRun::start(&kafka, &receiver, OtlpProtocol::Http, "replay-2");
    assert!(
        receiver
            .wait_for_spans(expected, Duration::from_secs(60))
            .await
    );
    second.stop().await;
    let run2 = receiver.spans();
    assert!(run2
        .iter()
        .all(|s| s.transport == lunettes_otlp_receiver::Transport::Http));

    assert_eq!(run1.len(), run2.len());
    assert_eq!(
        keys(&run1),
        keys(&run2),
        "a replay changed trace/span ids or times"
    );
    // Attributes too: the replay is the same trace, not a look-alike.
    let attrs = |spans: &[lunettes_otlp_receiver::ReceivedSpan]| -> BTreeSet<String> {
        spans
            .iter()
            .map(|s| {
                format!(
                    "{}/{} {:?} {:?}",
                    s.trace_id, s.span_id, s.attributes, s.resource
                )
            })
            .collect()
    };
    assert_eq!(attrs(&run1), attrs(&run2));
    assert_structure(&fixture, &run2);
    assert_eq!(committed_total(&kafka, "replay-1").await, end);
    assert_eq!(committed_total(&kafka, "replay-2").await, end);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_after_unavailable_and_503_lose_nothing_and_honour_the_delay() {
    let fixture = engine_fixture(1, 20);
    let broker = TestBroker::start();
    let kafka = kafka_config(&broker);
    let end = produce_spans(&kafka, &fixture.spans).await;
    let expected = fixture.unique_span_count() as u64;

    // A healthy receiver never refuses; the fault switch is the only way to
    // make the sink meet UNAVAILABLE / 503.
    for (protocol, delay, fails) in [
        (OtlpProtocol::Grpc, Duration::from_millis(400), 3u32),
        (OtlpProtocol::Http, Duration::from_secs(1), 2u32),
    ] {
        let receiver = OtlpReceiver::start(ReceiverConfig::loopback())
            .await
            .unwrap();
        receiver.fail_next(fails, Some(delay));
        let group = format!("retry-{}", protocol.as_str());
        // One request at a time, so the refusals come one after the other:
        // with several in flight (how a slow poll splits the batches) they
        // overlap and their delays run in parallel.
        let mut config = receiver_config(&kafka, &receiver, protocol, &group);
        config.max_in_flight = 1;
        let sink = SinkRun::start_with(config);
        assert!(receiver.wait_for_refusals(1, Duration::from_secs(60)).await);
        let first_refusal = Instant::now();
        assert!(
            receiver
                .wait_for_spans(expected, Duration::from_secs(60))
                .await,
            "{protocol:?}: received {} of {expected}",
            receiver.span_count()
        );
        let waited = first_refusal.elapsed();
        let stats = sink.stop().await;
        assert_eq!(receiver.refused(), fails as u64);
        // The backoff alone starts at 20 ms; only the server's delay makes
        // the sink wait this long between the refused attempts.
        assert!(
            waited >= delay * fails * 9 / 10,
            "{protocol:?}: retried after {waited:?}, server asked for {delay:?} x {fails}"
        );
        assert_eq!(keys(&receiver.spans()).len() as u64, expected);
        assert_structure(&fixture, &receiver.spans());
        assert_eq!(stats.spans_failed, 0);
        assert_eq!(committed_total(&kafka, &group).await, end);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_killed_before_its_export_completes_leaves_the_traces_to_the_next() {
    let fixture = engine_fixture(1, 20);
    let broker = TestBroker::start();
    let kafka = kafka_config(&broker);
    let end = produce_spans(&kafka, &fixture.spans).await;
    let receiver = OtlpReceiver::start(ReceiverConfig::loopback())
        .await
        .unwrap();
    let expected = fixture.unique_span_count() as u64;

    // The backend refuses everything: the sink has read the spans and keeps
    // retrying; then it is killed (its task dropped mid-export, as a crash).
    receiver.fail_next(u32::MAX, Some(Duration::from_millis(50)));
    let doomed = SinkRun::start(&kafka, &receiver, OtlpProtocol::Grpc, "kill");
    assert!(receiver.wait_for_refusals(3, Duration::from_secs(60)).await);
    doomed.kill().await;
    assert_eq!(receiver.span_count(), 0);
    assert_eq!(
        committed_total(&kafka, "kill").await,
        0,
        "offsets committed before the export"
    );

    // A graceful stop while the backend still refuses: no commit either.
    let stopped = SinkRun::start(&kafka, &receiver, OtlpProtocol::Grpc, "kill");
    let refused = receiver.refused();
    assert!(
        receiver
            .wait_for_refusals(refused + 2, Duration::from_secs(60))
            .await
    );
    let stats = stopped.stop().await;
    assert!(
        stats.left_uncommitted,
        "the stop must report the uncommitted batch"
    );
    assert_eq!(committed_total(&kafka, "kill").await, 0);

    // The backend recovers; a new sink in the same group exports everything.
    receiver.fail_next(0, None);
    let next = SinkRun::start(&kafka, &receiver, OtlpProtocol::Grpc, "kill");
    assert!(
        receiver
            .wait_for_spans(expected, Duration::from_secs(60))
            .await,
        "received {} of {expected}",
        receiver.span_count()
    );
    next.stop().await;
    let received = receiver.spans();
    assert_eq!(keys(&received).len() as u64, expected);
    assert_structure(&fixture, &received);
    assert_eq!(committed_total(&kafka, "kill").await, end);
}

/// A hand-built delivery trace shaped like the engine's, with owner
/// attributes the semantic-conventions mapping turns into workload names.
fn hand_trace(i: usize, children: usize) -> Vec<lunettes_schemas::SpanRecord> {
    use lunettes_schemas::{SpanOwner, SpanRecord};
    let trace_id = format!("{:032x}", 0xabc0_0000 + i);
    let root_id = format!("{:016x}", 0x1000 + i * 100);
    let t0 = 1_700_000_000_000_000 + i as i64 * 1_000_000;
    let mut root_attrs = BTreeMap::new();
    root_attrs.insert("result".to_string(), "success".to_string());
    root_attrs.insert("owner_kind".to_string(), "ReplicaSet".to_string());
    root_attrs.insert("owner_name".to_string(), "checkout-5d8f7b9c6d".to_string());
    let base = SpanRecord {
        trace_id: trace_id.clone().into(),
        span_id: root_id.clone(),
        parent_span_id: String::new().into(),
        delivery_id: format!("d{i}").into(),
        cluster: "prod-eu".into(),
        namespace: "shop".into(),
        pod_name: format!("checkout-5d8f7b9c6d-{i:05}").into(),
        pod_uid: format!("uid-{i}").into(),
        node: "node-1".into(),
        name: "PodCreate".into(),
        instance: String::new(),
        owner: SpanOwner::Others,
        start_us: t0,
        end_us: t0 + 4_000_000,
        status: SpanStatus::Ok,
        status_message: String::new(),
        attributes: root_attrs,
    };
    let mut out = vec![base.clone()];
    for k in 0..children {
        let mut attrs = BTreeMap::new();
        attrs.insert("container".to_string(), format!("app{k}"));
        out.push(SpanRecord {
            span_id: format!("{:016x}", 0x1000 + i * 100 + k + 1),
            parent_span_id: root_id.clone().into(),
            name: "container_start".into(),
            instance: format!("app{k}"),
            owner: SpanOwner::K8s,
            start_us: t0 + 1_000_000,
            end_us: t0 + 2_000_000,
            attributes: attrs,
            ..base.clone()
        });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_and_a_refused_trace_do_not_take_neighbours_down() {
    let broker = TestBroker::start();
    let kafka = kafka_config(&broker);
    let traces: Vec<_> = (0..6).map(|i| hand_trace(i, 2)).collect();
    let refused_trace = traces[3][0].trace_id.clone();
    // Valid records with malformed ones between them, all on one key so they
    // share a partition and a batch.
    let mut records: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, trace) in traces.iter().enumerate() {
        for span in trace {
            records.push(("k".into(), lunettes_schemas::avro::encode(span).unwrap()));
        }
        if i == 1 {
            records.push(("k".into(), b"not avro at all".to_vec()));
        }
        if i == 4 {
            let mut bad = trace[0].clone();
            bad.trace_id = "xyz".into();
            records.push(("k".into(), lunettes_schemas::avro::encode(&bad).unwrap()));
        }
    }
    let end = produce_raw(&kafka, &records).await;
    let receiver = OtlpReceiver::start(ReceiverConfig::loopback())
        .await
        .unwrap();
    receiver.reject_trace(&refused_trace).unwrap();

    let sink = SinkRun::start(&kafka, &receiver, OtlpProtocol::Http, "isolate");
    let expected = 5 * 3;
    assert!(
        receiver
            .wait_for_spans(expected, Duration::from_secs(60))
            .await
    );
    // Give the sink time to commit, then check it dropped only what it must.
    let deadline = Instant::now() + Duration::from_secs(30);
    while committed_total(&kafka, "isolate").await < end {
        assert!(Instant::now() < deadline, "offsets never committed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sink.metric("lunettes_otlp_records_rejected_total"), 2.0);
    assert_eq!(sink.metric("lunettes_otlp_spans_failed_total"), 3.0);
    assert!(sink.metric("lunettes_otlp_export_failures_total") >= 1.0);
    let stats = sink.stop().await;
    assert_eq!(stats.rejected, 2);
    assert_eq!(stats.spans_failed, 3, "exactly the refused trace's spans");

    let received = receiver.spans();
    assert_eq!(received.len(), 15);
    let trace_ids: BTreeSet<&str> = received.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(trace_ids.len(), 5);
    assert!(!trace_ids.contains(&*refused_trace));
    for s in &received {
        assert_eq!(s.resource["k8s.cluster.name"], "prod-eu");
        assert_eq!(s.resource["k8s.replicaset.name"], "checkout-5d8f7b9c6d");
        assert_eq!(s.resource["k8s.deployment.name"], "checkout");
        assert_eq!(s.resource["lunettes.owner.kind"], "ReplicaSet");
        if s.parent_span_id.is_empty() {
            assert_eq!(s.attributes["lunettes.result"], "success");
            assert_eq!(s.status_code, 1);
        } else {
            assert!(s.attributes["k8s.container.name"].starts_with("app"));
            assert_eq!(s.attributes["lunettes.span.owner"], "k8s");
        }
    }
}
