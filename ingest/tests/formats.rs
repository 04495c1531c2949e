//! Every input shape and operation rule, on small hand-written records.

use std::collections::HashSet;

use lunettes_ingest::{HyperEvent, Normalizer};
use lunettes_schemas::time::parse_rfc3339;
use lunettes_schemas::{Kind, Source, TimePrecision};
use serde_json::{json, Value};

fn us(s: &str) -> i64 {
    parse_rfc3339(s).unwrap().0
}

/// An audit.k8s.io/v1 ResponseComplete record.
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
        "user": {"username": "u"}, "userAgent": "ua/1",
        "objectRef": {"resource": resource, "subresource": sub, "namespace": "ns", "name": name},
        "responseStatus": {"code": code},
        "requestObject": req, "responseObject": resp,
        "requestReceivedTimestamp": "2024-01-01T00:00:00.000001Z",
        "stageTimestamp": "2024-01-01T00:00:01.000002Z"
    })
}

fn pod(name: &str, uid: &str) -> Value {
    json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "ns", "uid": uid, "resourceVersion": "1",
            "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"app": "web"}},
        "spec": {"schedulerName": "my-scheduler", "containers": [{"name": "c", "image": "img"}]},
        "status": {"phase": "Pending"}})
}

fn lines(vals: &[Value]) -> Vec<u8> {
    vals.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

fn doc(n: &mut Normalizer, bytes: &[u8]) -> Vec<HyperEvent> {
    let mut out = Vec::new();
    let r = n.normalize_document("t", bytes, &mut out);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    out
}

fn ops(out: &[HyperEvent]) -> Vec<String> {
    out.iter().flat_map(|h| h.operations.clone()).collect()
}

#[test]
fn bad_line_keeps_its_neighbours() {
    let good1 = audit(
        "a1",
        "create",
        "pods/binding",
        "p",
        201,
        json!({"kind": "Binding", "target": {"name": "n1"}}),
        Value::Null,
    );
    let good2 = audit(
        "a2",
        "create",
        "pods/eviction",
        "p",
        201,
        Value::Null,
        Value::Null,
    );
    let mut bytes = lines(&[good1]);
    bytes.extend_from_slice(b"\n{\"kind\":\"Event\",\"auditID\":\"x\",\"stageTimes\n\n\xff\xfe\n");
    bytes.extend_from_slice(good2.to_string().as_bytes());
    let mut n = Normalizer::new("c");
    let mut out = Vec::new();
    let r = n.normalize_document("audit.log", &bytes, &mut out);
    assert_eq!(r.records, 4);
    assert_eq!(r.errors.len(), 2, "{:?}", r.errors);
    assert_eq!(r.errors[0].line, Some(2));
    assert_eq!(r.errors[1].line, Some(4));
    assert!(r.errors[1]
        .to_string()
        .starts_with("audit.log:4: line is not valid UTF-8"));
    assert_eq!(
        ops(&out),
        ["schedule:binding:success", "pod:eviction:success"]
    );
    assert_eq!(out[0].pod.as_ref().unwrap().node_name, "n1");
}

#[test]
fn webhook_event_list_and_v1beta1() {
    let mut item = audit(
        "b1",
        "create",
        "pods",
        "",
        201,
        pod("p", "u1"),
        pod("p", "u1"),
    );
    item["apiVersion"] = json!("audit.k8s.io/v1beta1");
    let list = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [item, {"kind": 7}, audit("b2", "delete", "pods", "p", 200, Value::Null, json!({"kind": "Status", "status": "Success", "details": {"uid": "u1"}}))]});
    let mut n = Normalizer::new("c");
    let mut out = Vec::new();
    let r = n.normalize_document("hook", list.to_string().as_bytes(), &mut out);
    assert_eq!((r.records, r.errors.len()), (3, 1));
    assert!(
        r.errors[0].reason.starts_with("items[1]: "),
        "{}",
        r.errors[0]
    );
    assert_eq!(
        ops(&out),
        [
            "pod:create:success",
            "schedule:my-scheduler:entry",
            "pod:deleted:success"
        ]
    );
    assert_eq!(out[0].object.name, "p");
    assert_eq!(out[1].object.uid, "u1");
    assert_eq!(out[0].time_us, us("2024-01-01T00:00:01.000002Z"));
    assert_eq!(out[0].time_precision, TimePrecision::Micros);
    assert_eq!(out[0].actor.as_ref().unwrap().user_agent, "ua/1");
}

