//! Delete deliveries, window rows and span attributes.

mod common;

use common::*;
use lunettes_processor::{Engine, EngineConfig, SpanConfig};
use lunettes_schemas::{Action, DeliveryResult, SpanStatus, WindowWidth};

fn delete_with_finalizer(p: &Pod, off: i64) -> lunettes_schemas::HyperEvent {
    let mut e = p.op(off, &["pod:delete:success"]);
    e.verb = "delete".into();
    let mut f = p.facts();
    f.finalizers = vec!["example.com/protect".into()];
    f.deletion_us = Some(p.t0 + off + 30 * S);
    f.node_name = "node-1".into();
    e.pod = Some(f);
    e
}

#[test]
fn graceful_delete_succeeds_with_kill_time() {
    let p = Pod::new("del-ok", T0);
    let mut ev = p.healthy(5);
    let mut d = p.op(100 * S, &["pod:delete:success"]);
    d.verb = "delete".into();
    ev.push(d);
    ev.push(p.event(
        100 * S + 200_000,
        "Normal",
        "Killing",
        "Stopping container app",
    ));
    ev.push(p.op(103 * S, &["pod:deleted:success"]));
    let out = run(EngineConfig::default(), &ev);
    let del = deliveries(&out)
        .into_iter()
        .find(|d| d.action == Action::Delete)
        .unwrap();
    assert_eq!(del.result, DeliveryResult::Success);
    assert_eq!(del.created_at_us, T0 + 100 * S);
    assert_eq!(del.finished_at_us, Some(T0 + 103 * S));
    assert_eq!(del.slo_class, "delete");
    assert!(del.summary.contains("deleted in 3 s"), "{}", del.summary);
    assert!(
        del.summary
            .contains("200 ms after the delete on node node-1"),
        "{}",
        del.summary
    );
    let kill: Vec<_> = spans(&out)
        .into_iter()
        .filter(|s| s.name == "container_kill")
        .collect();
    assert_eq!(kill.len(), 1);
    assert_eq!(kill[0].instance, "app");
    assert_eq!(kill[0].start_us, T0 + 100 * S + 200_000);
    assert_eq!(kill[0].end_us, T0 + 103 * S);
    // The create delivery is untouched.
    let cr = deliveries(&out)
        .into_iter()
        .find(|d| d.action == Action::Create)
        .unwrap();
    assert_eq!(cr.result, DeliveryResult::Success);
}

#[test]
fn a_deletion_found_by_a_relist_kills_without_a_delete_delivery() {
    // Scheduled, then the watch lost sight of it; a relist 40 s later found it gone.
    let lost = Pod::new("lost", T0);
    // Deleting before the gap: the delete request starts a delete delivery,
    // whose end is only bounded by the relist.
    let going = Pod::new("going", T0);
    let mut going_ev = going.healthy(5);
    going_ev.push(going.op(100 * S, &["pod:delete:success"]));
    going_ev.push(going.op(400 * S, &["pod:gone:unobserved"]));
    // Seen deleted for real: the inference never overrides it.
    let seen = Pod::new("seen", T0);
    let mut ev = vec![
        lost.create(0),
        lost.op(20_000, &["schedule:binding:success"]),
        lost.op(40 * S, &["pod:gone:unobserved"]),
        seen.create(0),
        seen.op(3 * S, &["pod:deleted:success"]),
        seen.op(50 * S, &["pod:gone:unobserved"]),
    ];
    ev.extend(going_ev);
    let out = run(EngineConfig::default(), &ev);
    let ds = deliveries(&out);
    let of = |name: &str, action: Action| {
        ds.iter()
            .filter(|d| d.name == name && d.action == action)
            .collect::<Vec<_>>()
    };

    let lost_create = of("lost", Action::Create);
    assert_eq!(lost_create.len(), 1);
    assert_eq!(lost_create[0].result, DeliveryResult::Kill);
    assert_eq!(lost_create[0].decided_at_us, T0 + 40 * S);
    assert!(lost_create[0]
        .flags
        .contains(&"deletion:unobserved".to_string()));
    assert!(of("lost", Action::Delete).is_empty(), "nothing to measure");

    let going_delete = of("going", Action::Delete);
    assert_eq!(going_delete.len(), 1, "{going_delete:?}");
    assert_eq!(going_delete[0].created_at_us, T0 + 100 * S);
    assert_eq!(going_delete[0].result, DeliveryResult::Success);
    assert_eq!(going_delete[0].finished_at_us, Some(T0 + 400 * S));
    assert!(going_delete[0]
        .flags
        .contains(&"deletion:unobserved".to_string()));
    assert_eq!(
        of("going", Action::Create)[0].result,
        DeliveryResult::Success
    );

    let seen_create = of("seen", Action::Create);
    assert_eq!(seen_create[0].result, DeliveryResult::Kill);
    assert_eq!(seen_create[0].decided_at_us, T0 + 3 * S);
    assert!(
        seen_create[0].flags.is_empty(),
        "{:?}",
        seen_create[0].flags
    );
    let seen_delete = of("seen", Action::Delete);
    assert_eq!(seen_delete.len(), 1);
    assert!(seen_delete[0].flags.is_empty());
}

