//! Phases, the two SLIs and the deadline, computed from a pod's milestones as
//! known at one evaluation time.
//!
//! **Mixed precision.** Audit and `eventTime` stamps are microseconds;
//! condition `lastTransitionTime`, `startedAt` and v1 Event `lastTimestamp`
//! are whole seconds, so a seconds stamp `t` means "somewhere in
//! `[t, t+1s)`, and not after it was observed". Walking the milestones in
//! pipeline order (created, bound, first kubelet activity, initialized, all
//! containers started, ready), each milestone takes the point of its interval
//! closest to the previous one; a phase that is still negative after that is
//! a real disagreement between clocks: it is clamped to 0 and flagged
//! (`clamped:<phase>`), never emitted negative.

use lunettes_schemas::{Action, Phases, SpanOwner};
use smallvec::SmallVec;

use crate::pod::{PodState, Stamp};
use crate::spans::config::SpanConfig;
use crate::spans::track;

/// A few time intervals, kept inline (pulls, spans of one pod).
pub(crate) type Intervals = SmallVec<[(i64, i64); 8]>;

/// Sorted, merged intervals (in place, no allocation for a handful).
pub(crate) fn merge(mut v: Intervals) -> Intervals {
    v.retain(|(a, b)| b > a);
    v.sort_unstable();
    let mut w = 0;
    for r in 0..v.len() {
        let (a, b) = v[r];
        if w > 0 && a <= v[w - 1].1 {
            v[w - 1].1 = v[w - 1].1.max(b);
        } else {
            v[w] = (a, b);
            w += 1;
        }
    }
    v.truncate(w);
    v
}

/// Total length of merged intervals inside `[lo, hi]`.
pub(crate) fn len_within(merged: &[(i64, i64)], lo: i64, hi: i64) -> i64 {
    merged
        .iter()
        .map(|&(a, b)| (b.min(hi) - a.max(lo)).max(0))
        .sum()
}

/// Length of `a \ b` (both merged).
pub(crate) fn minus_len(a: &[(i64, i64)], b: &[(i64, i64)]) -> i64 {
    a.iter().map(|&(x, y)| (y - x) - len_within(b, x, y)).sum()
}

/// What the timeline says at one evaluation time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timeline {
    pub phases: Phases,
    pub flags: Vec<String>,
    /// Effective time all (main) containers had started.
    pub all_started: Option<i64>,
    /// Merged pull intervals (open pulls end at the evaluation time).
    pub pulls: Intervals,
    /// Official pod-startup SLI, µs.
    pub k8s_sli_us: Option<i64>,
    /// The stage still running at the evaluation time and since when.
    pub open_stage: Option<(&'static str, i64)>,
}

/// Places a milestone relative to the cursor; returns (effective time, phase µs, clamped).
fn place(cursor: i64, m: Stamp) -> (i64, i64, bool) {
    let v = m.t.max(cursor.min(m.hi()));
    let d = v - cursor;
    if d < 0 {
        (cursor, 0, true)
    } else {
        (v, d, false)
    }
}

fn ms(us: i64) -> i64 {
    us.max(0) / 1000
}

