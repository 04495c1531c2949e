//! Query parameters of the API: parsed strictly, validated, named in errors.
//!
//! Everything a caller sends ends up as a ClickHouse *bound parameter*, never
//! in SQL text, so validation here is not what keeps the SQL safe; it is what
//! gives a caller a 400 naming their mistake instead of an empty answer. A
//! parameter the endpoint does not know is an error too: `namspace=` silently
//! ignored would answer about the whole fleet.

use std::collections::BTreeMap;
use std::net::IpAddr;

use lunettes_processor::duration::parse_go_duration;
use lunettes_schemas::time::parse_rfc3339;
use lunettes_schemas::{Action, DeliveryResult};

use crate::error::{Error, Result};

/// Parameters of `GET /api/v1/debugpod`.
pub const DEBUGPOD_PARAMS: &[&str] = &[
    "uid",
    "namespace",
    "name",
    "podip",
    "node",
    "cluster",
    "errors_only",
    "limit",
];

/// Parameters of `GET /api/v1/debugslo`.
pub const DEBUGSLO_PARAMS: &[&str] = &[
    "cluster",
    "namespace",
    "result",
    "code",
    "type",
    "from",
    "to",
    "limit",
];

/// Most timeline events one answer carries (the page and the terminal cannot
/// show more usefully; `timeline.truncated` says when some were left out).
pub const MAX_TIMELINE: usize = 5_000;
/// Default number of pods in a list answer.
pub const DEFAULT_POD_LIMIT: usize = 100;
/// Largest `limit` accepted for pod lists.
pub const MAX_POD_LIMIT: usize = 1_000;
/// Default look-back of `debugslo` when `from` is not given: 24 hours.
pub const DEFAULT_SLO_RANGE_US: i64 = 24 * 3_600_000_000;

/// Which pod(s) `debugpod` is asked about: exactly one selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodSelector {
    /// By pod UID.
    Uid(String),
    /// By namespace and name (the newest incarnation; others are listed).
    Name {
        /// Namespace.
        namespace: String,
        /// Pod name.
        name: String,
    },
    /// Every pod that had this IP (answers a list).
    PodIp(IpAddr),
    /// Every pod seen on this node (answers a list).
    Node(String),
}

/// A validated `debugpod` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugPodQuery {
    /// Which pod.
    pub selector: PodSelector,
    /// Restrict to one cluster.
    pub cluster: Option<String>,
    /// Keep only error entries in the timeline.
    pub errors_only: bool,
    /// Most pods in a list answer (node, podip).
    pub limit: usize,
}

/// A validated `debugslo` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugSloQuery {
    /// Restrict to one cluster.
    pub cluster: Option<String>,
    /// Restrict to one namespace.
    pub namespace: Option<String>,
    /// Restrict to one verdict.
    pub result: Option<DeliveryResult>,
    /// Restrict to one diagnosis code.
    pub code: Option<String>,
    /// Create or delete deliveries.
    pub action: Action,
    /// Decided at or after, µs.
    pub from_us: i64,
    /// Decided before, µs.
    pub to_us: i64,
    /// Most pods in the list.
    pub limit: usize,
}

/// Splits a raw query string into parameters, rejecting unknown and
/// repeated ones. Empty values count as absent.
pub fn parse_pairs(raw: Option<&str>, allowed: &[&str]) -> Result<BTreeMap<String, String>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| Error::bad("query", format!("malformed query string: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, value) in pairs {
        if !allowed.contains(&name.as_str()) {
            return Err(Error::bad(
                name,
                format!("unknown parameter (expected one of {})", allowed.join(", ")),
            ));
        }
        if out.contains_key(&name) {
            return Err(Error::bad(name, "given more than once"));
        }
        if !value.is_empty() {
            out.insert(name, value);
        }
    }
    Ok(out)
}

