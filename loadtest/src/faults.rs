//! What each injected fault looks like in the logs, and the endings of a
//! pod's story (job completion, deletion, preemption).
//!
//! Every failure keeps going the way a kubelet or scheduler would retry it
//! (back-off, repeated events bumping `count`) until the pod's observation
//! horizon, a few minutes after creation: long past the 90 s deadline, so the
//! verdict is decided by the evidence, not by the end of the recording.

use crate::audit::{Actor, USER_GROUPS};
use crate::cluster::{WorkloadKind, INITS};
use crate::config::Fault;
use crate::lifecycle::{create_and_start, kubelet_flush, refresh_ready, status_index, Run};
use crate::messages;
use crate::pod::{PodSim, JOB_TRACKING};
use crate::spec::{ContainerSpec, Probe, VolumeSource};
use crate::status::CState;
use crate::truth::DeleteTruth;
use lunettes_schemas::time::format_rfc3339_micros;

/// Adjusts the pod spec so the fault is coherent with it (a PVC for the
/// unbound-PVC fault, a probe for the readiness fault, ...).
pub(crate) fn prepare_spec(run: &mut Run<'_>) {
    let Some(fault) = run.fault else { return };
    let wl_name = run.p.wl.name;
    let is_job = run.p.wl.kind == WorkloadKind::Job;
    let spec = &mut run.p.spec;
    match fault {
        // Too big for any node, yet inside the "typical" SLO class (<= 8
        // cpu, <= 16 Gi in total), so the 90 s deadline still applies.
        Fault::SchedInsufficientCpu => {
            for c in &mut spec.containers[1..] {
                c.cpu_m = c.cpu_m.min(500);
            }
            spec.containers[0].cpu_m = 6000;
        }
        Fault::SchedInsufficientMemory => {
            for c in &mut spec.containers[1..] {
                c.mem_mi = c.mem_mi.min(512);
            }
            spec.containers[0].mem_mi = 14 * 1024;
        }
        Fault::SchedAffinity => {
            spec.node_selector = Some(("node.example.com/pool".into(), "gpu-a100".into()));
        }
        Fault::SchedUnboundPvc => {
            spec.volumes
                .push(("data".into(), VolumeSource::Pvc(format!("{wl_name}-data"))));
            spec.containers[0]
                .mounts
                .push(("data".into(), "/var/lib/data".into(), false));
        }
        Fault::SlowPull | Fault::PullBackoff => spec.containers[0].pull_always = true,
        Fault::PullNotFound => {
            let c = &mut spec.containers[0];
            let repo = c
                .image
                .rsplit_once(':')
                .map_or(c.image.as_str(), |x| x.0)
                .to_string();
            let bad = *run
                .p
                .rng
                .pick(&["v9.9.9", "2025.13.1", "latset", "v2-rc.17"]);
            c.image = format!("{repo}:{bad}");
            c.pull_always = true;
        }
        Fault::PullAccessDenied => {
            let c = &mut spec.containers[0];
            let tag = c
                .image
                .rsplit_once(':')
                .map_or("latest", |x| x.1)
                .to_string();
            c.image = if run.p.rng.chance(0.5) {
                format!("docker.io/acme/{wl_name}-internal:{tag}")
            } else {
                format!("registry.example.com/private/{wl_name}:{tag}")
            };
            c.pull_always = true;
        }
        Fault::FailedMount
            if !spec
                .volumes
                .iter()
                .any(|(_, v)| matches!(v, VolumeSource::Pvc(_))) =>
        {
            spec.volumes
                .push(("data".into(), VolumeSource::Pvc(format!("{wl_name}-data"))));
            spec.containers[0]
                .mounts
                .push(("data".into(), "/var/lib/data".into(), false));
        }
        Fault::MountConfig
            if !spec.volumes.iter().any(|(_, v)| {
                matches!(v, VolumeSource::ConfigMap(_) | VolumeSource::Secret(_))
            }) =>
        {
            spec.volumes.push((
                "config".into(),
                VolumeSource::ConfigMap(format!("{wl_name}-config")),
            ));
            spec.containers[0]
                .mounts
                .push(("config".into(), "/etc/app".into(), true));
        }
        Fault::CreateContainerConfigError => {
            spec.containers[0].env_ref = Some((format!("{wl_name}-env"), "log_level".into()));
        }
        Fault::ReadinessFail if spec.containers[0].readiness.is_none() => {
            spec.containers[0].readiness = Some(Probe {
                path: "/healthz",
                port: 8080,
                initial_delay_s: 5,
                period_s: 5,
            });
        }
        Fault::SlowPoststart => {
            let last = spec.containers.len() - 1;
            spec.containers[last].post_start = true;
        }
        Fault::Preempted => {
            spec.priority_class = None;
            spec.containers[0].readiness = Some(Probe {
                path: "/readyz",
                port: 8080,
                initial_delay_s: run.p.rng.range(20, 40),
                period_s: 10,
            });
        }
        Fault::InitCrashloop => {
            if spec.init_containers.is_empty() {
                let (n, img) = INITS[0];
                spec.init_containers.push(ContainerSpec {
                    name: n.into(),
                    image: img.into(),
                    pull_always: false,
                    cpu_m: 50,
                    mem_mi: 64,
                    port: None,
                    readiness: None,
                    post_start: false,
                    env_ref: None,
                    env_plain: Vec::new(),
                    mounts: Vec::new(),
                    command: vec!["/bin/sh".into(), "-c".into(), "/scripts/prepare.sh".into()],
                });
            }
            if is_job {
                spec.restart_policy = "OnFailure";
            }
        }
        _ => {}
    }
}

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

