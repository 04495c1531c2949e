//! Topic setup shared by the processor and replay: the output partitions
//! must mirror the input partitions one to one.
//!
//! Outputs go to the partition number of the input record that caused them
//! (that is what lets a new owner find "what did partition p already write"
//! by reading one partition per output topic). So output topics are created
//! with the HyperEvents topic's partition count, and a mismatch found at
//! start is an error rather than a silent re-partitioning.

use futures_executor::block_on;
use lunettes_runtime::{KafkaConfig, TopicSpec};
use rdkafka::consumer::{BaseConsumer, ConsumerContext};

use crate::error::WorkerError;
use crate::outputs::OutputTopics;

/// Partition count of `topic` (0 when it does not exist).
pub fn partition_count<C: ConsumerContext>(
    reader: &BaseConsumer<C>,
    topic: &str,
) -> Result<i32, WorkerError> {
    use rdkafka::consumer::Consumer;
    let md = reader.fetch_metadata(Some(topic), std::time::Duration::from_secs(10))?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len() as i32)
        .unwrap_or(0))
}

/// Makes sure the input, output and dead-letter topics exist (creating them
/// when `create_topics` is set) and that every output topic has as many
/// partitions as the input. Returns the partition count.
pub fn prepare_topics<C: ConsumerContext>(
    kafka: &KafkaConfig,
    reader: &BaseConsumer<C>,
    outputs: &OutputTopics,
) -> Result<i32, WorkerError> {
    let input = &kafka.topics.hyperevents;
    if kafka.create_topics {
        block_on(kafka.ensure_topics(&[input]))?;
    }
    let n = partition_count(reader, &input.name)?;
    if n == 0 {
        return Err(WorkerError::MissingTopic(input.name.clone()));
    }
    if kafka.create_topics {
        let specs: Vec<TopicSpec> = outputs
            .names
            .iter()
            .map(|name| {
                let template = kafka
                    .topics
                    .outputs()
                    .into_iter()
                    .find(|s| &s.name == name)
                    .unwrap_or(input);
                TopicSpec {
                    name: name.clone(),
                    partitions: n,
                    ..template.clone()
                }
            })
            .collect();
        let mut refs: Vec<&TopicSpec> = specs.iter().collect();
        refs.push(&kafka.topics.dead_letter);
        block_on(kafka.ensure_topics(&refs))?;
    }
    for name in &outputs.names {
        let found = partition_count(reader, name)?;
        if found == 0 {
            return Err(WorkerError::MissingTopic(name.clone()));
        }
        if found != n {
            return Err(WorkerError::PartitionMismatch {
                topic: name.clone(),
                found,
                input: input.name.clone(),
                expected: n,
            });
        }
    }
    Ok(n)
}

/// The configured output topics, optionally with a name prefix.
pub fn output_topics(kafka: &KafkaConfig, prefix: &str) -> OutputTopics {
    let t = &kafka.topics;
    OutputTopics {
        names: [
            format!("{prefix}{}", t.deliveries.name),
            format!("{prefix}{}", t.spans.name),
            format!("{prefix}{}", t.windows.name),
        ],
    }
}
