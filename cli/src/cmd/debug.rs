//! `lunettes debug pod|slo`: the debug API's answers in the terminal.
//!
//! Asks a running `lunettes api` (`--api`, default) or, with
//! `--clickhouse-url`, runs the very same query code in-process against
//! ClickHouse, so an operator on a box without the API gets identical
//! answers. Both paths validate the query with the API's own parser.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lunettes_api::client::ApiClient;
use lunettes_api::model::{DebugPodAnswer, SloReport};
use lunettes_api::params::{DebugPodQuery, DebugSloQuery};
use lunettes_api::render::{pod_list_text, pod_text, slo_text, TextOptions};
use lunettes_api::server::{answer_debugpod, answer_debugslo, AppState};
use lunettes_api::store::Store;

/// Flags of `lunettes debug`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

/// What to debug.
#[derive(clap::Subcommand, Debug)]
pub enum What {
    /// One pod: verdict, summary, deadline, phases as a text Gantt chart, timeline.
    Pod(PodArgs),
    /// Verdict distributions by cluster, namespace, node and code, and the pod list.
    Slo(SloArgs),
}

/// Where the answers come from.
#[derive(clap::Args, Debug, Clone)]
pub struct Source {
    /// The debug API (`lunettes api`).
    #[arg(long, env = "LUNETTES_API", default_value = "http://127.0.0.1:8080")]
    pub api: String,
    /// Query ClickHouse directly instead of the API.
    #[arg(long, env = "LUNETTES_CLICKHOUSE_URL")]
    pub clickhouse_url: Option<String>,
    /// Database (with --clickhouse-url).
    #[arg(long, env = "LUNETTES_CLICKHOUSE_DATABASE", default_value = "lunettes")]
    pub database: String,
    /// SLO configuration for in-progress deadlines (with --clickhouse-url).
    #[arg(long)]
    pub slo_config: Option<PathBuf>,
    /// Print the JSON answer instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `lunettes debug pod`.
#[derive(clap::Args, Debug, Clone)]
pub struct PodArgs {
    /// Pod UID, or namespace/name. Omit with --node or --podip.
    #[arg(required_unless_present_any = ["node", "podip"])]
    pub pod: Option<String>,
    /// List the pods seen on this node.
    #[arg(long, conflicts_with_all = ["pod", "podip"])]
    pub node: Option<String>,
    /// List the pods that had this IP.
    #[arg(long, conflicts_with = "pod")]
    pub podip: Option<String>,
    /// Restrict to one cluster.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Timeline: error entries only.
    #[arg(long)]
    pub errors_only: bool,
    /// Most pods in a list (--node, --podip).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Columns of the Gantt chart.
    #[arg(long, default_value_t = 60)]
    pub width: usize,
    #[command(flatten)]
    pub source: Source,
}

/// Flags of `lunettes debug slo`.
#[derive(clap::Args, Debug, Clone)]
pub struct SloArgs {
    /// Cluster filter.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Namespace filter.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Result filter (success, fail, kill, api_failed, abandoned).
    #[arg(long)]
    pub result: Option<String>,
    /// Diagnosis code filter.
    #[arg(long)]
    pub code: Option<String>,
    /// Delivery type: create or delete.
    #[arg(long = "type", default_value = "create")]
    pub action: String,
    /// From (RFC 3339, `now`, `now-1h`); default: 24 h before --to.
    #[arg(long)]
    pub from: Option<String>,
    /// To (RFC 3339, `now`, `now-1h`); default: now.
    #[arg(long)]
    pub to: Option<String>,
    /// Most pods listed.
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub source: Source,
}

fn push(q: &mut Vec<(&'static str, String)>, k: &'static str, v: Option<impl ToString>) {
    if let Some(v) = v {
        q.push((k, v.to_string()));
    }
}

impl PodArgs {
    /// The debugpod query parameters these flags mean.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        match (&self.pod, &self.node, &self.podip) {
            (Some(p), _, _) => match p.split_once('/') {
                Some((ns, name)) => {
                    q.push(("namespace", ns.to_string()));
                    q.push(("name", name.to_string()));
                }
                None => q.push(("uid", p.clone())),
            },
            (None, Some(n), _) => q.push(("node", n.clone())),
            (None, None, Some(ip)) => q.push(("podip", ip.clone())),
            (None, None, None) => {}
        }
        push(&mut q, "cluster", self.cluster.as_ref());
        if self.errors_only {
            q.push(("errors_only", "true".into()));
        }
        push(&mut q, "limit", self.limit);
        q
    }
}

