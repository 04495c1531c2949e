//! `docker-compose.yml` is well-formed and internally consistent, and so are
//! the Grafana provisioning and Prometheus files it mounts.
//!
//! No Docker engine runs here, so the file is checked the way `docker compose
//! config` and a first `up` would fail on it: every `depends_on` names a
//! service, named volumes are declared, bind-mounted paths exist, published
//! host ports do not collide, every `${VAR}` has a default, the Grafana
//! provisioning variables are set in Grafana's environment and its dashboard
//! path is where the dashboards are mounted, and Prometheus scrapes every
//! worker on the port it serves metrics on. That each Lunettes command is a
//! real subcommand with real flags is checked against the built binary in
//! `cli/tests/deploy_files.rs`, which relies on the convention checked here:
//! Lunettes commands, and only they, are one-line JSON arrays.

use std::collections::{BTreeMap, BTreeSet};

use lunettes_deploy_tests::repo;
use regex::Regex;
use serde_yaml::Value;

const FILE: &str = "docker-compose.yml";

fn compose() -> Value {
    let mut v: Value = serde_yaml::from_str(&repo::read(FILE)).expect("docker-compose.yml parses");
    v.apply_merge().expect("merge keys resolve");
    v
}

fn services(v: &Value) -> BTreeMap<String, Value> {
    v["services"]
        .as_mapping()
        .expect("services is a mapping")
        .iter()
        .map(|(k, s)| (k.as_str().expect("service name").to_string(), s.clone()))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn is_lunettes(s: &Value) -> bool {
    s["image"].as_str().is_some_and(|i| i.contains("lunettes"))
}

fn command_words(s: &Value) -> Vec<String> {
    strings(&s["command"])
}

/// Environment as a map whichever form (map or `K=V` list) it has.
fn environment(s: &Value) -> BTreeMap<String, String> {
    match &s["environment"] {
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                (k.as_str().unwrap_or("").to_string(), v)
            })
            .collect(),
        Value::Sequence(list) => list
            .iter()
            .filter_map(|e| e.as_str())
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e.to_string(), String::new()),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// `(source, target)` of each volume entry (short syntax).
fn mounts(s: &Value) -> Vec<(String, String)> {
    strings(&s["volumes"])
        .iter()
        .map(|m| {
            let mut parts = m.split(':');
            let source = parts.next().unwrap_or("").to_string();
            let target = parts.next().unwrap_or("").to_string();
            (source, target)
        })
        .collect()
}

#[test]
fn services_volumes_and_dependencies_are_consistent() {
    let v = compose();
    let services = services(&v);
    let declared: BTreeSet<String> = v["volumes"]
        .as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut used_volumes = BTreeSet::new();
    for (name, s) in &services {
        assert!(
            s["image"].is_string() || s["build"].is_mapping(),
            "{name}: neither image nor build"
        );
        let deps: Vec<String> = match &s["depends_on"] {
            Value::Mapping(m) => m
                .keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect(),
            Value::Sequence(_) => strings(&s["depends_on"]),
            _ => Vec::new(),
        };
        for d in deps {
            assert!(
                services.contains_key(&d),
                "{name}: depends_on unknown service {d}"
            );
            assert_ne!(&d, name, "{name} depends on itself");
            let condition = s["depends_on"][d.as_str()]["condition"]
                .as_str()
                .unwrap_or("service_started");
            assert!(
                [
                    "service_started",
                    "service_healthy",
                    "service_completed_successfully"
                ]
                .contains(&condition),
                "{name}: unknown condition {condition}"
            );
            if condition == "service_healthy" {
                assert!(
                    services[&d]["healthcheck"].is_mapping(),
                    "{name} waits for {d} to be healthy but {d} has no healthcheck"
                );
            }
        }
        for (source, target) in mounts(s) {
            assert!(
                target.starts_with('/'),
                "{name}: mount target {target:?} is not absolute"
            );
            if source.starts_with("./") || source.starts_with('/') {
                let path = repo::root().join(source.trim_start_matches("./"));
                assert!(
                    path.exists(),
                    "{name}: bind mount source {source} does not exist"
                );
            } else {
                assert!(
                    declared.contains(&source),
                    "{name}: named volume {source} not declared under volumes:"
                );
                used_volumes.insert(source);
            }
        }
    }
    for d in &declared {
        assert!(
            used_volumes.contains(d),
            "volume {d} is declared but unused"
        );
    }
}

