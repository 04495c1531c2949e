//! A fault no real broker here can be made to produce on demand: the broker
//! rejecting the worker's output produce requests (as an ACL change or a
//! full disk would). It is injected with librdkafka's in-process mock
//! cluster, a mock by necessity; every other worker test runs on a real
//! broker.
//!
//! The worker must stop with an error rather than commit past outputs that
//! were never acknowledged, and a successor must leave the output topics
//! exactly as one uninterrupted processor would: nothing lost, nothing twice.

mod common;

use std::time::Duration;

use common::*;
use lunettes_runtime::{KafkaConfig, Shutdown};
use lunettes_worker::processor::{run, Control, ProcessorConfig, RunSummary};
use lunettes_worker::{WorkerError, WorkerMetrics};
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const PARTITIONS: i32 = 3;

fn start(
    kafka: &KafkaConfig,
    group: &str,
    name: &str,
    batch: (usize, Duration),
) -> (
    lunettes_runtime::shutdown::ShutdownTrigger,
    std::thread::JoinHandle<Result<RunSummary, WorkerError>>,
) {
    let (trigger, shutdown) = Shutdown::new();
    let control = Control::graceful(shutdown);
    let metrics = WorkerMetrics::register(&prometheus::Registry::new()).unwrap();
    let mut cfg = ProcessorConfig::new(kafka.clone(), group);
    cfg.client_id = name.to_string();
    (cfg.batch_records, cfg.batch_interval) = batch;
    let handle = std::thread::spawn(move || run(&cfg, engine, metrics, &control, None));
    (trigger, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_outputs_stop_the_worker_uncommitted_and_a_successor_repeats_nothing() {
    let mock = MockCluster::new(1).expect("librdkafka mock cluster");
    let mut kafka = KafkaConfig {
        brokers: mock.bootstrap_servers(),
        ..Default::default()
    };
    kafka.topics.hyperevents.partitions = PARTITIONS;
    for t in kafka.topics.all() {
        mock.create_topic(&t.name, PARTITIONS, 1).unwrap();
    }
    let group = "fault-processors";
    let events = sim_hyperevents(2, 150, 0.02, 60_000_000);
    publish(&kafka, &events, PARTITIONS).await;
    let input = read_topic(&kafka, &kafka.topics.hyperevents.name, PARTITIONS);
    let total: i64 = input.values().map(|v| v.len() as i64).sum();

    // The broker accepts a's first few produce requests, then refuses every
    // one: some outputs are acknowledged (and maybe committed), the rest never.
    let mut answers = vec![RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR; 4];
    answers.extend([RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 5_000]);
    mock.request_errors(RDKafkaApiKey::Produce, &answers);
    // a's first batch is the whole input (or 20 s), so its outputs span many
    // produce requests and it can commit nothing before the refusals: what is
    // tested is outputs acknowledged but never committed. (The mock cluster
    // answers ListOffsets by timestamp unreliably, so a successor's rebuild
    // from a horizon is left to recovery.rs on a real broker.)
    let (_a_trigger, a) = start(
        &kafka,
        group,
        "proc-a",
        (total as usize, Duration::from_secs(20)),
    );
    let err = a
        .join()
        .unwrap()
        .expect_err("a worker whose outputs are refused must not carry on");
    assert!(
        matches!(err, WorkerError::Produce { .. }),
        "stopped for the refused outputs: {err}"
    );
    let committed_at_fault = committed_total(&kafka, group, PARTITIONS);
    assert_eq!(
        committed_at_fault, 0,
        "nothing committed while outputs of the batch were refused (of {total})"
    );

    // The broker recovers; b takes over and finishes.
    mock.clear_request_errors(RDKafkaApiKey::Produce);
    let (b_trigger, b) = start(&kafka, group, "proc-b", (300, Duration::from_millis(500)));
    wait_caught_up(&kafka, group, PARTITIONS, Duration::from_secs(180));
    b_trigger.trigger();
    let summary = b.join().unwrap().expect("successor ran cleanly");
    // a's first produce requests were acknowledged: b found those outputs on
    // the topics and did not write them again.
    assert!(summary.counts.suppressed > 0, "{summary:?}");
    eprintln!("b: {summary:?}");

    let expected = expected_outputs(&input);
    let actual = actual_outputs(&kafka, output_names(&kafka), PARTITIONS, Some(false));
    assert_same_outputs(&actual, &expected);
    assert!(deliveries(&actual).len() > 100);
}
