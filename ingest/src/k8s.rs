//! Typed, borrowed views of the Kubernetes objects we read (Pod, Event,
//! Binding, Status).
//!
//! Why typed and borrowed: building a `serde_json::Value` allocates every
//! string and map of a record, most of which (managedFields, env, volumes'
//! contents) we throw away. These structs name only the fields the normalizer
//! uses; serde skips the rest without allocating, and strings borrow from the
//! input unless they contain escapes. They are also the first line of
//! redaction: there is no field for Secret/ConfigMap `data`, container `env`,
//! `command` or `args`, so those bytes are never even copied.
//!
//! The structs are lenient where real data is: `restartCount: "0"` (seen in
//! GKE logs), numbers for quantities written in YAML (`cpu: 1`), `null` for
//! label values in patches.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A string borrowed from the input when it has no escapes, owned otherwise.
///
/// serde's own `Cow<str>` always allocates unless the field is annotated, and
/// the annotation does not reach inside `Vec`/`Option`/map keys; this newtype
/// borrows everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct S<'a>(pub Cow<'a, str>);

impl Deref for S<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for S<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = S<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(S(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(S(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(S(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An integer that may also arrive as a string (`"0"`) or an integral float.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LInt(pub i64);

impl<'de> Deserialize<'de> for LInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LInt;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a string holding one")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LInt, E> {
                Ok(LInt(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LInt, E> {
                Ok(LInt(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LInt, E> {
                if v.fract() == 0.0 && v.is_finite() {
                    Ok(LInt(v as i64))
                } else {
                    Err(E::custom(format!("expected an integer, found {v}")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LInt, E> {
                v.trim()
                    .parse()
                    .map(LInt)
                    .map_err(|_| E::custom(format!("expected an integer, found {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A resource quantity as written: a string (`"250m"`) or a bare number (`1`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Qty<'a> {
    Text(S<'a>),
    Number(f64),
}

impl<'de: 'a, 'a> Deserialize<'de> for Qty<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Qty<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a quantity")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Qty::Text(S(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Qty::Text(S(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Qty::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Qty::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Qty::Number(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// `metadata` of any object, including the strategic-merge-patch directives we use.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Meta<'a> {
    #[serde(borrow, default)]
    pub name: Option<S<'a>>,
    #[serde(borrow, default)]
    pub namespace: Option<S<'a>>,
    #[serde(borrow, default)]
    pub uid: Option<S<'a>>,
    #[serde(borrow, default)]
    pub resource_version: Option<S<'a>>,
    #[serde(borrow, default)]
    pub creation_timestamp: Option<S<'a>>,
    #[serde(borrow, default)]
    pub deletion_timestamp: Option<S<'a>>,
    #[serde(default)]
    pub deletion_grace_period_seconds: Option<LInt>,
    /// `None` values are deletions in a patch.
    #[serde(borrow, default)]
    pub labels: Option<BTreeMap<S<'a>, Option<S<'a>>>>,
    #[serde(borrow, default)]
    pub annotations: Option<BTreeMap<S<'a>, Option<S<'a>>>>,
    #[serde(borrow, default)]
    pub finalizers: Option<Vec<S<'a>>>,
    #[serde(borrow, default, rename = "$deleteFromPrimitiveList/finalizers")]
    pub delete_finalizers: Option<Vec<S<'a>>>,
    #[serde(borrow, default)]
    pub owner_references: Option<Vec<OwnerRef<'a>>>,
}

/// `metadata.ownerReferences[]`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OwnerRef<'a> {
    #[serde(borrow, default)]
    pub kind: Option<S<'a>>,
    #[serde(borrow, default)]
    pub name: Option<S<'a>>,
    #[serde(default)]
    pub controller: Option<bool>,
}

/// A Pod, a pod patch, or a delete response (Pod or `Status`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodObject<'a> {
    #[serde(borrow, default)]
    pub kind: Option<S<'a>>,
    #[serde(borrow, default)]
    pub metadata: Option<Meta<'a>>,
    #[serde(borrow, default)]
    pub spec: Option<PodSpec<'a>>,
    /// A Pod's status object, or a `Status` object's `"Success"`/`"Failure"`.
    #[serde(borrow, default)]
    pub status: Option<StatusField<'a>>,
    /// `Status.details` (delete responses).
    #[serde(borrow, default)]
    pub details: Option<ObjRef<'a>>,
    /// `DeleteOptions.gracePeriodSeconds` (delete requests).
    #[serde(default)]
    pub grace_period_seconds: Option<LInt>,
}

impl<'a> PodObject<'a> {
    /// The pod status, when this is a pod (not a `Status` message).
    pub fn pod_status(&self) -> Option<&PodStatus<'a>> {
        match &self.status {
            Some(StatusField::Pod(s)) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a full Pod object (not a patch, Status or options).
    pub fn is_pod(&self) -> bool {
        self.kind.as_deref() == Some("Pod")
    }

    /// A metadata string field, `""` when absent.
    pub fn meta_str<'s>(&'s self, f: impl Fn(&'s Meta<'a>) -> &'s Option<S<'a>>) -> &'s str {
        self.metadata
            .as_ref()
            .and_then(|m| f(m).as_deref())
            .unwrap_or("")
    }
}

/// `status` is an object on Pods and a string on `Status` responses.
#[derive(Debug)]
pub(crate) enum StatusField<'a> {
    Pod(Box<PodStatus<'a>>),
    Text,
}

impl<'de: 'a, 'a> Deserialize<'de> for StatusField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StatusField<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a pod status object or a status string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(StatusField::Text)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let s = PodStatus::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(StatusField::Pod(Box::new(s)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The parts of `spec` the facts need.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodSpec<'a> {
    #[serde(borrow, default)]
    pub scheduler_name: Option<S<'a>>,
    #[serde(borrow, default)]
    pub restart_policy: Option<S<'a>>,
    #[serde(borrow, default)]
    pub node_name: Option<S<'a>>,
    #[serde(default)]
    pub host_network: Option<bool>,
    #[serde(borrow, default)]
    pub containers: Option<Vec<Container<'a>>>,
    #[serde(borrow, default)]
    pub init_containers: Option<Vec<Container<'a>>>,
    #[serde(borrow, default)]
    pub volumes: Option<Vec<Volume<'a>>>,
    #[serde(borrow, default)]
    pub readiness_gates: Option<Vec<ReadinessGate<'a>>>,
}

/// A container spec: no `env`, `command` or `args` fields on purpose.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Container<'a> {
    #[serde(borrow, default)]
    pub name: Option<S<'a>>,
    #[serde(borrow, default)]
    pub image: Option<S<'a>>,
    #[serde(borrow, default)]
    pub resources: Option<Resources<'a>>,
    #[serde(default)]
    pub readiness_probe: Option<IgnoredAny>,
    #[serde(default)]
    pub lifecycle: Option<Lifecycle>,
}

/// `resources`; only requests matter for the pod class.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Resources<'a> {
    #[serde(borrow, default)]
    pub requests: Option<Requests<'a>>,
}

/// `resources.requests`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Requests<'a> {
    #[serde(borrow, default)]
    pub cpu: Option<Qty<'a>>,
    #[serde(borrow, default)]
    pub memory: Option<Qty<'a>>,
}

/// `lifecycle`; only the presence of `postStart` matters.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Lifecycle {
    #[serde(default)]
    pub post_start: Option<IgnoredAny>,
}

/// A volume, reduced to its kind (the one key besides `name`).
#[derive(Debug, Default)]
pub(crate) struct Volume<'a> {
    pub kind: Option<S<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Volume<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Volume<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a volume object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut kind = None;
                while let Some(key) = map.next_key::<S<'de>>()? {
                    map.next_value::<IgnoredAny>()?;
                    if kind.is_none() && &*key != "name" {
                        kind = Some(key);
                    }
                }
                Ok(Volume { kind })
            }
        }
        d.deserialize_map(V)
    }
}

/// `spec.readinessGates[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReadinessGate<'a> {
    #[serde(borrow, default)]
    pub condition_type: Option<S<'a>>,
}

/// The parts of `status` that become operations.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodStatus<'a> {
    #[serde(borrow, default)]
    pub phase: Option<S<'a>>,
    #[serde(borrow, default, rename = "podIP")]
    pub pod_ip: Option<S<'a>>,
    #[serde(borrow, default)]
    pub conditions: Option<Vec<Condition<'a>>>,
    #[serde(borrow, default)]
    pub container_statuses: Option<Vec<ContainerStatus<'a>>>,
    #[serde(borrow, default)]
    pub init_container_statuses: Option<Vec<ContainerStatus<'a>>>,
    #[serde(borrow, default)]
    pub start_time: Option<S<'a>>,
}

/// `status.conditions[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Condition<'a> {
    #[serde(borrow, default, rename = "type")]
    pub type_: Option<S<'a>>,
    #[serde(borrow, default)]
    pub status: Option<S<'a>>,
    #[serde(borrow, default)]
    pub last_transition_time: Option<S<'a>>,
}

/// `status.containerStatuses[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContainerStatus<'a> {
    #[serde(borrow, default)]
    pub name: Option<S<'a>>,
    #[serde(default)]
    pub ready: Option<bool>,
    #[serde(default)]
    pub restart_count: Option<LInt>,
    #[serde(borrow, default)]
    pub state: Option<ContainerState<'a>>,
}

/// `state` of a container status: exactly one of the three is normally set.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ContainerState<'a> {
    #[serde(borrow, default)]
    pub running: Option<StateDetail<'a>>,
    #[serde(borrow, default)]
    pub waiting: Option<StateDetail<'a>>,
    #[serde(borrow, default)]
    pub terminated: Option<StateDetail<'a>>,
}

/// Fields of `running`/`waiting`/`terminated`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StateDetail<'a> {
    #[serde(borrow, default)]
    pub reason: Option<S<'a>>,
    #[serde(default)]
    pub exit_code: Option<LInt>,
    #[serde(borrow, default)]
    pub started_at: Option<S<'a>>,
    #[serde(borrow, default)]
    pub finished_at: Option<S<'a>>,
}

/// An object reference (`involvedObject`, `regarding`, binding `target`, Status `details`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ObjRef<'a> {
    #[serde(borrow, default)]
    pub kind: Option<S<'a>>,
    #[serde(borrow, default)]
    pub namespace: Option<S<'a>>,
    #[serde(borrow, default)]
    pub name: Option<S<'a>>,
    #[serde(borrow, default)]
    pub uid: Option<S<'a>>,
    #[serde(borrow, default)]
    pub field_path: Option<S<'a>>,
}

