//! ClickHouse sink benchmark: where the time of a delivery row goes.
//!
//! Run: `cargo bench -p lunettes-sinks --bench clickhouse` (release). Five
//! numbers, the first four measured separately so none hides another:
//!
//! 1. decode: Avro single-object decode + conversion to `DeliveryRow`, rows/s
//!    on one core (what the sink does per Kafka record).
//! 2. encode+send: RowBinary serialization and HTTP streaming by the
//!    `clickhouse` crate into a local HTTP endpoint that only drains the body
//!    (the Rust side of an insert, without any server work), rows/s.
//! 3. server ingest: the sink's transcoded RowBinary bodies into the real
//!    ClickHouse engine (chdb behind the dev HTTP server), rows/s end to
//!    end; the stored rows are read back and compared with the reference
//!    path's `DeliveryRow`s.
//! 4. latency: a steady load of delivery records produced to a tansu broker
//!    at `LUNETTES_BENCH_RATE` records/s (default 10000) for
//!    `LUNETTES_BENCH_SECONDS` (default 20) through the running sink;
//!    p50/p99 of Kafka record timestamp -> ClickHouse acknowledged the row.
//! 5. sink per core (printed first): the whole per-row work of the sink on
//!    one thread, Avro payloads -> rows -> RowBinary -> HTTP insert into the
//!    discarding endpoint, in CPU time of that thread (the endpoint runs on
//!    other threads), as rows per CPU-second. Three paths, alternating rounds,
//!    best of 3: the sink's transcoder (Avro straight to RowBinary), the
//!    former path (decode into `Delivery`, move into `DeliveryRow`, the
//!    crate's RowBinary encoder), and a floor: the same payload bytes copied
//!    into one body and sent the same way (no per-row work beyond a memcpy),
//!    which bounds what any decoder could reach on this path.
//!
//! `LUNETTES_BENCH_QUICK=1` stops after stages 5, 1 and 2.
//! `LUNETTES_BENCH_ROWS` (default 200000) sets the row count of 1-3,
//! `LUNETTES_BENCH_LINGER_MS` (default: the sink's default, 500) the linger of 4.
//! Stage 1 also decodes the same records through apache-avro's generic
//! `Value` (the sink's path before the direct decoder), alternating rounds,
//! and prints the ratio.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lunettes_runtime::telemetry::Readiness;
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::{KafkaConfig, Shutdown};
use lunettes_schemas::avro::AvroRecord;
use lunettes_schemas::{avro, Action, Delivery, DeliveryResult, Phases};
use lunettes_sinks::clickhouse::config::ClickHouseSinkConfig;
use lunettes_sinks::clickhouse::request_builder::DeliveryRow;
use lunettes_sinks::clickhouse::rowbinary::{DeliveryTranscoder, DELIVERY_COLUMNS};
use lunettes_sinks::clickhouse::service::RowBinary;
use lunettes_sinks::clickhouse::{
    migrate, run, ClickHouseService, MigrateOptions, RunHooks, RunStats, SinkMetrics,
};
use lunettes_sinks::testing::DevClickHouse;
use lunettes_sinks::util::retry::RetryConfig;
use rdkafka::producer::FutureRecord;

