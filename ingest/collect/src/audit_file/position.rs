//! Where the follower is in the audit log, persisted across restarts.
//!
//! A byte offset alone is not enough: after a rotation the path names another
//! file, and after a `copytruncate` the same file holds other lines. So the
//! position names the file by identity (device + inode) *and* by content (a
//! SHA-256 of its first line, which also catches an inode number reused by a
//! new file). The state file is replaced atomically (write, fsync, rename),
//! and only after Kafka acknowledged everything before the offset.

use std::fs::{File, Metadata};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first line is hashed up to this many bytes.
const FIRST_LINE_MAX: usize = 64 << 10;

/// A file's identity on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileId {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A persisted follower position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Identity of the file the offset is in.
    pub file: FileId,
    /// Byte offset just after the last acknowledged line.
    pub offset: u64,
    /// Lines before `offset` (for line numbers in dead letters).
    pub line: u64,
    /// SHA-256 of the file's first line; `None` while it had no complete line.
    pub first_line_sha256: Option<String>,
}

impl Position {
    /// Reads the state file; `None` when it does not exist.
    pub fn load(path: &Path) -> anyhow::Result<Option<Position>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
                format!(
                    "state file {} is not a valid position (delete it to start over)",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading state file {}", path.display())),
        }
    }

    /// Replaces the state file atomically.
    pub fn store(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(self).expect("position serializes"))?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().with_context(|| format!("writing state file {}", path.display()))
    }

    /// Whether a file with this identity and first-line hash is the file this
    /// position was taken in.
    pub fn same_file(&self, id: FileId, first_line: Option<&str>) -> bool {
        id == self.file && self.same_content(first_line)
    }

    /// Whether a file starting with this first line could hold this position
    /// (the same first line, or the position was taken before there was one).
    pub fn same_content(&self, first_line: Option<&str>) -> bool {
        match (&self.first_line_sha256, first_line) {
            (None, _) => self.offset == 0,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        }
    }
}

/// SHA-256 (hex) of the first complete line of `file`, or `None` when it has
/// no newline yet. The read position of `file` is restored.
pub fn first_line_sha256(file: &mut File) -> std::io::Result<Option<String>> {
    let saved = file.stream_position()?;
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 4096];
    let mut line = Vec::new();
    let found = loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break false;
        }
        if let Some(i) = memchr_newline(&buf[..n]) {
            line.extend_from_slice(&buf[..i]);
            break true;
        }
        line.extend_from_slice(&buf[..n]);
        if line.len() >= FIRST_LINE_MAX {
            break true;
        }
    };
    file.seek(SeekFrom::Start(saved))?;
    line.truncate(FIRST_LINE_MAX);
    Ok(found.then(|| hex::encode(Sha256::digest(&line))))
}

/// SHA-256 of the first line of the file at `path`.
pub fn first_line_sha256_of(path: &Path) -> std::io::Result<Option<String>> {
    first_line_sha256(&mut File::open(path)?)
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|c| *c == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_load_and_identity() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        std::fs::write(&log, b"first\nsecond").unwrap();
        let mut f = File::open(&log).unwrap();
        let h = first_line_sha256(&mut f).unwrap();
        assert_eq!(
            h.as_deref(),
            Some(hex::encode(Sha256::digest(b"first")).as_str())
        );
        std::fs::write(dir.path().join("b.log"), b"no newline").unwrap();
        assert_eq!(
            first_line_sha256_of(&dir.path().join("b.log")).unwrap(),
            None
        );

        let id = FileId::of(&f.metadata().unwrap());
        let p = Position {
            file: id,
            offset: 6,
            line: 1,
            first_line_sha256: h.clone(),
        };
        let state = dir.path().join("state.json");
        assert_eq!(Position::load(&state).unwrap(), None);
        p.store(&state).unwrap();
        assert_eq!(Position::load(&state).unwrap(), Some(p.clone()));
        assert!(p.same_file(id, h.as_deref()));
        assert!(!p.same_file(id, Some("other")));
        assert!(!p.same_file(
            FileId {
                dev: id.dev,
                ino: id.ino + 1
            },
            h.as_deref()
        ));
        std::fs::write(&state, b"{").unwrap();
        assert!(
            format!("{:#}", Position::load(&state).unwrap_err()).contains("not a valid position")
        );
    }
}
