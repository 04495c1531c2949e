use std::collections::BTreeMap;

use lunettes_schemas::{SpanOwner, SpanRecord, SpanStatus};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;

use super::*;
use crate::otlp::semconv::{deployment_of_replicaset, workload_attributes};

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const ROOT: &str = "b7ad6b7169203331";
const CHILD: &str = "00f067aa0ba902b7";

fn record(trace: &str, span: &str, parent: &str, name: &str) -> SpanRecord {
    SpanRecord {
        trace_id: trace.into(),
        span_id: span.into(),
        parent_span_id: parent.into(),
        delivery_id: "d1".into(),
        cluster: "prod-a".into(),
        namespace: "shop".into(),
        pod_name: "web-7c9f8d6b5-x2kqz".into(),
        pod_uid: "uid-1".into(),
        node: "node-3".into(),
        name: name.into(),
        instance: String::new(),
        owner: SpanOwner::K8s,
        start_us: 1_700_000_000_000_000,
        end_us: 1_700_000_002_500_000,
        status: SpanStatus::Ok,
        status_message: String::new(),
        attributes: BTreeMap::new(),
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| match &a.value {
            Some(v) => match &v.value {
                Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            },
            None => None,
        })
}

#[test]
fn ids_and_times_are_carried_exactly() {
    let s = convert(
        &record(TRACE, CHILD, ROOT, "image_pull"),
        ResourceScope::Pod,
    )
    .unwrap();
    assert_eq!(hex::encode(&s.span.trace_id), TRACE);
    assert_eq!(hex::encode(&s.span.span_id), CHILD);
    assert_eq!(hex::encode(&s.span.parent_span_id), ROOT);
    assert_eq!(s.span.start_time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(s.span.end_time_unix_nano, 1_700_000_002_500_000_000);
    assert_eq!(s.span.status.as_ref().unwrap().code, StatusCode::Ok as i32);
    let root = convert(&record(TRACE, ROOT, "", "PodCreate"), ResourceScope::Pod).unwrap();
    assert!(root.span.parent_span_id.is_empty());
    // Upper-case hex is the same id.
    let upper = convert(
        &record(&TRACE.to_uppercase(), CHILD, ROOT, "x"),
        ResourceScope::Pod,
    )
    .unwrap();
    assert_eq!(upper.span.trace_id, s.span.trace_id);
}

#[test]
fn malformed_records_are_rejected_with_the_reason() {
    let short = convert(&record("abc", ROOT, "", "x"), ResourceScope::Pod).unwrap_err();
    assert!(
        short.to_string().contains("trace_id") && short.to_string().contains("32 hex"),
        "{short}"
    );
    let nothex = convert(
        &record(TRACE, "zzzzzzzzzzzzzzzz", "", "x"),
        ResourceScope::Pod,
    )
    .unwrap_err();
    assert!(
        nothex.to_string().contains("span_id") && nothex.to_string().contains("not hexadecimal")
    );
    let zero = convert(&record(&"0".repeat(32), ROOT, "", "x"), ResourceScope::Pod).unwrap_err();
    assert!(zero.to_string().contains("all zeros"));
    let parent = convert(&record(TRACE, ROOT, "12", "x"), ResourceScope::Pod).unwrap_err();
    assert!(parent.to_string().contains("parent_span_id"));
    let mut negative = record(TRACE, ROOT, "", "x");
    negative.start_us = -5;
    let e = convert(&negative, ResourceScope::Pod).unwrap_err();
    assert!(e.to_string().contains("start_us = -5"), "{e}");
    let mut no_cluster = record(TRACE, ROOT, "", "x");
    no_cluster.cluster = "".into();
    assert!(convert(&no_cluster, ResourceScope::Pod)
        .unwrap_err()
        .to_string()
        .contains("cluster"));
}

#[test]
fn end_before_start_is_clamped_and_flagged() {
    let mut r = record(TRACE, CHILD, ROOT, "container_start");
    r.end_us = r.start_us - 10;
    let s = convert(&r, ResourceScope::Pod).unwrap();
    assert_eq!(s.span.end_time_unix_nano, s.span.start_time_unix_nano);
    assert_eq!(
        attr(&s.span.attributes, "lunettes.clamped"),
        Some("end_before_start")
    );
}

#[test]
fn failed_root_has_error_status_and_code() {
    let mut r = record(TRACE, ROOT, "", "PodCreate");
    r.status = SpanStatus::Error;
    r.status_message = "ImagePullBackOff".into();
    r.owner = SpanOwner::Others;
    r.attributes.insert("result".into(), "fail".into());
    r.attributes
        .insert("code".into(), "ImagePullBackOff".into());
    r.attributes.insert("slo_class".into(), "typical".into());
    let s = convert(&r, ResourceScope::Pod).unwrap();
    let status = s.span.status.unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "ImagePullBackOff");
    assert_eq!(
        attr(&s.span.attributes, "lunettes.code"),
        Some("ImagePullBackOff")
    );
    assert_eq!(attr(&s.span.attributes, "lunettes.result"), Some("fail"));
    assert_eq!(
        attr(&s.span.attributes, "lunettes.slo_class"),
        Some("typical")
    );
    assert_eq!(
        attr(&s.span.attributes, "lunettes.span.owner"),
        Some("others")
    );
    assert_eq!(attr(&s.span.attributes, "lunettes.delivery.id"), Some("d1"));
    // Exactly one code attribute even though both the status and the attribute carry it.
    assert_eq!(
        s.span
            .attributes
            .iter()
            .filter(|a| a.key == "lunettes.code")
            .count(),
        1
    );

    // Without the attribute, the status message becomes the code.
    r.attributes.clear();
    let s = convert(&r, ResourceScope::Pod).unwrap();
    assert_eq!(
        attr(&s.span.attributes, "lunettes.code"),
        Some("ImagePullBackOff")
    );
}

