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

/// Longest message prefix the rules read (bytes).
const MAX_SCANNED_LEN: usize = 16 * 1024;
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
    /// Bigram filter over `lc` (see [`Bigrams`]).
    bigrams: Bigrams,
}

/// A 4096-bit set of the byte pairs present in a text. The rules ask ~50
/// "does the message contain X?" questions per message and most answers are
/// no; a needle with a pair absent from the set is answered without scanning.
#[derive(Clone)]
struct Bigrams([u64; 64]);

impl Bigrams {
    fn slot(a: u8, b: u8) -> usize {
        (((a as usize) << 5) ^ (b as usize).wrapping_mul(7)) & 4095
    }

    fn of(text: &[u8]) -> Bigrams {
        let mut bits = [0u64; 64];
        for pair in text.windows(2) {
            let slot = Bigrams::slot(pair[0], pair[1]);
            bits[slot >> 6] |= 1 << (slot & 63);
        }
        Bigrams(bits)
    }

    /// False when `needle` certainly does not occur in the text.
    fn may_contain(&self, needle: &[u8]) -> bool {
        needle.windows(2).all(|pair| {
            let slot = Bigrams::slot(pair[0], pair[1]);
            self.0[slot >> 6] & (1 << (slot & 63)) != 0
        })
    }
}

impl<'a> Msg<'a> {
    /// Wraps `raw`, lowercasing it once.
    /// Only the first [`MAX_SCANNED_LEN`] bytes are kept: causes sit at the
    /// head of a message, and it bounds the cost of a pathological input.
    pub(crate) fn new(raw: &'a str) -> Self {
        let raw = truncate_at_boundary(raw, MAX_SCANNED_LEN);
        let lc = raw.to_ascii_lowercase();
        let bigrams = Bigrams::of(lc.as_bytes());
        Msg { raw, lc, bigrams }
    }

    /// Byte offset of the first `needle` (lowercase) in the lowercase message.
    pub(crate) fn find(&self, needle: &str) -> Option<usize> {
        if !self.bigrams.may_contain(needle.as_bytes()) {
            return None;
        }
        find_bytes(self.lc.as_bytes(), needle.as_bytes())
    }

    /// A message restricted to its first `end` bytes (a char boundary).
    pub(crate) fn prefix(&self, end: usize) -> Msg<'a> {
        Msg::new(&self.raw[..end])
    }

    /// Whether the lowercase message contains `needle` (which must be lowercase).
    pub(crate) fn has(&self, needle: &str) -> bool {
        self.find(needle).is_some()
    }

    /// Whether the lowercase message contains any of `needles` (lowercase).
    pub(crate) fn any(&self, needles: &[&str]) -> bool {
        needles.iter().any(|n| self.has(n))
    }

    /// The first double-quoted string after the first occurrence of `marker`
    /// (lowercase), in original case. Tolerates escaped quotes (`\"x\"`, as in
    /// FailedSync messages) and whitespace between marker and quote.
    pub(crate) fn quoted_after(&self, marker: &str) -> Option<&'a str> {
        let start = self.find(marker)? + marker.len();
        quoted_at(self.raw, start)
    }

    /// The first element of a `[a b c]` or `[a, b]` list after `marker`.
    pub(crate) fn first_list_item_after(&self, marker: &str) -> Option<&'a str> {
        let start = self.find(marker)? + marker.len();
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
        let start = self.find(marker)? + marker.len();
        let rest = self.raw.get(start..)?.trim_start();
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | ':' | ';' | '"' | '(' | ')'))
            .unwrap_or(rest.len());
        let word = rest[..end].trim_end_matches('.');
        (!word.is_empty()).then(|| cap_subject(word))
    }
}

