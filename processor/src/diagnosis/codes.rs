//! Diagnosis codes: the stable strings that windows count, sinks store and the
//! simulator injects, plus their precedence.
//!
//! A [`Code`] is small and `Copy` so the engine can keep one per in-flight pod
//! cheaply. Codes whose *family* depends on a detail carry that detail as a
//! payload (the scheduling sub-reason, the eviction cause, the stage), which
//! makes [`Code::family`] a total function while `as_str` stays the plain
//! code string (`FailedScheduling` for every scheduling sub-reason).
//!
//! [`Code::rank`] orders codes for "first matching rule wins": create
//! rejections, then events that end the pod (preemption, eviction), then the
//! lifecycle in the order the kubelet walks it (schedule, admit, disk, volumes,
//! sandbox and network, images, containers, probes, readiness), then the
//! absence of evidence, then slowness. Inside a stage a root cause ranks
//! before its symptom (`ImageNotFound` before `ImagePullBackOff`, `OOMKilled`
//! before `CrashLoopBackOff`, a CNI IP failure before the sandbox failure it
//! causes).

use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, RwLock};

use super::scheduling::SchedReason;

/// Stages named by `<Stage>TooMuchTime` when nothing failed but the SLO was missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Creation to binding by the default scheduler.
    DefaultSchedule,
    /// Binding to the first kubelet activity on the pod.
    KubeletDelay,
    /// Pod IP allocation by the CNI/IPAM.
    IpAllocate,
    /// Volume mount by the kubelet.
    VolumeMount,
    /// Volume attach by the attach/detach controller.
    VolumeAttach,
    /// Pod sandbox creation by the container runtime.
    SandboxCreate,
    /// Image pulls.
    ImagePull,
    /// Container creation.
    ContainerCreate,
    /// Container start.
    ContainerStart,
    /// Post-start lifecycle hooks.
    PostStartHook,
    /// Init containers.
    PodInitial,
    /// Containers started to all containers ready (readiness probes).
    ContainerReady,
    /// Containers ready to pod Ready (readiness gates).
    PodReady,
}

impl Stage {
    /// Every stage, in lifecycle order.
    pub const ALL: [Stage; 13] = [
        Stage::DefaultSchedule,
        Stage::KubeletDelay,
        Stage::IpAllocate,
        Stage::VolumeMount,
        Stage::VolumeAttach,
        Stage::SandboxCreate,
        Stage::ImagePull,
        Stage::ContainerCreate,
        Stage::ContainerStart,
        Stage::PostStartHook,
        Stage::PodInitial,
        Stage::ContainerReady,
        Stage::PodReady,
    ];

    /// The stage name as used in codes, e.g. `ImagePull`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::DefaultSchedule => "DefaultSchedule",
            Stage::KubeletDelay => "KubeletDelay",
            Stage::IpAllocate => "IpAllocate",
            Stage::VolumeMount => "VolumeMount",
            Stage::VolumeAttach => "VolumeAttach",
            Stage::SandboxCreate => "SandboxCreate",
            Stage::ImagePull => "ImagePull",
            Stage::ContainerCreate => "ContainerCreate",
            Stage::ContainerStart => "ContainerStart",
            Stage::PostStartHook => "PostStartHook",
            Stage::PodInitial => "PodInitial",
            Stage::ContainerReady => "ContainerReady",
            Stage::PodReady => "PodReady",
        }
    }

    /// `<Stage>TooMuchTime`.
    fn too_much_time(self) -> &'static str {
        match self {
            Stage::DefaultSchedule => "DefaultScheduleTooMuchTime",
            Stage::KubeletDelay => "KubeletDelayTooMuchTime",
            Stage::IpAllocate => "IpAllocateTooMuchTime",
            Stage::VolumeMount => "VolumeMountTooMuchTime",
            Stage::VolumeAttach => "VolumeAttachTooMuchTime",
            Stage::SandboxCreate => "SandboxCreateTooMuchTime",
            Stage::ImagePull => "ImagePullTooMuchTime",
            Stage::ContainerCreate => "ContainerCreateTooMuchTime",
            Stage::ContainerStart => "ContainerStartTooMuchTime",
            Stage::PostStartHook => "PostStartHookTooMuchTime",
            Stage::PodInitial => "PodInitialTooMuchTime",
            Stage::ContainerReady => "ContainerReadyTooMuchTime",
            Stage::PodReady => "PodReadyTooMuchTime",
        }
    }

    /// What happens in the stage, for summaries ("pulling images").
    pub fn describe(self) -> &'static str {
        match self {
            Stage::DefaultSchedule => "scheduling",
            Stage::KubeletDelay => "waiting for the kubelet to start work on the pod",
            Stage::IpAllocate => "allocating the pod IP",
            Stage::VolumeMount => "mounting volumes",
            Stage::VolumeAttach => "attaching volumes",
            Stage::SandboxCreate => "creating the pod sandbox",
            Stage::ImagePull => "pulling images",
            Stage::ContainerCreate => "creating containers",
            Stage::ContainerStart => "starting containers",
            Stage::PostStartHook => "running post-start hooks",
            Stage::PodInitial => "running init containers",
            Stage::ContainerReady => "waiting for containers to become ready",
            Stage::PodReady => "waiting for readiness gates",
        }
    }
}

