//! Deterministic ids. Replaying the same input must give the same ids, so
//! sinks de-duplicate by id and a replay never duplicates a trace (the
//! original used random trace ids). SHA-256 over length-prefixed fields: it
//! runs once per output record, not per input event, so its cost is noise.

use lunettes_schemas::{Action, WindowWidth};
use sha2::{Digest, Sha256};

fn digest(domain: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(domain.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Delivery id: 32 hex chars of SHA-256("delivery", cluster, pod key, action).
pub fn delivery_id(cluster: &str, pod_key: &str, action: Action) -> String {
    let d = digest(
        "delivery",
        &[
            cluster.as_bytes(),
            pod_key.as_bytes(),
            action.as_str().as_bytes(),
        ],
    );
    hex(&d[..16])
}

/// Trace id: 32 hex chars of SHA-256("trace", cluster, pod key, action).
pub fn trace_id(cluster: &str, pod_key: &str, action: Action) -> String {
    let d = digest(
        "trace",
        &[
            cluster.as_bytes(),
            pod_key.as_bytes(),
            action.as_str().as_bytes(),
        ],
    );
    hex(&d[..16])
}

/// Span id: 16 hex chars of SHA-256("span", trace id, span name, instance).
pub fn span_id(trace_id: &str, span_name: &str, instance: &str) -> String {
    let d = digest(
        "span",
        &[
            trace_id.as_bytes(),
            span_name.as_bytes(),
            instance.as_bytes(),
        ],
    );
    hex(&d[..8])
}

/// Window row id: 32 hex chars of SHA-256 over (shard, cluster, namespace, action, width, start).
pub fn window_id(
    shard: i32,
    cluster: &str,
    namespace: &str,
    action: Action,
    width: WindowWidth,
    start_us: i64,
) -> String {
    let d = digest(
        "window",
        &[
            &shard.to_le_bytes(),
            cluster.as_bytes(),
            namespace.as_bytes(),
            action.as_str().as_bytes(),
            width.as_str().as_bytes(),
            &start_us.to_le_bytes(),
        ],
    );
    hex(&d[..16])
}
