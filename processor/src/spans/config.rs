//! The span (tracing) configuration: the seed's JSON read verbatim, then
//! compiled once into lookups the hot path can use without regex or string
//! building: exact operation string -> triggers, operation pattern with `*`
//! segments bucketed by its first segment, event reason -> triggers. Regexes
//! run only where a matcher has `NameRex`/`DurationRex`, and only after the
//! cheap lookup already matched.

use std::collections::BTreeMap;

use lunettes_schemas::{Action, SpanOwner};
use regex::Regex;
use serde::Deserialize;
use smallvec::SmallVec;

use crate::error::ConfigError;
use crate::fasthash::FastMap;

const WHAT: &str = "span config";

/// The default span configuration shipped in `config/spans.json`: every span
/// closes on stock Kubernetes.
pub const DEFAULT_SPANS_JSON: &str = include_str!("../../../config/spans.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    #[serde(rename = "ObjectRef", default)]
    object_ref: Option<RawObjectRef>,
    #[serde(rename = "ActionType")]
    action_type: String,
    #[serde(rename = "LifeFlag", default)]
    life_flag: Option<RawLifeFlag>,
    #[serde(rename = "ExtraProperties", default)]
    extra: BTreeMap<String, RawExtra>,
    #[serde(rename = "Spans", default)]
    spans: Vec<RawSpan>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObjectRef {
    #[serde(rename = "Resource", default)]
    resource: String,
    #[serde(rename = "Name", default)]
    _name: String,
    #[serde(rename = "APIVersion", default)]
    _api_version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLifeFlag {
    #[serde(rename = "Mode", default)]
    _mode: Option<String>,
    #[serde(rename = "StartEvent", default)]
    start: Vec<RawMatcher>,
    #[serde(rename = "FinishEvent", default)]
    finish: Vec<RawMatcher>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtra {
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "ValueRex")]
    value_rex: String,
    #[serde(rename = "NeedMetric", default)]
    need_metric: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpan {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Type", default)]
    _type: Option<String>,
    #[serde(rename = "NameRef", default)]
    name_ref: Option<String>,
    #[serde(rename = "Mode", default)]
    mode: Option<String>,
    #[serde(rename = "StartEvent", default)]
    start: Vec<RawMatcher>,
    #[serde(rename = "EndEvent", default)]
    end: Vec<RawMatcher>,
    #[serde(rename = "DirectEvent", default)]
    direct: Vec<RawMatcher>,
    #[serde(rename = "SpanOwner", default)]
    owner: Option<String>,
    #[serde(rename = "NeedClose", default)]
    need_close: Option<bool>,
    #[serde(rename = "Omitempty", alias = "OmitEmpty", default)]
    omitempty: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatcher {
    #[serde(rename = "Type")]
    type_: String,
    #[serde(rename = "Operation", default)]
    operation: String,
    #[serde(rename = "Reason", default)]
    reason: String,
    #[serde(rename = "NameRex", default)]
    name_rex: String,
    #[serde(rename = "DurationRex", default)]
    duration_rex: String,
    #[serde(rename = "LuaMatcher", default)]
    lua: String,
}

/// What a matched event does to its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Role {
    /// A start event (start-finish mode).
    Start = 0,
    /// An end event (start-finish mode).
    End = 1,
}

/// A matcher hit: which span, which role, which compiled matcher.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trigger {
    pub span: u16,
    pub role: Role,
    /// Direct-info: the matcher gives the end and the duration.
    pub direct: bool,
    pub matcher: u16,
}

/// One `:`-separated segment of an operation pattern.
#[derive(Debug, Clone)]
enum Seg {
    Lit(Box<str>),
    Any,
}

/// A compiled regex with an id shared by every matcher using the same
/// pattern, so one event runs each distinct pattern at most once.
#[derive(Debug)]
pub(crate) struct Rex {
    pub id: u16,
    pub re: Regex,
    /// For patterns of the shape `<plain literal>"([^"]+)"` (e.g.
    /// `image "([^"]+)"`): the literal with its opening quote, matched by a
    /// byte scan instead of the regex (see `track::quoted_capture`).
    pub quoted: Option<Box<str>>,
}

impl Rex {
    /// Compiles `pattern` (id 0: the config assigns ids).
    pub(crate) fn new(pattern: &str) -> Result<Rex, regex::Error> {
        let quoted = pattern
            .strip_suffix("\"([^\"]+)\"")
            .filter(|lit| {
                !lit.is_empty()
                    && lit.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b' ' | b'_' | b'-' | b':')
                    })
            })
            .map(|lit| format!("{lit}\"").into());
        Ok(Rex {
            id: 0,
            re: Regex::new(pattern)?,
            quoted,
        })
    }
}

