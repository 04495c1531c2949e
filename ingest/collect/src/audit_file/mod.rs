//! Following a JSON-lines audit log (`--audit-log-path`) through rotation.
//!
//! The guarantee is "a restart neither loses nor repeats a line": lines are
//! read in chunks, normalized, published, and only once Kafka acknowledged the
//! whole chunk is the position after it persisted. A stop at any point
//! resumes from the last acknowledged line.
//!
//! Rotation, both styles:
//! * **rename + create** (kube-apiserver's own `--audit-log-maxsize`,
//!   logrotate `create`): the path names a new inode. The old file is drained
//!   to its end first (through the still-open descriptor), then the new one
//!   is read from 0.
//! * **copytruncate**: same inode, but shorter than our offset or with another
//!   first line. Lines written after our last read and before the copy are in
//!   the copy (a sibling file with our first line), so the rest is read from
//!   there, then the truncated file from 0.
//!
//! At start the saved position is matched the same way: the current file if
//! identity and first line agree, else a sibling with the saved inode (a
//! rename while we were down) or with the saved first line (a copy), drained
//! from the saved offset, then the current file from 0.

mod position;
mod tail;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lunettes_ingest::Normalizer;
use lunettes_runtime::Shutdown;

pub use position::{FileId, Position};
use tail::{Chunk, Tail};

use crate::deadletter::dead_letter;
use crate::publish::{PublishError, Publisher};

/// Settings of the audit-file follower.
#[derive(Debug, Clone)]
pub struct AuditFileConfig {
    /// Cluster name stamped on every HyperEvent.
    pub cluster: String,
    /// The audit log to follow.
    pub path: PathBuf,
    /// Where the position is persisted.
    pub state_file: PathBuf,
    /// How often to look for new lines and rotation when idle.
    pub poll_interval: Duration,
    /// Bytes read per batch (a batch is published and acknowledged as one).
    pub batch_bytes: usize,
}

impl AuditFileConfig {
    /// Defaults for `path` and `state_file`: 200 ms polls, 4 MiB batches.
    pub fn new(cluster: &str, path: PathBuf, state_file: PathBuf) -> Self {
        AuditFileConfig {
            cluster: cluster.to_string(),
            path,
            state_file,
            poll_interval: Duration::from_millis(200),
            batch_bytes: 4 << 20,
        }
    }
}

/// What a follower did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowStats {
    /// Lines read and acknowledged.
    pub lines: u64,
    /// HyperEvents acknowledged.
    pub events: u64,
    /// Dead letters acknowledged.
    pub dead_letters: u64,
    /// Rotations followed.
    pub rotations: u64,
}

struct Follower {
    cfg: AuditFileConfig,
    normalizer: Normalizer,
    publisher: Arc<Publisher>,
    shutdown: Shutdown,
    stats: FollowStats,
}

/// Follows the log until shutdown; returns what it did.
pub async fn run(
    cfg: AuditFileConfig,
    publisher: Arc<Publisher>,
    shutdown: Shutdown,
) -> anyhow::Result<FollowStats> {
    let saved = Position::load(&cfg.state_file)?;
    let mut f = Follower {
        normalizer: Normalizer::new(cfg.cluster.clone()),
        cfg,
        publisher,
        shutdown,
        stats: FollowStats::default(),
    };
    let Some(mut tail) = f.start(saved).await? else {
        return Ok(f.stats);
    };
    loop {
        if f.shutdown.is_triggered() {
            break;
        }
        // Rotation is checked before every read, and a chunk read while the
        // file was being rewritten is discarded (see `consume`): otherwise a
        // truncated file that regrew past our offset would be read from the
        // middle of another line.
        match f.check_rotation(&mut tail).await {
            Ok(Some(next)) => {
                tail = next;
                f.stats.rotations += 1;
                tail.position().store(&f.cfg.state_file)?;
                continue;
            }
            Ok(None) => {}
            Err(e) if is_shutdown(&e) => break,
            Err(e) => return Err(e),
        }
        match f.consume(&mut tail, false).await {
            Ok(Consumed::Lines) => continue,
            Ok(Consumed::Rewritten) => continue,
            Ok(Consumed::Nothing) => {}
            Err(e) if is_shutdown(&e) => break,
            Err(e) => return Err(e),
        }
        if f.sleep().await {
            break;
        }
    }
    Ok(f.stats)
}

fn is_shutdown(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<PublishError>(),
        Some(PublishError::Shutdown)
    )
}

impl Follower {
    /// Sleeps one poll interval; true when shutdown began.
    async fn sleep(&self) -> bool {
        let wait = self.shutdown.clone().wait();
        tokio::select! {
            _ = tokio::time::sleep(self.cfg.poll_interval) => false,
            _ = wait => true,
        }
    }

