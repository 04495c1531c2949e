//! Ground truth: one row per simulated pod, written to `truth.jsonl`.
//!
//! A row says what was injected and what the engine must conclude, plus the
//! true phase durations (from the simulator's own clock, not re-derived from
//! the logs) and the operations the audit records imply, so tests can check
//! the normalizer and the engine against facts rather than against each other.

use serde::{Deserialize, Serialize};

/// True phase durations in milliseconds; `None` when the phase did not happen
/// or did not complete (for example the sandbox of a pod whose CNI fails).
///
/// The phases are disjoint slices of the pod's timeline, so their sum never
/// exceeds created -> finished:
/// - `schedule`: create -> binding.
/// - `sandbox`: binding -> pod sandbox ready. Stock Kubernetes emits no event
///   when the kubelet picks the pod up or when volumes are mounted, so that
///   time is counted here.
/// - `init`: sandbox ready -> last init container finished, minus pulls.
/// - `image_pull`: union of the successful pull intervals (Pulling ->
///   Pulled) of all containers; `None` when every image was already present.
/// - `container_start`: end of init (or sandbox) -> last container started,
///   minus pulls.
/// - `readiness`: last container started -> Ready (service pods only; it
///   includes a postStart hook, which only the last container may have).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhasesMs {
    /// Create -> binding.
    pub schedule: Option<i64>,
    /// Union of pull intervals.
    pub image_pull: Option<i64>,
    /// Binding -> sandbox ready.
    pub sandbox: Option<i64>,
    /// Init containers, minus their pulls.
    pub init: Option<i64>,
    /// Container create+start, minus pulls.
    pub container_start: Option<i64>,
    /// Last container started -> Ready.
    pub readiness: Option<i64>,
}

impl PhasesMs {
    /// The phases that are present.
    pub fn present(&self) -> impl Iterator<Item = i64> {
        [
            self.schedule,
            self.image_pull,
            self.sandbox,
            self.init,
            self.container_start,
            self.readiness,
        ]
        .into_iter()
        .flatten()
    }
}

/// Expected verdict of the delete delivery of a pod that was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteTruth {
    /// `success` or `fail`.
    pub expected_result: String,
    /// `""` or `FinalizerNotRemoved`.
    pub expected_code: String,
    /// The blamed finalizer for `FinalizerNotRemoved`, else `""`.
    pub expected_sub_reason: String,
    /// Time of the (first, graceful) delete request, RFC 3339 microseconds.
    pub deleted_at: String,
    /// The finalizer that blocks deletion, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizer: Option<String>,
}

/// Ground truth of one simulated pod (one create attempt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    /// Cluster name (`sim-N`).
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Pod name. For a rejected create this is the name the apiserver
    /// generated (it appears in the error message only).
    pub name: String,
    /// Pod uid; `""` when the create was rejected (no pod exists).
    pub uid: String,
    /// `service` (restartPolicy Always) or `job`.
    pub kind: String,
    /// Node the pod was bound to, `""` if never bound.
    pub node: String,
    /// Injected fault name, or `none`.
    pub fault: String,
    /// `success`, `fail`, `kill` or `api_failed`.
    pub expected_result: String,
    /// Diagnosis code, `""` for success.
    pub expected_code: String,
    /// Sub-reason (FailedScheduling kind, webhook name), else `""`.
    pub expected_sub_reason: String,
    /// Create time: the stageTimestamp of the pods create, RFC 3339 micro.
    pub created_at: String,
    /// When the delivery really completed (Ready for services, the status
    /// write that set phase Running for jobs); `None` if it never did within
    /// the simulated horizon.
    pub finished_at: Option<String>,
    /// True phase durations.
    pub phases_ms: PhasesMs,
    /// Expected delete verdict when the pod was deleted.
    pub delete: Option<DeleteTruth>,
    /// Operations the audit log implies for this pod: one entry per
    /// operation per audit record, sorted (duplicates kept; deduplicate for a
    /// set comparison).
    pub operations: Vec<String>,
}

impl Truth {
    /// One JSON line (no newline). Same shape as serde would write, without
    /// serde's per-field overhead in debug builds.
    pub fn to_json_line(&self) -> String {
        use crate::json::Obj;
        let mut out = String::with_capacity(512 + self.operations.len() * 40);
        let mut o = Obj::open(&mut out);
        o.str("cluster", &self.cluster)
            .str("namespace", &self.namespace)
            .str("name", &self.name)
            .str("uid", &self.uid)
            .str("kind", &self.kind)
            .str("node", &self.node)
            .str("fault", &self.fault)
            .str("expected_result", &self.expected_result)
            .str("expected_code", &self.expected_code)
            .str("expected_sub_reason", &self.expected_sub_reason)
            .str("created_at", &self.created_at);
        match &self.finished_at {
            Some(f) => o.str("finished_at", f),
            None => o.null("finished_at"),
        };
        o.obj("phases_ms", |p| {
            let ph = &self.phases_ms;
            for (k, v) in [
                ("schedule", ph.schedule),
                ("image_pull", ph.image_pull),
                ("sandbox", ph.sandbox),
                ("init", ph.init),
                ("container_start", ph.container_start),
                ("readiness", ph.readiness),
            ] {
                match v {
                    Some(v) => p.int(k, v),
                    None => p.null(k),
                };
            }
        });
        match &self.delete {
            Some(d) => o.obj("delete", |x| {
                x.str("expected_result", &d.expected_result)
                    .str("expected_code", &d.expected_code)
                    .str("expected_sub_reason", &d.expected_sub_reason)
                    .str("deleted_at", &d.deleted_at);
                if let Some(f) = &d.finalizer {
                    x.str("finalizer", f);
                }
            }),
            None => o.null("delete"),
        };
        o.arr("operations", |a| {
            for op in &self.operations {
                a.str(op);
            }
        });
        o.close();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_round_trips_through_serde() {
        let t = Truth {
            cluster: "sim-1".into(),
            namespace: "web".into(),
            name: "a-b".into(),
            uid: "u".into(),
            kind: "service".into(),
            node: "n".into(),
            fault: "none".into(),
            expected_result: "success".into(),
            expected_code: String::new(),
            expected_sub_reason: String::new(),
            created_at: "2026-01-01T00:00:00.000001Z".into(),
            finished_at: None,
            phases_ms: PhasesMs {
                schedule: Some(12),
                ..PhasesMs::default()
            },
            delete: Some(DeleteTruth {
                expected_result: "fail".into(),
                expected_code: "FinalizerNotRemoved".into(),
                expected_sub_reason: "x/y".into(),
                deleted_at: "2026-01-01T00:10:00.000001Z".into(),
                finalizer: Some("x/y".into()),
            }),
            operations: vec!["pod:create:success".into(), "q\"uote".into()],
        };
        let back: Truth = serde_json::from_str(&t.to_json_line()).unwrap();
        assert_eq!(back, t);
    }
}
