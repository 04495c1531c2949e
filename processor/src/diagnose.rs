//! Choosing the diagnosis of a verdict and writing its plain-language summary.
//!
//! Candidates are the pod's classified signals seen up to the verdict time
//! plus the timing rules the engine derives (ScheduleDelay,
//! PullImageTooMuchTime, KubeletDelay, PostStartHookTooMuchTime, NoEvent,
//! not-ready); the lowest rank wins (the classifier's rule order: hard errors
//! before slowness, root causes before symptoms). Only when nothing matched
//! does `<Stage>TooMuchTime` name the longest stage, and `timeout_unknown` is
//! the last resort. Every summary names the concrete subject (image, node,
//! container, gate) and the timing, so a person can act on it.

use crate::classify::{self, Derived, Found};
use crate::duration::human;
use crate::intern::{Interner, EMPTY};
use crate::pod::PodState;
use crate::timeline::Timeline;

const SCHEDULE_DELAY_US: i64 = 60_000_000;
const PULL_SLOW_US: i64 = 60_000_000;
const PULL_SLOW_JOB_US: i64 = 30_000_000;
const KUBELET_DELAY_US: i64 = 30_000_000;
const POST_START_SLOW_US: i64 = 30_000_000;

fn on_node(pod: &PodState, interner: &Interner) -> String {
    if pod.node == EMPTY {
        String::new()
    } else {
        format!(" on node {}", interner.resolve(pod.node))
    }
}