impl SloArgs {
    /// The debugslo query parameters these flags mean.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        push(&mut q, "cluster", self.cluster.as_ref());
        push(&mut q, "namespace", self.namespace.as_ref());
        push(&mut q, "result", self.result.as_ref());
        push(&mut q, "code", self.code.as_ref());
        q.push(("type", self.action.clone()));
        push(&mut q, "from", self.from.as_ref());
        push(&mut q, "to", self.to.as_ref());
        push(&mut q, "limit", self.limit);
        q
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn local_state(source: &Source, url: &str) -> anyhow::Result<AppState> {
    if !url.starts_with("http://") {
        anyhow::bail!("--clickhouse-url {url:?} must start with http://");
    }
    let slo = super::api::slo_config(source.slo_config.as_ref())?;
    Ok(AppState::new(
        Store::connect(url, &source.database),
        slo,
        Duration::from_secs(60),
    ))
}

fn encode(q: &[(&'static str, String)]) -> anyhow::Result<String> {
    serde_urlencoded::to_string(q).context("encoding the query")
}

/// Answers `debug pod` from the API or ClickHouse.
pub async fn pod_answer(args: &PodArgs) -> lunettes_api::Result<DebugPodAnswer> {
    let q = args.query();
    match &args.source.clickhouse_url {
        None => ApiClient::new(&args.source.api)?.debugpod(&q).await,
        Some(url) => {
            let state = local_state(&args.source, url)
                .map_err(|e| lunettes_api::Error::Config(format!("{e:#}")))?;
            let raw = serde_urlencoded::to_string(&q)
                .map_err(|e| lunettes_api::Error::Config(e.to_string()))?;
            let parsed = DebugPodQuery::parse(Some(&raw))?;
            answer_debugpod(&state, &parsed, now_us()).await
        }
    }
}

/// Answers `debug slo` from the API or ClickHouse.
pub async fn slo_answer(args: &SloArgs) -> lunettes_api::Result<SloReport> {
    let q = args.query();
    match &args.source.clickhouse_url {
        None => ApiClient::new(&args.source.api)?.debugslo(&q).await,
        Some(url) => {
            let state = local_state(&args.source, url)
                .map_err(|e| lunettes_api::Error::Config(format!("{e:#}")))?;
            let raw = serde_urlencoded::to_string(&q)
                .map_err(|e| lunettes_api::Error::Config(e.to_string()))?;
            let now = now_us();
            let parsed = DebugSloQuery::parse(Some(&raw), now)?;
            answer_debugslo(&state, &parsed, now).await
        }
    }
}

/// The text (or JSON) `debug pod` prints.
pub async fn pod_output(args: &PodArgs) -> lunettes_api::Result<String> {
    let answer = pod_answer(args).await?;
    if args.source.json {
        return Ok(serde_json::to_string_pretty(&answer).unwrap_or_default() + "\n");
    }
    Ok(match answer {
        DebugPodAnswer::Pod(r) => pod_text(
            &r,
            &TextOptions {
                gantt_width: args.width,
                ..TextOptions::default()
            },
        ),
        DebugPodAnswer::PodList(l) => pod_list_text(&l),
    })
}

/// The text (or JSON) `debug slo` prints.
pub async fn slo_output(args: &SloArgs) -> lunettes_api::Result<String> {
    let answer = slo_answer(args).await?;
    if args.source.json {
        return Ok(serde_json::to_string_pretty(&answer).unwrap_or_default() + "\n");
    }
    Ok(slo_text(&answer))
}

/// Prints the answer. Exit 0, 1 when nothing matched, 2 on other errors.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (out, what) = match &args.what {
        What::Pod(a) => (runtime.block_on(pod_output(a)), encode(&a.query())?),
        What::Slo(a) => (runtime.block_on(slo_output(a)), encode(&a.query())?),
    };
    match out {
        Ok(text) => {
            use std::io::Write;
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(0)
        }
        Err(
            e
            @ (lunettes_api::Error::NotFound(_) | lunettes_api::Error::Remote { status: 404, .. }),
        ) => {
            eprintln!("lunettes debug: {e}");
            Ok(1)
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("debug query {what}"))),
    }
}

#[cfg(test)]
mod tests {
    //! `lunettes debug` against a running API and directly against ClickHouse,
    //! over the dev ClickHouse filled by the real pipeline parts.

    use super::*;
    use lunettes_api::server::{start, ApiConfig};
    use lunettes_api::testing::{fixture, FixtureConfig};
    use lunettes_schemas::{Action, DeliveryResult};

    fn source(api: &str, clickhouse_url: Option<&str>, json: bool) -> Source {
        Source {
            api: api.to_string(),
            clickhouse_url: clickhouse_url.map(str::to_string),
            database: "lunettes".into(),
            slo_config: None,
            json,
        }
    }

    fn pod_args(pod: &str, source: Source) -> PodArgs {
        PodArgs {
            pod: Some(pod.to_string()),
            node: None,
            podip: None,
            cluster: None,
            errors_only: false,
            limit: None,
            width: 60,
            source,
        }
    }

    fn slo_args(source: Source) -> SloArgs {
        SloArgs {
            cluster: None,
            namespace: None,
            result: None,
            code: None,
            action: "create".into(),
            from: Some("now-6h".into()),
            to: None,
            limit: Some(1000),
            source,
        }
    }

