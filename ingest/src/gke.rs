//! GKE Cloud Logging audit entries (`protoPayload` of type AuditLog).
//!
//! GKE exports apiserver audit through Cloud Logging, where a record is
//! reshaped: the verb and resource are folded into `methodName`
//! (`io.k8s.core.v1.pods.status.patch`), the object path into `resourceName`
//! (`core/v1/namespaces/ns/pods/name/status`), and the HTTP status into a
//! google.rpc code (`status.code`, 0 = OK). We unfold it into an
//! [`AuditView`] and map the rpc code back to the HTTP code the apiserver
//! answered (OK is 201 for a create and 200 otherwise; see [`http_code`]).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::audit::AuditView;
use crate::k8s::{LInt, S};

/// The `protoPayload` fields we use.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProtoPayload<'a> {
    #[serde(borrow, default)]
    pub method_name: Option<S<'a>>,
    #[serde(borrow, default)]
    pub resource_name: Option<S<'a>>,
    #[serde(borrow, default)]
    pub authentication_info: Option<AuthInfo<'a>>,
    #[serde(borrow, default)]
    pub request_metadata: Option<RequestMetadata<'a>>,
    #[serde(borrow, default)]
    pub request: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub response: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub status: Option<RpcStatus<'a>>,
}

/// `authenticationInfo`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthInfo<'a> {
    #[serde(borrow, default)]
    pub principal_email: Option<S<'a>>,
}

/// `requestMetadata`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestMetadata<'a> {
    #[serde(borrow, default)]
    pub caller_supplied_user_agent: Option<S<'a>>,
}

/// `status` (a google.rpc.Status).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RpcStatus<'a> {
    #[serde(default)]
    pub code: Option<LInt>,
    #[serde(borrow, default)]
    pub message: Option<S<'a>>,
}

/// (resource, subresource, verb) of `io.k8s.<group>.<version>.<resource>[.<sub>].<verb>`,
/// or `None` for a method that is not a Kubernetes API call.
pub(crate) fn split_method(method: &str) -> Option<(&str, &str, &str)> {
    let rest = method.strip_prefix("io.k8s.")?;
    let parts: Vec<&str> = rest.split('.').collect();
    let version = parts.iter().position(|p| {
        let b = p.as_bytes();
        b.len() >= 2 && b[0] == b'v' && b[1].is_ascii_digit()
    })?;
    let tail = &parts[version + 1..];
    match tail {
        [resource, verb] => Some((resource, "", verb)),
        [resource, sub, verb] => Some((resource, sub, verb)),
        _ => None,
    }
}

/// (namespace, name) of `core/v1/namespaces/<ns>/<resource>/<name>[/<sub>]`.
pub(crate) fn split_resource_name(rn: &str) -> (&str, &str) {
    let parts: Vec<&str> = rn.split('/').collect();
    match parts.iter().position(|p| *p == "namespaces") {
        Some(i) if parts.len() > i + 3 => (parts[i + 1], parts[i + 3]),
        Some(i) if parts.len() > i + 1 => (parts[i + 1], ""),
        _ => ("", parts.get(3).copied().unwrap_or("")),
    }
}

/// The HTTP code the apiserver answered, from the google.rpc code GKE logged.
pub(crate) fn http_code(rpc: i64, verb: &str) -> i32 {
    match rpc {
        0 if verb == "create" => 201,
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

/// The audit view of a GKE entry, or `None` when it is not a Kubernetes API call.
pub(crate) fn view<'v>(
    pp: &'v ProtoPayload<'_>,
    audit_id: &'v str,
    time: (i64, bool),
) -> Option<AuditView<'v>> {
    let (resource, subresource, verb) = split_method(pp.method_name.as_deref()?)?;
    let (namespace, name) = split_resource_name(pp.resource_name.as_deref().unwrap_or(""));
    let status = pp.status.as_ref();
    let rpc = status.and_then(|s| s.code).map_or(0, |c| c.0);
    Some(AuditView {
        audit_id,
        time,
        verb,
        resource,
        subresource,
        namespace,
        name,
        uid: "",
        code: Some(http_code(rpc, verb)),
        message: status.and_then(|s| s.message.as_deref()).unwrap_or(""),
        user: pp
            .authentication_info
            .as_ref()
            .and_then(|a| a.principal_email.as_deref())
            .unwrap_or(""),
        user_agent: pp
            .request_metadata
            .as_ref()
            .and_then(|r| r.caller_supplied_user_agent.as_deref())
            .unwrap_or(""),
        request: pp.request,
        response: pp.response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods() {
        assert_eq!(
            split_method("io.k8s.core.v1.pods.status.patch"),
            Some(("pods", "status", "patch"))
        );
        assert_eq!(
            split_method("io.k8s.core.v1.pods.create"),
            Some(("pods", "", "create"))
        );
        assert_eq!(
            split_method("io.k8s.coordination.v1.leases.update"),
            Some(("leases", "", "update"))
        );
        assert_eq!(
            split_method("io.k8s.events.k8s.io.v1.events.create"),
            Some(("events", "", "create"))
        );
        assert_eq!(
            split_method("google.container.v1.ClusterManager.GetCluster"),
            None
        );
        assert_eq!(split_method("io.k8s.core.v1"), None);
    }

    #[test]
    fn resource_names_and_codes() {
        assert_eq!(
            split_resource_name("core/v1/namespaces/ns1/pods/p-1/status"),
            ("ns1", "p-1")
        );
        assert_eq!(split_resource_name("core/v1/nodes/n1"), ("", "n1"));
        assert_eq!(http_code(0, "create"), 201);
        assert_eq!(http_code(7, "create"), 403);
        assert_eq!(http_code(14, "patch"), 503);
    }
}
