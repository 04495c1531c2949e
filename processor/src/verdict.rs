//! Verdicts: when a delivery is decided, what it is, and the records emitted.
//!
//! A delivery is decided at the earliest of its candidate times
//! (completion, deletion, deadline, give-up horizon, rejected create), but
//! only once the cluster watermark has passed that time: by then every event
//! up to it has arrived (the lateness contract), so the verdict looks at
//! exactly the facts up to its own time and cannot depend on arrival order.
//!
//! Decision (documented in `docs/engine.md`): a delivery that completes
//! after its failure verdict keeps the verdict; the engine emits a corrected
//! version (version + 1) with `finished_at` and the final phases, so users see
//! when it did finish. Window counts never change on such corrections.

use lunettes_schemas::{Action, Delivery, DeliveryResult, Output};

use crate::classify::{self, Derived, Found};
use crate::diagnose::{diagnose, longest_phase, with_advice};

use crate::duration::{human, Human};
use crate::ids;
use crate::intern::{Interner, EMPTY};
use crate::pod::{PodState, NONE};
use crate::spans::emit::emit_spans;
use crate::timeline::{custom_exclusive, deadline, timeline, SpanView};
use crate::windows::{RowSink, Windows};
use crate::EngineConfig;

/// What an engine step needs besides the pod.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a EngineConfig,
    pub interner: &'a Interner,
    pub cluster: &'a str,
    pub watermark: i64,
}

impl Ctx<'_> {
    /// Where this cluster's window rows go.
    pub(crate) fn sink(&self) -> RowSink<'_> {
        RowSink {
            cluster: self.cluster,
            shard: self.cfg.shard,
            interner: self.interner,
        }
    }
}

const RESULTS: [DeliveryResult; 5] = DeliveryResult::ALL;

/// A completion is judged this long after its time: whole-second stamps of
/// the milestones before it (container started, ...) may lie up to a second
/// later than the completion stamp, and the verdict must see them whatever
/// order they arrive in. Windows trail the clock by the same amount.
pub(crate) const SETTLE_US: i64 = 2_000_000;

/// When a decision at `t` with outcome `r` may fire.
fn fire_time(t: i64, r: DeliveryResult) -> i64 {
    if r == DeliveryResult::Success {
        t.saturating_add(SETTLE_US)
    } else {
        t
    }
}

fn result_idx(r: DeliveryResult) -> u8 {
    RESULTS.iter().position(|x| *x == r).unwrap_or(0) as u8
}

/// The next create decision: (time, outcome).
///
/// The exact deadline (created + SLO + closed `custom` span time before it)
/// needs the pod's spans evaluated; it is computed only once the clock has
/// reached the base deadline (created + SLO), which is a lower bound of it.
/// Before that (`now` < base) the base deadline stands in as the timer: when
/// it fires, `step` recomputes exactly and reschedules if the deadline moved.
/// Pass `now = i64::MAX` for the exact answer.
fn create_candidate(pod: &PodState, cfg: &EngineConfig, now: i64) -> Option<(i64, DeliveryResult)> {
    if pod.no_create {
        return None;
    }
    if let Some(a) = &pod.api_fail {
        return Some((a.t, DeliveryResult::ApiFailed));
    }
    if !pod.created.is_set() {
        return None;
    }
    let c = pod.created.t;
    let f = pod.completion().t;
    let base = pod.slo().map(|s| c + s);
    // The deadline only matters if completion is unknown or after the base deadline.
    let d = match base {
        Some(b) if (f == NONE || f > b) && b <= now => {
            deadline(&cfg.spans, pod, &mut None).unwrap_or(NONE)
        }
        Some(b) => b,
        None => NONE,
    };
    let cands = [
        (f, DeliveryResult::Success),
        (pod.gone_at(), DeliveryResult::Kill),
        (d, DeliveryResult::Fail),
        (c.saturating_add(cfg.give_up_us), DeliveryResult::Abandoned),
    ];
    cands
        .into_iter()
        .filter(|(t, _)| *t != NONE)
        .min_by_key(|(t, r)| (*t, result_idx(*r)))
}

