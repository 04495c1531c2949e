//! Redaction at the door.
//!
//! HyperEvents travel through Kafka and end up in ClickHouse and traces that
//! many people can read, so credentials must never get that far. Most of the
//! protection is structural: the typed parsers simply have no fields for
//! Secret/ConfigMap `data`/`stringData` or container `env`, and audit records
//! about secrets and configmaps are skipped before their bodies are parsed.
//! What remains are free-form strings that do reach the output (label and
//! annotation values, event messages); this module decides which of them to
//! replace with [`REDACTED`].

/// The replacement for a value that looks like a credential.
pub const REDACTED: &str = "<redacted>";

/// Annotation whose value is a whole manifest (may embed anything): always redacted.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Key fragments that mark a value as sensitive (compared case-insensitively).
const SENSITIVE_KEY_PARTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api-key",
    "api_key",
    "credential",
    "auth",
    "private-key",
    "private_key",
    "privatekey",
    "cert",
    "passphrase",
    "access-key",
    "access_key",
    "session",
];

/// Whether a label/annotation key names something sensitive.
pub fn key_is_sensitive(key: &str) -> bool {
    if key == LAST_APPLIED {
        return true;
    }
    // Keys are short; a lowercase copy on the stack-sized path is cheap enough.
    let lower = key.to_ascii_lowercase();
    SENSITIVE_KEY_PARTS.iter().any(|p| lower.contains(p))
}

/// Whether a value looks like a credential: a JWT, a PEM block, or a long
/// base64/hex blob.
pub fn value_looks_secret(value: &str) -> bool {
    if value.contains("-----BEGIN") {
        return true;
    }
    // `Bearer <jwt>`, `token=<blob>`: any word of the value counts.
    value
        .split(|c: char| c.is_whitespace() || matches!(c, '=' | ':' | '"' | '\'' | ','))
        .chain(std::iter::once(value))
        .any(|w| looks_like_jwt(w) || looks_like_blob(w))
}

/// `value`, or [`REDACTED`] when the key or the value is sensitive.
pub fn label_value<'v>(key: &str, value: &'v str) -> &'v str {
    if key_is_sensitive(key) || value_looks_secret(value) {
        REDACTED
    } else {
        value
    }
}

/// Replaces credential-looking words (JWTs, PEM blocks, long blobs) inside a
/// free-form message, keeping the rest so diagnosis still works.
pub fn scrub_message(message: &str) -> String {
    let needs = message.contains("-----BEGIN")
        || message.contains("eyJ")
        || message
            .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .any(looks_like_blob);
    if !needs {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len());
    let mut in_pem = false;
    for (i, word) in message.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.contains("-----BEGIN") {
            in_pem = true;
        }
        if in_pem {
            if word.contains("-----END") {
                in_pem = false;
                // Skip the rest of the END marker line word.
            }
            if !out.ends_with(REDACTED) && !out.ends_with(&format!("{REDACTED} ")) {
                out.push_str(REDACTED);
            }
            continue;
        }
        let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if looks_like_jwt(bare) || looks_like_blob(bare) {
            out.push_str(&word.replace(bare, REDACTED));
        } else {
            out.push_str(word);
        }
    }
    out
}

fn looks_like_jwt(v: &str) -> bool {
    let v = v.trim();
    if !v.starts_with("eyJ") {
        return false;
    }
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| p.len() >= 8)
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

/// 32+ characters of base64/hex alphabet without the separators names use:
/// mixed-case with a digit or base64 padding/symbols (base64), or hex with
/// many digits (tokens, hashes). Kubernetes names (lowercase words and
/// dashes) and CamelCase identifiers are not flagged.
fn looks_like_blob(v: &str) -> bool {
    let v = v.trim();
    if v.len() < 32 {
        return false;
    }
    let alphabet_ok = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-'));
    if !alphabet_ok {
        return false;
    }
    let dashes = v.bytes().filter(|b| *b == b'-').count();
    if dashes * 8 >= v.len() {
        return false;
    }
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    let upper = v.bytes().any(|b| b.is_ascii_uppercase());
    let lower = v.bytes().any(|b| b.is_ascii_lowercase());
    let symbols = v.bytes().any(|b| matches!(b, b'+' | b'/' | b'='));
    let base64 = upper && lower && (digits >= 1 || symbols);
    let hex = v.bytes().all(|b| b.is_ascii_hexdigit()) && digits >= 8;
    base64 || hex
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

    #[test]
    fn sensitive_keys() {
        assert!(key_is_sensitive("db-password"));
        assert!(key_is_sensitive("X-API-KEY"));
        assert!(key_is_sensitive(
            "kubectl.kubernetes.io/last-applied-configuration"
        ));
        assert!(key_is_sensitive("example.com/auth-header"));
        assert!(!key_is_sensitive("app"));
        assert!(!key_is_sensitive("pod-template-hash"));
    }

    #[test]
    fn secret_values() {
        assert!(value_looks_secret(JWT));
        assert!(value_looks_secret(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."
        ));
        assert!(value_looks_secret(
            "c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZy1lbm91Z2gxMjM0"
        ));
        assert!(value_looks_secret(&format!("Bearer {JWT}")));
        assert!(value_looks_secret(
            "password=c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZy1lbm91Z2gxMjM0"
        ));
        assert!(!value_looks_secret("nginx-deployment-5cdcc99dbf"));
        assert!(!value_looks_secret("web"));
        assert!(!value_looks_secret(
            "my-application-with-a-rather-long-name-v2"
        ));
        assert!(!value_looks_secret(
            "ThisIsAVeryLongCamelCaseIdentifierName"
        ));
        assert!(value_looks_secret(
            "UExBTlRFRC1CQVNFNjQtdmFsdWUtMTIzNDU2Nzg5MA=="
        ));
        assert!(value_looks_secret(
            "3f2a9c0d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f"
        ));
    }

    #[test]
    fn label_values() {
        assert_eq!(label_value("app", "web"), "web");
        assert_eq!(label_value("token", "web"), REDACTED);
        assert_eq!(label_value("x", JWT), REDACTED);
    }

    #[test]
    fn scrubs_inside_messages() {
        let m = format!("Failed to pull image \"x\": auth {JWT} rejected");
        let s = scrub_message(&m);
        assert!(!s.contains("eyJhbGci"), "{s}");
        assert!(s.contains("Failed to pull image"));
        let pem =
            "cert -----BEGIN CERTIFICATE----- MIIBkTCB+wIJAK abc -----END CERTIFICATE----- done";
        let s = scrub_message(pem);
        assert!(!s.contains("MIIBkTCB"), "{s}");
        assert!(s.ends_with("done"), "{s}");
        let plain = "Back-off pulling image \"registry/app:v2\"";
        assert_eq!(scrub_message(plain), plain);
    }
}