#[test]
fn unclosed_span_is_unset() {
    let mut r = record(TRACE, CHILD, ROOT, "container_readiness");
    r.status = SpanStatus::Unset;
    let s = convert(&r, ResourceScope::Pod).unwrap();
    assert_eq!(s.span.status.unwrap().code, StatusCode::Unset as i32);
}

#[test]
fn container_and_image_follow_semantic_conventions() {
    let mut r = record(TRACE, CHILD, ROOT, "image_pull");
    r.instance = "registry.example:5000/team/app:1.4.2".into();
    r.attributes.insert("container".into(), "app".into());
    r.attributes.insert(
        "image".into(),
        "registry.example:5000/team/app:1.4.2".into(),
    );
    r.attributes
        .insert("meta.k8s.com/biz-name".into(), "checkout".into());
    let s = convert(&r, ResourceScope::Pod).unwrap();
    let a = &s.span.attributes;
    assert_eq!(attr(a, "k8s.container.name"), Some("app"));
    assert_eq!(
        attr(a, "container.image.name"),
        Some("registry.example:5000/team/app")
    );
    let tags = a.iter().find(|k| k.key == "container.image.tags").unwrap();
    match tags.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::ArrayValue(arr)) => {
            assert_eq!(arr.values.len(), 1);
            assert_eq!(
                arr.values[0].value,
                Some(any_value::Value::StringValue("1.4.2".into()))
            );
        }
        other => panic!("tags: {other:?}"),
    }
    assert_eq!(
        attr(a, "lunettes.span.instance"),
        Some("registry.example:5000/team/app:1.4.2")
    );
    assert_eq!(attr(a, "lunettes.meta.k8s.com/biz-name"), Some("checkout"));
    // An image without a tag has no tags attribute; a registry port is not a tag.
    let mut r = record(TRACE, CHILD, ROOT, "image_pull");
    r.attributes
        .insert("image".into(), "registry:5000/app".into());
    let s = convert(&r, ResourceScope::Pod).unwrap();
    assert_eq!(
        attr(&s.span.attributes, "container.image.name"),
        Some("registry:5000/app")
    );
    assert!(!s
        .span
        .attributes
        .iter()
        .any(|k| k.key == "container.image.tags"));
}

