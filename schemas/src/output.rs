//! Records the delivery engine emits: deliveries, spans and window rows.
//!
//! Every record carries a deterministic id derived from its inputs (cluster,
//! pod UID, action, span name, window key), so replaying the same HyperEvents
//! yields byte-identical outputs and sinks can de-duplicate by id.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Which delivery: a pod being created (until ready) or deleted (until gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Pod create delivery.
    Create,
    /// Pod delete delivery.
    Delete,
}

impl Action {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Delete => "delete",
        }
    }
}

/// Verdict of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryResult {
    /// Completed within its SLO.
    Success,
    /// SLO deadline passed (or a fatal error); `code` says why.
    Fail,
    /// Deleted before it completed.
    Kill,
    /// The create request itself was rejected (quota, admission webhook).
    ApiFailed,
    /// Nothing conclusive within the give-up horizon. Not a success.
    Abandoned,
}

impl DeliveryResult {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryResult::Success => "success",
            DeliveryResult::Fail => "fail",
            DeliveryResult::Kill => "kill",
            DeliveryResult::ApiFailed => "api_failed",
            DeliveryResult::Abandoned => "abandoned",
        }
    }

    /// All results, in a stable order.
    pub const ALL: [DeliveryResult; 5] = [
        DeliveryResult::Success,
        DeliveryResult::Fail,
        DeliveryResult::Kill,
        DeliveryResult::ApiFailed,
        DeliveryResult::Abandoned,
    ];
}

/// Phase durations of a create delivery, in milliseconds. `None` when the
/// phase did not happen or could not be observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Phases {
    /// Creation to binding.
    pub schedule_ms: Option<i64>,
    /// Union of image pull intervals.
    pub image_pull_ms: Option<i64>,
    /// Pod sandbox creation including network/IP setup.
    pub sandbox_ms: Option<i64>,
    /// Init containers.
    pub init_ms: Option<i64>,
    /// Container create and start (excluding pulls).
    pub container_start_ms: Option<i64>,
    /// Containers started to Ready.
    pub readiness_ms: Option<i64>,
}

impl Phases {
    /// `(name, value)` pairs in pipeline order, names without the `_ms` suffix.
    pub fn iter(&self) -> [(&'static str, Option<i64>); 6] {
        [
            ("schedule", self.schedule_ms),
            ("image_pull", self.image_pull_ms),
            ("sandbox", self.sandbox_ms),
            ("init", self.init_ms),
            ("container_start", self.container_start_ms),
            ("readiness", self.readiness_ms),
        ]
    }
}

/// One pod delivery and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Deterministic id: hex of a hash of (cluster, pod uid, action).
    pub id: String,
    /// Increases when a later record corrects an already emitted verdict.
    pub version: i32,
    /// Cluster name.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// Create or delete.
    pub action: Action,
    /// Verdict.
    pub result: DeliveryResult,
    /// Diagnosis code (empty on success).
    pub code: String,
    /// Sub-reason, e.g. FailedScheduling `InsufficientCPU`.
    pub sub_reason: String,
    /// Plain-language summary a person can act on.
    pub summary: String,
    /// Delivery start (create: pod created; delete: delete accepted), µs.
    pub created_at_us: i64,
    /// Completion time when the delivery completed, µs.
    pub finished_at_us: Option<i64>,
    /// When the verdict was decided (completion, deadline or deletion), µs.
    pub decided_at_us: i64,
    /// The SLO deadline, µs (absent for best-effort pods).
    pub deadline_us: Option<i64>,
    /// SLO in ms (absent for best-effort pods).
    pub slo_ms: Option<i64>,
    /// Pod class that chose the SLO (`typical`, `NONTYPICAL1`, ...).
    pub slo_class: String,
    /// Lunettes infrastructure SLI in ms.
    pub sli_ms: Option<i64>,
    /// Official Kubernetes pod-startup SLI in ms (absent when not applicable).
    pub k8s_sli_ms: Option<i64>,
    /// Phase durations.
    pub phases: Phases,
    /// Node the pod ran on.
    pub node: String,
    /// Pod IP.
    pub pod_ip: String,
    /// Controlling owner kind.
    pub owner_kind: String,
    /// Controlling owner name.
    pub owner_name: String,
    /// restartPolicy != Always.
    pub is_job: bool,
    /// Quality flags, e.g. `clamped:readiness` when timestamps disagreed.
    pub flags: Vec<String>,
    /// Trace id of the delivery's trace (32 hex).
    pub trace_id: String,
}

