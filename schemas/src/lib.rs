//! Wire and storage contracts of Lunettes-rs.
//!
//! Everything that crosses a process boundary is defined here and nowhere
//! else: the [`HyperEvent`] that collectors publish (keyed by pod UID), and the
//! output records the engine emits ([`Delivery`], [`SpanRecord`],
//! [`WindowRow`]), and the [`DeadLetter`] for inputs a collector rejected.
//! Each has an Avro schema in `schemas/avro/` (the contract
//! other languages read) and a Rust type here that serializes to exactly that
//! schema. Values on Kafka use Avro *single-object encoding*
//! (`C3 01` + the schema's CRC-64-AVRO fingerprint + the datum) so a reader can
//! tell which writer schema produced a record and resolve it against its own.
//!
//! This crate does no I/O and pulls in no async runtime: it is safe to depend
//! on from the pure engine as well as from the Kafka runners.
//!
//! ```
//! use lunettes_schemas::{avro, HyperEvent};
//! let ev = HyperEvent::example();
//! let bytes = avro::encode(&ev).unwrap();
//! assert_eq!(&bytes[..2], &[0xC3, 0x01]);
//! let back: HyperEvent = avro::decode(&bytes).unwrap();
//! assert_eq!(back, ev);
//! ```
#![deny(missing_docs)]

pub mod avro;
pub mod avro_fast;
mod deadletter;
mod hyperevent;
mod output;
pub mod time;

pub use deadletter::DeadLetter;
pub use hyperevent::{
    Actor, ContainerFacts, EventInfo, HyperEvent, Kind, ObjectRef, PodFacts, Source, TimePrecision,
};
pub use output::{
    Action, Delivery, DeliveryResult, Output, Phases, SpanOwner, SpanRecord, SpanStatus, WindowRow,
    WindowWidth,
};
