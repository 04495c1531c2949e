//! The direct codec (`avro_fast`) against apache-avro's `Value` path.
//!
//! For arbitrary contract records: the direct decoder reads exactly what
//! apache-avro reads from the same bytes, bytes written by either encoder
//! decode to the original value through the other decoder, and truncated or
//! corrupted datums are errors, never panics.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use lunettes_schemas::avro::{self, AvroRecord};
use lunettes_schemas::avro_fast::{self, FastSchema};
use lunettes_schemas::*;
use proptest::prelude::*;

fn s() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(s(), 0..4)
}

fn opt_long() -> impl Strategy<Value = Option<i64>> {
    prop::option::of(any::<i64>())
}

fn container() -> impl Strategy<Value = ContainerFacts> {
    (
        s(),
        s(),
        any::<i64>(),
        any::<i64>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(name, image, cpu_millis, memory_bytes, has_readiness_probe, has_post_start)| {
                ContainerFacts {
                    name,
                    image,
                    cpu_millis,
                    memory_bytes,
                    has_readiness_probe,
                    has_post_start,
                }
            },
        )
}

fn pod() -> impl Strategy<Value = PodFacts> {
    (
        (s(), s(), s(), s(), s()),
        (opt_long(), opt_long(), opt_long()),
        (
            prop::collection::vec(container(), 0..3),
            prop::collection::vec(container(), 0..2),
            strings(),
        ),
        (s(), s(), any::<bool>(), strings(), strings()),
        prop::collection::btree_map(s(), s(), 0..4),
    )
        .prop_map(|(a, b, c, d, labels)| PodFacts {
            scheduler_name: a.0,
            restart_policy: a.1,
            node_name: a.2,
            pod_ip: a.3,
            phase: a.4,
            creation_us: b.0,
            deletion_us: b.1,
            deletion_grace_s: b.2,
            containers: c.0,
            init_containers: c.1,
            volume_kinds: c.2,
            owner_kind: d.0,
            owner_name: d.1,
            host_network: d.2,
            readiness_gates: d.3,
            finalizers: d.4,
            labels,
        })
}

fn event_info() -> impl Strategy<Value = EventInfo> {
    (s(), s(), s(), any::<i32>(), s(), s(), opt_long()).prop_map(
        |(type_, reason, message, count, component, host, first_us)| EventInfo {
            type_,
            reason,
            message,
            count,
            component,
            host,
            first_us,
        },
    )
}

fn hyperevent() -> impl Strategy<Value = HyperEvent> {
    (
        (
            s(),
            0..3u8,
            0..3u8,
            any::<i64>(),
            any::<i64>(),
            any::<bool>(),
        ),
        (s(), s(), s(), s(), s(), strings()),
        (
            prop::option::of(event_info()),
            prop::option::of((s(), s())),
            s(),
            prop::option::of(any::<i32>()),
            s(),
            s(),
        ),
        prop::option::of(pod()),
    )
        .prop_map(|(a, o, e, pod)| HyperEvent {
            cluster: a.0,
            source: [Source::Audit, Source::Event, Source::Watch][a.1 as usize],
            kind: [Kind::Operation, Kind::Event, Kind::Watermark][a.2 as usize],
            time_us: a.3,
            observed_us: a.4,
            time_precision: if a.5 {
                TimePrecision::Seconds
            } else {
                TimePrecision::Micros
            },
            object: ObjectRef {
                resource: o.0,
                namespace: o.1,
                name: o.2,
                uid: o.3,
                field_path: o.4,
            },
            operations: o.5,
            event: e.0,
            actor: e.1.map(|(user, user_agent)| Actor { user, user_agent }),
            verb: e.2,
            response_code: e.3,
            response_message: e.4,
            dedup_id: e.5,
            pod,
        })
}

fn delivery() -> impl Strategy<Value = Delivery> {
    (
        (
            s(),
            any::<i32>(),
            s(),
            s(),
            s(),
            s(),
            any::<bool>(),
            0..5usize,
        ),
        (
            s(),
            s(),
            s(),
            any::<i64>(),
            opt_long(),
            any::<i64>(),
            opt_long(),
        ),
        (opt_long(), s(), opt_long(), opt_long()),
        (
            opt_long(),
            opt_long(),
            opt_long(),
            opt_long(),
            opt_long(),
            opt_long(),
        ),
        (s(), s(), s(), s(), any::<bool>(), strings(), s()),
    )
        .prop_map(|(a, b, c, p, d)| Delivery {
            id: a.0,
            version: a.1,
            cluster: a.2,
            namespace: a.3,
            name: a.4,
            uid: a.5,
            action: if a.6 { Action::Delete } else { Action::Create },
            result: DeliveryResult::ALL[a.7],
            code: b.0,
            sub_reason: b.1,
            summary: b.2,
            created_at_us: b.3,
            finished_at_us: b.4,
            decided_at_us: b.5,
            deadline_us: b.6,
            slo_ms: c.0,
            slo_class: c.1,
            sli_ms: c.2,
            k8s_sli_ms: c.3,
            phases: Phases {
                schedule_ms: p.0,
                image_pull_ms: p.1,
                sandbox_ms: p.2,
                init_ms: p.3,
                container_start_ms: p.4,
                readiness_ms: p.5,
            },
            node: d.0,
            pod_ip: d.1,
            owner_kind: d.2,
            owner_name: d.3,
            is_job: d.4,
            flags: d.5,
            trace_id: d.6,
        })
}

