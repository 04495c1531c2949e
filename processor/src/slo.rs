//! The SLO configuration and the pod classes that choose a create deadline.
//!
//! The seed's format (README) is accepted verbatim: `UserOnlineConfigMap`
//! (namespace -> Go duration that *replaces* the class SLO),
//! `IgnoredNamespaceForAudit` (those namespaces' records are dropped before
//! anything else) and `IgnoreDeleteReasonNamespace` (a pod killed there is
//! always `beforeFinish`, never diagnosed). Everything the original hard-coded
//! is an optional key here so an operator can tune it; an unknown key is an
//! error naming it, because a misspelt key silently ignored is an SLO silently
//! wrong.

use std::collections::{BTreeMap, BTreeSet};

use lunettes_schemas::PodFacts;
use serde::Deserialize;

use crate::duration::parse_go_duration;
use crate::error::ConfigError;

const WHAT: &str = "SLO config";

/// The default SLO configuration shipped in `config/slo.json`.
pub const DEFAULT_SLO_JSON: &str = include_str!("../../config/slo.json");

/// Pod class by spec size (section 3 of the reference): it picks the SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodClass {
    /// More than 32 cores or 64 GiB requested: best effort, no deadline.
    NotTypicalResource,
    /// More than 10 containers: best effort, no deadline.
    MoreThan10Containers,
    /// More than 8 cores or 16 GiB requested.
    NonTypical2,
    /// More than 3 containers or 15 volumes.
    NonTypical1,
    /// Everything else.
    Typical,
    /// The namespace has its own SLO in `UserOnlineConfigMap`.
    UserOnline,
}

impl PodClass {
    /// The name written to `Delivery.slo_class`.
    pub fn as_str(self) -> &'static str {
        match self {
            PodClass::NotTypicalResource => "NotTypicalResource",
            PodClass::MoreThan10Containers => "MoreThan10Containers",
            PodClass::NonTypical2 => "NONTYPICAL2",
            PodClass::NonTypical1 => "NONTYPICAL1",
            PodClass::Typical => "typical",
            PodClass::UserOnline => "UserOnline",
        }
    }

    /// Classifies a pod spec by its requests, container count and volume count.
    pub fn of(facts: &PodFacts) -> PodClass {
        let cpu: i64 = facts.containers.iter().map(|c| c.cpu_millis.max(0)).sum();
        let mem: i64 = facts.containers.iter().map(|c| c.memory_bytes.max(0)).sum();
        const GI: i64 = 1 << 30;
        let n = facts.containers.len();
        if cpu > 32_000 || mem > 64 * GI {
            PodClass::NotTypicalResource
        } else if n > 10 {
            PodClass::MoreThan10Containers
        } else if cpu > 8_000 || mem > 16 * GI {
            PodClass::NonTypical2
        } else if n > 3 || facts.volume_kinds.len() > 15 {
            PodClass::NonTypical1
        } else {
            PodClass::Typical
        }
    }
}

/// Deadlines of the delete delivery tiers (`slo_class` of a delete delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteTiers {
    /// First verdict: fail with `FinalizerNotRemoved`/`DeleteTimeout` (default 10 min).
    pub delete_us: i64,
    /// Corrected verdict tier `stale` (default 1 h).
    pub stale_us: i64,
    /// Corrected verdict tier `terminating` (default 24 h).
    pub terminating_us: i64,
}

/// The SLO configuration. Build it with [`SloConfig::from_json`] or take
/// [`SloConfig::default`] (the embedded `config/slo.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloConfig {
    /// Namespace -> SLO (µs) replacing the class SLO.
    pub user_online_us: BTreeMap<String, i64>,
    /// Namespaces whose records are dropped entirely.
    pub ignored_namespaces: BTreeSet<String>,
    /// Namespaces where a killed pod is never diagnosed (`beforeFinish`).
    pub ignore_delete_reason_namespaces: BTreeSet<String>,
    /// SLO of typical pods, µs (90 s).
    pub typical_us: i64,
    /// SLO of NONTYPICAL1 pods, µs (600 s).
    pub nontypical1_us: i64,
    /// SLO of NONTYPICAL2 pods, µs (1800 s).
    pub nontypical2_us: i64,
    /// Give-up horizon override, µs (replaces `EngineConfig::give_up_us` when set).
    pub give_up_us: Option<i64>,
    /// Lateness override, µs (replaces `EngineConfig::lateness_us` when set).
    pub lateness_us: Option<i64>,
    /// A pod deleted within this time of its creation is killed `beforeFinish`
    /// without diagnosis (3 s).
    pub kill_diagnosis_after_us: i64,
    /// Delete delivery tiers.
    pub delete_tiers: DeleteTiers,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    #[serde(rename = "UserOnlineConfigMap", default)]
    user_online: BTreeMap<String, String>,
    #[serde(rename = "IgnoredNamespaceForAudit", default)]
    ignored: Vec<String>,
    #[serde(rename = "IgnoreDeleteReasonNamespace", default)]
    ignore_delete_reason: Vec<String>,
    #[serde(rename = "ClassSLO", default)]
    class_slo: BTreeMap<String, String>,
    #[serde(rename = "GiveUp", default)]
    give_up: Option<String>,
    #[serde(rename = "Lateness", default)]
    lateness: Option<String>,
    #[serde(rename = "KillDiagnosisAfter", default)]
    kill_diagnosis_after: Option<String>,
    #[serde(rename = "DeleteTiers", default)]
    delete_tiers: BTreeMap<String, String>,
}

