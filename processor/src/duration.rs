//! Go duration strings (`"1m30s"`, `"6m"`, `"1h2m3.5s"`, `"250ms"`).
//!
//! The seed's SLO configuration writes durations the way Go's
//! `time.ParseDuration` reads them, and the kubelet prints pull times the same
//! way (`"in 1m2.5s"`), so one parser serves both. Results are whole
//! microseconds: the engine's time unit.

/// Parses a Go duration into microseconds.
///
/// Accepts an optional sign, then one or more `<decimal><unit>` groups with
/// units `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`; a bare `"0"` is zero.
/// Returns a message naming the problem for anything else.
///
/// ```
/// use lunettes_processor::duration::parse_go_duration;
/// assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000));
/// assert_eq!(parse_go_duration("1h2m3.5s"), Ok(3_723_500_000));
/// assert!(parse_go_duration("90").is_err());
/// ```
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let orig = s;
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(format!("invalid duration {orig:?}: empty"));
    }
    // Exact integer nanoseconds, as Go keeps them (the kubelet prints pull
    // times to the nanosecond): no float parse, whose cost was most of
    // reading a `Pulled` message, and no binary rounding of `0.1`-style
    // fractions. Rounded to whole microseconds at the end.
    let out_of_range = || format!("invalid duration {orig:?}: out of range");
    let mut total_ns: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if num_len == 0 {
            return Err(format!(
                "invalid duration {orig:?}: expected a number at {rest:?}"
            ));
        }
        let number = &rest[..num_len];
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(format!("invalid duration {orig:?}: bad number {number:?}"));
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .bytes()
            .position(|b| b.is_ascii_digit() || b == b'.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let scale_ns: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "invalid duration {orig:?}: missing unit (use e.g. \"90s\")"
                ))
            }
            other => return Err(format!("invalid duration {orig:?}: unknown unit {other:?}")),
        };
        let mut whole: u128 = 0;
        for d in int.bytes() {
            whole = whole * 10 + u128::from(d - b'0');
            // Past 10^25 of any unit is past MAX_US; stopping there keeps
            // every product below in range.
            if whole > 10u128.pow(25) {
                return Err(out_of_range());
            }
        }
        // Fraction digits past the nanosecond cannot change the result
        // beyond Go's own truncation; 18 digits keep the product in range.
        let (mut f, mut div): (u128, u128) = (0, 1);
        for d in frac.bytes().take(18) {
            f = f * 10 + u128::from(d - b'0');
            div *= 10;
        }
        total_ns = total_ns.saturating_add(whole * scale_ns + f * scale_ns / div);
        rest = &rest[unit_len..];
    }
    let us = (total_ns + 500) / 1000;
    if us > MAX_US {
        return Err(out_of_range());
    }
    let us = us as i64;
    Ok(if neg { -us } else { us })
}

/// The largest duration accepted, µs: the bound the float parser used,
/// clear of `i64` overflow (far beyond Go's own ~292 years, which is in ns).
const MAX_US: u128 = 9_200_000_000_000_000_000;

/// Formats microseconds as a short human duration: `850 ms`, `12.3 s`, `4 min 5 s`, `2 h 3 min`.
pub fn human(us: i64) -> String {
    Human(us).to_string()
}

/// [`human`] as a `Display` value, to write a duration into a larger string
/// without allocating one for it.
///
/// ```
/// use lunettes_processor::duration::Human;
/// assert_eq!(format!("ready in {}", Human(94_200_000)), "ready in 1 min 34 s");
/// assert_eq!(Human(-1_500_000).to_string(), "-1.5 s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Human(pub i64);

impl Human {
    /// The text, formatted without `fmt` machinery (a verdict writes two or
    /// three durations into its summary; `write!` cost more than the rest of
    /// building the summary).
    pub fn render(self) -> Short {
        let mut o = Short::default();
        if self.0 < 0 {
            o.push(b"-");
        }
        let us = self.0.unsigned_abs();
        let (a, unit_a, b, unit_b): (u64, &[u8], Option<u64>, &[u8]) = if us < 1_000_000 {
            (us / 1000, b" ms", None, b"")
        } else if us < 60_000_000 {
            let tenths = (us + 50_000) / 100_000;
            o.num(tenths / 10);
            if !tenths.is_multiple_of(10) {
                o.push(b".");
                o.num(tenths % 10);
            }
            o.push(b" s");
            return o;
        } else if us < 3_600_000_000 {
            let secs = (us + 500_000) / 1_000_000;
            (secs / 60, b" min", Some(secs % 60), b" s")
        } else {
            let mins = (us + 30_000_000) / 60_000_000;
            (mins / 60, b" h", Some(mins % 60), b" min")
        };
        o.num(a);
        o.push(unit_a);
        if let Some(b) = b.filter(|b| *b != 0) {
            o.push(b" ");
            o.num(b);
            o.push(unit_b);
        }
        o
    }
}

