//! Turning one record's operations into HyperEvents.
//!
//! A record has one time (the audit stage timestamp, or a snapshot's
//! observation time), but some of its operations carry their own, earlier
//! time: a condition's `lastTransitionTime`, a container's `startedAt` or
//! `finishedAt`. Those are emitted as separate HyperEvents at their own time
//! (precision `seconds` when the time has no fraction) with `observed_us` set
//! to the record time, so the engine measures phases from when things
//! happened, not from when the kubelet got round to reporting them. Timed
//! operations sharing one time share one HyperEvent. The rest of the
//! operations stay together at the record time.
//!
//! dedup ids: audit records keep the audit ID for the record-time HyperEvent
//! and use `<auditID>#<n>` (n = 1, 2, ...) for the timed ones; watch
//! snapshots use `<uid>:<resourceVersion>#<n>` (n from 0) for all of them.

use lunettes_schemas::{Actor, HyperEvent, Kind, ObjectRef, PodFacts, Source, TimePrecision};

use crate::ops::TimedOp;

/// How dedup ids are derived from [`Record::dedup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DedupStyle {
    /// `id` for the record-time HyperEvent, `id#n` (n >= 1) for timed ones.
    Audit,
    /// `id#n` for every HyperEvent, n from 0.
    Numbered,
}

/// The shared fields of every HyperEvent produced from one record.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub cluster: String,
    pub source: Source,
    pub time_us: i64,
    pub precise: bool,
    pub observed_us: i64,
    pub object: ObjectRef,
    pub actor: Option<Actor>,
    pub verb: String,
    pub response_code: Option<i32>,
    pub response_message: String,
    pub dedup: String,
    pub dedup_style: DedupStyle,
}

impl Record {
    fn event(&self, time_us: i64, precise: bool, dedup_id: String, ops: Vec<String>) -> HyperEvent {
        HyperEvent {
            cluster: self.cluster.clone(),
            source: self.source,
            kind: Kind::Operation,
            time_us,
            observed_us: self.observed_us,
            time_precision: if precise {
                TimePrecision::Micros
            } else {
                TimePrecision::Seconds
            },
            object: self.object.clone(),
            operations: ops,
            event: None,
            actor: self.actor.clone(),
            verb: self.verb.clone(),
            response_code: self.response_code,
            response_message: self.response_message.clone(),
            dedup_id,
            pod: None,
        }
    }

    /// Emits the operations; returns how many HyperEvents were appended.
    ///
    /// HyperEvents are appended in time order and `facts` ride on the
    /// earliest. A record with facts but no operations still yields one
    /// HyperEvent so the facts are not lost.
    pub fn emit(
        &self,
        ops: Vec<TimedOp>,
        facts: Option<PodFacts>,
        out: &mut Vec<HyperEvent>,
    ) -> usize {
        let mut now_ops = Vec::new();
        let mut timed: Vec<((i64, bool), Vec<String>)> = Vec::new();
        for op in ops {
            match op.at {
                None => now_ops.push(op.op),
                Some(at) => match timed.iter_mut().find(|(t, _)| *t == at) {
                    Some((_, v)) => v.push(op.op),
                    None => timed.push((at, vec![op.op])),
                },
            }
        }
        let start = out.len();
        let mut n: usize = match self.dedup_style {
            DedupStyle::Audit => 1,
            DedupStyle::Numbered => 0,
        };
        let numbered = |n: &mut usize| {
            let id = format!("{}#{}", self.dedup, n);
            *n += 1;
            id
        };
        let mut events = Vec::with_capacity(timed.len() + 1);
        if !now_ops.is_empty() || (facts.is_some() && timed.is_empty()) {
            let id = match self.dedup_style {
                DedupStyle::Audit => self.dedup.clone(),
                DedupStyle::Numbered => numbered(&mut n),
            };
            events.push(self.event(self.time_us, self.precise, id, now_ops));
        }
        for ((t, precise), ops) in timed {
            let id = numbered(&mut n);
            events.push(self.event(t, precise, id, ops));
        }
        // In time order, so a reader of one record sees its story forwards;
        // the facts ride on the earliest.
        events.sort_by_key(|e| e.time_us);
        if let Some(first) = events.first_mut() {
            first.pod = facts;
        }
        out.extend(events);
        out.len() - start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(style: DedupStyle) -> Record {
        Record {
            cluster: "c".into(),
            source: Source::Audit,
            time_us: 100,
            precise: true,
            observed_us: 100,
            object: ObjectRef::default(),
            actor: None,
            verb: "patch".into(),
            response_code: Some(200),
            response_message: String::new(),
            dedup: "A".into(),
            dedup_style: style,
        }
    }

    #[test]
    fn timed_ops_split_out_and_group() {
        let ops = vec![
            TimedOp::now("phase:Running:set".into()),
            TimedOp {
                op: "condition:Ready:true".into(),
                at: Some((50, false)),
            },
            TimedOp {
                op: "condition:ContainersReady:true".into(),
                at: Some((50, false)),
            },
            TimedOp {
                op: "containerState:c:Running".into(),
                at: Some((40, false)),
            },
        ];
        let mut out = Vec::new();
        let n = record(DedupStyle::Audit).emit(ops, Some(PodFacts::default()), &mut out);
        assert_eq!(n, 3);
        // Time order: 40 (A#2), 50 (A#1), 100 (A).
        assert_eq!(out[0].dedup_id, "A#2");
        assert_eq!(out[0].operations, ["containerState:c:Running"]);
        assert!(out[0].pod.is_some());
        assert_eq!(out[1].dedup_id, "A#1");
        assert_eq!(out[1].time_us, 50);
        assert_eq!(out[1].observed_us, 100);
        assert_eq!(out[1].time_precision, TimePrecision::Seconds);
        assert_eq!(out[1].operations.len(), 2);
        assert_eq!(out[2].dedup_id, "A");
        assert_eq!(out[2].operations, ["phase:Running:set"]);
        assert_eq!(out[2].time_precision, TimePrecision::Micros);
        assert!(out[2].pod.is_none());
    }

    #[test]
    fn numbered_style_and_facts_only() {
        let mut out = Vec::new();
        let n = record(DedupStyle::Numbered).emit(vec![], Some(PodFacts::default()), &mut out);
        assert_eq!(n, 1);
        assert_eq!(out[0].dedup_id, "A#0");
        assert_eq!(record(DedupStyle::Numbered).emit(vec![], None, &mut out), 0);
    }
}
