//! Cross-check: normalizing the simulator's audit logs with `lunettes-ingest`
//! yields, per pod, exactly the operations the ground truth lists.

use std::collections::BTreeMap;

use lunettes_ingest::Normalizer;
use lunettes_loadtest::{simulate, FaultRates, SimConfig};

#[test]
fn normalized_operations_match_truth() {
    let cfg = SimConfig {
        clusters: 3,
        pods: 600,
        seed: 11,
        fault_rates: FaultRates::uniform(0.5),
        ..SimConfig::default()
    };
    let (clusters, truths) = simulate(&cfg);
    let mut by_uid: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    // Rejected creates carry no uid (and no name: the apiserver generated it
    // and only the error message shows it): count them per namespace.
    let mut failed_creates: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for c in &clusters {
        let mut n = Normalizer::new(c.cluster.clone());
        let mut out = Vec::new();
        let text = c.audit_lines.join("\n");
        let report = n.normalize_document("audit.log", text.as_bytes(), &mut out);
        assert!(
            report.errors.is_empty(),
            "{:?}",
            &report.errors[..report.errors.len().min(3)]
        );
        for he in out {
            if he.operations.is_empty() {
                continue;
            }
            if he.object.uid.is_empty() {
                assert_eq!(he.operations, vec!["pod:create:failed".to_string()]);
                failed_creates
                    .entry((c.cluster.clone(), he.object.namespace.clone()))
                    .or_default()
                    .push(he.response_message.clone());
            } else {
                by_uid
                    .entry((c.cluster.clone(), he.object.uid.clone()))
                    .or_default()
                    .extend(he.operations);
            }
        }
    }
    let mut mismatches = Vec::new();
    for t in &truths {
        if t.uid.is_empty() {
            assert_eq!(t.operations, vec!["pod:create:failed".to_string()]);
            let messages = failed_creates
                .get_mut(&(t.cluster.clone(), t.namespace.clone()))
                .unwrap_or_else(|| panic!("no failed create seen for {}", t.name));
            let i = messages
                .iter()
                .position(|m| {
                    m.contains(&t.name)
                        || (!t.expected_sub_reason.is_empty() && m.contains(&t.expected_sub_reason))
                        || m.contains("etcdserver")
                        || m.contains("unable to handle")
                })
                .unwrap_or_else(|| {
                    panic!("no failed create message fits {} ({})", t.name, t.fault)
                });
            messages.remove(i);
            continue;
        }
        let mut got = by_uid
            .remove(&(t.cluster.clone(), t.uid.clone()))
            .unwrap_or_default();
        got.sort();
        if got != t.operations {
            mismatches.push(format!(
                "{} {} ({}):\n  truth only: {:?}\n  normalized only: {:?}",
                t.cluster,
                t.name,
                t.fault,
                diff(&t.operations, &got),
                diff(&got, &t.operations)
            ));
        }
    }
    assert!(
        by_uid.is_empty(),
        "operations for pods without truth: {:?}",
        by_uid.keys().next()
    );
    assert!(
        failed_creates.values().all(Vec::is_empty),
        "failed creates without truth"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} pods differ, first ones:\n{}",
        mismatches.len(),
        truths.len(),
        mismatches[..mismatches.len().min(5)].join("\n")
    );
}

/// Multiset difference a - b.
fn diff(a: &[String], b: &[String]) -> Vec<String> {
    let mut rest: BTreeMap<&String, i32> = BTreeMap::new();
    for x in b {
        *rest.entry(x).or_default() += 1;
    }
    let mut out = Vec::new();
    for x in a {
        match rest.get_mut(x) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(x.clone()),
        }
    }
    out
}