#[test]
fn workload_names_from_owner() {
    let find = |attrs: &[KeyValue], k: &str| attr(attrs, k).map(str::to_string);
    let rs = workload_attributes("ReplicaSet", "web-7c9f8d6b5", None);
    assert_eq!(
        find(&rs, "k8s.replicaset.name").as_deref(),
        Some("web-7c9f8d6b5")
    );
    assert_eq!(find(&rs, "k8s.deployment.name").as_deref(), Some("web"));
    assert_eq!(
        find(&rs, "lunettes.owner.kind").as_deref(),
        Some("ReplicaSet")
    );
    // A name whose suffix is not a template hash is not a Deployment's.
    let plain = workload_attributes("ReplicaSet", "my-replicas", None);
    assert_eq!(find(&plain, "k8s.deployment.name"), None);
    assert_eq!(
        deployment_of_replicaset("api-server-abcde", Some("abcde")),
        Some("api-server")
    );
    assert_eq!(
        deployment_of_replicaset("api-server-abcde", Some("xyz")),
        None
    );
    assert_eq!(deployment_of_replicaset("nodash", None), None);
    let ss = workload_attributes("StatefulSet", "db", None);
    assert_eq!(find(&ss, "k8s.statefulset.name").as_deref(), Some("db"));
    let ds = workload_attributes("DaemonSet", "agent", None);
    assert_eq!(find(&ds, "k8s.daemonset.name").as_deref(), Some("agent"));
    let job = workload_attributes("Job", "backup-28934460", None);
    assert_eq!(
        find(&job, "k8s.job.name").as_deref(),
        Some("backup-28934460")
    );
    assert_eq!(find(&job, "k8s.cronjob.name").as_deref(), Some("backup"));
    let job = workload_attributes("Job", "migrate-v2", None);
    assert_eq!(find(&job, "k8s.cronjob.name"), None);
}

fn trace_of(trace: &str, children: usize, pod: &str) -> Vec<SpanRecord> {
    let mut root = record(trace, ROOT, "", "PodCreate");
    root.pod_uid = pod.into();
    root.attributes
        .insert("owner_kind".into(), "ReplicaSet".into());
    root.attributes
        .insert("owner_name".into(), "web-7c9f8d6b5".into());
    let mut out = vec![root];
    for i in 0..children {
        let mut c = record(trace, &format!("{:016x}", i + 1), ROOT, "container_start");
        c.pod_uid = pod.into();
        out.push(c);
    }
    out
}

fn convert_all(records: &[SpanRecord], scope: ResourceScope) -> Vec<OtlpSpan> {
    records.iter().map(|r| convert(r, scope).unwrap()).collect()
}

#[test]
fn pod_resources_carry_k8s_attributes_and_workload() {
    let spans = convert_all(&trace_of(TRACE, 2, "uid-1"), ResourceScope::Pod);
    let reqs = build_requests(spans, 100);
    assert_eq!(reqs.len(), 1);
    assert_eq!((reqs[0].spans, reqs[0].traces), (3, 1));
    let rs = &reqs[0].request.resource_spans;
    assert_eq!(rs.len(), 1);
    let res = &rs[0].resource.as_ref().unwrap().attributes;
    assert_eq!(attr(res, "service.name"), Some("lunettes"));
    assert_eq!(attr(res, "k8s.cluster.name"), Some("prod-a"));
    assert_eq!(attr(res, "k8s.namespace.name"), Some("shop"));
    assert_eq!(attr(res, "k8s.pod.name"), Some("web-7c9f8d6b5-x2kqz"));
    assert_eq!(attr(res, "k8s.pod.uid"), Some("uid-1"));
    assert_eq!(attr(res, "k8s.node.name"), Some("node-3"));
    assert_eq!(attr(res, "k8s.deployment.name"), Some("web"));
    assert_eq!(attr(res, "k8s.replicaset.name"), Some("web-7c9f8d6b5"));
    let scope = rs[0].scope_spans[0].scope.as_ref().unwrap();
    assert_eq!(scope.name, "lunettes");
    // Pod attributes are not repeated on spans.
    assert!(rs[0].scope_spans[0]
        .spans
        .iter()
        .all(|s| attr(&s.attributes, "k8s.pod.uid").is_none()));
}

