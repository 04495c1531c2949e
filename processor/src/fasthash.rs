//! Fixed-seed fast hashing.
//!
//! Every HyperEvent costs one lookup by (cluster, pod key); std's SipHash
//! with a random seed is both slower on short keys and non-deterministic.
//! foldhash with a fixed seed is fast and gives the same hashes on every run
//! (nothing in the outputs depends on hash order, but reproducible memory
//! layouts make benchmarks and debugging repeatable).

use std::collections::HashMap;
use std::hash::BuildHasher;

/// The hasher state used by every engine map.
pub(crate) type FastState = foldhash::fast::FixedState;

/// A `HashMap` with the engine's fixed-seed fast hasher.
pub(crate) type FastMap<K, V> = HashMap<K, V, FastState>;

/// 64-bit hash of a byte string (pod keys, dedup ids).
#[inline]
pub(crate) fn hash64(bytes: &[u8]) -> u64 {
    FastState::default().hash_one(bytes)
}
