//! Outputs do not depend on input order within the lateness bound.

mod common;

use common::*;
use lunettes_processor::EngineConfig;
use lunettes_schemas::HyperEvent;
use proptest::prelude::*;

/// A small mixed population: healthy, slow-ready, stuck, pulling, killed, deleted.
fn population(seed: u64) -> Vec<HyperEvent> {
    let mut ev = Vec::new();
    for i in 0..12u64 {
        let p = Pod::new(&format!("p{i}"), T0 + ((i * 7 + seed % 5) as i64) * S);
        match (i + seed) % 6 {
            0 => ev.extend(p.healthy(6)),
            1 => ev.extend(p.healthy(120)),
            2 => {
                ev.push(p.create(0));
                ev.push(p.op(20_000, &["schedule:binding:success"]));
                ev.push(p.event(
                    2 * S,
                    "Warning",
                    "Failed",
                    "Failed to pull image \"r/x:1\": not found",
                ));
                ev.push(p.op_secs(3 * S, &["containerState:app:Waiting:ErrImagePull"]));
            }
            3 => {
                ev.push(p.create(0));
                ev.push(p.event(
                    S,
                    "Warning",
                    "FailedScheduling",
                    "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: gpu}.",
                ));
            }
            4 => {
                ev.extend(p.healthy(5));
                ev.push(p.op(50 * S, &["pod:delete:success"]));
                ev.push(p.event(
                    50 * S + 100_000,
                    "Normal",
                    "Killing",
                    "Stopping container app",
                ));
                ev.push(p.op(52 * S, &["pod:deleted:success"]));
            }
            _ => {
                ev.push(p.create(0));
                ev.push(p.op(10_000, &["schedule:binding:success"]));
                ev.push(p.op(4 * S, &["pod:delete:success"]));
            }
        }
    }
    ev
}

fn canonical(out: &[lunettes_schemas::Output]) -> Vec<String> {
    let mut v: Vec<String> = out
        .iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn output_is_independent_of_order_within_lateness(seed in 0u64..1000, jitter in proptest::collection::vec(0i64..29_000_000, 80)) {
        let ordered = sorted(population(seed));
        let mut shuffled: Vec<(i64, usize, HyperEvent)> = ordered
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, e)| (e.time_us + jitter[i % jitter.len()], i, e))
            .collect();
        // Arrival = time + jitter (< lateness 30 s): every event arrives
        // before the watermark passes its time.
        shuffled.sort_by_key(|(k, i, _)| (*k, *i));
        let shuffled: Vec<HyperEvent> = shuffled.into_iter().map(|(_, _, e)| e).collect();
        let a = run(EngineConfig::default(), &ordered);
        let b = run(EngineConfig::default(), &shuffled);
        prop_assert_eq!(canonical(&a), canonical(&b));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// `process_batch` (which looks pods up ahead of processing them) gives
    /// exactly the outputs of `process` per event, in the same order,
    /// including when pods retire and their slots are reused inside a batch
    /// (a short give-up horizon over a long population).
    #[test]
    fn process_batch_equals_process_per_event(seed in 0u64..1000, jitter in proptest::collection::vec(0i64..29_000_000, 80), short_horizon: bool) {
        let mut events: Vec<(i64, usize, HyperEvent)> = Vec::new();
        for round in 0..4u64 {
            for e in population(seed + round) {
                let mut e = e;
                e.time_us += round as i64 * 600 * S;
                if !e.object.uid.is_empty() {
                    e.object.uid = format!("{}-r{round}", e.object.uid);
                }
                let i = events.len();
                events.push((e.time_us + jitter[i % jitter.len()], i, e));
            }
        }
        events.sort_by_key(|(k, i, _)| (*k, *i));
        let events: Vec<HyperEvent> = events.into_iter().map(|(_, _, e)| e).collect();
        let cfg = || EngineConfig {
            give_up_us: if short_horizon { 120 * S } else { EngineConfig::default().give_up_us },
            emit_spans: true,
            ..Default::default()
        };
        let per_event = run(cfg(), &events);
        let mut engine = lunettes_processor::Engine::new(cfg());
        let mut batched = Vec::new();
        engine.process_batch(&events, &mut batched);
        engine.finish(&mut batched);
        let json = |out: &[lunettes_schemas::Output]| -> Vec<String> {
            out.iter().map(|o| serde_json::to_string(o).unwrap()).collect()
        };
        prop_assert!(!per_event.is_empty());
        prop_assert_eq!(json(&per_event), json(&batched));
    }
}
