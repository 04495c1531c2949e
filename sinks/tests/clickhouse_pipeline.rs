//! End to end: simulator -> broker -> processor worker -> ClickHouse sink ->
//! ClickHouse. The tables must hold exactly what one in-process engine run
//! emits over the same input, one create delivery per simulated pod, and SLO
//! windows whose success rates equal the simulator's ground truth.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lunettes_processor::{Engine, EngineConfig};
use lunettes_runtime::telemetry::Readiness;
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::{KafkaConfig, Shutdown};
use lunettes_schemas::{Action, HyperEvent, Output};
use lunettes_sinks::clickhouse::config::ClickHouseSinkConfig;
use lunettes_sinks::clickhouse::{run, RunHooks, RunStats, SinkMetrics};
use lunettes_sinks::testing::DevClickHouse;
use lunettes_worker::processor::{run as run_processor, Control, ProcessorConfig};
use lunettes_worker::testing::{collector_stream, publish_as_collector};
use lunettes_worker::WorkerMetrics;

const PARTITIONS: i32 = 3;

/// Simulated HyperEvents in collector order with periodic watermarks and a
/// final one far ahead that closes every delivery; and the ground truth.
fn simulated(pods: usize) -> (Vec<(HyperEvent, bool)>, Vec<lunettes_loadtest::Truth>) {
    let cfg = lunettes_loadtest::SimConfig {
        clusters: 2,
        pods,
        seed: 11,
        pods_per_second: 2.0,
        // Recent, so the tables' TTL keeps the rows.
        start_us: common::t0() - 3 * 3_600_000_000,
        ..Default::default()
    };
    collector_stream(&cfg, 10_000_000)
}

/// Publishes as a collector does; the output topics exist before the
/// processor starts.
async fn publish(kafka: &KafkaConfig, events: &[(HyperEvent, bool)]) {
    kafka.ensure_topics(&kafka.topics.all()).await.unwrap();
    publish_as_collector(kafka, events, PARTITIONS).await;
}

