//! The watch collector against a stand-in apiserver and a real broker.
//!
//! No real kube-apiserver can run on these machines, so a small HTTP server
//! here speaks the list/watch protocol the collector uses (paged lists with
//! `limit`/`continue`, `?watch=1&resourceVersion=` streams of
//! `{"type":..,"object":..}` lines, bookmarks) and serves real objects: the
//! Pods and Events kspan recorded of a deployment rollout, and gitops-engine's
//! Pods. `410 Gone` (as an HTTP status and as an `ERROR` watch event) is a
//! fault we cannot otherwise cause: the server answers it on demand, as an
//! apiserver does once the requested resourceVersion is compacted.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::{by_dedup, kafka, publisher, read_topic};
use lunettes_collect::watch::{self, WatchConfig, WatchTarget};
use lunettes_collect::{PublishOptions, Publisher};
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::Shutdown;
use serde_json::{json, Value};

/// The stand-in apiserver's state.
#[derive(Default)]
struct Api {
    rv: u64,
    /// (resource, uid) -> current object.
    objects: BTreeMap<(String, String), Value>,
    /// (rv, type, resource, object) in commit order.
    history: Vec<(u64, String, String, Value)>,
    /// Watches from below this version get 410 Gone.
    compacted_below: u64,
    /// Requests seen: (resource, "list" | "watch@<rv>").
    requests: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Api>>;

impl Api {
    fn commit(&mut self, resource: &str, kind: &str, mut obj: Value) {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = self.rv.to_string().into();
        let uid = obj["metadata"]["uid"].as_str().unwrap().to_string();
        self.objects
            .insert((resource.to_string(), uid), obj.clone());
        self.history
            .push((self.rv, kind.to_string(), resource.to_string(), obj));
    }
}

fn status_410() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
           "message": "too old resource version", "reason": "Expired", "code": 410})
}

async fn serve_resource(
    resource: &'static str,
    api: Shared,
    q: HashMap<String, String>,
) -> Response {
    let mut a = api.lock().unwrap();
    let watching = q.get("watch").is_some_and(|w| w == "1" || w == "true");
    if !watching {
        a.requests.push((resource.into(), "list".into()));
        let all: Vec<Value> = a
            .objects
            .iter()
            .filter(|((r, _), _)| r == resource)
            .map(|(_, o)| {
                // Like an apiserver, list items carry no kind/apiVersion.
                let mut o = o.clone();
                o.as_object_mut().unwrap().remove("kind");
                o.as_object_mut().unwrap().remove("apiVersion");
                o
            })
            .collect();
        let start: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
        let limit: usize = q
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(usize::MAX);
        let end = start.saturating_add(limit).min(all.len());
        let cont = if end < all.len() {
            end.to_string()
        } else {
            String::new()
        };
        let body = json!({"kind": "List", "apiVersion": "v1",
            "metadata": {"resourceVersion": a.rv.to_string(), "continue": cont},
            "items": all[start..end]});
        return (StatusCode::OK, body.to_string()).into_response();
    }
    let from: u64 = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    a.requests.push((resource.into(), format!("watch@{from}")));
    if from < a.compacted_below {
        // Pods get an HTTP 410, Events an ERROR event: apiservers do both.
        if resource == "pods" {
            return (StatusCode::GONE, status_410().to_string()).into_response();
        }
        let line = json!({"type": "ERROR", "object": status_410()}).to_string() + "\n";
        return (StatusCode::OK, line).into_response();
    }
    let mut lines: Vec<Result<Bytes, std::io::Error>> = a
        .history
        .iter()
        .filter(|(rv, _, r, _)| *rv > from && r == resource)
        .map(|(_, t, _, o)| {
            Ok(Bytes::from(
                json!({"type": t, "object": o}).to_string() + "\n",
            ))
        })
        .collect();
    let bookmark = json!({"type": "BOOKMARK", "object": {"kind": if resource == "pods" {"Pod"} else {"Event"},
        "apiVersion": "v1", "metadata": {"resourceVersion": a.rv.to_string()}}});
    lines.push(Ok(Bytes::from(bookmark.to_string() + "\n")));
    drop(a);
    // The stream stays open a moment, then ends as a watch timeout would.
    let tail = futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(Bytes::new())
    });
    Body::from_stream(futures::StreamExt::chain(
        futures::stream::iter(lines),
        tail,
    ))
    .into_response()
}

async fn start_api(api: Shared) -> String {
    let app = Router::new()
        .route(
            "/api/v1/pods",
            get(
                |State(a): State<Shared>, Query(q): Query<HashMap<String, String>>| {
                    serve_resource("pods", a, q)
                },
            ),
        )
        .route(
            "/api/v1/events",
            get(
                |State(a): State<Shared>, Query(q): Query<HashMap<String, String>>| {
                    serve_resource("events", a, q)
                },
            ),
        )
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| {
            let v: Value = serde::Deserialize::deserialize(d).ok()?;
            (!v.is_null()).then_some(v)
        })
        .collect()
}

