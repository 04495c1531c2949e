//! A dev ClickHouse filled with realistic rows, for the API's tests, the CLI's
//! tests and demos (feature `testing`).
//!
//! The rows come from the real pipeline parts, in-process: the fleet
//! simulator writes audit logs and Events, the normalizer turns them into
//! HyperEvents, the delivery engine decides verdicts and spans, and the
//! ClickHouse sink's row builders and insert service write them to the
//! tables created by the real migrations. Two batches are written:
//!
//! * **decided**: `clusters` simulated clusters starting three hours ago,
//!   run to the end of input, so every pod has a verdict (failures included);
//! * **live**: one cluster (`live-1`) whose pods were created seconds ago,
//!   cut at the present like a collector would see them; the engine has not
//!   decided them yet, so the API must answer them as in progress.

use std::time::Duration;

use lunettes_ingest::Normalizer;
use lunettes_processor::{Engine, EngineConfig};
use lunettes_schemas::{Delivery, HyperEvent, Output};
use lunettes_sinks::clickhouse::request_builder::{
    hyperevent_row, window_row, DeliveryRow, SpanRow,
};
use lunettes_sinks::clickhouse::{migrate, ClickHouseService, MigrateOptions};
use lunettes_sinks::testing::DevClickHouse;
use lunettes_sinks::util::retry::RetryConfig;

/// Size of the simulated fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixtureConfig {
    /// Clusters of the decided batch.
    pub clusters: usize,
    /// Pods of the decided batch (all clusters).
    pub pods: usize,
    /// Pods of the live (in-progress) batch.
    pub live_pods: usize,
    /// Simulator seed.
    pub seed: u64,
}

impl Default for FixtureConfig {
    fn default() -> Self {
        FixtureConfig {
            clusters: 2,
            pods: 60,
            live_pods: 4,
            seed: 11,
        }
    }
}

/// A pod of the live batch: created, not decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePod {
    /// Cluster (`live-1`).
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// Time of its `pod:create:success`, µs.
    pub created_us: i64,
}

/// The filled server.
#[derive(Debug)]
pub struct Fixture {
    /// The dev ClickHouse (stopped when dropped).
    pub server: DevClickHouse,
    /// The database holding the tables.
    pub database: String,
    /// Latest version of every delivery written (decided batch).
    pub deliveries: Vec<Delivery>,
    /// Pods of the live batch.
    pub live: Vec<LivePod>,
    /// HyperEvents written.
    pub events: usize,
    /// Spans written.
    pub spans: usize,
}

