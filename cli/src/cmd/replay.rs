//! `lunettes replay --from TIME [--to TIME]`: re-runs the engine over a time
//! range of the HyperEvents topic into the output topics (or prefixed ones),
//! with a progress bar on stderr. Outputs are those of the live run: same
//! ids, versions and contents (see `docs/pipeline.md`, "Replay").

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use lunettes_runtime::Shutdown;
use lunettes_worker::config::{self, ProcessorEngines};
use lunettes_worker::replay::{self, ReplayConfig};

/// Flags of `lunettes replay`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Start of the range: RFC 3339 (2026-01-01T10:00:00Z) or epoch milliseconds.
    #[arg(long)]
    pub from: String,
    /// End of the range, exclusive (default: the end of the topic when the replay starts).
    #[arg(long)]
    pub to: Option<String>,
    /// Commit progress under this consumer group; re-running with it resumes.
    #[arg(long)]
    pub group: Option<String>,
    /// Write to `<prefix><output topic>` instead of the live output topics.
    #[arg(long)]
    pub topic_prefix: Option<String>,
    /// Only these input partitions (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub partitions: Option<Vec<i32>>,
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
    /// State rebuilt from this long before --from (as the live processors do), e.g. 2h.
    #[arg(long)]
    pub horizon: Option<String>,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs the replay to its end (or SIGTERM/SIGINT).
pub fn run(args: Args) -> anyhow::Result<i32> {
    let (mut kafka, section) = config::load(args.config.as_deref())?;
    if let Some(b) = &args.brokers {
        kafka.brokers = b.clone();
    }
    let from = config::parse_time_ms(&args.from).context("--from")?;
    let to = args
        .to
        .as_deref()
        .map(config::parse_time_ms)
        .transpose()
        .context("--to")?;
    let mut cfg = ReplayConfig::new(kafka, from, to);
    if let Some(h) = args.horizon.or(section.horizon) {
        cfg.horizon = config::parse_duration(&h).context("--horizon")?;
    }
    cfg.topic_prefix = args.topic_prefix.unwrap_or_default();
    cfg.partitions = args.partitions;
    cfg.group = args.group;
    let engines = ProcessorEngines::from_files(
        args.slo_config.or(section.slo_config).as_deref(),
        args.span_config.or(section.span_config).as_deref(),
    )?;

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} HyperEvents ({per_sec}, eta {eta}) {msg}",
            )
            .context("progress bar template")?
            .progress_chars("=> "),
        );
        bar
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = rt.block_on(async {
        let shutdown = Shutdown::on_signals();
        let bar = bar.clone();
        tokio::task::spawn_blocking(move || {
            replay::run(&cfg, engines, &shutdown, &mut |p| {
                bar.set_length(p.total);
                bar.set_position(p.done);
                bar.set_message(format!("{} outputs written", p.written));
            })
        })
        .await
        .context("replay thread")
    })??;
    bar.finish();
    for r in &summary.ranges {
        eprintln!(
            "partition {}: rebuilt {}..{}, replayed {}..{}",
            r.partition, r.start, r.from, r.from, r.end
        );
    }
    eprintln!(
        "replay {}: {} HyperEvents replayed ({} for state rebuild), {} outputs written",
        if summary.interrupted {
            "interrupted"
        } else {
            "complete"
        },
        summary.counts.live,
        summary.counts.rebuilt,
        summary.counts.written
    );
    Ok(if summary.interrupted { 1 } else { 0 })
}