#[test]
fn stuck_delete_blames_the_finalizer_through_the_tiers() {
    let p = Pod::new("del-stuck", T0);
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for e in p.healthy(5) {
        engine.process(&e, &mut out);
    }
    engine.process(&delete_with_finalizer(&p, 100 * S), &mut out);
    let ds0 = T0 + 100 * S;
    engine.tick("c1", ds0 + 9 * 60 * S, &mut out);
    assert!(deliveries(&out).iter().all(|d| d.action == Action::Create));
    engine.tick("c1", ds0 + 11 * 60 * S, &mut out);
    let dels: Vec<_> = deliveries(&out)
        .into_iter()
        .filter(|d| d.action == Action::Delete)
        .cloned()
        .collect();
    assert_eq!(dels.len(), 1);
    assert_eq!(dels[0].result, DeliveryResult::Fail);
    assert_eq!(dels[0].code, "FinalizerNotRemoved");
    assert_eq!(dels[0].sub_reason, "example.com/protect");
    assert_eq!(dels[0].decided_at_us, ds0 + 10 * 60 * S);
    assert!(
        dels[0]
            .summary
            .contains("finalizer \"example.com/protect\""),
        "{}",
        dels[0].summary
    );
    assert!(
        dels[0]
            .flags
            .contains(&"unclosed:finalizer_delete".to_string()),
        "{:?}",
        dels[0].flags
    );
    engine.tick("c1", ds0 + 25 * 3600 * S, &mut out);
    let dels: Vec<_> = deliveries(&out)
        .into_iter()
        .filter(|d| d.action == Action::Delete)
        .cloned()
        .collect();
    assert_eq!(dels.len(), 3, "{dels:#?}");
    assert_eq!((dels[1].version, dels[1].slo_class.as_str()), (1, "stale"));
    assert_eq!(
        (dels[2].version, dels[2].slo_class.as_str()),
        (2, "terminating")
    );
    assert!(dels
        .iter()
        .all(|d| d.id == dels[0].id && d.result == DeliveryResult::Fail));
    assert!(dels
        .iter()
        .all(|d| d.decided_at_us == dels[0].decided_at_us));
}

