//! The `audit.k8s.io/v1` Event envelope, as the apiserver's log backend
//! writes it at RequestResponse level (stage ResponseComplete, microsecond
//! timestamps, no managedFields in the objects).

use crate::json::{object, Obj};

/// Who made a request.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    pub username: String,
    pub groups: &'static [&'static str],
    pub user_agent: String,
    pub source_ip: String,
    /// `authorization.k8s.io/reason` annotation.
    pub authz_reason: String,
}

/// Groups of a kubelet.
pub(crate) const NODE_GROUPS: &[&str] = &["system:nodes", "system:authenticated"];
/// Groups of a kube-system service account.
pub(crate) const KUBE_SYSTEM_SA_GROUPS: &[&str] = &[
    "system:serviceaccounts",
    "system:serviceaccounts:kube-system",
    "system:authenticated",
];
/// Groups of the scheduler.
pub(crate) const SCHEDULER_GROUPS: &[&str] = &["system:authenticated"];
/// Groups of a human or CI user.
pub(crate) const USER_GROUPS: &[&str] = &["system:authenticated", "oidc:platform-team"];

/// What the request addressed.
pub(crate) struct ObjectRef<'a> {
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    pub namespace: &'a str,
    pub name: Option<&'a str>,
    pub uid: Option<&'a str>,
    pub api_group: Option<&'static str>,
    pub api_version: &'static str,
}

/// The response status of a failed request.
pub(crate) struct Failure<'a> {
    pub reason: &'a str,
    pub message: &'a str,
}

/// One audit event, rendered by [`AuditRecord::render`].
pub(crate) struct AuditRecord<'a> {
    pub audit_id: String,
    pub request_uri: String,
    pub verb: &'static str,
    pub actor: &'a Actor,
    pub object_ref: ObjectRef<'a>,
    pub code: i64,
    pub failure: Option<Failure<'a>>,
    pub request_object: Option<&'a str>,
    pub response_object: Option<&'a str>,
    pub received_us: i64,
    pub stage_us: i64,
    pub extra_annotations: &'a [(&'static str, &'a str)],
}

impl AuditRecord<'_> {
    /// The JSON line (without newline).
    pub(crate) fn render(&self) -> String {
        let mut s = String::with_capacity(
            600 + self.request_object.map_or(0, str::len)
                + self.response_object.map_or(0, str::len),
        );
        let mut o = Obj::open(&mut s);
        o.id("kind", "Event")
            .id("apiVersion", "audit.k8s.io/v1")
            .id("level", "RequestResponse")
            .id("auditID", &self.audit_id)
            .id("stage", "ResponseComplete")
            .id("requestURI", &self.request_uri)
            .id("verb", self.verb)
            .obj("user", |u| {
                u.id("username", &self.actor.username)
                    .strs("groups", self.actor.groups);
            })
            .arr("sourceIPs", |a| {
                a.id(&self.actor.source_ip);
            })
            .id("userAgent", &self.actor.user_agent)
            .obj("objectRef", |r| {
                let or = &self.object_ref;
                r.id("resource", or.resource)
                    .id("namespace", or.namespace)
                    .opt_str("name", or.name)
                    .opt_str("uid", or.uid)
                    .opt_str("apiGroup", or.api_group)
                    .id("apiVersion", or.api_version)
                    .opt_str("subresource", or.subresource);
            })
            .obj("responseStatus", |r| {
                r.obj("metadata", |_| {});
                if let Some(f) = &self.failure {
                    r.id("status", "Failure")
                        .str("message", f.message)
                        .id("reason", f.reason);
                }
                r.int("code", self.code);
            });
        if let Some(req) = self.request_object {
            o.raw("requestObject", req);
        }
        if let Some(resp) = self.response_object {
            o.raw("responseObject", resp);
        }
        o.micros("requestReceivedTimestamp", self.received_us)
            .micros("stageTimestamp", self.stage_us)
            .obj("annotations", |a| {
                a.id(
                    "authorization.k8s.io/decision",
                    if self.code == 403
                        && self.failure.is_some()
                        && self.actor.authz_reason == "deny"
                    {
                        "forbid"
                    } else {
                        "allow"
                    },
                )
                .str("authorization.k8s.io/reason", &self.actor.authz_reason);
                for (k, v) in self.extra_annotations {
                    a.str(k, v);
                }
            });
        o.close();
        s
    }
}

/// The `Status` object of a failed response.
pub(crate) fn status_object(code: i64, reason: &str, message: &str, name: &str) -> String {
    object(|o| {
        o.id("kind", "Status")
            .id("apiVersion", "v1")
            .obj("metadata", |_| {})
            .id("status", "Failure")
            .str("message", message)
            .id("reason", reason)
            .obj("details", |d| {
                d.id("name", name).id("kind", "pods");
            })
            .int("code", code);
    })
}

/// The `Status` object of a successful binding or delete-collection.
pub(crate) fn success_status() -> &'static str {
    r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}"#
}