impl DebugPodQuery {
    /// Parses and validates the query string of a `debugpod` request.
    pub fn parse(raw: Option<&str>) -> Result<Self> {
        let mut p = parse_pairs(raw, DEBUGPOD_PARAMS)?;
        let cluster = p
            .remove("cluster")
            .map(|v| cluster("cluster", v))
            .transpose()?;
        let errors_only = match p.remove("errors_only") {
            None => false,
            Some(v) => boolean("errors_only", &v)?,
        };
        let limit = p
            .remove("limit")
            .map(|v| limit("limit", &v))
            .transpose()?
            .unwrap_or(DEFAULT_POD_LIMIT);
        let uid = p.remove("uid");
        let namespace = p.remove("namespace");
        let name = p.remove("name");
        let podip = p.remove("podip");
        let node = p.remove("node");
        let given: Vec<&str> = [
            uid.as_ref().map(|_| "uid"),
            (namespace.is_some() || name.is_some()).then_some("namespace+name"),
            podip.as_ref().map(|_| "podip"),
            node.as_ref().map(|_| "node"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if given.len() > 1 {
            return Err(Error::bad(
                given[1].split('+').next().unwrap_or("uid"),
                format!(
                    "give exactly one of uid, namespace+name, podip, node (got {})",
                    given.join(" and ")
                ),
            ));
        }
        let selector = if let Some(v) = uid {
            PodSelector::Uid(uid_value("uid", v)?)
        } else if namespace.is_some() || name.is_some() {
            let namespace =
                namespace.ok_or_else(|| Error::bad("namespace", "required together with name"))?;
            let name =
                name.ok_or_else(|| Error::bad("name", "required together with namespace"))?;
            PodSelector::Name {
                namespace: dns_label("namespace", namespace)?,
                name: dns_subdomain("name", name)?,
            }
        } else if let Some(v) = podip {
            PodSelector::PodIp(v.parse().map_err(|_| {
                Error::bad("podip", format!("{v:?} is not an IPv4 or IPv6 address"))
            })?)
        } else if let Some(v) = node {
            PodSelector::Node(dns_subdomain("node", v)?)
        } else {
            return Err(Error::bad(
                "uid",
                "missing: give one of uid, namespace+name, podip, node",
            ));
        };
        Ok(DebugPodQuery {
            selector,
            cluster,
            errors_only,
            limit,
        })
    }
}

impl DebugSloQuery {
    /// Parses and validates the query string of a `debugslo` request;
    /// `now_us` resolves `now-1h`-style times and the default range.
    pub fn parse(raw: Option<&str>, now_us: i64) -> Result<Self> {
        let mut p = parse_pairs(raw, DEBUGSLO_PARAMS)?;
        let cluster = p
            .remove("cluster")
            .map(|v| cluster("cluster", v))
            .transpose()?;
        let namespace = p
            .remove("namespace")
            .map(|v| dns_label("namespace", v))
            .transpose()?;
        let result = p
            .remove("result")
            .map(|v| {
                DeliveryResult::ALL
                    .into_iter()
                    .find(|r| r.as_str() == v)
                    .ok_or_else(|| {
                        Error::bad(
                            "result",
                            format!(
                                "{v:?} is not a result (expected success, fail, kill, api_failed, abandoned)"
                            ),
                        )
                    })
            })
            .transpose()?;
        let code = p.remove("code").map(|v| code("code", v)).transpose()?;
        let action = match p.remove("type").as_deref() {
            None | Some("create") => Action::Create,
            Some("delete") => Action::Delete,
            Some(v) => {
                return Err(Error::bad(
                    "type",
                    format!("{v:?} is not a delivery type (expected create or delete)"),
                ))
            }
        };
        let to_us = p
            .remove("to")
            .map(|v| time("to", &v, now_us))
            .transpose()?
            .unwrap_or(now_us);
        let from_us = p
            .remove("from")
            .map(|v| time("from", &v, now_us))
            .transpose()?
            .unwrap_or(to_us - DEFAULT_SLO_RANGE_US);
        if from_us >= to_us {
            return Err(Error::bad("from", "must be before `to`"));
        }
        let limit = p
            .remove("limit")
            .map(|v| limit("limit", &v))
            .transpose()?
            .unwrap_or(DEFAULT_POD_LIMIT);
        Ok(DebugSloQuery {
            cluster,
            namespace,
            result,
            code,
            action,
            from_us,
            to_us,
            limit,
        })
    }
}

fn boolean(param: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::bad(
            param,
            format!("{v:?} is not a boolean (true, false, 1, 0)"),
        )),
    }
}

fn limit(param: &str, v: &str) -> Result<usize> {
    match v.parse::<usize>() {
        Ok(n) if (1..=MAX_POD_LIMIT).contains(&n) => Ok(n),
        _ => Err(Error::bad(
            param,
            format!("{v:?} is not an integer within 1..={MAX_POD_LIMIT}"),
        )),
    }
}

/// A time: RFC 3339 (`2026-01-01T00:00:00Z`), `now`, or `now-<Go duration>`
/// (`now-1h30m`).
pub fn time(param: &str, v: &str, now_us: i64) -> Result<i64> {
    if v == "now" {
        return Ok(now_us);
    }
    if let Some(d) = v.strip_prefix("now-") {
        let us = parse_go_duration(d).map_err(|e| Error::bad(param, format!("{v:?}: {e}")))?;
        return Ok(now_us.saturating_sub(us));
    }
    parse_rfc3339(v).map(|(us, _)| us).ok_or_else(|| {
        Error::bad(
            param,
            format!("{v:?} is not a time (RFC 3339 like 2026-01-01T00:00:00Z, now, or now-1h)"),
        )
    })
}

fn check(
    param: &str,
    v: String,
    max: usize,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<String> {
    if v.len() > max || !ok(&v) {
        Err(Error::bad(param, format!("{v:?} is not {what}")))
    } else {
        Ok(v)
    }
}

fn uid_value(param: &str, v: String) -> Result<String> {
    check(
        param,
        v,
        128,
        "a pod UID (letters, digits, '-', '_', '.', ':'; at most 128)",
        |s| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        },
    )
}