/// When this pod next needs the engine's attention (a decision, a
/// correction, a delete tier, or retirement), as seen at clock `now`: the
/// answer may be early (a lower bound of the deadline, see
/// [`create_candidate`]), never late.
pub(crate) fn next_wakeup(pod: &PodState, cfg: &EngineConfig, now: i64) -> i64 {
    let mut next = NONE;
    if !pod.create.decided() {
        if let Some((t, r)) = create_candidate(pod, cfg, now) {
            next = next.min(fire_time(t, r));
        }
    } else if !pod.create.finish_reported
        && matches!(
            RESULTS[pod.create.result as usize],
            DeliveryResult::Fail | DeliveryResult::Abandoned
        )
    {
        let f = pod.completion().t;
        if f != NONE {
            next = next.min(f.max(pod.create.decided_at).saturating_add(SETTLE_US));
        }
    }
    let ds = pod.delete_start();
    if ds != NONE {
        let tiers = cfg.slo.delete_tiers;
        if !pod.delete.decided() {
            next = next.min(pod.deleted.min(ds + tiers.delete_us));
        } else if RESULTS[pod.delete.result as usize] == DeliveryResult::Fail {
            if !pod.delete.finish_reported && pod.deleted != NONE {
                next = next.min(pod.deleted.max(pod.delete.decided_at));
            }
            let tier_t = match pod.delete.tier {
                0 => ds + tiers.stale_us,
                1 => ds + tiers.terminating_us,
                _ => NONE,
            };
            if tier_t != NONE && (pod.deleted == NONE || pod.deleted > tier_t) {
                next = next.min(tier_t);
            }
        }
    }
    if next == NONE {
        next = retire_at(pod, cfg);
    }
    next
}

/// When an idle pod's state can be dropped.
pub(crate) fn retire_at(pod: &PodState, cfg: &EngineConfig) -> i64 {
    let mut t = pod
        .last_event
        .saturating_add(cfg.lateness_us)
        .saturating_add(SETTLE_US);
    if pod.created.is_set() {
        t = t.max(pod.created.t.saturating_add(cfg.give_up_us));
    } else if pod.api_fail.is_none() && pod.gone_at() == NONE {
        // Never saw the create: keep it for a give-up horizon in case it is late.
        t = t.max(pod.last_event.saturating_add(cfg.give_up_us));
    }
    t
}

/// Runs every decision of `pod` due at or before `at`. Returns true when the
/// pod has nothing left to do and may be retired.
pub(crate) fn step(
    pod: &mut PodState,
    at: i64,
    ctx: &Ctx,
    windows: &mut Windows,
    out: &mut Vec<Output>,
) -> bool {
    let cfg = ctx.cfg;
    if !pod.create.decided() {
        if let Some((t, r)) = create_candidate(pod, cfg, i64::MAX) {
            if fire_time(t, r) <= at {
                decide_create(pod, t, r, ctx, windows, out);
            }
        }
    }
    if pod.create.decided()
        && !pod.create.finish_reported
        && matches!(
            RESULTS[pod.create.result as usize],
            DeliveryResult::Fail | DeliveryResult::Abandoned
        )
    {
        let f = pod.completion().t;
        if f != NONE && f.max(pod.create.decided_at).saturating_add(SETTLE_US) <= at {
            pod.create.finish_reported = true;
            pod.create.version += 1;
            let r = RESULTS[pod.create.result as usize];
            let d = create_delivery(pod, pod.create.decided_at, r, Some(f), ctx, &mut None);
            out.push(Output::Delivery(d));
        }
    }
    let ds = pod.delete_start();
    if ds != NONE {
        step_delete(pod, ds, at, ctx, windows, out);
    }
    let retire = retire_at(pod, cfg);
    retire <= at && next_wakeup(pod, cfg, at) == retire
}

