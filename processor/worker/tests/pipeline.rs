//! Simulator -> HyperEvents published as collectors do -> real broker ->
//! processor -> output topics. The outputs are exactly what the engine emits
//! when run directly on each partition's records, and the final deliveries
//! equal one engine run over the whole input (what `lunettes analyze` does).
//! A record that is not a HyperEvent goes to the dead-letter topic. A replay
//! of a time range then writes exactly the live outputs of that range.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use lunettes_runtime::Shutdown;
use lunettes_schemas::DeadLetter;
use lunettes_schemas::Output;
use lunettes_worker::processor::{run, Control, ProcessorConfig};
use lunettes_worker::replay::{self, ReplayConfig};
use lunettes_worker::WorkerMetrics;

const PARTITIONS: i32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processor_outputs_equal_the_engine_run_directly_and_replay_reproduces_them() {
    let (broker, _dir) = broker();
    let kafka = kafka_config(&broker, "e2e", PARTITIONS);
    let events = sim_hyperevents(2, 600, 1.0, 10_000_000);
    publish(&kafka, &events[..events.len() / 2], PARTITIONS).await;
    // A record that is not a HyperEvent, among the others on partition 0.
    let producer = kafka.producer("test-garbage").unwrap();
    let garbage_offset = producer
        .send(
            rdkafka::producer::FutureRecord::to(&kafka.topics.hyperevents.name)
                .partition(0)
                .key("garbage")
                .payload("{\"not\": \"avro\"}"),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .offset;
    publish(&kafka, &events[events.len() / 2..], PARTITIONS).await;

    let registry = prometheus::Registry::new();
    let metrics = WorkerMetrics::register(&registry).unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let control = Control::graceful(shutdown);
    let cfg = ProcessorConfig::new(kafka.clone(), "e2e-processors");
    let worker = {
        let (cfg, control, metrics) = (cfg.clone(), control.clone(), metrics.clone());
        std::thread::spawn(move || run(&cfg, engine, metrics, &control, None))
    };
    wait_caught_up(
        &kafka,
        "e2e-processors",
        PARTITIONS,
        Duration::from_secs(180),
    );
    trigger.trigger();
    let run_summary = worker.join().unwrap().expect("processor ran cleanly");
    assert!(!run_summary.crashed);

    let input = read_topic(&kafka, &kafka.topics.hyperevents.name, PARTITIONS);
    let expected = expected_outputs(&input);
    let actual = actual_outputs(&kafka, output_names(&kafka), PARTITIONS, Some(false));
    assert_same_outputs(&actual, &expected);

    // Output keys are the deterministic ids; no id+version appears twice.
    let written = deliveries(&actual);
    assert!(written.len() > 500, "only {} deliveries", written.len());
    let mut seen = std::collections::HashSet::new();
    for d in &written {
        assert!(
            seen.insert((d.id.clone(), d.version)),
            "{} v{} twice",
            d.id,
            d.version
        );
    }

    // The same deliveries as one engine over the whole input.
    let latest = |ds: Vec<lunettes_schemas::Delivery>| {
        let mut m: BTreeMap<String, lunettes_schemas::Delivery> = BTreeMap::new();
        for d in ds {
            if m.get(&d.id).is_none_or(|old| old.version < d.version) {
                m.insert(d.id.clone(), d);
            }
        }
        m
    };
    let direct: Vec<_> = single_engine_outputs(&events)
        .into_iter()
        .filter_map(|o| match o {
            Output::Delivery(d) => Some(d),
            _ => None,
        })
        .collect();
    let (got, want) = (latest(written), latest(direct));
    assert_eq!(got.len(), want.len(), "delivery count");
    let mut differing = Vec::new();
    for (id, w) in &want {
        let g = got
            .get(id)
            .expect("every delivery of the direct run is written");
        if without_repeat_count(g) != without_repeat_count(w) {
            let fields = field_differences(g, w);
            differing.push(format!("{id} ({}/{}): {fields}", w.namespace, w.name));
        }
    }
    assert!(
        differing.is_empty(),
        "{} of {} deliveries differ from the direct run:\n{}",
        differing.len(),
        want.len(),
        differing.join("\n")
    );

    // Metrics saw what was written.
    let text = {
        use prometheus::Encoder;
        let mut buf = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    };
    assert!(
        text.contains("lunettes_pod_startup_result_total{"),
        "{text}"
    );
    assert!(text.contains("lunettes_pod_startup_sli_seconds_bucket{cluster=\"sim-1\",le=\"0.5\"}"));
    let live = metrics.hyperevents.with_label_values(&["live"]).get();
    assert_eq!(
        live as usize + 1,
        input.values().map(Vec::len).sum::<usize>()
    );

    // The bad record went to the dead-letter topic, and nothing else did.
    assert_eq!(metrics.rejected.get(), 1);
    let letters: Vec<DeadLetter> = read_topic(&kafka, &kafka.topics.dead_letter.name, 6)
        .into_values()
        .flatten()
        .map(|r| lunettes_schemas::avro::decode(&r.payload).unwrap())
        .collect();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].line, Some(garbage_offset));
    assert_eq!(
        letters[0].input,
        format!("kafka:{}[0]", kafka.topics.hyperevents.name)
    );
    assert!(
        letters[0].reason.contains("not a HyperEvent"),
        "{}",
        letters[0].reason
    );

    // Replay of the later part of the time range into prefixed topics: exactly
    // the live outputs of the inputs in that range.
    let times: Vec<i64> = events
        .iter()
        .filter(|(_, watermark)| !watermark)
        .map(|(e, _)| e.observed_us / 1000)
        .collect();
    let (first_ms, last_ms) = (times[0], times[times.len() - 1]);
    // [40%, 80%) of the event-time range, then from 30% to the end of the
    // topic as it is when the replay starts (no --to, final watermarks
    // included).
    let span = last_ms - first_ms;
    let ranges = [
        (
            "replay-a.",
            first_ms + span * 4 / 10,
            Some(first_ms + span * 8 / 10),
        ),
        ("replay-b.", first_ms + span * 3 / 10, None),
    ];
    for (prefix, from_ms, to_ms) in ranges {
        let mut rcfg = ReplayConfig::new(kafka.clone(), from_ms, to_ms);
        rcfg.topic_prefix = prefix.into();
        rcfg.batch_records = 700;
        let mut reports = Vec::new();
        let (_trigger, never) = Shutdown::new();
        let summary = replay::run(&rcfg, engine, &never, &mut |p| reports.push(*p)).unwrap();
        assert!(!summary.interrupted);
        let last = reports.last().unwrap();
        assert_eq!(last.done, last.total);
        assert!(reports.len() > 2, "progress reported along the way");
        let names = output_names(&kafka).map(|n| format!("{prefix}{n}"));
        let replayed = actual_outputs(
            &kafka,
            [&names[0], &names[1], &names[2]],
            PARTITIONS,
            Some(true),
        );
        let mut live_in_range = actual.clone();
        for by_partition in live_in_range.iter_mut() {
            for (p, outs) in by_partition.iter_mut() {
                let r = summary.ranges.iter().find(|r| r.partition == *p).unwrap();
                outs.retain(|(pos, _, _)| pos.offset >= r.from && pos.offset < r.end);
            }
            by_partition.retain(|_, v| !v.is_empty());
        }
        assert_same_outputs(&replayed, &live_in_range);
        // Verdicts wait for the watermark to pass their deadline or Ready
        // time plus lateness, so a range holds fewer verdicts than pods; it
        // must still hold outputs of each kind.
        let counts: Vec<usize> = replayed
            .iter()
            .map(|m| m.values().map(Vec::len).sum())
            .collect();
        eprintln!("{prefix} outputs (deliveries, spans, windows): {counts:?}");
        assert!(counts.iter().all(|n| *n > 0), "{counts:?}");
    }
}

/// Names the fields where two deliveries differ, with both values.
fn field_differences(a: &lunettes_schemas::Delivery, b: &lunettes_schemas::Delivery) -> String {
    let (ja, jb) = (
        serde_json::to_value(a).unwrap(),
        serde_json::to_value(b).unwrap(),
    );
    let (Some(ma), Some(mb)) = (ja.as_object(), jb.as_object()) else {
        return String::new();
    };
    ma.iter()
        .filter(|(k, v)| mb.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: {v} vs {}", mb[k]))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The delivery with the "(seen N times)" repeat count cut from its summary.
///
/// Known engine limitation (reported): the count is the highest Event
/// `count` received before the verdict fired, not the highest with a time at
/// or before the decision, so a partition whose clock advances later (fewer
/// pods moving it) can count one or two more repeats of the same message.
/// Every other field, including the rest of the summary, must be equal.
fn without_repeat_count(d: &lunettes_schemas::Delivery) -> lunettes_schemas::Delivery {
    let mut d = d.clone();
    if let Some(start) = d.summary.find(" (seen ") {
        if let Some(len) = d.summary[start..].find(" times)") {
            d.summary
                .replace_range(start..start + len + " times)".len(), "");
        }
    }
    d
}
