//! `lunettes api`: the debug API (`/api/v1/debugpod`, `/api/v1/debugslo`),
//! the pod timeline page (`/pod?uid=...`) and `/metrics`, `/healthz`,
//! `/readyz`, reading the ClickHouse tables the sinks write. Runs until
//! SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lunettes_api::server::{start, ApiConfig};
use lunettes_processor::SloConfig;
use lunettes_runtime::Shutdown;

/// Flags of `lunettes api`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address the API and the page listen on.
    #[arg(long, env = "LUNETTES_API_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// ClickHouse HTTP interface.
    #[arg(
        long,
        env = "LUNETTES_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    pub clickhouse_url: String,
    /// Database holding the Lunettes tables.
    #[arg(long, env = "LUNETTES_CLICKHOUSE_DATABASE", default_value = "lunettes")]
    pub database: String,
    /// ClickHouse user.
    #[arg(long, env = "LUNETTES_CLICKHOUSE_USER")]
    pub user: Option<String>,
    /// ClickHouse password.
    #[arg(long, env = "LUNETTES_CLICKHOUSE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Also serve /metrics, /healthz and /readyz on this address (they are
    /// always served on --listen too).
    #[arg(long, env = "LUNETTES_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// SLO configuration used for the deadline of pods still in progress
    /// (the same file the processors use; default: the embedded one).
    #[arg(long)]
    pub slo_config: Option<PathBuf>,
    /// Longest a request waits for ClickHouse, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
}

/// Loads the SLO configuration the processors use.
pub fn slo_config(path: Option<&PathBuf>) -> anyhow::Result<SloConfig> {
    match path {
        None => Ok(SloConfig::default()),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            SloConfig::from_json(&text).with_context(|| format!("parsing {}", p.display()))
        }
    }
}

/// Serves until a signal.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let config = ApiConfig {
        listen: args.listen,
        metrics_addr: args.metrics_addr,
        clickhouse_url: args.clickhouse_url,
        database: args.database,
        user: args.user,
        password: args.password,
        slo: slo_config(args.slo_config.as_ref())?,
        timeout: Duration::from_secs(args.timeout_secs),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = Shutdown::on_signals();
        let running = start(config, shutdown).await?;
        eprintln!(
            "lunettes api: http://{0}/api/v1/debugpod, http://{0}/api/v1/debugslo, pod page http://{0}/pod?uid=<uid>",
            running.addr
        );
        if let Some(m) = running.metrics_addr {
            eprintln!("lunettes api: metrics on http://{m}/metrics");
        }
        running.task.await.context("the API server task failed")?;
        Ok(0)
    })
}
