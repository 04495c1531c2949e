//! Deterministic ids. Replaying the same input must give the same ids, so
//! sinks de-duplicate by id and a replay never duplicates a trace (the
//! original used random trace ids).
//!
//! **Why SipHash-1-3-128 with a constant key.** Ids are computed for every
//! output record (a delivery, its trace and ~10 spans per pod), so the hash is
//! on the engine's hot path: SHA-256 cost more than the rest of a verdict.
//! The ids need no secrecy, only stability across runs, platforms and
//! versions, and a spread wide enough that 128 bits (64 for span ids) do not
//! collide: SipHash is a published, fixed algorithm (unlike `std`'s or
//! foldhash's hashers, whose output may change between releases), runs in a
//! few nanoseconds per 8 bytes, and its 128-bit variant fills a trace id. The
//! key is a constant (`"lunettes-rs-ids!"`), so everyone derives the same ids.
//!
//! Fields are length-prefixed (u64 little-endian) after a domain string, so
//! `("ab", "c")` and `("a", "bc")` never collide by construction.

use lunettes_schemas::{Action, WindowWidth};

/// The fixed key: `"lunettes"`, `"-rs-ids!"` as little-endian words.
const K0: u64 = u64::from_le_bytes(*b"lunettes");
const K1: u64 = u64::from_le_bytes(*b"-rs-ids!");

/// Streaming SipHash-C-D with 64- or 128-bit output.
#[derive(Clone)]
struct Sip<const C: usize, const D: usize> {
    v: [u64; 4],
    tail: u64,
    ntail: usize,
    len: u64,
}

#[inline(always)]
fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

impl<const C: usize, const D: usize> Sip<C, D> {
    fn new(k0: u64, k1: u64, wide: bool) -> Self {
        let mut v = [
            k0 ^ 0x736f_6d65_7073_6575,
            k1 ^ 0x646f_7261_6e64_6f6d,
            k0 ^ 0x6c79_6765_6e65_7261,
            k1 ^ 0x7465_6462_7974_6573,
        ];
        if wide {
            v[1] ^= 0xee;
        }
        Sip {
            v,
            tail: 0,
            ntail: 0,
            len: 0,
        }
    }

    #[inline(always)]
    fn block(&mut self, m: u64) {
        self.v[3] ^= m;
        for _ in 0..C {
            round(&mut self.v);
        }
        self.v[0] ^= m;
    }

    fn write(&mut self, mut bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len() as u64);
        if self.ntail > 0 {
            while self.ntail < 8 {
                let Some((&b, rest)) = bytes.split_first() else {
                    return;
                };
                self.tail |= (b as u64) << (8 * self.ntail);
                self.ntail += 1;
                bytes = rest;
            }
            let m = self.tail;
            self.block(m);
            self.tail = 0;
            self.ntail = 0;
        }
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.block(u64::from_le_bytes(w));
        }
        for (i, &b) in chunks.remainder().iter().enumerate() {
            self.tail |= (b as u64) << (8 * i);
        }
        self.ntail = chunks.remainder().len();
    }

    fn last_block(&mut self) {
        let m = self.tail | ((self.len & 0xff) << 56);
        self.block(m);
    }

    fn finish64(mut self) -> u64 {
        self.last_block();
        self.v[2] ^= 0xff;
        for _ in 0..D {
            round(&mut self.v);
        }
        self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3]
    }

    fn finish128(mut self) -> u128 {
        self.last_block();
        self.v[2] ^= 0xee;
        for _ in 0..D {
            round(&mut self.v);
        }
        let lo = self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3];
        self.v[1] ^= 0xdd;
        for _ in 0..D {
            round(&mut self.v);
        }
        let hi = self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3];
        (hi as u128) << 64 | lo as u128
    }
}

/// The id hasher: SipHash-1-3 under the fixed key.
type IdHasher = Sip<1, 3>;

/// Calls `f` with the domain and the length-prefixed fields as one byte
/// string, laid out in a stack buffer: hashing it in one `write` runs over
/// whole 8-byte words, where streaming field by field takes a byte loop at
/// every field boundary that is not word-aligned (the same bytes, so the
/// same hash).
fn with_fields<R>(domain: &str, parts: &[&[u8]], f: impl FnOnce(&[u8]) -> R) -> R {
    let total = domain.len() + parts.iter().map(|p| 8 + p.len()).sum::<usize>();
    let mut stack = [0u8; 256];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if total <= stack.len() {
        &mut stack[..total]
    } else {
        heap.resize(total, 0);
        &mut heap
    };
    let mut at = 0;
    let mut put = |b: &[u8]| {
        buf[at..at + b.len()].copy_from_slice(b);
        at += b.len();
    };
    put(domain.as_bytes());
    for p in parts {
        put(&(p.len() as u64).to_le_bytes());
        put(p);
    }
    f(buf)
}

