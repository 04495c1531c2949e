//! Publishing recorded files (`lunettes ingest file`): anything
//! `lunettes analyze` reads, then final watermarks, then exit.
//!
//! Recorded inputs are not live, so the watermark is not the wall clock but
//! the largest event time read so far for the cluster: published every
//! `watermark_interval` while a file is read, and once more at the end of
//! each file, after all of that file's records were acknowledged. Processors
//! downstream then close deliveries exactly as they would have live.
//!
//! Directories are read like `lunettes analyze` does: each subdirectory is a
//! cluster named after it; files directly inside need `--cluster`. A
//! simulator's `truth.jsonl` (ground truth, not an input) is skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use lunettes_ingest::{InputError, Normalizer};
use lunettes_runtime::Shutdown;
use lunettes_schemas::{HyperEvent, Kind};

use crate::deadletter::dead_letter;
use crate::publish::{PublishError, Publisher};

/// Settings of the file source.
#[derive(Debug, Clone)]
pub struct FileSourceConfig {
    /// Cluster for files given directly (and files directly inside a directory).
    pub cluster: Option<String>,
    /// Files and directories.
    pub paths: Vec<PathBuf>,
    /// Watermark period while reading.
    pub watermark_interval: Duration,
    /// HyperEvents per published batch.
    pub batch_events: usize,
}

/// What the file source published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Files read.
    pub files: u64,
    /// HyperEvents acknowledged.
    pub events: u64,
    /// Dead letters acknowledged.
    pub dead_letters: u64,
    /// Watermark ticks published (each to every partition).
    pub watermarks: u64,
}

/// One input file and the cluster it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// Cluster name.
    pub cluster: String,
    /// Path of the file.
    pub path: PathBuf,
}

/// The files to read, grouped in order: each directory's subdirectories are
/// clusters; plain files take `cluster`.
pub fn list_inputs(paths: &[PathBuf], cluster: Option<&str>) -> anyhow::Result<Vec<InputFile>> {
    let need_cluster = |p: &Path| {
        cluster.map(str::to_string).with_context(|| {
            format!(
                "{}: --cluster is required for a file that is not in a cluster directory",
                p.display()
            )
        })
    };
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
        if meta.is_file() {
            out.push(InputFile {
                cluster: need_cluster(p)?,
                path: p.clone(),
            });
            continue;
        }
        for entry in sorted_entries(p)? {
            let name = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            if entry.is_dir() {
                for f in sorted_entries(&entry)? {
                    let fname = f
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if f.is_file() && !fname.starts_with('.') {
                        out.push(InputFile {
                            cluster: name.clone(),
                            path: f,
                        });
                    }
                }
            } else if name != "truth.jsonl" {
                out.push(InputFile {
                    cluster: need_cluster(&entry)?,
                    path: entry,
                });
            }
        }
    }
    Ok(out)
}

fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    v.sort();
    Ok(v)
}

struct ClusterState {
    normalizer: Normalizer,
    max_time_us: i64,
}

struct Run<'a> {
    cfg: &'a FileSourceConfig,
    publisher: &'a Publisher,
    shutdown: &'a Shutdown,
    stats: FileStats,
    last_watermark: Instant,
}

/// Publishes every input, with watermarks, and returns what was published.
pub async fn run(
    cfg: &FileSourceConfig,
    publisher: Arc<Publisher>,
    shutdown: Shutdown,
) -> anyhow::Result<FileStats> {
    let inputs = list_inputs(&cfg.paths, cfg.cluster.as_deref())?;
    let mut clusters: BTreeMap<String, ClusterState> = BTreeMap::new();
    let mut run = Run {
        cfg,
        publisher: &publisher,
        shutdown: &shutdown,
        stats: FileStats::default(),
        last_watermark: Instant::now(),
    };
    for input in &inputs {
        if shutdown.is_triggered() {
            anyhow::bail!("stopped by shutdown before {}", input.path.display());
        }
        let state = clusters
            .entry(input.cluster.clone())
            .or_insert_with(|| ClusterState {
                normalizer: Normalizer::new(input.cluster.clone()),
                max_time_us: 0,
            });
        run.file(input, state).await?;
        run.stats.files += 1;
        if state.max_time_us > 0 {
            run.watermark(&input.cluster, state.max_time_us).await?;
        }
    }
    Ok(run.stats)
}

/// Whether `bytes` is JSON lines: the first non-blank line is a whole JSON
/// object and another line follows. Such files are streamed line by line.
fn is_json_lines(bytes: &[u8]) -> bool {
    let mut lines = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    let Some(first) = lines.next() else {
        return false;
    };
    let first = first.strip_prefix("\u{feff}".as_bytes()).unwrap_or(first);
    first.trim_ascii_start().first() == Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(first).is_ok()
        && lines.next().is_some()
}

