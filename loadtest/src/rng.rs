//! Seeded randomness and the distributions the simulator draws from.
//!
//! Every pod gets its own stream derived from (seed, cluster, pod index), so
//! one pod's draws never shift another's: changing a fault rate changes only
//! the pods whose fault draw changed. The generator is xoshiro256**, written
//! out here rather than taken from `rand`: its output is fixed by this file
//! alone (no crate upgrade can change the simulated bytes), and it is several
//! times cheaper than ChaCha in the unoptimised debug builds the tests use.

/// Alphabet Kubernetes uses for generated name suffixes (no vowels, no
/// look-alike characters).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A seeded random source with the helpers the simulator needs.
pub(crate) struct SimRng {
    s: [u64; 4],
}

/// SplitMix64 finaliser: spreads structured seeds over the whole space.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SimRng {
    /// A stream for `(seed, a, b)`; distinct tuples give independent streams.
    pub(crate) fn derive(seed: u64, a: u64, b: u64) -> Self {
        let mut z = mix(mix(mix(seed) ^ a.wrapping_mul(0x1000_0000_01b3)) ^ b);
        let mut s = [0u64; 4];
        for v in &mut s {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            *v = mix(z);
        }
        SimRng { s }
    }

    /// A uniformly random `u64` (xoshiro256**).
    pub(crate) fn u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform integer in `[lo, hi]` (inclusive).
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo + 1) as u64;
        lo + (self.u64() % span) as i64
    }

    /// Uniform index below `n` (`n > 0`).
    pub(crate) fn index(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.u64() % n as u64) as usize
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// Standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal duration in microseconds with the given median (ms) and
    /// shape, clamped to `[lo_ms, hi_ms]`. Timing in clusters is skewed: most
    /// operations are quick, a few take much longer.
    pub(crate) fn lognormal_us(
        &mut self,
        median_ms: f64,
        sigma: f64,
        lo_ms: f64,
        hi_ms: f64,
    ) -> i64 {
        let v = median_ms * (sigma * self.normal()).exp();
        (v.clamp(lo_ms, hi_ms) * 1000.0) as i64
    }

    /// Uniform duration in microseconds between two millisecond bounds.
    pub(crate) fn uniform_us(&mut self, lo_ms: f64, hi_ms: f64) -> i64 {
        ((lo_ms + (hi_ms - lo_ms) * self.unit()) * 1000.0) as i64
    }

    /// A random (version 4) UUID string.
    pub(crate) fn uuid(&mut self) -> String {
        let a = self.u64();
        let b = self.u64();
        let a = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
        let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }

    /// `n` characters of the Kubernetes name-suffix alphabet.
    pub(crate) fn name_suffix(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| NAME_ALPHABET[self.index(NAME_ALPHABET.len())] as char)
            .collect()
    }

    /// `n` lowercase hex digits.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            let v = self.u64();
            s.push_str(&format!("{v:016x}"));
        }
        s.truncate(n);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let mut a = SimRng::derive(7, 1, 2);
        let mut b = SimRng::derive(7, 1, 2);
        let mut c = SimRng::derive(7, 1, 3);
        let (x, y, z) = (a.u64(), b.u64(), c.u64());
        assert_eq!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn xoshiro_matches_reference_vector() {
        // Reference output of xoshiro256** for state [1, 2, 3, 4].
        let mut r = SimRng { s: [1, 2, 3, 4] };
        assert_eq!(r.u64(), 11520);
        assert_eq!(r.u64(), 0);
        assert_eq!(r.u64(), 1509978240);
        assert_eq!(r.u64(), 1215971899390074240);
    }

    #[test]
    fn uuid_has_v4_shape() {
        let mut r = SimRng::derive(1, 0, 0);
        let u = r.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn lognormal_respects_bounds() {
        let mut r = SimRng::derive(3, 0, 0);
        for _ in 0..1000 {
            let v = r.lognormal_us(50.0, 1.0, 5.0, 200.0);
            assert!((5_000..=200_000).contains(&v));
        }
    }
}
