//! The pod timeline: which events are errors, where the silences are, and
//! where the create phases sit in time.
//!
//! Pure functions over rows already read, so the rules are unit-tested
//! without a database. The gap threshold (25 s) is the original's: a pod
//! that produced no event for that long was waiting on something, and the
//! entry after the gap usually says on what.

use lunettes_schemas::time::format_rfc3339_micros;

use crate::model::{Phase, Timeline, TimelineEvent};
use crate::store::{DeliveryRow, EventRow};

/// A silence longer than this between two events is flagged, ms.
pub const GAP_THRESHOLD_MS: i64 = 25_000;

/// Waiting reasons that are normal progress, not trouble.
const BENIGN_WAITING: &[&str] = &["ContainerCreating", "PodInitializing"];

/// Whether an event reports a problem: a Warning event, a failed request
/// (HTTP >= 400 or a `:failed` operation), a container waiting for a reason
/// other than normal start-up, a container that exited non-zero, or the
/// scheduler saying no.
pub fn is_error(e: &EventRow) -> bool {
    e.event_type == "Warning"
        || e.response_code.is_some_and(|c| c >= 400)
        || e.operations.iter().any(|op| is_error_operation(op))
}

fn is_error_operation(op: &str) -> bool {
    if op.ends_with(":failed") || op == "condition:PodScheduled:false" {
        return true;
    }
    let Some(rest) = op
        .strip_prefix("containerState:")
        .or_else(|| op.strip_prefix("initContainerState:"))
    else {
        return false;
    };
    // rest = "<container>:Waiting:<reason>" or "<container>:terminated:<reason>;exitCode:<n>"
    if let Some((_, reason)) = rest.split_once(":Waiting:") {
        return !BENIGN_WAITING.contains(&reason);
    }
    if let Some((_, tail)) = rest.split_once(":terminated:") {
        return tail
            .rsplit_once("exitCode:")
            .is_some_and(|(_, code)| code.trim() != "0");
    }
    false
}

/// Builds the timeline from a pod's events (oldest first). Gaps are measured
/// over all events, then `errors_only` keeps the error entries (each keeps
/// the gap before it in the full timeline). Identical records at the same
/// instant (different audit records repeating one fact) become one entry
/// with `repeats`.
pub fn build(rows: &[EventRow], errors_only: bool, truncated: bool) -> Timeline {
    let mut events: Vec<TimelineEvent> = Vec::with_capacity(rows.len());
    let mut prev: Option<i64> = None;
    let (mut errors, mut gaps) = (0, 0);
    // Index in `events` where the entries of the current timestamp start:
    // identical records at one instant are listed once, with a count.
    let mut same_time_from = 0;
    for r in rows {
        let gap_before_ms = prev.map(|p| (r.time_us - p) / 1_000);
        if prev != Some(r.time_us) {
            same_time_from = events.len();
        }
        prev = Some(r.time_us);
        let gap = gap_before_ms.is_some_and(|g| g > GAP_THRESHOLD_MS);
        let error = is_error(r);
        errors += usize::from(error);
        gaps += usize::from(gap);
        if errors_only && !error {
            continue;
        }
        if let Some(e) = events[same_time_from..]
            .iter_mut()
            .find(|e| same_fact(e, r))
        {
            e.repeats += 1;
            continue;
        }
        events.push(TimelineEvent {
            time: format_rfc3339_micros(r.time_us),
            source: r.source.clone(),
            kind: r.kind.clone(),
            resource: r.resource.clone(),
            operations: r.operations.clone(),
            event_type: r.event_type.clone(),
            reason: r.reason.clone(),
            message: r.message.clone(),
            count: r.count,
            component: r.component.clone(),
            host: r.host.clone(),
            verb: r.verb.clone(),
            user: r.user.clone(),
            response_code: r.response_code,
            response_message: r.response_message.clone(),
            error,
            repeats: 1,
            gap_before_ms,
            gap,
        });
    }
    Timeline {
        errors_only,
        total: rows.len(),
        errors,
        gaps,
        gap_threshold_ms: GAP_THRESHOLD_MS,
        truncated,
        events,
    }
}

/// Whether `r` says the same as the listed entry `e` (same instant assumed).
fn same_fact(e: &TimelineEvent, r: &EventRow) -> bool {
    e.source == r.source
        && e.kind == r.kind
        && e.resource == r.resource
        && e.operations == r.operations
        && e.event_type == r.event_type
        && e.reason == r.reason
        && e.message == r.message
        && e.count == r.count
        && e.verb == r.verb
        && e.response_code == r.response_code
        && e.response_message == r.response_message
}

