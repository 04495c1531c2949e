//! One module per subcommand.

pub mod analyze;
pub mod ingest;
pub mod normalize;
pub mod otlp_receiver;
pub mod simulate;
