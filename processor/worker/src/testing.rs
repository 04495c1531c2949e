//! Test support (feature `testing`): simulator output as the collectors
//! publish it, for the worker's and the sinks' end-to-end tests.
//!
//! Every pipeline test needs the same input: the simulator's audit logs and
//! Events normalized per cluster, in collector order, with per-cluster
//! watermarks that go to every partition, published to a real broker keyed by
//! pod. One implementation here keeps those tests feeding the processors
//! exactly alike.

use std::collections::BTreeMap;
use std::time::Duration;

use lunettes_ingest::Normalizer;
use lunettes_loadtest::{simulate, SimConfig, Truth};
use lunettes_runtime::KafkaConfig;
use lunettes_schemas::{avro, HyperEvent};
use rdkafka::producer::FutureRecord;

/// How far past the last event the final watermark goes: far enough to close
/// every delivery (give-up horizon, delete tiers up to 1 h, lateness).
const FINAL_WATERMARK_AHEAD_US: i64 = 3 * 3_600_000_000;

/// The simulated fleet of `cfg` normalized to HyperEvents in collector order
/// (by observation time, clusters interleaved), with a watermark per cluster
/// every `watermark_every_us` of event time and a final one far ahead.
/// Watermarks are marked `true`: they go to every partition. Also returns the
/// simulator's ground truth.
pub fn collector_stream(
    cfg: &SimConfig,
    watermark_every_us: i64,
) -> (Vec<(HyperEvent, bool)>, Vec<Truth>) {
    let (outputs, truth) = simulate(cfg);
    let mut all = Vec::new();
    for c in &outputs {
        let mut n = Normalizer::new(c.cluster.clone());
        for (input, lines) in [
            ("audit.log", &c.audit_lines),
            ("events.jsonl", &c.event_lines),
        ] {
            for (i, line) in lines.iter().enumerate() {
                n.normalize_line(input, i as u64 + 1, line.as_bytes(), &mut all)
                    .expect("simulated line normalizes");
            }
        }
    }
    // Stable: within a cluster, records of one instant keep their order.
    all.sort_by_key(|e| e.observed_us);
    let mut out = Vec::with_capacity(all.len() + all.len() / 4);
    let mut next_wm: BTreeMap<String, i64> = BTreeMap::new();
    let mut last = 0;
    for ev in all {
        let due = next_wm
            .entry(ev.cluster.clone())
            .or_insert(ev.observed_us + watermark_every_us);
        if ev.observed_us >= *due {
            out.push((HyperEvent::watermark(&ev.cluster, ev.observed_us - 1), true));
            *due = ev.observed_us + watermark_every_us;
        }
        last = last.max(ev.observed_us);
        out.push((ev, false));
    }
    for cluster in next_wm.keys() {
        out.push((
            HyperEvent::watermark(cluster, last + FINAL_WATERMARK_AHEAD_US),
            true,
        ));
    }
    (out, truth)
}

/// Publishes like a collector: key = pod key, timestamp = observed ms,
/// broadcast records to each of `partitions`; waits for every
/// acknowledgement (and panics on a failed one: this is test support).
/// Returns the number of records published (broadcasts count once per
/// partition).
pub async fn publish_as_collector(
    kafka: &KafkaConfig,
    events: &[(HyperEvent, bool)],
    partitions: i32,
) -> usize {
    kafka
        .ensure_topics(&[&kafka.topics.hyperevents])
        .await
        .expect("hyperevents topic");
    let producer = kafka.producer("test-collector").expect("producer");
    let topic = kafka.topics.hyperevents.name.as_str();
    let mut pending = Vec::with_capacity(events.len());
    for (ev, broadcast) in events {
        let payload = avro::encode(ev).expect("HyperEvent encodes");
        let key = ev.key();
        let targets: Vec<Option<i32>> = if *broadcast {
            (0..partitions).map(Some).collect()
        } else {
            vec![None]
        };
        for p in targets {
            let mut rec = FutureRecord::to(topic)
                .key(&key)
                .payload(&payload)
                .timestamp(ev.observed_us / 1000);
            if let Some(p) = p {
                rec = rec.partition(p);
            }
            // A full local queue is back-pressure, not failure: wait and retry.
            loop {
                match producer.send_result(rec) {
                    Ok(f) => {
                        pending.push(f);
                        break;
                    }
                    Err((_, back)) => {
                        rec = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
        }
    }
    let published = pending.len();
    for f in pending {
        f.await.expect("delivery report").expect("acknowledged");
    }
    published
}
