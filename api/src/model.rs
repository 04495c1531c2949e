//! The JSON answers of the API (documented in `api/openapi.yaml`).
//!
//! The same types serialize on the server and deserialize in `lunettes
//! debug`, so the terminal and the page can never disagree about a field.
//! Times are RFC 3339 UTC strings with microseconds (what people read and
//! what every JSON tool parses); durations are integer milliseconds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Answer of `debugpod`: one pod (uid, namespace+name) or a list (node, podip).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DebugPodAnswer {
    /// Everything about one pod.
    Pod(Box<PodReport>),
    /// The pods matching a node or IP.
    PodList(PodList),
}

/// Everything about one pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodReport {
    /// When the answer was made.
    pub now: String,
    /// `decided` (a create verdict exists), `in_progress` (only events so
    /// far), or `deleting` (only a delete delivery is known).
    pub status: String,
    /// Pod facts.
    pub pod: PodFacts,
    /// The create verdict, latest version (absent while in progress).
    pub verdict: Option<Verdict>,
    /// Every delivery of the pod (create and delete), latest versions.
    pub deliveries: Vec<Verdict>,
    /// The SLO deadline of the create delivery, from the verdict or, while
    /// in progress, computed from the first event and the SLO configuration.
    pub deadline: Option<Deadline>,
    /// Create phases laid out in time (from the verdict's phase durations).
    pub phases: Vec<Phase>,
    /// Raw HyperEvents of the pod.
    pub timeline: Timeline,
    /// Spans of the pod's delivery traces.
    pub spans: Vec<Span>,
    /// Other UIDs the same namespace/name had (recreated pods), newest first.
    pub other_uids: Vec<String>,
}

/// Facts about a pod, merged from its verdicts, events and spans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodFacts {
    /// Cluster.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// Node it was bound to.
    pub node: String,
    /// Pod IP.
    pub ip: String,
    /// Controlling owner kind.
    pub owner_kind: String,
    /// Controlling owner name.
    pub owner_name: String,
    /// Images of its containers (from pull spans and events).
    pub images: Vec<String>,
    /// Last pod phase seen (`Pending`, `Running`, ...).
    pub phase: String,
    /// First event time.
    pub first_seen: Option<String>,
    /// Last event time.
    pub last_seen: Option<String>,
}

/// A delivery verdict (one row of `deliveries`, latest version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Delivery id.
    pub id: String,
    /// Correction version.
    pub version: i32,
    /// `create` or `delete`.
    pub action: String,
    /// `success`, `fail`, `kill`, `api_failed`, `abandoned`.
    pub result: String,
    /// Diagnosis code (empty on success).
    pub code: String,
    /// Sub-reason.
    pub sub_reason: String,
    /// Plain-language summary.
    pub summary: String,
    /// Delivery start.
    pub created_at: String,
    /// Completion, when it completed.
    pub finished_at: Option<String>,
    /// When the verdict was taken.
    pub decided_at: String,
    /// SLO deadline (absent for best-effort pods).
    pub deadline: Option<String>,
    /// SLO, ms.
    pub slo_ms: Option<i64>,
    /// SLO class.
    pub slo_class: String,
    /// Lunettes SLI, ms.
    pub sli_ms: Option<i64>,
    /// Kubernetes pod-startup SLI, ms.
    pub k8s_sli_ms: Option<i64>,
    /// Phase durations, ms, by phase name (pipeline order in [`Phase`]).
    pub phases_ms: BTreeMap<String, i64>,
    /// Quality flags.
    pub flags: Vec<String>,
    /// Trace id.
    pub trace_id: String,
    /// Job-like pod (restartPolicy != Always).
    pub is_job: bool,
}

/// The SLO deadline of a create delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// The deadline.
    pub at: String,
    /// Delivery start the deadline counts from.
    pub created_at: String,
    /// SLO, ms.
    pub slo_ms: i64,
    /// SLO class (`typical`, `UserOnline`, ...).
    pub slo_class: String,
    /// `verdict` (the engine's) or `estimate` (computed while in progress:
    /// first event + class SLO or namespace override; init-container time,
    /// which the engine adds, is not known yet).
    pub source: String,
    /// The deadline is before `now`.
    pub passed: bool,
    /// Milliseconds from `now` to the deadline (negative once passed).
    pub remaining_ms: i64,
}

/// One create phase, placed in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    /// `schedule`, `sandbox`, `image_pull`, `init`, `container_start`,
    /// `readiness`, or `unfinished` (from the last phase to the verdict of a
    /// delivery that did not complete).
    pub name: String,
    /// Start.
    pub start: String,
    /// End.
    pub end: String,
    /// Duration, ms.
    pub duration_ms: i64,
    /// The position is exact (schedule, sandbox, readiness, unfinished); the
    /// pull, init and start phases share the span from first kubelet activity
    /// to all containers started and are laid end to end inside it.
    pub exact: bool,
}

