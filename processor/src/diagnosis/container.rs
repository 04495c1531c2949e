//! Container failures: container statuses (waiting/terminated reasons) and
//! the kubelet's "Error: ..." events for container create and start.
//!
//! The kubelet prints one event format, `Failed` + `Error: <runtime error>`,
//! for three different steps (build the config, create, start), so the step
//! is recognised from the runtime's words: missing Secret/ConfigMap keys and
//! non-root checks are configuration; "container create failed" (CRI-O) and
//! name reservation or deadline errors are creation; "failed to create
//! containerd task", "failed to start container", "OCI runtime create/start
//! failed" and exec errors are start (containerd and docker create the process
//! only when starting). A container status reason, when available, is the
//! kubelet's own verdict and wins over the text.
//!
//! Init containers: a crash loop is `InitCrashLoopBackOff`; exits and start
//! failures are `InitContainerError`. Causes that are not about the init
//! container's own process (OOM, missing image, missing Secret) keep their
//! own codes, which rank higher.

use super::codes::Code;
use super::finding::Finding;
use super::image;
use super::sandbox;
use super::text::{is_reason_token, short_cause, Msg};

/// Which container state the reason comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// `state.waiting` (e.g. CrashLoopBackOff, ImagePullBackOff).
    Waiting,
    /// `state.terminated` or `lastState.terminated` (e.g. OOMKilled, Error).
    Terminated,
}

/// Classifies a container state reason (+ message, exit code). `init` marks
/// init containers. `None` for states that mean progress or success
/// (ContainerCreating, PodInitializing, Completed with exit code 0).
///
/// The container's name is not part of a status' reason/message; callers
/// that know it may set `subject` on the result.
pub fn classify_container_state(
    state: StateKind,
    reason: &str,
    message: &str,
    exit_code: Option<i32>,
    init: bool,
) -> Option<Finding> {
    let reason = reason.trim();
    let m = Msg::new(message);
    match state {
        StateKind::Waiting => waiting(reason, &m, init),
        StateKind::Terminated => terminated(reason, &m, exit_code, init),
    }
}

fn waiting(reason: &str, m: &Msg<'_>, init: bool) -> Option<Finding> {
    let which = if init { "init container" } else { "container" };
    let cause = short_cause(m.raw);
    Some(match reason {
        "" | "ContainerCreating" | "PodInitializing" | "Waiting" => return None,
        "CrashLoopBackOff" => crash_loop(m, init),
        "ErrImagePull"
        | "ImagePullBackOff"
        | "RegistryUnavailable"
        | "ImageInspectError"
        | "SignatureValidationFailed" => pull_status(reason, m),
        "InvalidImageName" => {
            let what = if cause.is_empty() {
                "the image reference in the pod spec is not a valid image name".to_string()
            } else {
                format!("the image reference is not valid: {cause}")
            };
            Finding::of(
                Code::InvalidImageName,
                None,
                m.quoted_after("image tag "),
                what,
            )
        }
        "ErrImageNeverPull" => image::never_pull(m),
        "CreateContainerConfigError" => config_error(m),
        "CreateContainerError" if m.has("no space left on device") => no_disk(m),
        "CreateContainerError"
        | "RunContainerError"
        | "StartError"
        | "ContainerCannotRun"
        | "PreStartHookError"
            if init =>
        {
            Finding::of(
                Code::InitContainerError,
                Some(reason),
                None,
                format!("the init container failed to start ({reason}): {cause}"),
            )
        }
        "CreateContainerError" => create_or_start_error(m, Some(Code::CreateContainerError)),
        "RunContainerError" | "StartError" | "ContainerCannotRun" | "PreStartHookError" => {
            create_or_start_error(m, Some(Code::RunContainerError))
        }
        "PostStartHookError" => Finding::of(
            Code::FailedPostStartHook,
            None,
            None,
            format!("the {which}'s post-start hook failed: {cause}"),
        ),
        "CreatePodSandboxError" | "KillPodSandboxError" => sandbox::classify_sandbox(m),
        "SetupNetworkError" | "NetworkNotReady" => sandbox::classify_network(m, cause),
        other => Finding::of(
            Code::RuntimeOperationFailed,
            Some(other),
            None,
            format!("the {which} is waiting with reason {other}: {cause}"),
        ),
    })
}

