//! The ground truth is complete and consistent, and every fault kind is in
//! the logs with the evidence its diagnosis needs.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io;

use common::us;
use lunettes_loadtest::{simulate, simulate_into, Fault, FaultRates, SimConfig, SimSink, Truth};
use serde_json::Value;

/// Keeps the truth and, per pod uid, the events about it; counts rejected
/// creates by message. Keeps no raw lines, so large runs stay small.
#[derive(Default)]
struct Evidence {
    truths: Vec<Truth>,
    events: HashMap<String, Vec<(String, String, String)>>,
    rejected: Vec<(i64, String)>,
}

impl SimSink for Evidence {
    fn audit_line(&mut self, _cluster: &str, line: &str) -> io::Result<()> {
        if line.contains("\"resource\":\"pods\",\"namespace\"")
            && line.contains("\"status\":\"Failure\"")
        {
            let v: Value = serde_json::from_str(line).map_err(io::Error::other)?;
            self.rejected.push((
                v["responseStatus"]["code"].as_i64().unwrap_or(0),
                v["responseStatus"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            ));
        }
        Ok(())
    }
    fn event_line(&mut self, _cluster: &str, line: &str) -> io::Result<()> {
        let v: Value = serde_json::from_str(line).map_err(io::Error::other)?;
        let uid = v["involvedObject"]["uid"]
            .as_str()
            .unwrap_or("")
            .to_string();
        self.events.entry(uid).or_default().push((
            v["reason"].as_str().unwrap_or("").to_string(),
            v["message"].as_str().unwrap_or("").to_string(),
            v["involvedObject"]["fieldPath"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        ));
        Ok(())
    }
    fn truth(&mut self, truth: &Truth) -> io::Result<()> {
        self.truths.push(truth.clone());
        Ok(())
    }
}

fn evidence(cfg: &SimConfig) -> Evidence {
    let mut e = Evidence::default();
    simulate_into(cfg, &mut e).unwrap();
    e
}

fn has(events: &[(String, String, String)], reason: &str, needle: &str) -> bool {
    events
        .iter()
        .any(|(r, m, _)| r == reason && m.contains(needle))
}

#[test]
fn every_fault_appears_at_default_rates_with_its_evidence() {
    let e = evidence(&SimConfig {
        clusters: 3,
        pods: 2400,
        seed: 21,
        ..SimConfig::default()
    });
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &e.truths {
        *count.entry(t.fault.as_str()).or_default() += 1;
    }
    for f in Fault::ALL {
        assert!(
            count.get(f.name()).copied().unwrap_or(0) >= 5,
            "{f}: {count:?}"
        );
    }
    let faulty =
        e.truths.iter().filter(|t| t.fault != "none").count() as f64 / e.truths.len() as f64;
    assert!((0.25..0.35).contains(&faulty), "fault share {faulty}");
    let none = Vec::new();
    for t in &e.truths {
        let ev = e.events.get(&t.uid).unwrap_or(&none);
        let ok = match Fault::from_name(&t.fault) {
            None => t.expected_result == "success",
            Some(Fault::SchedInsufficientCpu) => has(ev, "FailedScheduling", "Insufficient cpu"),
            Some(Fault::SchedInsufficientMemory) => {
                has(ev, "FailedScheduling", "Insufficient memory")
            }
            Some(Fault::SchedTaint) => has(ev, "FailedScheduling", "had untolerated taint"),
            Some(Fault::SchedAffinity) => has(
                ev,
                "FailedScheduling",
                "didn't match Pod's node affinity/selector",
            ),
            Some(Fault::SchedUnboundPvc) => has(
                ev,
                "FailedScheduling",
                "unbound immediate PersistentVolumeClaims",
            ),
            Some(Fault::SlowPull) => {
                t.phases_ms.image_pull.unwrap_or(0) >= 95_000
                    && has(ev, "Pulled", "Successfully pulled image")
            }
            Some(Fault::PullNotFound) => ev.iter().any(|(r, m, _)| {
                r == "Failed"
                    && m.starts_with("Failed to pull image")
                    && (m.contains("not found") || m.contains("manifest unknown"))
            }),
            Some(Fault::PullAccessDenied) => ev.iter().any(|(r, m, _)| {
                r == "Failed"
                    && (m.contains("pull access denied") || m.contains("401 Unauthorized"))
            }),
            Some(Fault::PullBackoff) => {
                has(ev, "BackOff", "Back-off pulling image")
                    && !has(ev, "Failed", "Failed to pull image")
            }
            Some(Fault::SandboxIpTimeout) => {
                has(ev, "FailedCreatePodSandBox", "timeout to allocate ip")
            }
            Some(Fault::SandboxNetwork) => {
                has(ev, "FailedCreatePodSandBox", "network")
                    && !has(ev, "FailedCreatePodSandBox", "timeout to allocate ip")
            }
            Some(Fault::FailedMount) => {
                (has(ev, "FailedMount", "code = DeadlineExceeded")
                    || has(ev, "FailedMount", "mount failed: exit status 32"))
                    && !has(ev, "FailedMount", "not found")
            }
            Some(Fault::MountConfig) => ev.iter().any(|(r, m, _)| {
                r == "FailedMount"
                    && m.starts_with("MountVolume.SetUp failed for volume")
                    && (m.contains("configmap \"") || m.contains("secret \""))
                    && m.ends_with("not found")
            }),
            Some(Fault::CreateContainerConfigError) => has(ev, "Failed", "Error: co"),
            Some(Fault::Crashloop) => has(ev, "BackOff", "Back-off restarting failed container"),
            Some(Fault::ReadinessFail) => has(
                ev,
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
            ),
            Some(Fault::SlowPoststart) => t.phases_ms.readiness.unwrap_or(0) >= 200_000,
            Some(Fault::Preempted) => has(ev, "Preempted", "Preempted by pod "),
            Some(Fault::InitCrashloop) => ev.iter().any(|(r, m, f)| {
                r == "BackOff"
                    && m.contains("restarting failed container")
                    && f.starts_with("spec.initContainers")
            }),
            Some(Fault::QuotaDenied | Fault::WebhookDenied | Fault::Create5xx) => t.uid.is_empty(),
            Some(Fault::StuckFinalizer) => t
                .delete
                .as_ref()
                .is_some_and(|d| d.expected_code == "FinalizerNotRemoved"),
        };
        assert!(ok, "{} ({}) lacks its evidence: {ev:?}", t.name, t.fault);
    }
    let quota = e
        .rejected
        .iter()
        .filter(|(c, m)| *c == 403 && m.contains("exceeded quota"))
        .count();
    let webhook = e
        .rejected
        .iter()
        .filter(|(_, m)| m.starts_with("admission webhook \""))
        .count();
    let server = e.rejected.iter().filter(|(c, _)| *c >= 500).count();
    assert_eq!(quota, count["quota_denied"]);
    assert_eq!(webhook, count["webhook_denied"]);
    assert_eq!(server, count["create_5xx"]);
}

#[test]
fn truth_rows_are_consistent() {
    let (_, truths) = simulate(&SimConfig {
        clusters: 2,
        pods: 700,
        seed: 5,
        fault_rates: FaultRates::uniform(0.6),
        ..SimConfig::default()
    });
    for t in &truths {
        let ctx = format!("{} {} ({})", t.cluster, t.name, t.fault);
        let fault = Fault::from_name(&t.fault);
        let (result, code, _) = fault.map_or(("success", "", ""), Fault::expected_create);
        assert_eq!(t.expected_result, result, "{ctx}");
        assert_eq!(t.expected_code, code, "{ctx}");
        assert!(matches!(t.kind.as_str(), "service" | "job"), "{ctx}");
        if t.kind == "job" {
            assert!(fault.is_none_or(Fault::applies_to_jobs), "{ctx}");
            assert!(t.phases_ms.readiness.is_none(), "{ctx}");
        }
        let mut sorted = t.operations.clone();
        sorted.sort();
        assert_eq!(sorted, t.operations, "{ctx}: operations not sorted");
        for p in t.phases_ms.present() {
            assert!(p >= 0, "{ctx}: negative phase {:?}", t.phases_ms);
        }
        let created = us(&t.created_at);
        if let Some(f) = &t.finished_at {
            let elapsed_ms = (us(f) - created) / 1000;
            let sum: i64 = t.phases_ms.present().sum();
            assert!(
                sum <= elapsed_ms,
                "{ctx}: phases {sum} ms > elapsed {elapsed_ms} ms"
            );
            match fault {
                None | Some(Fault::StuckFinalizer) => {
                    assert!(elapsed_ms < 80_000, "{ctx}: clean pod took {elapsed_ms} ms")
                }
                Some(Fault::SlowPull | Fault::SlowPoststart) => {
                    assert!(
                        elapsed_ms > 95_000,
                        "{ctx}: slow pod done in {elapsed_ms} ms"
                    )
                }
                Some(f) => panic!("{ctx}: {f} pod finished"),
            }
            assert!(
                t.phases_ms.schedule.is_some() && t.phases_ms.container_start.is_some(),
                "{ctx}"
            );
        } else {
            assert!(
                t.expected_result != "success",
                "{ctx}: success without finish time"
            );
        }
        if t.uid.is_empty() {
            assert_eq!(t.expected_result, "api_failed", "{ctx}");
            assert_eq!(t.operations, vec!["pod:create:failed"], "{ctx}");
        } else {
            assert!(
                t.operations.iter().any(|o| o == "pod:create:success"),
                "{ctx}"
            );
        }
        if t.fault == "webhook_denied" {
            assert!(
                t.expected_sub_reason.contains('.'),
                "{ctx}: webhook name {:?}",
                t.expected_sub_reason
            );
        }
        match (&t.delete, fault) {
            (Some(d), Some(Fault::StuckFinalizer)) => {
                assert_eq!(
                    (d.expected_result.as_str(), d.expected_code.as_str()),
                    ("fail", "FinalizerNotRemoved")
                );
                assert!(!d.expected_sub_reason.is_empty());
                assert!(
                    t.operations.iter().all(|o| o != "pod:deleted:success"),
                    "{ctx}"
                );
                assert!(us(&d.deleted_at) > us(t.finished_at.as_deref().unwrap()));
            }
            (Some(d), _) => {
                assert_eq!(
                    (d.expected_result.as_str(), d.expected_code.as_str()),
                    ("success", ""),
                    "{ctx}"
                );
                assert!(
                    t.operations.iter().any(|o| o == "pod:deleted:success"),
                    "{ctx}"
                );
            }
            (None, Some(Fault::StuckFinalizer | Fault::Preempted)) => {
                panic!("{ctx}: no delete truth")
            }
            (None, _) => assert!(
                t.operations.iter().all(|o| !o.starts_with("pod:delete")),
                "{ctx}"
            ),
        }
    }
}

#[test]
fn clean_run_has_no_faults() {
    let (_, truths) = simulate(&SimConfig {
        clusters: 2,
        pods: 200,
        seed: 8,
        fault_rates: FaultRates::none(),
        ..SimConfig::default()
    });
    assert_eq!(truths.len(), 200);
    assert!(truths
        .iter()
        .all(|t| t.fault == "none" && t.expected_result == "success" && t.finished_at.is_some()));
    assert!(truths.iter().any(|t| t.kind == "job") && truths.iter().any(|t| t.kind == "service"));
    assert!(truths.iter().any(|t| t.delete.is_some()));
    assert!(truths.iter().any(|t| t.phases_ms.init.is_some()));
    assert!(truths.iter().any(|t| t.phases_ms.image_pull.is_some()));
}

#[test]
fn fault_overrides_select_only_those_faults() {
    let mut rates = FaultRates::none();
    rates
        .apply_overrides("crashloop=0.5,slow_pull=0.5")
        .unwrap();
    let (_, truths) = simulate(&SimConfig {
        clusters: 1,
        pods: 60,
        seed: 4,
        fault_rates: rates,
        job_fraction: 0.0,
        ..SimConfig::default()
    });
    assert!(truths
        .iter()
        .all(|t| t.fault == "crashloop" || t.fault == "slow_pull"));
    assert!(truths.iter().any(|t| t.fault == "crashloop"));
    assert!(truths.iter().any(|t| t.fault == "slow_pull"));
}