/// A compiled event matcher.
#[derive(Debug)]
pub(crate) struct Matcher {
    /// Operation pattern with `*` segments (None for exact operations and events).
    pattern: Option<Vec<Seg>>,
    pub name_rex: Option<Rex>,
    pub duration_rex: Option<Rex>,
}

impl Matcher {
    /// Matches an operation, given as its `:`-separated segments, against a
    /// `*` pattern; returns the first `*` segment.
    pub(crate) fn match_op<'a>(&self, segs: &[&'a str]) -> Option<&'a str> {
        let pat = self.pattern.as_ref()?;
        if pat.len() != segs.len() {
            return None;
        }
        let mut capture = None;
        for (seg, part) in pat.iter().zip(segs) {
            match seg {
                Seg::Lit(l) => {
                    if **l != **part {
                        return None;
                    }
                }
                Seg::Any => {
                    if capture.is_none() {
                        capture = Some(*part);
                    }
                }
            }
        }
        Some(capture.unwrap_or(""))
    }
}

/// Where a span's instances come from (`NameRef`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRef {
    /// `spec.[name]containers.name` / `.image`: one instance per container.
    Containers { init: bool, image: bool },
    /// `metadata.finalizers`: one instance per finalizer.
    Finalizers,
}

/// A compiled span definition.
#[derive(Debug)]
pub(crate) struct SpanDef {
    pub name: Box<str>,
    pub action: Action,
    pub owner: SpanOwner,
    pub name_ref: Option<NameRef>,
    pub need_close: bool,
    pub omitempty: bool,
}

/// Where an `ExtraProperties` value is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValuePath {
    /// `metadata#labels#<key>`.
    Label(Box<str>),
    /// `metadata#namespace`.
    Namespace,
    /// `metadata#name`.
    Name,
    /// `spec#nodeName`.
    NodeName,
    /// `spec#schedulerName`.
    SchedulerName,
    /// `metadata#ownerReferences#kind` (the controlling owner).
    OwnerKind,
}

/// A compiled `ExtraProperties` entry.
#[derive(Debug)]
pub(crate) struct ExtraDef {
    /// Attribute name (the map key, or `Name` when set).
    pub name: Box<str>,
    pub path: ValuePath,
    /// Also put on every child span (not only the root).
    pub need_metric: bool,
}

/// A compiled span configuration. Build with [`SpanConfig::from_json`] or
/// take [`SpanConfig::default`] (the embedded `config/spans.json`).
#[derive(Debug)]
pub struct SpanConfig {
    pub(crate) spans: Vec<SpanDef>,
    pub(crate) matchers: Vec<Matcher>,
    pub(crate) extras: Vec<ExtraDef>,
    /// Root span names per action (the `ActionType`, e.g. `PodCreate`).
    pub(crate) root_names: [Box<str>; 2],
    pub(crate) op_exact: FastMap<Box<str>, SmallVec<[Trigger; 2]>>,
    pub(crate) op_wild: FastMap<Box<str>, Vec<Trigger>>,
    pub(crate) event_reason: FastMap<Box<str>, SmallVec<[Trigger; 2]>>,
    pub(crate) event_any: Vec<Trigger>,
    /// Distinct regex patterns seen so far (build time only): pattern -> id.
    rex_ids: FastMap<Box<str>, u16>,
}

impl Default for SpanConfig {
    fn default() -> Self {
        SpanConfig::from_json(DEFAULT_SPANS_JSON).unwrap_or_else(|_| SpanConfig::empty())
    }
}

