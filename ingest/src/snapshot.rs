//! Pod snapshots (watch, `kubectl get -o yaml`, PodList) become operations.
//!
//! A snapshot says what a pod *is*, not what happened; successive snapshots of
//! one pod (by uid) are diffed into the operations the audit log would have
//! shown, so pods only seen by a watch feed the same engine:
//!
//! * first sight: `pod:create:success` + `schedule:<scheduler>:entry` at
//!   `creationTimestamp`, then everything the status holds, as changes from
//!   nothing;
//! * a condition whose status changed, at its `lastTransitionTime`;
//! * `phase:<P>:set`, `pod:ip:set`, container ready / restart count / state
//!   changes (running at `startedAt`, terminated at `finishedAt`);
//! * `pod:delete:success` when `deletionTimestamp` appears, at
//!   `deletionTimestamp - deletionGracePeriodSeconds` (when the delete was
//!   requested); `pod:deleted:success` on a watch `DELETED`;
//! * label, annotation and finalizer changes.
//!
//! Operations without their own time are placed at the snapshot's
//! observation time: given by the caller (a watch collector's clock, the
//! `# {"time": ...}` comment kspan-style recordings put before each document),
//! else the latest time the object itself carries (with `seconds` precision),
//! which is a lower bound of when the snapshot was taken.

use lunettes_schemas::time::parse_rfc3339;
use lunettes_schemas::{HyperEvent, ObjectRef, Source};

use crate::emit::{DedupStyle, Record};
use crate::error::Outcome;
use crate::k8s::{non_empty, ContainerStatus, PodObject};
use crate::ops::{self, MetaState, TimedOp};
use crate::pod;
use crate::state::Memory;

/// What a snapshot diff needs to remember of a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PodState {
    conditions: Vec<(String, String)>,
    phase: String,
    has_ip: bool,
    /// (`prefix`, name, ready, restart count, state operation).
    containers: Vec<ContainerMemo>,
    deleting: bool,
    meta: MetaState,
    /// Where the pod lives, to name it when it disappears unseen.
    namespace: String,
    name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ContainerMemo {
    prefix: &'static str,
    name: String,
    ready: Option<bool>,
    restarts: Option<i64>,
    state: Option<String>,
}

impl PodState {
    fn of(pod: &PodObject<'_>) -> Self {
        let mut s = PodState::default();
        if let Some(st) = pod.pod_status() {
            s.conditions = st
                .conditions
                .iter()
                .flatten()
                .filter_map(|c| {
                    Some((
                        non_empty(&c.type_)?.to_string(),
                        non_empty(&c.status)?.to_string(),
                    ))
                })
                .collect();
            s.phase = st.phase.as_deref().unwrap_or("").to_string();
            s.has_ip = non_empty(&st.pod_ip).is_some();
            let memo = |prefix: &'static str, cs: &ContainerStatus<'_>| ContainerMemo {
                prefix,
                name: cs.name.as_deref().unwrap_or("").to_string(),
                ready: cs.ready,
                restarts: cs.restart_count.map(|r| r.0),
                state: cs
                    .name
                    .as_deref()
                    .and_then(|n| ops::container_state_op(prefix, n, cs))
                    .map(|o| o.op),
            };
            s.containers = st
                .init_container_statuses
                .iter()
                .flatten()
                .map(|c| memo("initContainer", c))
                .chain(
                    st.container_statuses
                        .iter()
                        .flatten()
                        .map(|c| memo("container", c)),
                )
                .collect();
        }
        if let Some(m) = &pod.metadata {
            s.deleting = non_empty(&m.deletion_timestamp).is_some();
            s.meta = MetaState::from_meta(m);
        }
        s.namespace = pod.meta_str(|m| &m.namespace).to_string();
        s.name = pod.meta_str(|m| &m.name).to_string();
        s
    }
}