impl Fixture {
    /// Deliveries matching `pred`.
    pub fn find(&self, pred: impl Fn(&Delivery) -> bool) -> Vec<&Delivery> {
        self.deliveries.iter().filter(|d| pred(d)).collect()
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Simulates `cfg.pods` over clusters named by the simulator (or renamed to
/// `rename` for the normalizer), normalizes and feeds the engine; returns
/// HyperEvents (those at or before `cut_us`) and the engine's outputs.
fn run(
    sim: &lunettes_loadtest::SimConfig,
    rename: Option<&str>,
    cut_us: i64,
    finish: bool,
) -> (Vec<HyperEvent>, Vec<Output>) {
    let (clusters, _truth) = lunettes_loadtest::simulate(sim);
    let mut engine = Engine::new(EngineConfig::default());
    let mut all = Vec::new();
    let mut out = Vec::new();
    for c in &clusters {
        let mut norm = Normalizer::new(rename.unwrap_or(&c.cluster).to_string());
        let mut events = Vec::new();
        for (name, lines) in [
            ("audit.log", &c.audit_lines),
            ("events.jsonl", &c.event_lines),
        ] {
            let report = norm.normalize_document(name, lines.join("\n").as_bytes(), &mut events);
            assert!(
                report.errors.is_empty(),
                "simulated {name} does not normalize: {:?}",
                report.errors.first()
            );
        }
        events.retain(|e| e.time_us <= cut_us);
        events.sort_by_key(|e| e.time_us);
        for e in &events {
            engine.process(e, &mut out);
        }
        all.extend(events);
    }
    if finish {
        engine.finish(&mut out);
    }
    (all, out)
}

async fn insert<R>(svc: &ClickHouseService, table: &str, rows: &[R])
where
    R: clickhouse::RowWrite + for<'a> clickhouse::Row<Value<'a> = R>,
{
    for chunk in rows.chunks(20_000) {
        svc.insert_once(table, chunk, "")
            .await
            .unwrap_or_else(|e| panic!("insert into {table}: {e}"));
    }
}

/// Starts a dev ClickHouse, migrates database `lunettes`, and writes both
/// batches. Panics when any step fails (a test must not run on a half
/// fixture).
pub async fn fixture(cfg: FixtureConfig) -> Fixture {
    let server = DevClickHouse::start();
    let database = "lunettes".to_string();
    migrate(
        &server.client(),
        &MigrateOptions {
            database: database.clone(),
            ttl_days: 30,
            alter_ttl: false,
        },
    )
    .await
    .expect("migrations apply");
    let now = now_us();
    let decided = lunettes_loadtest::SimConfig {
        clusters: cfg.clusters,
        pods: cfg.pods,
        seed: cfg.seed,
        start_us: now / 60_000_000 * 60_000_000 - 3 * 3_600_000_000,
        ..Default::default()
    };
    let (mut events, outputs) = run(&decided, None, now, true);
    let live_sim = lunettes_loadtest::SimConfig {
        clusters: 1,
        pods: cfg.live_pods,
        seed: cfg.seed + 1,
        start_us: now - 15_000_000,
        fault_rates: lunettes_loadtest::FaultRates::none(),
        ..Default::default()
    };
    let (live_events, live_outputs) = run(&live_sim, Some("live-1"), now, false);
    assert!(
        !live_outputs
            .iter()
            .any(|o| matches!(o, Output::Delivery(_))),
        "the live batch must not be decided yet"
    );
    let mut live: Vec<LivePod> = live_events
        .iter()
        .filter(|e| e.operations.iter().any(|op| op == "pod:create:success"))
        .map(|e| LivePod {
            cluster: e.cluster.clone(),
            namespace: e.object.namespace.clone(),
            name: e.object.name.clone(),
            uid: e.object.uid.clone(),
            created_us: e.time_us,
        })
        .collect();
    live.sort_by(|a, b| a.uid.cmp(&b.uid));
    live.dedup_by(|a, b| a.uid == b.uid);
    events.extend(live_events);

    let mut latest: std::collections::BTreeMap<String, Delivery> = Default::default();
    let (mut delivery_rows, mut span_rows, mut window_rows) = (Vec::new(), Vec::new(), Vec::new());
    for o in outputs.into_iter().chain(live_outputs) {
        match o {
            Output::Delivery(d) => {
                if latest.get(&d.id).is_none_or(|l| l.version < d.version) {
                    latest.insert(d.id.clone(), d.clone());
                }
                delivery_rows.push(DeliveryRow::from(d));
            }
            Output::Span(s) => span_rows.push(SpanRow::try_from(s).expect("span row")),
            Output::Window(w) => {
                if let Ok(Ok(row)) = window_row(w) {
                    window_rows.push(row);
                }
            }
        }
    }
    let event_rows: Vec<_> = events
        .into_iter()
        .filter_map(|e| hyperevent_row(e).ok().and_then(Result::ok))
        .collect();
    let svc = ClickHouseService::new(
        server.client().with_database(&database),
        RetryConfig::default(),
        Duration::from_secs(120),
    );
    insert(&svc, "hyperevents", &event_rows).await;
    insert(&svc, "deliveries", &delivery_rows).await;
    insert(&svc, "spans", &span_rows).await;
    insert(&svc, "slo_windows_1m", &window_rows).await;
    Fixture {
        server,
        database,
        deliveries: latest.into_values().collect(),
        live,
        events: event_rows.len(),
        spans: span_rows.len(),
    }
}
