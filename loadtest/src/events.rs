//! Events about a pod, written the way their authors write them.
//!
//! The kubelet and controllers use core v1 Events through client-go's
//! recorder: identical repeats bump `count` with a patch, and a spam filter
//! drops a chatty pod's events. The scheduler uses `events.k8s.io/v1`:
//! `eventTime` in microseconds and `series` for repeats. A core v1 watch
//! sees both kinds in their core v1 form; that form is the watch line.

use crate::audit::{Actor, AuditRecord, ObjectRef};
use crate::json::{object, Obj};
use crate::pod::PodSim;

/// Kubelet event spam filter: burst of 25 per pod, one more per 5 minutes.
pub(crate) const EVENT_BURST: f64 = 25.0;
const EVENT_REFILL_US: f64 = 300_000_000.0;

/// Which API an event is written through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventApi {
    /// core v1, kubelet and controllers (count / firstTimestamp / lastTimestamp).
    CoreV1,
    /// events.k8s.io/v1, the scheduler (eventTime, series).
    EventsV1,
}

#[derive(Debug, Clone)]
pub(crate) struct EventState {
    api: EventApi,
    key: String,
    name: String,
    uid: String,
    reason: &'static str,
    etype: &'static str,
    /// The message as a JSON string literal, escaped once.
    message_json: String,
    field_path: Option<String>,
    action: &'static str,
    count: u32,
    first_us: i64,
    last_us: i64,
    involved: Involved,
}

#[derive(Debug, Clone)]
pub(crate) struct Involved {
    kind: &'static str,
    api_version: &'static str,
    name: String,
    uid: String,
    resource_version: String,
}

