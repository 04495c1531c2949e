//! Create-delivery semantics with hand-built HyperEvents.

mod common;

use common::*;
use lunettes_processor::{Engine, EngineConfig};
use lunettes_schemas::{DeliveryResult, Output};

#[test]
fn healthy_pod_succeeds_with_phases_and_summary() {
    let p = Pod::new("web-1", T0);
    let out = run(EngineConfig::default(), &p.healthy(8));
    let ds = deliveries(&out);
    assert_eq!(ds.len(), 1, "{ds:#?}");
    let d = ds[0];
    assert_eq!(d.result, DeliveryResult::Success);
    assert_eq!(d.code, "");
    assert_eq!(d.slo_ms, Some(90_000));
    assert_eq!(d.slo_class, "typical");
    assert_eq!(d.created_at_us, T0);
    assert_eq!(d.finished_at_us, Some(T0 + 8 * S));
    assert_eq!(d.phases.schedule_ms, Some(50));
    assert_eq!(d.phases.sandbox_ms, Some(250));
    assert_eq!(d.phases.image_pull_ms, Some(3000));
    assert_eq!(d.phases.container_start_ms, Some(200));
    assert_eq!(d.phases.readiness_ms, Some(4500));
    assert!(d.flags.is_empty(), "{:?}", d.flags);
    // Official SLI: creation -> all started (3.5 s) minus the 3 s pull.
    assert_eq!(d.k8s_sli_ms, Some(500));
    // Infra SLI: readiness (custom spans) is the user's time.
    let sli = d.sli_ms.unwrap();
    assert!((3500..8000).contains(&sli), "sli {sli}");
    assert!(
        d.summary.starts_with("ready in 8 s (SLO 1 min 30 s)"),
        "{}",
        d.summary
    );
    assert!(
        d.summary.contains("longest phase readiness"),
        "{}",
        d.summary
    );
    assert_eq!(d.id.len(), 32);
    assert_eq!(d.trace_id.len(), 32);
    assert_eq!(d.owner_kind, "ReplicaSet");
}

#[test]
fn deadline_fires_from_another_pods_events_without_further_events() {
    let stuck = Pod::new("stuck", T0);
    let other = Pod::new("other", T0 + 100 * S);
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    engine.process(&stuck.create(0), &mut out);
    engine.process(&stuck.op(20_000, &["schedule:binding:success"]), &mut out);
    assert!(deliveries(&out).is_empty());
    // 100 s later another pod's create: watermark = 70 s, deadline (90 s) not yet.
    engine.process(&other.create(0), &mut out);
    assert!(deliveries(&out).is_empty());
    // 125 s: watermark 95 s > deadline 90 s -> the stuck pod fails at its deadline.
    engine.process(&other.op(25 * S, &["schedule:binding:success"]), &mut out);
    let ds = deliveries(&out);
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].name, "stuck");
    assert_eq!(ds[0].result, DeliveryResult::Fail);
    assert_eq!(ds[0].decided_at_us, T0 + 90 * S);
    assert_eq!(ds[0].deadline_us, Some(T0 + 90 * S));
    assert_eq!(ds[0].code, "KubeletDelay", "{}", ds[0].summary);
    assert!(
        ds[0].summary.contains("SLO 1 min 30 s"),
        "{}",
        ds[0].summary
    );
}