/// Why the kubelet (or the node) evicted a pod; names `<Condition>Evicted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EvictionCause {
    /// Node condition DiskPressure (nodefs/imagefs low).
    DiskPressure,
    /// Node condition MemoryPressure.
    MemoryPressure,
    /// Node condition PIDPressure.
    PidPressure,
    /// Ephemeral storage: node low on it, or a pod/container/emptyDir over its limit.
    EphemeralStorage,
    /// Anything else (taint manager, node shutdown, kubelet kill grace period...).
    Other,
}

impl EvictionCause {
    /// Maps a node condition or resource name (`DiskPressure`, `memory`,
    /// `nodefs`, `pids`, `ephemeral-storage`...) to a cause.
    pub fn from_condition(name: &str) -> EvictionCause {
        let lc = name.trim().to_ascii_lowercase();
        match lc.as_str() {
            "diskpressure" | "nodefs" | "imagefs" | "nodefsinodes" | "imagefsinodes"
            | "containerfs" | "containerfsinodes" => EvictionCause::DiskPressure,
            "memorypressure" | "memory" => EvictionCause::MemoryPressure,
            "pidpressure" | "pids" | "pid" => EvictionCause::PidPressure,
            "ephemeral-storage" | "ephemeralstorage" => EvictionCause::EphemeralStorage,
            _ => EvictionCause::Other,
        }
    }
}

/// The code string of a readiness gate, `<gate>_NotReady`, interned for the
/// life of the process (see [`Code::gate_not_ready`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GateCode(&'static str);

impl GateCode {
    /// The gate's condition type (the part before `_NotReady`).
    pub fn gate(self) -> &'static str {
        self.0.strip_suffix(GATE_SUFFIX).unwrap_or(self.0)
    }
}

const GATE_SUFFIX: &str = "_NotReady";
/// Code used once [`MAX_INTERNED_GATES`] distinct gates were seen.
const GATE_OVERFLOW: &str = "ReadinessGate_NotReady";
/// Bound on interned gate names: gate types are few per fleet; this caps
/// the memory a stream of bogus names could pin.
const MAX_INTERNED_GATES: usize = 1024;

fn gate_table() -> &'static RwLock<HashMap<Box<str>, &'static str>> {
    static TABLE: OnceLock<RwLock<HashMap<Box<str>, &'static str>>> = OnceLock::new();
    TABLE.get_or_init(|| RwLock::new(HashMap::new()))
}

fn intern_gate(gate: &str) -> &'static str {
    let gate = gate.trim();
    if gate.is_empty() || gate.len() > 253 {
        return GATE_OVERFLOW;
    }
    {
        let table = gate_table().read().unwrap_or_else(|e| e.into_inner());
        if let Some(code) = table.get(gate) {
            return code;
        }
    }
    let mut table = gate_table().write().unwrap_or_else(|e| e.into_inner());
    if let Some(code) = table.get(gate) {
        return code;
    }
    if table.len() >= MAX_INTERNED_GATES {
        return GATE_OVERFLOW;
    }
    let code: &'static str = Box::leak(format!("{gate}{GATE_SUFFIX}").into_boxed_str());
    table.insert(gate.into(), code);
    code
}

