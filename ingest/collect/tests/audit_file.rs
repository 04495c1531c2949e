//! The audit-log follower against a real broker: partial lines wait,
//! rename+create and copytruncate rotations (live and while stopped), and
//! restarts resume without losing or repeating a line (every HyperEvent
//! exactly once on the topic, by dedup id).

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{audit_lines, by_dedup, expected_dedups, kafka, publisher, read_topic};
use lunettes_collect::audit_file::{self, AuditFileConfig, FollowStats};
use lunettes_collect::{PublishOptions, Publisher};
use lunettes_runtime::shutdown::ShutdownTrigger;
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::Shutdown;

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn start(
    cfg: &AuditFileConfig,
    p: &Arc<Publisher>,
) -> (
    ShutdownTrigger,
    tokio::task::JoinHandle<anyhow::Result<FollowStats>>,
) {
    let (trigger, shutdown) = Shutdown::new();
    (
        trigger,
        tokio::spawn(audit_file::run(cfg.clone(), p.clone(), shutdown)),
    )
}

/// Waits until the publisher has had `n` HyperEvents acknowledged.
async fn wait_acked(p: &Publisher, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = p.metrics().events_out.with_label_values(&["af"]).get() as usize;
        if got == n {
            return;
        }
        assert!(got < n, "more HyperEvents than expected: {got} > {n}");
        assert!(
            Instant::now() < deadline,
            "only {got} of {n} HyperEvents acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn events_in(lines: &[String]) -> usize {
    let mut n = lunettes_ingest::Normalizer::new("af");
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        n.normalize_line("x", i as u64 + 1, l.as_bytes(), &mut out)
            .unwrap();
    }
    out.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_rotations_and_resumes_without_loss_or_repetition() {
    let broker = TestBroker::start();
    let k = kafka(&broker.bootstrap(), "af", 3);
    let p = publisher(&k, PublishOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let mut cfg = AuditFileConfig::new("af", log.clone(), dir.path().join("state.json"));
    cfg.poll_interval = Duration::from_millis(50);
    cfg.batch_bytes = 16 << 10; // several batches per segment

    let lines = audit_lines("af", 50); // 100 lines: create + binding per pod
    let seg = |a: usize, b: usize| lines[a..b].to_vec();
    let upto = |b: usize| events_in(&lines[..b]);

    // A partial last line waits for its newline.
    append(&log, &seg(0, 20));
    let (half_a, half_b) = lines[20].split_at(lines[20].len() / 2);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(half_a.as_bytes())
        .unwrap();
    let (stop, task) = start(&cfg, &p);
    wait_acked(&p, upto(20)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        p.metrics().events_out.with_label_values(&["af"]).get() as usize,
        upto(20),
        "partial line not read"
    );
    writeln!(
        std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
        "{half_b}"
    )
    .unwrap();
    append(&log, &seg(21, 30));
    wait_acked(&p, upto(30)).await;

    // rename + create, with lines written just before the rename.
    append(&log, &seg(30, 40));
    std::fs::rename(&log, dir.path().join("audit.log.1")).unwrap();
    append(&log, &seg(40, 50));
    wait_acked(&p, upto(50)).await;

    // Stop; meanwhile more lines, then a copytruncate rotation.
    stop.trigger();
    let stats = task.await.unwrap().unwrap();
    assert_eq!(stats.rotations, 1);
    append(&log, &seg(50, 60));
    std::fs::copy(&log, dir.path().join("audit.log.2")).unwrap();
    std::fs::File::create(&log).unwrap(); // truncate
    append(&log, &seg(60, 70));

    // Restart: the copy holds lines 50..60 beyond the saved offset.
    let (stop, task) = start(&cfg, &p);
    wait_acked(&p, upto(70)).await;

    // A live copytruncate.
    append(&log, &seg(70, 80));
    std::fs::copy(&log, dir.path().join("audit.log.3")).unwrap();
    std::fs::File::create(&log).unwrap();
    append(&log, &seg(80, 100));
    wait_acked(&p, upto(100)).await;
    stop.trigger();
    task.await.unwrap().unwrap();

    // A restart with nothing new reads nothing again.
    let (stop, task) = start(&cfg, &p);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.trigger();
    assert_eq!(task.await.unwrap().unwrap().lines, 0);

    let expected = expected_dedups("af", &lines);
    let reads = read_topic(
        &k,
        &k.topics.hyperevents.name,
        upto(100),
        Duration::from_secs(1),
        Duration::from_secs(60),
    );
    let counts = by_dedup(&reads);
    let got: HashSet<String> = counts.keys().cloned().collect();
    assert_eq!(got, expected, "every line's HyperEvents on the topic");
    let repeated: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(repeated.is_empty(), "nothing repeated: {repeated:?}");
    assert_eq!(reads.len(), upto(100));
}