fn terminated(reason: &str, m: &Msg<'_>, exit_code: Option<i32>, init: bool) -> Option<Finding> {
    let which = if init { "init container" } else { "container" };
    let exit = exit_code.map(describe_exit).unwrap_or_default();
    Some(match reason {
        "OOMKilled" => Finding::of(
            Code::OOMKilled,
            Some(if init { "InitContainer" } else { "Container" }),
            None,
            format!("the {which} was killed for exceeding its memory limit (OOMKilled{exit})"),
        ),
        "Completed" | "" if exit_code.unwrap_or(0) == 0 => return None,
        "DeadlineExceeded" => return None,
        "ContainerCannotRun" | "StartError" if init => {
            Finding::of(Code::InitContainerError, Some(reason), None, format!("the init container could not start ({reason}{exit}): {}", short_cause(m.raw)))
        }
        "ContainerCannotRun" | "StartError" => create_or_start_error(m, Some(Code::RunContainerError)),
        "ContainerStatusUnknown" => Finding::of(
            Code::RuntimeOperationFailed,
            Some(reason),
            None,
            format!("the {which}'s state was lost by the runtime: {}", short_cause(m.raw)),
        ),
        "Evicted" => super::lifecycle::evicted(m),
        _ if init => Finding::of(
            Code::InitContainerError,
            Some(exit_sub_reason(exit_code).as_str()).filter(|s| !s.is_empty()),
            None,
            format!("the init container exited with an error ({reason}{exit})"),
        ),
        _ => Finding::of(
            Code::CrashLoopBackOff,
            Some(exit_sub_reason(exit_code).as_str()).filter(|s| !s.is_empty()),
            None,
            format!("the container exited with an error ({reason}{exit}); it is restarted with back-off"),
        ),
    })
}

/// ", exit code 137 = SIGKILL".
fn describe_exit(code: i32) -> String {
    let signal = match code {
        134 => " = SIGABRT",
        137 => " = SIGKILL",
        139 => " = SIGSEGV",
        143 => " = SIGTERM",
        _ => "",
    };
    format!(", exit code {code}{signal}")
}

fn exit_sub_reason(exit_code: Option<i32>) -> String {
    exit_code
        .map(|c| format!("ExitCode{c}"))
        .unwrap_or_default()
}

/// Back-off restarting a failed container.
pub(crate) fn crash_loop(m: &Msg<'_>, init: bool) -> Finding {
    let container = m
        .word_after("failed container=")
        .or_else(|| m.word_after("restarting failed container "))
        .filter(|c| *c != "in" && *c != "pod");
    let named = container.map(|c| format!(" \"{c}\"")).unwrap_or_default();
    if init {
        Finding::of(
            Code::InitCrashLoopBackOff,
            None,
            container,
            format!(
                "init container{named} keeps failing; the kubelet is backing off restarting it"
            ),
        )
    } else {
        Finding::of(
            Code::CrashLoopBackOff,
            None,
            container,
            format!("container{named} keeps exiting; the kubelet is backing off restarting it"),
        )
    }
}

/// ErrImagePull/ImagePullBackOff statuses: the message carries the cause
/// when the pull failed, or only "Back-off pulling image" while waiting.
fn pull_status(reason: &str, m: &Msg<'_>) -> Finding {
    let image = m.quoted_after("image ");
    let bare = m.raw.trim().is_empty() || m.has("back-off pulling image") || is_reason_token(m.raw);
    match reason {
        "SignatureValidationFailed" => Finding::of(
            Code::ImagePullAccessDenied,
            Some("PolicyRejected"),
            image,
            format!(
                "the image failed signature validation: {}",
                short_cause(m.raw)
            ),
        ),
        "RegistryUnavailable" | "ImageInspectError" if bare => Finding::of(
            Code::FailedPullImage,
            Some(reason),
            image,
            format!("the image could not be pulled ({reason})"),
        ),
        _ if bare => image::back_off(image, reason),
        _ => image::classify_pull(m, None),
    }
}

