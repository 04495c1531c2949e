//! The Helm chart, rendered and linted by Helm's own Go SDK, produces
//! manifests that hang together: selectors select, probes and scrape
//! annotations point at served ports, Services reach their pods, the webhook
//! kubeconfig names a real Service, RBAC is read-only, the audit policy is
//! the repository's, and every value is documented.

use std::collections::BTreeSet;

use lunettes_deploy_tests::{helm, repo};
use serde_json::json;
use serde_yaml::Value;

const CHART: &str = "deploy/helm/lunettes";
const NS: &str = "lunettes";

fn full_values() -> serde_json::Value {
    json!({
        "webhook": {"clusters": ["prod-1", "prod-2"], "tls": {"cert": "CERT", "key": "KEY", "clientCA": "CA"}},
        "auditFile": {"enabled": true},
        "watch": {"enabled": true},
        "processor": {"replicas": 3},
    })
}

fn docs(r: &helm::Rendered) -> Vec<(String, Value)> {
    r.manifests
        .iter()
        .filter(|(p, _)| p.ends_with(".yaml"))
        .flat_map(|(p, d)| d.iter().map(move |v| (p.clone(), v.clone())))
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn kind<'a>(all: &'a [(String, Value)], k: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|(_, d)| s(&d["kind"]) == k)
        .map(|(_, d)| d)
        .collect()
}

fn render_full() -> helm::Rendered {
    helm::render(CHART, &full_values(), "demo", NS).unwrap_or_else(|e| panic!("{e}"))
}

/// Labels `sub` are all in `sup`.
fn subset(sub: &Value, sup: &Value) -> bool {
    sub.as_mapping()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| sup.get(k) == Some(v)))
}

#[test]
fn renders_lints_and_refuses_a_webhook_without_tls() {
    let err = helm::render(CHART, &json!({}), "demo", NS).expect_err("no TLS material");
    assert!(err.contains("webhook.tls"), "{err}");
    let r = render_full();
    let errors = r.lint["errors"].as_array().cloned().unwrap_or_default();
    assert!(errors.is_empty(), "helm lint errors: {errors:?}");
    for m in r.lint["messages"].as_array().into_iter().flatten() {
        assert!(
            m["severity"].as_i64().unwrap_or(0) < 2,
            "helm lint --strict: {m}"
        );
    }
    let all = docs(&r);
    let dns = regex::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("valid regex");
    let mut names = BTreeSet::new();
    for (path, d) in &all {
        assert!(
            !s(&d["apiVersion"]).is_empty() && !s(&d["kind"]).is_empty(),
            "{path}: {d:?}"
        );
        let name = s(&d["metadata"]["name"]);
        assert!(
            name.len() <= 63 && dns.is_match(name),
            "{path}: bad name {name:?}"
        );
        assert!(
            names.insert((s(&d["kind"]).to_string(), name.to_string())),
            "{path}: duplicate {name}"
        );
    }
    // With scraping off and the optional parts off it still renders.
    let minimal = json!({"webhook": {"enabled": false}, "prometheusScrape": {"enabled": false},
                         "sinks": {"otlp": {"enabled": false}}, "api": {"enabled": false}, "migrate": {"enabled": false}});
    let r = helm::render(CHART, &minimal, "lunettes", NS).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<String> = docs(&r)
        .iter()
        .map(|(_, d)| s(&d["kind"]).to_string())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "Deployment").count(),
        2,
        "{kinds:?}"
    );
}

