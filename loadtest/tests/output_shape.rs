//! The lines look like what an apiserver and a watch produce: valid JSON,
//! the fields real audit events carry, microseconds where Kubernetes writes
//! microseconds, whole seconds where it writes seconds, sorted as written.

mod common;

use std::collections::HashMap;

use common::{audit_pod_uid, is_micros, is_secs, parse, us};
use lunettes_loadtest::{simulate, SimConfig};
use serde_json::Value;

fn run() -> (
    Vec<lunettes_loadtest::ClusterOutput>,
    Vec<lunettes_loadtest::Truth>,
) {
    simulate(&SimConfig {
        clusters: 3,
        pods: 450,
        seed: 9,
        ..SimConfig::default()
    })
}

fn check_uuid(s: &str) {
    let parts: Vec<&str> = s.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        vec![8, 4, 4, 4, 12],
        "{s}"
    );
    assert!(s.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{s}");
}

/// Every condition/container time in a pod status is whole seconds.
fn check_status_times(status: &Value, ctx: &str) {
    for c in status["conditions"].as_array().into_iter().flatten() {
        let t = c["lastTransitionTime"].as_str().unwrap_or("");
        assert!(is_secs(t), "{ctx}: condition time {t:?}");
        assert!(c["lastProbeTime"].is_null(), "{ctx}");
        assert!(
            matches!(c["status"].as_str(), Some("True" | "False")),
            "{ctx}"
        );
    }
    for key in ["containerStatuses", "initContainerStatuses"] {
        for cs in status[key].as_array().into_iter().flatten() {
            for st in [&cs["state"], &cs["lastState"]] {
                for (_, inner) in st.as_object().into_iter().flatten() {
                    for f in ["startedAt", "finishedAt"] {
                        if let Some(t) = inner[f].as_str() {
                            assert!(is_secs(t), "{ctx}: {f} {t:?}");
                        }
                    }
                }
            }
        }
    }
    if let Some(t) = status["startTime"].as_str() {
        assert!(is_secs(t), "{ctx}: startTime {t:?}");
    }
}

#[test]
fn audit_lines_have_real_fields_and_precisions() {
    let (clusters, _) = run();
    let mut verbs: HashMap<String, usize> = HashMap::new();
    for c in &clusters {
        let mut last_stage = i64::MIN;
        for (n, line) in c.audit_lines.iter().enumerate() {
            let v = parse(line, &c.cluster, n + 1);
            let ctx = format!("{} line {}", c.cluster, n + 1);
            assert_eq!(v["kind"], "Event", "{ctx}");
            assert_eq!(v["apiVersion"], "audit.k8s.io/v1", "{ctx}");
            assert_eq!(v["level"], "RequestResponse", "{ctx}");
            assert_eq!(v["stage"], "ResponseComplete", "{ctx}");
            check_uuid(v["auditID"].as_str().unwrap());
            let verb = v["verb"].as_str().unwrap();
            assert!(
                matches!(verb, "create" | "patch" | "update" | "delete"),
                "{ctx}: {verb}"
            );
            assert!(
                v["requestURI"].as_str().unwrap().starts_with("/api"),
                "{ctx}"
            );
            assert!(!v["user"]["username"].as_str().unwrap().is_empty(), "{ctx}");
            assert!(
                v["user"]["groups"]
                    .as_array()
                    .is_some_and(|g| !g.is_empty()),
                "{ctx}"
            );
            assert!(v["sourceIPs"][0].is_string(), "{ctx}");
            assert!(v["userAgent"].is_string(), "{ctx}");
            assert!(v["objectRef"]["resource"].is_string(), "{ctx}");
            assert!(v["objectRef"]["namespace"].is_string(), "{ctx}");
            let code = v["responseStatus"]["code"].as_i64().unwrap();
            assert!((200..600).contains(&code), "{ctx}");
            assert!(v["requestObject"].is_object(), "{ctx}: requestObject");
            assert!(v["responseObject"].is_object(), "{ctx}: responseObject");
            assert!(
                v["annotations"]["authorization.k8s.io/decision"].is_string(),
                "{ctx}"
            );
            let rr = v["requestReceivedTimestamp"].as_str().unwrap();
            let st = v["stageTimestamp"].as_str().unwrap();
            assert!(is_micros(rr) && is_micros(st), "{ctx}: {rr} {st}");
            assert!(us(rr) <= us(st), "{ctx}: received after stage");
            assert!(us(st) >= last_stage, "{ctx}: not sorted by stageTimestamp");
            last_stage = us(st);
            // No managedFields anywhere: they would triple the volume.
            assert!(!line.contains("managedFields"), "{ctx}");
            let resp = &v["responseObject"];
            if resp["kind"] == "Pod" {
                check_status_times(&resp["status"], &ctx);
                let ct = resp["metadata"]["creationTimestamp"].as_str().unwrap();
                assert!(is_secs(ct), "{ctx}: creationTimestamp {ct}");
            }
            if v["objectRef"]["subresource"] == "status" && verb == "patch" {
                check_status_times(&v["requestObject"]["status"], &ctx);
                assert!(v["requestObject"]["metadata"]["uid"].is_string(), "{ctx}");
            }
            if resp["kind"] == "Event" && resp["apiVersion"] == "v1" {
                for f in ["firstTimestamp", "lastTimestamp"] {
                    assert!(is_secs(resp[f].as_str().unwrap()), "{ctx}: {f}");
                }
                assert!(resp["count"].as_i64().unwrap() >= 1, "{ctx}");
            }
            if resp["apiVersion"] == "events.k8s.io/v1" {
                assert!(
                    is_micros(resp["eventTime"].as_str().unwrap()),
                    "{ctx}: eventTime"
                );
                assert_eq!(resp["reportingController"], "default-scheduler", "{ctx}");
            }
            *verbs
                .entry(format!(
                    "{verb} {}{}",
                    v["objectRef"]["resource"].as_str().unwrap(),
                    v["objectRef"]["subresource"]
                        .as_str()
                        .map(|s| format!("/{s}"))
                        .unwrap_or_default()
                ))
                .or_default() += 1;
        }
    }
    for kind in [
        "create pods",
        "create pods/binding",
        "patch pods/status",
        "update pods/status",
        "patch pods",
        "delete pods",
        "create events",
        "patch events",
    ] {
        assert!(
            verbs.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} in {verbs:?}"
        );
    }
}

