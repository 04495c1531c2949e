//! Per-cluster character: runtime, kubelet version, CNI, nodes, how the
//! kubelet writes status, and the workloads that run there.
//!
//! Clusters differ on purpose so consumers meet the variety real fleets
//! have: containerd and CRI-O error texts, kubelets that print pull sizes and
//! ones that do not, the `PodReadyToStartContainers` condition (1.29+), and
//! every third cluster sending pod status by PUT instead of PATCH.

use crate::audit::{Actor, KUBE_SYSTEM_SA_GROUPS, NODE_GROUPS, SCHEDULER_GROUPS};
use crate::rng::SimRng;
use crate::spec::{ContainerSpec, PodSpec, Probe, VolumeSource};

/// Container runtime of a cluster's nodes; decides error message styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runtime {
    Containerd,
    CriO,
}

/// A node.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub name: String,
    pub ip: String,
}

/// Whether a workload is a long-running service or a run-to-completion job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkloadKind {
    Service,
    Job,
}

/// A Deployment (via its ReplicaSet) or a Job family (a CronJob).
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    pub namespace: &'static str,
    pub name: &'static str,
    pub kind: WorkloadKind,
    /// `pod-template-hash` of the current ReplicaSet (services).
    pub template_hash: String,
    pub owner_uid: String,
    pub spec: PodSpec,
    /// A finalizer some controller adds to each pod after create.
    pub finalizer: Option<&'static str>,
}

/// Everything fixed about one simulated cluster.
#[derive(Debug, Clone)]
pub(crate) struct ClusterProfile {
    pub name: String,
    pub runtime: Runtime,
    /// Kubelet sends status by PUT (`update`) with the whole pod.
    pub status_by_update: bool,
    pub cni: &'static str,
    pub nodes: Vec<Node>,
    pub scheduler_instance: String,
    /// 1.29+: `PodReadyToStartContainers` condition.
    pub ready_to_start_condition: bool,
    /// 1.28+: kubelet strips `rpc error: code = Unknown desc = ` from pulls.
    pub strips_rpc_prefix: bool,
    /// 1.29+: "Image size: N bytes." in Pulled messages.
    pub pulled_with_size: bool,
    /// Second octet of pod IPs.
    pub pod_net: u8,
    pub workloads: Vec<Workload>,
    /// Request authors, built once: one kubelet per node, the controllers,
    /// the scheduler.
    pub kubelet_actors: Vec<Actor>,
    pub replicaset_controller: Actor,
    pub job_controller: Actor,
    pub scheduler: Actor,
}

const VERSIONS: [(&str, &str, u32); 4] = [
    ("v1.30.4", "a51b3b711150f57ffc1f526a640ec058514ed596", 30),
    ("v1.28.9", "587f5fe8a69b0d15b578eaf478f009247d1c5d47", 28),
    ("v1.31.2", "5864a4677267e6adeae276ad85882a8714d69d9d", 31),
    ("v1.27.13", "39a1b8e3dcbbbe4e6dfca55a7c5fb4f5ab0f4e1a", 27),
];

const CNIS: [&str; 3] = ["calico", "cilium-cni", "terway"];

struct AppDef {
    namespace: &'static str,
    name: &'static str,
    kind: WorkloadKind,
    images: &'static [&'static str],
}

const APPS: &[AppDef] = &[
    AppDef {
        namespace: "payments",
        name: "payments-api",
        kind: WorkloadKind::Service,
        images: &["registry.example.com/payments/api:v2.14.0"],
    },
    AppDef {
        namespace: "payments",
        name: "ledger",
        kind: WorkloadKind::Service,
        images: &["registry.example.com/payments/ledger:v1.9.3"],
    },
    AppDef {
        namespace: "payments",
        name: "fraud-scorer",
        kind: WorkloadKind::Service,
        images: &[
            "registry.example.com/payments/fraud-scorer:0.31.0",
            "python:3.12-slim",
        ],
    },
    AppDef {
        namespace: "web",
        name: "frontend",
        kind: WorkloadKind::Service,
        images: &["registry.example.com/web/frontend:v5.2.0", "nginx:1.27.2"],
    },
    AppDef {
        namespace: "web",
        name: "checkout",
        kind: WorkloadKind::Service,
        images: &["registry.example.com/web/checkout:v3.0.7"],
    },
    AppDef {
        namespace: "web",
        name: "cart",
        kind: WorkloadKind::Service,
        images: &[
            "docker.io/library/redis:7.4.1",
            "registry.example.com/web/cart:v1.12.2",
        ],
    },
    AppDef {
        namespace: "search",
        name: "indexer",
        kind: WorkloadKind::Service,
        images: &["registry.example.com/search/indexer:2025.11.3"],
    },
    AppDef {
        namespace: "search",
        name: "query",
        kind: WorkloadKind::Service,
        images: &["ghcr.io/stefanprodan/podinfo:6.7.1"],
    },
    AppDef {
        namespace: "platform",
        name: "ingress-gw",
        kind: WorkloadKind::Service,
        images: &["docker.io/envoyproxy/envoy:v1.31.2"],
    },
    AppDef {
        namespace: "platform",
        name: "metrics-agent",
        kind: WorkloadKind::Service,
        images: &["quay.io/prometheus/node-exporter:v1.8.2"],
    },
    AppDef {
        namespace: "batch",
        name: "nightly-report",
        kind: WorkloadKind::Job,
        images: &["registry.example.com/batch/report:v0.9.0"],
    },
    AppDef {
        namespace: "batch",
        name: "etl-orders",
        kind: WorkloadKind::Job,
        images: &["docker.io/bitnami/postgresql:16.4.0"],
    },
    AppDef {
        namespace: "ml",
        name: "feature-build",
        kind: WorkloadKind::Job,
        images: &["python:3.12-slim"],
    },
    AppDef {
        namespace: "ml",
        name: "train-resnet",
        kind: WorkloadKind::Job,
        images: &["registry.example.com/ml/trainer:cuda12-v0.8.1"],
    },
];

