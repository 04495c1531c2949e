//! Building dead letters from the normalizer's errors.
//!
//! A rejected record is identified by its input, line, length and SHA-256, so
//! it can be found in the source; its bytes travel only when the operator
//! opted in (`--dead-letter-raw`), since a record that did not parse could not
//! be redacted either.

use lunettes_ingest::InputError;
use lunettes_schemas::DeadLetter;
use sha2::{Digest, Sha256};

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The dead letter for `error` about `raw`, received now in `cluster`.
pub fn dead_letter(cluster: &str, error: &InputError, raw: &[u8], keep_raw: bool) -> DeadLetter {
    DeadLetter {
        cluster: cluster.to_string(),
        input: error.input.clone(),
        line: error.line.map(|l| l as i64),
        reason: error.reason.clone(),
        received_us: now_us(),
        raw_len: raw.len() as i64,
        raw_sha256: hex::encode(Sha256::digest(raw)),
        raw: keep_raw.then(|| raw.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_only_on_opt_in() {
        let e = InputError::new("audit.log", Some(3), "expected value");
        let d = dead_letter("c1", &e, b"{nope", false);
        assert_eq!(d.raw, None);
        assert_eq!(d.raw_len, 5);
        assert_eq!(d.line, Some(3));
        assert_eq!(d.raw_sha256, hex::encode(Sha256::digest(b"{nope")));
        let d = dead_letter("c1", &e, b"{nope", true);
        assert_eq!(d.raw.as_deref(), Some(&b"{nope"[..]));
    }
}
