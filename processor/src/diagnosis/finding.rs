//! [`Finding`]: a code plus the plain-language facts behind it.
//!
//! Classifiers return findings for messages; the engine also *derives* codes
//! from timing (slowness, no events, readiness gates, delete timeouts) and
//! needs the same plain-language quality for those, so the constructors for
//! derived codes live here next to the type rather than in the engine.

use super::codes::{Code, Stage};
use super::family::Family;
use super::text::human_duration;

/// What went wrong, as a code and one plain sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The diagnosis code.
    pub code: Code,
    /// Its family (always `code.family()`).
    pub family: Family,
    /// Finer cause: the scheduling sub-reason, the webhook name, the eviction
    /// condition, the network failure kind...
    pub sub_reason: Option<String>,
    /// What it is about when the text names it: image ref, volume, container,
    /// probe, quota, CNI plugin...
    pub subject: Option<String>,
    /// One plain sentence on what went wrong.
    pub what: String,
}

impl Finding {
    /// A finding for `code` (family derived from the code).
    pub fn new(
        code: Code,
        sub_reason: Option<String>,
        subject: Option<String>,
        what: impl Into<String>,
    ) -> Finding {
        Finding {
            code,
            family: code.family(),
            sub_reason,
            subject,
            what: what.into(),
        }
    }

    /// Shorthand used by the rules: borrowed sub-reason and subject.
    pub(crate) fn of(
        code: Code,
        sub_reason: Option<&str>,
        subject: Option<&str>,
        what: impl Into<String>,
    ) -> Finding {
        Finding::new(
            code,
            sub_reason.map(str::to_string),
            subject.map(str::to_string),
            what,
        )
    }

    /// The code's rank (lower wins).
    pub fn rank(&self) -> u16 {
        self.code.rank()
    }

    /// `what` followed by the code's advice: the summary a person reads.
    pub fn summary(&self) -> String {
        format!("{}. {}", self.what, self.code.advice())
    }

    /// Scheduled `delay_ms` after creation (`ScheduleDelay`).
    pub fn schedule_delay(delay_ms: i64) -> Finding {
        Finding::of(
            Code::ScheduleDelay,
            None,
            None,
            format!(
                "the pod waited {} to be scheduled",
                human_duration(delay_ms)
            ),
        )
    }

    /// No kubelet activity for `idle_ms` after binding to `node` (`KubeletDelay`).
    pub fn kubelet_delay(idle_ms: i64, node: Option<&str>) -> Finding {
        let on = node.map(|n| format!(" on node {n}")).unwrap_or_default();
        Finding::of(
            Code::KubeletDelay,
            None,
            node,
            format!(
                "the kubelet{on} showed no activity for {} after the pod was bound",
                human_duration(idle_ms)
            ),
        )
    }

    /// One image pull took `took_ms`, over `limit_ms` (`PullImageTooMuchTime`).
    pub fn pull_too_slow(image: &str, took_ms: i64, limit_ms: i64, node: Option<&str>) -> Finding {
        let on = node.map(|n| format!(" on node {n}")).unwrap_or_default();
        Finding::of(
            Code::PullImageTooMuchTime,
            None,
            Some(image),
            format!(
                "image \"{image}\" took {} to pull{on} (limit {})",
                human_duration(took_ms),
                human_duration(limit_ms)
            ),
        )
    }

    /// Nothing failed but the SLO was missed; `stage` took longest
    /// (`<Stage>TooMuchTime`). `subject` names the image/container if any.
    pub fn slow_stage(
        stage: Stage,
        took_ms: i64,
        slo_ms: Option<i64>,
        subject: Option<&str>,
    ) -> Finding {
        let about = subject.map(|s| format!(" ({s})")).unwrap_or_default();
        let slo = slo_ms
            .map(|s| format!(", SLO {}", human_duration(s)))
            .unwrap_or_default();
        Finding::of(
            Code::TooMuchTime(stage),
            Some(stage.as_str()),
            subject,
            format!(
                "no error, but {}{about} took {}, the longest stage{slo}",
                stage.describe(),
                human_duration(took_ms)
            ),
        )
    }

    /// No events at all were seen for the pod (`NoEvent`).
    pub fn no_event() -> Finding {
        Finding::of(
            Code::NoEvent,
            None,
            None,
            "no event was recorded for the pod after it was created",
        )
    }

