//! Pod-level lifecycle events: probes, post-start hooks, evictions,
//! preemptions and kubelet admission rejections.
//!
//! These are recognised by their event reason first (stable since 1.0:
//! `Unhealthy`, `Evicted`, `Preempted`, `FailedPostStartHook`, `OutOf<res>`,
//! `UnexpectedAdmissionError`), then by the stable head of the message
//! ("Readiness probe failed", "The node was low on resource: memory", "The
//! node had condition: [DiskPressure]", "Pod was rejected:").

use super::codes::{Code, EvictionCause};
use super::finding::Finding;
use super::text::{short_cause, Msg};

/// `Unhealthy`: a readiness, liveness or startup probe failed or errored.
pub(crate) fn unhealthy(m: &Msg<'_>) -> Finding {
    let (code, probe) = if m.has("startup probe") {
        (Code::StartupProbeFailed, "startup")
    } else if m.has("liveness probe") {
        (Code::ContainerLivenessFailed, "liveness")
    } else {
        (Code::ContainerReadinessFailed, "readiness")
    };
    let sub = probe_failure_kind(m);
    let detail = m
        .find("probe ")
        .and_then(|pos| m.raw[pos..].split_once(':'))
        .map(|(_, rest)| short_cause(rest))
        .filter(|d| !d.is_empty());
    let container = m.quoted_after("container ");
    let whose = container
        .map(|c| format!(" of container \"{c}\""))
        .unwrap_or_default();
    let what = match detail {
        Some(d) => format!("the {probe} probe{whose} fails: {d}"),
        None => format!("the {probe} probe{whose} fails"),
    };
    Finding::of(code, Some(sub), container, what)
}

/// What kind of probe failure: an HTTP status, a refused connection, a timeout...
fn probe_failure_kind(m: &Msg<'_>) -> &'static str {
    if m.has("probe errored") {
        "ProbeErrored"
    } else if m.has("statuscode: 5") {
        "HTTP5xx"
    } else if m.has("statuscode: 4") {
        "HTTP4xx"
    } else if m.has("connection refused") {
        "ConnectionRefused"
    } else if m.any(&["deadline exceeded", "timeout", "timed out"]) {
        "Timeout"
    } else if m.has("connection reset") {
        "ConnectionReset"
    } else {
        "Failed"
    }
}

/// `Killing` is normal, except "Container x failed liveness/startup probe,
/// will be restarted".
pub(crate) fn killing(m: &Msg<'_>) -> Option<Finding> {
    let (code, probe) = if m.has("failed liveness probe") {
        (Code::ContainerLivenessFailed, "liveness")
    } else if m.has("failed startup probe") {
        (Code::StartupProbeFailed, "startup")
    } else {
        return None;
    };
    let container = m.word_after("container ");
    let named = container
        .map(|c| format!("container \"{c}\""))
        .unwrap_or_else(|| "a container".into());
    Some(Finding::of(
        code,
        Some("Restarted"),
        container,
        format!("{named} failed its {probe} probe and is being restarted"),
    ))
}

/// `FailedPostStartHook`: the hook command or HTTP call failed.
pub(crate) fn post_start_hook(m: &Msg<'_>) -> Finding {
    let container = m.quoted_after("for container ");
    let kind = if m.lc.starts_with("exec") || m.has("exec lifecycle hook") {
        "Exec"
    } else if m.lc.starts_with("http") || m.has("http lifecycle hook") {
        "HTTP"
    } else {
        "Hook"
    };
    let named = container
        .map(|c| format!("container \"{c}\""))
        .unwrap_or_else(|| "a container".into());
    let detail = m
        .find("failed - error:")
        .map(|pos| short_cause(&m.raw[pos + "failed - error:".len()..]))
        .unwrap_or_else(|| short_cause(m.raw));
    Finding::of(
        Code::FailedPostStartHook,
        Some(kind),
        container,
        format!("the post-start hook of {named} failed, so the container is killed: {detail}"),
    )
}

/// `Evicted` (and evicted pod statuses).
pub(crate) fn evicted(m: &Msg<'_>) -> Finding {
    let (cause, sub): (EvictionCause, String) = if let Some(cond) = bracketed_condition(m) {
        (EvictionCause::from_condition(cond), cond.to_string())
    } else if let Some(res) = m.word_after("low on resource: ") {
        (EvictionCause::from_condition(res), res.to_string())
    } else if m.any(&[
        "ephemeral local storage",
        "local ephemeral storage",
        "emptydir volume",
    ]) {
        (EvictionCause::EphemeralStorage, "ephemeral-storage".into())
    } else if m.has("node shutdown") || m.has("node is shutting down") {
        (EvictionCause::Other, "NodeShutdown".into())
    } else {
        (EvictionCause::Other, String::new())
    };
    let container = m.word_after("container ").filter(|c| !c.is_empty());
    let what = match cause {
        EvictionCause::DiskPressure => "the kubelet evicted the pod because the node ran low on disk".to_string(),
        EvictionCause::MemoryPressure => "the kubelet evicted the pod because the node ran low on memory".to_string(),
        EvictionCause::PidPressure => "the kubelet evicted the pod because the node ran low on process ids".to_string(),
        EvictionCause::EphemeralStorage => {
            "the kubelet evicted the pod for its ephemeral storage use (node low on it, or the pod over its limit)".to_string()
        }
        EvictionCause::Other => format!("the pod was evicted from its node: {}", short_cause(m.raw)),
    };
    let what = match container {
        Some(c) if cause != EvictionCause::Other => {
            format!("{what}; container \"{c}\" used more than it requested")
        }
        _ => what,
    };
    Finding::of(
        Code::Evicted(cause),
        Some(sub.as_str()).filter(|s| !s.is_empty()),
        container,
        what,
    )
}

/// "The node had condition: [DiskPressure]." -> "DiskPressure".
fn bracketed_condition<'a>(m: &Msg<'a>) -> Option<&'a str> {
    m.first_list_item_after("had condition: ")
}