impl PodSim<'_> {
    // ----- events -------------------------------------------------------

    fn take_token(&mut self, t: i64) -> bool {
        let elapsed = (t - self.tokens_at).max(0) as f64;
        self.tokens = (self.tokens + elapsed / EVENT_REFILL_US).min(EVENT_BURST);
        self.tokens_at = t;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub(crate) fn pod_involved(&self) -> Involved {
        Involved {
            kind: "Pod",
            api_version: "v1",
            name: self.name.clone(),
            uid: self.uid.clone(),
            resource_version: self.resource_version.to_string(),
        }
    }

    /// A kubelet event about this pod at true time `t`. Identical repeats
    /// bump `count` with a patch; the spam filter may drop it.
    pub(crate) fn kubelet_event(
        &mut self,
        t: i64,
        etype: &'static str,
        reason: &'static str,
        message: String,
        container: Option<&str>,
        init: bool,
    ) {
        if !self.take_token(t) {
            return;
        }
        let field_path = container.map(|c| {
            format!(
                "spec.{}{{{c}}}",
                if init { "initContainers" } else { "containers" }
            )
        });
        let actor = self.kubelet_actor();
        let involved = self.pod_involved();
        self.core_event(
            t, actor, etype, reason, message, field_path, involved, "kubelet",
        );
    }

    /// An event by the pod's owning controller about its owner (FailedCreate).
    pub(crate) fn owner_event(&mut self, t: i64, reason: &'static str, message: String) {
        let controller = self.creator();
        let actor = self.controller_actor(controller);
        let involved = Involved {
            kind: self.owner_kind,
            api_version: if self.owner_kind == "Job" {
                "batch/v1"
            } else {
                "apps/v1"
            },
            name: self.owner_name.clone(),
            uid: self.owner_uid.clone(),
            resource_version: (self.rng.range(1_000_000, 9_999_999)).to_string(),
        };
        self.core_event(
            t, actor, "Warning", reason, message, None, involved, controller,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn core_event(
        &mut self,
        t: i64,
        actor: &Actor,
        etype: &'static str,
        reason: &'static str,
        message: String,
        field_path: Option<String>,
        involved: Involved,
        component: &str,
    ) {
        let key = format!("{}|{reason}|{message}|{:?}", involved.name, field_path);
        let t_req = t + self.rng.lognormal_us(3.0, 0.7, 0.5, 50.0);
        let stage = t_req + self.latency();
        let host = if component == "kubelet" {
            self.node_name().to_string()
        } else {
            String::new()
        };
        if let Some(i) = self.events.iter().position(|e| e.key == key) {
            let ev = &mut self.events[i];
            ev.count += 1;
            ev.last_us = t;
            let body = object(|o| {
                o.int("count", i64::from(ev.count)).secs("lastTimestamp", t);
            });
            let uri = format!(
                "/api/v1/namespaces/{}/events/{}",
                self.wl.namespace, ev.name
            );
            let ev = ev.clone();
            let rv = self.next_rv(stage);
            let obj = render_core_event(&ev, self.wl.namespace, &rv, component, &host);
            let rec = AuditRecord {
                audit_id: self.rng.uuid(),
                request_uri: uri,
                verb: "patch",
                actor,
                object_ref: event_ref(self.wl.namespace, &ev.name, None),
                code: 200,
                failure: None,
                request_object: Some(&body),
                response_object: Some(&obj),
                received_us: t_req,
                stage_us: stage,
                extra_annotations: &[],
            }
            .render();
            self.push(stage, rec, Some(obj));
            return;
        }
        let ev = EventState {
            api: EventApi::CoreV1,
            key,
            name: format!("{}.{:x}", involved.name, t * 1000 + self.rng.range(0, 999)),
            uid: self.rng.uuid(),
            reason,
            etype,
            message_json: lit(&message),
            field_path,
            action: "",
            count: 1,
            first_us: t,
            last_us: t,
            involved,
        };
        let rv = self.next_rv(stage);
        let request = render_core_event(&ev, self.wl.namespace, "", component, &host);
        let obj = render_core_event(&ev, self.wl.namespace, &rv, component, &host);
        let rec = AuditRecord {
            audit_id: self.rng.uuid(),
            request_uri: format!("/api/v1/namespaces/{}/events", self.wl.namespace),
            verb: "create",
            actor,
            object_ref: event_ref(self.wl.namespace, &ev.name, None),
            code: 201,
            failure: None,
            request_object: Some(&request),
            response_object: Some(&obj),
            received_us: t_req,
            stage_us: stage,
            extra_annotations: &[],
        }
        .render();
        self.events.push(ev);
        self.push(stage, rec, Some(obj));
    }

    /// A scheduler event through events.k8s.io/v1. The first repeat of an
    /// identical event patches `series` (count 2); later repeats only update
    /// the recorder's memory until its 30-minute heartbeat, as client-go does.
    pub(crate) fn scheduler_event(
        &mut self,
        t: i64,
        etype: &'static str,
        reason: &'static str,
        action: &'static str,
        note: String,
    ) {
        let key = format!("sched|{reason}|{note}");
        let actor = self.scheduler_actor();
        let t_req = t + self.rng.lognormal_us(2.0, 0.6, 0.3, 20.0);
        let stage = t_req + self.latency();
        let instance = self.cl.scheduler_instance.clone();
        if let Some(i) = self.events.iter().position(|e| e.key == key) {
            self.events[i].count += 1;
            self.events[i].last_us = t;
            if self.events[i].count != 2 {
                return;
            }
            let ev = self.events[i].clone();
            let body = object(|o| {
                o.obj("series", |s| {
                    s.int("count", 2).micros("lastObservedTime", t);
                });
            });
            let rv = self.next_rv(stage);
            let resp = render_events_v1(&ev, self.wl.namespace, &rv, &instance);
            let watch = render_core_from_v1(&ev, self.wl.namespace, &rv, &instance);
            let rec = AuditRecord {
                audit_id: self.rng.uuid(),
                request_uri: format!(
                    "/apis/events.k8s.io/v1/namespaces/{}/events/{}",
                    self.wl.namespace, ev.name
                ),
                verb: "patch",
                actor,
                object_ref: event_ref(self.wl.namespace, &ev.name, Some("events.k8s.io")),
                code: 200,
                failure: None,
                request_object: Some(&body),
                response_object: Some(&resp),
                received_us: t_req,
                stage_us: stage,
                extra_annotations: &[],
            }
            .render();
            self.push(stage, rec, Some(watch));
            return;
        }
        let ev = EventState {
            api: EventApi::EventsV1,
            key,
            name: format!("{}.{:x}", self.name, t * 1000 + self.rng.range(0, 999)),
            uid: self.rng.uuid(),
            reason,
            etype,
            message_json: lit(&note),
            field_path: None,
            action,
            count: 1,
            first_us: t,
            last_us: t,
            involved: self.pod_involved(),
        };
        let rv = self.next_rv(stage);
        let request = render_events_v1(&ev, self.wl.namespace, "", &instance);
        let resp = render_events_v1(&ev, self.wl.namespace, &rv, &instance);
        let watch = render_core_from_v1(&ev, self.wl.namespace, &rv, &instance);
        let rec = AuditRecord {
            audit_id: self.rng.uuid(),
            request_uri: format!(
                "/apis/events.k8s.io/v1/namespaces/{}/events",
                self.wl.namespace
            ),
            verb: "create",
            actor,
            object_ref: event_ref(self.wl.namespace, &ev.name, Some("events.k8s.io")),
            code: 201,
            failure: None,
            request_object: Some(&request),
            response_object: Some(&resp),
            received_us: t_req,
            stage_us: stage,
            extra_annotations: &[],
        }
        .render();
        self.events.push(ev);
        self.push(stage, rec, Some(watch));
    }
}

fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    crate::json::push_str_lit(&mut out, s);
    out
}

fn event_ref<'a>(ns: &'a str, name: &'a str, group: Option<&'static str>) -> ObjectRef<'a> {
    ObjectRef {
        resource: "events",
        subresource: None,
        namespace: ns,
        name: Some(name),
        uid: None,
        api_group: group,
        api_version: "v1",
    }
}

