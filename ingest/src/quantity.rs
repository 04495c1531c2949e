//! Kubernetes resource quantities (`250m`, `1.5`, `128Mi`, `1G`, `1e3`).
//!
//! Pod facts carry cpu requests in millicores and memory requests in bytes so
//! the engine can classify pods (the original's "typical pod" thresholds)
//! without re-parsing strings. The grammar follows the apiserver's: a decimal
//! number, then a binary suffix (`Ki`..`Ei`), a decimal SI suffix (`n`, `u`,
//! `m`, `k`, `M`, `G`, `T`, `P`, `E`) or a decimal exponent (`e3`, `E-2`).
//! Like the apiserver, fractional results round *up* (0.1m cpu is 1m).
//! A trailing `.` (`1.`) is accepted as the apiserver does.

/// Parses a quantity into its value times `10^scale_pow10` (3 for
/// millicores, 0 for bytes), rounded up and saturated to the `i64` range.
/// The arithmetic is exact (integers), so `1G` is 1000000000, not 999999999.
///
/// Returns `None` when the string is not a quantity.
pub fn parse_scaled(s: &str, scale_pow10: i32) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut mantissa: i128 = 0;
    let mut digits = 0u32;
    let mut frac_digits: i32 = 0;
    let mut seen_dot = false;
    let mut dropped: i32 = 0; // integer digits beyond what we keep
    while i < b.len() {
        match b[i] {
            d @ b'0'..=b'9' => {
                if digits < 30 {
                    mantissa = mantissa * 10 + i128::from(d - b'0');
                    digits += 1;
                    if seen_dot {
                        frac_digits += 1;
                    }
                } else if !seen_dot {
                    dropped += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    let (pow10, pow1024): (i32, u32) = match &s[i..] {
        "" => (0, 0),
        "Ki" => (0, 1),
        "Mi" => (0, 2),
        "Gi" => (0, 3),
        "Ti" => (0, 4),
        "Pi" => (0, 5),
        "Ei" => (0, 6),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        suffix if suffix.len() > 1 && (suffix.starts_with('e') || suffix.starts_with('E')) => {
            let exp: i32 = suffix[1..].parse().ok()?;
            if !(-30..=30).contains(&exp) {
                return None;
            }
            (exp, 0)
        }
        _ => return None,
    };
    let exp10 = pow10 + scale_pow10 - frac_digits + dropped;
    let saturated = if negative { i64::MIN } else { i64::MAX };
    let Some(mut v) = 1024i128
        .checked_pow(pow1024)
        .and_then(|p| mantissa.checked_mul(p))
    else {
        return Some(saturated);
    };
    if exp10 >= 0 {
        match 10i128
            .checked_pow(exp10 as u32)
            .and_then(|p| v.checked_mul(p))
        {
            Some(x) => v = x,
            None => return Some(saturated),
        }
    } else {
        let Some(div) = 10i128.checked_pow((-exp10) as u32) else {
            return Some(i64::from(v != 0 && !negative));
        };
        // Round up (away from zero for the magnitude, like the apiserver).
        v = (v + div - 1) / div;
    }
    let v = if negative { -v } else { v };
    Some(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// CPU quantity in millicores.
pub fn cpu_millis(s: &str) -> Option<i64> {
    parse_scaled(s, 3)
}

/// Memory (or any byte) quantity in bytes.
pub fn bytes(s: &str) -> Option<i64> {
    parse_scaled(s, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_forms() {
        assert_eq!(cpu_millis("250m"), Some(250));
        assert_eq!(cpu_millis("1"), Some(1000));
        assert_eq!(cpu_millis("1.5"), Some(1500));
        assert_eq!(cpu_millis("0.1"), Some(100));
        assert_eq!(cpu_millis("100u"), Some(1));
        assert_eq!(cpu_millis("2k"), Some(2_000_000));
        assert_eq!(cpu_millis("1e3"), Some(1_000_000));
    }

    #[test]
    fn memory_forms() {
        assert_eq!(bytes("128Mi"), Some(128 << 20));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("1Gi"), Some(1 << 30));
        assert_eq!(bytes("1e3"), Some(1000));
        assert_eq!(bytes("1E"), Some(1_000_000_000_000_000_000));
        assert_eq!(bytes("1.5Ki"), Some(1536));
        assert_eq!(bytes("512"), Some(512));
        assert_eq!(bytes("129M"), Some(129_000_000));
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "", "Mi", "1.2.3", "1Xi", "abc", ".", "1e", "1e99", "--1", "1..5",
        ] {
            assert_eq!(bytes(s), None, "{s}");
        }
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        assert_eq!(bytes("100Ei"), Some(i64::MAX));
        assert_eq!(
            bytes("99999999999999999999999999999999999999999"),
            Some(i64::MAX)
        );
        assert_eq!(cpu_millis("1n"), Some(1));
    }
}
