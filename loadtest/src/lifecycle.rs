//! The timeline of one pod: create, schedule, kubelet start-up, readiness,
//! and (for some) deletion, with the fault hooks that cut it short.
//!
//! Each step advances a true clock; the phase durations in the ground truth
//! come from that clock, while the logs show what Kubernetes would show
//! (whole-second condition times, microsecond audit times, events that lag a
//! little). Faults branch off into `faults`, which ends the pod's story.

use lunettes_schemas::time::format_rfc3339_micros;

use crate::cluster::{ClusterProfile, WorkloadKind, FINALIZERS};
use crate::config::{Fault, SimConfig};
use crate::messages;
use crate::pod::{PodSim, Record};
use crate::rng::SimRng;
use crate::status::{CState, CStatus};
use crate::truth::{DeleteTruth, PhasesMs, Truth};
use crate::{ending, faults};

/// Clean pods keep the sum of their pulls under this, so that a pod
/// without a fault is always delivered well inside the 90 s SLO.
const CLEAN_PULL_BUDGET_US: i64 = 30_000_000;

/// Running state of one pod's simulation.
pub(crate) struct Run<'c> {
    pub p: PodSim<'c>,
    pub fault: Option<Fault>,
    pub horizon: i64,
    pub phases: PhasesMs,
    pub pulls: Vec<(i64, i64)>,
    pub pull_budget: i64,
    pub finished: Option<i64>,
    pub delete: Option<DeleteTruth>,
    pub sub_reason: String,
    pub custom_finalizer: Option<&'static str>,
}

/// How one image pull goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PullMode {
    Normal,
    Slow,
}

fn ms(us: i64) -> i64 {
    us / 1000
}

/// Simulates pod `pod_index` of cluster `cl` arriving at `arrival_us`.
pub(crate) fn simulate_pod(
    cl: &ClusterProfile,
    cfg: &SimConfig,
    cluster_index: usize,
    pod_index: usize,
    arrival_us: i64,
) -> (Vec<Record>, Truth) {
    let mut rng = SimRng::derive(cfg.seed, cluster_index as u64 + 1, pod_index as u64);
    let fault = cfg.fault_rates.draw(rng.unit());
    let want_job = rng.chance(cfg.job_fraction.clamp(0.0, 1.0));
    let kind = if want_job && fault.is_none_or(Fault::applies_to_jobs) {
        WorkloadKind::Job
    } else {
        WorkloadKind::Service
    };
    let delete_normal = fault.is_none()
        && kind == WorkloadKind::Service
        && rng.chance(cfg.delete_fraction.clamp(0.0, 1.0));
    let candidates: Vec<usize> = (0..cl.workloads.len())
        .filter(|&i| cl.workloads[i].kind == kind)
        .collect();
    let wl = &cl.workloads[candidates[rng.index(candidates.len())]];
    let horizon = arrival_us + rng.uniform_us(240_000.0, 420_000.0);
    let custom_finalizer = match (fault, kind) {
        (Some(Fault::StuckFinalizer), _) => Some(wl.finalizer.unwrap_or(*rng.pick(&FINALIZERS))),
        (_, WorkloadKind::Service) => wl.finalizer,
        _ => None,
    };
    let mut run = Run {
        p: PodSim::new(cl, wl, rng),
        fault,
        horizon,
        phases: PhasesMs::default(),
        pulls: Vec::new(),
        pull_budget: if fault.is_none() {
            CLEAN_PULL_BUDGET_US
        } else {
            i64::MAX / 4
        },
        finished: None,
        delete: None,
        sub_reason: String::new(),
        custom_finalizer,
    };
    faults::prepare_spec(&mut run);
    if matches!(
        fault,
        Some(Fault::QuotaDenied | Fault::WebhookDenied | Fault::Create5xx)
    ) {
        faults::api_failure(&mut run, arrival_us);
        return finish(run, true);
    }
    start(&mut run, arrival_us, delete_normal);
    finish(run, false)
}