#[test]
fn creates_come_from_controllers_and_status_from_kubelets() {
    let (clusters, _) = run();
    for c in &clusters {
        for (n, line) in c.audit_lines.iter().enumerate() {
            let v = parse(line, &c.cluster, n + 1);
            let user = v["user"]["username"].as_str().unwrap();
            let r = &v["objectRef"];
            match (
                v["verb"].as_str().unwrap(),
                r["resource"].as_str().unwrap(),
                r["subresource"].as_str(),
            ) {
                ("create", "pods", None) => {
                    assert!(
                        user.ends_with(":replicaset-controller")
                            || user.ends_with(":job-controller"),
                        "{user}"
                    );
                    let req = &v["requestObject"];
                    assert!(req["metadata"]["generateName"]
                        .as_str()
                        .unwrap()
                        .ends_with('-'));
                    assert!(req["metadata"].get("name").is_none());
                    let owner = req["metadata"]["ownerReferences"][0]["kind"]
                        .as_str()
                        .unwrap();
                    let policy = req["spec"]["restartPolicy"].as_str().unwrap();
                    match owner {
                        "ReplicaSet" => assert_eq!(policy, "Always"),
                        "Job" => assert!(matches!(policy, "Never" | "OnFailure")),
                        o => panic!("owner {o}"),
                    }
                    // Every pod is of the "typical" SLO class, so the 90 s
                    // deadline the truth assumes applies to it.
                    let spec = &req["spec"];
                    let containers = spec["containers"].as_array().unwrap();
                    assert!(containers.len() <= 3, "{} containers", containers.len());
                    assert!(spec["volumes"].as_array().map_or(0, Vec::len) <= 15);
                    let (cpu_m, mem_mi) = containers.iter().fold((0, 0), |(c, m), x| {
                        let r = &x["resources"]["requests"];
                        (
                            c + cpu_millis(r["cpu"].as_str()),
                            m + mem_mebis(r["memory"].as_str()),
                        )
                    });
                    assert!(
                        cpu_m <= 8000 && mem_mi <= 16 * 1024,
                        "{cpu_m}m cpu, {mem_mi}Mi"
                    );
                    if v["responseStatus"]["code"] == 201 {
                        let meta = &v["responseObject"]["metadata"];
                        assert!(meta["uid"].is_string() && meta["name"].is_string());
                    } else {
                        assert_eq!(v["responseObject"]["kind"], "Status");
                    }
                }
                ("create", "pods", Some("binding")) => {
                    assert_eq!(user, "system:kube-scheduler");
                    assert_eq!(v["requestObject"]["kind"], "Binding");
                    assert!(v["requestObject"]["target"]["name"].is_string());
                }
                (_, "pods", Some("status")) => {
                    assert!(
                        user.starts_with("system:node:") || user == "system:kube-scheduler",
                        "{user}"
                    );
                }
                _ => {}
            }
        }
        // Every third cluster sends kubelet status by PUT.
        let puts = c
            .audit_lines
            .iter()
            .filter(|l| l.contains("\"verb\":\"update\""))
            .count();
        assert_eq!(
            puts > 0,
            c.cluster == "sim-3",
            "{}: {puts} status updates",
            c.cluster
        );
    }
}

