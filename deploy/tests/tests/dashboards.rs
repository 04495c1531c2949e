//! Every Grafana panel, expanded the way the ClickHouse plugin expands it,
//! runs on the real ClickHouse engine over simulated fleet data.
//!
//! The data takes the shortest real path: simulator -> normalizer -> delivery
//! engine -> the ClickHouse sink's row builders and insert service -> the
//! tables created by the migrations (no Kafka in between: the sink tests
//! cover that hop). Then, per dashboard, the variable queries run first (their
//! options feed the panels), and every panel query runs twice: with every
//! variable on *All*, and with the values of one failing pod. A query must
//! not fail; the panels listed in `MUST_HAVE_DATA` must return rows with
//! non-null values, so a query that silently matches nothing (a wrong column,
//! a filter on the wrong type) fails here and not in front of a user.

use std::collections::BTreeMap;
use std::time::Duration;

use lunettes_deploy_tests::grafana::{self, ExpandContext, VarValue};
use lunettes_deploy_tests::repo;
use lunettes_loadtest::{Fault, FaultRates, SimConfig};
use lunettes_processor::{Engine, EngineConfig};
use lunettes_schemas::{HyperEvent, Output};
use lunettes_sinks::clickhouse::request_builder::{
    hyperevent_row, window_row, DeliveryRow, SpanRow,
};
use lunettes_sinks::clickhouse::{migrate, ClickHouseService, MigrateOptions};
use lunettes_sinks::testing::DevClickHouse;
use lunettes_sinks::util::retry::RetryConfig;
use serde_json::Value;

const DB: &str = "lunettes";

const DASHBOARDS: [&str; 4] = ["slo-overview", "diagnosis", "pod-debug", "delete-slo"];

/// (dashboard file, panel title): panels that must show data over the
/// simulated fleet, both with *All* and with the failing pod's values.
const MUST_HAVE_DATA: [(&str, &str); 22] = [
    ("slo-overview", "Create success rate (1m windows)"),
    ("slo-overview", "Create deliveries by result"),
    ("slo-overview", "Success rate by cluster (1m windows)"),
    ("slo-overview", "Success rate by cluster (1h windows)"),
    ("slo-overview", "Success rate by namespace (1h windows)"),
    ("slo-overview", "Pod startup SLI percentiles"),
    ("slo-overview", "Phase breakdown"),
    ("slo-overview", "Create deliveries by result (1m windows)"),
    ("diagnosis", "Diagnosis codes over time (1m windows)"),
    ("diagnosis", "Codes"),
    ("diagnosis", "Failures by node"),
    ("diagnosis", "Failures by namespace"),
    ("diagnosis", "Failures by workload"),
    ("diagnosis", "Top failing pods"),
    ("pod-debug", "Verdict"),
    ("pod-debug", "Summary"),
    ("pod-debug", "Phases"),
    ("pod-debug", "Trace (spans as a Gantt chart)"),
    ("pod-debug", "Spans"),
    ("pod-debug", "Timeline"),
    ("delete-slo", "Delete deliveries by result"),
    ("delete-slo", "Pods still terminating"),
];

/// Delete panels that need data only with *All* (a failing create pod is
/// not necessarily deleted).
const MUST_HAVE_DATA_ALL_ONLY: [(&str, &str); 4] = [
    ("delete-slo", "Delete success rate (1m windows)"),
    ("delete-slo", "Delete success rate by cluster (1m windows)"),
    ("delete-slo", "Delete duration percentiles"),
    ("delete-slo", "Delete failures by code and finalizer"),
];

fn service(server: &DevClickHouse) -> ClickHouseService {
    ClickHouseService::new(
        server.client().with_database(DB),
        RetryConfig {
            initial_backoff_ms: 10,
            max_backoff_ms: 100,
        },
        Duration::from_secs(120),
    )
}

/// Start of the simulated fleet: two hours before the current hour, so the
/// rows are inside the tables' TTL and the panels' time range covers them.
fn sim_start_us() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as i64;
    now / 3_600_000_000 * 3_600_000_000 - 2 * 3_600_000_000
}

