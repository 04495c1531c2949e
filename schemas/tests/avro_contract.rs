//! The Avro contract: every record round-trips through single-object encoding,
//! the Rust types match the `.avsc` files, and schema evolution by an added
//! optional field is compatible both ways.

use std::collections::BTreeMap;

use lunettes_schemas::avro::{self, AvroRecord, ParsedSchema, Registry};
use lunettes_schemas::*;
use proptest::prelude::*;

fn evolved_schema() -> &'static ParsedSchema {
    // The current HyperEvent schema plus one new optional field, as a future
    // collector would write it.
    static S: std::sync::OnceLock<ParsedSchema> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let mut v: serde_json::Value = serde_json::from_str(avro::HYPEREVENT_AVSC).unwrap();
        v["fields"].as_array_mut().unwrap().push(serde_json::json!({
            "name": "priority_class", "type": ["null", "string"], "default": null
        }));
        ParsedSchema::parse(&v.to_string()).unwrap()
    })
}

#[test]
fn old_record_readable_after_optional_field_added() {
    // Written with the current schema, read by a reader whose schema has the new field.
    let ev = HyperEvent::example();
    let bytes = avro::encode(&ev).unwrap();
    let back: serde_json::Value = Registry::global()
        .decode_as::<serde_json::Value>(&bytes, evolved_schema())
        .unwrap();
    assert_eq!(back["cluster"], "prod-1");
    assert_eq!(back["priority_class"], serde_json::Value::Null);
    assert_eq!(back["operations"][0], "pod:create:success");
}

#[test]
fn new_record_readable_by_current_reader() {
    // Written by a newer writer with the extra field; the current reader knows
    // that writer schema (registered) and drops the field.
    let mut reg = Registry::with_current();
    reg.register(evolved_schema());
    let ev = HyperEvent::example();
    let mut as_json = serde_json::to_value(&ev).unwrap();
    as_json["priority_class"] = serde_json::json!("high");
    let bytes = avro::encode_with(evolved_schema(), &as_json).unwrap();
    assert_ne!(bytes[2..10], HyperEvent::schema().fingerprint);
    let back: HyperEvent = reg.decode(&bytes).unwrap();
    assert_eq!(back, ev);
    // A reader that does not know the writer schema says so instead of guessing.
    let err = Registry::with_current()
        .decode::<HyperEvent>(&bytes)
        .unwrap_err();
    assert!(err.to_string().contains("unknown writer schema"), "{err}");
}

#[test]
fn header_is_single_object_encoding() {
    let bytes = avro::encode(&HyperEvent::example()).unwrap();
    assert_eq!(&bytes[..2], &[0xC3, 0x01]);
    assert_eq!(&bytes[2..10], &HyperEvent::schema().fingerprint);
    assert!(avro::decode::<HyperEvent>(b"{\"json\":1}").is_err());
    assert!(avro::decode::<HyperEvent>(&bytes[..12]).is_err());
}

fn sample_delivery() -> Delivery {
    Delivery {
        id: "d1".into(),
        version: 2,
        cluster: "c".into(),
        namespace: "ns".into(),
        name: "p".into(),
        uid: "u".into(),
        action: Action::Create,
        result: DeliveryResult::ApiFailed,
        code: "QuotaWebhookDenied".into(),
        sub_reason: String::new(),
        summary: "denied".into(),
        created_at_us: 1,
        finished_at_us: None,
        decided_at_us: 2,
        deadline_us: Some(3),
        slo_ms: Some(90_000),
        slo_class: "typical".into(),
        sli_ms: None,
        k8s_sli_ms: Some(5),
        phases: Phases {
            schedule_ms: Some(10),
            ..Default::default()
        },
        node: "n".into(),
        pod_ip: String::new(),
        owner_kind: "ReplicaSet".into(),
        owner_name: "rs".into(),
        is_job: false,
        flags: vec!["clamped:readiness".into()],
        trace_id: "00".repeat(16),
    }
}

