//! Pod sandbox and pod network failures (FailedCreatePodSandBox and friends).
//!
//! The kubelet wraps every runtime error in "Failed to create pod sandbox:"
//! ("Failed create pod sandbox:" before 1.10); the runtime adds its own chain:
//! dockershim "failed to set up sandbox container ... network for pod ...:
//! NetworkPlugin cni failed to set up pod ... network: PLUGIN-ERROR",
//! containerd "failed to setup network for sandbox \"id\": plugin
//! type=\"calico\" failed (add): PLUGIN-ERROR", CRI-O "error adding pod
//! ... to CNI network \"x\": PLUGIN-ERROR". The rules key on those stable
//! *structures* (the network-setup phrase, `plugin type=`, `cni`), then on the
//! plugin's own words for IP address management (IPAM) problems, which are
//! the root cause Lunettes reports first: an exhausted or conflicting address
//! makes the sandbox fail, not the other way round.
//!
//! Order: disk full (the node) > sandbox (pause) image pull > network: IP
//! timeout > IP failure > other network > sandbox timeout > other sandbox.

use super::codes::Code;
use super::finding::Finding;
use super::text::{short_cause, Msg};

/// Phrases showing the failure happened while wiring the pod network.
const NETWORK_SETUP: [&str; 12] = [
    "setup network for sandbox",
    "set up sandbox container",
    "network for pod",
    "networkplugin",
    "network plugin",
    "plugin type=",
    "cni network",
    "cni plugin",
    "cni config",
    "cni failed",
    "set up pod network",
    "setting up pod network",
];

/// Phrases of IP address management failures, across CNIs (host-local,
/// calico-ipam, aws-vpc-cni, azure, cilium, whereabouts...).
const IP_ALLOCATION: [&str; 15] = [
    "allocate ip",
    "allocating ip",
    "ip allocation",
    "assign an ip",
    "assign ip",
    "ipam",
    "no ip addresses available",
    "failed to allocate for range",
    "no available ip",
    "ip address",
    "insufficientfreeaddresses",
    "ip pool",
    "address pool",
    "range is full",
    "addresses available",
];

const TIMEOUT: [&str; 5] = [
    "deadline exceeded",
    "deadlineexceeded",
    "timeout",
    "timed out",
    "time out",
];

/// Classifies a sandbox-creation failure message.
pub(crate) fn classify_sandbox(m: &Msg<'_>) -> Finding {
    let cause = short_cause(strip_lead(m));
    if m.has("no space left on device") {
        return Finding::of(
            Code::NoDiskSpace,
            Some("Sandbox"),
            None,
            format!("the node ran out of disk space while creating the pod sandbox: {cause}"),
        );
    }
    if m.has("sandbox image") || (m.has("pull") && m.has("/pause:")) {
        let image = m
            .quoted_after("sandbox image ")
            .or_else(|| m.quoted_after("pull image "));
        let named = image
            .map(|i| format!("\"{i}\""))
            .unwrap_or_else(|| "(pause)".into());
        return Finding::of(
            Code::FailedCreatePodSandBox,
            Some("SandboxImage"),
            image,
            format!("the runtime could not get the sandbox image {named}: {cause}"),
        );
    }
    if m.any(&NETWORK_SETUP) {
        return classify_network(m, cause);
    }
    if m.any(&TIMEOUT) {
        return Finding::of(
            Code::CreatePodSandboxTimeout,
            Some("Timeout"),
            None,
            format!("creating the pod sandbox timed out: {cause}"),
        );
    }
    let sub = if m.any(&["no runtime for", "runtime handler", "runtimehandler"]) {
        "RuntimeHandler"
    } else if m.any(&["name is reserved", "failed to reserve sandbox name"]) {
        "NameReserved"
    } else if m.any(&["cgroup", "oci runtime", "runc"]) {
        "Runtime"
    } else {
        "Other"
    };
    Finding::of(
        Code::FailedCreatePodSandBox,
        Some(sub),
        None,
        format!("the container runtime could not create the pod sandbox: {cause}"),
    )
}

/// A network-setup failure: IP problems first, then plugin problems.
pub(crate) fn classify_network(m: &Msg<'_>, cause: String) -> Finding {
    let plugin = m
        .quoted_after("plugin type=")
        .or_else(|| m.quoted_after("cni network "));
    let by = plugin
        .map(|p| format!("the CNI plugin \"{p}\""))
        .unwrap_or_else(|| "the CNI plugin".into());
    let ip_related = m.any(&IP_ALLOCATION);
    if (ip_related && m.any(&TIMEOUT)) || m.has("timeout to allocate ip") {
        return Finding::of(
            Code::AllocateIPTimeout,
            Some("IPAllocationTimeout"),
            plugin,
            format!("{by} timed out allocating an IP for the pod: {cause}"),
        );
    }
    let conflict = m.has("route") && m.has("already exists") || m.has("address already in use");
    if ip_related || conflict {
        let sub = if conflict {
            "IPConflict"
        } else {
            "IPAllocation"
        };
        let verb = if conflict {
            "gave the pod an IP that is already routed elsewhere"
        } else {
            "could not allocate an IP for the pod"
        };
        return Finding::of(
            Code::FailedAllocateIP,
            Some(sub),
            plugin,
            format!("{by} {verb}: {cause}"),
        );
    }
    let sub = if m.any(&["unauthorized", "forbidden", "permission denied"]) {
        "Unauthorized"
    } else if m.any(&[
        "failed to find plugin",
        "plugin not found",
        "executable file not found",
    ]) {
        "PluginMissing"
    } else if m.any(&[
        "not initialized",
        "uninitialized",
        "no networks found",
        "not ready",
        "no such file or directory",
        "is not running",
    ]) {
        "PluginNotReady"
    } else if m.any(&TIMEOUT) {
        "Timeout"
    } else {
        "Other"
    };
    Finding::of(
        Code::FailedSetNetwork,
        Some(sub),
        plugin,
        format!("{by} could not set up the pod network: {cause}"),
    )
}