/// `TaintManagerEviction`: a NoExecute taint evicts the pod (not when cancelled).
pub(crate) fn taint_eviction(m: &Msg<'_>) -> Option<Finding> {
    if m.has("cancelling") {
        return None;
    }
    Some(Finding::of(
        Code::Evicted(EvictionCause::Other),
        Some("NoExecuteTaint"),
        None,
        "the node got a NoExecute taint the pod does not tolerate, so the pod was deleted",
    ))
}

/// `ExceededGracePeriod`: emitted only when the kubelet kills a pod itself
/// (eviction or kubelet-side preemption) and the runtime did not stop it in time.
pub(crate) fn exceeded_grace_period(m: &Msg<'_>) -> Finding {
    Finding::of(
        Code::Evicted(EvictionCause::Other),
        Some("ExceededGracePeriod"),
        None,
        format!("the kubelet killed the pod and the runtime did not stop it within the grace period: {}", short_cause(m.raw)),
    )
}

/// `Preempted` (scheduler victim), `Preempting` (kubelet, critical pod).
pub(crate) fn preempted(m: &Msg<'_>) -> Finding {
    let node = m.word_after(" on node ");
    let what = if m.has("critical pod") {
        "the kubelet preempted the pod to admit a critical pod".to_string()
    } else {
        let on = node.map(|n| format!(" on node {n}")).unwrap_or_default();
        format!("the scheduler preempted the pod{on} to make room for a higher-priority pod")
    };
    Finding::of(Code::Preemption, None, node, what)
}

/// Reasons the kubelet uses when it refuses to admit a pod, besides `OutOf<res>`.
const ADMISSION_REASONS: [&str; 14] = [
    "NodeAffinity",
    "NodeSelectorMismatching",
    "NodeName",
    "NodePorts",
    "HostPortConflict",
    "TaintToleration",
    "InvalidNodeInfo",
    "PodOSNotSupported",
    "PodOSSelectorNodeLabelDoesNotMatch",
    "SysctlForbidden",
    "AppArmor",
    "FailedValidation",
    "UnsupportedPodSpec",
    "UnknownReason",
];

/// Whether `(reason, message)` is a kubelet admission rejection.
pub(crate) fn is_admission(reason: &str, m: &Msg<'_>) -> bool {
    reason.starts_with("OutOf")
        || ADMISSION_REASONS.contains(&reason)
        || m.has("pod was rejected")
        || (m.has("predicate ") && m.has(" failed"))
        || m.has("node didn't have enough resource")
}

