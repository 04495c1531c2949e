//! One JSON record, whatever it is, to the normalizer that handles it.
//!
//! The record is parsed once into an [`Envelope`] that names the top-level
//! fields of every kind we accept (audit Event, GKE LogEntry, watch event,
//! lists) and keeps nested bodies as borrowed raw JSON; the shape then says
//! where it goes. Only Pod and Event objects are parsed a second time, as the
//! envelope does not read their bodies.

use lunettes_schemas::time::parse_rfc3339;
use lunettes_schemas::HyperEvent;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::audit::{self, AuditView};
use crate::error::{InputError, Outcome, Report};
use crate::event::{self, EventOrigin};
use crate::gke;
use crate::k8s::{EventObject, LInt, PodObject, S};
use crate::snapshot;
use crate::Normalizer;

/// Where a record sits, for error messages, plus what its container knows.
#[derive(Debug, Clone)]
pub(crate) struct Ctx<'c> {
    pub input: &'c str,
    pub line: Option<u64>,
    /// Observation time given by the container (a kspan-style comment).
    pub observed: Option<(i64, bool)>,
    /// Path inside the document (`items[3]`), empty at the top.
    pub path: String,
    /// Kind and apiVersion a list gives its items (API list items carry none).
    pub item_kind: Option<(String, String)>,
}

impl Ctx<'_> {
    pub fn error(&self, reason: impl std::fmt::Display) -> InputError {
        let reason = if self.path.is_empty() {
            reason.to_string()
        } else {
            format!("{}: {reason}", self.path)
        };
        InputError::new(self.input, self.line, reason)
    }

    fn item(&self, key: &str, i: usize, item_kind: Option<(String, String)>) -> Self {
        let mut c = self.clone();
        c.item_kind = item_kind;
        c.path = if self.path.is_empty() {
            format!("{key}[{i}]")
        } else {
            format!("{}.{key}[{i}]", self.path)
        };
        c
    }
}

/// The top-level fields of every record kind we accept.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(borrow, default)]
    kind: Option<S<'a>>,
    #[serde(borrow, default)]
    api_version: Option<S<'a>>,
    // audit.k8s.io Event
    #[serde(borrow, default, rename = "auditID")]
    audit_id: Option<S<'a>>,
    #[serde(borrow, default)]
    stage: Option<S<'a>>,
    #[serde(borrow, default)]
    verb: Option<S<'a>>,
    #[serde(borrow, default)]
    user: Option<UserInfo<'a>>,
    #[serde(borrow, default)]
    user_agent: Option<S<'a>>,
    #[serde(borrow, default)]
    object_ref: Option<AuditObjectRef<'a>>,
    #[serde(borrow, default)]
    response_status: Option<ResponseStatus<'a>>,
    #[serde(borrow, default)]
    request_object: Option<&'a RawValue>,
    #[serde(borrow, default)]
    response_object: Option<&'a RawValue>,
    #[serde(borrow, default)]
    request_received_timestamp: Option<S<'a>>,
    #[serde(borrow, default)]
    stage_timestamp: Option<S<'a>>,
    #[serde(borrow, default)]
    timestamp: Option<S<'a>>,
    // Lists
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
    // GKE LogEntry
    #[serde(borrow, default)]
    proto_payload: Option<&'a RawValue>,
    #[serde(borrow, default)]
    json_payload: Option<&'a RawValue>,
    #[serde(default)]
    text_payload: Option<IgnoredAny>,
    #[serde(borrow, default)]
    insert_id: Option<S<'a>>,
    // Watch event ({"type": "ADDED", "object": {...}}); also an Event's type.
    #[serde(borrow, default, rename = "type")]
    type_: Option<S<'a>>,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
}

#[derive(Debug, Default, Deserialize)]
struct UserInfo<'a> {
    #[serde(borrow, default)]
    username: Option<S<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct AuditObjectRef<'a> {
    #[serde(borrow, default)]
    resource: Option<S<'a>>,
    #[serde(borrow, default)]
    subresource: Option<S<'a>>,
    #[serde(borrow, default)]
    namespace: Option<S<'a>>,
    #[serde(borrow, default)]
    name: Option<S<'a>>,
    #[serde(borrow, default)]
    uid: Option<S<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct ResponseStatus<'a> {
    #[serde(default)]
    code: Option<LInt>,
    #[serde(borrow, default)]
    message: Option<S<'a>>,
}

