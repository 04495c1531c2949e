//! One module per subcommand.

pub mod analyze;
pub mod migrate;
pub mod normalize;
pub mod otlp_receiver;
pub mod simulate;
pub mod sink;
pub mod sink_otlp;
