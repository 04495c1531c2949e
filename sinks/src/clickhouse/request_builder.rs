//! Rows of the ClickHouse tables and their construction from the Avro records.
//!
//! One `clickhouse::Row` struct per table, with fields in the same order and
//! types as the columns created by `schemas/clickhouse/` (the migration test
//! inserts every struct with the crate's schema validation on, so a drift
//! fails a test instead of corrupting data). Records are *moved* into rows:
//! decoding and conversion allocate nothing beyond what Avro decoding already
//! did. Timestamps stay integers: `DateTime64(6)` is microseconds and
//! `DateTime64(9)` nanoseconds since the epoch in RowBinary.

use std::collections::BTreeMap;
use std::sync::Arc;

use clickhouse::Row;
use lunettes_schemas::{
    Action, Delivery, DeliveryResult, HyperEvent, Kind, Phases, SpanOwner, SpanRecord, SpanStatus,
    TimePrecision, WindowRow, WindowWidth,
};
use serde::{Deserialize, Serialize};

/// A record that cannot become a row; the record is skipped and reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// A timestamp does not fit the column type.
    #[error("{field} = {value} is out of range for the column")]
    OutOfRange {
        /// Field name.
        field: &'static str,
        /// The offending value.
        value: i64,
    },
    /// A row read back holds a value the contract has no variant for.
    #[error("{field} = {value:?} is not a known value")]
    UnknownValue {
        /// Field name.
        field: &'static str,
        /// The offending value.
        value: String,
    },
}

/// Why a record produced no row although it decoded fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A collector watermark: progress information, not a pod fact.
    Watermark,
    /// An hourly window row: `slo_windows_1h` derives hours from the minute rows.
    HourWindow,
}

impl Skip {
    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Watermark => "watermark",
            Skip::HourWindow => "hour_window",
        }
    }
}

/// Outcome of converting a record.
pub type Converted<R> = Result<Result<R, Skip>, RowError>;

/// A row of `deliveries`: what the sink writes and what readers (the API,
/// tests) read back, so the table has one Rust shape.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct DeliveryRow {
    /// Deterministic delivery id.
    pub id: String,
    /// Correction version.
    pub version: i32,
    /// Cluster.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// `create` or `delete`.
    pub action: String,
    /// Verdict.
    pub result: String,
    /// Diagnosis code.
    pub code: String,
    /// Sub-reason.
    pub sub_reason: String,
    /// Plain-language summary.
    pub summary: String,
    /// Start, µs.
    pub created_at: i64,
    /// Completion, µs.
    pub finished_at: Option<i64>,
    /// Verdict time, µs.
    pub decided_at: i64,
    /// SLO deadline, µs.
    pub deadline: Option<i64>,
    /// SLO, ms.
    pub slo_ms: Option<i64>,
    /// SLO class.
    pub slo_class: String,
    /// Lunettes SLI, ms.
    pub sli_ms: Option<i64>,
    /// Kubernetes pod-startup SLI, ms.
    pub k8s_sli_ms: Option<i64>,
    /// Phase: scheduling, ms.
    pub schedule_ms: Option<i64>,
    /// Phase: image pulls, ms.
    pub image_pull_ms: Option<i64>,
    /// Phase: sandbox, ms.
    pub sandbox_ms: Option<i64>,
    /// Phase: init containers, ms.
    pub init_ms: Option<i64>,
    /// Phase: container start, ms.
    pub container_start_ms: Option<i64>,
    /// Phase: readiness, ms.
    pub readiness_ms: Option<i64>,
    /// Node.
    pub node: String,
    /// Pod IP.
    pub pod_ip: String,
    /// Owner kind.
    pub owner_kind: String,
    /// Owner name.
    pub owner_name: String,
    /// Job-like pod.
    pub is_job: bool,
    /// Quality flags.
    pub flags: Vec<String>,
    /// Trace id.
    pub trace_id: String,
}