fn no_disk(m: &Msg<'_>) -> Finding {
    Finding::of(
        Code::NoDiskSpace,
        Some("Container"),
        None,
        format!(
            "the node ran out of disk space creating the container: {}",
            short_cause(m.raw)
        ),
    )
}

/// Missing Secret/ConfigMap keys, non-root checks, subPath preparation.
fn config_error(m: &Msg<'_>) -> Finding {
    let object = m
        .quoted_after("secret ")
        .or_else(|| m.quoted_after("secrets "))
        .or_else(|| m.quoted_after("configmap "))
        .or_else(|| m.quoted_after("configmaps "))
        .or_else(|| m.word_after(" in secret "))
        .or_else(|| m.word_after(" in configmap "));
    let sub = if m.has("couldn't find key") {
        "KeyNotFound"
    } else if m.any(&["secret \"", "secrets \""]) {
        "SecretNotFound"
    } else if m.any(&["configmap \"", "configmaps \""]) {
        "ConfigMapNotFound"
    } else if m.any(&["runasnonroot", "non-root", "nonroot"]) {
        "RunAsNonRoot"
    } else if m.has("subpath") {
        "SubPath"
    } else {
        "Config"
    };
    Finding::of(
        Code::CreateContainerConfigError,
        Some(sub),
        object,
        format!(
            "the container's configuration cannot be built: {}",
            short_cause(m.raw)
        ),
    )
}

/// Whether a runtime error text is a configuration problem (see [`config_error`]).
fn is_config_problem(m: &Msg<'_>) -> bool {
    m.any(&[
        "couldn't find key",
        "runasnonroot",
        "non-root",
        "failed to prepare subpath",
        "failed to sync secret cache",
        "failed to sync configmap cache",
    ]) || (m.any(&["secret \"", "secrets \"", "configmap \"", "configmaps \""])
        && m.has("not found"))
}

/// Start-step fragments (containerd/docker create the process at start).
const START_FAILURE: [&str; 9] = [
    "failed to create containerd task",
    "failed to create shim task",
    "failed to start container",
    "oci runtime start failed",
    "oci runtime create failed",
    "starting container process caused",
    "unable to start container process",
    "exec format error",
    "executable file not found",
];

/// A runtime error for container create/start ("Error: ..." events,
/// CreateContainerError/RunContainerError statuses). `hint` is the code the
/// kubelet's status reason implies, if known.
pub(crate) fn create_or_start_error(m: &Msg<'_>, hint: Option<Code>) -> Finding {
    if m.has("no space left on device") {
        return no_disk(m);
    }
    if is_config_problem(m) {
        return config_error(m);
    }
    if m.has("resolv") && m.any(&["fail", "error"]) {
        return Finding::of(
            Code::RuntimeOperationFailed,
            Some("ResolvConf"),
            None,
            format!(
                "the runtime failed to update the container's resolv.conf: {}",
                short_cause(m.raw)
            ),
        );
    }
    let crio_create = m.has("container create failed");
    let code = hint.unwrap_or(if !crio_create && m.any(&START_FAILURE) {
        Code::RunContainerError
    } else {
        Code::CreateContainerError
    });
    let sub = if m.any(&["executable file not found", "no such file or directory"]) && m.has("exec")
    {
        "ExecNotFound"
    } else if m.has("exec format error") {
        "ExecFormat"
    } else if m.any(&["permission denied", "operation not permitted"]) {
        "PermissionDenied"
    } else if m.any(&[
        "name is reserved",
        "reserving ctr name",
        "failed to reserve container name",
    ]) {
        "NameReserved"
    } else if m.any(&["deadline exceeded", "timeout", "timed out"]) {
        "Timeout"
    } else {
        "Runtime"
    };
    let container = m
        .quoted_after("failed to start container ")
        .or_else(|| m.quoted_after("for container "));
    let step = if code == Code::RunContainerError {
        "started"
    } else {
        "created"
    };
    let named = container
        .map(|c| format!("container \"{c}\""))
        .unwrap_or_else(|| "the container".into());
    Finding::of(
        code,
        Some(sub),
        container,
        format!("{named} could not be {step}: {}", short_cause(m.raw)),
    )
}

