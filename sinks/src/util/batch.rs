//! Batches of rows with the Kafka offsets they came from.
//!
//! A batch is flushed when it holds enough rows or bytes, or when its oldest
//! row has waited `linger`. It remembers, per topic partition, the first and
//! last offset it covers, including records that produced no row (skipped or
//! rejected ones), so that after the destination acknowledged the batch the
//! sink can commit exactly `last + 1` for each partition, and so that a retry
//! of the same batch carries the same deduplication token.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// When to flush a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Flush at this many rows.
    pub max_rows: usize,
    /// Flush at this many bytes (encoded input size).
    pub max_bytes: usize,
    /// Flush when the oldest row has waited this long, in milliseconds.
    pub linger_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_rows: 50_000,
            max_bytes: 16 << 20,
            // 500 ms: at 10k rows/s a 1 s linger put ingest-to-row p99 at
            // 2.0-2.4 s (goal 2 s), 500 ms at 1.25-1.8 s; above 20k rows/s the
            // batches still reach 10k rows (BENCHMARKS.md, ClickHouse sink).
            linger_ms: 500,
        }
    }
}

impl BatchConfig {
    /// The linger as a duration.
    pub fn linger(&self) -> Duration {
        Duration::from_millis(self.linger_ms)
    }
}

/// Why a batch is flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushReason {
    /// Reached `max_rows`.
    Rows,
    /// Reached `max_bytes`.
    Bytes,
    /// The oldest row waited `linger`.
    Linger,
    /// Shutdown, or the consumer has nothing more right now.
    Drain,
}

impl FlushReason {
    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FlushReason::Rows => "rows",
            FlushReason::Bytes => "bytes",
            FlushReason::Linger => "linger",
            FlushReason::Drain => "drain",
        }
    }
}

/// Inclusive offset ranges per (topic, partition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetRanges {
    ranges: BTreeMap<(String, i32), (i64, i64)>,
}

impl OffsetRanges {
    /// Records that `offset` of `topic`/`partition` is covered.
    pub fn record(&mut self, topic: &str, partition: i32, offset: i64) {
        // Avoid allocating the key for the common case of a known partition.
        if let Some((_, range)) = self
            .ranges
            .iter_mut()
            .find(|((t, p), _)| *p == partition && t == topic)
        {
            range.0 = range.0.min(offset);
            range.1 = range.1.max(offset);
            return;
        }
        self.ranges
            .insert((topic.to_string(), partition), (offset, offset));
    }

    /// No offsets recorded.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// `(topic, partition, first, last)` in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, i64, i64)> {
        self.ranges
            .iter()
            .map(|((t, p), (first, last))| (t.as_str(), *p, *first, *last))
    }

    /// The offsets to commit once the batch is acknowledged: `last + 1`.
    pub fn commit_positions(&self) -> impl Iterator<Item = (&str, i32, i64)> {
        self.iter().map(|(t, p, _, last)| (t, p, last + 1))
    }

    /// A deterministic token naming these ranges, e.g.
    /// `lunettes.deliveries/0/100-199,lunettes.deliveries/3/7-42`, used as
    /// `insert_deduplication_token` so a retried insert of the same batch is
    /// recognised by the server.
    pub fn token(&self) -> String {
        let mut out = String::new();
        for (i, (t, p, first, last)) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{t}/{p}/{first}-{last}");
        }
        out
    }
}

/// Rows waiting to be written, with their provenance.
#[derive(Debug)]
pub struct Batch<R> {
    /// The rows, in consumption order.
    pub rows: Vec<R>,
    /// Kafka timestamps (ms) of the records of `rows`, for latency metrics.
    pub produced_ms: Vec<i64>,
    /// Encoded input bytes of the rows.
    pub bytes: usize,
    /// Offsets covered (rows and skipped records).
    pub offsets: OffsetRanges,
    opened_at: Option<Instant>,
}

impl<R> Default for Batch<R> {
    fn default() -> Self {
        Batch {
            rows: Vec::new(),
            produced_ms: Vec::new(),
            bytes: 0,
            offsets: OffsetRanges::default(),
            opened_at: None,
        }
    }
}

impl<R> Batch<R> {
    /// Adds a row read from `topic`/`partition` at `offset`.
    pub fn push(&mut self, row: R, bytes: usize, produced_ms: i64, at: (&str, i32, i64)) {
        self.opened_at.get_or_insert_with(Instant::now);
        self.rows.push(row);
        self.produced_ms.push(produced_ms);
        self.bytes += bytes;
        self.offsets.record(at.0, at.1, at.2);
    }

    /// Records an offset that produced no row (skipped or rejected record),
    /// so it is committed with the batch.
    pub fn cover(&mut self, at: (&str, i32, i64)) {
        self.opened_at.get_or_insert_with(Instant::now);
        self.offsets.record(at.0, at.1, at.2);
    }

    /// Nothing to write and nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.offsets.is_empty()
    }

    /// Whether the batch should be flushed now, and why.
    pub fn due(&self, config: &BatchConfig, now: Instant) -> Option<FlushReason> {
        if self.rows.len() >= config.max_rows.max(1) {
            Some(FlushReason::Rows)
        } else if self.bytes >= config.max_bytes.max(1) {
            Some(FlushReason::Bytes)
        } else if self
            .opened_at
            .is_some_and(|t| now.duration_since(t) >= config.linger())
        {
            Some(FlushReason::Linger)
        } else {
            None
        }
    }

    /// When the linger of this batch expires (None when empty).
    pub fn deadline(&self, config: &BatchConfig) -> Option<Instant> {
        self.opened_at.map(|t| t + config.linger())
    }

    /// Takes the content, leaving an empty batch.
    pub fn take(&mut self) -> Batch<R> {
        std::mem::take(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_token_are_deterministic() {
        let mut r = OffsetRanges::default();
        for (t, p, o) in [
            ("b", 1, 7),
            ("a", 0, 5),
            ("b", 1, 3),
            ("a", 0, 9),
            ("a", 2, 1),
        ] {
            r.record(t, p, o);
        }
        assert_eq!(r.token(), "a/0/5-9,a/2/1-1,b/1/3-7");
        let commits: Vec<_> = r.commit_positions().collect();
        assert_eq!(commits, vec![("a", 0, 10), ("a", 2, 2), ("b", 1, 8)]);
    }

    #[test]
    fn batch_is_due_by_rows_bytes_and_linger() {
        let cfg = BatchConfig {
            max_rows: 3,
            max_bytes: 100,
            linger_ms: 50,
        };
        let now = Instant::now();
        let mut b: Batch<u8> = Batch::default();
        assert_eq!(b.due(&cfg, now), None);
        assert!(b.deadline(&cfg).is_none());
        b.push(1, 10, 0, ("t", 0, 0));
        assert_eq!(b.due(&cfg, Instant::now()), None);
        b.push(2, 95, 0, ("t", 0, 1));
        assert_eq!(b.due(&cfg, Instant::now()), Some(FlushReason::Bytes));
        b.push(3, 0, 0, ("t", 0, 2));
        assert_eq!(b.due(&cfg, Instant::now()), Some(FlushReason::Rows));
        let taken = b.take();
        assert_eq!(taken.rows, vec![1, 2, 3]);
        assert!(b.is_empty());
        b.cover(("t", 0, 3));
        assert!(!b.is_empty());
        let later = Instant::now() + Duration::from_millis(60);
        assert_eq!(b.due(&cfg, later), Some(FlushReason::Linger));
    }
}