#[test]
fn deadline_fires_on_tick_for_a_quiet_cluster() {
    let p = Pod::new("quiet", T0);
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    engine.process(&p.create(0), &mut out);
    engine.tick("c1", T0 + 89 * S, &mut out);
    assert!(deliveries(&out).is_empty());
    engine.tick("c1", T0 + 91 * S, &mut out);
    let ds = deliveries(&out);
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].result, DeliveryResult::Fail);
    assert_eq!(ds[0].code, "NoEvent", "{}", ds[0].summary);
    // A later ready keeps the verdict and reports a corrected version with finished_at.
    let mut late = p.op(120 * S, &["condition:Ready:true"]);
    late.dedup_id = "late-ready".into();
    engine.process(&late, &mut out);
    engine.tick("c1", T0 + 200 * S, &mut out);
    let ds = deliveries(&out);
    assert_eq!(ds.len(), 2, "{ds:#?}");
    assert_eq!(ds[1].id, ds[0].id);
    assert_eq!(ds[1].version, 1);
    assert_eq!(ds[1].result, DeliveryResult::Fail);
    assert_eq!(ds[1].finished_at_us, Some(T0 + 120 * S));
    assert_eq!(ds[1].decided_at_us, ds[0].decided_at_us);
}

#[test]
fn watermark_records_advance_the_clock() {
    let p = Pod::new("wm", T0);
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    engine.process(&p.create(0), &mut out);
    engine.process(
        &lunettes_schemas::HyperEvent::watermark("c1", T0 + 119 * S),
        &mut out,
    );
    assert!(deliveries(&out).is_empty(), "watermark 89 s");
    engine.process(
        &lunettes_schemas::HyperEvent::watermark("c1", T0 + 121 * S),
        &mut out,
    );
    assert_eq!(deliveries(&out).len(), 1);
    // Another cluster's clock does not fire this cluster's deadline.
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    engine.process(&p.create(0), &mut out);
    engine.process(
        &lunettes_schemas::HyperEvent::watermark("c2", T0 + 999 * S),
        &mut out,
    );
    assert!(deliveries(&out).is_empty());
}

#[test]
fn best_effort_pod_is_abandoned_after_35_minutes_not_success() {
    let p = Pod::new("big", T0);
    let mut f = p.facts();
    f.containers[0].cpu_millis = 40_000; // > 32 cores: best effort
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    engine.process(&p.create_with(0, f), &mut out);
    engine.process(&p.op(10_000, &["schedule:binding:success"]), &mut out);
    engine.tick("c1", T0 + 34 * 60 * S, &mut out);
    assert!(deliveries(&out).is_empty(), "best effort has no deadline");
    engine.tick("c1", T0 + 36 * 60 * S, &mut out);
    let ds = deliveries(&out);
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].result, DeliveryResult::Abandoned);
    assert_eq!(ds[0].slo_class, "NotTypicalResource");
    assert_eq!(ds[0].slo_ms, None);
    assert_eq!(ds[0].decided_at_us, T0 + 35 * 60 * S);
    assert!(!ds[0].summary.is_empty());
}

#[test]
fn negative_phase_is_clamped_and_flagged_never_emitted() {
    let p = Pod::new("skew", T0);
    let mut ev = p.healthy(8);
    // The Ready condition's clock is 2 s behind the kubelet's Started event: real skew.
    let last = ev.len() - 1;
    ev[last] = p.op_secs(2 * S, &["condition:Ready:true"]);
    ev[last].observed_us = T0 + 9 * S;
    let out = run(EngineConfig::default(), &ev);
    let d = deliveries(&out)[0];
    assert_eq!(d.result, DeliveryResult::Success);
    assert_eq!(d.phases.readiness_ms, Some(0));
    assert!(
        d.flags.contains(&"clamped:readiness".to_string()),
        "{:?}",
        d.flags
    );
    for (n, v) in d.phases.iter() {
        assert!(v.unwrap_or(0) >= 0, "{n} negative");
    }
}

#[test]
fn whole_second_times_are_reconciled_without_a_flag() {
    // Started at 3.5 s (micro) and Ready reported as "3 s" (whole seconds, observed 3.9 s):
    // consistent, since 3 s means [3 s, 4 s).
    let p = Pod::new("secs", T0);
    let mut ev = p.healthy(8);
    ev.truncate(ev.len() - 2);
    ev.push(p.op_secs(3_900_000, &["condition:Ready:true"]));
    let out = run(EngineConfig::default(), &ev);
    let d = deliveries(&out)[0];
    assert_eq!(d.phases.readiness_ms, Some(0));
    assert!(d.flags.is_empty(), "{:?}", d.flags);
}

