//! Avro codec benchmark: the direct codec against apache-avro's `Value` path.
//!
//! Run: `cargo bench -p lunettes-schemas --bench codec` (release).
//! `LUNETTES_BENCH_ROWS` (default 200000) records of each type are encoded
//! and decoded one core, both ways, in the same run; the ratio is the figure
//! to compare across machines.

use std::hint::black_box;
use std::time::Instant;

use lunettes_schemas::avro::{self, AvroRecord};
use lunettes_schemas::{Action, Delivery, DeliveryResult, HyperEvent, Phases};
use serde::de::DeserializeOwned;

fn delivery(i: usize) -> Delivery {
    Delivery {
        id: format!("{i:032x}"),
        version: 1,
        cluster: "prod-eu-west-1".into(),
        namespace: format!("team-{}", i % 50),
        name: format!("web-5d567cc74c-{i:05}"),
        uid: format!("18eddc1d-87e8-4f02-8a13-{i:012}"),
        action: Action::Create,
        result: DeliveryResult::Success,
        code: String::new(),
        sub_reason: String::new(),
        summary: "Pod became ready within its SLO".into(),
        created_at_us: 1_700_000_000_000_000 + i as i64,
        finished_at_us: Some(1_700_000_004_000_000),
        decided_at_us: 1_700_000_004_000_000,
        deadline_us: Some(1_700_000_090_000_000),
        slo_ms: Some(90_000),
        slo_class: "typical".into(),
        sli_ms: Some(3_100),
        k8s_sli_ms: Some(3_900),
        phases: Phases {
            schedule_ms: Some(12),
            image_pull_ms: Some(2_400),
            sandbox_ms: Some(300),
            init_ms: None,
            container_start_ms: Some(150),
            readiness_ms: Some(250),
        },
        node: "node-17".into(),
        pod_ip: "10.1.2.3".into(),
        owner_kind: "ReplicaSet".into(),
        owner_name: "web-5d567cc74c".into(),
        is_job: false,
        flags: vec![],
        trace_id: format!("{i:032x}"),
    }
}

fn rate(n: usize, t: Instant) -> f64 {
    n as f64 / t.elapsed().as_secs_f64()
}

fn run<T: AvroRecord + DeserializeOwned>(name: &str, values: &[T]) {
    let n = values.len();
    let schema = T::schema();
    let t = Instant::now();
    let fast: Vec<Vec<u8>> = values.iter().map(|v| avro::encode(v).unwrap()).collect();
    let enc_fast = rate(n, t);
    let t = Instant::now();
    for v in values {
        black_box(avro::encode_datum_slow(schema, v).unwrap());
    }
    let enc_slow = rate(n, t);
    let t = Instant::now();
    for b in &fast {
        black_box(avro::decode::<T>(b).unwrap());
    }
    let dec_fast = rate(n, t);
    let t = Instant::now();
    for b in &fast {
        let (_, datum) = avro::split_header(b).unwrap();
        black_box(avro::decode_datum_slow::<T>(schema, datum, None).unwrap());
    }
    let dec_slow = rate(n, t);
    println!(
        "{name:<11} encode {enc_fast:>10.0}/s vs Value {enc_slow:>9.0}/s ({:>4.1}x)   decode {dec_fast:>10.0}/s vs Value {dec_slow:>9.0}/s ({:>4.1}x)",
        enc_fast / enc_slow,
        dec_fast / dec_slow
    );
}

fn main() {
    let n: usize = std::env::var("LUNETTES_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    println!("avro codec bench: {n} records per type, one core, direct codec vs apache-avro Value");
    let deliveries: Vec<Delivery> = (0..n).map(delivery).collect();
    run("Delivery", &deliveries);
    let events: Vec<HyperEvent> = (0..n)
        .map(|i| {
            let mut e = HyperEvent::example();
            e.dedup_id = format!("{i:032x}");
            e
        })
        .collect();
    run("HyperEvent", &events);
}
