//! Publishing HyperEvents, dead letters and watermarks to Kafka, in one place.
//!
//! Every collector hands its records to a [`Publisher`] and learns, per batch,
//! whether Kafka acknowledged all of it. That answer is what each source turns
//! into its own guarantee: the webhook answers 200 only then, the followers
//! persist their position only then. So the publisher must never say "done"
//! for a record that may not be on the topic:
//!
//! * the producer is idempotent with `acks=all` (from `lunettes_runtime`), so
//!   librdkafka's own retries never duplicate;
//! * librdkafka's `message.timeout.ms` is set to the publisher's ack timeout,
//!   so a record that is reported failed was definitively not delivered (it
//!   will not appear later behind the caller's back), and a failure is known
//!   within a bounded time;
//! * the number of records in flight is bounded by a semaphore; a batch that
//!   cannot get room within `buffer_wait` fails with [`PublishError::BufferFull`]
//!   (the webhook answers 503; the followers pause and retry).
//!
//! After a batch with delivery failures the producer is replaced by a fresh
//! one (new producer id) before the next send. A failed idempotent producer
//! otherwise bumps its epoch on the broker (KIP-360), and tansu 0.6's SQLite
//! storage panics on the first produce with a bumped epoch (its
//! `idempotent_message_check` finds no row for the new epoch), taking the
//! broker down. A fresh producer needs nothing from the broker beyond a plain
//! InitProducerId and costs nothing on Apache Kafka either: the records to
//! retry are re-sent in their original order after every outcome is known.
//!
//! Keys: a HyperEvent is keyed by its pod UID ([`HyperEvent::key`]), so one
//! pod's records stay ordered on one partition. The normalizer fills a missing
//! UID from the `namespace/name -> uid` it has seen; what it cannot resolve is
//! keyed by `namespace/name` and counted in
//! `lunettes_collector_unresolved_uid_total`. Watermarks go to every partition
//! explicitly, because each processor only reads its own partitions.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use lunettes_runtime::kafka::KafkaError;
use lunettes_runtime::{KafkaConfig, Shutdown};
use lunettes_schemas::{avro, DeadLetter, HyperEvent, Kind};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::sync::Semaphore;

use crate::metrics::CollectorMetrics;

/// How a [`Publisher`] bounds memory and waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    /// Records in flight (handed to the producer, not yet acknowledged) at most.
    pub buffer_records: usize,
    /// How long a batch may wait for room in the buffer before failing.
    pub buffer_wait: Duration,
    /// How long a record may take to be acknowledged before it is reported
    /// failed (librdkafka `message.timeout.ms`, unless the config sets it).
    pub ack_timeout: Duration,
    /// Keep the raw bytes of rejected records in dead letters.
    pub dead_letter_raw: bool,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            buffer_records: 100_000,
            buffer_wait: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(10),
            dead_letter_raw: false,
        }
    }
}

/// Why a batch was not (entirely) acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No room in the in-flight buffer within the bounded wait.
    #[error("in-flight buffer full ({capacity} records) for {waited:?}: the broker is unreachable or not keeping up")]
    BufferFull {
        /// Buffer capacity in records.
        capacity: usize,
        /// How long the batch waited.
        waited: Duration,
    },
    /// Some records were not acknowledged; `failed` indexes the batch
    /// (events first, then dead letters).
    #[error("{} of {total} records not acknowledged by Kafka: {first}", failed.len())]
    NotAcknowledged {
        /// Indexes of the failed records in the batch.
        failed: Vec<usize>,
        /// Records in the batch.
        total: usize,
        /// The first failure, as Kafka reported it.
        first: String,
    },
    /// A record could not be Avro-encoded (a bug: the types match the schemas).
    #[error("encoding a record: {0}")]
    Encode(String),
    /// Shutdown began while the batch was still being retried.
    #[error("shutdown before the batch was acknowledged")]
    Shutdown,
}

