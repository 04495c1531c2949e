//! Collector configuration shared by every source.
//!
//! Kafka settings come from the same YAML file every worker reads (its
//! `kafka:` section is a `lunettes_runtime::KafkaConfig`: brokers,
//! pass-through librdkafka properties such as SASL/TLS, topic names,
//! partitions and retention); other sections belong to other workers and are
//! ignored here. `--brokers` overrides the file for the common case.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use lunettes_runtime::KafkaConfig;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    #[serde(default)]
    kafka: Option<KafkaConfig>,
}

/// Reads the `kafka:` section of `path` (defaults when absent) and applies
/// the `brokers` override.
pub fn load_kafka_config(
    path: Option<&Path>,
    brokers: Option<&str>,
) -> anyhow::Result<KafkaConfig> {
    let mut kafka = match path {
        None => KafkaConfig::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading config file {}", p.display()))?;
            let file: FileConfig = serde_yaml::from_str(&text).with_context(|| {
                format!("config file {}: invalid `kafka:` section", p.display())
            })?;
            file.kafka.unwrap_or_default()
        }
    };
    if let Some(b) = brokers {
        kafka.brokers = b.to_string();
    }
    Ok(kafka)
}

/// Parses a duration such as `5s`, `500ms`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 5s, 500ms, 2m"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration {text:?}: unit must be ms, s, m or h"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {text:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("unit"));
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn kafka_section_with_passthrough_and_override() {
        let dir = std::env::temp_dir().join(format!("lunettes-collect-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.yaml");
        std::fs::write(
            &p,
            "processor: {anything: 1}\nkafka:\n  brokers: k1:9092\n  properties:\n    security.protocol: SASL_SSL\n  topics:\n    hyperevents: {name: he, partitions: 12}\n",
        )
        .unwrap();
        let k = load_kafka_config(Some(&p), None).unwrap();
        assert_eq!(k.brokers, "k1:9092");
        assert_eq!(k.properties["security.protocol"], "SASL_SSL");
        assert_eq!(k.topics.hyperevents.partitions, 12);
        assert_eq!(k.topics.dead_letter.name, "lunettes.dead-letter");
        let k = load_kafka_config(Some(&p), Some("b:1")).unwrap();
        assert_eq!(k.brokers, "b:1");
        std::fs::write(&p, "kafka:\n  brokerz: x\n").unwrap();
        let e = load_kafka_config(Some(&p), None).unwrap_err();
        assert!(format!("{e:#}").contains("brokerz"), "{e:#}");
    }
}