#[test]
fn parallel_pulls_count_as_their_union() {
    let p = Pod::new("two-images", T0);
    let mut f = p.facts();
    f.containers.push(lunettes_schemas::ContainerFacts {
        name: "side".into(),
        image: "registry/side:v1".into(),
        ..Default::default()
    });
    let mut ev = vec![
        p.create_with(0, f),
        p.op(100_000, &["schedule:binding:success"]),
        p.event(S, "Normal", "Pulling", "Pulling image \"registry/app:v2\""),
        p.event(
            2 * S,
            "Normal",
            "Pulling",
            "Pulling image \"registry/side:v1\"",
        ),
        p.event(
            6 * S,
            "Normal",
            "Pulled",
            "Successfully pulled image \"registry/app:v2\" in 5s (5s including waiting)",
        ),
        p.event(
            5 * S,
            "Normal",
            "Pulled",
            "Successfully pulled image \"registry/side:v1\" in 3s (3s including waiting)",
        ),
        p.op(
            6_500_000,
            &["containerState:app:Running", "containerState:side:Running"],
        ),
        p.op(
            7 * S,
            &[
                "containerReady:app:true",
                "containerReady:side:true",
                "condition:ContainersReady:true",
                "condition:Ready:true",
            ],
        ),
    ];
    ev.push(p.event(6_200_000, "Normal", "Started", "Started container app"));
    let out = run(EngineConfig::default(), &ev);
    let d = deliveries(&out)[0];
    // [1,6] U [2,5] = 5 s, not 8 s (sum) and not negative.
    assert_eq!(d.phases.image_pull_ms, Some(5000));
    // All started when the last container started (6.5 s).
    assert_eq!(d.k8s_sli_ms, Some(6_500 - 5_000));
    let pulls: Vec<_> = spans(&out)
        .into_iter()
        .filter(|s| s.name == "image_pull")
        .collect();
    assert_eq!(pulls.len(), 2);
    assert!(pulls
        .iter()
        .any(|s| s.instance == "registry/side:v1" && s.attributes["container"] == "side"));
}

#[test]
fn pulled_message_gives_the_duration_when_pulling_is_missing() {
    let p = Pod::new("nopulling", T0);
    let mut ev = p.healthy(8);
    ev.remove(2); // no Pulling event
    let out = run(EngineConfig::default(), &ev);
    let d = deliveries(&out)[0];
    assert_eq!(d.phases.image_pull_ms, Some(3000));
}

#[test]
fn job_completes_at_running_phase() {
    let p = Pod::new("job-1", T0);
    let mut f = p.facts();
    f.restart_policy = "Never".into();
    let ev = vec![
        p.create_with(0, f),
        p.op(40_000, &["schedule:binding:success"]),
        p.event(
            500_000,
            "Normal",
            "Pulled",
            "Container image \"registry/app:v2\" already present on machine",
        ),
        p.event(700_000, "Normal", "Created", "Created container app"),
        p.event(900_000, "Normal", "Started", "Started container app"),
        p.op(
            1_000_000,
            &["containerState:app:Running", "phase:Running:set"],
        ),
    ];
    let out = run(EngineConfig::default(), &ev);
    let d = deliveries(&out)[0];
    assert!(d.is_job);
    assert_eq!(d.result, DeliveryResult::Success);
    assert_eq!(d.finished_at_us, Some(T0 + 1_000_000));
    assert!(d.summary.starts_with("running in"), "{}", d.summary);
}

