//! `classify_event`: the entry point for Kubernetes Events (and pod status
//! reason/message pairs such as `Evicted` or `OutOfcpu`).
//!
//! It runs on every event the engine sees, so it dispatches on the event
//! `reason` first with a `match` (no allocation, no text scan for progress
//! events like `Scheduled`, `Pulled`, `Started`), and only lowercases and
//! scans the message for reasons that need it. Unknown reasons get a
//! conservative content check: a recognisable failure structure *and* a
//! failure word, so custom controllers' progress messages are not mistaken
//! for failures.

use super::api::{classify_api_failure, infer_api_status};
use super::codes::Code;
use super::container::{self, classify_container_state, StateKind};
use super::finding::Finding;
use super::text::{short_cause, Msg};
use super::{image, lifecycle, memo, sandbox, scheduling, volume};

/// Classifies a Kubernetes Event by reason and message. `None` for events
/// that mean progress or carry no failure (Scheduled, Pulling, Pulled,
/// Created, Started, Killing for a normal stop, SuccessfulCreate, ...).
///
/// Call it on Normal events too: a few failures are reported as Normal
/// (`BackOff` "Back-off pulling image", `Preempted`, `TaintManagerEviction`,
/// `Killing` "failed liveness probe").
pub fn classify_event(reason: &str, message: &str) -> Option<Finding> {
    if is_progress(reason) {
        return None;
    }
    memo::memoized(reason, message, || classify_uncached(reason, message))
}

/// [`classify_event`] for an Event about one container, when the caller
/// knows (from the event's `fieldPath`, `spec.initContainers{name}`) that it
/// is an init container: a restart back-off there is `Init:CrashLoopBackOff`,
/// which the message alone ("Back-off restarting failed container x") cannot
/// tell apart from a main container's.
pub fn classify_container_event(
    reason: &str,
    message: &str,
    init_container: bool,
) -> Option<Finding> {
    let f = classify_event(reason, message)?;
    if init_container && f.code == Code::CrashLoopBackOff {
        return Some(container::crash_loop(&Msg::new(message), true));
    }
    Some(f)
}

/// Reasons that mean progress or context: answered without reading the message.
fn is_progress(reason: &str) -> bool {
    matches!(
        reason,
        "Scheduled"
            | "Pulling"
            | "Pulled"
            | "Created"
            | "Started"
            | "SuccessfulCreate"
            | "SuccessfulDelete"
            | "SuccessfulAttachVolume"
            | "SuccessfulMountVolume"
            | "SuccessfulDetachVolume"
            | "SandboxReceived"
            | "AddedInterface"
            | "ScalingReplicaSet"
            | "Completed"
            | "Sync"
            | "LeaderElection"
            | "DNSConfigForming"
            | "NodeReady"
            | "RegisteredNode"
            | "Starting"
            | "NotTriggerScaleUp"
            | "TriggeredScaleUp"
            | "Provisioning"
            | "ProvisioningSucceeded"
            | "ExternalProvisioning"
            | "WaitForFirstConsumer"
            | "WaitForPodScheduled"
            | "SuccessfulRescale"
            | "NoPods"
            | "Rebooted"
            | "FileSystemResizeSuccessful"
    )
}

/// The rules themselves (no memo).
fn classify_uncached(reason: &str, message: &str) -> Option<Finding> {
    match reason {
        "FailedScheduling" => Some(scheduling::finding(message)),
        "Killing" => lifecycle::killing(&Msg::new(message)),
        "Failed" | "InspectFailed" => Some(failed(&Msg::new(message))),
        "BackOff" => Some(back_off(&Msg::new(message))),
        "ErrImageNeverPull" => Some(image::never_pull(&Msg::new(message))),
        "FailedCreatePodSandBox" => Some(sandbox::classify_sandbox(&Msg::new(message))),
        "SandboxChanged" => Some(sandbox::sandbox_changed()),
        "NetworkNotReady" => {
            let m = Msg::new(message);
            let cause = short_cause(message);
            Some(sandbox::classify_network(&m, cause))
        }
        "FailedMount" | "FailedMapVolume" | "FailedMountOnFilesystemMismatch" => {
            Some(volume::classify_mount(&Msg::new(message)))
        }
        "FailedAttachVolume" => Some(volume::classify_attach(&Msg::new(message))),
        "Unhealthy" => Some(lifecycle::unhealthy(&Msg::new(message))),
        "Evicted" | "Evicting" => Some(lifecycle::evicted(&Msg::new(message))),
        "TaintManagerEviction" => lifecycle::taint_eviction(&Msg::new(message)),
        "ExceededGracePeriod" => Some(lifecycle::exceeded_grace_period(&Msg::new(message))),
        "Preempted" | "Preempting" | "PreemptionSuccess" | "ToDoPreemption" => {
            Some(lifecycle::preempted(&Msg::new(message)))
        }
        "FailedPostStartHook" => Some(lifecycle::post_start_hook(&Msg::new(message))),
        "UnexpectedAdmissionError" => Some(lifecycle::admission(reason, &Msg::new(message))),
        "FailedSync" => Some(failed_sync(&Msg::new(message))),
        "FailedCreate" => Some(failed_create(message)),
        "FailedCreatePodContainer" | "FailedPodSandBoxStatus" | "FailedPrepareDynamicResources" => {
            Some(runtime_failure(reason, message))
        }
        "NodeShutdown" | "Terminated" | "Shutdown" => {
            let m = Msg::new(message);
            if m.has("rejected") {
                Some(lifecycle::admission(reason, &m))
            } else if m.has("shutdown") || m.has("shutting down") {
                Some(lifecycle::evicted(&m))
            } else {
                None
            }
        }
        _ => other_reason(reason, message),
    }
}

