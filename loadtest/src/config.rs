//! What to simulate: cluster and pod counts, the seed, start time, arrival
//! rate, and the fault table with its ground-truth verdicts.
//!
//! The fault table is the contract between the simulator and the engine's
//! tests: each [`Fault`] names what is injected and the result and diagnosis
//! code the engine must give for it. Keep the code strings exactly as they are.

use std::fmt;

use crate::SimError;

/// A fault the simulator can inject into one pod's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Scheduler: every node lacks CPU.
    SchedInsufficientCpu,
    /// Scheduler: every node lacks memory.
    SchedInsufficientMemory,
    /// Scheduler: every node has a taint the pod does not tolerate.
    SchedTaint,
    /// Scheduler: no node matches the pod's node selector.
    SchedAffinity,
    /// Scheduler: the pod's PersistentVolumeClaim is unbound.
    SchedUnboundPvc,
    /// One image pull takes 95-200 s; the pod becomes Ready after its deadline.
    SlowPull,
    /// Image pull fails: image not found.
    PullNotFound,
    /// Image pull fails: access denied / 401.
    PullAccessDenied,
    /// Image pull times out, then only back-off is visible.
    PullBackoff,
    /// Sandbox creation fails: CNI times out allocating an IP.
    SandboxIpTimeout,
    /// Sandbox creation fails: CNI fails to set up the network.
    SandboxNetwork,
    /// A persistent volume cannot be mounted on the node: the CSI driver
    /// times out (`DeadlineExceeded`) or the NFS mount fails (`exit status
    /// 32`), then the kubelet's wait for volumes times out.
    FailedMount,
    /// A configMap/secret volume refers to an object that does not exist.
    MountConfig,
    /// A container references a missing configMap/secret key.
    CreateContainerConfigError,
    /// A container exits with an error and restarts with back-off.
    Crashloop,
    /// The readiness probe keeps failing.
    ReadinessFail,
    /// A postStart hook runs 200+ s.
    SlowPoststart,
    /// The running, not yet ready pod is preempted and deleted.
    Preempted,
    /// An init container exits with an error and restarts with back-off.
    InitCrashloop,
    /// The create is rejected by ResourceQuota (403).
    QuotaDenied,
    /// The create is rejected by a validating admission webhook.
    WebhookDenied,
    /// The create fails with a server error (500/503).
    Create5xx,
    /// A delivered pod is deleted later and a finalizer is never removed in time.
    StuckFinalizer,
}

impl Fault {
    /// Every fault, in table order.
    pub const ALL: [Fault; 23] = [
        Fault::SchedInsufficientCpu,
        Fault::SchedInsufficientMemory,
        Fault::SchedTaint,
        Fault::SchedAffinity,
        Fault::SchedUnboundPvc,
        Fault::SlowPull,
        Fault::PullNotFound,
        Fault::PullAccessDenied,
        Fault::PullBackoff,
        Fault::SandboxIpTimeout,
        Fault::SandboxNetwork,
        Fault::FailedMount,
        Fault::MountConfig,
        Fault::CreateContainerConfigError,
        Fault::Crashloop,
        Fault::ReadinessFail,
        Fault::SlowPoststart,
        Fault::Preempted,
        Fault::InitCrashloop,
        Fault::QuotaDenied,
        Fault::WebhookDenied,
        Fault::Create5xx,
        Fault::StuckFinalizer,
    ];

