//! The plumbing against a real broker process on loopback: topics are
//! created, an idempotent producer's acknowledged records are consumed back
//! in order, and a committed offset is what a new consumer resumes from.

use std::time::Duration;

use lunettes_runtime::kafka::partition_count;
use lunettes_runtime::testing::TestBroker;
use lunettes_runtime::KafkaConfig;
use rdkafka::consumer::{CommitMode, Consumer, DefaultConsumerContext};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::TopicPartitionList;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_consume_commit_resume() {
    let broker = TestBroker::start();
    let mut cfg = KafkaConfig {
        brokers: broker.bootstrap(),
        ..Default::default()
    };
    cfg.topics.hyperevents.name = "t-smoke".into();
    cfg.topics.hyperevents.partitions = 3;
    cfg.ensure_topics(&[&cfg.topics.hyperevents]).await.unwrap();
    // Idempotent: a second call with the topic present is fine.
    cfg.ensure_topics(&[&cfg.topics.hyperevents]).await.unwrap();

    let producer = cfg.producer("smoke").unwrap();
    for i in 0..20 {
        let payload = format!("v{i}");
        producer
            .send(
                FutureRecord::to("t-smoke")
                    .key("same-pod")
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }

    let consumer = cfg.consumer("g1", DefaultConsumerContext).unwrap();
    assert_eq!(partition_count(&consumer, "t-smoke").unwrap(), 3);
    consumer.subscribe(&["t-smoke"]).unwrap();
    let mut seen = Vec::new();
    let mut last = None;
    while seen.len() < 10 {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("a record within 30 s")
            .unwrap();
        seen.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap());
        last = Some((m.partition(), m.offset()));
    }
    // One key, one partition, producer order.
    assert_eq!(seen, (0..10).map(|i| format!("v{i}")).collect::<Vec<_>>());
    let (p, o) = last.unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("t-smoke", p, rdkafka::Offset::Offset(o + 1))
        .unwrap();
    consumer.commit(&tpl, CommitMode::Sync).unwrap();
    drop(consumer);

    let again = cfg.consumer("g1", DefaultConsumerContext).unwrap();
    again.subscribe(&["t-smoke"]).unwrap();
    let m = tokio::time::timeout(Duration::from_secs(30), again.recv())
        .await
        .expect("a record within 30 s")
        .unwrap();
    assert_eq!(m.payload().unwrap(), b"v10");
}
