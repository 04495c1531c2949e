//! The real-message dataset (`shared/data/event-messages/messages.jsonl`)
//! through the whole engine, not only the classifier (`messages.rs`): for
//! every labelled line a pending pod is created (and bound, unless the line
//! is the scheduler's), receives the line the way the engine would see it,
//! and is judged when its 90 s deadline passes. The verdict's code must land
//! in the labelled family for >= 95% of the lines.
//!
//! How a line reaches the engine:
//! - an Event (`reason`, `message`, `type`) about the pod, 5 s after creation;
//! - `containerStatus` (a `kubectl describe` excerpt): the container states
//!   it shows, as the status-patch operations the normalizer emits
//!   (`containerState:app:Waiting:<reason>`,
//!   `containerState:app:terminated:<reason>;exitCode:<n>`); operations carry
//!   no message, exactly as in production;
//! - `FailedCreate` "Error creating: <status>": the create itself is rejected
//!   (`pod:create:failed` with the HTTP status the text implies), so the
//!   verdict is `api_failed`.
//!
//! Lines labelled `Other` (context events, kubelet admission) are skipped.

mod common;

use std::path::PathBuf;

use common::{deliveries, Pod, S, T0};
use lunettes_processor::diagnosis::{family_of, infer_api_status, Code};
use lunettes_processor::{Engine, EngineConfig};
use lunettes_schemas::{Action, DeliveryResult, HyperEvent, Output};

/// One labelled line.
struct Line {
    reason: String,
    type_: String,
    message: String,
    category: String,
}

fn dataset_path() -> PathBuf {
    if let Ok(dir) = std::env::var("LUNETTES_SHARED_DATA") {
        return PathBuf::from(dir).join("event-messages/messages.jsonl");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/event-messages/messages.jsonl")
}

fn load() -> Vec<Line> {
    let path = dataset_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} (set LUNETTES_SHARED_DATA to the data dir): {e}",
            path.display()
        )
    });
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: bad JSON: {e}", path.display(), i + 1));
            let field = |k: &str| {
                v[k].as_str()
                    .unwrap_or_else(|| panic!("line {}: no string field {k}", i + 1))
                    .to_string()
            };
            Line {
                reason: field("reason"),
                type_: field("type"),
                message: field("message"),
                category: field("category"),
            }
        })
        .collect()
}

fn is_reason_token(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The container-state operations a `kubectl describe` excerpt shows:
/// `State:`/`Last State:` blocks with `Reason:` and `Exit Code:`, or the
/// short `Reason: message` / `message: Reason` forms (a waiting reason).
fn state_ops(text: &str) -> Vec<String> {
    let mut ops = Vec::new();
    if text.contains("Reason:") {
        // (terminated, reason, exit code) per block.
        let mut blocks: Vec<(bool, String, Option<i32>)> = Vec::new();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "State" | "Last State" => {
                    blocks.push((value.starts_with("Terminated"), String::new(), None))
                }
                "Reason" | "Exit Code" => {
                    if blocks.is_empty() {
                        blocks.push((false, String::new(), None));
                    }
                    let b = blocks.last_mut().expect("pushed above");
                    if key == "Reason" {
                        b.1 = value.to_string();
                    } else {
                        b.2 = value.parse().ok();
                        b.0 = true;
                    }
                }
                _ => {}
            }
        }
        for (terminated, reason, exit) in blocks {
            if reason.is_empty() {
                continue;
            }
            ops.push(if terminated {
                format!(
                    "containerState:app:terminated:{reason};exitCode:{}",
                    exit.unwrap_or(1)
                )
            } else {
                format!("containerState:app:Waiting:{reason}")
            });
        }
        return ops;
    }
    let trimmed = text.trim();
    let reason = match trimmed.split_once(": ") {
        Some((head, _)) if is_reason_token(head) => Some(head),
        _ => trimmed
            .rsplit_once(": ")
            .map(|(_, tail)| tail)
            .filter(|t| is_reason_token(t)),
    };
    if let Some(r) = reason {
        ops.push(format!("containerState:app:Waiting:{r}"));
    }
    ops
}

