//! What to do about each code: one or two sentences a person can act on.
//!
//! Kept apart from the code table so the wording can be reviewed as prose;
//! `docs/diagnosis-codes.md` quotes these texts verbatim (a test checks it).

use super::codes::{Code, EvictionCause, Stage};
use super::scheduling::SchedReason;

/// Advice for `code` (see [`Code::advice`]).
pub(crate) fn advice(code: &Code) -> &'static str {
    match code {
        Code::QuotaExceeded => "Raise the namespace ResourceQuota or lower the pod's requests/limits; set requests and limits when the quota requires them.",
        Code::WebhookDenied => "Check the named admission webhook: fix the pod to satisfy its policy, or restore the webhook service if it could not be called (its failurePolicy decides whether outages block pods).",
        Code::ApiRejected => "Fix the pod spec or the policy that refused it (PodSecurity level, LimitRange, validation error) as the message says.",
        Code::ApiServerError => "The API server or etcd failed or was overloaded; check control-plane health and API priority and fairness, then retry the create.",
        Code::Preemption => "A higher-priority pod took the node; add capacity or review PriorityClasses if this workload must not be preempted.",
        Code::Evicted(cause) => match cause {
            EvictionCause::DiskPressure => "Free disk on the node (image garbage collection, logs, emptyDir use) or give it a larger disk; set ephemeral-storage requests so pods are placed accordingly.",
            EvictionCause::MemoryPressure => "The node ran out of memory: set memory requests close to real use so the scheduler does not overcommit the node, or add memory.",
            EvictionCause::PidPressure => "A process leak exhausted PIDs on the node: find the pod forking processes, and set pod PID limits.",
            EvictionCause::EphemeralStorage => "Set or raise ephemeral-storage requests/limits and emptyDir sizeLimit, or write less to the container filesystem and logs.",
            EvictionCause::Other => "The node or a taint removed the pod; check the node's condition and taints, and let the controller recreate the pod elsewhere.",
        },
        Code::FailedScheduling(reason) => scheduling_advice(*reason),
        Code::FileSystemReadOnly => "A kubelet file system on the node became read-only (disk or kernel error): drain the node and repair or replace its disk.",
        Code::UnexpectedAdmissionError => "The kubelet failed while admitting the pod, usually a device plugin (GPU) allocation: check the device plugin and device health on the node.",
        Code::AdmissionRejected => "The kubelet refused the pod on its node (resources, affinity or OS mismatch); the scheduler's view was stale. Recreate the pod; if it repeats, check the node's allocatable and static pods.",
        Code::NoDiskSpace => "The node's disk is full: clean images and logs (raise image GC thresholds), enlarge the disk, or move the pod away from that node.",
        Code::InvalidMountConfig => "Create the missing Secret/ConfigMap/PVC or key, or fix the volume definition (hostPath type) in the pod spec.",
        Code::FailedAttachVolume => "Check the storage system and CSI controller; for Multi-Attach, make sure the volume is released by the old node (pod gone, VolumeAttachment deleted) or use a ReadWriteMany volume.",
        Code::FailedMount => "Check the storage backend from the node (NFS server, CSI node plugin logs, network to storage) and the kubelet logs for the mount command's output.",
        Code::AllocateIPTimeout => "The IPAM/CNI daemon is slow or unreachable: check the CNI agent on the node and the IPAM backend (cloud API limits, datastore).",
        Code::FailedAllocateIP => "The pod network is out of usable addresses or has a conflicting one: enlarge the pod CIDR/subnet or IP pool, and clean leaked IP allocations.",
        Code::FailedSetNetwork => "The CNI plugin failed on the node: check that its agent runs, its config and binaries exist in /etc/cni/net.d and /opt/cni/bin, and its credentials are valid.",
        Code::CreatePodSandboxTimeout => "The container runtime is slow or stuck: check containerd/CRI-O health and node load (disk I/O, CPU), and the runtime's logs.",
        Code::FailedCreatePodSandBox => "The runtime could not create the pod sandbox: check the runtime logs, the sandbox (pause) image availability and the RuntimeClass handler.",
        Code::InvalidImageName => "Fix the image reference in the pod spec (lowercase repository, one tag, valid digest).",
        Code::ErrImageNeverPull => "Load the image onto the node, or change imagePullPolicy from Never.",
        Code::ImageNotFound => "Check the image name and tag: push the missing tag or fix the reference (and the platform for multi-arch images).",
        Code::ImagePullAccessDenied => "Give the pod working pull credentials (imagePullSecrets or node credentials) with access to the repository, or make it public; check image signature policy if one applies.",
        Code::ImagePullRateLimited => "Authenticate pulls, use a registry mirror or pull-through cache, or spread pulls over time.",
        Code::FailedPullImage => "Check that the node can reach the registry (DNS, proxy, firewall, TLS trust) and that the registry is up.",
        Code::ImagePullBackOff => "Earlier pulls failed; look at the first pull error for the cause, fix it, and the kubelet will retry.",
        Code::CreateContainerConfigError => "Create the Secret/ConfigMap (or key) the container's env or volume mounts reference, or fix the securityContext (runAsNonRoot with a non-root user).",
        Code::CreateContainerError => "The runtime could not create the container: check runtime health and load; for name conflicts or timeouts, restarting the runtime or draining the node helps.",
        Code::RunContainerError => "The container's process could not start: check the command/entrypoint exists in the image and is executable for the image's architecture and user.",
        Code::OOMKilled => "Raise the container's memory limit or reduce its memory use; check for memory spikes at start-up.",
        Code::FailedPostStartHook => "Fix the postStart hook (command or HTTP target); the container is killed when it fails.",
        Code::StartupProbeFailed => "The app did not pass its startup probe in time: check the app's start-up logs, or raise failureThreshold x periodSeconds.",
        Code::ContainerLivenessFailed => "The liveness probe fails, so the kubelet restarts the container: check the app's health endpoint and the probe's timeouts.",
        Code::InitContainerError => "An init container failed: read its logs (kubectl logs POD -c INIT) and fix its command or its dependencies.",
        Code::InitCrashLoopBackOff => "An init container keeps failing: read its logs (kubectl logs POD -c INIT --previous) and fix the dependency it waits for.",
        Code::CrashLoopBackOff => "The container keeps exiting: read its logs (kubectl logs --previous) and its exit code, and fix the app or its configuration.",
        Code::RuntimeOperationFailed => "The kubelet or container runtime failed an internal operation: check the kubelet and runtime logs on the node.",
        Code::ContainerReadinessFailed => "The readiness probe fails: check the app's readiness endpoint, its dependencies, and the probe's path, port and timeouts.",
        Code::GateNotReady(_) => "The readiness gate's controller (e.g. a load balancer controller) has not set its condition: check that controller and the target registration.",
        Code::ContainerNotReady => "A container runs but is not ready and no probe failure was seen: check its readiness probe configuration and the app's start-up.",
        Code::NoEvent => "Nothing reacted to the pod: check that the scheduler and the controllers are running and that events are being collected.",
        Code::ScheduleDelay => "The scheduler was slow to place the pod: check scheduler load and latency, and scheduling gates or queueing.",
        Code::KubeletDelay => "The kubelet was slow to pick up the pod: check kubelet health and load on the node (pod count, PLEG, API throttling).",
        Code::PullImageTooMuchTime => "The image pull was slow: shrink the image, pre-pull it, use a closer registry mirror, or check node and registry bandwidth.",
        Code::TooMuchTime(stage) => stage_advice(*stage),
        Code::TimeoutUnknown => "No rule explains the delay: look at the named longest gap in the pod's timeline.",
        Code::FinalizerNotRemoved => "The controller owning the named finalizer did not remove it: check that controller, or remove the finalizer once its cleanup is done.",
        Code::DeleteTimeout => "The pod did not terminate: check the kubelet on its node (node down?), preStop hooks and grace periods.",
        Code::BeforeFinish => "The pod was deleted before it became ready, usually by its controller (rollout, scale-down) or a user; no platform failure is implied.",
    }
}

