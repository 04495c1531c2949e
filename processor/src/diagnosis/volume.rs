//! Volume failures: FailedMount, FailedAttachVolume, FailedMapVolume.
//!
//! Three causes deserve different actions, so they get different codes:
//! - the pod spec points at something that does not exist or has the wrong
//!   type (a missing Secret/ConfigMap/PVC, a hostPath type check):
//!   `InvalidMountConfig` — fix the spec or create the object;
//! - the volume could not be attached to the node (attach/detach controller,
//!   CSI ControllerPublish, Multi-Attach): `FailedAttachVolume` — storage
//!   control plane or a volume still held by another node;
//! - everything else on the node (NFS/CSI mount errors, mount timeouts):
//!   `FailedMount`.
//!
//! The generic kubelet timeout ("Unable to attach or mount volumes ... timed
//! out waiting for the condition", "timeout expired waiting for volumes to
//! attach or mount") names both lists and no cause; it stays `FailedMount`,
//! and an explicit attach failure event, if any, outranks it.

use super::codes::Code;
use super::finding::Finding;
use super::text::{short_cause, Msg};

/// Objects a volume can reference by name, with the sub-reason when missing.
const MISSING_OBJECTS: [(&str, &str); 8] = [
    ("secret \"", "SecretNotFound"),
    ("secrets \"", "SecretNotFound"),
    ("configmap \"", "ConfigMapNotFound"),
    ("configmaps \"", "ConfigMapNotFound"),
    ("persistentvolumeclaim \"", "PVCNotFound"),
    ("persistentvolumeclaims \"", "PVCNotFound"),
    ("serviceaccount \"", "ServiceAccountNotFound"),
    ("serviceaccounts \"", "ServiceAccountNotFound"),
];

const ATTACH: [&str; 7] = [
    "attachvolume.attach failed",
    "multi-attach error",
    "waitforattach failed",
    "failed to attach",
    "attach failed",
    "is not yet attached",
    "volume is not attached",
];

/// Classifies a FailedMount / FailedMapVolume message.
pub(crate) fn classify_mount(m: &Msg<'_>) -> Finding {
    let volume = volume_name(m);
    let named = volume
        .map(|v| format!("volume \"{v}\""))
        .unwrap_or_else(|| "a volume".into());
    let cause = short_cause(after_volume_lead(m));
    if m.has("hostpath type check failed") {
        return Finding::of(
            Code::InvalidMountConfig,
            Some("HostPathType"),
            volume,
            format!("{named} points at a host path of the wrong type: {cause}"),
        );
    }
    if let Some(f) = missing_reference(m, volume, &named) {
        return f;
    }
    if m.any(&ATTACH) {
        return classify_attach(m);
    }
    let sub = if m.any(&[
        "not found in the list of registered csi drivers",
        "driver name",
        "csi driver",
    ]) {
        "CSIDriverMissing"
    } else if m.any(&["timed out", "timeout", "deadline exceeded"]) {
        "Timeout"
    } else if m.any(&[
        "permission denied",
        "access denied",
        "operation not permitted",
    ]) {
        "PermissionDenied"
    } else if m.any(&["mount failed", "exit status", "mount error"]) {
        "MountCommandFailed"
    } else {
        "Other"
    };
    Finding::of(
        Code::FailedMount,
        Some(sub),
        volume,
        format!("{named} could not be mounted: {cause}"),
    )
}

/// A referenced Secret/ConfigMap/PVC/key that does not exist.
fn missing_reference(m: &Msg<'_>, volume: Option<&str>, named: &str) -> Option<Finding> {
    let not_found = m.has("not found") || m.has("not registered");
    let named_object = MISSING_OBJECTS.iter().find_map(|(marker, sub)| {
        // marker ends with a quote; quoted_after wants the text before it.
        m.has(marker)
            .then(|| (*sub, m.quoted_after(&marker[..marker.len() - 1])))
    });
    let (sub, object) = match named_object {
        Some(found) if not_found => found,
        _ if m.any(&["couldn't find key", "references non-existent"]) => ("KeyNotFound", None),
        _ if m.has("object \"") && m.has("not registered") => ("ObjectNotRegistered", None),
        _ => return None,
    };
    let object = object.or(volume);
    Some(Finding::of(
        Code::InvalidMountConfig,
        Some(sub),
        object,
        format!(
            "{named} refers to something that does not exist: {}",
            short_cause(after_volume_lead(m))
        ),
    ))
}