/// `s` cut to at most `max` bytes on a char boundary.
fn truncate_at_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Substring search for the short literal needles the rules use.
///
/// Why not `str::find` or `memchr::memmem::find`: both build a searcher per
/// call (Two-Way tables, SIMD prefilter selection), which cost more than the
/// search itself for 10-40 byte needles over a few hundred bytes and
/// dominated classification time. Here: anchor on the needle's rarest byte
/// (English letter frequency), `memchr` to candidates, compare in place.
pub(crate) fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    if needle.len() > hay.len() {
        return None;
    }
    let anchor = rarest_byte_index(needle);
    let anchor_byte = needle[anchor];
    // Candidate anchor positions lie in [anchor, hay.len() - (needle.len() - anchor)].
    let last = hay.len() - (needle.len() - anchor);
    let mut from = anchor;
    while from <= last {
        let rel = memchr::memchr(anchor_byte, &hay[from..=last])?;
        let start = from + rel - anchor;
        if &hay[start..start + needle.len()] == needle {
            return Some(start);
        }
        from += rel + 1;
    }
    None
}

/// Index of the byte of `needle` least likely to occur in log text.
fn rarest_byte_index(needle: &[u8]) -> usize {
    let mut best = 0;
    for (i, &b) in needle.iter().enumerate() {
        if COMMONNESS[b as usize] < COMMONNESS[needle[best] as usize] {
            best = i;
        }
    }
    best
}

/// How common a byte is in log text (higher = more common): space and the
/// frequent English letters high, rare letters and most symbols low.
static COMMONNESS: [u8; 256] = {
    let mut table = [100u8; 256];
    let ranked: [(&[u8], u8); 12] = [
        (b" ", 255),
        (b"e", 250),
        (b"t", 240),
        (b"aoin", 230),
        (b"srh", 220),
        (b"dlcu", 200),
        (b"mfpg", 180),
        (b"wybv", 150),
        (b"0123456789", 140),
        (b"/\":.,-=", 130),
        (b"k", 120),
        (b"xjqz", 90),
    ];
    let mut r = 0;
    while r < ranked.len() {
        let (bytes, score) = ranked[r];
        let mut i = 0;
        while i < bytes.len() {
            table[bytes[i] as usize] = score;
            i += 1;
        }
        r += 1;
    }
    table
};

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
        while let Some(pos) = find_bytes(text.as_bytes(), prefix.as_bytes()) {
            text.replace_range(pos..pos + prefix.len(), "");
        }
    }
    strip_rpc_wrappers(&mut text);
    if has_hex_run(text.as_bytes()) {
        text = shorten_hex_ids(&text);
    }
    for suffix in [": unknown", ": Unknown"] {
        if text.ends_with(suffix) {
            text.truncate(text.len() - suffix.len());
        }
    }
    let mut text = text.trim().trim_end_matches('.').to_string();
    if text.contains('\n') {
        text = text.replace('\n', " ");
    }
    if text.len() <= MAX_CAUSE_LEN {
        return text;
    }
    let mut start = text.len() - MAX_CAUSE_LEN;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

/// Whether `bytes` holds a run of 32+ hex digits. Skips ahead 32 bytes at a
/// time: a run of 32 must cover the byte 31 past any start, so a non-hex byte
/// there rules out every start before it.
fn has_hex_run(bytes: &[u8]) -> bool {
    const RUN: usize = 32;
    let mut start = 0;
    while start + RUN <= bytes.len() {
        match bytes[start..start + RUN]
            .iter()
            .rposition(|b| !b.is_ascii_hexdigit())
        {
            None => return true,
            Some(bad) => start += bad + 1,
        }
    }
    false
}

/// Removes every `rpc error: code = <Word> desc = ` wrapper in place.
fn strip_rpc_wrappers(text: &mut String) {
    const HEAD: &str = "rpc error: code = ";
    const DESC: &str = " desc = ";
    while let Some(pos) = find_bytes(text.as_bytes(), HEAD.as_bytes()) {
        let after = pos + HEAD.len();
        // Only a code word (<= 24 bytes) may separate the two: search that
        // window, not the rest of a long message.
        let window = &text.as_bytes()[after..(after + 24 + DESC.len()).min(text.len())];
        match find_bytes(window, DESC.as_bytes()) {
            Some(rel) => text.replace_range(pos..after + rel + DESC.len(), ""),
            _ => text.replace_range(pos..after, ""),
        }
    }
}