fn decide_create(
    pod: &mut PodState,
    t: i64,
    r: DeliveryResult,
    ctx: &Ctx,
    windows: &mut Windows,
    out: &mut Vec<Output>,
) {
    // A verdict about to be given without an observed Ready (the deadline,
    // the give-up horizon) first asks whether readiness follows from the
    // container starts; live flows see the real Ready condition long before.
    let (t, r) = match r {
        DeliveryResult::Fail | DeliveryResult::Abandoned => infer_ready(pod, t).unwrap_or((t, r)),
        _ => (t, r),
    };
    pod.create.decided_at = t;
    pod.create.result = result_idx(r);
    pod.create.version = 0;
    let finished = (r == DeliveryResult::Success).then_some(t);
    pod.create.finish_reported = finished.is_some();
    let mut view = None;
    let mut d = create_delivery(pod, t, r, finished, ctx, &mut view);
    windows.add(
        pod.namespace,
        Action::Create,
        &d,
        ctx.watermark,
        &ctx.sink(),
        out,
    );
    if ctx.cfg.emit_spans {
        let flags = emit_spans(pod, &d, Action::Create, ctx, view.as_ref(), out);
        d.flags.extend(flags);
    }
    out.push(Output::Delivery(d));
}

/// Applies [`PodState::inferred_ready`] as of `at`: the pod completes at its
/// last container start.
fn infer_ready(pod: &mut PodState, at: i64) -> Option<(i64, DeliveryResult)> {
    let s = pod.inferred_ready(at)?;
    pod.ready = s;
    pod.ready_inferred = true;
    Some((s.t, DeliveryResult::Success))
}

/// Builds the create delivery record decided at `decided` (deterministic in
/// the facts up to `decided` and, for corrections, up to `finished`).
/// `view` keeps the spans it evaluated, for the emitted spans to reuse.
fn create_delivery(
    pod: &PodState,
    decided: i64,
    r: DeliveryResult,
    finished: Option<i64>,
    ctx: &Ctx,
    view: &mut Option<SpanView>,
) -> Delivery {
    let cfg = ctx.cfg;
    let interner = ctx.interner;
    let ns = interner.resolve(pod.namespace);
    let mut d = base_delivery(pod, Action::Create, ctx);
    d.version = pod.create.version.max(0);
    d.result = r;
    d.decided_at_us = decided;
    d.finished_at_us = finished;
    if r == DeliveryResult::ApiFailed {
        let a = pod
            .api_fail
            .as_ref()
            .expect("api_failed has an api failure");
        let f = classify::api_failure(a.code, &a.message);
        d.created_at_us = a.t;
        d.code = f.code.to_string();
        d.sub_reason = f.sub_reason.clone().unwrap_or_default();
        d.summary = with_advice(
            format!(
                "create rejected by the apiserver (HTTP {}): {}",
                a.code, f.what
            ),
            &f,
        );
        d.slo_class = pod.class.as_str().to_string();
        return d;
    }
    let c = pod.created.t;
    let end = finished.unwrap_or(decided);
    // Facts just after a completion stamp still belong before it (see SETTLE_US).
    let tl = timeline(
        pod,
        if finished.is_some() {
            end.saturating_add(SETTLE_US)
        } else {
            end
        },
    );
    d.created_at_us = c;
    d.slo_ms = pod.slo().map(|s| s / 1000);
    d.slo_class = pod.class.as_str().to_string();
    let custom = custom_exclusive(&cfg.spans, pod, c, end, view);
    d.deadline_us = pod.slo().and_then(|_| deadline(&cfg.spans, pod, view));
    d.phases = tl.phases;
    d.flags = tl.flags.clone();
    d.k8s_sli_ms = tl.k8s_sli_us.map(|v| v / 1000);
    d.sli_ms = Some(((end - c) - custom).max(0) / 1000);
    let slo_txt = SloText(pod.slo());
    let verb = if pod.is_job { "running" } else { "ready" };
    match r {
        DeliveryResult::Success => {
            let mut s = String::with_capacity(96);
            for part in [verb, " in ", Human(end - c).render().as_str(), " ("] {
                s.push_str(part);
            }
            slo_txt.push_to(&mut s);
            s.push(')');
            if let Some((n, v)) = longest_phase(&tl) {
                for part in [
                    "; longest phase ",
                    n,
                    " ",
                    Human(v * 1000).render().as_str(),
                ] {
                    s.push_str(part);
                }
            }
            if pod.ready_inferred {
                d.flags.push("ready:inferred".into());
                s.push_str(
                    "; Ready was not observed: inferred from the last container start \
                     (no readiness probes or gates)",
                );
            }
            d.summary = s;
        }
        DeliveryResult::Fail | DeliveryResult::Abandoned => {
            let dtl = if finished.is_some() {
                timeline(pod, decided)
            } else {
                tl.clone()
            };
            let f = diagnose(pod, decided, &dtl, interner);
            set_code(&mut d, &f);
            let head = if r == DeliveryResult::Fail {
                format!("not {verb} after {} ({slo_txt})", human(decided - c))
            } else {
                format!(
                    "no completion within the give-up horizon of {} ({slo_txt})",
                    human(cfg.give_up_us)
                )
            };
            let mut s = format!("{}; {head}", f.what);
            if let Some(fin) = finished {
                s.push_str(&format!("; finally {verb} after {}", human(fin - c)));
            }
            d.summary = with_advice(s, &f);
        }
        DeliveryResult::Kill => {
            if pod.deletion_unobserved && pod.delete_req == NONE {
                d.flags.push("deletion:unobserved".into());
            }
            let quick = decided - c <= cfg.slo.kill_diagnosis_after_us
                || cfg.slo.ignore_delete_reason_namespaces.contains(ns);
            let f = if quick {
                None
            } else {
                let f = diagnose(pod, decided, &tl, interner);
                // A pure timing code is no reason for a kill: the pod was just deleted early.
                (!f.code.ends_with("TooMuchTime")
                    && f.code != "timeout_unknown"
                    && f.code != "NoEvent"
                    && f.code != "ContainerNotReady")
                    .then_some(f)
            };
            match f {
                Some(f) => {
                    set_code(&mut d, &f);
                    d.summary = with_advice(
                        format!(
                            "deleted {} after creation before it was {verb}: {}",
                            human(decided - c),
                            f.what
                        ),
                        &f,
                    );
                }
                None => {
                    let f = classify::derived(Derived::BeforeFinish, String::new());
                    d.code = f.code.to_string();
                    d.summary = format!(
                        "deleted {} after creation, before it was {verb} ({slo_txt})",
                        human(decided - c)
                    );
                }
            }
        }
        DeliveryResult::ApiFailed => {}
    }
    d
}

