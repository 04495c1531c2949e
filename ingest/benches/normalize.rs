//! Normalizer throughput on audit JSON lines against building a
//! `serde_json::Value` from the same bytes, measured in one run.
//!
//! `cargo bench -p lunettes-ingest --bench normalize`
//!
//! The lines are an audit log shaped like what the Lunettes audit policy
//! records (RequestResponse level for pods, pods/status, pods/binding and
//! events, plus the lease renewals every cluster is full of), built from real
//! records: falco's pod create, khi's kubelet status patch, kspan's kubelet
//! Event and kind's lease update (see `../shared/data/k8s-real/SOURCES.md`).
//! Each line gets its own auditID and pod name.

use std::hint::black_box;
use std::time::{Duration, Instant};

use lunettes_ingest::Normalizer;
use serde_json::{json, Value};

fn real(rel: &str) -> String {
    let path = format!(
        "{}/../../shared/data/k8s-real/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&real(rel)).expect("yaml")
}

/// Record templates, with the share of the log each takes.
fn templates() -> Vec<(u32, Value)> {
    let create: Value = serde_json::from_str(&real(
        "falco/test/trace_files/k8s_audit/create_nginx_pod_privileged.json",
    ))
    .unwrap();
    let pod = create["responseObject"].clone();

    let gke_patch = yaml("khi/test/logs/k8s_audit/container_recorder_test_1_2.yaml");
    let mut status_pod = pod.clone();
    status_pod["status"] = gke_patch["protoPayload"]["request"]["status"].clone();
    let status_patch = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": "x", "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/default/pods/p/status", "verb": "patch",
        "user": {"username": "system:node:minikube", "groups": ["system:nodes", "system:authenticated"]},
        "sourceIPs": ["192.168.99.100"], "userAgent": "kubelet/v1.28.14 (linux/amd64) kubernetes/a4ef1a6",
        "objectRef": {"resource": "pods", "namespace": "default", "name": "p", "apiVersion": "v1", "subresource": "status"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestObject": gke_patch["protoPayload"]["request"].clone(),
        "responseObject": status_pod,
        "requestReceivedTimestamp": "2024-01-01T01:00:00.100000Z",
        "stageTimestamp": "2024-01-01T01:00:00.104567Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
    });

    let binding = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": "x", "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/default/pods/p/binding", "verb": "create",
        "user": {"username": "system:kube-scheduler", "groups": ["system:authenticated"]},
        "sourceIPs": ["192.168.99.100"], "userAgent": "kube-scheduler/v1.28.14 (linux/amd64) kubernetes/a4ef1a6/scheduler",
        "objectRef": {"resource": "pods", "namespace": "default", "name": "p", "apiVersion": "v1", "subresource": "binding"},
        "responseStatus": {"metadata": {}, "status": "Success", "code": 201},
        "requestObject": {"kind": "Binding", "apiVersion": "v1", "metadata": {"name": "p", "namespace": "default", "uid": "u", "creationTimestamp": null}, "target": {"kind": "Node", "name": "minikube"}},
        "responseObject": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
        "requestReceivedTimestamp": "2024-01-01T01:00:00.050000Z",
        "stageTimestamp": "2024-01-01T01:00:00.052345Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding \"system:kube-scheduler\""}
    });

    let kspan = real("kspan/controllers/events/testdata/deployment-2-pods.yaml");
    let pulling_doc = kspan
        .split("\n---\n")
        .find(|d| d.contains("reason: Pulling"))
        .unwrap();
    let pulling: Value = serde_yaml::from_str(pulling_doc).unwrap();
    let event_create = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": "x", "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/default/events", "verb": "create",
        "user": {"username": "system:node:kind-control-plane", "groups": ["system:nodes"]},
        "sourceIPs": ["172.18.0.2"], "userAgent": "kubelet/v1.28.14 (linux/amd64) kubernetes/a4ef1a6",
        "objectRef": {"resource": "events", "namespace": "default", "name": "p.1", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 201},
        "requestObject": pulling.clone(), "responseObject": pulling,
        "requestReceivedTimestamp": "2024-01-01T01:00:01.000000Z",
        "stageTimestamp": "2024-01-01T01:00:01.003456Z"
    });

    let mut lease = yaml("khi/test/logs/oss/test-log.yaml");
    lease.as_object_mut().unwrap().remove("job");

    vec![
        (15, create),
        (30, status_patch),
        (15, binding),
        (25, event_create),
        (15, lease),
    ]
}

fn lines(count: usize) -> Vec<Vec<u8>> {
    let templates = templates();
    let total: u32 = templates.iter().map(|t| t.0).sum();
    (0..count)
        .map(|i| {
            let slot = (i as u32 * 7919) % total;
            let mut acc = 0;
            let (_, t) = templates
                .iter()
                .find(|(share, _)| {
                    acc += share;
                    slot < acc
                })
                .unwrap();
            let mut v = t.clone();
            v["auditID"] = json!(format!("00000000-0000-4000-8000-{i:012}"));
            if v["objectRef"]["resource"] == "pods" {
                v["objectRef"]["name"] = json!(format!("web-{i}"));
            }
            serde_json::to_vec(&v).unwrap()
        })
        .collect()
}

/// Best of `rounds` passes over all lines, in seconds.
fn best_of(rounds: usize, mut pass: impl FnMut()) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        pass();
        best = best.min(t.elapsed());
    }
    best.as_secs_f64()
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench`-less args; keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (count, rounds) = if quick { (500, 1) } else { (20_000, 7) };
    let lines = lines(count);
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mb = bytes as f64 / 1e6;

    let mut out = Vec::with_capacity(16);
    let mut produced = 0usize;
    let mut normalizer = Normalizer::new("bench");
    // Warm up both paths once (page in, allocator warm).
    for l in &lines {
        black_box(serde_json::from_slice::<Value>(l).unwrap());
        out.clear();
        produced += normalizer.normalize_line("bench", 1, l, &mut out).unwrap();
    }
    assert!(
        produced > count / 2,
        "the normalizer must do real work: {produced} HyperEvents"
    );

    let value_s = best_of(rounds, || {
        for l in &lines {
            black_box(serde_json::from_slice::<Value>(black_box(l)).unwrap());
        }
    });
    let norm_s = best_of(rounds, || {
        for (i, l) in lines.iter().enumerate() {
            out.clear();
            black_box(
                normalizer
                    .normalize_line("bench", i as u64, black_box(l), &mut out)
                    .unwrap(),
            );
            black_box(&out);
        }
    });
    println!("normalize bench: {count} audit lines, {mb:.1} MB, {produced} HyperEvents per pass");
    println!(
        "serde_json::Value : {:>8.1} MB/s {:>10.0} lines/s",
        mb / value_s,
        count as f64 / value_s
    );
    println!(
        "Normalizer        : {:>8.1} MB/s {:>10.0} lines/s",
        mb / norm_s,
        count as f64 / norm_s
    );
    println!(
        "ratio (Value time / Normalizer time): {:.2}x",
        value_s / norm_s
    );
}
