//! Engine benchmark: throughput in HyperEvents/s on two inputs, and memory
//! per in-flight pod at 1M in-flight pods (counting allocator).
//!
//! Run: `cargo bench -p lunettes-processor --bench engine`
//! (`ENGINE_BENCH_PODS` / `ENGINE_BENCH_SIM_PODS` / `ENGINE_BENCH_INFLIGHT`
//! override the sizes, `ENGINE_BENCH_INFLIGHT=0` skips the memory run,
//! `ENGINE_BENCH_INPUT=synthetic|simulator` runs one input only,
//! `ENGINE_BENCH_SPANS=0|1` one configuration, `ENGINE_BENCH_API=event|batch`
//! one way of feeding it (`Engine::process` per event,
//! `Engine::process_batch`), `ENGINE_BENCH_SCATTERED=1` keeps the
//! generator's memory layout of the input (see `throughput`),
//! `ENGINE_BENCH_DIGEST=1` prints a digest of every output record to compare
//! builds). Times are the thread's CPU time: the machine is shared, and wall
//! time would charge the engine for other processes.
//!
//! **Synthetic input** (`ENGINE_BENCH_PODS`, default 200,000 pods): dense,
//! ~10 events per pod, every one of which changes the pod: the audit create
//! (with pod facts), binding, scheduler and kubelet Events (Scheduled,
//! Pulling, Pulled, Created, Started), status-patch operations at
//! whole-second precision (Initialized, containerState Running,
//! ContainersReady, Ready), ~10% of Events seen twice (audit and Events
//! watch), ~15% faulty pods (Warning events, never ready), and a few
//! deletes. A verdict's cost is spread over few events, so this is the
//! harder figure.
//!
//! **Simulator input** (`ENGINE_BENCH_SIM_PODS`, default 30,000 pods): the
//! fleet simulator's audit logs and Events (`lunettes-loadtest`, shaped like
//! the real samples in `../shared/data/k8s-real`), normalized by
//! `lunettes-ingest` as `lunettes analyze` does: ~33 HyperEvents per pod,
//! including the status patches and updates that change little, deletes,
//! and the simulator's 30% faults.

#![allow(unsafe_code)] // the counting global allocator below

use std::alloc::{GlobalAlloc, Layout};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use lunettes_processor::{Engine, EngineConfig};
use lunettes_schemas::{
    ContainerFacts, EventInfo, HyperEvent, Kind, ObjectRef, Output, PodFacts, Source, TimePrecision,
};
use mimalloc::MiMalloc;

/// Counts the bytes requested (`Layout` sizes, whatever the allocator's own
/// overhead) and allocates with mimalloc, the allocator the `lunettes`
/// binary runs with: the memory figure is the engine's live heap, the
/// throughput figure the binary's.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { MiMalloc.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { MiMalloc.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { MiMalloc.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const T0: i64 = 1_767_225_600_000_000;
const S: i64 = 1_000_000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }
}

struct Gen {
    rng: Rng,
    seq: u64,
}

