//! Per-pod state, and how one HyperEvent updates it.
//!
//! **Why accumulation is order-free.** Events of one pod arrive in any order
//! within the lateness bound (two collectors, retries, replays), yet the
//! outputs must not depend on that order. So every fact is merged
//! commutatively: milestones keep the earliest time seen, findings keep the
//! earliest occurrence per code, span marks are a multiset. Verdicts are taken
//! only when the cluster watermark passes their time, and then look only at
//! facts up to that time (see `verdict.rs`).
//!
//! **Why compact.** A cluster fleet has hundreds of thousands of pods in
//! flight: strings shared by many pods are interned (4-byte ids), times are
//! `i64` µs with an "unset" sentinel instead of `Option`, and the raw
//! messages are never kept, only the classified result.

use lunettes_schemas::{HyperEvent, PodFacts, Source};
use smallvec::SmallVec;

use crate::classify::{self, Found};
use crate::fields::{container_of, first_quoted, pull_duration_us};
use crate::intern::{Interner, Sym, EMPTY};
use crate::opplan::{Cond, OpPlans, OpRule};
use crate::slo::{PodClass, SloConfig};
use crate::spans::config::{SpanConfig, ValuePath};
use crate::spans::track::{self, Mark};

pub(crate) use crate::stamp::{Stamp, NONE};

/// One container (or init container).
#[derive(Debug, Clone)]
pub(crate) struct Container {
    pub name: Sym,
    pub image: Sym,
    pub init: bool,
    pub in_spec: bool,
    pub post_start: bool,
    /// Has a readiness probe (so it is not ready as soon as it started).
    pub readiness_probe: bool,
    pub created: Stamp,
    pub started: Stamp,
    pub ready: Stamp,
}

impl Container {
    fn new(name: Sym, init: bool) -> Self {
        Container {
            name,
            image: EMPTY,
            init,
            in_spec: false,
            post_start: false,
            readiness_probe: false,
            created: Stamp::NONE,
            started: Stamp::NONE,
            ready: Stamp::NONE,
        }
    }
}

/// One image pull: `Pulling` and `Pulled` events of one image.
#[derive(Debug, Clone)]
pub(crate) struct Pull {
    pub image: Sym,
    pub pulling: Stamp,
    pub pulled: Stamp,
    /// Duration printed in the `Pulled` message (µs), -1 when absent.
    pub dur: i64,
}

impl Pull {
    /// The pull interval as known at `at`: `[start, end]`, open pulls end at `at`.
    pub(crate) fn interval(&self, at: i64) -> Option<(i64, i64, bool)> {
        let pulled = self.pulled.by(at);
        let pulling = self.pulling.by(at);
        if pulled {
            let end = self.pulled.t;
            if self.dur >= 0 {
                // Whole-second stamps: the true end lies in [t, t + slack]
                // and the printed duration is precise, so place the interval
                // as late as the Pulling stamp requires, within that second.
                let mut start = end - self.dur;
                if pulling {
                    start = start.max(self.pulling.t).min(self.pulled.hi() - self.dur);
                }
                return Some((start, start + self.dur, true));
            }
            let start = if pulling {
                self.pulling.t.min(end)
            } else {
                end
            };
            Some((start, end, true))
        } else if pulling {
            Some((self.pulling.t, at.max(self.pulling.t), false))
        } else {
            None
        }
    }
}

/// A classified finding kept per code: the earliest occurrence wins.
#[derive(Debug, Clone)]
pub(crate) struct Signal {
    pub found: Box<Found>,
    pub first: i64,
    pub count: u32,
}

/// A create rejected by the apiserver.
#[derive(Debug, Clone)]
pub(crate) struct ApiFail {
    pub t: i64,
    pub code: i32,
    pub message: Box<str>,
}

/// A finalizer: when first seen and when removed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Finalizer {
    pub name: Sym,
    pub added: i64,
    pub removed: i64,
}

