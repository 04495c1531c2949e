//! The `lunettes` command. A thin `main`: one module per verb under `cmd/`,
//! each returning the process exit code.

use clap::{Parser, Subcommand};

mod cmd;
mod inputs;

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
    /// Apply the ClickHouse schema migrations (idempotent).
    Migrate(cmd::migrate::Args),
    /// Run a sink: `sink clickhouse` or `sink otlp`.
    Sink(cmd::sink::Args),
    /// Development OTLP traces receiver (gRPC + HTTP) recording spans as JSON lines.
    OtlpReceiver(cmd::otlp_receiver::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Normalize(a) => cmd::normalize::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Analyze(a) => cmd::analyze::run(a),
        Command::Migrate(a) => cmd::migrate::run(a),
        Command::Sink(a) => cmd::sink::run(a),
        Command::OtlpReceiver(a) => cmd::otlp_receiver::run(a),
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
