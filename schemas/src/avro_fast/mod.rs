//! Direct serde (de)serialization of Avro binary datums, without `Value`.
//!
//! apache-avro 0.21 decodes a datum only into its generic
//! [`apache_avro::types::Value`] tree (a heap allocation per field, records as
//! vectors of `(String, Value)`), which `from_value` then walks a second time
//! to build the Rust type. For the sink that was the bottleneck: ~90k
//! delivery rows/s per core, against ~2M rows/s for the RowBinary insert
//! behind it. apache-avro does offer a direct serializer
//! (`SchemaAwareWriteSerializer`), but no direct deserializer, and its
//! serializer looks up every field by name, clones the enclosing namespace per
//! field and needs the named-type table rebuilt per call.
//!
//! This module compiles a parsed [`Schema`] once into a small [`FastSchema`]
//! tree (named references inlined, logical types reduced to their physical
//! type) and drives serde over it:
//!
//! - [`from_datum`] reads the binary datum straight into `T` ([`de`]);
//! - [`to_datum`] writes `T` straight into a byte vector ([`ser`]). Map
//!   entries are written in ascending key order whatever the iteration order
//!   of the Rust map, so equal values always encode to equal bytes.
//!
//! It only covers the case where the writer schema *is* the reader schema (the
//! single-object fingerprints match); schema resolution between versions stays
//! with apache-avro. Schemas using types this module does not know (decimal,
//! duration, uuid, recursive types) do not compile ([`FastSchema::compile`]
//! returns `None`) and keep the apache-avro path entirely.

use std::collections::HashMap;
use std::fmt;

use apache_avro::Schema;

pub mod de;
pub mod ser;

pub use de::{from_datum, DatumReader};
pub use ser::to_datum;

/// An error of the direct codec (malformed datum, or a value that does not
/// fit the schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastError(pub String);

impl fmt::Display for FastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FastError {}

impl serde::de::Error for FastError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        FastError(msg.to_string())
    }
}

impl serde::ser::Error for FastError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        FastError(msg.to_string())
    }
}

/// A schema compiled for direct (de)serialization: physical types only,
/// named references inlined.
#[derive(Debug, Clone, PartialEq)]
pub enum FastSchema {
    /// `null`.
    Null,
    /// `boolean`.
    Boolean,
    /// `int` (and `date`, `time-millis`).
    Int,
    /// `long` (and the `time-micros` and timestamp logical types).
    Long,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `bytes`.
    Bytes,
    /// `string`.
    String,
    /// `fixed` of the given size.
    Fixed(usize),
    /// `enum` with its symbols.
    Enum(Vec<String>),
    /// `array` of the item schema.
    Array(Box<FastSchema>),
    /// `map` with string keys and the value schema.
    Map(Box<FastSchema>),
    /// `record`.
    Record(RecordSchema),
    /// A union of the branch schemas.
    Union(Vec<FastSchema>),
}

/// A compiled record: its simple name and fields in schema order.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSchema {
    /// Simple (unqualified) name of the record.
    pub name: String,
    /// Field names, in schema order.
    pub field_names: Vec<String>,
    /// Field schemas, in schema order.
    pub fields: Vec<FastSchema>,
}

/// Deepest nesting of inlined named references before giving up (a schema
/// that nests deeper is treated as recursive).
const MAX_REF_DEPTH: usize = 32;

impl FastSchema {
    /// Compiles `schema`, or `None` when it uses something the direct codec
    /// does not support (the caller then keeps the apache-avro path).
    pub fn compile(schema: &Schema) -> Option<FastSchema> {
        let mut names = HashMap::new();
        collect_names(schema, None, &mut names);
        compile(schema, None, &names, 0)
    }

    /// The index of the `null` branch among union `branches`, if any.
    fn null_branch(branches: &[FastSchema]) -> Option<usize> {
        branches.iter().position(|b| matches!(b, FastSchema::Null))
    }
}

fn qualify(name: &apache_avro::schema::Name, ns: Option<&str>) -> String {
    name.fullname(ns.map(str::to_string))
}

