//! `lunettes normalize [FILES|-] [--cluster NAME]`: every input to
//! HyperEvents, one JSON object per line on stdout.
//!
//! The reading is here (I/O); the normalizing is `lunettes_ingest`, the same
//! code the collectors run. Each cluster gets its own `Normalizer`, so pod
//! snapshots are diffed and Event uids resolved within a cluster only. Bad
//! records are printed to stderr as `input:line: reason` and make the exit
//! status 1; the records around them are still printed.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use lunettes_ingest::{HyperEvent, Normalizer};
use lunettes_schemas::time::format_rfc3339_micros;
use serde_json::{json, Value};

use crate::inputs::{is_stdin, read_inputs};

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Input files or directories (`DIR/<cluster>/...`); `-` or nothing reads stdin.
    pub inputs: Vec<PathBuf>,
    /// Cluster name for stdin and for files not under a cluster directory.
    #[arg(long, default_value = "default")]
    pub cluster: String,
}

/// Runs the subcommand: 0 when every input normalized, 1 when any record or file failed.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let paths = if args.inputs.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.inputs
    };
    let files = read_inputs(&paths, &args.cluster)?;
    let mut normalizers: HashMap<String, Normalizer> = HashMap::new();
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    let mut out = Vec::new();
    for (cluster, path) in files {
        let name = path.display().to_string();
        let bytes = match read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{name}: {e:#}");
                failed = true;
                continue;
            }
        };
        let n = normalizers
            .entry(cluster.clone())
            .or_insert_with(|| Normalizer::new(cluster));
        out.clear();
        let report = n.normalize_document(&name, &bytes, &mut out);
        for h in &out {
            serde_json::to_writer(&mut w, &to_json(h))?;
            w.write_all(b"\n")?;
        }
        if !report.errors.is_empty() {
            // Keep stdout and stderr roughly in step for a reader of both.
            w.flush()?;
            failed = true;
            for e in &report.errors {
                eprintln!("{e}");
            }
        }
    }
    w.flush()?;
    Ok(i32::from(failed))
}

fn read(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if is_stdin(path) {
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
    } else {
        bytes = std::fs::read(path).context("cannot read")?;
    }
    Ok(bytes)
}

/// The printed form of a HyperEvent: flat, with RFC 3339 times.
pub fn to_json(h: &HyperEvent) -> Value {
    let ev = h.event.as_ref();
    let actor = h.actor.as_ref();
    json!({
        "cluster": h.cluster,
        "source": h.source.as_str(),
        "kind": h.kind.as_str(),
        "time": format_rfc3339_micros(h.time_us),
        "observed": format_rfc3339_micros(h.observed_us),
        "time_precision": match h.time_precision {
            lunettes_schemas::TimePrecision::Micros => "micros",
            lunettes_schemas::TimePrecision::Seconds => "seconds",
        },
        "resource": h.object.resource,
        "namespace": h.object.namespace,
        "name": h.object.name,
        "uid": h.object.uid,
        "field_path": h.object.field_path,
        "operations": h.operations,
        "type": ev.map_or("", |e| e.type_.as_str()),
        "reason": ev.map_or("", |e| e.reason.as_str()),
        "message": ev.map_or("", |e| e.message.as_str()),
        "count": ev.map(|e| e.count),
        "component": ev.map_or("", |e| e.component.as_str()),
        "host": ev.map_or("", |e| e.host.as_str()),
        "first": ev.and_then(|e| e.first_us).map(format_rfc3339_micros),
        "verb": h.verb,
        "response_code": h.response_code,
        "response_message": h.response_message,
        "user": actor.map_or("", |a| a.user.as_str()),
        "user_agent": actor.map_or("", |a| a.user_agent.as_str()),
        "dedup_id": h.dedup_id,
        "pod": h.pod,
    })
}