/// The diagnosis of a create delivery as of `at`.
pub(crate) fn diagnose(pod: &PodState, at: i64, tl: &Timeline, interner: &Interner) -> Found {
    let c = pod.created.t;
    let bound = pod.bound.by(at);
    let mut cands: Vec<Found> = Vec::new();
    let has_sched_signal = pod
        .signals
        .iter()
        .any(|s| s.first <= at && s.found.code == "FailedScheduling");
    for s in pod.signals.iter().filter(|s| s.first <= at) {
        if bound && s.found.code == "FailedScheduling" {
            continue;
        }
        let mut f = (*s.found).clone();
        if s.count > 1 && !f.what.contains(" times") {
            f.what = format!("{} (seen {} times)", f.what, s.count);
        }
        cands.push(f);
    }
    let node = on_node(pod, interner);
    if !bound {
        if pod.unschedulable <= at && !has_sched_signal {
            cands.push(classify::derived(
                Derived::FailedScheduling,
                format!(
                    "the scheduler reported the pod unschedulable for {}",
                    human(at - pod.unschedulable)
                ),
            ));
        } else if pod.first_other > at {
            cands.push(classify::derived(
                Derived::NoEvent,
                format!("nothing happened to the pod in {} after its creation (no scheduler or kubelet record)", human(at - c)),
            ));
        } else if at - c > SCHEDULE_DELAY_US && !has_sched_signal {
            cands.push(classify::derived(
                Derived::ScheduleDelay,
                format!(
                    "not scheduled after {}; the scheduler recorded no decision",
                    human(at - c)
                ),
            ));
        }
    } else if pod.bound.t - c > SCHEDULE_DELAY_US {
        cands.push(classify::derived(
            Derived::ScheduleDelay,
            format!(
                "scheduled only {} after creation{}",
                human(pod.bound.t - c),
                node
            ),
        ));
    }
    // Slow image pulls (closed or still running).
    let limit = if pod.is_job {
        PULL_SLOW_JOB_US
    } else {
        PULL_SLOW_US
    };
    let slowest = pod
        .pulls
        .iter()
        .filter_map(|p| {
            p.interval(at)
                .map(|(a, b, closed)| (b - a, closed, p.image))
        })
        .filter(|(d, _, _)| *d > limit)
        .max_by_key(|(d, _, img)| (*d, std::cmp::Reverse(*img)));
    if let Some((d, closed, img)) = slowest {
        let image = interner.resolve(img);
        let what = if closed {
            format!("image \"{image}\" took {} to pull{node}", human(d))
        } else {
            format!("image \"{image}\" has been pulling for {}{node}", human(d))
        };
        let mut f = classify::derived(Derived::PullImageTooMuchTime, what);
        f.subject = Some(image.to_string());
        cands.push(f);
    }
    // Kubelet silence after binding.
    if bound {
        let b = pod.bound.t;
        let k = pod.kubelet_start(at);
        if k.is_set() {
            let gap = k.t - b;
            if gap > KUBELET_DELAY_US {
                cands.push(classify::derived(
                    Derived::KubeletDelay,
                    format!(
                        "the kubelet{node} started work on the pod only {} after it was bound",
                        human(gap)
                    ),
                ));
            }
        } else if at - b > KUBELET_DELAY_US {
            cands.push(classify::derived(
                Derived::KubeletDelay,
                format!("the kubelet{node} showed no activity (no pull, create or start) in {} since the pod was bound", human(at - b)),
            ));
        }
    }
    // postStart hooks: the container runs but is not started/ready until the hook returns.
    let mut hook_explains = false;
    for ct in pod
        .containers
        .iter()
        .filter(|c| c.post_start && c.started.by(at))
    {
        let end = if ct.ready.by(at) { ct.ready.t } else { at };
        let d = end - ct.started.t;
        if d > POST_START_SLOW_US {
            let name = interner.resolve(ct.name);
            let what = if ct.ready.by(at) {
                format!("container \"{name}\" became ready only {} after it started: its postStart hook ran long", human(d))
            } else {
                format!("container \"{name}\" has been running its postStart hook for {} (started, not ready)", human(d))
            };
            let mut f = classify::derived(Derived::PostStartHookTooMuchTime, what);
            f.subject = Some(name.to_string());
            cands.push(f);
            hook_explains = true;
            break;
        }
    }
    // Started but not ready.
    // (A running postStart hook already explains why containers are not ready.)
    if tl.all_started.is_some() && !pod.completion().by(at) && !pod.is_job && !hook_explains {
        if pod.containers_ready.by(at) && !pod.gates.is_empty() {
            let gate = interner.resolve(pod.gates[0]);
            cands.push(classify::gate_not_ready(
                gate,
                format!(
                    "containers are ready but readiness gate \"{gate}\" is not true after {}",
                    human(at - pod.containers_ready.t)
                ),
            ));
        } else if let Some(s) = tl.all_started {
            let not_ready: Vec<&str> = pod
                .containers
                .iter()
                .filter(|c| !c.init && !c.ready.by(at))
                .map(|c| interner.resolve(c.name))
                .collect();
            let which = if not_ready.is_empty() {
                "the pod".to_string()
            } else {
                format!("container \"{}\"", not_ready.join("\", \""))
            };
            let mut f = classify::derived(
                Derived::ContainerNotReady,
                format!("{which} started {} ago but is not ready", human(at - s)),
            );
            f.subject = not_ready.first().map(|s| s.to_string());
            cands.push(f);
        }
    }
    if let Some(mut best) = cands
        .into_iter()
        .min_by(|a, b| (a.rank, &a.code).cmp(&(b.rank, &b.code)))
    {
        if best.code == "InitCrashLoopBackOff" && best.sub_reason.is_none() {
            // As CrashLoopBackOff carries its exit code, so does the init
            // loop: the exit is the init container's terminated state.
            let exit = pod
                .signals
                .iter()
                .filter(|s| s.first <= at && s.found.code == "InitContainerError")
                .filter_map(|s| s.found.sub_reason.as_deref())
                .find(|r| r.starts_with("ExitCode"));
            if let Some(exit) = exit {
                let code = exit.trim_start_matches("ExitCode");
                best.what = format!("{}; it last exited with code {code}", best.what);
                best.sub_reason = Some(exit.to_string());
            }
        }
        return best;
    }
    // Nothing failed: the longest stage explains the miss.
    let mut stages: Vec<(&str, i64)> = Vec::new();
    let p = &tl.phases;
    let pairs = [
        ("DefaultSchedule", p.schedule_ms),
        ("SandboxCreate", p.sandbox_ms),
        ("ImagePull", p.image_pull_ms),
        ("PodInitial", p.init_ms),
        ("ContainerStart", p.container_start_ms),
        ("ContainerReady", p.readiness_ms),
    ];
    for (n, v) in pairs {
        if let Some(v) = v {
            stages.push((n, v * 1000));
        }
    }
    if let Some((stage, since)) = tl.open_stage {
        stages.push((stage, at - since.max(c)));
    }
    if let Some((stage, d)) = stages.into_iter().filter(|s| s.1 > 0).max_by_key(|s| s.1) {
        return classify::stage_too_much_time(
            stage,
            format!(
                "no error was reported; the longest stage was {stage} ({}){node}",
                human(d)
            ),
        );
    }
    classify::derived(
        Derived::TimeoutUnknown,
        format!("no error and no stage explains the delay{node}"),
    )
}

/// The longest phase of a timeline: (name, ms).
pub(crate) fn longest_phase(tl: &Timeline) -> Option<(&'static str, i64)> {
    tl.phases
        .iter()
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .max_by_key(|(_, v)| *v)
}

/// Adds the advice to a sentence.
pub(crate) fn with_advice(mut s: String, f: &Found) -> String {
    if !f.advice.is_empty() {
        s.push_str(". ");
        s.push_str(&f.advice);
    }
    s
}
