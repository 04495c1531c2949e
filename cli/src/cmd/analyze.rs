//! `lunettes analyze`: normalize recorded inputs and run the delivery engine
//! over them, printing one verdict per delivery (table or JSON lines).
//!
//! The same engine as the Kafka workers: files are normalized per cluster
//! (one stateful normalizer per cluster, so Pod snapshot diffs work), each
//! cluster's events are sorted by time, fed to the engine, and `finish()`
//! judges what is still in flight as of the last event time. When a
//! delivery was re-emitted with a higher version (a late completion, a delete
//! tier), only the latest version is printed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use lunettes_processor::{Engine, EngineConfig, SloConfig, SpanConfig};
use lunettes_schemas::time::format_rfc3339_micros;
use lunettes_schemas::{Delivery, DeliveryResult, HyperEvent, Output, SpanRecord};
use serde_json::{json, Map, Value};

use crate::inputs::{is_stdin, read_inputs};

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Input files or directories (`DIR/<cluster>/...`); `-` reads stdin.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Cluster name for stdin and for files not under a cluster directory.
    #[arg(long, default_value = "default")]
    cluster: String,
    /// SLO configuration (the README's JSON format); default: config/slo.json.
    #[arg(long)]
    slo_config: Option<PathBuf>,
    /// Span configuration (the README's JSON format); default: config/spans.json.
    #[arg(long)]
    span_config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Add each delivery's spans (JSON: under `spans`; table: indented lines).
    #[arg(long)]
    spans: bool,
}

/// Output formats.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// A table per delivery, then an SLO summary per namespace.
    Table,
    /// One JSON object per delivery per line.
    Json,
}

fn read(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if is_stdin(path) {
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("cannot read stdin")?;
    } else {
        buf = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    }
    Ok(buf)
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let mut cfg = EngineConfig::default();
    if let Some(p) = &args.slo_config {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))?;
        cfg.slo = SloConfig::from_json(&text).with_context(|| format!("{}", p.display()))?;
    }
    if let Some(p) = &args.span_config {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))?;
        cfg.spans = SpanConfig::from_json(&text).with_context(|| format!("{}", p.display()))?;
    }
    cfg.emit_spans = args.spans;

    // Normalize, one normalizer per cluster.
    let inputs = read_inputs(&args.files, &args.cluster)?;
    let mut per_cluster: BTreeMap<String, (lunettes_ingest::Normalizer, Vec<HyperEvent>)> =
        BTreeMap::new();
    let mut failed = false;
    for (cluster, path) in &inputs {
        let bytes = read(path)?;
        let (norm, events) = per_cluster.entry(cluster.clone()).or_insert_with(|| {
            (
                lunettes_ingest::Normalizer::new(cluster.clone()),
                Vec::new(),
            )
        });
        let name = path.display().to_string();
        let report = norm.normalize_document(&name, &bytes, events);
        for e in &report.errors {
            eprintln!("lunettes: {e}");
            failed = true;
        }
    }

    // Run the engine, each cluster's events in time order.
    let mut engine = Engine::new(cfg);
    let mut out = Vec::new();
    for (_, (_, events)) in per_cluster.iter_mut() {
        events.sort_by_key(|e| e.time_us);
        engine.process_batch(events, &mut out);
    }
    engine.finish(&mut out);

    // Latest version of each delivery; spans by delivery id.
    let mut latest: BTreeMap<String, Delivery> = BTreeMap::new();
    let mut spans: BTreeMap<String, Vec<SpanRecord>> = BTreeMap::new();
    for o in out {
        match o {
            Output::Delivery(d) => {
                if latest.get(&d.id).is_none_or(|old| old.version <= d.version) {
                    latest.insert(d.id.clone(), d);
                }
            }
            Output::Span(s) => spans.entry(s.delivery_id.to_string()).or_default().push(s),
            Output::Window(_) => {}
        }
    }
    let mut ds: Vec<Delivery> = latest.into_values().collect();
    ds.sort_by(|a, b| {
        (&a.cluster, a.created_at_us, &a.namespace, &a.name, a.action).cmp(&(
            &b.cluster,
            b.created_at_us,
            &b.namespace,
            &b.name,
            b.action,
        ))
    });

    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Json => {
            for d in &ds {
                let mut v = delivery_json(d);
                if args.spans {
                    let list = spans.get(&d.id).map(|s| s.as_slice()).unwrap_or(&[]);
                    v["spans"] = Value::Array(list.iter().map(span_json).collect());
                }
                writeln!(w, "{v}")?;
            }
        }
        Format::Table => print_table(&mut w, &ds, args.spans.then_some(&spans))?,
    }
    w.flush()?;
    Ok(if failed { 1 } else { 0 })
}

fn opt_ms(v: Option<i64>) -> Value {
    v.map(Value::from).unwrap_or(Value::Null)
}