    /// The JSON of a pod answer without the parts that move with the clock.
    fn stable(a: DebugPodAnswer) -> serde_json::Value {
        let mut v = serde_json::to_value(a).unwrap();
        v["now"] = serde_json::Value::Null;
        if v["deadline"].is_object() {
            v["deadline"]["remaining_ms"] = serde_json::Value::Null;
        }
        v
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn debug_pod_and_slo_print_the_api_answers() {
        let fx = fixture(FixtureConfig {
            pods: 40,
            ..FixtureConfig::default()
        })
        .await;
        let (_trigger, shutdown) = lunettes_runtime::Shutdown::new();
        let running = start(
            ApiConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                metrics_addr: None,
                clickhouse_url: fx.server.url().to_string(),
                database: fx.database.clone(),
                user: None,
                password: None,
                slo: Default::default(),
                timeout: Duration::from_secs(60),
            },
            shutdown,
        )
        .await
        .unwrap();
        let api = format!("http://{}", running.addr);
        let failing = fx
            .find(|d| {
                d.action == Action::Create
                    && d.result == DeliveryResult::Fail
                    && !d.code.is_empty()
                    && !d.uid.is_empty()
            })
            .into_iter()
            .next()
            .expect("a failed create");

        // Text through the API: verdict, summary, deadline, Gantt, timeline.
        let text = pod_output(&pod_args(&failing.uid, source(&api, None, false)))
            .await
            .unwrap();
        println!("lunettes debug pod {}:\n{text}", failing.uid);
        let head = format!(
            "{}/{}  [FAIL]  {}",
            failing.namespace, failing.name, failing.code
        );
        assert!(text.starts_with(&head), "{text}");
        assert!(
            text.contains(&format!("Summary: {}", failing.summary)),
            "{text}"
        );
        assert!(
            text.contains("Deadline: ") && text.contains("passed"),
            "{text}"
        );
        assert!(text.contains("^ deadline (SLO "), "{text}");
        assert!(text.contains('█'), "{text}");
        assert!(text.contains("Timeline ("), "{text}");
        assert!(text.contains("pod:create:success"), "{text}");

        // namespace/name gives the same pod; --clickhouse-url the same answer.
        let by_name = format!("{}/{}", failing.namespace, failing.name);
        let mut args = pod_args(&by_name, source(&api, None, false));
        args.cluster = Some(failing.cluster.clone());
        let via_api = pod_answer(&args).await.unwrap();
        args.source = source(&api, Some(fx.server.url()), false);
        let direct = pod_answer(&args).await.unwrap();
        assert_eq!(stable(via_api), stable(direct));

        // JSON output is the API's answer.
        let json = pod_output(&pod_args(&failing.uid, source(&api, None, true)))
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["kind"], "pod");
        assert_eq!(v["verdict"]["code"], failing.code.as_str());

        // A node list.
        let mut args = pod_args("", source(&api, None, false));
        args.pod = None;
        args.node = Some(failing.node.clone());
        let list = pod_output(&args).await.unwrap();
        assert!(list.starts_with("CLUSTER"), "{list}");
        assert!(list.contains(&failing.uid), "{list}");

        // In progress: the estimated deadline is printed.
        let live = &fx.live[0];
        let text = pod_output(&pod_args(&live.uid, source(&api, None, false)))
            .await
            .unwrap();
        assert!(text.contains("[IN PROGRESS]"), "{text}");
        assert!(text.contains("estimated from the first event"), "{text}");

        // Unknown pod: the API's 404; bad input: the API's 400 naming the parameter.
        let err = pod_output(&pod_args(
            "00000000-0000-0000-0000-000000000000",
            source(&api, None, false),
        ))
        .await
        .unwrap_err();
        assert!(
            matches!(err, lunettes_api::Error::Remote { status: 404, .. }),
            "{err}"
        );
        let err = pod_output(&pod_args("Bad_NS/x", source(&api, None, false)))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("parameter \"namespace\""), "{err}");

        // SLO distributions, through the API and directly.
        let creates = fx.find(|d| d.action == Action::Create).len();
        let text = slo_output(&slo_args(source(&api, None, false)))
            .await
            .unwrap();
        println!("lunettes debug slo --from now-6h:\n{text}");
        assert!(text.contains(&format!("total {creates} ")), "{text}");
        for d in &fx.deliveries {
            assert!(
                text.contains(&d.cluster),
                "cluster {} missing:\n{text}",
                d.cluster
            );
        }
        assert!(
            text.contains("CODE") && text.contains(&failing.code),
            "{text}"
        );
        let mut direct = slo_answer(&slo_args(source(&api, Some(fx.server.url()), false)))
            .await
            .unwrap();
        let mut via_api = slo_answer(&slo_args(source(&api, None, false)))
            .await
            .unwrap();
        direct.now.clear();
        via_api.now.clear();
        // `now-6h` resolves a few ms apart; the counts must not differ.
        direct.query.from.clear();
        via_api.query.from.clear();
        direct.query.to.clear();
        via_api.query.to.clear();
        assert_eq!(direct, via_api);
        let mut bad = slo_args(source(&api, None, false));
        bad.action = "update".into();
        let err = slo_output(&bad).await.unwrap_err();
        assert!(err.to_string().contains("parameter \"type\""), "{err}");
    }
}