/// The latest time a pod object carries (a lower bound of when it was observed).
fn latest_time(pod: &PodObject<'_>) -> Option<i64> {
    let mut times: Vec<Option<&str>> = Vec::new();
    if let Some(m) = &pod.metadata {
        times.push(m.creation_timestamp.as_deref());
    }
    if let Some(st) = pod.pod_status() {
        times.push(st.start_time.as_deref());
        for c in st.conditions.iter().flatten() {
            times.push(c.last_transition_time.as_deref());
        }
        for cs in st
            .container_statuses
            .iter()
            .flatten()
            .chain(st.init_container_statuses.iter().flatten())
        {
            if let Some(state) = &cs.state {
                for d in [&state.running, &state.terminated].into_iter().flatten() {
                    times.push(d.started_at.as_deref());
                    times.push(d.finished_at.as_deref());
                }
            }
        }
    }
    times
        .into_iter()
        .flatten()
        .filter_map(parse_rfc3339)
        .map(|t| t.0)
        .max()
}

/// Diffs `pod` against what was remembered of it and emits the operations.
/// `observed` is the snapshot time when the caller knows it; `watch_type` is
/// the watch event type (`ADDED`, `MODIFIED`, `DELETED`) when there is one.
pub(crate) fn process(
    mem: &mut Memory,
    cluster: &str,
    pod: &PodObject<'_>,
    observed: Option<(i64, bool)>,
    watch_type: Option<&str>,
    out: &mut Vec<HyperEvent>,
) -> Result<Outcome, String> {
    let ns = pod.meta_str(|m| &m.namespace);
    let name = pod.meta_str(|m| &m.name);
    let uid = pod.meta_str(|m| &m.uid);
    if name.is_empty() && uid.is_empty() {
        return Err("pod has neither metadata.name nor metadata.uid".into());
    }
    let Some((observed_us, precise)) = observed.or_else(|| latest_time(pod).map(|t| (t, false)))
    else {
        return Err("pod snapshot carries no time (no creationTimestamp, conditions or container times) and none was given".into());
    };
    let key = if uid.is_empty() {
        format!("{ns}/{name}")
    } else {
        uid.to_string()
    };
    mem.learn(ns, name, uid);
    let rv = pod.meta_str(|m| &m.resource_version);
    let next = PodState::of(pod);
    let prev = mem.pods.get(&key).cloned();
    let mut ops = Vec::new();
    let created = pod
        .metadata
        .as_ref()
        .and_then(|m| m.creation_timestamp.as_deref())
        .and_then(parse_rfc3339);
    let empty = PodState::default();
    let before = match &prev {
        Some(p) => p,
        None => {
            let sched = pod
                .spec
                .as_ref()
                .and_then(|s| non_empty(&s.scheduler_name))
                .unwrap_or("default-scheduler");
            ops.push(TimedOp {
                op: ops::pod_create(true),
                at: created,
            });
            ops.push(TimedOp {
                op: ops::schedule_entry(sched),
                at: created,
            });
            &empty
        }
    };
    diff_status(pod, before, &next, &mut ops);
    if next.deleting && !before.deleting {
        let meta = pod.metadata.as_ref();
        let at = meta
            .and_then(|m| m.deletion_timestamp.as_deref())
            .and_then(parse_rfc3339)
            .map(|(t, p)| {
                let grace = meta
                    .and_then(|m| m.deletion_grace_period_seconds)
                    .map_or(0, |g| g.0);
                (t.saturating_sub(grace.saturating_mul(1_000_000)), p)
            });
        ops.push(TimedOp {
            op: "pod:delete:success".into(),
            at,
        });
    }
    if prev.is_some() {
        ops::meta_diff(&before.meta, &next.meta, &mut ops);
    }
    let dedup = format!("{key}:{rv}");
    if watch_type == Some("DELETED") {
        ops.push(TimedOp::now("pod:deleted:success".into()));
        mem.pods.remove(&key);
    } else {
        mem.pods.insert(key, next);
    }
    let rec = watch_record(
        cluster,
        pod_ref(ns, name, uid),
        (observed_us, precise),
        dedup,
    );
    if ops.is_empty() {
        return Ok(Outcome::Emitted(0));
    }
    Ok(Outcome::Emitted(rec.emit(ops, Some(pod::facts(pod)), out)))
}