/// Why a [`Publisher`] could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Kafka client or topic creation failed.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// Broker metadata did not name the topic.
    #[error("topic {0} has no partitions in the broker metadata")]
    NoPartitions(String),
}

/// One encoded record ready to send.
struct Prepared {
    topic_is_dead_letter: bool,
    key: String,
    payload: Vec<u8>,
    partition: Option<i32>,
    timestamp_ms: i64,
    cluster: String,
    watermark: bool,
}

/// Publishes a collector's records to the hyperevents and dead-letter topics.
pub struct Publisher {
    producer: RwLock<Arc<FutureProducer>>,
    kafka: KafkaConfig,
    client_id: String,
    hyperevents: String,
    dead_letter: String,
    partitions: i32,
    metrics: CollectorMetrics,
    permits: Arc<Semaphore>,
    opts: PublishOptions,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("hyperevents", &self.hyperevents)
            .field("dead_letter", &self.dead_letter)
            .field("partitions", &self.partitions)
            .field("opts", &self.opts)
            .finish()
    }
}

impl Publisher {
    /// Connects: creates missing topics (when `create_topics`), reads the
    /// hyperevents partition count and builds the producer.
    pub async fn connect(
        kafka: &KafkaConfig,
        client_id: &str,
        opts: PublishOptions,
        metrics: CollectorMetrics,
    ) -> Result<Publisher, SetupError> {
        let mut kafka = kafka.clone();
        kafka
            .producer
            .entry("message.timeout.ms".into())
            .or_insert_with(|| opts.ack_timeout.as_millis().max(1).to_string());
        if kafka.create_topics {
            kafka
                .ensure_topics(&[&kafka.topics.hyperevents, &kafka.topics.dead_letter])
                .await?;
        }
        let producer = kafka.producer(client_id)?;
        let topic = kafka.topics.hyperevents.name.clone();
        let partitions = partitions_of(&producer, &topic).await?;
        let capacity = opts.buffer_records.max(1);
        Ok(Publisher {
            producer: RwLock::new(Arc::new(producer)),
            dead_letter: kafka.topics.dead_letter.name.clone(),
            kafka,
            client_id: client_id.to_string(),
            hyperevents: topic,
            partitions,
            metrics,
            permits: Arc::new(Semaphore::new(capacity)),
            opts: PublishOptions {
                buffer_records: capacity,
                ..opts
            },
        })
    }

    /// Partitions of the hyperevents topic (watermarks go to each).
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    /// The options this publisher runs with.
    pub fn options(&self) -> &PublishOptions {
        &self.opts
    }

    /// The metrics this publisher updates.
    pub fn metrics(&self) -> &CollectorMetrics {
        &self.metrics
    }

    /// Publishes a batch and waits until Kafka acknowledged every record of it.
    pub async fn publish(
        &self,
        events: &[HyperEvent],
        dead: &[DeadLetter],
    ) -> Result<(), PublishError> {
        let prepared = self.prepare(events, dead)?;
        let failed = self.send_all(&prepared).await?;
        failure(failed, prepared.len(), &prepared)
    }

