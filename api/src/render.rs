//! The API's answers as terminal text (`lunettes debug pod|slo`).
//!
//! The same facts as the page, in the same order of importance: verdict and
//! summary first, then the deadline, a text Gantt chart of the phases with
//! the deadline as a column of `┆`, and the timeline with gaps called out.
//! Pure functions of the model, so the output is tested without a terminal.

use std::fmt::Write;

use lunettes_processor::duration::human;
use lunettes_schemas::time::parse_rfc3339;

use crate::model::{Bucket, PodList, PodReport, PodSummary, SloReport};

/// Layout of the pod text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    /// Columns of the Gantt plot.
    pub gantt_width: usize,
    /// Most timeline entries printed (the newest are dropped, and counted).
    pub max_events: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            gantt_width: 60,
            max_events: 200,
        }
    }
}

fn us(t: &str) -> i64 {
    parse_rfc3339(t).map(|(v, _)| v).unwrap_or(0)
}

fn ms_human(ms: i64) -> String {
    human(ms.saturating_mul(1_000))
}

fn clock(t: &str) -> &str {
    // "2026-01-01T12:34:56.789012Z" -> "12:34:56.789"
    t.get(11..23).unwrap_or(t)
}

/// The pod report as text.
pub fn pod_text(r: &PodReport, opts: &TextOptions) -> String {
    let mut o = String::new();
    let p = &r.pod;
    let result = r
        .verdict
        .as_ref()
        .map(|v| v.result.to_uppercase())
        .unwrap_or_else(|| "IN PROGRESS".into());
    let _ = write!(o, "{}/{}  [{result}]", p.namespace, p.name);
    if let Some(v) = &r.verdict {
        if !v.code.is_empty() {
            let _ = write!(o, "  {}", v.code);
        }
        if !v.sub_reason.is_empty() {
            let _ = write!(o, " ({})", v.sub_reason);
        }
    }
    o.push('\n');
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let _ = writeln!(
        o,
        "  cluster {}  uid {}  node {}  ip {}  owner {}  phase {}",
        p.cluster,
        dash(&p.uid),
        dash(&p.node),
        dash(&p.ip),
        if p.owner_kind.is_empty() {
            "-".into()
        } else {
            format!("{}/{}", p.owner_kind, p.owner_name)
        },
        dash(&p.phase)
    );
    if !p.images.is_empty() {
        let _ = writeln!(o, "  images {}", p.images.join(", "));
    }
    if !r.other_uids.is_empty() {
        let _ = writeln!(o, "  earlier incarnations {}", r.other_uids.join(", "));
    }
    o.push('\n');
    match &r.verdict {
        Some(v) => {
            let _ = writeln!(o, "Summary: {}", v.summary);
            let _ = write!(o, "Verdict: {} decided {}", v.result, v.decided_at);
            if let Some(f) = &v.finished_at {
                let _ = write!(o, ", finished {f}");
            }
            if let Some(sli) = v.sli_ms {
                let _ = write!(o, ", SLI {}", ms_human(sli));
            }
            if v.version > 1 {
                let _ = write!(o, " (corrected, version {})", v.version);
            }
            o.push('\n');
        }
        None => {
            let _ = write!(o, "Summary: no verdict yet (in progress as of {}).", r.now);
            let what = |e: &crate::model::TimelineEvent| {
                if e.reason.is_empty() {
                    e.operations.join(" ")
                } else if e.message.is_empty() {
                    e.reason.clone()
                } else {
                    format!("{}: {}", e.reason, e.message)
                }
            };
            if let Some(last) = r.timeline.events.last() {
                let _ = write!(
                    o,
                    " Last event {} ago: {}.",
                    human(us(&r.now) - us(&last.time)),
                    what(last)
                );
            }
            if let Some(e) = r.timeline.events.iter().rev().find(|e| e.error) {
                let _ = write!(o, " Latest problem at {}: {}.", clock(&e.time), what(e));
            }
            o.push('\n');
        }
    }
    match &r.deadline {
        Some(d) => {
            let _ = writeln!(
                o,
                "Deadline: {} (SLO {}, class {}{}) {}",
                d.at,
                ms_human(d.slo_ms),
                d.slo_class,
                if d.source == "estimate" {
                    ", estimated from the first event"
                } else {
                    ""
                },
                if d.passed {
                    format!("passed {} ago", ms_human(-d.remaining_ms))
                } else {
                    format!("{} left", ms_human(d.remaining_ms))
                }
            );
        }
        None => o.push_str("Deadline: none (best effort)\n"),
    }
    if !r.phases.is_empty() {
        o.push('\n');
        gantt(&mut o, r, opts.gantt_width.max(10));
    }
    let t = &r.timeline;
    let _ = writeln!(
        o,
        "\nTimeline ({} events, {} errors, {} gaps > {}{}{})",
        t.total,
        t.errors,
        t.gaps,
        ms_human(t.gap_threshold_ms),
        if t.errors_only { ", errors only" } else { "" },
        if t.truncated { ", truncated" } else { "" }
    );
    let start = t.events.first().map(|e| us(&e.time)).unwrap_or(0);
    for e in t.events.iter().take(opts.max_events) {
        if e.gap {
            let _ = writeln!(
                o,
                "    ---- {} without events ----",
                ms_human(e.gap_before_ms.unwrap_or(0))
            );
        }
        let what = if e.kind == "event" {
            format!("{} {}", e.event_type, e.reason).trim().to_string()
        } else {
            let mut w = format!("{} {}", e.verb, e.resource).trim().to_string();
            if let Some(c) = e.response_code {
                let _ = write!(w, " -> {c}");
            }
            w
        };
        let mut detail = e.operations.join(" ");
        let msg = if e.message.is_empty() {
            &e.response_message
        } else {
            &e.message
        };
        if !msg.is_empty() {
            if !detail.is_empty() {
                detail.push_str("  ");
            }
            detail.push_str(msg);
        }
        if e.repeats > 1 {
            let _ = write!(detail, " (x{})", e.repeats);
        }
        let _ = writeln!(
            o,
            "{} {} {:>10}  {:<6} {:<28} {}",
            if e.error { "!" } else { " " },
            clock(&e.time),
            format!("+{}", human(us(&e.time) - start)),
            e.source,
            what,
            detail
        );
    }
    if t.events.len() > opts.max_events {
        let _ = writeln!(o, "  ... {} more", t.events.len() - opts.max_events);
    }
    o
}