impl Run<'_> {
    async fn file(&mut self, input: &InputFile, state: &mut ClusterState) -> anyhow::Result<()> {
        let bytes = std::fs::read(&input.path)
            .with_context(|| format!("reading {}", input.path.display()))?;
        let name = input.path.display().to_string();
        let keep_raw = self.publisher.options().dead_letter_raw;
        let mut events = Vec::new();
        let mut dead = Vec::new();
        let mut records = 0u64;
        if is_json_lines(&bytes) {
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                records += 1;
                if let Err(e) =
                    state
                        .normalizer
                        .normalize_line(&name, i as u64 + 1, line, &mut events)
                {
                    dead.push(dead_letter(&input.cluster, &e, line, keep_raw));
                }
                if events.len() + dead.len() >= self.cfg.batch_events {
                    self.flush(&input.cluster, state, &mut events, &mut dead)
                        .await?;
                }
            }
        } else {
            let report = state
                .normalizer
                .normalize_document(&name, &bytes, &mut events);
            records += report.records;
            dead.extend(
                report
                    .errors
                    .iter()
                    .map(|e| dead_letter(&input.cluster, e, raw_of(&bytes, e), keep_raw)),
            );
        }
        self.publisher
            .metrics()
            .records_in
            .with_label_values(&[input.cluster.as_str(), "file"])
            .inc_by(records);
        // A whole document is published in batches too.
        while !events.is_empty() || !dead.is_empty() {
            let take = events.len().min(self.cfg.batch_events);
            let mut head: Vec<HyperEvent> = events.drain(..take).collect();
            let mut dl = if events.is_empty() {
                std::mem::take(&mut dead)
            } else {
                Vec::new()
            };
            self.flush(&input.cluster, state, &mut head, &mut dl)
                .await?;
        }
        Ok(())
    }

    async fn flush(
        &mut self,
        cluster: &str,
        state: &mut ClusterState,
        events: &mut Vec<HyperEvent>,
        dead: &mut Vec<lunettes_schemas::DeadLetter>,
    ) -> anyhow::Result<()> {
        self.publisher
            .publish_until_acked(events, dead, self.shutdown)
            .await
            .map_err(|e| match e {
                PublishError::Shutdown => {
                    anyhow::anyhow!("stopped by shutdown before the batch was acknowledged")
                }
                e => e.into(),
            })?;
        self.stats.events += events.len() as u64;
        self.stats.dead_letters += dead.len() as u64;
        if let Some(t) = events
            .iter()
            .filter(|e| e.kind != Kind::Watermark)
            .map(|e| e.time_us)
            .max()
        {
            state.max_time_us = state.max_time_us.max(t);
        }
        events.clear();
        dead.clear();
        if self.last_watermark.elapsed() >= self.cfg.watermark_interval && state.max_time_us > 0 {
            self.watermark(cluster, state.max_time_us).await?;
        }
        Ok(())
    }

    async fn watermark(&mut self, cluster: &str, time_us: i64) -> anyhow::Result<()> {
        self.publisher
            .publish_watermark(cluster, time_us)
            .await
            .with_context(|| format!("publishing the watermark of {cluster}"))?;
        self.stats.watermarks += 1;
        self.last_watermark = Instant::now();
        Ok(())
    }
}

/// The bytes a document error points at: its line when it names one, else the whole input.
fn raw_of<'b>(bytes: &'b [u8], e: &InputError) -> &'b [u8] {
    match e.line {
        Some(n) if n >= 1 => bytes
            .split(|b| *b == b'\n')
            .nth(n as usize - 1)
            .unwrap_or(bytes),
        _ => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_json_lines() {
        assert!(is_json_lines(b"{\"a\":1}\n{\"b\":2}\n"));
        assert!(!is_json_lines(b"{\n  \"a\": 1\n}\n"));
        assert!(!is_json_lines(b"apiVersion: v1\nkind: Pod\n"));
        assert!(!is_json_lines(b"{\"a\":1}\n"));
        assert!(!is_json_lines(b""));
    }

    #[test]
    fn directories_are_clusters() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("c1")).unwrap();
        std::fs::write(d.path().join("c1/audit.log"), b"{}\n").unwrap();
        std::fs::write(d.path().join("c1/events.jsonl"), b"{}\n").unwrap();
        std::fs::write(d.path().join("truth.jsonl"), b"{}\n").unwrap();
        let v = list_inputs(&[d.path().to_path_buf()], None).unwrap();
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|f| f.cluster == "c1"));
        std::fs::write(d.path().join("loose.json"), b"{}").unwrap();
        let e = list_inputs(&[d.path().to_path_buf()], None).unwrap_err();
        assert!(e.to_string().contains("--cluster is required"), "{e}");
        assert_eq!(
            list_inputs(&[d.path().to_path_buf()], Some("x"))
                .unwrap()
                .len(),
            3
        );
    }
}
