//! Text helpers shared by the rules.
//!
//! Kubernetes messages change case and wrapping across versions and runtimes
//! ("NetworkPlugin cni" vs "networkPlugin cni", "Failed create pod sandbox" vs
//! "Failed to create pod sandbox", with or without "rpc error: code = Unknown
//! desc ="). The rules therefore match *lowercase* fragments of the structure
//! that survives those changes. [`Msg`] lowercases a message once per call
//! (ASCII only, so byte offsets stay valid in the original text) and offers
//! the few extraction helpers the rules need: quoted names after a marker,
//! bracketed lists, and a short "cause" suitable for a one-line summary.

/// Longest subject (image, volume, container...) kept from a message.
const MAX_SUBJECT_LEN: usize = 256;
/// Longest cause fragment quoted in a summary sentence.
const MAX_CAUSE_LEN: usize = 200;

/// A message and its ASCII-lowercased copy (same byte offsets).
pub(crate) struct Msg<'a> {
    /// The message as printed.
    pub(crate) raw: &'a str,
    /// `raw` with ASCII letters lowercased.
    pub(crate) lc: String,
}

impl<'a> Msg<'a> {
    /// Wraps `raw`, lowercasing it once.
    pub(crate) fn new(raw: &'a str) -> Self {
        Msg {
            raw,
            lc: raw.to_ascii_lowercase(),
        }
    }

    /// Whether the lowercase message contains `needle` (which must be lowercase).
    pub(crate) fn has(&self, needle: &str) -> bool {
        self.lc.contains(needle)
    }

    /// Whether the lowercase message contains any of `needles` (lowercase).
    pub(crate) fn any(&self, needles: &[&str]) -> bool {
        needles.iter().any(|n| self.lc.contains(n))
    }

    /// The first double-quoted string after the first occurrence of `marker`
    /// (lowercase), in original case. Tolerates escaped quotes (`\"x\"`, as in
    /// FailedSync messages) and whitespace between marker and quote.
    pub(crate) fn quoted_after(&self, marker: &str) -> Option<&'a str> {
        let start = self.lc.find(marker)? + marker.len();
        quoted_at(self.raw, start)
    }

    /// The first element of a `[a b c]` or `[a, b]` list after `marker`.
    pub(crate) fn first_list_item_after(&self, marker: &str) -> Option<&'a str> {
        let start = self.lc.find(marker)? + marker.len();
        let rest = self.raw.get(start..)?;
        let rest = rest.strip_prefix('[')?;
        let end = rest.find(']').unwrap_or(rest.len());
        rest[..end]
            .split([' ', ','])
            .find(|s| !s.is_empty())
            .map(cap_subject)
    }

    /// The whitespace/punctuation-delimited word after `marker` (original case).
    pub(crate) fn word_after(&self, marker: &str) -> Option<&'a str> {
        let start = self.lc.find(marker)? + marker.len();
        let rest = self.raw.get(start..)?.trim_start();
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | ':' | ';' | '"' | '(' | ')'))
            .unwrap_or(rest.len());
        let word = rest[..end].trim_end_matches('.');
        (!word.is_empty()).then(|| cap_subject(word))
    }
}

/// Reads a quoted string starting at byte `start` of `raw` (after optional
/// whitespace and a backslash), returning its content without escapes.
fn quoted_at(raw: &str, start: usize) -> Option<&str> {
    let rest = raw.get(start..)?;
    let rest = rest.trim_start_matches([' ', '\\']);
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    let inner = rest[..end].trim_end_matches('\\');
    (!inner.is_empty()).then(|| cap_subject(inner))
}