    /// Publishes a batch, retrying what was not acknowledged (only that, in
    /// order) with backoff until all of it is, or until shutdown begins. For
    /// the followers, which pause rather than drop input.
    pub async fn publish_until_acked(
        &self,
        events: &[HyperEvent],
        dead: &[DeadLetter],
        shutdown: &Shutdown,
    ) -> Result<(), PublishError> {
        let mut pending = self.prepare(events, dead)?;
        let mut backoff = Duration::from_millis(200);
        loop {
            let total = pending.len();
            let failed = match self.send_all(&pending).await {
                Ok(failed) => failed,
                Err(PublishError::BufferFull { .. }) => {
                    (0..total).map(|i| (i, String::new())).collect()
                }
                Err(e) => return Err(e),
            };
            if failed.is_empty() {
                return Ok(());
            }
            tracing::warn!(
                failed = failed.len(),
                total,
                first = %failed[0].1,
                "batch not fully acknowledged; retrying the unacknowledged records"
            );
            let keep: std::collections::HashSet<usize> = failed.iter().map(|(i, _)| *i).collect();
            pending = pending
                .into_iter()
                .enumerate()
                .filter(|(i, _)| keep.contains(i))
                .map(|(_, p)| p)
                .collect();
            let wait = shutdown.clone().wait();
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = wait => return Err(PublishError::Shutdown),
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    /// Publishes a watermark for `cluster` at `time_us` to every partition of
    /// the hyperevents topic and waits for the acknowledgements.
    pub async fn publish_watermark(&self, cluster: &str, time_us: i64) -> Result<(), PublishError> {
        let wm = HyperEvent::watermark(cluster, time_us);
        let payload = avro::encode(&wm).map_err(|e| PublishError::Encode(e.to_string()))?;
        let prepared: Vec<Prepared> = (0..self.partitions)
            .map(|p| Prepared {
                topic_is_dead_letter: false,
                key: format!("watermark:{cluster}"),
                payload: payload.clone(),
                partition: Some(p),
                timestamp_ms: time_us.div_euclid(1000),
                cluster: cluster.to_string(),
                watermark: true,
            })
            .collect();
        let failed = self.send_all(&prepared).await?;
        failure(failed, prepared.len(), &prepared)?;
        self.metrics
            .watermark_time
            .with_label_values(&[cluster])
            .set(time_us.div_euclid(1_000_000));
        Ok(())
    }

    /// Waits until everything handed to the producer is acknowledged or
    /// `timeout` passes (for shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.current_producer().flush(timeout) {
            tracing::warn!(error = %e, "flush at shutdown did not complete");
        }
    }

    fn prepare(
        &self,
        events: &[HyperEvent],
        dead: &[DeadLetter],
    ) -> Result<Vec<Prepared>, PublishError> {
        let mut out = Vec::with_capacity(events.len() + dead.len());
        for ev in events {
            if ev.object.uid.is_empty() && ev.kind != Kind::Watermark {
                self.metrics
                    .unresolved_uid
                    .with_label_values(&[&ev.cluster])
                    .inc();
            }
            out.push(Prepared {
                topic_is_dead_letter: false,
                key: ev.key(),
                payload: avro::encode(ev).map_err(|e| PublishError::Encode(e.to_string()))?,
                partition: None,
                timestamp_ms: ev.observed_us.div_euclid(1000),
                cluster: ev.cluster.clone(),
                watermark: ev.kind == Kind::Watermark,
            });
        }
        for d in dead {
            out.push(Prepared {
                topic_is_dead_letter: true,
                key: d.cluster.clone(),
                payload: avro::encode(d).map_err(|e| PublishError::Encode(e.to_string()))?,
                partition: None,
                timestamp_ms: d.received_us.div_euclid(1000),
                cluster: d.cluster.clone(),
                watermark: false,
            });
        }
        Ok(out)
    }

