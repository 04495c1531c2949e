//! Turning rows into answers: the pod report, list lines, verdicts, deadlines
//! and distribution buckets.
//!
//! Pure (rows and `now` in, model out) so the merging rules are tested
//! without ClickHouse. The one rule that needs the SLO configuration is the
//! in-progress deadline: it is computed with the engine's own
//! [`SloConfig::slo_for`], so the API and the engine cannot drift apart on
//! what a namespace's SLO is.

use std::collections::{BTreeMap, BTreeSet};

use lunettes_processor::SloConfig;
use lunettes_schemas::time::format_rfc3339_micros;

use crate::model::{Bucket, Deadline, PodFacts, PodReport, PodSummary, Span, Verdict};
use crate::store::{BucketRow, DeliveryRow, EventRow, PodKeyRow, SpanRow};
use crate::timeline;

/// Everything read from the store about one pod.
#[derive(Debug, Clone)]
pub struct PodData {
    /// The incarnation answered about.
    pub key: PodKeyRow,
    /// Other incarnations of the same namespace/name.
    pub others: Vec<PodKeyRow>,
    /// Its deliveries (latest versions).
    pub deliveries: Vec<DeliveryRow>,
    /// Its events, oldest first.
    pub events: Vec<EventRow>,
    /// More events exist than were read.
    pub events_truncated: bool,
    /// Its spans.
    pub spans: Vec<SpanRow>,
}

/// The operation that starts a create delivery.
const CREATE_OP: &str = "pod:create:success";

/// A verdict row as the API shows it.
pub fn verdict(d: &DeliveryRow) -> Verdict {
    let phases_ms = [
        ("schedule", d.schedule_ms),
        ("image_pull", d.image_pull_ms),
        ("sandbox", d.sandbox_ms),
        ("init", d.init_ms),
        ("container_start", d.container_start_ms),
        ("readiness", d.readiness_ms),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect();
    Verdict {
        id: d.id.clone(),
        version: d.version,
        action: d.action.clone(),
        result: d.result.clone(),
        code: d.code.clone(),
        sub_reason: d.sub_reason.clone(),
        summary: d.summary.clone(),
        created_at: format_rfc3339_micros(d.created_at),
        finished_at: d.finished_at.map(format_rfc3339_micros),
        decided_at: format_rfc3339_micros(d.decided_at),
        deadline: d.deadline.map(format_rfc3339_micros),
        slo_ms: d.slo_ms,
        slo_class: d.slo_class.clone(),
        sli_ms: d.sli_ms,
        k8s_sli_ms: d.k8s_sli_ms,
        phases_ms,
        flags: d.flags.clone(),
        trace_id: d.trace_id.clone(),
        is_job: d.is_job,
    }
}

/// The create delivery of a pod, if decided (the newest one if several).
pub fn create_delivery(deliveries: &[DeliveryRow]) -> Option<&DeliveryRow> {
    deliveries
        .iter()
        .filter(|d| d.action == "create")
        .max_by_key(|d| (d.created_at, d.version))
}

fn deadline_at(
    created_us: i64,
    at_us: i64,
    slo_ms: i64,
    class: &str,
    source: &str,
    now_us: i64,
) -> Deadline {
    Deadline {
        at: format_rfc3339_micros(at_us),
        created_at: format_rfc3339_micros(created_us),
        slo_ms,
        slo_class: class.to_string(),
        source: source.to_string(),
        passed: at_us <= now_us,
        remaining_ms: (at_us - now_us) / 1_000,
    }
}

/// The deadline of a create delivery still in progress: the create time
/// (the `pod:create:success` event, else the first event) plus the SLO the
/// engine would choose for the namespace. `None` for best-effort classes or
/// without events. Pod specs are not stored with the events, so the class is
/// the namespace's override or `typical`; init-container time, which the
/// engine adds to the deadline, is not known before the verdict.
pub fn estimate_deadline(
    namespace: &str,
    events: &[EventRow],
    slo: &SloConfig,
    now_us: i64,
) -> Option<Deadline> {
    let created = events
        .iter()
        .filter(|e| e.operations.iter().any(|op| op == CREATE_OP))
        .map(|e| e.time_us)
        .min()
        .or_else(|| events.iter().map(|e| e.time_us).min())?;
    let (class, slo_us) = slo.slo_for(namespace, None);
    let slo_us = slo_us?;
    Some(deadline_at(
        created,
        created + slo_us,
        slo_us / 1_000,
        class.as_str(),
        "estimate",
        now_us,
    ))
}

fn span(s: &SpanRow) -> Span {
    let end = s.start_us + (s.duration_ns / 1_000) as i64;
    Span {
        name: s.name.clone(),
        instance: s.instance.clone(),
        trace_id: s.trace_id.clone(),
        span_id: s.span_id.clone(),
        parent_span_id: s.parent_span_id.clone(),
        start: format_rfc3339_micros(s.start_us),
        end: format_rfc3339_micros(end),
        duration_ms: (s.duration_ns / 1_000_000) as i64,
        owner: s.owner.clone(),
        status: s.status.clone(),
        status_message: s.status_message.clone(),
        attributes: s
            .attr_keys
            .iter()
            .cloned()
            .zip(s.attr_values.iter().cloned())
            .collect(),
    }
}

fn first_non_empty<'a>(candidates: impl IntoIterator<Item = &'a str>) -> String {
    candidates
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_default()
        .to_string()
}