/// Paths readiness probes use.
const PROBE_PATHS: [&str; 4] = ["/healthz", "/readyz", "/ready", "/status"];

/// Sidecars a service may carry.
pub(crate) const SIDECARS: [(&str, &str); 3] = [
    ("envoy", "docker.io/envoyproxy/envoy:v1.31.2"),
    (
        "otel-collector",
        "public.ecr.aws/aws-observability/aws-otel-collector:v0.41.1",
    ),
    ("log-shipper", "cr.fluentbit.io/fluent/fluent-bit:3.1.9"),
];

/// Init containers a workload may carry.
pub(crate) const INITS: [(&str, &str); 3] = [
    ("init-config", "busybox:1.36.1"),
    ("migrate-db", "registry.example.com/tools/migrate:v4.17.1"),
    ("git-sync-init", "registry.k8s.io/git-sync/git-sync:v4.3.0"),
];

/// Finalizers controllers put on pods.
pub(crate) const FINALIZERS: [&str; 3] = [
    "example.com/lb-deregister",
    "payments.example.com/drain-ledger",
    "mesh.example.com/endpoint-cleanup",
];

impl ClusterProfile {
    /// Builds cluster `index` (0-based) from its own random stream.
    pub(crate) fn generate(seed: u64, index: usize) -> Self {
        let mut rng = SimRng::derive(seed, 0xc1u64 << 32 | index as u64, 0);
        let name = format!("sim-{}", index + 1);
        let (version, commit, minor) = VERSIONS[index % VERSIONS.len()];
        let node_count = 5 + (index % 3) * 3;
        let nodes: Vec<Node> = (0..node_count)
            .map(|i| {
                let pool = if i % 2 == 0 { "general" } else { "highmem" };
                Node {
                    name: format!("{name}-{pool}-{}", rng.name_suffix(5)),
                    ip: format!("10.{}.{}.{}", index % 200, 1 + i / 200, 10 + i % 200),
                }
            })
            .collect();
        let workloads = APPS
            .iter()
            .map(|app| generate_workload(&mut rng, app))
            .collect();
        let commit7 = &commit[..7];
        let kubelet_actors = nodes
            .iter()
            .map(|n: &Node| Actor {
                username: format!("system:node:{}", n.name),
                groups: NODE_GROUPS,
                user_agent: format!("kubelet/{version} (linux/amd64) kubernetes/{commit7}"),
                source_ip: n.ip.clone(),
                authz_reason: String::new(),
            })
            .collect();
        let control_plane_ip = format!("172.16.{}.2", index % 250);
        let controller = |c: &str| {
            Actor {
            username: format!("system:serviceaccount:kube-system:{c}"),
            groups: KUBE_SYSTEM_SA_GROUPS,
            user_agent: format!(
                "kube-controller-manager/{version} (linux/amd64) kubernetes/{commit7}/system:serviceaccount:kube-system:{c}"
            ),
            source_ip: control_plane_ip.clone(),
            authz_reason: format!(
                "RBAC: allowed by ClusterRoleBinding \"system:controller:{c}\" of ClusterRole \"system:controller:{c}\" to ServiceAccount \"{c}/kube-system\""
            ),
        }
        };
        let replicaset_controller = controller("replicaset-controller");
        let job_controller = controller("job-controller");
        let scheduler = Actor {
            username: "system:kube-scheduler".into(),
            groups: SCHEDULER_GROUPS,
            user_agent: format!("kube-scheduler/{version} (linux/amd64) kubernetes/{commit7}/scheduler"),
            source_ip: control_plane_ip.clone(),
            authz_reason: "RBAC: allowed by ClusterRoleBinding \"system:kube-scheduler\" of ClusterRole \"system:kube-scheduler\" to User \"system:kube-scheduler\"".into(),
        };
        ClusterProfile {
            kubelet_actors,
            replicaset_controller,
            job_controller,
            scheduler,
            scheduler_instance: format!("default-scheduler-{name}-cp-{}", rng.name_suffix(5)),
            runtime: if index % 2 == 0 {
                Runtime::Containerd
            } else {
                Runtime::CriO
            },
            status_by_update: index % 3 == 2,
            cni: CNIS[index % CNIS.len()],
            nodes,
            ready_to_start_condition: minor >= 29,
            strips_rpc_prefix: minor >= 28,
            pulled_with_size: minor >= 29,
            pod_net: (100 + index % 150) as u8,
            workloads,
            name,
        }
    }
}