/// "SLO 1 min 30 s" or "best effort", written without an intermediate string.
#[derive(Clone, Copy)]
struct SloText(Option<i64>);

impl SloText {
    /// Appends the text to `s` (as `Display`, without `fmt` machinery).
    fn push_to(self, s: &mut String) {
        match self.0 {
            Some(v) => {
                s.push_str("SLO ");
                s.push_str(Human(v).render().as_str());
            }
            None => s.push_str("best effort"),
        }
    }
}

impl std::fmt::Display for SloText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(s) => write!(f, "SLO {}", Human(s)),
            None => f.write_str("best effort"),
        }
    }
}

fn set_code(d: &mut Delivery, f: &Found) {
    d.code = f.code.to_string();
    d.sub_reason = f.sub_reason.clone().unwrap_or_default();
}

fn base_delivery(pod: &PodState, action: Action, ctx: &Ctx) -> Delivery {
    let interner = ctx.interner;
    let uid = if pod.uid_known {
        pod.key.to_string()
    } else {
        String::new()
    };
    Delivery {
        id: ids::delivery_id(ctx.cluster, &pod.key, action),
        version: 0,
        cluster: ctx.cluster.to_string(),
        namespace: interner.resolve(pod.namespace).to_string(),
        name: pod.name.to_string(),
        uid,
        action,
        result: DeliveryResult::Success,
        code: String::new(),
        sub_reason: String::new(),
        summary: String::new(),
        created_at_us: 0,
        finished_at_us: None,
        decided_at_us: 0,
        deadline_us: None,
        slo_ms: None,
        slo_class: String::new(),
        sli_ms: None,
        k8s_sli_ms: None,
        phases: Default::default(),
        node: interner.resolve(pod.node).to_string(),
        pod_ip: interner.resolve(pod.pod_ip).to_string(),
        owner_kind: interner.resolve(pod.owner_kind).to_string(),
        owner_name: interner.resolve(pod.owner_name).to_string(),
        is_job: pod.is_job,
        flags: Vec::new(),
        trace_id: ids::trace_id(ctx.cluster, &pod.key, action),
    }
}

