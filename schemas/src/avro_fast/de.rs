//! A serde `Deserializer` reading an Avro binary datum directly into `T`.
//!
//! The compiled [`FastSchema`] tells the deserializer what the next bytes
//! are, so it can call the visitor with the decoded value at once: strings
//! and bytes are handed out borrowed from the input (the visitor copies them
//! only if `T` owns them), records are visited as sequences when the Rust
//! struct declares the schema's fields in the schema's order (no field-name
//! matching) and as maps otherwise. Every length and count read from the input
//! is checked against the bytes that remain, so truncated or corrupt input is
//! an error, never a panic or a huge allocation.

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::{FastError, FastSchema, RecordSchema};

type Result<T> = std::result::Result<T, FastError>;

/// Decodes one Avro binary datum written with `schema` into `T`.
///
/// Bytes after the datum are ignored, as apache-avro's `from_avro_datum` does.
pub fn from_datum<T: DeserializeOwned>(schema: &FastSchema, datum: &[u8]) -> Result<T> {
    let mut r = DatumReader::new(datum);
    T::deserialize(De { r: &mut r, schema })
}

/// The unread rest of an Avro binary datum, read one primitive at a time.
///
/// Every read checks the bytes that remain, so truncated or corrupt input is
/// an error, never a panic. Public for readers that walk a datum without
/// building a value (the ClickHouse sink transcodes deliveries with it).
pub struct DatumReader<'de> {
    buf: &'de [u8],
}

fn err<T>(msg: &str) -> Result<T> {
    Err(FastError(msg.to_string()))
}

impl<'de> DatumReader<'de> {
    /// A reader at the start of `datum`.
    #[inline]
    pub fn new(datum: &'de [u8]) -> Self {
        DatumReader { buf: datum }
    }

    /// Bytes not read yet.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// One raw byte (a `boolean`).
    #[inline]
    pub fn byte(&mut self) -> Result<u8> {
        match self.buf.split_first() {
            Some((&b, rest)) => {
                self.buf = rest;
                Ok(b)
            }
            None => err("datum truncated"),
        }
    }

    /// A zig-zag varint `long` (at most 10 bytes).
    #[inline]
    pub fn long(&mut self) -> Result<i64> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return err("varint overflows a long");
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok((v >> 1) as i64 ^ -((v & 1) as i64));
            }
        }
        err("varint overflows a long")
    }

    /// A zig-zag varint `int`.
    #[inline]
    pub fn int(&mut self) -> Result<i32> {
        i32::try_from(self.long()?).or_else(|_| err("int out of range"))
    }

    /// The next `n` raw bytes (a `fixed`, a `float`).
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'de [u8]> {
        if n > self.buf.len() {
            return err("datum truncated");
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// A length-prefixed byte string.
    #[inline]
    pub fn bytes(&mut self) -> Result<&'de [u8]> {
        let len = self.long()?;
        let len = usize::try_from(len).or_else(|_| err("negative length"))?;
        self.take(len)
    }

    /// A length-prefixed UTF-8 string.
    #[inline]
    pub fn str(&mut self) -> Result<&'de str> {
        std::str::from_utf8(self.bytes()?).or_else(|_| err("string is not valid UTF-8"))
    }

    /// The item count of the next array or map block (0 ends the value).
    #[inline]
    pub fn block_count(&mut self) -> Result<usize> {
        let n = self.long()?;
        let n = if n < 0 {
            // A negative count is followed by the block's size in bytes.
            let _size = self.long()?;
            n.checked_neg()
                .ok_or_else(|| FastError("bad block count".into()))?
        } else {
            n
        };
        // Items of type null take no bytes, so the count cannot be checked
        // against the input; it only bounds the loop, and size hints are
        // capped by the input length (see `hint`).
        usize::try_from(n).or_else(|_| err("bad block count"))
    }

    /// The branch of a union.
    fn branch<'s>(&mut self, branches: &'s [FastSchema]) -> Result<&'s FastSchema> {
        let i = self.long()?;
        usize::try_from(i)
            .ok()
            .and_then(|i| branches.get(i))
            .ok_or_else(|| FastError(format!("union index {i} out of range")))
    }
}

/// Deserializes one value of `schema` from the reader.
struct De<'a, 'de> {
    r: &'a mut DatumReader<'de>,
    schema: &'a FastSchema,
}

impl<'a, 'de> De<'a, 'de> {
    fn with(self, schema: &'a FastSchema) -> Self {
        De { r: self.r, schema }
    }
}

