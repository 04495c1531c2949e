//! Hand-built HyperEvents for the engine tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use lunettes_processor::{Engine, EngineConfig};
use lunettes_schemas::{
    ContainerFacts, Delivery, EventInfo, HyperEvent, Kind, ObjectRef, Output, PodFacts, Source,
    SpanRecord, TimePrecision, WindowRow,
};

/// 2026-01-01T00:00:00Z
pub const T0: i64 = 1_767_225_600_000_000;
pub const S: i64 = 1_000_000;

/// One pod's event factory.
#[derive(Clone)]
pub struct Pod {
    pub cluster: String,
    pub ns: String,
    pub name: String,
    pub uid: String,
    pub t0: i64,
    pub seq: std::cell::Cell<u32>,
}

impl Pod {
    pub fn new(name: &str, t0: i64) -> Self {
        Pod {
            cluster: "c1".into(),
            ns: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            t0,
            seq: std::cell::Cell::new(0),
        }
    }

    fn next_id(&self) -> String {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        format!("{}#{n}", self.uid)
    }

    pub fn base(&self, at: i64) -> HyperEvent {
        HyperEvent {
            cluster: self.cluster.clone(),
            source: Source::Audit,
            kind: Kind::Operation,
            time_us: at,
            observed_us: at,
            time_precision: TimePrecision::Micros,
            object: ObjectRef {
                resource: "pods".into(),
                namespace: self.ns.clone(),
                name: self.name.clone(),
                uid: self.uid.clone(),
                field_path: String::new(),
            },
            dedup_id: self.next_id(),
            ..Default::default()
        }
    }

    /// Operations at t0 + off (micro precision).
    pub fn op(&self, off: i64, ops: &[&str]) -> HyperEvent {
        let mut e = self.base(self.t0 + off);
        e.operations = ops.iter().map(|s| s.to_string()).collect();
        e
    }

    /// Operations at a whole-second time (t0 + off floored to the second), observed at t0 + off.
    pub fn op_secs(&self, off: i64, ops: &[&str]) -> HyperEvent {
        let mut e = self.op(off, ops);
        e.time_us = (self.t0 + off).div_euclid(S) * S;
        e.observed_us = self.t0 + off;
        e.time_precision = TimePrecision::Seconds;
        e
    }

    pub fn event(&self, off: i64, type_: &str, reason: &str, message: &str) -> HyperEvent {
        let mut e = self.base(self.t0 + off);
        e.source = Source::Event;
        e.kind = Kind::Event;
        e.object.resource = "events".into();
        e.event = Some(EventInfo {
            type_: type_.into(),
            reason: reason.into(),
            message: message.into(),
            count: 1,
            component: "kubelet".into(),
            host: "node-1".into(),
            first_us: None,
        });
        e
    }

    pub fn facts(&self) -> PodFacts {
        PodFacts {
            scheduler_name: "default-scheduler".into(),
            restart_policy: "Always".into(),
            containers: vec![ContainerFacts {
                name: "app".into(),
                image: "registry/app:v2".into(),
                cpu_millis: 250,
                memory_bytes: 128 << 20,
                has_readiness_probe: true,
                has_post_start: false,
            }],
            volume_kinds: vec!["projected".into()],
            owner_kind: "ReplicaSet".into(),
            owner_name: "app-5d567cc74c".into(),
            labels: BTreeMap::new(),
            ..Default::default()
        }
    }

    /// The create record with the given facts.
    pub fn create_with(&self, off: i64, facts: PodFacts) -> HyperEvent {
        let mut e = self.op(
            off,
            &["pod:create:success", "schedule:default-scheduler:entry"],
        );
        e.verb = "create".into();
        e.response_code = Some(201);
        e.pod = Some(facts);
        e
    }

    pub fn create(&self, off: i64) -> HyperEvent {
        self.create_with(off, self.facts())
    }

    /// A healthy lifecycle: bound at 50 ms, pull 1-3 s, created/started, ready at `ready_s`.
    pub fn healthy(&self, ready_s: i64) -> Vec<HyperEvent> {
        let mut v = vec![
            self.create(0),
            self.op(50_000, &["schedule:binding:success"]),
            self.event(300_000, "Normal", "Pulling", "Pulling image \"registry/app:v2\""),
            self.event(3_300_000, "Normal", "Pulled", "Successfully pulled image \"registry/app:v2\" in 3s (3s including waiting). Image size: 1234 bytes."),
            self.event(3_400_000, "Normal", "Created", "Created container app"),
            self.event(3_500_000, "Normal", "Started", "Started container app"),
            self.op(3_600_000, &["containerState:app:Running", "phase:Running:set"]),
            self.op(ready_s * S - 100_000, &["containerReady:app:true", "condition:ContainersReady:true"]),
            self.op(ready_s * S, &["condition:Ready:true"]),
        ];
        for e in v.iter_mut().skip(2).take(4) {
            e.object.field_path = "spec.containers{app}".into();
        }
        v
    }
}

pub fn run(cfg: EngineConfig, events: &[HyperEvent]) -> Vec<Output> {
    let mut engine = Engine::new(cfg);
    let mut out = Vec::new();
    for e in events {
        engine.process(e, &mut out);
    }
    engine.finish(&mut out);
    out
}

pub fn deliveries(out: &[Output]) -> Vec<&Delivery> {
    out.iter()
        .filter_map(|o| match o {
            Output::Delivery(d) => Some(d),
            _ => None,
        })
        .collect()
}

pub fn spans(out: &[Output]) -> Vec<&SpanRecord> {
    out.iter()
        .filter_map(|o| match o {
            Output::Span(s) => Some(s),
            _ => None,
        })
        .collect()
}

pub fn windows(out: &[Output]) -> Vec<&WindowRow> {
    out.iter()
        .filter_map(|o| match o {
            Output::Window(w) => Some(w),
            _ => None,
        })
        .collect()
}

pub fn sorted(mut v: Vec<HyperEvent>) -> Vec<HyperEvent> {
    v.sort_by_key(|e| e.time_us);
    v
}
