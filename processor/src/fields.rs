//! Fields read out of operation strings and event texts: the segments of an
//! operation, the image of a `Pulling`/`Pulled` message, the pull duration
//! the kubelet prints, the container an event is about.
//!
//! Why apart from `pod.rs`: these are pure text functions, shared by the
//! lifecycle rules and the span matchers, and each runs on the per-event hot
//! path, so they use `memchr`/byte scans rather than regexes or splitting
//! allocations.

use smallvec::SmallVec;

/// The `:`-separated segments of an operation string, split once for both
/// the lifecycle rules and the span matchers. A plain byte loop: operation
/// strings are ~20-40 bytes, shorter than what a `memchr` iterator's setup
/// pays off for.
pub(crate) fn split_op(op: &str) -> SmallVec<[&str; 6]> {
    let mut segs = SmallVec::new();
    let mut from = 0;
    for (i, &b) in op.as_bytes().iter().enumerate() {
        if b == b':' {
            // `:` is ASCII, so both ends are char boundaries.
            segs.push(&op[from..i]);
            from = i + 1;
        }
    }
    segs.push(&op[from..]);
    segs
}

/// The first `"..."` in a message (the image of `Pulling`/`Pulled`).
pub(crate) fn first_quoted(msg: &str) -> Option<&str> {
    let a = memchr::memchr(b'"', msg.as_bytes())?;
    let rest = &msg[a + 1..];
    let b = memchr::memchr(b'"', rest.as_bytes())?;
    Some(&rest[..b])
}

/// `Successfully pulled image "x" in 3.2s (3.5s including waiting)`: the
/// duration including waiting when printed (it covers the whole time since
/// `Pulling`), else the plain one.
pub(crate) fn pulled_duration(msg: &str) -> Option<i64> {
    let after = &msg[msg.rfind("\" in ").map(|i| i + 5)?..];
    let first = after.split_whitespace().next()?;
    let plain = crate::duration::parse_go_duration(first.trim_end_matches([',', '.'])).ok();
    if let Some(open) = after.find('(') {
        let inner = &after[open + 1..];
        if let Some(w) = inner.split_whitespace().next() {
            if inner.contains("including waiting") {
                if let Ok(v) = crate::duration::parse_go_duration(w) {
                    return Some(v);
                }
            }
        }
    }
    plain
}

/// The container an event is about: `spec.containers{name}` /
/// `spec.initContainers{name}` in the field path, else the word after
/// "container" in the message.
pub(crate) fn container_of<'a>(field_path: &'a str, msg: &'a str) -> Option<(&'a str, bool)> {
    if let Some(open) = field_path.find('{') {
        let close = field_path[open..].find('}')? + open;
        let init = field_path.starts_with("spec.initContainers");
        return Some((&field_path[open + 1..close], init));
    }
    let i = msg.find("ontainer")?;
    let rest = msg[i + 8..].trim_start_matches([':', ' ']);
    let name = rest
        .trim_start_matches('"')
        .split(|c: char| c == '"' || c.is_whitespace())
        .next()?;
    (!name.is_empty()).then_some((name, false))
}
