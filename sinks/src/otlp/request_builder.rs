//! SpanRecords to OTLP `ExportTraceServiceRequest`s (pure, no I/O).
//!
//! The engine already gives every span a deterministic trace id, span id and
//! parent id in hex; here they become the 16- and 8-byte OTLP ids unchanged,
//! so a replay exports the very same ids and a backend sees one trace per
//! delivery, never a copy with fresh random ids (the original's weakness).
//!
//! Attribute placement follows the OpenTelemetry Kubernetes semantic
//! conventions: what identifies the pod (`k8s.cluster.name`,
//! `k8s.namespace.name`, `k8s.pod.name`, `k8s.pod.uid`, `k8s.node.name`, the
//! owning workload) describes the *entity that produced the telemetry*, so it
//! goes on the Resource, one Resource per pod by default
//! ([`ResourceScope::Pod`]). Per-container facts (`k8s.container.name`,
//! `container.image.name`) differ between the spans of one pod, so they stay
//! on the spans. With [`ResourceScope::Cluster`] the Resource is one per
//! cluster and the pod attributes move onto every span, for backends that
//! index span attributes better than resource attributes.
//!
//! Records are converted one by one ([`convert`]) so a malformed record is
//! rejected alone, naming the problem, and its neighbours are still exported;
//! converted spans are then grouped by trace ([`build_requests`]) so a
//! delivery's root and children always travel in the same request.

use std::collections::{BTreeMap, HashMap};

use lunettes_schemas::{SpanOwner, SpanRecord, SpanStatus};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use serde::{Deserialize, Serialize};

use super::error::InvalidSpan;
use super::semconv;

/// How spans are grouped under OTLP Resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResourceScope {
    /// One Resource per (cluster, namespace, pod): pod attributes are
    /// resource attributes, as the semantic conventions intend.
    #[default]
    Pod,
    /// One Resource per cluster: pod attributes are span attributes.
    Cluster,
}

/// One converted span, with what is needed to place it in a request.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSpan {
    /// The trace id bytes (grouping key).
    pub trace_id: [u8; 16],
    /// Resource this span belongs under.
    pub resource: ResourceKey,
    /// Workload attributes learned from this span (owner kind/name), merged
    /// into its Resource (pod scope) or kept on the span (cluster scope).
    pub workload: Vec<KeyValue>,
    /// The OTLP span.
    pub span: Span,
}

/// Identity of an OTLP Resource: the cluster, and with [`ResourceScope::Pod`]
/// the pod (namespace, name, uid, node).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    /// `k8s.cluster.name`.
    pub cluster: String,
    /// `k8s.namespace.name` (empty with cluster scope).
    pub namespace: String,
    /// `k8s.pod.uid` (empty with cluster scope).
    pub pod_uid: String,
    /// `k8s.pod.name` (empty with cluster scope).
    pub pod_name: String,
    /// `k8s.node.name` (empty with cluster scope or when unscheduled).
    pub node: String,
}

impl ResourceKey {
    fn attributes(&self) -> Vec<KeyValue> {
        let mut attrs = vec![kv(semconv::SERVICE_NAME, semconv::SERVICE_NAME_VALUE)];
        push_non_empty(&mut attrs, semconv::K8S_CLUSTER_NAME, &self.cluster);
        push_non_empty(&mut attrs, semconv::K8S_NAMESPACE_NAME, &self.namespace);
        push_non_empty(&mut attrs, semconv::K8S_POD_NAME, &self.pod_name);
        push_non_empty(&mut attrs, semconv::K8S_POD_UID, &self.pod_uid);
        push_non_empty(&mut attrs, semconv::K8S_NODE_NAME, &self.node);
        attrs
    }
}

/// One request ready to send, and what it holds (for metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRequest {
    /// The OTLP request.
    pub request: ExportTraceServiceRequest,
    /// Spans in the request.
    pub spans: usize,
    /// Distinct traces in the request.
    pub traces: usize,
}

/// A string attribute.
pub(crate) fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn push_non_empty(attrs: &mut Vec<KeyValue>, key: &str, value: &str) {
    if !value.is_empty() {
        attrs.push(kv(key, value));
    }
}

/// Decodes exactly `N` bytes of hex (either case).
fn hex_id<const N: usize>(field: &'static str, value: &str) -> Result<[u8; N], InvalidSpan> {
    let bad = |problem: &'static str| InvalidSpan::BadId {
        field,
        value: value.to_string(),
        problem,
    };
    let raw = value.as_bytes();
    if raw.len() != 2 * N {
        return Err(bad(if N == 16 {
            "expected 32 hex characters"
        } else {
            "expected 16 hex characters"
        }));
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(bad("not hexadecimal")),
    };
    let mut out = [0u8; N];
    for (i, pair) in raw.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    if out.iter().all(|b| *b == 0) {
        // OTLP calls an all-zero id invalid; backends drop such spans.
        return Err(bad("all zeros is not a valid OTLP id"));
    }
    Ok(out)
}