/// A short string on the stack: a rendered [`Human`] duration.
#[derive(Debug, Clone, Copy)]
pub struct Short {
    bytes: [u8; 48],
    len: usize,
}

impl Default for Short {
    fn default() -> Self {
        Short {
            bytes: [0; 48],
            len: 0,
        }
    }
}

impl Short {
    fn push(&mut self, s: &[u8]) {
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }

    fn num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII was written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Display for Human {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.render().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `write!` formatting `render` replaced.
    fn reference(v: i64) -> String {
        let mut f = String::new();
        if v < 0 {
            f.push('-');
        }
        let us = v.unsigned_abs();
        let t = if us < 1_000_000 {
            format!("{} ms", us / 1000)
        } else if us < 60_000_000 {
            let tenths = (us + 50_000) / 100_000;
            if tenths.is_multiple_of(10) {
                format!("{} s", tenths / 10)
            } else {
                format!("{}.{} s", tenths / 10, tenths % 10)
            }
        } else if us < 3_600_000_000 {
            let secs = (us + 500_000) / 1_000_000;
            if secs.is_multiple_of(60) {
                format!("{} min", secs / 60)
            } else {
                format!("{} min {} s", secs / 60, secs % 60)
            }
        } else {
            let mins = (us + 30_000_000) / 60_000_000;
            if mins.is_multiple_of(60) {
                format!("{} h", mins / 60)
            } else {
                format!("{} h {} min", mins / 60, mins % 60)
            }
        };
        f + &t
    }

    #[test]
    fn render_equals_the_formatting_it_replaced() {
        let mut vals = vec![
            0, 1, 999, 1000, 999_999, 1_000_000, 59_949_999, 59_950_000, 59_999_999,
        ];
        vals.extend([
            60_000_000,
            3_599_499_999,
            3_599_500_000,
            3_600_000_000,
            i64::MAX,
            i64::MIN,
        ]);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            vals.push((x >> (x % 40)) as i64 * if x & 1 == 0 { 1 } else { -1 });
        }
        for v in vals {
            assert_eq!(Human(v).to_string(), reference(v), "{v}");
        }
    }

    /// Durations as the kubelet prints them and as configurations write
    /// them, to the nanosecond, rounded half up to microseconds.
    #[test]
    fn parses_exactly_to_the_microsecond() {
        for (text, us) in [
            ("3.2s", 3_200_000),
            ("1m30s", 90_000_000),
            ("1h2m3.5s", 3_723_500_000),
            ("1m2.123456789s", 62_123_457),
            ("250ms", 250_000),
            ("1.5us", 2),
            ("1499ns", 1),
            ("1500ns", 2),
            ("0.1s", 100_000),
            (".5s", 500_000),
            ("5.s", 5_000_000),
            ("-1.5s", -1_500_000),
            ("+2m", 120_000_000),
            ("0", 0),
            ("2µs", 2),
            ("2μs", 2),
        ] {
            assert_eq!(parse_go_duration(text), Ok(us), "{text}");
        }
    }

    #[test]
    fn names_the_problem_of_bad_durations() {
        for (text, problem) in [
            ("", "empty"),
            ("90", "missing unit"),
            ("s", "expected a number"),
            ("1.2.3s", "bad number"),
            (".s", "bad number"),
            ("5d", "unknown unit"),
            ("99999999999999999999999999h", "out of range"),
            ("3000000000h", "out of range"),
        ] {
            let err = parse_go_duration(text).expect_err(text);
            assert!(
                err.contains(problem) && err.contains(&format!("{text:?}")),
                "{text}: {err}"
            );
        }
    }

    proptest::proptest! {
        /// Where the float parser it replaced was exact (millisecond
        /// fractions and whole units), the results are equal.
        #[test]
        fn equals_the_float_parser_on_millisecond_values(
            h in 0u64..100, m in 0u64..60, s in 0u64..60, ms in 0u64..1000,
        ) {
            let text = format!("{h}h{m}m{s}.{ms:03}s");
            let float = ((h * 3600 + m * 60 + s) as f64 * 1e6 + ms as f64 * 1e3).round() as i64;
            proptest::prop_assert_eq!(parse_go_duration(&text), Ok(float));
        }
    }
}
