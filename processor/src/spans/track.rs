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

use crate::diagnosis::text::find_bytes;
use crate::fasthash::{hash64, FastMap};
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

impl Mark {
    /// The order marks are kept in: by span, then instance, then time, so
    /// each span and each instance is a contiguous run (see [`evaluate`]).
    #[inline]
    fn key(&self) -> (u16, Sym, i64, u8) {
        (self.span, self.instance, self.t, self.flags)
    }
}

/// Inserts a mark in key order: marks arrive roughly in time order but
/// interleaved across spans, and a sorted list makes every later evaluation
/// a linear walk without sorting (an insert moves at most ~20 small items).
#[inline]
pub(crate) fn insert(pod: &mut PodState, m: Mark) {
    if pod.marks.capacity() == 0 {
        // A pod collects ~20 marks: start at 8 rather than 4 -> 8 -> 16 -> 32
        // (the same 8 an in-flight pod would reach anyway, one realloc less).
        pod.marks.reserve_exact(8);
    }
    let k = m.key();
    let at = pod.marks.partition_point(|x| x.key() <= k);
    pod.marks.insert(at, m);
}

/// Records the marks of one trigger hit at `t` (two for direct-info spans:
/// the start `dur` before the end, nothing when no duration was printed).
#[inline]
pub(crate) fn push(
    pod: &mut PodState,
    trig: &Trigger,
    t: i64,
    secs: bool,
    instance: Sym,
    dur: Option<i64>,
) {
    let flags = if secs { SECS } else { 0 };
    if trig.direct {
        let Some(d) = dur else { return };
        insert(
            pod,
            Mark {
                t: t - d,
                instance,
                span: trig.span,
                flags,
            },
        );
        insert(
            pod,
            Mark {
                t,
                instance,
                span: trig.span,
                flags: flags | END,
            },
        );
        return;
    }
    let role = if trig.role == crate::spans::config::Role::End {
        END
    } else {
        0
    };
    insert(
        pod,
        Mark {
            t,
            instance,
            span: trig.span,
            flags: flags | role,
        },
    );
}

/// Start and end byte of a capture in the current text.
type ByteSpan = (u32, u32);

/// Texts longer than this are not remembered across events.
const CACHE_TEXT_MAX: usize = 160;
/// Remembered (pattern, text) answers before the cache starts over.
const CACHE_ENTRIES: usize = 8192;

/// Reusable regex state: capture slots per distinct pattern (allocated once
/// per engine, not per event), the captures of the current text, so
/// matchers sharing a pattern (e.g. `Created` ends `container_create` and
/// starts `container_start`) run it once, and a bounded cache of answers by
/// (pattern, text): replicas of one workload print the very same
/// `Pulling image "x"` / `Started container app` texts, and a lookup costs a
/// fraction of a regex search. Answers are the regex's own, so the cache
/// changes speed, never results.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    locs: Vec<Option<regex::CaptureLocations>>,
    memo: SmallVec<[(u16, Option<ByteSpan>); 4]>,
    cache: FastMap<(u16, u64), (Box<str>, Option<ByteSpan>)>,
}

impl Scratch {
    /// Forgets the captures of the previous text.
    #[inline]
    pub(crate) fn new_text(&mut self) {
        self.memo.clear();
    }

    /// Group 1 (else the whole match) of `rex` on `text`.
    pub(crate) fn capture<'a>(&mut self, rex: &Rex, text: &'a str) -> Option<&'a str> {
        if let Some(open) = &rex.quoted {
            let (a, b) = quoted_capture(open.as_bytes(), text)?;
            return text.get(a as usize..b as usize);
        }
        let span = match self.memo.iter().find(|(id, _)| *id == rex.id) {
            Some(&(_, span)) => span,
            None => {
                let cacheable = text.len() <= CACHE_TEXT_MAX;
                let key = (rex.id, hash64(text.as_bytes()));
                let cached = if cacheable {
                    self.cache
                        .get(&key)
                        .filter(|(t, _)| **t == *text)
                        .map(|(_, span)| *span)
                } else {
                    None
                };
                let span = match cached {
                    Some(span) => span,
                    None => {
                        let span = self.search(rex, text);
                        if cacheable {
                            if self.cache.len() >= CACHE_ENTRIES {
                                self.cache.clear();
                            }
                            self.cache.insert(key, (text.into(), span));
                        }
                        span
                    }
                };
                self.memo.push((rex.id, span));
                span
            }
        };
        let (a, b) = span?;
        text.get(a as usize..b as usize)
    }

    /// Runs the regex: group 1, else the whole match.
    fn search(&mut self, rex: &Rex, text: &str) -> Option<ByteSpan> {
        let i = rex.id as usize;
        if self.locs.len() <= i {
            self.locs.resize_with(i + 1, || None);
        }
        let locs = self.locs[i].get_or_insert_with(|| rex.re.capture_locations());
        rex.re
            .captures_read(locs, text)
            .and_then(|_| locs.get(1).or_else(|| locs.get(0)))
            .map(|(a, b)| (a as u32, b as u32))
    }
}

