//! Span marks: what the configured matchers saw, per pod, and how they
//! become spans at verdict time.
//!
//! A pod keeps a flat list of 16-byte marks (time, span, instance, role)
//! rather than span objects: matching an event is a hash lookup and a push,
//! and the spans are built only once, when the verdict is emitted. Because
//! the marks are a multiset, the spans do not depend on arrival order: begin
//! = the latest start at or before the evaluation time, end = the earliest
//! end at or after that begin (a whole-second end matches a begin inside its
//! second).

use lunettes_schemas::{Action, SpanOwner};
use smallvec::SmallVec;

use crate::intern::{Interner, Sym, EMPTY};
use crate::pod::PodState;
use crate::spans::config::{parse_captured_duration, NameRef, Rex, SpanConfig, Trigger};

const END: u8 = 1;
const SECS: u8 = 2;

/// One matcher hit kept on a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub t: i64,
    pub instance: Sym,
    pub span: u16,
    pub flags: u8,
}

impl Mark {
    #[inline]
    fn is_end(&self) -> bool {
        self.flags & END != 0
    }
    #[inline]
    fn hi(&self) -> i64 {
        if self.flags & SECS != 0 {
            self.t + 999_999
        } else {
            self.t
        }
    }
}

#[inline]
fn push(pod: &mut PodState, trig: &Trigger, t: i64, secs: bool, instance: Sym, dur: Option<i64>) {
    let flags = if secs { SECS } else { 0 };
    if trig.direct {
        let Some(d) = dur else { return };
        pod.marks.push(Mark {
            t: t - d,
            instance,
            span: trig.span,
            flags,
        });
        pod.marks.push(Mark {
            t,
            instance,
            span: trig.span,
            flags: flags | END,
        });
        return;
    }
    let role = if trig.role == crate::spans::config::Role::End {
        END
    } else {
        0
    };
    pod.marks.push(Mark {
        t,
        instance,
        span: trig.span,
        flags: flags | role,
    });
}

/// Start and end byte of a capture in the current text.
type ByteSpan = (u32, u32);

/// Reusable regex state: capture slots per distinct pattern (allocated once
/// per engine, not per event) and the captures of the current text, so
/// matchers sharing a pattern (e.g. `Created` ends `container_create` and
/// starts `container_start`) run it once.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    locs: Vec<Option<regex::CaptureLocations>>,
    memo: SmallVec<[(u16, Option<ByteSpan>); 4]>,
}

impl Scratch {
    /// Forgets the captures of the previous text.
    #[inline]
    fn new_text(&mut self) {
        self.memo.clear();
    }

    /// Group 1 (else the whole match) of `rex` on `text`.
    fn capture<'a>(&mut self, rex: &Rex, text: &'a str) -> Option<&'a str> {
        let span = match self.memo.iter().find(|(id, _)| *id == rex.id) {
            Some(&(_, span)) => span,
            None => {
                let i = rex.id as usize;
                if self.locs.len() <= i {
                    self.locs.resize_with(i + 1, || None);
                }
                let locs = self.locs[i].get_or_insert_with(|| rex.re.capture_locations());
                let span = rex
                    .re
                    .captures_read(locs, text)
                    .and_then(|_| locs.get(1).or_else(|| locs.get(0)))
                    .map(|(a, b)| (a as u32, b as u32));
                self.memo.push((rex.id, span));
                span
            }
        };
        let (a, b) = span?;
        text.get(a as usize..b as usize)
    }
}

/// Records the marks an operation string triggers.
pub(crate) fn on_operation(
    cfg: &SpanConfig,
    pod: &mut PodState,
    op: &str,
    t: i64,
    secs: bool,
    interner: &mut Interner,
    scratch: &mut Scratch,
) {
    scratch.new_text();
    if let Some(trigs) = cfg.op_exact.get(op) {
        for trig in trigs.iter() {
            let m = &cfg.matchers[trig.matcher as usize];
            let inst = match &m.name_rex {
                Some(r) => match scratch.capture(r, op) {
                    Some(c) => interner.intern(c),
                    None => continue,
                },
                None => EMPTY,
            };
            let dur = m
                .duration_rex
                .as_ref()
                .and_then(|r| scratch.capture(r, op))
                .and_then(parse_captured_duration);
            push(pod, trig, t, secs, inst, dur);
        }
    }
    if cfg.op_wild.is_empty() {
        return;
    }
    let head = op.split(':').next().unwrap_or("");
    if let Some(trigs) = cfg.op_wild.get(head) {
        for trig in trigs.iter() {
            let m = &cfg.matchers[trig.matcher as usize];
            let Some(cap) = m.match_op(op) else { continue };
            let inst = match &m.name_rex {
                Some(r) => match scratch.capture(r, op) {
                    Some(c) => interner.intern(c),
                    None => continue,
                },
                None => interner.intern(cap),
            };
            let dur = m
                .duration_rex
                .as_ref()
                .and_then(|r| scratch.capture(r, op))
                .and_then(parse_captured_duration);
            push(pod, trig, t, secs, inst, dur);
        }
    }
}