fn positive(key: String, s: &str) -> Result<i64, ConfigError> {
    let us = parse_go_duration(s).map_err(|m| ConfigError::value(WHAT, key.clone(), m))?;
    if us <= 0 {
        return Err(ConfigError::value(
            WHAT,
            key,
            format!("duration {s:?} must be positive"),
        ));
    }
    Ok(us)
}

impl SloConfig {
    /// Parses the SLO configuration (the README's format plus the optional
    /// keys `ClassSLO`, `GiveUp`, `Lateness`, `KillDiagnosisAfter`, `DeleteTiers`).
    /// Missing keys take the defaults of section 3 (typical 90 s).
    pub fn from_json(s: &str) -> Result<Self, ConfigError> {
        let raw: RawSlo = serde_json::from_str(s).map_err(|e| ConfigError::Json {
            what: WHAT,
            message: e.to_string(),
        })?;
        let mut cfg = SloConfig::builtin();
        for (ns, d) in &raw.user_online {
            cfg.user_online_us.insert(
                ns.clone(),
                positive(format!("UserOnlineConfigMap.{ns}"), d)?,
            );
        }
        cfg.ignored_namespaces = raw.ignored.into_iter().collect();
        cfg.ignore_delete_reason_namespaces = raw.ignore_delete_reason.into_iter().collect();
        for (class, d) in &raw.class_slo {
            let us = positive(format!("ClassSLO.{class}"), d)?;
            match class.as_str() {
                "typical" => cfg.typical_us = us,
                "NONTYPICAL1" => cfg.nontypical1_us = us,
                "NONTYPICAL2" => cfg.nontypical2_us = us,
                other => {
                    return Err(ConfigError::value(
                        WHAT,
                        format!("ClassSLO.{other}"),
                        "unknown pod class (expected typical, NONTYPICAL1, NONTYPICAL2; \
                         NotTypicalResource and MoreThan10Containers are best effort)",
                    ))
                }
            }
        }
        if let Some(d) = &raw.give_up {
            cfg.give_up_us = Some(positive("GiveUp".into(), d)?);
        }
        if let Some(d) = &raw.lateness {
            let us = parse_go_duration(d).map_err(|m| ConfigError::value(WHAT, "Lateness", m))?;
            if us < 0 {
                return Err(ConfigError::value(WHAT, "Lateness", "must not be negative"));
            }
            cfg.lateness_us = Some(us);
        }
        if let Some(d) = &raw.kill_diagnosis_after {
            let us = parse_go_duration(d)
                .map_err(|m| ConfigError::value(WHAT, "KillDiagnosisAfter", m))?;
            cfg.kill_diagnosis_after_us = us.max(0);
        }
        for (tier, d) in &raw.delete_tiers {
            let us = positive(format!("DeleteTiers.{tier}"), d)?;
            match tier.as_str() {
                "delete" => cfg.delete_tiers.delete_us = us,
                "stale" => cfg.delete_tiers.stale_us = us,
                "terminating" => cfg.delete_tiers.terminating_us = us,
                other => {
                    return Err(ConfigError::value(
                        WHAT,
                        format!("DeleteTiers.{other}"),
                        "unknown tier (expected delete, stale, terminating)",
                    ))
                }
            }
        }
        let t = cfg.delete_tiers;
        if !(t.delete_us < t.stale_us && t.stale_us < t.terminating_us) {
            return Err(ConfigError::value(
                WHAT,
                "DeleteTiers",
                "tiers must increase: delete < stale < terminating",
            ));
        }
        Ok(cfg)
    }

    /// The defaults of section 3 with the typical pod really at 90 s.
    fn builtin() -> Self {
        SloConfig {
            user_online_us: BTreeMap::new(),
            ignored_namespaces: BTreeSet::new(),
            ignore_delete_reason_namespaces: BTreeSet::new(),
            typical_us: 90_000_000,
            nontypical1_us: 600_000_000,
            nontypical2_us: 1_800_000_000,
            give_up_us: None,
            lateness_us: None,
            kill_diagnosis_after_us: 3_000_000,
            delete_tiers: DeleteTiers {
                delete_us: 600_000_000,
                stale_us: 3_600_000_000,
                terminating_us: 86_400_000_000,
            },
        }
    }

    /// The class and SLO (µs, `None` = best effort) of a pod in `namespace`.
    pub fn slo_for(&self, namespace: &str, facts: Option<&PodFacts>) -> (PodClass, Option<i64>) {
        if let Some(us) = self.user_online_us.get(namespace) {
            return (PodClass::UserOnline, Some(*us));
        }
        let class = facts.map(PodClass::of).unwrap_or(PodClass::Typical);
        let slo = match class {
            PodClass::NotTypicalResource | PodClass::MoreThan10Containers => None,
            PodClass::NonTypical2 => Some(self.nontypical2_us),
            PodClass::NonTypical1 => Some(self.nontypical1_us),
            PodClass::Typical | PodClass::UserOnline => Some(self.typical_us),
        };
        (class, slo)
    }
}

impl Default for SloConfig {
    fn default() -> Self {
        // The embedded file is tested to parse; fall back to the same values if not.
        SloConfig::from_json(DEFAULT_SLO_JSON).unwrap_or_else(|_| SloConfig::builtin())
    }
}