/// The kubelet's `Failed` event whose message is `Error: <x>` (or older
/// docker-era texts). Waiting-reason tokens (`Error: ErrImagePull`) are
/// classified as that waiting state.
pub(crate) fn error_event(m: &Msg<'_>) -> Finding {
    if let Some(pos) = m.find("error: ") {
        let rest = m.raw[pos + "error: ".len()..].trim();
        if is_reason_token(rest) {
            if let Some(f) = waiting(rest, &Msg::new(""), false) {
                return f;
            }
        }
    }
    if m.has("failed to start container with") || m.has("failed to start container with docker id")
    {
        return create_or_start_error(m, Some(Code::RunContainerError));
    }
    // Not "failed to create container" alone: it prefixes "failed to create containerd task".
    if m.any(&[
        "failed to create docker container",
        "failed to create container \"",
        "failed to create container with",
    ]) {
        return create_or_start_error(m, Some(Code::CreateContainerError));
    }
    create_or_start_error(m, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(
        kind: StateKind,
        reason: &str,
        msg: &str,
        exit: Option<i32>,
        init: bool,
    ) -> Option<&'static str> {
        classify_container_state(kind, reason, msg, exit, init).map(|f| f.code.as_str())
    }

    #[test]
    fn waiting_reasons() {
        use StateKind::Waiting;
        assert_eq!(
            state(
                Waiting,
                "CrashLoopBackOff",
                "back-off 5m0s restarting failed container=api pod=api-1_prod(uid)",
                None,
                false
            ),
            Some("CrashLoopBackOff")
        );
        assert_eq!(
            state(Waiting, "CrashLoopBackOff", "", None, true),
            Some("InitCrashLoopBackOff")
        );
        assert_eq!(
            state(
                Waiting,
                "ImagePullBackOff",
                "Back-off pulling image \"x:1\"",
                None,
                false
            ),
            Some("ImagePullBackOff")
        );
        assert_eq!(state(Waiting, "ErrImagePull", "rpc error: code = NotFound desc = failed to pull and unpack image \"x:1\": failed to resolve reference \"x:1\": x:1: not found", None, false), Some("ImageNotFound"));
        assert_eq!(
            state(Waiting, "ErrImagePull", "", None, false),
            Some("ImagePullBackOff")
        );
        assert_eq!(
            state(
                Waiting,
                "CreateContainerConfigError",
                "configmap \"settings\" not found",
                None,
                false
            ),
            Some("CreateContainerConfigError")
        );
        assert_eq!(
            state(
                Waiting,
                "CreateContainerError",
                "context deadline exceeded",
                None,
                false
            ),
            Some("CreateContainerError")
        );
        assert_eq!(
            state(
                Waiting,
                "CreateContainerError",
                "context deadline exceeded",
                None,
                true
            ),
            Some("InitContainerError")
        );
        assert_eq!(state(Waiting, "RunContainerError", "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"/bin/server\": permission denied", None, false), Some("RunContainerError"));
        assert_eq!(
            state(
                Waiting,
                "InvalidImageName",
                "Failed to apply default image tag \"a b\": couldn't parse image reference",
                None,
                false
            ),
            Some("InvalidImageName")
        );
        assert_eq!(
            state(
                Waiting,
                "ErrImageNeverPull",
                "Container image \"local/app:dev\" is not present with pull policy of Never",
                None,
                false
            ),
            Some("ErrImageNeverPull")
        );
        assert_eq!(state(Waiting, "ContainerCreating", "", None, false), None);
        assert_eq!(state(Waiting, "PodInitializing", "", None, true), None);
    }

    #[test]
    fn terminated_reasons() {
        use StateKind::Terminated;
        assert_eq!(
            state(Terminated, "OOMKilled", "", Some(137), false),
            Some("OOMKilled")
        );
        assert_eq!(
            state(Terminated, "OOMKilled", "", Some(137), true),
            Some("OOMKilled")
        );
        assert_eq!(
            state(Terminated, "Error", "", Some(2), false),
            Some("CrashLoopBackOff")
        );
        assert_eq!(
            state(Terminated, "Error", "", Some(1), true),
            Some("InitContainerError")
        );
        assert_eq!(state(Terminated, "Completed", "", Some(0), false), None);
        assert_eq!(state(Terminated, "Completed", "", Some(0), true), None);
        assert_eq!(state(Terminated, "StartError", "failed to create containerd task: exec: \"run.sh\": executable file not found in $PATH", Some(128), false), Some("RunContainerError"));
        assert_eq!(state(Terminated, "ContainerCannotRun", "OCI runtime create failed: container_linux.go:349: starting container process caused \"exec: \\\"app\\\": executable file not found in $PATH\"", Some(127), false), Some("RunContainerError"));
        let f = classify_container_state(Terminated, "Error", "", Some(137), false).unwrap();
        assert!(f.what.contains("exit code 137 = SIGKILL"), "{}", f.what);
    }

    #[test]
    fn error_events_by_step() {
        let code = |msg: &str| error_event(&Msg::new(msg)).code.as_str();
        assert_eq!(
            code("Error: configmap \"env\" not found"),
            "CreateContainerConfigError"
        );
        assert_eq!(
            code("Error: couldn't find key password in Secret prod/db"),
            "CreateContainerConfigError"
        );
        assert_eq!(code("Error: container has runAsNonRoot and image will run as root (pod: \"a_b(c)\", container: app)"), "CreateContainerConfigError");
        assert_eq!(
            code("Error: failed to prepare subPath for volumeMount \"cfg\" of container \"app\""),
            "CreateContainerConfigError"
        );
        // CRI-O creates the process at create time
        assert_eq!(code("Error: container create failed: time=\"2024-01-01T00:00:00Z\" level=error msg=\"runc create failed: unable to start container process: exec: \\\"/entry\\\": stat /entry: no such file or directory\""), "CreateContainerError");
        // containerd / docker create it at start
        assert_eq!(code("Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"sleepx\": executable file not found in $PATH: unknown"), "RunContainerError");
        assert_eq!(code("Error: failed to start container \"web\": Error response from daemon: OCI runtime create failed: starting container process caused: exec format error"), "RunContainerError");
        assert_eq!(code("Error: failed to reserve container name \"web_web-1_prod_1\": name \"web_web-1_prod_1\" is reserved for \"ab\""), "CreateContainerError");
        assert_eq!(code("Error: ErrImagePull"), "ImagePullBackOff");
        assert_eq!(code("Error: ImagePullBackOff"), "ImagePullBackOff");
        assert_eq!(code("Error: InvalidImageName"), "InvalidImageName");
        assert_eq!(code("Failed to start container with docker id 4f1e with error: API error (500): cannot join network"), "RunContainerError");
        assert_eq!(
            code("Error: failed to update resolv file of container x: write failed"),
            "RuntimeOperationFailed"
        );
        let f = error_event(&Msg::new("Error: failed to start container \"web\": Error response from daemon: OCI runtime create failed: exec: \"gs\": executable file not found in $PATH: unknown"));
        assert_eq!(
            (f.subject.as_deref(), f.sub_reason.as_deref()),
            (Some("web"), Some("ExecNotFound"))
        );
    }
}
