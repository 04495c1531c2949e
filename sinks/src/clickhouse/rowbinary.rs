//! Delivery records straight from Avro to RowBinary, without a Rust value.
//!
//! The `deliveries` columns are the fields of the `Delivery` Avro record in
//! schema order, with `phases` flattened and the `_us` suffix of timestamps
//! dropped (see [`DeliveryRow`]). So a record can be *transcoded*: each Avro
//! field is read from the payload and written at once as its RowBinary
//! column, strings copied once from the Kafka payload into the batch buffer.
//! No `Delivery`, no `DeliveryRow`, no per-row allocation: the sink's per-row
//! CPU cost drops to reading varints and copying bytes (BENCHMARKS.md,
//! "ClickHouse sink").
//!
//! The transcoder is compiled from the current `Delivery` schema and checked
//! against the table's column list; it only reads payloads written with that
//! exact schema (by fingerprint). Anything else (an older writer schema, or
//! bytes the transcoder rejects) takes the reference path: decode into
//! `Delivery` through [`avro::decode`], re-encode with the current schema and
//! transcode that, so the result and the error verdict are the reference
//! path's. Tests check the bytes equal what the `clickhouse` crate writes for
//! the `DeliveryRow` of the same record.
//!
//! [`DeliveryRow`]: super::request_builder::DeliveryRow

use std::sync::OnceLock;

use lunettes_schemas::avro::{self, AvroRecord};
use lunettes_schemas::avro_fast::{DatumReader, FastError, FastSchema};
use lunettes_schemas::{Action, Delivery, DeliveryResult};
use serde::de::{Deserialize, IntoDeserializer};

/// Columns of `deliveries`, in table order (the fields of `DeliveryRow`).
pub const DELIVERY_COLUMNS: [&str; 32] = [
    "id",
    "version",
    "cluster",
    "namespace",
    "name",
    "uid",
    "action",
    "result",
    "code",
    "sub_reason",
    "summary",
    "created_at",
    "finished_at",
    "decided_at",
    "deadline",
    "slo_ms",
    "slo_class",
    "sli_ms",
    "k8s_sli_ms",
    "schedule_ms",
    "image_pull_ms",
    "sandbox_ms",
    "init_ms",
    "container_start_ms",
    "readiness_ms",
    "node",
    "pod_ip",
    "owner_kind",
    "owner_name",
    "is_job",
    "flags",
    "trace_id",
];

/// How one column is read from Avro and written as RowBinary.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    /// `string` -> `String`.
    Str,
    /// `int` -> `Int32`.
    Int,
    /// `long` -> `Int64` / `DateTime64`.
    Long,
    /// `boolean` -> `Bool`.
    Bool,
    /// `["null", "long"]` (either order) -> `Nullable(Int64)`; the index of
    /// the null branch.
    NullableLong(i64),
    /// `enum` -> `String`: the column value of each symbol.
    Enum(Vec<&'static str>),
    /// `array` of `string` -> `Array(String)`.
    StrArray,
}

/// Why a payload could not be transcoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TranscodeError(pub String);

impl From<FastError> for TranscodeError {
    fn from(e: FastError) -> Self {
        TranscodeError(e.0)
    }
}

fn fail<T>(msg: &str) -> Result<T, TranscodeError> {
    Err(TranscodeError(msg.to_string()))
}

/// The Avro `Delivery` -> RowBinary `deliveries` transcoder.
#[derive(Debug)]
pub struct DeliveryTranscoder {
    fingerprint: [u8; 8],
    ops: Vec<Op>,
}

fn enum_column(field: &str, symbol: &str) -> Option<&'static str> {
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        symbol.into_deserializer();
    match field {
        "action" => Action::deserialize(de).ok().map(Action::as_str),
        "result" => DeliveryResult::deserialize(de)
            .ok()
            .map(DeliveryResult::as_str),
        _ => None,
    }
}

/// Flattens `fields` (recursing into records) into column ops.
fn compile(names: &[String], fields: &[FastSchema], out: &mut Vec<(String, Op)>) -> Option<()> {
    for (name, schema) in names.iter().zip(fields) {
        let op = match schema {
            FastSchema::Record(rec) => {
                compile(&rec.field_names, &rec.fields, out)?;
                continue;
            }
            FastSchema::String => Op::Str,
            FastSchema::Int => Op::Int,
            FastSchema::Long => Op::Long,
            FastSchema::Boolean => Op::Bool,
            FastSchema::Union(b) => match b.as_slice() {
                [FastSchema::Null, FastSchema::Long] => Op::NullableLong(0),
                [FastSchema::Long, FastSchema::Null] => Op::NullableLong(1),
                _ => return None,
            },
            FastSchema::Enum(symbols) => Op::Enum(
                symbols
                    .iter()
                    .map(|s| enum_column(name, s))
                    .collect::<Option<_>>()?,
            ),
            FastSchema::Array(items) if **items == FastSchema::String => Op::StrArray,
            _ => return None,
        };
        let column = name.strip_suffix("_us").unwrap_or(name);
        out.push((column.to_string(), op));
    }
    Some(())
}