impl From<Delivery> for DeliveryRow {
    fn from(d: Delivery) -> Self {
        DeliveryRow {
            id: d.id,
            version: d.version,
            cluster: d.cluster,
            namespace: d.namespace,
            name: d.name,
            uid: d.uid,
            action: d.action.as_str().to_string(),
            result: d.result.as_str().to_string(),
            code: d.code,
            sub_reason: d.sub_reason,
            summary: d.summary,
            created_at: d.created_at_us,
            finished_at: d.finished_at_us,
            decided_at: d.decided_at_us,
            deadline: d.deadline_us,
            slo_ms: d.slo_ms,
            slo_class: d.slo_class,
            sli_ms: d.sli_ms,
            k8s_sli_ms: d.k8s_sli_ms,
            schedule_ms: d.phases.schedule_ms,
            image_pull_ms: d.phases.image_pull_ms,
            sandbox_ms: d.phases.sandbox_ms,
            init_ms: d.phases.init_ms,
            container_start_ms: d.phases.container_start_ms,
            readiness_ms: d.phases.readiness_ms,
            node: d.node,
            pod_ip: d.pod_ip,
            owner_kind: d.owner_kind,
            owner_name: d.owner_name,
            is_job: d.is_job,
            flags: d.flags,
            trace_id: d.trace_id,
        }
    }
}

impl DeliveryRow {
    /// The contract record this row stores (the inverse of `From<Delivery>`).
    pub fn into_delivery(self) -> Result<Delivery, RowError> {
        let action = match self.action.as_str() {
            "create" => Action::Create,
            "delete" => Action::Delete,
            _ => {
                return Err(RowError::UnknownValue {
                    field: "action",
                    value: self.action,
                })
            }
        };
        let Some(&result) = DeliveryResult::ALL
            .iter()
            .find(|r| r.as_str() == self.result)
        else {
            return Err(RowError::UnknownValue {
                field: "result",
                value: self.result,
            });
        };
        Ok(Delivery {
            id: self.id,
            version: self.version,
            cluster: self.cluster,
            namespace: self.namespace,
            name: self.name,
            uid: self.uid,
            action,
            result,
            code: self.code,
            sub_reason: self.sub_reason,
            summary: self.summary,
            created_at_us: self.created_at,
            finished_at_us: self.finished_at,
            decided_at_us: self.decided_at,
            deadline_us: self.deadline,
            slo_ms: self.slo_ms,
            slo_class: self.slo_class,
            sli_ms: self.sli_ms,
            k8s_sli_ms: self.k8s_sli_ms,
            phases: Phases {
                schedule_ms: self.schedule_ms,
                image_pull_ms: self.image_pull_ms,
                sandbox_ms: self.sandbox_ms,
                init_ms: self.init_ms,
                container_start_ms: self.container_start_ms,
                readiness_ms: self.readiness_ms,
            },
            node: self.node,
            pod_ip: self.pod_ip,
            owner_kind: self.owner_kind,
            owner_name: self.owner_name,
            is_job: self.is_job,
            flags: self.flags,
            trace_id: self.trace_id,
        })
    }
}

/// Service name written to `spans.ServiceName` and `service.name`.
pub const SERVICE_NAME: &str = "lunettes";

/// A row of `spans` (column names of the OTel exporter's `otel_traces`).
#[derive(Debug, Clone, PartialEq, Row, Serialize)]
#[allow(non_snake_case)]
pub struct SpanRow {
    /// Span start, ns.
    pub Timestamp: i64,
    /// 32 hex.
    pub TraceId: Arc<str>,
    /// 16 hex.
    pub SpanId: String,
    /// Parent span id, empty for the root.
    pub ParentSpanId: Arc<str>,
    /// Always empty.
    pub TraceState: &'static str,
    /// Span name.
    pub SpanName: String,
    /// Always `Internal`.
    pub SpanKind: &'static str,
    /// Always [`SERVICE_NAME`].
    pub ServiceName: &'static str,
    /// OTel Kubernetes resource attributes.
    pub ResourceAttributes: BTreeMap<&'static str, String>,
    /// Instrumentation scope.
    pub ScopeName: &'static str,
    /// Scope version (this crate's version).
    pub ScopeVersion: &'static str,
    /// Span attributes, sorted by key.
    pub SpanAttributes: BTreeMap<String, String>,
    /// Duration, ns.
    pub Duration: u64,
    /// `Ok`, `Error` or `Unset`.
    pub StatusCode: &'static str,
    /// Diagnosis code on error.
    pub StatusMessage: String,
    /// Delivery id.
    pub DeliveryId: Arc<str>,
    /// Cluster.
    pub Cluster: Arc<str>,
    /// Namespace.
    pub Namespace: Arc<str>,
    /// Pod name.
    pub PodName: Arc<str>,
    /// Pod UID.
    pub PodUid: Arc<str>,
    /// Node.
    pub Node: Arc<str>,
    /// Who owns the span's time: `k8s`, `custom`, `others`.
    pub Owner: &'static str,
    /// Span instance (container or image).
    pub Instance: String,
}