    /// The name used on the command line and in `truth.jsonl`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::SchedInsufficientCpu => "sched_insufficient_cpu",
            Fault::SchedInsufficientMemory => "sched_insufficient_memory",
            Fault::SchedTaint => "sched_taint",
            Fault::SchedAffinity => "sched_affinity",
            Fault::SchedUnboundPvc => "sched_unbound_pvc",
            Fault::SlowPull => "slow_pull",
            Fault::PullNotFound => "pull_not_found",
            Fault::PullAccessDenied => "pull_access_denied",
            Fault::PullBackoff => "pull_backoff",
            Fault::SandboxIpTimeout => "sandbox_ip_timeout",
            Fault::SandboxNetwork => "sandbox_network",
            Fault::FailedMount => "failed_mount",
            Fault::MountConfig => "mount_config",
            Fault::CreateContainerConfigError => "create_config_error",
            Fault::Crashloop => "crashloop",
            Fault::ReadinessFail => "readiness_fail",
            Fault::SlowPoststart => "slow_poststart",
            Fault::Preempted => "preempted",
            Fault::InitCrashloop => "init_crashloop",
            Fault::QuotaDenied => "quota_denied",
            Fault::WebhookDenied => "webhook_denied",
            Fault::Create5xx => "create_5xx",
            Fault::StuckFinalizer => "stuck_finalizer",
        }
    }

    /// Parses a fault name as printed by [`Fault::name`].
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Expected create-delivery `(result, code, sub_reason)`. The webhook
    /// sub-reason depends on the webhook drawn, so it is filled in by the pod
    /// simulation; `StuckFinalizer` is a delete fault (create succeeds).
    pub fn expected_create(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Fault::SchedInsufficientCpu => ("fail", "FailedScheduling", "InsufficientCPU"),
            Fault::SchedInsufficientMemory => ("fail", "FailedScheduling", "InsufficientMemory"),
            Fault::SchedTaint => ("fail", "FailedScheduling", "Taint"),
            Fault::SchedAffinity => ("fail", "FailedScheduling", "NodeAffinity"),
            Fault::SchedUnboundPvc => ("fail", "FailedScheduling", "UnboundPVC"),
            Fault::SlowPull => ("fail", "PullImageTooMuchTime", ""),
            Fault::PullNotFound => ("fail", "ImageNotFound", ""),
            Fault::PullAccessDenied => ("fail", "ImagePullAccessDenied", ""),
            Fault::PullBackoff => ("fail", "ImagePullBackOff", ""),
            Fault::SandboxIpTimeout => ("fail", "AllocateIPTimeout", ""),
            Fault::SandboxNetwork => ("fail", "FailedSetNetwork", ""),
            Fault::FailedMount => ("fail", "FailedMount", ""),
            Fault::MountConfig => ("fail", "InvalidMountConfig", ""),
            Fault::CreateContainerConfigError => ("fail", "CreateContainerConfigError", ""),
            Fault::Crashloop => ("fail", "CrashLoopBackOff", ""),
            Fault::ReadinessFail => ("fail", "ContainerReadinessFailed", ""),
            Fault::SlowPoststart => ("fail", "PostStartHookTooMuchTime", ""),
            Fault::Preempted => ("kill", "Preemption", ""),
            Fault::InitCrashloop => ("fail", "InitCrashLoopBackOff", ""),
            Fault::QuotaDenied => ("api_failed", "QuotaExceeded", ""),
            Fault::WebhookDenied => ("api_failed", "WebhookDenied", ""),
            Fault::Create5xx => ("api_failed", "ApiServerError", ""),
            Fault::StuckFinalizer => ("success", "", ""),
        }
    }

    /// Whether a job pod (restartPolicy Never/OnFailure) can show this fault.
    /// Faults that only bite after a container runs cannot fail a job, whose
    /// delivery ends at phase Running.
    pub fn applies_to_jobs(self) -> bool {
        !matches!(
            self,
            Fault::Crashloop
                | Fault::ReadinessFail
                | Fault::SlowPoststart
                | Fault::Preempted
                | Fault::StuckFinalizer
        )
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Probability per pod of each fault; a pod gets at most one.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRates {
    rates: Vec<(Fault, f64)>,
}

/// Total fault probability of [`FaultRates::default`].
pub const DEFAULT_TOTAL_FAULT_RATE: f64 = 0.30;

impl Default for FaultRates {
    /// About 30 % of pods faulty, spread evenly, so every kind shows up.
    fn default() -> Self {
        FaultRates::uniform(DEFAULT_TOTAL_FAULT_RATE)
    }
}

impl FaultRates {
    /// `total` spread evenly over all faults (`0.0` gives a clean run).
    pub fn uniform(total: f64) -> Self {
        let each = total / Fault::ALL.len() as f64;
        FaultRates {
            rates: Fault::ALL.iter().map(|&f| (f, each)).collect(),
        }
    }

    /// No faults.
    pub fn none() -> Self {
        FaultRates::uniform(0.0)
    }

    /// Sets one fault's rate.
    pub fn set(&mut self, fault: Fault, rate: f64) -> &mut Self {
        for (f, r) in &mut self.rates {
            if *f == fault {
                *r = rate;
            }
        }
        self
    }

    /// The rate of one fault.
    pub fn get(&self, fault: Fault) -> f64 {
        self.rates
            .iter()
            .find(|(f, _)| *f == fault)
            .map_or(0.0, |(_, r)| *r)
    }

    /// Sum of all rates.
    pub fn total(&self) -> f64 {
        self.rates.iter().map(|(_, r)| r.max(0.0)).sum()
    }

    /// Applies overrides written as `name=rate,name=rate`.
    ///
    /// ```
    /// use lunettes_loadtest::{Fault, FaultRates};
    /// let mut r = FaultRates::none();
    /// r.apply_overrides("crashloop=0.1, slow_pull=0.05").unwrap();
    /// assert_eq!(r.get(Fault::Crashloop), 0.1);
    /// assert!(r.apply_overrides("crashlop=0.1").is_err());
    /// ```
    pub fn apply_overrides(&mut self, spec: &str) -> Result<(), SimError> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, rate) = item.split_once('=').ok_or_else(|| {
                SimError::Config(format!("fault override {item:?}: expected name=rate"))
            })?;
            let fault = Fault::from_name(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                SimError::Config(format!(
                    "fault override {item:?}: unknown fault {name:?} (known: {})",
                    known.join(", ")
                ))
            })?;
            let rate: f64 = rate.trim().parse().map_err(|_| {
                SimError::Config(format!(
                    "fault override {item:?}: rate {rate:?} is not a number"
                ))
            })?;
            if !(0.0..=1.0).contains(&rate) {
                return Err(SimError::Config(format!(
                    "fault override {item:?}: rate must be within 0..=1"
                )));
            }
            self.set(fault, rate);
        }
        Ok(())
    }

    /// Checks every rate is within `0..=1` and the total at most 1.
    pub fn validate(&self) -> Result<(), SimError> {
        for (f, r) in &self.rates {
            if !(0.0..=1.0).contains(r) {
                return Err(SimError::Config(format!(
                    "fault rate of {f} is {r}, must be within 0..=1"
                )));
            }
        }
        let total = self.total();
        if total > 1.0 + 1e-9 {
            return Err(SimError::Config(format!(
                "fault rates add up to {total:.3}, must be at most 1"
            )));
        }
        Ok(())
    }

    /// Maps a uniform draw in `[0, 1)` to a fault. Rates are used as given
    /// when they sum to at most 1, otherwise scaled to sum to 1; negative or
    /// NaN rates count as 0.
    pub(crate) fn draw(&self, u: f64) -> Option<Fault> {
        let total = self.total();
        let scale = if total > 1.0 { 1.0 / total } else { 1.0 };
        let mut acc = 0.0;
        for (f, r) in &self.rates {
            let r = if r.is_finite() { r.max(0.0) } else { 0.0 };
            acc += r * scale;
            if u < acc {
                return Some(*f);
            }
        }
        None
    }
}

