//! The engine against the simulator's ground truth: >= 10,000 pods over 3
//! clusters, audit logs and Events normalized by `lunettes-ingest`.

mod common;

use std::collections::BTreeMap;

use lunettes_processor::{Engine, EngineConfig};
use lunettes_schemas::{Action, Delivery, HyperEvent, Output};

fn run_sim(pods: usize, seed: u64) -> (Vec<Output>, Vec<lunettes_loadtest::Truth>) {
    let cfg = lunettes_loadtest::SimConfig {
        clusters: 3,
        pods,
        seed,
        ..Default::default()
    };
    let (clusters, truths) = lunettes_loadtest::simulate(&cfg);
    let mut engine = Engine::new(EngineConfig {
        emit_spans: false,
        ..Default::default()
    });
    let mut out = Vec::new();
    for c in &clusters {
        let mut norm = lunettes_ingest::Normalizer::new(c.cluster.clone());
        let mut events: Vec<HyperEvent> = Vec::new();
        let audit = c.audit_lines.join("\n");
        let r = norm.normalize_document("audit.log", audit.as_bytes(), &mut events);
        assert!(
            r.errors.is_empty(),
            "{:?}",
            &r.errors[..r.errors.len().min(3)]
        );
        let ev = c.event_lines.join("\n");
        let r = norm.normalize_document("events.jsonl", ev.as_bytes(), &mut events);
        assert!(
            r.errors.is_empty(),
            "{:?}",
            &r.errors[..r.errors.len().min(3)]
        );
        events.sort_by_key(|e| e.time_us);
        for e in &events {
            engine.process(e, &mut out);
        }
    }
    engine.finish(&mut out);
    (out, truths)
}

fn latest(out: &[Output]) -> BTreeMap<(String, String, Action), Delivery> {
    let mut m: BTreeMap<(String, String, Action), Delivery> = BTreeMap::new();
    for o in out {
        if let Output::Delivery(d) = o {
            let k = (d.cluster.clone(), d.uid.clone(), d.action);
            if d.uid.is_empty() {
                continue;
            }
            if m.get(&k).is_none_or(|old| old.version <= d.version) {
                m.insert(k, d.clone());
            }
        }
    }
    m
}

#[test]
fn every_injected_fault_yields_its_expected_code() {
    let (out, truths) = run_sim(10_000, 7);
    assert!(truths.len() >= 10_000);
    let ds = latest(&out);
    let mut per_fault: BTreeMap<String, (usize, usize, Vec<String>)> = BTreeMap::new();
    let mut phase_errors = Vec::new();
    let mut negative = 0;
    for t in &truths {
        let e = per_fault.entry(t.fault.clone()).or_default();
        e.0 += 1;
        if t.uid.is_empty() {
            // Rejected creates: matched by code counts below.
            e.1 += 1;
            continue;
        }
        let Some(d) = ds.get(&(t.cluster.clone(), t.uid.clone(), Action::Create)) else {
            e.2.push(format!("{}: no delivery", t.name));
            continue;
        };
        for (_, v) in d.phases.iter() {
            if v.unwrap_or(0) < 0 {
                negative += 1;
            }
        }
        let ok = d.result.as_str() == t.expected_result
            && d.code == t.expected_code
            && (t.expected_sub_reason.is_empty() || d.sub_reason == t.expected_sub_reason);
        if ok {
            e.1 += 1;
        } else if e.2.len() < 3 {
            e.2.push(format!(
                "{} got {} {} {} ({})",
                t.name,
                d.result.as_str(),
                d.code,
                d.sub_reason,
                d.summary
            ));
        }
        if t.expected_result == "success" && ok {
            let truth = [
                ("schedule", t.phases_ms.schedule),
                ("image_pull", t.phases_ms.image_pull),
                ("sandbox", t.phases_ms.sandbox),
                ("init", t.phases_ms.init),
                ("container_start", t.phases_ms.container_start),
                ("readiness", t.phases_ms.readiness),
            ];
            for ((name, got), (_, want)) in d.phases.iter().into_iter().zip(truth) {
                if let (Some(g), Some(w)) = (got, want) {
                    if (g - w).abs() > 1000 && phase_errors.len() < 10 {
                        phase_errors.push(format!("{} {name}: got {g} ms, truth {w} ms", t.name));
                    }
                }
            }
        }
    }
    // Rejected creates: counts per code.
    let mut api_codes: BTreeMap<String, usize> = BTreeMap::new();
    for o in &out {
        if let Output::Delivery(d) = o {
            if d.result == lunettes_schemas::DeliveryResult::ApiFailed {
                *api_codes.entry(d.code.clone()).or_default() += 1;
            }
        }
    }
    let mut want_api: BTreeMap<String, usize> = BTreeMap::new();
    for t in truths.iter().filter(|t| t.uid.is_empty()) {
        *want_api.entry(t.expected_code.clone()).or_default() += 1;
    }
    let mut report = String::new();
    let mut bad = false;
    for (fault, (n, ok, misses)) in &per_fault {
        report.push_str(&format!("{fault}: {ok}/{n} {misses:?}\n"));
        if ok < n {
            bad = true;
        }
    }
    eprintln!("{report}");
    assert_eq!(api_codes, want_api, "api_failed codes");
    assert_eq!(negative, 0, "negative phases");
    assert!(
        phase_errors.is_empty(),
        "phases off by > 1 s: {phase_errors:#?}"
    );
    assert!(!bad, "faults not diagnosed as expected:\n{report}");
}