#[test]
fn outputs_round_trip() {
    let d = sample_delivery();
    assert_eq!(
        avro::decode::<Delivery>(&avro::encode(&d).unwrap()).unwrap(),
        d
    );
    let mut attrs = BTreeMap::new();
    attrs.insert("k8s.container.name".to_string(), "app".to_string());
    let s = SpanRecord {
        trace_id: "ab".repeat(16).into(),
        span_id: "cd".repeat(8),
        parent_span_id: String::new().into(),
        delivery_id: "d1".into(),
        cluster: "c".into(),
        namespace: "ns".into(),
        pod_name: "p".into(),
        pod_uid: "u".into(),
        node: "n".into(),
        name: "image_pull".into(),
        instance: "nginx".into(),
        owner: SpanOwner::K8s,
        start_us: 5,
        end_us: 9,
        status: SpanStatus::Error,
        status_message: "ImagePullBackOff".into(),
        attributes: attrs,
    };
    assert_eq!(
        avro::decode::<SpanRecord>(&avro::encode(&s).unwrap()).unwrap(),
        s
    );
    let mut codes = BTreeMap::new();
    codes.insert("FailedScheduling".to_string(), 3);
    let w = WindowRow {
        id: "w".into(),
        version: 1,
        shard: 3,
        width: WindowWidth::Hour,
        window_start_us: 3_600_000_000,
        cluster: "c".into(),
        namespace: "ns".into(),
        action: Action::Delete,
        total: 10,
        success: 7,
        fail: 3,
        kill: 0,
        api_failed: 0,
        abandoned: 0,
        codes,
    };
    assert_eq!(
        avro::decode::<WindowRow>(&avro::encode(&w).unwrap()).unwrap(),
        w
    );
    // A record decoded as the wrong type is rejected, not misread.
    assert!(avro::decode::<WindowRow>(&avro::encode(&d).unwrap()).is_err());
}

fn arb_string() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

prop_compose! {
    fn arb_event()(cluster in arb_string(), name in arb_string(), uid in arb_string(),
                   t in any::<i64>(), ops in prop::collection::vec(arb_string(), 0..4),
                   code in prop::option::of(any::<i32>()), with_event in any::<bool>(),
                   reason in arb_string(), msg in arb_string(), count in any::<i32>(),
                   labels in prop::collection::btree_map(arb_string(), arb_string(), 0..3),
                   with_pod in any::<bool>()) -> HyperEvent {
        HyperEvent {
            cluster, time_us: t, observed_us: t.wrapping_add(1),
            object: ObjectRef { resource: "pods".into(), namespace: "ns".into(), name, uid, field_path: String::new() },
            operations: ops,
            kind: if with_event { Kind::Event } else { Kind::Operation },
            source: if with_event { Source::Event } else { Source::Audit },
            event: with_event.then(|| EventInfo { type_: "Warning".into(), reason, message: msg, count, component: "kubelet".into(), host: "n1".into(), first_us: Some(t) }),
            response_code: code,
            dedup_id: "x".into(),
            pod: with_pod.then(|| PodFacts { labels, containers: vec![ContainerFacts { name: "c".into(), image: "i".into(), ..Default::default() }], ..Default::default() }),
            ..Default::default()
        }
    }
}

proptest! {
    #[test]
    fn hyperevent_round_trips(ev in arb_event()) {
        let bytes = avro::encode(&ev).unwrap();
        prop_assert_eq!(avro::decode::<HyperEvent>(&bytes).unwrap(), ev);
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = avro::decode::<HyperEvent>(&bytes);
        let mut framed = vec![0xC3, 0x01];
        framed.extend_from_slice(&HyperEvent::schema().fingerprint);
        framed.extend_from_slice(&bytes);
        let _ = avro::decode::<HyperEvent>(&framed);
    }
}
