//! Operation plans: what one operation string means to the lifecycle rules
//! and to the span matchers, worked out once per distinct string.
//!
//! **Why.** Operation strings repeat across pods: a fleet prints a few
//! thousand distinct ones (`condition:Ready:true`,
//! `containerState:app:Running`, `schedule:binding:success`), each hundreds
//! of thousands of times. Splitting a string into segments, matching the
//! lifecycle rules on them, looking the span triggers up by the whole string
//! and by its head, running their capture patterns and interning the names
//! cost several hundred instructions per operation; a plan looked up by the
//! string costs one hash and one comparison, and applying it is a `match`
//! on an enum and a few mark inserts. Everything in a plan is a function of
//! the string alone (and of the engine's fixed span configuration), so a
//! plan never goes stale; the pod-dependent parts (is a scheduler already
//! known, is a deletion already observed) stay in [`PodState`].
//!
//! [`PodState`]: crate::pod::PodState

use std::collections::hash_map::Entry;

use smallvec::SmallVec;

use crate::fasthash::{hash64, FastMap};
use crate::intern::{Interner, Sym, EMPTY};
use crate::spans::config::{SpanConfig, Trigger};
use crate::spans::track::{trigger_hit, Scratch};

/// Distinct operation strings remembered before the cache starts over (a
/// bound on memory for fleets with unusually many container names).
const PLANS_MAX: usize = 16_384;

/// A pod condition the lifecycle rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cond {
    PodScheduled,
    Initialized,
    ContainersReady,
    Ready,
}

/// What an operation does to the lifecycle state (see `PodState::apply_rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpRule {
    /// `pod:create:success`.
    Created,
    /// `pod:create:failed` (the rejection's code and message are the event's).
    CreateFailed,
    /// `pod:delete:success`: deletion requested.
    DeleteRequested,
    /// `pod:deleted:success`: the object is gone.
    Deleted,
    /// `pod:gone:unobserved`: a relist found the pod missing.
    GoneUnobserved,
    /// `schedule:<scheduler>:entry`.
    SchedulerEntry(Sym),
    /// `schedule:binding:success`.
    Bound,
    /// `condition:<type>:<status>` for the conditions the rules read
    /// (`true` when the status is `true`).
    Condition(Cond, bool),
    /// `phase:Running|Succeeded|Failed:...`.
    JobDone,
    /// `containerState:<name>:...` / `initContainerState:<name>:...`;
    /// `tail_at` is where the state (`Running`, `Waiting:<reason>`,
    /// `terminated:<reason>;exitCode:<n>`) starts in the string.
    ContainerState { name: Sym, init: bool, tail_at: u32 },
    /// `containerReady:<name>:true`.
    ContainerReady(Sym),
    /// `finalizer:<name>:add`.
    FinalizerAdd(Sym),
    /// `finalizer:<name>:delete`.
    FinalizerDelete(Sym),
    /// Nothing the lifecycle rules read.
    Nothing,
}

/// One span mark an operation records: which trigger, for which instance,
/// and (direct-info spans) the duration the string printed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpMark {
    pub trig: Trigger,
    pub instance: Sym,
    pub dur: Option<i64>,
}

/// Everything one operation string means.
#[derive(Debug, Clone)]
pub(crate) struct OpPlan {
    /// The string planned (checked on lookup: plans are found by hash).
    op: Box<str>,
    pub rule: OpRule,
    pub marks: SmallVec<[OpMark; 2]>,
}

/// The plans of the operation strings seen so far, by the string's 64-bit
/// hash (one string hash per lookup; a colliding string replaces the plan,
/// never borrows it).
#[derive(Debug, Default)]
pub(crate) struct OpPlans {
    plans: FastMap<u64, OpPlan>,
}

impl OpPlans {
    /// The plan of `op`, worked out on first sight. Names are interned in
    /// the order the rules and then the span matchers read them.
    pub(crate) fn plan(
        &mut self,
        op: &str,
        spans: &SpanConfig,
        interner: &mut Interner,
        scratch: &mut Scratch,
    ) -> &OpPlan {
        let h = hash64(op.as_bytes());
        if self.plans.len() >= PLANS_MAX && !self.plans.contains_key(&h) {
            self.plans.clear();
        }
        let build = |interner: &mut Interner, scratch: &mut Scratch| {
            let segs: SmallVec<[&str; 6]> = op.split(':').collect();
            let rule = rule_of(op, &segs, interner);
            let marks = marks_of(spans, op, &segs, interner, scratch);
            OpPlan {
                op: op.into(),
                rule,
                marks,
            }
        };
        // One probe on the hot path (a known operation); a different
        // operation with the same 64-bit hash replaces the plan it met.
        match self.plans.entry(h) {
            Entry::Occupied(e) => {
                let plan = e.into_mut();
                if *plan.op != *op {
                    *plan = build(interner, scratch);
                }
                plan
            }
            Entry::Vacant(e) => e.insert(build(interner, scratch)),
        }
    }
}