/// The HyperEvents of a pending pod carrying `line`.
fn pod_events(i: usize, line: &Line) -> Vec<HyperEvent> {
    let p = Pod::new(&format!("msg-{i}"), T0 + i as i64 * 1000 * S);
    if line.reason == "FailedCreate" && line.message.trim_start().starts_with("Error creating:") {
        let status = line
            .message
            .trim_start()
            .trim_start_matches("Error creating:")
            .trim();
        let mut e = p.op(0, &["pod:create:failed"]);
        e.verb = "create".into();
        e.object.uid.clear();
        e.response_code = Some(infer_api_status(status));
        e.response_message = status.to_string();
        return vec![e];
    }
    let mut v = vec![p.create(0)];
    let scheduler_line = line.reason == "FailedScheduling";
    if !scheduler_line {
        v.push(p.op(50_000, &["schedule:binding:success"]));
    }
    if line.reason == "containerStatus" {
        let ops = state_ops(&line.message);
        let ops: Vec<&str> = ops.iter().map(String::as_str).collect();
        v.push(p.op_secs(5 * S, &ops));
    } else {
        let mut e = p.event(5 * S, &line.type_, &line.reason, &line.message);
        if line.reason == "FailedScheduling" {
            if let Some(ev) = e.event.as_mut() {
                ev.component = "default-scheduler".into();
                ev.host.clear();
            }
        }
        v.push(e);
    }
    v
}

fn short(s: &str) -> String {
    s.chars().take(100).collect::<String>().replace('\n', " ")
}

#[test]
fn a_pending_pod_carrying_each_labelled_message_is_diagnosed_in_its_family() {
    let lines = load();
    let labelled: Vec<(usize, &Line)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.category != "Other")
        .collect();
    assert!(
        labelled.len() >= 100,
        "got {} labelled lines",
        labelled.len()
    );
    let mut misses = Vec::new();
    for (i, line) in &labelled {
        let events = pod_events(*i, line);
        let start = events[0].time_us;
        let mut engine = Engine::new(EngineConfig {
            emit_spans: false,
            ..Default::default()
        });
        let mut out: Vec<Output> = Vec::new();
        for e in &events {
            engine.process(e, &mut out);
        }
        // The clock passes the 90 s deadline with no further event for the pod.
        engine.tick("c1", start + 120 * S, &mut out);
        let creates: Vec<_> = deliveries(&out)
            .into_iter()
            .filter(|d| d.action == Action::Create)
            .collect();
        assert_eq!(creates.len(), 1, "line {i}: {creates:?}");
        let d = creates[0];
        assert!(
            matches!(d.result, DeliveryResult::Fail | DeliveryResult::ApiFailed),
            "line {i}: {} {} ({})",
            d.result.as_str(),
            d.code,
            d.summary
        );
        assert!(!d.summary.is_empty());
        let family = Code::parse_with_sub_reason(&d.code, Some(&d.sub_reason))
            .map(|c| family_of(&c).label())
            .unwrap_or("unparsable code");
        if family != line.category {
            misses.push(format!(
                "  want {:<38} got {family:<38} ({} {}) [{}] {}",
                line.category,
                d.code,
                d.sub_reason,
                line.reason,
                short(&line.message)
            ));
        }
    }
    let hits = labelled.len() - misses.len();
    let rate = hits as f64 / labelled.len() as f64;
    println!(
        "engine family accuracy: {hits}/{} = {:.1}%",
        labelled.len(),
        rate * 100.0
    );
    for m in &misses {
        println!("{m}");
    }
    assert!(
        rate >= 0.95,
        "accuracy {:.1}% below 95%; misses:\n{}",
        rate * 100.0,
        misses.join("\n")
    );
}

#[test]
fn describe_excerpts_become_state_operations() {
    let ops = state_ops(
        "State:          Waiting\n      Reason:       CrashLoopBackOff\n    Last State:     Terminated\n      Reason:       Error\n      Exit Code:    1",
    );
    assert_eq!(
        ops,
        [
            "containerState:app:Waiting:CrashLoopBackOff",
            "containerState:app:terminated:Error;exitCode:1"
        ]
    );
    assert_eq!(
        state_ops("CreateContainerConfigError: secret \"x\" not found"),
        ["containerState:app:Waiting:CreateContainerConfigError"]
    );
    assert!(state_ops("nothing to see").is_empty());
}