const WEBHOOKS: [(&str, i64, &str, &str); 3] = [
    ("policy.example.com", 403, "Forbidden", "pod must declare resources.limits for every container"),
    ("validate.kyverno.svc-fail", 400, "BadRequest", "\n\npolicy Pod/{ns}/{name} for resource violation: \n\nrequire-team-label:\n  check-team: validation error: label 'team' is required. rule check-team failed at path /metadata/labels/team/\n"),
    ("validation.gatekeeper.sh", 403, "Forbidden", "[allowed-repos] container <{c}> has an invalid image repo <{img}>, allowed repos are [\"registry.internal.example.com/\"]"),
];

/// A create rejected by quota, a webhook, or a failing apiserver.
pub(crate) fn api_failure(run: &mut Run<'_>, arrival: i64) {
    let ns = run.p.ns();
    let name = run.p.name.clone();
    let (code, reason, message) = match run.fault {
        Some(Fault::QuotaDenied) => {
            let used = run.p.rng.range(30, 39) * 100;
            let req = run.p.spec.containers[0].cpu_m.max(200);
            (
                403,
                "Forbidden".to_string(),
                format!(
                    "pods \"{name}\" is forbidden: exceeded quota: {ns}-compute, requested: requests.cpu={req}m, used: requests.cpu={used}m, limited: requests.cpu=4"
                ),
            )
        }
        Some(Fault::WebhookDenied) => {
            let (wh, code, reason, detail) = *run.p.rng.pick(&WEBHOOKS);
            run.sub_reason = wh.to_string();
            let c = &run.p.spec.containers[0];
            let detail = detail
                .replace("{ns}", ns)
                .replace("{name}", &name)
                .replace("{c}", &c.name)
                .replace("{img}", &c.image);
            (
                code,
                reason.to_string(),
                format!("admission webhook \"{wh}\" denied the request: {detail}"),
            )
        }
        _ => {
            if run.p.rng.chance(0.5) {
                (
                    500,
                    "InternalError".into(),
                    "etcdserver: request timed out".into(),
                )
            } else {
                (
                    503,
                    "ServiceUnavailable".into(),
                    "the server is currently unable to handle the request".into(),
                )
            }
        }
    };
    let stage = run.p.create_failed(arrival, code, &reason, &message);
    let t_ev = stage + run.p.rng.uniform_us(1.0, 5.0);
    run.p
        .owner_event(t_ev, "FailedCreate", format!("Error creating: {message}"));
}

/// The scheduler cannot place the pod; it says so and keeps retrying.
pub(crate) fn scheduling_failure(run: &mut Run<'_>, fault: Fault, t_fail: i64) {
    let n = run.p.cl.nodes.len();
    let taint = *run.p.rng.pick(&[
        "dedicated: gpu",
        "node.example.com/maintenance: true",
        "workload: batch",
    ]);
    let msg = messages::failed_scheduling(fault, n, taint);
    run.p.status.set_condition(
        "PodScheduled",
        false,
        Some("Unschedulable"),
        Some(msg.clone()),
        t_fail,
    );
    let actor = run.p.scheduler_actor();
    let t_patch = t_fail + run.p.rng.uniform_us(0.5, 4.0);
    run.p.status_patch_by(t_patch, actor);
    run.p.scheduler_event(
        t_fail,
        "Warning",
        "FailedScheduling",
        "Scheduling",
        msg.clone(),
    );
    let mut t = t_fail;
    let mut backoff = 1_000_000;
    while t < run.horizon {
        t += backoff + run.p.rng.uniform_us(0.0, 500.0);
        backoff = (backoff * 2).min(60_000_000);
        run.p
            .scheduler_event(t, "Warning", "FailedScheduling", "Scheduling", msg.clone());
    }
}

