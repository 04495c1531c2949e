//! Errors of the processor and replay workers. Each names the topic,
//! partition or setting it is about, so an operator can act on the message
//! alone.

/// What can stop a worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A Kafka client could not be created or a request failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// Topic setup failed.
    #[error(transparent)]
    Setup(#[from] lunettes_runtime::kafka::KafkaError),
    /// An output topic's partition count differs from the HyperEvents topic.
    #[error(
        "output topic {topic} has {found} partitions but the HyperEvents topic {input} has {expected}: \
         outputs are written to the partition number of their input, so the counts must match \
         (recreate {topic} with {expected} partitions, or point the config at a matching topic)"
    )]
    PartitionMismatch {
        /// The output topic.
        topic: String,
        /// Its partition count.
        found: i32,
        /// The input topic.
        input: String,
        /// The input's partition count.
        expected: i32,
    },
    /// A topic the worker needs does not exist (and was not to be created).
    #[error("topic {0} does not exist (set create_topics: true or create it)")]
    MissingTopic(String),
    /// Producing an output failed; the batch's offsets were not committed.
    #[error("producing to {topic}: {reason}")]
    Produce {
        /// The topic.
        topic: String,
        /// What librdkafka said.
        reason: String,
    },
    /// Preparing a newly assigned partition failed.
    #[error("preparing {topic}[{partition}] after assignment: {reason}")]
    Assignment {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Why.
        reason: String,
    },
    /// A read with a deadline did not complete.
    #[error("reading {topic}[{partition}]: {reason}")]
    Read {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Why.
        reason: String,
    },
    /// A bad setting.
    #[error("config: {0}")]
    Config(String),
}