/// A `pods/binding` request body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BindingObject<'a> {
    #[serde(borrow, default)]
    pub metadata: Option<Meta<'a>>,
    #[serde(borrow, default)]
    pub target: Option<ObjRef<'a>>,
}

/// A `v1` or `events.k8s.io/v1` Event (both field sets; whichever is present wins).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventObject<'a> {
    #[serde(borrow, default)]
    pub metadata: Option<Meta<'a>>,
    #[serde(borrow, default)]
    pub involved_object: Option<ObjRef<'a>>,
    #[serde(borrow, default)]
    pub regarding: Option<ObjRef<'a>>,
    #[serde(borrow, default)]
    pub reason: Option<S<'a>>,
    #[serde(borrow, default)]
    pub message: Option<S<'a>>,
    #[serde(borrow, default)]
    pub note: Option<S<'a>>,
    #[serde(borrow, default, rename = "type")]
    pub type_: Option<S<'a>>,
    #[serde(default)]
    pub count: Option<LInt>,
    #[serde(default)]
    pub deprecated_count: Option<LInt>,
    #[serde(borrow, default)]
    pub series: Option<Series<'a>>,
    #[serde(borrow, default)]
    pub event_time: Option<S<'a>>,
    #[serde(borrow, default)]
    pub first_timestamp: Option<S<'a>>,
    #[serde(borrow, default)]
    pub last_timestamp: Option<S<'a>>,
    #[serde(borrow, default)]
    pub deprecated_first_timestamp: Option<S<'a>>,
    #[serde(borrow, default)]
    pub deprecated_last_timestamp: Option<S<'a>>,
    #[serde(borrow, default)]
    pub source: Option<EventSource<'a>>,
    #[serde(borrow, default)]
    pub deprecated_source: Option<EventSource<'a>>,
    #[serde(borrow, default)]
    pub reporting_component: Option<S<'a>>,
    #[serde(borrow, default)]
    pub reporting_controller: Option<S<'a>>,
    #[serde(borrow, default)]
    pub reporting_instance: Option<S<'a>>,
}