/// Group 1 of `<literal>"([^"]+)"` on `text`, `open` being the literal and
/// its opening quote, without the regex: texts with a printed value (a pull
/// duration, an image size) never repeat, so the answer cache cannot help
/// them, and a scan costs a fraction of a regex search. Same leftmost-first
/// answer: the first occurrence of `open` followed by a non-empty run of
/// non-quote bytes and a quote.
pub(crate) fn quoted_capture(open: &[u8], text: &str) -> Option<ByteSpan> {
    let t = text.as_bytes();
    let mut from = 0;
    while let Some(p) = find_bytes(&t[from..], open) {
        let start = from + p + open.len();
        match memchr::memchr(b'"', &t[start..]) {
            Some(0) => from += p + 1,
            Some(n) => return Some((start as u32, (start + n) as u32)),
            // No quote after this one: no later occurrence can close either.
            None => return None,
        }
    }
    None
}

/// What trigger `trig` records on `text` (an operation string or an Event
/// message): its instance, the `NameRex` capture interned, else `fallback`;
/// and, for direct-info spans, the duration the text printed. `None` when
/// the `NameRex` does not match (the trigger records nothing).
pub(crate) fn trigger_hit(
    cfg: &SpanConfig,
    trig: &Trigger,
    text: &str,
    interner: &mut Interner,
    scratch: &mut Scratch,
    fallback: impl FnOnce(&mut Interner) -> Sym,
) -> Option<(Sym, Option<i64>)> {
    let m = &cfg.matchers[trig.matcher as usize];
    let instance = match &m.name_rex {
        Some(r) => interner.intern(scratch.capture(r, text)?),
        None => fallback(interner),
    };
    let dur = m
        .duration_rex
        .as_ref()
        .and_then(|r| scratch.capture(r, text))
        .and_then(parse_captured_duration);
    Some((instance, dur))
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
    // The field path's container, interned once per event (several matchers
    // of one event name it).
    let mut container: Option<Sym> = None;
    for trig in by_reason.iter().chain(cfg.event_any.iter()) {
        let per_container = matches!(
            cfg.spans[trig.span as usize].name_ref,
            Some(NameRef::Containers { image: false, .. })
        );
        let hit = trigger_hit(cfg, trig, message, interner, scratch, |interner| {
            if !per_container {
                return EMPTY;
            }
            *container.get_or_insert_with(|| match crate::fields::container_of(field_path, "") {
                Some((name, _)) => interner.intern(name),
                None => EMPTY,
            })
        });
        if let Some((inst, dur)) = hit {
            push(pod, trig, t, secs, inst, dur);
        }
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

/// The span instances of one evaluation (a pod has about ten).
pub(crate) type SpanInsts = SmallVec<[SpanInst; 16]>;

/// All span instances of `action` as known at `at` (marks after `at` ignored).
///
/// The pod's marks are kept sorted by (span, instance, time) (see
/// [`insert`]), so each span and each instance is a contiguous run and the
/// evaluation is one linear walk, not (spans x marks): a verdict evaluates
/// spans several times (deadline, SLI, emitted spans). Marks with no
/// instance (`EMPTY` sorts first) apply to every instance of their span.
pub(crate) fn evaluate(cfg: &SpanConfig, pod: &PodState, action: Action, at: i64) -> SpanInsts {
    let mut out = SpanInsts::new();
    let known = |m: &&Mark| m.t <= at;
    let mut rest = &pod.marks[..];
    while let Some(first) = rest.first() {
        let si = first.span;
        let n = rest.iter().take_while(|m| m.span == si).count();
        let (group, tail) = rest.split_at(n);
        rest = tail;
        let Some(def) = cfg.spans.get(si as usize) else {
            continue;
        };
        if def.action != action || !group.iter().any(|m| m.t <= at) {
            continue;
        }
        let shared_len = group.iter().take_while(|m| m.instance == EMPTY).count();
        let (shared, own_all) = group.split_at(shared_len);
        let mut instances: SmallVec<[Sym; 4]> = SmallVec::new();
        if def.name_ref.is_none() && shared.iter().any(|m| m.t <= at) {
            instances.push(EMPTY);
        }
        for m in own_all.iter().filter(known) {
            if instances.last() != Some(&m.instance) {
                instances.push(m.instance);
            }
        }
        if let Some(r) = def.name_ref {
            name_ref_instances(r, pod, &mut instances);
        }
        instances.sort_unstable();
        instances.dedup();
        for inst in instances {
            let own: &[Mark] = if inst == EMPTY {
                &[]
            } else {
                let from = own_all.partition_point(|m| m.instance < inst);
                let len = own_all[from..]
                    .iter()
                    .take_while(|m| m.instance == inst)
                    .count();
                &own_all[from..from + len]
            };
            let Some(begin) = shared
                .iter()
                .chain(own)
                .filter(known)
                .filter(|m| !m.is_end())
                .map(|m| m.t)
                .max()
            else {
                continue;
            };
            let end = shared
                .iter()
                .chain(own)
                .filter(known)
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

/// Whether any mark lies in `(from, to]` (nothing new happened in between).
pub(crate) fn any_mark_within(pod: &PodState, from: i64, to: i64) -> bool {
    pod.marks.iter().any(|m| m.t > from && m.t <= to)
}

/// Whether the pod has any end mark of a `custom` span (cheap pre-check
/// before computing deadline extensions).
pub(crate) fn has_custom_end(cfg: &SpanConfig, pod: &PodState) -> bool {
    pod.marks
        .iter()
        .any(|m| m.is_end() && cfg.spans[m.span as usize].owner == SpanOwner::Custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The straightforward (spans x marks) evaluation the linear walk replaced.
    fn reference(cfg: &SpanConfig, pod: &PodState, action: Action, at: i64) -> Vec<SpanInst> {
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

    #[test]
    fn only_plain_quoted_patterns_take_the_scan() {
        let q = |p: &str| Rex::new(p).unwrap().quoted.map(String::from);
        assert_eq!(q("image \"([^\"]+)\""), Some("image \"".into()));
        assert_eq!(q("ontainer:? \"?([^\"\\s]+)"), None);
        assert_eq!(q("(?i)image \"([^\"]+)\""), None);
        assert_eq!(q("im.ge \"([^\"]+)\""), None);
        assert_eq!(q("\"([^\"]+)\""), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The byte scan gives the regex's group 1 on any text.
        #[test]
        fn quoted_capture_equals_the_regex(
            text in "[ima ge\"x\\né]{0,24}",
            lit in prop::sample::select(vec!["image ", "a", "ge", "image"]),
        ) {
            let pattern = format!("{lit}\"([^\"]+)\"");
            let rex = Rex::new(&pattern).unwrap();
            let open = rex.quoted.as_deref().unwrap();
            let want = rex.re.captures(&text).and_then(|c| c.get(1)).map(|m| (m.start() as u32, m.end() as u32));
            prop_assert_eq!(quoted_capture(open.as_bytes(), &text), want);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Marks in any order, any spans and instances (incl. none), any
        /// times: the sorted linear walk equals the reference at every time.
        #[test]
        fn linear_evaluation_equals_the_reference(
            raw in proptest::collection::vec((0u16..13, 0u32..4, 0i64..40, 0u8..4), 0..40),
            at in 0i64..45,
        ) {
            let cfg = SpanConfig::default();
            let mut pod = PodState::new("uid", true, EMPTY, "p");
            for (span, instance, t, flags) in raw {
                let span = span % cfg.spans.len() as u16;
                insert(&mut pod, Mark { t: t * 500_000, instance, span, flags });
            }
            prop_assert!(pod.marks.windows(2).all(|w| w[0].key() <= w[1].key()));
            for action in [Action::Create, Action::Delete] {
                let got: Vec<SpanInst> = evaluate(&cfg, &pod, action, at * 500_000).into_vec();
                prop_assert_eq!(got, reference(&cfg, &pod, action, at * 500_000));
            }
        }
    }
}