/// A volume cannot be mounted; the kubelet retries with back-off and, after
/// 2m2s, also reports its wait for the volumes timing out.
///
/// `MountConfig`: a configMap/secret volume names an object that does not
/// exist (`configmap "x" not found`), answered at once on every retry.
/// `FailedMount`: the node cannot mount a persistent volume: the CSI driver
/// answers `DeadlineExceeded` after its own timeout, or the NFS mount command
/// times out (`mount failed: exit status 32`); each attempt takes 15-40 s.
pub(crate) fn mount_failure(run: &mut Run<'_>, admit: i64) {
    let config = run.fault == Some(Fault::MountConfig);
    let wanted = |v: &VolumeSource| {
        if config {
            matches!(v, VolumeSource::ConfigMap(_) | VolumeSource::Secret(_))
        } else {
            matches!(v, VolumeSource::Pvc(_))
        }
    };
    let (vol, src) = run
        .p
        .spec
        .volumes
        .iter()
        .find(|(_, v)| wanted(v))
        .cloned()
        .unwrap_or_else(|| {
            if config {
                (
                    "config".into(),
                    VolumeSource::ConfigMap("app-config".into()),
                )
            } else {
                ("data".into(), VolumeSource::Pvc("app-data".into()))
            }
        });
    let (setup, attempt_ms) = match &src {
        VolumeSource::ConfigMap(cm) => (
            format!("MountVolume.SetUp failed for volume \"{vol}\" : configmap \"{cm}\" not found"),
            (0.0, 0.0),
        ),
        VolumeSource::Secret(s) => (
            format!("MountVolume.SetUp failed for volume \"{vol}\" : secret \"{s}\" not found"),
            (0.0, 0.0),
        ),
        _ => {
            let pv = format!("pvc-{}", run.p.rng.uuid());
            let msg = if run.p.rng.chance(0.5) {
                format!(
                    "MountVolume.SetUp failed for volume \"{pv}\" : rpc error: code = DeadlineExceeded desc = context deadline exceeded"
                )
            } else {
                format!(
                    "MountVolume.SetUp failed for volume \"{pv}\" : mount failed: exit status 32\n\
                     Mounting command: mount\n\
                     Mounting arguments: -t nfs nfs.storage.example.internal:/exports/{wl} /var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~nfs/{pv}\n\
                     Output: mount.nfs: Connection timed out",
                    wl = run.p.wl.name,
                    uid = run.p.uid,
                )
            };
            (msg, (15_000.0, 40_000.0))
        }
    };
    let mut all: Vec<String> = run.p.spec.volumes.iter().map(|(n, _)| n.clone()).collect();
    all.push(run.p.token_volume.clone());
    all.sort();
    let timeout = format!(
        "Unable to attach or mount volumes: unmounted volumes=[{vol}], unattached volumes=[{}], failed to process volumes=[]: timed out waiting for the condition",
        all.join(" ")
    );
    let mut t = admit + run.p.rng.uniform_us(50.0, 200.0);
    let mut backoff = 500_000;
    let mut next_timeout = admit + 122_000_000;
    while t < run.horizon {
        t += run.p.rng.uniform_us(attempt_ms.0, attempt_ms.1);
        while next_timeout <= t && next_timeout < run.horizon {
            run.p.kubelet_event(
                next_timeout,
                "Warning",
                "FailedMount",
                timeout.clone(),
                None,
                false,
            );
            next_timeout += 122_000_000;
        }
        if t >= run.horizon {
            break;
        }
        run.p
            .kubelet_event(t, "Warning", "FailedMount", setup.clone(), None, false);
        t += backoff;
        backoff = (backoff * 2).min(122_000_000);
    }
}

