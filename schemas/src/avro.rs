//! Avro single-object encoding of the contract records.
//!
//! A single-object encoded value is `C3 01`, the 8-byte CRC-64-AVRO (Rabin)
//! fingerprint of the writer schema, then the Avro binary datum. Readers look
//! the fingerprint up among the schemas they know (the current ones, plus any
//! older versions registered with [`Registry::register`]) and resolve the
//! datum against their own reader schema, so adding an optional field is a
//! compatible change in both directions.
//!
//! When the writer schema is the reader's own (the common case: same
//! fingerprint), values are encoded and decoded directly by
//! [`crate::avro_fast`], without apache-avro's intermediate `Value` tree;
//! resolution between different schema versions goes through apache-avro.

use std::collections::HashMap;
use std::sync::OnceLock;

use apache_avro::rabin::Rabin;
use apache_avro::types::Value;
use apache_avro::Schema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::avro_fast::{self, FastSchema};
use crate::{DeadLetter, Delivery, HyperEvent, SpanRecord, WindowRow};

/// Schema text of the HyperEvent (`schemas/avro/hyperevent.avsc`).
pub const HYPEREVENT_AVSC: &str = include_str!("../avro/hyperevent.avsc");
/// Schema text of the Delivery record (`schemas/avro/delivery.avsc`).
pub const DELIVERY_AVSC: &str = include_str!("../avro/delivery.avsc");
/// Schema text of the SpanRecord (`schemas/avro/span.avsc`).
pub const SPAN_AVSC: &str = include_str!("../avro/span.avsc");
/// Schema text of the WindowRow (`schemas/avro/window.avsc`).
pub const WINDOW_AVSC: &str = include_str!("../avro/window.avsc");
/// Schema text of the DeadLetter record (`schemas/avro/deadletter.avsc`).
pub const DEADLETTER_AVSC: &str = include_str!("../avro/deadletter.avsc");

/// Magic bytes of Avro single-object encoding.
pub const MAGIC: [u8; 2] = [0xC3, 0x01];

/// Errors of the Avro codec.
#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    /// The value is shorter than the single-object header or lacks the magic.
    #[error("not an Avro single-object encoded value (missing C3 01 header)")]
    NotSingleObject,
    /// The writer schema's fingerprint is unknown to this reader.
    #[error("unknown writer schema fingerprint {0:016x}")]
    UnknownFingerprint(u64),
    /// Encoding or decoding failed.
    #[error("avro: {0}")]
    Avro(String),
}

impl From<apache_avro::Error> for AvroError {
    fn from(e: apache_avro::Error) -> Self {
        AvroError::Avro(e.to_string())
    }
}

/// A type with a schema in `schemas/avro/`.
pub trait AvroRecord: Serialize + DeserializeOwned {
    /// The current (reader and writer) schema of this type.
    fn schema() -> &'static ParsedSchema;
}

/// A parsed schema with its fingerprint.
#[derive(Debug)]
pub struct ParsedSchema {
    /// The schema.
    pub schema: Schema,
    /// CRC-64-AVRO fingerprint as written in the single-object header.
    pub fingerprint: [u8; 8],
    /// The schema compiled for the direct codec, when it supports it.
    fast: Option<FastSchema>,
}

impl ParsedSchema {
    /// Parses schema text.
    pub fn parse(text: &str) -> Result<Self, AvroError> {
        let schema = Schema::parse_str(text)?;
        let fp = schema.fingerprint::<Rabin>();
        let mut fingerprint = [0u8; 8];
        fingerprint.copy_from_slice(&fp.bytes[..8]);
        let fast = FastSchema::compile(&schema);
        Ok(ParsedSchema {
            schema,
            fingerprint,
            fast,
        })
    }

    /// The schema compiled for [`crate::avro_fast`], or `None` when it uses
    /// a type the direct codec does not support.
    pub fn fast(&self) -> Option<&FastSchema> {
        self.fast.as_ref()
    }

    /// The fingerprint as a little-endian integer.
    pub fn fingerprint_u64(&self) -> u64 {
        u64::from_le_bytes(self.fingerprint)
    }
}

macro_rules! record_schema {
    ($ty:ty, $text:expr) => {
        impl AvroRecord for $ty {
            fn schema() -> &'static ParsedSchema {
                static S: OnceLock<ParsedSchema> = OnceLock::new();
                S.get_or_init(|| ParsedSchema::parse($text).expect("bundled schema parses"))
            }
        }
    };
}

record_schema!(HyperEvent, HYPEREVENT_AVSC);
record_schema!(Delivery, DELIVERY_AVSC);
record_schema!(SpanRecord, SPAN_AVSC);
record_schema!(WindowRow, WINDOW_AVSC);
record_schema!(DeadLetter, DEADLETTER_AVSC);

