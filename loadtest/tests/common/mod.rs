//! Helpers shared by the simulator's integration tests.
#![allow(dead_code)]

use lunettes_schemas::time::parse_rfc3339;
use serde_json::Value;

/// Parses an RFC 3339 time, failing the test with the offending text.
pub fn us(s: &str) -> i64 {
    parse_rfc3339(s)
        .unwrap_or_else(|| panic!("bad time {s:?}"))
        .0
}

/// True when `s` has exactly six fractional digits (`...:58.638469Z`).
pub fn is_micros(s: &str) -> bool {
    s.len() == 27 && s.as_bytes()[19] == b'.' && s.ends_with('Z')
}

/// True when `s` is whole seconds (`...:58Z`).
pub fn is_secs(s: &str) -> bool {
    s.len() == 20 && s.ends_with('Z') && parse_rfc3339(s).is_some_and(|(_, frac)| !frac)
}

/// Parses a JSON line, failing the test with the line number.
pub fn parse(line: &str, what: &str, n: usize) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{what} line {n}: {e}: {line:.200}"))
}

/// The pod uid an audit record is about, if any.
pub fn audit_pod_uid(v: &Value) -> Option<String> {
    let r = &v["objectRef"];
    match r["resource"].as_str()? {
        "pods" => r["uid"]
            .as_str()
            .or_else(|| v["responseObject"]["metadata"]["uid"].as_str())
            .map(str::to_string),
        "events" => {
            let r = &v["responseObject"];
            let about = if r["involvedObject"].is_object() {
                &r["involvedObject"]
            } else {
                &r["regarding"]
            };
            (about["kind"] == "Pod").then(|| about["uid"].as_str().map(str::to_string))?
        }
        _ => None,
    }
}