/// Shortens runs of 32+ hex digits (container/sandbox ids) to 12 + "...".
///
/// Copies the text between long runs in one piece: words are full of hex
/// letters (`failed` is all hex), so copying run by run cost a call per
/// fragment of every word.
fn shorten_hex_ids(text: &str) -> String {
    const RUN: usize = 32;
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_hexdigit() {
            i += 1;
            continue;
        }
        let run_end = bytes[i..]
            .iter()
            .position(|b| !b.is_ascii_hexdigit())
            .map_or(bytes.len(), |p| i + p);
        if run_end - i >= RUN {
            // Hex digits are ASCII, so both cuts are char boundaries.
            out.push_str(&text[copied..i + 12]);
            out.push_str("...");
            copied = run_end;
        }
        i = run_end;
    }
    out.push_str(&text[copied..]);
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

    /// The run-by-run version `shorten_hex_ids` replaced.
    fn shorten_hex_ids_reference(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes[i].is_ascii_hexdigit();
            let end = bytes[i..]
                .iter()
                .position(|b| b.is_ascii_hexdigit() != hex)
                .map_or(bytes.len(), |p| i + p);
            if hex && end - i >= 32 {
                out.push_str(&text[i..i + 12]);
                out.push_str("...");
            } else {
                out.push_str(&text[i..end]);
            }
            i = end;
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn shorten_hex_ids_equals_the_reference(
            parts in proptest::collection::vec(("[0-9a-fA-F]{0,40}", "[ g-zé:/_-]{0,6}"), 0..8)
        ) {
            let text: String = parts.iter().map(|(h, o)| format!("{h}{o}")).collect();
            proptest::prop_assert_eq!(shorten_hex_ids(&text), shorten_hex_ids_reference(&text));
        }

        #[test]
        fn rpc_wrappers_stripped_as_before(
            code in "[A-Za-z]{0,30}", tail in "[ a-z]{0,40}", lead in "[ a-z:]{0,10}"
        ) {
            let raw = format!("{lead}rpc error: code = {code} desc = {tail}");
            let mut fast = raw.clone();
            strip_rpc_wrappers(&mut fast);
            // The former search: first " desc = " anywhere after the head.
            let after = lead.len() + "rpc error: code = ".len();
            let expected = match raw[after..].find(" desc = ") {
                Some(rel) if rel <= 24 => format!("{lead}{}", &raw[after + rel + 8..]),
                _ => format!("{lead}{}", &raw[after..]),
            };
            // (`tail`'s characters cannot spell a second wrapper.)
            proptest::prop_assert_eq!(fast, expected);
        }
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
    fn find_bytes_agrees_with_std() {
        let hay = "failed to setup network for sandbox: plugin type=\"calico\" failed (add)";
        for needle in [
            "",
            "f",
            "failed",
            "(add)",
            "type=\"",
            "calico",
            "zzz",
            "failed (add)x",
            hay,
        ] {
            assert_eq!(
                find_bytes(hay.as_bytes(), needle.as_bytes()),
                hay.find(needle),
                "{needle}"
            );
        }
        assert_eq!(find_bytes(b"ab", b"abc"), None);
        assert_eq!(find_bytes(b"xxzzxz", b"xz"), Some(1));
        assert_eq!(find_bytes(b"zzx", b"zx"), Some(1));
        assert_eq!(find_bytes(b"qaqab", b"qab"), Some(2));
        assert!(has_hex_run(
            b"sandbox \"3c05350cf5717b9bcf92a63ffafb7a3d27bd\""
        ));
        assert!(!has_hex_run(
            b"sandbox \"3c05350cf5717b9bcf92a63ffafb7a3\" deadbeef"
        ));
    }

    #[test]
    fn reason_tokens() {
        assert!(is_reason_token("ErrImagePull"));
        assert!(!is_reason_token("context deadline exceeded"));
        assert!(!is_reason_token(""));
    }
}
