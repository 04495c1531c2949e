//! One module per subcommand.

pub mod analyze;
pub mod normalize;
pub mod simulate;