/// Everything that determines a simulation run. Same config -> same bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Number of clusters, named `sim-1` .. `sim-N`.
    pub clusters: usize,
    /// Total number of pods over all clusters, split evenly (the first
    /// clusters take the remainder).
    pub pods: usize,
    /// Seed of every random draw.
    pub seed: u64,
    /// Time of the first pod arrival, microseconds since the epoch.
    pub start_us: i64,
    /// Per-pod fault probabilities.
    pub fault_rates: FaultRates,
    /// Pod arrival rate per cluster (Poisson), pods per second.
    pub pods_per_second: f64,
    /// Fraction of healthy, delivered service pods deleted later (gracefully).
    pub delete_fraction: f64,
    /// Fraction of pods that are jobs (restartPolicy Never/OnFailure).
    pub job_fraction: f64,
}

/// 2026-01-01T00:00:00Z, the start when none is given (never the wall clock).
pub const DEFAULT_START_US: i64 = 1_767_225_600_000_000;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            clusters: 3,
            pods: 1000,
            seed: 1,
            start_us: DEFAULT_START_US,
            fault_rates: FaultRates::default(),
            pods_per_second: 5.0,
            delete_fraction: 0.3,
            job_fraction: 0.25,
        }
    }
}

impl SimConfig {
    /// Checks the configuration; the CLI calls this to report bad flags.
    /// [`crate::simulate`] itself never fails: it clamps what this rejects.
    pub fn validate(&self) -> Result<(), SimError> {
        self.fault_rates.validate()?;
        if !(self.pods_per_second.is_finite() && self.pods_per_second > 0.0) {
            return Err(SimError::Config(format!(
                "pods per second is {}, must be > 0",
                self.pods_per_second
            )));
        }
        for (what, v) in [
            ("delete fraction", self.delete_fraction),
            ("job fraction", self.job_fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(SimError::Config(format!(
                    "{what} is {v}, must be within 0..=1"
                )));
            }
        }
        if self.clusters == 0 && self.pods > 0 {
            return Err(SimError::Config("pods requested but 0 clusters".into()));
        }
        Ok(())
    }

    /// Pods of cluster `index` (0-based).
    pub fn pods_in_cluster(&self, index: usize) -> usize {
        if self.clusters == 0 {
            return 0;
        }
        let base = self.pods / self.clusters;
        base + usize::from(index < self.pods % self.clusters)
    }

    pub(crate) fn sanitized_rate(&self) -> f64 {
        if self.pods_per_second.is_finite() && self.pods_per_second > 0.0 {
            self.pods_per_second
        } else {
            5.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Fault::ALL {
            assert_eq!(Fault::from_name(f.name()), Some(f));
        }
    }

    #[test]
    fn draw_covers_rates() {
        let r = FaultRates::uniform(0.22);
        assert_eq!(r.draw(0.0), Some(Fault::ALL[0]));
        assert_eq!(r.draw(0.219), Some(Fault::StuckFinalizer));
        assert_eq!(r.draw(0.23), None);
        assert_eq!(FaultRates::none().draw(0.0), None);
    }

    #[test]
    fn validation_names_the_problem() {
        let mut r = FaultRates::none();
        let e = r.apply_overrides("slow_pull=2").unwrap_err().to_string();
        assert!(e.contains("slow_pull=2"), "{e}");
        r.set(Fault::Crashloop, 0.7).set(Fault::SlowPull, 0.7);
        assert!(r.validate().unwrap_err().to_string().contains("add up"));
    }

    #[test]
    fn pods_split_evenly() {
        let c = SimConfig {
            clusters: 3,
            pods: 10,
            ..SimConfig::default()
        };
        let v: Vec<usize> = (0..3).map(|i| c.pods_in_cluster(i)).collect();
        assert_eq!(v, vec![4, 3, 3]);
    }
}