fn unix_nanos(field: &'static str, micros: i64) -> Result<u64, InvalidSpan> {
    u64::try_from(micros)
        .ok()
        .and_then(|us| us.checked_mul(1_000))
        .ok_or(InvalidSpan::BadTime { field, micros })
}

/// Converts one record; a record that cannot be exported faithfully is
/// rejected with the reason, never guessed at.
pub fn convert(record: &SpanRecord, scope: ResourceScope) -> Result<OtlpSpan, InvalidSpan> {
    let trace_id = hex_id::<16>("trace_id", &record.trace_id)?;
    let span_id = hex_id::<8>("span_id", &record.span_id)?;
    let parent_span_id = if record.parent_span_id.is_empty() {
        Vec::new()
    } else {
        hex_id::<8>("parent_span_id", &record.parent_span_id)?.to_vec()
    };
    if record.cluster.is_empty() {
        return Err(InvalidSpan::MissingField { field: "cluster" });
    }
    let start = unix_nanos("start_us", record.start_us)?;
    let mut end = unix_nanos("end_us", record.end_us)?;
    let mut attributes = Vec::with_capacity(record.attributes.len() + 8);
    if end < start {
        // Kubernetes timestamps come from several clocks; keep the span (its
        // start is right) and say that its end was clamped.
        end = start;
        attributes.push(kv(semconv::LUNETTES_CLAMPED, "end_before_start"));
    }

    let is_root = parent_span_id.is_empty();
    let resource = match scope {
        ResourceScope::Pod => ResourceKey {
            cluster: record.cluster.to_string(),
            namespace: record.namespace.to_string(),
            pod_uid: record.pod_uid.to_string(),
            pod_name: record.pod_name.to_string(),
            node: record.node.to_string(),
        },
        ResourceScope::Cluster => {
            push_non_empty(
                &mut attributes,
                semconv::K8S_NAMESPACE_NAME,
                &record.namespace,
            );
            push_non_empty(&mut attributes, semconv::K8S_POD_NAME, &record.pod_name);
            push_non_empty(&mut attributes, semconv::K8S_POD_UID, &record.pod_uid);
            push_non_empty(&mut attributes, semconv::K8S_NODE_NAME, &record.node);
            ResourceKey {
                cluster: record.cluster.to_string(),
                namespace: String::new(),
                pod_uid: String::new(),
                pod_name: String::new(),
                node: String::new(),
            }
        }
    };

    push_non_empty(
        &mut attributes,
        semconv::LUNETTES_DELIVERY_ID,
        &record.delivery_id,
    );
    attributes.push(kv(semconv::LUNETTES_SPAN_OWNER, owner_str(record.owner)));
    push_non_empty(
        &mut attributes,
        semconv::LUNETTES_SPAN_INSTANCE,
        &record.instance,
    );
    let mapped = semconv::map_span_attributes(record);
    attributes.extend(mapped.span);
    if is_root && record.status == SpanStatus::Error && !mapped.has_code {
        // The engine puts the diagnosis code in the status message of a
        // failed delivery's root span; make it filterable as an attribute too.
        push_non_empty(
            &mut attributes,
            semconv::LUNETTES_CODE,
            &record.status_message,
        );
    }
    let workload = mapped.workload;
    if scope == ResourceScope::Cluster {
        attributes.extend(workload.iter().cloned());
    }

    let status = match record.status {
        SpanStatus::Ok => Status {
            code: status::StatusCode::Ok as i32,
            message: String::new(),
        },
        SpanStatus::Error => Status {
            code: status::StatusCode::Error as i32,
            message: record.status_message.clone(),
        },
        SpanStatus::Unset => Status {
            code: status::StatusCode::Unset as i32,
            message: String::new(),
        },
    };

    Ok(OtlpSpan {
        trace_id,
        resource,
        workload,
        span: Span {
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            parent_span_id,
            // W3C "sampled", plus "has is_remote" with is_remote = false: the
            // parent of every child is in this very trace.
            flags: 0x0000_0001 | 0x0000_0100,
            name: record.name.clone(),
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            status: Some(status),
            ..Default::default()
        },
    })
}

fn owner_str(owner: SpanOwner) -> &'static str {
    match owner {
        SpanOwner::K8s => "k8s",
        SpanOwner::Custom => "custom",
        SpanOwner::Others => "others",
    }
}

/// The instrumentation scope every exported span is under.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: semconv::SCOPE_NAME.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..Default::default()
    }
}