fn micros_to_nanos(field: &'static str, us: i64) -> Result<i64, RowError> {
    us.checked_mul(1000)
        .ok_or(RowError::OutOfRange { field, value: us })
}

impl TryFrom<SpanRecord> for SpanRow {
    type Error = RowError;
    fn try_from(s: SpanRecord) -> Result<Self, RowError> {
        let start = micros_to_nanos("start_us", s.start_us)?;
        let end = micros_to_nanos("end_us", s.end_us)?;
        let duration = end.saturating_sub(start).max(0) as u64;
        let mut resource = BTreeMap::new();
        resource.insert("service.name", SERVICE_NAME.to_string());
        resource.insert("k8s.cluster.name", s.cluster.to_string());
        resource.insert("k8s.namespace.name", s.namespace.to_string());
        resource.insert("k8s.pod.name", s.pod_name.to_string());
        resource.insert("k8s.pod.uid", s.pod_uid.to_string());
        if !s.node.is_empty() {
            resource.insert("k8s.node.name", s.node.to_string());
        }
        Ok(SpanRow {
            Timestamp: start,
            TraceId: s.trace_id,
            SpanId: s.span_id,
            ParentSpanId: s.parent_span_id,
            TraceState: "",
            SpanName: s.name,
            SpanKind: "Internal",
            ServiceName: SERVICE_NAME,
            ResourceAttributes: resource,
            ScopeName: SERVICE_NAME,
            ScopeVersion: env!("CARGO_PKG_VERSION"),
            SpanAttributes: s.attributes,
            Duration: duration,
            StatusCode: match s.status {
                SpanStatus::Ok => "Ok",
                SpanStatus::Error => "Error",
                SpanStatus::Unset => "Unset",
            },
            StatusMessage: s.status_message,
            DeliveryId: s.delivery_id,
            Cluster: s.cluster,
            Namespace: s.namespace,
            PodName: s.pod_name,
            PodUid: s.pod_uid,
            Node: s.node,
            Owner: match s.owner {
                SpanOwner::K8s => "k8s",
                SpanOwner::Custom => "custom",
                SpanOwner::Others => "others",
            },
            Instance: s.instance,
        })
    }
}

/// A row of `slo_windows_1m`.
#[derive(Debug, Clone, PartialEq, Row, Serialize)]
pub struct WindowRowCh {
    /// Deterministic window id.
    pub id: String,
    /// Correction version.
    pub version: i32,
    /// Engine shard.
    pub shard: i32,
    /// Cluster.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// `create` or `delete`.
    pub action: &'static str,
    /// Window start, seconds since the epoch (`DateTime`).
    pub window_start: u32,
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
    /// Abandoned.
    pub abandoned: i64,
    /// Count per diagnosis code.
    pub codes: BTreeMap<String, i64>,
}

/// Converts a window record; hourly rows are skipped (see [`Skip::HourWindow`]).
pub fn window_row(w: WindowRow) -> Converted<WindowRowCh> {
    if w.width == WindowWidth::Hour {
        return Ok(Err(Skip::HourWindow));
    }
    let secs = w.window_start_us.div_euclid(1_000_000);
    let window_start = u32::try_from(secs).map_err(|_| RowError::OutOfRange {
        field: "window_start_us",
        value: w.window_start_us,
    })?;
    Ok(Ok(WindowRowCh {
        id: w.id,
        version: w.version,
        shard: w.shard,
        cluster: w.cluster,
        namespace: w.namespace,
        action: w.action.as_str(),
        window_start,
        total: w.total,
        success: w.success,
        fail: w.fail,
        kill: w.kill,
        api_failed: w.api_failed,
        abandoned: w.abandoned,
        codes: w.codes,
    }))
}