    /// Fallback: the SLO passed with no rule matching (`timeout_unknown`);
    /// names the largest gap between two milestones.
    pub fn timeout_unknown(from: &str, to: &str, gap_ms: i64) -> Finding {
        Finding::of(
            Code::TimeoutUnknown,
            None,
            None,
            format!(
                "the SLO passed with no recognised error; the most time-consuming stage is from {from} to {to} ({})",
                human_duration(gap_ms)
            ),
        )
    }

    /// Container started but never became ready, with no failing probe seen.
    pub fn container_not_ready(container: &str) -> Finding {
        Finding::of(
            Code::ContainerNotReady,
            None,
            Some(container),
            format!("container \"{container}\" is running but never became ready"),
        )
    }

    /// A readiness gate condition stayed false (`<gate>_NotReady`).
    pub fn gate_not_ready(gate: &str) -> Finding {
        Finding::of(
            Code::gate_not_ready(gate),
            None,
            Some(gate),
            format!("readiness gate \"{gate}\" never became true"),
        )
    }

    /// Delete blocked by a finalizer nobody removed (`FinalizerNotRemoved`).
    pub fn finalizer_not_removed(finalizer: &str, waited_ms: i64) -> Finding {
        Finding::of(
            Code::FinalizerNotRemoved,
            Some(finalizer),
            Some(finalizer),
            format!(
                "finalizer \"{finalizer}\" was still on the pod {} after deletion",
                human_duration(waited_ms)
            ),
        )
    }

    /// Delete did not finish within its tier (`DeleteTimeout`).
    pub fn delete_timeout(waited_ms: i64) -> Finding {
        Finding::of(
            Code::DeleteTimeout,
            None,
            None,
            format!(
                "the pod was still not gone {} after deletion",
                human_duration(waited_ms)
            ),
        )
    }

    /// Deleted before its create delivery completed (`beforeFinish`).
    pub fn before_finish(after_ms: i64) -> Finding {
        Finding::of(
            Code::BeforeFinish,
            None,
            None,
            format!(
                "the pod was deleted {} after creation, before it became ready",
                human_duration(after_ms)
            ),
        )
    }
}

/// The finding that wins under "first matching rule wins": the lowest rank;
/// among equal ranks, the latest one (later evidence of the same cause is
/// more current). `None` for an empty input.
pub fn most_relevant<'a, I>(findings: I) -> Option<&'a Finding>
where
    I: IntoIterator<Item = &'a Finding>,
{
    let mut best: Option<&Finding> = None;
    for finding in findings {
        if best.is_none_or(|b| finding.rank() <= b.rank()) {
            best = Some(finding);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_findings_read_plainly() {
        let f = Finding::pull_too_slow("registry/app:v2", 94_000, 60_000, Some("n-17"));
        assert_eq!(f.code, Code::PullImageTooMuchTime);
        assert_eq!(
            f.what,
            "image \"registry/app:v2\" took 94 s to pull on node n-17 (limit 60 s)"
        );
        let f = Finding::slow_stage(
            Stage::ImagePull,
            94_000,
            Some(90_000),
            Some("registry/app:v2"),
        );
        assert_eq!(f.code.as_str(), "ImagePullTooMuchTime");
        assert!(
            f.what
                .contains("pulling images (registry/app:v2) took 94 s"),
            "{}",
            f.what
        );
        assert!(f.summary().starts_with(&f.what));
        assert_eq!(
            Finding::gate_not_ready("g.example/x").code.as_str(),
            "g.example/x_NotReady"
        );
        assert_eq!(Finding::before_finish(2000).code.as_str(), "beforeFinish");
        assert_eq!(
            Finding::timeout_unknown("a", "b", 1).code.as_str(),
            "timeout_unknown"
        );
    }

    #[test]
    fn most_relevant_prefers_low_rank_then_latest() {
        let backoff = Finding::of(Code::ImagePullBackOff, None, None, "b");
        let missing = Finding::of(Code::ImageNotFound, None, None, "m1");
        let missing2 = Finding::of(Code::ImageNotFound, None, None, "m2");
        let all = [missing.clone(), backoff, missing2.clone()];
        assert_eq!(most_relevant(&all), Some(&missing2));
        assert_eq!(most_relevant(&[] as &[Finding]), None);
    }
}