fn step_delete(
    pod: &mut PodState,
    ds: i64,
    at: i64,
    ctx: &Ctx,
    windows: &mut Windows,
    out: &mut Vec<Output>,
) {
    let tiers = ctx.cfg.slo.delete_tiers;
    let e = pod.deleted;
    if !pod.delete.decided() {
        let t1 = ds + tiers.delete_us;
        let (t, r) = if e <= t1 {
            (e, DeliveryResult::Success)
        } else {
            (t1, DeliveryResult::Fail)
        };
        if t > at {
            return;
        }
        pod.delete.decided_at = t;
        pod.delete.result = result_idx(r);
        pod.delete.version = 0;
        pod.delete.finish_reported = r == DeliveryResult::Success;
        let mut d = delete_delivery(pod, ds, t, r, ctx);
        windows.add(
            pod.namespace,
            Action::Delete,
            &d,
            ctx.watermark,
            &ctx.sink(),
            out,
        );
        if ctx.cfg.emit_spans {
            let flags = emit_spans(pod, &d, Action::Delete, ctx, None, out);
            d.flags.extend(flags);
        }
        out.push(Output::Delivery(d));
    }
    if RESULTS[pod.delete.result as usize] != DeliveryResult::Fail {
        return;
    }
    loop {
        let tier_t = match pod.delete.tier {
            0 => ds + tiers.stale_us,
            1 => ds + tiers.terminating_us,
            _ => NONE,
        };
        let fin_t = if !pod.delete.finish_reported && e != NONE {
            e.max(pod.delete.decided_at)
        } else {
            NONE
        };
        let tier_due = tier_t != NONE && tier_t <= at && (e == NONE || e > tier_t);
        if fin_t != NONE && fin_t <= at && (!tier_due || fin_t <= tier_t) {
            pod.delete.finish_reported = true;
        } else if tier_due {
            pod.delete.tier += 1;
        } else {
            return;
        }
        pod.delete.version += 1;
        let decided = pod.delete.decided_at;
        let d = delete_delivery(pod, ds, decided, DeliveryResult::Fail, ctx);
        out.push(Output::Delivery(d));
    }
}

