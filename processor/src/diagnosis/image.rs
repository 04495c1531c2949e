//! Image pull failures: why a registry did not deliver an image.
//!
//! The same failure is printed differently by dockershim ("Error response
//! from daemon: manifest for x not found"), containerd ("failed to resolve
//! reference \"x\": x: not found"), CRI-O ("reading manifest v2 in x: manifest
//! unknown") and the 1.28+ kubelet (which drops "rpc error: code = Unknown
//! desc ="). What survives is the registry's own vocabulary (OCI distribution
//! error codes and HTTP status phrases): `manifest unknown`, `not found`,
//! `unauthorized`, `denied`, `toomanyrequests`, `429 Too Many Requests`...
//!
//! Order matters where texts overlap: local disk exhaustion first (the node,
//! not the registry, is at fault); rate limiting before auth (Docker Hub's 429
//! text mentions authenticating); docker's explicit "pull access denied" before
//! "not found" (its text says "repository does not exist or may require
//! docker login"); "not found" before auth (quay says "no credentials ...
//! Tag x not found"); DNS failures before "not found" ("no such host").

use super::codes::Code;
use super::finding::Finding;
use super::text::{short_cause, Msg};

/// Fragments of a registry saying the image/tag/repository does not exist.
const NOT_FOUND: [&str; 7] = [
    "manifest unknown",
    "not found",
    "name unknown",
    "does not exist",
    "no such image",
    "no matching manifest",
    "404 not found",
];

/// Fragments of a registry refusing access.
const DENIED: [&str; 13] = [
    "unauthorized",
    "authentication required",
    "401 unauthorized",
    "403 forbidden",
    "forbidden",
    "denied",
    "no basic auth credentials",
    "insufficient_scope",
    "failed to authorize",
    "authorization failed",
    "invalid username/password",
    "not authorized",
    "no credentials",
];

/// Fragments of rate limiting (Docker Hub, quay, GHCR, mirrors).
const RATE_LIMITED: [&str; 4] = [
    "toomanyrequests",
    "too many requests",
    "rate limit",
    "ratelimit",
];

/// Classifies the text of a failed pull ("Failed to pull image \"x\": ...",
/// an ErrImagePull/ImagePullBackOff status message...). `image_hint` is used
/// when the text does not quote the image.
pub(crate) fn classify_pull(m: &Msg<'_>, image_hint: Option<&str>) -> Finding {
    let image = m
        .quoted_after("pull image ")
        .or_else(|| m.quoted_after("pulling image "))
        .or_else(|| m.quoted_after("inspect image "))
        .or_else(|| m.quoted_after("image "))
        .or(image_hint);
    let named = image
        .map(|i| format!("image \"{i}\""))
        .unwrap_or_else(|| "the image".into());
    let cause = short_cause(detail_after_image(m));

    if m.any(&[
        "failed to apply default image tag",
        "couldn't parse image reference",
        "invalid reference format",
        "invalidimagename",
    ]) {
        return Finding::of(
            Code::InvalidImageName,
            None,
            image,
            format!("{named} is not a valid image reference: {cause}"),
        );
    }
    if m.has("no space left on device") {
        return Finding::of(
            Code::NoDiskSpace,
            Some("ImagePull"),
            image,
            format!("the node ran out of disk space while pulling {named}"),
        );
    }
    if m.any(&RATE_LIMITED) || m.has("429 ") {
        return Finding::of(
            Code::ImagePullRateLimited,
            None,
            image,
            format!("the registry rate-limited the pull of {named}"),
        );
    }
    if m.has("pull access denied") {
        return Finding::of(
            Code::ImagePullAccessDenied,
            Some("PullAccessDenied"),
            image,
            format!("the registry denied access to {named} (private repository or missing credentials, or it does not exist)"),
        );
    }
    if m.any(&["no such host", "server misbehaving"]) {
        return network(m, image, &named, cause);
    }
    if m.any(&NOT_FOUND) {
        let sub = if m.has("no matching manifest") {
            "PlatformMismatch"
        } else {
            "NotFound"
        };
        return Finding::of(
            Code::ImageNotFound,
            Some(sub),
            image,
            format!("{named} was not found in its registry: {cause}"),
        );
    }
    if m.any(&DENIED) || m.any(&["signature", "source image rejected"]) {
        let sub = if m.any(&["signature", "source image rejected"]) {
            "PolicyRejected"
        } else {
            "Unauthorized"
        };
        return Finding::of(
            Code::ImagePullAccessDenied,
            Some(sub),
            image,
            format!("the registry refused to serve {named}: {cause}"),
        );
    }
    network(m, image, &named, cause)
}