/// The raw events of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    /// Only error entries are listed.
    pub errors_only: bool,
    /// Events of the pod in the store (identical records at the same time
    /// are listed once, with `repeats`).
    pub total: usize,
    /// Of which errors.
    pub errors: usize,
    /// Gaps longer than `gap_threshold_ms` between consecutive events.
    pub gaps: usize,
    /// The gap threshold, ms.
    pub gap_threshold_ms: i64,
    /// More events exist than were read (the oldest are listed).
    pub truncated: bool,
    /// The events, oldest first.
    pub events: Vec<TimelineEvent>,
}

/// One HyperEvent of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Event time.
    pub time: String,
    /// `audit`, `event`, `watch`.
    pub source: String,
    /// `operation` or `event`.
    pub kind: String,
    /// Resource (`pods`, `pods/status`, `events`, ...).
    pub resource: String,
    /// Operation strings.
    pub operations: Vec<String>,
    /// Event type (`Normal`, `Warning`).
    pub event_type: String,
    /// Event reason.
    pub reason: String,
    /// Event message.
    pub message: String,
    /// Event count.
    pub count: i32,
    /// Reporting component.
    pub component: String,
    /// Reporting host.
    pub host: String,
    /// Audit verb.
    pub verb: String,
    /// Audit user.
    pub user: String,
    /// HTTP response code (audit).
    pub response_code: Option<i32>,
    /// Response message of a failed request.
    pub response_message: String,
    /// A Warning event, a failed request or a failure state.
    pub error: bool,
    /// How many identical records (same time and content, different
    /// records: e.g. every status patch repeating a container's start time)
    /// this entry stands for.
    pub repeats: u32,
    /// Milliseconds since the previous event (absent for the first).
    pub gap_before_ms: Option<i64>,
    /// `gap_before_ms` exceeds the gap threshold.
    pub gap: bool,
}

/// One span of a delivery trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Span name.
    pub name: String,
    /// Instance (container, image, finalizer).
    pub instance: String,
    /// Trace id.
    pub trace_id: String,
    /// Span id.
    pub span_id: String,
    /// Parent span id (empty for a root).
    pub parent_span_id: String,
    /// Start.
    pub start: String,
    /// End.
    pub end: String,
    /// Duration, ms.
    pub duration_ms: i64,
    /// `k8s`, `custom`, `others`.
    pub owner: String,
    /// `Ok`, `Error`, `Unset`.
    pub status: String,
    /// Status message (the code on an error root).
    pub status_message: String,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
}

/// Pods matching a node or IP query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodList {
    /// When the answer was made.
    pub now: String,
    /// The pods, newest first.
    pub pods: Vec<PodSummary>,
    /// More pods matched than `limit`.
    pub truncated: bool,
    /// The limit applied.
    pub limit: usize,
}

/// One line about a pod in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSummary {
    /// Cluster.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// Node.
    pub node: String,
    /// Pod IP.
    pub ip: String,
    /// Delivery type of the verdict shown (`create`/`delete`; empty when none).
    pub action: String,
    /// Verdict (empty while in progress).
    pub result: String,
    /// Diagnosis code.
    pub code: String,
    /// Summary.
    pub summary: String,
    /// Delivery start (or first event).
    pub created_at: String,
    /// Verdict time (absent while in progress).
    pub decided_at: Option<String>,
    /// SLI, ms.
    pub sli_ms: Option<i64>,
}

/// Answer of `debugslo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloReport {
    /// When the answer was made.
    pub now: String,
    /// The filters applied.
    pub query: SloQueryEcho,
    /// Counts over all matching deliveries.
    pub overall: Bucket,
    /// By cluster (largest first, at most 100).
    pub by_cluster: Vec<Bucket>,
    /// By namespace (largest first, at most 100).
    pub by_namespace: Vec<Bucket>,
    /// By node (largest first, at most 100).
    pub by_node: Vec<Bucket>,
    /// By diagnosis code (non-success only, largest first, at most 100).
    pub by_code: Vec<Bucket>,
    /// Matching deliveries, newest verdict first.
    pub pods: Vec<PodSummary>,
    /// More deliveries matched than `query.limit`.
    pub pods_truncated: bool,
}

/// The filters of a `debugslo` answer, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SloQueryEcho {
    /// Cluster filter.
    pub cluster: Option<String>,
    /// Namespace filter.
    pub namespace: Option<String>,
    /// Result filter.
    pub result: Option<String>,
    /// Code filter.
    pub code: Option<String>,
    /// `create` or `delete`.
    #[serde(rename = "type")]
    pub action: String,
    /// Verdicts decided at or after.
    pub from: String,
    /// Verdicts decided before.
    pub to: String,
    /// Most pods listed.
    pub limit: usize,
}

/// Verdict counts of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Group value (cluster, namespace, node or code; `(all)` for overall;
    /// empty = unknown, e.g. a pod never bound to a node).
    pub key: String,
    /// Deliveries.
    pub total: u64,
    /// Successes.
    pub success: u64,
    /// Failures.
    pub fail: u64,
    /// Kills.
    pub kill: u64,
    /// Rejected creates.
    pub api_failed: u64,
    /// Abandoned.
    pub abandoned: u64,
    /// success / total (null when total is 0).
    pub success_rate: Option<f64>,
}