fn finish(mut run: Run<'_>, rejected: bool) -> (Vec<Record>, Truth) {
    let (result, code, sub) = match run.fault {
        Some(f) => f.expected_create(),
        None => ("success", "", ""),
    };
    let sub = if run.sub_reason.is_empty() {
        sub.to_string()
    } else {
        run.sub_reason.clone()
    };
    run.p.ops.sort();
    let p = run.p;
    let truth = Truth {
        cluster: p.cl.name.clone(),
        namespace: p.ns().to_string(),
        name: p.name.clone(),
        uid: if rejected {
            String::new()
        } else {
            p.uid.clone()
        },
        kind: match p.wl.kind {
            WorkloadKind::Service => "service".into(),
            WorkloadKind::Job => "job".into(),
        },
        node: p.node_name().to_string(),
        fault: run.fault.map_or("none", Fault::name).to_string(),
        expected_result: result.into(),
        expected_code: code.into(),
        expected_sub_reason: sub,
        created_at: format_rfc3339_micros(p.created_us),
        finished_at: run.finished.map(format_rfc3339_micros),
        phases_ms: run.phases,
        delete: run.delete,
        operations: p.ops,
    };
    (p.records, truth)
}

/// Status index of spec container `i` (statuses are sorted by name).
pub(crate) fn status_index(run: &Run<'_>, init: bool, i: usize) -> usize {
    if init {
        return i;
    }
    let name = &run.p.spec.containers[i].name;
    run.p
        .status
        .containers
        .iter()
        .position(|c| &c.name == name)
        .unwrap_or(i)
}

fn unready_message(run: &Run<'_>) -> String {
    format!(
        "containers with unready status: [{}]",
        run.p.status.unready_names().join(" ")
    )
}

/// Sets Ready and ContainersReady from the containers' ready flags.
pub(crate) fn refresh_ready(run: &mut Run<'_>, t: i64) {
    let all = run.p.status.containers.iter().all(|c| c.ready);
    for kind in ["Ready", "ContainersReady"] {
        if all {
            run.p.status.set_condition(kind, true, None, None, t);
        } else {
            let msg = unready_message(run);
            run.p
                .status
                .set_condition(kind, false, Some("ContainersNotReady"), Some(msg), t);
        }
    }
}

/// The kubelet notices a change after a PLEG relist (up to a second) and
/// writes status; returns the write's time.
pub(crate) fn kubelet_flush(run: &mut Run<'_>, t: i64) -> i64 {
    let t_req = t + run.p.rng.uniform_us(50.0, 900.0);
    run.p.kubelet_status(t_req)
}

fn waiting(reason: &'static str) -> CState {
    CState::Waiting {
        reason,
        message: None,
    }
}

fn new_cstatus(name: &str, image: &str, state: CState) -> CStatus {
    CStatus {
        name: name.to_string(),
        image: image.to_string(),
        image_id: String::new(),
        container_id: None,
        state,
        last_state: None,
        ready: false,
        restart_count: 0,
        started: false,
    }
}

fn start(run: &mut Run<'_>, arrival: i64, delete_normal: bool) {
    let created = run.p.create(arrival);
    if let Some(f) = run.custom_finalizer {
        let t = created + run.p.rng.uniform_us(2.0, 8.0);
        let actor = ending::finalizer_controller(&run.p);
        run.p.finalizer_patch(t, f, true, &actor);
    }
    let sched_us = run.p.rng.lognormal_us(25.0, 0.9, 5.0, 200.0);
    if let Some(
        f @ (Fault::SchedInsufficientCpu
        | Fault::SchedInsufficientMemory
        | Fault::SchedTaint
        | Fault::SchedAffinity
        | Fault::SchedUnboundPvc),
    ) = run.fault
    {
        faults::scheduling_failure(run, f, created + sched_us);
        return;
    }
    let node = run.p.rng.index(run.p.cl.nodes.len());
    let bound = run.p.bind(created + sched_us, node);
    run.phases.schedule = Some(ms(bound - created));
    let note = format!(
        "Successfully assigned {}/{} to {}",
        run.p.ns(),
        run.p.name,
        run.p.node_name()
    );
    let t_ev = bound + run.p.rng.uniform_us(0.3, 3.0);
    run.p
        .scheduler_event(t_ev, "Normal", "Scheduled", "Binding", note);
    kubelet_start(run, bound, delete_normal);
}