fn write_event_meta(o: &mut Obj<'_>, ev: &EventState, ns: &str, rv: &str) {
    o.obj("metadata", |m| {
        m.id("name", &ev.name).id("namespace", ns);
        if rv.is_empty() {
            m.null("creationTimestamp");
        } else {
            m.id("uid", &ev.uid)
                .id("resourceVersion", rv)
                .secs("creationTimestamp", ev.first_us);
        }
    });
}

fn write_involved(o: &mut Obj<'_>, key: &str, ev: &EventState, ns: &str) {
    let inv = &ev.involved;
    o.obj(key, |r| {
        r.id("kind", inv.kind)
            .id("namespace", ns)
            .id("name", &inv.name)
            .id("uid", &inv.uid)
            .id("apiVersion", inv.api_version)
            .id("resourceVersion", &inv.resource_version)
            .opt_str("fieldPath", ev.field_path.as_deref());
    });
}

/// A core v1 Event object (`rv` empty: as sent in a create request).
fn render_core_event(ev: &EventState, ns: &str, rv: &str, component: &str, host: &str) -> String {
    debug_assert_eq!(ev.api, EventApi::CoreV1);
    object(|o| {
        o.id("kind", "Event").id("apiVersion", "v1");
        write_event_meta(o, ev, ns, rv);
        write_involved(o, "involvedObject", ev, ns);
        o.id("reason", ev.reason)
            .raw("message", &ev.message_json)
            .obj("source", |s| {
                s.id("component", component);
                if !host.is_empty() {
                    s.id("host", host);
                }
            })
            .secs("firstTimestamp", ev.first_us)
            .secs("lastTimestamp", ev.last_us)
            .int("count", i64::from(ev.count))
            .id("type", ev.etype)
            .null("eventTime")
            .id(
                "reportingComponent",
                if component == "kubelet" {
                    "kubelet"
                } else {
                    ""
                },
            )
            .id("reportingInstance", host);
    })
}

/// An events.k8s.io/v1 Event object.
fn render_events_v1(ev: &EventState, ns: &str, rv: &str, instance: &str) -> String {
    object(|o| {
        o.id("kind", "Event").id("apiVersion", "events.k8s.io/v1");
        write_event_meta(o, ev, ns, rv);
        o.micros("eventTime", ev.first_us);
        if ev.count >= 2 {
            o.obj("series", |s| {
                s.int("count", i64::from(ev.count))
                    .micros("lastObservedTime", ev.last_us);
            });
        }
        o.id("reportingController", "default-scheduler")
            .id("reportingInstance", instance)
            .id("action", ev.action)
            .id("reason", ev.reason);
        write_involved(o, "regarding", ev, ns);
        o.raw("note", &ev.message_json).id("type", ev.etype);
    })
}

/// The same events.k8s.io/v1 Event as a core v1 watch returns it.
fn render_core_from_v1(ev: &EventState, ns: &str, rv: &str, instance: &str) -> String {
    object(|o| {
        o.id("kind", "Event").id("apiVersion", "v1");
        write_event_meta(o, ev, ns, rv);
        write_involved(o, "involvedObject", ev, ns);
        o.id("reason", ev.reason)
            .raw("message", &ev.message_json)
            .obj("source", |_| {})
            .null("firstTimestamp")
            .null("lastTimestamp")
            .id("type", ev.etype)
            .micros("eventTime", ev.first_us);
        if ev.count >= 2 {
            o.obj("series", |s| {
                s.int("count", i64::from(ev.count))
                    .micros("lastObservedTime", ev.last_us);
            });
        }
        o.id("action", ev.action)
            .id("reportingComponent", "default-scheduler")
            .id("reportingInstance", instance);
    })
}
