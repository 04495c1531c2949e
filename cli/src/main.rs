//! The `lunettes` command. A thin `main`: one module per verb under `cmd/`,
//! each returning the process exit code.

use clap::{Parser, Subcommand};

mod cmd;
mod inputs;

/// mimalloc instead of the system allocator: the engine builds and the sinks
/// free many small strings per verdict (a delivery and ~10 span records,
/// each with its own cluster, namespace, pod, node and id strings), where
/// glibc malloc spent ~a quarter of the engine's instructions (see
/// BENCHMARKS.md, "Delivery engine").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lunettes-rs: pod delivery SLOs, diagnosis and traces for a fleet of Kubernetes clusters.
#[derive(Parser)]
#[command(name = "lunettes", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Normalize Kubernetes inputs (audit, Events, Pods; JSON or YAML) into HyperEvents, one JSON object per line.
    Normalize(cmd::normalize::Args),
    /// Simulate a fleet of clusters: audit logs and Events with ground truth.
    Simulate(cmd::simulate::Args),
    /// Run the delivery engine over recorded inputs and print verdicts.
    Analyze(cmd::analyze::Args),
    /// Debug API and pod timeline page over ClickHouse (`/api/v1/debugpod`, `/api/v1/debugslo`, `/pod`).
    Api(cmd::api::Args),
    /// Print a pod's verdict, deadline, phases and timeline, or SLO distributions (`debug pod|slo`).
    Debug(cmd::debug::Args),
    /// Cluster collectors: publish audit (webhook, log file), watched Pods/Events or recorded files to Kafka.
    Ingest(cmd::ingest::Args),
    /// Apply the ClickHouse schema migrations (idempotent).
    Migrate(cmd::migrate::Args),
    /// Run a sink: `sink clickhouse` or `sink otlp`.
    Sink(cmd::sink::Args),
    /// Development OTLP traces receiver (gRPC + HTTP) recording spans as JSON lines.
    OtlpReceiver(cmd::otlp_receiver::Args),
    /// Processor worker: the delivery engine per HyperEvents partition in a consumer group.
    Process(cmd::process::Args),
    /// Re-run the engine over a time range of the HyperEvents topic into the output topics.
    Replay(cmd::replay::Args),
}

/// Logs go to stderr (stdout carries command output such as `normalize`'s
/// JSON lines), filtered by `RUST_LOG`, default `info`. Installed once here
/// for every subcommand rather than by each worker.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn main() {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Normalize(a) => cmd::normalize::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Analyze(a) => cmd::analyze::run(a),
        Command::Api(a) => cmd::api::run(a),
        Command::Debug(a) => cmd::debug::run(a),
        Command::Ingest(a) => cmd::ingest::run(a),
        Command::Migrate(a) => cmd::migrate::run(a),
        Command::Sink(a) => cmd::sink::run(a),
        Command::OtlpReceiver(a) => cmd::otlp_receiver::run(a),
        Command::Process(a) => cmd::process::run(a),
        Command::Replay(a) => cmd::replay::run(a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // A closed stdout (e.g. `| head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                std::process::exit(0);
            }
            eprintln!("lunettes: error: {e:#}");
            std::process::exit(2);
        }
    }
}
