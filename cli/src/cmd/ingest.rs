//! `lunettes ingest <source>`: the cluster collectors. Argument parsing only;
//! everything else is in `lunettes_collect::runner`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use lunettes_collect::audit_file::AuditFileConfig;
use lunettes_collect::config::parse_duration;
use lunettes_collect::file::FileSourceConfig;
use lunettes_collect::runner::{self, Common, Source, WatchArgs};
use lunettes_collect::watch::EventsApi;
use lunettes_collect::webhook::{TlsFiles, WebhookConfig, DEFAULT_MAX_BODY_BYTES};
use lunettes_collect::PublishOptions;

/// Arguments.
#[derive(Parser)]
pub struct Args {
    #[command(subcommand)]
    source: SourceCmd,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(clap::Args)]
struct CommonArgs {
    /// YAML config file; its `kafka:` section sets brokers, librdkafka properties (SASL/TLS) and topics.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Kafka bootstrap servers (overrides the config file).
    #[arg(long, global = true, env = "LUNETTES_BROKERS")]
    brokers: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, global = true, default_value = "127.0.0.1:9471")]
    metrics_addr: SocketAddr,
    /// Period of the watermark records sent to every partition.
    #[arg(long, global = true, default_value = "5s", value_parser = parse_duration)]
    watermark_interval: Duration,
    /// Records in flight to Kafka at most (back-pressure beyond).
    #[arg(long, global = true, default_value_t = 100_000)]
    buffer_records: usize,
    /// How long a batch waits for room in the buffer before failing (webhook: 503).
    #[arg(long, global = true, default_value = "5s", value_parser = parse_duration)]
    buffer_wait: Duration,
    /// How long a record may wait for Kafka's acknowledgement before it counts as failed.
    #[arg(long, global = true, default_value = "10s", value_parser = parse_duration)]
    ack_timeout: Duration,
    /// Include the raw bytes of rejected records in dead letters (they may hold unredacted secrets).
    #[arg(long, global = true)]
    dead_letter_raw: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum EventsApiArg {
    /// /api/v1/events
    V1,
    /// /apis/events.k8s.io/v1/events
    EventsK8sIo,
}

#[derive(Subcommand)]
enum SourceCmd {
    /// HTTP(S) endpoint for the kube-apiserver audit webhook backend (EventList batches).
    Webhook {
        /// Cluster name stamped on every record.
        #[arg(long)]
        cluster: String,
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:8443")]
        listen: SocketAddr,
        /// PEM server certificate (with --tls-key; plain HTTP without).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM server private key.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// PEM CA bundle: a client certificate it signed authenticates a request.
        #[arg(long, requires = "tls_cert")]
        client_ca: Option<PathBuf>,
        /// File holding the bearer token that authenticates a request.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Largest accepted body (413 above).
        #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: usize,
    },
    /// Follow a JSON-lines audit log through rotation, persisting the position after Kafka acknowledges.
    AuditFile {
        /// Cluster name stamped on every record.
        #[arg(long)]
        cluster: String,
        /// The audit log (kube-apiserver --audit-log-path).
        #[arg(long)]
        path: PathBuf,
        /// Where the position is persisted.
        #[arg(long)]
        state_file: PathBuf,
        /// Poll period when idle.
        #[arg(long, default_value = "200ms", value_parser = parse_duration)]
        poll_interval: Duration,
    },
    /// Pods and Events through the Kubernetes API, for one or many kubeconfig contexts.
    Watch {
        /// Cluster name (single context only; default: the context name).
        #[arg(long)]
        cluster: Option<String>,
        /// Kubeconfig context to watch; repeat for several clusters (default: current context).
        #[arg(long = "context")]
        contexts: Vec<String>,
        /// Kubeconfig file (default: $KUBECONFIG or ~/.kube/config, else in-cluster).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Directory where resourceVersions are persisted (default: relist at every start).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Which Events API to read.
        #[arg(long, value_enum, default_value = "v1")]
        events_api: EventsApiArg,
    },
    /// Publish recorded files (anything `lunettes analyze` reads), then final watermarks, then exit.
    File {
        /// Files, or directories whose subdirectories are clusters.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Cluster of files given directly.
        #[arg(long)]
        cluster: Option<String>,
        /// HyperEvents per published batch.
        #[arg(long, default_value_t = 5000)]
        batch_events: usize,
    },
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let c = args.common;
    let common = Common {
        config: c.config,
        brokers: c.brokers,
        metrics_addr: c.metrics_addr,
        watermark_interval: c.watermark_interval,
        publish: PublishOptions {
            buffer_records: c.buffer_records,
            buffer_wait: c.buffer_wait,
            ack_timeout: c.ack_timeout,
            dead_letter_raw: c.dead_letter_raw,
        },
    };
    let source = match args.source {
        SourceCmd::Webhook {
            cluster,
            listen,
            tls_cert,
            tls_key,
            client_ca,
            token_file,
            max_body_bytes,
        } => Source::Webhook(WebhookConfig {
            cluster,
            listen,
            tls: tls_cert.zip(tls_key).map(|(cert, key)| TlsFiles {
                cert,
                key,
                client_ca,
            }),
            token_file,
            max_body_bytes,
        }),
        SourceCmd::AuditFile {
            cluster,
            path,
            state_file,
            poll_interval,
        } => {
            let mut cfg = AuditFileConfig::new(&cluster, path, state_file);
            cfg.poll_interval = poll_interval;
            Source::AuditFile(cfg)
        }
        SourceCmd::Watch {
            cluster,
            contexts,
            kubeconfig,
            state_dir,
            events_api,
        } => Source::Watch(WatchArgs {
            kubeconfig,
            contexts,
            cluster,
            state_dir,
            events_api: match events_api {
                EventsApiArg::V1 => EventsApi::Core,
                EventsApiArg::EventsK8sIo => EventsApi::EventsK8sIo,
            },
        }),
        SourceCmd::File {
            paths,
            cluster,
            batch_events,
        } => Source::File(FileSourceConfig {
            cluster,
            paths,
            watermark_interval: c.watermark_interval,
            batch_events: batch_events.max(1),
        }),
    };
    runner::run(common, source)
}