/// A diagnosis code. `as_str` gives the stable string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // variants are documented in docs/diagnosis-codes.md and by `advice()`
pub enum Code {
    // --- create request rejected by the API server
    QuotaExceeded,
    WebhookDenied,
    ApiRejected,
    ApiServerError,
    // --- the pod was taken away
    Preemption,
    /// `<Condition>Evicted` (plain `Evicted` for [`EvictionCause::Other`]).
    Evicted(EvictionCause),
    // --- scheduling and kubelet admission
    /// `FailedScheduling`, with the dominant sub-reason.
    FailedScheduling(SchedReason),
    FileSystemReadOnly,
    UnexpectedAdmissionError,
    AdmissionRejected,
    // --- node disk, volumes
    NoDiskSpace,
    InvalidMountConfig,
    FailedAttachVolume,
    FailedMount,
    // --- sandbox and network
    AllocateIPTimeout,
    FailedAllocateIP,
    FailedSetNetwork,
    CreatePodSandboxTimeout,
    FailedCreatePodSandBox,
    // --- images
    InvalidImageName,
    ErrImageNeverPull,
    ImageNotFound,
    ImagePullAccessDenied,
    ImagePullRateLimited,
    FailedPullImage,
    ImagePullBackOff,
    // --- containers
    CreateContainerConfigError,
    CreateContainerError,
    RunContainerError,
    OOMKilled,
    FailedPostStartHook,
    StartupProbeFailed,
    ContainerLivenessFailed,
    InitContainerError,
    InitCrashLoopBackOff,
    CrashLoopBackOff,
    RuntimeOperationFailed,
    // --- readiness
    ContainerReadinessFailed,
    /// `<Gate>_NotReady`; build with [`Code::gate_not_ready`].
    GateNotReady(GateCode),
    ContainerNotReady,
    // --- no evidence, slowness
    NoEvent,
    ScheduleDelay,
    KubeletDelay,
    PullImageTooMuchTime,
    /// `<Stage>TooMuchTime` (`PostStartHookTooMuchTime` is the
    /// [`Stage::PostStartHook`] case, see [`Code::POST_START_HOOK_TOO_MUCH_TIME`]).
    TooMuchTime(Stage),
    TimeoutUnknown,
    // --- delete deliveries
    FinalizerNotRemoved,
    DeleteTimeout,
    BeforeFinish,
}

impl Code {
    /// `PostStartHookTooMuchTime`: a post-start hook ran too long (the
    /// original's rule: >= 180 s).
    pub const POST_START_HOOK_TOO_MUCH_TIME: Code = Code::TooMuchTime(Stage::PostStartHook);

    /// `<gate>_NotReady` for a readiness gate condition type. Gate names are
    /// interned once per process (bounded; past 1024 distinct gates the code
    /// is `ReadinessGate_NotReady`).
    pub fn gate_not_ready(gate: &str) -> Code {
        Code::GateNotReady(GateCode(intern_gate(gate)))
    }

    /// `<Condition>Evicted` for a node condition or resource name; unknown
    /// names give plain `Evicted`.
    pub fn evicted_for_condition(condition: &str) -> Code {
        Code::Evicted(EvictionCause::from_condition(condition))
    }