/// Encodes `value` with its current schema, single-object form.
pub fn encode<T: AvroRecord>(value: &T) -> Result<Vec<u8>, AvroError> {
    encode_with(T::schema(), value)
}

/// Encodes `value` with an explicit writer schema (used to test evolution).
///
/// Uses the direct codec when the schema supports it, and apache-avro's
/// `Value` path for values the direct codec cannot write (a struct whose
/// fields are not in schema order, a `serde_json::Value` object).
pub fn encode_with<T: Serialize>(writer: &ParsedSchema, value: &T) -> Result<Vec<u8>, AvroError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&writer.fingerprint);
    if let Some(fast) = &writer.fast {
        if avro_fast::to_datum(fast, value, &mut out).is_ok() {
            return Ok(out);
        }
        out.truncate(MAGIC.len() + 8);
    }
    out.extend_from_slice(&encode_datum_slow(writer, value)?);
    Ok(out)
}

/// Encodes `value` as a bare datum through apache-avro's `Value` (the
/// reference path the direct codec is tested against).
pub fn encode_datum_slow<T: Serialize>(
    writer: &ParsedSchema,
    value: &T,
) -> Result<Vec<u8>, AvroError> {
    let v = apache_avro::to_value(value)?.resolve(&writer.schema)?;
    Ok(apache_avro::to_avro_datum(&writer.schema, v)?)
}

/// Decodes a bare datum through apache-avro's `Value`, resolving `writer`
/// against `reader` when given (the reference path of the direct codec).
pub fn decode_datum_slow<T: DeserializeOwned>(
    writer: &ParsedSchema,
    mut datum: &[u8],
    reader: Option<&ParsedSchema>,
) -> Result<T, AvroError> {
    let value: Value =
        apache_avro::from_avro_datum(&writer.schema, &mut datum, reader.map(|r| &r.schema))?;
    Ok(apache_avro::from_value::<T>(&value)?)
}

/// Splits a single-object value into its fingerprint and datum.
pub fn split_header(bytes: &[u8]) -> Result<([u8; 8], &[u8]), AvroError> {
    if bytes.len() < 10 || bytes[..2] != MAGIC {
        return Err(AvroError::NotSingleObject);
    }
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&bytes[2..10]);
    Ok((fp, &bytes[10..]))
}

/// Decodes a value written with the current schema of `T` or any schema
/// registered in the [`Registry::global`] registry.
pub fn decode<T: AvroRecord>(bytes: &[u8]) -> Result<T, AvroError> {
    Registry::global().decode(bytes)
}

/// Writer schemas known to a reader, by fingerprint.
#[derive(Debug, Default)]
pub struct Registry {
    writers: HashMap<[u8; 8], &'static ParsedSchema>,
}

impl Registry {
    /// A registry holding the current schemas of every contract record.
    pub fn with_current() -> Self {
        let mut r = Registry::default();
        for s in [
            HyperEvent::schema(),
            Delivery::schema(),
            SpanRecord::schema(),
            WindowRow::schema(),
            DeadLetter::schema(),
        ] {
            r.writers.insert(s.fingerprint, s);
        }
        r
    }

    /// The process-wide registry of current schemas.
    pub fn global() -> &'static Registry {
        static R: OnceLock<Registry> = OnceLock::new();
        R.get_or_init(Registry::with_current)
    }

    /// Registers an additional (older or newer) writer schema.
    pub fn register(&mut self, schema: &'static ParsedSchema) {
        self.writers.insert(schema.fingerprint, schema);
    }

    /// Decodes `bytes` into `T`, resolving the writer schema against `T`'s schema.
    pub fn decode<T: AvroRecord>(&self, bytes: &[u8]) -> Result<T, AvroError> {
        self.decode_as(bytes, T::schema())
    }

    /// Decodes `bytes` with `reader` as the reader schema.
    pub fn decode_as<T: DeserializeOwned>(
        &self,
        bytes: &[u8],
        reader: &ParsedSchema,
    ) -> Result<T, AvroError> {
        let (fp, datum) = split_header(bytes)?;
        if fp == reader.fingerprint {
            if let Some(fast) = &reader.fast {
                // The direct codec; on error, let apache-avro have the final
                // word (and the error message) on the same bytes.
                if let Ok(v) = avro_fast::from_datum(fast, datum) {
                    return Ok(v);
                }
            }
            return decode_datum_slow(reader, datum, None);
        }
        let writer = self
            .writers
            .get(&fp)
            .copied()
            .ok_or(AvroError::UnknownFingerprint(u64::from_le_bytes(fp)))?;
        decode_datum_slow(writer, datum, Some(reader))
    }
}
