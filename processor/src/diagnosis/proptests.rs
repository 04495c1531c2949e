//! Property tests: the classifiers run on untrusted text from every cluster,
//! so they must never panic, whatever the bytes (multi-byte UTF-8 next to
//! the ASCII markers the rules slice around, unbalanced quotes, huge counts).

use proptest::prelude::*;

use super::*;

/// Reasons the dispatch treats specially, plus arbitrary ones.
fn reason() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "Failed",
            "BackOff",
            "FailedCreatePodSandBox",
            "FailedMount",
            "FailedAttachVolume",
            "FailedScheduling",
            "Unhealthy",
            "Evicted",
            "Preempted",
            "FailedPostStartHook",
            "UnexpectedAdmissionError",
            "OutOfcpu",
            "FailedSync",
            "FailedCreate",
            "Killing",
            "NetworkNotReady",
            "NodeShutdown",
            "TaintManagerEviction",
            "InspectFailed",
            "ErrImageNeverPull",
            "SandboxChanged",
            "Scheduled",
        ])
        .prop_map(str::to_string),
        ".{0,20}",
    ]
}

/// Messages made of the fragments the rules look for, glued with noise.
fn message() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        prop::sample::select(vec![
            "Failed to pull image \"",
            "\" with ",
            "0/",
            " nodes are available: ",
            "Insufficient ",
            "(",
            ")",
            ", ",
            ". ",
            "preemption:",
            "{",
            "}",
            ": ",
            "[",
            "]",
            "volumes=",
            "for volume \"",
            "\\\"",
            "Error: ",
            "failed to \"StartContainer\" for \"",
            "plugin type=\"",
            "had condition: ",
            "low on resource: ",
            "Container ",
            "fit failure on node (",
            "):",
            "predicates:",
            "Pod was rejected: ",
            "webhook \"",
            "exceeded quota: ",
            "statuscode: 5",
            "rpc error: code = Unknown desc = ",
            "é",
            "日本",
            "\n",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z0-9 ]{0,12}",
        ".{0,6}",
    ];
    prop::collection::vec(fragment, 0..24).prop_map(|parts| parts.concat())
}

fn state_reason() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "CrashLoopBackOff",
            "ImagePullBackOff",
            "ErrImagePull",
            "CreateContainerConfigError",
            "CreateContainerError",
            "InvalidImageName",
            "ErrImageNeverPull",
            "RunContainerError",
            "OOMKilled",
            "Error",
            "ContainerCannotRun",
            "StartError",
            "Completed",
            "PostStartHookError",
            "CreatePodSandboxError",
            "SetupNetworkError",
        ])
        .prop_map(str::to_string),
        ".{0,16}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn classify_event_never_panics(reason in reason(), message in message()) {
        if let Some(f) = classify_event(&reason, &message) {
            prop_assert_eq!(f.family, f.code.family());
            prop_assert!(!f.what.is_empty());
        }
    }

    #[test]
    fn classify_container_state_never_panics(
        reason in state_reason(),
        message in message(),
        exit in proptest::option::of(any::<i32>()),
        terminated in any::<bool>(),
        init in any::<bool>(),
    ) {
        let kind = if terminated { StateKind::Terminated } else { StateKind::Waiting };
        let _ = classify_container_state(kind, &reason, &message, exit, init);
    }

    #[test]
    fn classify_api_failure_never_panics(code in any::<i32>(), message in message()) {
        let f = classify_api_failure(code, &message);
        prop_assert_eq!(f.family, Family::ApiCreate);
    }

    #[test]
    fn parse_failed_scheduling_never_panics(message in message()) {
        let parsed = parse_failed_scheduling(&message);
        let _ = parsed.dominant();
    }

    #[test]
    fn arbitrary_unicode_never_panics(reason in ".{0,30}", message in "\\PC{0,300}") {
        let _ = classify_event(&reason, &message);
        let _ = classify_api_failure(0, &message);
        let _ = parse_failed_scheduling(&message);
        let _ = classify_container_state(StateKind::Waiting, &reason, &message, None, false);
    }
}

proptest! {
    #[test]
    fn find_bytes_agrees_with_std(hay in "[abxz \"=]{0,60}", needle in "[abxz \"=]{0,6}") {
        prop_assert_eq!(super::text::find_bytes(hay.as_bytes(), needle.as_bytes()), hay.find(&needle));
    }
}

proptest! {
    #[test]
    fn msg_has_agrees_with_std(hay in "[abxzAB \"=]{0,80}", needle in "[abxz \"=]{0,6}") {
        let m = super::text::Msg::new(&hay);
        prop_assert_eq!(m.has(&needle), hay.to_ascii_lowercase().contains(&needle));
    }
}