/// The lifecycle rule of an operation, from its segments.
fn rule_of(op: &str, segs: &[&str], interner: &mut Interner) -> OpRule {
    let head = segs.first().copied().unwrap_or("");
    let mid = segs.get(1).copied().unwrap_or("");
    // Everything after the second ':' (e.g. `Waiting:ErrImagePull`).
    let tail_at = head.len() + mid.len() + 2;
    let tail = if segs.len() > 2 { &op[tail_at..] } else { "" };
    match head {
        "pod" => match (mid, tail) {
            ("create", "success") => OpRule::Created,
            ("create", "failed") => OpRule::CreateFailed,
            ("delete", "success") => OpRule::DeleteRequested,
            ("deleted", "success") => OpRule::Deleted,
            ("gone", "unobserved") => OpRule::GoneUnobserved,
            _ => OpRule::Nothing,
        },
        "schedule" if mid == "binding" => {
            if tail == "success" {
                OpRule::Bound
            } else {
                OpRule::Nothing
            }
        }
        "schedule" if tail == "entry" => OpRule::SchedulerEntry(interner.intern(mid)),
        "condition" => {
            let cond = match mid {
                "PodScheduled" => Cond::PodScheduled,
                "Initialized" => Cond::Initialized,
                "ContainersReady" => Cond::ContainersReady,
                "Ready" => Cond::Ready,
                _ => return OpRule::Nothing,
            };
            OpRule::Condition(cond, tail == "true")
        }
        "phase" if matches!(mid, "Running" | "Succeeded" | "Failed") => OpRule::JobDone,
        "containerState" | "initContainerState" => OpRule::ContainerState {
            name: interner.intern(mid),
            init: head == "initContainerState",
            tail_at: if segs.len() > 2 {
                tail_at as u32
            } else {
                op.len() as u32
            },
        },
        "containerReady" if tail == "true" => OpRule::ContainerReady(interner.intern(mid)),
        "finalizer" => {
            let name = interner.intern(mid);
            match tail {
                "add" => OpRule::FinalizerAdd(name),
                "delete" => OpRule::FinalizerDelete(name),
                _ => OpRule::Nothing,
            }
        }
        _ => OpRule::Nothing,
    }
}

/// The span marks an operation records: the triggers configured for the
/// exact string, then those of `*` patterns under its head.
fn marks_of(
    cfg: &SpanConfig,
    op: &str,
    segs: &[&str],
    interner: &mut Interner,
    scratch: &mut Scratch,
) -> SmallVec<[OpMark; 2]> {
    let mut marks = SmallVec::new();
    scratch.new_text();
    let exact = cfg.op_exact.get(op).map(|t| t.as_slice()).unwrap_or(&[]);
    for trig in exact {
        if let Some((instance, dur)) = trigger_hit(cfg, trig, op, interner, scratch, |_| EMPTY) {
            marks.push(OpMark {
                trig: *trig,
                instance,
                dur,
            });
        }
    }
    // `*` patterns under the head segment; the first `*` names the instance.
    let wild = segs.first().and_then(|head| cfg.op_wild.get(*head));
    for trig in wild.map(|t| t.as_slice()).unwrap_or(&[]) {
        let Some(cap) = cfg.matchers[trig.matcher as usize].match_op(segs) else {
            continue;
        };
        if let Some((instance, dur)) =
            trigger_hit(cfg, trig, op, interner, scratch, |i| i.intern(cap))
        {
            marks.push(OpMark {
                trig: *trig,
                instance,
                dur,
            });
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(op: &str) -> (OpPlan, Interner) {
        let mut interner = Interner::default();
        let mut plans = OpPlans::default();
        let cfg = SpanConfig::default();
        let p = plans
            .plan(op, &cfg, &mut interner, &mut Scratch::default())
            .clone();
        (p, interner)
    }

    #[test]
    fn rules_read_the_segments() {
        assert_eq!(plan("pod:create:success").0.rule, OpRule::Created);
        assert_eq!(plan("pod:create:successful").0.rule, OpRule::Nothing);
        assert_eq!(
            plan("condition:Ready:false").0.rule,
            OpRule::Condition(Cond::Ready, false)
        );
        assert_eq!(plan("condition:Foo:true").0.rule, OpRule::Nothing);
        assert_eq!(plan("schedule:binding:failed").0.rule, OpRule::Nothing);
        let (p, i) = plan("schedule:my-scheduler:entry");
        let OpRule::SchedulerEntry(s) = p.rule else {
            panic!("{:?}", p.rule)
        };
        assert_eq!(i.resolve(s), "my-scheduler");
        let op = "initContainerState:setup:terminated:Error;exitCode:1";
        let (p, i) = plan(op);
        let OpRule::ContainerState {
            name,
            init,
            tail_at,
        } = p.rule
        else {
            panic!("{:?}", p.rule)
        };
        assert_eq!((i.resolve(name), init), ("setup", true));
        assert_eq!(&op[tail_at as usize..], "terminated:Error;exitCode:1");
        let (p, _) = plan("containerState:app");
        assert!(matches!(p.rule, OpRule::ContainerState { tail_at: 18, .. }));
    }

    #[test]
    fn default_spans_mark_their_operations() {
        let cfg = SpanConfig::default();
        // `schedule:*:entry` starts default_schedule (a `*` pattern), and
        // `condition:Ready:true` ends pod_ready (an exact one).
        for op in ["schedule:default-scheduler:entry", "condition:Ready:true"] {
            let (p, _) = plan(op);
            assert!(!p.marks.is_empty(), "{op}");
            for m in &p.marks {
                assert!((m.trig.span as usize) < cfg.spans.len());
            }
        }
        assert!(plan("phase:Pending:set").0.marks.is_empty());
    }
}