fn fixtures() -> (Vec<Value>, Vec<Value>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut docs = yaml_docs(&dir.join("kspan/deployment-2-pods.yaml"));
    for f in [
        "pod-running-not-ready",
        "pod-imagepullbackoff",
        "pod-succeeded",
        "pod-crashloop",
    ] {
        docs.extend(yaml_docs(&dir.join(format!("gitops-engine/{f}.yaml"))));
    }
    let pick = |kind: &str| {
        docs.iter()
            .filter(|d| d["kind"] == kind)
            .cloned()
            .collect::<Vec<_>>()
    };
    (pick("Pod"), pick("Event"))
}

fn client(url: &str) -> kube::Client {
    let config = kube::Config::new(url.parse().unwrap());
    kube::Client::try_from(config).unwrap()
}

async fn wait_stable(p: &Publisher, cluster: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (u64::MAX, Instant::now());
    loop {
        let n = p.metrics().events_out.with_label_values(&[cluster]).get();
        if n != last.0 {
            last = (n, Instant::now());
        } else if n >= at_least && last.1.elapsed() > Duration::from_millis(1500) {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "HyperEvents did not settle ({n})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the API has answered at least `want` list requests per
/// resource since request number `from` (a relist after 410 Gone reaching
/// its last page), lets the relists settle, then lifts the compaction so
/// watches resume.
async fn relisted_then_resume(api: &Shared, from: usize, want: &[(&str, usize)]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = {
            let a = api.lock().unwrap();
            want.iter().all(|(res, n)| {
                a.requests[from..]
                    .iter()
                    .filter(|(r, k)| r == res && k == "list")
                    .count()
                    >= *n
            })
        };
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the collector did not relist after 410"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    api.lock().unwrap().compacted_below = 0;
}

fn run(
    cfg: &WatchConfig,
    p: &Arc<Publisher>,
) -> (
    lunettes_runtime::shutdown::ShutdownTrigger,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let (trigger, shutdown) = Shutdown::new();
    (
        trigger,
        tokio::spawn(watch::run(cfg.clone(), p.clone(), shutdown)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relist_after_410_publishes_nothing_twice_and_restart_resumes() {
    let broker = TestBroker::start();
    let k = kafka(&broker.bootstrap(), "watch", 3);
    let p = publisher(&k, PublishOptions::default()).await;
    let api: Shared = Arc::default();
    let (pods, events) = fixtures();
    {
        // Half of the rollout is there at the first list, the rest arrives by watch.
        let mut a = api.lock().unwrap();
        for pod in &pods[..3] {
            a.commit("pods", "ADDED", pod.clone());
        }
        for ev in &events[..8] {
            a.commit("events", "ADDED", ev.clone());
        }
    }
    let url = start_api(api.clone()).await;
    let state = tempfile::tempdir().unwrap();
    let mut cfg = WatchConfig::new(vec![WatchTarget {
        cluster: "w1".into(),
        client: client(&url),
    }]);
    cfg.state_dir = Some(state.path().to_path_buf());
    cfg.page_size = 3; // several pages per list
    cfg.batch_linger = Duration::from_millis(50);

    let (stop, task) = run(&cfg, &p);
    tokio::time::sleep(Duration::from_millis(500)).await;
    {
        let mut a = api.lock().unwrap();
        for pod in &pods[3..] {
            a.commit("pods", "ADDED", pod.clone());
        }
        for ev in &events[8..] {
            a.commit("events", "ADDED", ev.clone());
        }
    }
    let first = wait_stable(&p, "w1", 1).await;

    // Compaction: every watch now gets 410 Gone and must relist everything.
    let before = api.lock().unwrap().requests.len();
    {
        let mut a = api.lock().unwrap();
        a.compacted_below = a.rv + 1;
    }
    // A relist reaches the last page (no continue) of both resources: with
    // pages of 3, pods take 3 requests and events 7.
    relisted_then_resume(&api, before, &[("pods", 3), ("events", 7)]).await;
    let after_relist = wait_stable(&p, "w1", first).await;
    assert_eq!(
        after_relist, first,
        "a relist of unchanged objects publishes nothing"
    );

    // Stop, add one new Event, restart: it resumes by watch, not by list.
    stop.trigger();
    task.await.unwrap().unwrap();
    let saved = std::fs::read_to_string(state.path().join("w1.events.json")).unwrap();
    let mut extra = events
        .iter()
        .find(|e| e["involvedObject"]["kind"] == "Pod")
        .unwrap()
        .clone();
    extra["metadata"]["uid"] = "extra-event-uid".into();
    extra["metadata"]["name"] = "extra-event".into();
    extra["reason"] = "Pulled".into();
    extra["message"] = "Container image \"nginx\" already present on machine".into();
    let requests_before = {
        let mut a = api.lock().unwrap();
        a.commit("events", "ADDED", extra);
        a.requests.len()
    };
    let (stop, task) = run(&cfg, &p);
    let last = wait_stable(&p, "w1", first + 1).await;
    stop.trigger();
    task.await.unwrap().unwrap();
    {
        let a = api.lock().unwrap();
        let after: Vec<&(String, String)> = a.requests[requests_before..].iter().collect();
        let first_events = after.iter().find(|(r, _)| r == "events").unwrap();
        let saved_rv: Value = serde_json::from_str(&saved).unwrap();
        assert_eq!(
            first_events.1,
            format!("watch@{}", saved_rv["resource_version"].as_str().unwrap())
        );
        assert!(
            !after.iter().any(|(_, r)| r == "list"),
            "resumed without a list: {after:?}"
        );
    }

    // On the topic: each HyperEvent once; every Pod Event and every pod there.
    let reads = read_topic(
        &k,
        &k.topics.hyperevents.name,
        last as usize,
        Duration::from_secs(1),
        Duration::from_secs(60),
    );
    assert_eq!(reads.len() as u64, last);
    let counts = by_dedup(&reads);
    let dups: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(dups.is_empty(), "duplicates: {dups:?}");
    let uids: HashSet<String> = reads.iter().map(|r| r.event().object.uid).collect();
    for pod in &pods {
        let uid = pod["metadata"]["uid"].as_str().unwrap();
        assert!(uids.contains(uid), "pod {uid} published");
    }
    let pod_events = events
        .iter()
        .filter(|e| e["involvedObject"]["kind"] == "Pod")
        .count();
    let event_records = reads
        .iter()
        .filter(|r| r.event().kind == lunettes_schemas::Kind::Event)
        .count();
    assert_eq!(
        event_records,
        pod_events + 1,
        "every Pod Event once, plus the new one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_deleted_during_a_watch_gap_is_reported_by_the_relist() {
    let broker = TestBroker::start();
    let k = kafka(&broker.bootstrap(), "watch-gap", 3);
    let p = publisher(&k, PublishOptions::default()).await;
    let api: Shared = Arc::default();
    let (pods, _) = fixtures();
    {
        let mut a = api.lock().unwrap();
        for pod in &pods {
            a.commit("pods", "ADDED", pod.clone());
        }
    }
    let url = start_api(api.clone()).await;
    let mut cfg = WatchConfig::new(vec![WatchTarget {
        cluster: "w2".into(),
        client: client(&url),
    }]);
    cfg.page_size = 2;
    cfg.batch_linger = Duration::from_millis(50);
    let (stop, task) = run(&cfg, &p);
    let first = wait_stable(&p, "w2", 1).await;

    // While the collector's watch is cut off (its version compacted), one pod
    // is deleted: the DELETED event is gone with the compacted history.
    let victim = pods[1]["metadata"]["uid"].as_str().unwrap().to_string();
    let before = {
        let mut a = api.lock().unwrap();
        a.objects.remove(&("pods".to_string(), victim.clone()));
        a.rv += 1;
        a.compacted_below = a.rv + 1;
        a.requests.len()
    };
    // The relist after 410 (pages of 2).
    relisted_then_resume(&api, before, &[("pods", 2)]).await;
    let last = wait_stable(&p, "w2", first + 1).await;
    stop.trigger();
    task.await.unwrap().unwrap();
    assert_eq!(last, first + 1, "one HyperEvent: the victim's deletion");
    assert_eq!(
        p.metrics().gone_pods.with_label_values(&["w2"]).get(),
        1,
        "counted"
    );

    let reads = read_topic(
        &k,
        &k.topics.hyperevents.name,
        last as usize,
        Duration::from_secs(1),
        Duration::from_secs(60),
    );
    let gone: Vec<_> = reads
        .iter()
        .map(|r| r.event())
        .filter(|e| e.operations.iter().any(|o| o == "pod:gone:unobserved"))
        .collect();
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(gone[0].object.uid, victim);
    assert_eq!(
        gone[0].object.name,
        pods[1]["metadata"]["name"].as_str().unwrap()
    );
}

#[tokio::test]
async fn kubeconfig_contexts_name_the_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        r#"apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "http://127.0.0.1:1"}
- name: b
  cluster: {server: "http://127.0.0.1:2"}
users:
- name: u
  user: {token: t}
contexts:
- name: prod-eu
  context: {cluster: a, user: u}
- name: prod-us
  context: {cluster: b, user: u}
current-context: prod-eu
"#,
    )
    .unwrap();
    let names = |t: Vec<WatchTarget>| t.into_iter().map(|t| t.cluster).collect::<Vec<_>>();
    let both =
        watch::targets_from_kubeconfig(Some(&kc), &["prod-eu".into(), "prod-us".into()], None)
            .await
            .unwrap();
    assert_eq!(names(both), ["prod-eu", "prod-us"]);
    let current = watch::targets_from_kubeconfig(Some(&kc), &[], Some("eu-1"))
        .await
        .unwrap();
    assert_eq!(names(current), ["eu-1"]);
    let err =
        watch::targets_from_kubeconfig(Some(&kc), &["prod-eu".into(), "prod-us".into()], Some("x"))
            .await
            .unwrap_err();
    assert!(err.to_string().contains("single cluster"), "{err}");
    let err = watch::targets_from_kubeconfig(Some(&kc), &["nope".into()], None)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("nope"), "{err:#}");
}
