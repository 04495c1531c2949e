//! Keeps `docs/diagnosis-codes.md` honest: every code, family and advice text
//! must appear in it verbatim, and every machine-readable example line
//! (`- **Example**: event|api|waiting|terminated[-init] `X`: `message``) must
//! classify to the code of the section it sits in. A rule change that breaks
//! a documented example fails here.

use super::*;

fn doc() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/diagnosis-codes.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[test]
fn every_code_family_and_advice_is_documented() {
    let doc = doc();
    let mut codes = Code::catalog();
    codes.push(Code::gate_not_ready("example.com/gate"));
    for reason in [
        SchedReason::InsufficientCpu,
        SchedReason::Taint,
        SchedReason::NodeAffinity,
        SchedReason::PodAffinity,
        SchedReason::TopologySpread,
        SchedReason::UnboundPvc,
        SchedReason::VolumeBinding,
        SchedReason::TooManyPods,
        SchedReason::NodePorts,
        SchedReason::Unschedulable,
        SchedReason::Other,
    ] {
        codes.push(Code::FailedScheduling(reason));
    }
    for code in codes {
        let name = match code {
            Code::GateNotReady(_) => "<Gate>_NotReady",
            _ => code.as_str(),
        };
        assert!(
            doc.contains(&format!("`{name}`")),
            "{name} is not documented"
        );
        assert!(
            doc.contains(code.family().label()),
            "family {} of {name} is not documented",
            code.family()
        );
        assert!(
            doc.contains(code.advice()),
            "advice of {name} differs from the docs: {}",
            code.advice()
        );
    }
}

/// The section code a line belongs to: the last "### `X`" heading above it.
fn examples(doc: &str) -> Vec<(String, String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in doc.lines() {
        if let Some(head) = line.strip_prefix("### `") {
            section = head.trim_end_matches('`').to_string();
        } else if let Some(rest) = line.strip_prefix("- **Example**: ") {
            let (kind, rest) = rest.split_once(" `").expect("example kind");
            let (key, rest) = rest.split_once("`: `").expect("example key");
            let message = rest
                .strip_suffix('`')
                .expect("example message in backticks");
            out.push((
                section.clone(),
                kind.to_string(),
                key.to_string(),
                message.to_string(),
            ));
        }
    }
    out
}

#[test]
fn documented_examples_classify_to_their_code() {
    let doc = doc();
    let examples = examples(&doc);
    assert!(
        examples.len() >= 40,
        "expected an example per message-based code, got {}",
        examples.len()
    );
    for (section, kind, key, message) in examples {
        let finding = match kind.as_str() {
            "event" => classify_event(&key, &message),
            "api" => Some(classify_api_failure(
                key.parse().expect("api status"),
                &message,
            )),
            "waiting" | "waiting-init" => classify_container_state(
                StateKind::Waiting,
                &key,
                &message,
                None,
                kind.ends_with("-init"),
            ),
            "terminated" | "terminated-init" => classify_container_state(
                StateKind::Terminated,
                &key,
                &message,
                Some(1),
                kind.ends_with("-init"),
            ),
            other => panic!("unknown example kind {other} in section {section}"),
        };
        let got = finding.as_ref().map_or("None", |f| f.code.as_str());
        assert_eq!(
            got, section,
            "example of {section} ({kind} {key}: {message}) classifies as {got}"
        );
    }
}