fn delete_delivery(
    pod: &PodState,
    ds: i64,
    decided: i64,
    r: DeliveryResult,
    ctx: &Ctx,
) -> Delivery {
    let interner = ctx.interner;
    let tiers = ctx.cfg.slo.delete_tiers;
    let mut d = base_delivery(pod, Action::Delete, ctx);
    d.version = pod.delete.version.max(0);
    d.result = r;
    d.created_at_us = ds;
    d.decided_at_us = decided;
    d.deadline_us = Some(ds + tiers.delete_us);
    d.slo_ms = Some(tiers.delete_us / 1000);
    d.slo_class = ["delete", "stale", "terminating"][pod.delete.tier.min(2) as usize].to_string();
    let e = pod.deleted;
    let finished =
        (e != NONE && (r == DeliveryResult::Success || pod.delete.finish_reported)).then_some(e);
    d.finished_at_us = finished;
    let end = finished.unwrap_or(decided);
    d.sli_ms = Some((end - ds).max(0) / 1000);
    if pod.deletion_unobserved {
        // The removal time is when a relist found the pod gone: an upper bound.
        d.flags.push("deletion:unobserved".into());
    }
    let kill = if pod.killing != NONE && pod.killing >= ds {
        let host = if pod.killing_host != EMPTY {
            pod.killing_host
        } else {
            pod.node
        };
        let on = if host == EMPTY {
            String::new()
        } else {
            format!(" on node {}", interner.resolve(host))
        };
        format!(
            "; kubelet began killing containers {} after the delete{on}",
            human(pod.killing - ds)
        )
    } else {
        String::new()
    };
    if r == DeliveryResult::Success {
        d.summary = format!("deleted in {}{kill}", human(end - ds));
        return d;
    }
    // First finalizer still present at the first verdict.
    let mut remaining: Vec<_> = pod
        .finalizers
        .iter()
        .filter(|f| f.added <= decided && f.removed > decided)
        .collect();
    remaining.sort_by(|a, b| {
        (a.added, interner.resolve(a.name)).cmp(&(b.added, interner.resolve(b.name)))
    });
    let tier_txt = match pod.delete.tier {
        0 => format!("still present {} after the delete", human(tiers.delete_us)),
        1 => format!(
            "stale: still present {} after the delete",
            human(tiers.stale_us)
        ),
        _ => format!(
            "terminating: still present {} after the delete",
            human(tiers.terminating_us)
        ),
    };
    let f = match remaining.first() {
        Some(fin) => {
            let name = interner.resolve(fin.name);
            let mut f = classify::derived(
                Derived::FinalizerNotRemoved,
                format!("finalizer \"{name}\" was not removed"),
            );
            f.sub_reason = Some(name.to_string());
            f
        }
        None => classify::derived(
            Derived::DeleteTimeout,
            "the pod was not removed and no finalizer explains it (kubelet did not confirm termination)".into(),
        ),
    };
    set_code(&mut d, &f);
    let mut s = format!("{}; {tier_txt}{kill}", f.what);
    if let Some(fin) = finished {
        s.push_str(&format!("; finally gone after {}", human(fin - ds)));
    }
    d.summary = with_advice(s, &f);
    d
}

/// End of input: a create delivery still undecided at `at` is judged then.
/// With a hard finding (an error the classifier recognised) it is a `fail`
/// with that code; otherwise `abandoned` (nothing conclusive), with the
/// timing diagnosis as its code. Both carry the flag `end_of_input`.
pub(crate) fn judge_end(
    pod: &mut PodState,
    at: i64,
    ctx: &Ctx,
    windows: &mut Windows,
    out: &mut Vec<Output>,
) {
    if !pod.create.decided() {
        // Completions wait SETTLE_US for stragglers; at the end of input there are none.
        if let Some((t, r)) = create_candidate(pod, ctx.cfg, i64::MAX) {
            if t <= at {
                decide_create(pod, t, r, ctx, windows, out);
            }
        }
    }
    if pod.create.decided() || pod.no_create || !pod.created.is_set() || pod.api_fail.is_some() {
        return;
    }
    if let Some((t, r)) = infer_ready(pod, at) {
        decide_create(pod, t, r, ctx, windows, out);
        return;
    }
    let at = at.max(pod.created.t);
    let tl = timeline(pod, at);
    let f = diagnose(pod, at, &tl, ctx.interner);
    let timing = f.code.ends_with("TooMuchTime")
        || matches!(
            &*f.code,
            "timeout_unknown" | "NoEvent" | "ScheduleDelay" | "KubeletDelay" | "ContainerNotReady"
        );
    let r = if timing {
        DeliveryResult::Abandoned
    } else {
        DeliveryResult::Fail
    };
    pod.create.decided_at = at;
    pod.create.result = result_idx(r);
    pod.create.version = 0;
    pod.create.finish_reported = true;
    let mut view = None;
    let mut d = create_delivery(pod, at, r, None, ctx, &mut view);
    d.flags.push("end_of_input".into());
    let verb = if pod.is_job { "running" } else { "ready" };
    d.summary = with_advice(
        format!(
            "{}; not {verb} at the end of the input, {} after creation",
            f.what,
            human(at - pod.created.t)
        ),
        &f,
    );
    windows.add(
        pod.namespace,
        Action::Create,
        &d,
        ctx.watermark,
        &ctx.sink(),
        out,
    );
    if ctx.cfg.emit_spans {
        let flags = emit_spans(pod, &d, Action::Create, ctx, view.as_ref(), out);
        d.flags.extend(flags);
    }
    out.push(Output::Delivery(d));
}
