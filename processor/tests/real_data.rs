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

#[test]
fn kspan_rollout_phases_match_the_event_times() {
    let out = analyze(&["kspan/controllers/events/testdata/deployment-2-pods.yaml"]);
    // New pod px-5d567cc74c-ss4lb: created 09:42:58 (whole second), Scheduled
    // at 09:42:58.638469 (eventTime), Pulling 09:42:59, Pulled 09:43:05 "in
    // 5.870196872s", Created/Started 09:43:05. The recording ends there (no
    // Ready), so the pod is judged at the end of the input without a failure.
    let d = create_of(&out, "px-5d567cc74c-ss4lb");
    assert_ne!(d.result, DeliveryResult::Fail, "{}", d.summary);
    assert!(d.flags.contains(&"end_of_input".to_string()));
    let p = d.phases;
    assert!((p.schedule_ms.unwrap() - 638).abs() <= 1, "{p:?}");
    assert!((p.image_pull_ms.unwrap() - 5870).abs() <= 1, "{p:?}");
    assert!(p.sandbox_ms.unwrap() <= 1000, "{p:?}");
    assert!(p.container_start_ms.unwrap() <= 1000, "{p:?}");
    for (n, v) in p.iter() {
        assert!(v.unwrap_or(0) >= 0, "{n}");
    }
    // The pods of the old ReplicaSet were ready: successes.
    let ok: Vec<_> = deliveries(&out)
        .into_iter()
        .filter(|d| d.name.starts_with("px-7df978b9bf") && d.result == DeliveryResult::Success)
        .collect();
    assert_eq!(ok.len(), 2);
}
