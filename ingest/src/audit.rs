//! kube-apiserver audit records about pods and their Events.
//!
//! The three audit forms we read (the `audit.k8s.io` Event of the log and
//! webhook backends, GKE's Cloud Logging `protoPayload`, and the Logstash CSV)
//! are first reduced to an [`AuditView`]; everything after that is shared.
//! Bodies stay as borrowed raw JSON until the resource says they matter, so
//! a Secret's or ConfigMap's body is never parsed at all.
//!
//! Extensions over the original (see `docs/operations.md`): status sent by PUT
//! gives the same operations as a patch; `pods/eviction` gives
//! `pod:eviction:success|failed`; a create answered 5xx is `pod:create:failed`
//! rather than dropped; a failed binding is `schedule:binding:failed`.

use lunettes_schemas::{Actor, HyperEvent, ObjectRef, Source};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::emit::{DedupStyle, Record};
use crate::error::Outcome;
use crate::event::{self, EventOrigin};
use crate::k8s::{non_empty, BindingObject, EventObject, PodObject};
use crate::ops::{self, MetaState, TimedOp};
use crate::pod;
use crate::redact;
use crate::state::Memory;

/// One audit record, whatever form it came in.
#[derive(Debug, Default)]
pub(crate) struct AuditView<'v> {
    pub audit_id: &'v str,
    /// Record time (stage timestamp) and whether it had a fraction.
    pub time: (i64, bool),
    pub verb: &'v str,
    pub resource: &'v str,
    pub subresource: &'v str,
    pub namespace: &'v str,
    pub name: &'v str,
    pub uid: &'v str,
    /// HTTP status code of the response, when known.
    pub code: Option<i32>,
    pub message: &'v str,
    pub user: &'v str,
    pub user_agent: &'v str,
    pub request: Option<&'v RawValue>,
    pub response: Option<&'v RawValue>,
}

impl AuditView<'_> {
    /// A response below 300, or no response code at all (Metadata level without status).
    fn ok(&self) -> bool {
        self.code.is_none_or(|c| c < 300)
    }
}

fn parse<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    what: &str,
) -> Result<Option<T>, String> {
    match raw {
        None => Ok(None),
        Some(r) if r.get() == "null" => Ok(None),
        Some(r) => serde_json::from_str(r.get())
            .map(Some)
            .map_err(|e| format!("{what}: {e}")),
    }
}

/// Normalizes one audit record.
pub(crate) fn process(
    mem: &mut Memory,
    cluster: &str,
    v: &AuditView<'_>,
    out: &mut Vec<HyperEvent>,
) -> Result<Outcome, String> {
    let verb_writes = matches!(v.verb, "create" | "update" | "patch" | "delete");
    if !verb_writes {
        return Ok(Outcome::Skipped);
    }
    match (v.resource, v.subresource) {
        ("pods", "") => pods(mem, cluster, v, out),
        ("pods", "status") if matches!(v.verb, "patch" | "update") => status(mem, cluster, v, out),
        ("pods", "binding") | ("bindings", "") if v.verb == "create" => {
            binding(mem, cluster, v, out)
        }
        ("pods", "eviction") if v.verb == "create" => eviction(mem, cluster, v, out),
        ("events", "") if v.verb != "delete" => events(mem, cluster, v, out),
        _ => Ok(Outcome::Skipped),
    }
}

fn record(
    v: &AuditView<'_>,
    cluster: &str,
    resource: &str,
    ns: &str,
    name: &str,
    uid: String,
) -> Record {
    Record {
        cluster: cluster.to_string(),
        source: Source::Audit,
        time_us: v.time.0,
        precise: v.time.1,
        observed_us: v.time.0,
        object: ObjectRef {
            resource: resource.to_string(),
            namespace: ns.to_string(),
            name: name.to_string(),
            uid,
            field_path: String::new(),
        },
        actor: actor(v),
        verb: v.verb.to_string(),
        response_code: v.code,
        response_message: if v.ok() {
            String::new()
        } else {
            redact::scrub_message(v.message)
        },
        dedup: v.audit_id.to_string(),
        dedup_style: DedupStyle::Audit,
    }
}

fn actor(v: &AuditView<'_>) -> Option<Actor> {
    if v.user.is_empty() && v.user_agent.is_empty() {
        return None;
    }
    Some(Actor {
        user: v.user.to_string(),
        user_agent: v.user_agent.to_string(),
    })
}