impl Gen {
    fn base(&mut self, cluster: &str, ns: &str, name: &str, uid: &str, t: i64) -> HyperEvent {
        self.seq += 1;
        HyperEvent {
            cluster: cluster.into(),
            source: Source::Audit,
            kind: Kind::Operation,
            time_us: t,
            observed_us: t + 20_000,
            time_precision: TimePrecision::Micros,
            object: ObjectRef {
                resource: "pods".into(),
                namespace: ns.into(),
                name: name.into(),
                uid: uid.into(),
                field_path: String::new(),
            },
            dedup_id: format!("a-{:016x}", self.seq),
            ..Default::default()
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ops(
        &mut self,
        c: &str,
        ns: &str,
        n: &str,
        u: &str,
        t: i64,
        secs: bool,
        ops: &[&str],
    ) -> HyperEvent {
        let mut e = self.base(c, ns, n, u, if secs { t / S * S } else { t });
        if secs {
            e.time_precision = TimePrecision::Seconds;
            e.observed_us = t + 30_000;
        }
        e.operations = ops.iter().map(|s| s.to_string()).collect();
        e
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        c: &str,
        ns: &str,
        n: &str,
        u: &str,
        t: i64,
        ty: &str,
        reason: &str,
        msg: String,
    ) -> HyperEvent {
        let mut e = self.base(c, ns, n, u, t / S * S);
        e.time_precision = TimePrecision::Seconds;
        e.kind = Kind::Event;
        e.source = Source::Event;
        e.object.resource = "events".into();
        e.object.field_path = "spec.containers{app}".into();
        e.event = Some(EventInfo {
            type_: ty.into(),
            reason: reason.into(),
            message: msg,
            count: 1,
            component: "kubelet".into(),
            host: "node-7".into(),
            first_us: None,
        });
        e
    }

    /// One pod's events; `upto` limits how many (for in-flight pods).
    fn pod(&mut self, cluster: &str, i: u64, t0: i64, upto: usize) -> Vec<HyperEvent> {
        let ns = format!("team-{}", i % 40);
        let name = format!("web-{:x}-{}", i / 7, i % 1000);
        let uid = format!("{:08x}-4f02-8a13-{:012x}", i as u32, i);
        let image = format!("registry.example/app-{}:v{}", i % 50, i % 3);
        let (c, n, u) = (cluster, ns.as_str(), name.as_str());
        let uid = uid.as_str();
        let bind = t0 + self.rng.range(5_000, 200_000);
        let pull0 = bind + self.rng.range(300_000, 3 * S);
        let pull = self.rng.range(500_000, 20 * S);
        let created = pull0 + pull + self.rng.range(50_000, 500_000);
        let started = created + self.rng.range(50_000, 500_000);
        let ready = started + self.rng.range(S, 30 * S);
        let faulty = self.rng.next() % 100 < 15;
        let mut v = Vec::with_capacity(16);
        let mut create = self.ops(
            c,
            n,
            u,
            uid,
            t0,
            false,
            &["pod:create:success", "schedule:default-scheduler:entry"],
        );
        create.pod = Some(PodFacts {
            scheduler_name: "default-scheduler".into(),
            restart_policy: "Always".into(),
            containers: vec![ContainerFacts {
                name: "app".into(),
                image: image.clone(),
                cpu_millis: 500,
                memory_bytes: 256 << 20,
                has_readiness_probe: true,
                has_post_start: false,
            }],
            volume_kinds: vec!["configMap".into(), "projected".into()],
            owner_kind: "ReplicaSet".into(),
            owner_name: format!("web-{:x}", i / 7),
            creation_us: Some(t0 / S * S),
            ..Default::default()
        });
        v.push(create);
        v.push(self.ops(c, n, u, uid, bind, false, &["schedule:binding:success"]));
        v.push(self.event(
            c,
            n,
            u,
            uid,
            bind + 1_000,
            "Normal",
            "Scheduled",
            format!("Successfully assigned {n}/{u} to node-7"),
        ));
        v.push(self.ops(
            c,
            n,
            u,
            uid,
            bind + 300_000,
            true,
            &["condition:PodScheduled:true", "condition:Initialized:true"],
        ));
        v.push(self.event(
            c,
            n,
            u,
            uid,
            pull0,
            "Normal",
            "Pulling",
            format!("Pulling image \"{image}\""),
        ));
        if faulty {
            v.push(self.event(c, n, u, uid, pull0 + 2 * S, "Warning", "Failed", format!("Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": not found")));
            v.push(self.ops(
                c,
                n,
                u,
                uid,
                pull0 + 2 * S,
                true,
                &["containerState:app:Waiting:ErrImagePull"],
            ));
            v.push(self.event(
                c,
                n,
                u,
                uid,
                pull0 + 10 * S,
                "Normal",
                "BackOff",
                format!("Back-off pulling image \"{image}\""),
            ));
            v.push(self.ops(
                c,
                n,
                u,
                uid,
                pull0 + 10 * S,
                true,
                &["containerState:app:Waiting:ImagePullBackOff"],
            ));
        } else {
            let secs = pull as f64 / 1e6;
            v.push(self.event(c, n, u, uid, pull0 + pull, "Normal", "Pulled", format!("Successfully pulled image \"{image}\" in {secs:.3}s ({secs:.3}s including waiting). Image size: 52428800 bytes.")));
            v.push(self.event(
                c,
                n,
                u,
                uid,
                created,
                "Normal",
                "Created",
                "Created container app".into(),
            ));
            v.push(self.event(
                c,
                n,
                u,
                uid,
                started,
                "Normal",
                "Started",
                "Started container app".into(),
            ));
            v.push(self.ops(
                c,
                n,
                u,
                uid,
                started,
                true,
                &[
                    "containerState:app:Running",
                    "phase:Running:set",
                    "pod:ip:set",
                ],
            ));
            v.push(self.ops(
                c,
                n,
                u,
                uid,
                ready,
                true,
                &[
                    "containerReady:app:true",
                    "condition:ContainersReady:true",
                    "condition:Ready:true",
                ],
            ));
        }
        // ~10% of Events arrive twice (audit route and Events watch).
        if self.rng.next().is_multiple_of(10) {
            if let Some(dup) = v.iter().find(|e| e.kind == Kind::Event).cloned() {
                v.push(dup);
            }
        }
        if self.rng.next().is_multiple_of(10) {
            let t = ready + self.rng.range(10 * S, 60 * S);
            v.push(self.ops(c, n, u, uid, t, false, &["pod:delete:success"]));
            v.push(self.event(
                c,
                n,
                u,
                uid,
                t + 100_000,
                "Normal",
                "Killing",
                "Stopping container app".into(),
            ));
            v.push(self.ops(c, n, u, uid, t + 2 * S, false, &["pod:deleted:success"]));
        }
        v.truncate(upto);
        v
    }
}

/// CPU time of the calling thread, seconds (`/proc/thread-self/schedstat`,
/// Linux). The machine is shared, so wall time over-states the engine's cost
/// by whatever else runs; thread CPU time counts only this thread (cache
/// contention still shows). NaN where unavailable.
fn thread_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 * 1e-9)
}

/// Wall and CPU seconds of `f`.
fn timed<R>(f: impl FnOnce() -> R) -> (R, f64, f64) {
    let wall = Instant::now();
    let cpu = thread_cpu_secs();
    let r = f();
    (r, wall.elapsed().as_secs_f64(), thread_cpu_secs() - cpu)
}

/// The floor: touch every event the way any consumer must (hash its
/// cluster, pod identity, dedup id, operations and event reason/message),
/// nothing else.
fn baseline(events: &[HyperEvent]) -> u64 {
    let st = foldhash::fast::FixedState::with_seed(7);
    let mut acc = 0u64;
    for e in events {
        acc = acc.wrapping_add(st.hash_one(e.cluster.as_bytes()));
        acc = acc.wrapping_add(st.hash_one(e.object.namespace.as_bytes()));
        acc = acc.wrapping_add(st.hash_one(e.object.name.as_bytes()));
        acc = acc.wrapping_add(st.hash_one(e.object.uid.as_bytes()));
        acc = acc.wrapping_add(st.hash_one(e.dedup_id.as_bytes()));
        for op in &e.operations {
            acc = acc.wrapping_add(st.hash_one(op.as_bytes()));
        }
        if let Some(ev) = &e.event {
            acc = acc.wrapping_add(st.hash_one(ev.reason.as_bytes()));
            acc = acc.wrapping_add(st.hash_one(ev.message.as_bytes()));
        }
        acc = acc.wrapping_add(e.time_us as u64);
    }
    acc
}

/// The synthetic mix: `pods` pods over 3 clusters at 200 pods/s per
/// cluster, ~10 events each, sorted by time.
fn synthetic_input(pods: u64) -> Vec<HyperEvent> {
    let mut g = Gen {
        rng: Rng(0x9E37_79B9_7F4A_7C15),
        seq: 0,
    };
    let clusters = ["sim-1", "sim-2", "sim-3"];
    let mut events = Vec::new();
    for i in 0..pods {
        // 200 pods/s per cluster.
        let c = clusters[(i % 3) as usize];
        let t0 = T0 + (i / 3) as i64 * 5_000;
        events.extend(g.pod(c, i, t0, usize::MAX));
    }
    events.sort_by_key(|e| e.time_us);
    events
}

/// The fleet simulator's traffic: `pods` pods over 3 clusters at 200 pods/s
/// per cluster (the synthetic mix's rate, so as many pods are in flight),
/// its audit logs and Events normalized by `lunettes-ingest` exactly as
/// `lunettes analyze` reads them, the clusters interleaved by time as one
/// partition carries them. Its shape (audit bodies and status patches,
/// Event series, deletes, 30% faulty pods) follows the real samples.
fn simulated_input(pods: u64) -> Vec<HyperEvent> {
    let cfg = lunettes_loadtest::SimConfig {
        clusters: 3,
        pods: pods as usize,
        seed: 1,
        pods_per_second: 200.0,
        ..Default::default()
    };
    let (clusters, _truth) = lunettes_loadtest::simulate(&cfg);
    let mut events: Vec<HyperEvent> = Vec::new();
    for c in &clusters {
        let mut norm = lunettes_ingest::Normalizer::new(c.cluster.clone());
        for (name, lines) in [
            ("audit.log", &c.audit_lines),
            ("events.jsonl", &c.event_lines),
        ] {
            let r = norm.normalize_document(name, lines.join("\n").as_bytes(), &mut events);
            assert!(r.errors.is_empty(), "{name}: {:?}", r.errors.first());
        }
    }
    events.sort_by_key(|e| e.time_us);
    events
}

/// Times the engine over `events` (`pods` pods), each configuration and
/// API, against the baseline in the same run; `input` names the input.
fn throughput(input: &str, mut events: Vec<HyperEvent>, pods: u64) {
    // Lay the input out as a decoder produces it: records decoded from a
    // poll are allocated one after another, in processing order. (The
    // generator allocates per pod; sorted by time, each event's strings
    // would sit wherever its pod's were, a cache miss per string that no
    // worker pays.) ENGINE_BENCH_SCATTERED=1 keeps the generator's layout.
    if !std::env::var("ENGINE_BENCH_SCATTERED").is_ok_and(|v| v == "1") {
        events = events.to_vec();
    }
    let n = events.len() as f64;
    let (acc, _, base_cpu) = timed(|| baseline(&events));
    println!(
        "baseline [{input}: iterate+hash events]: {} events in {:.3} s CPU = {:.2} M events/s (checksum {acc:x})",
        events.len(),
        base_cpu,
        n / base_cpu / 1e6
    );
    // ENGINE_BENCH_SPANS=0|1 runs only one configuration (for profiling).
    let only: Option<bool> = std::env::var("ENGINE_BENCH_SPANS").ok().map(|v| v == "1");
    // ENGINE_BENCH_API=event|batch runs only one way of feeding the engine.
    let api = std::env::var("ENGINE_BENCH_API").unwrap_or_default();
    for (label, emit_spans, batched) in [
        ("verdicts+windows (no spans), process", false, false),
        ("verdicts+windows (no spans), process_batch", false, true),
        ("verdicts+spans+windows, process", true, false),
        ("verdicts+spans+windows, process_batch", true, true),
    ] {
        let label = format!("{input}: {label}");
        if only.is_some_and(|o| o != emit_spans)
            || (api == "event" && batched)
            || (api == "batch" && !batched)
        {
            continue;
        }
        let cfg = EngineConfig {
            emit_spans,
            ..Default::default()
        };
        let mut engine = Engine::new(cfg);
        let mut out: Vec<Output> = Vec::with_capacity(1 << 12);
        let mut counts = [0usize; 3];
        // Dropping the output records is the consumer's work (a sink
        // serializes, then frees them); it is timed apart.
        let mut drop_cpu = 0.0;
        // ENGINE_BENCH_DIGEST=1: a digest of every output record (Debug
        // text, in order), to check that an optimisation changed nothing.
        // Computed with the drop time, so that time is then meaningless.
        let digest_on = std::env::var("ENGINE_BENCH_DIGEST").is_ok_and(|v| v == "1");
        let st = foldhash::fast::FixedState::with_seed(11);
        let mut digest = 0u64;
        let mut consume = |out: &mut Vec<Output>, counts: &mut [usize; 3]| {
            let t = thread_cpu_secs();
            tally(out, counts);
            if digest_on {
                digest = out
                    .iter()
                    .fold(digest, |acc, o| st.hash_one((acc, format!("{o:?}"))));
            }
            out.clear();
            drop_cpu += thread_cpu_secs() - t;
        };
        let (_, wall, cpu) = timed(|| {
            if batched {
                // `process_batch` looks ahead 32 events at a time whatever
                // the slice; chunks of 512 only bound the output buffer
                // (`lunettes analyze` passes each cluster's events whole).
                for chunk in events.chunks(512) {
                    engine.process_batch(chunk, &mut out);
                    if out.len() > 4000 {
                        consume(&mut out, &mut counts);
                    }
                }
            } else {
                for e in &events {
                    engine.process(e, &mut out);
                    if out.len() > 4000 {
                        consume(&mut out, &mut counts);
                    }
                }
            }
            engine.finish(&mut out);
            consume(&mut out, &mut counts);
        });
        let engine_cpu = cpu - drop_cpu;
        println!(
            "throughput [{label}]: {} events ({} pods, 3 clusters): engine {:.3} s CPU = {:.2} M events/s on one core \
             ({:.1}x the baseline's time); + dropping the outputs {:.3} s = {:.2} M events/s end to end ({:.3} s wall); \
             outputs: {} deliveries, {} spans, {} window rows; stats {:?}",
            events.len(),
            pods,
            engine_cpu,
            n / engine_cpu / 1e6,
            engine_cpu / base_cpu,
            drop_cpu,
            n / cpu / 1e6,
            wall,
            counts[0],
            counts[1],
            counts[2],
            engine.stats()
        );
        if digest_on {
            println!("output digest [{label}]: {digest:016x}");
        }
    }
}

fn tally(out: &[Output], counts: &mut [usize; 3]) {
    for o in out {
        match o {
            Output::Delivery(_) => counts[0] += 1,
            Output::Span(_) => counts[1] += 1,
            Output::Window(_) => counts[2] += 1,
        }
    }
}

fn memory(inflight: u64) {
    let mut g = Gen {
        rng: Rng(0x2545_F491_4F6C_DD1D),
        seq: 0,
    };
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..inflight {
        // 1M pods created within 50 s: none reaches its deadline; each is
        // mid-lifecycle (create .. Pulling/Pulled/Created/Started, not ready).
        let t0 = T0 + i as i64 * 50;
        let upto = 4 + (i % 5) as usize;
        for mut e in g.pod("sim-1", i, t0, upto) {
            e.time_us = e.time_us.min(t0 + 30 * S);
            engine.process(&e, &mut out);
        }
        out.clear();
    }
    let after = LIVE.load(Ordering::Relaxed);
    let n = engine.in_flight();
    println!(
        "memory: {} in-flight pods hold {:.1} MiB = {:.0} bytes per in-flight pod (live heap delta, counting allocator)",
        n,
        (after - before) as f64 / (1 << 20) as f64,
        (after - before) as f64 / n as f64
    );
}

/// A size from the environment, `default` when unset or not a number.
fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let pods = env_u64("ENGINE_BENCH_PODS", 200_000);
    let inflight = env_u64("ENGINE_BENCH_INFLIGHT", 1_000_000);
    // ENGINE_BENCH_INPUT=synthetic|simulator runs one input only.
    let input = std::env::var("ENGINE_BENCH_INPUT").unwrap_or_default();
    if input != "simulator" {
        throughput("synthetic", synthetic_input(pods), pods);
    }
    if input != "synthetic" {
        let sim_pods = env_u64("ENGINE_BENCH_SIM_PODS", 30_000);
        throughput("simulator", simulated_input(sim_pods), sim_pods);
    }
    if inflight > 0 {
        memory(inflight);
    }
}
