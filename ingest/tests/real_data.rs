//! The normalizers against the real Kubernetes records in
//! `../shared/data/k8s-real/` (sources and licences: its SOURCES.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lunettes_ingest::{HyperEvent, Normalizer, Report};
use lunettes_schemas::time::{format_rfc3339_micros, parse_rfc3339};
use lunettes_schemas::{Kind, Source, TimePrecision};

fn real(rel: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/k8s-real"
    ))
    .join(rel)
}

fn run(n: &mut Normalizer, rel: &str) -> (Report, Vec<HyperEvent>) {
    let path = real(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let report = n.normalize_document(rel, &bytes, &mut out);
    assert_eq!(report.events as usize, out.len(), "{rel}: events count");
    (report, out)
}

fn us(s: &str) -> i64 {
    parse_rfc3339(s).unwrap().0
}

fn with_op<'a>(out: &'a [HyperEvent], op: &str) -> Vec<&'a HyperEvent> {
    out.iter()
        .filter(|h| h.operations.iter().any(|o| o == op))
        .collect()
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            walk(&p, files);
        } else {
            files.push(p);
        }
    }
}

fn is_doc_or_licence(p: &Path) -> bool {
    let name = p.file_name().unwrap().to_string_lossy();
    name.starts_with("LICENSE") || name.ends_with(".md")
}

#[test]
fn every_real_record_file_normalizes() {
    // The only records that are not Kubernetes records: falco's deliberately
    // broken trace (`{"kind": 0}`) and the CSV's truncated last row.
    let expected_errors: BTreeMap<&str, (u64, Option<u64>)> = [
        ("fal_01_003.json", (1, Some(1))),
        ("audit-logs.csv", (1, Some(16_564))),
    ]
    .into();
    let mut files = Vec::new();
    walk(&real(""), &mut files);
    files.sort();
    let mut total_events = 0;
    let mut checked = 0;
    for path in files.iter().filter(|p| !is_doc_or_licence(p)) {
        let name = path.file_name().unwrap().to_str().unwrap();
        let mut n = Normalizer::new("real");
        let mut out = Vec::new();
        let report = n.normalize_document(name, &std::fs::read(path).unwrap(), &mut out);
        let (count, line) = expected_errors.get(name).copied().unwrap_or((0, None));
        assert_eq!(
            report.errors.len() as u64,
            count,
            "{}: {:?}",
            path.display(),
            report.errors
        );
        if let Some(line) = line {
            assert_eq!(report.errors[0].line, Some(line), "{name}");
            assert!(report.errors[0]
                .to_string()
                .starts_with(&format!("{name}:{line}: ")));
        }
        assert!(report.records >= 1, "{name}");
        assert_eq!(report.events as usize, out.len());
        for h in &out {
            assert_eq!(h.cluster, "real");
            assert!(!h.dedup_id.is_empty(), "{name}: {h:?}");
            assert!(
                h.time_us > 1_400_000_000_000_000,
                "{name}: implausible time {}",
                h.time_us
            );
            assert!(
                !h.object.name.is_empty() || h.object.resource == "pods",
                "{name}: {h:?}"
            );
        }
        total_events += out.len();
        checked += 1;
    }
    assert!(checked >= 75, "only {checked} files found");
    assert!(total_events > 150, "{total_events}");
}

#[test]
fn documentation_and_licence_files_are_one_error_each() {
    let mut files = Vec::new();
    walk(&real(""), &mut files);
    for path in files.iter().filter(|p| is_doc_or_licence(p)) {
        let mut n = Normalizer::new("real");
        let mut out = Vec::new();
        let report = n.normalize_document("x", &std::fs::read(path).unwrap(), &mut out);
        assert!(out.is_empty(), "{}", path.display());
        assert_eq!(
            report.errors.len(),
            1,
            "{}: {:?}",
            path.display(),
            report.errors
        );
        assert!(report.errors[0].reason.len() <= 303);
    }
}

