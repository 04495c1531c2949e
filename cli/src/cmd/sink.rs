//! `lunettes sink <clickhouse|otlp>`: the sinks, one nested subcommand each.
//!
//! `sink clickhouse` consumes the output topics (and with `--raw-hyperevents`
//! the HyperEvents topic) into ClickHouse; configuration comes from an
//! optional YAML file (`ClickHouseSinkConfig`, see `docs/clickhouse.md`)
//! with the common settings overridable by flags.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use lunettes_runtime::telemetry::{self, Readiness};
use lunettes_runtime::Shutdown;
use lunettes_sinks::clickhouse::{self, ClickHouseSinkConfig, RunHooks, RunStats, SinkMetrics};
use prometheus::Registry;

/// Flags of `lunettes sink`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which sink.
    #[command(subcommand)]
    pub sink: SinkCommand,
}

/// The sinks.
#[derive(clap::Subcommand, Debug)]
pub enum SinkCommand {
    /// Write deliveries, spans, SLO windows (and raw HyperEvents) to ClickHouse.
    Clickhouse(ClickHouseArgs),
    /// Export delivery traces to an OTLP backend.
    Otlp(super::sink_otlp::Args),
}

/// Flags of `lunettes sink clickhouse`.
#[derive(clap::Args, Debug)]
pub struct ClickHouseArgs {
    /// YAML configuration file (every field optional; flags below override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers.
    #[arg(long, env = "LUNETTES_BROKERS")]
    pub brokers: Option<String>,
    /// ClickHouse HTTP interface.
    #[arg(long, env = "LUNETTES_CLICKHOUSE_URL")]
    pub url: Option<String>,
    /// ClickHouse database.
    #[arg(long, env = "LUNETTES_CLICKHOUSE_DATABASE")]
    pub database: Option<String>,
    /// Kafka consumer group.
    #[arg(long)]
    pub group: Option<String>,
    /// Flush a table's batch at this many rows.
    #[arg(long)]
    pub batch_rows: Option<usize>,
    /// Flush a table's batch at this size: bytes, or with KiB/MiB/GiB.
    #[arg(long, value_parser = parse_bytes)]
    pub batch_bytes: Option<usize>,
    /// Flush a batch when its oldest row waited this long (e.g. 1s, 250ms; default 500ms).
    #[arg(long, value_parser = parse_millis)]
    pub batch_linger: Option<u64>,
    /// Also write the HyperEvents topic into the `hyperevents` table.
    #[arg(long)]
    pub raw_hyperevents: bool,
    /// Apply pending schema migrations at start.
    #[arg(long)]
    pub migrate: bool,
    /// Address of /metrics, /healthz and /readyz ("none" to disable).
    #[arg(long)]
    pub metrics_addr: Option<String>,
}

/// Runs the chosen sink.
pub fn run(args: Args) -> anyhow::Result<i32> {
    match args.sink {
        SinkCommand::Clickhouse(a) => run_clickhouse(a),
        SinkCommand::Otlp(a) => super::sink_otlp::run(a),
    }
}

fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 16MiB"))?;
    let mult = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KiB, MiB, GiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn parse_millis(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 1s or 250ms"))?;
    match unit {
        "ms" => Ok(n),
        "s" | "" => Ok(n * 1000),
        "m" => Ok(n * 60_000),
        other => Err(format!("unknown duration unit {other:?} (use ms, s, m)")),
    }
}

/// Builds the configuration from the file and the flags.
pub fn clickhouse_config(args: &ClickHouseArgs) -> anyhow::Result<ClickHouseSinkConfig> {
    let mut c = match &args.config {
        Some(path) => ClickHouseSinkConfig::from_yaml_file(path)?,
        None => ClickHouseSinkConfig::default(),
    };
    if let Some(b) = &args.brokers {
        c.kafka.brokers = b.clone();
    }
    if let Some(u) = &args.url {
        c.clickhouse.url = u.clone();
    }
    if let Some(d) = &args.database {
        c.clickhouse.database = d.clone();
    }
    if let Some(g) = &args.group {
        c.group = g.clone();
    }
    if let Some(n) = args.batch_rows {
        c.batch.max_rows = n;
    }
    if let Some(n) = args.batch_bytes {
        c.batch.max_bytes = n;
    }
    if let Some(ms) = args.batch_linger {
        c.batch.linger_ms = ms;
    }
    c.raw_hyperevents |= args.raw_hyperevents;
    c.migrate |= args.migrate;
    if let Some(a) = &args.metrics_addr {
        c.metrics_addr = (a != "none").then(|| a.clone());
    }
    Ok(c)
}

fn run_clickhouse(args: ClickHouseArgs) -> anyhow::Result<i32> {
    let validated = clickhouse_config(&args)?.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = Shutdown::on_signals();
        let registry = Registry::new();
        let metrics = SinkMetrics::new(&registry)?;
        let ready = Readiness::default();
        if let Some(addr) = validated.metrics_addr {
            let router = telemetry::router(registry.clone(), ready.clone());
            let (bound, _task) = telemetry::serve(addr, router, shutdown.clone())
                .await
                .with_context(|| format!("serving metrics on {addr}"))?;
            eprintln!("lunettes sink clickhouse: metrics on http://{bound}/metrics");
        }
        let stats = Arc::new(RunStats::default());
        clickhouse::run(
            validated,
            metrics,
            ready,
            shutdown,
            RunHooks::default(),
            stats.clone(),
        )
        .await?;
        eprintln!(
            "lunettes sink clickhouse: stopped; {} rows in {} inserts, {} records rejected",
            stats.rows_written.load(Ordering::Relaxed),
            stats.inserts.load(Ordering::Relaxed),
            stats.rejected.load(Ordering::Relaxed)
        );
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse_with_units() {
        assert_eq!(parse_bytes("16MiB"), Ok(16 << 20));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("3 parsecs").unwrap_err().contains("unit"));
        assert_eq!(parse_millis("1s"), Ok(1000));
        assert_eq!(parse_millis("250ms"), Ok(250));
        assert!(parse_millis("soon").is_err());
    }
}