impl DeliveryTranscoder {
    /// Compiles the transcoder for the current `Delivery` schema; `None` if
    /// that schema no longer maps column by column onto `deliveries` (the
    /// sink then stays on the reference path).
    pub fn new() -> Option<Self> {
        let schema = Delivery::schema();
        let FastSchema::Record(rec) = schema.fast()? else {
            return None;
        };
        let mut cols = Vec::new();
        compile(&rec.field_names, &rec.fields, &mut cols)?;
        let names_match = cols.len() == DELIVERY_COLUMNS.len()
            && cols.iter().zip(DELIVERY_COLUMNS).all(|((n, _), c)| n == c);
        names_match.then(|| DeliveryTranscoder {
            fingerprint: schema.fingerprint,
            ops: cols.into_iter().map(|(_, op)| op).collect(),
        })
    }

    /// The process-wide transcoder (`None`: see [`DeliveryTranscoder::new`]).
    pub fn global() -> Option<&'static Self> {
        static T: OnceLock<Option<DeliveryTranscoder>> = OnceLock::new();
        T.get_or_init(DeliveryTranscoder::new).as_ref()
    }

    /// Appends the RowBinary row of the single-object Avro `payload` to
    /// `out`. On error `out` is left as it was and the error is the one of
    /// the reference path ([`avro::decode`] into `Delivery`).
    pub fn append(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), TranscodeError> {
        let start = out.len();
        if let Ok((fp, datum)) = avro::split_header(payload) {
            if fp == self.fingerprint && self.transcode(datum, out).is_ok() {
                return Ok(());
            }
        }
        out.truncate(start);
        // Reference path: decode, re-encode with the current schema.
        let d = avro::decode::<Delivery>(payload).map_err(|e| TranscodeError(e.to_string()))?;
        let bytes = avro::encode(&d).map_err(|e| TranscodeError(e.to_string()))?;
        let (_, datum) = avro::split_header(&bytes).map_err(|e| TranscodeError(e.to_string()))?;
        self.transcode(datum, out)
            .inspect_err(|_| out.truncate(start))
    }

    /// Transcodes a bare datum of the current schema (may leave a partial
    /// row in `out` on error).
    fn transcode(&self, datum: &[u8], out: &mut Vec<u8>) -> Result<(), TranscodeError> {
        let mut r = DatumReader::new(datum);
        for op in &self.ops {
            match op {
                Op::Str => put_str(out, r.str()?),
                Op::Int => out.extend_from_slice(&r.int()?.to_le_bytes()),
                Op::Long => out.extend_from_slice(&r.long()?.to_le_bytes()),
                Op::Bool => match r.byte()? {
                    b @ (0 | 1) => out.push(b),
                    _ => return fail("invalid boolean byte"),
                },
                Op::NullableLong(null) => {
                    let branch = r.long()?;
                    if branch == *null {
                        out.push(1);
                    } else if branch == 1 - null {
                        out.push(0);
                        out.extend_from_slice(&r.long()?.to_le_bytes());
                    } else {
                        return fail("union index out of range");
                    }
                }
                Op::Enum(columns) => {
                    let i = r.long()?;
                    let s = usize::try_from(i)
                        .ok()
                        .and_then(|i| columns.get(i))
                        .ok_or_else(|| TranscodeError("enum index out of range".into()))?;
                    put_str(out, s);
                }
                Op::StrArray => str_array(&mut r, out)?,
            }
        }
        Ok(())
    }
}

/// RowBinary `String`: unsigned LEB128 length, then the bytes.
fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uleb(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_uleb(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// An Avro array of strings (blocks ended by a zero count) as a RowBinary
/// `Array(String)`: the count goes first, so the items are located before
/// they are written.
fn str_array(r: &mut DatumReader<'_>, out: &mut Vec<u8>) -> Result<(), TranscodeError> {
    let mut items: Vec<&str> = Vec::new();
    loop {
        let n = r.block_count()?;
        if n == 0 {
            break;
        }
        // Every string takes at least its length byte.
        if n > r.remaining() {
            return fail("datum truncated");
        }
        for _ in 0..n {
            items.push(r.str()?);
        }
    }
    put_uleb(out, items.len() as u64);
    for s in items {
        put_str(out, s);
    }
    Ok(())
}