#[test]
fn khi_gke_audit_create_and_kubelet_status_patches() {
    let mut n = Normalizer::new("gke");
    let dir = "khi/test/logs/k8s_audit/";
    let (r1, create) = run(&mut n, &format!("{dir}container_recorder_test_1_1.yaml"));
    assert_eq!((r1.records, r1.events, r1.errors.len()), (1, 1, 0));
    let c = &create[0];
    assert_eq!(
        c.operations,
        ["pod:create:success", "schedule:default-scheduler:entry"]
    );
    assert_eq!(c.source, Source::Audit);
    assert_eq!(c.response_code, Some(201));
    assert_eq!(c.verb, "create");
    assert_eq!(c.object.resource, "pods");
    assert_eq!(c.object.namespace, "1-2-deployment-update");
    assert_eq!(c.object.name, "nginx-deployment-surge-8655b4b8c5-xf5f4");
    assert_eq!(c.object.uid, "c0b4e00d-da76-4255-9a02-670d5b74aa3a");
    assert_eq!(c.dedup_id, "85371f7c-2383-4041-96e8-dad63d2d1990");
    let actor = c.actor.as_ref().unwrap();
    assert_eq!(
        actor.user,
        "system:serviceaccount:kube-system:replicaset-controller"
    );
    assert!(actor
        .user_agent
        .starts_with("kube-controller-manager/v1.28.14"));
    let facts = c.pod.as_ref().unwrap();
    assert_eq!(facts.owner_kind, "ReplicaSet");
    assert_eq!(facts.restart_policy, "Always");
    assert_eq!(facts.volume_kinds, ["projected"]);
    let names: Vec<_> = facts
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.image.as_str(), c.has_readiness_probe))
        .collect();
    assert_eq!(
        names,
        [
            ("nginx", "nginx:1.14.2", false),
            ("late-startup", "registry.k8s.io/busybox", true)
        ]
    );
    assert_eq!(facts.creation_us, Some(us("2024-01-01T01:00:00Z")));

    let (_, patch) = run(&mut n, &format!("{dir}container_recorder_test_1_2.yaml"));
    let t = us("2024-01-01T01:00:00Z");
    let conds = with_op(&patch, "condition:Initialized:true");
    assert_eq!(conds.len(), 1);
    let cond = conds[0];
    assert_eq!(cond.time_us, t);
    assert_eq!(cond.time_precision, TimePrecision::Seconds);
    assert_eq!(cond.observed_us, t);
    assert!(cond.operations.iter().any(|o| o == "condition:Ready:false"));
    assert!(cond
        .operations
        .iter()
        .any(|o| o == "condition:ContainersReady:false"));
    assert_eq!(cond.dedup_id, "c7842d26-11fe-446a-b985-b2b67ddbab09#1");
    let now = &with_op(
        &patch,
        "containerState:late-startup:Waiting:ContainerCreating",
    )[0];
    assert!(now
        .operations
        .iter()
        .any(|o| o == "containerState:nginx:Waiting:ContainerCreating"));
    assert!(now
        .operations
        .iter()
        .any(|o| o == "containerReady:late-startup:false"));
    assert_eq!(now.dedup_id, "c7842d26-11fe-446a-b985-b2b67ddbab09");
    assert_eq!(now.object.resource, "pods/status");
    assert_eq!(now.verb, "patch");
    assert_eq!(now.response_code, Some(200));
    assert_eq!(
        now.actor.as_ref().unwrap().user,
        "system:node:gke-sample-cluster-default-abcdefgh-abcd"
    );
    assert!(patch
        .iter()
        .all(|h| h.object.uid == "c0b4e00d-da76-4255-9a02-670d5b74aa3a"));

    let (_, running) = run(&mut n, &format!("{dir}container_recorder_test_1_3.yaml"));
    let started = &with_op(&running, "containerState:late-startup:Running")[0];
    assert_eq!(started.time_us, t);
    assert_eq!(started.time_precision, TimePrecision::Seconds);
    assert!(started
        .operations
        .iter()
        .any(|o| o == "containerState:nginx:Running"));
    // restartCount arrives as the string "0" for nginx in this log.
    assert_eq!(with_op(&running, "containerRestartCount:nginx:0").len(), 1);
    assert_eq!(with_op(&running, "containerReady:nginx:true").len(), 1);
    // The Ready condition in this patch carries only a message: no transition.
    assert!(running
        .iter()
        .all(|h| h.operations.iter().all(|o| !o.starts_with("condition:"))));
}

#[test]
fn falco_pod_creates() {
    let files = [
        "create_nginx_pod_hostnetwork.json",
        "create_nginx_pod_nohostnetwork.json",
        "create_nginx_pod_privileged.json",
        "create_nginx_pod_privileged_2nd_container.json",
        "create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json",
        "create_nginx_pod_sensitive_mount.json",
        "create_nginx_pod_sensitive_mount_2nd_container.json",
        "create_nginx_pod_unprivileged.json",
        "create_pod_kube_public_namespace.json",
        "create_pod_kube_system_namespace.json",
    ];
    for f in files {
        let mut n = Normalizer::new("minikube");
        let (report, out) = run(&mut n, &format!("falco/test/trace_files/k8s_audit/{f}"));
        assert_eq!((report.records, report.errors.len()), (1, 0), "{f}");
        assert_eq!(out.len(), 1, "{f}");
        let h = &out[0];
        assert_eq!(
            h.operations,
            ["pod:create:success", "schedule:default-scheduler:entry"],
            "{f}"
        );
        assert_eq!(h.response_code, Some(201));
        assert_eq!(h.time_precision, TimePrecision::Micros);
        assert!(!h.object.uid.is_empty() && !h.object.name.is_empty(), "{f}");
        let facts = h.pod.as_ref().unwrap();
        assert_eq!(
            facts.host_network,
            f == "create_nginx_pod_hostnetwork.json",
            "{f}"
        );
        assert!(!facts.containers.is_empty());
    }
    let mut n = Normalizer::new("minikube");
    let (_, out) = run(
        &mut n,
        "falco/test/trace_files/k8s_audit/create_nginx_pod_privileged.json",
    );
    assert_eq!(
        format_rfc3339_micros(out[0].time_us),
        "2018-10-25T14:09:12.581541Z"
    );
    assert_eq!(out[0].object.name, "nginx-deployment-5cdcc99dbf-rgw6z");
    assert_eq!(out[0].dedup_id, "a362d22b-db3c-4590-9505-23782f12925f");
}