fn generate_workload(rng: &mut SimRng, app: &AppDef) -> Workload {
    let service = app.kind == WorkloadKind::Service;
    let mut containers = Vec::new();
    let main_name = app.name.rsplit('-').next().unwrap_or(app.name).to_string();
    for (i, image) in app.images.iter().enumerate() {
        containers.push(ContainerSpec {
            name: if i == 0 {
                main_name.clone()
            } else {
                format!("{main_name}-aux")
            },
            image: (*image).to_string(),
            pull_always: rng.chance(0.3),
            cpu_m: *rng.pick(&[100, 250, 500, 1000, 2000]),
            mem_mi: *rng.pick(&[128, 256, 512, 1024, 2048, 4096]),
            port: if service && i == 0 { Some(8080) } else { None },
            readiness: None,
            post_start: false,
            env_ref: None,
            env_plain: vec![
                ("APP_ENV", "production".into()),
                ("LOG_FORMAT", "json".into()),
            ],
            mounts: Vec::new(),
            command: Vec::new(),
        });
    }
    if service && containers.len() < 3 && rng.chance(0.35) {
        let (n, img) = *rng.pick(&SIDECARS);
        containers.push(ContainerSpec {
            name: n.into(),
            image: img.into(),
            pull_always: false,
            cpu_m: 100,
            mem_mi: 128,
            port: None,
            readiness: None,
            post_start: false,
            env_ref: None,
            env_plain: Vec::new(),
            mounts: Vec::new(),
            command: Vec::new(),
        });
    }
    if service && rng.chance(0.7) {
        containers[0].readiness = Some(Probe {
            path: PROBE_PATHS[rng.index(PROBE_PATHS.len())],
            port: 8080,
            initial_delay_s: rng.range(0, 10),
            period_s: *rng.pick(&[2, 5, 10]),
        });
    }
    if service && rng.chance(0.1) {
        let last = containers.len() - 1;
        containers[last].post_start = true;
    }
    let mut volumes = Vec::new();
    if rng.chance(0.5) {
        volumes.push((
            "config".to_string(),
            VolumeSource::ConfigMap(format!("{}-config", app.name)),
        ));
        containers[0]
            .mounts
            .push(("config".into(), "/etc/app".into(), true));
    }
    if rng.chance(0.4) {
        volumes.push((
            "tls".to_string(),
            VolumeSource::Secret(format!("{}-tls", app.name)),
        ));
        containers[0]
            .mounts
            .push(("tls".into(), "/etc/tls".into(), true));
    }
    if rng.chance(0.3) {
        volumes.push(("scratch".to_string(), VolumeSource::EmptyDir));
        containers[0]
            .mounts
            .push(("scratch".into(), "/tmp/scratch".into(), false));
    }
    let mut init_containers = Vec::new();
    if rng.chance(0.25) {
        let (n, img) = *rng.pick(&INITS);
        init_containers.push(ContainerSpec {
            name: n.into(),
            image: img.into(),
            pull_always: false,
            cpu_m: 50,
            mem_mi: 64,
            port: None,
            readiness: None,
            post_start: false,
            env_ref: None,
            env_plain: Vec::new(),
            mounts: Vec::new(),
            command: vec!["/bin/sh".into(), "-c".into(), "/scripts/prepare.sh".into()],
        });
    }
    Workload {
        namespace: app.namespace,
        name: app.name,
        kind: app.kind,
        template_hash: rng.name_suffix(10),
        owner_uid: rng.uuid(),
        finalizer: if service && rng.chance(0.3) {
            Some(*rng.pick(&FINALIZERS))
        } else {
            None
        },
        spec: PodSpec {
            containers,
            init_containers,
            volumes,
            restart_policy: if service {
                "Always"
            } else if rng.chance(0.5) {
                "Never"
            } else {
                "OnFailure"
            },
            host_network: false,
            node_selector: None,
            service_account: if rng.chance(0.5) {
                "default".into()
            } else {
                app.name.to_string()
            },
            grace_s: if service { 30 } else { 10 },
            priority_class: if service && rng.chance(0.3) {
                Some("business-critical")
            } else {
                None
            },
        },
    }
}
