//! Normalizers: every Kubernetes input a user has, turned into
//! [`HyperEvent`]s.
//!
//! This crate is pure: no files, sockets or async runtime. Collectors and the
//! CLI read bytes and hand them to a [`Normalizer`]; the same code then serves
//! `lunettes normalize`, the Kafka collectors and the tests.
//!
//! Inputs (auto-detected, see `docs/operations.md` for what each yields):
//! kube-apiserver audit (`audit.k8s.io/v1` and `v1beta1` Events as JSON lines,
//! `EventList` webhook batches, GKE Cloud Logging `protoPayload` entries, the
//! Logstash audit CSV), Kubernetes Events (`v1`, `events.k8s.io/v1`, their
//! lists, GKE `jsonPayload` exports), and Pod snapshots (Pod, PodList, watch
//! events; JSON or multi-document YAML).
//!
//! A `Normalizer` is per cluster and stateful: it remembers pods it has seen
//! (bounded), to diff successive snapshots of a pod and to fill in the pod uid
//! of Events that lack it.
//!
//! ```
//! use lunettes_ingest::Normalizer;
//! let line = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","verb":"create","objectRef":{"resource":"pods","subresource":"binding","namespace":"ns","name":"web-1"},"responseStatus":{"code":201},"stageTimestamp":"2024-01-01T00:00:00.123456Z"}"#;
//! let mut n = Normalizer::new("prod-1");
//! let mut out = Vec::new();
//! assert_eq!(n.normalize_line("audit.log", 1, line, &mut out).unwrap(), 1);
//! assert_eq!(out[0].operations, ["schedule:binding:success"]);
//! assert_eq!(out[0].time_us % 1_000_000, 123_456);
//! ```
#![deny(missing_docs)]

mod audit;
mod csv;
mod detect;
mod emit;
mod error;
mod event;
mod gke;
mod k8s;
mod ops;
mod pod;
pub mod quantity;
pub mod redact;
mod route;
mod snapshot;
mod state;

pub use error::{InputError, Report};
pub use lunettes_schemas::HyperEvent;

use detect::Format;
use error::Outcome;
use route::Ctx;

/// Turns Kubernetes inputs of one cluster into HyperEvents.
#[derive(Debug)]
pub struct Normalizer {
    cluster: String,
    memory: state::Memory,
}

impl Normalizer {
    /// A normalizer for the cluster named `cluster`.
    pub fn new(cluster: impl Into<String>) -> Self {
        Normalizer {
            cluster: cluster.into(),
            memory: state::Memory::default(),
        }
    }