#[test]
fn kill_before_finish_and_diagnosed_kill() {
    let quick = Pod::new("quick", T0);
    let slow = Pod::new("slow", T0);
    let ev = vec![
        quick.create(0),
        quick.op(2 * S, &["pod:delete:success"]),
        slow.create(0),
        slow.op(20_000, &["schedule:binding:success"]),
        slow.event(5 * S, "Warning", "Failed", "Failed to pull image \"registry/app:v3\": rpc error: code = NotFound desc = failed to pull and unpack image \"registry/app:v3\": not found"),
        slow.op(40 * S, &["pod:delete:success"]),
    ];
    let out = run(EngineConfig::default(), &ev);
    let ds = deliveries(&out);
    let q = ds
        .iter()
        .find(|d| d.name == "quick" && d.action == lunettes_schemas::Action::Create)
        .unwrap();
    assert_eq!(q.result, DeliveryResult::Kill);
    assert_eq!(q.code, "beforeFinish");
    assert_eq!(q.decided_at_us, T0 + 2 * S);
    let s = ds
        .iter()
        .find(|d| d.name == "slow" && d.action == lunettes_schemas::Action::Create)
        .unwrap();
    assert_eq!(s.result, DeliveryResult::Kill);
    assert_eq!(s.code, "ImageNotFound", "{}", s.summary);
    assert!(s.summary.contains("registry/app:v3"), "{}", s.summary);
}

#[test]
fn kill_in_ignore_delete_reason_namespace_is_before_finish() {
    let cfg = EngineConfig {
        slo: lunettes_processor::SloConfig::from_json(
            r#"{"IgnoreDeleteReasonNamespace": ["default"]}"#,
        )
        .unwrap(),
        ..Default::default()
    };
    let p = Pod::new("p", T0);
    let ev = vec![
        p.create(0),
        p.event(
            5 * S,
            "Warning",
            "Failed",
            "Failed to pull image \"x\": not found",
        ),
        p.op(40 * S, &["pod:delete:success"]),
    ];
    let out = run(cfg, &ev);
    let d = deliveries(&out)
        .into_iter()
        .find(|d| d.action == lunettes_schemas::Action::Create)
        .unwrap();
    assert_eq!(d.code, "beforeFinish");
}

#[test]
fn api_failed_names_the_webhook() {
    let p = Pod::new("", T0);
    let mut e = p.op(0, &["pod:create:failed"]);
    e.object.uid = String::new();
    e.object.name = "web-".into();
    e.response_code = Some(400);
    e.response_message =
        "admission webhook \"policy.example.com\" denied the request: image not allowed".into();
    let mut q = p.op(S, &["pod:create:failed"]);
    q.object.uid = String::new();
    q.object.name = "web-".into();
    q.response_code = Some(403);
    q.response_message = "pods \"web-x\" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=9, limited: cpu=10".into();
    let out = run(EngineConfig::default(), &[e, q]);
    let ds = deliveries(&out);
    assert_eq!(ds.len(), 2);
    assert_eq!(ds[0].result, DeliveryResult::ApiFailed);
    assert_eq!(ds[0].code, "WebhookDenied");
    assert_eq!(ds[0].sub_reason, "policy.example.com");
    assert!(
        ds[0].summary.contains("policy.example.com"),
        "{}",
        ds[0].summary
    );
    assert_eq!(ds[1].code, "QuotaExceeded");
    assert_ne!(ds[0].id, ds[1].id);
}

