//! The pod timeline page in a real browser (headless Chromium): served by the
//! API over the dev ClickHouse filled by the real pipeline parts, loaded for
//! a simulated *failing* pod; the rendered DOM must show the diagnosis code,
//! the summary, phase bars and the deadline marker, and a screenshot is
//! saved into the test output directory for a person to look at. A pod still
//! in progress must show its estimated deadline and a "now" marker.
//!
//! `LUNETTES_CHROMIUM` overrides the browser path (default /usr/bin/chromium).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lunettes_api::server::{start, ApiConfig};
use lunettes_api::testing::{fixture, FixtureConfig};
use lunettes_schemas::{Action, DeliveryResult};

fn chromium() -> PathBuf {
    PathBuf::from(std::env::var("LUNETTES_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()))
}

/// Runs headless Chromium on `url` with `extra` arguments (a fresh profile
/// each time) and returns its stdout.
fn browse(url: &str, extra: &[&str]) -> String {
    let profile = tempdir("chromium-profile");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); install chromium",
                chromium().display()
            )
        });
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tempdir(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Text as Chromium serializes it inside an element.
fn html_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_page_renders_a_failing_pod_in_chromium() {
    let fx = fixture(FixtureConfig::default()).await;
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
    let base = format!("http://{}", running.addr);
    // The failing pod with the most phases makes the richest picture.
    let failing = fx
        .find(|d| {
            d.action == Action::Create
                && d.result == DeliveryResult::Fail
                && !d.code.is_empty()
                && !d.uid.is_empty()
        })
        .into_iter()
        .max_by_key(|d| d.phases.iter().iter().filter(|(_, v)| v.is_some()).count())
        .expect("a failed create in the simulated fleet");
    let url = format!("{base}/pod?uid={}", failing.uid);

    let dom = tokio::task::spawn_blocking({
        let url = url.clone();
        move || browse(&url, &["--dump-dom"])
    })
    .await
    .unwrap();
    assert!(
        dom.contains("data-rendered=\"true\""),
        "the page did not render:\n{dom}"
    );
    assert!(
        dom.contains(&format!(
            "<code id=\"verdict-code\">{}</code>",
            html_text(&failing.code)
        )),
        "diagnosis code {} missing",
        failing.code
    );
    assert!(
        dom.contains(&format!(
            "<p id=\"summary\" class=\"summary\">{}</p>",
            html_text(&failing.summary)
        )),
        "summary missing: {}",
        failing.summary
    );
    assert!(dom.contains("class=\"badge fail\""), "result badge");
    let phases = failing
        .phases
        .iter()
        .iter()
        .filter(|(_, v)| v.is_some())
        .count();
    assert!(
        count(&dom, "class=\"phase-bar") >= phases.max(1),
        "expected {phases} phase bars"
    );
    assert!(dom.contains("id=\"deadline-marker\""), "deadline marker");
    assert!(count(&dom, "class=\"event-row") >= 3, "event rows");
    assert!(count(&dom, "class=\"span-bar") >= 1, "span bars");

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("page");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("failing-pod.png");
    let _ = std::fs::remove_file(&shot);
    tokio::task::spawn_blocking({
        let (url, shot) = (url.clone(), shot.clone());
        move || {
            browse(
                &url,
                &[
                    &format!("--screenshot={}", shot.display()),
                    "--window-size=1400,900",
                ],
            )
        }
    })
    .await
    .unwrap();
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "a real PNG"
    );
    println!("screenshot of the failing pod page: {}", shot.display());

    // A pod still in progress, opened by namespace/name: estimated deadline and "now".
    let live = fx.live.first().expect("live pods");
    let live_url = format!(
        "{base}/pod/{}/{}?cluster={}",
        live.namespace, live.name, live.cluster
    );
    let dom = tokio::task::spawn_blocking(move || browse(&live_url, &["--dump-dom"]))
        .await
        .unwrap();
    assert!(
        dom.contains("data-rendered=\"true\""),
        "live page did not render:\n{dom}"
    );
    assert!(dom.contains("class=\"badge in_progress\""));
    assert!(dom.contains("id=\"now-marker\""));
    assert!(dom.contains("id=\"deadline-marker\""));
    assert!(dom.contains("(est.)"));
    assert!(
        dom.contains("No verdict yet. Last event"),
        "what the pod is doing"
    );
    let shot = shots.join("in-progress-pod.png");
    let live_url = format!(
        "{base}/pod/{}/{}?cluster={}",
        live.namespace, live.name, live.cluster
    );
    let shot2 = shot.clone();
    tokio::task::spawn_blocking(move || {
        browse(
            &live_url,
            &[
                &format!("--screenshot={}", shot2.display()),
                "--window-size=1400,900",
            ],
        )
    })
    .await
    .unwrap();
    println!("screenshot of the in-progress pod page: {}", shot.display());

    // A node lists its pods, each linking to its page.
    let node_url = format!(
        "{base}/pod?node={}&cluster={}",
        failing.node, failing.cluster
    );
    let dom = tokio::task::spawn_blocking(move || browse(&node_url, &["--dump-dom"]))
        .await
        .unwrap();
    assert!(
        dom.contains("data-rendered=\"true\""),
        "node list did not render:\n{dom}"
    );
    assert!(
        dom.contains(&format!(
            "href=\"/pod?uid={}&amp;cluster={}\"",
            failing.uid, failing.cluster
        )),
        "the failing pod links to its page:\n{dom}"
    );

    // A bad query shows the API's error, not a blank page.
    let bad = format!("{base}/pod?uid=no%20such");
    let dom = tokio::task::spawn_blocking(move || browse(&bad, &["--dump-dom"]))
        .await
        .unwrap();
    assert!(dom.contains("class=\"status error\""), "{dom}");
    assert!(dom.contains("parameter uid"), "{dom}");
}
