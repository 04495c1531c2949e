//! `lunettes otlp-receiver`: a development OTLP traces receiver (gRPC and
//! HTTP/protobuf) that records what it receives as JSON lines, for the local
//! demo and for trying the sink without a tracing backend. Its fault switch
//! (`--fail-first`) makes the first requests fail as an unavailable backend
//! would, to watch the sink retry.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lunettes_otlp_receiver::{OtlpReceiver, ReceiverConfig};
use lunettes_runtime::Shutdown;

/// Flags of `lunettes otlp-receiver`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// gRPC listen address ("none" to disable).
    #[arg(long, default_value = "127.0.0.1:4317")]
    pub grpc: String,
    /// HTTP listen address ("none" to disable).
    #[arg(long, default_value = "127.0.0.1:4318")]
    pub http: String,
    /// Append every received span as one JSON line to this file.
    #[arg(long)]
    pub jsonl: Option<PathBuf>,
    /// Answer the first N requests with UNAVAILABLE / 503.
    #[arg(long, default_value_t = 0)]
    pub fail_first: u32,
    /// Retry delay announced with those failures, in milliseconds.
    #[arg(long)]
    pub retry_after_ms: Option<u64>,
}

fn addr(flag: &str, value: &str) -> anyhow::Result<Option<SocketAddr>> {
    if value == "none" {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .with_context(|| format!("--{flag} {value:?}: expected host:port or none"))
}

/// Serves until SIGTERM / Ctrl-C, printing a line whenever spans arrive.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let config = ReceiverConfig {
        grpc_addr: addr("grpc", &args.grpc)?,
        http_addr: addr("http", &args.http)?,
        jsonl: args.jsonl.clone(),
    };
    anyhow::ensure!(
        config.grpc_addr.is_some() || config.http_addr.is_some(),
        "both --grpc and --http are none: nothing to serve"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let receiver = OtlpReceiver::start(config)
            .await
            .context("starting the receiver")?;
        if let Some(e) = receiver.grpc_endpoint() {
            eprintln!("lunettes otlp-receiver: gRPC on {e}");
        }
        if let Some(e) = receiver.http_endpoint() {
            eprintln!("lunettes otlp-receiver: HTTP on {e}/v1/traces");
        }
        if args.fail_first > 0 {
            receiver.fail_next(
                args.fail_first,
                args.retry_after_ms.map(Duration::from_millis),
            );
            eprintln!(
                "lunettes otlp-receiver: refusing the first {} requests",
                args.fail_first
            );
        }
        let shutdown = Shutdown::on_signals();
        let mut reported = (0, 0);
        loop {
            let stop = shutdown.clone();
            tokio::select! {
                _ = stop.wait() => break,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            let now = (receiver.span_count(), receiver.refused());
            if now != reported {
                let requests = receiver.requests().len();
                eprintln!(
                    "lunettes otlp-receiver: {} spans in {requests} requests accepted, {} refused",
                    now.0, now.1
                );
                reported = now;
            }
        }
        receiver.shutdown().await;
        Ok(0)
    })
}
