//! Configuration formats: the README's JSON blocks verbatim, Go durations,
//! defaults and errors naming the key.

use lunettes_processor::duration::parse_go_duration;
use lunettes_processor::{ConfigError, PodClass, SloConfig, SpanConfig};
use lunettes_schemas::{Action, ContainerFacts, PodFacts};

const README_SLO: &str = r#"{
    "UserOnlineConfigMap":{
        "test-ns-one":"1m30s",
        "test-ns-two":"6m"
    },
    "IgnoredNamespaceForAudit":[
        "app-ns"
    ],
    "IgnoreDeleteReasonNamespace":[
        "test-ns-three",
        "test-ns-four"
    ]
}"#;

const README_SPANS: &str = r#"[
  {
    "ObjectRef":{
      "Resource":"pods",
      "Name":"PodSpans",
      "APIVersion":"v1"
    },
    "ActionType":"PodCreate",
    "LifeFlag":{
      "Mode":"start-finish",
      "StartEvent":[
        {
          "Type":"operation",
          "Operation":"pod:create:success"
        }
      ],
      "FinishEvent":[
        {
          "Type":"operation",
          "Operation":"condition:Ready:true"
        }
      ]
    },
    "ExtraProperties":{
      "bizName":{
        "Name":"",
        "ValueRex":"metadata#labels#meta.k8s.com/biz-name",
        "NeedMetric":true
      }
    },
    "Spans":[
      {
        "Name":"default_schedule_span",
        "Type":"default_schedule_span",
        "SpanOwner":"k8s",
        "Mode":"start-finish",
        "StartEvent":[
          {
            "Type":"operation",
            "Operation":"schedule:default-scheduler:entry"
          }
        ],
        "EndEvent":[
          {
            "Type":"operation",
            "Operation":"schedule:binding:success"
          }
        ]
      }
    ]
  }
]"#;

#[test]
fn go_durations() {
    assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000));
    assert_eq!(parse_go_duration("6m"), Ok(360_000_000));
    assert_eq!(parse_go_duration("1h2m3.5s"), Ok(3_723_500_000));
    assert_eq!(parse_go_duration("250ms"), Ok(250_000));
    assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000));
    assert_eq!(parse_go_duration("10us"), Ok(10));
    assert_eq!(parse_go_duration("10µs"), Ok(10));
    assert_eq!(parse_go_duration("0"), Ok(0));
    assert_eq!(parse_go_duration("-2s"), Ok(-2_000_000));
    for bad in ["", "90", "1x", "m", "1m30", "s1", "1..2s"] {
        assert!(
            parse_go_duration(bad).is_err(),
            "{bad:?} should be rejected"
        );
    }
}

#[test]
fn readme_slo_config_is_accepted_verbatim() {
    let c = SloConfig::from_json(README_SLO).unwrap();
    assert_eq!(c.user_online_us["test-ns-one"], 90_000_000);
    assert_eq!(c.user_online_us["test-ns-two"], 360_000_000);
    assert!(c.ignored_namespaces.contains("app-ns"));
    assert!(c.ignore_delete_reason_namespaces.contains("test-ns-four"));
    // The user SLO replaces the class SLO.
    assert_eq!(
        c.slo_for("test-ns-two", None),
        (PodClass::UserOnline, Some(360_000_000))
    );
}

