//! OTLP sink throughput: (1) the pure path, SpanRecords -> OTLP requests ->
//! protobuf bytes, on one core; (2) end to end, spans topic on a real broker
//! (tansu on loopback) -> sink -> OTLP receiver over loopback gRPC and HTTP,
//! everything in this process on this machine.
//!
//! `cargo bench -p lunettes-sinks --bench otlp` (`LUNETTES_BENCH_TRACES`,
//! default 20000 traces of 8 spans).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lunettes_otlp_receiver::{OtlpReceiver, ReceiverConfig};
use lunettes_runtime::telemetry::Readiness;
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::{KafkaConfig, Shutdown};
use lunettes_schemas::{SpanOwner, SpanRecord, SpanStatus};
use lunettes_sinks::otlp::{
    build_requests, convert, run, OtlpMetrics, OtlpProtocol, OtlpRunStats, OtlpSinkConfig,
    ResourceScope,
};
use lunettes_sinks::util::batch::BatchConfig;
use prometheus::Registry;
use prost::Message;
use rdkafka::producer::FutureRecord;

const SPANS_PER_TRACE: usize = 8;

/// CPU seconds (user + system) of this thread (`thread-self`) or process
/// (`self`) from /proc: on a shared, busy machine wall time says little.
fn cpu_seconds(which: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{which}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

/// Engine-shaped traces: a root with the verdict and 7 children, half of
/// them per-container with container and image attributes.
fn traces(n: usize) -> Vec<SpanRecord> {
    let names = [
        "default_schedule",
        "sandbox_create",
        "image_pull",
        "container_create",
        "container_start",
        "container_readiness",
        "pod_readiness",
    ];
    let mut out = Vec::with_capacity(n * SPANS_PER_TRACE);
    for i in 0..n {
        let trace_id = format!("{:032x}", 0x5eed_0000_0000u64 + i as u64);
        let root = format!("{:016x}", 0x1_0000_0000u64 + i as u64);
        let t0 = 1_700_000_000_000_000 + i as i64 * 10_000;
        let failed = i % 10 == 0;
        let mut attrs = BTreeMap::new();
        attrs.insert(
            "result".to_string(),
            if failed { "fail" } else { "success" }.to_string(),
        );
        attrs.insert("owner_kind".to_string(), "ReplicaSet".to_string());
        attrs.insert("owner_name".to_string(), format!("web{}-7c9f8d6b5", i % 50));
        if failed {
            attrs.insert("code".to_string(), "ImagePullBackOff".to_string());
        }
        let base = SpanRecord {
            trace_id: trace_id.into(),
            span_id: root.clone(),
            parent_span_id: String::new().into(),
            delivery_id: format!("{:032x}", i).into(),
            cluster: format!("prod-{}", i % 4).into(),
            namespace: format!("ns-{}", i % 40).into(),
            pod_name: format!("web{}-7c9f8d6b5-{i:06}", i % 50).into(),
            pod_uid: format!("00000000-0000-4000-8000-{i:012}").into(),
            node: format!("node-{}", i % 300).into(),
            name: "PodCreate".into(),
            instance: String::new(),
            owner: SpanOwner::Others,
            start_us: t0,
            end_us: t0 + 6_000_000,
            status: if failed {
                SpanStatus::Error
            } else {
                SpanStatus::Ok
            },
            status_message: if failed {
                "ImagePullBackOff".into()
            } else {
                String::new()
            },
            attributes: attrs,
        };
        out.push(base.clone());
        for (k, name) in names.iter().enumerate() {
            let mut attrs = BTreeMap::new();
            if name.starts_with("container") || *name == "image_pull" {
                attrs.insert("container".to_string(), "app".to_string());
                attrs.insert(
                    "image".to_string(),
                    "registry.example/team/app:1.4.2".to_string(),
                );
            }
            out.push(SpanRecord {
                span_id: format!("{:016x}", 0x2_0000_0000u64 + (i * 8 + k) as u64),
                parent_span_id: root.clone().into(),
                name: (*name).into(),
                owner: SpanOwner::K8s,
                start_us: t0 + k as i64 * 500_000,
                end_us: t0 + k as i64 * 500_000 + 400_000,
                status: SpanStatus::Ok,
                status_message: String::new(),
                attributes: attrs,
                ..base.clone()
            });
        }
    }
    out
}

fn pure_path(records: &[SpanRecord]) {
    // Warm-up, then the measured run.
    for round in 0..2 {
        let start = Instant::now();
        let cpu = cpu_seconds("thread-self");
        let spans: Vec<_> = records
            .iter()
            .map(|r| convert(r, ResourceScope::Pod).expect("valid"))
            .collect();
        let requests = build_requests(spans, 1000);
        let bytes: usize = requests
            .iter()
            .map(|r| r.request.encode_to_vec().len())
            .sum();
        let took = start.elapsed();
        let cpu = cpu_seconds("thread-self") - cpu;
        if round == 1 {
            println!(
                "pure: {} spans -> {} requests, {:.1} MiB protobuf in {:?} wall, {cpu:.2} s CPU: {:.0} spans per CPU-second",
                records.len(),
                requests.len(),
                bytes as f64 / (1 << 20) as f64,
                took,
                records.len() as f64 / cpu.max(0.01)
            );
        }
    }
}

async fn end_to_end(records: &[SpanRecord]) {
    let broker = TestBroker::start();
    let mut kafka = KafkaConfig {
        brokers: broker.bootstrap(),
        ..Default::default()
    };
    kafka.topics.spans.partitions = 6;
    kafka
        .ensure_topics(&[&kafka.topics.spans])
        .await
        .expect("topic");
    let producer = kafka.producer("bench").expect("producer");
    let produce_start = Instant::now();
    let mut pending = Vec::with_capacity(records.len());
    for r in records {
        let payload = lunettes_schemas::avro::encode(r).expect("encode");
        let record = FutureRecord::to(&kafka.topics.spans.name)
            .key(&*r.trace_id)
            .payload(&payload);
        pending.push(producer.send_result(record).expect("queue"));
    }
    for p in pending {
        p.await.expect("future").expect("ack");
    }
    println!(
        "produced {} spans to the broker in {:?}",
        records.len(),
        produce_start.elapsed()
    );

    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::Http] {
        let receiver = OtlpReceiver::start(ReceiverConfig::loopback())
            .await
            .expect("receiver");
        let mut config = OtlpSinkConfig {
            kafka: kafka.clone(),
            group: format!("bench-{}", protocol.as_str()),
            batch: BatchConfig {
                max_rows: 5_000,
                max_bytes: 16 << 20,
                linger_ms: 200,
            },
            metrics_addr: None,
            ..Default::default()
        };
        config.otlp.protocol = protocol;
        config.otlp.endpoint = match protocol {
            OtlpProtocol::Grpc => receiver.grpc_endpoint(),
            OtlpProtocol::Http => receiver.http_endpoint(),
        }
        .expect("endpoint");
        let validated = config.validate().expect("config");
        let registry = Registry::new();
        let metrics = OtlpMetrics::register(&registry).expect("metrics");
        let (trigger, shutdown) = Shutdown::new();
        let stats = Arc::new(OtlpRunStats::default());
        let start = Instant::now();
        let cpu = cpu_seconds("self");
        let task = {
            let registry = registry.clone();
            let stats = stats.clone();
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
        let all = receiver
            .wait_for_spans(records.len() as u64, Duration::from_secs(600))
            .await;
        let took = start.elapsed();
        let cpu = cpu_seconds("self") - cpu;
        trigger.trigger();
        task.await.expect("task").expect("sink");
        assert!(
            all,
            "only {} of {} spans arrived",
            receiver.span_count(),
            records.len()
        );
        let (sum, count) = registry
            .gather()
            .iter()
            .filter(|f| f.name() == "lunettes_otlp_export_duration_seconds")
            .flat_map(|f| f.get_metric())
            .map(|m| {
                (
                    m.get_histogram().get_sample_sum(),
                    m.get_histogram().get_sample_count(),
                )
            })
            .fold((0.0, 0u64), |a, b| (a.0 + b.0, a.1 + b.1));
        let retries: u64 = registry
            .gather()
            .iter()
            .filter(|f| f.name() == "lunettes_otlp_export_retries_total")
            .flat_map(|f| f.get_metric())
            .map(|m| m.get_counter().get_value() as u64)
            .sum();
        println!(
            "end to end over {}: {} spans ({} traces) in {:?}: {:.0} spans/s, {:.0} traces/s; \
             {count} export attempts ({retries} retried), mean attempt {:.1} ms; \
             {cpu:.2} s CPU for sink + receiver: {:.0} spans per CPU-second",
            protocol.as_str(),
            records.len(),
            records.len() / SPANS_PER_TRACE,
            took,
            records.len() as f64 / took.as_secs_f64(),
            (records.len() / SPANS_PER_TRACE) as f64 / took.as_secs_f64(),
            sum / count.max(1) as f64 * 1000.0,
            records.len() as f64 / cpu.max(0.01)
        );
        receiver.shutdown().await;
    }
}

fn main() {
    let n: usize = std::env::var("LUNETTES_BENCH_TRACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let records = traces(n);
    pure_path(&records);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(end_to_end(&records));
}
