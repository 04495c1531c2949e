//! FailedScheduling: parse what the scheduler says about every node it ruled
//! out, and pick the cause a person should act on.
//!
//! Three generations of text are understood, all reduced to `(reason, nodes)`:
//! - 1.1–1.5: `pod (x) failed to fit in any node\nfit failure on node (n): Insufficient cpu`
//!   (one line per node) or `fit failure summary on nodes : Insufficient cpu (3), ...`;
//! - 1.6–1.9: `No nodes are available that match all of the following predicates:: Insufficient cpu (9), MatchNodeSelector (18).`;
//! - 1.10+: `0/N nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated taint {k: v}.`
//!   with an optional `preemption: ...` tail (ignored: it repeats the counts)
//!   and other clauses without counts (ignored).
//!
//! Reasons are recognised by the words that survived renames (`taint`, `node
//! affinity`/`node selector`, `anti-affinity`, `topology spread`, `unbound
//! immediate PersistentVolumeClaims`, `free ports`...), not by whole lines.
//!
//! The dominant reason is chosen by *family* first (sum of node counts per
//! family), then by count inside the family. Summing per family matters
//! because one node is often counted under several reasons: "Insufficient
//! cpu (9), Insufficient memory (15), MatchNodeSelector (18)" is a resource
//! shortage (24) more than a selector mismatch (18). Taints of control-plane
//! nodes are discounted when anything else is reported: workloads are
//! normally kept off those nodes by design, so they are not what to fix.

use super::codes::Code;
use super::family::{scheduling_family, Family};
use super::finding::Finding;
use super::text::{short_cause, Msg};

/// Why the scheduler ruled out nodes (the FailedScheduling sub-reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // names are the sub-reason strings, see `as_str`
pub enum SchedReason {
    InsufficientCpu,
    InsufficientMemory,
    InsufficientGpu,
    InsufficientEphemeralStorage,
    /// Any other resource (hugepages, extended resources).
    InsufficientOther,
    UnboundPvc,
    /// Volume node affinity conflict, no PV to bind, volume zone conflicts.
    VolumeBinding,
    NodePorts,
    NodeAffinity,
    /// Pod affinity and anti-affinity (incl. existing pods' anti-affinity).
    PodAffinity,
    TopologySpread,
    Taint,
    TooManyPods,
    /// Cordoned nodes.
    Unschedulable,
    Other,
}

impl SchedReason {
    /// The sub-reason string, e.g. `InsufficientCPU`.
    pub fn as_str(self) -> &'static str {
        match self {
            SchedReason::InsufficientCpu => "InsufficientCPU",
            SchedReason::InsufficientMemory => "InsufficientMemory",
            SchedReason::InsufficientGpu => "InsufficientGPU",
            SchedReason::InsufficientEphemeralStorage => "InsufficientEphemeralStorage",
            SchedReason::InsufficientOther => "InsufficientResource",
            SchedReason::UnboundPvc => "UnboundPVC",
            SchedReason::VolumeBinding => "VolumeBinding",
            SchedReason::NodePorts => "NodePorts",
            SchedReason::NodeAffinity => "NodeAffinity",
            SchedReason::PodAffinity => "PodAffinity",
            SchedReason::TopologySpread => "TopologySpread",
            SchedReason::Taint => "Taint",
            SchedReason::TooManyPods => "TooManyPods",
            SchedReason::Unschedulable => "Unschedulable",
            SchedReason::Other => "Other",
        }
    }

    /// Every sub-reason.
    pub const ALL: [SchedReason; 15] = [
        SchedReason::InsufficientCpu,
        SchedReason::InsufficientMemory,
        SchedReason::InsufficientGpu,
        SchedReason::InsufficientEphemeralStorage,
        SchedReason::InsufficientOther,
        SchedReason::UnboundPvc,
        SchedReason::VolumeBinding,
        SchedReason::NodePorts,
        SchedReason::NodeAffinity,
        SchedReason::PodAffinity,
        SchedReason::TopologySpread,
        SchedReason::Taint,
        SchedReason::TooManyPods,
        SchedReason::Unschedulable,
        SchedReason::Other,
    ];

    /// Parses a sub-reason string back (inverse of [`SchedReason::as_str`]).
    pub fn parse(s: &str) -> Option<SchedReason> {
        SchedReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What the nodes lacked, completing "N nodes ...".
    fn phrase(self) -> &'static str {
        match self {
            SchedReason::InsufficientCpu => "have too little free CPU",
            SchedReason::InsufficientMemory => "have too little free memory",
            SchedReason::InsufficientGpu => "have too few free GPUs",
            SchedReason::InsufficientEphemeralStorage => "have too little free ephemeral storage",
            SchedReason::InsufficientOther => "lack a requested resource",
            SchedReason::UnboundPvc => "wait on an unbound PersistentVolumeClaim",
            SchedReason::VolumeBinding => "cannot reach or bind the pod's volumes",
            SchedReason::NodePorts => "do not have the pod's host ports free",
            SchedReason::NodeAffinity => "do not match the pod's node selector/affinity",
            SchedReason::PodAffinity => "break the pod's affinity/anti-affinity rules",
            SchedReason::TopologySpread => "would break its topology spread constraints",
            SchedReason::Taint => "have a taint the pod does not tolerate",
            SchedReason::TooManyPods => "already run their maximum number of pods",
            SchedReason::Unschedulable => "are cordoned (unschedulable)",
            SchedReason::Other => "were ruled out for other reasons",
        }
    }
}

