//! What the normalizer remembers between records, with bounded memory.
//!
//! A follower runs for months, so nothing may grow without bound. The maps
//! here are two-generation caches: entries live in `young`; when `young` is
//! full it becomes `old` and the previous `old` is dropped. A pod touched in
//! either generation stays (lookups promote it), so only pods not seen for a
//! whole generation are forgotten. Forgetting costs little: an Event without
//! `involvedObject.uid` keeps an empty uid, a snapshot of a forgotten pod is
//! treated as a first sight.

use std::collections::HashMap;
use std::hash::Hash;

use crate::ops::MetaState;
use crate::snapshot::PodState;

/// Entries per generation: ~100k pods per cluster stream is far above what a
/// single apiserver keeps alive, and a few hundred bytes each.
const GENERATION: usize = 100_000;

/// Everything a [`crate::Normalizer`] remembers.
#[derive(Debug)]
pub(crate) struct Memory {
    /// `(namespace, name)` -> pod uid, from every record that showed both.
    uids: Bounded<(String, String), String>,
    /// Pod uid -> labels/annotations/finalizers, to diff audit patches and updates.
    pub meta: Bounded<String, MetaState>,
    /// Pod uid (or `ns/name`) -> last watch snapshot, to diff snapshots.
    pub pods: Bounded<String, PodState>,
}

impl Default for Memory {
    fn default() -> Self {
        Memory {
            uids: Bounded::new(GENERATION),
            meta: Bounded::new(GENERATION),
            pods: Bounded::new(GENERATION),
        }
    }
}

impl Memory {
    /// Remembers that `namespace/name` is `uid`.
    pub fn learn(&mut self, namespace: &str, name: &str, uid: &str) {
        if uid.is_empty() || name.is_empty() {
            return;
        }
        let key = (namespace.to_string(), name.to_string());
        if self.uids.get(&key).map(String::as_str) != Some(uid) {
            self.uids.insert(key, uid.to_string());
        }
    }

    /// `uid` when non-empty, else the uid remembered for `namespace/name`.
    pub fn resolve(&mut self, namespace: &str, name: &str, uid: &str) -> String {
        if !uid.is_empty() {
            self.learn(namespace, name, uid);
            return uid.to_string();
        }
        let key = (namespace.to_string(), name.to_string());
        self.uids.get_mut(&key).cloned().unwrap_or_default()
    }
}

/// A map that keeps at most about `2 * generation` entries.
#[derive(Debug)]
pub(crate) struct Bounded<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    generation: usize,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    pub fn new(generation: usize) -> Self {
        Bounded {
            young: HashMap::new(),
            old: HashMap::new(),
            generation: generation.max(1),
        }
    }

    /// Inserts or replaces `k`.
    pub fn insert(&mut self, k: K, v: V) {
        if self.young.len() >= self.generation && !self.young.contains_key(&k) {
            self.old = std::mem::take(&mut self.young);
        }
        self.old.remove(&k);
        self.young.insert(k, v);
    }

    /// The value for `k`, promoting it to the young generation.
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        if !self.young.contains_key(k) {
            let v = self.old.remove(k)?;
            self.insert(k.clone(), v);
        }
        self.young.get_mut(k)
    }

    /// The value for `k` without promoting it.
    pub fn get(&self, k: &K) -> Option<&V> {
        self.young.get(k).or_else(|| self.old.get(k))
    }

    /// Removes `k`.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.young.remove(k).or_else(|| self.old.remove(k))
    }

    /// Every entry, in no particular order, without promoting any.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.young.iter().chain(self.old.iter())
    }

    /// Number of entries held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_promotes() {
        let mut m = Bounded::new(2);
        m.insert(1, "a");
        m.insert(2, "b");
        m.insert(3, "c"); // 1,2 become old
        assert_eq!(m.get_mut(&1), Some(&mut "a")); // promoted
        m.insert(4, "d");
        m.insert(5, "e"); // young {1,3}? rotated: old = {1,3 or 4}
        assert!(m.len() <= 4);
        assert_eq!(m.remove(&5), Some("e"));
        assert_eq!(m.get(&2), None);
    }
}
