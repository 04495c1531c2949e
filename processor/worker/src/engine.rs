//! The seam between the Kafka mechanics and the delivery engine.
//!
//! The worker only needs three things from an engine: feed it one HyperEvent
//! and collect what it emits, and ask how many pods it holds. Keeping that
//! behind a small trait lets the offset, rebuild and suppression logic be
//! built and tested on its own, and keeps the engine crate free of any I/O.
//!
//! The one rule an engine must keep for the worker's guarantees to hold:
//! **its outputs are a pure function of the records it was fed, in order**.
//! No wall clock, no randomness: time only advances through the records
//! (watermark HyperEvents included). Then a rebuilt engine emits exactly what
//! the lost one would have, and suppression by source position is exact.

use lunettes_schemas::{HyperEvent, Output};

/// One engine instance, owning the state of one Kafka partition.
pub trait PartitionEngine: Send {
    /// Processes one HyperEvent (including watermarks), appending any
    /// outputs it causes to `out` in a deterministic order.
    fn process(&mut self, event: &HyperEvent, out: &mut Vec<Output>);

    /// Pods whose delivery is still open.
    fn in_flight(&self) -> usize;
}

/// Makes a fresh engine for a partition (its shard number).
pub trait EngineFactory: Send + Sync + 'static {
    /// The engine type.
    type Engine: PartitionEngine;

    /// A new, empty engine for `partition`.
    fn engine_for(&self, partition: i32) -> Self::Engine;
}

impl<E, F> EngineFactory for F
where
    E: PartitionEngine,
    F: Fn(i32) -> E + Send + Sync + 'static,
{
    type Engine = E;

    fn engine_for(&self, partition: i32) -> E {
        self(partition)
    }
}

impl PartitionEngine for lunettes_processor::Engine {
    fn process(&mut self, event: &HyperEvent, out: &mut Vec<Output>) {
        lunettes_processor::Engine::process(self, event, out);
    }

    fn in_flight(&self) -> usize {
        lunettes_processor::Engine::in_flight(self)
    }
}
