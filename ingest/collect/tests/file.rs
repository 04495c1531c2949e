//! The file source end to end: the simulator's output for a small fleet ->
//! `ingest file` -> a real broker. Every HyperEvent the normalizer derives is
//! on the topic exactly once, each pod's records share one partition, bad
//! lines are dead-lettered, and every partition carries each cluster's final
//! watermark (the largest event time read).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use common::{by_dedup, kafka, publisher, read_topic};
use lunettes_collect::file::{self, FileSourceConfig};
use lunettes_collect::PublishOptions;
use lunettes_loadtest::{simulate, SimConfig};
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::Shutdown;
use lunettes_schemas::Kind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_output_reaches_the_topic_complete_and_partitioned_by_pod() {
    let broker = TestBroker::start();
    let k = kafka(&broker.bootstrap(), "file", 4);
    let p = publisher(&k, PublishOptions::default()).await;

    let (clusters, _truth) = simulate(&SimConfig {
        clusters: 2,
        pods: 60,
        seed: 7,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    // dedup id -> how many HyperEvents the normalizer derives with it.
    let mut expected: HashMap<String, usize> = HashMap::new();
    let mut max_time: BTreeMap<String, i64> = BTreeMap::new();
    for c in &clusters {
        let cdir = dir.path().join(&c.cluster);
        std::fs::create_dir_all(&cdir).unwrap();
        let mut audit = c.audit_lines.join("\n");
        audit.push_str("\n{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"stage\":\n");
        std::fs::write(cdir.join("audit.log"), audit).unwrap();
        std::fs::write(cdir.join("events.jsonl"), c.event_lines.join("\n") + "\n").unwrap();
        // The pure reference: one normalizer per cluster over the same files.
        let mut n = lunettes_ingest::Normalizer::new(c.cluster.clone());
        let mut out = Vec::new();
        for (i, l) in c.audit_lines.iter().chain(&c.event_lines).enumerate() {
            n.normalize_line("ref", i as u64 + 1, l.as_bytes(), &mut out)
                .unwrap();
        }
        max_time.insert(
            c.cluster.clone(),
            out.iter().map(|e| e.time_us).max().unwrap(),
        );
        for e in out {
            *expected.entry(e.dedup_id).or_insert(0) += 1;
        }
    }
    std::fs::write(dir.path().join("truth.jsonl"), "not an input\n").unwrap();

    let cfg = FileSourceConfig {
        cluster: None,
        paths: vec![dir.path().to_path_buf()],
        watermark_interval: Duration::from_millis(200),
        batch_events: 500,
    };
    let (_trigger, shutdown) = Shutdown::new();
    let stats = file::run(&cfg, p.clone(), shutdown).await.unwrap();
    assert_eq!(stats.files, 4);
    assert_eq!(
        stats.dead_letters, 2,
        "the truncated line of each audit.log"
    );
    let total: usize = expected.values().sum();
    assert_eq!(stats.events as usize, total);

    let reads = read_topic(
        &k,
        &k.topics.hyperevents.name,
        total,
        Duration::from_secs(1),
        Duration::from_secs(60),
    );
    // Exactly what the normalizer derives: nothing lost, nothing repeated.
    assert_eq!(by_dedup(&reads), expected);

    let mut partitions_of_pod: HashMap<String, HashSet<i32>> = HashMap::new();
    let mut watermarks: HashMap<(String, i32), i64> = HashMap::new();
    for r in &reads {
        let e = r.event();
        if e.kind == Kind::Watermark {
            let w = watermarks
                .entry((e.cluster.clone(), r.partition))
                .or_insert(i64::MIN);
            assert!(e.time_us >= *w, "watermarks never go back");
            *w = e.time_us;
            continue;
        }
        partitions_of_pod
            .entry(format!("{}/{}", e.cluster, r.key))
            .or_default()
            .insert(r.partition);
    }
    let split: Vec<_> = partitions_of_pod
        .iter()
        .filter(|(_, p)| p.len() > 1)
        .collect();
    assert!(split.is_empty(), "pods split across partitions: {split:?}");
    // Only a create the apiserver rejected has no uid (none was ever
    // assigned); it is keyed by namespace/name and counted as unresolved.
    let no_uid: Vec<_> = reads
        .iter()
        .map(|r| r.event())
        .filter(|e| e.kind != Kind::Watermark && e.object.uid.is_empty())
        .collect();
    assert!(
        no_uid.iter().all(|e| e.operations == ["pod:create:failed"]),
        "{no_uid:?}"
    );
    let unresolved: u64 = max_time
        .keys()
        .map(|c| p.metrics().unresolved_uid.with_label_values(&[c]).get())
        .sum();
    assert_eq!(unresolved as usize, no_uid.len());
    for (cluster, t) in &max_time {
        for partition in 0..4 {
            assert_eq!(
                watermarks.get(&(cluster.clone(), partition)),
                Some(t),
                "final watermark of {cluster} on partition {partition}"
            );
        }
    }

    let dead = read_topic(
        &k,
        &k.topics.dead_letter.name,
        2,
        Duration::from_millis(300),
        Duration::from_secs(20),
    );
    assert_eq!(dead.len(), 2);
    assert!(dead
        .iter()
        .all(|d| d.dead_letter().input.ends_with("audit.log")));
}