impl SpanConfig {
    /// A configuration with no spans (root spans only).
    pub fn empty() -> Self {
        SpanConfig {
            spans: Vec::new(),
            matchers: Vec::new(),
            extras: Vec::new(),
            root_names: ["PodCreate".into(), "PodDelete".into()],
            op_exact: FastMap::default(),
            op_wild: FastMap::default(),
            event_reason: FastMap::default(),
            event_any: Vec::new(),
            rex_ids: FastMap::default(),
        }
    }

    fn rex_id(&mut self, pattern: &str) -> u16 {
        let next = self.rex_ids.len() as u16;
        *self.rex_ids.entry(pattern.into()).or_insert(next)
    }

    /// Number of configured spans (all actions).
    pub fn span_count(&self) -> usize {
        self.spans.len()
    }

    /// Names of the configured spans of `action`, in configuration order.
    pub fn span_names(&self, action: Action) -> Vec<&str> {
        self.spans
            .iter()
            .filter(|s| s.action == action)
            .map(|s| &*s.name)
            .collect()
    }

    /// Parses and compiles the span configuration: the README's format exactly,
    /// plus every field of section 6. Unknown keys, unknown `ActionType`s,
    /// bad regexes and unsupported `NameRef`/`ValueRex` paths are errors naming
    /// the span and key.
    pub fn from_json(s: &str) -> Result<Self, ConfigError> {
        let raw: Vec<RawAction> = serde_json::from_str(s).map_err(|e| ConfigError::Json {
            what: WHAT,
            message: e.to_string(),
        })?;
        let mut cfg = SpanConfig::empty();
        let mut seen_action = [false; 2];
        for (ai, ra) in raw.iter().enumerate() {
            let action = match ra.action_type.as_str() {
                "PodCreate" => Action::Create,
                "PodDelete" => Action::Delete,
                other => {
                    return Err(ConfigError::value(
                        WHAT,
                        format!("[{ai}].ActionType"),
                        format!("unsupported action {other:?} (expected PodCreate or PodDelete)"),
                    ))
                }
            };
            if let Some(or) = &ra.object_ref {
                if !or.resource.is_empty() && or.resource != "pods" {
                    return Err(ConfigError::value(
                        WHAT,
                        format!("[{ai}].ObjectRef.Resource"),
                        format!("unsupported resource {:?} (only pods)", or.resource),
                    ));
                }
            }
            let idx = action as usize;
            if seen_action[idx] {
                return Err(ConfigError::value(
                    WHAT,
                    format!("[{ai}].ActionType"),
                    format!("{} appears twice", ra.action_type),
                ));
            }
            seen_action[idx] = true;
            cfg.root_names[idx] = ra.action_type.as_str().into();
            // LifeFlag: validated (its matchers must compile) but delivery
            // boundaries follow the engine's semantics; see docs/engine.md.
            if let Some(lf) = &ra.life_flag {
                for (k, m) in lf.start.iter().chain(lf.finish.iter()).enumerate() {
                    compile_matcher(m, &format!("[{ai}].LifeFlag[{k}]"))?;
                }
            }
            for (key, ex) in &ra.extra {
                let path = parse_value_path(&ex.value_rex).ok_or_else(|| {
                    ConfigError::value(
                        WHAT,
                        format!("[{ai}].ExtraProperties.{key}.ValueRex"),
                        format!(
                            "unsupported path {:?} (use metadata#labels#<key>, metadata#namespace, \
                             metadata#name, spec#nodeName, spec#schedulerName, metadata#ownerReferences#kind)",
                            ex.value_rex
                        ),
                    )
                })?;
                let name = if ex.name.is_empty() {
                    key.as_str()
                } else {
                    ex.name.as_str()
                };
                cfg.extras.push(ExtraDef {
                    name: name.into(),
                    path,
                    need_metric: ex.need_metric,
                });
            }
            for rs in &ra.spans {
                cfg.add_span(action, ai, rs)?;
            }
        }
        Ok(cfg)
    }

