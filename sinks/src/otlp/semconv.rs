//! Attribute names: the OpenTelemetry Kubernetes semantic conventions, plus
//! our own `lunettes.*` namespace, and the mapping from the engine's span
//! attributes onto them.
//!
//! Backends (Jaeger, Tempo, an OTel Collector's k8sattributes-aware
//! pipelines) recognise the standard names, so a delivery trace lines up with
//! the pod's other telemetry. Engine attributes that have a standard meaning
//! are renamed to it (`container` -> `k8s.container.name`, `image` ->
//! `container.image.name` + `container.image.tags`, owner kind/name -> the
//! workload's `k8s.<kind>.name`); everything else goes under `lunettes.` so
//! it can never collide with a future standard name.

use lunettes_schemas::SpanRecord;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};

use super::request_builder::kv;

/// Semantic-conventions schema the attribute names follow.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.26.0";
/// Instrumentation scope name.
pub const SCOPE_NAME: &str = "lunettes";
/// `service.name`.
pub const SERVICE_NAME: &str = "service.name";
/// Value of `service.name` for every exported span.
pub const SERVICE_NAME_VALUE: &str = "lunettes";
/// `k8s.cluster.name`.
pub const K8S_CLUSTER_NAME: &str = "k8s.cluster.name";
/// `k8s.namespace.name`.
pub const K8S_NAMESPACE_NAME: &str = "k8s.namespace.name";
/// `k8s.pod.name`.
pub const K8S_POD_NAME: &str = "k8s.pod.name";
/// `k8s.pod.uid`.
pub const K8S_POD_UID: &str = "k8s.pod.uid";
/// `k8s.node.name`.
pub const K8S_NODE_NAME: &str = "k8s.node.name";
/// `k8s.container.name`.
pub const K8S_CONTAINER_NAME: &str = "k8s.container.name";
/// `container.image.name`.
pub const CONTAINER_IMAGE_NAME: &str = "container.image.name";
/// `container.image.tags`.
pub const CONTAINER_IMAGE_TAGS: &str = "container.image.tags";
/// `k8s.replicaset.name`.
pub const K8S_REPLICASET_NAME: &str = "k8s.replicaset.name";
/// `k8s.deployment.name`.
pub const K8S_DEPLOYMENT_NAME: &str = "k8s.deployment.name";
/// `k8s.statefulset.name`.
pub const K8S_STATEFULSET_NAME: &str = "k8s.statefulset.name";
/// `k8s.daemonset.name`.
pub const K8S_DAEMONSET_NAME: &str = "k8s.daemonset.name";
/// `k8s.job.name`.
pub const K8S_JOB_NAME: &str = "k8s.job.name";
/// `k8s.cronjob.name`.
pub const K8S_CRONJOB_NAME: &str = "k8s.cronjob.name";
/// Controlling owner kind, as Kubernetes spells it.
pub const LUNETTES_OWNER_KIND: &str = "lunettes.owner.kind";
/// Controlling owner name.
pub const LUNETTES_OWNER_NAME: &str = "lunettes.owner.name";
/// Delivery verdict (root span).
pub const LUNETTES_RESULT: &str = "lunettes.result";
/// Diagnosis code (root span of a non-successful delivery).
pub const LUNETTES_CODE: &str = "lunettes.code";
/// Who owns the span's time: `k8s`, `custom` or `others`.
pub const LUNETTES_SPAN_OWNER: &str = "lunettes.span.owner";
/// Span instance (container, image or finalizer name).
pub const LUNETTES_SPAN_INSTANCE: &str = "lunettes.span.instance";
/// Id of the delivery the span belongs to.
pub const LUNETTES_DELIVERY_ID: &str = "lunettes.delivery.id";
/// Set when the span's end was clamped to its start.
pub const LUNETTES_CLAMPED: &str = "lunettes.clamped";

/// Engine attribute keys that carry the controlling owner.
const OWNER_KIND_KEYS: [&str; 3] = ["owner_kind", "owner.kind", "lunettes.owner.kind"];
const OWNER_NAME_KEYS: [&str; 3] = ["owner_name", "owner.name", "lunettes.owner.name"];
/// Engine attribute keys that carry the pod-template-hash label, when known.
const TEMPLATE_HASH_KEYS: [&str; 2] = ["pod-template-hash", "pod_template_hash"];

/// Span attributes after mapping, and the workload attributes found.
#[derive(Debug, Default)]
pub struct MappedAttributes {
    /// Attributes for the span.
    pub span: Vec<KeyValue>,
    /// Workload attributes (`k8s.<kind>.name`, `lunettes.owner.*`).
    pub workload: Vec<KeyValue>,
    /// Whether a diagnosis code attribute was among them.
    pub has_code: bool,
}

