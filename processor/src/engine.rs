//! The engine: per-cluster pod tables, de-duplication, the event-time clock
//! and the timer heap.
//!
//! **Clock.** Each cluster has a watermark = max event time seen - lateness
//! (watermark records and [`Engine::tick`] advance it too). A timer fires
//! when the watermark passes it, so a deadline yields its verdict even if
//! the pod never sends another event: another pod's events, a collector
//! watermark or a tick move the clock.
//!
//! **Timers.** One min-heap per cluster (4-ary, `timers.rs`) of (time, slot,
//! generation); a pod has at most one live entry (its `next_timer`), stale
//! entries are skipped when popped. Firing is O(log n).
//!
//! **Memory.** Pods live in a slab (`Vec<Option<PodState>>` + free list)
//! indexed through a fixed-seed hash of the pod key; retired pods leave a
//! 16-byte tombstone for a bounded time so late duplicates do not restart a
//! delivery.

use std::collections::VecDeque;

use lunettes_schemas::{HyperEvent, Kind, Output};

use crate::fasthash::{hash64, FastMap};
use crate::intern::Interner;
use crate::opplan::OpPlans;
use crate::pod::{PodState, NONE};
use crate::prefetch;
use crate::spans::track;
use crate::timers::TimerQueue;
use crate::verdict::{judge_end, next_wakeup, step, Ctx, SETTLE_US};
use crate::windows::{RowSink, Windows};
use crate::EngineConfig;

/// Counters of what the engine saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// HyperEvents received (including watermarks).
    pub events: u64,
    /// Dropped as duplicates (same `dedup_id` for the same pod).
    pub duplicates: u64,
    /// Dropped because their namespace is in `IgnoredNamespaceForAudit`.
    pub ignored_namespace: u64,
    /// Dropped because they carry no pod identity (no uid, namespace or name).
    pub no_identity: u64,
    /// Arrived after the watermark had passed their time (still applied).
    pub late: u64,
    /// Arrived for a pod already retired (ignored unless they start a delete).
    pub after_retire: u64,
    /// Pod states retired.
    pub retired: u64,
    /// Verdicts too late for any window kept for corrections.
    pub late_window_drops: u64,
}

/// How long a retired pod's tombstone is kept, in give-up horizons.
const TOMBSTONE_HORIZONS: i64 = 2;

struct Cluster {
    name: Box<str>,
    index: FastMap<u64, u32>,
    slab: Vec<Option<PodState>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    timers: TimerQueue,
    max_event: i64,
    watermark: i64,
    windows: Windows,
    tombstones: FastMap<u64, i64>,
    tomb_order: VecDeque<(i64, u64)>,
}

impl Cluster {
    fn new(name: &str) -> Self {
        Cluster {
            name: name.into(),
            index: FastMap::default(),
            slab: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            timers: TimerQueue::default(),
            max_event: i64::MIN,
            watermark: i64::MIN,
            windows: Windows::default(),
            tombstones: FastMap::default(),
            tomb_order: VecDeque::new(),
        }
    }
}

/// Events looked up ahead by [`Engine::process_batch`]: enough for the
/// misses to overlap, few enough that the lines requested (~12 per event)
/// are still in L1/L2 when their events are processed.
const PREFETCH_AHEAD: usize = 32;

/// The delivery engine. See the crate docs.
pub struct Engine {
    cfg: EngineConfig,
    interner: Interner,
    clusters: Vec<Cluster>,
    cluster_index: FastMap<Box<str>, u16>,
    last_cluster: usize,
    stats: EngineStats,
    in_flight: usize,
    key_buf: String,
    scratch: track::Scratch,
    op_plans: OpPlans,
}

impl Engine {
    /// A new engine. `cfg.slo` overrides `lateness_us`/`give_up_us` when it
    /// sets `Lateness`/`GiveUp`.
    pub fn new(mut cfg: EngineConfig) -> Self {
        if let Some(l) = cfg.slo.lateness_us {
            cfg.lateness_us = l;
        }
        if let Some(g) = cfg.slo.give_up_us {
            cfg.give_up_us = g;
        }
        cfg.lateness_us = cfg.lateness_us.max(0);
        cfg.give_up_us = cfg.give_up_us.max(1);
        Engine {
            cfg,
            interner: Interner::default(),
            clusters: Vec::new(),
            cluster_index: FastMap::default(),
            last_cluster: usize::MAX,
            stats: EngineStats::default(),
            in_flight: 0,
            key_buf: String::new(),
            scratch: track::Scratch::default(),
            op_plans: OpPlans::default(),
        }
    }

