//! `api/openapi.yaml` and the router agree: every route the router is built
//! from (the `routes()` table plus the telemetry routes) is documented, every
//! documented path is routed (a real server answers it with something other
//! than the fallback 404), and the spec is well-formed OpenAPI 3.0 whose
//! `$ref`s all resolve.

use std::collections::BTreeSet;
use std::time::Duration;

use lunettes_api::client::ApiClient;
use lunettes_api::page::OPENAPI_YAML;
use lunettes_api::server::{routes, start, ApiConfig, TELEMETRY_ROUTES};
use serde_yaml::Value;

fn spec() -> Value {
    serde_yaml::from_str(OPENAPI_YAML).expect("openapi.yaml parses")
}

fn spec_paths(spec: &Value) -> BTreeSet<String> {
    spec["paths"]
        .as_mapping()
        .expect("paths is a mapping")
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_route_is_documented_and_vice_versa() {
    let spec = spec();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.0"));
    let documented = spec_paths(&spec);
    let routed: BTreeSet<String> = routes()
        .into_iter()
        .map(|(p, _)| p.to_string())
        .chain(TELEMETRY_ROUTES.iter().map(|p| p.to_string()))
        .collect();
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "routes missing from openapi.yaml"
    );
    assert_eq!(
        documented.difference(&routed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "documented paths the router does not serve"
    );
    // Every path documents GET only (the router serves GET only), with a 200.
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        let methods: Vec<&str> = item
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(methods, ["get"], "{path:?}");
        assert!(
            !item["get"]["responses"]["200"].is_null(),
            "{path:?} documents 200"
        );
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                if k.as_str() == Some("$ref") {
                    out.push(v.as_str().unwrap().to_string());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Sequence(s) => s.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_ref_resolves() {
    let spec = spec();
    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    assert!(refs.len() > 10);
    for r in refs {
        let path = r
            .strip_prefix("#/")
            .unwrap_or_else(|| panic!("external ref {r}"));
        let mut node = &spec;
        for part in path.split('/') {
            node = &node[part];
        }
        assert!(!node.is_null(), "{r} does not resolve");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_path_is_served() {
    // No ClickHouse behind it: routing, validation and static files need none.
    let (_trigger, shutdown) = lunettes_runtime::Shutdown::new();
    let running = start(
        ApiConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
            clickhouse_url: "http://127.0.0.1:9".into(),
            database: "lunettes".into(),
            user: None,
            password: None,
            slo: Default::default(),
            timeout: Duration::from_secs(5),
        },
        shutdown,
    )
    .await
    .unwrap();
    let api = ApiClient::new(&format!("http://{}", running.addr)).unwrap();
    for path in spec_paths(&spec()) {
        let concrete = path
            .replace("{namespace}", "default")
            .replace("{name}", "web-0")
            .replace("{file}", "pod.js");
        let raw = api.get_raw(&concrete).await.unwrap();
        let expected = match path.as_str() {
            // Without parameters the API answers 400 naming one; 503 while
            // ClickHouse is unreachable.
            "/api/v1/debugpod" => 400,
            "/readyz" => 503,
            // The SLO view needs ClickHouse, which is unreachable here.
            "/api/v1/debugslo" => 502,
            _ => 200,
        };
        assert_eq!(
            raw.status,
            expected,
            "{concrete}: {}",
            String::from_utf8_lossy(&raw.body)
        );
    }
    let missing = api.get_raw("/static/nope.js").await.unwrap();
    assert_eq!(missing.status, 404);
    // The separate metrics listener serves the telemetry routes too.
    let metrics = ApiClient::new(&format!("http://{}", running.metrics_addr.unwrap())).unwrap();
    assert_eq!(metrics.get_raw("/healthz").await.unwrap().status, 200);
}