/// Reasons not listed: admission rejections by name, then cautious content rules.
fn other_reason(reason: &str, message: &str) -> Option<Finding> {
    let m = Msg::new(message);
    if lifecycle::is_admission(reason, &m) {
        return Some(lifecycle::admission(reason, &m));
    }
    by_content(&m)
}

/// Content rules for texts whose reason says little (FailedSync, custom
/// reasons). Requires a failure word so success messages never match.
fn by_content(m: &Msg<'_>) -> Option<Finding> {
    let failing = m.any(&[
        "fail",
        "error",
        "unable",
        "timeout",
        "timed out",
        "denied",
        "back-off",
        "cannot",
        "couldn't",
    ]);
    if !failing {
        return None;
    }
    if m.has("pod was rejected") {
        return Some(lifecycle::admission("Rejected", m));
    }
    if m.any(&["pod sandbox", "createpodsandbox", "setupnetwork"]) {
        return Some(sandbox::classify_sandbox(m));
    }
    if m.any(&[
        "mountvolume.",
        "unable to attach or mount",
        "unable to mount volumes",
        "waiting for volumes to attach",
    ]) {
        return Some(volume::classify_mount(m));
    }
    if m.any(&["attachvolume.attach", "multi-attach"]) {
        return Some(volume::classify_attach(m));
    }
    if m.any(&["pull image", "pulling image"]) {
        return Some(if m.has("back-off pulling image") {
            image::back_off(m.quoted_after("pulling image "), "BackOff")
        } else {
            image::classify_pull(m, None)
        });
    }
    if m.has("back-off restarting failed container") {
        return Some(container::crash_loop(m, false));
    }
    if m.any(&["probe failed", "probe errored"]) {
        return Some(lifecycle::unhealthy(m));
    }
    None
}

/// The kubelet's `Failed` events: image pulls, "Error: ..." for containers.
fn failed(m: &Msg<'_>) -> Finding {
    if m.any(&[
        "pull image",
        "pulling image",
        "failed to pull and unpack",
        "inspect image",
        "apply default image tag",
        "couldn't parse image reference",
    ]) {
        return image::classify_pull(m, None);
    }
    if m.has("create pod sandbox") {
        return sandbox::classify_sandbox(m);
    }
    if m.has("make pod data directories") {
        return runtime_failure("Failed", m.raw);
    }
    container::error_event(m)
}

/// `BackOff`: image pull back-off or container restart back-off.
fn back_off(m: &Msg<'_>) -> Finding {
    if m.has("pulling image") || m.has("pull image") {
        image::back_off(m.quoted_after("pulling image "), "BackOff")
    } else {
        container::crash_loop(m, false)
    }
}

/// Pre-1.x `FailedSync`: `Error syncing pod, skipping: failed to "Step" for
/// "name" with WaitingReason: "message"` carries a container waiting reason;
/// otherwise the text is classified by content.
fn failed_sync(m: &Msg<'_>) -> Finding {
    if let Some(with_pos) = m.find("\" with ") {
        let after = &m.raw[with_pos + "\" with ".len()..];
        if let Some((state_reason, rest)) = after.split_once(':') {
            // Unescape first: the inner message ends with an escaped quote.
            let inner = rest.trim().replace("\\\"", "\"");
            let inner = inner.strip_prefix('"').unwrap_or(&inner);
            let inner = inner.strip_suffix('"').unwrap_or(inner);
            let container = m.quoted_after(" for ");
            let step = m.quoted_after("failed to ").unwrap_or("");
            let init = step.eq_ignore_ascii_case("StartInitContainer")
                || step.eq_ignore_ascii_case("InitContainer");
            let kind = StateKind::Waiting;
            if let Some(mut finding) =
                classify_container_state(kind, state_reason.trim(), inner, None, init)
            {
                if finding.subject.is_none() && !step.eq_ignore_ascii_case("CreatePodSandbox") {
                    finding.subject = container.map(str::to_string);
                }
                return finding;
            }
        }
    }
    by_content(m).unwrap_or_else(|| runtime_failure("FailedSync", m.raw))
}

/// Controller `FailedCreate` ("Error creating: ..."): the API answer for a pod create.
fn failed_create(message: &str) -> Finding {
    let status = message
        .trim()
        .strip_prefix("Error creating:")
        .unwrap_or(message)
        .trim();
    classify_api_failure(infer_api_status(status), status)
}