/// Maps the engine's attributes of `record` (sorted by key, so the output
/// order is deterministic).
pub fn map_span_attributes(record: &SpanRecord) -> MappedAttributes {
    let mut out = MappedAttributes::default();
    let mut owner_kind = None;
    let mut owner_name = None;
    let mut template_hash = None;
    for (key, value) in &record.attributes {
        let key = key.as_str();
        if OWNER_KIND_KEYS.contains(&key) {
            owner_kind = Some(value.as_str());
            continue;
        }
        if OWNER_NAME_KEYS.contains(&key) {
            owner_name = Some(value.as_str());
            continue;
        }
        if TEMPLATE_HASH_KEYS.contains(&key) {
            template_hash = Some(value.as_str());
            continue;
        }
        match key {
            "container" | "container_name" => out.span.push(kv(K8S_CONTAINER_NAME, value)),
            "image" => push_image(&mut out.span, value),
            "result" => out.span.push(kv(LUNETTES_RESULT, value)),
            "code" => {
                out.has_code = true;
                out.span.push(kv(LUNETTES_CODE, value));
            }
            LUNETTES_CODE => {
                out.has_code = true;
                out.span.push(kv(LUNETTES_CODE, value));
            }
            k if k.starts_with("k8s.")
                || k.starts_with("container.")
                || k.starts_with("lunettes.") =>
            {
                out.span.push(kv(k, value))
            }
            k => out.span.push(kv(&format!("lunettes.{k}"), value)),
        }
    }
    if let (Some(kind), Some(name)) = (owner_kind, owner_name) {
        if !kind.is_empty() && !name.is_empty() {
            out.workload = workload_attributes(kind, name, template_hash);
        }
    }
    out
}

/// `container.image.name` (repository) and `container.image.tags` (the tag)
/// from an image reference such as `registry:5000/team/app:1.2@sha256:..`.
fn push_image(attrs: &mut Vec<KeyValue>, reference: &str) {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match without_digest[last_slash..].rfind(':') {
        Some(i) => (
            &without_digest[..last_slash + i],
            Some(&without_digest[last_slash + i + 1..]),
        ),
        None => (without_digest, None),
    };
    attrs.push(kv(CONTAINER_IMAGE_NAME, name));
    if let Some(tag) = tag.filter(|t| !t.is_empty()) {
        attrs.push(KeyValue {
            key: CONTAINER_IMAGE_TAGS.to_string(),
            value: Some(AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(any_value::Value::StringValue(tag.to_string())),
                    }],
                })),
            }),
            ..Default::default()
        });
    }
}

/// Workload attributes of a pod owned by `kind`/`name`.
///
/// A ReplicaSet created by a Deployment is named `<deployment>-<pod-template-hash>`;
/// the Deployment name is the ReplicaSet name without that suffix. With the
/// hash known it is stripped exactly; otherwise the last `-` segment is
/// stripped when it looks like a template hash (Kubernetes' safe-encoding
/// alphabet, no vowels, 5 to 10 characters). A Job named
/// `<cronjob>-<minutes since epoch>` gives `k8s.cronjob.name` the same way.
pub fn workload_attributes(kind: &str, name: &str, template_hash: Option<&str>) -> Vec<KeyValue> {
    let mut attrs = vec![kv(LUNETTES_OWNER_KIND, kind), kv(LUNETTES_OWNER_NAME, name)];
    match kind {
        "ReplicaSet" => {
            attrs.push(kv(K8S_REPLICASET_NAME, name));
            if let Some(deployment) = deployment_of_replicaset(name, template_hash) {
                attrs.push(kv(K8S_DEPLOYMENT_NAME, deployment));
            }
        }
        "StatefulSet" => attrs.push(kv(K8S_STATEFULSET_NAME, name)),
        "DaemonSet" => attrs.push(kv(K8S_DAEMONSET_NAME, name)),
        "Job" => {
            attrs.push(kv(K8S_JOB_NAME, name));
            if let Some((cronjob, suffix)) = name.rsplit_once('-') {
                // CronJob jobs are suffixed with the scheduled time in minutes
                // since the epoch: 8 digits until the 22nd century.
                if !cronjob.is_empty()
                    && suffix.len() >= 8
                    && suffix.bytes().all(|b| b.is_ascii_digit())
                {
                    attrs.push(kv(K8S_CRONJOB_NAME, cronjob));
                }
            }
        }
        _ => {}
    }
    attrs
}

/// The Deployment a ReplicaSet belongs to, when its name says so.
pub fn deployment_of_replicaset<'a>(name: &'a str, template_hash: Option<&str>) -> Option<&'a str> {
    let (prefix, suffix) = name.rsplit_once('-')?;
    if prefix.is_empty() {
        return None;
    }
    let matches = match template_hash {
        Some(hash) if !hash.is_empty() => suffix == hash,
        _ => {
            // k8s.io/apimachinery rand.SafeEncodeString alphabet.
            const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
            (5..=10).contains(&suffix.len()) && suffix.bytes().all(|b| SAFE.contains(&b))
        }
    };
    matches.then_some(prefix)
}
