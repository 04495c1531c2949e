//! Diagnosis: turning what Kubernetes components print into diagnosis codes
//! with plain-language text.
//!
//! Why a separate, pure module: the engine calls these functions on every
//! Warning event in its hot path, the simulator and the docs must agree on the
//! same code strings, and rules about message *text* change with Kubernetes,
//! runtime and CNI versions. Keeping the rules here, free of engine state and
//! I/O, lets them be tested directly against real messages
//! (`processor/tests/messages.rs`) and historical formats (unit tests per
//! rule module).
//!
//! Entry points:
//! - [`classify_event`] for Events (reason + message);
//! - [`classify_container_state`] for container waiting/terminated reasons;
//! - [`classify_api_failure`] for a rejected pod create;
//! - [`parse_failed_scheduling`] for "0/N nodes are available: ..." in any version.
//!
//! Each returns a [`Finding`]: a [`Code`] (stable string, [`Code::rank`] for
//! "first matching rule wins", [`Code::advice`]), its [`Family`] (the coarse
//! label the real-message dataset uses) and one plain sentence. Codes the
//! engine derives from timing (slowness, no events, readiness gates, delete
//! timeouts) have constructors on [`Finding`]. Every code is documented in
//! `docs/diagnosis-codes.md`.
//!
//! ```
//! use lunettes_processor::diagnosis::{classify_event, Family};
//! let f = classify_event(
//!     "Failed",
//!     "Failed to pull image \"registry.example/app:v2\": failed to resolve reference \"registry.example/app:v2\": registry.example/app:v2: not found",
//! ).unwrap();
//! assert_eq!(f.code.as_str(), "ImageNotFound");
//! assert_eq!(f.family, Family::ImagePullNotFound);
//! assert_eq!(f.subject.as_deref(), Some("registry.example/app:v2"));
//! ```

mod advice;
mod api;
mod codes;
mod container;
mod event;
mod family;
mod finding;
mod image;
mod lifecycle;
mod memo;
mod sandbox;
mod scheduling;
pub(crate) mod text;
mod volume;

pub use api::{classify_api_failure, infer_api_status};
pub use codes::{Code, EvictionCause, GateCode, Stage};
pub use container::{classify_container_state, StateKind};
pub use event::{classify_container_event, classify_event};
pub use family::{family_of, Family};
pub use finding::{most_relevant, Finding};
pub use scheduling::{parse_failed_scheduling, SchedReason, SchedulingFailure};

#[cfg(test)]
mod docs_check;
#[cfg(test)]
mod proptests;