/// Caps a subject at [`MAX_SUBJECT_LEN`] bytes on a char boundary.
fn cap_subject(s: &str) -> &str {
    if s.len() <= MAX_SUBJECT_LEN {
        return s;
    }
    let mut end = MAX_SUBJECT_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Wrapper fragments that carry no meaning for a person reading a summary.
const NOISE_PREFIXES: [&str; 3] = [
    "(combined from similar events): ",
    "Error response from daemon: ",
    "Error: ",
];

/// A short, readable cause from a runtime error chain: drops gRPC and daemon
/// wrappers, shortens 64-hex container ids, trims a trailing `: unknown`, and
/// keeps the innermost (last) [`MAX_CAUSE_LEN`] bytes when still too long.
pub(crate) fn short_cause(raw: &str) -> String {
    let mut text = raw.trim().to_string();
    for prefix in NOISE_PREFIXES {
        while let Some(pos) = text.find(prefix) {
            text.replace_range(pos..pos + prefix.len(), "");
        }
    }
    strip_rpc_wrappers(&mut text);
    let mut text = shorten_hex_ids(&text);
    for suffix in [": unknown", ": Unknown"] {
        if let Some(stripped) = text.strip_suffix(suffix) {
            text = stripped.to_string();
        }
    }
    let text = text.trim().trim_end_matches('.').replace('\n', " ");
    if text.len() <= MAX_CAUSE_LEN {
        return text;
    }
    let mut start = text.len() - MAX_CAUSE_LEN;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

/// Removes every `rpc error: code = <Word> desc = ` wrapper in place.
fn strip_rpc_wrappers(text: &mut String) {
    const HEAD: &str = "rpc error: code = ";
    const DESC: &str = " desc = ";
    while let Some(pos) = text.find(HEAD) {
        let after = pos + HEAD.len();
        match text[after..].find(DESC) {
            Some(rel) if rel <= 24 => text.replace_range(pos..after + rel + DESC.len(), ""),
            _ => text.replace_range(pos..after, ""),
        }
    }
}

/// Shortens runs of 32+ hex digits (container/sandbox ids) to 12 + "...".
fn shorten_hex_ids(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_hexdigit() {
            let run_end = bytes[i..]
                .iter()
                .position(|b| !b.is_ascii_hexdigit())
                .map_or(bytes.len(), |p| i + p);
            if run_end - i >= 32 {
                out.push_str(&text[i..i + 12]);
                out.push_str("...");
            } else {
                out.push_str(&text[i..run_end]);
            }
            i = run_end;
        } else {
            let next = bytes[i..]
                .iter()
                .position(|b| b.is_ascii_hexdigit())
                .map_or(bytes.len(), |p| i + p);
            out.push_str(&text[i..next]);
            i = next;
        }
    }
    out
}

/// Human duration: "2.4 s", "94 s", "3m05s", "1h02m".
pub(crate) fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 120_000 {
        format!("{} s", ms / 1000)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

/// Whether `s` is a single CamelCase-like token such as `ErrImagePull`.
pub(crate) fn is_reason_token(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_after_handles_escapes_and_case() {
        let m = Msg::new(
            r#"failed to "StartContainer" for "nginx" with ImagePullBackOff: "Back-off pulling image \"nginx:1.2\"""#,
        );
        assert_eq!(m.quoted_after("pulling image "), Some("nginx:1.2"));
        assert_eq!(m.quoted_after(" for "), Some("nginx"));
        let m = Msg::new(r#"FAILED TO PULL IMAGE "Reg/App:V2": x"#);
        assert_eq!(m.quoted_after("pull image "), Some("Reg/App:V2"));
        assert_eq!(m.quoted_after("absent "), None);
    }

    #[test]
    fn list_and_word_extraction() {
        let m = Msg::new("list of unattached/unmounted volumes=[data token-x]");
        assert_eq!(m.first_list_item_after("volumes="), Some("data"));
        let m = Msg::new("Container egg was using 5Ki, which exceeds");
        assert_eq!(m.word_after("container "), Some("egg"));
    }

    #[test]
    fn short_cause_strips_wrappers_and_ids() {
        let cause = short_cause(
            "rpc error: code = Unknown desc = failed to setup network for sandbox \"3c05350cf5717b9bcf92a63ffafb7a3d27bd5ad1880de39272e72aa1661e637e\": plugin failed: unknown",
        );
        assert_eq!(
            cause,
            "failed to setup network for sandbox \"3c05350cf571...\": plugin failed"
        );
        let long = "x: ".repeat(200);
        assert!(short_cause(&long).len() <= MAX_CAUSE_LEN + 3);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(2_400), "2.4 s");
        assert_eq!(human_duration(94_000), "94 s");
        assert_eq!(human_duration(185_000), "3m05s");
        assert_eq!(human_duration(3_720_000), "1h02m");
        assert_eq!(human_duration(-5), "0.0 s");
    }

    #[test]
    fn reason_tokens() {
        assert!(is_reason_token("ErrImagePull"));
        assert!(!is_reason_token("context deadline exceeded"));
        assert!(!is_reason_token(""));
    }
}