/// Groups converted spans into requests of at most `max_spans` spans each
/// (a single trace larger than that still goes whole in one request).
///
/// All spans of a trace go in the same request, contiguous, in input order;
/// traces keep the order of their first span. Under each Resource the spans
/// sit in one ScopeSpans. The output is a pure function of the input, so a
/// replay of the same records builds byte-identical requests.
pub fn build_requests(spans: Vec<OtlpSpan>, max_spans: usize) -> Vec<TraceRequest> {
    let max_spans = max_spans.max(1);
    // Group by trace, keeping first-seen order.
    let mut order: Vec<[u8; 16]> = Vec::new();
    let mut by_trace: HashMap<[u8; 16], Vec<OtlpSpan>> = HashMap::new();
    for s in spans {
        by_trace
            .entry(s.trace_id)
            .or_insert_with(|| {
                order.push(s.trace_id);
                Vec::new()
            })
            .push(s);
    }

    let mut requests = Vec::new();
    let mut current = RequestAssembly::default();
    for trace_id in order {
        let trace = by_trace.remove(&trace_id).unwrap_or_default();
        if current.spans > 0 && current.spans + trace.len() > max_spans {
            requests.push(std::mem::take(&mut current).finish());
        }
        current.add_trace(trace);
    }
    if current.spans > 0 {
        requests.push(current.finish());
    }
    requests
}

/// Spans of one request, grouped by Resource in first-seen order.
#[derive(Default)]
struct RequestAssembly {
    resources: Vec<(ResourceKey, Vec<KeyValue>, Vec<Span>)>,
    index: BTreeMap<ResourceKey, usize>,
    spans: usize,
    traces: usize,
}

impl RequestAssembly {
    fn add_trace(&mut self, trace: Vec<OtlpSpan>) {
        self.traces += 1;
        for s in trace {
            self.spans += 1;
            let i = match self.index.get(&s.resource) {
                Some(i) => *i,
                None => {
                    let i = self.resources.len();
                    self.index.insert(s.resource.clone(), i);
                    self.resources.push((s.resource, Vec::new(), Vec::new()));
                    i
                }
            };
            let (key, workload, spans) = &mut self.resources[i];
            // Pod scope: the owner is a property of the pod. Spans of one pod
            // agree on it; the first value seen wins if they do not.
            if !key.pod_uid.is_empty() || !key.pod_name.is_empty() {
                for attr in s.workload {
                    if !workload.iter().any(|w| w.key == attr.key) {
                        workload.push(attr);
                    }
                }
            }
            spans.push(s.span);
        }
    }

    fn finish(self) -> TraceRequest {
        let scope = scope();
        let resource_spans = self
            .resources
            .into_iter()
            .map(|(key, workload, spans)| {
                let mut attributes = key.attributes();
                attributes.extend(workload);
                ResourceSpans {
                    resource: Some(Resource {
                        attributes,
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(scope.clone()),
                        spans,
                        schema_url: semconv::SCHEMA_URL.to_string(),
                    }],
                    schema_url: semconv::SCHEMA_URL.to_string(),
                }
            })
            .collect();
        TraceRequest {
            request: ExportTraceServiceRequest { resource_spans },
            spans: self.spans,
            traces: self.traces,
        }
    }
}

/// Splits a request into one request per trace (same resources and scope),
/// to find which trace a backend refuses when it refuses a whole request.
pub fn split_by_trace(request: &ExportTraceServiceRequest) -> Vec<TraceRequest> {
    let mut order: Vec<Vec<u8>> = Vec::new();
    let mut per_trace: HashMap<Vec<u8>, ExportTraceServiceRequest> = HashMap::new();
    for resource_spans in &request.resource_spans {
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                let req = per_trace.entry(span.trace_id.clone()).or_insert_with(|| {
                    order.push(span.trace_id.clone());
                    ExportTraceServiceRequest::default()
                });
                let same_resource = req
                    .resource_spans
                    .last()
                    .is_some_and(|r| r.resource == resource_spans.resource);
                if !same_resource {
                    req.resource_spans.push(ResourceSpans {
                        resource: resource_spans.resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: resource_spans.schema_url.clone(),
                    });
                }
                let target = req.resource_spans.last_mut().expect("pushed above");
                let same_scope = target
                    .scope_spans
                    .last()
                    .is_some_and(|s| s.scope == scope_spans.scope);
                if !same_scope {
                    target.scope_spans.push(ScopeSpans {
                        scope: scope_spans.scope.clone(),
                        spans: Vec::new(),
                        schema_url: scope_spans.schema_url.clone(),
                    });
                }
                target
                    .scope_spans
                    .last_mut()
                    .expect("pushed above")
                    .spans
                    .push(span.clone());
            }
        }
    }
    order
        .into_iter()
        .filter_map(|id| per_trace.remove(&id))
        .map(|request| {
            let spans = request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            TraceRequest {
                request,
                spans,
                traces: 1,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "request_builder_tests.rs"]
mod tests;