    /// The effective configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Counters so far.
    pub fn stats(&self) -> EngineStats {
        let mut s = self.stats.clone();
        s.late_window_drops = self.clusters.iter().map(|c| c.windows.late_dropped).sum();
        s
    }

    /// Pods currently tracked (deliveries pending or recently decided).
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The watermark of a cluster (None before its first record).
    pub fn watermark(&self, cluster: &str) -> Option<i64> {
        let c = &self.clusters[self.find_cluster(cluster)?];
        (c.watermark != i64::MIN).then_some(c.watermark)
    }

    fn cluster_idx(&mut self, name: &str) -> usize {
        if let Some(c) = self.clusters.get(self.last_cluster) {
            if &*c.name == name {
                return self.last_cluster;
            }
        }
        let idx = match self.find_cluster(name) {
            Some(i) => i,
            None => {
                let i = self.clusters.len();
                self.clusters.push(Cluster::new(name));
                self.cluster_index.insert(name.into(), i as u16);
                i
            }
        };
        self.last_cluster = idx;
        idx
    }

    /// The index of a known cluster.
    fn find_cluster(&self, name: &str) -> Option<usize> {
        // A partition usually carries a handful of clusters, interleaved:
        // comparing a few short names beats hashing.
        if self.clusters.len() <= 8 {
            return self.clusters.iter().position(|c| &*c.name == name);
        }
        self.cluster_index.get(name).map(|&i| i as usize)
    }

    /// Feeds one HyperEvent; pushes any verdicts, spans and window rows it
    /// (or the watermark it advances) produces.
    pub fn process(&mut self, ev: &HyperEvent, out: &mut Vec<Output>) {
        self.stats.events += 1;
        let ci = self.cluster_idx(&ev.cluster);
        if ev.kind == Kind::Watermark {
            let wm = ev.time_us.saturating_sub(self.cfg.lateness_us);
            self.advance(ci, wm, out);
            return;
        }
        if !self.cfg.slo.ignored_namespaces.is_empty()
            && self
                .cfg
                .slo
                .ignored_namespaces
                .contains(&ev.object.namespace)
        {
            self.stats.ignored_namespace += 1;
            return;
        }
        let obj = &ev.object;
        let rejected_create =
            obj.uid.is_empty() && ev.operations.iter().any(|o| o == "pod:create:failed");
        if obj.uid.is_empty() && obj.name.is_empty() && !rejected_create {
            self.stats.no_identity += 1;
            return;
        }
        // Pod key: the uid, else namespace/name; a rejected create has no
        // uid and may repeat with the same name, so it is keyed per request.
        self.key_buf.clear();
        let uid_known = !obj.uid.is_empty();
        if uid_known {
            self.key_buf.push_str(&obj.uid);
        } else {
            self.key_buf.push_str(&obj.namespace);
            self.key_buf.push('/');
            self.key_buf.push_str(&obj.name);
            if rejected_create {
                self.key_buf.push('@');
                self.key_buf.push_str(&ev.dedup_id);
            }
        }
        let h = hash64(self.key_buf.as_bytes());
        let cl = &mut self.clusters[ci];
        if ev.time_us < cl.watermark {
            self.stats.late += 1;
        }
        let slot = match cl.index.get(&h) {
            Some(&s) => s,
            None => {
                let mut no_create = false;
                if cl.tombstones.contains_key(&h) {
                    let starts_delete = ev
                        .operations
                        .iter()
                        .any(|o| o == "pod:delete:success" || o == "pod:deleted:success");
                    if !starts_delete {
                        self.stats.after_retire += 1;
                        return;
                    }
                    cl.tombstones.remove(&h);
                    no_create = true;
                }
                let ns = self.interner.intern(&obj.namespace);
                let mut pod = PodState::new(&self.key_buf, uid_known, ns, &obj.name);
                pod.no_create = no_create;
                let s = match cl.free.pop() {
                    Some(s) => {
                        cl.slab[s as usize] = Some(pod);
                        s
                    }
                    None => {
                        cl.slab.push(Some(pod));
                        cl.gens.push(0);
                        (cl.slab.len() - 1) as u32
                    }
                };
                cl.index.insert(h, s);
                self.in_flight += 1;
                s
            }
        };
        let Some(pod) = cl.slab[slot as usize].as_mut() else {
            return;
        };
        if !ev.dedup_id.is_empty() {
            let d = hash64(ev.dedup_id.as_bytes()) as u32;
            if pod.dedup.contains(&d) {
                self.stats.duplicates += 1;
                return;
            }
            if pod.dedup.capacity() == 0 {
                // A pod sees ~10 records: start at 8 rather than 4 -> 8 -> 16.
                pod.dedup.reserve_exact(8);
            }
            pod.dedup.push(d);
        }
        if pod.name.is_empty() && !obj.name.is_empty() {
            pod.name = obj.name.as_str().into();
        }
        pod.apply(
            ev,
            &mut self.interner,
            &self.cfg.slo,
            &self.cfg.spans,
            &mut self.scratch,
            &mut self.op_plans,
        );
        let next = next_wakeup(pod, &self.cfg, cl.watermark);
        if next != pod.next_timer {
            pod.next_timer = next;
            cl.timers.push((next, slot, cl.gens[slot as usize]));
        }
        if ev.time_us > cl.max_event {
            cl.max_event = ev.time_us;
        }
        let wm = cl.max_event.saturating_sub(self.cfg.lateness_us);
        self.advance(ci, wm, out);
    }