/// Everything else: the registry could not be reached or the transfer failed.
fn network(m: &Msg<'_>, image: Option<&str>, named: &str, cause: String) -> Finding {
    let sub = if m.any(&["no such host", "server misbehaving", "lookup "]) {
        "DNS"
    } else if m.any(&["x509", "certificate", "tls:"]) {
        "TLS"
    } else if m.has("connection refused") {
        "ConnectionRefused"
    } else if m.any(&["deadline exceeded", "timeout", "timed out", "code = 4 "]) {
        "Timeout"
    } else if m.any(&["connection reset", "eof", "broken pipe"]) {
        "ConnectionReset"
    } else if m.has("registryunavailable") {
        "RegistryUnavailable"
    } else {
        "Other"
    };
    Finding::of(
        Code::FailedPullImage,
        Some(sub),
        image,
        format!("{named} could not be pulled: {cause}"),
    )
}

/// The part of the message after the quoted image name (the error chain).
fn detail_after_image<'a>(m: &Msg<'a>) -> &'a str {
    for marker in ["pull image \"", "pulling image \"", "inspect image \""] {
        if let Some(pos) = m.find(marker) {
            let rest = &m.raw[pos + marker.len()..];
            if let Some(close) = rest.find('"') {
                let after = rest[close + 1..].trim_start_matches([':', ' ']);
                if !after.is_empty() {
                    return after;
                }
            }
        }
    }
    m.raw
}

/// A back-off or ErrImagePull status without a cause: the pull keeps failing.
pub(crate) fn back_off(image: Option<&str>, sub_reason: &str) -> Finding {
    let named = image
        .map(|i| format!("image \"{i}\""))
        .unwrap_or_else(|| "an image".into());
    Finding::of(
        Code::ImagePullBackOff,
        Some(sub_reason),
        image,
        format!("pulls of {named} keep failing; the kubelet is backing off"),
    )
}

