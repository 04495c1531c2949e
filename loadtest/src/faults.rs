//! What each injected fault looks like in the logs (the endings of a pod's
//! story are in `ending`).
//!
//! Every failure keeps going the way a kubelet or scheduler would retry it
//! (back-off, repeated events bumping `count`) until the pod's observation
//! horizon, a few minutes after creation: long past the 90 s deadline, so the
//! verdict is decided by the evidence, not by the end of the recording.

use crate::cluster::{WorkloadKind, INITS};
use crate::config::Fault;
use crate::lifecycle::{create_and_start, kubelet_flush, refresh_ready, status_index, Run};
use crate::messages;
use crate::spec::{ContainerSpec, Probe, VolumeSource};
use crate::status::CState;

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
