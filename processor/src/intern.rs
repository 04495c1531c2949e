//! A string interner for the values many pods share (namespaces, nodes,
//! images, container names, finalizers, owners): a pod stores 4-byte ids
//! instead of strings, which is most of what keeps an in-flight pod under
//! 1 KiB. Id 0 is always the empty string.

use crate::fasthash::FastMap;

/// Interned string id.
pub(crate) type Sym = u32;

/// The empty string's id.
pub(crate) const EMPTY: Sym = 0;

/// Append-only interner.
#[derive(Debug)]
pub(crate) struct Interner {
    ids: FastMap<Box<str>, Sym>,
    strings: Vec<Box<str>>,
}

impl Default for Interner {
    fn default() -> Self {
        let mut i = Interner {
            ids: FastMap::default(),
            strings: Vec::new(),
        };
        i.intern("");
        i
    }
}

impl Interner {
    /// The id of `s`, adding it on first sight (one allocation per new string).
    #[inline]
    pub(crate) fn intern(&mut self, s: &str) -> Sym {
        if s.is_empty() && !self.strings.is_empty() {
            return EMPTY;
        }
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as Sym;
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    /// The string of an id.
    #[inline]
    pub(crate) fn resolve(&self, id: Sym) -> &str {
        self.strings.get(id as usize).map(|s| &**s).unwrap_or("")
    }

    /// Number of interned strings.
    pub(crate) fn len(&self) -> usize {
        self.strings.len()
    }
}