fn span() -> impl Strategy<Value = SpanRecord> {
    (
        (s(), s(), s(), s(), s(), s(), s(), s()),
        (
            s(),
            s(),
            s(),
            0..3u8,
            any::<i64>(),
            any::<i64>(),
            0..3u8,
            s(),
        ),
        prop::collection::btree_map(s(), s(), 0..5),
    )
        .prop_map(|(a, b, attributes)| SpanRecord {
            trace_id: a.0.into(),
            span_id: a.1,
            parent_span_id: a.2.into(),
            delivery_id: a.3.into(),
            cluster: a.4.into(),
            namespace: a.5.into(),
            pod_name: a.6.into(),
            pod_uid: a.7.into(),
            node: b.0.into(),
            name: b.1,
            instance: b.2,
            owner: [SpanOwner::K8s, SpanOwner::Custom, SpanOwner::Others][b.3 as usize],
            start_us: b.4,
            end_us: b.5,
            status: [SpanStatus::Ok, SpanStatus::Error, SpanStatus::Unset][b.6 as usize],
            status_message: b.7,
            attributes,
        })
}

fn window() -> impl Strategy<Value = WindowRow> {
    (
        (s(), any::<i32>(), any::<i32>(), any::<bool>(), any::<i64>()),
        (s(), s(), any::<bool>()),
        prop::array::uniform6(any::<i64>()),
        prop::collection::btree_map(s(), any::<i64>(), 0..5),
    )
        .prop_map(|(a, b, n, codes)| WindowRow {
            id: a.0,
            version: a.1,
            shard: a.2,
            width: if a.3 {
                WindowWidth::Hour
            } else {
                WindowWidth::Minute
            },
            window_start_us: a.4,
            cluster: b.0,
            namespace: b.1,
            action: if b.2 { Action::Delete } else { Action::Create },
            total: n[0],
            success: n[1],
            fail: n[2],
            kill: n[3],
            api_failed: n[4],
            abandoned: n[5],
            codes,
        })
}

fn deadletter() -> impl Strategy<Value = DeadLetter> {
    (
        (s(), s(), opt_long(), s()),
        (any::<i64>(), any::<i64>(), s()),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
    )
        .prop_map(|(a, b, raw)| DeadLetter {
            cluster: a.0,
            input: a.1,
            line: a.2,
            reason: a.3,
            received_us: b.0,
            raw_len: b.1,
            raw_sha256: b.2,
            raw,
        })
}

fn fast_schema<T: AvroRecord>() -> &'static FastSchema {
    T::schema()
        .fast()
        .expect("contract schema compiles for the direct codec")
}

fn fast_encode<T: AvroRecord>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    avro_fast::to_datum(fast_schema::<T>(), v, &mut out).expect("fast encode");
    out
}

/// The whole contract for one value; `same_bytes` when the type has no map
/// with more than one entry (apache-avro writes maps in hash order).
fn check<T: AvroRecord + PartialEq + Debug>(v: &T, same_bytes: bool) -> Result<(), TestCaseError> {
    let schema = T::schema();
    let slow_bytes = avro::encode_datum_slow(schema, v).unwrap();
    let fast_bytes = fast_encode(v);
    // Same bytes, same reading.
    let fast_of_slow: T = avro_fast::from_datum(fast_schema::<T>(), &slow_bytes).unwrap();
    let slow_of_slow: T = avro::decode_datum_slow(schema, &slow_bytes, None).unwrap();
    prop_assert_eq!(&fast_of_slow, &slow_of_slow);
    prop_assert_eq!(&fast_of_slow, v);
    // Fast bytes read back by both decoders.
    let slow_of_fast: T = avro::decode_datum_slow(schema, &fast_bytes, None).unwrap();
    prop_assert_eq!(&slow_of_fast, v);
    let fast_of_fast: T = avro_fast::from_datum(fast_schema::<T>(), &fast_bytes).unwrap();
    prop_assert_eq!(&fast_of_fast, v);
    prop_assert_eq!(fast_bytes.len(), slow_bytes.len());
    if same_bytes {
        prop_assert_eq!(&fast_bytes, &slow_bytes);
    }
    // The public codec takes the direct path and agrees.
    prop_assert_eq!(&avro::decode::<T>(&avro::encode(v).unwrap()).unwrap(), v);
    // Every strict prefix is an error (the decoder needs every byte).
    for n in 0..fast_bytes.len() {
        prop_assert!(
            avro_fast::from_datum::<T>(fast_schema::<T>(), &fast_bytes[..n]).is_err(),
            "prefix of {} of {} bytes decoded",
            n,
            fast_bytes.len()
        );
    }
    Ok(())
}