#[test]
fn published_ports_do_not_collide() {
    let v = compose();
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for (name, s) in services(&v) {
        for p in strings(&s["ports"]) {
            let parts: Vec<&str> = p.split(':').collect();
            let (ip, host) = match parts.as_slice() {
                [ip, host, _container] => (ip.to_string(), host.to_string()),
                [host, _container] => ("0.0.0.0".to_string(), host.to_string()),
                _ => panic!("{name}: port {p:?} must publish a host port"),
            };
            assert_eq!(ip, "127.0.0.1", "{name}: {p} should bind to 127.0.0.1 only");
            host.parse::<u16>()
                .unwrap_or_else(|_| panic!("{name}: host port {host} is not a number"));
            if let Some(other) = seen.insert((ip, host.clone()), name.clone()) {
                panic!("host port {host} published by both {other} and {name}");
            }
        }
    }
    assert!(seen.len() >= 6, "expected the UIs and APIs to be published");
}

#[test]
fn every_variable_reference_has_a_default() {
    let text = repo::read(FILE);
    // `$$` is a literal dollar for the container's shell.
    let text = text.replace("$$", "");
    let braced = Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}").expect("valid regex");
    let mut n = 0;
    for c in braced.captures_iter(&text) {
        n += 1;
        let rest = &c[2];
        assert!(
            rest.starts_with(":-") || rest.starts_with('-'),
            "${{{}}} has no default ({FILE}); write ${{{}:-value}}",
            &c[1],
            &c[1]
        );
    }
    assert!(
        n > 3,
        "expected defaults for image versions and simulator sizes"
    );
    let bare = Regex::new(r"\$[A-Za-z_]").expect("valid regex");
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        assert!(!bare.is_match(line), "unbraced variable in {FILE}: {line}");
    }
}

#[test]
fn required_components_are_there() {
    let v = compose();
    let s = services(&v);
    let image = |n: &str| s[n]["image"].as_str().unwrap_or("").to_string();
    assert!(image("kafka").starts_with("apache/kafka:"));
    let kafka_env = environment(&s["kafka"]);
    assert!(
        kafka_env["KAFKA_PROCESS_ROLES"].contains("controller"),
        "Kafka runs in KRaft mode"
    );
    assert!(!kafka_env.keys().any(|k| k.contains("ZOOKEEPER")));
    assert!(image("clickhouse").starts_with("clickhouse/clickhouse-server:"));
    assert!(image("jaeger").starts_with("jaegertracing/all-in-one:"));
    assert_eq!(environment(&s["jaeger"])["COLLECTOR_OTLP_ENABLED"], "true");
    assert!(
        environment(&s["grafana"])["GF_INSTALL_PLUGINS"].contains("grafana-clickhouse-datasource")
    );

    let lunettes: Vec<Vec<String>> = s
        .values()
        .filter(|x| is_lunettes(x))
        .map(command_words)
        .collect();
    let count = |prefix: &[&str]| {
        lunettes
            .iter()
            .filter(|c| c.starts_with(&prefix.iter().map(|p| p.to_string()).collect::<Vec<_>>()))
            .count()
    };
    assert_eq!(count(&["migrate"]), 1);
    assert_eq!(count(&["ingest", "webhook"]), 1);
    assert!(
        count(&["process"]) >= 2,
        "two processors share the partitions"
    );
    assert_eq!(count(&["sink", "clickhouse"]), 1);
    assert_eq!(count(&["sink", "otlp"]), 1);
    assert_eq!(count(&["api"]), 1);
    let sim = command_words(&s["simulator"]).join(" ");
    assert!(
        sim.contains("lunettes simulate") && sim.contains("lunettes ingest file"),
        "{sim}"
    );
    // The OTLP sink talks to Jaeger's OTLP gRPC port; the API and sinks to ClickHouse.
    assert!(command_words(&s["sink-otlp"])
        .iter()
        .any(|w| w == "http://jaeger:4317"));
    for n in ["migrate", "sink-clickhouse"] {
        assert!(
            command_words(&s[n])
                .iter()
                .any(|w| w == "http://clickhouse:8123"),
            "{n}"
        );
    }
    // Workers start after the schema exists and the broker is healthy.
    for (name, x) in s.iter().filter(|(_, x)| is_lunettes(x)) {
        if name == "migrate" {
            continue;
        }
        assert_eq!(
            x["depends_on"]["migrate"]["condition"].as_str(),
            Some("service_completed_successfully"),
            "{name} must wait for the migrations"
        );
    }
}

#[test]
fn lunettes_commands_are_one_line_json_arrays() {
    let text = repo::read(FILE);
    let one_line: Vec<Vec<String>> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("command: "))
        .filter(|rest| rest.starts_with('['))
        .map(|rest| {
            serde_json::from_str(rest)
                .unwrap_or_else(|e| panic!("command {rest} is not a JSON array: {e}"))
        })
        .collect();
    let v = compose();
    let mut expected: Vec<Vec<String>> = services(&v)
        .values()
        .filter(|s| is_lunettes(s))
        .map(command_words)
        .collect();
    let mut got = one_line.clone();
    // Interpolation happens in the YAML value too: compare after un-escaping `$$`.
    for c in got.iter_mut() {
        for w in c.iter_mut() {
            *w = w.replace("$$", "$");
        }
    }
    for c in expected.iter_mut() {
        for w in c.iter_mut() {
            *w = w.replace("$$", "$");
        }
    }
    got.sort();
    expected.sort();
    assert_eq!(
        got, expected,
        "every Lunettes service, and only they, write the command as a one-line JSON array"
    );
}