/// Computes the timeline of a create delivery as known at `at`.
pub(crate) fn timeline(pod: &PodState, at: i64) -> Timeline {
    let mut tl = Timeline::default();
    let c = pod.created.t;
    let mut cursor = c;
    let clamp = |tl: &mut Timeline, name: &str| tl.flags.push(["clamped:", name].concat());

    let bound = pod.bound.by(at).then_some(pod.bound);
    let k = pod.kubelet_start(at);
    let kubelet = k.is_set().then_some(k);
    let has_init = pod.containers.iter().any(|c| c.init);
    let init_done = (has_init && pod.initialized.by(at)).then_some(pod.initialized);
    let mut mains = pod.containers.iter().filter(|c| !c.init).peekable();
    let started = if mains.peek().is_some() && mains.clone().all(|c| c.started.by(at)) {
        mains.map(|c| c.started).max_by_key(|s| s.t)
    } else {
        None
    };
    let done = pod.completion();
    let ready = (done.by(at) && !pod.is_job).then_some(done);

    tl.pulls = merge(
        pod.pulls
            .iter()
            .filter_map(|p| p.interval(at))
            .map(|(a, b, _)| (a, b))
            .collect(),
    );

    if let Some(b) = bound {
        let (v, d, cl) = place(cursor, b);
        if cl {
            clamp(&mut tl, "schedule");
        }
        tl.phases.schedule_ms = Some(ms(d));
        cursor = v;
    }
    let pull_from;
    if let Some(k) = kubelet {
        let (v, d, cl) = place(cursor, k);
        if bound.is_some() {
            if cl {
                clamp(&mut tl, "sandbox");
            }
            tl.phases.sandbox_ms = Some(ms(d));
        }
        cursor = v;
        pull_from = v;
    } else {
        pull_from = cursor;
    }
    let mut init_interval = None;
    if let Some(i) = init_done {
        let (v, d, cl) = place(cursor, i);
        if cl {
            clamp(&mut tl, "init");
        }
        let pulls_in = len_within(&tl.pulls, cursor, v);
        let init_start = pod
            .containers
            .iter()
            .filter(|c| c.init && c.started.by(at))
            .map(|c| c.started.t)
            .min()
            .unwrap_or(cursor)
            .max(cursor.min(v));
        init_interval = Some((init_start.min(v), v));
        tl.phases.init_ms = Some(ms(d - pulls_in));
        cursor = v;
    }
    let pull_to;
    if let Some(s) = started {
        let (v, d, cl) = place(cursor, s);
        if cl {
            clamp(&mut tl, "container_start");
        }
        let pulls_in = len_within(&tl.pulls, cursor, v);
        tl.phases.container_start_ms = Some(ms(d - pulls_in));
        tl.all_started = Some(v);
        cursor = v;
        pull_to = v;
    } else {
        pull_to = at.max(pull_from);
    }
    if !tl.pulls.is_empty() || kubelet.is_some() {
        tl.phases.image_pull_ms = Some(ms(len_within(&tl.pulls, pull_from, pull_to)));
    }
    if let Some(r) = ready {
        if started.is_some() {
            let (v, d, cl) = place(cursor, r);
            if cl {
                clamp(&mut tl, "readiness");
            }
            tl.phases.readiness_ms = Some(ms(d));
            cursor = v;
        }
    }
    let _ = cursor;

    // The stage still running at `at` (for `<Stage>TooMuchTime`).
    if !done.by(at) {
        let open_pull = pod
            .pulls
            .iter()
            .filter_map(|p| p.interval(at))
            .any(|(_, _, closed)| !closed);
        tl.open_stage = Some(if bound.is_none() {
            ("DefaultSchedule", c)
        } else if kubelet.is_none() {
            ("SandboxCreate", bound.map(|b| b.t).unwrap_or(c))
        } else if open_pull {
            ("ImagePull", kubelet.map(|k| k.t).unwrap_or(c))
        } else if has_init && init_done.is_none() {
            ("PodInitial", kubelet.map(|k| k.t).unwrap_or(c))
        } else if started.is_none() {
            (
                "ContainerStart",
                init_done.or(kubelet).map(|k| k.t).unwrap_or(c),
            )
        } else if pod.containers_ready.by(at) {
            ("PodReady", pod.containers_ready.t)
        } else {
            ("ContainerReady", tl.all_started.unwrap_or(c))
        });
    }

    // Official pod-startup SLI: creation -> all containers started, minus
    // pulls and init containers; not for stateful or unschedulable pods.
    if let Some(s) = tl.all_started {
        if !pod.stateful && pod.unschedulable == crate::pod::NONE {
            let mut excl = tl.pulls.clone();
            if let Some(iv) = init_interval {
                excl.push(iv);
            }
            let excl = merge(excl);
            tl.k8s_sli_us = Some((s - c - len_within(&excl, c, s)).max(0));
        }
    }
    tl
}

/// A pod's create spans evaluated at one time, reusable at another time when
/// no mark lies between the two: the spans' starts, ends and closed flags are
/// then the same, only still-open spans end elsewhere (see [`SpanView::at`]).
/// A verdict asks for its spans up to four times (deadline iterations, SLI,
/// emitted spans), usually with nothing happening in between.
pub(crate) struct SpanView {
    /// Evaluation time.
    pub at: i64,
    /// The span instances as known at `at`.
    pub insts: track::SpanInsts,
}

impl SpanView {
    /// Evaluates the create spans at `at`.
    pub(crate) fn new(cfg: &SpanConfig, pod: &PodState, at: i64) -> Self {
        SpanView {
            at,
            insts: track::evaluate(cfg, pod, Action::Create, at),
        }
    }

    /// The view at `b`: this one with open spans ending at `b` when no mark
    /// lies between `self.at` and `b`, else a fresh evaluation.
    pub(crate) fn at(&self, cfg: &SpanConfig, pod: &PodState, b: i64) -> SpanView {
        let (lo, hi) = (self.at.min(b), self.at.max(b));
        if track::any_mark_within(pod, lo, hi) {
            return SpanView::new(cfg, pod, b);
        }
        let mut insts = self.insts.clone();
        for s in insts.iter_mut().filter(|s| !s.closed) {
            s.end = b.max(s.start);
        }
        SpanView { at: b, insts }
    }
}

