//! One module per subcommand.

pub mod analyze;
pub mod normalize;
pub mod otlp_receiver;
pub mod simulate;