fn is_audit_api(api_version: Option<&str>) -> bool {
    api_version.is_some_and(|a| a.starts_with("audit.k8s.io/"))
}

fn time_of(field: &str, v: &str) -> Result<(i64, bool), String> {
    parse_rfc3339(v).ok_or_else(|| format!("{field} {v:?} is not an RFC 3339 timestamp"))
}

impl Normalizer {
    /// Normalizes one JSON record (object or array) and books the outcome in `report`.
    pub(crate) fn route_json(
        &mut self,
        ctx: &Ctx<'_>,
        text: &str,
        out: &mut Vec<HyperEvent>,
        report: &mut Report,
    ) {
        if text.trim_start().starts_with('[') {
            match serde_json::from_str::<Vec<&RawValue>>(text) {
                Ok(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.route_json(&ctx.item("", i, None), item.get(), out, report);
                    }
                }
                Err(e) => {
                    report.records += 1;
                    report.errors.push(ctx.error(e));
                }
            }
            return;
        }
        let env: Envelope = match serde_json::from_str(text) {
            Ok(e) => e,
            Err(e) => {
                report.records += 1;
                report.errors.push(ctx.error(e));
                return;
            }
        };
        let inherited = ctx.item_kind.as_ref();
        let kind = env
            .kind
            .as_deref()
            .or(inherited.map(|k| k.0.as_str()))
            .unwrap_or("");
        let api_version = env
            .api_version
            .as_deref()
            .or(inherited.map(|k| k.1.as_str()));
        // Some audit producers (falco's traces) drop apiVersion; auditID tells.
        let audit_api = is_audit_api(api_version) || env.audit_id.is_some();
        // A list: its items are the records, of the kind the list names.
        if let Some(items) = &env.items {
            if kind.ends_with("List") || kind.is_empty() {
                let item_kind = kind
                    .strip_suffix("List")
                    .filter(|k| !k.is_empty())
                    .map(|k| (k.to_string(), api_version.unwrap_or("").to_string()));
                for (i, item) in items.iter().enumerate() {
                    self.route_json(
                        &ctx.item("items", i, item_kind.clone()),
                        item.get(),
                        out,
                        report,
                    );
                }
                return;
            }
        }
        report.records += 1;
        let result = if kind == "Event" && audit_api {
            self.route_audit(&env, out)
        } else if let Some(pp) = env.proto_payload {
            self.route_gke(&env, pp, out)
        } else if let Some(jp) = env.json_payload {
            // GKE-exported Event, or a node log (containerd, kubelet): skipped.
            self.route_object(ctx, jp.get(), None, None, out, true)
        } else if env.text_payload.is_some() {
            Ok(Outcome::Skipped)
        } else if let (Some(obj), Some(t)) = (env.object, env.type_.as_deref()) {
            if matches!(t, "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR") {
                self.route_object(ctx, obj.get(), None, Some(t), out, false)
            } else {
                Err(format!("watch event of unknown type {t:?}"))
            }
        } else if kind.is_empty() {
            Err("not a Kubernetes record: no kind, apiVersion, protoPayload or jsonPayload".into())
        } else {
            self.route_object(ctx, text, Some(kind), None, out, false)
        };
        match result {
            Ok(Outcome::Emitted(n)) => report.events += n as u64,
            Ok(Outcome::Skipped) => report.skipped += 1,
            Err(e) => report.errors.push(ctx.error(e)),
        }
    }

    fn route_audit(
        &mut self,
        env: &Envelope<'_>,
        out: &mut Vec<HyperEvent>,
    ) -> Result<Outcome, String> {
        if !matches!(
            env.stage.as_deref(),
            None | Some("ResponseComplete") | Some("Panic")
        ) {
            // RequestReceived / ResponseStarted repeat the ResponseComplete record.
            return Ok(Outcome::Skipped);
        }
        let time = match (
            &env.stage_timestamp,
            &env.request_received_timestamp,
            &env.timestamp,
        ) {
            (Some(t), _, _) => time_of("stageTimestamp", t)?,
            (None, Some(t), _) => time_of("requestReceivedTimestamp", t)?,
            (None, None, Some(t)) => time_of("timestamp", t)?,
            _ => {
                return Err(
                    "audit event has no stageTimestamp, requestReceivedTimestamp or timestamp"
                        .into(),
                )
            }
        };
        let oref = env.object_ref.as_ref();
        fn field<'s, 'a>(
            o: Option<&'s AuditObjectRef<'a>>,
            f: fn(&'s AuditObjectRef<'a>) -> Option<&'s str>,
        ) -> &'s str {
            o.and_then(f).unwrap_or("")
        }
        let view = AuditView {
            audit_id: env.audit_id.as_deref().unwrap_or(""),
            time,
            verb: env.verb.as_deref().unwrap_or(""),
            resource: field(oref, |o| o.resource.as_deref()),
            subresource: field(oref, |o| o.subresource.as_deref()),
            namespace: field(oref, |o| o.namespace.as_deref()),
            name: field(oref, |o| o.name.as_deref()),
            uid: field(oref, |o| o.uid.as_deref()),
            code: env
                .response_status
                .as_ref()
                .and_then(|r| r.code)
                .map(|c| i32::try_from(c.0).unwrap_or(0)),
            message: env
                .response_status
                .as_ref()
                .and_then(|r| r.message.as_deref())
                .unwrap_or(""),
            user: env
                .user
                .as_ref()
                .and_then(|u| u.username.as_deref())
                .unwrap_or(""),
            user_agent: env.user_agent.as_deref().unwrap_or(""),
            request: env.request_object,
            response: env.response_object,
        };
        if view.audit_id.is_empty() {
            return Err("audit event has no auditID".into());
        }
        audit::process(&mut self.memory, &self.cluster, &view, out)
    }

    fn route_gke(
        &mut self,
        env: &Envelope<'_>,
        pp: &RawValue,
        out: &mut Vec<HyperEvent>,
    ) -> Result<Outcome, String> {
        let payload: gke::ProtoPayload =
            serde_json::from_str(pp.get()).map_err(|e| format!("protoPayload: {e}"))?;
        let time = match &env.timestamp {
            Some(t) => time_of("timestamp", t)?,
            None => return Err("log entry has no timestamp".into()),
        };
        let id = env.insert_id.as_deref().unwrap_or("");
        let Some(view) = gke::view(&payload, id, time) else {
            return Ok(Outcome::Skipped);
        };
        if id.is_empty() {
            return Err("log entry has no insertId".into());
        }
        audit::process(&mut self.memory, &self.cluster, &view, out)
    }

    /// A Kubernetes object: Pod (snapshot), Event, or something we skip.
    /// `kind` overrides a missing `kind` (list items). `lenient`: an object
    /// without any kind is skipped rather than an error (GKE `jsonPayload` of
    /// node logs).
    fn route_object(
        &mut self,
        ctx: &Ctx<'_>,
        text: &str,
        kind: Option<&str>,
        watch_type: Option<&str>,
        out: &mut Vec<HyperEvent>,
        lenient: bool,
    ) -> Result<Outcome, String> {
        #[derive(Deserialize)]
        struct KindOnly<'a> {
            #[serde(borrow, default)]
            kind: Option<S<'a>>,
        }
        let k: KindOnly = serde_json::from_str(text).map_err(|e| e.to_string())?;
        match k.kind.as_deref().or(kind) {
            Some("Pod") => {
                let pod: PodObject = serde_json::from_str(text).map_err(|e| format!("Pod: {e}"))?;
                snapshot::process(
                    &mut self.memory,
                    &self.cluster,
                    &pod,
                    ctx.observed,
                    watch_type,
                    out,
                )
            }
            Some("Event") => {
                let ev: EventObject =
                    serde_json::from_str(text).map_err(|e| format!("Event: {e}"))?;
                let Some((ns, name, uid, _)) = event::regarding_pod(&ev) else {
                    return Ok(Outcome::Skipped);
                };
                let uid = self.memory.resolve(ns, name, uid);
                let origin = EventOrigin {
                    source: lunettes_schemas::Source::Event,
                    observed_us: ctx.observed.map(|o| o.0),
                    ..Default::default()
                };
                match event::to_hyper_event(&self.cluster, &ev, &uid, origin)? {
                    Some(h) => {
                        out.push(h);
                        Ok(Outcome::Emitted(1))
                    }
                    None => Ok(Outcome::Skipped),
                }
            }
            Some(_) => Ok(Outcome::Skipped),
            None if lenient => Ok(Outcome::Skipped),
            None => Err("object has no kind".into()),
        }
    }
}