#[test]
fn grafana_provisioning_matches_the_mounts() {
    let v = compose();
    let s = services(&v);
    let grafana = &s["grafana"];
    let env = environment(grafana);
    let m = mounts(grafana);
    let target_of = |src: &str| m.iter().find(|(s, _)| s == src).map(|(_, t)| t.clone());
    assert_eq!(
        target_of("./deploy/grafana/provisioning").as_deref(),
        Some("/etc/grafana/provisioning")
    );
    let dashboards_target = target_of("./deploy/grafana/dashboards").expect("dashboards mounted");
    let provider = repo::yaml("deploy/grafana/provisioning/dashboards/lunettes.yaml");
    assert_eq!(
        provider["providers"][0]["options"]["path"].as_str(),
        Some(dashboards_target.as_str())
    );
    let home = &env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"];
    let home_file = home
        .strip_prefix(&format!("{dashboards_target}/"))
        .expect("home dashboard is a mounted dashboard");
    assert!(
        repo::root()
            .join("deploy/grafana/dashboards")
            .join(home_file)
            .exists(),
        "{home}"
    );
    // Variables used by the datasource file are set in Grafana's environment.
    let ds_text = repo::read("deploy/grafana/provisioning/datasources/clickhouse.yaml");
    let var = Regex::new(r"\$\{?([A-Z_][A-Z0-9_]*)\}?").expect("valid regex");
    let mut n = 0;
    for line in ds_text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for c in var.captures_iter(line) {
            n += 1;
            assert!(
                env.contains_key(&c[1]),
                "datasource uses ${} but Grafana's environment does not set it",
                &c[1]
            );
        }
    }
    assert!(n >= 3);
    assert_eq!(env["CLICKHOUSE_HOST"], "clickhouse");
    assert!(s.contains_key(&env["CLICKHOUSE_HOST"]));
}

#[test]
fn prometheus_scrapes_every_worker_where_it_serves_metrics() {
    let v = compose();
    let s = services(&v);
    let prom = repo::yaml("deploy/prometheus/prometheus.yml");
    let mut targets = BTreeSet::new();
    for job in prom["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
    {
        assert!(
            job["job_name"]
                .as_str()
                .is_some_and(|j| j.starts_with("lunettes")),
            "alerts select jobs by lunettes.*"
        );
        for sc in job["static_configs"].as_sequence().into_iter().flatten() {
            targets.extend(strings(&sc["targets"]));
        }
    }
    // Every long-running worker with a metrics address is scraped there.
    let mut expected = BTreeSet::new();
    for (name, x) in s.iter().filter(|(_, x)| is_lunettes(x)) {
        let words = command_words(x);
        if let Some(i) = words.iter().position(|w| w == "--metrics-addr") {
            let port = words[i + 1].rsplit(':').next().expect("port").to_string();
            expected.insert(format!("{name}:{port}"));
        }
    }
    assert!(expected.len() >= 5, "{expected:?}");
    assert_eq!(targets, expected);
    // The rule file Prometheus loads is the mounted alerts file.
    let rule_files = strings(&prom["rule_files"]);
    let m = mounts(&s["prometheus"]);
    for rf in &rule_files {
        let (source, _) = m
            .iter()
            .find(|(_, t)| t == rf)
            .unwrap_or_else(|| panic!("rule file {rf} is not mounted"));
        assert_eq!(source, "./deploy/prometheus/alerts.yaml");
    }
    let config_flag = strings(&s["prometheus"]["command"])
        .into_iter()
        .find_map(|w| w.strip_prefix("--config.file=").map(String::from))
        .expect("--config.file");
    assert!(m
        .iter()
        .any(|(src, t)| t == &config_flag && src == "./deploy/prometheus/prometheus.yml"));
}

#[test]
fn dockerfile_builds_the_cli_and_ships_the_config() {
    let text = repo::read("deploy/Dockerfile");
    assert!(
        text.contains("FROM rust:"),
        "multi-stage build from the official Rust image"
    );
    assert!(text.contains("cargo build --release --locked -p lunettes"));
    assert!(text.contains("ENTRYPOINT [\"lunettes\"]"));
    // Everything it copies exists.
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let src = line.split_whitespace().nth(1).expect("COPY source");
        if src != "." {
            assert!(
                repo::root().join(src).exists(),
                "Dockerfile copies missing {src}"
            );
        }
    }
    let v = compose();
    assert_eq!(
        v["x-lunettes"]["build"]["dockerfile"].as_str(),
        Some("deploy/Dockerfile")
    );
}