impl<'de> de::Deserializer<'de> for De<'_, 'de> {
    type Error = FastError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.schema {
            FastSchema::Null => visitor.visit_unit(),
            FastSchema::Boolean => match self.r.byte()? {
                0 => visitor.visit_bool(false),
                1 => visitor.visit_bool(true),
                _ => err("invalid boolean byte"),
            },
            FastSchema::Int => visitor.visit_i32(self.r.int()?),
            FastSchema::Long => visitor.visit_i64(self.r.long()?),
            FastSchema::Float => {
                let b = self.r.take(4)?;
                visitor.visit_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            FastSchema::Double => {
                let mut a = [0u8; 8];
                a.copy_from_slice(self.r.take(8)?);
                visitor.visit_f64(f64::from_le_bytes(a))
            }
            FastSchema::Bytes => visitor.visit_borrowed_bytes(self.r.bytes()?),
            FastSchema::String => visitor.visit_borrowed_str(self.r.str()?),
            FastSchema::Fixed(n) => visitor.visit_borrowed_bytes(self.r.take(*n)?),
            FastSchema::Enum(symbols) => visitor.visit_str(symbol(self.r, symbols)?),
            FastSchema::Array(items) => visitor.visit_seq(ArrayAccess {
                r: self.r,
                items,
                blocks: Blocks::default(),
            }),
            FastSchema::Map(values) => visitor.visit_map(MapAccess {
                r: self.r,
                values,
                blocks: Blocks::default(),
            }),
            FastSchema::Record(rec) => visitor.visit_map(RecordMap {
                r: self.r,
                rec,
                next: 0,
            }),
            FastSchema::Union(branches) => {
                let b = self.r.branch(branches)?;
                self.with(b).deserialize_any(visitor)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.schema {
            FastSchema::Null => visitor.visit_none(),
            FastSchema::Union(branches) => match self.r.branch(branches)? {
                FastSchema::Null => visitor.visit_none(),
                b => visitor.visit_some(self.with(b)),
            },
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.schema {
            FastSchema::Enum(symbols) => {
                let s: StrDeserializer<'_, FastError> =
                    symbol(self.r, symbols)?.into_deserializer();
                visitor.visit_enum(s)
            }
            FastSchema::Union(branches) => {
                let b = self.r.branch(branches)?;
                self.with(b).deserialize_enum(name, variants, visitor)
            }
            _ => err("expected an Avro enum"),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.schema {
            FastSchema::Record(rec) => {
                let in_order = rec.field_names.len() == fields.len()
                    && rec.field_names.iter().zip(fields).all(|(a, b)| a == b);
                if in_order {
                    visitor.visit_seq(RecordSeq {
                        r: self.r,
                        rec,
                        next: 0,
                    })
                } else {
                    visitor.visit_map(RecordMap {
                        r: self.r,
                        rec,
                        next: 0,
                    })
                }
            }
            FastSchema::Union(branches) => {
                let b = self.r.branch(branches)?;
                self.with(b).deserialize_struct(name, fields, visitor)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn is_human_readable(&self) -> bool {
        false
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
        ignored_any
    }
}

fn symbol<'s>(r: &mut DatumReader<'_>, symbols: &'s [String]) -> Result<&'s str> {
    let i = r.long()?;
    usize::try_from(i)
        .ok()
        .and_then(|i| symbols.get(i))
        .map(String::as_str)
        .ok_or_else(|| FastError(format!("enum index {i} out of range")))
}

/// Caps a count read from the input to something the input could hold.
fn hint(left: usize, r: &DatumReader<'_>) -> Option<usize> {
    Some(left.min(r.buf.len()))
}

/// Where a blocked array or map stands: items left in the current block,
/// and whether the zero count that ends it was read.
#[derive(Default)]
struct Blocks {
    left: usize,
    done: bool,
}

impl Blocks {
    /// Moves to the next item, reading a block count when the current block
    /// is used up; false at the end.
    fn take_one(&mut self, r: &mut DatumReader<'_>) -> Result<bool> {
        if self.left == 0 {
            if self.done {
                return Ok(false);
            }
            self.left = r.block_count()?;
            if self.left == 0 {
                self.done = true;
                return Ok(false);
            }
        }
        self.left -= 1;
        Ok(true)
    }
}

/// A record visited as a sequence of its fields, in schema order.
struct RecordSeq<'a, 'de> {
    r: &'a mut DatumReader<'de>,
    rec: &'a RecordSchema,
    next: usize,
}

impl<'de> de::SeqAccess<'de> for RecordSeq<'_, 'de> {
    type Error = FastError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let Some(schema) = self.rec.fields.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        seed.deserialize(De {
            r: &mut *self.r,
            schema,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.rec.fields.len() - self.next)
    }
}

/// A record visited as a map from field name to value, in schema order.
struct RecordMap<'a, 'de> {
    r: &'a mut DatumReader<'de>,
    rec: &'a RecordSchema,
    next: usize,
}

impl<'de> de::MapAccess<'de> for RecordMap<'_, 'de> {
    type Error = FastError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some(name) = self.rec.field_names.get(self.next) else {
            return Ok(None);
        };
        let key: StrDeserializer<'_, FastError> = name.as_str().into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let schema = self
            .rec
            .fields
            .get(self.next)
            .ok_or_else(|| FastError("record value without a key".into()))?;
        self.next += 1;
        seed.deserialize(De {
            r: &mut *self.r,
            schema,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.rec.fields.len() - self.next)
    }
}

/// An Avro array: blocks of items, ended by a zero count.
struct ArrayAccess<'a, 'de> {
    r: &'a mut DatumReader<'de>,
    items: &'a FastSchema,
    blocks: Blocks,
}

impl<'de> de::SeqAccess<'de> for ArrayAccess<'_, 'de> {
    type Error = FastError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if !self.blocks.take_one(self.r)? {
            return Ok(None);
        }
        seed.deserialize(De {
            r: &mut *self.r,
            schema: self.items,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        hint(self.blocks.left, self.r)
    }
}

/// An Avro map: blocks of (string key, value) entries, ended by a zero count.
struct MapAccess<'a, 'de> {
    r: &'a mut DatumReader<'de>,
    values: &'a FastSchema,
    blocks: Blocks,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, 'de> {
    type Error = FastError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if !self.blocks.take_one(self.r)? {
            return Ok(None);
        }
        let key: de::value::BorrowedStrDeserializer<'de, FastError> =
            de::value::BorrowedStrDeserializer::new(self.r.str()?);
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(De {
            r: &mut *self.r,
            schema: self.values,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        hint(self.blocks.left, self.r)
    }
}