    fn add_span(&mut self, action: Action, ai: usize, rs: &RawSpan) -> Result<(), ConfigError> {
        let key = format!("[{ai}].Spans.{}", rs.name);
        if rs.name.is_empty() {
            return Err(ConfigError::value(WHAT, key, "span Name must not be empty"));
        }
        if self
            .spans
            .iter()
            .any(|s| s.action == action && *s.name == *rs.name)
        {
            return Err(ConfigError::value(WHAT, key, "duplicate span name"));
        }
        let direct = match rs.mode.as_deref().unwrap_or("start-finish") {
            "start-finish" | "" => false,
            "direct-info" => true,
            other => {
                return Err(ConfigError::value(
                    WHAT,
                    format!("{key}.Mode"),
                    format!("unknown mode {other:?} (expected start-finish or direct-info)"),
                ))
            }
        };
        let owner = match rs.owner.as_deref().unwrap_or("others") {
            "k8s" => SpanOwner::K8s,
            "custom" => SpanOwner::Custom,
            "others" | "" => SpanOwner::Others,
            other => {
                return Err(ConfigError::value(
                    WHAT,
                    format!("{key}.SpanOwner"),
                    format!("unknown owner {other:?} (expected k8s, custom, others)"),
                ))
            }
        };
        let name_ref = match rs.name_ref.as_deref() {
            None | Some("") => None,
            Some(r) => Some(parse_name_ref(r).ok_or_else(|| {
                ConfigError::value(
                    WHAT,
                    format!("{key}.NameRef"),
                    format!(
                        "unsupported NameRef {r:?} (use spec.[name]containers.image, \
                         spec.[name]containers.name, spec.[name]initContainers.name|image, metadata.finalizers)"
                    ),
                )
            })?),
        };
        if direct && rs.direct.is_empty() {
            return Err(ConfigError::value(
                WHAT,
                key,
                "direct-info span needs DirectEvent",
            ));
        }
        if !direct && (rs.start.is_empty() || rs.end.is_empty()) {
            return Err(ConfigError::value(
                WHAT,
                key,
                "start-finish span needs StartEvent and EndEvent",
            ));
        }
        if self.spans.len() >= u16::MAX as usize {
            return Err(ConfigError::value(WHAT, key, "too many spans"));
        }
        let span = self.spans.len() as u16;
        self.spans.push(SpanDef {
            name: rs.name.as_str().into(),
            action,
            owner,
            name_ref,
            need_close: rs.need_close.unwrap_or(false),
            omitempty: rs.omitempty.unwrap_or(false),
        });
        let groups: [(&[RawMatcher], Role, bool, &str); 3] = [
            (&rs.start, Role::Start, false, "StartEvent"),
            (&rs.end, Role::End, false, "EndEvent"),
            (&rs.direct, Role::End, true, "DirectEvent"),
        ];
        for (list, role, is_direct, field) in groups {
            for (k, m) in list.iter().enumerate() {
                let mkey = format!("{key}.{field}[{k}]");
                let (mut compiled, kind) = compile_matcher(m, &mkey)?;
                if let Some(r) = &mut compiled.name_rex {
                    r.id = self.rex_id(&m.name_rex);
                }
                if let Some(r) = &mut compiled.duration_rex {
                    r.id = self.rex_id(&m.duration_rex);
                }
                if self.rex_ids.len() > u16::MAX as usize {
                    return Err(ConfigError::value(WHAT, mkey, "too many regexes"));
                }
                if is_direct && compiled.duration_rex.is_none() && m.type_ == "event" {
                    return Err(ConfigError::value(
                        WHAT,
                        mkey,
                        "DirectEvent needs DurationRex",
                    ));
                }
                let trig = Trigger {
                    span,
                    role,
                    direct: is_direct,
                    matcher: self.matchers.len() as u16,
                };
                match kind {
                    MatchKind::OpExact => self
                        .op_exact
                        .entry(m.operation.as_str().into())
                        .or_default()
                        .push(trig),
                    MatchKind::OpWild(first) => {
                        self.op_wild.entry(first.into()).or_default().push(trig)
                    }
                    MatchKind::Event => {
                        if m.reason.is_empty() {
                            self.event_any.push(trig)
                        } else {
                            self.event_reason
                                .entry(m.reason.as_str().into())
                                .or_default()
                                .push(trig)
                        }
                    }
                }
                self.matchers.push(compiled);
            }
        }
        Ok(())
    }
}

