//! What the watch collector keeps between records and across restarts.
//!
//! * The last acknowledged `resourceVersion` per cluster and resource, in
//!   `<state-dir>/<cluster>.<resource>.json`, written (atomically) only after
//!   Kafka acknowledged everything up to it, so a restart resumes the watch
//!   where the topic ends.
//! * A bounded set of Event `uid:count` already published: a relist after
//!   `410 Gone` returns every Event still stored, and those seen must not be
//!   published again (the Pod snapshot diff in the normalizer does the same
//!   for pods: an unchanged pod emits nothing).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Persisted resourceVersions, one file per cluster and resource.
#[derive(Debug, Clone)]
pub struct VersionStore {
    dir: Option<PathBuf>,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    resource_version: String,
}

fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl VersionStore {
    /// A store in `dir`; with `None` nothing is persisted (every start relists).
    pub fn new(dir: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(d) = dir {
            std::fs::create_dir_all(d)
                .with_context(|| format!("creating state dir {}", d.display()))?;
        }
        Ok(VersionStore {
            dir: dir.map(Path::to_path_buf),
        })
    }

    fn path(&self, cluster: &str, resource: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| {
            d.join(format!(
                "{}.{}.json",
                file_safe(cluster),
                file_safe(resource)
            ))
        })
    }

    /// The saved resourceVersion, if any.
    pub fn load(&self, cluster: &str, resource: &str) -> anyhow::Result<Option<String>> {
        let Some(p) = self.path(cluster, resource) else {
            return Ok(None);
        };
        match std::fs::read(&p) {
            Ok(b) => {
                let s: Saved = serde_json::from_slice(&b).with_context(|| {
                    format!(
                        "state file {} is not valid (delete it to relist)",
                        p.display()
                    )
                })?;
                Ok(Some(s.resource_version))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }

    /// Saves `rv` atomically.
    pub fn store(&self, cluster: &str, resource: &str, rv: &str) -> anyhow::Result<()> {
        let Some(p) = self.path(cluster, resource) else {
            return Ok(());
        };
        let tmp = p.with_extension("tmp");
        let body = serde_json::to_vec(&Saved {
            resource_version: rv.to_string(),
        })
        .expect("serializes");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &p)
        };
        write().with_context(|| format!("writing {}", p.display()))
    }
}

/// A set that remembers at most about `2 * generation` keys, forgetting the
/// least recently inserted generation first.
#[derive(Debug)]
pub struct SeenSet {
    young: HashSet<String>,
    old: HashSet<String>,
    generation: usize,
}

impl SeenSet {
    /// A set with `generation` keys per generation.
    pub fn new(generation: usize) -> Self {
        SeenSet {
            young: HashSet::new(),
            old: HashSet::new(),
            generation: generation.max(1),
        }
    }

    /// Inserts `key`; true when it was not there.
    pub fn insert(&mut self, key: &str) -> bool {
        if self.young.contains(key) {
            return false;
        }
        let was_old = self.old.remove(key);
        if self.young.len() >= self.generation {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key.to_string());
        !was_old
    }

    /// Keys remembered.
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_set_is_bounded() {
        let mut s = SeenSet::new(2);
        assert!(s.insert("a"));
        assert!(!s.insert("a"));
        assert!(s.insert("b"));
        assert!(s.insert("c")); // a, b become old
        assert!(!s.insert("a")); // still remembered (promoted)
        for k in ["d", "e", "f", "g"] {
            s.insert(k);
        }
        assert!(s.len() <= 4);
        assert!(s.insert("b")); // forgotten
    }

    #[test]
    fn versions_persist() {
        let d = tempfile::tempdir().unwrap();
        let st = VersionStore::new(Some(d.path())).unwrap();
        assert_eq!(st.load("prod/1", "pods").unwrap(), None);
        st.store("prod/1", "pods", "123").unwrap();
        assert_eq!(st.load("prod/1", "pods").unwrap().as_deref(), Some("123"));
        assert!(d.path().join("prod_1.pods.json").exists());
        let none = VersionStore::new(None).unwrap();
        none.store("c", "pods", "1").unwrap();
        assert_eq!(none.load("c", "pods").unwrap(), None);
    }
}
