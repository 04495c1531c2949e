//! Fixtures shared by the ClickHouse integration tests: varied records built
//! by hand (every optional field both present and absent, non-ASCII text),
//! and read-back row types that map ClickHouse rows back to the contract
//! records so tests compare what was written with what is read.
#![allow(dead_code)]

use std::collections::BTreeMap;

use lunettes_schemas::{
    Action, Delivery, DeliveryResult, Phases, SpanOwner, SpanRecord, SpanStatus, WindowRow,
    WindowWidth,
};
use lunettes_sinks::clickhouse::request_builder::DeliveryRow;
use lunettes_sinks::clickhouse::{migrate, MigrateOptions};
use lunettes_sinks::testing::DevClickHouse;

/// The start of the previous hour, in µs. Fixtures are recent because the
/// tables have a TTL: rows older than it are dropped at insert.
pub fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        now / 3_600_000_000 * 3_600_000_000 - 3_600_000_000
    })
}

pub fn delivery(i: usize, version: i32) -> Delivery {
    let results = DeliveryResult::ALL;
    let result = results[i % results.len()];
    let some = |v: i64| if i.is_multiple_of(3) { None } else { Some(v) };
    Delivery {
        id: format!("{:032x}", i * 7919 + 1),
        version,
        cluster: format!("cluster-{}", i % 3),
        namespace: format!("ns-{}", i % 5),
        name: format!("web-{i}"),
        uid: format!("00000000-0000-4000-8000-{i:012}"),
        action: if i.is_multiple_of(4) {
            Action::Delete
        } else {
            Action::Create
        },
        result,
        code: if result == DeliveryResult::Success {
            String::new()
        } else {
            format!("Code{}", i % 7)
        },
        sub_reason: if i.is_multiple_of(2) {
            "InsufficientCPU".into()
        } else {
            String::new()
        },
        summary: format!("Pod wartet auf Knoten — Versuch {i} «ok»"),
        created_at_us: t0() + i as i64 * 1_000_003,
        finished_at_us: some(t0() + i as i64 * 1_000_003 + 5_000_000),
        decided_at_us: t0() + i as i64 * 1_000_003 + 6_000_000 + version as i64,
        deadline_us: some(t0() + i as i64 * 1_000_003 + 90_000_000),
        slo_ms: some(90_000),
        slo_class: "typical".into(),
        sli_ms: some(4_321 + version as i64),
        k8s_sli_ms: some(4_000),
        phases: Phases {
            schedule_ms: some(12),
            image_pull_ms: if i.is_multiple_of(5) {
                None
            } else {
                Some(2_500)
            },
            sandbox_ms: some(800),
            init_ms: None,
            container_start_ms: some(300),
            readiness_ms: some(700),
        },
        node: format!("node-{}", i % 11),
        pod_ip: format!("10.0.{}.{}", i / 250 % 250, i % 250),
        owner_kind: "ReplicaSet".into(),
        owner_name: format!("web-{}", i / 10),
        is_job: i.is_multiple_of(6),
        flags: if i.is_multiple_of(2) {
            vec!["clamped:readiness".into(), "late".into()]
        } else {
            vec![]
        },
        trace_id: format!("{:032x}", i * 104_729 + 3),
    }
}

pub fn span(trace: usize, k: usize) -> SpanRecord {
    let mut attributes = BTreeMap::new();
    attributes.insert("zeta".to_string(), format!("z{k}"));
    attributes.insert("alpha".to_string(), "a".to_string());
    if k.is_multiple_of(2) {
        attributes.insert("container".to_string(), format!("c{k}"));
    }
    SpanRecord {
        trace_id: format!("{:032x}", trace * 104_729 + 3).into(),
        span_id: format!("{:016x}", trace * 1000 + k + 1),
        parent_span_id: if k == 0 {
            String::new().into()
        } else {
            format!("{:016x}", trace * 1000 + 1).into()
        },
        delivery_id: format!("{:032x}", trace * 7919 + 1).into(),
        cluster: format!("cluster-{}", trace % 3).into(),
        namespace: format!("ns-{}", trace % 5).into(),
        pod_name: format!("web-{trace}").into(),
        pod_uid: format!("00000000-0000-4000-8000-{trace:012}").into(),
        node: if trace.is_multiple_of(4) {
            String::new().into()
        } else {
            format!("node-{}", trace % 11).into()
        },
        name: if k == 0 {
            "PodCreate".into()
        } else {
            format!("phase_{k}")
        },
        instance: if k.is_multiple_of(2) {
            format!("c{k}")
        } else {
            String::new()
        },
        owner: [SpanOwner::K8s, SpanOwner::Custom, SpanOwner::Others][k % 3],
        start_us: t0() + trace as i64 * 1_000_000 + k as i64 * 10_000,
        end_us: t0() + trace as i64 * 1_000_000 + k as i64 * 10_000 + 5_000 + k as i64,
        status: if k == 0 && trace % 5 == 1 {
            SpanStatus::Error
        } else {
            SpanStatus::Ok
        },
        status_message: if k == 0 && trace % 5 == 1 {
            "ImagePullBackOff".into()
        } else {
            String::new()
        },
        attributes,
    }
}

pub fn window(
    shard: i32,
    minute: i64,
    ns: &str,
    version: i32,
    total: i64,
    success: i64,
) -> WindowRow {
    let fail = total - success;
    let mut codes = BTreeMap::new();
    if fail > 0 {
        codes.insert("ImagePullBackOff".to_string(), fail);
    }
    WindowRow {
        id: format!("w-{shard}-{ns}-{minute}"),
        version,
        shard,
        width: WindowWidth::Minute,
        window_start_us: t0() + minute * 60_000_000,
        cluster: "cluster-0".into(),
        namespace: ns.into(),
        action: Action::Create,
        total,
        success,
        fail,
        kill: 0,
        api_failed: 0,
        abandoned: 0,
        codes,
    }
}

/// Starts a dev server and migrates `database`.
pub async fn server_with_schema(database: &str) -> DevClickHouse {
    let server = DevClickHouse::start();
    migrate(
        &server.client(),
        &MigrateOptions {
            database: database.into(),
            ttl_days: 30,
            alter_ttl: false,
        },
    )
    .await
    .expect("migrations apply");
    server
}

/// Reads `deliveries FINAL` back as contract records, ordered by id.
pub async fn deliveries_final(server: &DevClickHouse, database: &str) -> Vec<Delivery> {
    server
        .client()
        .with_database(database)
        .with_validation(true)
        .query("SELECT * FROM deliveries FINAL ORDER BY id")
        .fetch_all::<DeliveryRow>()
        .await
        .expect("read deliveries")
        .into_iter()
        .map(|r| {
            r.into_delivery()
                .expect("row holds a known action and result")
        })
        .collect()
}

/// `SELECT <expr>` as a number.
pub async fn number(server: &DevClickHouse, database: &str, sql: &str) -> i64 {
    let text = server.query_text(database, sql).await.expect(sql);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{sql} returned {text:?}"))
}