fn scheduling_advice(reason: SchedReason) -> &'static str {
    match reason {
        SchedReason::InsufficientCpu
        | SchedReason::InsufficientMemory
        | SchedReason::InsufficientGpu
        | SchedReason::InsufficientEphemeralStorage
        | SchedReason::InsufficientOther => "No node has enough free allocatable for the pod's requests: add nodes (or let the autoscaler), lower the requests, or free capacity.",
        SchedReason::Taint => "Nodes carry taints the pod does not tolerate: add a toleration if the pod belongs there, or untaint/add suitable nodes.",
        SchedReason::NodeAffinity => "No node matches the pod's nodeSelector/affinity: fix the labels on nodes or the selector in the pod.",
        SchedReason::PodAffinity => "Pod affinity/anti-affinity rules exclude every node: relax the rules (preferred instead of required) or add nodes/zones.",
        SchedReason::TopologySpread => "Topology spread constraints cannot be met: relax maxSkew/whenUnsatisfiable or add nodes in the missing topology domains.",
        SchedReason::UnboundPvc => "The pod's PersistentVolumeClaim is not bound: check the StorageClass provisioner, the PVC events, or create a matching PV.",
        SchedReason::VolumeBinding => "The pod's volumes cannot be used from any node (zone or node affinity of the PV): schedule in the volume's zone or use a WaitForFirstConsumer StorageClass.",
        SchedReason::TooManyPods => "Nodes reached their maximum pod count (max-pods or IP limits): add nodes or raise max-pods.",
        SchedReason::NodePorts => "The requested hostPort is taken on every candidate node: drop the hostPort or add nodes.",
        SchedReason::Unschedulable => "Candidate nodes are cordoned: uncordon them or add nodes.",
        SchedReason::Other => "The scheduler could not place the pod: read the scheduler's message for the filter that failed.",
    }
}

fn stage_advice(stage: Stage) -> &'static str {
    match stage {
        Stage::DefaultSchedule => "Scheduling took longest: check scheduler latency and queueing, and whether the pod waited for capacity.",
        Stage::KubeletDelay => "The kubelet took longest to start on the pod: check kubelet load and health on the node.",
        Stage::IpAllocate => "IP allocation took longest: check the CNI/IPAM backend latency (cloud ENI/IP APIs, datastore).",
        Stage::VolumeMount => "Volume mounting took longest: check the storage backend and CSI node plugin latency; large volumes with fsGroup changes are slow.",
        Stage::VolumeAttach => "Volume attach took longest: check the CSI controller and the cloud attach API latency.",
        Stage::SandboxCreate => "Sandbox creation took longest: check container runtime health and node load.",
        Stage::ImagePull => "Image pulls took longest: shrink or pre-pull images, or use a closer registry mirror.",
        Stage::ContainerCreate => "Container creation took longest: check runtime load and the snapshotter/disk I/O on the node.",
        Stage::ContainerStart => "Container start took longest: check runtime load and the node's disk and CPU.",
        Stage::PostStartHook => "The post-start hook took longest: make it faster or move the work into the app.",
        Stage::PodInitial => "Init containers took longest: make them faster or check what they wait for.",
        Stage::ContainerReady => "Containers took longest to become ready: check the app's start-up time and the readiness probe's initial delay and period.",
        Stage::PodReady => "Readiness gates took longest: check the controller that sets the gate conditions.",
    }
}
