//! The engine on real recordings in `../shared/data/k8s-real/`, normalized
//! by `lunettes-ingest` as `lunettes analyze` does.

mod common;

use common::deliveries;
use lunettes_processor::{Engine, EngineConfig};
use lunettes_schemas::{Delivery, DeliveryResult, HyperEvent, Output};

fn data(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/k8s-real")
        .join(rel)
}

fn analyze(files: &[&str]) -> Vec<Output> {
    let mut norm = lunettes_ingest::Normalizer::new("real");
    let mut events: Vec<HyperEvent> = Vec::new();
    for f in files {
        let path = data(f);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let report = norm.normalize_document(f, &bytes, &mut events);
        assert!(report.errors.is_empty(), "{f}: {:?}", report.errors);
    }
    events.sort_by_key(|e| e.time_us);
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for e in &events {
        engine.process(e, &mut out);
    }
    engine.finish(&mut out);
    out
}

fn create_of<'a>(out: &'a [Output], name: &str) -> &'a Delivery {
    deliveries(out)
        .into_iter()
        .filter(|d| d.name == name && d.action == lunettes_schemas::Action::Create)
        .max_by_key(|d| d.version)
        .unwrap_or_else(|| panic!("no delivery for {name}"))
}

#[test]
fn gitops_engine_image_pull_backoff_pod_gets_that_code() {
    let out = analyze(&["gitops-engine/pkg/health/testdata/pod-imagepullbackoff.yaml"]);
    let d = create_of(&out, "guestbook-ui-errimagepullbackoff-66cfffb669-45w2j");
    assert_eq!(d.result, DeliveryResult::Fail);
    assert_eq!(d.code, "ImagePullBackOff", "{}", d.summary);
    assert!(!d.summary.is_empty());
}

#[test]
fn gitops_engine_crashloop_pod_gets_that_code() {
    let out = analyze(&["gitops-engine/pkg/health/testdata/pod-crashloop.yaml"]);
    let ds = deliveries(&out);
    let d = ds
        .iter()
        .find(|d| d.action == lunettes_schemas::Action::Create)
        .unwrap();
    assert_eq!(d.result, DeliveryResult::Fail);
    assert_eq!(d.code, "CrashLoopBackOff", "{}", d.summary);
}

/// Milliseconds between two RFC 3339 times of the recording.
fn ms_between(from: &str, to: &str) -> i64 {
    let us = |t: &str| {
        lunettes_schemas::time::parse_rfc3339(t)
            .unwrap_or_else(|| panic!("bad time {t}"))
            .0
    };
    (us(to) - us(from)) / 1000
}

#[test]
fn kspan_rollout_new_pods_are_successes_with_phases_matching_the_event_times() {
    let out = analyze(&["kspan/controllers/events/testdata/deployment-2-pods.yaml"]);
    // The recording shows Scheduled/Pulling/Pulled/Created/Started for the
    // new ReplicaSet's pods but no pod snapshot with Ready=True. Their only
    // container has no readiness probe and the pods no readiness gates, so
    // Kubernetes marked them Ready when the container started: successes,
    // completed at the Started event, flagged `ready:inferred`.
    //
    // px-5d567cc74c-ss4lb: created 09:42:58 (whole second), Scheduled at
    // 09:42:58.638469 (eventTime), Pulling 09:42:59, Pulled 09:43:05 "in
    // 5.870196872s", Created/Started 09:43:05 (whole seconds).
    let d = create_of(&out, "px-5d567cc74c-ss4lb");
    assert_eq!(d.result, DeliveryResult::Success, "{}", d.summary);
    assert!(
        d.flags.contains(&"ready:inferred".to_string()),
        "{:?}",
        d.flags
    );
    assert!(d.code.is_empty());
    let p = d.phases;
    let schedule = ms_between("2021-05-19T09:42:58Z", "2021-05-19T09:42:58.638469Z");
    assert!((p.schedule_ms.unwrap() - schedule).abs() <= 1, "{p:?}");
    assert!((p.image_pull_ms.unwrap() - 5870).abs() <= 1, "{p:?}");
    // Binding -> first kubelet activity (Pulling at 09:42:59, whole second).
    let sandbox = ms_between("2021-05-19T09:42:58.638469Z", "2021-05-19T09:42:59Z");
    assert!((p.sandbox_ms.unwrap() - sandbox).abs() <= 1000, "{p:?}");
    assert!(p.container_start_ms.unwrap() <= 1000, "{p:?}");
    assert_eq!(p.readiness_ms, Some(0), "{p:?}");
    let started = lunettes_schemas::time::parse_rfc3339("2021-05-19T09:43:05Z")
        .unwrap()
        .0;
    let finished = d.finished_at_us.expect("finished");
    assert!((started..started + 1_000_000).contains(&finished), "{d:?}");
    let elapsed = ms_between("2021-05-19T09:42:58Z", "2021-05-19T09:43:05Z");
    assert!((d.sli_ms.unwrap() - elapsed).abs() <= 1000, "{d:?}");
    for (n, v) in p.iter() {
        assert!(v.unwrap_or(0) >= 0, "{n}");
    }

    // px-5d567cc74c-pmvzr: created 09:43:06, Scheduled at 09:43:06.232051,
    // image already present, Created/Started 09:43:06.
    let d = create_of(&out, "px-5d567cc74c-pmvzr");
    assert_eq!(d.result, DeliveryResult::Success, "{}", d.summary);
    assert!(
        d.flags.contains(&"ready:inferred".to_string()),
        "{:?}",
        d.flags
    );
    let p = d.phases;
    let schedule = ms_between("2021-05-19T09:43:06Z", "2021-05-19T09:43:06.232051Z");
    assert!((p.schedule_ms.unwrap() - schedule).abs() <= 1, "{p:?}");
    assert_eq!(p.image_pull_ms, Some(0), "{p:?}");
    assert!(
        p.sandbox_ms.unwrap() + p.container_start_ms.unwrap() <= 1000,
        "{p:?}"
    );
    assert_eq!(p.readiness_ms, Some(0), "{p:?}");
    assert!(d.sli_ms.unwrap() < 1000, "{d:?}");

    // The pods of the old ReplicaSet were observed Ready: successes, not inferred.
    let ok: Vec<_> = deliveries(&out)
        .into_iter()
        .filter(|d| d.name.starts_with("px-7df978b9bf") && d.result == DeliveryResult::Success)
        .collect();
    assert_eq!(ok.len(), 2);
    assert!(ok
        .iter()
        .all(|d| !d.flags.contains(&"ready:inferred".to_string())));
}
