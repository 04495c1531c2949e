//! Pods and Events through the Kubernetes API, for clusters without audit
//! access (managed EKS/GKE/AKS), one or many at once (kubeconfig contexts).
//!
//! Per cluster there is one [`Normalizer`] shared by the Pod and Event
//! streams, so an Event without `involvedObject.uid` gets the uid its pod
//! showed. Each resource runs a raw list + watch loop (see `stream`):
//! resume from the last acknowledged resourceVersion, re-watch when the
//! server closes the stream, relist on `410 Gone` (an HTTP 410 or an `ERROR`
//! watch event with code 410) without publishing anything twice.
//!
//! Events come from one API, `v1` (default) or `events.k8s.io/v1`
//! (`--events-api`): both serve the same objects, so watching both would
//! double every Event.

mod state;
mod stream;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use lunettes_ingest::Normalizer;
use lunettes_runtime::Shutdown;

pub use state::{SeenSet, VersionStore};

use crate::publish::Publisher;

/// Which API Events are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventsApi {
    /// `/api/v1/events` (every cluster version).
    #[default]
    Core,
    /// `/apis/events.k8s.io/v1/events` (Kubernetes 1.19+).
    EventsK8sIo,
}

/// A resource the collector lists and watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `v1` Pods.
    Pods,
    /// `v1` Events.
    CoreEvents,
    /// `events.k8s.io/v1` Events.
    Events,
}

impl Resource {
    /// API path of the collection (all namespaces).
    pub fn path(self) -> &'static str {
        match self {
            Resource::Pods => "/api/v1/pods",
            Resource::CoreEvents => "/api/v1/events",
            Resource::Events => "/apis/events.k8s.io/v1/events",
        }
    }

    /// `kind` of the items.
    pub fn kind(self) -> &'static str {
        match self {
            Resource::Pods => "Pod",
            Resource::CoreEvents | Resource::Events => "Event",
        }
    }

    /// `apiVersion` of the items.
    pub fn api_version(self) -> &'static str {
        match self {
            Resource::Pods | Resource::CoreEvents => "v1",
            Resource::Events => "events.k8s.io/v1",
        }
    }

    /// Short name for state files and logs.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::CoreEvents => "events",
            Resource::Events => "events.k8s.io",
        }
    }

    fn is_event(self) -> bool {
        self != Resource::Pods
    }
}

/// One cluster to watch.
#[derive(Clone)]
pub struct WatchTarget {
    /// Cluster name stamped on its HyperEvents.
    pub cluster: String,
    /// Client for its apiserver.
    pub client: kube::Client,
}

impl std::fmt::Debug for WatchTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchTarget")
            .field("cluster", &self.cluster)
            .finish()
    }
}

/// Settings of the watch collector.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Clusters.
    pub targets: Vec<WatchTarget>,
    /// Where resourceVersions are persisted; `None` relists at every start.
    pub state_dir: Option<PathBuf>,
    /// Which Events API.
    pub events_api: EventsApi,
    /// Items per list page.
    pub page_size: u32,
    /// Server-side timeout of one watch request, seconds.
    pub watch_timeout_s: u32,
    /// Records per published batch at most.
    pub batch_max: usize,
    /// How long a record may wait for its batch to fill.
    pub batch_linger: Duration,
    /// Event `uid:count` keys remembered per generation.
    pub seen_generation: usize,
}

impl WatchConfig {
    /// Defaults for `targets`.
    pub fn new(targets: Vec<WatchTarget>) -> Self {
        WatchConfig {
            targets,
            state_dir: None,
            events_api: EventsApi::Core,
            page_size: 500,
            watch_timeout_s: 290,
            batch_max: 2000,
            batch_linger: Duration::from_millis(200),
            seen_generation: 100_000,
        }
    }
}

/// Clients for the kubeconfig `contexts` (the current context when empty),
/// each tagged with its context name, or with `cluster` when there is exactly
/// one. Without a kubeconfig file, the in-cluster service account is used.
pub async fn targets_from_kubeconfig(
    kubeconfig: Option<&Path>,
    contexts: &[String],
    cluster: Option<&str>,
) -> anyhow::Result<Vec<WatchTarget>> {
    anyhow::ensure!(
        cluster.is_none() || contexts.len() <= 1,
        "--cluster names a single cluster; with several --context each is named after its context"
    );
    let file = match kubeconfig {
        Some(p) => Some(
            Kubeconfig::read_from(p)
                .with_context(|| format!("reading kubeconfig {}", p.display()))?,
        ),
        None => Kubeconfig::read().ok(),
    };
    let Some(file) = file else {
        let name = cluster.context(
            "no kubeconfig found: --cluster is required with the in-cluster service account",
        )?;
        let config = kube::Config::incluster().context("in-cluster Kubernetes configuration")?;
        return Ok(vec![WatchTarget {
            cluster: name.to_string(),
            client: kube::Client::try_from(config).context("Kubernetes client")?,
        }]);
    };
    let names: Vec<Option<String>> = if contexts.is_empty() {
        vec![None]
    } else {
        contexts.iter().cloned().map(Some).collect()
    };
    let mut out = Vec::new();
    for ctx in names {
        let context_name = ctx
            .clone()
            .or_else(|| file.current_context.clone())
            .context("kubeconfig has no current-context: pass --context")?;
        let options = KubeConfigOptions {
            context: Some(context_name.clone()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(file.clone(), &options)
            .await
            .with_context(|| format!("kubeconfig context {context_name}"))?;
        out.push(WatchTarget {
            cluster: cluster
                .map(str::to_string)
                .unwrap_or_else(|| context_name.clone()),
            client: kube::Client::try_from(config)
                .with_context(|| format!("client for context {context_name}"))?,
        });
    }
    Ok(out)
}

/// Runs every cluster's streams until shutdown. Returns the first fatal error
/// (bad state files); transient API errors are retried inside.
pub async fn run(
    cfg: WatchConfig,
    publisher: Arc<Publisher>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let store = VersionStore::new(cfg.state_dir.as_deref())?;
    let events = match cfg.events_api {
        EventsApi::Core => Resource::CoreEvents,
        EventsApi::EventsK8sIo => Resource::Events,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for target in &cfg.targets {
        let normalizer = Arc::new(Mutex::new(Normalizer::new(target.cluster.clone())));
        let seen = Arc::new(Mutex::new(SeenSet::new(cfg.seen_generation)));
        for resource in [Resource::Pods, events] {
            let s = stream::ResourceStream {
                cluster: target.cluster.clone(),
                client: target.client.clone(),
                resource,
                normalizer: normalizer.clone(),
                seen: seen.clone(),
                store: store.clone(),
                publisher: publisher.clone(),
                shutdown: shutdown.clone(),
                page_size: cfg.page_size,
                watch_timeout_s: cfg.watch_timeout_s,
                batch_max: cfg.batch_max,
                batch_linger: cfg.batch_linger,
            };
            tasks.spawn(s.run());
        }
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let result = joined.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(e) = result {
            tracing::error!(error = %format!("{e:#}"), "watch stream stopped");
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