/// Records the marks an Event triggers.
#[allow(clippy::too_many_arguments)]
pub(crate) fn on_event(
    cfg: &SpanConfig,
    pod: &mut PodState,
    reason: &str,
    message: &str,
    field_path: &str,
    t: i64,
    secs: bool,
    interner: &mut Interner,
    scratch: &mut Scratch,
) {
    let by_reason = cfg
        .event_reason
        .get(reason)
        .map(|v| v.as_slice())
        .unwrap_or(&[]);
    if by_reason.is_empty() && cfg.event_any.is_empty() {
        return;
    }
    scratch.new_text();
    for trig in by_reason.iter().chain(cfg.event_any.iter()) {
        let m = &cfg.matchers[trig.matcher as usize];
        let inst = match &m.name_rex {
            Some(r) => match scratch.capture(r, message) {
                Some(c) => interner.intern(c),
                None => continue,
            },
            None => {
                let per_container = matches!(
                    cfg.spans[trig.span as usize].name_ref,
                    Some(NameRef::Containers { image: false, .. })
                );
                match crate::pod::container_of(field_path, "") {
                    Some((name, _)) if per_container => interner.intern(name),
                    _ => EMPTY,
                }
            }
        };
        let dur = m
            .duration_rex
            .as_ref()
            .and_then(|r| scratch.capture(r, message))
            .and_then(parse_captured_duration);
        push(pod, trig, t, secs, inst, dur);
    }
}

/// A span instance evaluated at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpanInst {
    pub span: u16,
    pub instance: Sym,
    pub start: i64,
    /// End, or the evaluation time when not closed.
    pub end: i64,
    pub closed: bool,
}

/// The instances a `NameRef` names on this pod.
fn name_ref_instances(r: NameRef, pod: &PodState, out: &mut SmallVec<[Sym; 4]>) {
    match r {
        NameRef::Containers { init, image } => {
            for c in pod
                .containers
                .iter()
                .filter(|c| c.init == init && c.in_spec)
            {
                let s = if image { c.image } else { c.name };
                if s != EMPTY && !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        NameRef::Finalizers => {
            for f in &pod.finalizers {
                if !out.contains(&f.name) {
                    out.push(f.name);
                }
            }
        }
    }
}

/// All span instances of `action` as known at `at` (marks after `at` ignored).
pub(crate) fn evaluate(cfg: &SpanConfig, pod: &PodState, action: Action, at: i64) -> Vec<SpanInst> {
    let mut out = Vec::new();
    for (si, def) in cfg.spans.iter().enumerate() {
        if def.action != action {
            continue;
        }
        let si = si as u16;
        let mut any = false;
        let mut instances: SmallVec<[Sym; 4]> = SmallVec::new();
        for m in pod.marks.iter().filter(|m| m.span == si && m.t <= at) {
            any = true;
            let keep = m.instance != EMPTY || def.name_ref.is_none();
            if keep && !instances.contains(&m.instance) {
                instances.push(m.instance);
            }
        }
        if !any {
            continue;
        }
        if let Some(r) = def.name_ref {
            name_ref_instances(r, pod, &mut instances);
        }
        instances.sort_unstable();
        for inst in instances {
            let applies = |m: &&Mark| {
                m.span == si && m.t <= at && (m.instance == inst || m.instance == EMPTY)
            };
            let Some(begin) = pod
                .marks
                .iter()
                .filter(applies)
                .filter(|m| !m.is_end())
                .map(|m| m.t)
                .max()
            else {
                continue;
            };
            let end = pod
                .marks
                .iter()
                .filter(applies)
                .filter(|m| m.is_end() && m.hi() >= begin)
                .map(|m| m.t.max(begin))
                .min();
            out.push(SpanInst {
                span: si,
                instance: inst,
                start: begin,
                end: end.unwrap_or(at.max(begin)),
                closed: end.is_some(),
            });
        }
    }
    out
}

/// Whether the pod has any end mark of a `custom` span (cheap pre-check
/// before computing deadline extensions).
pub(crate) fn has_custom_end(cfg: &SpanConfig, pod: &PodState) -> bool {
    pod.marks
        .iter()
        .any(|m| m.is_end() && cfg.spans[m.span as usize].owner == SpanOwner::Custom)
}
