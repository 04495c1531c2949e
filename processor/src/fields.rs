//! Fields read out of event texts: the image of a `Pulling`/`Pulled`
//! message, the pull duration the kubelet prints, the container an event is
//! about. (Operation strings are split once per distinct string, in
//! `opplan.rs`.)
//!
//! Why apart from `pod.rs`: these are pure text functions, shared by the
//! lifecycle rules and the span matchers, and each runs on the per-event hot
//! path, so they use `memchr`/byte scans rather than regexes or splitting
//! allocations.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// Searchers for the fixed phrases of `Pulled` messages, built once:
/// building one per message (as `str::contains` does) cost more than the
/// search, and `Pulled` texts carry a duration, so they never repeat.
static ALREADY_PRESENT: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new("already present"));
static INCLUDING_WAITING: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new("including waiting"));

/// The first `"..."` in a message (the image of `Pulling`/`Pulled`).
pub(crate) fn first_quoted(msg: &str) -> Option<&str> {
    let a = memchr::memchr(b'"', msg.as_bytes())?;
    let rest = &msg[a + 1..];
    let b = memchr::memchr(b'"', rest.as_bytes())?;
    Some(&rest[..b])
}

/// The pull duration of a `Pulled` message, µs: 0 when the image was
/// already present, -1 when no duration is printed.
pub(crate) fn pull_duration_us(msg: &str) -> i64 {
    // A report of a pull starts so (kubelet 1.10 through 1.31); only other
    // texts need the search for "already present" through the whole message.
    if !msg.starts_with("Successfully pulled") && ALREADY_PRESENT.find(msg.as_bytes()).is_some() {
        0
    } else {
        pulled_duration(msg).unwrap_or(-1)
    }
}

/// `Successfully pulled image "x" in 3.2s (3.5s including waiting)`: the
/// duration including waiting when printed (it covers the whole time since
/// `Pulling`), else the plain one.
pub(crate) fn pulled_duration(msg: &str) -> Option<i64> {
    // The last `" in ` (as `rfind`, without building a Two-Way searcher for
    // every message: the pattern starts with the only `"` it has).
    let bytes = msg.as_bytes();
    let at = memchr::memrchr_iter(b'"', bytes).find(|&i| bytes[i..].starts_with(b"\" in "))?;
    let after = &msg[at + 5..];
    let first = after.split_whitespace().next()?;
    if let Some(open) = memchr::memchr(b'(', after.as_bytes()) {
        let inner = &after[open + 1..];
        if let Some(w) = inner.split_whitespace().next() {
            if INCLUDING_WAITING.find(inner.as_bytes()).is_some() {
                if let Ok(v) = crate::duration::parse_go_duration(w) {
                    return Some(v);
                }
            }
        }
    }
    // The plain duration only when the one including waiting is absent.
    crate::duration::parse_go_duration(first.trim_end_matches([',', '.'])).ok()
}

/// The container an event is about: `spec.containers{name}` /
/// `spec.initContainers{name}` in the field path, else the word after
/// "container" in the message.
pub(crate) fn container_of<'a>(field_path: &'a str, msg: &'a str) -> Option<(&'a str, bool)> {
    // `memchr` rather than `str::find(char)`, whose searcher setup cost more
    // than the scan on these short paths.
    if let Some(open) = memchr::memchr(b'{', field_path.as_bytes()) {
        let close = memchr::memchr(b'}', &field_path.as_bytes()[open..])? + open;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The `str::rfind`/`contains` version the byte scans replaced.
    fn reference(msg: &str) -> Option<i64> {
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

    #[test]
    fn pulled_duration_equals_the_reference() {
        for msg in [
            "Successfully pulled image \"r/a:1\" in 3.2s (3.5s including waiting). Image size: 5 bytes.",
            "Successfully pulled image \"r/a:1\" in 3.2s (3.5s including waiting)",
            "Successfully pulled image \"r/a:1\" in 1m2.5s",
            "Successfully pulled image \"r/a:1\" in 250ms (x)",
            "Successfully pulled image \"r/a\" in x\" in 2s, (4s including waiting)",
            "Successfully pulled image \"r/a:1\" in ",
            "Container image \"r/a:1\" already present on machine",
            "\" in \" in 7s",
            "no quotes",
            "",
            "\"",
            "é\" in 1s (é including waiting)",
        ] {
            assert_eq!(pulled_duration(msg), reference(msg), "{msg}");
        }
    }
}
