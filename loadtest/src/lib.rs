//! Fleet simulator for Lunettes-rs: what Kubernetes clusters say about their
//! pods, with faults injected and the ground truth written beside it.
//!
//! No public recording of whole pod lifecycles with request and response
//! bodies exists, so tests of the normalizers and of the delivery engine need
//! one made up, and made up faithfully: RequestResponse audit events shaped
//! like real apiserver output (controllers creating pods with generateName,
//! the scheduler binding, kubelets patching status with whole-second
//! condition times, events bumping `count`, graceful deletes and finalizers),
//! the same Events as a watch returns them, and one truth row per pod saying
//! which fault was injected and what the engine must conclude.
//!
//! Same [`SimConfig`] gives byte-identical output: every draw comes from
//! ChaCha8 streams derived from the seed, output order never depends on hash
//! order, and the clock starts at [`SimConfig::start_us`], never the wall
//! clock.
//!
//! ```
//! use lunettes_loadtest::{simulate, SimConfig};
//! let cfg = SimConfig { clusters: 2, pods: 20, seed: 7, ..SimConfig::default() };
//! let (clusters, truth) = simulate(&cfg);
//! assert_eq!(clusters.len(), 2);
//! assert_eq!(truth.len(), 20);
//! assert!(clusters[0].audit_lines[0].contains("\"apiVersion\":\"audit.k8s.io/v1\""));
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

mod audit;
mod cluster;
mod config;
mod ending;
mod events;
mod faults;
mod json;
mod lifecycle;
mod messages;
mod output;
mod pod;
mod rng;
mod spec;
mod status;
mod truth;

pub use config::{Fault, FaultRates, SimConfig, DEFAULT_START_US, DEFAULT_TOTAL_FAULT_RATE};
pub use output::{ClusterOutput, DirSink, MemorySink, SimSink, SimStats};
pub use truth::{DeleteTruth, PhasesMs, Truth};

/// Why a simulation could not run or be written.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A configuration value is out of range or malformed.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// Writing an output file failed.
    #[error("writing {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Simulates the whole fleet in memory.
///
/// Never fails: values [`SimConfig::validate`] would reject are clamped
/// (fault rates that sum above 1 are scaled down, a non-positive arrival rate
/// becomes 5/s). Memory grows with the run; use [`simulate_into`] for large
/// runs.
pub fn simulate(cfg: &SimConfig) -> (Vec<ClusterOutput>, Vec<Truth>) {
    let mut sink = MemorySink::default();
    // A MemorySink never returns an I/O error.
    let _ = simulate_into(cfg, &mut sink);
    (sink.clusters, sink.truths)
}

/// Simulates the fleet, streaming lines and truth rows into `sink`, cluster
/// by cluster. Memory stays bounded by the pods in flight.
pub fn simulate_into(cfg: &SimConfig, sink: &mut dyn SimSink) -> Result<SimStats, std::io::Error> {
    let mut stats = SimStats::default();
    let rate = cfg.sanitized_rate();
    for ci in 0..cfg.clusters {
        let profile = cluster::ClusterProfile::generate(cfg.seed, ci);
        sink.begin_cluster(&profile.name)?;
        let mut arrivals = rng::SimRng::derive(cfg.seed, 0xa77_0000_0000 | ci as u64, 0);
        let mut orderer = output::Orderer::new();
        let mut t = cfg.start_us;
        for pi in 0..cfg.pods_in_cluster(ci) {
            if pi > 0 {
                let gap_s = -(1.0 - arrivals.unit()).ln() / rate;
                t += (gap_s * 1e6) as i64 + 1;
            }
            orderer.release(Some(t), &profile.name, sink, &mut stats)?;
            let (records, truth) = lifecycle::simulate_pod(&profile, cfg, ci, pi, t);
            *stats.faults.entry(truth.fault.clone()).or_default() += 1;
            stats.pods += 1;
            sink.truth(&truth)?;
            orderer.push(records);
        }
        orderer.release(None, &profile.name, sink, &mut stats)?;
    }
    Ok(stats)
}

/// Simulates the fleet into `dir`: `<cluster>/audit.log`,
/// `<cluster>/events.jsonl` and `truth.jsonl`.
pub fn write_dir(cfg: &SimConfig, dir: &Path) -> Result<SimStats, SimError> {
    cfg.validate()?;
    let mut sink = DirSink::create(dir)?;
    let stats = simulate_into(cfg, &mut sink).map_err(|source| SimError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    sink.finish()?;
    Ok(stats)
}