/// ErrImageNeverPull: not on the node, and imagePullPolicy is Never.
pub(crate) fn never_pull(m: &Msg<'_>) -> Finding {
    let image = m
        .quoted_after("image ")
        .or_else(|| m.quoted_after("container image "));
    let named = image
        .map(|i| format!("image \"{i}\""))
        .unwrap_or_else(|| "the image".into());
    Finding::of(
        Code::ErrImageNeverPull,
        None,
        image,
        format!("{named} is not present on the node and the pull policy is Never"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(msg: &str) -> &'static str {
        classify_pull(&Msg::new(msg), None).code.as_str()
    }

    #[test]
    fn not_found_across_runtimes() {
        // dockershim
        assert_eq!(code_of("Failed to pull image \"acme/web:9\": rpc error: code = Unknown desc = Error response from daemon: manifest for acme/web:9 not found"), "ImageNotFound");
        // containerd, pre-1.28 and 1.28+ (no rpc prefix)
        assert_eq!(code_of("Failed to pull image \"docker.io/acme/web:9\": rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/acme/web:9\": failed to resolve reference \"docker.io/acme/web:9\": docker.io/acme/web:9: not found"), "ImageNotFound");
        assert_eq!(code_of("Failed to pull image \"docker.io/acme/web:9\": failed to pull and unpack image \"docker.io/acme/web:9\": failed to resolve reference \"docker.io/acme/web:9\": docker.io/acme/web:9: not found"), "ImageNotFound");
        // CRI-O
        assert_eq!(code_of("Failed to pull image \"quay.io/acme/web:9\": rpc error: code = Unknown desc = reading manifest 9 in quay.io/acme/web: manifest unknown: manifest unknown"), "ImageNotFound");
        assert_eq!(code_of("Failed to pull image \"acme/web\": no matching manifest for linux/arm64 in the manifest list entries"), "ImageNotFound");
    }

    #[test]
    fn access_denied_variants() {
        assert_eq!(code_of("Failed to pull image \"ghcr.io/acme/priv:1\": failed to pull and unpack image \"ghcr.io/acme/priv:1\": failed to resolve reference \"ghcr.io/acme/priv:1\": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized"), "ImagePullAccessDenied");
        assert_eq!(code_of("Failed to pull image \"123.dkr.ecr.us-east-1.amazonaws.com/app:1\": rpc error: code = Unknown desc = Error response from daemon: Get https://123.dkr.ecr.us-east-1.amazonaws.com/v2/app/manifests/1: no basic auth credentials"), "ImagePullAccessDenied");
        assert_eq!(code_of("Failed to pull image \"registry.local/app:1\": rpc error: code = Unknown desc = unable to retrieve auth token: invalid username/password: unauthorized: authentication required"), "ImagePullAccessDenied");
        assert_eq!(code_of("Failed to pull image \"private/app\": Error response from daemon: pull access denied for private/app, repository does not exist or may require 'docker login'"), "ImagePullAccessDenied");
        assert_eq!(code_of("Failed to pull image \"r.example/app:1\": rpc error: code = Unknown desc = Source image rejected: A signature was required, but no signature exists"), "ImagePullAccessDenied");
    }

    #[test]
    fn rate_limits_network_and_disk() {
        assert_eq!(code_of("Failed to pull image \"redis:7\": rpc error: code = Unknown desc = failed to pull and unpack image \"docker.io/library/redis:7\": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/redis/manifests/sha256:aa: 429 Too Many Requests"), "ImagePullRateLimited");
        assert_eq!(code_of("Failed to pull image \"registry.internal/app:1\": rpc error: code = Unknown desc = failed to pull and unpack image: failed to resolve reference: failed to do request: Head \"https://registry.internal/v2/app/manifests/1\": dial tcp: lookup registry.internal on 10.96.0.10:53: no such host"), "FailedPullImage");
        assert_eq!(code_of("Failed to pull image \"app:1\": failed to pull and unpack image \"docker.io/library/app:1\": failed to copy: read tcp 10.0.0.4:51234->104.18.1.1:443: read: connection reset by peer"), "FailedPullImage");
        assert_eq!(code_of("Failed to pull image \"app:1\": rpc error: code = Canceled desc = copying config: context canceled"), "FailedPullImage");
        assert_eq!(code_of("Failed to pull image \"big:1\": failed to pull and unpack image \"docker.io/library/big:1\": failed to extract layer sha256:01: mkdir /var/lib/containerd/tmp: no space left on device"), "NoDiskSpace");
        let f = classify_pull(&Msg::new("Failed to pull image \"a:1\": rpc error: code = DeadlineExceeded desc = context deadline exceeded"), None);
        assert_eq!(
            (f.sub_reason.as_deref(), f.subject.as_deref()),
            (Some("Timeout"), Some("a:1"))
        );
        assert_eq!(
            f.what,
            "image \"a:1\" could not be pulled: context deadline exceeded"
        );
    }

    #[test]
    fn digests_do_not_fake_status_codes() {
        // "401"/"404" inside a digest must not look like an HTTP status.
        assert_eq!(
            code_of("Failed to pull image \"a@sha256:4014044290\": failed to copy: unexpected EOF"),
            "FailedPullImage"
        );
    }

    #[test]
    fn invalid_names() {
        assert_eq!(code_of("Failed to apply default image tag \"Repo/App:Latest\": couldn't parse image reference \"Repo/App:Latest\": invalid reference format: repository name must be lowercase"), "InvalidImageName");
    }
}