fn cluster(param: &str, v: String) -> Result<String> {
    check(
        param,
        v,
        128,
        "a cluster name (letters, digits, '-', '_', '.'; at most 128)",
        |s| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        },
    )
}

fn code(param: &str, v: String) -> Result<String> {
    check(
        param,
        v,
        256,
        "a diagnosis code (letters, digits, '-', '_', '.', '/', ':')",
        |s| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':'))
        },
    )
}

/// An RFC 1123 label (a namespace).
pub fn dns_label(param: &str, v: String) -> Result<String> {
    check(
        param,
        v,
        63,
        "a namespace (RFC 1123 label: a-z, 0-9, '-'; at most 63)",
        is_dns_part,
    )
}

/// An RFC 1123 subdomain (a pod or node name).
pub fn dns_subdomain(param: &str, v: String) -> Result<String> {
    check(
        param,
        v,
        253,
        "a Kubernetes name (RFC 1123 subdomain: a-z, 0-9, '-', '.'; at most 253)",
        |s| s.split('.').all(is_dns_part),
    )
}

fn is_dns_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(q: &str) -> Result<DebugPodQuery> {
        DebugPodQuery::parse(Some(q))
    }

    fn param_of(e: Error) -> String {
        match e {
            Error::BadParameter { parameter, .. } => parameter,
            other => panic!("expected a bad parameter, got {other}"),
        }
    }

    #[test]
    fn selectors() {
        assert_eq!(
            pod("uid=abc-1").unwrap().selector,
            PodSelector::Uid("abc-1".into())
        );
        assert_eq!(
            pod("namespace=ns-1&name=web-0.x").unwrap().selector,
            PodSelector::Name {
                namespace: "ns-1".into(),
                name: "web-0.x".into()
            }
        );
        assert_eq!(
            pod("podip=10.0.0.1").unwrap().selector,
            PodSelector::PodIp("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            pod("node=node-1").unwrap().selector,
            PodSelector::Node("node-1".into())
        );
        let q = pod("uid=a&cluster=sim-1&errors_only=true&limit=5").unwrap();
        assert_eq!(q.cluster.as_deref(), Some("sim-1"));
        assert!(q.errors_only);
        assert_eq!(q.limit, 5);
    }

    #[test]
    fn bad_pod_queries_name_the_parameter() {
        assert_eq!(param_of(pod("").unwrap_err()), "uid");
        assert_eq!(param_of(pod("uid=a&node=b").unwrap_err()), "node");
        assert_eq!(param_of(pod("namespace=a").unwrap_err()), "name");
        assert_eq!(param_of(pod("name=a").unwrap_err()), "namespace");
        assert_eq!(
            param_of(pod("namespace=A_B&name=x").unwrap_err()),
            "namespace"
        );
        assert_eq!(param_of(pod("namespace=a&name=-x").unwrap_err()), "name");
        assert_eq!(param_of(pod("podip=10.0.0.300").unwrap_err()), "podip");
        assert_eq!(param_of(pod("uid=a'b").unwrap_err()), "uid");
        assert_eq!(param_of(pod("uid=a&uid=b").unwrap_err()), "uid");
        assert_eq!(param_of(pod("uid=a&namspace=x").unwrap_err()), "namspace");
        assert_eq!(
            param_of(pod("uid=a&errors_only=yes").unwrap_err()),
            "errors_only"
        );
        assert_eq!(param_of(pod("uid=a&limit=0").unwrap_err()), "limit");
        assert_eq!(param_of(pod("uid=a&limit=1001").unwrap_err()), "limit");
        assert_eq!(param_of(pod("uid=a&cluster=a%20b").unwrap_err()), "cluster");
        assert_eq!(
            param_of(pod(&format!("uid={}", "a".repeat(129))).unwrap_err()),
            "uid"
        );
    }

    #[test]
    fn slo_query() {
        let now = 1_767_225_600_000_000;
        let q = DebugSloQuery::parse(None, now).unwrap();
        assert_eq!((q.from_us, q.to_us), (now - DEFAULT_SLO_RANGE_US, now));
        assert_eq!(q.action, Action::Create);
        let q = DebugSloQuery::parse(
            Some("cluster=sim-1&namespace=ns&result=fail&code=ImagePullBackOff&type=delete&from=now-1h30m&to=2026-01-01T00:00:00Z&limit=7"),
            now,
        )
        .unwrap();
        assert_eq!(q.result, Some(DeliveryResult::Fail));
        assert_eq!(q.action, Action::Delete);
        assert_eq!(q.from_us, now - 5_400_000_000);
        assert_eq!(q.to_us, now);
        assert_eq!(q.limit, 7);
        for (query, param) in [
            ("result=ok", "result"),
            ("type=update", "type"),
            ("from=yesterday", "from"),
            ("to=now-1x", "to"),
            ("from=now&to=now-1h", "from"),
            ("code=a%27b", "code"),
            ("uid=x", "uid"),
        ] {
            let e = DebugSloQuery::parse(Some(query), now).unwrap_err();
            assert_eq!(param_of(e), param, "{query}");
        }
    }
}
