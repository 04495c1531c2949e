//! The API against the real ClickHouse engine (dev server) holding rows made
//! by the real pipeline parts (simulator -> normalizer -> engine -> sink row
//! builders): answers are checked against what the engine decided, bad input
//! against the 400 contract, and 50 concurrent requests against their
//! sequential answers.
//!
//! One fixture per test binary (starting the engine and filling it takes
//! seconds), so the checks are steps of one test, each a function.

use std::collections::BTreeSet;
use std::time::Duration;

use lunettes_api::client::ApiClient;
use lunettes_api::model::{DebugPodAnswer, PodReport};
use lunettes_api::server::{start, ApiConfig};
use lunettes_api::testing::{fixture, Fixture, FixtureConfig};
use lunettes_api::Error;
use lunettes_processor::SloConfig;
use lunettes_schemas::time::{format_rfc3339_micros, parse_rfc3339};
use lunettes_schemas::{Action, Delivery, DeliveryResult};

fn us(s: &str) -> i64 {
    parse_rfc3339(s)
        .unwrap_or_else(|| panic!("bad time {s:?}"))
        .0
}

fn q(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

async fn pod(api: &ApiClient, pairs: &[(&'static str, &str)]) -> PodReport {
    match api.debugpod(&q(pairs)).await.expect("debugpod") {
        DebugPodAnswer::Pod(p) => *p,
        other => panic!("expected one pod, got {other:?}"),
    }
}

/// Checks `v` against the schema `name` of `api/openapi.yaml`: every object
/// key is documented, every required key present, types and enums hold, so
/// the answers and the spec cannot drift apart.
fn conforms(v: &serde_json::Value, name: &str) {
    let spec: serde_json::Value =
        serde_yaml::from_str(lunettes_api::page::OPENAPI_YAML).expect("spec parses");
    let schema = spec["components"]["schemas"][name].clone();
    assert!(!schema.is_null(), "no schema {name}");
    check(&spec, v, &schema, name);
}

fn check(spec: &serde_json::Value, v: &serde_json::Value, schema: &serde_json::Value, at: &str) {
    use serde_json::Value;
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        return check(spec, v, &spec["components"]["schemas"][name], at);
    }
    if v.is_null() {
        assert!(
            schema["nullable"] == Value::Bool(true),
            "{at}: null but not nullable"
        );
        return;
    }
    if let Some(all) = schema["allOf"].as_array() {
        return all.iter().for_each(|s| check(spec, v, s, at));
    }
    if let Some(one) = schema["oneOf"].as_array() {
        let kind = v["kind"].as_str().unwrap_or_default();
        let pick = one
            .iter()
            .find(|s| {
                let name = s["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
                spec["components"]["schemas"][name]["properties"]["kind"]["enum"][0] == kind
            })
            .unwrap_or_else(|| panic!("{at}: kind {kind:?} matches no oneOf"));
        return check(spec, v, pick, at);
    }
    if let Some(values) = schema["enum"].as_array() {
        assert!(values.contains(v), "{at}: {v} not in {values:?}");
    }
    match schema["type"].as_str() {
        Some("object") => {
            let obj = v
                .as_object()
                .unwrap_or_else(|| panic!("{at}: not an object"));
            let props = &schema["properties"];
            for (k, val) in obj {
                if props.is_object() {
                    let p = &props[k];
                    assert!(!p.is_null(), "{at}.{k} is not documented");
                    check(spec, val, p, &format!("{at}.{k}"));
                } else {
                    check(
                        spec,
                        val,
                        &schema["additionalProperties"],
                        &format!("{at}.{k}"),
                    );
                }
            }
            for r in schema["required"].as_array().into_iter().flatten() {
                assert!(
                    obj.contains_key(r.as_str().unwrap()),
                    "{at}: required {r} missing"
                );
            }
        }
        Some("array") => {
            for (i, item) in v
                .as_array()
                .unwrap_or_else(|| panic!("{at}: not an array"))
                .iter()
                .enumerate()
            {
                check(spec, item, &schema["items"], &format!("{at}[{i}]"));
            }
        }
        Some("string") => assert!(v.is_string(), "{at}: not a string"),
        Some("integer") => assert!(v.is_i64() || v.is_u64(), "{at}: not an integer"),
        Some("number") => assert!(v.is_number(), "{at}: not a number"),
        Some("boolean") => assert!(v.is_boolean(), "{at}: not a boolean"),
        _ => {}
    }
}

fn failing_create(fx: &Fixture) -> &Delivery {
    fx.find(|d| {
        d.action == Action::Create && d.result == DeliveryResult::Fail && !d.code.is_empty()
    })
    .into_iter()
    .next()
    .expect("the simulated fleet has a failed create delivery")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_api_over_simulated_fleet() {
    let fx = fixture(FixtureConfig::default()).await;
    let (_trigger, shutdown) = lunettes_runtime::Shutdown::new();
    let running = start(
        ApiConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            metrics_addr: None,
            clickhouse_url: fx.server.url().to_string(),
            database: fx.database.clone(),
            user: None,
            password: None,
            slo: SloConfig::default(),
            timeout: Duration::from_secs(60),
        },
        shutdown,
    )
    .await
    .expect("api starts");
    let api = ApiClient::new(&format!("http://{}", running.addr)).unwrap();

    failed_pod_by_uid(&fx, &api).await;
    pod_by_name_and_errors_only(&fx, &api).await;
    in_progress_pod_has_estimated_deadline(&fx, &api).await;
    node_and_ip_lists(&fx, &api).await;
    slo_distributions(&fx, &api).await;
    bad_input_is_400_naming_the_parameter(&api).await;
    unknown_pod_is_404(&api).await;
    concurrent_requests_agree(&fx, &api).await;
    health_and_metrics(&api).await;
}

async fn failed_pod_by_uid(fx: &Fixture, api: &ApiClient) {
    let d = failing_create(fx);
    let raw = api
        .get_raw(&format!("/api/v1/debugpod?uid={}", d.uid))
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
    assert_eq!(json["kind"], "pod");
    conforms(&json, "PodReport");
    let p = pod(api, &[("uid", &d.uid)]).await;
    assert_eq!(p.status, "decided");
    assert_eq!(p.pod.uid, d.uid);
    assert_eq!(
        (p.pod.namespace.as_str(), p.pod.name.as_str()),
        (d.namespace.as_str(), d.name.as_str())
    );
    assert_eq!(p.pod.cluster, d.cluster);
    assert_eq!(p.pod.node, d.node);
    let v = p.verdict.as_ref().expect("verdict");
    assert_eq!(v.result, "fail");
    assert_eq!(v.code, d.code);
    assert_eq!(v.summary, d.summary);
    assert_eq!(v.version, d.version, "the latest version is answered");
    assert_eq!(v.sub_reason, d.sub_reason);
    let deadline = p.deadline.as_ref().expect("deadline");
    assert_eq!(deadline.source, "verdict");
    assert_eq!(Some(us(&deadline.at)), d.deadline_us);
    assert!(deadline.passed);
    // Phases: exact ones start at creation; an unfinished phase runs to the verdict.
    assert!(!p.phases.is_empty(), "a failed create has phases");
    assert_eq!(us(&p.phases[0].start), d.created_at_us);
    if d.finished_at_us.is_none() {
        let last = p.phases.last().unwrap();
        assert_eq!(last.name, "unfinished");
        assert_eq!(us(&last.end), d.decided_at_us);
    }
    // Timeline: every event of the pod, oldest first, the create among them.
    assert!(p.timeline.total >= 3, "{:?}", p.timeline);
    let listed: u32 = p.timeline.events.iter().map(|e| e.repeats).sum();
    assert_eq!(
        listed as usize, p.timeline.total,
        "every record is listed or counted"
    );
    let times: Vec<i64> = p.timeline.events.iter().map(|e| us(&e.time)).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert!(p
        .timeline
        .events
        .iter()
        .any(|e| e.operations.iter().any(|o| o == "pod:create:success")));
    assert!(p.timeline.errors >= 1, "a failed pod has error events");
    // Spans: the root carries the code, children point at it.
    let root = p
        .spans
        .iter()
        .find(|s| s.parent_span_id.is_empty())
        .expect("root span");
    assert_eq!(root.status, "Error");
    assert_eq!(root.status_message, d.code);
    assert_eq!(root.trace_id, d.trace_id);
    assert!(p
        .spans
        .iter()
        .filter(|s| !s.parent_span_id.is_empty())
        .all(|s| s.parent_span_id == root.span_id || s.trace_id != root.trace_id));
    assert!(!p.pod.images.is_empty(), "images from pull spans or events");
    assert_eq!(
        p.deliveries.iter().filter(|v| v.action == "create").count(),
        1
    );
}

async fn pod_by_name_and_errors_only(fx: &Fixture, api: &ApiClient) {
    let d = failing_create(fx);
    let by_name = pod(
        api,
        &[
            ("namespace", &d.namespace),
            ("name", &d.name),
            ("cluster", &d.cluster),
        ],
    )
    .await;
    assert_eq!(by_name.pod.uid, d.uid);
    let errors = pod(api, &[("uid", &d.uid), ("errors_only", "true")]).await;
    assert!(errors.timeline.errors_only);
    let listed: u32 = errors.timeline.events.iter().map(|e| e.repeats).sum();
    assert_eq!(listed as usize, errors.timeline.errors);
    assert!(errors.timeline.events.iter().all(|e| e.error));
    assert_eq!(errors.timeline.total, by_name.timeline.total);
}

async fn in_progress_pod_has_estimated_deadline(fx: &Fixture, api: &ApiClient) {
    assert!(!fx.live.is_empty(), "the live batch created pods");
    let slo = SloConfig::default();
    for live in &fx.live {
        let p = pod(api, &[("uid", &live.uid)]).await;
        conforms(
            &serde_json::to_value(DebugPodAnswer::Pod(Box::new(p.clone()))).unwrap(),
            "PodReport",
        );
        assert_eq!(p.status, "in_progress", "{}", live.uid);
        assert!(p.verdict.is_none());
        let deadline = p
            .deadline
            .as_ref()
            .expect("an in-progress pod has a deadline");
        let (_, slo_us) = slo.slo_for(&live.namespace, None);
        assert_eq!(deadline.source, "estimate");
        assert_eq!(us(&deadline.created_at), live.created_us);
        assert_eq!(us(&deadline.at), live.created_us + slo_us.unwrap());
        assert!(!deadline.passed, "created seconds ago, SLO 90 s");
        assert!(deadline.remaining_ms > 0 && deadline.remaining_ms <= 90_000);
        assert!(p.phases.is_empty());
        assert!(p.timeline.total >= 1);
    }
}

async fn node_and_ip_lists(fx: &Fixture, api: &ApiClient) {
    let d = failing_create(fx);
    let d = if d.node.is_empty() {
        fx.find(|x| x.action == Action::Create && !x.node.is_empty())[0]
    } else {
        d
    };
    let on_node: BTreeSet<&str> = fx
        .find(|x| x.node == d.node && x.cluster == d.cluster)
        .iter()
        .map(|x| x.uid.as_str())
        .collect();
    let list = match api
        .debugpod(&q(&[
            ("node", &d.node),
            ("cluster", &d.cluster),
            ("limit", "1000"),
        ]))
        .await
        .unwrap()
    {
        DebugPodAnswer::PodList(l) => l,
        other => panic!("expected a list, got {other:?}"),
    };
    conforms(
        &serde_json::to_value(DebugPodAnswer::PodList(list.clone())).unwrap(),
        "PodList",
    );
    let listed: BTreeSet<&str> = list.pods.iter().map(|p| p.uid.as_str()).collect();
    assert!(
        on_node.is_subset(&listed),
        "every pod with a verdict on {} is listed",
        d.node
    );
    assert!(list
        .pods
        .iter()
        .any(|p| p.uid == d.uid && p.result == d.result.as_str()));
    let starts: Vec<i64> = list.pods.iter().map(|p| us(&p.created_at)).collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // A limit truncates and says so.
    if list.pods.len() > 1 {
        match api
            .debugpod(&q(&[
                ("node", &d.node),
                ("cluster", &d.cluster),
                ("limit", "1"),
            ]))
            .await
            .unwrap()
        {
            DebugPodAnswer::PodList(l) => assert!(l.truncated && l.pods.len() == 1),
            other => panic!("expected a list, got {other:?}"),
        }
    }
    let with_ip = fx.find(|x| !x.pod_ip.is_empty())[0];
    match api
        .debugpod(&q(&[("podip", &with_ip.pod_ip)]))
        .await
        .unwrap()
    {
        DebugPodAnswer::PodList(l) => assert!(l.pods.iter().any(|p| p.uid == with_ip.uid)),
        other => panic!("expected a list, got {other:?}"),
    }
}

async fn slo_distributions(fx: &Fixture, api: &ApiClient) {
    let range = [("from", "now-6h"), ("to", "now")];
    let creates: Vec<&Delivery> = fx.find(|d| d.action == Action::Create);
    let r = api
        .debugslo(&q(&[range[0], range[1], ("limit", "1000")]))
        .await
        .unwrap();
    assert_eq!(r.query.action, "create");
    assert_eq!(r.overall.total as usize, creates.len());
    let success = creates
        .iter()
        .filter(|d| d.result == DeliveryResult::Success)
        .count();
    assert_eq!(r.overall.success as usize, success);
    assert_eq!(
        r.overall.success_rate,
        Some(success as f64 / creates.len() as f64)
    );
    for b in &r.by_cluster {
        let n = creates.iter().filter(|d| d.cluster == b.key).count();
        assert_eq!(b.total as usize, n, "cluster {}", b.key);
    }
    assert_eq!(
        r.by_cluster.iter().map(|b| b.total).sum::<u64>(),
        r.overall.total
    );
    assert_eq!(
        r.by_namespace.iter().map(|b| b.total).sum::<u64>(),
        r.overall.total
    );
    assert_eq!(
        r.by_node.iter().map(|b| b.total).sum::<u64>(),
        r.overall.total
    );
    let failed = creates.iter().filter(|d| !d.code.is_empty()).count();
    assert_eq!(
        r.by_code.iter().map(|b| b.total).sum::<u64>() as usize,
        failed
    );
    assert_eq!(r.pods.len(), creates.len());
    let decided: Vec<i64> = r
        .pods
        .iter()
        .map(|p| us(p.decided_at.as_deref().unwrap()))
        .collect();
    assert!(
        decided.windows(2).all(|w| w[0] >= w[1]),
        "newest verdict first"
    );

    // Filters.
    let d = failing_create(fx);
    let r = api
        .debugslo(&q(&[
            range[0],
            range[1],
            ("cluster", &d.cluster),
            ("result", "fail"),
            ("code", &d.code),
        ]))
        .await
        .unwrap();
    let expect = creates
        .iter()
        .filter(|x| x.cluster == d.cluster && x.result == DeliveryResult::Fail && x.code == d.code)
        .count();
    assert_eq!(r.overall.total as usize, expect);
    assert!(r
        .pods
        .iter()
        .all(|p| p.code == d.code && p.result == "fail" && p.cluster == d.cluster));
    assert_eq!(r.overall.success_rate, Some(0.0));
    let deletes = fx.find(|d| d.action == Action::Delete).len();
    let r = api
        .debugslo(&q(&[
            range[0],
            range[1],
            ("type", "delete"),
            ("limit", "2"),
        ]))
        .await
        .unwrap();
    assert_eq!(r.overall.total as usize, deletes);
    assert!(r.pods.len() <= 2 && r.pods_truncated == (deletes > 2));
    // A range before any data is empty, not an error.
    let r = api
        .debugslo(&q(&[
            ("from", "2020-01-01T00:00:00Z"),
            ("to", "2020-01-02T00:00:00Z"),
        ]))
        .await
        .unwrap();
    assert_eq!(r.overall.total, 0);
    assert_eq!(r.overall.success_rate, None);
}

async fn bad_input_is_400_naming_the_parameter(api: &ApiClient) {
    for (path, query, param) in [
        ("/api/v1/debugpod", "", "uid"),
        ("/api/v1/debugpod", "uid=x'%20OR%201=1", "uid"),
        ("/api/v1/debugpod", "namespace=Bad_NS&name=x", "namespace"),
        ("/api/v1/debugpod", "podip=999.1.1.1", "podip"),
        ("/api/v1/debugpod", "uid=a&bogus=1", "bogus"),
        ("/api/v1/debugslo", "type=update", "type"),
        ("/api/v1/debugslo", "from=tomorrow", "from"),
        ("/api/v1/debugslo", "result=great", "result"),
        ("/api/v1/debugslo", "limit=-3", "limit"),
    ] {
        let raw = api.get_raw(&format!("{path}?{query}")).await.unwrap();
        assert_eq!(raw.status, 400, "{path}?{query}");
        assert!(raw.content_type.starts_with("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
        conforms(&body, "Error");
        assert_eq!(body["error"]["parameter"], param, "{path}?{query}: {body}");
        assert_eq!(body["error"]["status"], 400);
        assert!(body["error"]["message"].as_str().unwrap().len() > 5);
    }
    // The typed client surfaces the server's message.
    match api.debugpod(&q(&[("node", "UPPER")])).await {
        Err(Error::Remote {
            status: 400,
            message,
            ..
        }) => assert!(message.contains("node"), "{message}"),
        other => panic!("expected a 400, got {other:?}"),
    }
}

async fn unknown_pod_is_404(api: &ApiClient) {
    let raw = api
        .get_raw("/api/v1/debugpod?uid=00000000-dead-beef-0000-000000000000")
        .await
        .unwrap();
    assert_eq!(raw.status, 404);
    let body: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("00000000-dead-beef"));
    let raw = api.get_raw("/api/v1/nothing").await.unwrap();
    assert_eq!(raw.status, 404);
}

async fn concurrent_requests_agree(fx: &Fixture, api: &ApiClient) {
    // Sequential answers first, then 50 requests at once over a mix of pods
    // and queries; every concurrent answer must equal its sequential one
    // (`now` and the deadline countdown aside).
    let with_uid = fx.find(|d| !d.uid.is_empty());
    let pods: Vec<&Delivery> = with_uid
        .iter()
        .copied()
        .step_by((with_uid.len() / 10).max(1))
        .take(10)
        .collect();
    let mut queries: Vec<Vec<(&'static str, String)>> = Vec::new();
    for d in &pods {
        queries.push(q(&[("uid", &d.uid)]));
        queries.push(q(&[
            ("namespace", &d.namespace),
            ("name", &d.name),
            ("cluster", &d.cluster),
            ("errors_only", "1"),
        ]));
    }
    let normalize = |a: DebugPodAnswer| match a {
        DebugPodAnswer::Pod(mut p) => {
            p.now.clear();
            if let Some(d) = p.deadline.as_mut() {
                d.remaining_ms = 0;
            }
            serde_json::to_string(&p).unwrap()
        }
        DebugPodAnswer::PodList(mut l) => {
            l.now.clear();
            serde_json::to_string(&l).unwrap()
        }
    };
    let mut expected = Vec::new();
    let sequential_started = std::time::Instant::now();
    for query in &queries {
        expected.push(normalize(api.debugpod(query).await.unwrap()));
    }
    let sequential = sequential_started.elapsed();
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let api = api.clone();
        let query = queries[i % queries.len()].clone();
        tasks.push(tokio::spawn(async move { (i, api.debugpod(&query).await) }));
    }
    let mut slo_tasks = Vec::new();
    for _ in 0..5 {
        let api = api.clone();
        slo_tasks.push(tokio::spawn(async move {
            api.debugslo(&q(&[("from", "now-6h")])).await
        }));
    }
    for t in tasks {
        let (i, answer) = t.await.unwrap();
        let answer = answer.unwrap_or_else(|e| panic!("concurrent request {i} failed: {e}"));
        assert_eq!(
            normalize(answer),
            expected[i % queries.len()],
            "request {i}"
        );
    }
    let totals: BTreeSet<u64> = {
        let mut s = BTreeSet::new();
        for t in slo_tasks {
            s.insert(t.await.unwrap().unwrap().overall.total);
        }
        s
    };
    assert_eq!(totals.len(), 1, "concurrent debugslo answers agree");
    println!(
        "50 concurrent debugpod + 5 debugslo requests answered in {:?} ({} sequential debugpod queries took {:?})",
        started.elapsed(),
        queries.len(),
        sequential
    );
}

async fn health_and_metrics(api: &ApiClient) {
    let raw = api.get_raw("/healthz").await.unwrap();
    assert_eq!(raw.status, 200);
    let mut ready = 0;
    for _ in 0..50 {
        ready = api.get_raw("/readyz").await.unwrap().status;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200, "ready once ClickHouse answers");
    let raw = api.get_raw("/metrics").await.unwrap();
    let text = String::from_utf8_lossy(&raw.body);
    assert!(
        text.contains("lunettes_api_requests_total{route=\"/api/v1/debugpod\",status=\"200\"}"),
        "{text}"
    );
    assert!(text.contains("lunettes_api_requests_total{route=\"/api/v1/debugpod\",status=\"400\"}"));
    let _ = format_rfc3339_micros(0);
}
