//! Operation strings: the vocabulary span configurations match on.
//!
//! The strings are exactly the original Lunettes' (see `docs/operations.md`),
//! so a span configuration written for it matches unchanged. Every string is
//! built here and nowhere else.
//!
//! Operations that carry their own time in the object (a condition's
//! `lastTransitionTime`, a container's `startedAt`/`finishedAt`) are returned
//! with that time; the caller emits them as separate HyperEvents at that time
//! (whole-second precision), because the audit record time can be much later
//! than the transition it reports.

use std::collections::BTreeMap;

use lunettes_schemas::time::parse_rfc3339;

use crate::k8s::{non_empty, ContainerStatus, Meta, PodStatus};
use crate::redact;

/// One operation, with its own time when the object carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimedOp {
    /// The operation string.
    pub op: String,
    /// Own time (microseconds, has-fraction); `None` means "the record's time".
    pub at: Option<(i64, bool)>,
}

impl TimedOp {
    pub fn now(op: String) -> Self {
        TimedOp { op, at: None }
    }
}

/// `pod:create:success` / `pod:create:failed`.
pub(crate) fn pod_create(ok: bool) -> String {
    if ok {
        "pod:create:success".into()
    } else {
        "pod:create:failed".into()
    }
}

/// `schedule:<schedulerName>:entry`.
pub(crate) fn schedule_entry(scheduler: &str) -> String {
    format!("schedule:{scheduler}:entry")
}

/// `condition:<Type>:<true|false>` (other statuses lowercased: `unknown`).
pub(crate) fn condition(type_: &str, status: &str) -> String {
    let s = match status {
        "True" => "true".to_string(),
        "False" => "false".to_string(),
        other => other.to_ascii_lowercase(),
    };
    format!("condition:{type_}:{s}")
}

/// `phase:<Phase>:set`.
pub(crate) fn phase(p: &str) -> String {
    format!("phase:{p}:set")
}

/// Operations for the status part of a pod body (patch, PUT, or snapshot):
/// every condition that carries a status, the phase, the pod IP, and every
/// container status.
pub(crate) fn status_ops(status: &PodStatus<'_>, out: &mut Vec<TimedOp>) {
    for c in status.conditions.iter().flatten() {
        if let (Some(t), Some(s)) = (non_empty(&c.type_), non_empty(&c.status)) {
            out.push(TimedOp {
                op: condition(t, s),
                at: c.last_transition_time.as_deref().and_then(parse_rfc3339),
            });
        }
    }
    if let Some(p) = non_empty(&status.phase) {
        out.push(TimedOp::now(phase(p)));
    }
    if non_empty(&status.pod_ip).is_some() {
        out.push(TimedOp::now("pod:ip:set".into()));
    }
    for cs in status.init_container_statuses.iter().flatten() {
        container_ops("initContainer", cs, out);
    }
    for cs in status.container_statuses.iter().flatten() {
        container_ops("container", cs, out);
    }
}

/// `<prefix>Ready`, `<prefix>RestartCount` and `<prefix>State` operations of
/// one container status (`prefix` is `container` or `initContainer`).
pub(crate) fn container_ops(prefix: &str, cs: &ContainerStatus<'_>, out: &mut Vec<TimedOp>) {
    let Some(name) = non_empty(&cs.name) else {
        return;
    };
    if let Some(ready) = cs.ready {
        out.push(TimedOp::now(format!("{prefix}Ready:{name}:{ready}")));
    }
    if let Some(n) = cs.restart_count {
        out.push(TimedOp::now(format!("{prefix}RestartCount:{name}:{}", n.0)));
    }
    if let Some(op) = container_state_op(prefix, name, cs) {
        out.push(op);
    }
}

/// The state operation of a container status, if its state says anything.
pub(crate) fn container_state_op(
    prefix: &str,
    name: &str,
    cs: &ContainerStatus<'_>,
) -> Option<TimedOp> {
    let state = cs.state.as_ref()?;
    if let Some(t) = &state.terminated {
        let reason = t.reason.as_deref().unwrap_or("");
        let code = t.exit_code.map(|c| c.0).unwrap_or(0);
        return Some(TimedOp {
            op: format!("{prefix}State:{name}:terminated:{reason};exitCode:{code}"),
            at: t.finished_at.as_deref().and_then(parse_rfc3339),
        });
    }
    if let Some(r) = &state.running {
        return Some(TimedOp {
            op: format!("{prefix}State:{name}:Running"),
            at: r.started_at.as_deref().and_then(parse_rfc3339),
        });
    }
    if let Some(w) = &state.waiting {
        let reason = non_empty(&w.reason)?;
        return Some(TimedOp::now(format!(
            "{prefix}State:{name}:Waiting:{reason}"
        )));
    }
    None
}

/// The metadata the patch operations are about, remembered per pod so later
/// patches and updates can be diffed. Values are already redacted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MetaState {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub finalizers: Vec<String>,
}