fn collect_names<'s>(
    schema: &'s Schema,
    ns: Option<&str>,
    names: &mut HashMap<String, &'s Schema>,
) {
    match schema {
        Schema::Record(r) => {
            names.insert(qualify(&r.name, ns), schema);
            let inner = r.name.namespace.as_deref().or(ns);
            for f in &r.fields {
                collect_names(&f.schema, inner, names);
            }
        }
        Schema::Enum(e) => {
            names.insert(qualify(&e.name, ns), schema);
        }
        Schema::Fixed(f) => {
            names.insert(qualify(&f.name, ns), schema);
        }
        Schema::Array(a) => collect_names(&a.items, ns, names),
        Schema::Map(m) => collect_names(&m.types, ns, names),
        Schema::Union(u) => {
            for v in u.variants() {
                collect_names(v, ns, names);
            }
        }
        _ => {}
    }
}

fn compile(
    schema: &Schema,
    ns: Option<&str>,
    names: &HashMap<String, &Schema>,
    depth: usize,
) -> Option<FastSchema> {
    Some(match schema {
        Schema::Null => FastSchema::Null,
        Schema::Boolean => FastSchema::Boolean,
        Schema::Int | Schema::Date | Schema::TimeMillis => FastSchema::Int,
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => FastSchema::Long,
        Schema::Float => FastSchema::Float,
        Schema::Double => FastSchema::Double,
        Schema::Bytes => FastSchema::Bytes,
        Schema::String => FastSchema::String,
        Schema::Fixed(f) => FastSchema::Fixed(f.size),
        Schema::Enum(e) => FastSchema::Enum(e.symbols.clone()),
        Schema::Array(a) => FastSchema::Array(Box::new(compile(&a.items, ns, names, depth)?)),
        Schema::Map(m) => FastSchema::Map(Box::new(compile(&m.types, ns, names, depth)?)),
        Schema::Union(u) => FastSchema::Union(
            u.variants()
                .iter()
                .map(|v| compile(v, ns, names, depth))
                .collect::<Option<_>>()?,
        ),
        Schema::Record(r) => {
            let inner = r.name.namespace.as_deref().or(ns);
            FastSchema::Record(RecordSchema {
                name: r.name.name.clone(),
                field_names: r.fields.iter().map(|f| f.name.clone()).collect(),
                fields: r
                    .fields
                    .iter()
                    .map(|f| compile(&f.schema, inner, names, depth))
                    .collect::<Option<_>>()?,
            })
        }
        Schema::Ref { name } => {
            if depth >= MAX_REF_DEPTH {
                return None;
            }
            let target = names
                .get(&qualify(name, ns))
                .or_else(|| names.get(&name.fullname(None)))?;
            compile(target, ns, names, depth + 1)?
        }
        Schema::Decimal(_) | Schema::BigDecimal | Schema::Uuid | Schema::Duration => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_refs_and_logical_types() {
        let s = Schema::parse_str(
            r#"{"type":"record","name":"A","namespace":"x","fields":[
                {"name":"t","type":{"type":"long","logicalType":"timestamp-micros"}},
                {"name":"c","type":{"type":"record","name":"C","fields":[{"name":"n","type":"int"}]}},
                {"name":"cs","type":{"type":"array","items":"C"}},
                {"name":"f","type":{"type":"fixed","name":"F","size":4}}
            ]}"#,
        )
        .unwrap();
        let FastSchema::Record(r) = FastSchema::compile(&s).unwrap() else {
            panic!("not a record")
        };
        assert_eq!(r.fields[0], FastSchema::Long);
        assert_eq!(
            r.fields[1],
            *match &r.fields[2] {
                FastSchema::Array(items) => items.as_ref(),
                other => panic!("{other:?}"),
            }
        );
        assert_eq!(r.fields[3], FastSchema::Fixed(4));
    }

    #[test]
    fn recursive_and_decimal_schemas_do_not_compile() {
        let rec = Schema::parse_str(
            r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#,
        )
        .unwrap();
        assert!(FastSchema::compile(&rec).is_none());
        let dec = Schema::parse_str(
            r#"{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}"#,
        )
        .unwrap();
        assert!(FastSchema::compile(&dec).is_none());
    }
}