    /// Opens where the saved position says, draining a rotated-away file first.
    async fn start(&mut self, saved: Option<Position>) -> anyhow::Result<Option<Tail>> {
        let path = self.cfg.path.clone();
        loop {
            if path.exists() {
                break;
            }
            tracing::info!(path = %path.display(), "waiting for the audit log to appear");
            if self.sleep().await {
                return Ok(None);
            }
        }
        let current =
            Tail::open(&path, 0, 0).with_context(|| format!("opening {}", path.display()))?;
        let Some(pos) = saved else {
            return Ok(Some(current));
        };
        let len = current.len()?;
        if pos.same_file(current.id, current.first_hash.as_deref()) && len >= pos.offset {
            let mut t = current;
            t.offset = pos.offset;
            t.line = pos.line;
            return Ok(Some(t));
        }
        match find_sibling(&path, &pos, Some(current.id))? {
            Some(old) => {
                tracing::info!(from = %old.display(), offset = pos.offset, "resuming in the rotated file first");
                let mut t = Tail::open(&old, pos.offset, pos.line)?;
                // The saved identity stays the one persisted while draining, so a
                // stop here resumes in the same place.
                t.id = pos.file;
                match self.drain(&mut t).await {
                    Ok(()) => {}
                    Err(e) if is_shutdown(&e) => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
            None => tracing::warn!(
                path = %path.display(),
                "the file of the saved position is gone; reading the current file from its start"
            ),
        }
        let t = Tail::open(&path, 0, 0)?;
        t.position().store(&self.cfg.state_file)?;
        Ok(Some(t))
    }

    /// Reads, publishes and commits one chunk.
    async fn consume(&mut self, tail: &mut Tail, take_partial: bool) -> anyhow::Result<Consumed> {
        let Some(chunk) = tail
            .read(self.cfg.batch_bytes, take_partial)
            .with_context(|| format!("reading {}", tail.path.display()))?
        else {
            return Ok(Consumed::Nothing);
        };
        // Truncated (and maybe rewritten) while we read: the chunk may be
        // another file's content at our offset. Drop it; rotation handling
        // reads the lines from the copy.
        if rewritten_in_place(tail)? {
            return Ok(Consumed::Rewritten);
        }
        self.publish(&tail.path, &chunk).await?;
        tail.commit(&chunk)?;
        tail.position().store(&self.cfg.state_file)?;
        Ok(Consumed::Lines)
    }

    /// Reads `tail` to its very end, including an unterminated last line.
    async fn drain(&mut self, tail: &mut Tail) -> anyhow::Result<()> {
        while self.consume(tail, true).await? == Consumed::Lines {}
        Ok(())
    }

    async fn publish(&mut self, path: &Path, chunk: &Chunk) -> anyhow::Result<()> {
        let input = path.display().to_string();
        let keep_raw = self.publisher.options().dead_letter_raw;
        let mut events = Vec::new();
        let mut dead = Vec::new();
        let mut lines = 0u64;
        for (no, line) in chunk.lines() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines += 1;
            if let Err(e) = self
                .normalizer
                .normalize_line(&input, no, line, &mut events)
            {
                dead.push(dead_letter(&self.cfg.cluster, &e, line, keep_raw));
            }
        }
        self.publisher
            .metrics()
            .records_in
            .with_label_values(&[self.cfg.cluster.as_str(), "audit-file"])
            .inc_by(lines);
        self.publisher
            .publish_until_acked(&events, &dead, &self.shutdown)
            .await?;
        self.stats.lines += lines;
        self.stats.events += events.len() as u64;
        self.stats.dead_letters += dead.len() as u64;
        Ok(())
    }

    /// At the end of the open file: has the path been rotated? Returns the
    /// file to continue with after draining what belongs to the old one.
    async fn check_rotation(&mut self, tail: &mut Tail) -> anyhow::Result<Option<Tail>> {
        let meta = match std::fs::metadata(&self.cfg.path) {
            Ok(m) => m,
            // Renamed away, not yet re-created: keep reading the open file.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("stat {}", self.cfg.path.display())),
        };
        if FileId::of(&meta) != tail.id {
            // rename + create: the open descriptor still reads the old file.
            tracing::info!(path = %self.cfg.path.display(), "rotation (rename): draining the old file");
            self.drain(tail).await?;
            return Ok(Some(Tail::open(&self.cfg.path, 0, 0)?));
        }
        if !rewritten_in_place(tail)? {
            return Ok(None);
        }
        tracing::info!(path = %self.cfg.path.display(), "rotation (copytruncate)");
        let pos = tail.position();
        if let Some(copy) = find_sibling(&self.cfg.path, &pos, Some(tail.id))? {
            let mut t = Tail::open(&copy, pos.offset, pos.line)?;
            t.id = pos.file;
            t.first_hash = pos.first_line_sha256.clone();
            if t.len()? > pos.offset {
                tracing::info!(copy = %copy.display(), "reading the lines the copy holds beyond our offset");
                self.drain(&mut t).await?;
            }
        }
        Ok(Some(Tail::open(&self.cfg.path, 0, 0)?))
    }
}

/// What one read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consumed {
    /// Lines were published and committed.
    Lines,
    /// No complete line.
    Nothing,
    /// The file was truncated or rewritten under us; nothing was consumed.
    Rewritten,
}

/// Whether the open file was truncated (shorter than our offset) or now
/// starts with another first line: a copytruncate rotation.
fn rewritten_in_place(tail: &mut Tail) -> anyhow::Result<bool> {
    if tail.len()? < tail.offset {
        return Ok(true);
    }
    if tail.first_hash.is_none() {
        return Ok(false);
    }
    let now = tail.current_first_hash()?;
    Ok(now.is_some() && now != tail.first_hash)
}

/// A file next to `path` (its name starting with `path`'s) that holds the
/// saved position: the saved inode (a renamed file), or the saved first line
/// and at least the saved offset (a copy). `exclude` is the current file.
fn find_sibling(
    path: &Path,
    pos: &Position,
    exclude: Option<FileId>,
) -> anyhow::Result<Option<PathBuf>> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut by_content = None;
    let entries = std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries.flatten() {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if p == path || !name.starts_with(&base) || name.ends_with(".gz") || name.ends_with(".zst")
        {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let id = FileId::of(&meta);
        if Some(id) == exclude && id != pos.file {
            continue;
        }
        let hash = position::first_line_sha256_of(&p).ok().flatten();
        if id == pos.file && pos.same_content(hash.as_deref()) {
            return Ok(Some(p));
        }
        if pos.first_line_sha256.is_some()
            && pos.same_content(hash.as_deref())
            && meta.len() >= pos.offset
        {
            by_content = Some(p);
        }
    }
    Ok(by_content)
}