#[test]
fn create_failures_carry_code_and_message() {
    let mut denied = audit("c1", "create", "pods", "", 403, pod("p", ""), Value::Null);
    denied["responseStatus"] = json!({"code": 403, "message": "admission webhook \"quota.example.com\" denied the request: exceeded quota"});
    let failed = audit("c2", "create", "pods", "", 500, pod("q", ""), Value::Null);
    let mut n = Normalizer::new("c");
    let out = doc(&mut n, &lines(&[denied, failed]));
    assert_eq!(ops(&out), ["pod:create:failed", "pod:create:failed"]);
    assert_eq!(out[0].response_code, Some(403));
    assert!(out[0]
        .response_message
        .contains("admission webhook \"quota.example.com\" denied the request"));
    assert_eq!(out[1].response_code, Some(500));
    assert_eq!(out[1].object.name, "q");
}

#[test]
fn status_by_put_equals_status_by_patch() {
    let status = json!({"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00+02:00"}],
        "phase": "Running", "podIP": "10.0.0.1",
        "initContainerStatuses": [{"name": "init", "ready": true, "restartCount": 0, "state": {"terminated": {"reason": "Completed", "exitCode": 0, "finishedAt": "2023-12-31T21:59:58Z"}}}],
        "containerStatuses": [{"name": "c", "ready": true, "restartCount": 1, "state": {"running": {"startedAt": "2023-12-31T21:59:59Z"}}}]});
    let patch = audit(
        "s1",
        "patch",
        "pods/status",
        "p",
        200,
        json!({"metadata": {"uid": "u1"}, "status": status}),
        Value::Null,
    );
    let mut full = pod("p", "u1");
    full["status"] = status;
    let put = audit("s2", "update", "pods/status", "p", 200, full.clone(), full);
    let mut n = Normalizer::new("c");
    let a = doc(&mut n, &lines(&[patch]));
    let b = doc(&mut n, &lines(&[put]));
    let sorted = |v: &[HyperEvent]| {
        let mut o = ops(v);
        o.sort();
        o
    };
    assert_eq!(sorted(&a), sorted(&b));
    assert_eq!(
        sorted(&a),
        [
            "condition:Ready:true",
            "containerReady:c:true",
            "containerRestartCount:c:1",
            "containerState:c:Running",
            "initContainerReady:init:true",
            "initContainerRestartCount:init:0",
            "initContainerState:init:terminated:Completed;exitCode:0",
            "phase:Running:set",
            "pod:ip:set",
        ]
    );
    // Own-time operations at their times (the +02:00 offset resolved), in time order.
    let times: Vec<i64> = a.iter().map(|h| h.time_us).collect();
    assert_eq!(
        times,
        [
            us("2023-12-31T21:59:58Z"),
            us("2023-12-31T21:59:59Z"),
            us("2023-12-31T22:00:00Z"),
            us("2024-01-01T00:00:01.000002Z")
        ]
    );
    assert!(a
        .iter()
        .all(|h| h.observed_us == us("2024-01-01T00:00:01.000002Z")));
    assert!(a
        .iter()
        .all(|h| h.object.uid == "u1" && h.object.resource == "pods/status"));
    assert_eq!(b.iter().filter(|h| h.pod.is_some()).count(), 1);
}

