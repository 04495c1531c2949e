//! `lunettes process`: a processor worker in a consumer group on the
//! HyperEvents topic, one engine per assigned partition, outputs to the
//! deliveries/spans/windows topics (see `docs/pipeline.md`, "Processors").
//! Serves `/metrics`, `/healthz`, `/readyz`; SIGTERM finishes the batch,
//! waits for acknowledgements, commits and leaves the group.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use lunettes_runtime::telemetry::{self, Readiness};
use lunettes_runtime::Shutdown;
use lunettes_worker::config::{self, ProcessorEngines};
use lunettes_worker::processor::{self, Control, ProcessorConfig};
use lunettes_worker::WorkerMetrics;

/// Flags of `lunettes process`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Consumer group of the processors.
    #[arg(long)]
    pub group: Option<String>,
    /// YAML settings file (`kafka:` and `processor:` sections).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers (overrides the file).
    #[arg(long, env = "LUNETTES_BROKERS")]
    pub brokers: Option<String>,
    /// SLO configuration JSON (default: the embedded config/slo.json).
    #[arg(long)]
    pub slo_config: Option<PathBuf>,
    /// Span configuration JSON (default: the embedded config/spans.json).
    #[arg(long)]
    pub span_config: Option<PathBuf>,
    /// How far before the committed offset state is rebuilt (message time), e.g. 2h.
    #[arg(long)]
    pub horizon: Option<String>,
    /// Records per batch (a commit follows each acknowledged batch).
    #[arg(long)]
    pub batch_records: Option<usize>,
    /// Longest wait before a batch is completed, e.g. 200ms.
    #[arg(long)]
    pub batch_interval: Option<String>,
    /// Address of /metrics, /healthz and /readyz ("none" to disable).
    #[arg(long)]
    pub metrics_addr: Option<String>,
}

/// Default consumer group.
pub const DEFAULT_GROUP: &str = "lunettes-processors";
/// Default metrics address.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9402";

/// Runs the processor until SIGTERM/SIGINT.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let (mut kafka, section) = config::load(args.config.as_deref())?;
    if let Some(b) = &args.brokers {
        kafka.brokers = b.clone();
    }
    let group = args
        .group
        .or(section.group)
        .unwrap_or_else(|| DEFAULT_GROUP.to_string());
    let mut cfg = ProcessorConfig::new(kafka, group);
    if let Some(h) = args.horizon.or(section.horizon) {
        cfg.horizon = config::parse_duration(&h).context("--horizon")?;
    }
    if let Some(n) = args.batch_records.or(section.batch_records) {
        cfg.batch_records = n;
    }
    if let Some(i) = args.batch_interval.or(section.batch_interval) {
        cfg.batch_interval = config::parse_duration(&i).context("--batch-interval")?;
    }
    let engines = ProcessorEngines::from_files(
        args.slo_config.or(section.slo_config).as_deref(),
        args.span_config.or(section.span_config).as_deref(),
    )?;
    let metrics_addr = args
        .metrics_addr
        .or(section.metrics_addr)
        .unwrap_or_else(|| DEFAULT_METRICS_ADDR.to_string());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let shutdown = Shutdown::on_signals();
        let registry = prometheus::Registry::new();
        let metrics = WorkerMetrics::register(&registry).context("registering metrics")?;
        let ready = Readiness::default();
        if metrics_addr != "none" {
            let addr: SocketAddr = metrics_addr
                .parse()
                .with_context(|| format!("--metrics-addr {metrics_addr:?}: not host:port"))?;
            let router = telemetry::router(registry.clone(), ready.clone());
            let (bound, _server) = telemetry::serve(addr, router, shutdown.clone())
                .await
                .with_context(|| format!("serving metrics on {addr}"))?;
            tracing::info!(%bound, "metrics, /healthz and /readyz");
        }
        tracing::info!(group = %cfg.group, brokers = %cfg.kafka.brokers, horizon = ?cfg.horizon, "processor starting");
        let control = Control::graceful(shutdown);
        let summary = tokio::task::spawn_blocking(move || {
            processor::run(&cfg, engines, metrics, &control, Some(&ready))
        })
        .await
        .context("processor thread")??;
        tracing::info!(?summary.counts, commits = summary.commits, "processor stopped");
        Ok(0)
    })
}
