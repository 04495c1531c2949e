//! The texts kubelets, container runtimes, CNI plugins, schedulers and
//! apiservers print, composed from their parts.
//!
//! Texts are composed, not copied: the structure follows what containerd,
//! CRI-O and the kubelet print (see `shared/data/event-messages/`), the
//! names, ids and numbers are the simulated pod's. Each fault has more than
//! one phrasing so a diagnosis rule that matches one line by heart fails.

use crate::cluster::{ClusterProfile, Runtime};
use crate::config::Fault;
use crate::rng::SimRng;

/// Formats a duration the way Go's `time.Duration` prints it, truncated to
/// milliseconds (`812ms`, `3.2s`, `1m35.123s`).
pub(crate) fn go_duration_ms(us: i64) -> String {
    let ms = us / 1000;
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = |ms: i64| {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        format!("{s}s")
    };
    if ms < 60_000 {
        secs(ms)
    } else {
        format!("{}m{}", ms / 60_000, secs(ms % 60_000))
    }
}

/// Go's full-precision duration (`5.870196872s`), as older kubelets print.
fn go_duration_ns(us: i64, extra_ns: i64) -> String {
    let ns = us * 1000 + extra_ns;
    if ns < 1_000_000_000 {
        let ms = ns as f64 / 1e6;
        return format!("{}ms", trim_float(ms));
    }
    let m = ns / 60_000_000_000;
    let rest = ns % 60_000_000_000;
    let s = format!("{}.{:09}", rest / 1_000_000_000, rest % 1_000_000_000);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `Successfully pulled image ...` in the cluster's kubelet version style.
pub(crate) fn pulled(
    cl: &ClusterProfile,
    rng: &mut SimRng,
    image: &str,
    pull_us: i64,
    waiting_us: i64,
) -> String {
    if cl.pulled_with_size {
        let size = rng.range(2_000_000, 900_000_000);
        format!(
            "Successfully pulled image \"{image}\" in {} ({} including waiting). Image size: {size} bytes.",
            go_duration_ms(pull_us),
            go_duration_ms(waiting_us)
        )
    } else if cl.strips_rpc_prefix {
        format!(
            "Successfully pulled image \"{image}\" in {} ({} including waiting)",
            go_duration_ms(pull_us),
            go_duration_ms(waiting_us)
        )
    } else {
        let ns = rng.range(0, 999);
        format!(
            "Successfully pulled image \"{image}\" in {} ({} including waiting)",
            go_duration_ns(pull_us, ns),
            go_duration_ns(waiting_us, ns + rng.range(0, 999))
        )
    }
}

/// `Container image ... already present on machine`.
pub(crate) fn already_present(image: &str) -> String {
    format!("Container image \"{image}\" already present on machine")
}

/// The fully qualified reference containerd prints for `image`.
pub(crate) fn qualified(image: &str) -> String {
    let first = image.split('/').next().unwrap_or("");
    let has_registry = image.contains('/') && (first.contains('.') || first.contains(':'));
    let mut q = if has_registry {
        image.to_string()
    } else if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    };
    if !q.rsplit('/').next().unwrap_or("").contains(':') {
        q.push_str(":latest");
    }
    q
}

fn repo_and_tag(image: &str) -> (String, String) {
    let q = qualified(image);
    match q.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
        _ => (q.clone(), "latest".to_string()),
    }
}

fn rpc_unknown(cl: &ClusterProfile, desc: String) -> String {
    if cl.strips_rpc_prefix {
        desc
    } else {
        format!("rpc error: code = Unknown desc = {desc}")
    }
}

/// Pull error text (after `Failed to pull image "x": `) for a missing image.
pub(crate) fn pull_not_found(cl: &ClusterProfile, rng: &mut SimRng, image: &str) -> String {
    let q = qualified(image);
    let (repo, tag) = repo_and_tag(image);
    match cl.runtime {
        Runtime::Containerd if rng.chance(0.5) => format!(
            "rpc error: code = NotFound desc = failed to pull and unpack image \"{q}\": failed to resolve reference \"{q}\": {q}: not found"
        ),
        Runtime::Containerd => rpc_unknown(
            cl,
            format!("failed to pull and unpack image \"{q}\": failed to resolve reference \"{q}\": {q}: not found"),
        ),
        Runtime::CriO => rpc_unknown(
            cl,
            format!("initializing source docker://{q}: reading manifest {tag} in {repo}: manifest unknown: manifest {tag} not found"),
        ),
    }
}

/// Pull error text for a registry that refuses access.
pub(crate) fn pull_access_denied(cl: &ClusterProfile, rng: &mut SimRng, image: &str) -> String {
    let q = qualified(image);
    let (repo, _) = repo_and_tag(image);
    let registry = repo.split('/').next().unwrap_or("docker.io").to_string();
    let path = repo
        .split_once('/')
        .map_or(repo.as_str(), |x| x.1)
        .to_string();
    match cl.runtime {
        Runtime::Containerd if rng.chance(0.5) => rpc_unknown(
            cl,
            format!("failed to pull and unpack image \"{q}\": failed to resolve reference \"{q}\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"),
        ),
        Runtime::Containerd => rpc_unknown(
            cl,
            format!("failed to pull and unpack image \"{q}\": failed to resolve reference \"{q}\": failed to authorize: failed to fetch oauth token: unexpected status from GET request to https://{registry}/token?scope=repository%3A{}%3Apull&service={registry}: 401 Unauthorized", path.replace('/', "%2F")),
        ),
        Runtime::CriO => rpc_unknown(
            cl,
            format!("initializing source docker://{q}: pinging container registry {registry}: received unexpected HTTP status: 401 Unauthorized"),
        ),
    }
}