/// Decision state of one delivery.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Decision {
    /// Decision time of version 0, NONE while undecided.
    pub decided_at: i64,
    /// Last emitted version.
    pub version: i32,
    /// Outcome of version 0 (index into `DeliveryResult::ALL`).
    pub result: u8,
    /// Completion was reported in a corrected version.
    pub finish_reported: bool,
    /// Delete tier reported (0 delete, 1 stale, 2 terminating).
    pub tier: u8,
}

impl Decision {
    pub(crate) const PENDING: Decision = Decision {
        decided_at: NONE,
        version: -1,
        result: 0,
        finish_reported: false,
        tier: 0,
    };

    pub(crate) fn decided(&self) -> bool {
        self.decided_at != NONE
    }
}

/// Everything the engine keeps about one pod.
#[derive(Debug, Clone)]
pub(crate) struct PodState {
    /// Pod UID, or `namespace/name` (plus `@dedup` for a rejected create).
    pub key: Box<str>,
    pub uid_known: bool,
    pub namespace: Sym,
    pub name: Box<str>,
    pub facts_at: i64,
    pub class: PodClass,
    /// SLO in µs, -1 for best effort.
    pub slo_us: i64,
    pub is_job: bool,
    pub stateful: bool,
    pub node: Sym,
    pub pod_ip: Sym,
    pub owner_kind: Sym,
    pub owner_name: Sym,
    pub scheduler: Sym,
    pub gates: SmallVec<[Sym; 1]>,
    pub extras: Vec<(u16, Box<str>)>,
    pub containers: SmallVec<[Container; 1]>,
    pub pulls: SmallVec<[Pull; 1]>,
    pub finalizers: SmallVec<[Finalizer; 1]>,
    pub signals: Vec<Signal>,
    pub marks: Vec<Mark>,
    pub dedup: Vec<u32>,
    pub api_fail: Option<Box<ApiFail>>,

    pub created: Stamp,
    pub bound: Stamp,
    pub unschedulable: i64,
    pub kubelet_first: Stamp,
    pub initialized: Stamp,
    pub containers_ready: Stamp,
    pub ready: Stamp,
    /// Latest `Ready=False` seen (max: order-free), `i64::MIN` if none.
    pub ready_false: i64,
    /// `ready` was inferred from the container starts (see [`PodState::inferred_ready`]).
    pub ready_inferred: bool,
    pub job_done: Stamp,
    pub delete_req: i64,
    pub deleted: i64,
    pub killing: i64,
    pub killing_host: Sym,
    /// Earliest event other than the create itself.
    pub first_other: i64,
    /// Latest event time seen.
    pub last_event: i64,
    /// The create delivery is not tracked (pod first seen at its deletion).
    pub no_create: bool,
    /// `deleted` is only a bound: the pod was found gone by a relist
    /// (`pod:gone:unobserved`), its deletion itself was never seen.
    pub deletion_unobserved: bool,

    pub create: Decision,
    pub delete: Decision,
    pub next_timer: i64,
}

impl PodState {
    pub(crate) fn new(key: &str, uid_known: bool, namespace: Sym, name: &str) -> Self {
        PodState {
            key: key.into(),
            uid_known,
            namespace,
            name: name.into(),
            facts_at: NONE,
            class: PodClass::Typical,
            slo_us: -2,
            is_job: false,
            stateful: false,
            node: EMPTY,
            pod_ip: EMPTY,
            owner_kind: EMPTY,
            owner_name: EMPTY,
            scheduler: EMPTY,
            gates: SmallVec::new(),
            extras: Vec::new(),
            containers: SmallVec::new(),
            pulls: SmallVec::new(),
            finalizers: SmallVec::new(),
            signals: Vec::new(),
            marks: Vec::new(),
            dedup: Vec::new(),
            api_fail: None,
            created: Stamp::NONE,
            bound: Stamp::NONE,
            unschedulable: NONE,
            kubelet_first: Stamp::NONE,
            initialized: Stamp::NONE,
            containers_ready: Stamp::NONE,
            ready: Stamp::NONE,
            ready_false: i64::MIN,
            ready_inferred: false,
            job_done: Stamp::NONE,
            delete_req: NONE,
            deleted: NONE,
            killing: NONE,
            killing_host: EMPTY,
            first_other: NONE,
            last_event: i64::MIN,
            no_create: false,
            deletion_unobserved: false,
            create: Decision::PENDING,
            delete: Decision::PENDING,
            next_timer: NONE,
        }
    }

