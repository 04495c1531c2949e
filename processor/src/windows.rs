//! 1-minute and 1-hour tumbling windows of verdicts by decision time.
//!
//! The original never had these (its article shows them). A row counts the
//! deliveries of one (cluster, namespace, action) decided inside the window,
//! by result and code, for this shard only: rows of different shards add up.
//! A row is emitted when the cluster watermark passes the window end; a
//! verdict that lands later in an already emitted window re-emits the row
//! with the same id and version + 1 (full counts, so the newest version
//! replaces the older one). Emitted rows are kept for corrections for a
//! bounded time (`retention`), then forgotten.

use std::collections::BTreeMap;

use lunettes_schemas::{Action, Delivery, DeliveryResult, Output, WindowRow, WindowWidth};

use crate::ids;
use crate::intern::{Interner, Sym};

/// A window: plain integers, so counting a verdict neither allocates nor
/// compares strings (the namespace is its interned id; rows are emitted in
/// namespace-name order all the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    end: i64,
    width: WindowWidth,
    namespace: Sym,
    action: Action,
}

#[derive(Debug, Clone, Default)]
struct Counts {
    version: i32,
    total: i64,
    by_result: [i64; 5],
    codes: BTreeMap<Box<str>, i64>,
}

/// Window state of one cluster.
#[derive(Debug, Default)]
pub(crate) struct Windows {
    open: BTreeMap<Key, Counts>,
    emitted: BTreeMap<Key, Counts>,
    /// Verdicts too late for any kept window (counted, not emitted).
    pub late_dropped: u64,
}

/// How long emitted rows are kept for corrections after their end.
const RETENTION_US: i64 = 2 * 3_600_000_000;

/// Where rows go: the cluster, shard and interner they are written with.
pub(crate) struct RowSink<'a> {
    pub cluster: &'a str,
    pub shard: i32,
    pub interner: &'a Interner,
}

impl Windows {
    /// Counts a version-0 verdict; emits a corrected row at once if its
    /// window was already emitted.
    pub(crate) fn add(
        &mut self,
        namespace: Sym,
        action: Action,
        d: &Delivery,
        watermark: i64,
        sink: &RowSink<'_>,
        out: &mut Vec<Output>,
    ) {
        for width in [WindowWidth::Minute, WindowWidth::Hour] {
            let w = width.micros();
            let start = d.decided_at_us.div_euclid(w) * w;
            let key = Key {
                end: start + w,
                width,
                namespace,
                action,
            };
            if let Some(c) = self.emitted.get_mut(&key) {
                count(c, d);
                c.version += 1;
                out.push(Output::Window(row(&key, c, sink)));
            } else if key.end <= watermark && key.end + RETENTION_US <= watermark {
                self.late_dropped += 1;
            } else if key.end <= watermark {
                // Late for a window never emitted (nothing else in it): emit now.
                let mut c = Counts::default();
                count(&mut c, d);
                out.push(Output::Window(row(&key, &c, sink)));
                self.emitted.insert(key, c);
            } else {
                count(self.open.entry(key).or_default(), d);
            }
        }
    }

    /// Emits every open window whose end is at or before the watermark and
    /// forgets emitted windows past retention.
    pub(crate) fn close(&mut self, watermark: i64, sink: &RowSink<'_>, out: &mut Vec<Output>) {
        if self
            .open
            .first_key_value()
            .is_some_and(|(k, _)| k.end <= watermark)
        {
            let mut due = Vec::new();
            while let Some(entry) = self.open.first_entry() {
                if entry.key().end > watermark {
                    break;
                }
                due.push(entry.remove_entry());
            }
            // Same order on every run whatever the interning order was.
            due.sort_by(|(a, _), (b, _)| {
                (a.end, a.width, sink.interner.resolve(a.namespace), a.action).cmp(&(
                    b.end,
                    b.width,
                    sink.interner.resolve(b.namespace),
                    b.action,
                ))
            });
            for (key, c) in due {
                out.push(Output::Window(row(&key, &c, sink)));
                self.emitted.insert(key, c);
            }
        }
        while let Some(entry) = self.emitted.first_entry() {
            if entry.key().end + RETENTION_US > watermark {
                break;
            }
            entry.remove();
        }
    }

    /// Emits every open window (end of input).
    pub(crate) fn flush(&mut self, sink: &RowSink<'_>, out: &mut Vec<Output>) {
        self.close(i64::MAX - RETENTION_US, sink, out);
    }
}

fn count(c: &mut Counts, d: &Delivery) {
    c.total += 1;
    let i = DeliveryResult::ALL
        .iter()
        .position(|r| *r == d.result)
        .unwrap_or(0);
    c.by_result[i] += 1;
    if d.result != DeliveryResult::Success && !d.code.is_empty() {
        match c.codes.get_mut(d.code.as_str()) {
            Some(n) => *n += 1,
            None => {
                c.codes.insert(d.code.as_str().into(), 1);
            }
        }
    }
}

fn row(key: &Key, c: &Counts, sink: &RowSink<'_>) -> WindowRow {
    let start = key.end - key.width.micros();
    let namespace = sink.interner.resolve(key.namespace);
    WindowRow {
        id: ids::window_id(
            sink.shard,
            sink.cluster,
            namespace,
            key.action,
            key.width,
            start,
        ),
        version: c.version,
        shard: sink.shard,
        width: key.width,
        window_start_us: start,
        cluster: sink.cluster.to_string(),
        namespace: namespace.to_string(),
        action: key.action,
        total: c.total,
        success: c.by_result[0],
        fail: c.by_result[1],
        kill: c.by_result[2],
        api_failed: c.by_result[3],
        abandoned: c.by_result[4],
        codes: c.codes.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}