fn hasher(domain: &str, parts: &[&[u8]], wide: bool) -> IdHasher {
    let mut h = IdHasher::new(K0, K1, wide);
    with_fields(domain, parts, |b| h.write(b));
    h
}

/// 128-bit digest of a domain and length-prefixed fields.
fn digest128(domain: &str, parts: &[&[u8]]) -> u128 {
    hasher(domain, parts, true).finish128()
}

/// 64-bit digest of a domain and length-prefixed fields.
#[cfg(test)]
fn digest64(domain: &str, parts: &[&[u8]]) -> u64 {
    hasher(domain, parts, false).finish64()
}

/// Lowercase hex of big-endian bytes, through a stack buffer (`format!`'s
/// `{:x}` machinery costs more than the hash itself, once per span).
fn hex<const N: usize>(bytes: [u8; N], buf: &mut [u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        buf[2 * i] = DIGITS[(b >> 4) as usize];
        buf[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[..2 * N])
        .map(str::to_owned)
        .unwrap_or_default()
}

fn hex128(v: u128) -> String {
    hex(v.to_be_bytes(), &mut [0u8; 32])
}

fn hex64(v: u64) -> String {
    hex(v.to_be_bytes(), &mut [0u8; 16])
}

/// Delivery id: 32 hex chars of SipHash-1-3-128("delivery", cluster, pod key, action).
pub fn delivery_id(cluster: &str, pod_key: &str, action: Action) -> String {
    hex128(digest128(
        "delivery",
        &[
            cluster.as_bytes(),
            pod_key.as_bytes(),
            action.as_str().as_bytes(),
        ],
    ))
}

/// Trace id: 32 hex chars of SipHash-1-3-128("trace", cluster, pod key, action).
pub fn trace_id(cluster: &str, pod_key: &str, action: Action) -> String {
    hex128(digest128(
        "trace",
        &[
            cluster.as_bytes(),
            pod_key.as_bytes(),
            action.as_str().as_bytes(),
        ],
    ))
}

/// Span id: 16 hex chars of SipHash-1-3-64("span", trace id, span name, instance).
pub fn span_id(trace_id: &str, span_name: &str, instance: &str) -> String {
    SpanIds::new(trace_id).id(span_name, instance)
}

/// The span ids of one trace, as [`span_id`] computes them: the hash state
/// after the domain and the trace id is computed once and copied for each
/// span (a delivery has ~10), so each id hashes only its name and instance.
#[derive(Clone)]
pub struct SpanIds {
    prefix: IdHasher,
}

impl SpanIds {
    /// The ids of the spans of `trace_id`.
    pub fn new(trace_id: &str) -> Self {
        SpanIds {
            prefix: hasher("span", &[trace_id.as_bytes()], false),
        }
    }

    /// `span_id(trace_id, span_name, instance)`.
    pub fn id(&self, span_name: &str, instance: &str) -> String {
        let mut h = self.prefix.clone();
        with_fields("", &[span_name.as_bytes(), instance.as_bytes()], |b| {
            h.write(b)
        });
        hex64(h.finish64())
    }
}

/// Window row id: 32 hex chars of SipHash-1-3-128 over (shard, cluster,
/// namespace, action, width, start).
pub fn window_id(
    shard: i32,
    cluster: &str,
    namespace: &str,
    action: Action,
    width: WindowWidth,
    start_us: i64,
) -> String {
    hex128(digest128(
        "window",
        &[
            &shard.to_le_bytes(),
            cluster.as_bytes(),
            namespace.as_bytes(),
            action.as_str().as_bytes(),
            width.as_str().as_bytes(),
            &start_us.to_le_bytes(),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (u64, u64) {
        let k: Vec<u8> = (0u8..16).collect();
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&k[..8]);
        b.copy_from_slice(&k[8..]);
        (u64::from_le_bytes(a), u64::from_le_bytes(b))
    }

    /// The reference SipHash-2-4 vectors (key 00..0f, message 00..n-1) prove
    /// the rounds, padding and finalization; 1-3 differs only in round counts.
    #[test]
    fn siphash24_matches_the_reference_vectors() {
        let (k0, k1) = key();
        let msg: Vec<u8> = (0u8..64).collect();
        let want64: [(usize, u64); 4] = [
            (0, 0x726f_db47_dd0e_0e31),
            (1, 0x74f8_39c5_93dc_67fd),
            (15, 0xa129_ca61_49be_45e5),
            (63, 0x958a_324c_eb06_4572),
        ];
        for (n, want) in want64 {
            let mut h = Sip::<2, 4>::new(k0, k1, false);
            h.write(&msg[..n]);
            assert_eq!(h.finish64(), want, "64-bit, {n} bytes");
        }
        let mut h = Sip::<2, 4>::new(k0, k1, true);
        h.write(&[]);
        let want128 = [
            0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55,
            0x02, 0x93,
        ];
        assert_eq!(h.finish128().to_le_bytes(), want128, "128-bit, empty");
    }

    #[test]
    fn streaming_equals_one_shot_at_every_split() {
        let msg: Vec<u8> = (0u8..40).map(|i| i.wrapping_mul(37)).collect();
        let mut one = IdHasher::new(K0, K1, true);
        one.write(&msg);
        let want = one.finish128();
        for a in 0..msg.len() {
            for b in a..msg.len() {
                let mut h = IdHasher::new(K0, K1, true);
                h.write(&msg[..a]);
                h.write(&msg[a..b]);
                h.write(&msg[b..]);
                assert_eq!(h.finish128(), want, "split {a}/{b}");
            }
        }
    }

    #[test]
    fn hex_is_zero_padded_lowercase_big_endian() {
        assert_eq!(hex64(0xab), "00000000000000ab");
        assert_eq!(hex128(1 << 127 | 0xf), "8000000000000000000000000000000f");
        assert_eq!(
            hex64(0x0123_4567_89ab_cdef),
            format!("{:016x}", 0x0123_4567_89ab_cdef_u64)
        );
    }

    /// Pinned values: ids are part of the output contract (sinks de-duplicate
    /// by them), so any change of algorithm, key or field encoding must be
    /// deliberate.
    #[test]
    fn ids_are_pinned() {
        let pinned = [
            delivery_id("c1", "uid-1", Action::Create),
            trace_id("c1", "uid-1", Action::Create),
            span_id("0123456789abcdef0123456789abcdef", "image_pull", "r/x:1"),
            window_id(
                0,
                "c1",
                "ns",
                Action::Create,
                WindowWidth::Minute,
                60_000_000,
            ),
        ];
        assert_eq!(pinned, PINNED.map(String::from));
    }

    #[test]
    fn ids_are_stable_hex_and_field_separated() {
        let d = delivery_id("c1", "uid-1", Action::Create);
        assert_eq!(d.len(), 32);
        assert!(d
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(d, delivery_id("c1", "uid-1", Action::Create));
        assert_ne!(d, trace_id("c1", "uid-1", Action::Create));
        assert_ne!(d, delivery_id("c1", "uid-1", Action::Delete));
        assert_ne!(
            delivery_id("ab", "c", Action::Create),
            delivery_id("a", "bc", Action::Create)
        );
        let s = span_id(
            &trace_id("c1", "uid-1", Action::Create),
            "image_pull",
            "r/x:1",
        );
        assert_eq!(s.len(), 16);
        assert_ne!(
            s,
            span_id(
                &trace_id("c1", "uid-1", Action::Create),
                "image_pull",
                "r/x:2"
            )
        );
        let w = window_id(
            0,
            "c1",
            "ns",
            Action::Create,
            WindowWidth::Minute,
            60_000_000,
        );
        assert_eq!(w.len(), 32);
        assert_ne!(
            w,
            window_id(
                1,
                "c1",
                "ns",
                Action::Create,
                WindowWidth::Minute,
                60_000_000
            )
        );
    }

    /// The cached prefix gives the digest of the whole field list.
    #[test]
    fn span_ids_equal_the_one_shot_digest() {
        let ids = SpanIds::new("0123456789abcdef0123456789abcdef");
        for (name, inst) in [("image_pull", "r/x:1"), ("", ""), ("a", "bcdefghijklmnopq")] {
            let want = hex64(digest64(
                "span",
                &[
                    b"0123456789abcdef0123456789abcdef",
                    name.as_bytes(),
                    inst.as_bytes(),
                ],
            ));
            assert_eq!(ids.id(name, inst), want);
        }
    }

    const PINNED: [&str; 4] = [
        "82035a203f9a72fef6dfceedff10f04e",
        "6ec213d9a5f2ea4b40cde0fcadd8199c",
        "cac785fbe36dcdbb",
        "73ce941868c0748821ab6648cce28705",
    ];
}