    /// The cluster this normalizer stamps on its HyperEvents.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Normalizes a whole input (file contents, stdin), detecting its format:
    /// JSON lines, one JSON document (audit Event or EventList, v1 or
    /// events.k8s.io Event or list, Pod, PodList, GKE LogEntry, an array of
    /// those), YAML documents, or the audit CSV. `input` names it in errors.
    ///
    /// Bad records are reported in [`Report::errors`] and never stop the
    /// records around them.
    pub fn normalize_document(
        &mut self,
        input: &str,
        bytes: &[u8],
        out: &mut Vec<HyperEvent>,
    ) -> Report {
        let mut report = Report::default();
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                // Line formats can still be read line by line; the bad lines
                // are reported one by one.
                let lossy = String::from_utf8_lossy(bytes);
                match detect::detect(&lossy) {
                    Format::JsonLines | Format::AuditCsv => {
                        self.lines(input, bytes, detect::detect(&lossy), out, &mut report);
                    }
                    _ => {
                        report.records += 1;
                        report.errors.push(InputError::new(
                            input,
                            None,
                            format!("input is not valid UTF-8 (byte {})", e.valid_up_to()),
                        ));
                    }
                }
                return report;
            }
        };
        let format = detect::detect(text);
        match format {
            Format::Empty => {}
            Format::JsonDocument => {
                let ctx = Ctx {
                    input,
                    line: Some(1),
                    observed: None,
                    path: String::new(),
                    item_kind: None,
                };
                self.route_json(&ctx, text, out, &mut report);
            }
            Format::JsonLines | Format::AuditCsv => {
                self.lines(input, bytes, format, out, &mut report)
            }
            Format::Yaml => self.yaml(input, text, out, &mut report),
        }
        report
    }

    /// After a complete list of this cluster's Pods (the keys in `listed`:
    /// uids, or `namespace/name` for pods without one), reports every pod a
    /// snapshot showed earlier that the list no longer holds: it was deleted
    /// while no watch was looking, so no `DELETED` event will ever come.
    /// Emits `pod:gone:unobserved` at `observed_us` (the list time, marked
    /// imprecise: the pod was gone by then) and returns how many HyperEvents
    /// were appended. `list_version` (the list's resourceVersion) makes the
    /// dedup ids unique per list.
    pub fn pods_missing_from_list(
        &mut self,
        listed: &std::collections::HashSet<String>,
        observed_us: i64,
        list_version: &str,
        out: &mut Vec<HyperEvent>,
    ) -> usize {
        snapshot::gone(
            &mut self.memory,
            &self.cluster,
            listed,
            observed_us,
            list_version,
            out,
        )
    }

    /// Normalizes one line of a JSON-lines stream (an audit log line, an
    /// Event or Pod as JSON, a GKE LogEntry, a watch event). `line_no` is
    /// 1-based and only used in errors. Returns the number of HyperEvents
    /// appended, or the error; a line holding a list reports its first bad
    /// item as the error after appending the good items' HyperEvents.
    pub fn normalize_line(
        &mut self,
        input: &str,
        line_no: u64,
        line: &[u8],
        out: &mut Vec<HyperEvent>,
    ) -> Result<usize, InputError> {
        let text = std::str::from_utf8(line).map_err(|e| {
            InputError::new(
                input,
                Some(line_no),
                format!("line is not valid UTF-8 (byte {})", e.valid_up_to()),
            )
        })?;
        let ctx = Ctx {
            input,
            line: Some(line_no),
            observed: None,
            path: String::new(),
            item_kind: None,
        };
        self.single(&ctx, text, out)
    }

    /// Normalizes one already-parsed JSON object of any supported kind (for
    /// the webhook and watch collectors). Returns the number of HyperEvents
    /// appended.
    ///
    /// The value is re-serialized and read by the same typed parser as raw
    /// input; collectors that hold the raw bytes should prefer
    /// [`Normalizer::normalize_line`] / [`Normalizer::normalize_document`].
    pub fn normalize_json_value(
        &mut self,
        input: &str,
        v: &serde_json::Value,
        out: &mut Vec<HyperEvent>,
    ) -> Result<usize, InputError> {
        let text =
            serde_json::to_string(v).map_err(|e| InputError::new(input, None, e.to_string()))?;
        let ctx = Ctx {
            input,
            line: None,
            observed: None,
            path: String::new(),
            item_kind: None,
        };
        self.single(&ctx, &text, out)
    }

    fn single(
        &mut self,
        ctx: &Ctx<'_>,
        text: &str,
        out: &mut Vec<HyperEvent>,
    ) -> Result<usize, InputError> {
        let mut report = Report::default();
        self.route_json(ctx, text, out, &mut report);
        match report.errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(report.events as usize),
        }
    }

    fn lines(
        &mut self,
        input: &str,
        bytes: &[u8],
        format: Format,
        out: &mut Vec<HyperEvent>,
        report: &mut Report,
    ) {
        for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            let line_no = i as u64 + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let raw = if i == 0 {
                raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw)
            } else {
                raw
            };
            let Ok(text) = std::str::from_utf8(raw) else {
                report.records += 1;
                report.errors.push(InputError::new(
                    input,
                    Some(line_no),
                    "line is not valid UTF-8",
                ));
                continue;
            };
            let ctx = Ctx {
                input,
                line: Some(line_no),
                observed: None,
                path: String::new(),
                item_kind: None,
            };
            match format {
                Format::AuditCsv => self.csv_row(&ctx, text, out, report),
                _ => self.route_json(&ctx, text, out, report),
            }
        }
    }

    fn csv_row(
        &mut self,
        ctx: &Ctx<'_>,
        text: &str,
        out: &mut Vec<HyperEvent>,
        report: &mut Report,
    ) {
        report.records += 1;
        let result = csv::fields(text).and_then(|f| match csv::view(&f)? {
            None => Ok(Outcome::Skipped),
            Some(view) => audit::process(&mut self.memory, &self.cluster, &view, out),
        });
        match result {
            Ok(Outcome::Emitted(n)) => report.events += n as u64,
            Ok(Outcome::Skipped) => report.skipped += 1,
            Err(e) => report.errors.push(ctx.error(e)),
        }
    }

    fn yaml(&mut self, input: &str, text: &str, out: &mut Vec<HyperEvent>, report: &mut Report) {
        for doc in detect::yaml_documents(text) {
            let ctx = Ctx {
                input,
                line: Some(doc.line),
                observed: doc.observed,
                path: String::new(),
                item_kind: None,
            };
            match serde_yaml::from_str::<serde_json::Value>(doc.text) {
                Ok(serde_json::Value::Null) => {}
                Ok(value) if !(value.is_object() || value.is_array()) => {
                    report.records += 1;
                    report.errors.push(ctx.error(
                        "YAML document is a plain value, not a Kubernetes object or log entry",
                    ));
                }
                Ok(value) => match serde_json::to_string(&value) {
                    Ok(json) => self.route_json(&ctx, &json, out, report),
                    Err(e) => {
                        report.records += 1;
                        report.errors.push(ctx.error(e));
                    }
                },
                Err(e) => {
                    report.records += 1;
                    let line = e
                        .location()
                        .map(|l| doc.line + l.line().saturating_sub(1) as u64)
                        .unwrap_or(doc.line);
                    report
                        .errors
                        .push(InputError::new(input, Some(line), format!("YAML: {e}")));
                }
            }
        }
    }
}
