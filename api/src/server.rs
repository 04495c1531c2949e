//! The HTTP server: routes, handlers, and the `lunettes api` run loop.
//!
//! State is immutable after start (the ClickHouse client, the SLO config,
//! metric handles) and shared by `Arc`, so any number of concurrent requests
//! are independent: nothing is cached, locked or mutated per request. The
//! route table [`routes`] is the single list the router is built from and
//! the OpenAPI test compares against, so a route cannot exist undocumented.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, RawQuery, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use lunettes_processor::SloConfig;
use lunettes_runtime::telemetry::{self, Readiness};
use lunettes_runtime::Shutdown;
use lunettes_schemas::time::format_rfc3339_micros;
use prometheus::Registry;

use crate::error::{Error, Result};
use crate::metrics::ApiMetrics;
use crate::model::{DebugPodAnswer, PodList, SloQueryEcho, SloReport};
use crate::page;
use crate::params::{DebugPodQuery, DebugSloQuery, PodSelector, MAX_TIMELINE};
use crate::report::{self, PodData};
use crate::store::{PodKeyRow, SloFilter, Store};

/// Shared, read-only state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    slo: SloConfig,
    timeout: Duration,
}

impl AppState {
    /// State over `store`, with the SLO configuration used for in-progress
    /// deadlines and a per-request timeout for the store's answers.
    pub fn new(store: Store, slo: SloConfig, timeout: Duration) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store,
                slo,
                timeout,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}

/// Paths served by [`lunettes_runtime::telemetry::router`], merged in.
pub const TELEMETRY_ROUTES: &[&str] = &["/metrics", "/healthz", "/readyz"];

/// The API's own routes (all `GET`): the table the router is built from.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/api/v1/debugpod", get(debugpod)),
        ("/api/v1/debugslo", get(debugslo)),
        ("/api/v1/openapi.yaml", get(page::openapi)),
        ("/pod", get(page::pod_page)),
        ("/pod/{namespace}/{name}", get(page::pod_page_by_name)),
        ("/static/{file}", get(page::asset)),
    ]
}

/// The full router: API routes, the page, and `/metrics`, `/healthz`,
/// `/readyz` over `registry` and `ready`.
pub fn router(
    state: AppState,
    metrics: ApiMetrics,
    registry: Registry,
    ready: Readiness,
) -> Router {
    let mut api = Router::new();
    for (path, route) in routes() {
        api = api.route(path, route);
    }
    api.fallback(|| async { Error::NotFound("no such route".into()) })
        .with_state(state)
        .merge(telemetry::router(registry, ready))
        .layer(middleware::from_fn_with_state(metrics, observe))
}

