//! A serde `Serializer` writing `T` directly as an Avro binary datum.
//!
//! Driven by the compiled [`FastSchema`]: struct fields must arrive in schema
//! order (serde derive emits them in declaration order, and the contract types
//! declare them in schema order; anything else is an error, never a silently
//! reordered datum), unions pick the branch that fits the Rust value (the
//! non-null branch of a `["null", T]` union for `Some`), enums are written by
//! symbol name so the Rust variant order does not matter.
//!
//! Maps are written as one block with their entries sorted by key. A
//! `BTreeMap` arrives sorted and costs nothing extra; a `HashMap` is put in
//! order once at the end, so equal values encode to equal bytes (apache-avro's
//! `Value` path writes maps in hash order).

use serde::ser::{self, Impossible, Serialize};

use super::{FastError, FastSchema, RecordSchema};

type Result<T> = std::result::Result<T, FastError>;

/// Encodes `value` as an Avro binary datum of `schema`, appended to `out`.
///
/// On error `out` may hold a partial datum; truncate it to its former length.
pub fn to_datum<T: Serialize + ?Sized>(
    schema: &FastSchema,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<()> {
    value.serialize(Ser { out, schema })
}

/// Writes a zig-zag varint `long`.
pub(crate) fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

fn mismatch<T>(what: &str, schema: &FastSchema) -> Result<T> {
    Err(FastError(format!("cannot write {what} as {schema:?}")))
}

/// Serializes one value of `schema` into `out`.
struct Ser<'a> {
    out: &'a mut Vec<u8>,
    schema: &'a FastSchema,
}

impl<'a> Ser<'a> {
    /// The schema to write a value with: `self.schema` if `fits` it, else the
    /// first fitting branch of a union, whose index is written first.
    fn pick(&mut self, what: &str, fits: impl Fn(&FastSchema) -> bool) -> Result<&'a FastSchema> {
        let schema = self.schema;
        if fits(schema) {
            return Ok(schema);
        }
        if let FastSchema::Union(branches) = schema {
            if let Some(i) = branches.iter().position(&fits) {
                write_long(self.out, i as i64);
                return Ok(&branches[i]);
            }
        }
        mismatch(what, schema)
    }

    fn int(mut self, v: i64) -> Result<()> {
        match self.pick("an integer", |s| {
            matches!(s, FastSchema::Int | FastSchema::Long)
        })? {
            FastSchema::Int if i32::try_from(v).is_err() => {
                Err(FastError(format!("{v} does not fit an Avro int")))
            }
            _ => {
                write_long(self.out, v);
                Ok(())
            }
        }
    }
}

impl<'a> ser::Serializer for Ser<'a> {
    type Ok = ();
    type Error = FastError;
    type SerializeSeq = ArraySer<'a>;
    type SerializeTuple = Impossible<(), FastError>;
    type SerializeTupleStruct = Impossible<(), FastError>;
    type SerializeTupleVariant = Impossible<(), FastError>;
    type SerializeMap = MapSer<'a>;
    type SerializeStruct = RecordSer<'a>;
    type SerializeStructVariant = Impossible<(), FastError>;