/// The phases as a text Gantt chart: `█` exact, `▒` position approximate,
/// `░` not finished; the deadline is the `┆` column.
fn gantt(o: &mut String, r: &PodReport, width: usize) {
    let start = r.phases.first().map(|p| us(&p.start)).unwrap_or(0);
    let mut end = r.phases.iter().map(|p| us(&p.end)).max().unwrap_or(start);
    let deadline = r.deadline.as_ref().map(|d| us(&d.at));
    if let Some(d) = deadline {
        end = end.max(d);
    }
    let span = (end - start).max(1) as f64;
    let col = |t: i64| (((t - start) as f64 / span) * (width - 1) as f64).round() as usize;
    let dcol = deadline.map(col);
    let _ = writeln!(
        o,
        "{:<18}{:>11}  |0{:>w$}|",
        "Phases",
        "",
        format!("+{}", human(end - start)),
        w = width - 1
    );
    for p in &r.phases {
        let (a, b) = (col(us(&p.start)), col(us(&p.end)).max(col(us(&p.start))));
        let fill = if p.name == "unfinished" {
            '░'
        } else if p.exact {
            '█'
        } else {
            '▒'
        };
        let line: String = (0..width)
            .map(|c| {
                if c >= a && c <= b && (p.duration_ms > 0 || c == a) {
                    fill
                } else if Some(c) == dcol {
                    '┆'
                } else {
                    ' '
                }
            })
            .collect();
        let _ = writeln!(
            o,
            "  {:<16}{:>11}  |{line}|",
            p.name,
            ms_human(p.duration_ms)
        );
    }
    if let (Some(c), Some(d)) = (dcol, &r.deadline) {
        let _ = writeln!(
            o,
            "{:<18}{:>11}  |{}^ deadline (SLO {})",
            "",
            "",
            " ".repeat(c),
            ms_human(d.slo_ms)
        );
    }
}

fn summary_line(o: &mut String, p: &PodSummary) {
    let _ = writeln!(
        o,
        "{:<10} {:<20} {:<44} {:<11} {:<26} {:<22} {}",
        p.cluster,
        p.namespace,
        p.name,
        if p.result.is_empty() {
            "in_progress"
        } else {
            &p.result
        },
        p.code,
        p.node,
        p.uid
    );
}

/// A pod list as text.
pub fn pod_list_text(l: &PodList) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<10} {:<20} {:<44} {:<11} {:<26} {:<22} UID",
        "CLUSTER", "NAMESPACE", "NAME", "RESULT", "CODE", "NODE"
    );
    for p in &l.pods {
        summary_line(&mut o, p);
    }
    let _ = writeln!(
        o,
        "{} pods{}",
        l.pods.len(),
        if l.truncated {
            format!(" (truncated at {})", l.limit)
        } else {
            String::new()
        }
    );
    o
}

