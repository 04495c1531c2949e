//! Failed pod creates: what the API server answered.
//!
//! A create that never produced a pod is a delivery failure of its own
//! (`api_failed`): the pod-level rules never run. The answer is sorted by
//! who must act: `QuotaExceeded` (namespace owner: quota), `WebhookDenied`
//! (the webhook's owner; names the webhook, whether it refused the pod or
//! could not be called), `ApiServerError` (platform: 5xx, 429, timeouts) and
//! `ApiRejected` (the pod spec or policy: other 4xx, PodSecurity, LimitRange).
//!
//! The same texts reach us as controller events (`FailedCreate`, "Error
//! creating: ..."), where the HTTP code is not printed; [`infer_api_status`]
//! recovers it from the status message's standard phrasing.

use super::codes::Code;
use super::finding::Finding;
use super::text::{short_cause, Msg};

/// Classifies a rejected pod create from its HTTP code and status message.
/// Codes below 400 are judged from the message alone.
pub fn classify_api_failure(code: i32, message: &str) -> Finding {
    let m = Msg::new(message);
    let cause = short_cause(message.trim().trim_start_matches("Error creating:"));
    let cause = if cause.is_empty() {
        "no details given".to_string()
    } else {
        cause
    };

    if m.any(&[
        "exceeded quota",
        "failed quota",
        "limited by quota",
        "resourcequota",
    ]) {
        let quota = m
            .word_after("exceeded quota: ")
            .or_else(|| m.word_after("failed quota: "));
        return Finding::of(
            Code::QuotaExceeded,
            quota,
            quota,
            format!("the namespace's resource quota refused the pod: {cause}"),
        );
    }
    if let Some(webhook) = m
        .quoted_after("admission webhook ")
        .or_else(|| m.quoted_after("calling webhook "))
        .or_else(|| m.quoted_after("webhook "))
    {
        let what = if m.has("denied the request") {
            format!("admission webhook \"{webhook}\" denied the pod: {cause}")
        } else {
            format!("admission webhook \"{webhook}\" could not be called, so the pod was refused: {cause}")
        };
        return Finding::of(Code::WebhookDenied, Some(webhook), Some(webhook), what);
    }
    let status = if (400..600).contains(&code) {
        code
    } else {
        infer_api_status(message)
    };
    if status >= 500 || status == 429 {
        let sub = match status {
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        return Finding::of(
            Code::ApiServerError,
            Some(sub),
            None,
            format!("the API server failed to create the pod (HTTP {status}): {cause}"),
        );
    }
    let sub = if m.has("podsecurity") {
        "PodSecurity".to_string()
    } else if m.has("validatingadmissionpolicy") {
        m.quoted_after("validatingadmissionpolicy ")
            .or_else(|| m.word_after("validatingadmissionpolicy '"))
            .map_or_else(
                || "ValidatingAdmissionPolicy".to_string(),
                |p| format!("ValidatingAdmissionPolicy:{}", p.trim_matches('\'')),
            )
    } else if m.any(&[
        "maximum cpu usage",
        "maximum memory usage",
        "minimum cpu usage",
        "minimum memory usage",
        "limitrange",
    ]) {
        "LimitRange".to_string()
    } else {
        match status {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            409 => "AlreadyExists",
            422 => "Invalid",
            _ => "Rejected",
        }
        .to_string()
    };
    Finding::new(
        Code::ApiRejected,
        Some(sub),
        None,
        format!("the API server refused the pod (HTTP {status}): {cause}"),
    )
}

/// The HTTP status implied by a Kubernetes status message, for texts that do
/// not carry the code (controller `FailedCreate` events). Unknown texts give 400.
pub fn infer_api_status(message: &str) -> i32 {
    let m = Msg::new(message);
    if m.any(&[
        "timeout:",
        "request did not complete within",
        "the server was unable to return a response in the time",
    ]) {
        504
    } else if m.any(&[
        "internal error occurred",
        "etcdserver",
        "the server is currently unable",
        "connection refused",
    ]) {
        if m.has("currently unable") {
            503
        } else {
            500
        }
    } else if m.any(&[
        "too many requests",
        "the server has received too many requests",
    ]) {
        429
    } else if m.any(&["is forbidden", "forbidden:"]) {
        403
    } else if m.has("already exists") {
        409
    } else if m.has("is invalid") {
        422
    } else if m.has("not found") {
        404
    } else {
        400
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_and_webhooks() {
        let f = classify_api_failure(403, "pods \"web-1\" is forbidden: exceeded quota: team-a, requested: requests.cpu=2, used: requests.cpu=9, limited: requests.cpu=10");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::QuotaExceeded, Some("team-a"))
        );
        let f = classify_api_failure(400, "admission webhook \"policy.example.com\" denied the request: image registry not allowed");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::WebhookDenied, Some("policy.example.com"))
        );
        assert!(f.what.contains("denied the pod"));
        let f = classify_api_failure(500, "Internal error occurred: failed calling webhook \"mutate.kyverno.svc\": failed to call webhook: Post \"https://kyverno-svc.kyverno.svc:443/mutate?timeout=10s\": context deadline exceeded");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::WebhookDenied, Some("mutate.kyverno.svc"))
        );
        assert_eq!(f.family.label(), "Quota/admission");
    }

    #[test]
    fn server_errors_and_rejections() {
        assert_eq!(
            classify_api_failure(503, "the server is currently unable to handle the request").code,
            Code::ApiServerError
        );
        assert_eq!(
            classify_api_failure(429, "Too many requests, please try again later.").code,
            Code::ApiServerError
        );
        let f = classify_api_failure(0, "Timeout: request did not complete within requested timeout - context deadline exceeded");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::ApiServerError, Some("Timeout"))
        );
        let f = classify_api_failure(403, "pods \"x\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::ApiRejected, Some("PodSecurity"))
        );
        let f = classify_api_failure(
            422,
            "Pod \"x\" is invalid: spec.containers[0].image: Required value",
        );
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::ApiRejected, Some("Invalid"))
        );
        let f = classify_api_failure(
            403,
            "pods \"x\" is forbidden: maximum cpu usage per Container is 2, but limit is 4",
        );
        assert_eq!(f.sub_reason.as_deref(), Some("LimitRange"));
        assert_eq!(
            classify_api_failure(0, "").what,
            "the API server refused the pod (HTTP 400): no details given"
        );
    }

    #[test]
    fn status_inference() {
        assert_eq!(
            infer_api_status("Error creating: pods \"a\" is forbidden: x"),
            403
        );
        assert_eq!(
            infer_api_status(
                "Error creating: Internal error occurred: etcdserver: request timed out"
            ),
            500
        );
        assert_eq!(
            infer_api_status(
                "Error creating: Timeout: request did not complete within requested timeout 30s"
            ),
            504
        );
        assert_eq!(infer_api_status("pods \"a\" already exists"), 409);
    }
}
