//! Compact pod facts from a pod body.
//!
//! The engine needs a handful of spec facts (scheduler, restart policy, the
//! pod's size class, what it mounts, who owns it) but must not carry whole pod
//! specs through Kafka. Facts are filled whenever a record carries a full pod
//! (create request/response, update, a patch's response, a watch snapshot).
//! Label values pass through [`crate::redact`] on the way.

use lunettes_schemas::time::parse_rfc3339;
use lunettes_schemas::{ContainerFacts, PodFacts};

use crate::k8s::{non_empty, Container, PodObject, Qty};
use crate::quantity;
use crate::redact;

/// Facts from a pod body. Spec fields the apiserver defaults (scheduler name)
/// are filled with the default when the body omits them.
pub(crate) fn facts(pod: &PodObject<'_>) -> PodFacts {
    let mut f = PodFacts::default();
    if let Some(meta) = &pod.metadata {
        f.creation_us = meta
            .creation_timestamp
            .as_deref()
            .and_then(parse_rfc3339)
            .map(|t| t.0);
        f.deletion_us = meta
            .deletion_timestamp
            .as_deref()
            .and_then(parse_rfc3339)
            .map(|t| t.0);
        f.deletion_grace_s = meta.deletion_grace_period_seconds.map(|g| g.0);
        if let Some(owner) = meta.owner_references.as_ref().and_then(|o| {
            o.iter()
                .find(|r| r.controller == Some(true))
                .or_else(|| o.first())
        }) {
            f.owner_kind = owner.kind.as_deref().unwrap_or("").to_string();
            f.owner_name = owner.name.as_deref().unwrap_or("").to_string();
        }
        f.finalizers = meta
            .finalizers
            .iter()
            .flatten()
            .map(|s| s.to_string())
            .collect();
        for (k, v) in meta.labels.iter().flatten() {
            if let Some(v) = v {
                f.labels
                    .insert(k.to_string(), redact::label_value(k, v).to_string());
            }
        }
    }
    if let Some(spec) = &pod.spec {
        f.scheduler_name = non_empty(&spec.scheduler_name)
            .unwrap_or("default-scheduler")
            .to_string();
        f.restart_policy = non_empty(&spec.restart_policy)
            .unwrap_or("Always")
            .to_string();
        f.node_name = spec.node_name.as_deref().unwrap_or("").to_string();
        f.host_network = spec.host_network.unwrap_or(false);
        f.containers = spec.containers.iter().flatten().map(container).collect();
        f.init_containers = spec
            .init_containers
            .iter()
            .flatten()
            .map(container)
            .collect();
        f.volume_kinds = spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| v.kind.as_deref().map(str::to_string))
            .collect();
        f.readiness_gates = spec
            .readiness_gates
            .iter()
            .flatten()
            .filter_map(|g| non_empty(&g.condition_type).map(str::to_string))
            .collect();
    }
    if let Some(status) = pod.pod_status() {
        f.pod_ip = status.pod_ip.as_deref().unwrap_or("").to_string();
        f.phase = status.phase.as_deref().unwrap_or("").to_string();
    }
    f
}

/// A binding carries no pod body, but it names the node: partial facts.
pub(crate) fn node_only(node: &str) -> PodFacts {
    PodFacts {
        node_name: node.to_string(),
        ..Default::default()
    }
}

fn container(c: &Container<'_>) -> ContainerFacts {
    let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
    let qty = |q: Option<&Qty<'_>>, parse: fn(&str) -> Option<i64>, scale: f64| match q {
        Some(Qty::Text(s)) => parse(s).unwrap_or(0),
        Some(Qty::Number(n)) => {
            let v = (n * scale).ceil();
            if v.is_finite() {
                v.clamp(0.0, i64::MAX as f64) as i64
            } else {
                0
            }
        }
        None => 0,
    };
    ContainerFacts {
        name: c.name.as_deref().unwrap_or("").to_string(),
        image: c.image.as_deref().unwrap_or("").to_string(),
        cpu_millis: qty(
            requests.and_then(|r| r.cpu.as_ref()),
            quantity::cpu_millis,
            1000.0,
        ),
        memory_bytes: qty(
            requests.and_then(|r| r.memory.as_ref()),
            quantity::bytes,
            1.0,
        ),
        has_readiness_probe: c.readiness_probe.is_some(),
        has_post_start: c.lifecycle.as_ref().is_some_and(|l| l.post_start.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_from_a_pod() {
        let pod: PodObject = serde_json::from_str(
            r#"{"kind":"Pod","metadata":{"name":"p","creationTimestamp":"2024-01-01T00:00:00Z",
            "labels":{"app":"web","api-token":"abc"},"finalizers":["x/y"],
            "ownerReferences":[{"kind":"ReplicaSet","name":"rs","controller":true}]},
            "spec":{"containers":[{"name":"c","image":"nginx","env":[{"name":"P","value":"hunter2"}],
            "resources":{"requests":{"cpu":"250m","memory":"128Mi"}},"readinessProbe":{"exec":{}},
            "lifecycle":{"postStart":{"exec":{}}}}],
            "initContainers":[{"name":"i","image":"busybox","resources":{"requests":{"cpu":1}}}],
            "volumes":[{"name":"v","persistentVolumeClaim":{"claimName":"c"}}],
            "readinessGates":[{"conditionType":"g"}],"hostNetwork":true,"nodeName":"n1"},
            "status":{"phase":"Pending","podIP":"10.0.0.1"}}"#,
        )
        .unwrap();
        let f = facts(&pod);
        assert_eq!(f.scheduler_name, "default-scheduler");
        assert_eq!(f.restart_policy, "Always");
        assert_eq!(f.node_name, "n1");
        assert_eq!(f.pod_ip, "10.0.0.1");
        assert_eq!(f.phase, "Pending");
        assert_eq!(f.creation_us, Some(1_704_067_200_000_000));
        assert_eq!(f.containers[0].cpu_millis, 250);
        assert_eq!(f.containers[0].memory_bytes, 128 << 20);
        assert!(f.containers[0].has_readiness_probe);
        assert!(f.containers[0].has_post_start);
        assert_eq!(f.init_containers[0].cpu_millis, 1000);
        assert_eq!(f.volume_kinds, ["persistentVolumeClaim"]);
        assert_eq!(f.owner_kind, "ReplicaSet");
        assert_eq!(f.readiness_gates, ["g"]);
        assert!(f.host_network);
        assert_eq!(f.finalizers, ["x/y"]);
        assert_eq!(f.labels["app"], "web");
        assert_eq!(f.labels["api-token"], redact::REDACTED);
    }
}