/// Corrupted datums must not panic (either result is fine).
fn corrupt<T: AvroRecord>(v: &T, at: usize, byte: u8) {
    let mut bytes = fast_encode(v);
    let i = at % bytes.len();
    bytes[i] = byte;
    let _ = avro_fast::from_datum::<T>(fast_schema::<T>(), &bytes);
    bytes.truncate(i);
    bytes.extend_from_slice(&[byte, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    let _ = avro_fast::from_datum::<T>(fast_schema::<T>(), &bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hyperevent_matches_apache_avro(v in hyperevent(), at in any::<usize>(), b in any::<u8>()) {
        let single_map = v.pod.as_ref().is_none_or(|p| p.labels.len() < 2);
        check(&v, single_map)?;
        corrupt(&v, at, b);
    }

    #[test]
    fn delivery_matches_apache_avro(v in delivery(), at in any::<usize>(), b in any::<u8>()) {
        check(&v, true)?;
        corrupt(&v, at, b);
    }

    #[test]
    fn span_matches_apache_avro(v in span(), at in any::<usize>(), b in any::<u8>()) {
        let single_map = v.attributes.len() < 2;
        check(&v, single_map)?;
        corrupt(&v, at, b);
    }

    #[test]
    fn window_matches_apache_avro(v in window(), at in any::<usize>(), b in any::<u8>()) {
        let single_map = v.codes.len() < 2;
        check(&v, single_map)?;
        corrupt(&v, at, b);
    }

    #[test]
    fn deadletter_matches_apache_avro(v in deadletter(), at in any::<usize>(), b in any::<u8>()) {
        check(&v, true)?;
        corrupt(&v, at, b);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = avro_fast::from_datum::<HyperEvent>(fast_schema::<HyperEvent>(), &bytes);
        let _ = avro_fast::from_datum::<Delivery>(fast_schema::<Delivery>(), &bytes);
        let _ = avro_fast::from_datum::<SpanRecord>(fast_schema::<SpanRecord>(), &bytes);
        let _ = avro_fast::from_datum::<WindowRow>(fast_schema::<WindowRow>(), &bytes);
        let _ = avro_fast::from_datum::<DeadLetter>(fast_schema::<DeadLetter>(), &bytes);
        let _ = avro_fast::from_datum::<serde_json::Value>(fast_schema::<HyperEvent>(), &bytes);
    }

    #[test]
    fn maps_encode_in_key_order(m in prop::collection::hash_map(s(), any::<i64>(), 0..12)) {
        // A HashMap iterates in arbitrary order; the bytes must still be
        // those of the sorted map.
        let schema = FastSchema::Map(Box::new(FastSchema::Long));
        let sorted: BTreeMap<_, _> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        avro_fast::to_datum(&schema, &m, &mut a).unwrap();
        avro_fast::to_datum(&schema, &sorted, &mut b).unwrap();
        prop_assert_eq!(&a, &b);
        let back: HashMap<String, i64> = avro_fast::from_datum(&schema, &a).unwrap();
        prop_assert_eq!(back, m);
    }
}

#[test]
fn every_contract_schema_takes_the_direct_path() {
    assert!(HyperEvent::schema().fast().is_some());
    assert!(Delivery::schema().fast().is_some());
    assert!(SpanRecord::schema().fast().is_some());
    assert!(WindowRow::schema().fast().is_some());
    assert!(DeadLetter::schema().fast().is_some());
}

#[test]
fn generic_values_and_wrong_types() {
    // deserialize_any: a record read as JSON has the schema's field names.
    let ev = HyperEvent::example();
    let bytes = fast_encode(&ev);
    let json: serde_json::Value =
        avro_fast::from_datum(fast_schema::<HyperEvent>(), &bytes).unwrap();
    assert_eq!(json["source"], "audit");
    assert_eq!(json["object"]["uid"], ev.object.uid);
    assert_eq!(json["pod"]["labels"]["app"], "web");
    // A struct whose fields are out of schema order is refused by the direct
    // encoder, and the public encoder falls back to apache-avro.
    #[derive(serde::Serialize)]
    struct Swapped {
        user_agent: String,
        user: String,
    }
    let schema = FastSchema::compile(
        &apache_avro::Schema::parse_str(
            r#"{"type":"record","name":"Actor","fields":[
                {"name":"user","type":"string"},{"name":"user_agent","type":"string"}]}"#,
        )
        .unwrap(),
    )
    .unwrap();
    let v = Swapped {
        user_agent: "a".into(),
        user: "u".into(),
    };
    assert!(avro_fast::to_datum(&schema, &v, &mut Vec::new()).is_err());
    // A WindowRow datum is not a Delivery.
    let d = fast_encode(&sample_window());
    assert!(avro_fast::from_datum::<Delivery>(fast_schema::<Delivery>(), &d).is_err());
}

fn sample_window() -> WindowRow {
    WindowRow {
        id: "w".into(),
        version: 1,
        shard: 0,
        width: WindowWidth::Minute,
        window_start_us: 0,
        cluster: "c".into(),
        namespace: "n".into(),
        action: Action::Create,
        total: 1,
        success: 1,
        fail: 0,
        kill: 0,
        api_failed: 0,
        abandoned: 0,
        codes: BTreeMap::new(),
    }
}