fn kubelet_start(run: &mut Run<'_>, bound: i64, delete_normal: bool) {
    let admit = bound + run.p.rng.lognormal_us(60.0, 0.6, 10.0, 400.0);
    let node_ip = run.p.cl.nodes[run.p.node.unwrap_or(0)].ip.clone();
    let has_init = !run.p.spec.init_containers.is_empty();
    {
        let st = &mut run.p.status;
        st.host_ip = Some(node_ip.clone());
        st.start_time_us = Some(admit);
    }
    if run.p.spec.host_network {
        run.p.status.pod_ip = Some(node_ip);
    }
    let init: Vec<CStatus> = run
        .p
        .spec
        .init_containers
        .iter()
        .map(|c| new_cstatus(&c.name, &c.image, waiting("PodInitializing")))
        .collect();
    let mut containers: Vec<CStatus> = run
        .p
        .spec
        .containers
        .iter()
        .map(|c| {
            new_cstatus(
                &c.name,
                &c.image,
                waiting(if has_init {
                    "PodInitializing"
                } else {
                    "ContainerCreating"
                }),
            )
        })
        .collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    run.p.status.init = init;
    run.p.status.containers = containers;
    if run.p.cl.ready_to_start_condition {
        run.p
            .status
            .set_condition("PodReadyToStartContainers", false, None, None, admit);
    }
    if has_init {
        let names: Vec<&str> = run
            .p
            .spec
            .init_containers
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let msg = format!("containers with incomplete status: [{}]", names.join(" "));
        run.p.status.set_condition(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(msg),
            admit,
        );
    } else {
        run.p
            .status
            .set_condition("Initialized", true, None, None, admit);
    }
    refresh_ready(run, admit);
    let t_req = admit + run.p.rng.uniform_us(5.0, 50.0);
    run.p.kubelet_status(t_req);

    if matches!(run.fault, Some(Fault::FailedMount | Fault::MountConfig)) {
        faults::mount_failure(run, admit);
        return;
    }
    let sb_start = admit + run.p.rng.lognormal_us(30.0, 0.8, 5.0, 400.0);
    if matches!(
        run.fault,
        Some(Fault::SandboxIpTimeout | Fault::SandboxNetwork)
    ) {
        faults::sandbox_failure(run, sb_start);
        return;
    }
    let sb_ready = sb_start + run.p.rng.lognormal_us(900.0, 0.6, 300.0, 3000.0);
    run.phases.sandbox = Some(ms(sb_ready - bound));
    if run.p.cl.ready_to_start_condition {
        run.p
            .status
            .set_condition("PodReadyToStartContainers", true, None, None, sb_ready);
    }
    if run.p.status.pod_ip.is_none() {
        let node = run.p.node.unwrap_or(0);
        let last = run.p.rng.range(2, 254);
        run.p.status.pod_ip = Some(format!("10.{}.{}.{last}", run.p.cl.pod_net, node));
    }
    kubelet_flush(run, sb_ready);
    let Some(t) = init_containers(run, sb_ready) else {
        return;
    };
    run_containers(run, t, delete_normal);
}

/// Pulls (or finds) the image of container `i`; returns when it is ready.
pub(crate) fn pull(run: &mut Run<'_>, init: bool, i: usize, t: i64, mode: PullMode) -> i64 {
    let c = if init {
        &run.p.spec.init_containers[i]
    } else {
        &run.p.spec.containers[i]
    };
    let (name, image, always) = (c.name.clone(), c.image.clone(), c.pull_always);
    let present = mode == PullMode::Normal
        && (!always && (run.p.rng.chance(0.5) || run.pull_budget < 500_000));
    if present {
        let t_ev = t + run.p.rng.uniform_us(2.0, 20.0);
        run.p.kubelet_event(
            t_ev,
            "Normal",
            "Pulled",
            messages::already_present(&image),
            Some(&name),
            init,
        );
        return t_ev;
    }
    let ps = t + run.p.rng.uniform_us(2.0, 10.0);
    run.p.kubelet_event(
        ps,
        "Normal",
        "Pulling",
        format!("Pulling image \"{image}\""),
        Some(&name),
        init,
    );
    let dur = match mode {
        PullMode::Slow => run.p.rng.uniform_us(95_000.0, 200_000.0),
        PullMode::Normal => {
            let d = run.p.rng.lognormal_us(3000.0, 0.9, 500.0, 20_000.0);
            d.min(run.pull_budget.max(500_000))
        }
    };
    run.pull_budget -= dur;
    let pe = ps + dur;
    let waiting_us = dur + run.p.rng.uniform_us(0.0, 50.0);
    let msg = messages::pulled(run.p.cl, &mut run.p.rng, &image, dur, waiting_us);
    run.p
        .kubelet_event(pe, "Normal", "Pulled", msg, Some(&name), init);
    run.pulls.push((ps, pe));
    pe
}

