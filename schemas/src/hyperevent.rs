//! The HyperEvent: one normalized fact about a pod, whatever input it came from.
//!
//! Field order and names mirror `schemas/avro/hyperevent.avsc` exactly; the
//! Avro codec serializes this type through serde against that schema, so a
//! mismatch fails the codec tests rather than corrupting data silently.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a HyperEvent came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// kube-apiserver audit (log file, webhook batch, or GKE Cloud Logging).
    #[default]
    Audit,
    /// A Kubernetes Event object (`v1` or `events.k8s.io/v1`) read directly.
    Event,
    /// A Pod object snapshot or watch diff.
    Watch,
}

impl Source {
    /// The lowercase name used in JSON and Avro.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Audit => "audit",
            Source::Event => "event",
            Source::Watch => "watch",
        }
    }
}

/// What a HyperEvent carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A state change, described by [`HyperEvent::operations`].
    #[default]
    Operation,
    /// A Kubernetes Event about a pod, described by [`HyperEvent::event`].
    Event,
    /// The collector's event-time progress for [`HyperEvent::cluster`]: no
    /// record older than `time_us` minus the lateness bound will follow.
    Watermark,
}

impl Kind {
    /// The lowercase name used in JSON and Avro.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Operation => "operation",
            Kind::Event => "event",
            Kind::Watermark => "watermark",
        }
    }
}

/// Precision of a HyperEvent's `time_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TimePrecision {
    /// Microseconds (audit stage timestamps, `eventTime`).
    #[default]
    Micros,
    /// Whole seconds (condition `lastTransitionTime`, `startedAt`, `lastTimestamp`).
    Seconds,
}

/// The object a HyperEvent is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct ObjectRef {
    /// Resource with subresource: `pods`, `pods/status`, `pods/binding`,
    /// `pods/eviction`, `events`.
    pub resource: String,
    /// Namespace of the pod.
    pub namespace: String,
    /// Name of the pod.
    pub name: String,
    /// UID of the pod; empty when the input did not carry it.
    pub uid: String,
    /// For Events: `involvedObject.fieldPath` (names the container).
    #[serde(default)]
    pub field_path: String,
}

/// The Event part of a HyperEvent of kind [`Kind::Event`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct EventInfo {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Event reason, e.g. `FailedScheduling`, `Pulled`.
    pub reason: String,
    /// Event message as printed by the component.
    pub message: String,
    /// `count` or `series.count`, at least 1.
    pub count: i32,
    /// Reporting component (`reportingController` or `source.component`).
    pub component: String,
    /// Node the event came from (`source.host` or derived from `reportingInstance`).
    pub host: String,
    /// `firstTimestamp`, when known (microseconds).
    #[serde(default)]
    pub first_us: Option<i64>,
}

/// Who made the request (audit only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Actor {
    /// Authenticated user name.
    pub user: String,
    /// HTTP user agent.
    pub user_agent: String,
}

/// One container (or init container) of a pod, compacted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct ContainerFacts {
    /// Container name.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// CPU request in millicores (0 when unset).
    #[serde(default)]
    pub cpu_millis: i64,
    /// Memory request in bytes (0 when unset).
    #[serde(default)]
    pub memory_bytes: i64,
    /// The container has a readiness probe.
    #[serde(default)]
    pub has_readiness_probe: bool,
    /// The container has a postStart lifecycle hook.
    #[serde(default)]
    pub has_post_start: bool,
}