fn facts(data: &PodData, create: Option<&DeliveryRow>) -> PodFacts {
    let k = &data.key;
    let any_delivery = create.or(data.deliveries.first());
    let last_event = |f: fn(&EventRow) -> &str| {
        data.events
            .iter()
            .rev()
            .map(f)
            .find(|s| !s.is_empty())
            .unwrap_or("")
    };
    let mut images = BTreeSet::new();
    for s in &data.spans {
        if let Some(i) = s
            .attr_keys
            .iter()
            .position(|k| k == "image")
            .and_then(|i| s.attr_values.get(i))
        {
            images.insert(i.clone());
        }
    }
    for e in &data.events {
        for i in timeline::images_in_message(&e.message) {
            images.insert(i.to_string());
        }
    }
    PodFacts {
        cluster: k.cluster.clone(),
        namespace: k.namespace.clone(),
        name: k.name.clone(),
        uid: k.uid.clone(),
        node: first_non_empty([
            any_delivery.map_or("", |d| d.node.as_str()),
            last_event(|e| &e.node),
        ]),
        ip: first_non_empty(data.deliveries.iter().map(|d| d.pod_ip.as_str())),
        owner_kind: first_non_empty([
            any_delivery.map_or("", |d| d.owner_kind.as_str()),
            last_event(|e| &e.owner_kind),
        ]),
        owner_name: first_non_empty([
            any_delivery.map_or("", |d| d.owner_name.as_str()),
            last_event(|e| &e.owner_name),
        ]),
        images: images.into_iter().collect(),
        phase: last_event(|e| &e.pod_phase).to_string(),
        first_seen: data
            .events
            .first()
            .map(|e| e.time_us)
            .or(Some(k.first_us))
            .map(format_rfc3339_micros),
        last_seen: data.events.last().map(|e| format_rfc3339_micros(e.time_us)),
    }
}

/// Builds the report about one pod.
pub fn pod_report(data: &PodData, slo: &SloConfig, errors_only: bool, now_us: i64) -> PodReport {
    let create = create_delivery(&data.deliveries);
    let deadline = match create {
        Some(d) => match (d.deadline, d.slo_ms) {
            (Some(at), Some(slo_ms)) => Some(deadline_at(
                d.created_at,
                at,
                slo_ms,
                &d.slo_class,
                "verdict",
                now_us,
            )),
            _ => None,
        },
        None => estimate_deadline(&data.key.namespace, &data.events, slo, now_us),
    };
    let mut seen = BTreeSet::new();
    let other_uids = data
        .others
        .iter()
        .filter(|o| !o.uid.is_empty() && o.uid != data.key.uid && seen.insert(o.uid.clone()))
        .map(|o| o.uid.clone())
        .collect();
    PodReport {
        now: format_rfc3339_micros(now_us),
        status: if create.is_some() {
            "decided"
        } else {
            "in_progress"
        }
        .to_string(),
        pod: facts(data, create),
        verdict: create.map(verdict),
        deliveries: data.deliveries.iter().map(verdict).collect(),
        deadline,
        phases: create.map(timeline::phases).unwrap_or_default(),
        timeline: timeline::build(&data.events, errors_only, data.events_truncated),
        spans: data.spans.iter().map(span).collect(),
        other_uids,
    }
}