/// A row of `hyperevents`.
#[derive(Debug, Clone, PartialEq, Row, Serialize)]
pub struct HyperEventRow {
    /// Cluster.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod_name: String,
    /// Pod UID.
    pub pod_uid: String,
    /// Event time, µs.
    pub time: i64,
    /// Observation time, µs.
    pub observed: i64,
    /// `micros` or `seconds`.
    pub time_precision: &'static str,
    /// `audit`, `event` or `watch`.
    pub source: &'static str,
    /// `operation` or `event`.
    pub kind: &'static str,
    /// Resource with subresource.
    pub resource: String,
    /// Event field path.
    pub field_path: String,
    /// Operation strings.
    pub operations: Vec<String>,
    /// Event type.
    pub event_type: String,
    /// Event reason.
    pub reason: String,
    /// Event message.
    pub message: String,
    /// Event count.
    pub count: i32,
    /// Reporting component.
    pub component: String,
    /// Event host.
    pub host: String,
    /// Event first timestamp, µs.
    pub first_seen: Option<i64>,
    /// Requesting user.
    pub user: String,
    /// User agent.
    pub user_agent: String,
    /// Audit verb.
    pub verb: String,
    /// Audit response code.
    pub response_code: Option<i32>,
    /// Audit response message.
    pub response_message: String,
    /// Collector dedup id.
    pub dedup_id: String,
    /// Node (pod spec, else Event host).
    pub node: String,
    /// Pod phase.
    pub pod_phase: String,
    /// Owner kind.
    pub owner_kind: String,
    /// Owner name.
    pub owner_name: String,
}

/// Converts a HyperEvent; watermarks are skipped.
pub fn hyperevent_row(e: HyperEvent) -> Converted<HyperEventRow> {
    if e.kind == Kind::Watermark {
        return Ok(Err(Skip::Watermark));
    }
    let event = e.event.unwrap_or_default();
    let actor = e.actor.unwrap_or_default();
    let pod = e.pod.unwrap_or_default();
    let node = if pod.node_name.is_empty() {
        event.host.clone()
    } else {
        pod.node_name
    };
    Ok(Ok(HyperEventRow {
        cluster: e.cluster,
        namespace: e.object.namespace,
        pod_name: e.object.name,
        pod_uid: e.object.uid,
        time: e.time_us,
        observed: e.observed_us,
        time_precision: match e.time_precision {
            TimePrecision::Micros => "micros",
            TimePrecision::Seconds => "seconds",
        },
        source: e.source.as_str(),
        kind: e.kind.as_str(),
        resource: e.object.resource,
        field_path: e.object.field_path,
        operations: e.operations,
        event_type: event.type_,
        reason: event.reason,
        message: event.message,
        count: event.count,
        component: event.component,
        host: event.host,
        first_seen: event.first_us,
        user: actor.user,
        user_agent: actor.user_agent,
        verb: e.verb,
        response_code: e.response_code,
        response_message: e.response_message,
        dedup_id: e.dedup_id,
        node,
        pod_phase: pod.phase,
        owner_kind: pod.owner_kind,
        owner_name: pod.owner_name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lunettes_schemas::Action;

    fn window(width: WindowWidth, start_us: i64) -> WindowRow {
        WindowRow {
            id: "w".into(),
            version: 2,
            shard: 3,
            width,
            window_start_us: start_us,
            cluster: "c".into(),
            namespace: "n".into(),
            action: Action::Create,
            total: 5,
            success: 4,
            fail: 1,
            kill: 0,
            api_failed: 0,
            abandoned: 0,
            codes: BTreeMap::from([("ImagePullBackOff".to_string(), 1)]),
        }
    }

    #[test]
    fn windows_convert_to_seconds_and_skip_hours() {
        let row = window_row(window(WindowWidth::Minute, 1_700_000_040_000_000))
            .unwrap()
            .unwrap();
        assert_eq!(row.window_start, 1_700_000_040);
        assert_eq!(row.action, "create");
        assert_eq!(
            window_row(window(WindowWidth::Hour, 0)).unwrap(),
            Err(Skip::HourWindow)
        );
        assert!(matches!(
            window_row(window(WindowWidth::Minute, -60_000_000)),
            Err(RowError::OutOfRange {
                field: "window_start_us",
                ..
            })
        ));
    }

    #[test]
    fn hyperevents_take_node_from_pod_then_event_and_skip_watermarks() {
        let row = hyperevent_row(HyperEvent::example()).unwrap().unwrap();
        assert_eq!(row.pod_uid, "18eddc1d-87e8-4f02-8a13-f1e52db52e61");
        assert_eq!(row.response_code, Some(201));
        assert_eq!(row.owner_kind, "ReplicaSet");
        assert_eq!(
            row.user,
            "system:serviceaccount:kube-system:replicaset-controller"
        );
        assert_eq!(
            hyperevent_row(HyperEvent::watermark("c", 1)).unwrap(),
            Err(Skip::Watermark)
        );
    }
}