/// `series` of an event that repeated.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Series<'a> {
    #[serde(default)]
    pub count: Option<LInt>,
    #[serde(borrow, default)]
    pub last_observed_time: Option<S<'a>>,
}

/// `source` / `deprecatedSource` of an event.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventSource<'a> {
    #[serde(borrow, default)]
    pub component: Option<S<'a>>,
    #[serde(borrow, default)]
    pub host: Option<S<'a>>,
}

/// A non-empty string field as `&str`.
pub(crate) fn non_empty<'s>(v: &'s Option<S<'_>>) -> Option<&'s str> {
    v.as_deref().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_borrow_unless_escaped() {
        let m: Meta = serde_json::from_str(r#"{"name":"a","namespace":"b\"c"}"#).unwrap();
        assert!(matches!(m.name.unwrap().0, Cow::Borrowed("a")));
        assert_eq!(&*m.namespace.unwrap(), "b\"c");
    }

    #[test]
    fn lenient_numbers() {
        let c: ContainerStatus =
            serde_json::from_str(r#"{"name":"x","restartCount":"3"}"#).unwrap();
        assert_eq!(c.restart_count, Some(LInt(3)));
        assert!(serde_json::from_str::<ContainerStatus>(r#"{"restartCount":"x"}"#).is_err());
    }

    #[test]
    fn status_field_is_object_or_text() {
        let p: PodObject = serde_json::from_str(r#"{"status":{"phase":"Running"}}"#).unwrap();
        assert_eq!(p.pod_status().unwrap().phase.as_deref(), Some("Running"));
        let p: PodObject =
            serde_json::from_str(r#"{"kind":"Status","status":"Success","details":{"uid":"u"}}"#)
                .unwrap();
        assert!(p.pod_status().is_none());
        assert_eq!(p.details.unwrap().uid.as_deref(), Some("u"));
    }

    #[test]
    fn volume_kind_and_null_labels() {
        let s: PodSpec = serde_json::from_str(
            r#"{"volumes":[{"name":"a","emptyDir":{}},{"configMap":{"name":"x"},"name":"b"}]}"#,
        )
        .unwrap();
        let kinds: Vec<_> = s
            .volumes
            .unwrap()
            .into_iter()
            .map(|v| v.kind.unwrap().0.into_owned())
            .collect();
        assert_eq!(kinds, ["emptyDir", "configMap"]);
        let m: Meta = serde_json::from_str(r#"{"labels":{"a":null,"b":"c"}}"#).unwrap();
        let l = m.labels.unwrap();
        assert_eq!(l.len(), 2);
        assert!(l.values().next().unwrap().is_none());
    }
}