/// Who owns a span's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SpanOwner {
    /// Infrastructure time (counts against the SLI).
    K8s,
    /// User time (init containers, hooks, probes): subtracted from the SLI.
    Custom,
    /// Neither.
    #[default]
    Others,
}

/// Status of a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SpanStatus {
    /// Completed normally.
    #[default]
    Ok,
    /// Ended in error (the root span of a failed delivery).
    Error,
    /// Never closed (its end event did not arrive before the verdict).
    Unset,
}

/// One span of a delivery trace (the root span has an empty parent).
///
/// The fields a delivery's spans repeat (trace, parent and delivery ids, cluster,
/// namespace, pod, node) are `Arc<str>`: the engine allocates each once per
/// delivery and its ~10 spans share it, where `String`s cost one allocation and
/// copy per span. Serialized as plain strings, so the Avro and JSON forms are
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanRecord {
    /// 32 hex chars, derived from (cluster, pod uid, action).
    pub trace_id: Arc<str>,
    /// 16 hex chars, derived from (trace, span name, instance).
    pub span_id: String,
    /// Parent span id, empty for the root.
    pub parent_span_id: Arc<str>,
    /// Id of the delivery this span belongs to.
    pub delivery_id: Arc<str>,
    /// Cluster.
    pub cluster: Arc<str>,
    /// Namespace.
    pub namespace: Arc<str>,
    /// Pod name.
    pub pod_name: Arc<str>,
    /// Pod UID.
    pub pod_uid: Arc<str>,
    /// Node.
    pub node: Arc<str>,
    /// Span name (e.g. `image_pull`), the root is `<ActionType>`.
    pub name: String,
    /// Span instance (container or image name for per-container spans).
    pub instance: String,
    /// Span owner.
    pub owner: SpanOwner,
    /// Start, µs.
    pub start_us: i64,
    /// End, µs.
    pub end_us: i64,
    /// Status.
    pub status: SpanStatus,
    /// Status message (diagnosis code on error).
    pub status_message: String,
    /// Attributes (ExtraProperties, container name, image, ...), sorted by key.
    pub attributes: BTreeMap<String, String>,
}

/// Width of a tumbling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowWidth {
    /// 1 minute.
    Minute,
    /// 1 hour.
    Hour,
}

impl WindowWidth {
    /// Width in microseconds.
    pub fn micros(self) -> i64 {
        match self {
            WindowWidth::Minute => 60_000_000,
            WindowWidth::Hour => 3_600_000_000,
        }
    }
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowWidth::Minute => "minute",
            WindowWidth::Hour => "hour",
        }
    }
}

/// Partial SLO counts of one tumbling window, from one engine shard.
///
/// Rows from different shards (Kafka partitions) for the same window key add
/// up; a later row with a higher `version` from the same shard replaces the
/// earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowRow {
    /// Deterministic id of (shard, cluster, namespace, action, width, start).
    pub id: String,
    /// Increases with each correction of this row.
    pub version: i32,
    /// Engine shard (Kafka partition) that counted these deliveries.
    pub shard: i32,
    /// Window width.
    pub width: WindowWidth,
    /// Window start, µs (aligned to the width).
    pub window_start_us: i64,
    /// Cluster.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Create or delete deliveries.
    pub action: Action,
    /// Deliveries decided in the window.
    pub total: i64,
    /// Successes.
    pub success: i64,
    /// Failures.
    pub fail: i64,
    /// Kills.
    pub kill: i64,
    /// Rejected creates.
    pub api_failed: i64,
    /// Abandoned deliveries.
    pub abandoned: i64,
    /// Count per diagnosis code (non-success verdicts).
    pub codes: BTreeMap<String, i64>,
}

/// Anything the engine emits.
// Deliveries are the largest variant by a few hundred bytes; outputs are
// few (one per verdict) and moved straight into a Vec, so boxing would only
// add an allocation per delivery.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Output {
    /// A delivery verdict.
    Delivery(Delivery),
    /// A span of a delivery trace.
    Span(SpanRecord),
    /// A window row.
    Window(WindowRow),
}