#[path = "../tests/support/http_body.rs"]
mod http_body;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// A realistic delivery: typical name lengths, a summary sentence, phases set.
fn delivery(i: usize, base_us: i64) -> Delivery {
    let result = if i.is_multiple_of(20) {
        DeliveryResult::Fail
    } else {
        DeliveryResult::Success
    };
    Delivery {
        id: format!(
            "{:032x}",
            (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
        ),
        version: 1,
        cluster: format!("prod-{}", i % 8),
        namespace: format!("team-{}", i % 40),
        name: format!("checkout-api-7d9f8c6b5-{:05x}", i % 1_048_576),
        uid: format!("{:08x}-87e8-4f02-8a13-{:012x}", i, i * 31),
        action: Action::Create,
        result,
        code: if result == DeliveryResult::Fail {
            "ImagePullBackOff".into()
        } else {
            String::new()
        },
        sub_reason: String::new(),
        summary: if result == DeliveryResult::Fail {
            "The image registry.example/checkout:1.42 could not be pulled: manifest unknown. Check the tag.".into()
        } else {
            String::new()
        },
        created_at_us: base_us + i as i64 * 100,
        finished_at_us: Some(base_us + i as i64 * 100 + 4_200_000),
        decided_at_us: base_us + i as i64 * 100 + 4_200_000,
        deadline_us: Some(base_us + i as i64 * 100 + 90_000_000),
        slo_ms: Some(90_000),
        slo_class: "typical".into(),
        sli_ms: Some(4_100),
        k8s_sli_ms: Some(3_900),
        phases: Phases {
            schedule_ms: Some(15),
            image_pull_ms: Some(2_300),
            sandbox_ms: Some(650),
            init_ms: None,
            container_start_ms: Some(420),
            readiness_ms: Some(700),
        },
        node: format!("ip-10-0-{}-{}.ec2.internal", i % 16, i % 250),
        pod_ip: format!("10.1.{}.{}", i / 250 % 250, i % 250),
        owner_kind: "ReplicaSet".into(),
        owner_name: "checkout-api-7d9f8c6b5".into(),
        is_job: false,
        flags: vec![],
        trace_id: format!("{:032x}", (i as u128).wrapping_mul(0xD1B5_4A32_D192_ED03)),
    }
}

/// CPU time of the calling thread (Linux `schedstat`: ns on a CPU).
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    Duration::from_nanos(s.split_whitespace().next().unwrap().parse().unwrap())
}

/// Stage 5: rows per CPU-second of one sink thread for each path.
fn sink_per_core(records: Arc<Vec<Vec<u8>>>, addr: std::net::SocketAddr) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let client = clickhouse::Client::default()
                .with_url(format!("http://{addr}"))
                .with_validation(false);
            let svc =
                ClickHouseService::new(client, RetryConfig::default(), Duration::from_secs(60));
            let n = records.len();
            let batch = 50_000;
            let transcoder = DeliveryTranscoder::global().unwrap();
            let mut best = [0f64; 3];
            let mut wall = [0f64; 3];
            for _ in 0..3 {
                for (k, best) in best.iter_mut().enumerate() {
                    let (t, cpu) = (Instant::now(), thread_cpu());
                    for chunk in records.chunks(batch) {
                        if k == 1 {
                            let rows: Vec<DeliveryRow> = chunk
                                .iter()
                                .map(|r| DeliveryRow::from(avro::decode::<Delivery>(r).unwrap()))
                                .collect();
                            svc.insert("deliveries", &rows[..], "", None, |_, _| {})
                                .await
                                .unwrap();
                            continue;
                        }
                        // 0: the transcoder; 2: the floor, payloads copied as they are.
                        let mut buf = Vec::new();
                        for r in chunk {
                            if k == 0 {
                                transcoder.append(r, &mut buf).unwrap();
                            } else {
                                buf.extend_from_slice(r);
                            }
                        }
                        let body = RowBinary {
                            columns: &DELIVERY_COLUMNS,
                            bytes: buf.into(),
                            rows: chunk.len(),
                        };
                        svc.insert("deliveries", &body, "", None, |_, _| {})
                            .await
                            .unwrap();
                    }
                    let cpu = (thread_cpu() - cpu).as_secs_f64();
                    *best = best.max(n as f64 / cpu);
                    wall[k] = wall[k].max(n as f64 / t.elapsed().as_secs_f64());
                }
            }
            let [new, old, floor] = best;
            println!(
                "per core transcoder: Avro -> RowBinary -> HTTP: {new:>12.0} rows per CPU-second ({:.0} rows/s wall; goal >= 500k: {})",
                wall[0],
                if new >= 500_000.0 { "met" } else { "not met" }
            );
            println!(
                "per core former path: Avro -> Delivery -> DeliveryRow -> crate RowBinary -> HTTP: {old:>12.0} rows per CPU-second ({:.0} rows/s wall)",
                wall[1]
            );
            println!(
                "per core floor: payload memcpy -> HTTP:     {floor:>12.0} rows per CPU-second ({:.0} rows/s wall)",
                wall[2]
            );
            println!(
                "per core transcoder {:.2}x the former path; at {:.0}% of the memcpy floor's rate",
                new / old,
                100.0 * new / floor
            );
        });
    })
    .join()
    .unwrap();
}

