//! Pod status as the kubelet tracks it, and the status writes it sends.
//!
//! The simulator keeps the status it has changed (`current`) and the status
//! the apiserver last stored (`sent`). A write is the difference, rendered the
//! way the kubelet renders it: a strategic merge patch with
//! `$setElementOrder/conditions`, only the changed conditions, and the whole
//! (atomic) container status lists when any entry changed; or, on clusters
//! that send status by PUT, the whole pod. The operation strings a write
//! implies are derived from exactly what the write contains, so the ground
//! truth and the bytes cannot drift apart.

use crate::json::Obj;

/// Canonical condition order (the kubelet's, then what others add).
const CONDITION_ORDER: [&str; 6] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
    "DisruptionTarget",
];

/// One pod condition. Times are whole seconds, as the API serializes them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    pub kind: &'static str,
    pub status: bool,
    pub reason: Option<&'static str>,
    pub message: Option<String>,
    pub ltt_us: i64,
}

/// A container state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CState {
    Waiting {
        reason: &'static str,
        message: Option<String>,
    },
    Running {
        started_us: i64,
    },
    Terminated {
        reason: &'static str,
        exit_code: i32,
        started_us: i64,
        finished_us: i64,
        container_id: String,
    },
}

/// One container's status.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CStatus {
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub container_id: Option<String>,
    pub state: CState,
    pub last_state: Option<CState>,
    pub ready: bool,
    pub restart_count: u32,
    pub started: bool,
}

/// The status part of a pod.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PodStatus {
    pub phase: &'static str,
    pub conditions: Vec<Condition>,
    pub host_ip: Option<String>,
    pub pod_ip: Option<String>,
    pub start_time_us: Option<i64>,
    pub init: Vec<CStatus>,
    pub containers: Vec<CStatus>,
    pub qos: &'static str,
}

fn floor_s(us: i64) -> i64 {
    us.div_euclid(1_000_000) * 1_000_000
}

impl PodStatus {
    /// A freshly created pod: Pending, no conditions.
    pub(crate) fn new(qos: &'static str) -> Self {
        PodStatus {
            phase: "Pending",
            conditions: Vec::new(),
            host_ip: None,
            pod_ip: None,
            start_time_us: None,
            init: Vec::new(),
            containers: Vec::new(),
            qos,
        }
    }

    /// Sets a condition at `t_us`. The transition time only moves when the
    /// status flips, as in the kubelet.
    pub(crate) fn set_condition(
        &mut self,
        kind: &'static str,
        status: bool,
        reason: Option<&'static str>,
        message: Option<String>,
        t_us: i64,
    ) {
        if let Some(c) = self.conditions.iter_mut().find(|c| c.kind == kind) {
            if c.status != status {
                c.ltt_us = floor_s(t_us);
            }
            c.status = status;
            c.reason = reason;
            c.message = message;
            return;
        }
        self.conditions.push(Condition {
            kind,
            status,
            reason,
            message,
            ltt_us: floor_s(t_us),
        });
        self.conditions.sort_by_key(|c| {
            CONDITION_ORDER
                .iter()
                .position(|k| *k == c.kind)
                .unwrap_or(CONDITION_ORDER.len())
        });
    }

    /// The condition of `kind`, if set.
    pub(crate) fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// Mutable container status by name (regular or init).
    pub(crate) fn container_mut(&mut self, init: bool, idx: usize) -> &mut CStatus {
        if init {
            &mut self.init[idx]
        } else {
            &mut self.containers[idx]
        }
    }