/// Namespace and name of the pod from the record, falling back to a body.
fn ident<'x>(v: &'x AuditView<'_>, body: Option<&'x PodObject<'_>>) -> (&'x str, &'x str) {
    let ns = if v.namespace.is_empty() {
        body.map(|b| b.meta_str(|m| &m.namespace)).unwrap_or("")
    } else {
        v.namespace
    };
    let name = if v.name.is_empty() {
        body.map(|b| b.meta_str(|m| &m.name)).unwrap_or("")
    } else {
        v.name
    };
    (ns, name)
}

fn pods(
    mem: &mut Memory,
    cluster: &str,
    v: &AuditView<'_>,
    out: &mut Vec<HyperEvent>,
) -> Result<Outcome, String> {
    let request: Option<PodObject> = parse(v.request, "requestObject")?;
    let response: Option<PodObject> = parse(v.response, "responseObject")?;
    let full = response
        .as_ref()
        .filter(|r| r.is_pod())
        .or(request.as_ref().filter(|r| r.is_pod()));
    let (ns, name) = ident(v, full);
    let body_uid = full.map(|b| b.meta_str(|m| &m.uid)).unwrap_or("");
    let details_uid = response
        .as_ref()
        .and_then(|r| r.details.as_ref())
        .and_then(|d| non_empty(&d.uid))
        .unwrap_or("");
    let uid = [body_uid, v.uid, details_uid]
        .into_iter()
        .find(|u| !u.is_empty())
        .unwrap_or("");
    let uid = mem.resolve(ns, name, uid);
    let rec = record(v, cluster, "pods", ns, name, uid.clone());
    let mut ops = Vec::new();
    match v.verb {
        "create" => {
            ops.push(TimedOp::now(ops::pod_create(v.ok())));
            if v.ok() {
                if let Some(b) = full {
                    let sched = b
                        .spec
                        .as_ref()
                        .and_then(|s| non_empty(&s.scheduler_name))
                        .unwrap_or("default-scheduler");
                    ops.push(TimedOp::now(ops::schedule_entry(sched)));
                }
            }
        }
        "delete" => ops.push(TimedOp::now(delete_op(
            v,
            request.as_ref(),
            response.as_ref(),
        ))),
        _ if !v.ok() => return Ok(Outcome::Emitted(0)),
        _ => {
            let prev = mem.meta.get(&uid).cloned();
            let next = full
                .and_then(|b| b.metadata.as_ref())
                .map(MetaState::from_meta);
            match (&prev, &next, v.verb) {
                (Some(p), Some(n), _) => ops::meta_diff(p, n, &mut ops),
                (_, _, "patch") => {
                    if let Some(patch) = request.as_ref().and_then(|r| r.metadata.as_ref()) {
                        ops::meta_patch_ops(patch, prev.as_ref(), &mut ops);
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(meta) = full.and_then(|b| b.metadata.as_ref()) {
        if !uid.is_empty() {
            mem.meta.insert(uid.clone(), MetaState::from_meta(meta));
        }
    }
    let facts = full.map(pod::facts);
    Ok(Outcome::Emitted(rec.emit(ops, facts, out)))
}

/// `pod:deleted:success` when the pod is gone at once (grace 0/nil and no
/// finalizers), `pod:delete:success` when deletion started, `pod:delete:failed`.
fn delete_op(
    v: &AuditView<'_>,
    request: Option<&PodObject<'_>>,
    response: Option<&PodObject<'_>>,
) -> String {
    if !v.ok() {
        return "pod:delete:failed".into();
    }
    let immediate = match response {
        Some(r) if r.is_pod() => {
            let meta = r.metadata.as_ref();
            let grace = meta
                .and_then(|m| m.deletion_grace_period_seconds)
                .map_or(0, |g| g.0);
            let finalizers = meta
                .and_then(|m| m.finalizers.as_ref())
                .is_some_and(|f| !f.is_empty());
            grace == 0 && !finalizers
        }
        // A Status answer means the object is already gone.
        Some(r) if r.kind.as_deref() == Some("Status") => true,
        _ => request
            .and_then(|r| r.grace_period_seconds)
            .is_some_and(|g| g.0 == 0),
    };
    if immediate {
        "pod:deleted:success".into()
    } else {
        "pod:delete:success".into()
    }
}

fn status(
    mem: &mut Memory,
    cluster: &str,
    v: &AuditView<'_>,
    out: &mut Vec<HyperEvent>,
) -> Result<Outcome, String> {
    if !v.ok() {
        return Ok(Outcome::Emitted(0));
    }
    let request: Option<PodObject> = parse(v.request, "requestObject")?;
    let response: Option<PodObject> = parse(v.response, "responseObject")?;
    let full = response.as_ref().filter(|r| r.is_pod());
    let (ns, name) = ident(v, full.or(request.as_ref()));
    let uid = [request.as_ref(), response.as_ref()]
        .into_iter()
        .flatten()
        .map(|b| b.meta_str(|m| &m.uid))
        .chain([v.uid])
        .find(|u| !u.is_empty())
        .unwrap_or("");
    let uid = mem.resolve(ns, name, uid);
    let rec = record(v, cluster, "pods/status", ns, name, uid);
    let mut ops = Vec::new();
    // The request says what the kubelet changed; without it (Metadata level,
    // or a stripped log) the response's full status is the best we have.
    let status = request
        .as_ref()
        .and_then(|r| r.pod_status())
        .or_else(|| response.as_ref().and_then(|r| r.pod_status()));
    if let Some(st) = status {
        ops::status_ops(st, &mut ops);
    }
    let facts = full.map(pod::facts);
    Ok(Outcome::Emitted(rec.emit(ops, facts, out)))
}

fn binding(
    mem: &mut Memory,
    cluster: &str,
    v: &AuditView<'_>,
    out: &mut Vec<HyperEvent>,
) -> Result<Outcome, String> {
    let body: Option<BindingObject> = parse(v.request, "requestObject")?;
    let meta = body.as_ref().and_then(|b| b.metadata.as_ref());
    let ns = if v.namespace.is_empty() {
        meta.and_then(|m| m.namespace.as_deref()).unwrap_or("")
    } else {
        v.namespace
    };
    let name = if v.name.is_empty() || v.resource == "bindings" {
        meta.and_then(|m| non_empty(&m.name)).unwrap_or(v.name)
    } else {
        v.name
    };
    let uid = meta.and_then(|m| non_empty(&m.uid)).unwrap_or(v.uid);
    let uid = mem.resolve(ns, name, uid);
    let rec = record(v, cluster, "pods/binding", ns, name, uid);
    let op = if v.ok() {
        "schedule:binding:success"
    } else {
        "schedule:binding:failed"
    };
    let node = body
        .as_ref()
        .and_then(|b| b.target.as_ref())
        .and_then(|t| non_empty(&t.name));
    let facts = node.filter(|_| v.ok()).map(pod::node_only);
    Ok(Outcome::Emitted(rec.emit(
        vec![TimedOp::now(op.into())],
        facts,
        out,
    )))
}

fn eviction(
    mem: &mut Memory,
    cluster: &str,
    v: &AuditView<'_>,
    out: &mut Vec<HyperEvent>,
) -> Result<Outcome, String> {
    let uid = mem.resolve(v.namespace, v.name, v.uid);
    let rec = record(v, cluster, "pods/eviction", v.namespace, v.name, uid);
    let op = if v.ok() {
        "pod:eviction:success"
    } else {
        "pod:eviction:failed"
    };
    Ok(Outcome::Emitted(rec.emit(
        vec![TimedOp::now(op.into())],
        None,
        out,
    )))
}

fn events(
    mem: &mut Memory,
    cluster: &str,
    v: &AuditView<'_>,
    out: &mut Vec<HyperEvent>,
) -> Result<Outcome, String> {
    if !v.ok() {
        return Ok(Outcome::Emitted(0));
    }
    // The response is the stored Event; a create's or update's request is the
    // whole Event too. A patch without a response is only a fragment.
    let raw = match (v.response, v.verb) {
        (Some(r), _) if r.get() != "null" => Some(r),
        (_, "create" | "update") => v.request,
        _ => None,
    };
    let Some(ev) = parse::<EventObject>(raw, "event object")? else {
        return Ok(Outcome::Skipped);
    };
    let Some((ns, name, uid, _)) = event::regarding_pod(&ev) else {
        return Ok(Outcome::Skipped);
    };
    let uid = mem.resolve(ns, name, uid);
    let origin = EventOrigin {
        source: Source::Audit,
        observed_us: Some(v.time.0),
        actor: actor(v),
        verb: v.verb.to_string(),
        response_code: v.code,
    };
    match event::to_hyper_event(cluster, &ev, &uid, origin)? {
        Some(h) => {
            out.push(h);
            Ok(Outcome::Emitted(1))
        }
        None => Ok(Outcome::Skipped),
    }
}