#[test]
fn ignored_namespaces_are_dropped() {
    let cfg = EngineConfig {
        slo: lunettes_processor::SloConfig::from_json(
            r#"{"IgnoredNamespaceForAudit": ["default"]}"#,
        )
        .unwrap(),
        ..Default::default()
    };
    let p = Pod::new("p", T0);
    let out = run(cfg, &p.healthy(5));
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn duplicates_are_dropped_by_dedup_id() {
    let p = Pod::new("dup", T0);
    let ev = p.healthy(8);
    let mut twice = ev.clone();
    twice.extend(ev.iter().cloned());
    let a = run(EngineConfig::default(), &ev);
    let b = run(EngineConfig::default(), &twice);
    assert_eq!(a, b);
}

#[test]
fn replay_gives_identical_outputs_and_ids() {
    let pods: Vec<Pod> = (0..5)
        .map(|i| Pod::new(&format!("p{i}"), T0 + i * 7 * S))
        .collect();
    let ev = sorted(pods.iter().flat_map(|p| p.healthy(6)).collect());
    let a = run(EngineConfig::default(), &ev);
    let b = run(EngineConfig::default(), &ev);
    assert_eq!(a, b);
    assert!(!a.is_empty());
    let ids: std::collections::BTreeSet<_> = deliveries(&a).iter().map(|d| d.id.clone()).collect();
    assert_eq!(ids.len(), 5);
    // Span ids are unique within a trace and stable.
    for d in deliveries(&a) {
        let sp: Vec<_> = spans(&a)
            .into_iter()
            .filter(|s| *s.trace_id == *d.trace_id)
            .collect();
        let uniq: std::collections::BTreeSet<_> = sp.iter().map(|s| &s.span_id).collect();
        assert_eq!(uniq.len(), sp.len());
        assert_eq!(sp.iter().filter(|s| s.parent_span_id.is_empty()).count(), 1);
    }
}

#[test]
fn failed_scheduling_carries_the_sub_reason() {
    let p = Pod::new("pending", T0);
    let ev = vec![
        p.create(0),
        p.event(100_000, "Warning", "FailedScheduling", "0/5 nodes are available: 5 Insufficient cpu. preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod."),
        p.op_secs(100_000, &["condition:PodScheduled:false"]),
        p.event(60 * S, "Warning", "FailedScheduling", "0/5 nodes are available: 5 Insufficient cpu. preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod."),
    ];
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for e in &ev {
        engine.process(e, &mut out);
    }
    engine.tick("c1", T0 + 100 * S, &mut out);
    let d = deliveries(&out)[0];
    assert_eq!(d.result, DeliveryResult::Fail);
    assert_eq!(d.code, "FailedScheduling");
    assert_eq!(d.sub_reason, "InsufficientCPU");
    assert_eq!(d.k8s_sli_ms, None);
    assert!(d.summary.contains("1 min 30 s"), "{}", d.summary);
    let _ = Output::Delivery(d.clone());
}

#[test]
fn slow_pull_is_blamed_with_image_and_node() {
    let p = Pod::new("slowpull", T0);
    let ev = vec![
        p.create(0),
        p.op(30_000, &["schedule:binding:success"]),
        p.event(S, "Normal", "Pulling", "Pulling image \"registry/app:v2\""),
    ];
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for e in &ev {
        engine.process(e, &mut out);
    }
    engine.tick("c1", T0 + 95 * S, &mut out);
    let d = deliveries(&out)[0];
    assert_eq!(d.code, "PullImageTooMuchTime", "{}", d.summary);
    assert!(
        d.summary
            .contains("image \"registry/app:v2\" has been pulling for 1 min 29 s on node node-1"),
        "{}",
        d.summary
    );
    assert!(d.summary.contains("SLO 1 min 30 s"), "{}", d.summary);
}

#[test]
fn end_of_input_judges_in_flight_pods() {
    let p = Pod::new("inflight", T0);
    let ev = vec![
        p.create(0),
        p.op(30_000, &["schedule:binding:success"]),
        p.op(5 * S, &["containerState:app:Waiting:ImagePullBackOff"]),
    ];
    let out = run(EngineConfig::default(), &ev);
    let d = deliveries(&out)[0];
    assert_eq!(d.result, DeliveryResult::Fail);
    assert_eq!(d.code, "ImagePullBackOff");
    assert!(d.flags.contains(&"end_of_input".to_string()));
    assert_eq!(d.decided_at_us, T0 + 5 * S);
}
