//! The delivery transcoder (Avro -> RowBinary, `clickhouse::rowbinary`)
//! writes exactly the bytes the `clickhouse` crate writes for the
//! `DeliveryRow` of the same record, and rejects exactly the payloads the
//! reference path (`avro::decode` into `Delivery`) rejects.

use std::time::Duration;

use lunettes_schemas::{avro, Action, Delivery, DeliveryResult, Phases};
use lunettes_sinks::clickhouse::request_builder::DeliveryRow;
use lunettes_sinks::clickhouse::rowbinary::{DeliveryTranscoder, DELIVERY_COLUMNS};
use lunettes_sinks::clickhouse::service::RowBinary;
use lunettes_sinks::clickhouse::ClickHouseService;
use lunettes_sinks::util::retry::RetryConfig;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

#[path = "support/http_body.rs"]
mod http_body;

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "\\PC{0,12}", "[a-z0-9-]{1,200}"]
}

fn arb_opt() -> impl Strategy<Value = Option<i64>> {
    prop::option::of(any::<i64>())
}

prop_compose! {
    fn arb_phases()(p in prop::array::uniform6(arb_opt())) -> Phases {
        Phases {
            schedule_ms: p[0], image_pull_ms: p[1], sandbox_ms: p[2],
            init_ms: p[3], container_start_ms: p[4], readiness_ms: p[5],
        }
    }
}

prop_compose! {
    fn arb_delivery()(
        s in prop::collection::vec(arb_string(), 17),
        version in any::<i32>(),
        delete in any::<bool>(),
        result in 0..DeliveryResult::ALL.len(),
        t in prop::array::uniform2(any::<i64>()),
        o in prop::array::uniform5(arb_opt()),
        phases in arb_phases(),
        is_job in any::<bool>(),
        flags in prop::collection::vec(arb_string(), 0..4),
    ) -> Delivery {
        Delivery {
            id: s[0].clone(), version, cluster: s[1].clone(), namespace: s[2].clone(),
            name: s[3].clone(), uid: s[4].clone(),
            action: if delete { Action::Delete } else { Action::Create },
            result: DeliveryResult::ALL[result],
            code: s[5].clone(), sub_reason: s[6].clone(), summary: s[7].clone(),
            created_at_us: t[0], finished_at_us: o[0], decided_at_us: t[1], deadline_us: o[1],
            slo_ms: o[2], slo_class: s[8].clone(), sli_ms: o[3], k8s_sli_ms: o[4], phases,
            node: s[9].clone(), pod_ip: s[10].clone(), owner_kind: s[11].clone(),
            owner_name: s[12].clone(), is_job, flags, trace_id: s[13].clone(),
        }
    }
}

#[test]
fn the_transcoder_covers_every_column() {
    assert!(DeliveryTranscoder::new().is_some());
    assert_eq!(
        DELIVERY_COLUMNS,
        <DeliveryRow as clickhouse::Row>::COLUMN_NAMES
    );
}

/// Generated deliveries, plus corrupted copies of their payloads: every
/// payload the reference path accepts transcodes to the crate's bytes for
/// its `DeliveryRow`, every payload it rejects is rejected.
#[tokio::test]
async fn transcoded_rows_are_the_crates_rows() {
    let mut runner = TestRunner::deterministic();
    let mut payloads = Vec::new();
    for _ in 0..3000 {
        let d = arb_delivery().new_tree(&mut runner).unwrap().current();
        payloads.push(avro::encode(&d).unwrap());
    }
    // Corruptions: truncations, flipped bytes, a foreign fingerprint.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut below = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut corrupted = Vec::new();
    for p in payloads.iter().take(1000) {
        let cut = 10 + below(p.len() - 10);
        corrupted.push(p[..cut].to_vec());
        let mut flipped = p.clone();
        let at = 10 + below(p.len() - 10);
        flipped[at] ^= 1 << below(8);
        corrupted.push(flipped);
    }
    let mut foreign = payloads[0].clone();
    foreign[2] ^= 0xff;
    corrupted.push(foreign);
    payloads.extend(corrupted);

    let transcoder = DeliveryTranscoder::global().unwrap();
    let mut transcoded = Vec::new();
    let mut rows = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for p in &payloads {
        let reference = avro::decode::<Delivery>(p);
        let before = transcoded.len();
        let result = transcoder.append(p, &mut transcoded);
        assert_eq!(
            result.is_ok(),
            reference.is_ok(),
            "payload {p:?}: transcoder {result:?}, reference {reference:?}"
        );
        match reference {
            Ok(d) => {
                rows.push(DeliveryRow::from(d));
                accepted += 1;
            }
            Err(_) => {
                assert_eq!(transcoded.len(), before, "a rejected row leaves no bytes");
                rejected += 1;
            }
        }
    }
    assert!(accepted > 3000 && rejected > 500, "{accepted} / {rejected}");

    let (addr, mut bodies) = http_body::body_server(true).await;
    let client = clickhouse::Client::default()
        .with_url(format!("http://{addr}"))
        .with_validation(false);
    let svc = ClickHouseService::new(client, RetryConfig::default(), Duration::from_secs(30));
    svc.insert("deliveries", &rows[..], "", None, |_, _| {})
        .await
        .unwrap();
    let by_crate = bodies.recv().await.unwrap();
    assert_eq!(by_crate.len(), transcoded.len());
    assert!(by_crate == transcoded, "same RowBinary bytes");

    // And the transcoded body goes out unchanged.
    let body = RowBinary {
        columns: &DELIVERY_COLUMNS,
        bytes: transcoded.clone().into(),
        rows: rows.len(),
    };
    let report = svc
        .insert("deliveries", &body, "tok", None, |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.rows, rows.len());
    assert!(bodies.recv().await.unwrap() == transcoded);
}