fn pulls_within(run: &Run<'_>, from: i64, to: i64) -> i64 {
    run.pulls
        .iter()
        .map(|&(a, b)| (b.min(to) - a.max(from)).max(0))
        .sum()
}

/// Creates and starts container `i`; returns the Started time.
pub(crate) fn create_and_start(run: &mut Run<'_>, init: bool, i: usize, t: i64) -> i64 {
    let name = if init {
        run.p.spec.init_containers[i].name.clone()
    } else {
        run.p.spec.containers[i].name.clone()
    };
    let created = t + run.p.rng.lognormal_us(120.0, 0.6, 50.0, 500.0);
    run.p.kubelet_event(
        created,
        "Normal",
        "Created",
        format!("Created container {name}"),
        Some(&name),
        init,
    );
    let started = created + run.p.rng.lognormal_us(150.0, 0.6, 50.0, 500.0);
    run.p.kubelet_event(
        started,
        "Normal",
        "Started",
        format!("Started container {name}"),
        Some(&name),
        init,
    );
    let idx = status_index(run, init, i);
    let cid = container_id(run);
    let cs = run.p.status.container_mut(init, idx);
    cs.state = CState::Running {
        started_us: started,
    };
    cs.started = !init;
    cs.container_id = Some(cid);
    if cs.image_id.is_empty() {
        cs.image_id = format!(
            "{}@sha256:{}",
            messages::qualified(&cs.image)
                .rsplit_once(':')
                .map_or("", |x| x.0),
            crate_hex(&mut run.p.rng)
        );
    }
    started
}

fn crate_hex(rng: &mut SimRng) -> String {
    rng.hex(64)
}

/// A runtime-prefixed container id.
pub(crate) fn container_id(run: &mut Run<'_>) -> String {
    let prefix = match run.p.cl.runtime {
        crate::cluster::Runtime::Containerd => "containerd",
        crate::cluster::Runtime::CriO => "cri-o",
    };
    format!("{prefix}://{}", run.p.rng.hex(64))
}

/// Runs the init containers; returns when the pod is initialized.
fn init_containers(run: &mut Run<'_>, sb_ready: i64) -> Option<i64> {
    let n = run.p.spec.init_containers.len();
    let mut t = sb_ready;
    for i in 0..n {
        t = pull(run, true, i, t, PullMode::Normal);
        let started = create_and_start(run, true, i, t);
        kubelet_flush(run, started);
        if i == 0 && run.fault == Some(Fault::InitCrashloop) {
            faults::crash_loop(run, true, i, started);
            return None;
        }
        let done = started + run.p.rng.lognormal_us(2000.0, 0.7, 300.0, 10_000.0);
        let cid = run.p.status.init[i]
            .container_id
            .clone()
            .unwrap_or_default();
        let cs = &mut run.p.status.init[i];
        cs.state = CState::Terminated {
            reason: "Completed",
            exit_code: 0,
            started_us: started,
            finished_us: done,
            container_id: cid,
        };
        cs.ready = true;
        if i + 1 == n {
            run.p
                .status
                .set_condition("Initialized", true, None, None, done);
            for c in &mut run.p.status.containers {
                c.state = waiting("ContainerCreating");
            }
        } else {
            let rest: Vec<&str> = run.p.spec.init_containers[i + 1..]
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            let msg = format!("containers with incomplete status: [{}]", rest.join(" "));
            run.p.status.set_condition(
                "Initialized",
                false,
                Some("ContainersNotInitialized"),
                Some(msg),
                done,
            );
        }
        kubelet_flush(run, done);
        t = done;
    }
    if n > 0 {
        run.phases.init = Some(ms(t - sb_ready - pulls_within(run, sb_ready, t)));
    }
    Some(t)
}