    /// Feeds a batch of HyperEvents, exactly as [`Engine::process`] on each
    /// in order, with the same outputs.
    ///
    /// **Why a batch.** At fleet scale the pods in flight do not fit in any
    /// cache, so each event's first touch of its pod (the index bucket, the
    /// pod's state, its marks and de-duplication ids) waits on main memory,
    /// one miss after another, and that waiting costs more than the work.
    /// Over a batch, the pods of the next events are looked up and their
    /// memory requested ahead (prefetch hints, which change no state), so
    /// the misses overlap instead of queueing.
    pub fn process_batch(&mut self, evs: &[HyperEvent], out: &mut Vec<Output>) {
        let mut slots = [(u32::MAX, u32::MAX); PREFETCH_AHEAD];
        for chunk in evs.chunks(PREFETCH_AHEAD) {
            for (ev, at) in chunk.iter().zip(slots.iter_mut()) {
                *at = self.prefetch_pod(ev);
            }
            for &(ci, slot) in slots.iter().take(chunk.len()) {
                if let Some(Some(pod)) = self
                    .clusters
                    .get(ci as usize)
                    .and_then(|c| c.slab.get(slot as usize))
                {
                    prefetch::lines(pod.marks.as_ptr(), 2);
                    prefetch::lines(pod.dedup.as_ptr(), 1);
                }
            }
            for ev in chunk {
                self.process(ev, out);
            }
        }
    }

    /// Finds the pod `ev` is about, without changing anything, and requests
    /// its state's memory. Returns (cluster, slot), `u32::MAX` when unknown.
    fn prefetch_pod(&self, ev: &HyperEvent) -> (u32, u32) {
        let none = (u32::MAX, u32::MAX);
        if ev.object.uid.is_empty() {
            return none;
        }
        let Some(ci) = self.find_cluster(&ev.cluster) else {
            return none;
        };
        let cl = &self.clusters[ci];
        let Some(&slot) = cl.index.get(&hash64(ev.object.uid.as_bytes())) else {
            return none;
        };
        if let Some(entry) = cl.slab.get(slot as usize) {
            let lines = std::mem::size_of_val(entry).div_ceil(64);
            prefetch::lines(entry as *const Option<PodState>, lines);
        }
        (ci as u32, slot)
    }

    /// Advances `cluster`'s clock to `now_us` (an explicit clock: callers
    /// ticking from a wall clock pass `wall_now - lateness`), firing every
    /// deadline and closing every window up to it.
    pub fn tick(&mut self, cluster: &str, now_us: i64, out: &mut Vec<Output>) {
        let ci = self.cluster_idx(cluster);
        self.advance(ci, now_us, out);
    }