async fn observe(State(m): State<ApiMetrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let resp = next.run(req).await;
    m.latency
        .with_label_values(&[route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[route.as_str(), resp.status().as_str()])
        .inc();
    resp
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

async fn bounded<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or(Err(Error::Timeout(timeout)))
}

/// `GET /api/v1/debugpod`.
async fn debugpod(
    State(s): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<DebugPodAnswer>> {
    let query = DebugPodQuery::parse(q.as_deref())?;
    let answer = bounded(s.inner.timeout, answer_debugpod(&s, &query, now_us())).await?;
    Ok(Json(answer))
}

/// Answers a validated `debugpod` query (also what `lunettes debug
/// --clickhouse-url` runs in-process).
pub async fn answer_debugpod(
    s: &AppState,
    q: &DebugPodQuery,
    now_us: i64,
) -> Result<DebugPodAnswer> {
    let store = &s.inner.store;
    let cluster = q.cluster.as_deref().unwrap_or("");
    let (keys, what) = match &q.selector {
        PodSelector::Uid(uid) => (
            store.pods_by_uid(uid, cluster).await?,
            format!("uid {uid:?}"),
        ),
        PodSelector::Name { namespace, name } => (
            store.pods_by_name(namespace, name, cluster).await?,
            format!("pod {namespace}/{name}"),
        ),
        PodSelector::Node(node) => {
            let keys = store.pods_on_node(node, cluster, q.limit).await?;
            return pod_list(store, keys, q.limit, node, now_us).await;
        }
        PodSelector::PodIp(ip) => {
            let keys = store
                .pods_with_ip(&ip.to_string(), cluster, q.limit)
                .await?;
            return pod_list(store, keys, q.limit, "", now_us).await;
        }
    };
    // Prefer incarnations whose uid is known; the newest first.
    let key = keys
        .iter()
        .find(|k| !k.uid.is_empty())
        .or(keys.first())
        .cloned()
        .ok_or_else(|| {
            let scope = q
                .cluster
                .as_ref()
                .map(|c| format!(" in cluster {c}"))
                .unwrap_or_default();
            Error::NotFound(format!("no events or verdicts for {what}{scope}"))
        })?;
    // Uid-less events belong to this incarnation from shortly before its
    // first record until the next incarnation of the same name appeared.
    let next_first = keys
        .iter()
        .filter(|k| {
            k.cluster == key.cluster
                && k.uid != key.uid
                && !k.uid.is_empty()
                && k.first_us > key.first_us
        })
        .map(|k| k.first_us)
        .min()
        .unwrap_or(i64::MAX / 2);
    let others = match &q.selector {
        PodSelector::Uid(_) => {
            store
                .pods_by_name(&key.namespace, &key.name, &key.cluster)
                .await?
        }
        _ => keys.clone(),
    };
    let (deliveries, events, spans) = tokio::try_join!(
        store.deliveries_of(&key),
        store.events_of(&key, key.first_us - 60_000_000, next_first, MAX_TIMELINE),
        store.spans_of(&key),
    )?;
    let mut events = events;
    let events_truncated = events.len() > MAX_TIMELINE;
    events.truncate(MAX_TIMELINE);
    let data = PodData {
        key,
        others,
        deliveries,
        events,
        events_truncated,
        spans,
    };
    Ok(DebugPodAnswer::Pod(Box::new(report::pod_report(
        &data,
        &s.inner.slo,
        q.errors_only,
        now_us,
    ))))
}

async fn pod_list(
    store: &Store,
    mut keys: Vec<PodKeyRow>,
    limit: usize,
    node: &str,
    now_us: i64,
) -> Result<DebugPodAnswer> {
    let truncated = keys.len() > limit;
    keys.truncate(limit);
    let uids: Vec<String> = keys.iter().map(|k| k.uid.clone()).collect();
    let deliveries = store.deliveries_of_uids(&uids).await?;
    Ok(DebugPodAnswer::PodList(PodList {
        now: format_rfc3339_micros(now_us),
        pods: report::summaries(&keys, &deliveries, node),
        truncated,
        limit,
    }))
}

/// `GET /api/v1/debugslo`.
async fn debugslo(State(s): State<AppState>, RawQuery(q): RawQuery) -> Result<Json<SloReport>> {
    let now = now_us();
    let query = DebugSloQuery::parse(q.as_deref(), now)?;
    let answer = bounded(s.inner.timeout, answer_debugslo(&s, &query, now)).await?;
    Ok(Json(answer))
}

/// Answers a validated `debugslo` query.
pub async fn answer_debugslo(s: &AppState, q: &DebugSloQuery, now_us: i64) -> Result<SloReport> {
    let filter = SloFilter {
        cluster: q.cluster.clone().unwrap_or_default(),
        namespace: q.namespace.clone().unwrap_or_default(),
        result: q.result.map(|r| r.as_str().to_string()).unwrap_or_default(),
        code: q.code.clone().unwrap_or_default(),
        action: q.action.as_str().to_string(),
        from_us: q.from_us,
        to_us: q.to_us,
    };
    let store = &s.inner.store;
    let (buckets, mut pods) =
        tokio::try_join!(store.slo_buckets(&filter), store.slo_pods(&filter, q.limit))?;
    let pods_truncated = pods.len() > q.limit;
    pods.truncate(q.limit);
    let dim = |name: &str| {
        buckets
            .iter()
            .filter(|b| b.dim == name && !(name == "code" && b.key.is_empty()))
            .map(report::bucket)
            .collect::<Vec<_>>()
    };
    let overall = dim("all").into_iter().next().unwrap_or_else(|| {
        report::bucket(&crate::store::BucketRow {
            dim: "all".into(),
            key: String::new(),
            total: 0,
            success: 0,
            fail: 0,
            kill: 0,
            api_failed: 0,
            abandoned: 0,
        })
    });
    Ok(SloReport {
        now: format_rfc3339_micros(now_us),
        query: SloQueryEcho {
            cluster: q.cluster.clone(),
            namespace: q.namespace.clone(),
            result: q.result.map(|r| r.as_str().to_string()),
            code: q.code.clone(),
            action: q.action.as_str().to_string(),
            from: format_rfc3339_micros(q.from_us),
            to: format_rfc3339_micros(q.to_us),
            limit: q.limit,
        },
        overall,
        by_cluster: dim("cluster"),
        by_namespace: dim("namespace"),
        by_node: dim("node"),
        by_code: dim("code"),
        pods: pods.iter().map(report::summary_of).collect(),
        pods_truncated,
    })
}

/// Settings of `lunettes api`.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// Where `/metrics`, `/healthz`, `/readyz` are also served (they are
    /// always on `listen` too).
    pub metrics_addr: Option<SocketAddr>,
    /// ClickHouse HTTP interface URL.
    pub clickhouse_url: String,
    /// Database holding the tables.
    pub database: String,
    /// ClickHouse user.
    pub user: Option<String>,
    /// ClickHouse password.
    pub password: Option<String>,
    /// SLO configuration (in-progress deadlines).
    pub slo: SloConfig,
    /// Longest a request may wait for ClickHouse.
    pub timeout: Duration,
}

impl ApiConfig {
    /// Checks the URL and database name.
    pub fn validate(&self) -> Result<()> {
        if !self.clickhouse_url.starts_with("http://") {
            return Err(Error::Config(format!(
                "--clickhouse-url {:?} must start with http:// (the ClickHouse HTTP interface)",
                self.clickhouse_url
            )));
        }
        let mut chars = self.database.chars();
        let ident = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident {
            return Err(Error::Config(format!(
                "--database {:?} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)",
                self.database
            )));
        }
        if self.timeout.is_zero() {
            return Err(Error::Config("the request timeout must be positive".into()));
        }
        Ok(())
    }

    /// The ClickHouse client this configuration describes.
    pub fn client(&self) -> clickhouse::Client {
        let mut c = clickhouse::Client::default()
            .with_url(&self.clickhouse_url)
            .with_database(&self.database)
            .with_validation(true)
            .with_product_info("lunettes-api", env!("CARGO_PKG_VERSION"));
        if let Some(u) = &self.user {
            c = c.with_user(u);
        }
        if let Some(p) = &self.password {
            c = c.with_password(p);
        }
        c
    }
}

/// A running API server.
#[derive(Debug)]
pub struct RunningApi {
    /// The bound API address.
    pub addr: SocketAddr,
    /// The bound metrics address, when separate.
    pub metrics_addr: Option<SocketAddr>,
    /// The server task (ends after shutdown).
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the API: binds, serves until `shutdown`, and keeps `/readyz` in
/// step with ClickHouse (probed every 10 s).
pub async fn start(config: ApiConfig, shutdown: Shutdown) -> Result<RunningApi> {
    config.validate()?;
    let registry = Registry::new();
    let metrics = ApiMetrics::new(&registry).map_err(|e| Error::Config(format!("metrics: {e}")))?;
    let ready = Readiness::default();
    let state = AppState::new(
        Store::new(config.client()),
        config.slo.clone(),
        config.timeout,
    );
    let app = router(state.clone(), metrics, registry.clone(), ready.clone());
    let (addr, task) = telemetry::serve(config.listen, app, shutdown.clone())
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", config.listen)))?;
    let metrics_addr = match config.metrics_addr {
        Some(a) => Some(
            telemetry::serve(
                a,
                telemetry::router(registry, ready.clone()),
                shutdown.clone(),
            )
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {a}: {e}")))?
            .0,
        ),
        None => None,
    };
    tokio::spawn(async move {
        loop {
            let ok = state.store().ping().await;
            if let Err(e) = &ok {
                tracing::warn!(error = %e, "ClickHouse is not answering");
            }
            ready.set(ok.is_ok() && !shutdown.is_triggered());
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                _ = shutdown.clone().wait() => { ready.set(false); return; }
            }
        }
    });
    Ok(RunningApi {
        addr,
        metrics_addr,
        task,
    })
}
