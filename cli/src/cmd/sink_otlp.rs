//! `lunettes sink otlp`: export delivery traces from the spans topic to an
//! OTLP backend (gRPC or HTTP/protobuf). Configuration comes from an optional
//! YAML file (`OtlpSinkConfig`, see `docs/otlp.md`), with the common settings
//! overridable by flags so the demo and a quick test need no file.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use lunettes_runtime::telemetry::{self, Readiness};
use lunettes_runtime::Shutdown;
use lunettes_sinks::otlp::{self, OtlpMetrics, OtlpProtocol, OtlpRunStats, OtlpSinkConfig};
use prometheus::Registry;

/// Flags of `lunettes sink otlp`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// YAML configuration file (every field optional; flags below override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers.
    #[arg(long, env = "LUNETTES_BROKERS")]
    pub brokers: Option<String>,
    /// OTLP endpoint, e.g. http://127.0.0.1:4317 (gRPC) or http://127.0.0.1:4318 (HTTP).
    #[arg(long, env = "LUNETTES_OTLP_ENDPOINT")]
    pub endpoint: Option<String>,
    /// OTLP transport: grpc or http (binary protobuf).
    #[arg(long)]
    pub protocol: Option<OtlpProtocol>,
    /// Kafka consumer group.
    #[arg(long)]
    pub group: Option<String>,
    /// Address of /metrics, /healthz and /readyz ("none" to disable).
    #[arg(long)]
    pub metrics_addr: Option<String>,
}

/// Builds the configuration from the file and the flags.
pub fn config(args: &Args) -> anyhow::Result<OtlpSinkConfig> {
    let mut c = match &args.config {
        Some(path) => OtlpSinkConfig::from_yaml_file(path)?,
        None => OtlpSinkConfig::default(),
    };
    if let Some(b) = &args.brokers {
        c.kafka.brokers = b.clone();
    }
    if let Some(p) = args.protocol {
        // `--protocol http` alone means the OTLP/HTTP default port.
        if p == OtlpProtocol::Http
            && args.endpoint.is_none()
            && c.otlp.endpoint == otlp::OtlpEndpoint::default().endpoint
        {
            c.otlp.endpoint = "http://127.0.0.1:4318".into();
        }
        c.otlp.protocol = p;
    }
    if let Some(e) = &args.endpoint {
        c.otlp.endpoint = e.clone();
    }
    if let Some(g) = &args.group {
        c.group = g.clone();
    }
    if let Some(a) = &args.metrics_addr {
        c.metrics_addr = (a != "none").then(|| a.clone());
    }
    Ok(c)
}

/// Runs the sink until SIGTERM / Ctrl-C.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let validated = config(&args)?.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = Shutdown::on_signals();
        let registry = Registry::new();
        let metrics = OtlpMetrics::register(&registry)?;
        let ready = Readiness::default();
        if let Some(addr) = validated.metrics_addr {
            let router = telemetry::router(registry.clone(), ready.clone());
            let (bound, _task) = telemetry::serve(addr, router, shutdown.clone())
                .await
                .with_context(|| format!("serving metrics on {addr}"))?;
            eprintln!("lunettes sink otlp: metrics on http://{bound}/metrics");
        }
        eprintln!(
            "lunettes sink otlp: {} -> {} ({})",
            validated.kafka.topics.spans.name,
            validated.uri,
            validated.protocol.as_str()
        );
        let stats = Arc::new(OtlpRunStats::default());
        otlp::run(
            validated,
            metrics,
            &registry,
            ready,
            shutdown,
            stats.clone(),
        )
        .await?;
        eprintln!(
            "lunettes sink otlp: stopped; {} spans in {} traces exported",
            stats
                .spans_exported
                .load(std::sync::atomic::Ordering::Relaxed),
            stats
                .traces_exported
                .load(std::sync::atomic::Ordering::Relaxed)
        );
        Ok(0)
    })
}