#[test]
fn per_pod_records_are_in_lifecycle_order() {
    let (clusters, truths) = run();
    for c in &clusters {
        let mut seen: HashMap<String, (i64, usize)> = HashMap::new();
        let mut stored: HashMap<String, Vec<String>> = HashMap::new();
        for (n, line) in c.audit_lines.iter().enumerate() {
            let v = parse(line, &c.cluster, n + 1);
            let Some(uid) = audit_pod_uid(&v) else {
                continue;
            };
            let stage = us(v["stageTimestamp"].as_str().unwrap());
            let is_create = v["verb"] == "create"
                && v["objectRef"]["resource"] == "pods"
                && v["objectRef"]["subresource"].is_null();
            match seen.get_mut(&uid) {
                None => assert!(
                    is_create,
                    "{}: first record of pod {uid} is not its create: {line:.300}",
                    c.cluster
                ),
                Some((last, count)) => {
                    assert!(!is_create, "pod {uid} created twice");
                    assert!(stage >= *last);
                    *last = stage;
                    *count += 1;
                }
            }
            // Stored pods never run a container before the sandbox has an
            // IP: writes appear in the order the kubelet made them.
            let status = &v["responseObject"]["status"];
            if v["responseObject"]["kind"] == "Pod" {
                let running = status["containerStatuses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(
                        status["initContainerStatuses"]
                            .as_array()
                            .into_iter()
                            .flatten(),
                    )
                    .any(|c| c["state"]["running"].is_object());
                assert!(
                    !running || status["podIP"].is_string(),
                    "{}: pod {uid} runs a container without an IP at line {}",
                    c.cluster,
                    n + 1
                );
            }
            // A patch carries only changes against what the apiserver stored
            // last (the previous response), so it never repeats a condition
            // the stored pod already has.
            if v["verb"] == "patch" && v["objectRef"]["subresource"] == "status" {
                if let Some(prev) = stored.get(&uid) {
                    for cond in v["requestObject"]["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        assert!(
                            !prev.contains(&cond.to_string()),
                            "{}: line {} re-sends stored condition {cond}",
                            c.cluster,
                            n + 1
                        );
                    }
                }
            }
            if v["responseObject"]["kind"] == "Pod" {
                let conds = status["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(Value::to_string)
                    .collect();
                stored.insert(uid.clone(), conds);
            }
            seen.entry(uid).or_insert((stage, 1));
        }
        for t in truths
            .iter()
            .filter(|t| t.cluster == c.cluster && !t.uid.is_empty())
        {
            assert!(seen.contains_key(&t.uid), "no records of {}", t.name);
        }
    }
}

#[test]
fn watch_lines_are_core_v1_events_about_pods() {
    let (clusters, _) = run();
    for c in &clusters {
        assert!(!c.event_lines.is_empty());
        let mut last = i64::MIN;
        let mut scheduler = 0;
        for (n, line) in c.event_lines.iter().enumerate() {
            let v = parse(line, &c.cluster, n + 1);
            assert_eq!(v["kind"], "Event");
            assert_eq!(v["apiVersion"], "v1", "watch on core v1 returns v1 Events");
            assert!(v["involvedObject"]["uid"].is_string());
            assert!(v["metadata"]["resourceVersion"].is_string());
            let rv: i64 = v["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                rv >= last,
                "{}: resourceVersion goes back at line {}",
                c.cluster,
                n + 1
            );
            last = rv;
            if v["reportingComponent"] == "default-scheduler" {
                scheduler += 1;
                assert!(v["firstTimestamp"].is_null());
                assert!(is_micros(v["eventTime"].as_str().unwrap()));
            } else {
                assert!(v["eventTime"].is_null());
                assert!(is_secs(v["lastTimestamp"].as_str().unwrap()));
                assert!(
                    us(v["firstTimestamp"].as_str().unwrap())
                        <= us(v["lastTimestamp"].as_str().unwrap())
                );
            }
        }
        assert!(scheduler > 0);
    }
}

fn cpu_millis(q: Option<&str>) -> i64 {
    match q {
        None => 0,
        Some(q) => match q.strip_suffix('m') {
            Some(m) => m.parse().unwrap(),
            None => q.parse::<i64>().unwrap() * 1000,
        },
    }
}

fn mem_mebis(q: Option<&str>) -> i64 {
    match q {
        None => 0,
        Some(q) => match q.strip_suffix("Gi") {
            Some(g) => g.parse::<i64>().unwrap() * 1024,
            None => q.strip_suffix("Mi").unwrap().parse().unwrap(),
        },
    }
}
