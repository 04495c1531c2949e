//! Where simulated lines go, and the per-cluster ordering that makes them
//! look like an apiserver's log.
//!
//! Pods are simulated one at a time in arrival order, but their records
//! interleave in time. Records wait in a min-heap keyed by stageTimestamp
//! and are released once every pod that could still write earlier has been
//! simulated (a pod never writes before it arrives), so memory stays bounded
//! by the pods in flight rather than the whole run.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::pod::Record;
use crate::truth::Truth;
use crate::SimError;

/// Receives the simulator's output, cluster by cluster.
pub trait SimSink {
    /// A cluster's lines are about to follow.
    fn begin_cluster(&mut self, _cluster: &str) -> io::Result<()> {
        Ok(())
    }
    /// One audit log line (no newline), in stageTimestamp order.
    fn audit_line(&mut self, cluster: &str, line: &str) -> io::Result<()>;
    /// One core v1 Event object as a watch delivers it (no newline).
    fn event_line(&mut self, cluster: &str, line: &str) -> io::Result<()>;
    /// The ground truth of one pod.
    fn truth(&mut self, truth: &Truth) -> io::Result<()>;
}

/// Everything one cluster emitted, in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterOutput {
    /// Cluster name (`sim-N`).
    pub cluster: String,
    /// audit.k8s.io/v1 Event JSON lines, sorted by stageTimestamp.
    pub audit_lines: Vec<String>,
    /// core v1 Event objects as a watch would deliver them, in write order.
    pub event_lines: Vec<String>,
}

/// Collects everything in memory (tests; small runs).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// Per-cluster lines, in cluster order.
    pub clusters: Vec<ClusterOutput>,
    /// Truth rows, cluster by cluster in arrival order.
    pub truths: Vec<Truth>,
}

impl MemorySink {
    fn current(&mut self, cluster: &str) -> &mut ClusterOutput {
        if self.clusters.last().is_none_or(|c| c.cluster != cluster) {
            self.clusters.push(ClusterOutput {
                cluster: cluster.to_string(),
                ..ClusterOutput::default()
            });
        }
        let last = self.clusters.len() - 1;
        &mut self.clusters[last]
    }
}

impl SimSink for MemorySink {
    fn begin_cluster(&mut self, cluster: &str) -> io::Result<()> {
        self.current(cluster);
        Ok(())
    }
    fn audit_line(&mut self, cluster: &str, line: &str) -> io::Result<()> {
        self.current(cluster).audit_lines.push(line.to_string());
        Ok(())
    }
    fn event_line(&mut self, cluster: &str, line: &str) -> io::Result<()> {
        self.current(cluster).event_lines.push(line.to_string());
        Ok(())
    }
    fn truth(&mut self, truth: &Truth) -> io::Result<()> {
        self.truths.push(truth.clone());
        Ok(())
    }
}

/// Writes `DIR/<cluster>/audit.log`, `DIR/<cluster>/events.jsonl` and
/// `DIR/truth.jsonl`.
pub struct DirSink {
    dir: PathBuf,
    cluster: Option<(String, BufWriter<File>, BufWriter<File>)>,
    truth: BufWriter<File>,
    truth_path: PathBuf,
}

fn io_err(path: &Path, source: io::Error) -> SimError {
    SimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create(path: &Path) -> Result<BufWriter<File>, SimError> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 20, f))
        .map_err(|e| io_err(path, e))
}

impl DirSink {
    /// Creates `dir` (and parents) and `truth.jsonl` in it.
    pub fn create(dir: &Path) -> Result<Self, SimError> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let truth_path = dir.join("truth.jsonl");
        Ok(DirSink {
            dir: dir.to_path_buf(),
            cluster: None,
            truth: create(&truth_path)?,
            truth_path,
        })
    }

    fn close_cluster(&mut self) -> io::Result<()> {
        if let Some((_, mut a, mut e)) = self.cluster.take() {
            a.flush()?;
            e.flush()?;
        }
        Ok(())
    }

    /// Flushes and closes every file.
    pub fn finish(mut self) -> Result<(), SimError> {
        let dir = self.dir.clone();
        self.close_cluster().map_err(|e| io_err(&dir, e))?;
        self.truth.flush().map_err(|e| io_err(&self.truth_path, e))
    }

    fn files(
        &mut self,
        cluster: &str,
    ) -> io::Result<&mut (String, BufWriter<File>, BufWriter<File>)> {
        if self.cluster.as_ref().is_none_or(|c| c.0 != cluster) {
            self.begin_cluster(cluster)?;
        }
        self.cluster
            .as_mut()
            .ok_or_else(|| io::Error::other("cluster output not open"))
    }
}

impl SimSink for DirSink {
    fn begin_cluster(&mut self, cluster: &str) -> io::Result<()> {
        self.close_cluster()?;
        let d = self.dir.join(cluster);
        fs::create_dir_all(&d)?;
        let a = BufWriter::with_capacity(1 << 20, File::create(d.join("audit.log"))?);
        let e = BufWriter::with_capacity(1 << 20, File::create(d.join("events.jsonl"))?);
        self.cluster = Some((cluster.to_string(), a, e));
        Ok(())
    }
    fn audit_line(&mut self, cluster: &str, line: &str) -> io::Result<()> {
        let f = &mut self.files(cluster)?.1;
        f.write_all(line.as_bytes())?;
        f.write_all(b"\n")
    }
    fn event_line(&mut self, cluster: &str, line: &str) -> io::Result<()> {
        let f = &mut self.files(cluster)?.2;
        f.write_all(line.as_bytes())?;
        f.write_all(b"\n")
    }
    fn truth(&mut self, truth: &Truth) -> io::Result<()> {
        self.truth.write_all(truth.to_json_line().as_bytes())?;
        self.truth.write_all(b"\n")
    }
}

/// Counts of what a run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Pods simulated (truth rows).
    pub pods: usize,
    /// Audit lines written.
    pub audit_lines: u64,
    /// Bytes of audit lines (without newlines).
    pub audit_bytes: u64,
    /// Event lines written.
    pub event_lines: u64,
    /// Pods per injected fault name (`none` included).
    pub faults: BTreeMap<String, usize>,
}

struct Pending(Record, u64);

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.0.stage_us, self.1).cmp(&(other.0.stage_us, other.1))
    }
}

/// Orders one cluster's records by stageTimestamp and releases them.
pub(crate) struct Orderer {
    heap: BinaryHeap<Reverse<Pending>>,
    seq: u64,
}

impl Orderer {
    pub(crate) fn new() -> Self {
        Orderer {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    pub(crate) fn push(&mut self, records: Vec<Record>) {
        for r in records {
            self.seq += 1;
            self.heap.push(Reverse(Pending(r, self.seq)));
        }
    }

    /// Writes every record strictly before `until` (all of them for `None`).
    pub(crate) fn release(
        &mut self,
        until: Option<i64>,
        cluster: &str,
        sink: &mut dyn SimSink,
        stats: &mut SimStats,
    ) -> io::Result<()> {
        while let Some(Reverse(top)) = self.heap.peek() {
            if until.is_some_and(|u| top.0.stage_us >= u) {
                break;
            }
            let Some(Reverse(Pending(rec, _))) = self.heap.pop() else {
                break;
            };
            sink.audit_line(cluster, &rec.audit)?;
            stats.audit_lines += 1;
            stats.audit_bytes += rec.audit.len() as u64;
            if let Some(w) = &rec.watch {
                sink.event_line(cluster, w)?;
                stats.event_lines += 1;
            }
        }
        Ok(())
    }
}