/// Time of closed `custom` spans not overlapped by any `k8s` span, inside
/// `[from, to]`, from spans evaluated at `to` (or at a time with no mark
/// between it and `to`: open spans are clipped to `to`, and closed `custom`
/// spans end at or before the last mark, so the answer is the same).
fn custom_exclusive_in(cfg: &SpanConfig, insts: &[track::SpanInst], from: i64, to: i64) -> i64 {
    let mut custom = Intervals::new();
    let mut k8s = Intervals::new();
    for s in insts {
        let iv = (s.start.max(from), s.end.min(to));
        match cfg.spans[s.span as usize].owner {
            SpanOwner::Custom if s.closed => custom.push(iv),
            SpanOwner::K8s => k8s.push(iv),
            _ => {}
        }
    }
    minus_len(&merge(custom), &merge(k8s))
}

/// Time of closed `custom` spans not overlapped by any `k8s` span, inside
/// `[from, to]`, as known at `to`. `view` (spans evaluated at some time) is
/// used when no mark lies between its time and `to`; otherwise, or without
/// one, the spans are evaluated at `to` and the view replaced.
pub(crate) fn custom_exclusive(
    cfg: &SpanConfig,
    pod: &PodState,
    from: i64,
    to: i64,
    view: &mut Option<SpanView>,
) -> i64 {
    if to <= from || !track::has_custom_end(cfg, pod) {
        return 0;
    }
    let reusable = view
        .as_ref()
        .is_some_and(|v| !track::any_mark_within(pod, v.at.min(to), v.at.max(to)));
    if !reusable {
        *view = Some(SpanView::new(cfg, pod, to));
    }
    let insts = view.as_ref().map(|v| &v.insts[..]).unwrap_or(&[]);
    custom_exclusive_in(cfg, insts, from, to)
}

/// The create deadline: created + SLO + closed custom time before it
/// (the smallest `x >= created + SLO + custom_exclusive(created, x)`).
/// `view` as for [`custom_exclusive`].
pub(crate) fn deadline(
    cfg: &SpanConfig,
    pod: &PodState,
    view: &mut Option<SpanView>,
) -> Option<i64> {
    let slo = pod.slo()?;
    let c = pod.created.t;
    let base = c.saturating_add(slo);
    if !track::has_custom_end(cfg, pod) {
        return Some(base);
    }
    let mut x = base;
    for _ in 0..16 {
        let nx = base + custom_exclusive(cfg, pod, c, x, view);
        if nx <= x {
            return Some(x);
        }
        // With no mark in (x, nx], the closed custom spans up to nx are those
        // up to x (k8s spans still open only reach further into time no
        // closed custom span covers), so nx is the fixpoint.
        if !track::any_mark_within(pod, x, nx) {
            return Some(nx);
        }
        x = nx;
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intern::EMPTY;
    use crate::spans::track::{insert, Mark};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Reusing spans evaluated at one time for another gives exactly what
        /// a fresh evaluation gives: the reused view (`SpanView::at`), the
        /// custom time and the deadline.
        #[test]
        fn reused_span_views_equal_fresh_evaluations(
            raw in proptest::collection::vec((0u16..13, 0u32..3, 0i64..60, 0u8..4), 0..30),
            v in 0i64..70,
            b in 0i64..70,
            slo_s in 1i64..30,
        ) {
            let cfg = SpanConfig::default();
            let mut pod = PodState::new("uid", true, EMPTY, "p");
            pod.created = Stamp { t: 0, slack: 0 };
            pod.slo_us = slo_s * 1_000_000;
            for (span, instance, t, flags) in raw {
                let span = span % cfg.spans.len() as u16;
                insert(&mut pod, Mark { t: t * 500_000, instance, span, flags });
            }
            let (v, b) = (v * 500_000, b * 500_000);
            let view = SpanView::new(&cfg, &pod, v);
            prop_assert_eq!(
                view.at(&cfg, &pod, b).insts.into_vec(),
                SpanView::new(&cfg, &pod, b).insts.into_vec()
            );
            let mut reused = Some(SpanView::new(&cfg, &pod, v));
            prop_assert_eq!(
                custom_exclusive(&cfg, &pod, 0, b, &mut reused),
                custom_exclusive(&cfg, &pod, 0, b, &mut None)
            );
            // The deadline as defined: iterate x = base + custom(0, x) with a
            // fresh evaluation each time, no shortcut.
            let base = pod.slo_us;
            let mut x = base;
            for _ in 0..16 {
                let nx = base + custom_exclusive(&cfg, &pod, 0, x, &mut None);
                if nx <= x {
                    break;
                }
                x = nx;
            }
            let mut reused = Some(SpanView::new(&cfg, &pod, v));
            prop_assert_eq!(deadline(&cfg, &pod, &mut reused), Some(x));
            prop_assert_eq!(deadline(&cfg, &pod, &mut None), Some(x));
        }
    }
}
