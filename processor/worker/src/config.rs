//! The settings file and the engine factory the commands use.
//!
//! Every worker reads the same YAML file: its `kafka:` section is a
//! [`KafkaConfig`] shared with the collectors and sinks, and the processor's
//! own settings live under `processor:`. Sections of other workers are
//! ignored here; unknown keys *inside* `processor:` are errors, because a
//! misspelt setting silently ignored is a horizon or a batch size silently
//! wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lunettes_processor::{Engine, EngineConfig, SloConfig, SpanConfig};
use lunettes_runtime::KafkaConfig;
use serde::Deserialize;

use crate::engine::EngineFactory;
use crate::error::WorkerError;

/// The `processor:` section of the settings file. Every key is optional;
/// command-line flags override it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProcessorSection {
    /// Consumer group.
    pub group: Option<String>,
    /// Rebuild horizon, e.g. `2h`.
    pub horizon: Option<String>,
    /// Records per batch.
    pub batch_records: Option<usize>,
    /// Batch interval, e.g. `200ms`.
    pub batch_interval: Option<String>,
    /// SLO configuration JSON file.
    pub slo_config: Option<PathBuf>,
    /// Span configuration JSON file.
    pub span_config: Option<PathBuf>,
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub metrics_addr: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    #[serde(default)]
    kafka: Option<KafkaConfig>,
    #[serde(default)]
    processor: Option<ProcessorSection>,
}

/// Reads the `kafka:` and `processor:` sections of `path` (defaults when
/// there is no file or no section).
pub fn load(path: Option<&Path>) -> Result<(KafkaConfig, ProcessorSection), WorkerError> {
    let Some(path) = path else {
        return Ok((KafkaConfig::default(), ProcessorSection::default()));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| WorkerError::Config(format!("reading {}: {e}", path.display())))?;
    let file: FileConfig = serde_yaml::from_str(&text)
        .map_err(|e| WorkerError::Config(format!("{}: {e}", path.display())))?;
    Ok((
        file.kafka.unwrap_or_default(),
        file.processor.unwrap_or_default(),
    ))
}

/// Parses a duration such as `2h`, `90m`, `1h30m`, `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, WorkerError> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        WorkerError::Config(format!(
            "invalid duration {text:?} ({e}): expected e.g. 2h, 90m, 500ms"
        ))
    })
}

/// Parses an instant for `--from`/`--to`: RFC 3339 (`2026-01-01T10:00:00Z`)
/// or milliseconds since the epoch. Returns milliseconds.
pub fn parse_time_ms(text: &str) -> Result<i64, WorkerError> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map_err(|_| WorkerError::Config(format!("invalid time {text:?}: number too large")));
    }
    lunettes_schemas::time::parse_rfc3339(t)
        .map(|(us, _)| us.div_euclid(1000))
        .ok_or_else(|| {
            WorkerError::Config(format!(
                "invalid time {text:?}: expected RFC 3339 (2026-01-01T10:00:00Z) or epoch milliseconds"
            ))
        })
}

/// Builds a [`lunettes_processor::Engine`] per partition from the SLO and
/// span configurations (the embedded defaults when not given). The texts are
/// validated once, at construction, so a bad file fails at start.
#[derive(Debug, Clone, Default)]
pub struct ProcessorEngines {
    slo_json: Option<String>,
    spans_json: Option<String>,
}

impl ProcessorEngines {
    /// Reads and validates the optional configuration files.
    pub fn from_files(slo: Option<&Path>, spans: Option<&Path>) -> Result<Self, WorkerError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| WorkerError::Config(format!("reading {}: {e}", p.display())))
        };
        let slo_json = slo.map(read).transpose()?;
        let spans_json = spans.map(read).transpose()?;
        if let (Some(text), Some(p)) = (&slo_json, slo) {
            SloConfig::from_json(text)
                .map_err(|e| WorkerError::Config(format!("{}: {e}", p.display())))?;
        }
        if let (Some(text), Some(p)) = (&spans_json, spans) {
            SpanConfig::from_json(text)
                .map_err(|e| WorkerError::Config(format!("{}: {e}", p.display())))?;
        }
        Ok(ProcessorEngines {
            slo_json,
            spans_json,
        })
    }
}

impl EngineFactory for ProcessorEngines {
    type Engine = Engine;

    fn engine_for(&self, partition: i32) -> Engine {
        let mut cfg = EngineConfig {
            shard: partition,
            ..EngineConfig::default()
        };
        // Both texts parsed at construction; the defaults are unreachable.
        if let Some(text) = &self.slo_json {
            cfg.slo = SloConfig::from_json(text).unwrap_or_default();
        }
        if let Some(text) = &self.spans_json {
            cfg.spans = SpanConfig::from_json(text).unwrap_or_default();
        }
        Engine::new(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_parse_or_say_why() {
        assert_eq!(
            parse_time_ms("2026-01-01T00:00:01.5Z").unwrap(),
            1_767_225_601_500
        );
        assert_eq!(parse_time_ms("1767225601500").unwrap(), 1_767_225_601_500);
        let e = parse_time_ms("yesterday").unwrap_err().to_string();
        assert!(e.contains("yesterday") && e.contains("RFC 3339"), "{e}");
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("soon")
            .unwrap_err()
            .to_string()
            .contains("soon"));
    }

    #[test]
    fn settings_file_sections() {
        let dir = std::env::temp_dir().join(format!("lunettes-worker-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.yaml");
        std::fs::write(
            &p,
            "kafka:\n  brokers: b:9092\nprocessor:\n  group: g1\n  horizon: 3h\nsinks:\n  other: 1\n",
        )
        .unwrap();
        let (k, s) = load(Some(&p)).unwrap();
        assert_eq!(k.brokers, "b:9092");
        assert_eq!(s.group.as_deref(), Some("g1"));
        assert_eq!(s.horizon.as_deref(), Some("3h"));
        std::fs::write(&p, "processor:\n  horizn: 3h\n").unwrap();
        let e = load(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("horizn") && e.contains("c.yaml"), "{e}");
        let bad = dir.join("slo.json");
        std::fs::write(&bad, "{\"NoSuchKey\": 1}").unwrap();
        let e = ProcessorEngines::from_files(Some(&bad), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("slo.json"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