    fn serialize_bool(mut self, v: bool) -> Result<()> {
        self.pick("a bool", |s| matches!(s, FastSchema::Boolean))?;
        self.out.push(u8::from(v));
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<()> {
        self.int(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<()> {
        self.int(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<()> {
        self.int(i64::from(v))
    }

    fn serialize_i64(mut self, v: i64) -> Result<()> {
        self.pick("a long", |s| matches!(s, FastSchema::Long))?;
        write_long(self.out, v);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<()> {
        self.int(i64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<()> {
        self.int(i64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<()> {
        let v = i64::try_from(v).map_err(|_| FastError(format!("{v} does not fit a long")))?;
        self.serialize_i64(v)
    }

    fn serialize_f32(mut self, v: f32) -> Result<()> {
        match self.pick("a float", |s| {
            matches!(s, FastSchema::Float | FastSchema::Double)
        })? {
            FastSchema::Float => self.out.extend_from_slice(&v.to_le_bytes()),
            _ => self.out.extend_from_slice(&f64::from(v).to_le_bytes()),
        }
        Ok(())
    }

    fn serialize_f64(mut self, v: f64) -> Result<()> {
        self.pick("a double", |s| matches!(s, FastSchema::Double))?;
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<()> {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }

    fn serialize_str(mut self, v: &str) -> Result<()> {
        self.pick("a string", |s| matches!(s, FastSchema::String))?;
        write_bytes(self.out, v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(mut self, v: &[u8]) -> Result<()> {
        let n = v.len();
        match self.pick("bytes", |s| match s {
            FastSchema::Bytes => true,
            FastSchema::Fixed(size) => *size == n,
            _ => false,
        })? {
            FastSchema::Bytes => write_bytes(self.out, v),
            _ => self.out.extend_from_slice(v),
        }
        Ok(())
    }

    fn serialize_none(mut self) -> Result<()> {
        self.pick("null", |s| matches!(s, FastSchema::Null))?;
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        if let FastSchema::Union(branches) = self.schema {
            // `["null", T]`: write T's branch; wider unions let the value pick.
            if branches.len() == 2 {
                if let Some(null) = FastSchema::null_branch(branches) {
                    let i = 1 - null;
                    write_long(self.out, i as i64);
                    return value.serialize(Ser {
                        out: self.out,
                        schema: &branches[i],
                    });
                }
            }
        }
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<()> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        let fits = |s: &FastSchema| match s {
            FastSchema::Enum(symbols) => symbols.iter().any(|x| x == variant),
            _ => false,
        };
        if let FastSchema::Enum(symbols) = self.pick("an enum symbol", fits)? {
            let i = symbols
                .iter()
                .position(|x| x == variant)
                .unwrap_or_default();
            write_long(self.out, i as i64);
        }
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> Result<()> {
        mismatch(&format!("variant {name}::{variant}"), self.schema)
    }

    fn serialize_seq(mut self, len: Option<usize>) -> Result<ArraySer<'a>> {
        let Some(len) = len else {
            return Err(FastError("sequence of unknown length".into()));
        };
        let FastSchema::Array(items) =
            self.pick("a sequence", |s| matches!(s, FastSchema::Array(_)))?
        else {
            unreachable!("pick returns a fitting schema")
        };
        if len > 0 {
            write_long(self.out, len as i64);
        }
        Ok(ArraySer {
            out: self.out,
            items,
            left: len,
        })
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        mismatch("a tuple", self.schema)
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        mismatch(&format!("tuple struct {name}"), self.schema)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        mismatch(&format!("variant {name}::{variant}"), self.schema)
    }

    fn serialize_map(mut self, len: Option<usize>) -> Result<MapSer<'a>> {
        let Some(len) = len else {
            return Err(FastError("map of unknown length".into()));
        };
        let FastSchema::Map(values) = self.pick("a map", |s| matches!(s, FastSchema::Map(_)))?
        else {
            unreachable!("pick returns a fitting schema")
        };
        if len > 0 {
            write_long(self.out, len as i64);
        }
        let start = self.out.len();
        Ok(MapSer {
            out: self.out,
            values,
            len,
            start,
            entries: Vec::new(),
            sorted: true,
        })
    }

    fn serialize_struct(mut self, name: &'static str, _len: usize) -> Result<RecordSer<'a>> {
        // In a union of several records, the one of the same name.
        let named = |s: &FastSchema| matches!(s, FastSchema::Record(r) if r.name == name);
        let schema = match self.pick(name, named) {
            Ok(s) => s,
            Err(_) => self.pick(name, |s| matches!(s, FastSchema::Record(_)))?,
        };
        let FastSchema::Record(rec) = schema else {
            unreachable!("pick returns a fitting schema")
        };
        Ok(RecordSer {
            out: self.out,
            rec,
            next: 0,
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        mismatch(&format!("variant {name}::{variant}"), self.schema)
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

/// Items of an array, written as one block.
struct ArraySer<'a> {
    out: &'a mut Vec<u8>,
    items: &'a FastSchema,
    left: usize,
}

impl ser::SerializeSeq for ArraySer<'_> {
    type Ok = ();
    type Error = FastError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.left = self
            .left
            .checked_sub(1)
            .ok_or_else(|| FastError("sequence longer than announced".into()))?;
        value.serialize(Ser {
            out: self.out,
            schema: self.items,
        })
    }

    fn end(self) -> Result<()> {
        if self.left != 0 {
            return Err(FastError("sequence shorter than announced".into()));
        }
        self.out.push(0);
        Ok(())
    }
}

/// Entries of a map, written as one block in key order.
struct MapSer<'a> {
    out: &'a mut Vec<u8>,
    values: &'a FastSchema,
    len: usize,
    /// Where the first entry starts in `out`.
    start: usize,
    /// Start of each entry's key bytes (after the length) and their length.
    entries: Vec<(usize, usize, usize)>,
    /// Whether the keys so far arrived in ascending order.
    sorted: bool,
}

impl MapSer<'_> {
    fn key(&self, e: &(usize, usize, usize)) -> &[u8] {
        &self.out[e.1..e.1 + e.2]
    }
}

impl ser::SerializeMap for MapSer<'_> {
    type Ok = ();
    type Error = FastError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        let entry = self.out.len();
        key.serialize(Ser {
            out: self.out,
            schema: &FastSchema::String,
        })?;
        // Find the key bytes after the varint length.
        let mut at = entry;
        while self.out[at] & 0x80 != 0 {
            at += 1;
        }
        let e = (entry, at + 1, self.out.len() - at - 1);
        if let Some(prev) = self.entries.last() {
            if self.sorted && self.key(prev) > self.key(&e) {
                self.sorted = false;
            }
        }
        self.entries.push(e);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(Ser {
            out: self.out,
            schema: self.values,
        })
    }

    fn end(self) -> Result<()> {
        if self.entries.len() != self.len {
            return Err(FastError("map length differs from announced".into()));
        }
        if !self.sorted {
            let tail = self.out.split_off(self.start);
            let end_of = |i: usize, entries: &[(usize, usize, usize)]| {
                entries.get(i + 1).map_or(self.start + tail.len(), |e| e.0)
            };
            let mut order: Vec<usize> = (0..self.entries.len()).collect();
            let key = |i: usize| {
                let (_, k, n) = self.entries[i];
                &tail[k - self.start..k - self.start + n]
            };
            order.sort_by(|&a, &b| key(a).cmp(key(b)));
            for i in order {
                let from = self.entries[i].0 - self.start;
                let to = end_of(i, &self.entries) - self.start;
                self.out.extend_from_slice(&tail[from..to]);
            }
        }
        // End of the map (an empty map is only this).
        self.out.push(0);
        Ok(())
    }
}

/// Fields of a record, in schema order.
struct RecordSer<'a> {
    out: &'a mut Vec<u8>,
    rec: &'a RecordSchema,
    next: usize,
}

impl ser::SerializeStruct for RecordSer<'_> {
    type Ok = ();
    type Error = FastError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        match self.rec.field_names.get(self.next) {
            Some(name) if name == key => {}
            expected => {
                return Err(FastError(format!(
                    "record {}: field {key} where the schema has {expected:?}",
                    self.rec.name
                )))
            }
        }
        let schema = &self.rec.fields[self.next];
        self.next += 1;
        value.serialize(Ser {
            out: self.out,
            schema,
        })
    }

    fn end(self) -> Result<()> {
        if self.next != self.rec.fields.len() {
            return Err(FastError(format!(
                "record {}: {} of {} fields written",
                self.rec.name,
                self.next,
                self.rec.fields.len()
            )));
        }
        Ok(())
    }
}