/// The message of an `ErrImagePull` waiting state after a pull timed out.
pub(crate) fn pull_timeout(cl: &ClusterProfile, rng: &mut SimRng) -> String {
    if rng.chance(0.5) {
        "rpc error: code = DeadlineExceeded desc = context deadline exceeded".to_string()
    } else {
        rpc_unknown(
            cl,
            "failed to copy: httpReadSeeker: failed open: failed to do request: context deadline exceeded".to_string(),
        )
    }
}

/// `FailedCreatePodSandBox` text for a CNI that cannot allocate an IP in time.
pub(crate) fn sandbox_ip_timeout(
    cl: &ClusterProfile,
    rng: &mut SimRng,
    ns: &str,
    pod: &str,
    uid: &str,
) -> String {
    let id = rng.hex(64);
    match cl.runtime {
        Runtime::Containerd => format!(
            "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"{id}\": plugin type=\"{}\" failed (add): timeout to allocate ip for pod {ns}/{pod}: context deadline exceeded",
            cl.cni
        ),
        Runtime::CriO => format!(
            "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create pod network sandbox k8s_{pod}_{ns}_{uid}_0({id}): error adding pod {ns}_{pod} to CNI network \"k8s-pod-network\": plugin type=\"{}\" failed (add): ipam: timeout to allocate ip after 30s",
            cl.cni
        ),
    }
}

/// `FailedCreatePodSandBox` text for a CNI that fails to set up the network.
pub(crate) fn sandbox_network(
    cl: &ClusterProfile,
    rng: &mut SimRng,
    ns: &str,
    pod: &str,
    uid: &str,
) -> String {
    let id = rng.hex(64);
    let cause = match cl.cni {
        "calico" => "error getting ClusterInformation: connection is unauthorized: Unauthorized".to_string(),
        "cilium-cni" => "unable to connect to Cilium daemon: failed to create cilium agent client after 30.000000 seconds timeout: Get \"http:///var/run/cilium/cilium.sock/v1/config\": dial unix /var/run/cilium/cilium.sock: connect: no such file or directory".to_string(),
        _ => "failed to get eni for pod: context deadline exceeded".to_string(),
    };
    match (cl.runtime, rng.index(3)) {
        (_, 0) => format!(
            "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to set up sandbox container \"{id}\" network for pod \"{pod}\": networkPlugin cni failed to set up pod \"{pod}_{ns}\" network: {cause}"
        ),
        (Runtime::Containerd, _) => format!(
            "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"{id}\": plugin type=\"{}\" failed (add): {cause}",
            cl.cni
        ),
        (Runtime::CriO, _) => format!(
            "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create pod network sandbox k8s_{pod}_{ns}_{uid}_0({id}): error adding pod {ns}_{pod} to CNI network \"k8s-pod-network\": plugin type=\"{}\" failed (add): {cause}",
            cl.cni
        ),
    }
}

/// The FailedScheduling note for a scheduling fault on a cluster of `n` nodes.
pub(crate) fn failed_scheduling(fault: Fault, n: usize, taint: &str) -> String {
    let not_helpful = format!(
        "preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
    );
    match fault {
        Fault::SchedInsufficientCpu => format!(
            "0/{n} nodes are available: {n} Insufficient cpu. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod."
        ),
        Fault::SchedInsufficientMemory => format!(
            "0/{n} nodes are available: {n} Insufficient memory. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod."
        ),
        Fault::SchedTaint => format!("0/{n} nodes are available: {n} node(s) had untolerated taint {{{taint}}}. {not_helpful}"),
        Fault::SchedAffinity => format!("0/{n} nodes are available: {n} node(s) didn't match Pod's node affinity/selector. {not_helpful}"),
        _ => format!("0/{n} nodes are available: pod has unbound immediate PersistentVolumeClaims. {not_helpful}"),
    }
}

/// A readiness probe failure while the app is still starting.
pub(crate) fn probe_refused(ip: &str, port: u16, path: &str) -> String {
    format!("Readiness probe failed: Get \"http://{ip}:{port}{path}\": dial tcp {ip}:{port}: connect: connection refused")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_ms(812_400), "812ms");
        assert_eq!(go_duration_ms(3_200_000), "3.2s");
        assert_eq!(go_duration_ms(3_000_000), "3s");
        assert_eq!(go_duration_ms(95_123_000), "1m35.123s");
        assert_eq!(go_duration_ns(5_870_196, 872), "5.870196872s");
    }

    #[test]
    fn qualified_references() {
        assert_eq!(qualified("nginx:1.27.2"), "docker.io/library/nginx:1.27.2");
        assert_eq!(qualified("bitnami/redis"), "docker.io/bitnami/redis:latest");
        assert_eq!(qualified("ghcr.io/a/b:1"), "ghcr.io/a/b:1");
        assert_eq!(qualified("localhost:5000/foo"), "localhost:5000/foo:latest");
    }
}