/// The compact pod facts later stages need, when the input carried a pod body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PodFacts {
    /// `spec.schedulerName`.
    #[serde(default)]
    pub scheduler_name: String,
    /// `spec.restartPolicy`.
    #[serde(default)]
    pub restart_policy: String,
    /// `spec.nodeName`.
    #[serde(default)]
    pub node_name: String,
    /// `status.podIP`.
    #[serde(default)]
    pub pod_ip: String,
    /// `status.phase`.
    #[serde(default)]
    pub phase: String,
    /// `metadata.creationTimestamp` (microseconds).
    #[serde(default)]
    pub creation_us: Option<i64>,
    /// `metadata.deletionTimestamp` (microseconds).
    #[serde(default)]
    pub deletion_us: Option<i64>,
    /// `metadata.deletionGracePeriodSeconds`.
    #[serde(default)]
    pub deletion_grace_s: Option<i64>,
    /// `spec.containers`.
    #[serde(default)]
    pub containers: Vec<ContainerFacts>,
    /// `spec.initContainers`.
    #[serde(default)]
    pub init_containers: Vec<ContainerFacts>,
    /// Kinds of `spec.volumes` (emptyDir, configMap, persistentVolumeClaim, ...), one per volume.
    #[serde(default)]
    pub volume_kinds: Vec<String>,
    /// Kind of the controlling owner reference.
    #[serde(default)]
    pub owner_kind: String,
    /// Name of the controlling owner reference.
    #[serde(default)]
    pub owner_name: String,
    /// `spec.hostNetwork`.
    #[serde(default)]
    pub host_network: bool,
    /// `spec.readinessGates[].conditionType`.
    #[serde(default)]
    pub readiness_gates: Vec<String>,
    /// `metadata.finalizers` remaining.
    #[serde(default)]
    pub finalizers: Vec<String>,
    /// Pod labels (values redacted when they look like credentials).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One normalized fact about a pod. See `schemas/avro/hyperevent.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HyperEvent {
    /// Cluster name.
    pub cluster: String,
    /// Input family.
    pub source: Source,
    /// Operation, Event or watermark.
    pub kind: Kind,
    /// Event time, microseconds since the Unix epoch (UTC).
    pub time_us: i64,
    /// Observation time, microseconds since the Unix epoch (UTC).
    pub observed_us: i64,
    /// Precision of `time_us`.
    pub time_precision: TimePrecision,
    /// The pod this is about.
    pub object: ObjectRef,
    /// Operation strings (see `docs/operations.md`).
    pub operations: Vec<String>,
    /// Event details for [`Kind::Event`].
    pub event: Option<EventInfo>,
    /// Requesting user (audit).
    pub actor: Option<Actor>,
    /// Audit verb.
    #[serde(default)]
    pub verb: String,
    /// HTTP response code of the request (audit).
    pub response_code: Option<i32>,
    /// Response status message for failed requests.
    #[serde(default)]
    pub response_message: String,
    /// Stable identity for de-duplication.
    pub dedup_id: String,
    /// Pod facts, when the input carried a pod body.
    pub pod: Option<PodFacts>,
}

impl HyperEvent {
    /// The Kafka key: the pod UID, or `namespace/name` when the UID is unknown.
    pub fn key(&self) -> String {
        if self.object.uid.is_empty() {
            format!("{}/{}", self.object.namespace, self.object.name)
        } else {
            self.object.uid.clone()
        }
    }

    /// A watermark record for `cluster` at `time_us`.
    pub fn watermark(cluster: &str, time_us: i64) -> Self {
        HyperEvent {
            cluster: cluster.to_string(),
            kind: Kind::Watermark,
            time_us,
            observed_us: time_us,
            dedup_id: format!("watermark:{cluster}:{time_us}"),
            ..Default::default()
        }
    }

    /// A small, fully populated record for documentation and tests.
    pub fn example() -> Self {
        let mut labels = BTreeMap::new();
        labels.insert("app".to_string(), "web".to_string());
        HyperEvent {
            cluster: "prod-1".into(),
            source: Source::Audit,
            kind: Kind::Operation,
            time_us: 1_700_000_000_123_456,
            observed_us: 1_700_000_000_123_999,
            time_precision: TimePrecision::Micros,
            object: ObjectRef {
                resource: "pods".into(),
                namespace: "default".into(),
                name: "web-5d567cc74c-ss4lb".into(),
                uid: "18eddc1d-87e8-4f02-8a13-f1e52db52e61".into(),
                field_path: String::new(),
            },
            operations: vec![
                "pod:create:success".into(),
                "schedule:default-scheduler:entry".into(),
            ],
            event: None,
            actor: Some(Actor {
                user: "system:serviceaccount:kube-system:replicaset-controller".into(),
                user_agent: "kube-controller-manager/v1.28.14".into(),
            }),
            verb: "create".into(),
            response_code: Some(201),
            response_message: String::new(),
            dedup_id: "7c8b2603-6a87-4764-b166-49dd7fa46f4c".into(),
            pod: Some(PodFacts {
                scheduler_name: "default-scheduler".into(),
                restart_policy: "Always".into(),
                creation_us: Some(1_700_000_000_000_000),
                containers: vec![ContainerFacts {
                    name: "web".into(),
                    image: "nginx:1.25".into(),
                    cpu_millis: 250,
                    memory_bytes: 128 << 20,
                    has_readiness_probe: true,
                    has_post_start: false,
                }],
                volume_kinds: vec!["projected".into()],
                owner_kind: "ReplicaSet".into(),
                owner_name: "web-5d567cc74c".into(),
                labels,
                ..Default::default()
            }),
        }
    }
}
