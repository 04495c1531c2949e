//! `lunettes normalize` end to end: the real binary on real files.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_lunettes");

fn real(rel: &str) -> String {
    format!(
        "{}/../../shared/data/k8s-real/{rel}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn prints_one_json_object_per_hyperevent() {
    let out = Command::new(BIN)
        .args(["normalize", "--cluster", "kind"])
        .arg(real(
            "kspan/controllers/events/testdata/deployment-2-pods.yaml",
        ))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objs = lines(&out.stdout);
    assert_eq!(objs.len(), 23);
    for o in &objs {
        for key in [
            "cluster",
            "source",
            "kind",
            "time",
            "resource",
            "namespace",
            "name",
            "uid",
            "operations",
            "reason",
            "message",
        ] {
            assert!(o.get(key).is_some(), "missing {key} in {o}");
        }
        assert_eq!(o["cluster"], "kind");
        assert!(o["operations"].is_array());
        // RFC 3339 with microseconds.
        assert_eq!(
            o["time"].as_str().unwrap().len(),
            "2021-05-19T09:42:58.638469Z".len()
        );
    }
    let scheduled = objs.iter().find(|o| o["reason"] == "Scheduled").unwrap();
    assert_eq!(scheduled["time"], "2021-05-19T09:42:58.638469Z");
    assert_eq!(scheduled["kind"], "event");
    assert_eq!(scheduled["uid"], "18eddc1d-87e8-4f02-8a13-f1e52db52e61");
}

#[test]
fn bad_records_go_to_stderr_and_fail_the_run() {
    let out = Command::new(BIN)
        .arg("normalize")
        .arg(real("falco/test/trace_files/k8s_audit/fal_01_003.json"))
        .arg(real(
            "falco/test/trace_files/k8s_audit/create_nginx_pod_privileged.json",
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("fal_01_003.json:1: "), "{stderr}");
    let objs = lines(&out.stdout);
    assert_eq!(objs.len(), 1, "the good file still comes through");
    assert_eq!(
        objs[0]["operations"],
        serde_json::json!(["pod:create:success", "schedule:default-scheduler:entry"])
    );
    assert_eq!(objs[0]["cluster"], "default");

    let missing = Command::new(BIN)
        .args(["normalize", "/nonexistent/file"])
        .output()
        .unwrap();
    assert_ne!(missing.status.code(), Some(0));
}

#[test]
fn reads_stdin_and_cluster_directories() {
    let mut child = Command::new(BIN)
        .args(["normalize", "-", "--cluster", "piped"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = std::fs::read(real(
        "falco/test/trace_files/k8s_audit/create_nginx_pod_privileged.json",
    ))
    .unwrap();
    child.stdin.take().unwrap().write_all(&line).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(lines(&out.stdout)[0]["cluster"], "piped");

    let root = std::env::temp_dir().join(format!("lunettes-normalize-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("east")).unwrap();
    std::fs::copy(
        real("gitops-engine/pkg/health/testdata/pod-crashloop.yaml"),
        root.join("east/pod.yaml"),
    )
    .unwrap();
    std::fs::copy(
        real("khi/test/logs/k8s_audit/container_recorder_test_1_1.yaml"),
        root.join("top.yaml"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("normalize")
        .arg(&root)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(out.status.code(), Some(0));
    let clusters: std::collections::BTreeSet<String> = lines(&out.stdout)
        .iter()
        .map(|o| o["cluster"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        clusters.into_iter().collect::<Vec<_>>(),
        ["default", "east"]
    );
}