fn rate(b: &Bucket) -> String {
    b.success_rate
        .map(|r| format!("{:.2}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn buckets(o: &mut String, title: &str, bs: &[Bucket]) {
    if bs.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n{:<40} {:>7} {:>9} {:>7} {:>6} {:>6} {:>10} {:>9}",
        title, "total", "success", "fail", "kill", "api", "abandoned", "rate"
    );
    for b in bs {
        let _ = writeln!(
            o,
            "{:<40} {:>7} {:>9} {:>7} {:>6} {:>6} {:>10} {:>9}",
            if b.key.is_empty() { "(none)" } else { &b.key },
            b.total,
            b.success,
            b.fail,
            b.kill,
            b.api_failed,
            b.abandoned,
            rate(b)
        );
    }
}

/// The SLO report as text.
pub fn slo_text(r: &SloReport) -> String {
    let mut o = String::new();
    let q = &r.query;
    let _ = writeln!(
        o,
        "{} deliveries decided in [{}, {}){}{}{}{}",
        q.action,
        q.from,
        q.to,
        q.cluster
            .as_ref()
            .map(|c| format!(" cluster={c}"))
            .unwrap_or_default(),
        q.namespace
            .as_ref()
            .map(|c| format!(" namespace={c}"))
            .unwrap_or_default(),
        q.result
            .as_ref()
            .map(|c| format!(" result={c}"))
            .unwrap_or_default(),
        q.code
            .as_ref()
            .map(|c| format!(" code={c}"))
            .unwrap_or_default(),
    );
    let b = &r.overall;
    let _ = writeln!(
        o,
        "total {}  success {}  fail {}  kill {}  api_failed {}  abandoned {}  success rate {}",
        b.total,
        b.success,
        b.fail,
        b.kill,
        b.api_failed,
        b.abandoned,
        rate(b)
    );
    buckets(&mut o, "CLUSTER", &r.by_cluster);
    buckets(&mut o, "NAMESPACE", &r.by_namespace);
    buckets(&mut o, "NODE", &r.by_node);
    buckets(&mut o, "CODE", &r.by_code);
    if !r.pods.is_empty() {
        let _ = writeln!(
            o,
            "\n{:<10} {:<20} {:<44} {:<11} {:<26} {:<22} UID",
            "CLUSTER", "NAMESPACE", "NAME", "RESULT", "CODE", "NODE"
        );
        for p in &r.pods {
            summary_line(&mut o, p);
        }
        if r.pods_truncated {
            let _ = writeln!(o, "(first {} listed; raise --limit)", q.limit);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Deadline, Phase, PodFacts, Timeline};

    fn report() -> PodReport {
        let phase = |name: &str, s: &str, e: &str, d: i64, exact: bool| Phase {
            name: name.into(),
            start: s.into(),
            end: e.into(),
            duration_ms: d,
            exact,
        };
        PodReport {
            now: "2026-01-01T00:10:00.000000Z".into(),
            status: "in_progress".into(),
            pod: PodFacts {
                namespace: "ns".into(),
                name: "web-0".into(),
                ..Default::default()
            },
            verdict: None,
            deliveries: vec![],
            deadline: Some(Deadline {
                at: "2026-01-01T00:01:30.000000Z".into(),
                created_at: "2026-01-01T00:00:00.000000Z".into(),
                slo_ms: 90_000,
                slo_class: "typical".into(),
                source: "estimate".into(),
                passed: true,
                remaining_ms: -510_000,
            }),
            phases: vec![
                phase(
                    "schedule",
                    "2026-01-01T00:00:00.000000Z",
                    "2026-01-01T00:00:30.000000Z",
                    30_000,
                    true,
                ),
                phase(
                    "image_pull",
                    "2026-01-01T00:00:30.000000Z",
                    "2026-01-01T00:01:00.000000Z",
                    30_000,
                    false,
                ),
                phase(
                    "unfinished",
                    "2026-01-01T00:01:00.000000Z",
                    "2026-01-01T00:03:00.000000Z",
                    120_000,
                    true,
                ),
            ],
            timeline: Timeline {
                errors_only: false,
                total: 0,
                errors: 0,
                gaps: 0,
                gap_threshold_ms: 25_000,
                truncated: false,
                events: vec![],
            },
            spans: vec![],
            other_uids: vec![],
        }
    }

    #[test]
    fn gantt_places_bars_and_the_deadline() {
        let text = pod_text(
            &report(),
            &TextOptions {
                gantt_width: 13,
                max_events: 10,
            },
        );
        // 3 minutes over 13 columns: 15 s per column; deadline at 1:30 = column 6.
        assert!(text.contains("|███   ┆      |"), "{text}");
        assert!(text.contains("|  ▒▒▒ ┆      |"), "{text}");
        assert!(text.contains("|    ░░░░░░░░░|"), "{text}");
        assert!(
            text.contains("|      ^ deadline (SLO 1 min 30 s)"),
            "{text}"
        );
        assert!(text.contains("[IN PROGRESS]"));
        assert!(
            text.contains("estimated from the first event) passed 8 min 30 s ago"),
            "{text}"
        );
    }
}