    /// Sends every record and waits for all outcomes; returns the failed
    /// indexes with their reasons.
    async fn send_all(&self, batch: &[Prepared]) -> Result<Vec<(usize, String)>, PublishError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let capacity = self.opts.buffer_records;
        let wanted = batch.len().min(capacity) as u32;
        let permit = tokio::time::timeout(
            self.opts.buffer_wait,
            self.permits.clone().acquire_many_owned(wanted),
        )
        .await
        .map_err(|_| {
            self.metrics.error("buffer_full");
            PublishError::BufferFull {
                capacity,
                waited: self.opts.buffer_wait,
            }
        })?
        .expect("semaphore never closed");
        let deadline = started + self.opts.buffer_wait;
        let producer = self.current_producer();
        self.metrics.buffer_depth.add(batch.len() as i64);
        let mut futures = Vec::with_capacity(batch.len());
        let mut failed = Vec::new();
        for (i, p) in batch.iter().enumerate() {
            let topic = if p.topic_is_dead_letter {
                &self.dead_letter
            } else {
                &self.hyperevents
            };
            let mut record = FutureRecord::to(topic)
                .key(&p.key)
                .payload(&p.payload)
                .timestamp(p.timestamp_ms);
            if let Some(partition) = p.partition {
                record = record.partition(partition);
            }
            loop {
                match producer.send_result(record) {
                    Ok(f) => {
                        futures.push((i, f));
                        break;
                    }
                    Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                        if Instant::now() < deadline =>
                    {
                        record = r;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err((e, _)) => {
                        failed.push((i, e.to_string()));
                        break;
                    }
                }
            }
        }
        // librdkafka resolves every future by message.timeout.ms; the outer
        // bound only guards against a stuck client.
        let outer = self.opts.ack_timeout + Duration::from_secs(5);
        let pending: Vec<usize> = futures.iter().map(|(i, _)| *i).collect();
        let results = tokio::time::timeout(
            outer,
            futures::future::join_all(futures.into_iter().map(|(_, f)| f)),
        )
        .await;
        self.metrics.buffer_depth.sub(batch.len() as i64);
        drop(permit);
        match results {
            Err(_) => {
                failed.extend(
                    pending
                        .into_iter()
                        .map(|i| (i, format!("no acknowledgement within {outer:?}"))),
                );
            }
            Ok(results) => {
                for (i, r) in pending.into_iter().zip(results) {
                    match r {
                        Ok(Ok(_)) => self.count_acked(&batch[i]),
                        Ok(Err((e, _))) => failed.push((i, e.to_string())),
                        Err(_) => failed.push((i, "producer dropped the record".into())),
                    }
                }
            }
        }
        failed.sort_by_key(|(i, _)| *i);
        if failed.is_empty() {
            self.metrics
                .publish_latency
                .observe(started.elapsed().as_secs_f64());
        } else {
            self.metrics.error("publish");
            self.replace_producer(&producer);
        }
        Ok(failed)
    }

    fn current_producer(&self) -> Arc<FutureProducer> {
        self.producer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces `failed` (if it is still the current producer) by a fresh one;
    /// see the module docs for why.
    fn replace_producer(&self, failed: &Arc<FutureProducer>) {
        let fresh = match self.kafka.producer(&self.client_id) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                tracing::warn!(error = %e, "could not create a fresh producer; keeping the old one");
                return;
            }
        };
        let old = {
            let mut current = self.producer.write().unwrap_or_else(|p| p.into_inner());
            if !Arc::ptr_eq(&current, failed) {
                return;
            }
            std::mem::replace(&mut *current, fresh)
        };
        tracing::info!("replaced the producer after delivery failures");
        // Destroying a librdkafka client blocks until its threads stop.
        tokio::task::spawn_blocking(move || drop(old));
    }

    fn count_acked(&self, p: &Prepared) {
        let counter = if p.watermark {
            &self.metrics.watermarks
        } else if p.topic_is_dead_letter {
            &self.metrics.dead_letters
        } else {
            &self.metrics.events_out
        };
        counter.with_label_values(&[&p.cluster]).inc();
    }
}

fn failure(
    failed: Vec<(usize, String)>,
    total: usize,
    _batch: &[Prepared],
) -> Result<(), PublishError> {
    if failed.is_empty() {
        return Ok(());
    }
    let first = failed[0].1.clone();
    Err(PublishError::NotAcknowledged {
        failed: failed.into_iter().map(|(i, _)| i).collect(),
        total,
        first,
    })
}

/// Partition count of `topic`, retried briefly: a just-created topic may take
/// a moment to appear in metadata.
async fn partitions_of(producer: &FutureProducer, topic: &str) -> Result<i32, SetupError> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let md = producer
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(KafkaError::from)?;
        let n = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map(|t| t.partitions().len() as i32)
            .unwrap_or(0);
        if n > 0 {
            return Ok(n);
        }
        if Instant::now() > deadline {
            return Err(SetupError::NoPartitions(topic.to_string()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
