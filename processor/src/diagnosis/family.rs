//! Failure families: the coarse grouping a person (and the real-message
//! dataset) uses to talk about failures, e.g. `ImagePull/not-found`.
//!
//! Codes are precise and numerous; families are what dashboards group by and
//! what the labelled dataset in `shared/data/event-messages/` uses as ground
//! truth. Every [`Code`] maps to exactly one family ([`family_of`]), so a test
//! can check a classifier (or the whole engine) against those labels.

use super::codes::Code;
use super::scheduling::SchedReason;

/// A failure family. [`Family::label`] gives the dataset's category string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // each variant is named after its label, see `label()`
pub enum Family {
    ImagePullNotFound,
    ImagePullAccessDenied,
    ImagePullRateLimit,
    ImagePullNetwork,
    ImagePullBackOff,
    ImagePullInvalidName,
    SchedulingResources,
    SchedulingAffinity,
    SchedulingTaint,
    SchedulingVolume,
    SchedulingPorts,
    SchedulingOther,
    SandboxNetworkIp,
    SandboxNetworkOther,
    SandboxTimeout,
    SandboxOther,
    MountFailed,
    MountAttach,
    MountConfig,
    DiskNoSpace,
    Evicted,
    Preempted,
    ProbeReadiness,
    ProbeLiveness,
    ProbeStartup,
    ContainerCrashLoop,
    ContainerConfig,
    ContainerCreate,
    ContainerStart,
    ContainerOom,
    ContainerInit,
    HookPostStart,
    RuntimeOther,
    /// Pod create rejected by the API server (quota, webhooks, 4xx/5xx).
    ApiCreate,
    /// The kubelet refused to admit the pod on its node.
    KubeletAdmission,
    ReadinessGate,
    NotReady,
    Slow,
    NoEvent,
    Unknown,
    Delete,
}

