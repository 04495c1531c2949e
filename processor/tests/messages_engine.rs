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
#[path = "support/messages.rs"]
mod support;

use common::{deliveries, Pod, S, T0};
use lunettes_processor::diagnosis::{family_of, infer_api_status, Code, StateKind};
use lunettes_processor::{Engine, EngineConfig};
use lunettes_schemas::{Action, DeliveryResult, HyperEvent, Output};
use support::{load, parse_described, Line};

/// The container-state operations a `kubectl describe` excerpt shows:
/// `State:`/`Last State:` blocks with `Reason:` and `Exit Code:`, or the
/// short `Reason: message` / `message: Reason` forms (a waiting reason).
fn state_ops(text: &str) -> Vec<String> {
    parse_described(text)
        .into_iter()
        .filter(|s| !s.reason.is_empty())
        .map(|s| {
            // An exit code only exists for a terminated state, whatever the
            // excerpt's `State:` line said.
            if s.kind == Some(StateKind::Terminated) || s.exit_code.is_some() {
                format!(
                    "containerState:app:terminated:{};exitCode:{}",
                    s.reason,
                    s.exit_code.unwrap_or(1)
                )
            } else {
                format!("containerState:app:Waiting:{}", s.reason)
            }
        })
        .collect()
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