#[test]
fn delete_without_finalizers_times_out() {
    let p = Pod::new("del-timeout", T0);
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for e in p.healthy(5) {
        engine.process(&e, &mut out);
    }
    engine.process(&p.op(100 * S, &["pod:delete:success"]), &mut out);
    engine.tick("c1", T0 + 100 * S + 11 * 60 * S, &mut out);
    let del = deliveries(&out)
        .into_iter()
        .find(|d| d.action == Action::Delete)
        .unwrap();
    assert_eq!(del.code, "DeleteTimeout");
    // The finalizer is removed later: a corrected version reports when it was gone.
    let mut fin = p.op(
        100 * S + 20 * 60 * S,
        &[
            "finalizer:example.com/protect:delete",
            "pod:deleted:success",
        ],
    );
    fin.dedup_id = "gone".into();
    engine.process(&fin, &mut out);
    engine.tick("c1", T0 + 2 * 3600 * S, &mut out);
    let dels: Vec<_> = deliveries(&out)
        .into_iter()
        .filter(|d| d.action == Action::Delete)
        .collect();
    assert_eq!(dels.len(), 2);
    assert_eq!(dels[1].version, 1);
    assert_eq!(dels[1].finished_at_us, Some(T0 + 100 * S + 20 * 60 * S));
}

#[test]
fn windows_emit_when_the_watermark_passes_and_correct_late_verdicts() {
    let a = Pod::new("a", T0);
    let b = Pod::new("b", T0 + 30 * S);
    let late = Pod::new("late", T0 + 20 * S);
    let clock = Pod::new("clock", T0 + 200 * S);
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for e in sorted([a.healthy(5), b.healthy(5)].concat()) {
        engine.process(&e, &mut out);
    }
    assert!(windows(&out).is_empty(), "minute 0 still open");
    engine.process(&clock.create(0), &mut out);
    let rows = windows(&out);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let r = rows[0].clone();
    assert_eq!(
        (r.width, r.window_start_us, r.total, r.success, r.version),
        (WindowWidth::Minute, T0, 2, 2, 0)
    );
    assert_eq!(r.namespace, "default");
    assert_eq!(r.action, Action::Create);
    // A create rejected at 20 s, reported only now (beyond the lateness bound).
    let mut rej = late.op(0, &["pod:create:failed"]);
    rej.response_code = Some(403);
    rej.response_message = "pods \"late\" is forbidden: exceeded quota: q".into();
    engine.process(&rej, &mut out);
    let rows = windows(&out);
    assert_eq!(rows.len(), 2);
    let c = rows[1];
    assert_eq!(c.id, r.id);
    assert_eq!(c.version, 1);
    assert_eq!((c.total, c.success, c.api_failed), (3, 2, 1));
    assert_eq!(c.codes.get("QuotaExceeded"), Some(&1));
    engine.finish(&mut out);
    let hour: Vec<_> = windows(&out)
        .into_iter()
        .filter(|w| w.width == WindowWidth::Hour)
        .collect();
    assert_eq!(hour.len(), 1);
    // The clock pod, never scheduled, is judged at the end of the input.
    assert_eq!(
        (hour[0].total, hour[0].abandoned, hour[0].version),
        (4, 1, 0)
    );
    assert_ne!(hour[0].id, r.id);
}

#[test]
fn window_rows_of_shards_have_distinct_ids() {
    let p = Pod::new("a", T0);
    let c0 = EngineConfig {
        shard: 0,
        ..Default::default()
    };
    let c1 = EngineConfig {
        shard: 1,
        ..Default::default()
    };
    let o0 = run(c0, &p.healthy(5));
    let o1 = run(c1, &p.healthy(5));
    assert_ne!(windows(&o0)[0].id, windows(&o1)[0].id);
    assert_eq!(windows(&o1)[0].shard, 1);
}

