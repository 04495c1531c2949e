//! The example Prometheus rules parse, are well-formed, and read only
//! metrics the workers really register (found in their source), so a renamed
//! metric breaks this test instead of silently disabling an alert.

use std::collections::BTreeSet;

use lunettes_deploy_tests::{metrics, repo};
use serde_yaml::Value;

const FILE: &str = "deploy/prometheus/alerts.yaml";

fn rules() -> Vec<Value> {
    let v = repo::yaml(FILE);
    let groups = v["groups"].as_sequence().expect("groups");
    assert!(!groups.is_empty());
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for g in groups {
        let name = g["name"].as_str().expect("group name");
        assert!(names.insert(name.to_string()), "duplicate group {name}");
        for r in g["rules"].as_sequence().expect("rules") {
            out.push(r.clone());
        }
    }
    out
}

#[test]
fn rules_are_well_formed() {
    let duration = regex::Regex::new(r"^[0-9]+(ms|s|m|h|d|w|y)$").expect("valid regex");
    let mut alerts = BTreeSet::new();
    for r in rules() {
        let expr = r["expr"].as_str().expect("expr");
        assert!(!expr.trim().is_empty());
        // Parentheses and brackets balance.
        for (open, close) in [('(', ')'), ('[', ']'), ('{', '}')] {
            assert_eq!(
                expr.matches(open).count(),
                expr.matches(close).count(),
                "unbalanced {open}{close}: {expr}"
            );
        }
        match (r["alert"].as_str(), r["record"].as_str()) {
            (Some(a), None) => {
                assert!(alerts.insert(a.to_string()), "duplicate alert {a}");
                assert!(a.starts_with("Lunettes"), "{a}");
                let sev = r["labels"]["severity"].as_str().expect("severity label");
                assert!(["page", "ticket"].contains(&sev), "{a}: severity {sev}");
                assert!(
                    r["annotations"]["summary"]
                        .as_str()
                        .is_some_and(|s| !s.is_empty()),
                    "{a}: summary"
                );
                assert!(
                    r["annotations"]["description"].as_str().is_some(),
                    "{a}: description"
                );
                if let Some(f) = r["for"].as_str() {
                    assert!(duration.is_match(f), "{a}: for {f}");
                }
            }
            (None, Some(rec)) => assert!(
                rec.starts_with("lunettes:") && rec.matches(':').count() == 2,
                "recording rule name level:metric:operations: {rec}"
            ),
            _ => panic!("a rule is either an alert or a record: {r:?}"),
        }
    }
    for a in [
        "LunettesPodStartupFastBurn",
        "LunettesPodStartupSlowBurn",
        "LunettesProcessorLagHigh",
        "LunettesDeadLetters",
        "LunettesClickHouseSinkRetrying",
    ] {
        assert!(alerts.contains(a), "missing {a}");
    }
}

#[test]
fn every_expression_reads_registered_metrics() {
    let registered = metrics::registered_names(&metrics::SOURCE_DIRS);
    for must in [
        "lunettes_pod_startup_result_total",
        "lunettes_consumer_lag_records",
        "lunettes_clickhouse_sink_insert_retries_total",
    ] {
        assert!(
            registered.contains(must),
            "source scan missed {must}: {registered:?}"
        );
    }
    let series = metrics::exposed_series(&registered);
    let all = rules();
    let recorded: BTreeSet<String> = all
        .iter()
        .filter_map(|r| r["record"].as_str().map(String::from))
        .collect();
    // Prometheus' own series, allowed in pipeline-health rules.
    let builtin: BTreeSet<&str> = ["up"].into_iter().collect();
    let mut used = BTreeSet::new();
    for r in &all {
        let expr = r["expr"].as_str().expect("expr");
        for name in metrics::expression_names(expr) {
            let known = series.contains(&name)
                || recorded.contains(&name)
                || builtin.contains(name.as_str());
            assert!(
                known,
                "{FILE}: {name} in `{}` is not a registered metric or recording rule",
                expr.trim()
            );
            used.insert(name);
        }
    }
    // Burn-rate alerts are built on the processors' result counters.
    assert!(used.contains("lunettes_pod_startup_result_total"));
    assert!(used.contains("lunettes_pod_delete_result_total"));
    // Every recording rule is used by an alert.
    for rec in &recorded {
        assert!(used.contains(rec), "recording rule {rec} is never used");
    }
}

#[test]
fn burn_rate_alerts_pair_a_long_and_a_short_window() {
    let window = regex::Regex::new(r"ratio_rate(\d+)([mh])").expect("valid regex");
    let minutes =
        |n: &str, u: &str| n.parse::<u32>().expect("number") * if u == "h" { 60 } else { 1 };
    let mut checked = 0;
    for r in rules() {
        let Some(name) = r["alert"].as_str() else {
            continue;
        };
        if !name.contains("Burn") {
            continue;
        }
        let expr = r["expr"].as_str().expect("expr");
        let windows: Vec<u32> = window
            .captures_iter(expr)
            .map(|c| minutes(&c[1], &c[2]))
            .collect();
        assert_eq!(windows.len(), 2, "{name}: a long and a short window");
        assert!(
            windows[0] >= 4 * windows[1],
            "{name}: the short window should be about 1/12 of the long one"
        );
        assert!(
            expr.split_whitespace().any(|w| w == "and"),
            "{name}: both windows must burn"
        );
        checked += 1;
    }
    assert!(checked >= 3);
}