/// One list line per pod: its create verdict if any, else its delete
/// verdict, else "in progress" (empty result).
pub fn summaries(
    keys: &[PodKeyRow],
    deliveries: &[DeliveryRow],
    fallback_node: &str,
) -> Vec<PodSummary> {
    let mut by_uid: BTreeMap<(&str, &str), Vec<DeliveryRow>> = BTreeMap::new();
    for d in deliveries {
        by_uid
            .entry((d.cluster.as_str(), d.uid.as_str()))
            .or_default()
            .push(d.clone());
    }
    keys.iter()
        .map(|k| {
            let ds = by_uid
                .get(&(k.cluster.as_str(), k.uid.as_str()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let d = create_delivery(ds).or(ds.iter().max_by_key(|d| d.decided_at));
            match d {
                Some(d) => summary_of(d),
                None => PodSummary {
                    cluster: k.cluster.clone(),
                    namespace: k.namespace.clone(),
                    name: k.name.clone(),
                    uid: k.uid.clone(),
                    node: fallback_node.to_string(),
                    ip: String::new(),
                    action: String::new(),
                    result: String::new(),
                    code: String::new(),
                    summary: String::new(),
                    created_at: format_rfc3339_micros(k.first_us),
                    decided_at: None,
                    sli_ms: None,
                },
            }
        })
        .collect()
}

/// A list line from a verdict.
pub fn summary_of(d: &DeliveryRow) -> PodSummary {
    PodSummary {
        cluster: d.cluster.clone(),
        namespace: d.namespace.clone(),
        name: d.name.clone(),
        uid: d.uid.clone(),
        node: d.node.clone(),
        ip: d.pod_ip.clone(),
        action: d.action.clone(),
        result: d.result.clone(),
        code: d.code.clone(),
        summary: d.summary.clone(),
        created_at: format_rfc3339_micros(d.created_at),
        decided_at: Some(format_rfc3339_micros(d.decided_at)),
        sli_ms: d.sli_ms,
    }
}

/// A distribution bucket.
pub fn bucket(r: &BucketRow) -> Bucket {
    Bucket {
        key: if r.dim == "all" {
            "(all)".to_string()
        } else {
            r.key.clone()
        },
        total: r.total,
        success: r.success,
        fail: r.fail,
        kill: r.kill,
        api_failed: r.api_failed,
        abandoned: r.abandoned,
        success_rate: (r.total > 0).then(|| r.success as f64 / r.total as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t: i64, ops: &[&str]) -> EventRow {
        EventRow {
            time_us: t,
            pod_uid: "u".into(),
            source: "audit".into(),
            kind: "operation".into(),
            resource: "pods".into(),
            operations: ops.iter().map(|s| s.to_string()).collect(),
            event_type: String::new(),
            reason: String::new(),
            message: String::new(),
            count: 0,
            component: String::new(),
            host: String::new(),
            user: String::new(),
            verb: String::new(),
            response_code: None,
            response_message: String::new(),
            node: String::new(),
            pod_phase: String::new(),
            owner_kind: String::new(),
            owner_name: String::new(),
        }
    }

    #[test]
    fn estimate_uses_the_create_event_and_the_engine_slo() {
        let slo = SloConfig::from_json(r#"{"UserOnlineConfigMap": {"fast": "30s"}}"#).unwrap();
        let evs = [
            event(5_000_000, &["schedule:binding:success"]),
            event(6_000_000, &["pod:create:success"]),
        ];
        let d = estimate_deadline("web", &evs, &slo, 10_000_000).unwrap();
        assert_eq!(d.at, format_rfc3339_micros(96_000_000));
        assert_eq!((d.slo_ms, d.slo_class.as_str()), (90_000, "typical"));
        assert_eq!(d.source, "estimate");
        assert!(!d.passed);
        assert_eq!(d.remaining_ms, 86_000);
        let d = estimate_deadline("fast", &evs, &slo, 40_000_000).unwrap();
        assert_eq!(d.at, format_rfc3339_micros(36_000_000));
        assert_eq!(d.slo_class, "UserOnline");
        assert!(d.passed);
        assert_eq!(d.remaining_ms, -4_000);
        // No create event seen (collector started late): the first event counts.
        let d = estimate_deadline("web", &evs[..1], &slo, 0).unwrap();
        assert_eq!(d.created_at, format_rfc3339_micros(5_000_000));
        assert!(estimate_deadline("web", &[], &slo, 0).is_none());
    }

    #[test]
    fn bucket_rate() {
        let mut r = BucketRow {
            dim: "all".into(),
            key: String::new(),
            total: 4,
            success: 3,
            fail: 1,
            kill: 0,
            api_failed: 0,
            abandoned: 0,
        };
        let b = bucket(&r);
        assert_eq!(b.key, "(all)");
        assert_eq!(b.success_rate, Some(0.75));
        r.total = 0;
        assert_eq!(bucket(&r).success_rate, None);
    }
}