    /// End of input: every cluster's clock moves to its last event time (so
    /// in-flight deliveries are judged as of then), pending verdicts due by
    /// then are emitted, deliveries still undecided are judged at the last
    /// event time, and all open windows are emitted.
    pub fn finish(&mut self, out: &mut Vec<Output>) {
        for ci in 0..self.clusters.len() {
            let last = self.clusters[ci].max_event;
            if last == i64::MIN {
                continue;
            }
            self.advance(ci, last, out);
            self.judge_in_flight(ci, last, out);
            let cl = &mut self.clusters[ci];
            let sink = RowSink {
                cluster: &cl.name,
                shard: self.cfg.shard,
                interner: &self.interner,
            };
            cl.windows.flush(&sink, out);
        }
    }

    /// Judges the undecided create deliveries of cluster `ci` as of `at` (see
    /// [`judge_end`]), in pod-key order so the output order is deterministic.
    fn judge_in_flight(&mut self, ci: usize, at: i64, out: &mut Vec<Output>) {
        let cl = &mut self.clusters[ci];
        let ctx = Ctx {
            cfg: &self.cfg,
            interner: &self.interner,
            cluster: &cl.name,
            watermark: at.saturating_sub(SETTLE_US),
        };
        let mut slots: Vec<u32> = (0..cl.slab.len() as u32).collect();
        // Deterministic order: by pod key.
        slots.sort_by(|a, b| {
            let ka = cl.slab[*a as usize].as_ref().map(|p| &p.key);
            let kb = cl.slab[*b as usize].as_ref().map(|p| &p.key);
            ka.cmp(&kb)
        });
        for s in slots {
            if let Some(pod) = cl.slab[s as usize].as_mut() {
                step(pod, at, &ctx, &mut cl.windows, out);
                judge_end(pod, at, &ctx, &mut cl.windows, out);
            }
        }
    }

    fn advance(&mut self, ci: usize, wm: i64, out: &mut Vec<Output>) {
        let cfg = &self.cfg;
        let cl = &mut self.clusters[ci];
        if wm <= cl.watermark {
            // Late decisions (a late event moved a timer behind the clock)
            // still fire, at the current watermark.
            if cl.timers.peek().is_none_or(|&(t, _, _)| t > cl.watermark) {
                return;
            }
        } else {
            cl.watermark = wm;
        }
        let wm = cl.watermark;
        while let Some(&(t, slot, gen)) = cl.timers.peek() {
            if t > wm {
                break;
            }
            cl.timers.pop();
            if cl.gens[slot as usize] != gen {
                continue;
            }
            let Some(pod) = cl.slab[slot as usize].as_mut() else {
                continue;
            };
            if pod.next_timer != t {
                continue;
            }
            let win_clock = t.saturating_sub(SETTLE_US);
            let sink = RowSink {
                cluster: &cl.name,
                shard: cfg.shard,
                interner: &self.interner,
            };
            cl.windows.close(win_clock, &sink, out);
            let ctx = Ctx {
                cfg,
                interner: &self.interner,
                cluster: &cl.name,
                watermark: win_clock,
            };
            let retire = step(pod, t, &ctx, &mut cl.windows, out);
            if retire {
                let h = hash64(pod.key.as_bytes());
                cl.index.remove(&h);
                cl.slab[slot as usize] = None;
                cl.gens[slot as usize] = cl.gens[slot as usize].wrapping_add(1);
                cl.free.push(slot);
                let until = t.saturating_add(cfg.give_up_us.saturating_mul(TOMBSTONE_HORIZONS));
                cl.tombstones.insert(h, until);
                cl.tomb_order.push_back((until, h));
                self.in_flight -= 1;
                self.stats.retired += 1;
                continue;
            }
            let mut next = next_wakeup(pod, cfg, wm);
            if next <= t {
                // Cannot happen (step ran everything due by t); never spin.
                next = t + 1;
            }
            pod.next_timer = next;
            if next != NONE {
                cl.timers.push((next, slot, gen));
            }
        }
        let sink = RowSink {
            cluster: &cl.name,
            shard: cfg.shard,
            interner: &self.interner,
        };
        cl.windows.close(wm.saturating_sub(SETTLE_US), &sink, out);
        while let Some(&(until, h)) = cl.tomb_order.front() {
            if until > wm {
                break;
            }
            cl.tomb_order.pop_front();
            if cl.tombstones.get(&h) == Some(&until) {
                cl.tombstones.remove(&h);
            }
        }
    }

    /// Approximate bytes held per tracked pod by the engine's own tables
    /// (used by the benchmark; the allocator measurement is authoritative).
    pub fn interned_strings(&self) -> usize {
        self.interner.len()
    }
}