impl MetaState {
    /// The state of a full object's metadata.
    pub fn from_meta(meta: &Meta<'_>) -> Self {
        let redacted = |m: &Option<BTreeMap<crate::k8s::S<'_>, Option<crate::k8s::S<'_>>>>| {
            m.iter()
                .flatten()
                .filter_map(|(k, v)| {
                    v.as_ref()
                        .map(|v| (k.to_string(), redact::label_value(k, v).to_string()))
                })
                .collect()
        };
        MetaState {
            labels: redacted(&meta.labels),
            annotations: redacted(&meta.annotations),
            finalizers: meta
                .finalizers
                .iter()
                .flatten()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// Operations implied by going from `prev` to `next` metadata.
pub(crate) fn meta_diff(prev: &MetaState, next: &MetaState, out: &mut Vec<TimedOp>) {
    for f in &next.finalizers {
        if !prev.finalizers.contains(f) {
            out.push(TimedOp::now(format!("finalizer:{f}:add")));
        }
    }
    for f in &prev.finalizers {
        if !next.finalizers.contains(f) {
            out.push(TimedOp::now(format!("finalizer:{f}:delete")));
        }
    }
    map_diff("label", &prev.labels, &next.labels, out);
    map_diff("annotation", &prev.annotations, &next.annotations, out);
}

fn map_diff(
    what: &str,
    prev: &BTreeMap<String, String>,
    next: &BTreeMap<String, String>,
    out: &mut Vec<TimedOp>,
) {
    for (k, v) in prev {
        if next.get(k) != Some(v) {
            out.push(TimedOp::now(format!("{what}:{k}={v}:delete")));
        }
    }
    for (k, v) in next {
        if prev.get(k) != Some(v) {
            out.push(TimedOp::now(format!("{what}:{k}={v}:add")));
        }
    }
}

/// Operations read from a metadata patch alone, when no earlier state of the
/// pod is known: listed finalizers are adds, `$deleteFromPrimitiveList` entries
/// deletes; `k: v` labels/annotations adds, `k: null` deletes (value taken
/// from `prev` when known).
pub(crate) fn meta_patch_ops(patch: &Meta<'_>, prev: Option<&MetaState>, out: &mut Vec<TimedOp>) {
    for f in patch.finalizers.iter().flatten() {
        if !prev.is_some_and(|p| p.finalizers.iter().any(|x| x == &**f)) {
            out.push(TimedOp::now(format!("finalizer:{}:add", &**f)));
        }
    }
    for f in patch.delete_finalizers.iter().flatten() {
        out.push(TimedOp::now(format!("finalizer:{}:delete", &**f)));
    }
    let maps = [
        ("label", &patch.labels, prev.map(|p| &p.labels)),
        (
            "annotation",
            &patch.annotations,
            prev.map(|p| &p.annotations),
        ),
    ];
    for (what, m, prev_map) in maps {
        for (k, v) in m.iter().flatten() {
            match v {
                Some(v) => {
                    let v = redact::label_value(k, v);
                    if prev_map.and_then(|p| p.get(&**k)).map(String::as_str) != Some(v) {
                        out.push(TimedOp::now(format!("{what}:{}={v}:add", &**k)));
                    }
                }
                None => {
                    let old = prev_map
                        .and_then(|p| p.get(&**k))
                        .map(String::as_str)
                        .unwrap_or("");
                    out.push(TimedOp::now(format!("{what}:{}={old}:delete", &**k)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(json: &str) -> Vec<TimedOp> {
        let st: PodStatus = serde_json::from_str(json).unwrap();
        let mut out = Vec::new();
        status_ops(&st, &mut out);
        out
    }

    #[test]
    fn status_vocabulary() {
        let out = ops(r#"{"phase":"Running","podIP":"10.1.1.1",
            "conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2024-01-01T00:00:05Z"},
                          {"type":"ContainersReady","message":"no status here"}],
            "initContainerStatuses":[{"name":"i","ready":true,"restartCount":0,
                "state":{"terminated":{"reason":"Completed","exitCode":0,"finishedAt":"2024-01-01T00:00:03Z"}}}],
            "containerStatuses":[{"name":"c","ready":false,"restartCount":2,
                "state":{"waiting":{"reason":"CrashLoopBackOff"}}},
                {"name":"d","state":{"running":{"startedAt":"2024-01-01T00:00:04Z"}}}]}"#);
        let names: Vec<&str> = out.iter().map(|o| o.op.as_str()).collect();
        assert_eq!(
            names,
            [
                "condition:Ready:true",
                "phase:Running:set",
                "pod:ip:set",
                "initContainerReady:i:true",
                "initContainerRestartCount:i:0",
                "initContainerState:i:terminated:Completed;exitCode:0",
                "containerReady:c:false",
                "containerRestartCount:c:2",
                "containerState:c:Waiting:CrashLoopBackOff",
                "containerState:d:Running",
            ]
        );
        assert_eq!(out[0].at, Some((1_704_067_205_000_000, false)));
        assert_eq!(out[5].at, Some((1_704_067_203_000_000, false)));
        assert_eq!(out[1].at, None);
    }

    #[test]
    fn metadata_diff_and_patch() {
        let prev = MetaState {
            labels: [("app".to_string(), "web".to_string())].into(),
            finalizers: vec!["a/b".into()],
            ..Default::default()
        };
        let next = MetaState {
            labels: [("app".to_string(), "api".to_string())].into(),
            finalizers: vec![],
            ..Default::default()
        };
        let mut out = Vec::new();
        meta_diff(&prev, &next, &mut out);
        let names: Vec<&str> = out.iter().map(|o| o.op.as_str()).collect();
        assert_eq!(
            names,
            [
                "finalizer:a/b:delete",
                "label:app=web:delete",
                "label:app=api:add"
            ]
        );

        let patch: Meta = serde_json::from_str(
            r#"{"labels":{"app":null,"tier":"be"},"$deleteFromPrimitiveList/finalizers":["a/b"],"finalizers":["c/d"]}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        meta_patch_ops(&patch, Some(&prev), &mut out);
        let names: Vec<&str> = out.iter().map(|o| o.op.as_str()).collect();
        assert_eq!(
            names,
            [
                "finalizer:c/d:add",
                "finalizer:a/b:delete",
                "label:app=web:delete",
                "label:tier=be:add"
            ]
        );
    }
}
