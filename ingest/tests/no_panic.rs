//! Nothing panics, whatever the bytes: arbitrary input and mutated real records.

use lunettes_ingest::Normalizer;
use proptest::prelude::*;

fn real(rel: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../shared/data/k8s-real/{rel}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Real records of every format, small enough to mutate many times.
fn seeds() -> Vec<Vec<u8>> {
    let csv = real("kubernetes-event-dataset/audit-logs.csv");
    let csv_head: Vec<u8> = csv
        .split(|b| *b == b'\n')
        .take(40)
        .collect::<Vec<_>>()
        .join(&b'\n');
    vec![
        real("falco/test/trace_files/k8s_audit/create_nginx_pod_privileged.json"),
        real("falco/test/trace_files/k8s_audit/create_configmap_sensitive_values.json"),
        real("khi/test/logs/k8s_audit/container_recorder_test_1_2.yaml"),
        real("khi/test/logs/k8s_audit/container_recorder_test_1_3.yaml"),
        real("khi/test/logs/k8s_event/sample.yaml"),
        real("gitops-engine/pkg/health/testdata/pod-crashloop.yaml"),
        real("audit2rbac/testdata/demo.log"),
        csv_head,
    ]
}

/// Checks the report is consistent with the output (and, implicitly, no panic).
fn check(bytes: &[u8]) {
    let mut n = Normalizer::new("fuzz");
    let mut out = Vec::new();
    let report = n.normalize_document("fuzz", bytes, &mut out);
    assert_eq!(report.events as usize, out.len());
    assert!(report.errors.len() as u64 <= report.records);
    for e in &report.errors {
        assert!(e.to_string().starts_with("fuzz"));
    }
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate().take(50) {
        let before = out.len();
        if let Ok(k) = n.normalize_line("fuzz", i as u64 + 1, line, &mut out) {
            assert_eq!(out.len() - before, k);
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
        let _ = n.normalize_json_value("fuzz", &v, &mut out);
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if bytes.is_empty() {
            break;
        }
        let len = bytes.len();
        match m {
            Mutation::Truncate(i) => bytes.truncate(i % len),
            Mutation::Flip(i, b) => bytes[i % len] ^= b | 1,
            Mutation::Insert(i, b) => {
                let at = i % len;
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = i % len;
                bytes.drain(at..(at + n).min(len));
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
    }

    #[test]
    fn arbitrary_text_shaped_like_records_never_panics(
        prefix in prop_oneof![Just("{"), Just("["), Just("---\n"), Just("\"{\"\"a\"\"}\",2023-01-27T18:28:08.1Z,"), Just("kind: Pod\n")],
        body in "[ -~\n]{0,300}",
    ) {
        check(format!("{prefix}{body}").as_bytes());
    }

    #[test]
    fn mutated_real_records_never_panic(
        seed in 0usize..8,
        muts in proptest::collection::vec(mutation(), 1..4),
    ) {
        let seeds = seeds();
        let bytes = apply(seeds[seed % seeds.len()].clone(), &muts);
        check(&bytes);
    }
}
