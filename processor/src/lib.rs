//! The delivery engine (placeholder; see issue 3).
#![deny(missing_docs)]

pub mod diagnosis;