#[test]
fn eviction_binding_and_delete_outcomes() {
    let mut n = Normalizer::new("c");
    let mut with_finalizer = pod("p", "u1");
    with_finalizer["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:31Z");
    with_finalizer["metadata"]["deletionGracePeriodSeconds"] = json!(30);
    let mut grace0 = pod("p", "u1");
    grace0["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    let recs = [
        audit(
            "e1",
            "create",
            "pods/eviction",
            "p",
            429,
            Value::Null,
            Value::Null,
        ),
        audit(
            "e2",
            "create",
            "pods/binding",
            "p",
            409,
            json!({"kind": "Binding", "target": {"name": "n1"}}),
            Value::Null,
        ),
        audit(
            "e3",
            "delete",
            "pods",
            "p",
            200,
            json!({"kind": "DeleteOptions"}),
            with_finalizer,
        ),
        audit("e4", "delete", "pods", "p", 200, Value::Null, grace0),
        audit("e5", "delete", "pods", "p", 404, Value::Null, Value::Null),
        audit(
            "e6",
            "delete",
            "pods",
            "p",
            200,
            json!({"gracePeriodSeconds": 0}),
            Value::Null,
        ),
    ];
    let out = doc(&mut n, &lines(&recs));
    assert_eq!(
        ops(&out),
        [
            "pod:eviction:failed",
            "schedule:binding:failed",
            "pod:delete:success",
            "pod:deleted:success",
            "pod:delete:failed",
            "pod:deleted:success"
        ]
    );
    assert!(
        out[1].pod.is_none(),
        "a failed binding places the pod nowhere"
    );
    assert_eq!(out[2].pod.as_ref().unwrap().deletion_grace_s, Some(30));
}

#[test]
fn metadata_patches_become_finalizer_label_annotation_operations() {
    let mut n = Normalizer::new("c");
    let create = audit(
        "m1",
        "create",
        "pods",
        "",
        201,
        pod("p", "u1"),
        pod("p", "u1"),
    );
    let mut after = pod("p", "u1");
    after["metadata"]["labels"] = json!({"app": "api"});
    after["metadata"]["finalizers"] = json!(["example.com/hold"]);
    after["metadata"]["annotations"] = json!({"note": "x"});
    let patch = audit(
        "m2",
        "patch",
        "pods",
        "p",
        200,
        json!({"metadata": {"labels": {"app": "api"}, "finalizers": ["example.com/hold"], "annotations": {"note": "x"}}}),
        after,
    );
    let unknown = audit(
        "m3",
        "patch",
        "pods",
        "other",
        200,
        json!({"metadata": {"labels": {"tier": null, "new": "v"}, "$deleteFromPrimitiveList/finalizers": ["a/b"]}}),
        Value::Null,
    );
    let out = doc(&mut n, &lines(&[create, patch, unknown]));
    assert_eq!(
        ops(&out)[2..],
        [
            "finalizer:example.com/hold:add",
            "label:app=web:delete",
            "label:app=api:add",
            "annotation:note=x:add",
            "finalizer:a/b:delete",
            "label:new=v:add",
            "label:tier=:delete",
        ]
    );
}

#[test]
fn events_by_audit_and_direct_share_a_dedup_id() {
    let event = json!({"kind": "Event", "apiVersion": "v1",
        "metadata": {"name": "p.1", "namespace": "ns", "uid": "ev-1"},
        "involvedObject": {"kind": "Pod", "namespace": "ns", "name": "p"},
        "reason": "FailedScheduling", "type": "Warning", "count": 3,
        "message": "0/3 nodes are available: 3 Insufficient cpu.",
        "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:00:10Z",
        "source": {"component": "default-scheduler"}});
    let mut n = Normalizer::new("c");
    // The pod is seen first, so the uid the Event lacks is resolved.
    let create = audit(
        "x1",
        "create",
        "pods",
        "",
        201,
        pod("p", "u1"),
        pod("p", "u1"),
    );
    let via_audit = audit(
        "x2",
        "patch",
        "events",
        "p.1",
        200,
        json!({"count": 3}),
        event.clone(),
    );
    let out = doc(&mut n, &lines(&[create, via_audit]));
    let direct = doc(&mut n, event.to_string().as_bytes());
    let a = &out[1];
    let d = &direct[0];
    assert_eq!(
        (a.kind, a.source, d.kind, d.source),
        (Kind::Event, Source::Audit, Kind::Event, Source::Event)
    );
    assert_eq!(a.dedup_id, "ev-1:3");
    assert_eq!(a.dedup_id, d.dedup_id);
    assert_eq!(a.time_us, d.time_us);
    assert_eq!(a.observed_us, us("2024-01-01T00:00:01.000002Z"));
    assert_eq!((a.object.uid.as_str(), d.object.uid.as_str()), ("u1", "u1"));
    assert_eq!(a.event, d.event);
    assert_eq!(d.event.as_ref().unwrap().count, 3);
}