/// The CNI fails on every sandbox attempt; each attempt has a new sandbox id.
pub(crate) fn sandbox_failure(run: &mut Run<'_>, sb_start: i64) {
    let mut t = sb_start;
    let (ns, name, uid) = (run.p.ns(), run.p.name.clone(), run.p.uid.clone());
    loop {
        let (d, msg) = if run.fault == Some(Fault::SandboxIpTimeout) {
            let d = run.p.rng.uniform_us(10_000.0, 30_000.0);
            (
                d,
                messages::sandbox_ip_timeout(run.p.cl, &mut run.p.rng, ns, &name, &uid),
            )
        } else {
            let d = run.p.rng.uniform_us(200.0, 3000.0);
            (
                d,
                messages::sandbox_network(run.p.cl, &mut run.p.rng, ns, &name, &uid),
            )
        };
        t += d;
        if t > run.horizon {
            break;
        }
        run.p
            .kubelet_event(t, "Warning", "FailedCreatePodSandBox", msg, None, false);
        t += run.p.rng.uniform_us(5_000.0, 20_000.0);
    }
}

/// Image pulls of the first container fail and back off.
pub(crate) fn pull_failure(run: &mut Run<'_>, fault: Fault, t0: i64) {
    let c = run.p.spec.containers[0].clone();
    let idx = status_index(run, false, 0);
    let back_off_msg = format!("Back-off pulling image \"{}\"", c.image);
    let mut t = t0;
    let mut k = 0u32;
    loop {
        run.p.kubelet_event(
            t,
            "Normal",
            "Pulling",
            format!("Pulling image \"{}\"", c.image),
            Some(&c.name),
            false,
        );
        let (d, err) = match fault {
            Fault::PullNotFound => (
                run.p.rng.uniform_us(300.0, 3000.0),
                Some(messages::pull_not_found(run.p.cl, &mut run.p.rng, &c.image)),
            ),
            Fault::PullAccessDenied => (
                run.p.rng.uniform_us(200.0, 2000.0),
                Some(messages::pull_access_denied(
                    run.p.cl,
                    &mut run.p.rng,
                    &c.image,
                )),
            ),
            _ => (run.p.rng.uniform_us(20_000.0, 60_000.0), None),
        };
        if err.is_none() {
            // Timeout-style failure: no "Failed to pull image" event, only
            // the waiting state says what happened, then back-off.
            let msg = messages::pull_timeout(run.p.cl, &mut run.p.rng);
            run.p.status.containers[idx].state = CState::Waiting {
                reason: "ErrImagePull",
                message: Some(msg),
            };
            kubelet_flush(run, t + d);
        }
        let t_fail = t + d;
        if let Some(err) = &err {
            run.p.kubelet_event(
                t_fail,
                "Warning",
                "Failed",
                format!("Failed to pull image \"{}\": {err}", c.image),
                Some(&c.name),
                false,
            );
            run.p.kubelet_event(
                t_fail,
                "Warning",
                "Failed",
                "Error: ErrImagePull".into(),
                Some(&c.name),
                false,
            );
            run.p.status.containers[idx].state = CState::Waiting {
                reason: "ErrImagePull",
                message: Some(err.clone()),
            };
            kubelet_flush(run, t_fail);
        }
        let t_bo = t_fail + run.p.rng.uniform_us(500.0, 2000.0);
        run.p.kubelet_event(
            t_bo,
            "Normal",
            "BackOff",
            back_off_msg.clone(),
            Some(&c.name),
            false,
        );
        run.p.kubelet_event(
            t_bo,
            "Warning",
            "Failed",
            "Error: ImagePullBackOff".into(),
            Some(&c.name),
            false,
        );
        run.p.status.containers[idx].state = CState::Waiting {
            reason: "ImagePullBackOff",
            message: Some(back_off_msg.clone()),
        };
        kubelet_flush(run, t_bo);
        t = t_fail + (10_000_000i64 << k.min(5)).min(300_000_000);
        k += 1;
        if t > run.horizon {
            break;
        }
    }
}

