//! The dead-letter record: an input a collector rejected, and why.
//!
//! Collectors never drop a record silently: what the normalizer cannot read
//! goes to the dead-letter topic with the input, line and reason, so an
//! operator can find and fix it. The raw bytes are left out unless asked for
//! (`raw_len` and `raw_sha256` identify the record in its source), because a
//! record we could not parse is a record we could not redact.
//! Field order and names mirror `schemas/avro/deadletter.avsc`.

use serde::{Deserialize, Serialize};

/// One rejected input record. See `schemas/avro/deadletter.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeadLetter {
    /// Cluster name.
    pub cluster: String,
    /// Which input (file path, webhook batch, watch stream).
    pub input: String,
    /// 1-based line or batch item index, when the input has lines.
    #[serde(default)]
    pub line: Option<i64>,
    /// Why the record was rejected.
    pub reason: String,
    /// When the collector received it, microseconds since the Unix epoch (UTC).
    pub received_us: i64,
    /// Length of the raw record in bytes.
    pub raw_len: i64,
    /// Lower-case hex SHA-256 of the raw record.
    pub raw_sha256: String,
    /// The raw record, only when the collector opted in.
    #[serde(default, with = "apache_avro::serde_avro_bytes_opt")]
    pub raw: Option<Vec<u8>>,
}

impl DeadLetter {
    /// A small populated record for documentation and tests.
    pub fn example() -> Self {
        DeadLetter {
            cluster: "prod-1".into(),
            input: "/var/log/kubernetes/audit.log".into(),
            line: Some(42),
            reason: "expected value at line 1 column 1".into(),
            received_us: 1_700_000_000_123_456,
            raw_len: 9,
            raw_sha256: "d0b8ee1a3a1bd9d9a5d6c5d1bb4e0e9fb9b4a4f3a0e4c8d0f0a1e2b3c4d5e6f7".into(),
            raw: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro;

    #[test]
    fn round_trips_with_and_without_raw() {
        let mut d = DeadLetter::example();
        let back: DeadLetter = avro::decode(&avro::encode(&d).unwrap()).unwrap();
        assert_eq!(back, d);
        d.raw = Some(vec![0xff, b'{', 0, b'\n']);
        d.line = None;
        let bytes = avro::encode(&d).unwrap();
        let back: DeadLetter = avro::decode(&bytes).unwrap();
        assert_eq!(back, d);
        // Not confusable with another record type.
        assert!(avro::decode::<crate::HyperEvent>(&bytes).is_err());
    }
}