/// Families in tie-break order: the most actionable first.
const FAMILY_PRIORITY: [Family; 6] = [
    Family::SchedulingResources,
    Family::SchedulingVolume,
    Family::SchedulingPorts,
    Family::SchedulingAffinity,
    Family::SchedulingTaint,
    Family::SchedulingOther,
];

/// One reason clause of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    reason: SchedReason,
    nodes: u32,
    /// Resource name, taint key... when the clause names one.
    detail: Option<String>,
    /// A taint of a control-plane node.
    control_plane: bool,
}

/// What a FailedScheduling message says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchedulingFailure {
    /// N of "0/N nodes are available", when printed.
    pub nodes_total: Option<u32>,
    /// Node counts per reason, in order of first appearance, summed over
    /// clauses (a message without counts gives its reason with count 1).
    pub reasons: Vec<(SchedReason, u32)>,
    clauses: Vec<Clause>,
}

impl SchedulingFailure {
    /// Nodes ruled out for `reason`.
    pub fn count(&self, reason: SchedReason) -> u32 {
        self.reasons
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// The cause to act on (see the module docs); `Other` when nothing parsed.
    pub fn dominant(&self) -> SchedReason {
        let relevant: Vec<&Clause> = {
            let without_cp: Vec<&Clause> =
                self.clauses.iter().filter(|c| !c.control_plane).collect();
            if without_cp.is_empty() {
                self.clauses.iter().collect()
            } else {
                without_cp
            }
        };
        let family_sum = |fam: Family| -> u32 {
            relevant
                .iter()
                .filter(|c| scheduling_family(c.reason) == fam)
                .map(|c| c.nodes)
                .sum()
        };
        let mut best_family = None;
        let mut best_sum = 0;
        for fam in FAMILY_PRIORITY {
            let sum = family_sum(fam);
            if sum > best_sum {
                best_sum = sum;
                best_family = Some(fam);
            }
        }
        let Some(family) = best_family else {
            return SchedReason::Other;
        };
        let mut best = (SchedReason::Other, 0u32);
        for clause in relevant
            .iter()
            .filter(|c| scheduling_family(c.reason) == family)
        {
            let nodes: u32 = relevant
                .iter()
                .filter(|c| c.reason == clause.reason)
                .map(|c| c.nodes)
                .sum();
            if nodes > best.1 || (nodes == best.1 && clause.reason < best.0) {
                best = (clause.reason, nodes);
            }
        }
        best.0
    }

    /// The first detail (resource name, taint key) printed for `reason`.
    pub fn detail(&self, reason: SchedReason) -> Option<&str> {
        self.clauses
            .iter()
            .filter(|c| c.reason == reason)
            .find_map(|c| c.detail.as_deref())
    }

    fn push(&mut self, clause: Clause) {
        match self.reasons.iter_mut().find(|(r, _)| *r == clause.reason) {
            Some((_, n)) => *n = n.saturating_add(clause.nodes),
            None => self.reasons.push((clause.reason, clause.nodes)),
        }
        self.clauses.push(clause);
    }
}

/// Parses a FailedScheduling message of any Kubernetes version.
pub fn parse_failed_scheduling(message: &str) -> SchedulingFailure {
    let mut out = SchedulingFailure::default();
    let whole = Msg::new(message);
    // The preemption tail repeats node counts for preemption; drop it.
    let end = whole.find("preemption:").unwrap_or(whole.raw.len());
    let m = whole.prefix(end);
    let raw = m.raw;

    if let Some(pos) = m.find("nodes are available:") {
        out.nodes_total = total_before(&m.lc[..pos]);
        let list = &raw[pos + "nodes are available:".len()..];
        // Clauses end at ", " or ". "; a bare '.' also appears inside names
        // (nvidia.com/gpu, node-role.kubernetes.io/master), so never split on it.
        for segment in list.split(", ").flat_map(|s| s.split(". ")) {
            if let Some((count, text)) = leading_count(segment) {
                out.push(clause(text, count));
            }
        }
    } else if m.has("fit failure on node") {
        for line in raw
            .lines()
            .filter(|l| Msg::new(l).has("fit failure on node"))
        {
            let reason_text = line.rsplit_once("):").map_or(line, |(_, r)| r);
            for part in reason_text.split(',') {
                if !part.trim().is_empty() {
                    out.push(clause(part, 1));
                }
            }
        }
    } else if let Some(pos) = m.find("predicates:").or_else(|| m.find("summary on nodes")) {
        let list = raw[pos..]
            .split_once(':')
            .map_or("", |(_, rest)| rest)
            .trim_start_matches([':', ' ']);
        for segment in list.split(", ") {
            if let Some((text, count)) = trailing_count(segment) {
                out.push(clause(text, count));
            }
        }
    }
    if out.reasons.is_empty() && !raw.trim().is_empty() {
        // One bare cause: "pod has unbound immediate PersistentVolumeClaims",
        // "running PreBind plugin \"VolumeBinding\": ...".
        out.push(clause(raw, 1));
    }
    out
}

/// N from "0/N " just before "nodes are available".
fn total_before(lc_prefix: &str) -> Option<u32> {
    let slash = lc_prefix.rfind('/')?;
    lc_prefix[slash + 1..].trim().parse().ok()
}

/// "3 Insufficient cpu" -> (3, "Insufficient cpu").
fn leading_count(segment: &str) -> Option<(u32, &str)> {
    let segment = segment.trim();
    let digits = segment.find(|c: char| !c.is_ascii_digit())?;
    if digits == 0 {
        return None;
    }
    let count = segment[..digits].parse().ok()?;
    Some((count, segment[digits..].trim()))
}

/// "Insufficient cpu (9)" -> ("Insufficient cpu", 9); a reason without a
/// count counts once.
fn trailing_count(segment: &str) -> Option<(&str, u32)> {
    let segment = segment.trim().trim_end_matches('.').trim();
    if segment.is_empty() {
        return None;
    }
    if let Some(open) = segment.rfind('(') {
        if let Ok(count) = segment[open + 1..].trim_end_matches(')').trim().parse() {
            return Some((segment[..open].trim(), count));
        }
    }
    Some((segment, 1))
}

/// Classifies one reason clause.
fn clause(text: &str, nodes: u32) -> Clause {
    let m = Msg::new(text.trim());
    let mut detail = None;
    let mut control_plane = false;
    let reason = if let Some(pos) = m.find("insufficient ") {
        let resource = m.raw[pos + "insufficient ".len()..]
            .trim()
            .trim_end_matches('.');
        detail = Some(resource.to_string());
        insufficient(&resource.to_ascii_lowercase())
    } else if m.any(&["too many pods", "podfitsresources", "noderesourcesfit"]) {
        if m.has("too many pods") {
            SchedReason::TooManyPods
        } else {
            SchedReason::InsufficientOther
        }
    } else if m.any(&[
        "unbound immediate persistentvolumeclaim",
        "unbound persistentvolumeclaim",
    ]) || (m.has("persistentvolumeclaim") && m.has("not found"))
    {
        SchedReason::UnboundPvc
    } else if m.any(&[
        "volume node affinity conflict",
        "volumebinding",
        "persistent volumes to bind",
        "volume zone",
        "novolumezoneconflict",
        "checkvolumebinding",
        "volume binding",
    ]) {
        SchedReason::VolumeBinding
    } else if m.has("taint") {
        let key = taint_key(&m);
        control_plane = key.as_deref().is_some_and(|k| {
            k.contains("node-role.kubernetes.io/master")
                || k.contains("node-role.kubernetes.io/control-plane")
        });
        let cordoned = key.as_deref() == Some("node.kubernetes.io/unschedulable");
        detail = key;
        if cordoned {
            SchedReason::Unschedulable
        } else {
            SchedReason::Taint
        }
    } else if m.any(&["unschedulable", "nodeunschedulable"]) {
        SchedReason::Unschedulable
    } else if m.any(&["free ports", "hostports", "host port", "nodeports"]) {
        SchedReason::NodePorts
    } else if m.any(&["topology spread", "topologyspread", "evenpodsspread"]) {
        SchedReason::TopologySpread
    } else if m.any(&[
        "anti-affinity",
        "pod affinity",
        "interpodaffinity",
        "inter-pod",
        "pod's affinity",
    ]) {
        SchedReason::PodAffinity
    } else if m.any(&[
        "node affinity",
        "node selector",
        "nodeselector",
        "nodeaffinity",
        "node name",
        "hostname",
    ]) {
        SchedReason::NodeAffinity
    } else {
        SchedReason::Other
    };
    Clause {
        reason,
        nodes,
        detail,
        control_plane,
    }
}

/// Resource name after "Insufficient " to a reason.
fn insufficient(resource: &str) -> SchedReason {
    match resource {
        "cpu" => SchedReason::InsufficientCpu,
        "memory" => SchedReason::InsufficientMemory,
        "ephemeral-storage" => SchedReason::InsufficientEphemeralStorage,
        "pods" => SchedReason::TooManyPods,
        r if r.contains("gpu") => SchedReason::InsufficientGpu,
        _ => SchedReason::InsufficientOther,
    }
}

/// The key of "{key: value}" in a taint clause.
fn taint_key(m: &Msg<'_>) -> Option<String> {
    let open = m.raw.find('{')?;
    let inner = &m.raw[open + 1..];
    let end = inner.find(['}', ':']).unwrap_or(inner.len());
    let key = inner[..end].trim();
    (!key.is_empty()).then(|| key.to_string())
}

/// A FailedScheduling event to a finding.
pub(crate) fn finding(message: &str) -> Finding {
    let parsed = parse_failed_scheduling(message);
    let dominant = parsed.dominant();
    let detail = parsed.detail(dominant);
    let has_counts = parsed.nodes_total.is_some() || parsed.reasons.iter().any(|(_, n)| *n > 1);
    let what = if has_counts {
        let nodes = parsed.count(dominant);
        let of_total = parsed
            .nodes_total
            .map(|t| format!(" of {t}"))
            .unwrap_or_default();
        let detail_note = detail.map(|d| format!(" ({d})")).unwrap_or_default();
        let mut what = format!(
            "no node can run the pod: {nodes}{of_total} nodes {}{detail_note}",
            dominant.phrase()
        );
        let mut others: Vec<&(SchedReason, u32)> = parsed
            .reasons
            .iter()
            .filter(|(r, _)| *r != dominant)
            .collect();
        others.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        for (i, (reason, n)) in others.iter().take(2).enumerate() {
            what.push_str(if i == 0 { "; also " } else { ", " });
            what.push_str(&format!("{n} {}", reason.phrase()));
        }
        what
    } else {
        format!(
            "the scheduler could not place the pod: {}",
            short_cause(message)
        )
    };
    Finding::new(
        Code::FailedScheduling(dominant),
        Some(dominant.as_str().to_string()),
        detail.map(str::to_string),
        what,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_format_with_preemption_tail() {
        let p = parse_failed_scheduling(
            "0/12 nodes are available: 4 Insufficient memory, 7 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: db}. preemption: 0/12 nodes are available: 12 No preemption victims found for incoming pod.",
        );
        assert_eq!(p.nodes_total, Some(12));
        assert_eq!(p.count(SchedReason::InsufficientCpu), 7);
        assert_eq!(p.count(SchedReason::Taint), 1);
        assert_eq!(
            p.count(SchedReason::Other),
            0,
            "preemption tail must be ignored"
        );
        assert_eq!(p.dominant(), SchedReason::InsufficientCpu);
        assert_eq!(p.detail(SchedReason::Taint), Some("dedicated"));
    }

    #[test]
    fn old_taint_wording_and_control_plane_discount() {
        let p = parse_failed_scheduling(
            "0/5 nodes are available: 3 node(s) had taint {node-role.kubernetes.io/master: }, that the pod didn't tolerate, 2 node(s) didn't match node selector.",
        );
        assert_eq!(p.count(SchedReason::Taint), 3);
        assert_eq!(p.dominant(), SchedReason::NodeAffinity);
        let only_cp = parse_failed_scheduling(
            "0/1 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.",
        );
        assert_eq!(only_cp.dominant(), SchedReason::Taint);
    }

    #[test]
    fn predicate_era_sums_by_family() {
        let p = parse_failed_scheduling(
            "No nodes are available that match all of the following predicates:: Insufficient memory (4), MatchNodeSelector (6), Insufficient cpu (5).",
        );
        assert_eq!(p.count(SchedReason::NodeAffinity), 6);
        assert_eq!(p.dominant(), SchedReason::InsufficientCpu);
        let p = parse_failed_scheduling(
            "No nodes are available that match all of the following predicates:: NoVolumeZoneConflict (3), PodToleratesNodeTaints (1).",
        );
        assert_eq!(p.dominant(), SchedReason::VolumeBinding);
    }

    #[test]
    fn fit_failure_lines_count_nodes() {
        let p = parse_failed_scheduling(
            "pod (web-1) failed to fit in any node\nfit failure on node (n1): Insufficient memory\nfit failure on node (n2): Insufficient memory\nfit failure on node (n3): PodFitsHostPorts",
        );
        assert_eq!(p.count(SchedReason::InsufficientMemory), 2);
        assert_eq!(p.count(SchedReason::NodePorts), 1);
        assert_eq!(p.dominant(), SchedReason::InsufficientMemory);
    }

    #[test]
    fn resources_gpus_pods_and_cordons() {
        let p = parse_failed_scheduling("0/4 nodes are available: 4 Insufficient amd.com/gpu.");
        assert_eq!(p.dominant(), SchedReason::InsufficientGpu);
        assert_eq!(p.detail(SchedReason::InsufficientGpu), Some("amd.com/gpu"));
        let p = parse_failed_scheduling("0/3 nodes are available: 3 Insufficient hugepages-2Mi.");
        assert_eq!(p.dominant(), SchedReason::InsufficientOther);
        let p = parse_failed_scheduling("0/3 nodes are available: 3 Too many pods.");
        assert_eq!(p.dominant(), SchedReason::TooManyPods);
        let p = parse_failed_scheduling(
            "0/2 nodes are available: 2 node(s) had untolerated taint {node.kubernetes.io/unschedulable: }.",
        );
        assert_eq!(p.dominant(), SchedReason::Unschedulable);
        let p =
            parse_failed_scheduling("0/9 nodes are available: 9 Insufficient ephemeral-storage.");
        assert_eq!(p.dominant(), SchedReason::InsufficientEphemeralStorage);
    }

    #[test]
    fn volumes_affinity_and_spread() {
        let cases = [
            ("0/3 nodes are available: 3 node(s) had volume node affinity conflict.", SchedReason::VolumeBinding),
            ("0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind.", SchedReason::VolumeBinding),
            ("persistentvolumeclaim \"data-0\" not found", SchedReason::UnboundPvc),
            ("running PreBind plugin \"VolumeBinding\": binding volumes: timed out waiting for the condition", SchedReason::VolumeBinding),
            ("0/4 nodes are available: 4 node(s) didn't satisfy existing pods anti-affinity rules.", SchedReason::PodAffinity),
            ("0/4 nodes are available: 4 node(s) didn't match pod affinity rules.", SchedReason::PodAffinity),
            ("0/4 nodes are available: 4 node(s) didn't match pod topology spread constraints (missing required label).", SchedReason::TopologySpread),
            ("0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector.", SchedReason::NodeAffinity),
            ("0/4 nodes are available: 4 node(s) didn't have free ports for the requested pod ports.", SchedReason::NodePorts),
            ("0/4 nodes are available: 4 node(s) were unschedulable.", SchedReason::Unschedulable),
            ("skip schedule deleting pod: default/web-0", SchedReason::Other),
            ("0/2 nodes are available: 2 node(s) didn't satisfy plugin(s) [NodeAffinity].", SchedReason::NodeAffinity),
        ];
        for (msg, want) in cases {
            assert_eq!(parse_failed_scheduling(msg).dominant(), want, "{msg}");
        }
    }

    #[test]
    fn finding_sentence_names_counts() {
        let f = finding("0/8 nodes are available: 8 Insufficient cpu, 3 node(s) had untolerated taint {gpu: true}.");
        assert_eq!(f.code, Code::FailedScheduling(SchedReason::InsufficientCpu));
        assert_eq!(f.sub_reason.as_deref(), Some("InsufficientCPU"));
        assert_eq!(f.family.label(), "FailedScheduling/insufficient-resources");
        assert!(
            f.what.starts_with(
                "no node can run the pod: 8 of 8 nodes have too little free CPU (cpu)"
            ),
            "{}",
            f.what
        );
        assert!(f.what.contains("also 3 have a taint"), "{}", f.what);
        let f = finding("pod has unbound immediate PersistentVolumeClaims");
        assert_eq!(f.family.label(), "FailedScheduling/pvc");
        assert!(
            f.what.starts_with("the scheduler could not place the pod"),
            "{}",
            f.what
        );
        assert_eq!(parse_failed_scheduling("").dominant(), SchedReason::Other);
    }
}
