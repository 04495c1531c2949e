//! Kafka clients and topics, configured once for every worker.
//!
//! All producers are idempotent with `acks=all`, so a retried send never
//! duplicates and an acknowledged send survives a broker failover. All
//! consumers have auto-commit off: a worker commits an offset only after what
//! it derived from the record is acknowledged downstream (the offset model is
//! written down in `docs/pipeline.md`). Any librdkafka property (SASL, TLS,
//! tuning) passes through from `properties`.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use serde::{Deserialize, Serialize};

/// Errors of the Kafka plumbing.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// A client could not be created or a request failed.
    #[error("kafka: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    /// Topic creation failed for a topic.
    #[error("creating topic {topic}: {reason}")]
    CreateTopic {
        /// Topic name.
        topic: String,
        /// What the broker said.
        reason: String,
    },
}

/// One topic: name, partitions and retention used when it must be created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Partitions when created (existing topics are left as they are).
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// `retention.ms` when created; `None` keeps the broker default.
    #[serde(default)]
    pub retention_ms: Option<i64>,
    /// Replication factor when created.
    #[serde(default = "default_replication")]
    pub replication: i32,
}

fn default_partitions() -> i32 {
    6
}
fn default_replication() -> i32 {
    1
}

impl TopicSpec {
    fn named(name: &str, retention_days: i64) -> Self {
        TopicSpec {
            name: name.to_string(),
            partitions: default_partitions(),
            retention_ms: Some(retention_days * 86_400_000),
            replication: default_replication(),
        }
    }
}

/// The topics of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topics {
    /// HyperEvents from collectors, keyed by pod UID.
    pub hyperevents: TopicSpec,
    /// Delivery verdicts, keyed by delivery id.
    pub deliveries: TopicSpec,
    /// Delivery spans, keyed by trace id.
    pub spans: TopicSpec,
    /// SLO window rows, keyed by window id.
    pub windows: TopicSpec,
    /// Rejected inputs with the reason.
    pub dead_letter: TopicSpec,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            hyperevents: TopicSpec::named("lunettes.hyperevents", 7),
            deliveries: TopicSpec::named("lunettes.deliveries", 7),
            spans: TopicSpec::named("lunettes.spans", 7),
            windows: TopicSpec::named("lunettes.windows", 7),
            dead_letter: TopicSpec::named("lunettes.dead-letter", 14),
        }
    }
}

impl Topics {
    /// All topic specs.
    pub fn all(&self) -> [&TopicSpec; 5] {
        [
            &self.hyperevents,
            &self.deliveries,
            &self.spans,
            &self.windows,
            &self.dead_letter,
        ]
    }

    /// The output topics a processor writes.
    pub fn outputs(&self) -> [&TopicSpec; 3] {
        [&self.deliveries, &self.spans, &self.windows]
    }
}

/// How to reach Kafka and which topics to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Extra librdkafka properties for every client (e.g. `security.protocol`, `sasl.mechanism`).
    pub properties: BTreeMap<String, String>,
    /// Extra librdkafka properties for producers only.
    pub producer: BTreeMap<String, String>,
    /// Extra librdkafka properties for consumers only.
    pub consumer: BTreeMap<String, String>,
    /// Topics.
    pub topics: Topics,
    /// Create missing topics at start.
    pub create_topics: bool,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            properties: BTreeMap::new(),
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
            topics: Topics::default(),
            create_topics: true,
        }
    }
}

impl KafkaConfig {
    /// Base client configuration with the pass-through properties applied.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// An idempotent, acks=all, compressing producer. `client_id` names it in broker logs.
    pub fn producer(&self, client_id: &str) -> Result<FutureProducer, KafkaError> {
        let mut c = self.client_config();
        c.set("client.id", client_id)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "zstd")
            .set("linger.ms", "20")
            .set("batch.num.messages", "10000")
            // Bounded buffer: when the broker is away, sends wait (back-pressure)
            // rather than growing memory without limit.
            .set("queue.buffering.max.messages", "200000")
            .set("queue.buffering.max.kbytes", "262144")
            .set("message.timeout.ms", "120000");
        for (k, v) in &self.producer {
            c.set(k, v);
        }
        Ok(c.create()?)
    }

    /// A consumer in `group` with auto-commit off, reading from the earliest
    /// offset when the group has none.
    pub fn consumer<C: ConsumerContext + 'static>(
        &self,
        group: &str,
        context: C,
    ) -> Result<StreamConsumer<C>, KafkaError> {
        Ok(self.consumer_config(group).create_with_context(context)?)
    }

    /// The same group consumer as [`KafkaConfig::consumer`], as a
    /// [`BaseConsumer`] for workers that poll on a thread of their own and
    /// must do blocking work (flush, commit) inside rebalance callbacks.
    pub fn base_consumer<C: ConsumerContext + 'static>(
        &self,
        group: &str,
        context: C,
    ) -> Result<BaseConsumer<C>, KafkaError> {
        Ok(self.consumer_config(group).create_with_context(context)?)
    }

    /// A consumer outside any group, for explicitly assigned reads (state
    /// rebuild, reading back an output tail, replay). It never commits.
    pub fn reader(&self, client_id: &str) -> Result<BaseConsumer, KafkaError> {
        let mut c = self.client_config();
        c.set("client.id", client_id)
            .set("group.id", format!("{client_id}-reader"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        for (k, v) in &self.consumer {
            c.set(k, v);
        }
        Ok(c.create()?)
    }

    /// Group consumer settings: manual commits, cooperative-sticky
    /// assignment, then the pass-through `consumer` properties.
    pub fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut c = self.client_config();
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("queued.min.messages", "20000")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000");
        for (k, v) in &self.consumer {
            c.set(k, v);
        }
        c
    }

    /// Creates the topics that do not exist yet (existing ones are left alone).
    pub async fn ensure_topics(&self, specs: &[&TopicSpec]) -> Result<(), KafkaError> {
        let admin: AdminClient<DefaultClientContext> = self.client_config().create()?;
        let metadata = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))?;
        let existing: std::collections::HashSet<&str> =
            metadata.topics().iter().map(|t| t.name()).collect();
        let retention: Vec<(String, Option<String>)> = specs
            .iter()
            .map(|s| (s.name.clone(), s.retention_ms.map(|r| r.to_string())))
            .collect();
        let new: Vec<NewTopic<'_>> = specs
            .iter()
            .zip(&retention)
            .filter(|(s, _)| !existing.contains(s.name.as_str()))
            .map(|(s, (_, r))| {
                let t = NewTopic::new(
                    &s.name,
                    s.partitions,
                    TopicReplication::Fixed(s.replication),
                );
                match r {
                    Some(r) => t.set("retention.ms", r),
                    None => t,
                }
            })
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics(&new, &opts).await? {
            match result {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(KafkaError::CreateTopic {
                        topic,
                        reason: code.to_string(),
                    })
                }
            }
        }
        Ok(())
    }
}

/// Partition count of `topic`, from broker metadata.
pub fn partition_count<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    topic: &str,
) -> Result<i32, KafkaError> {
    let md = consumer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len() as i32)
        .unwrap_or(0))
}