/// Status operations for what changed between `before` and `next`, with the
/// times the object gives them.
fn diff_status(pod: &PodObject<'_>, before: &PodState, next: &PodState, ops: &mut Vec<TimedOp>) {
    let Some(st) = pod.pod_status() else {
        return;
    };
    for c in st.conditions.iter().flatten() {
        let (Some(t), Some(s)) = (non_empty(&c.type_), non_empty(&c.status)) else {
            continue;
        };
        if !before.conditions.iter().any(|(bt, bs)| bt == t && bs == s) {
            ops.push(TimedOp {
                op: ops::condition(t, s),
                at: c.last_transition_time.as_deref().and_then(parse_rfc3339),
            });
        }
    }
    if !next.phase.is_empty() && next.phase != before.phase {
        ops.push(TimedOp::now(ops::phase(&next.phase)));
    }
    if next.has_ip && !before.has_ip {
        ops.push(TimedOp::now("pod:ip:set".into()));
    }
    let statuses = st
        .init_container_statuses
        .iter()
        .flatten()
        .map(|c| ("initContainer", c))
        .chain(
            st.container_statuses
                .iter()
                .flatten()
                .map(|c| ("container", c)),
        );
    for (prefix, cs) in statuses {
        let Some(name) = non_empty(&cs.name) else {
            continue;
        };
        let old = before
            .containers
            .iter()
            .find(|m| m.prefix == prefix && m.name == name);
        if let Some(r) = cs.ready {
            if old.and_then(|o| o.ready) != Some(r) {
                ops.push(TimedOp::now(format!("{prefix}Ready:{name}:{r}")));
            }
        }
        if let Some(n) = cs.restart_count {
            if old.and_then(|o| o.restarts) != Some(n.0) {
                ops.push(TimedOp::now(format!("{prefix}RestartCount:{name}:{}", n.0)));
            }
        }
        if let Some(op) = ops::container_state_op(prefix, name, cs) {
            if old.and_then(|o| o.state.as_deref()) != Some(op.op.as_str()) {
                ops.push(op);
            }
        }
    }
}

/// Pods remembered from snapshots but absent from a complete list taken at
/// `observed_us` (version `list_version`): deleted while the watch was not
/// looking (a `410 Gone` gap, a broken connection), so their `DELETED` event
/// will never come. Each gets `pod:gone:unobserved` at the list time,
/// imprecise: the pod was gone by then, when exactly is unknown. They are
/// then forgotten.
pub(crate) fn gone(
    mem: &mut Memory,
    cluster: &str,
    listed: &std::collections::HashSet<String>,
    observed_us: i64,
    list_version: &str,
    out: &mut Vec<HyperEvent>,
) -> usize {
    let mut missing: Vec<(String, String, String)> = mem
        .pods
        .iter()
        .filter(|(key, _)| !listed.contains(key.as_str()))
        .map(|(key, s)| (key.clone(), s.namespace.clone(), s.name.clone()))
        .collect();
    // Deterministic output whatever the map order.
    missing.sort();
    let mut emitted = 0;
    for (key, namespace, name) in missing {
        mem.pods.remove(&key);
        let uid = if key.contains('/') { "" } else { key.as_str() };
        let rec = watch_record(
            cluster,
            pod_ref(&namespace, &name, uid),
            (observed_us, false),
            format!("{key}:gone@{list_version}"),
        );
        emitted += rec.emit(vec![TimedOp::now("pod:gone:unobserved".into())], None, out);
    }
    emitted
}

/// A reference to the pod `namespace/name` with `uid`.
fn pod_ref(namespace: &str, name: &str, uid: &str) -> ObjectRef {
    ObjectRef {
        resource: "pods".into(),
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: uid.to_string(),
        field_path: String::new(),
    }
}

/// The record of a pod snapshot (or of its absence) seen at `observed`
/// (µs, whether precise).
fn watch_record(cluster: &str, object: ObjectRef, observed: (i64, bool), dedup: String) -> Record {
    Record {
        cluster: cluster.to_string(),
        source: Source::Watch,
        time_us: observed.0,
        precise: observed.1,
        observed_us: observed.0,
        object,
        actor: None,
        verb: String::new(),
        response_code: None,
        response_message: String::new(),
        dedup,
        dedup_style: DedupStyle::Numbered,
    }
}