fn delivery_json(d: &Delivery) -> Value {
    let mut phases = Map::new();
    for (name, v) in d.phases.iter() {
        phases.insert(format!("{name}_ms"), opt_ms(v));
    }
    json!({
        "cluster": d.cluster,
        "namespace": d.namespace,
        "name": d.name,
        "uid": d.uid,
        "action": d.action.as_str(),
        "result": d.result.as_str(),
        "code": d.code,
        "sub_reason": d.sub_reason,
        "summary": d.summary,
        "created_at": format_rfc3339_micros(d.created_at_us),
        "finished_at": d.finished_at_us.map(format_rfc3339_micros),
        "decided_at": format_rfc3339_micros(d.decided_at_us),
        "deadline": d.deadline_us.map(format_rfc3339_micros),
        "sli_ms": opt_ms(d.sli_ms),
        "k8s_sli_ms": opt_ms(d.k8s_sli_ms),
        "slo_ms": opt_ms(d.slo_ms),
        "slo_class": d.slo_class,
        "phases": Value::Object(phases),
        "node": d.node,
        "owner_kind": d.owner_kind,
        "owner_name": d.owner_name,
        "is_job": d.is_job,
        "flags": d.flags,
        "id": d.id,
        "version": d.version,
        "trace_id": d.trace_id,
    })
}

fn span_json(s: &SpanRecord) -> Value {
    json!({
        "name": s.name,
        "instance": s.instance,
        "owner": s.owner,
        "start": format_rfc3339_micros(s.start_us),
        "end": format_rfc3339_micros(s.end_us),
        "duration_ms": (s.end_us - s.start_us) / 1000,
        "status": s.status,
        "status_message": s.status_message,
        "span_id": s.span_id,
        "parent_span_id": s.parent_span_id,
        "attributes": s.attributes,
    })
}

fn secs(v: Option<i64>) -> String {
    match v {
        Some(ms) => format!("{:.1}", ms as f64 / 1000.0),
        None => "-".into(),
    }
}

fn print_table(
    w: &mut impl Write,
    ds: &[Delivery],
    spans: Option<&BTreeMap<String, Vec<SpanRecord>>>,
) -> anyhow::Result<()> {
    let rows: Vec<[String; 7]> = ds
        .iter()
        .map(|d| {
            let p = &d.phases;
            let phases = format!(
                "{}/{}/{}/{}/{}/{}",
                secs(p.schedule_ms),
                secs(p.sandbox_ms),
                secs(p.image_pull_ms),
                secs(p.init_ms),
                secs(p.container_start_ms),
                secs(p.readiness_ms)
            );
            [
                format!("{}/{}", d.namespace, d.name),
                d.action.as_str().to_string(),
                d.result.as_str().to_string(),
                if d.code.is_empty() {
                    "-".into()
                } else {
                    d.code.clone()
                },
                secs(d.sli_ms),
                secs(d.slo_ms),
                phases,
            ]
        })
        .collect();
    let head = [
        "POD",
        "ACTION",
        "RESULT",
        "CODE",
        "SLI(s)",
        "SLO(s)",
        "PHASES(s) sched/sandbox/pull/init/start/ready",
    ];
    let mut widths = head.map(|h| h.len());
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |w: &mut dyn Write, cells: &[&str]| -> std::io::Result<()> {
        for (i, c) in cells.iter().enumerate() {
            write!(w, "{:<width$}  ", c, width = widths[i])?;
        }
        writeln!(w)
    };
    line(w, &head)?;
    for (d, r) in ds.iter().zip(&rows) {
        let cells: Vec<&str> = r.iter().map(|s| s.as_str()).collect();
        line(w, &cells)?;
        writeln!(w, "    {}", d.summary)?;
        if let Some(all) = spans {
            for s in all.get(&d.id).map(|v| v.as_slice()).unwrap_or(&[]) {
                let inst = if s.instance.is_empty() {
                    String::new()
                } else {
                    format!("[{}]", s.instance)
                };
                writeln!(
                    w,
                    "      {}{} {:?} {} ms {:?}",
                    s.name,
                    inst,
                    s.owner,
                    (s.end_us - s.start_us) / 1000,
                    s.status
                )?;
            }
        }
    }
    // SLO summary per (cluster, namespace, action).
    #[derive(Default)]
    struct Sum {
        total: u64,
        success: u64,
        codes: BTreeMap<String, u64>,
    }
    let mut sums: BTreeMap<(String, String, &str), Sum> = BTreeMap::new();
    for d in ds {
        let s = sums
            .entry((d.cluster.clone(), d.namespace.clone(), d.action.as_str()))
            .or_default();
        s.total += 1;
        if d.result == DeliveryResult::Success {
            s.success += 1;
        } else if !d.code.is_empty() {
            *s.codes.entry(d.code.clone()).or_default() += 1;
        }
    }
    writeln!(w)?;
    writeln!(w, "SLO summary")?;
    for ((cluster, ns, action), s) in &sums {
        let mut top: Vec<(&String, &u64)> = s.codes.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<String> = top
            .iter()
            .take(3)
            .map(|(c, n)| format!("{c} x{n}"))
            .collect();
        writeln!(
            w,
            "  {cluster}/{ns} {action}: {} deliveries, success {:.1}%{}",
            s.total,
            100.0 * s.success as f64 / s.total.max(1) as f64,
            if top.is_empty() {
                String::new()
            } else {
                format!(", top codes: {}", top.join(", "))
            }
        )?;
    }
    Ok(())
}