/// The first container references a missing configMap key; the kubelet
/// retries on every sync.
pub(crate) fn config_error(run: &mut Run<'_>, t0: i64) {
    let c = run.p.spec.containers[0].clone();
    let idx = status_index(run, false, 0);
    let (cm, key) = c
        .env_ref
        .clone()
        .unwrap_or(("app-env".into(), "log_level".into()));
    let msg = if run.p.rng.chance(0.5) {
        format!("configmap \"{cm}\" not found")
    } else {
        format!("couldn't find key {key} in ConfigMap {}/{cm}", run.p.ns())
    };
    let mut t = t0 + run.p.rng.uniform_us(5.0, 40.0);
    let mut first = true;
    while t < run.horizon {
        if !first {
            run.p.kubelet_event(
                t,
                "Normal",
                "Pulled",
                messages::already_present(&c.image),
                Some(&c.name),
                false,
            );
        }
        run.p.kubelet_event(
            t,
            "Warning",
            "Failed",
            format!("Error: {msg}"),
            Some(&c.name),
            false,
        );
        if first {
            run.p.status.containers[idx].state = CState::Waiting {
                reason: "CreateContainerConfigError",
                message: Some(msg.clone()),
            };
            kubelet_flush(run, t);
            first = false;
        }
        t += run.p.rng.uniform_us(10_000.0, 20_000.0);
    }
}

/// Container `i` (init or regular) exits 1 after starting, and restarts
/// with exponential back-off until the horizon.
pub(crate) fn crash_loop(run: &mut Run<'_>, init: bool, i: usize, first_start: i64) {
    let name = if init {
        run.p.spec.init_containers[i].name.clone()
    } else {
        run.p.spec.containers[i].name.clone()
    };
    let image = if init {
        run.p.spec.init_containers[i].image.clone()
    } else {
        run.p.spec.containers[i].image.clone()
    };
    let idx = status_index(run, init, i);
    let pod_ref = format!("{}_{}({})", run.p.name, run.p.ns(), run.p.uid);
    let mut started = first_start;
    let mut k = 0u32;
    loop {
        let crash = started + run.p.rng.uniform_us(500.0, 5000.0);
        let cid = run
            .p
            .status
            .container_mut(init, idx)
            .container_id
            .clone()
            .unwrap_or_default();
        let terminated = CState::Terminated {
            reason: "Error",
            exit_code: 1,
            started_us: started,
            finished_us: crash,
            container_id: cid,
        };
        {
            let cs = run.p.status.container_mut(init, idx);
            cs.state = terminated.clone();
            cs.ready = false;
            cs.started = false;
        }
        kubelet_flush(run, crash);
        let backoff_s = (10i64 << k.min(5)).min(300);
        let t_bo = crash + run.p.rng.uniform_us(1000.0, 3000.0);
        {
            let cs = run.p.status.container_mut(init, idx);
            cs.state = CState::Waiting {
                reason: "CrashLoopBackOff",
                message: Some(format!(
                    "back-off {backoff_s}s restarting failed container={name} pod={pod_ref}"
                )),
            };
            cs.last_state = Some(terminated);
            cs.restart_count += 1;
        }
        kubelet_flush(run, t_bo);
        run.p.kubelet_event(
            t_bo,
            "Warning",
            "BackOff",
            format!("Back-off restarting failed container {name} in pod {pod_ref}"),
            Some(&name),
            init,
        );
        let restart = crash + backoff_s * 1_000_000;
        if restart > run.horizon {
            break;
        }
        run.p.kubelet_event(
            restart,
            "Normal",
            "Pulled",
            messages::already_present(&image),
            Some(&name),
            init,
        );
        let spec_idx = i;
        started = create_and_start(run, init, spec_idx, restart);
        let cs = run.p.status.container_mut(init, idx);
        cs.started = !init;
        kubelet_flush(run, started);
        k += 1;
    }
}

/// The readiness probe answers 503 forever.
pub(crate) fn readiness_failure(run: &mut Run<'_>, last_started: i64) {
    let probe = run.p.spec.containers[0].readiness.clone().unwrap_or(Probe {
        path: "/healthz",
        port: 8080,
        initial_delay_s: 5,
        period_s: 5,
    });
    let name = run.p.spec.containers[0].name.clone();
    // Containers without a probe are ready; the probed one is not.
    for i in 0..run.p.spec.containers.len() {
        let idx = status_index(run, false, i);
        run.p.status.containers[idx].ready = run.p.spec.containers[i].readiness.is_none();
    }
    refresh_ready(run, last_started);
    kubelet_flush(run, last_started);
    let mut t =
        last_started + probe.initial_delay_s * 1_000_000 + run.p.rng.uniform_us(0.0, 1000.0);
    while t < run.horizon {
        run.p.kubelet_event(
            t,
            "Warning",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
            Some(&name),
            false,
        );
        t += probe.period_s * 1_000_000;
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
