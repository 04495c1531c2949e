//! The real-message dataset (`shared/data/event-messages/messages.jsonl`)
//! and the parsing of its `kubectl describe` excerpts, shared by the
//! classifier-level (`messages.rs`) and engine-level (`messages_engine.rs`)
//! tests so both read the lines the same way.
//!
//! Included with `#[path]` by each test crate; each uses a subset of it.
#![allow(dead_code)]

use std::path::PathBuf;

use lunettes_processor::diagnosis::StateKind;

/// One labelled line.
pub struct Line {
    pub reason: String,
    pub type_: String,
    pub message: String,
    pub category: String,
}

fn dataset_path() -> PathBuf {
    if let Ok(dir) = std::env::var("LUNETTES_SHARED_DATA") {
        return PathBuf::from(dir).join("event-messages/messages.jsonl");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/event-messages/messages.jsonl")
}

pub fn load() -> Vec<Line> {
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

/// One container state read back from `kubectl describe` text.
#[derive(Default)]
pub struct DescribedState {
    pub kind: Option<StateKind>,
    pub reason: String,
    pub message: String,
    pub exit_code: Option<i32>,
}

/// Parses `State: Waiting / Reason: X / Last State: Terminated / Reason: Y /
/// Exit Code: N` blocks, or the short `Reason: message` / `message: Reason` forms.
pub fn parse_described(text: &str) -> Vec<DescribedState> {
    let mut states: Vec<DescribedState> = Vec::new();
    if text.contains("Reason:") {
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "State" | "Last State" => states.push(DescribedState {
                    kind: Some(if value.starts_with("Terminated") {
                        StateKind::Terminated
                    } else {
                        StateKind::Waiting
                    }),
                    ..Default::default()
                }),
                "Reason" | "Message" | "Exit Code" => {
                    if states.is_empty() {
                        states.push(DescribedState::default());
                    }
                    let state = states.last_mut().expect("pushed above");
                    match key {
                        "Reason" => state.reason = value.to_string(),
                        "Message" => state.message = value.to_string(),
                        _ => state.exit_code = value.parse().ok(),
                    }
                }
                _ => {}
            }
        }
        return states;
    }
    let trimmed = text.trim();
    if let Some((head, rest)) = trimmed.split_once(": ") {
        if is_reason_token(head) {
            return vec![DescribedState {
                kind: Some(StateKind::Waiting),
                reason: head.to_string(),
                message: rest.to_string(),
                exit_code: None,
            }];
        }
    }
    if let Some((_, tail)) = trimmed.rsplit_once(": ") {
        if is_reason_token(tail) {
            return vec![DescribedState {
                kind: Some(StateKind::Waiting),
                reason: tail.to_string(),
                message: trimmed.to_string(),
                exit_code: None,
            }];
        }
    }
    Vec::new()
}

fn is_reason_token(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
}