    /// The code string, e.g. `ImageNotFound`, `DiskPressureEvicted`,
    /// `ImagePullTooMuchTime`, `timeout_unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Code::QuotaExceeded => "QuotaExceeded",
            Code::WebhookDenied => "WebhookDenied",
            Code::ApiRejected => "ApiRejected",
            Code::ApiServerError => "ApiServerError",
            Code::Preemption => "Preemption",
            Code::Evicted(cause) => match cause {
                EvictionCause::DiskPressure => "DiskPressureEvicted",
                EvictionCause::MemoryPressure => "MemoryPressureEvicted",
                EvictionCause::PidPressure => "PIDPressureEvicted",
                EvictionCause::EphemeralStorage => "EphemeralStorageEvicted",
                EvictionCause::Other => "Evicted",
            },
            Code::FailedScheduling(_) => "FailedScheduling",
            Code::FileSystemReadOnly => "FileSystemReadOnly",
            Code::UnexpectedAdmissionError => "UnexpectedAdmissionError",
            Code::AdmissionRejected => "AdmissionRejected",
            Code::NoDiskSpace => "NoDiskSpace",
            Code::InvalidMountConfig => "InvalidMountConfig",
            Code::FailedAttachVolume => "FailedAttachVolume",
            Code::FailedMount => "FailedMount",
            Code::AllocateIPTimeout => "AllocateIPTimeout",
            Code::FailedAllocateIP => "FailedAllocateIP",
            Code::FailedSetNetwork => "FailedSetNetwork",
            Code::CreatePodSandboxTimeout => "CreatePodSandboxTimeout",
            Code::FailedCreatePodSandBox => "FailedCreatePodSandBox",
            Code::InvalidImageName => "InvalidImageName",
            Code::ErrImageNeverPull => "ErrImageNeverPull",
            Code::ImageNotFound => "ImageNotFound",
            Code::ImagePullAccessDenied => "ImagePullAccessDenied",
            Code::ImagePullRateLimited => "ImagePullRateLimited",
            Code::FailedPullImage => "FailedPullImage",
            Code::ImagePullBackOff => "ImagePullBackOff",
            Code::CreateContainerConfigError => "CreateContainerConfigError",
            Code::CreateContainerError => "CreateContainerError",
            Code::RunContainerError => "RunContainerError",
            Code::OOMKilled => "OOMKilled",
            Code::FailedPostStartHook => "FailedPostStartHook",
            Code::StartupProbeFailed => "StartupProbeFailed",
            Code::ContainerLivenessFailed => "ContainerLivenessFailed",
            Code::InitContainerError => "InitContainerError",
            Code::InitCrashLoopBackOff => "InitCrashLoopBackOff",
            Code::CrashLoopBackOff => "CrashLoopBackOff",
            Code::RuntimeOperationFailed => "RuntimeOperationFailed",
            Code::ContainerReadinessFailed => "ContainerReadinessFailed",
            Code::GateNotReady(gate) => gate.0,
            Code::ContainerNotReady => "ContainerNotReady",
            Code::NoEvent => "NoEvent",
            Code::ScheduleDelay => "ScheduleDelay",
            Code::KubeletDelay => "KubeletDelay",
            Code::PullImageTooMuchTime => "PullImageTooMuchTime",
            Code::TooMuchTime(stage) => stage.too_much_time(),
            Code::TimeoutUnknown => "timeout_unknown",
            Code::FinalizerNotRemoved => "FinalizerNotRemoved",
            Code::DeleteTimeout => "DeleteTimeout",
            Code::BeforeFinish => "beforeFinish",
        }
    }

    /// Parses a code string back (inverse of [`Code::as_str`]). The scheduling
    /// sub-reason is not part of the string, so `FailedScheduling` parses to
    /// `FailedScheduling(SchedReason::Other)`. `<X>_NotReady` interns `X`.
    pub fn parse(s: &str) -> Option<Code> {
        if let Some(code) = Code::catalog().into_iter().find(|c| c.as_str() == s) {
            return Some(code);
        }
        if let Some(stage) = Stage::ALL.iter().find(|st| st.too_much_time() == s) {
            return Some(Code::TooMuchTime(*stage));
        }
        if let Some(gate) = s.strip_suffix(GATE_SUFFIX) {
            return (!gate.is_empty()).then(|| Code::gate_not_ready(gate));
        }
        None
    }

    /// Like [`Code::parse`], restoring the scheduling sub-reason from the
    /// finding's `sub_reason` (so `FailedScheduling` + `Taint` maps to the
    /// `FailedScheduling/taint` family). For tests and tools that read codes
    /// back from output records.
    pub fn parse_with_sub_reason(code: &str, sub_reason: Option<&str>) -> Option<Code> {
        match Code::parse(code)? {
            Code::FailedScheduling(_) => Some(Code::FailedScheduling(
                sub_reason
                    .and_then(SchedReason::parse)
                    .unwrap_or(SchedReason::Other),
            )),
            other => Some(other),
        }
    }

    /// Precedence for "first matching rule wins": lower wins. See the module
    /// docs for the order and why.
    pub fn rank(&self) -> u16 {
        match self {
            Code::QuotaExceeded => 10,
            Code::WebhookDenied => 11,
            Code::ApiRejected => 12,
            Code::ApiServerError => 13,
            Code::Preemption => 20,
            Code::Evicted(_) => 21,
            Code::FailedScheduling(_) => 30,
            Code::FileSystemReadOnly => 40,
            Code::UnexpectedAdmissionError => 41,
            Code::AdmissionRejected => 42,
            Code::NoDiskSpace => 50,
            Code::InvalidMountConfig => 60,
            Code::FailedAttachVolume => 61,
            Code::FailedMount => 62,
            Code::AllocateIPTimeout => 70,
            Code::FailedAllocateIP => 71,
            Code::FailedSetNetwork => 72,
            Code::CreatePodSandboxTimeout => 73,
            Code::FailedCreatePodSandBox => 74,
            Code::InvalidImageName => 80,
            Code::ErrImageNeverPull => 81,
            Code::ImageNotFound => 82,
            Code::ImagePullAccessDenied => 83,
            Code::ImagePullRateLimited => 84,
            Code::FailedPullImage => 85,
            Code::ImagePullBackOff => 86,
            Code::CreateContainerConfigError => 90,
            Code::CreateContainerError => 91,
            Code::RunContainerError => 92,
            Code::OOMKilled => 100,
            Code::FailedPostStartHook => 101,
            Code::StartupProbeFailed => 102,
            Code::ContainerLivenessFailed => 103,
            // A crash loop outranks the exit that started it (as
            // CrashLoopBackOff does for main containers): `Init:Error`
            // alone, without back-off yet, is InitContainerError.
            Code::InitCrashLoopBackOff => 104,
            Code::InitContainerError => 105,
            Code::CrashLoopBackOff => 106,
            Code::RuntimeOperationFailed => 107,
            Code::ContainerReadinessFailed => 110,
            Code::GateNotReady(_) => 111,
            Code::ContainerNotReady => 112,
            Code::NoEvent => 120,
            Code::ScheduleDelay => 130,
            Code::KubeletDelay => 131,
            Code::PullImageTooMuchTime => 132,
            Code::TooMuchTime(stage) => 140 + *stage as u16,
            Code::TimeoutUnknown => 160,
            Code::FinalizerNotRemoved => 170,
            Code::DeleteTimeout => 171,
            Code::BeforeFinish => 180,
        }
    }

    /// What a person should do about it (one or two sentences).
    pub fn advice(&self) -> &'static str {
        super::advice::advice(self)
    }

    /// The failure family the code belongs to (total: every code has one).
    pub fn family(&self) -> super::Family {
        super::family::family_of(self)
    }

    /// One code per distinct string (scheduling with sub-reason `Other`,
    /// every eviction cause and stage, gate codes excluded), in rank order.
    /// Used by docs tests and `parse`.
    pub fn catalog() -> Vec<Code> {
        let mut all = vec![
            Code::QuotaExceeded,
            Code::WebhookDenied,
            Code::ApiRejected,
            Code::ApiServerError,
            Code::Preemption,
            Code::Evicted(EvictionCause::DiskPressure),
            Code::Evicted(EvictionCause::MemoryPressure),
            Code::Evicted(EvictionCause::PidPressure),
            Code::Evicted(EvictionCause::EphemeralStorage),
            Code::Evicted(EvictionCause::Other),
            Code::FailedScheduling(SchedReason::Other),
            Code::FileSystemReadOnly,
            Code::UnexpectedAdmissionError,
            Code::AdmissionRejected,
            Code::NoDiskSpace,
            Code::InvalidMountConfig,
            Code::FailedAttachVolume,
            Code::FailedMount,
            Code::AllocateIPTimeout,
            Code::FailedAllocateIP,
            Code::FailedSetNetwork,
            Code::CreatePodSandboxTimeout,
            Code::FailedCreatePodSandBox,
            Code::InvalidImageName,
            Code::ErrImageNeverPull,
            Code::ImageNotFound,
            Code::ImagePullAccessDenied,
            Code::ImagePullRateLimited,
            Code::FailedPullImage,
            Code::ImagePullBackOff,
            Code::CreateContainerConfigError,
            Code::CreateContainerError,
            Code::RunContainerError,
            Code::OOMKilled,
            Code::FailedPostStartHook,
            Code::StartupProbeFailed,
            Code::ContainerLivenessFailed,
            Code::InitContainerError,
            Code::InitCrashLoopBackOff,
            Code::CrashLoopBackOff,
            Code::RuntimeOperationFailed,
            Code::ContainerReadinessFailed,
            Code::ContainerNotReady,
            Code::NoEvent,
            Code::ScheduleDelay,
            Code::KubeletDelay,
            Code::PullImageTooMuchTime,
            Code::TimeoutUnknown,
            Code::FinalizerNotRemoved,
            Code::DeleteTimeout,
            Code::BeforeFinish,
        ];
        all.extend(Stage::ALL.iter().map(|s| Code::TooMuchTime(*s)));
        all.sort_by_key(|c| c.rank());
        all
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_string_round_trips() {
        for code in Code::catalog() {
            let parsed = Code::parse(code.as_str()).unwrap_or_else(|| panic!("{code}"));
            assert_eq!(parsed.as_str(), code.as_str());
        }
        assert_eq!(Code::parse("nope"), None);
        assert_eq!(Code::parse("_NotReady"), None);
    }

    #[test]
    fn scheduling_sub_reason_survives_a_round_trip() {
        for reason in SchedReason::ALL {
            let code = Code::FailedScheduling(reason);
            assert_eq!(
                Code::parse_with_sub_reason(code.as_str(), Some(reason.as_str())),
                Some(code)
            );
        }
        assert_eq!(
            Code::parse_with_sub_reason("ImageNotFound", Some("NotFound")),
            Some(Code::ImageNotFound)
        );
    }

    #[test]
    fn code_strings_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::catalog() {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
        }
        assert_eq!(
            Code::POST_START_HOOK_TOO_MUCH_TIME.as_str(),
            "PostStartHookTooMuchTime"
        );
    }

    #[test]
    fn gates_are_interned_and_bounded() {
        let a = Code::gate_not_ready("target-health.elbv2.k8s.aws/tg");
        let b = Code::gate_not_ready("target-health.elbv2.k8s.aws/tg");
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "target-health.elbv2.k8s.aws/tg_NotReady");
        if let Code::GateNotReady(g) = a {
            assert_eq!(g.gate(), "target-health.elbv2.k8s.aws/tg");
        }
        assert_eq!(Code::gate_not_ready("  ").as_str(), GATE_OVERFLOW);
        assert_eq!(
            Code::parse("example.com/ready_NotReady"),
            Some(Code::gate_not_ready("example.com/ready"))
        );
    }

    #[test]
    fn eviction_conditions_map() {
        assert_eq!(
            Code::evicted_for_condition("DiskPressure").as_str(),
            "DiskPressureEvicted"
        );
        assert_eq!(
            Code::evicted_for_condition("memory").as_str(),
            "MemoryPressureEvicted"
        );
        assert_eq!(
            Code::evicted_for_condition("pids").as_str(),
            "PIDPressureEvicted"
        );
        assert_eq!(
            Code::evicted_for_condition("ephemeral-storage").as_str(),
            "EphemeralStorageEvicted"
        );
        assert_eq!(Code::evicted_for_condition("Weird").as_str(), "Evicted");
    }

    #[test]
    fn ranks_put_causes_before_symptoms() {
        assert!(Code::ImageNotFound.rank() < Code::ImagePullBackOff.rank());
        assert!(Code::FailedAllocateIP.rank() < Code::FailedCreatePodSandBox.rank());
        assert!(Code::OOMKilled.rank() < Code::CrashLoopBackOff.rank());
        assert!(Code::NoDiskSpace.rank() < Code::FailedPullImage.rank());
        assert!(Code::FailedAttachVolume.rank() < Code::FailedMount.rank());
        assert!(Code::CrashLoopBackOff.rank() < Code::PullImageTooMuchTime.rank());
        // Init:CrashLoopBackOff names the loop; the exit that started it is its detail.
        assert!(Code::InitCrashLoopBackOff.rank() < Code::InitContainerError.rank());
        assert!(Code::TooMuchTime(Stage::PodReady).rank() < Code::TimeoutUnknown.rank());
    }
}