impl Family {
    /// The category string, e.g. `ImagePull/not-found`. Families present in
    /// the real-message dataset use its exact strings; the others (init
    /// containers, kubelet admission, readiness gates, slowness, delete) use
    /// the same `Group/detail` style.
    pub fn label(&self) -> &'static str {
        match self {
            Family::ImagePullNotFound => "ImagePull/not-found",
            Family::ImagePullAccessDenied => "ImagePull/access-denied",
            Family::ImagePullRateLimit => "ImagePull/rate-limit",
            Family::ImagePullNetwork => "ImagePull/timeout-or-network",
            Family::ImagePullBackOff => "ImagePull/backoff",
            Family::ImagePullInvalidName => "ImagePull/invalid-name",
            Family::SchedulingResources => "FailedScheduling/insufficient-resources",
            Family::SchedulingAffinity => "FailedScheduling/affinity",
            Family::SchedulingTaint => "FailedScheduling/taint",
            Family::SchedulingVolume => "FailedScheduling/pvc",
            Family::SchedulingPorts => "FailedScheduling/ports",
            Family::SchedulingOther => "FailedScheduling/other",
            Family::SandboxNetworkIp => "Sandbox/network-ip",
            Family::SandboxNetworkOther => "Sandbox/network-other",
            Family::SandboxTimeout => "Sandbox/timeout",
            Family::SandboxOther => "Sandbox/other",
            Family::MountFailed => "Mount/failed",
            Family::MountAttach => "Mount/attach",
            Family::MountConfig => "Mount/config",
            Family::DiskNoSpace => "Disk/no-space",
            Family::Evicted => "Evicted",
            Family::Preempted => "Preempted",
            Family::ProbeReadiness => "Probe/readiness",
            Family::ProbeLiveness => "Probe/liveness",
            Family::ProbeStartup => "Probe/startup",
            Family::ContainerCrashLoop => "Container/crashloop",
            Family::ContainerConfig => "Container/create-config-error",
            Family::ContainerCreate => "Container/create-error",
            Family::ContainerStart => "Container/start-error",
            Family::ContainerOom => "Container/oom",
            Family::ContainerInit => "Container/init",
            Family::HookPostStart => "Hook/poststart",
            Family::RuntimeOther => "Runtime/other",
            Family::ApiCreate => "Quota/admission",
            Family::KubeletAdmission => "Admission/kubelet",
            Family::ReadinessGate => "Readiness/gate",
            Family::NotReady => "Readiness/not-ready",
            Family::Slow => "Slow",
            Family::NoEvent => "Unknown/no-event",
            Family::Unknown => "Unknown",
            Family::Delete => "Delete",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// The family of a code (also [`Code::family`]).
pub fn family_of(code: &Code) -> Family {
    match code {
        Code::QuotaExceeded | Code::WebhookDenied | Code::ApiRejected | Code::ApiServerError => {
            Family::ApiCreate
        }
        Code::Preemption => Family::Preempted,
        Code::Evicted(_) => Family::Evicted,
        Code::FailedScheduling(reason) => scheduling_family(*reason),
        Code::FileSystemReadOnly | Code::UnexpectedAdmissionError | Code::AdmissionRejected => {
            Family::KubeletAdmission
        }
        Code::NoDiskSpace => Family::DiskNoSpace,
        Code::InvalidMountConfig => Family::MountConfig,
        Code::FailedAttachVolume => Family::MountAttach,
        Code::FailedMount => Family::MountFailed,
        Code::AllocateIPTimeout | Code::FailedAllocateIP => Family::SandboxNetworkIp,
        Code::FailedSetNetwork => Family::SandboxNetworkOther,
        Code::CreatePodSandboxTimeout => Family::SandboxTimeout,
        Code::FailedCreatePodSandBox => Family::SandboxOther,
        Code::InvalidImageName => Family::ImagePullInvalidName,
        Code::ErrImageNeverPull | Code::ImageNotFound => Family::ImagePullNotFound,
        Code::ImagePullAccessDenied => Family::ImagePullAccessDenied,
        Code::ImagePullRateLimited => Family::ImagePullRateLimit,
        Code::FailedPullImage => Family::ImagePullNetwork,
        Code::ImagePullBackOff => Family::ImagePullBackOff,
        Code::CreateContainerConfigError => Family::ContainerConfig,
        Code::CreateContainerError => Family::ContainerCreate,
        Code::RunContainerError => Family::ContainerStart,
        Code::OOMKilled => Family::ContainerOom,
        Code::FailedPostStartHook => Family::HookPostStart,
        Code::StartupProbeFailed => Family::ProbeStartup,
        Code::ContainerLivenessFailed => Family::ProbeLiveness,
        Code::InitContainerError | Code::InitCrashLoopBackOff => Family::ContainerInit,
        Code::CrashLoopBackOff => Family::ContainerCrashLoop,
        Code::RuntimeOperationFailed => Family::RuntimeOther,
        Code::ContainerReadinessFailed => Family::ProbeReadiness,
        Code::GateNotReady(_) => Family::ReadinessGate,
        Code::ContainerNotReady => Family::NotReady,
        Code::NoEvent => Family::NoEvent,
        Code::ScheduleDelay
        | Code::KubeletDelay
        | Code::PullImageTooMuchTime
        | Code::TooMuchTime(_) => Family::Slow,
        Code::TimeoutUnknown => Family::Unknown,
        Code::FinalizerNotRemoved | Code::DeleteTimeout | Code::BeforeFinish => Family::Delete,
    }
}

/// Scheduling sub-reason to family. `TooManyPods` (the node's pod-count cap)
/// and `Unschedulable` (cordoned nodes) are capacity/operations limits, not
/// resource requests that do not fit, so they go to `other`.
pub(crate) fn scheduling_family(reason: SchedReason) -> Family {
    match reason {
        SchedReason::InsufficientCpu
        | SchedReason::InsufficientMemory
        | SchedReason::InsufficientGpu
        | SchedReason::InsufficientEphemeralStorage
        | SchedReason::InsufficientOther => Family::SchedulingResources,
        SchedReason::Taint => Family::SchedulingTaint,
        SchedReason::NodeAffinity | SchedReason::PodAffinity | SchedReason::TopologySpread => {
            Family::SchedulingAffinity
        }
        SchedReason::UnboundPvc | SchedReason::VolumeBinding => Family::SchedulingVolume,
        SchedReason::NodePorts => Family::SchedulingPorts,
        SchedReason::TooManyPods | SchedReason::Unschedulable | SchedReason::Other => {
            Family::SchedulingOther
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_family_with_a_label() {
        for code in Code::catalog() {
            assert!(!family_of(&code).label().is_empty());
            assert_eq!(code.family(), family_of(&code));
        }
        assert_eq!(Code::gate_not_ready("x").family(), Family::ReadinessGate);
    }

    #[test]
    fn dataset_labels_are_exact() {
        assert_eq!(Code::ImageNotFound.family().label(), "ImagePull/not-found");
        assert_eq!(
            Code::FailedScheduling(SchedReason::Taint).family().label(),
            "FailedScheduling/taint"
        );
        assert_eq!(
            Code::FailedAllocateIP.family().label(),
            "Sandbox/network-ip"
        );
        assert_eq!(
            Code::evicted_for_condition("memory").family().label(),
            "Evicted"
        );
        assert_eq!(
            Code::ContainerReadinessFailed.family().label(),
            "Probe/readiness"
        );
        assert_eq!(
            Code::CrashLoopBackOff.family().label(),
            "Container/crashloop"
        );
        assert_eq!(Code::QuotaExceeded.family().label(), "Quota/admission");
        assert_eq!(Code::FailedAttachVolume.family().label(), "Mount/attach");
        assert_eq!(Code::NoDiskSpace.family().label(), "Disk/no-space");
        assert_eq!(Code::Preemption.family().label(), "Preempted");
    }
}
