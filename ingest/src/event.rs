//! Kubernetes Events (`v1` and `events.k8s.io/v1`) about pods.
//!
//! Events arrive three ways: read directly (a watch, `kubectl get events -o
//! yaml`, an EventList), inside audit records of `events` create/patch/update,
//! and in GKE's Cloud Logging export (`jsonPayload`). All three end here so
//! they produce identical HyperEvents, and the dedup id `<event uid>:<count>`
//! lets the engine drop the copy that arrives by a second route.
//!
//! Time: `series.lastObservedTime` > `eventTime` > `lastTimestamp` /
//! `deprecatedLastTimestamp` > `firstTimestamp` / `deprecatedFirstTimestamp` >
//! `metadata.creationTimestamp`. The v1 API fills `eventTime` only for events
//! written through `events.k8s.io` (microseconds), the others have whole
//! seconds; `time_precision` says which.

use lunettes_schemas::time::parse_rfc3339;
use lunettes_schemas::{Actor, EventInfo, HyperEvent, Kind, ObjectRef, Source, TimePrecision};

use crate::k8s::{non_empty, EventObject, S};
use crate::redact;

/// Where an Event came from, and what the carrying record adds.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventOrigin {
    pub source: Source,
    /// Observation time (audit time); the event time when `None`.
    pub observed_us: Option<i64>,
    pub actor: Option<Actor>,
    pub verb: String,
    pub response_code: Option<i32>,
}

/// The pod an event is about: (namespace, name, uid, fieldPath), or `None`
/// when it is about something else.
pub(crate) fn regarding_pod<'e>(
    ev: &'e EventObject<'_>,
) -> Option<(&'e str, &'e str, &'e str, &'e str)> {
    let r = ev.involved_object.as_ref().or(ev.regarding.as_ref())?;
    if r.kind.as_deref() != Some("Pod") {
        return None;
    }
    let ns = non_empty(&r.namespace)
        .or_else(|| ev.metadata.as_ref().and_then(|m| non_empty(&m.namespace)))
        .unwrap_or("");
    Some((
        ns,
        r.name.as_deref().unwrap_or(""),
        r.uid.as_deref().unwrap_or(""),
        r.field_path.as_deref().unwrap_or(""),
    ))
}