/// Image references named in an event message (`Pulling image "x"`,
/// `Successfully pulled image "x" ...`, `Container image "x" already present`).
pub fn images_in_message(message: &str) -> impl Iterator<Item = &str> {
    message
        .match_indices("image \"")
        .filter_map(move |(i, pat)| {
            let rest = &message[i + pat.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .filter(|s| !s.is_empty())
}

/// Places the create phases of a verdict in time.
///
/// Schedule starts at creation and sandbox follows it (both exact: they are
/// bounded by creation, binding and the first kubelet activity). Readiness
/// ends at completion when the pod completed (exact). Image pulls, init
/// containers and container start share the interval between first kubelet
/// activity and all containers started; their durations are exact, their
/// order inside it is not (pulls may interleave), so they are laid end to end
/// and marked `exact: false`. A delivery that did not complete gets an
/// `unfinished` phase from the last known phase to its verdict.
pub fn phases(d: &DeliveryRow) -> Vec<Phase> {
    let ms = |v: Option<i64>| v.filter(|x| *x >= 0);
    let mut out = Vec::new();
    let push = |name: &str, start: i64, dur_ms: i64, exact: bool, out: &mut Vec<Phase>| {
        out.push(Phase {
            name: name.to_string(),
            start: format_rfc3339_micros(start),
            end: format_rfc3339_micros(start + dur_ms * 1_000),
            duration_ms: dur_ms,
            exact,
        });
        start + dur_ms * 1_000
    };
    if d.action != "create" {
        return out;
    }
    let mut t = d.created_at;
    for (name, v) in [("schedule", d.schedule_ms), ("sandbox", d.sandbox_ms)] {
        if let Some(v) = ms(v) {
            t = push(name, t, v, true, &mut out);
        }
    }
    for (name, v) in [
        ("image_pull", d.image_pull_ms),
        ("init", d.init_ms),
        ("container_start", d.container_start_ms),
    ] {
        if let Some(v) = ms(v) {
            t = push(name, t, v, false, &mut out);
        }
    }
    if let Some(v) = ms(d.readiness_ms) {
        let start = match d.finished_at {
            Some(f) if f - v * 1_000 >= d.created_at => f - v * 1_000,
            _ => t,
        };
        t = push("readiness", start, v, d.finished_at.is_some(), &mut out);
    }
    if d.finished_at.is_none() && d.decided_at > t {
        push("unfinished", t, (d.decided_at - t) / 1_000, true, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(time_s: i64, ops: &[&str], event_type: &str, code: Option<i32>) -> EventRow {
        EventRow {
            time_us: time_s * 1_000_000,
            pod_uid: "u".into(),
            source: "audit".into(),
            kind: "operation".into(),
            resource: "pods".into(),
            operations: ops.iter().map(|s| s.to_string()).collect(),
            event_type: event_type.into(),
            reason: String::new(),
            message: String::new(),
            count: 1,
            component: String::new(),
            host: String::new(),
            user: String::new(),
            verb: String::new(),
            response_code: code,
            response_message: String::new(),
            node: String::new(),
            pod_phase: String::new(),
            owner_kind: String::new(),
            owner_name: String::new(),
        }
    }

    #[test]
    fn error_rules() {
        assert!(is_error(&ev(0, &[], "Warning", None)));
        assert!(!is_error(&ev(0, &[], "Normal", None)));
        assert!(is_error(&ev(0, &["pod:create:failed"], "", Some(403))));
        assert!(is_error(&ev(0, &[], "", Some(500))));
        assert!(!is_error(&ev(0, &["pod:create:success"], "", Some(201))));
        assert!(is_error(&ev(
            0,
            &["containerState:app:Waiting:ImagePullBackOff"],
            "",
            None
        )));
        assert!(!is_error(&ev(
            0,
            &["containerState:app:Waiting:ContainerCreating"],
            "",
            None
        )));
        assert!(is_error(&ev(
            0,
            &["containerState:app:terminated:Error;exitCode:1"],
            "",
            None
        )));
        assert!(!is_error(&ev(
            0,
            &["initContainerState:i:terminated:Completed;exitCode:0"],
            "",
            None
        )));
        assert!(is_error(&ev(
            0,
            &["condition:PodScheduled:false"],
            "",
            None
        )));
        assert!(!is_error(&ev(0, &["condition:Ready:true"], "", None)));
    }

    #[test]
    fn gaps_are_measured_before_filtering() {
        let rows = vec![
            ev(0, &["pod:create:success"], "", Some(201)),
            ev(10, &[], "Normal", None),
            ev(40, &[], "Warning", None),
            ev(41, &[], "Normal", None),
            ev(100, &[], "Normal", None),
        ];
        let all = build(&rows, false, false);
        assert_eq!(all.total, 5);
        assert_eq!(all.events.len(), 5);
        assert_eq!(all.gaps, 2);
        assert_eq!(all.errors, 1);
        assert_eq!(all.events[0].gap_before_ms, None);
        assert_eq!(all.events[2].gap_before_ms, Some(30_000));
        assert!(all.events[2].gap && !all.events[1].gap && all.events[4].gap);
        let errs = build(&rows, true, false);
        assert_eq!(errs.events.len(), 1);
        assert_eq!(errs.total, 5);
        assert!(errs.events[0].gap && errs.events[0].error);
    }

    #[test]
    fn identical_records_at_one_instant_are_listed_once() {
        let running = ["containerState:app:Running"];
        let rows = vec![
            ev(3, &running, "", Some(200)),
            ev(3, &[], "Normal", None),
            ev(3, &running, "", Some(200)),
            ev(3, &running, "", Some(200)),
            ev(4, &running, "", Some(200)),
        ];
        let t = build(&rows, false, false);
        assert_eq!(t.total, 5);
        assert_eq!(t.events.len(), 3);
        assert_eq!(t.events[0].repeats, 3);
        assert_eq!(t.events[1].repeats, 1);
        assert_eq!(t.events[2].repeats, 1, "a later instant is a new entry");
    }

    #[test]
    fn images_from_messages() {
        let m = "Successfully pulled image \"registry/app:v2\" in 3.2s (3.5s including waiting)";
        assert_eq!(
            images_in_message(m).collect::<Vec<_>>(),
            ["registry/app:v2"]
        );
        assert_eq!(
            images_in_message("Container image \"a:1\" already present; image \"b\"").count(),
            2
        );
        assert_eq!(images_in_message("Pulling image \"unterminated").count(), 0);
    }

    fn delivery(finished: Option<i64>) -> DeliveryRow {
        DeliveryRow {
            id: "d".into(),
            version: 1,
            cluster: "c".into(),
            namespace: "n".into(),
            name: "p".into(),
            uid: "u".into(),
            action: "create".into(),
            result: if finished.is_some() {
                "success"
            } else {
                "fail"
            }
            .into(),
            code: String::new(),
            sub_reason: String::new(),
            summary: String::new(),
            created_at: 1_000_000_000,
            finished_at: finished,
            decided_at: 1_000_000_000 + 90_000_000,
            deadline: Some(1_000_000_000 + 90_000_000),
            slo_ms: Some(90_000),
            slo_class: "typical".into(),
            sli_ms: None,
            k8s_sli_ms: None,
            schedule_ms: Some(1_000),
            image_pull_ms: Some(3_000),
            sandbox_ms: Some(500),
            init_ms: None,
            container_start_ms: Some(200),
            readiness_ms: finished.map(|_| 2_000),
            node: String::new(),
            pod_ip: String::new(),
            owner_kind: String::new(),
            owner_name: String::new(),
            is_job: false,
            flags: vec![],
            trace_id: String::new(),
        }
    }

    #[test]
    fn phase_layout() {
        let done = delivery(Some(1_000_000_000 + 6_700_000));
        let p = phases(&done);
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "schedule",
                "sandbox",
                "image_pull",
                "container_start",
                "readiness"
            ]
        );
        assert_eq!(p[0].start, format_rfc3339_micros(1_000_000_000));
        assert_eq!(p[1].start, p[0].end);
        assert!(p[0].exact && p[1].exact && !p[2].exact);
        assert_eq!(p[4].end, format_rfc3339_micros(1_000_000_000 + 6_700_000));
        assert!(p[4].exact);

        let failed = delivery(None);
        let p = phases(&failed);
        let last = p.last().unwrap();
        assert_eq!(last.name, "unfinished");
        assert_eq!(last.start, format_rfc3339_micros(1_000_000_000 + 4_700_000));
        assert_eq!(last.end, format_rfc3339_micros(1_000_000_000 + 90_000_000));
        assert_eq!(last.duration_ms, 85_300);
    }
}
