//! RFC 3339 timestamps as microseconds since the Unix epoch (UTC).
//!
//! Kubernetes writes times in several precisions (`2021-05-19T09:42:58Z`,
//! `2021-05-19T09:42:58.638469Z`, nanoseconds from the GKE logging agent) and
//! sometimes with offsets (`+02:00`). Parsing them is on the normalizer's hot
//! path, so this is a small allocation-free parser rather than a calendar
//! library.

/// Parses an RFC 3339 timestamp into microseconds since the epoch.
///
/// Returns the time and whether it carried a fractional part. Fractions beyond
/// microseconds are truncated. Returns `None` for anything malformed.
///
/// ```
/// use lunettes_schemas::time::parse_rfc3339;
/// assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Some((1_000_000, false)));
/// assert_eq!(parse_rfc3339("1970-01-01T02:00:01.5+02:00"), Some((1_500_000, true)));
/// ```
pub fn parse_rfc3339(s: &str) -> Option<(i64, bool)> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    let mut has_frac = false;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        let mut digits = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            if digits < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
                digits += 1;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        while digits < 6 {
            micros *= 10;
            digits += 1;
        }
        has_frac = true;
    }
    let offset_s = match b.get(i) {
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let h = num(i + 1..i + 3)?;
            let m = num(i + 4..i + 6)?;
            let o = h * 3600 + m * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    Some((secs * 1_000_000 + micros, has_frac))
}

/// Formats microseconds since the epoch as RFC 3339 UTC with 6 fractional digits.
///
/// ```
/// use lunettes_schemas::time::format_rfc3339_micros;
/// assert_eq!(format_rfc3339_micros(1_500_000), "1970-01-01T00:00:01.500000Z");
/// ```
pub fn format_rfc3339_micros(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Formats microseconds as RFC 3339 UTC with whole seconds (`...:58Z`).
pub fn format_rfc3339_secs(us: i64) -> String {
    let s = format_rfc3339_micros(us);
    format!("{}Z", &s[..19])
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_precisions() {
        let (t, f) = parse_rfc3339("2021-05-19T09:42:58.640117041Z").unwrap();
        assert!(f);
        assert_eq!(format_rfc3339_micros(t), "2021-05-19T09:42:58.640117Z");
        let (t2, f2) = parse_rfc3339("2021-05-19T09:42:58Z").unwrap();
        assert!(!f2);
        assert_eq!(t - t2, 640_117);
        let (t3, _) = parse_rfc3339("2021-05-19T11:42:58+02:00").unwrap();
        assert_eq!(t3, t2);
        let (t4, _) = parse_rfc3339("2021-05-19T04:12:58-05:30").unwrap();
        assert_eq!(t4, t2);
        assert_eq!(format_rfc3339_secs(t), "2021-05-19T09:42:58Z");
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "2021-05-19",
            "2021-13-19T09:42:58Z",
            "2021-05-19T09:42:58",
            "2021-05-19T09:42:58.Z",
            "2021-05-19T09:42:58+0200",
            "x021-05-19T09:42:58Z",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }

    #[test]
    fn civil_round_trip() {
        for d in [-800_000, -1, 0, 1, 19_000, 20_000, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