    /// Completion stamp of the create delivery (Ready for services, phase for jobs).
    pub(crate) fn completion(&self) -> Stamp {
        if self.is_job {
            self.job_done
        } else {
            self.ready
        }
    }

    /// Readiness inferred from the container starts, for recordings that
    /// never show `Ready=True`: Kubernetes marks a container without a
    /// readiness probe ready as soon as it started, and a pod without
    /// readiness gates Ready when all its containers are. So when, as known
    /// at `at`, Ready=True was not seen, every main container of the spec has
    /// started, none has a readiness probe or a postStart hook, there are no
    /// readiness gates, and nothing contradicts it after the last start (a
    /// `Ready=False`, a container failure or any other diagnosis signal), the
    /// pod was ready at its last container start: that start's stamp.
    /// Services only (a job completes at phase Running).
    pub(crate) fn inferred_ready(&self, at: i64) -> Option<Stamp> {
        if self.is_job || self.ready.by(at) || !self.gates.is_empty() {
            return None;
        }
        let mut last = Stamp::NONE;
        let mut any = false;
        for c in self.containers.iter().filter(|c| !c.init && c.in_spec) {
            if c.readiness_probe || c.post_start || !c.started.by(at) {
                return None;
            }
            any = true;
            if !last.is_set() || c.started.t > last.t {
                last = c.started;
            }
        }
        if !any || self.ready_false > last.t {
            return None;
        }
        let contradicted = self
            .signals
            .iter()
            .any(|s| s.first >= last.t && s.first <= at);
        (!contradicted).then_some(last)
    }

    /// First kubelet activity known at `at`: the first kubelet event, or the
    /// start of the earliest pull interval (a `Pulled` without `Pulling`).
    pub(crate) fn kubelet_start(&self, at: i64) -> Stamp {
        let mut k = if self.kubelet_first.by(at) {
            self.kubelet_first
        } else {
            Stamp::NONE
        };
        for p in &self.pulls {
            if p.pulled.by(at) {
                if let Some((s, _, _)) = p.interval(at) {
                    k.merge(Stamp { t: s, slack: 0 });
                }
            }
        }
        k
    }

    /// Start of the delete delivery: the delete request, else the removal.
    /// A removal only inferred by a relist starts none (nothing about the
    /// deletion was measured), though it still ends the create delivery (see
    /// [`PodState::gone_at`]).
    pub(crate) fn delete_start(&self) -> i64 {
        if self.deletion_unobserved {
            self.delete_req
        } else {
            self.delete_req.min(self.deleted)
        }
    }

    /// When the pod was known to be deleting or gone (a kill of an
    /// unfinished create delivery).
    pub(crate) fn gone_at(&self) -> i64 {
        self.delete_req.min(self.deleted)
    }

    /// The SLO of this pod (µs), `None` for best effort.
    pub(crate) fn slo(&self) -> Option<i64> {
        (self.slo_us >= 0).then_some(self.slo_us)
    }

    fn container_idx(&mut self, name: Sym, init: bool) -> usize {
        if let Some(i) = self.containers.iter().position(|c| c.name == name) {
            return i;
        }
        self.containers.push(Container::new(name, init));
        self.containers.len() - 1
    }

    fn pull_idx(&mut self, image: Sym) -> usize {
        if let Some(i) = self.pulls.iter().position(|p| p.image == image) {
            return i;
        }
        self.pulls.push(Pull {
            image,
            pulling: Stamp::NONE,
            pulled: Stamp::NONE,
            dur: -1,
        });
        self.pulls.len() - 1
    }

