//! The schema and the insert service against a real ClickHouse engine (the
//! chdb dev server over HTTP): migrations, round trips, retries, corrections,
//! windows and trace lookups.

mod common;

use std::time::Duration;

use common::*;
use lunettes_sinks::clickhouse::error::Error;
use lunettes_sinks::clickhouse::request_builder::{window_row, DeliveryRow, SpanRow, WindowRowCh};
use lunettes_sinks::clickhouse::{migrate, ClickHouseService, MigrateOptions, MIGRATIONS};
use lunettes_sinks::testing::DevClickHouse;
use lunettes_sinks::util::retry::RetryConfig;

const DB: &str = "lunettes_test";

fn service(server: &DevClickHouse, validation: bool) -> ClickHouseService {
    ClickHouseService::new(
        server
            .client()
            .with_database(DB)
            .with_validation(validation),
        RetryConfig {
            initial_backoff_ms: 10,
            max_backoff_ms: 100,
        },
        Duration::from_secs(60),
    )
}

#[tokio::test]
async fn migrations_apply_twice_and_refuse_edited_files() {
    let server = DevClickHouse::start();
    let options = MigrateOptions {
        database: DB.into(),
        ttl_days: 14,
        alter_ttl: false,
    };
    let first = migrate(&server.client(), &options).await.unwrap();
    let all: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(first.applied, all);
    assert!(first.already_applied.is_empty());
    let second = migrate(&server.client(), &options).await.unwrap();
    assert!(second.applied.is_empty());
    assert_eq!(second.already_applied, all);
    assert_eq!(
        number(&server, DB, "SELECT count() FROM schema_migrations FINAL").await,
        all.len() as i64
    );
    let tables = server.query_text(DB, "SHOW TABLES").await.unwrap();
    for t in [
        "deliveries",
        "hyperevents",
        "schema_migrations",
        "slo_windows_1h",
        "slo_windows_1m",
        "spans",
        "spans_trace_id_ts",
        "spans_trace_id_ts_mv",
    ] {
        assert!(
            tables.lines().any(|l| l == t),
            "table {t} missing from {tables:?}"
        );
    }
    let ddl = server.query_text(DB, "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'deliveries'").await.unwrap();
    assert!(ddl.contains("toIntervalDay(14)"), "TTL of 14 days: {ddl}");
    assert!(ddl.contains("ReplacingMergeTree(version)"), "{ddl}");

    // Changing the TTL of existing tables is explicit and idempotent.
    let altered = migrate(
        &server.client(),
        &MigrateOptions {
            ttl_days: 45,
            alter_ttl: true,
            ..options.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(altered.ttl_altered.len(), 5);
    let ddl = server.query_text(DB, "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'spans'").await.unwrap();
    assert!(ddl.contains("toIntervalDay(45)"), "{ddl}");

    // An applied migration whose file changed is refused, naming it.
    server
        .client()
        .with_database(DB)
        .query("INSERT INTO schema_migrations (version, name, checksum) VALUES (2, 'deliveries', 'edited')")
        .execute()
        .await
        .unwrap();
    let err = migrate(&server.client(), &options).await.unwrap_err();
    assert!(
        matches!(err, Error::ChecksumMismatch { version: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("0002 (deliveries)"), "{err}");
}

#[tokio::test]
async fn deliveries_round_trip_and_retries_do_not_duplicate() {
    let server = server_with_schema(DB).await;
    let written: Vec<_> = (0..3000).map(|i| delivery(i, 1)).collect();
    let rows: Vec<DeliveryRow> = written.iter().cloned().map(DeliveryRow::from).collect();
    // Schema validation on: the crate checks DeliveryRow against DESCRIBE TABLE.
    let svc = service(&server, true);
    let report = svc
        .insert(
            "deliveries",
            &rows,
            "lunettes.deliveries/0/0-2999",
            None,
            |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!((report.rows, report.attempts), (3000, 1));

    let mut expected = written.clone();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        deliveries_final(&server, DB).await,
        expected,
        "FINAL reads back exactly what was written"
    );

    // The same batch again (a retry after a lost answer): deduplicated by token.
    svc.insert(
        "deliveries",
        &rows,
        "lunettes.deliveries/0/0-2999",
        None,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(
        number(&server, DB, "SELECT count() FROM deliveries").await,
        3000,
        "token dedup"
    );
    // The same rows in a differently cut batch (a replay): stored again, collapsed by FINAL.
    svc.insert(
        "deliveries",
        &rows[..1000],
        "lunettes.deliveries/0/0-999",
        None,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(
        number(&server, DB, "SELECT count() FROM deliveries").await,
        4000
    );
    assert_eq!(
        number(&server, DB, "SELECT count() FROM deliveries FINAL").await,
        3000
    );
    assert_eq!(deliveries_final(&server, DB).await, expected);
    server
        .client()
        .with_database(DB)
        .query("OPTIMIZE TABLE deliveries FINAL")
        .execute()
        .await
        .unwrap();
    assert_eq!(
        number(&server, DB, "SELECT count() FROM deliveries").await,
        3000,
        "merges remove the repeats"
    );
}

#[tokio::test]
async fn corrected_versions_replace_earlier_ones() {
    let server = server_with_schema(DB).await;
    let svc = service(&server, false);
    let v1: Vec<DeliveryRow> = (0..500).map(|i| delivery(i, 1).into()).collect();
    svc.insert("deliveries", &v1, "a", None, |_, _| {})
        .await
        .unwrap();
    // Every third delivery is corrected; the correction arrives in a later insert.
    let corrected: Vec<_> = (0..500)
        .filter(|i: &usize| i.is_multiple_of(3))
        .map(|i| {
            let mut d = delivery(i, 2);
            d.result = lunettes_schemas::DeliveryResult::Fail;
            d.code = "CorrectedLate".into();
            d
        })
        .collect();
    let v2: Vec<DeliveryRow> = corrected.iter().cloned().map(DeliveryRow::from).collect();
    svc.insert("deliveries", &v2, "b", None, |_, _| {})
        .await
        .unwrap();
    // A stale version 1 replayed after the correction must not win.
    svc.insert("deliveries", &v1[..100], "c", None, |_, _| {})
        .await
        .unwrap();

    let back = deliveries_final(&server, DB).await;
    assert_eq!(back.len(), 500);
    for d in &back {
        let i = usize::from_str_radix(&d.id, 16).unwrap() / 7919;
        if i.is_multiple_of(3) {
            assert_eq!(
                (d.version, d.code.as_str()),
                (2, "CorrectedLate"),
                "delivery {i}"
            );
        } else {
            assert_eq!(*d, delivery(i, 1));
        }
    }
    let by_argmax = number(&server, DB, "SELECT countIf(code = 'CorrectedLate') FROM (SELECT id, argMax(code, version) AS code FROM deliveries GROUP BY id)").await;
    assert_eq!(by_argmax, corrected.len() as i64);
}

#[tokio::test]
async fn window_rows_from_shards_sum_to_success_rates() {
    let server = server_with_schema(DB).await;
    let svc = service(&server, true);
    // Minute m of namespace a: shard 0 counts (10, 9), shard 1 (5, 5), shard 2
    // first (4, 4) then corrects to (6, 5). Namespace b: one shard, (8, 2).
    let mut rows = Vec::new();
    for m in 0..3 {
        rows.push(window(0, m, "a", 1, 10, 9));
        rows.push(window(1, m, "a", 1, 5, 5));
        rows.push(window(2, m, "a", 1, 4, 4));
        rows.push(window(0, m, "b", 1, 8, 2));
    }
    let convert = |w| window_row(w).unwrap().unwrap();
    let first: Vec<WindowRowCh> = rows.into_iter().map(convert).collect();
    svc.insert("slo_windows_1m", &first, "w1", None, |_, _| {})
        .await
        .unwrap();
    let corrections: Vec<WindowRowCh> = (0..3)
        .map(|m| convert(window(2, m, "a", 2, 6, 5)))
        .collect();
    svc.insert("slo_windows_1m", &corrections, "w2", None, |_, _| {})
        .await
        .unwrap();
    // A replay of the first batch under another token changes nothing visible.
    svc.insert("slo_windows_1m", &first, "w3", None, |_, _| {})
        .await
        .unwrap();

    let per_ns = server
        .query_text(DB, "SELECT namespace, sum(total), sum(success), round(sum(success) / sum(total), 4) FROM slo_windows_1m FINAL GROUP BY namespace ORDER BY namespace")
        .await
        .unwrap();
    // a: 3 minutes x (10 + 5 + 6) = 63 total, 3 x (9 + 5 + 5) = 57 successes.
    assert_eq!(per_ns, "a\t63\t57\t0.9048\nb\t24\t6\t0.25");
    let hourly = server
        .query_text(
            DB,
            "SELECT namespace, total, success, fail, codes FROM slo_windows_1h ORDER BY namespace",
        )
        .await
        .unwrap();
    assert_eq!(
        hourly,
        "a\t63\t57\t6\t{'ImagePullBackOff':6}\nb\t24\t6\t18\t{'ImagePullBackOff':18}"
    );
}

#[tokio::test]
async fn spans_are_stored_like_otel_traces_and_found_by_trace_id() {
    let server = server_with_schema(DB).await;
    let svc = service(&server, true);
    let records: Vec<_> = (0..200)
        .flat_map(|t| (0..5).map(move |k| span(t, k)))
        .collect();
    let rows: Vec<SpanRow> = records
        .iter()
        .cloned()
        .map(|s| SpanRow::try_from(s).unwrap())
        .collect();
    svc.insert("spans", &rows, "s1", None, |_, _| {})
        .await
        .unwrap();
    svc.insert("spans", &rows[..300], "s2", None, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        number(&server, DB, "SELECT count() FROM spans FINAL").await,
        1000
    );

    let trace = &records[7 * 5].trace_id;
    let lookup = server
        .query_text(DB, &format!("SELECT toUnixTimestamp64Micro(min(Start)), toUnixTimestamp64Micro(max(End)) FROM spans_trace_id_ts WHERE TraceId = '{trace}'"))
        .await
        .unwrap();
    let start = t0() + 7 * 1_000_000;
    let end = start + 4 * 10_000 + 5_000 + 4;
    assert_eq!(lookup, format!("{start}\t{end}"));

    let root = server
        .query_text(DB, &format!("SELECT SpanName, StatusCode, Duration, SpanAttributes, ResourceAttributes['k8s.pod.name'] FROM spans FINAL WHERE TraceId = '{trace}' AND ParentSpanId = ''"))
        .await
        .unwrap();
    assert_eq!(
        root,
        "PodCreate\tOk\t5000000\t{'alpha':'a','container':'c0','zeta':'z0'}\tweb-7"
    );
    let errors = number(&server, DB, "SELECT count() FROM spans FINAL WHERE StatusCode = 'Error' AND StatusMessage = 'ImagePullBackOff'").await;
    assert_eq!(errors, 40);
}

#[tokio::test]
async fn permanent_errors_are_not_retried_and_name_the_cause() {
    let server = DevClickHouse::start();
    // No migrations: the table does not exist, which no retry can fix.
    let svc = ClickHouseService::new(
        server.client(),
        RetryConfig::default(),
        Duration::from_secs(10),
    );
    let rows: Vec<DeliveryRow> = vec![delivery(1, 1).into()];
    let mut retries = 0;
    let err = svc
        .insert("deliveries", &rows, "t", None, |_, _| retries += 1)
        .await
        .unwrap_err()
        .into_inner();
    assert_eq!(retries, 0);
    let code = lunettes_sinks::clickhouse::error::exception_code(&err);
    assert_eq!(code, Some(60), "UNKNOWN_TABLE: {err}");
}

/// A query that fails after the server started writing its result must not
/// leak that partial result into the next query's answer (the dev server once
/// prefixed the next result with the failed query's RowBinary header).
#[tokio::test]
async fn a_query_failing_mid_stream_leaves_nothing_for_the_next() {
    let server = DevClickHouse::start();
    let client = server.client();
    let err = client
        .query("SELECT number, throwIf(number = 5) AS boom FROM numbers(10)")
        .fetch_all::<(u64, u8)>()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("throwIf"), "{err}");
    let next: Vec<u8> = client.query("SELECT toUInt8(7)").fetch_all().await.unwrap();
    assert_eq!(next, vec![7]);
}