#[test]
fn typical_pods_get_90_seconds_not_10_minutes() {
    let c = SloConfig::default();
    let facts = PodFacts {
        containers: vec![ContainerFacts {
            name: "a".into(),
            cpu_millis: 500,
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        c.slo_for("any", Some(&facts)),
        (PodClass::Typical, Some(90_000_000))
    );
    assert_eq!(c.slo_for("any", None).1, Some(90_000_000));
}

#[test]
fn pod_classes_follow_section_3() {
    let c = SloConfig::default();
    let pod = |n: usize, cpu: i64, mem: i64, vols: usize| PodFacts {
        containers: (0..n)
            .map(|i| ContainerFacts {
                name: format!("c{i}"),
                cpu_millis: cpu,
                memory_bytes: mem,
                ..Default::default()
            })
            .collect(),
        volume_kinds: vec!["emptyDir".into(); vols],
        ..Default::default()
    };
    const GI: i64 = 1 << 30;
    assert_eq!(
        c.slo_for("x", Some(&pod(1, 33_000, 0, 0))),
        (PodClass::NotTypicalResource, None)
    );
    assert_eq!(
        c.slo_for("x", Some(&pod(1, 0, 65 * GI, 0))),
        (PodClass::NotTypicalResource, None)
    );
    assert_eq!(
        c.slo_for("x", Some(&pod(11, 10, 0, 0))),
        (PodClass::MoreThan10Containers, None)
    );
    assert_eq!(
        c.slo_for("x", Some(&pod(1, 9_000, 0, 0))),
        (PodClass::NonTypical2, Some(1_800_000_000))
    );
    assert_eq!(
        c.slo_for("x", Some(&pod(1, 0, 17 * GI, 0))),
        (PodClass::NonTypical2, Some(1_800_000_000))
    );
    assert_eq!(
        c.slo_for("x", Some(&pod(4, 10, 0, 0))),
        (PodClass::NonTypical1, Some(600_000_000))
    );
    assert_eq!(
        c.slo_for("x", Some(&pod(1, 10, 0, 16))),
        (PodClass::NonTypical1, Some(600_000_000))
    );
    assert_eq!(
        c.slo_for("x", Some(&pod(3, 10, 0, 15))),
        (PodClass::Typical, Some(90_000_000))
    );
}

#[test]
fn class_slos_and_tiers_are_configurable() {
    let c = SloConfig::from_json(
        r#"{"ClassSLO": {"typical": "2m", "NONTYPICAL1": "5m"}, "GiveUp": "1h", "Lateness": "10s",
            "DeleteTiers": {"delete": "5m"}}"#,
    )
    .unwrap();
    assert_eq!(c.typical_us, 120_000_000);
    assert_eq!(c.nontypical1_us, 300_000_000);
    assert_eq!(c.nontypical2_us, 1_800_000_000);
    assert_eq!(c.give_up_us, Some(3_600_000_000));
    assert_eq!(c.lateness_us, Some(10_000_000));
    assert_eq!(c.delete_tiers.delete_us, 300_000_000);
}

#[test]
fn slo_errors_name_the_key() {
    let e = SloConfig::from_json(r#"{"UserOnlineConfigMap": {"ns-a": "90"}}"#).unwrap_err();
    assert!(e.to_string().contains("UserOnlineConfigMap.ns-a"), "{e}");
    let e = SloConfig::from_json(r#"{"UserOnlineConfigMapp": {}}"#).unwrap_err();
    assert!(matches!(e, ConfigError::Json { .. }));
    assert!(e.to_string().contains("UserOnlineConfigMapp"), "{e}");
    let e = SloConfig::from_json(r#"{"ClassSLO": {"huge": "1m"}}"#).unwrap_err();
    assert!(e.to_string().contains("ClassSLO.huge"), "{e}");
    let e = SloConfig::from_json(r#"{"DeleteTiers": {"delete": "2h"}}"#).unwrap_err();
    assert!(e.to_string().contains("DeleteTiers"), "{e}");
    assert!(SloConfig::from_json("not json").is_err());
}

#[test]
fn readme_span_config_is_accepted_verbatim() {
    let c = SpanConfig::from_json(README_SPANS).unwrap();
    assert_eq!(c.span_names(Action::Create), vec!["default_schedule_span"]);
}

#[test]
fn default_span_config_compiles_and_covers_stock_kubernetes() {
    let c = SpanConfig::default();
    let create = c.span_names(Action::Create);
    for n in [
        "pod_ready",
        "default_schedule",
        "sandbox_create",
        "image_pull",
        "pod_init",
        "container_create",
        "container_start",
        "container_poststart",
        "container_readiness",
        "pod_readiness",
    ] {
        assert!(create.contains(&n), "missing {n}");
    }
    let delete = c.span_names(Action::Delete);
    for n in ["pod_delete", "finalizer_delete", "container_kill"] {
        assert!(delete.contains(&n), "missing {n}");
    }
    // And it parses as the embedded default does.
    SpanConfig::from_json(lunettes_processor::spans::config::DEFAULT_SPANS_JSON).unwrap();
    SloConfig::from_json(lunettes_processor::slo::DEFAULT_SLO_JSON).unwrap();
}

#[test]
fn span_config_errors_name_the_span_and_key() {
    let bad_rex = r#"[{"ActionType":"PodCreate","Spans":[{"Name":"x","SpanOwner":"k8s",
        "StartEvent":[{"Type":"event","Reason":"Pulling","NameRex":"(unclosed"}],
        "EndEvent":[{"Type":"event","Reason":"Pulled"}]}]}]"#;
    let e = SpanConfig::from_json(bad_rex).unwrap_err().to_string();
    assert!(e.contains("Spans.x.StartEvent[0].NameRex"), "{e}");
    let bad_owner = r#"[{"ActionType":"PodCreate","Spans":[{"Name":"y","SpanOwner":"me",
        "StartEvent":[{"Type":"operation","Operation":"a:b:c"}],"EndEvent":[{"Type":"operation","Operation":"a:b:d"}]}]}]"#;
    let e = SpanConfig::from_json(bad_owner).unwrap_err().to_string();
    assert!(e.contains("Spans.y.SpanOwner"), "{e}");
    let unknown = r#"[{"ActionType":"PodCreate","Spans":[],"Extra":1}]"#;
    let e = SpanConfig::from_json(unknown).unwrap_err().to_string();
    assert!(e.contains("Extra"), "{e}");
    let bad_path = r#"[{"ActionType":"PodCreate","ExtraProperties":{"p":{"ValueRex":"spec#foo"}},"Spans":[]}]"#;
    let e = SpanConfig::from_json(bad_path).unwrap_err().to_string();
    assert!(e.contains("ExtraProperties.p.ValueRex"), "{e}");
    let action = r#"[{"ActionType":"PodUpgrade","Spans":[]}]"#;
    assert!(SpanConfig::from_json(action)
        .unwrap_err()
        .to_string()
        .contains("PodUpgrade"));
    let direct = r#"[{"ActionType":"PodCreate","Spans":[{"Name":"d","Mode":"direct-info",
        "DirectEvent":[{"Type":"event","Reason":"Pulled"}]}]}]"#;
    assert!(SpanConfig::from_json(direct)
        .unwrap_err()
        .to_string()
        .contains("DurationRex"));
}