#[test]
fn workloads_select_their_pods_probe_and_expose_metrics() {
    let r = render_full();
    let all = docs(&r);
    let mut workloads = 0;
    for (path, d) in &all {
        let k = s(&d["kind"]);
        if !["Deployment", "DaemonSet", "Job"].contains(&k) {
            continue;
        }
        workloads += 1;
        let pod = &d["spec"]["template"];
        if k != "Job" {
            assert!(
                subset(
                    &d["spec"]["selector"]["matchLabels"],
                    &pod["metadata"]["labels"]
                ),
                "{path}: selector does not match the pod labels"
            );
        }
        for c in pod["spec"]["containers"].as_sequence().expect("containers") {
            let cname = s(&c["name"]);
            assert!(
                s(&c["image"]).contains(':'),
                "{path}/{cname}: image without tag"
            );
            let args: Vec<&str> = c["args"]
                .as_sequence()
                .expect("args")
                .iter()
                .map(s)
                .collect();
            assert!(!args.is_empty(), "{path}/{cname}: no args");
            for q in ["requests", "limits"] {
                assert!(
                    c["resources"][q]["cpu"].as_str().is_some()
                        && c["resources"][q]["memory"].as_str().is_some(),
                    "{path}/{cname}: resources.{q}"
                );
            }
            assert_eq!(
                c["securityContext"]["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{path}/{cname}"
            );
            if k == "Job" {
                continue;
            }
            let ports = c["ports"].as_sequence().expect("ports");
            let metrics_port = ports
                .iter()
                .find(|p| s(&p["name"]) == "metrics")
                .expect("metrics port")["containerPort"]
                .as_u64()
                .expect("port number");
            assert_eq!(
                s(&c["readinessProbe"]["httpGet"]["path"]),
                "/readyz",
                "{path}/{cname}"
            );
            assert_eq!(
                s(&c["livenessProbe"]["httpGet"]["path"]),
                "/healthz",
                "{path}/{cname}"
            );
            for probe in ["readinessProbe", "livenessProbe"] {
                assert_eq!(
                    s(&c[probe]["httpGet"]["port"]),
                    "metrics",
                    "{path}/{cname}: {probe} port"
                );
            }
            let i = args
                .iter()
                .position(|a| *a == "--metrics-addr")
                .unwrap_or_else(|| panic!("{path}/{cname}: no --metrics-addr"));
            assert_eq!(
                args[i + 1],
                format!("0.0.0.0:{metrics_port}"),
                "{path}/{cname}"
            );
            let ann = &pod["metadata"]["annotations"];
            assert_eq!(s(&ann["prometheus.io/scrape"]), "true", "{path}");
            assert_eq!(
                s(&ann["prometheus.io/port"]),
                metrics_port.to_string(),
                "{path}"
            );
            assert_eq!(s(&ann["prometheus.io/path"]), "/metrics", "{path}");
            // Brokers come from the environment every worker reads.
            let env = c["env"].as_sequence().expect("env");
            assert!(
                env.iter().any(|e| s(&e["name"]) == "LUNETTES_BROKERS"),
                "{path}/{cname}"
            );
        }
    }
    assert!(workloads >= 8, "{workloads}");
    let processors: Vec<_> = kind(&all, "Deployment")
        .into_iter()
        .filter(|d| s(&d["metadata"]["name"]).ends_with("-processor"))
        .collect();
    assert_eq!(processors.len(), 1);
    assert_eq!(processors[0]["spec"]["replicas"].as_u64(), Some(3));
    assert_eq!(
        s(&processors[0]["spec"]["template"]["spec"]["containers"][0]["args"][0]),
        "process"
    );
}

#[test]
fn services_reach_pods_and_the_webhook_kubeconfigs_name_them() {
    let r = render_full();
    let all = docs(&r);
    let deployments = kind(&all, "Deployment");
    let services = kind(&all, "Service");
    for svc in &services {
        let name = s(&svc["metadata"]["name"]);
        let target = deployments
            .iter()
            .find(|d| {
                subset(
                    &svc["spec"]["selector"],
                    &d["spec"]["template"]["metadata"]["labels"],
                )
            })
            .unwrap_or_else(|| panic!("Service {name} selects no Deployment"));
        let ports: Vec<&str> = target["spec"]["template"]["spec"]["containers"][0]["ports"]
            .as_sequence()
            .expect("ports")
            .iter()
            .map(|p| s(&p["name"]))
            .collect();
        for p in svc["spec"]["ports"].as_sequence().expect("service ports") {
            assert!(
                ports.contains(&s(&p["targetPort"])),
                "Service {name}: targetPort {:?} not a container port",
                p["targetPort"]
            );
        }
    }
    // One webhook Deployment and Service per cluster, each serving TLS from the Secret.
    let secret = kind(&all, "Secret")
        .into_iter()
        .find(|x| s(&x["type"]) == "kubernetes.io/tls")
        .expect("TLS secret");
    for key in ["tls.crt", "tls.key", "ca.crt"] {
        assert!(!s(&secret["data"][key]).is_empty(), "secret {key}");
    }
    let cm = kind(&all, "ConfigMap")
        .into_iter()
        .find(|c| s(&c["metadata"]["name"]).ends_with("-audit"))
        .expect("audit ConfigMap");
    for cluster in ["prod-1", "prod-2"] {
        let svc_name = format!("demo-lunettes-webhook-{cluster}");
        let dep = deployments
            .iter()
            .find(|d| s(&d["metadata"]["name"]) == svc_name)
            .expect("webhook Deployment");
        let c = &dep["spec"]["template"]["spec"]["containers"][0];
        let args: Vec<&str> = c["args"]
            .as_sequence()
            .expect("args")
            .iter()
            .map(s)
            .collect();
        assert_eq!(&args[..4], ["ingest", "webhook", "--cluster", cluster]);
        for flag in ["--tls-cert", "--tls-key", "--client-ca"] {
            let i = args.iter().position(|a| *a == flag).expect(flag);
            assert!(args[i + 1].starts_with("/etc/lunettes/tls/"), "{flag}");
        }
        let vol = &dep["spec"]["template"]["spec"]["volumes"][0];
        assert_eq!(
            s(&vol["secret"]["secretName"]),
            s(&secret["metadata"]["name"])
        );
        let svc = services
            .iter()
            .find(|x| s(&x["metadata"]["name"]) == svc_name)
            .expect("webhook Service");
        let port = svc["spec"]["ports"][0]["port"].as_u64().expect("port");
        let kubeconfig: Value = serde_yaml::from_str(s(
            &cm["data"][format!("webhook-kubeconfig-{cluster}.yaml").as_str()]
        ))
        .expect("webhook kubeconfig parses");
        assert_eq!(s(&kubeconfig["kind"]), "Config");
        assert_eq!(
            s(&kubeconfig["clusters"][0]["cluster"]["server"]),
            format!("https://{svc_name}.{NS}.svc:{port}/audit")
        );
        assert!(!s(&kubeconfig["users"][0]["user"]["client-certificate"]).is_empty());
    }
}

#[test]
fn audit_policy_is_the_repositorys_and_captures_what_the_engine_needs() {
    let r = render_full();
    let all = docs(&r);
    let cm = kind(&all, "ConfigMap")
        .into_iter()
        .find(|c| s(&c["metadata"]["name"]).ends_with("-audit"))
        .expect("audit ConfigMap");
    let policy: Value = serde_yaml::from_str(s(&cm["data"]["policy.yaml"])).expect("policy parses");
    assert_eq!(
        policy,
        repo::yaml("deploy/audit/policy.yaml"),
        "chart files/audit-policy.yaml drifted from deploy/audit/policy.yaml"
    );
    assert_eq!(s(&policy["kind"]), "Policy");
    assert!(policy["omitStages"]
        .as_sequence()
        .expect("omitStages")
        .iter()
        .any(|x| s(x) == "RequestReceived"));
    let rules = policy["rules"].as_sequence().expect("rules");
    // The first rule matching a pod write is RequestResponse for every resource the engine reads.
    let matches = |rule: &Value, group: &str, resource: &str, verb: &str| -> bool {
        let verbs_ok = rule["verbs"]
            .as_sequence()
            .is_none_or(|v| v.iter().any(|x| s(x) == verb));
        let res_ok = rule["resources"].as_sequence().is_none_or(|rs| {
            rs.iter().any(|r| {
                s(&r["group"]) == group
                    && r["resources"]
                        .as_sequence()
                        .is_some_and(|l| l.iter().any(|x| s(x) == resource))
            })
        });
        let users_ok = rule["users"].as_sequence().is_none();
        verbs_ok && res_ok && users_ok
    };
    for (group, resource, verb) in [
        ("", "pods", "create"),
        ("", "pods", "delete"),
        ("", "pods/status", "patch"),
        ("", "pods/binding", "create"),
        ("", "pods/eviction", "create"),
        ("", "events", "create"),
        ("events.k8s.io", "events", "create"),
    ] {
        let first = rules
            .iter()
            .find(|r| matches(r, group, resource, verb))
            .expect("a matching rule");
        assert_eq!(
            s(&first["level"]),
            "RequestResponse",
            "{group}/{resource} {verb}"
        );
    }
    for (group, resource) in [("", "secrets"), ("", "configmaps"), ("apps", "deployments")] {
        let first = rules
            .iter()
            .find(|r| matches(r, group, resource, "update"))
            .expect("a matching rule");
        assert!(
            ["Metadata", "None"].contains(&s(&first["level"])),
            "{group}/{resource} must not log bodies"
        );
    }
    for rule in rules {
        assert!(["None", "Metadata", "Request", "RequestResponse"].contains(&s(&rule["level"])));
    }
}

#[test]
fn control_plane_daemonset_and_read_only_watch_rbac() {
    let r = render_full();
    let all = docs(&r);
    let ds = kind(&all, "DaemonSet")
        .into_iter()
        .next()
        .expect("audit-file DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    assert!(pod["nodeSelector"]
        .get("node-role.kubernetes.io/control-plane")
        .is_some());
    assert!(pod["tolerations"]
        .as_sequence()
        .expect("tolerations")
        .iter()
        .any(|t| s(&t["key"]) == "node-role.kubernetes.io/control-plane"));
    let log = pod["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| s(&v["name"]) == "audit-log")
        .expect("audit-log volume");
    assert_eq!(s(&log["hostPath"]["path"]), "/var/log/kubernetes/audit");
    let c = &pod["containers"][0];
    let mount = c["volumeMounts"]
        .as_sequence()
        .expect("mounts")
        .iter()
        .find(|m| s(&m["name"]) == "audit-log")
        .expect("mounted");
    assert_eq!(mount["readOnly"].as_bool(), Some(true));
    let args: Vec<&str> = c["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .map(s)
        .collect();
    assert_eq!(&args[..2], ["ingest", "audit-file"]);
    let i = args.iter().position(|a| *a == "--path").expect("--path");
    assert!(
        args[i + 1].starts_with(s(&mount["mountPath"])),
        "the collector reads the mounted log"
    );

    let role = kind(&all, "ClusterRole")
        .into_iter()
        .next()
        .expect("ClusterRole");
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_sequence().expect("rules") {
        for verb in rule["verbs"].as_sequence().expect("verbs") {
            assert!(
                ["get", "list", "watch"].contains(&s(verb)),
                "watch RBAC must be read-only: {verb:?}"
            );
        }
        for g in rule["apiGroups"].as_sequence().expect("groups") {
            for res in rule["resources"].as_sequence().expect("resources") {
                granted.insert(format!("{}/{}", s(g), s(res)));
            }
        }
    }
    let want: BTreeSet<String> = ["/pods", "/events", "events.k8s.io/events"]
        .iter()
        .map(|x| x.to_string())
        .collect();
    assert_eq!(granted, want);
    let binding = kind(&all, "ClusterRoleBinding")
        .into_iter()
        .next()
        .expect("binding");
    assert_eq!(s(&binding["roleRef"]["name"]), s(&role["metadata"]["name"]));
    let sa = s(&binding["subjects"][0]["name"]);
    assert_eq!(s(&binding["subjects"][0]["namespace"]), NS);
    let watch = kind(&all, "Deployment")
        .into_iter()
        .find(|d| s(&d["metadata"]["name"]).ends_with("-watch"))
        .expect("watch Deployment");
    assert_eq!(
        s(&watch["spec"]["template"]["spec"]["serviceAccountName"]),
        sa
    );
    assert_eq!(
        watch["spec"]["replicas"].as_u64(),
        Some(1),
        "one watcher per cluster"
    );
}

#[test]
fn every_value_is_documented() {
    let text = repo::read(&format!("{CHART}/values.yaml"));
    let key = regex::Regex::new(r"^(\s*)([A-Za-z][A-Za-z0-9_.-]*):").expect("valid regex");
    let lines: Vec<&str> = text.lines().collect();
    let mut keys = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(c) = key.captures(line) else {
            continue;
        };
        keys += 1;
        let indent = c[1].len();
        let prev = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .copied()
            .unwrap_or("");
        let documented = line.contains(" # ")
            || (prev.trim_start().starts_with('#')
                && prev.len() - prev.trim_start().len() == indent);
        assert!(
            documented,
            "values.yaml line {}: `{}` has no comment above it",
            i + 1,
            &c[2]
        );
    }
    assert!(keys > 40, "{keys}");
    // Block sequences would hide undocumented keys inside list items.
    assert!(
        !lines.iter().any(|l| l.trim_start().starts_with("- ")),
        "use flow sequences in values.yaml"
    );
}

#[test]
fn lunettes_args_are_one_line_json_arrays_in_every_template() {
    // cli/tests/deploy_files.rs checks these lines against the binary; it can
    // only see them if every container's args are written this way.
    let r = render_full();
    let mut rendered_templates = BTreeSet::new();
    for (path, d) in docs(&r) {
        let has_container = d["spec"]["template"]["spec"]["containers"]
            .as_sequence()
            .is_some_and(|c| !c.is_empty());
        if has_container {
            rendered_templates.insert(path.rsplit('/').next().expect("file name").to_string());
        }
    }
    for file in &rendered_templates {
        let text = repo::read(&format!("{CHART}/templates/{file}"));
        let containers = text.matches("image: {{ include \"lunettes.image\"").count();
        let args_lines: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("args: ["))
            .collect();
        assert!(
            !args_lines.is_empty() && args_lines.len() == containers,
            "{file}: {containers} containers, {} args lines",
            args_lines.len()
        );
        for l in args_lines {
            let outside_quotes: String = l.split('"').step_by(2).collect();
            assert!(
                !outside_quotes.contains("{{"),
                "{file}: template actions must be inside quoted strings: {l}"
            );
        }
    }
    assert!(rendered_templates.len() >= 7, "{rendered_templates:?}");
}
