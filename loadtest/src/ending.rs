//! The endings of a pod's story: job completion, deletion (with the actors
//! that delete and the finalizer controllers that release), preemption.

use crate::audit::{Actor, USER_GROUPS};
use crate::lifecycle::{kubelet_flush, refresh_ready, Run};
use crate::pod::{PodSim, JOB_TRACKING};
use crate::status::CState;
use crate::truth::DeleteTruth;
use lunettes_schemas::time::format_rfc3339_micros;

/// The custom controller owning the pods' finalizers.
pub(crate) fn finalizer_controller(p: &PodSim<'_>) -> Actor {
    Actor {
        username: "system:serviceaccount:platform:endpoint-controller".into(),
        groups: &[
            "system:serviceaccounts",
            "system:serviceaccounts:platform",
            "system:authenticated",
        ],
        user_agent: "endpoint-controller/v0.7.2 (linux/amd64)".into(),
        source_ip: format!("10.{}.0.{}", p.cl.pod_net, 77),
        authz_reason: "RBAC: allowed by ClusterRoleBinding \"endpoint-controller\" of ClusterRole \"endpoint-controller\" to ServiceAccount \"endpoint-controller/platform\"".into(),
    }
}

/// Who deletes a healthy pod: a scale-down, a person, or a GitOps tool.
pub(crate) fn deleter(p: &mut PodSim<'_>) -> Actor {
    let ns = p.ns();
    match p.rng.index(3) {
        0 => p.controller_actor("replicaset-controller").clone(),
        1 => Actor {
            username: "alice@example.com".into(),
            groups: USER_GROUPS,
            user_agent: "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350".into(),
            source_ip: "10.250.4.17".into(),
            authz_reason: format!(
                "RBAC: allowed by RoleBinding \"edit/{ns}\" of ClusterRole \"edit\" to Group \"oidc:platform-team\""
            ),
        },
        _ => Actor {
            username: "system:serviceaccount:argocd:argocd-application-controller".into(),
            groups: &[
                "system:serviceaccounts",
                "system:serviceaccounts:argocd",
                "system:authenticated",
            ],
            user_agent: "argocd-application-controller/v2.12.3 (linux/amd64)".into(),
            source_ip: "10.250.9.3".into(),
            authz_reason: "RBAC: allowed by ClusterRoleBinding \"argocd-application-controller\" of ClusterRole \"argocd-application-controller\" to ServiceAccount \"argocd-application-controller/argocd\"".into(),
        },
    }
}

/// The scheduler preempts the running, not yet ready pod for a higher
/// priority one and deletes it.
pub(crate) fn preempt(run: &mut Run<'_>, last_started: i64) {
    kubelet_flush(run, last_started);
    let t = last_started + run.p.rng.uniform_us(2000.0, 8000.0);
    run.p.status.set_condition(
        "DisruptionTarget",
        true,
        Some("PreemptionByScheduler"),
        Some("default-scheduler: preempting to accommodate a higher priority pod".into()),
        t,
    );
    let actor = run.p.scheduler_actor();
    run.p.status_patch_by(t, actor);
    let preemptor = run.p.rng.uuid();
    let note = format!("Preempted by pod {preemptor} on node {}", run.p.node_name());
    run.p
        .scheduler_event(t + 1000, "Normal", "Preempted", "Preempting", note);
    delete_flow(run, t + 3000, actor, false);
}

/// A job's only container runs to completion; the job controller then
/// drops its tracking finalizer.
pub(crate) fn job_run(run: &mut Run<'_>, started: i64) {
    for c in &mut run.p.status.containers {
        c.ready = true;
    }
    refresh_ready(run, started);
    let w = kubelet_flush(run, started);
    run.finished = Some(w);
    let done = started + run.p.rng.lognormal_us(20_000.0, 0.8, 3000.0, 120_000.0);
    for c in &mut run.p.status.containers {
        let cid = c.container_id.clone().unwrap_or_default();
        c.state = CState::Terminated {
            reason: "Completed",
            exit_code: 0,
            started_us: started,
            finished_us: done,
            container_id: cid,
        };
        c.ready = false;
        c.started = false;
    }
    run.p.status.phase = "Succeeded";
    for kind in ["Ready", "ContainersReady"] {
        run.p
            .status
            .set_condition(kind, false, Some("PodCompleted"), None, done);
    }
    if run.p.cl.ready_to_start_condition {
        run.p
            .status
            .set_condition("PodReadyToStartContainers", false, None, None, done);
    }
    let w = kubelet_flush(run, done);
    let actor = run.p.controller_actor("job-controller");
    let t = w + run.p.rng.uniform_us(20.0, 800.0);
    run.p.finalizer_patch(t, JOB_TRACKING, false, actor);
}