/// A kubelet/runtime operation failed outside the create/start steps.
fn runtime_failure(reason: &str, message: &str) -> Finding {
    Finding::of(
        Code::RuntimeOperationFailed,
        Some(reason),
        None,
        format!(
            "the kubelet or runtime failed an operation on the pod ({reason}): {}",
            short_cause(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(reason: &str, msg: &str) -> Option<&'static str> {
        classify_event(reason, msg).map(|f| f.code.as_str())
    }

    #[test]
    fn progress_events_are_none() {
        for reason in [
            "Scheduled",
            "Pulling",
            "Pulled",
            "Created",
            "Started",
            "SuccessfulCreate",
            "AddedInterface",
        ] {
            assert_eq!(
                code(reason, "Successfully assigned default/web to node-1"),
                None,
                "{reason}"
            );
        }
        assert_eq!(code("Killing", "Stopping container web"), None);
        assert_eq!(
            code(
                "CustomProgress",
                "MountVolume.SetUp succeeded for volume \"x\""
            ),
            None
        );
        assert_eq!(
            code(
                "TaintManagerEviction",
                "Cancelling deletion of Pod default/web"
            ),
            None
        );
    }

    #[test]
    fn dispatch_by_reason() {
        assert_eq!(code("Failed", "Failed to pull image \"a:1\": rpc error: code = Unknown desc = Error response from daemon: manifest for a:1 not found: manifest unknown: manifest unknown"), Some("ImageNotFound"));
        assert_eq!(
            code("BackOff", "Back-off pulling image \"a:1\""),
            Some("ImagePullBackOff")
        );
        assert_eq!(
            code(
                "BackOff",
                "Back-off restarting failed container web in pod web-0_prod(0c7e)"
            ),
            Some("CrashLoopBackOff")
        );
        assert_eq!(code("FailedCreatePodSandBox", "Failed to create pod sandbox: rpc error: code = DeadlineExceeded desc = context deadline exceeded"), Some("CreatePodSandboxTimeout"));
        assert_eq!(
            code("Evicted", "The node had condition: [DiskPressure]."),
            Some("DiskPressureEvicted")
        );
        assert_eq!(code("OutOfnvidia.com/gpu", "Pod was rejected: Node didn't have enough resource: nvidia.com/gpu, requested: 1, used: 8, capacity: 8"), Some("AdmissionRejected"));
        assert_eq!(
            code(
                "PodOSNotSupported",
                "Pod was rejected: Failed to admit pod as the OS field doesn't match node OS"
            ),
            Some("AdmissionRejected")
        );
        assert_eq!(code("FailedCreate", "Error creating: pods \"w-1\" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=10, limited: pods=10"), Some("QuotaExceeded"));
        assert_eq!(code("NetworkNotReady", "network is not ready: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"), Some("FailedSetNetwork"));
        assert_eq!(
            code(
                "NodeShutdown",
                "Pod was rejected as the node is shutting down."
            ),
            Some("AdmissionRejected")
        );
        assert_eq!(
            code(
                "Terminated",
                "Pod was terminated in response to imminent node shutdown."
            ),
            Some("Evicted")
        );
    }

    #[test]
    fn failed_sync_carries_waiting_reasons() {
        let f = classify_event("FailedSync", "Error syncing pod, skipping: failed to \"StartContainer\" for \"api\" with RunContainerError: \"runContainer: Error response from daemon: oci runtime error: exec: \\\"/srv\\\": permission denied\"").unwrap();
        assert_eq!(
            (f.code, f.subject.as_deref()),
            (Code::RunContainerError, Some("api"))
        );
        let f = classify_event("FailedSync", "Error syncing pod, skipping: failed to \"StartContainer\" for \"db\" with ErrImagePull: \"image pull failed for mysql:9, this may be because there are no credentials on this request.  details: (Error: image library/mysql:9 not found)\"").unwrap();
        assert_eq!(f.code, Code::ImageNotFound);
        let f = classify_event("FailedSync", "Error syncing pod, skipping: failed to \"CreatePodSandbox\" for \"web-0_prod(uid)\" with CreatePodSandboxError: \"CreatePodSandbox for pod \\\"web-0_prod(uid)\\\" failed: rpc error: code = Unknown desc = NetworkPlugin cni failed to set up pod \\\"web-0_prod\\\" network: no IP addresses available in range set\"").unwrap();
        assert_eq!(f.code, Code::FailedAllocateIP);
        let f = classify_event(
            "FailedSync",
            "error determining status: rpc error: code = Unavailable desc = connection closed",
        )
        .unwrap();
        assert_eq!(f.code, Code::RuntimeOperationFailed);
    }

    #[test]
    fn unknown_reasons_use_content_cautiously() {
        assert_eq!(
            code(
                "MyOperatorWarning",
                "Failed to pull image \"x:1\": toomanyrequests: rate limit"
            ),
            Some("ImagePullRateLimited")
        );
        assert_eq!(code("MyOperatorWarning", "all good"), None);
        assert_eq!(code("", ""), None);
    }
}
