//! Losing nothing and repeating nothing when processors come and go, on a
//! real broker: a processor killed mid-stream (no flush, no commit) and
//! replaced, and two processors sharing partitions through a join and a
//! leave. In both cases the output topics must hold exactly the sequence an
//! uninterrupted processor writes: every output once, in order.
//!
//! The simulated input spans about 5.5 hours of event time, so a successor's
//! rebuild starts two hours (the horizon) before the committed offset, not
//! at the beginning of the topic.

mod common;

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use lunettes_runtime::shutdown::ShutdownTrigger;
use lunettes_runtime::{KafkaConfig, Shutdown};
use lunettes_worker::processor::{run, Control, ProcessorConfig, RunSummary};
use lunettes_worker::{WorkerError, WorkerMetrics};

const PARTITIONS: i32 = 4;

struct Running {
    trigger: ShutdownTrigger,
    metrics: WorkerMetrics,
    handle: JoinHandle<Result<RunSummary, WorkerError>>,
}

fn start(kafka: &KafkaConfig, group: &str, name: &str, crash_after: Option<u64>) -> Running {
    let (trigger, shutdown) = Shutdown::new();
    let mut control = Control::graceful(shutdown);
    control.crash_after_records = crash_after;
    control.crash_after_acks = true;
    let metrics = WorkerMetrics::register(&prometheus::Registry::new()).unwrap();
    let mut cfg = ProcessorConfig::new(kafka.clone(), group);
    cfg.client_id = name.to_string();
    // Small batches with a long interval: many commits, and at any moment
    // up to a batch of outputs acknowledged but not yet committed.
    cfg.batch_records = 400;
    cfg.batch_interval = Duration::from_secs(5);
    let handle = {
        let metrics = metrics.clone();
        std::thread::spawn(move || run(&cfg, engine, metrics, &control, None))
    };
    Running {
        trigger,
        metrics,
        handle,
    }
}

/// A broker and the simulated input, not yet published.
async fn setup(
    tag: &str,
) -> (
    KafkaConfig,
    Vec<(lunettes_schemas::HyperEvent, bool)>,
    (lunettes_runtime::testing::TestBroker, tempfile::TempDir),
) {
    let b = broker();
    let mut kafka = kafka_config(&b.0, tag, PARTITIONS);
    // Small fetches, so the partitions progress together rather than one
    // after the other: a crash then finds every partition mid-stream.
    kafka
        .consumer
        .insert("max.partition.fetch.bytes".into(), "16384".into());
    // (tansu may answer with more; the crash test does not rely on it.)
    let events = sim_hyperevents(2, 400, 0.01, 60_000_000);
    (kafka, events, b)
}

fn input_total(kafka: &KafkaConfig) -> i64 {
    let input = read_topic(kafka, &kafka.topics.hyperevents.name, PARTITIONS);
    input.values().map(|v| v.len() as i64).sum()
}

fn check_exact(kafka: &KafkaConfig) {
    let input = read_topic(kafka, &kafka.topics.hyperevents.name, PARTITIONS);
    let expected = expected_outputs(&input);
    let actual = actual_outputs(kafka, output_names(kafka), PARTITIONS, Some(false));
    assert_same_outputs(&actual, &expected);
    let n = deliveries(&actual).len();
    assert!(n > 300, "only {n} deliveries written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_processor_is_replaced_without_loss_or_duplicates() {
    let (kafka, events, _broker) = setup("crash").await;
    let group = "crash-processors";
    // a processes the first 70% (about 3.9 h of event time), then the rest
    // arrives and a dies a tenth of the way into it, right after handling a
    // record and after its outputs were acknowledged: written, not committed.
    let (first, rest) = events.split_at(events.len() * 7 / 10);
    publish(&kafka, first, PARTITIONS).await;
    let first_total = input_total(&kafka);
    let estimate = first_total * 10 / 7;
    let a = start(
        &kafka,
        group,
        "proc-a",
        Some((first_total + estimate / 30) as u64),
    );
    wait_caught_up(&kafka, group, PARTITIONS, Duration::from_secs(240));
    publish(&kafka, rest, PARTITIONS).await;
    let a_summary = a.handle.join().unwrap().expect("a crash is not an error");
    assert!(a_summary.crashed);
    let total = input_total(&kafka);
    let committed_at_crash = committed_total(&kafka, group, PARTITIONS);
    assert!(committed_at_crash < total, "a crashed before the end");

    let b = start(&kafka, group, "proc-b", None);
    wait_caught_up(&kafka, group, PARTITIONS, Duration::from_secs(240));
    b.trigger.trigger();
    let b_summary = b.handle.join().unwrap().expect("successor ran cleanly");
    eprintln!(
        "crash at {committed_at_crash}/{total} committed; successor: {:?}",
        b_summary
    );

    check_exact(&kafka);
    assert!(b_summary.counts.rebuilt > 0);
    // b found outputs a had written after its last commit and did not
    // write them again.
    let already = b
        .metrics
        .suppressed
        .with_label_values(&["already_written"])
        .get();
    assert!(
        already > 0,
        "no acknowledged-but-uncommitted output was found"
    );
    // At least one partition was mid-stream at the crash, more than a
    // horizon past its beginning: its rebuild started inside the partition.
    assert!(
        b_summary
            .plans
            .iter()
            .any(|(_, plan)| plan.start > 0 && plan.start + 100 < plan.suppress_below),
        "no rebuild bounded by the horizon: {:?}",
        b_summary.plans
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processors_joining_and_leaving_share_partitions_without_loss_or_duplicates() {
    let (kafka, events, _broker) = setup("rebalance").await;
    let group = "rebalance-processors";
    let (first, rest) = events.split_at(events.len() * 4 / 10);
    let (second, third) = rest.split_at(rest.len() / 2);

    // a alone on the first 40%.
    publish(&kafka, first, PARTITIONS).await;
    let a = start(&kafka, group, "proc-a", None);
    wait_caught_up(&kafka, group, PARTITIONS, Duration::from_secs(240));
    // b joins: the cooperative rebalance moves partitions to b, a keeps the
    // rest; both process the next 30%.
    let b = start(&kafka, group, "proc-b", None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while b.metrics.assigned.get() == 0 {
        assert!(Instant::now() < deadline, "b never got a partition");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(a.metrics.assigned.get() < PARTITIONS as i64);
    publish(&kafka, second, PARTITIONS).await;
    wait_caught_up(&kafka, group, PARTITIONS, Duration::from_secs(240));
    // a leaves: b takes everything over and processes the last 30%.
    a.trigger.trigger();
    let a_summary = a.handle.join().unwrap().expect("a left cleanly");
    publish(&kafka, third, PARTITIONS).await;
    wait_caught_up(&kafka, group, PARTITIONS, Duration::from_secs(240));
    b.trigger.trigger();
    let b_summary = b.handle.join().unwrap().expect("b ran cleanly");
    eprintln!("a: {a_summary:?}\nb: {b_summary:?}");

    check_exact(&kafka);
    assert!(a_summary.counts.live > 0 && b_summary.counts.live > 0);
    assert!(
        b_summary.counts.rebuilt > 0,
        "b rebuilt the partitions it took over"
    );
    assert_eq!(
        b_summary.plans.len(),
        PARTITIONS as usize,
        "b ended with every partition"
    );
    assert!(a_summary.commits > 0 && b_summary.commits > 0);
}