    fn add_signal(&mut self, found: Found, t: i64) {
        if let Some(s) = self.signals.iter_mut().find(|s| s.found.code == found.code) {
            s.count += 1;
            if (t, &found.what) < (s.first, &s.found.what) {
                s.first = t;
                *s.found = found;
            }
            return;
        }
        self.signals.push(Signal {
            found: Box::new(found),
            first: t,
            count: 1,
        });
    }

    fn add_finalizer(&mut self, name: Sym, added: i64) {
        if let Some(f) = self.finalizers.iter_mut().find(|f| f.name == name) {
            f.added = f.added.min(added);
        } else {
            self.finalizers.push(Finalizer {
                name,
                added,
                removed: NONE,
            });
        }
    }

    /// Applies the pod facts carried by an event at time `t`.
    fn apply_facts(
        &mut self,
        f: &PodFacts,
        t: i64,
        source: Source,
        interner: &mut Interner,
        slo: &SloConfig,
        spans: &SpanConfig,
    ) {
        if !f.node_name.is_empty() && self.node == EMPTY {
            self.node = interner.intern(&f.node_name);
        }
        if !f.pod_ip.is_empty() && self.pod_ip == EMPTY {
            self.pod_ip = interner.intern(&f.pod_ip);
        }
        for fin in &f.finalizers {
            let s = interner.intern(fin);
            self.add_finalizer(s, t);
        }
        if source == Source::Watch {
            if let Some(c) = f.creation_us {
                self.created.merge(Stamp {
                    t: c,
                    slack: 999_999,
                });
            }
        }
        // Spec facts: the earliest body wins (the create response), so the
        // result does not depend on which later body arrived first.
        if f.containers.is_empty() || (self.facts_at != NONE && t >= self.facts_at) {
            return;
        }
        self.facts_at = t;
        let ns = interner.resolve(self.namespace).to_string();
        let (class, slo_us) = slo.slo_for(&ns, Some(f));
        self.class = class;
        self.slo_us = slo_us.unwrap_or(-1);
        self.is_job = !f.restart_policy.is_empty() && f.restart_policy != "Always";
        self.stateful = f.volume_kinds.iter().any(|k| {
            !matches!(
                k.as_str(),
                "emptyDir" | "configMap" | "secret" | "downwardAPI" | "projected"
            )
        });
        self.owner_kind = interner.intern(&f.owner_kind);
        self.owner_name = interner.intern(&f.owner_name);
        if !f.scheduler_name.is_empty() {
            self.scheduler = interner.intern(&f.scheduler_name);
        }
        self.gates = f
            .readiness_gates
            .iter()
            .map(|g| interner.intern(g))
            .collect();
        for (init, list) in [(true, &f.init_containers), (false, &f.containers)] {
            for c in list {
                let i = self.container_idx(interner.intern(&c.name), init);
                let img = interner.intern(&c.image);
                let ct = &mut self.containers[i];
                ct.init = init;
                ct.in_spec = true;
                ct.image = img;
                ct.post_start = c.has_post_start;
                ct.readiness_probe = c.has_readiness_probe;
            }
        }
        self.extras.clear();
        for (i, ex) in spans.extras.iter().enumerate() {
            let v: Option<&str> = match &ex.path {
                ValuePath::Label(k) => f.labels.get(&**k).map(|s| s.as_str()),
                ValuePath::Namespace => Some(ns.as_str()),
                ValuePath::Name => Some(&self.name),
                ValuePath::NodeName => Some(f.node_name.as_str()),
                ValuePath::SchedulerName => Some(f.scheduler_name.as_str()),
                ValuePath::OwnerKind => Some(f.owner_kind.as_str()),
            };
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                self.extras.push((i as u16, v.into()));
            }
        }
    }

    /// Applies one HyperEvent (already de-duplicated) to the state.
    pub(crate) fn apply(
        &mut self,
        ev: &HyperEvent,
        interner: &mut Interner,
        slo: &SloConfig,
        spans: &SpanConfig,
        scratch: &mut track::Scratch,
        plans: &mut OpPlans,
    ) {
        let t = ev.time_us;
        let stamp = Stamp::of(t, ev.time_precision, ev.observed_us);
        self.last_event = self.last_event.max(t);
        if let Some(f) = &ev.pod {
            self.apply_facts(f, t, ev.source, interner, slo, spans);
        }
        if self.slo_us == -2 {
            // No body seen yet: classify as typical until one arrives.
            let ns = interner.resolve(self.namespace).to_string();
            let (class, s) = slo.slo_for(&ns, None);
            self.class = class;
            self.slo_us = s.unwrap_or(-1);
        }
        let mut is_create = false;
        let secs = stamp.slack > 0;
        for op in &ev.operations {
            let plan = plans.plan(op, spans, interner, scratch);
            if self.apply_rule(plan.rule, op, t, stamp, ev) {
                is_create = true;
            }
            for m in &plan.marks {
                track::push(self, &m.trig, t, secs, m.instance, m.dur);
            }
        }
        if let Some(e) = &ev.event {
            self.apply_event(ev, e, t, stamp, interner);
            track::on_event(
                spans,
                self,
                &e.reason,
                &e.message,
                &ev.object.field_path,
                t,
                stamp.slack > 0,
                interner,
                scratch,
            );
        }
        if !is_create {
            self.first_other = self.first_other.min(t);
        }
    }

    /// Applies an operation's lifecycle rule (see [`OpRule`]; `op` is the
    /// string it was planned from). Returns true for the create itself.
    fn apply_rule(
        &mut self,
        rule: OpRule,
        op: &str,
        t: i64,
        stamp: Stamp,
        ev: &HyperEvent,
    ) -> bool {
        match rule {
            OpRule::Created => {
                self.created.merge(stamp);
                return true;
            }
            OpRule::CreateFailed => {
                let code = ev.response_code.unwrap_or(0);
                if self.api_fail.as_ref().is_none_or(|a| t < a.t) {
                    self.api_fail = Some(Box::new(ApiFail {
                        t,
                        code,
                        message: ev.response_message.as_str().into(),
                    }));
                }
                return true;
            }
            OpRule::DeleteRequested => self.delete_req = self.delete_req.min(t),
            OpRule::Deleted => {
                self.deleted = self.deleted.min(t);
                self.deletion_unobserved = false;
            }
            // Found missing by a relist: gone by `t`, when is unknown.
            OpRule::GoneUnobserved if self.deleted == NONE || self.deletion_unobserved => {
                self.deleted = self.deleted.min(t);
                self.deletion_unobserved = true;
            }
            OpRule::SchedulerEntry(s) if self.scheduler == EMPTY => self.scheduler = s,
            OpRule::Bound => self.bound.merge(stamp),
            OpRule::Condition(cond, truth) => match (cond, truth) {
                (Cond::PodScheduled, true) => self.bound.merge(stamp),
                (Cond::PodScheduled, false) => self.unschedulable = self.unschedulable.min(t),
                (Cond::Initialized, true) => self.initialized.merge(stamp),
                (Cond::ContainersReady, true) => self.containers_ready.merge(stamp),
                (Cond::Ready, true) => self.ready.merge(stamp),
                (Cond::Ready, false) => self.ready_false = self.ready_false.max(t),
                _ => {}
            },
            OpRule::JobDone => self.job_done.merge(stamp),
            OpRule::ContainerState {
                name,
                init,
                tail_at,
            } => {
                let i = self.container_idx(name, init);
                let tail = op.get(tail_at as usize..).unwrap_or("");
                if tail == "Running" {
                    self.containers[i].started.merge(stamp);
                    if init {
                        self.kubelet_first.merge(stamp);
                    }
                } else if let Some(reason) = tail.strip_prefix("Waiting:") {
                    if !matches!(reason, "ContainerCreating" | "PodInitializing" | "") {
                        if let Some(f) = classify::container_state(true, reason, None, init) {
                            self.add_signal(f, t);
                        }
                    }
                } else if let Some(rest) = tail.strip_prefix("terminated:") {
                    let (reason, exit) = match rest.split_once(";exitCode:") {
                        Some((r, e)) => (r, e.parse::<i32>().ok()),
                        None => (rest, None),
                    };
                    let clean = exit == Some(0) || (exit.is_none() && reason == "Completed");
                    if !clean || (!init && !self.is_job) {
                        if let Some(f) = classify::container_state(false, reason, exit, init) {
                            self.add_signal(f, t);
                        }
                    }
                }
            }
            OpRule::ContainerReady(name) => {
                let i = self.container_idx(name, false);
                self.containers[i].ready.merge(stamp);
            }
            OpRule::FinalizerAdd(s) => self.add_finalizer(s, t),
            OpRule::FinalizerDelete(s) => {
                self.add_finalizer(s, t);
                if let Some(f) = self.finalizers.iter_mut().find(|f| f.name == s) {
                    f.removed = f.removed.min(t);
                }
            }
            OpRule::GoneUnobserved | OpRule::SchedulerEntry(_) | OpRule::Nothing => {}
        }
        false
    }

    fn apply_event(
        &mut self,
        ev: &HyperEvent,
        e: &lunettes_schemas::EventInfo,
        t: i64,
        stamp: Stamp,
        interner: &mut Interner,
    ) {
        let msg = e.message.as_str();
        match e.reason.as_str() {
            "Scheduled" => {
                self.bound.merge(stamp);
                if self.node == EMPTY {
                    if let Some(i) = msg.rfind(" to ") {
                        let node = msg[i + 4..].trim();
                        if !node.is_empty() {
                            self.node = interner.intern(node);
                        }
                    }
                }
                return;
            }
            "Pulling" | "Pulled" => {
                // A Pulled event counts as kubelet activity through its pull
                // interval (see `kubelet_start`), not at its own time.
                if e.reason == "Pulling" {
                    self.kubelet_first.merge(stamp);
                }
                if self.node == EMPTY && !e.host.is_empty() {
                    self.node = interner.intern(&e.host);
                }
                let image = first_quoted(msg).unwrap_or("");
                let img = interner.intern(image);
                let i = self.pull_idx(img);
                let p = &mut self.pulls[i];
                if e.reason == "Pulling" {
                    p.pulling.merge(stamp);
                } else {
                    let dur = pull_duration_us(msg);
                    let before = p.pulled;
                    p.pulled.merge(stamp);
                    if p.pulled != before || p.dur < 0 {
                        p.dur = dur;
                    }
                }
                return;
            }
            "Created" | "Started" => {
                self.kubelet_first.merge(stamp);
                if let Some((name, init)) = container_of(&ev.object.field_path, msg) {
                    let i = self.container_idx(interner.intern(name), init);
                    if e.reason == "Created" {
                        self.containers[i].created.merge(stamp);
                    } else {
                        self.containers[i].started.merge(stamp);
                    }
                }
                return;
            }
            // Also classified below: "failed liveness probe, will be restarted".
            "Killing" if t < self.killing => {
                self.killing = t;
                if !e.host.is_empty() {
                    self.killing_host = interner.intern(&e.host);
                }
            }
            "FailedScheduling" => self.unschedulable = self.unschedulable.min(t),
            _ => {}
        }
        // Normal events too: several failures are reported as Normal
        // (`BackOff` pulling image, `Killing` on a failed liveness probe,
        // `TaintManagerEviction`, `SandboxChanged`, `Preempted`); the
        // classifier answers progress reasons without reading the message.
        let init = ev.object.field_path.starts_with("spec.initContainers");
        if let Some(f) = classify::event(&e.reason, msg, init) {
            let first = e.first_us.filter(|f| *f <= t).unwrap_or(t);
            self.add_signal(f, first);
        }
    }
}

#[cfg(test)]
mod size_tests {
    /// The per-pod budget is 1 KiB including heap parts; the inline state must stay well under it.
    #[test]
    fn pod_state_stays_compact() {
        assert!(
            std::mem::size_of::<super::PodState>() <= 640,
            "{}",
            std::mem::size_of::<super::PodState>()
        );
        assert_eq!(std::mem::size_of::<crate::spans::track::Mark>(), 16);
        assert_eq!(std::mem::size_of::<super::Stamp>(), 16);
    }
}
