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
    let mut total: f64 = 0.0;
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
        let value: f64 = rest[..num_len].parse().map_err(|_| {
            format!(
                "invalid duration {orig:?}: bad number {:?}",
                &rest[..num_len]
            )
        })?;
        rest = &rest[num_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let scale = match unit {
            "ns" => 0.001,
            "us" | "µs" | "μs" => 1.0,
            "ms" => 1_000.0,
            "s" => 1_000_000.0,
            "m" => 60_000_000.0,
            "h" => 3_600_000_000.0,
            "" => {
                return Err(format!(
                    "invalid duration {orig:?}: missing unit (use e.g. \"90s\")"
                ))
            }
            other => return Err(format!("invalid duration {orig:?}: unknown unit {other:?}")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 9.2e18 {
        return Err(format!("invalid duration {orig:?}: out of range"));
    }
    let us = total.round() as i64;
    Ok(if neg { -us } else { us })
}

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
}