/// SandboxChanged: the kubelet killed and re-created the sandbox.
pub(crate) fn sandbox_changed() -> Finding {
    Finding::of(
        Code::FailedCreatePodSandBox,
        Some("SandboxChanged"),
        None,
        "the pod sandbox was killed and re-created (the runtime or the network lost it)",
    )
}

/// Drops "Failed (to) create pod sandbox:" so the cause starts at the runtime's words.
fn strip_lead<'a>(m: &Msg<'a>) -> &'a str {
    for lead in ["create pod sandbox:", "createpodsandbox"] {
        if let Some(pos) = m.find(lead) {
            let rest = m.raw[pos + lead.len()..].trim_start_matches([':', ' ', '"', '\\']);
            if !rest.is_empty() {
                return rest;
            }
        }
    }
    m.raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(msg: &str) -> Finding {
        classify_sandbox(&Msg::new(msg))
    }

    #[test]
    fn ip_allocation_across_cnis_and_eras() {
        // host-local IPAM via containerd, 1.28+ wording
        let f = classify("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"ab12\": plugin type=\"bridge\" failed (add): failed to allocate for range 0: no IP addresses available in range set: 10.244.1.1-10.244.1.254");
        assert_eq!(
            (f.code, f.subject.as_deref()),
            (Code::FailedAllocateIP, Some("bridge"))
        );
        // dockershim era, "Failed create pod sandbox"
        let f = classify("Failed create pod sandbox: rpc error: code = Unknown desc = NetworkPlugin cni failed to set up pod \"web_default\" network: failed to allocate IP: ipam pool exhausted");
        assert_eq!(f.code, Code::FailedAllocateIP);
        // aws-vpc-cni style timeout on the IPAM daemon
        let f = classify("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"cd34\": plugin type=\"aws-cni\" name=\"aws-cni\" failed (add): add cmd: Error received from AddNetwork gRPC call: rpc error: code = DeadlineExceeded desc = context deadline exceeded while waiting for ipamd to assign IP");
        assert_eq!(f.code, Code::AllocateIPTimeout);
        // route conflict = leaked/duplicated IP
        let f = classify("Failed to create pod sandbox: failed to setup network for sandbox \"ef\": plugin type=\"calico\" failed (add): error adding host side routes for interface: cali1, error: route (Ifindex: 9, Dst: 10.1.2.3/32, Scope: link) already exists for an interface other than 'cali1'");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::FailedAllocateIP, Some("IPConflict"))
        );
    }

    #[test]
    fn plugin_not_running_is_not_an_ip_problem() {
        let f = classify("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"01\": plugin type=\"weave-net\" failed (add): the weave router is not running");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::FailedSetNetwork, Some("PluginNotReady"))
        );
        let f = classify("Failed create pod sandbox: rpc error: code = Unknown desc = NetworkPlugin cni failed to set up pod \"db-0_prod\" network: open /run/flannel/subnet.env: no such file or directory");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::FailedSetNetwork, Some("PluginNotReady"))
        );
        assert!(
            f.what.starts_with(
                "the CNI plugin could not set up the pod network: NetworkPlugin cni failed"
            ),
            "{}",
            f.what
        );
    }

    #[test]
    fn plugin_problems() {
        let f = classify("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"01\": plugin type=\"cilium-cni\" failed (add): unable to connect to Cilium daemon: failed to create cilium agent client after 30.000000 seconds timeout");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::FailedSetNetwork, Some("Timeout"))
        );
        let f = classify("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create pod network sandbox k8s_web_default_01(02): error adding pod default_web to CNI network \"multus-cni-network\": plugin type=\"multus\" name=\"multus-cni-network\" failed (add): Unauthorized");
        assert_eq!(
            (f.code, f.sub_reason.as_deref(), f.subject.as_deref()),
            (Code::FailedSetNetwork, Some("Unauthorized"), Some("multus"))
        );
        let f = classify("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"01\": cni plugin not initialized");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::FailedSetNetwork, Some("PluginNotReady"))
        );
    }

    #[test]
    fn sandbox_level_failures() {
        assert_eq!(classify("Failed to create pod sandbox: rpc error: code = DeadlineExceeded desc = context deadline exceeded").code, Code::CreatePodSandboxTimeout);
        assert_eq!(classify("Failed create pod sandbox: rpc error: code = Unknown desc = failed to start sandbox container for pod \"web\": operation timeout: context deadline exceeded").code, Code::CreatePodSandboxTimeout);
        let f = classify("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for \"kata\" is configured");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::FailedCreatePodSandBox, Some("RuntimeHandler"))
        );
        let f = classify("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox image \"registry.k8s.io/pause:3.9\": failed to pull image \"registry.k8s.io/pause:3.9\": i/o timeout");
        assert_eq!(
            (f.code, f.subject.as_deref()),
            (
                Code::FailedCreatePodSandBox,
                Some("registry.k8s.io/pause:3.9")
            )
        );
        assert_eq!(classify("Failed to create pod sandbox: mkdir /run/containerd/io.containerd.runtime.v2.task/k8s.io/ab: no space left on device").code, Code::NoDiskSpace);
    }
}
