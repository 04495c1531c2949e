//! A tiny append-only JSON writer.
//!
//! The simulator writes hundreds of megabytes of audit JSON in a test run, and
//! building `serde_json::Value` trees for that is slow in debug builds (one
//! allocation per key). Writing straight into a `String` keeps the hot path in
//! `std` (compiled with optimisations even in debug builds) and keeps the key
//! order exactly as written, which is what determinism needs.

use std::fmt::Write as _;

/// Appends `s` as a JSON string literal (with quotes) to `buf`. Runs of
/// plain bytes are copied in one go; only the bytes needing an escape are
/// handled one by one.
pub(crate) fn push_str_lit(buf: &mut String, s: &str) {
    buf.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        buf.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(buf, "\\u{:04x}", b);
        } else {
            buf.push_str(esc);
        }
        start = i + 1;
    }
    buf.push_str(&s[start..]);
    buf.push('"');
}

/// Appends `us` (microseconds since the epoch) as an RFC 3339 UTC string
/// literal: whole seconds (`"...:58Z"`) or six fractional digits. Same text
/// as `lunettes_schemas::time::format_rfc3339_*`, without the allocations.
pub(crate) fn push_time(buf: &mut String, us: i64, micros: bool) {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let (y, m, d) = lunettes_schemas::time::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut b = *b"\"0000-00-00T00:00:00.000000Z\"";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(1, 4, y);
    put(6, 2, m);
    put(9, 2, d);
    put(12, 2, sod / 3600);
    put(15, 2, (sod / 60) % 60);
    put(18, 2, sod % 60);
    let text = if micros {
        put(21, 6, frac);
        &b[..]
    } else {
        b[20] = b'Z';
        b[21] = b'"';
        &b[..22]
    };
    buf.push_str(std::str::from_utf8(text).unwrap_or("null"));
}

/// Writer of one JSON object; keys are written in call order.
pub(crate) struct Obj<'a> {
    buf: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object at the end of `buf`.
    pub(crate) fn open(buf: &'a mut String) -> Self {
        buf.push('{');
        Obj { buf, first: true }
    }

    fn key(&mut self, k: &str) {
        self.buf.push_str(if self.first { "\"" } else { ",\"" });
        self.first = false;
        self.buf.push_str(k);
        self.buf.push_str("\":");
    }

    /// A string member.
    pub(crate) fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        push_str_lit(self.buf, v);
        self
    }

    /// A string member known to need no escaping (generated names, ids,
    /// times, images). Skips the escape scan, which dominates debug builds.
    pub(crate) fn id(&mut self, k: &str, v: &str) -> &mut Self {
        self.buf.push_str(if self.first { "\"" } else { ",\"" });
        self.first = false;
        self.buf.push_str(k);
        self.buf.push_str("\":\"");
        self.buf.push_str(v);
        self.buf.push('"');
        self
    }

    /// A timestamp member in whole seconds (condition times, `startedAt`,
    /// Event `firstTimestamp`, `creationTimestamp`).
    pub(crate) fn secs(&mut self, k: &str, us: i64) -> &mut Self {
        self.key(k);
        push_time(self.buf, us, false);
        self
    }

    /// A timestamp member with microseconds (audit stage times, `eventTime`).
    pub(crate) fn micros(&mut self, k: &str, us: i64) -> &mut Self {
        self.key(k);
        push_time(self.buf, us, true);
        self
    }

    /// A string member needing no escaping, or nothing when `v` is `None`.
    pub(crate) fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        if let Some(v) = v {
            self.id(k, v);
        }
        self
    }

    /// An integer member.
    pub(crate) fn int(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k);
        let _ = write!(self.buf, "{v}");
        self
    }

    /// A boolean member.
    pub(crate) fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.buf.push_str(if v { "true" } else { "false" });
        self
    }

    /// A `null` member.
    pub(crate) fn null(&mut self, k: &str) -> &mut Self {
        self.key(k);
        self.buf.push_str("null");
        self
    }

    /// A member whose value is already-serialized JSON.
    pub(crate) fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k);
        self.buf.push_str(json);
        self
    }

    /// A nested object member.
    pub(crate) fn obj(&mut self, k: &str, f: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        self.key(k);
        let mut o = Obj::open(self.buf);
        f(&mut o);
        o.close();
        self
    }

    /// A nested array member.
    pub(crate) fn arr(&mut self, k: &str, f: impl FnOnce(&mut Arr<'_>)) -> &mut Self {
        self.key(k);
        let mut a = Arr::open(self.buf);
        f(&mut a);
        a.close();
        self
    }

    /// An array member of strings needing no escaping.
    pub(crate) fn strs<S: AsRef<str>>(&mut self, k: &str, items: &[S]) -> &mut Self {
        self.arr(k, |a| {
            for s in items {
                a.id(s.as_ref());
            }
        })
    }

    /// Closes the object.
    pub(crate) fn close(self) {
        self.buf.push('}');
    }
}

/// Writer of one JSON array.
pub(crate) struct Arr<'a> {
    buf: &'a mut String,
    first: bool,
}

impl<'a> Arr<'a> {
    fn open(buf: &'a mut String) -> Self {
        buf.push('[');
        Arr { buf, first: true }
    }

    fn sep(&mut self) {
        if !self.first {
            self.buf.push(',');
        }
        self.first = false;
    }

    /// A string element known to need no escaping.
    pub(crate) fn id(&mut self, v: &str) -> &mut Self {
        self.sep();
        self.buf.push('"');
        self.buf.push_str(v);
        self.buf.push('"');
        self
    }

    /// A string element.
    pub(crate) fn str(&mut self, v: &str) -> &mut Self {
        self.sep();
        push_str_lit(self.buf, v);
        self
    }

    /// An object element.
    pub(crate) fn obj(&mut self, f: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        self.sep();
        let mut o = Obj::open(self.buf);
        f(&mut o);
        o.close();
        self
    }

    fn close(self) {
        self.buf.push(']');
    }
}

/// Renders one object into a fresh string.
pub(crate) fn object(f: impl FnOnce(&mut Obj<'_>)) -> String {
    let mut s = String::with_capacity(512);
    let mut o = Obj::open(&mut s);
    f(&mut o);
    o.close();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use lunettes_schemas::time::{format_rfc3339_micros, format_rfc3339_secs};

    #[test]
    fn times_match_the_schema_formatters() {
        for us in [
            0,
            1_767_225_600_000_001,
            951_782_400_999_999,
            -1,
            4_102_444_799_123_456,
        ] {
            let mut a = String::new();
            push_time(&mut a, us, true);
            assert_eq!(a, format!("\"{}\"", format_rfc3339_micros(us)));
            let mut b = String::new();
            push_time(&mut b, us, false);
            assert_eq!(b, format!("\"{}\"", format_rfc3339_secs(us)));
        }
    }

    #[test]
    fn writes_valid_json_with_escapes() {
        let s = object(|o| {
            o.str("a", "x\"y\\z\n")
                .str("u", "é\u{1}\t")
                .int("n", -3)
                .bool("b", true)
                .null("z")
                .obj("o", |o| {
                    o.str("k", "v");
                })
                .arr("l", |a| {
                    a.str("1").obj(|o| {
                        o.int("i", 1);
                    });
                });
        });
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["a"], "x\"y\\z\n");
        assert_eq!(v["u"], "é\u{1}\t");
        assert_eq!(v["n"], -3);
        assert_eq!(v["l"][1]["i"], 1);
        assert!(v["z"].is_null());
    }
}
