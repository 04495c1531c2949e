//! Running one collector as a process: what `lunettes ingest <source>` does
//! around the source itself.
//!
//! Order matters for the guarantees: the metrics/health endpoint comes up
//! first (not ready), then the publisher (topics created), then the source;
//! on SIGTERM the source stops taking input and finishes the batch it holds
//! (waiting for acks, persisting positions), the producer is flushed, and
//! only then does the process exit. Live sources also run the wall-clock
//! watermark ticker.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lunettes_runtime::telemetry::{self, Readiness};
use lunettes_runtime::Shutdown;

use crate::audit_file::{self, AuditFileConfig};
use crate::config::load_kafka_config;
use crate::file::{self, FileSourceConfig};
use crate::metrics::CollectorMetrics;
use crate::publish::{PublishOptions, Publisher};
use crate::watch::{self, EventsApi, WatchConfig};
use crate::watermark;
use crate::webhook::{WebhookConfig, WebhookServer};

/// Settings every source shares.
#[derive(Debug, Clone)]
pub struct Common {
    /// YAML config file with a `kafka:` section.
    pub config: Option<PathBuf>,
    /// `bootstrap.servers` override.
    pub brokers: Option<String>,
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub metrics_addr: SocketAddr,
    /// Watermark period.
    pub watermark_interval: Duration,
    /// Buffering, ack timeout and dead-letter options.
    pub publish: PublishOptions,
}

/// The watch source's settings before its clients are built.
#[derive(Debug, Clone)]
pub struct WatchArgs {
    /// Kubeconfig file (default: `$KUBECONFIG` / `~/.kube/config`, else in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// Contexts to watch (default: the current one).
    pub contexts: Vec<String>,
    /// Cluster name for a single context.
    pub cluster: Option<String>,
    /// Where resourceVersions are persisted.
    pub state_dir: Option<PathBuf>,
    /// Which Events API.
    pub events_api: EventsApi,
}

/// Which source to run.
#[derive(Debug, Clone)]
pub enum Source {
    /// The audit webhook backend.
    Webhook(WebhookConfig),
    /// The audit-log follower.
    AuditFile(AuditFileConfig),
    /// Pods and Events through the Kubernetes API.
    Watch(WatchArgs),
    /// Recorded files, then exit.
    File(FileSourceConfig),
}

/// Runs `source` until it finishes (file) or SIGTERM/SIGINT (the others).
/// Returns the process exit code: 0, or 1 when the file source dead-lettered
/// records.
pub fn run(common: Common, source: Source) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(common, source))
}

async fn run_async(common: Common, source: Source) -> anyhow::Result<i32> {
    let shutdown = Shutdown::on_signals();
    let metrics = CollectorMetrics::new();
    let ready = Readiness::default();
    let (bound, _server) = telemetry::serve(
        common.metrics_addr,
        telemetry::router(metrics.registry.clone(), ready.clone()),
        shutdown.clone(),
    )
    .await
    .with_context(|| format!("serving metrics on {}", common.metrics_addr))?;
    tracing::info!(%bound, "metrics and health endpoint");

    let kafka = load_kafka_config(common.config.as_deref(), common.brokers.as_deref())?;
    let publisher = Arc::new(
        Publisher::connect(
            &kafka,
            "lunettes-collector",
            common.publish.clone(),
            metrics,
        )
        .await
        .with_context(|| format!("connecting to Kafka at {}", kafka.brokers))?,
    );
    let live_watermarks = |clusters: Vec<String>| {
        watermark::spawn_wall_clock(
            publisher.clone(),
            clusters,
            common.watermark_interval,
            shutdown.clone(),
        )
    };
    let code = match source {
        Source::Webhook(cfg) => {
            let server = WebhookServer::bind(&cfg, publisher.clone()).await?;
            tracing::info!(addr = %server.local_addr(), tls = cfg.tls.is_some(), "audit webhook listening");
            let ticker = live_watermarks(vec![cfg.cluster.clone()]);
            ready.set(true);
            server
                .serve(shutdown.clone(), Duration::from_secs(30))
                .await;
            let _ = ticker.await;
            0
        }
        Source::AuditFile(cfg) => {
            let ticker = live_watermarks(vec![cfg.cluster.clone()]);
            ready.set(true);
            let stats = audit_file::run(cfg, publisher.clone(), shutdown.clone()).await?;
            tracing::info!(?stats, "audit-file follower stopped");
            let _ = ticker.await;
            0
        }
        Source::Watch(args) => {
            let targets = watch::targets_from_kubeconfig(
                args.kubeconfig.as_deref(),
                &args.contexts,
                args.cluster.as_deref(),
            )
            .await?;
            let clusters = targets.iter().map(|t| t.cluster.clone()).collect();
            let mut cfg = WatchConfig::new(targets);
            cfg.state_dir = args.state_dir;
            cfg.events_api = args.events_api;
            let ticker = live_watermarks(clusters);
            ready.set(true);
            watch::run(cfg, publisher.clone(), shutdown.clone()).await?;
            let _ = ticker.await;
            0
        }
        Source::File(cfg) => {
            ready.set(true);
            let stats = file::run(&cfg, publisher.clone(), shutdown.clone()).await?;
            tracing::info!(?stats, "files published");
            eprintln!(
                "published {} HyperEvents from {} files ({} dead letters, {} watermark ticks)",
                stats.events, stats.files, stats.dead_letters, stats.watermarks
            );
            i32::from(stats.dead_letters > 0)
        }
    };
    ready.set(false);
    publisher.flush(Duration::from_secs(30));
    Ok(code)
}
