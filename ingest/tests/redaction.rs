//! Credentials planted in every input route never reach a HyperEvent.

use lunettes_ingest::{HyperEvent, Normalizer};
use serde_json::{json, Value};

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJQTEFOVEVEIjoiand0In0.c2lnbmF0dXJlUExBTlRFRA";
const BLOB: &str = "UExBTlRFRC1CQVNFNjQtdmFsdWUtMTIzNDU2Nzg5MA==";
const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEPLANTEDPEMBODY\n-----END PRIVATE KEY-----";

/// Every planted string; none may appear in any output.
const PLANTED: &[&str] = &[
    "PLANTED-ENV",
    "PLANTED-LABEL",
    "PLANTED-LASTAPPLIED",
    JWT,
    BLOB,
    "MIIEPLANTEDPEMBODY",
    "PLANTED-PATCH-TOKEN",
    "PLANTED-SECRET",
    "PLANTED-CM",
    "PLANTED-EVENT-ANNOT",
    "PLANTED-SNAPSHOT",
    "PLANTED-ARGS",
];

/// `resource` may carry a subresource: `pods/status`.
fn audit(
    id: &str,
    verb: &str,
    resource: &str,
    name: &str,
    code: i64,
    req: Value,
    resp: Value,
) -> Value {
    let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": id, "stage": "ResponseComplete", "verb": verb,
        "objectRef": {"resource": resource, "subresource": sub, "namespace": "ns", "name": name},
        "responseStatus": {"code": code}, "requestObject": req, "responseObject": resp,
        "stageTimestamp": "2024-01-01T00:00:01.000002Z"
    })
}

fn secret_pod(uid: &str, rv: &str) -> Value {
    json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "p", "namespace": "ns", "uid": uid, "resourceVersion": rv,
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"app": "web", "db-password": "PLANTED-LABEL-1", "blob": BLOB},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"PLANTED-LASTAPPLIED\": 1}",
                "example.com/session": JWT,
                "example.com/key": PEM,
                "plain": "visible"
            }},
        "spec": {"containers": [{"name": "c", "image": "img",
            "args": ["--password=PLANTED-ARGS"],
            "env": [{"name": "DB_PASSWORD", "value": "PLANTED-ENV-hunter2"}]}]},
        "status": {"phase": "Pending"}})
}

fn to_json(out: &[HyperEvent]) -> String {
    out.iter()
        .map(|h| serde_json::to_string(h).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn planted_credentials_never_leave_the_normalizer() {
    let mut records = vec![
        audit(
            "r1",
            "create",
            "pods",
            "",
            201,
            secret_pod("u1", "1"),
            secret_pod("u1", "1"),
        ),
        audit(
            "r2",
            "patch",
            "pods",
            "p",
            200,
            json!({"metadata": {"labels": {"api-token": "PLANTED-PATCH-TOKEN", "tier": JWT},
                "annotations": {"x": PEM, "kubectl.kubernetes.io/last-applied-configuration": "PLANTED-LASTAPPLIED-2"}}}),
            Value::Null,
        ),
        audit(
            "r3",
            "create",
            "secrets",
            "s",
            201,
            json!({"kind": "Secret", "data": {"k": "UExBTlRFRC1TRUNSRVQ="}, "stringData": {"k": "PLANTED-SECRET"}}),
            json!({"kind": "Secret", "data": {"k": "UExBTlRFRC1TRUNSRVQ="}}),
        ),
        audit(
            "r4",
            "update",
            "configmaps",
            "c",
            200,
            json!({"kind": "ConfigMap", "data": {"k": "PLANTED-CM"}}),
            json!({"kind": "ConfigMap", "data": {"k": "PLANTED-CM"}}),
        ),
        audit(
            "r5",
            "create",
            "events",
            "p.1",
            201,
            json!({"kind": "Event", "metadata": {"uid": "e1", "annotations": {"a": "PLANTED-EVENT-ANNOT"}},
                "involvedObject": {"kind": "Pod", "namespace": "ns", "name": "p"},
                "reason": "Failed", "type": "Warning",
                "message": format!("Failed to pull image \"img\": unauthorized: token {JWT} rejected"),
                "lastTimestamp": "2024-01-01T00:00:01Z"}),
            Value::Null,
        ),
    ];
    // Status by PUT carries the whole pod, env included.
    records.push(audit(
        "r6",
        "update",
        "pods/status",
        "p",
        200,
        secret_pod("u1", "2"),
        secret_pod("u1", "2"),
    ));
    let audit_lines = records
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n");

    let mut n = Normalizer::new("c");
    let mut out = Vec::new();
    let report = n.normalize_document("audit.log", audit_lines.as_bytes(), &mut out);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.skipped, 2,
        "secret and configmap records are skipped"
    );

    // Snapshots: a first sight, then a change to credential-looking metadata.
    let mut s2 = secret_pod("u2", "5");
    s2["metadata"]["labels"]["db-password"] = json!("PLANTED-SNAPSHOT-LABEL");
    s2["metadata"]["annotations"]["example.com/other"] = json!(format!("Bearer {JWT}"));
    s2["metadata"]["annotations"]["plain"] = json!("shown");
    let yaml = format!(
        "{}---\n{}",
        serde_yaml::to_string(&secret_pod("u2", "4")).unwrap(),
        serde_yaml::to_string(&s2).unwrap()
    );
    let r = n.normalize_document("pods.yaml", yaml.as_bytes(), &mut out);
    assert!(r.errors.is_empty(), "{:?}", r.errors);

    // A real audit record full of sensitive ConfigMap values (falco's trace).
    let falco = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/k8s-real/falco/test/trace_files/k8s_audit/create_configmap_sensitive_values.json"
    ))
    .unwrap();
    let r = n.normalize_document("falco", &falco, &mut out);
    assert!(r.errors.is_empty());

    let text = to_json(&out);
    for planted in PLANTED {
        assert!(!text.contains(planted), "{planted} leaked:\n{text}");
    }
    // The records still came through, redacted rather than dropped.
    assert!(out.len() >= 6, "{}", out.len());
    assert!(text.contains("<redacted>"));
    assert!(
        text.contains("annotation:plain=shown:add"),
        "non-sensitive annotations still diff"
    );
    assert!(text.contains("label:api-token=<redacted>:add"));
    assert!(
        text.contains("Failed to pull image"),
        "messages keep their words"
    );
    let facts = out.iter().find_map(|h| h.pod.as_ref()).unwrap();
    assert_eq!(facts.labels["app"], "web");
    assert_eq!(facts.labels["db-password"], "<redacted>");
}