fn run_containers(run: &mut Run<'_>, t0: i64, delete_normal: bool) {
    let n = run.p.spec.containers.len();
    let is_job = run.p.wl.kind == WorkloadKind::Job;
    let mut t = t0;
    for i in 0..n {
        match run.fault {
            Some(f @ (Fault::PullNotFound | Fault::PullAccessDenied | Fault::PullBackoff))
                if i == 0 =>
            {
                faults::pull_failure(run, f, t);
                return;
            }
            _ => {}
        }
        let mode = if i == 0 && run.fault == Some(Fault::SlowPull) {
            PullMode::Slow
        } else {
            PullMode::Normal
        };
        t = pull(run, false, i, t, mode);
        if i == 0 && run.fault == Some(Fault::CreateContainerConfigError) {
            faults::config_error(run, t);
            return;
        }
        t = create_and_start(run, false, i, t);
        run.p.status.phase = "Running";
        let last = i + 1 == n;
        let plain_last =
            last && run.fault.is_none_or(|f| {
                !matches!(
                    f,
                    Fault::Crashloop | Fault::ReadinessFail | Fault::Preempted
                )
            }) && run.p.spec.containers.iter().all(|c| c.readiness.is_none())
                && !run.p.spec.containers[i].post_start;
        if !(plain_last || is_job && last) {
            kubelet_flush(run, t);
        }
    }
    let last_started = t;
    run.phases.container_start = Some(ms(last_started - t0 - pulls_within(run, t0, last_started)));
    let pulled: i64 = run.pulls.iter().map(|&(a, b)| b - a).sum();
    run.phases.image_pull = (!run.pulls.is_empty()).then_some(ms(pulled));
    if is_job {
        ending::job_run(run, last_started);
        return;
    }
    match run.fault {
        Some(Fault::Crashloop) => {
            faults::crash_loop(run, false, n - 1, last_started);
            return;
        }
        Some(Fault::Preempted) => {
            ending::preempt(run, last_started);
            return;
        }
        Some(Fault::ReadinessFail) => {
            faults::readiness_failure(run, last_started);
            return;
        }
        _ => {}
    }
    let hook = if run.p.spec.containers[n - 1].post_start {
        if run.fault == Some(Fault::SlowPoststart) {
            run.p.rng.uniform_us(200_000.0, 280_000.0)
        } else {
            run.p.rng.lognormal_us(1500.0, 0.6, 200.0, 8000.0)
        }
    } else {
        0
    };
    let base = last_started + hook;
    let ready_at = match run
        .p
        .spec
        .containers
        .iter()
        .find_map(|c| c.readiness.clone())
    {
        Some(probe) => {
            let min = probe.initial_delay_s * 1_000_000
                + run.p.rng.uniform_us(0.0, probe.period_s as f64 * 1000.0);
            let d = run
                .p
                .rng
                .lognormal_us(4000.0, 0.8, 1000.0, 25_000.0)
                .max(min)
                .min(25_000_000);
            if run.p.rng.chance(0.2) && d > 3_000_000 {
                let ip = run.p.status.pod_ip.clone().unwrap_or_default();
                let msg = messages::probe_refused(&ip, probe.port, probe.path);
                let name = run.p.spec.containers[0].name.clone();
                let first = base + (probe.initial_delay_s * 1_000_000).max(500_000);
                let mut te = first;
                while te < base + d - 500_000 {
                    run.p.kubelet_event(
                        te,
                        "Warning",
                        "Unhealthy",
                        msg.clone(),
                        Some(&name),
                        false,
                    );
                    te += probe.period_s * 1_000_000;
                }
            }
            base + d
        }
        None => base + run.p.rng.uniform_us(100.0, 900.0),
    };
    for c in &mut run.p.status.containers {
        c.ready = true;
    }
    refresh_ready(run, ready_at);
    kubelet_flush(run, ready_at);
    run.phases.readiness = Some(ms(ready_at - last_started));
    run.finished = Some(ready_at);
    if delete_normal || run.fault == Some(Fault::StuckFinalizer) {
        let t_del = ready_at + run.p.rng.lognormal_us(120_000.0, 0.8, 10_000.0, 900_000.0);
        let actor = ending::deleter(&mut run.p);
        ending::delete_flow(run, t_del, &actor, run.fault == Some(Fault::StuckFinalizer));
    }
}