#[test]
fn event_lists_both_apis() {
    let list = json!({"kind": "EventList", "apiVersion": "events.k8s.io/v1", "items": [
        {"metadata": {"uid": "e1", "namespace": "ns"}, "regarding": {"kind": "Pod", "name": "p", "uid": "u1"},
         "reason": "Pulled", "note": "Successfully pulled image \"img\" in 1.2s", "type": "Normal",
         "eventTime": "2024-01-01T00:00:05.250000Z", "reportingController": "kubelet", "reportingInstance": "node-7",
         "deprecatedCount": 2, "deprecatedFirstTimestamp": "2024-01-01T00:00:01Z"},
        {"metadata": {"uid": "e2"}, "regarding": {"kind": "Node", "name": "node-7"}, "reason": "NodeReady", "eventTime": "2024-01-01T00:00:05Z"}
    ]});
    let mut n = Normalizer::new("c");
    let mut out = Vec::new();
    let r = n.normalize_document("ev.json", list.to_string().as_bytes(), &mut out);
    assert_eq!((r.records, r.events, r.skipped), (2, 1, 1));
    let e = out[0].event.as_ref().unwrap();
    assert_eq!(
        (e.host.as_str(), e.component.as_str(), e.count),
        ("node-7", "kubelet", 2)
    );
    assert_eq!(out[0].dedup_id, "e1:2");
    assert_eq!(out[0].time_precision, TimePrecision::Micros);
    assert_eq!(e.first_us, Some(us("2024-01-01T00:00:01Z")));
}

#[test]
fn pod_list_snapshots_diff_and_watch_delete() {
    let mut p1 = pod("p", "u1");
    let mut p2 = p1.clone();
    p2["metadata"]["resourceVersion"] = json!("2");
    p2["status"] = json!({"phase": "Running", "podIP": "10.1.1.1",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:09Z"}],
        "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2024-01-01T00:00:08Z"}}}]});
    p1["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-01-01T00:00:01Z"}]);
    // Items of an API list carry no kind: the list's kind names them.
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("kind");
        v
    };
    let list =
        json!({"kind": "PodList", "apiVersion": "v1", "items": [strip(p1), strip(p2.clone())]});
    let mut n = Normalizer::new("c");
    let out = doc(&mut n, list.to_string().as_bytes());
    let first: Vec<_> = out
        .iter()
        .filter(|h| h.dedup_id.starts_with("u1:1#"))
        .collect();
    let second: Vec<_> = out
        .iter()
        .filter(|h| h.dedup_id.starts_with("u1:2#"))
        .collect();
    assert_eq!(
        ops(&first.iter().map(|h| (*h).clone()).collect::<Vec<_>>()),
        [
            "pod:create:success",
            "schedule:my-scheduler:entry",
            "phase:Pending:set",
            "condition:PodScheduled:true"
        ]
    );
    let mut later = ops(&second.iter().map(|h| (*h).clone()).collect::<Vec<_>>());
    later.sort();
    assert_eq!(
        later,
        [
            "condition:Ready:true",
            "containerReady:c:true",
            "containerRestartCount:c:0",
            "containerState:c:Running",
            "phase:Running:set",
            "pod:ip:set"
        ]
    );
    assert!(out.iter().all(|h| h.source == Source::Watch));
    // Seeing the same snapshot again says nothing new.
    assert!(doc(&mut n, p2.to_string().as_bytes()).is_empty());
    // A watch DELETED event ends it.
    let mut gone = p2.clone();
    gone["metadata"]["resourceVersion"] = json!("3");
    let out = doc(
        &mut n,
        json!({"type": "DELETED", "object": gone})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(ops(&out), ["pod:deleted:success"]);
}