/// Graceful delete, the kubelet stopping containers, the finalizer owner
/// reacting (or not), and the kubelet's final delete with grace 0.
pub(crate) fn delete_flow(run: &mut Run<'_>, t_del: i64, actor: &Actor, stuck: bool) {
    let grace = run.p.spec.grace_s;
    let stage = run.p.delete(t_del, grace, actor, false);
    let finalizer = run.custom_finalizer;
    let t_kill = stage + run.p.rng.uniform_us(10.0, 80.0);
    let stop = t_kill
        + run
            .p
            .rng
            .lognormal_us(1500.0, 0.9, 100.0, grace as f64 * 1000.0);
    let mut removed_at = stage;
    if let (Some(f), false) = (finalizer, stuck) {
        // The finalizer's owner reacts to deletionTimestamp and finishes
        // before the containers stop, so the stored pod it gets back still
        // shows them running (writes are rendered in time order).
        let t = (stage + run.p.rng.uniform_us(200.0, 2000.0))
            .min(stop - 60_000)
            .max(stage + 1000);
        let owner = finalizer_controller(&run.p);
        run.p.finalizer_patch(t, f, false, &owner);
        removed_at = t;
    }
    let names: Vec<String> = run
        .p
        .spec
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    for n in &names {
        run.p.kubelet_event(
            t_kill,
            "Normal",
            "Killing",
            format!("Stopping container {n}"),
            Some(n),
            false,
        );
    }
    let sigkill = stop >= t_kill + grace * 1_000_000 - 1000;
    for i in 0..run.p.status.containers.len() {
        let exit = if sigkill {
            137
        } else if run.p.rng.chance(0.7) {
            0
        } else {
            143
        };
        let c = &mut run.p.status.containers[i];
        let started = match c.state {
            CState::Running { started_us } => started_us,
            _ => t_kill,
        };
        if matches!(c.state, CState::Running { .. }) {
            let cid = c.container_id.clone().unwrap_or_default();
            c.state = CState::Terminated {
                reason: if exit == 0 { "Completed" } else { "Error" },
                exit_code: exit,
                started_us: started,
                finished_us: stop,
                container_id: cid,
            };
        }
        c.ready = false;
        c.started = false;
    }
    refresh_ready(run, stop);
    if run.p.cl.ready_to_start_condition {
        run.p
            .status
            .set_condition("PodReadyToStartContainers", false, None, None, stop);
    }
    let w = kubelet_flush(run, stop);
    let t_final = (w + run.p.rng.uniform_us(300.0, 1500.0)).max(removed_at + 50_000);
    let kubelet = run.p.kubelet_actor();
    run.p.delete(t_final, 0, kubelet, true);
    if let (Some(f), true) = (finalizer, stuck) {
        if run.p.rng.chance(0.5) {
            let late = t_del + run.p.rng.uniform_us(660_000.0, 1_500_000.0);
            let owner = finalizer_controller(&run.p);
            run.p.finalizer_patch(late, f, false, &owner);
        }
    }
    run.delete = Some(DeleteTruth {
        expected_result: if stuck { "fail" } else { "success" }.into(),
        expected_code: if stuck { "FinalizerNotRemoved" } else { "" }.into(),
        expected_sub_reason: if stuck {
            finalizer.unwrap_or("").to_string()
        } else {
            String::new()
        },
        deleted_at: format_rfc3339_micros(stage),
        finalizer: if stuck {
            finalizer.map(str::to_string)
        } else {
            None
        },
    });
}