/// Classifies a FailedAttachVolume message (or an attach failure seen by the kubelet).
pub(crate) fn classify_attach(m: &Msg<'_>) -> Finding {
    let volume = volume_name(m);
    let named = volume
        .map(|v| format!("volume \"{v}\""))
        .unwrap_or_else(|| "a volume".into());
    let cause = short_cause(m.raw);
    let sub =
        if m.has("multi-attach") || m.has("already exclusively attached") || m.has("is attached") {
            "MultiAttach"
        } else if m.any(&["timed out", "timeout", "deadline exceeded"]) {
            "Timeout"
        } else if m.any(&["limit", "maximum"]) {
            "AttachLimit"
        } else {
            "AttachFailed"
        };
    let what = if sub == "MultiAttach" {
        format!("{named} is still attached to another node and cannot be attached to this one")
    } else {
        format!("{named} could not be attached to the node: {cause}")
    };
    Finding::of(Code::FailedAttachVolume, Some(sub), volume, what)
}

/// The cause after the kubelet's `... failed for volume "x" : ` lead, which
/// only repeats what the summary already says.
fn after_volume_lead<'a>(m: &Msg<'a>) -> &'a str {
    match m.find("\" : ") {
        Some(pos) if m.has("failed for volume") => &m.raw[pos + 4..],
        _ => m.raw,
    }
}

/// The volume a message is about: `for volume "x"`, `volume "x"`, or the first
/// item of an unmounted/unattached volume list.
fn volume_name<'a>(m: &Msg<'a>) -> Option<&'a str> {
    m.quoted_after("for volume ")
        .or_else(|| m.quoted_after("volume "))
        .or_else(|| m.first_list_item_after("unmounted volumes="))
        .or_else(|| m.first_list_item_after("volumes="))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(msg: &str) -> Finding {
        classify_mount(&Msg::new(msg))
    }

    #[test]
    fn config_problems() {
        let f = mount("MountVolume.SetUp failed for volume \"tls\" : secret \"web-tls\" not found");
        assert_eq!(
            (f.code, f.sub_reason.as_deref(), f.subject.as_deref()),
            (
                Code::InvalidMountConfig,
                Some("SecretNotFound"),
                Some("web-tls")
            )
        );
        let f = mount(
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"app-config\" not found",
        );
        assert_eq!(
            (f.code, f.subject.as_deref()),
            (Code::InvalidMountConfig, Some("app-config"))
        );
        let f = mount("MountVolume.SetUp failed for volume \"cfg\" : object \"prod\"/\"app-config\" not registered");
        assert_eq!(f.code, Code::InvalidMountConfig);
        let f = mount("MountVolume.SetUp failed for volume \"sock\" : hostPath type check failed: /var/run/app.sock is not a socket file");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::InvalidMountConfig, Some("HostPathType"))
        );
    }

    #[test]
    fn node_side_failures() {
        let f = mount("Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data kube-api-access-x]: timed out waiting for the condition");
        assert_eq!(
            (f.code, f.sub_reason.as_deref(), f.subject.as_deref()),
            (Code::FailedMount, Some("Timeout"), Some("data"))
        );
        let f = mount("MountVolume.MountDevice failed for volume \"pvc-1\" : kubernetes.io/csi: attacher.MountDevice failed to create newCsiDriverClient: driver name ebs.csi.aws.com not found in the list of registered CSI drivers");
        assert_eq!(
            (f.code, f.sub_reason.as_deref()),
            (Code::FailedMount, Some("CSIDriverMissing"))
        );
        let f = mount("MountVolume.SetUp failed for volume \"share\" : mount failed: exit status 32\nMounting command: mount\nOutput: mount error(13): Permission denied");
        assert_eq!(f.code, Code::FailedMount);
        assert!(!f.what.contains('\n'));
        let f = mount("MountVolume.WaitForAttach failed for volume \"pvc-2\" : volume attachment is being deleted");
        assert_eq!(f.code, Code::FailedAttachVolume);
    }

    #[test]
    fn attach_failures() {
        let f = classify_attach(&Msg::new(
            "Multi-Attach error for volume \"pvc-9\" Volume is already used by pod(s) web-0",
        ));
        assert_eq!(
            (f.code, f.sub_reason.as_deref(), f.subject.as_deref()),
            (Code::FailedAttachVolume, Some("MultiAttach"), Some("pvc-9"))
        );
        let f = classify_attach(&Msg::new("AttachVolume.Attach failed for volume \"pvc-3\" : rpc error: code = DeadlineExceeded desc = context deadline exceeded"));
        assert_eq!(f.sub_reason.as_deref(), Some("Timeout"));
    }
}