#[test]
fn pods_missing_from_a_relist_are_reported_gone_once() {
    let mut n = Normalizer::new("c");
    for p in [pod("a", "u1"), pod("b", "u2"), pod("c", "u3")] {
        assert!(!doc(&mut n, p.to_string().as_bytes()).is_empty());
    }
    // A complete list later holds only u3: u1 and u2 went while unwatched.
    let listed: HashSet<String> = ["u3".to_string()].into();
    let at = us("2024-01-01T01:00:00Z");
    let mut out = Vec::new();
    assert_eq!(n.pods_missing_from_list(&listed, at, "900", &mut out), 2);
    let mut uids: Vec<_> = out.iter().map(|h| h.object.uid.as_str()).collect();
    uids.sort();
    assert_eq!(uids, ["u1", "u2"]);
    let u1 = out.iter().find(|h| h.object.uid == "u1").unwrap();
    assert_eq!(u1.operations, ["pod:gone:unobserved"]);
    assert_eq!((u1.object.name.as_str(), u1.time_us), ("a", at));
    assert_eq!(u1.object.namespace, "ns");
    assert_ne!(u1.time_precision, TimePrecision::Micros);
    assert!(out.iter().all(|h| h.dedup_id.contains("gone@900")));
    // Reported once: the next list says nothing more, u3 is still known.
    let mut again = Vec::new();
    assert_eq!(n.pods_missing_from_list(&listed, at, "901", &mut again), 0);
    assert_eq!(
        n.pods_missing_from_list(&HashSet::new(), at, "902", &mut again),
        1
    );
    assert_eq!(again[0].object.uid, "u3");
}

#[test]
fn requests_received_and_reads_are_skipped() {
    let mut rr = audit("r1", "create", "pods", "", 201, pod("p", "u1"), Value::Null);
    rr["stage"] = json!("RequestReceived");
    let get = audit("r2", "get", "pods", "p", 200, Value::Null, Value::Null);
    let secret = audit(
        "r3",
        "create",
        "secrets",
        "s",
        201,
        json!({"data": {"k": "c2VjcmV0"}}),
        Value::Null,
    );
    let mut n = Normalizer::new("c");
    let mut out = Vec::new();
    let r = n.normalize_document("t", &lines(&[rr, get, secret]), &mut out);
    assert_eq!((r.records, r.skipped, r.events), (3, 3, 0));
}

#[test]
fn gke_entries_as_json_lines_and_values() {
    let entry = json!({"insertId": "g1", "timestamp": "2024-01-01T00:00:02.5Z",
        "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "methodName": "io.k8s.core.v1.pods.binding.create",
            "resourceName": "core/v1/namespaces/ns/pods/p/binding",
            "authenticationInfo": {"principalEmail": "system:kube-scheduler"},
            "request": {"@type": "core.k8s.io/v1.Binding", "kind": "Binding", "target": {"kind": "Node", "name": "n2"}},
            "status": {"code": 0}}});
    let other = json!({"insertId": "g2", "timestamp": "2024-01-01T00:00:02Z",
        "protoPayload": {"methodName": "google.container.v1.ClusterManager.GetCluster"}});
    let mut n = Normalizer::new("c");
    let mut out = Vec::new();
    assert_eq!(n.normalize_json_value("gke", &entry, &mut out).unwrap(), 1);
    assert_eq!(
        n.normalize_line("gke", 2, other.to_string().as_bytes(), &mut out)
            .unwrap(),
        0
    );
    assert_eq!(out[0].operations, ["schedule:binding:success"]);
    assert_eq!(out[0].response_code, Some(201));
    assert_eq!(
        (
            out[0].object.namespace.as_str(),
            out[0].object.name.as_str()
        ),
        ("ns", "p")
    );
    assert_eq!(out[0].pod.as_ref().unwrap().node_name, "n2");
    assert_eq!(out[0].time_us % 1_000_000, 500_000);
    let err = n
        .normalize_line("gke", 9, b"{\"kind\":", &mut out)
        .unwrap_err();
    assert_eq!(err.line, Some(9));
    assert!(err.to_string().starts_with("gke:9: "));
}

#[test]
fn yaml_errors_name_their_line_and_spare_other_documents() {
    let text = format!(
        "{}\n---\nkind: Pod\nmetadata: [unclosed\n---\n{}\n",
        serde_yaml::to_string(&pod("a", "ua")).unwrap(),
        serde_yaml::to_string(&pod("b", "ub")).unwrap()
    );
    let mut n = Normalizer::new("c");
    let mut out = Vec::new();
    let r = n.normalize_document("pods.yaml", text.as_bytes(), &mut out);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    let bad_line = text
        .lines()
        .position(|l| l.starts_with("metadata: ["))
        .unwrap() as u64
        + 1;
    assert!(
        r.errors[0].line.unwrap() >= bad_line - 1,
        "{:?} vs {bad_line}",
        r.errors[0]
    );
    let names: std::collections::BTreeSet<_> = out.iter().map(|h| h.object.name.as_str()).collect();
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["a", "b"]);
}