/// Simulates a fleet, runs the engine and inserts every output and
/// HyperEvent into the migrated database. Returns the number of deliveries.
async fn load_fleet(server: &DevClickHouse) -> usize {
    let mut fault_rates = FaultRates::default();
    // Enough stuck deletes for the delete dashboard to have failures.
    fault_rates.set(Fault::StuckFinalizer, 0.05);
    let cfg = SimConfig {
        clusters: 2,
        pods: 400,
        seed: 11,
        start_us: sim_start_us(),
        fault_rates,
        ..SimConfig::default()
    };
    let (clusters, _truth) = lunettes_loadtest::simulate(&cfg);
    let mut engine = Engine::new(EngineConfig::default());
    let mut outputs = Vec::new();
    let mut hyperevents: Vec<HyperEvent> = Vec::new();
    for c in &clusters {
        let mut normalizer = lunettes_ingest::Normalizer::new(c.cluster.clone());
        let mut events = Vec::new();
        for (name, lines) in [
            ("audit.log", &c.audit_lines),
            ("events.jsonl", &c.event_lines),
        ] {
            let report =
                normalizer.normalize_document(name, lines.join("\n").as_bytes(), &mut events);
            assert!(
                report.errors.is_empty(),
                "{}: {:?}",
                c.cluster,
                report.errors.first()
            );
        }
        events.sort_by_key(|e| e.time_us);
        for e in &events {
            engine.process(e, &mut outputs);
        }
        hyperevents.extend(events);
    }
    engine.finish(&mut outputs);

    let (mut deliveries, mut spans, mut windows) = (Vec::new(), Vec::new(), Vec::new());
    for o in outputs {
        match o {
            Output::Delivery(d) => deliveries.push(DeliveryRow::from(d)),
            Output::Span(s) => spans.push(SpanRow::try_from(s).expect("span in range")),
            Output::Window(w) => {
                if let Ok(row) = window_row(w).expect("window in range") {
                    windows.push(row);
                }
            }
        }
    }
    let rows: Vec<_> = hyperevents
        .into_iter()
        .filter_map(|e| hyperevent_row(e).expect("event in range").ok())
        .collect();
    let svc = service(server);
    let n = deliveries.len();
    assert!(n > 300 && !spans.is_empty() && !windows.is_empty() && !rows.is_empty());
    svc.insert("deliveries", &deliveries, "", None, |_, _| {})
        .await
        .expect("insert deliveries");
    svc.insert("spans", &spans, "", None, |_, _| {})
        .await
        .expect("insert spans");
    svc.insert("slo_windows_1m", &windows, "", None, |_, _| {})
        .await
        .expect("insert windows");
    svc.insert("hyperevents", &rows, "", None, |_, _| {})
        .await
        .expect("insert hyperevents");
    n
}

/// Runs `sql` and returns the JSONCompact answer's data rows.
async fn rows(server: &DevClickHouse, sql: &str) -> Result<Vec<Vec<Value>>, String> {
    let bytes = server
        .client()
        .with_database(DB)
        .query_raw(sql)
        .fetch_bytes("JSONCompact")
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("answer is not JSON: {e}"))?;
    Ok(v["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.as_array().cloned().unwrap_or_default())
        .collect())
}

/// Column name -> type over the tables and views of the database.
async fn column_types(server: &DevClickHouse) -> BTreeMap<String, Vec<String>> {
    let sql = format!("SELECT name, type FROM system.columns WHERE database = '{DB}'");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows(server, &sql).await.expect("system.columns") {
        let (name, ty) = (r[0].as_str().unwrap_or(""), r[1].as_str().unwrap_or(""));
        out.entry(name.to_string())
            .or_default()
            .push(ty.to_string());
    }
    out
}

/// The pod the "specific values" run looks at: a failed create with spans
/// and a node, and its cluster, namespace, name and code.
struct FailingPod {
    uid: String,
    cluster: String,
    namespace: String,
    name: String,
    code: String,
}

async fn failing_pod(server: &DevClickHouse) -> FailingPod {
    let sql = "SELECT uid, cluster, namespace, name, code FROM deliveries FINAL \
               WHERE action = 'create' AND result = 'fail' AND node != '' AND uid != '' \
               AND uid IN (SELECT PodUid FROM spans) AND schedule_ms IS NOT NULL \
               ORDER BY created_at LIMIT 1";
    let r = rows(server, sql).await.expect("failing pod query");
    let r = r
        .first()
        .expect("the simulated fleet has a failed, scheduled pod with spans");
    let s = |i: usize| r[i].as_str().unwrap_or("").to_string();
    FailingPod {
        uid: s(0),
        cluster: s(1),
        namespace: s(2),
        name: s(3),
        code: s(4),
    }
}

/// True when a result has a row with at least one non-null, non-empty value
/// besides the first column (the time or the label).
fn has_data(result: &[Vec<Value>]) -> bool {
    result.iter().any(|row| {
        row.iter()
            .skip(usize::from(row.len() > 1))
            .any(|v| match v {
                Value::Null => false,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            })
    })
}