fn percentile(h: &prometheus::proto::Histogram, q: f64) -> f64 {
    let total = h.get_sample_count() as f64;
    let target = total * q;
    let mut prev_bound = 0.0;
    let mut prev_count = 0.0;
    for b in h.get_bucket() {
        let count = b.cumulative_count() as f64;
        if count >= target {
            let in_bucket = count - prev_count;
            let frac = if in_bucket > 0.0 {
                (target - prev_count) / in_bucket
            } else {
                1.0
            };
            return prev_bound + frac * (b.upper_bound() - prev_bound);
        }
        prev_bound = b.upper_bound();
        prev_count = count;
    }
    f64::INFINITY
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows_n = env_usize("LUNETTES_BENCH_ROWS", 200_000);
    let base = now_us() - 3_600_000_000;
    let records: Vec<Vec<u8>> = (0..rows_n)
        .map(|i| avro::encode(&delivery(i, base)).unwrap())
        .collect();
    let avg_bytes = records.iter().map(Vec::len).sum::<usize>() / rows_n;
    println!("clickhouse sink bench: {rows_n} delivery rows, {avg_bytes} Avro bytes per record");
    let quick = std::env::var("LUNETTES_BENCH_QUICK").is_ok_and(|v| v == "1");

    // 5. The sink's per-row work on one thread, in CPU time.
    let (addr, _) = http_body::body_server(false).await;
    let records = Arc::new(records);
    sink_per_core(records.clone(), addr);

    // 1. Avro decode + row conversion, against the same through apache-avro's
    // generic Value (the path the sink took before the direct decoder).
    // Alternating rounds, best of each, so load from other processes on the
    // machine hits both alike.
    let direct = || {
        let t = Instant::now();
        let rows: Vec<DeliveryRow> = records
            .iter()
            .map(|r| DeliveryRow::from(avro::decode::<Delivery>(r).unwrap()))
            .collect();
        (rows_n as f64 / t.elapsed().as_secs_f64(), rows)
    };
    let via_value = || {
        let t = Instant::now();
        let rows: Vec<DeliveryRow> = records
            .iter()
            .map(|r| {
                let (_, datum) = avro::split_header(r).unwrap();
                let d: Delivery = avro::decode_datum_slow(Delivery::schema(), datum, None).unwrap();
                DeliveryRow::from(d)
            })
            .collect();
        (rows_n as f64 / t.elapsed().as_secs_f64(), rows)
    };
    let (mut decode, mut decode_slow) = (0f64, 0f64);
    let mut rows = Vec::new();
    for _ in 0..3 {
        let (r, v) = direct();
        decode = decode.max(r);
        let (r, slow_rows) = via_value();
        decode_slow = decode_slow.max(r);
        assert!(slow_rows == v, "both decoders give the same rows");
        rows = v;
    }
    println!(
        "decode   Avro -> DeliveryRow:              {decode:>12.0} rows/s (1 core, best of 3)"
    );
    println!(
        "decode   same via apache-avro Value:        {decode_slow:>12.0} rows/s (1 core, best of 3; direct decoder {:.1}x)",
        decode / decode_slow
    );

    // 2. RowBinary encode + HTTP streaming, server side discarded.
    let client = clickhouse::Client::default()
        .with_url(format!("http://{addr}"))
        .with_validation(false);
    let svc = ClickHouseService::new(client, RetryConfig::default(), Duration::from_secs(60));
    let t = Instant::now();
    for chunk in rows.chunks(50_000) {
        svc.insert("deliveries", chunk, "", None, |_, _| {})
            .await
            .unwrap();
    }
    let encode = rows_n as f64 / t.elapsed().as_secs_f64();
    println!("encode   RowBinary + HTTP (discarded):      {encode:>12.0} rows/s");
    if quick {
        return;
    }

    // 3. Into the ClickHouse engine.
    let server = DevClickHouse::start();
    migrate(
        &server.client(),
        &MigrateOptions {
            database: "bench".into(),
            ttl_days: 30,
            alter_ttl: false,
        },
    )
    .await
    .unwrap();
    let svc = ClickHouseService::new(
        server.client().with_database("bench"),
        RetryConfig::default(),
        Duration::from_secs(300),
    );
    // The bodies the sink sends: transcoded records.
    let bodies: Vec<RowBinary> = records
        .chunks(50_000)
        .map(|chunk| {
            let mut buf = Vec::new();
            for r in chunk {
                DeliveryTranscoder::global()
                    .unwrap()
                    .append(r, &mut buf)
                    .unwrap();
            }
            RowBinary {
                columns: &DELIVERY_COLUMNS,
                bytes: buf.into(),
                rows: chunk.len(),
            }
        })
        .collect();
    let t = Instant::now();
    for (k, body) in bodies.iter().enumerate() {
        svc.insert("deliveries", body, &format!("bench/{k}"), None, |_, _| {})
            .await
            .unwrap();
    }
    let ingest = rows_n as f64 / t.elapsed().as_secs_f64();
    // The engine holds exactly the rows of the reference path.
    let mut stored: Vec<DeliveryRow> = svc
        .client()
        .query("SELECT ?fields FROM deliveries FINAL")
        .fetch_all()
        .await
        .unwrap();
    stored.sort_by(|a, b| a.id.cmp(&b.id));
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    assert!(stored == rows, "ClickHouse stored the reference rows");
    println!(
        "ingest   into chdb via the dev HTTP server: {ingest:>12.0} rows/s ({} rows stored, equal to the reference path's rows)",
        stored.len()
    );

    // 4. Steady load through broker and sink.
    let rate = env_usize("LUNETTES_BENCH_RATE", 10_000);
    let seconds = env_usize("LUNETTES_BENCH_SECONDS", 20);
    let broker = TestBroker::start();
    let mut kafka = KafkaConfig {
        brokers: broker.bootstrap(),
        ..KafkaConfig::default()
    };
    kafka.topics.deliveries.partitions = 6;
    kafka.ensure_topics(&kafka.topics.outputs()).await.unwrap();
    let mut config = ClickHouseSinkConfig {
        kafka: kafka.clone(),
        metrics_addr: None,
        migrate: true,
        ..Default::default()
    };
    config.clickhouse.url = server.url().into();
    config.clickhouse.database = "latency".into();
    config.batch.linger_ms =
        env_usize("LUNETTES_BENCH_LINGER_MS", config.batch.linger_ms as usize) as u64;
    let registry = prometheus::Registry::new();
    let metrics = SinkMetrics::new(&registry).unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let stats = Arc::new(RunStats::default());
    let sink = tokio::spawn(run(
        config.validate().unwrap(),
        metrics,
        Readiness::default(),
        shutdown,
        RunHooks::default(),
        stats.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;

    let producer = kafka.producer("bench").unwrap();
    let total = rate * seconds;
    let started = Instant::now();
    let tick = Duration::from_millis(10);
    let per_tick = (rate / 100).max(1);
    let mut sent = 0usize;
    let mut pending = Vec::new();
    let base = now_us();
    while sent < total {
        let due = started + tick * (sent / per_tick) as u32;
        tokio::time::sleep_until(due.into()).await;
        for _ in 0..per_tick.min(total - sent) {
            let d = delivery(1_000_000 + sent, base);
            let payload = avro::encode(&d).unwrap();
            pending.push(
                producer
                    .send_result(
                        FutureRecord::to(&kafka.topics.deliveries.name)
                            .key(&d.id)
                            .payload(&payload),
                    )
                    .unwrap(),
            );
            sent += 1;
        }
        if pending.len() > 50_000 {
            for p in pending.drain(..) {
                p.await.unwrap().unwrap();
            }
        }
    }
    for p in pending.drain(..) {
        p.await.unwrap().unwrap();
    }
    let produce_secs = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(300);
    while (stats.rows_written.load(Ordering::Relaxed) as usize) < total && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained_secs = started.elapsed().as_secs_f64();
    trigger.trigger();
    sink.await.unwrap().unwrap();
    let written = stats.rows_written.load(Ordering::Relaxed);
    let family = registry
        .gather()
        .into_iter()
        .find(|f| f.name() == "lunettes_clickhouse_sink_ingest_to_row_seconds")
        .unwrap();
    let h = family.get_metric()[0].get_histogram().clone();
    println!(
        "latency  {total} records offered at {rate}/s: produced in {produce_secs:.1} s ({:.0}/s), all rows acknowledged after {drained_secs:.1} s ({written} rows, {} inserts)",
        total as f64 / produce_secs,
        stats.inserts.load(Ordering::Relaxed)
    );
    println!(
        "latency  record timestamp -> row acknowledged: p50 {:.2} s, p99 {:.2} s (histogram interpolation)",
        percentile(&h, 0.5),
        percentile(&h, 0.99)
    );
}