#[test]
fn kspan_rollout_events_and_snapshots() {
    let mut n = Normalizer::new("kind");
    let (report, out) = run(
        &mut n,
        "kspan/controllers/events/testdata/deployment-2-pods.yaml",
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let pod = "px-5d567cc74c-ss4lb";
    let uid = "18eddc1d-87e8-4f02-8a13-f1e52db52e61";
    let events: Vec<(&str, String, TimePrecision)> = out
        .iter()
        .filter(|h| h.kind == Kind::Event && h.object.name == pod)
        .map(|h| {
            (
                h.event.as_ref().unwrap().reason.as_str(),
                format_rfc3339_micros(h.time_us),
                h.time_precision,
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            (
                "Scheduled",
                "2021-05-19T09:42:58.638469Z".to_string(),
                TimePrecision::Micros
            ),
            (
                "Pulling",
                "2021-05-19T09:42:59.000000Z".to_string(),
                TimePrecision::Seconds
            ),
            (
                "Pulled",
                "2021-05-19T09:43:05.000000Z".to_string(),
                TimePrecision::Seconds
            ),
            (
                "Created",
                "2021-05-19T09:43:05.000000Z".to_string(),
                TimePrecision::Seconds
            ),
            (
                "Started",
                "2021-05-19T09:43:05.000000Z".to_string(),
                TimePrecision::Seconds
            ),
        ]
    );
    for h in out.iter().filter(|h| h.kind == Kind::Event) {
        assert_eq!(h.source, Source::Event);
        assert!(!h.object.uid.is_empty(), "{h:?}");
        assert_eq!(h.object.resource, "events");
    }
    let scheduled = out
        .iter()
        .find(|h| h.event.as_ref().is_some_and(|e| e.reason == "Scheduled"))
        .unwrap();
    assert_eq!(scheduled.object.uid, uid);
    assert_eq!(scheduled.dedup_id, "264fc251-9856-4f85-b282-5306c9baa65d:1");
    assert_eq!(
        scheduled.event.as_ref().unwrap().component,
        "default-scheduler"
    );
    let pulling = out
        .iter()
        .find(|h| h.event.as_ref().is_some_and(|e| e.reason == "Pulling"))
        .unwrap();
    assert_eq!(pulling.event.as_ref().unwrap().host, "kind-control-plane");
    assert_eq!(pulling.object.field_path, "spec.containers{podinfo}");
    let killing: Vec<_> = out
        .iter()
        .filter(|h| h.event.as_ref().is_some_and(|e| e.reason == "Killing"))
        .map(|h| (h.object.name.as_str(), format_rfc3339_micros(h.time_us)))
        .collect();
    assert_eq!(
        killing,
        [
            (
                "px-7df978b9bf-jm22q",
                "2021-05-19T09:43:06.000000Z".to_string()
            ),
            (
                "px-7df978b9bf-bfdrj",
                "2021-05-19T09:43:07.000000Z".to_string()
            )
        ]
    );
    // The watch snapshots: the new pod is created at its creationTimestamp,
    // the old ones are seen being deleted.
    let created = with_op(&out, "pod:create:success");
    let first = created.iter().find(|h| h.object.uid == uid).unwrap();
    assert_eq!(first.time_us, us("2021-05-19T09:42:58Z"));
    assert_eq!(first.source, Source::Watch);
    assert!(first
        .operations
        .contains(&"schedule:default-scheduler:entry".to_string()));
    assert_eq!(with_op(&out, "pod:delete:success").len(), 2);
    // A pod first seen already running and terminating: its transitions come
    // at their own times, before the deletion.
    let old = "ac780302-1895-43b1-89e0-80f85c8e5457";
    let ready: Vec<_> = with_op(&out, "condition:Ready:true")
        .into_iter()
        .filter(|h| h.object.uid == old)
        .collect();
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(ready[0].time_us, us("2021-05-18T17:10:51Z"));
    let deleting: Vec<_> = with_op(&out, "pod:delete:success")
        .into_iter()
        .filter(|h| h.object.uid == old)
        .collect();
    assert_eq!(deleting.len(), 1);
    // A snapshot's own observation time comes from kspan's `# {"time": ...}` comment.
    let phase = &with_op(&out, "phase:Running:set")
        .into_iter()
        .find(|h| h.object.uid == old)
        .unwrap();
    assert_eq!(
        format_rfc3339_micros(phase.observed_us),
        "2021-05-19T09:43:06.205375Z"
    );
    assert_eq!(phase.time_precision, TimePrecision::Micros);
}

#[test]
fn gitops_engine_pods_hold_their_container_states() {
    let cases = [
        (
            "pod-crashloop.yaml",
            "containerState:main:Waiting:CrashLoopBackOff",
        ),
        (
            "pod-imagepullbackoff.yaml",
            "containerState:errimagepullbackoff:Waiting:ImagePullBackOff",
        ),
        (
            "pod-deletion.yaml",
            "containerState:main:Waiting:PodInitializing",
        ),
        (
            "pod-pending.yaml",
            "containerState:main:Waiting:PodInitializing",
        ),
        (
            "pod-error.yaml",
            "containerState:main:terminated:Error;exitCode:1",
        ),
        (
            "pod-failed.yaml",
            "containerState:main:terminated:Error;exitCode:1",
        ),
        ("pod-running-restart-always.yaml", "phase:Running:set"),
        ("pod-succeeded.yaml", "phase:Succeeded:set"),
    ];
    for (file, op) in cases {
        let mut n = Normalizer::new("argo");
        let (report, out) = run(&mut n, &format!("gitops-engine/pkg/health/testdata/{file}"));
        assert!(report.errors.is_empty(), "{file}: {:?}", report.errors);
        assert_eq!(
            with_op(&out, op).len(),
            1,
            "{file}: {op} in {:#?}",
            out.iter().map(|h| &h.operations).collect::<Vec<_>>()
        );
        assert_eq!(with_op(&out, "pod:create:success").len(), 1, "{file}");
        assert!(out.iter().all(|h| h.source == Source::Watch));
    }
    let mut n = Normalizer::new("argo");
    let (_, out) = run(&mut n, "gitops-engine/pkg/health/testdata/pod-error.yaml");
    let term = with_op(&out, "containerState:main:terminated:Error;exitCode:1")[0];
    // `state` (not `lastState`) is the current run: finished 09:19:56.
    assert_eq!(term.time_us, us("2018-12-02T09:19:56Z"));
    // The deletion pod: deletionTimestamp with no grace period recorded.
    let mut n = Normalizer::new("argo");
    let (_, out) = run(
        &mut n,
        "gitops-engine/pkg/health/testdata/pod-deletion.yaml",
    );
    assert_eq!(
        with_op(&out, "pod:delete:success")[0].time_us,
        us("2018-12-03T10:16:04Z")
    );
}

#[test]
fn audit_csv_normalizes() {
    let mut n = Normalizer::new("perfspec");
    let (report, out) = run(&mut n, "kubernetes-event-dataset/audit-logs.csv");
    assert_eq!(report.records, 16_564);
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0]
        .reason
        .contains("expected 15 CSV columns, found 10"));
    let count = |op: &str| with_op(&out, op).len();
    assert_eq!(count("schedule:binding:success"), 28);
    assert_eq!(count("pod:create:success"), 36);
    assert_eq!(count("pod:create:failed"), 16);
    assert_eq!(count("pod:delete:success"), 4);
    let b = with_op(&out, "schedule:binding:success")[0];
    assert_eq!(b.object.namespace, "kube-prometheus-stack");
    assert_eq!(
        b.object.name,
        "my-kube-prometheus-stack-admission-create-48n9x"
    );
    assert_eq!(
        format_rfc3339_micros(b.time_us),
        "2023-01-27T18:29:04.387565Z"
    );
    assert_eq!(b.actor.as_ref().unwrap().user, "system:kube-scheduler");
    let failed = with_op(&out, "pod:create:failed")[0];
    assert_eq!(failed.response_code, Some(403));
}

#[test]
fn metadata_level_audit_log_is_skipped_not_failed() {
    // audit2rbac's demo: Metadata-level list/get/watch calls, none a pod write.
    let mut n = Normalizer::new("demo");
    let (report, out) = run(&mut n, "audit2rbac/testdata/demo.log");
    assert_eq!(
        (report.records, report.skipped, report.errors.len()),
        (37, 37, 0)
    );
    assert!(out.is_empty());
}
