//! `lunettes simulate`: writes a simulated fleet's audit logs, Events and
//! ground truth to a directory (see docs/simulator.md).

use std::path::PathBuf;

use anyhow::Context;
use lunettes_loadtest::{write_dir, FaultRates, SimConfig, DEFAULT_START_US};

/// Arguments of `lunettes simulate`.
#[derive(clap::Args)]
pub struct Args {
    /// Number of clusters (named sim-1..sim-N).
    #[arg(long, default_value_t = 3)]
    clusters: usize,
    /// Total number of pods over all clusters (split evenly).
    #[arg(long, default_value_t = 1000)]
    pods: usize,
    /// Seed of every random draw; same arguments give byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Time of the first pod (RFC 3339); default 2026-01-01T00:00:00Z.
    #[arg(long)]
    start: Option<String>,
    /// Total fault probability spread evenly over all faults (default 0.30; 0 = clean run).
    #[arg(long)]
    fault_rate: Option<f64>,
    /// Per-fault rates, e.g. `crashloop=0.05,slow_pull=0.02` (applied after --fault-rate).
    #[arg(long)]
    faults: Option<String>,
    /// Pod arrivals per second per cluster.
    #[arg(long, default_value_t = 5.0)]
    pods_per_second: f64,
    /// Fraction of healthy service pods deleted later.
    #[arg(long, default_value_t = 0.3)]
    delete_fraction: f64,
    /// Fraction of pods that are jobs.
    #[arg(long, default_value_t = 0.25)]
    job_fraction: f64,
}

/// Runs the simulation and prints a summary to stderr.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let start_us = match &args.start {
        None => DEFAULT_START_US,
        Some(s) => lunettes_schemas::time::parse_rfc3339(s)
            .map(|(us, _)| us)
            .with_context(|| format!("--start {s:?} is not an RFC 3339 timestamp"))?,
    };
    let mut fault_rates = match args.fault_rate {
        Some(r) if !(0.0..=1.0).contains(&r) => {
            anyhow::bail!("--fault-rate {r} must be within 0..=1")
        }
        Some(r) => FaultRates::uniform(r),
        None => FaultRates::default(),
    };
    if let Some(spec) = &args.faults {
        fault_rates.apply_overrides(spec).context("--faults")?;
    }
    let cfg = SimConfig {
        clusters: args.clusters,
        pods: args.pods,
        seed: args.seed,
        start_us,
        fault_rates,
        pods_per_second: args.pods_per_second,
        delete_fraction: args.delete_fraction,
        job_fraction: args.job_fraction,
    };
    let started = std::time::Instant::now();
    let stats = write_dir(&cfg, &args.out)?;
    eprintln!(
        "simulated {} pods on {} clusters into {} in {:.2?}: {} audit lines ({:.1} MiB), {} event lines",
        stats.pods,
        cfg.clusters,
        args.out.display(),
        started.elapsed(),
        stats.audit_lines,
        stats.audit_bytes as f64 / (1024.0 * 1024.0),
        stats.event_lines
    );
    for (fault, n) in &stats.faults {
        eprintln!("  {fault:<28} {n}");
    }
    Ok(0)
}
