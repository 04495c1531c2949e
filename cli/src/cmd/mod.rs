//! One module per subcommand.

pub mod analyze;
pub mod api;
pub mod debug;
pub mod ingest;
pub mod migrate;
pub mod normalize;
pub mod otlp_receiver;
pub mod process;
pub mod replay;
pub mod simulate;
pub mod sink;
pub mod sink_otlp;