/// Builds the HyperEvent of an Event about a pod. `uid` is the pod uid
/// (possibly resolved by the caller). Returns `Ok(None)` when the event is not
/// about a pod.
pub(crate) fn to_hyper_event(
    cluster: &str,
    ev: &EventObject<'_>,
    uid: &str,
    origin: EventOrigin,
) -> Result<Option<HyperEvent>, String> {
    let Some((ns, name, _, field_path)) = regarding_pod(ev) else {
        return Ok(None);
    };
    let meta_created = ev
        .metadata
        .as_ref()
        .and_then(|m| m.creation_timestamp.as_ref());
    let series_last = ev
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref());
    let candidates: [Option<&S<'_>>; 7] = [
        series_last,
        ev.event_time.as_ref(),
        ev.last_timestamp.as_ref(),
        ev.deprecated_last_timestamp.as_ref(),
        ev.first_timestamp.as_ref(),
        ev.deprecated_first_timestamp.as_ref(),
        meta_created,
    ];
    let mut chosen = None;
    for c in candidates.into_iter().flatten() {
        if c.is_empty() {
            continue;
        }
        match parse_rfc3339(c) {
            Some(t) => {
                chosen = Some(t);
                break;
            }
            None => return Err(format!("event time {:?} is not RFC 3339", &**c)),
        }
    }
    let Some((time_us, precise)) = chosen else {
        return Err(
            "event has no eventTime, lastTimestamp, firstTimestamp or creationTimestamp".into(),
        );
    };
    let count = ev
        .series
        .as_ref()
        .and_then(|s| s.count)
        .or(ev.count)
        .or(ev.deprecated_count)
        .map(|c| c.0)
        .unwrap_or(1)
        .clamp(1, i64::from(i32::MAX)) as i32;
    let first_us = ev
        .first_timestamp
        .as_ref()
        .or(ev.deprecated_first_timestamp.as_ref())
        .or(if ev.series.is_some() {
            ev.event_time.as_ref()
        } else {
            None
        })
        .and_then(|s| parse_rfc3339(s))
        .map(|t| t.0);
    let component = non_empty(&ev.reporting_controller)
        .or_else(|| non_empty(&ev.reporting_component))
        .or_else(|| ev.source.as_ref().and_then(|s| non_empty(&s.component)))
        .or_else(|| {
            ev.deprecated_source
                .as_ref()
                .and_then(|s| non_empty(&s.component))
        })
        .unwrap_or("");
    let host = ev
        .source
        .as_ref()
        .and_then(|s| non_empty(&s.host))
        .or_else(|| {
            ev.deprecated_source
                .as_ref()
                .and_then(|s| non_empty(&s.host))
        })
        .or_else(|| {
            // The kubelet reports its node name as reportingInstance.
            if component == "kubelet" {
                non_empty(&ev.reporting_instance)
            } else {
                None
            }
        })
        .unwrap_or("");
    let message = non_empty(&ev.note)
        .or_else(|| non_empty(&ev.message))
        .unwrap_or("");
    let event_uid = ev
        .metadata
        .as_ref()
        .and_then(|m| non_empty(&m.uid))
        .map(str::to_string)
        .unwrap_or_else(|| {
            let m = ev.metadata.as_ref();
            format!(
                "{}/{}",
                m.and_then(|m| m.namespace.as_deref()).unwrap_or(ns),
                m.and_then(|m| m.name.as_deref()).unwrap_or("")
            )
        });
    Ok(Some(HyperEvent {
        cluster: cluster.to_string(),
        source: origin.source,
        kind: Kind::Event,
        time_us,
        observed_us: origin.observed_us.unwrap_or(time_us),
        time_precision: if precise {
            TimePrecision::Micros
        } else {
            TimePrecision::Seconds
        },
        object: ObjectRef {
            resource: "events".into(),
            namespace: ns.to_string(),
            name: name.to_string(),
            uid: uid.to_string(),
            field_path: field_path.to_string(),
        },
        operations: Vec::new(),
        event: Some(EventInfo {
            type_: ev.type_.as_deref().unwrap_or("").to_string(),
            reason: ev.reason.as_deref().unwrap_or("").to_string(),
            message: redact::scrub_message(message),
            count,
            component: component.to_string(),
            host: host.to_string(),
            first_us,
        }),
        actor: origin.actor,
        verb: origin.verb,
        response_code: origin.response_code,
        response_message: String::new(),
        dedup_id: format!("{event_uid}:{count}"),
        pod: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hyper(json: &str) -> HyperEvent {
        let ev: EventObject = serde_json::from_str(json).unwrap();
        let uid = regarding_pod(&ev).unwrap().2.to_string();
        to_hyper_event("c", &ev, &uid, EventOrigin::default())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn v1_event_time_priority_and_count() {
        let h = hyper(
            r#"{"metadata":{"uid":"e1","namespace":"default"},"involvedObject":{"kind":"Pod","name":"p","uid":"u1","fieldPath":"spec.containers{c}"},
            "reason":"BackOff","message":"Back-off restarting failed container","type":"Warning","count":5,
            "firstTimestamp":"2024-01-01T00:00:00Z","lastTimestamp":"2024-01-01T00:01:00+02:00",
            "source":{"component":"kubelet","host":"n1"}}"#,
        );
        assert_eq!(h.time_us, 1_704_067_260_000_000 - 7_200_000_000);
        assert_eq!(h.time_precision, TimePrecision::Seconds);
        assert_eq!(h.dedup_id, "e1:5");
        let e = h.event.unwrap();
        assert_eq!(
            (e.count, e.host.as_str(), e.component.as_str()),
            (5, "n1", "kubelet")
        );
        assert_eq!(e.first_us, Some(1_704_067_200_000_000));
        assert_eq!(h.object.field_path, "spec.containers{c}");
        assert_eq!(h.object.namespace, "default");
    }

    #[test]
    fn events_k8s_io_series() {
        let h = hyper(
            r#"{"apiVersion":"events.k8s.io/v1","metadata":{"uid":"e2"},"regarding":{"kind":"Pod","namespace":"ns","name":"p"},
            "reason":"FailedScheduling","note":"0/3 nodes are available","type":"Warning",
            "eventTime":"2024-01-01T00:00:00.123456Z","series":{"count":4,"lastObservedTime":"2024-01-01T00:05:00.654321Z"},
            "reportingController":"default-scheduler","reportingInstance":"default-scheduler-cp"}"#,
        );
        assert_eq!(h.time_us % 1_000_000, 654_321);
        assert_eq!(h.time_precision, TimePrecision::Micros);
        assert_eq!(h.dedup_id, "e2:4");
        let e = h.event.unwrap();
        assert_eq!(e.message, "0/3 nodes are available");
        assert_eq!(e.component, "default-scheduler");
        assert_eq!(e.host, "");
        assert_eq!(e.first_us.map(|t| t % 1_000_000), Some(123_456));
    }

    #[test]
    fn not_about_a_pod_and_no_time() {
        let ev: EventObject =
            serde_json::from_str(r#"{"involvedObject":{"kind":"Node","name":"n"}}"#).unwrap();
        assert!(to_hyper_event("c", &ev, "", EventOrigin::default())
            .unwrap()
            .is_none());
        let ev: EventObject =
            serde_json::from_str(r#"{"involvedObject":{"kind":"Pod","name":"n"}}"#).unwrap();
        assert!(to_hyper_event("c", &ev, "", EventOrigin::default()).is_err());
    }
}