    /// Names of regular containers that are not ready, in status order.
    pub(crate) fn unready_names(&self) -> Vec<&str> {
        self.containers
            .iter()
            .filter(|c| !c.ready)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Writes the whole status object's members (PUT bodies and responses).
    pub(crate) fn write_full(&self, o: &mut Obj<'_>) {
        o.id("phase", self.phase);
        o.arr("conditions", |a| {
            for c in &self.conditions {
                a.obj(|x| write_condition(x, c));
            }
        });
        if let Some(ip) = &self.host_ip {
            o.id("hostIP", ip).arr("hostIPs", |a| {
                a.obj(|x| {
                    x.id("ip", ip);
                });
            });
        }
        if let Some(ip) = &self.pod_ip {
            o.id("podIP", ip).arr("podIPs", |a| {
                a.obj(|x| {
                    x.id("ip", ip);
                });
            });
        }
        if let Some(t) = self.start_time_us {
            o.secs("startTime", t);
        }
        if !self.init.is_empty() {
            o.arr("initContainerStatuses", |a| {
                for c in &self.init {
                    a.obj(|x| write_cstatus(x, c));
                }
            });
        }
        if !self.containers.is_empty() {
            o.arr("containerStatuses", |a| {
                for c in &self.containers {
                    a.obj(|x| write_cstatus(x, c));
                }
            });
        }
        o.id("qosClass", self.qos);
    }

    /// Operations implied by a write carrying the whole status.
    pub(crate) fn full_ops(&self, ops: &mut Vec<String>) {
        for c in &self.conditions {
            ops.push(condition_op(c));
        }
        ops.push(format!("phase:{}:set", self.phase));
        if self.pod_ip.is_some() {
            ops.push("pod:ip:set".into());
        }
        container_ops(&self.containers, false, ops);
        container_ops(&self.init, true, ops);
    }
}

fn condition_op(c: &Condition) -> String {
    format!(
        "condition:{}:{}",
        c.kind,
        if c.status { "true" } else { "false" }
    )
}

fn state_op(s: &CState) -> String {
    match s {
        CState::Waiting { reason, .. } => format!("Waiting:{reason}"),
        CState::Running { .. } => "Running".into(),
        CState::Terminated {
            reason, exit_code, ..
        } => format!("terminated:{reason};exitCode:{exit_code}"),
    }
}

fn container_ops(list: &[CStatus], init: bool, ops: &mut Vec<String>) {
    for c in list {
        if init {
            ops.push(format!(
                "initContainerState:{}:{}",
                c.name,
                state_op(&c.state)
            ));
            ops.push(format!("initContainerReady:{}:{}", c.name, c.ready));
            ops.push(format!(
                "initContainerRestartCount:{}:{}",
                c.name, c.restart_count
            ));
        } else {
            ops.push(format!("containerReady:{}:{}", c.name, c.ready));
            ops.push(format!(
                "containerRestartCount:{}:{}",
                c.name, c.restart_count
            ));
            ops.push(format!("containerState:{}:{}", c.name, state_op(&c.state)));
        }
    }
}

fn write_condition(o: &mut Obj<'_>, c: &Condition) {
    o.null("lastProbeTime").secs("lastTransitionTime", c.ltt_us);
    if let Some(m) = &c.message {
        o.str("message", m);
    }
    if let Some(r) = c.reason {
        o.id("reason", r);
    }
    o.id("status", if c.status { "True" } else { "False" })
        .id("type", c.kind);
}

fn write_state(o: &mut Obj<'_>, s: &CState) {
    match s {
        CState::Waiting { reason, message } => {
            o.obj("waiting", |w| {
                if let Some(m) = message {
                    w.str("message", m);
                }
                w.id("reason", reason);
            });
        }
        CState::Running { started_us } => {
            o.obj("running", |r| {
                r.secs("startedAt", *started_us);
            });
        }
        CState::Terminated {
            reason,
            exit_code,
            started_us,
            finished_us,
            container_id,
        } => {
            o.obj("terminated", |t| {
                t.id("containerID", container_id)
                    .int("exitCode", i64::from(*exit_code))
                    .secs("finishedAt", *finished_us)
                    .id("reason", reason)
                    .secs("startedAt", *started_us);
            });
        }
    }
}

fn write_cstatus(o: &mut Obj<'_>, c: &CStatus) {
    o.opt_str("containerID", c.container_id.as_deref())
        .id("image", &c.image)
        .id("imageID", &c.image_id);
    o.obj("lastState", |l| {
        if let Some(s) = &c.last_state {
            write_state(l, s);
        }
    });
    o.id("name", &c.name)
        .bool("ready", c.ready)
        .int("restartCount", i64::from(c.restart_count))
        .bool("started", c.started);
    o.obj("state", |s| write_state(s, &c.state));
}

/// The strategic-merge-patch body turning `sent` into `cur`, and the
/// operations it implies; `None` when nothing changed.
pub(crate) fn status_patch(
    uid: &str,
    sent: &PodStatus,
    cur: &PodStatus,
    ops: &mut Vec<String>,
) -> Option<String> {
    let changed_conditions: Vec<&Condition> = cur
        .conditions
        .iter()
        .filter(|c| sent.condition(c.kind) != Some(*c))
        .collect();
    let containers_changed = cur.containers != sent.containers;
    let init_changed = cur.init != sent.init;
    let phase_changed = cur.phase != sent.phase;
    let ip_changed = cur.pod_ip != sent.pod_ip;
    let host_changed = cur.host_ip != sent.host_ip || cur.start_time_us != sent.start_time_us;
    if changed_conditions.is_empty()
        && !containers_changed
        && !init_changed
        && !phase_changed
        && !ip_changed
        && !host_changed
    {
        return None;
    }
    let body = crate::json::object(|o| {
        o.obj("metadata", |m| {
            m.id("uid", uid);
        });
        o.obj("status", |s| {
            if !changed_conditions.is_empty() {
                s.arr("$setElementOrder/conditions", |a| {
                    for c in &cur.conditions {
                        a.obj(|x| {
                            x.id("type", c.kind);
                        });
                    }
                });
                s.arr("conditions", |a| {
                    for c in &changed_conditions {
                        a.obj(|x| write_condition(x, c));
                    }
                });
            }
            if containers_changed {
                s.arr("containerStatuses", |a| {
                    for c in &cur.containers {
                        a.obj(|x| write_cstatus(x, c));
                    }
                });
            }
            if host_changed {
                if let Some(ip) = &cur.host_ip {
                    s.id("hostIP", ip).arr("hostIPs", |a| {
                        a.obj(|x| {
                            x.id("ip", ip);
                        });
                    });
                }
            }
            if init_changed {
                s.arr("initContainerStatuses", |a| {
                    for c in &cur.init {
                        a.obj(|x| write_cstatus(x, c));
                    }
                });
            }
            if phase_changed {
                s.id("phase", cur.phase);
            }
            if ip_changed {
                if let Some(ip) = &cur.pod_ip {
                    s.id("podIP", ip).arr("podIPs", |a| {
                        a.obj(|x| {
                            x.id("ip", ip);
                        });
                    });
                }
            }
            if host_changed {
                if let Some(t) = cur.start_time_us {
                    s.secs("startTime", t);
                }
            }
        });
    });
    for c in &changed_conditions {
        ops.push(condition_op(c));
    }
    if phase_changed {
        ops.push(format!("phase:{}:set", cur.phase));
    }
    if ip_changed && cur.pod_ip.is_some() {
        ops.push("pod:ip:set".into());
    }
    if containers_changed {
        container_ops(&cur.containers, false, ops);
    }
    if init_changed {
        container_ops(&cur.init, true, ops);
    }
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(name: &str) -> CStatus {
        CStatus {
            name: name.into(),
            image: "nginx".into(),
            image_id: String::new(),
            container_id: None,
            state: CState::Waiting {
                reason: "ContainerCreating",
                message: None,
            },
            last_state: None,
            ready: false,
            restart_count: 0,
            started: false,
        }
    }

    #[test]
    fn patch_lists_only_changes_and_matching_ops() {
        let mut sent = PodStatus::new("Burstable");
        sent.set_condition("PodScheduled", true, None, None, 1_000_000);
        let mut cur = sent.clone();
        cur.set_condition("Ready", false, Some("ContainersNotReady"), None, 2_500_000);
        cur.containers.push(cs("a"));
        cur.phase = "Pending";
        let mut ops = Vec::new();
        let body = status_patch("u1", &sent, &cur, &mut ops).unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"]["conditions"].as_array().unwrap().len(), 1);
        assert_eq!(
            v["status"]["$setElementOrder/conditions"][0]["type"],
            "Ready"
        );
        assert_eq!(
            v["status"]["conditions"][0]["lastTransitionTime"],
            "1970-01-01T00:00:02Z"
        );
        assert!(v["status"].get("phase").is_none());
        ops.sort();
        assert_eq!(
            ops,
            vec![
                "condition:Ready:false",
                "containerReady:a:false",
                "containerRestartCount:a:0",
                "containerState:a:Waiting:ContainerCreating"
            ]
        );
        let mut none = Vec::new();
        assert!(status_patch("u1", &cur, &cur, &mut none).is_none());
    }
}
