//! Reading whole lines from an open log file at a byte offset.
//!
//! The writer may be in the middle of a line: only bytes up to the last
//! newline are handed out, and the partial line waits for its newline (unless
//! the file was rotated away and will never get one).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::position::{first_line_sha256, FileId, Position};

/// Bytes read per system call.
const READ_SIZE: usize = 256 << 10;

/// An open file and how far it has been consumed.
#[derive(Debug)]
pub(crate) struct Tail {
    file: File,
    /// The name the file was opened by.
    pub path: PathBuf,
    /// Its identity.
    pub id: FileId,
    /// Byte offset after the last consumed line.
    pub offset: u64,
    /// Lines before `offset`.
    pub line: u64,
    /// SHA-256 of its first line, once it has one.
    pub first_hash: Option<String>,
}

/// Complete lines read from a [`Tail`], not yet consumed.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// The lines, each ending with `\n` except possibly a forced last one.
    pub bytes: Vec<u8>,
    /// Line number (1-based) of the first line.
    pub first_line: u64,
    /// Offset after the chunk.
    pub end_offset: u64,
    /// Lines before `end_offset`.
    pub end_line: u64,
}

impl Chunk {
    /// The lines with their 1-based numbers, without line terminators.
    pub fn lines(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let body = self.bytes.strip_suffix(b"\n").unwrap_or(&self.bytes);
        body.split(|b| *b == b'\n').enumerate().map(move |(i, l)| {
            (
                self.first_line + i as u64,
                l.strip_suffix(b"\r").unwrap_or(l),
            )
        })
    }
}

impl Tail {
    /// Opens `path` positioned at `offset` (which is `line` lines in).
    pub fn open(path: &Path, offset: u64, line: u64) -> std::io::Result<Tail> {
        let mut file = File::open(path)?;
        let id = FileId::of(&file.metadata()?);
        let first_hash = first_line_sha256(&mut file)?;
        Ok(Tail {
            file,
            path: path.to_path_buf(),
            id,
            offset,
            line,
            first_hash,
        })
    }

    /// Current length of the open file.
    pub fn len(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// The position after everything consumed so far.
    pub fn position(&self) -> Position {
        Position {
            file: self.id,
            offset: self.offset,
            line: self.line,
            first_line_sha256: self.first_hash.clone(),
        }
    }

    /// SHA-256 of the open file's first line as it is now.
    pub fn current_first_hash(&mut self) -> std::io::Result<Option<String>> {
        first_line_sha256(&mut self.file)
    }

    /// Reads whole lines after `offset`, about `max` bytes (more when a single
    /// line is longer). With `take_partial`, a last line without newline is
    /// included. `None` when there is nothing complete to read.
    pub fn read(&mut self, max: usize, take_partial: bool) -> std::io::Result<Option<Chunk>> {
        self.file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        let mut eof = false;
        loop {
            let start = buf.len();
            buf.resize(start + READ_SIZE.min(max.max(1)), 0);
            let n = self.file.read(&mut buf[start..])?;
            buf.truncate(start + n);
            if n == 0 {
                eof = true;
                break;
            }
            let has_newline = buf[start..].contains(&b'\n') || buf[..start].contains(&b'\n');
            if buf.len() >= max && has_newline {
                break;
            }
        }
        let end = match buf.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if take_partial && eof && !buf.is_empty() => buf.len(),
            None => return Ok(None),
        };
        let end = if take_partial && eof { buf.len() } else { end };
        buf.truncate(end);
        let mut lines = buf.iter().filter(|b| **b == b'\n').count() as u64;
        if buf.last() != Some(&b'\n') {
            lines += 1;
        }
        Ok(Some(Chunk {
            first_line: self.line + 1,
            end_offset: self.offset + buf.len() as u64,
            end_line: self.line + lines,
            bytes: buf,
        }))
    }

    /// Marks `chunk` consumed.
    pub fn commit(&mut self, chunk: &Chunk) -> std::io::Result<()> {
        self.offset = chunk.end_offset;
        self.line = chunk.end_line;
        if self.first_hash.is_none() {
            self.first_hash = first_line_sha256(&mut self.file)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn partial_lines_wait_for_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, b"a\nbb\ncc").unwrap();
        let mut t = Tail::open(&p, 0, 0).unwrap();
        let c = t.read(1 << 20, false).unwrap().unwrap();
        assert_eq!(
            c.lines().collect::<Vec<_>>(),
            vec![(1, &b"a"[..]), (2, &b"bb"[..])]
        );
        t.commit(&c).unwrap();
        assert_eq!((t.offset, t.line), (5, 2));
        assert!(t.read(1 << 20, false).unwrap().is_none());
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"c\nd")
            .unwrap();
        let c = t.read(1 << 20, false).unwrap().unwrap();
        assert_eq!(c.lines().collect::<Vec<_>>(), vec![(3, &b"ccc"[..])]);
        t.commit(&c).unwrap();
        let c = t.read(1 << 20, true).unwrap().unwrap();
        assert_eq!(c.lines().collect::<Vec<_>>(), vec![(4, &b"d"[..])]);
        t.commit(&c).unwrap();
        assert_eq!(t.position().offset, 10);
    }

    #[test]
    fn small_max_still_makes_progress_on_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, b"0123456789\nab\n").unwrap();
        let mut t = Tail::open(&p, 0, 0).unwrap();
        let c = t.read(4, false).unwrap().unwrap();
        assert_eq!(c.lines().next().unwrap().1, b"0123456789");
    }
}