#[test]
fn cluster_scope_moves_pod_attributes_to_spans() {
    let spans = convert_all(&trace_of(TRACE, 1, "uid-1"), ResourceScope::Cluster);
    let reqs = build_requests(spans, 100);
    let rs = &reqs[0].request.resource_spans;
    assert_eq!(rs.len(), 1);
    let res = &rs[0].resource.as_ref().unwrap().attributes;
    assert_eq!(attr(res, "k8s.cluster.name"), Some("prod-a"));
    assert_eq!(attr(res, "k8s.pod.uid"), None);
    let root = &rs[0].scope_spans[0].spans[0];
    assert_eq!(attr(&root.attributes, "k8s.pod.uid"), Some("uid-1"));
    assert_eq!(attr(&root.attributes, "k8s.deployment.name"), Some("web"));
}

#[test]
fn traces_are_never_split_across_requests() {
    let t2 = "1af7651916cd43dd8448eb211c80319c";
    let t3 = "2af7651916cd43dd8448eb211c80319c";
    let mut records = trace_of(TRACE, 3, "uid-1"); // 4 spans
                                                   // Interleave a second trace's spans with the first's: grouping restores them.
    let second = trace_of(t2, 2, "uid-2"); // 3 spans
    records.insert(1, second[0].clone());
    records.extend(second[1..].iter().cloned());
    records.extend(trace_of(t3, 5, "uid-3")); // 6 spans
    let reqs = build_requests(convert_all(&records, ResourceScope::Pod), 5);
    let shape: Vec<(usize, usize)> = reqs.iter().map(|r| (r.spans, r.traces)).collect();
    // 4 fits, 4+3 > 5 starts a new one, 3+6 > 5 again; the 6-span trace goes whole.
    assert_eq!(shape, vec![(4, 1), (3, 1), (6, 1)]);
    for r in &reqs {
        let ids: std::collections::BTreeSet<Vec<u8>> = r
            .request
            .resource_spans
            .iter()
            .flat_map(|x| &x.scope_spans)
            .flat_map(|x| &x.spans)
            .map(|s| s.trace_id.clone())
            .collect();
        assert_eq!(ids.len(), 1);
    }
    let all = build_requests(convert_all(&records, ResourceScope::Pod), 1000);
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].spans, all[0].traces), (13, 3));
    assert_eq!(
        all[0].request.resource_spans.len(),
        3,
        "one resource per pod"
    );
}

#[test]
fn building_is_deterministic_byte_for_byte() {
    let mut records = trace_of(TRACE, 4, "uid-1");
    records.extend(trace_of("1af7651916cd43dd8448eb211c80319c", 2, "uid-2"));
    let a = build_requests(convert_all(&records, ResourceScope::Pod), 1000);
    let b = build_requests(convert_all(&records, ResourceScope::Pod), 1000);
    assert_eq!(a[0].request.encode_to_vec(), b[0].request.encode_to_vec());
}

#[test]
fn split_by_trace_keeps_every_span_once() {
    let mut records = trace_of(TRACE, 2, "uid-1");
    records.extend(trace_of("1af7651916cd43dd8448eb211c80319c", 3, "uid-1"));
    let req = build_requests(convert_all(&records, ResourceScope::Pod), 1000).remove(0);
    let parts = split_by_trace(&req.request);
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts.iter().map(|p| p.spans).collect::<Vec<_>>(),
        vec![3, 4]
    );
    for p in &parts {
        assert_eq!(p.traces, 1);
        assert_eq!(p.request.resource_spans.len(), 1);
        assert_eq!(
            p.request.resource_spans[0].resource,
            req.request.resource_spans[0].resource
        );
    }
}