enum MatchKind {
    OpExact,
    OpWild(String),
    Event,
}

fn compile_matcher(m: &RawMatcher, key: &str) -> Result<(Matcher, MatchKind), ConfigError> {
    if !m.lua.is_empty() {
        return Err(ConfigError::value(
            WHAT,
            format!("{key}.LuaMatcher"),
            "Lua matchers are not supported; use Operation/Reason with NameRex",
        ));
    }
    let rex = |s: &str, field: &str| -> Result<Option<Rex>, ConfigError> {
        if s.is_empty() {
            return Ok(None);
        }
        Rex::new(s)
            .map(Some)
            .map_err(|e| ConfigError::value(WHAT, format!("{key}.{field}"), e.to_string()))
    };
    let name_rex = rex(&m.name_rex, "NameRex")?;
    let duration_rex = rex(&m.duration_rex, "DurationRex")?;
    match m.type_.as_str() {
        "operation" => {
            if m.operation.is_empty() {
                return Err(ConfigError::value(
                    WHAT,
                    key,
                    "operation matcher needs Operation",
                ));
            }
            let segs: Vec<Seg> = m
                .operation
                .split(':')
                .map(|p| {
                    if p == "*" {
                        Seg::Any
                    } else {
                        Seg::Lit(p.into())
                    }
                })
                .collect();
            let wild = segs.iter().any(|s| matches!(s, Seg::Any));
            if wild {
                let first = match &segs[0] {
                    Seg::Lit(l) => l.to_string(),
                    Seg::Any => {
                        return Err(ConfigError::value(
                            WHAT,
                            format!("{key}.Operation"),
                            "the first segment of an operation pattern must be literal",
                        ))
                    }
                };
                Ok((
                    Matcher {
                        pattern: Some(segs),
                        name_rex,
                        duration_rex,
                    },
                    MatchKind::OpWild(first),
                ))
            } else {
                Ok((
                    Matcher {
                        pattern: None,
                        name_rex,
                        duration_rex,
                    },
                    MatchKind::OpExact,
                ))
            }
        }
        "event" => Ok((
            Matcher {
                pattern: None,
                name_rex,
                duration_rex,
            },
            MatchKind::Event,
        )),
        other => Err(ConfigError::value(
            WHAT,
            format!("{key}.Type"),
            format!("unknown matcher type {other:?} (expected operation or event)"),
        )),
    }
}

fn parse_name_ref(r: &str) -> Option<NameRef> {
    match r {
        "spec.[name]containers.image" => Some(NameRef::Containers {
            init: false,
            image: true,
        }),
        "spec.[name]containers.name" | "spec.[name]containers" => Some(NameRef::Containers {
            init: false,
            image: false,
        }),
        "spec.[name]initContainers.image" => Some(NameRef::Containers {
            init: true,
            image: true,
        }),
        "spec.[name]initContainers.name" | "spec.[name]initContainers" => {
            Some(NameRef::Containers {
                init: true,
                image: false,
            })
        }
        "metadata.finalizers" | "metadata.[]finalizers" => Some(NameRef::Finalizers),
        _ => None,
    }
}

fn parse_value_path(p: &str) -> Option<ValuePath> {
    let parts: Vec<&str> = p.splitn(3, '#').collect();
    match parts.as_slice() {
        ["metadata", "labels", key] if !key.is_empty() => Some(ValuePath::Label((*key).into())),
        ["metadata", "namespace"] => Some(ValuePath::Namespace),
        ["metadata", "name"] => Some(ValuePath::Name),
        ["spec", "nodeName"] => Some(ValuePath::NodeName),
        ["spec", "schedulerName"] => Some(ValuePath::SchedulerName),
        ["metadata", "ownerReferences", "kind"] => Some(ValuePath::OwnerKind),
        _ => None,
    }
}

/// Parses a duration captured by a `DurationRex`: a Go duration (`3.2s`,
/// `1m2.5s`, `850ms`) or a bare number of seconds.
pub(crate) fn parse_captured_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return (v.is_finite() && v >= 0.0).then(|| (v * 1e6).round() as i64);
    }
    crate::duration::parse_go_duration(s)
        .ok()
        .filter(|v| *v >= 0)
}