/// A kubelet admission rejection (`OutOfcpu`, `NodeAffinity`, ...) or an
/// `UnexpectedAdmissionError` (device plugin allocation, read-only FS).
pub(crate) fn admission(reason: &str, m: &Msg<'_>) -> Finding {
    let cause = short_cause(m.raw.trim_start_matches("Pod was rejected: "));
    if reason == "UnexpectedAdmissionError" || m.has("which is unexpected") {
        if m.has("read-only file system") {
            return Finding::of(
                Code::FileSystemReadOnly,
                Some("UnexpectedAdmissionError"),
                None,
                format!("the kubelet could not admit the pod because a node file system is read-only: {cause}"),
            );
        }
        let resource = m
            .word_after("unhealthy devices ")
            .or_else(|| m.word_after("resource: "));
        return Finding::of(
            Code::UnexpectedAdmissionError,
            Some(if m.has("allocate failed") {
                "DeviceAllocation"
            } else {
                "Unexpected"
            }),
            resource,
            format!("the kubelet failed unexpectedly while admitting the pod: {cause}"),
        );
    }
    let resource = reason.strip_prefix("OutOf").filter(|r| !r.is_empty());
    let what = match resource {
        Some(r) => {
            format!("the kubelet rejected the pod: the node did not have enough {r} ({cause})")
        }
        None => format!("the kubelet rejected the pod ({reason}): {cause}"),
    };
    Finding::of(
        Code::AdmissionRejected,
        Some(reason).filter(|r| !r.is_empty()),
        resource,
        what,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes() {
        let f = unhealthy(&Msg::new(
            "Readiness probe failed: HTTP probe failed with statuscode: 500",
        ));
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::ContainerReadinessFailed, Some("HTTP5xx"))
        );
        assert_eq!(
            f.what,
            "the readiness probe fails: HTTP probe failed with statuscode: 500"
        );
        let f = unhealthy(&Msg::new("Liveness probe failed: OCI runtime exec failed: exec failed: unable to start container process: exec: \"pg_isready\": executable file not found"));
        assert_eq!(f.code, Code::ContainerLivenessFailed);
        let f = unhealthy(&Msg::new("Startup probe errored: rpc error: code = Unknown desc = deadline exceeded (\"DeadlineExceeded\"): context deadline exceeded"));
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::StartupProbeFailed, Some("ProbeErrored"))
        );
        let f = killing(&Msg::new(
            "Container api failed startup probe, will be restarted",
        ))
        .unwrap();
        assert_eq!(
            (f.code, f.subject.as_deref()),
            (Code::StartupProbeFailed, Some("api"))
        );
        assert_eq!(killing(&Msg::new("Stopping container api")), None);
    }

    #[test]
    fn evictions() {
        let code = |msg: &str| evicted(&Msg::new(msg)).code.as_str();
        assert_eq!(
            code("The node had condition: [DiskPressure]."),
            "DiskPressureEvicted"
        );
        assert_eq!(
            code("The node had condition: [MemoryPressure]. "),
            "MemoryPressureEvicted"
        );
        assert_eq!(code("The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. Container app was using 2Gi, request is 1Gi, has larger consumption of memory."), "MemoryPressureEvicted");
        assert_eq!(
            code("The node was low on resource: nodefs."),
            "DiskPressureEvicted"
        );
        assert_eq!(
            code("The node was low on resource: pids."),
            "PIDPressureEvicted"
        );
        assert_eq!(
            code("Pod ephemeral local storage usage exceeds the total limit of containers 1Gi."),
            "EphemeralStorageEvicted"
        );
        assert_eq!(
            code("Usage of EmptyDir volume \"cache\" exceeds the limit \"500Mi\"."),
            "EphemeralStorageEvicted"
        );
        assert_eq!(
            code("Pod was terminated in response to imminent node shutdown."),
            "Evicted"
        );
        let f = evicted(&Msg::new("The node was low on resource: memory. Container app was using 2Gi, which exceeds its request of 1Gi."));
        assert_eq!(
            (f.sub_reason.as_deref(), f.subject.as_deref()),
            (Some("memory"), Some("app"))
        );
    }

    #[test]
    fn admissions() {
        let m = Msg::new("Pod was rejected: Node didn't have enough resource: memory, requested: 4096, used: 1024, capacity: 2048");
        assert!(is_admission("OutOfmemory", &m));
        let f = admission("OutOfmemory", &m);
        assert_eq!(
            (f.code, f.subject.as_deref()),
            (Code::AdmissionRejected, Some("memory"))
        );
        let m = Msg::new("Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector");
        assert!(is_admission("NodeAffinity", &m));
        let f = admission("UnexpectedAdmissionError", &Msg::new("Pod was rejected: Allocate failed due to can't write checkpoint file: open /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint: read-only file system, which is unexpected"));
        assert_eq!(f.code, Code::FileSystemReadOnly);
        let f = admission("UnexpectedAdmissionError", &Msg::new("Allocate failed due to requested number of devices unavailable for nvidia.com/gpu. Requested: 1, Available: 0, which is unexpected"));
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::UnexpectedAdmissionError, Some("DeviceAllocation"))
        );
    }

    #[test]
    fn preemption_and_hooks() {
        let f = preempted(&Msg::new(
            "Preempted by pod 7f9c2a1e-0000-4000-8000-000000000000 on node worker-3",
        ));
        assert_eq!(
            (f.code, f.subject.as_deref()),
            (Code::Preemption, Some("worker-3"))
        );
        let f = post_start_hook(&Msg::new("HTTP lifecycle hook (/warmup) for Container \"web\" in Pod \"web-0_prod(uid)\" failed - error: Get \"http://10.0.0.9:8080/warmup\": dial tcp 10.0.0.9:8080: connect: connection refused, message: \"\""));
        assert_eq!(
            (f.code, f.subject.as_deref(), f.sub_reason.as_deref()),
            (Code::FailedPostStartHook, Some("web"), Some("HTTP"))
        );
    }
}