fn load_dashboard(name: &str) -> Value {
    serde_json::from_str(&repo::read(&format!(
        "deploy/grafana/dashboards/{name}.json"
    )))
    .unwrap_or_else(|e| panic!("{name}.json is not JSON: {e}"))
}

/// Checks that the time macros match the column types: `$__timeFilter` and
/// `$__timeInterval` on `DateTime`, the `_ms` forms on `DateTime64`.
fn check_macro_types(
    dashboard: &str,
    sql: &str,
    types: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let re =
        regex::Regex::new(r"\$__(timeFilter|timeInterval)(_ms)?\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")
            .expect("valid regex");
    let mut problems = Vec::new();
    for c in re.captures_iter(sql) {
        let column = &c[3];
        let want64 = c.get(2).is_some();
        let Some(tys) = types.get(column) else {
            problems.push(format!("{dashboard}: {} on unknown column {column}", &c[0]));
            continue;
        };
        for ty in tys {
            let is64 = ty.starts_with("DateTime64");
            let is_dt = ty.starts_with("DateTime(") || ty == "DateTime";
            if (want64 && !is64) || (!want64 && !is_dt) {
                problems.push(format!("{dashboard}: {} but {column} is {ty}", &c[0]));
            }
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_runs_on_clickhouse_and_the_key_panels_have_data() {
    let server = DevClickHouse::start();
    let options = MigrateOptions {
        database: DB.into(),
        ttl_days: 30,
        alter_ttl: false,
    };
    migrate(&server.client(), &options)
        .await
        .expect("migrations");
    let deliveries = load_fleet(&server).await;
    let pod = failing_pod(&server).await;
    let types = column_types(&server).await;

    let start_ms = sim_start_us() / 1000;
    let now_ms = start_ms + 4 * 3_600_000;
    let mut failures = Vec::new();
    let mut ran = 0;
    for name in DASHBOARDS {
        let dashboard = load_dashboard(name);
        let queries = grafana::panel_queries(&dashboard);
        assert!(!queries.is_empty(), "{name}: no panel queries");
        for q in &queries {
            failures.extend(check_macro_types(name, &q.raw_sql, &types));
        }
        for specific in [false, true] {
            let mut ctx = ExpandContext {
                from_ms: start_ms - 3_600_000,
                to_ms: now_ms,
                interval_ms: 60_000,
                vars: BTreeMap::new(),
            };
            // Variables in order: each one's query sees the ones before it.
            for var in grafana::variables(&dashboard) {
                let options: Vec<String> = match var.kind.as_str() {
                    "query" => {
                        let raw = var.query.clone().unwrap_or_default();
                        failures.extend(check_macro_types(name, &raw, &types));
                        let sql = match grafana::expand(&raw, &ctx) {
                            Ok(s) => s,
                            Err(e) => {
                                failures.push(format!("{name}: variable {}: {e}", var.name));
                                continue;
                            }
                        };
                        match rows(&server, &sql).await {
                            Ok(r) => r
                                .iter()
                                .filter_map(|row| row.first()?.as_str().map(String::from))
                                .collect(),
                            Err(e) => {
                                failures.push(format!("{name}: variable {}: {e}\n{sql}", var.name));
                                Vec::new()
                            }
                        }
                    }
                    "custom" => var.custom_options.clone(),
                    _ => Vec::new(),
                };
                if var.kind == "query" && options.is_empty() {
                    failures.push(format!(
                        "{name}: variable {} has no options over the fleet",
                        var.name
                    ));
                }
                let pick = |want: &str| -> VarValue {
                    if options.iter().any(|o| o == want) {
                        VarValue::Multi(vec![want.to_string()])
                    } else {
                        VarValue::Multi(options.iter().take(1).cloned().collect())
                    }
                };
                let value = match (var.name.as_str(), specific, var.kind.as_str()) {
                    ("uid", true, _) => VarValue::Single(pod.uid.clone()),
                    // The All run looks the pod up by namespace and name instead.
                    ("uid", false, _) => VarValue::Single(String::new()),
                    ("namespace", _, "textbox") => VarValue::Single(pod.namespace.clone()),
                    ("name", _, "textbox") => VarValue::Single(pod.name.clone()),
                    ("action", _, "custom") => VarValue::Single("create".into()),
                    (_, false, _) if var.include_all => VarValue::All(options.clone()),
                    ("cluster", true, _) => pick(&pod.cluster),
                    ("namespace", true, _) => pick(&pod.namespace),
                    ("code", true, _) => pick(&pod.code),
                    _ => VarValue::Single(options.first().cloned().unwrap_or_default()),
                };
                ctx.vars.insert(var.name.clone(), value);
            }
            for q in &queries {
                let sql = match grafana::expand(&q.raw_sql, &ctx) {
                    Ok(s) => s,
                    Err(e) => {
                        failures.push(format!("{name} / {}: {e}", q.panel));
                        continue;
                    }
                };
                ran += 1;
                let result = match rows(&server, &sql).await {
                    Ok(r) => r,
                    Err(e) => {
                        failures.push(format!("{name} / {}: {e}\n{sql}", q.panel));
                        continue;
                    }
                };
                let key = (name, q.panel.as_str());
                let must = MUST_HAVE_DATA.contains(&key)
                    || (!specific && MUST_HAVE_DATA_ALL_ONLY.contains(&key));
                if must && !has_data(&result) {
                    failures.push(format!(
                        "{name} / {} ({}): no data\n{sql}",
                        q.panel,
                        if specific {
                            "failing pod's values"
                        } else {
                            "All"
                        }
                    ));
                }
            }
        }
    }
    // Every listed panel exists (a renamed panel must not pass unchecked).
    for (d, p) in MUST_HAVE_DATA.iter().chain(MUST_HAVE_DATA_ALL_ONLY.iter()) {
        let dashboard = load_dashboard(d);
        if !grafana::panel_queries(&dashboard)
            .iter()
            .any(|q| q.panel == *p)
        {
            failures.push(format!("{d}: no panel titled {p:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("{ran} panel queries ran over {deliveries} deliveries");
}

#[test]
fn dashboards_are_provisionable() {
    let provisioning = repo::yaml("deploy/grafana/provisioning/dashboards/lunettes.yaml");
    let uid_ds = repo::yaml("deploy/grafana/provisioning/datasources/clickhouse.yaml");
    let ds = &uid_ds["datasources"][0];
    assert_eq!(ds["type"].as_str(), Some("grafana-clickhouse-datasource"));
    let ds_uid = ds["uid"].as_str().expect("datasource uid");
    assert_eq!(ds["jsonData"]["defaultDatabase"].as_str(), Some(DB));
    assert_eq!(provisioning["providers"][0]["type"].as_str(), Some("file"));
    let mut uids = Vec::new();
    for name in DASHBOARDS {
        let d = load_dashboard(name);
        let uid = d["uid"].as_str().expect("dashboard uid").to_string();
        assert!(uid.len() <= 40, "{name}: uid too long for Grafana");
        assert!(!uids.contains(&uid), "{name}: duplicate uid {uid}");
        uids.push(uid);
        let mut ids = Vec::new();
        for p in d["panels"].as_array().expect("panels") {
            let id = p["id"].as_i64().expect("panel id");
            assert!(!ids.contains(&id), "{name}: duplicate panel id {id}");
            ids.push(id);
            assert_eq!(
                p["datasource"]["uid"].as_str(),
                Some(ds_uid),
                "{name}: panel {id} datasource"
            );
            for t in p["targets"].as_array().expect("targets") {
                assert_eq!(
                    t["datasource"]["uid"].as_str(),
                    Some(ds_uid),
                    "{name}: panel {id} target datasource"
                );
                assert_eq!(t["editorType"].as_str(), Some("sql"));
                let raw = t["rawSql"].as_str().unwrap_or("");
                assert!(
                    raw.contains("$__timeFilter") || raw.contains("$__fromTime"),
                    "{name}: panel {id} ignores the time range"
                );
                // deliveries, spans and hyperevents replace rows: read them with FINAL.
                for table in ["deliveries", "spans", "hyperevents", "slo_windows_1m"] {
                    let from = format!("FROM {table}");
                    if let Some(at) = raw.find(&from) {
                        let after = &raw[at + from.len()..];
                        assert!(
                            after.trim_start().starts_with("FINAL"),
                            "{name}: panel {id} reads {table} without FINAL"
                        );
                    }
                }
            }
        }
    }
    // Links between dashboards point at existing uids.
    let link = regex::Regex::new(r"/d/([a-z0-9-]+)/").expect("valid regex");
    for name in DASHBOARDS {
        let text = repo::read(&format!("deploy/grafana/dashboards/{name}.json"));
        for cap in link.captures_iter(&text) {
            assert!(
                uids.iter().any(|u| u == &cap[1]),
                "{name}: link to unknown dashboard {}",
                &cap[1]
            );
        }
    }
}