/// Distinct deliveries (latest version) one engine emits over the input.
fn direct_deliveries(
    events: &[(HyperEvent, bool)],
) -> BTreeMap<String, lunettes_schemas::Delivery> {
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for (ev, _) in events {
        engine.process(ev, &mut out);
    }
    engine.finish(&mut out);
    let mut by_id: BTreeMap<String, lunettes_schemas::Delivery> = BTreeMap::new();
    for o in out {
        if let Output::Delivery(d) = o {
            match by_id.get(&d.id) {
                Some(old) if old.version >= d.version => {}
                _ => {
                    by_id.insert(d.id.clone(), d);
                }
            }
        }
    }
    by_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_to_processor_to_clickhouse_matches_ground_truth() {
    // SQLite storage: the processor needs correct ListOffsets answers, which
    // tansu's memory storage does not give for multi-record batches.
    let dir = std::env::temp_dir().join(format!("lunettes-ch-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broker = TestBroker::start_with_storage(Some(dir.join("broker.db"))).expect("tansu");
    let server = DevClickHouse::start();
    let mut kafka = KafkaConfig {
        brokers: broker.bootstrap(),
        ..Default::default()
    };
    for t in [
        &mut kafka.topics.hyperevents,
        &mut kafka.topics.deliveries,
        &mut kafka.topics.spans,
        &mut kafka.topics.windows,
    ] {
        t.partitions = PARTITIONS;
    }
    let (events, truth) = simulated(200);
    publish(&kafka, &events).await;
    let direct = direct_deliveries(&events);

    let (stop_processor, shutdown) = Shutdown::new();
    let processor = {
        let cfg = ProcessorConfig::new(kafka.clone(), "ch-e2e-processors");
        let metrics = WorkerMetrics::register(&prometheus::Registry::new()).unwrap();
        let control = Control::graceful(shutdown);
        std::thread::spawn(move || {
            run_processor(
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

    let mut config = ClickHouseSinkConfig {
        kafka: kafka.clone(),
        group: "ch-e2e-sink".into(),
        raw_hyperevents: true,
        metrics_addr: None,
        migrate: true,
        ..ClickHouseSinkConfig::default()
    };
    config.clickhouse.url = server.url().into();
    config.clickhouse.database = "e2e".into();
    config.batch.linger_ms = 300;
    let (stop_sink, sink_shutdown) = Shutdown::new();
    let stats = Arc::new(RunStats::default());
    let registry = prometheus::Registry::new();
    let sink = tokio::spawn(run(
        config.validate().unwrap(),
        SinkMetrics::new(&registry).unwrap(),
        Readiness::default(),
        sink_shutdown,
        RunHooks::default(),
        stats.clone(),
    ));

    let expected = direct.len();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let n = server
            .query_text("e2e", "SELECT count() FROM deliveries FINAL")
            .await
            .unwrap_or_default();
        if n == expected.to_string() {
            break;
        }
        assert!(
            !sink.is_finished(),
            "sink stopped early with {n} deliveries"
        );
        assert!(
            Instant::now() < deadline,
            "{n} of {expected} deliveries after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Let the windows and spans of the last records land too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_processor.trigger();
    let summary = processor.join().unwrap().expect("processor ran cleanly");
    assert!(!summary.crashed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_sink.trigger();
    sink.await.unwrap().expect("sink stopped cleanly");

    // The deliveries are exactly one engine's verdicts.
    let stored: BTreeMap<String, lunettes_schemas::Delivery> =
        common::deliveries_final(&server, "e2e")
            .await
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect();
    assert_eq!(stored.len(), direct.len());
    for (id, d) in &direct {
        assert_eq!(stored.get(id), Some(d), "delivery {id}");
    }

    // One create delivery per simulated pod.
    let creates = stored
        .values()
        .filter(|d| d.action == Action::Create)
        .count();
    assert_eq!(creates, truth.len(), "create deliveries vs simulated pods");

    // Window success rates per (cluster, namespace) equal the ground truth.
    let mut truth_rates: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for t in &truth {
        let e = truth_rates
            .entry((t.cluster.clone(), t.namespace.clone()))
            .or_default();
        e.0 += 1;
        e.1 += (t.expected_result == "success") as i64;
    }
    let text = server
        .query_text("e2e", "SELECT cluster, namespace, sum(total), sum(success) FROM slo_windows_1m FINAL WHERE action = 'create' GROUP BY cluster, namespace ORDER BY cluster, namespace")
        .await
        .unwrap();
    let mut window_rates = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        window_rates.insert(
            (f[0].to_string(), f[1].to_string()),
            (f[2].parse::<i64>().unwrap(), f[3].parse::<i64>().unwrap()),
        );
    }
    assert_eq!(
        window_rates, truth_rates,
        "window (total, success) per namespace vs ground truth"
    );
    let hourly = server
        .query_text(
            "e2e",
            "SELECT sum(total), sum(success) FROM slo_windows_1h WHERE action = 'create'",
        )
        .await
        .unwrap();
    let (t, s) = truth_rates
        .values()
        .fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
    assert_eq!(
        hourly,
        format!("{t}\t{s}"),
        "the hourly view sums the minutes"
    );

    // Spans and the raw timeline arrived too.
    let spans = common::number(&server, "e2e", "SELECT uniqExact(TraceId) FROM spans FINAL").await;
    assert!(
        spans as usize >= creates,
        "{spans} traces for {creates} create deliveries"
    );
    let raw = common::number(&server, "e2e", "SELECT count() FROM hyperevents FINAL").await;
    let distinct: std::collections::BTreeSet<_> = events
        .iter()
        .filter(|(e, _)| e.kind != lunettes_schemas::Kind::Watermark)
        .map(|(e, _)| {
            (
                &e.cluster,
                &e.object.namespace,
                &e.object.name,
                e.time_us,
                &e.dedup_id,
            )
        })
        .collect();
    assert_eq!(
        raw as usize,
        distinct.len(),
        "one raw row per distinct HyperEvent"
    );
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