const LABEL_SPANS: &str = r#"[{
  "ObjectRef": {"Resource": "pods", "Name": "PodSpans", "APIVersion": "v1"},
  "ActionType": "PodCreate",
  "ExtraProperties": {
    "bizName": {"Name": "", "ValueRex": "metadata#labels#meta.k8s.com/biz-name", "NeedMetric": true},
    "team": {"Name": "owner_team", "ValueRex": "metadata#labels#team", "NeedMetric": false}
  },
  "Spans": [
    {"Name": "default_schedule_span", "Type": "default_schedule_span", "SpanOwner": "k8s", "Mode": "start-finish",
     "StartEvent": [{"Type": "operation", "Operation": "schedule:default-scheduler:entry"}],
     "EndEvent": [{"Type": "operation", "Operation": "schedule:binding:success"}]},
    {"Name": "pull", "SpanOwner": "k8s", "Mode": "direct-info", "NameRef": "spec.[name]containers.image",
     "DirectEvent": [{"Type": "event", "Reason": "Pulled", "NameRex": "image \"([^\"]+)\"", "DurationRex": "in ([0-9.]+[a-z]+)"}]}
  ]
}]"#;

#[test]
fn value_rex_reads_labels_into_span_attributes() {
    let p = Pod::new("labelled", T0);
    let mut f = p.facts();
    f.labels
        .insert("meta.k8s.com/biz-name".into(), "checkout".into());
    f.labels.insert("team".into(), "payments".into());
    let mut ev = p.healthy(5);
    ev[0] = p.create_with(0, f);
    let cfg = EngineConfig {
        spans: SpanConfig::from_json(LABEL_SPANS).unwrap(),
        ..Default::default()
    };
    let out = run(cfg, &ev);
    let sp = spans(&out);
    let root = sp.iter().find(|s| s.parent_span_id.is_empty()).unwrap();
    assert_eq!(root.name, "PodCreate");
    assert_eq!(root.attributes["bizName"], "checkout");
    assert_eq!(root.attributes["owner_team"], "payments");
    let sched = sp
        .iter()
        .find(|s| s.name == "default_schedule_span")
        .unwrap();
    assert_eq!(sched.attributes["bizName"], "checkout");
    assert!(
        !sched.attributes.contains_key("owner_team"),
        "NeedMetric false stays on the root"
    );
    assert_eq!(*sched.parent_span_id, *root.span_id);
    assert_eq!(sched.end_us - sched.start_us, 50_000);
    assert_eq!(sched.status, SpanStatus::Ok);
    // direct-info: end = Pulled time, begin = end - "3s".
    let pull = sp.iter().find(|s| s.name == "pull").unwrap();
    assert_eq!(pull.end_us, T0 + 3_300_000);
    assert_eq!(pull.start_us, T0 + 300_000);
    assert_eq!(pull.instance, "registry/app:v2");
    assert_eq!(pull.attributes["container"], "app");
}

#[test]
fn default_spans_close_on_stock_kubernetes_and_failures_mark_the_root() {
    let ok = Pod::new("ok", T0);
    let out = run(EngineConfig::default(), &ok.healthy(8));
    let sp = spans(&out);
    for name in [
        "pod_ready",
        "default_schedule",
        "sandbox_create",
        "image_pull",
        "container_start",
        "container_readiness",
        "pod_readiness",
    ] {
        let s = sp
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} span"));
        assert_eq!(s.status, SpanStatus::Ok, "{name} not closed");
        assert!(s.end_us >= s.start_us);
    }
    let bad = Pod::new("bad", T0);
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    engine.process(&bad.create(0), &mut out);
    engine.process(&bad.op(10_000, &["schedule:binding:success"]), &mut out);
    engine.process(
        &bad.event(S, "Normal", "Pulling", "Pulling image \"registry/app:v2\""),
        &mut out,
    );
    engine.tick("c1", T0 + 100 * S, &mut out);
    let sp = spans(&out);
    let root = sp.iter().find(|s| s.parent_span_id.is_empty()).unwrap();
    assert_eq!(root.status, SpanStatus::Error);
    assert_eq!(root.status_message, "PullImageTooMuchTime");
    assert_eq!(root.end_us, T0 + 90 * S);
    let pull = sp.iter().find(|s| s.name == "image_pull").unwrap();
    assert_eq!(pull.status, SpanStatus::Unset);
    assert_eq!(pull.end_us, T0 + 90 * S);
}
