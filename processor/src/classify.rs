//! The engine's single boundary to the diagnosis classifier.
//!
//! The classifier (`crate::diagnosis`) turns one message into a finding; the
//! engine keeps per pod only the compact result (code, rank, subject, one
//! sentence), never the raw messages. Everything the engine asks of the
//! classifier goes through these few functions, so the classifier's types can
//! evolve without touching the lifecycle code.

use std::borrow::Cow;

/// A classified signal, as the engine stores it per pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Diagnosis code string, e.g. `ImageNotFound`.
    pub code: Cow<'static, str>,
    /// Rule order: lower wins.
    pub rank: u16,
    /// Sub-reason (FailedScheduling sub-reason, webhook name, condition).
    pub sub_reason: Option<String>,
    /// What it is about (image, volume, container).
    pub subject: Option<String>,
    /// One plain sentence on what went wrong.
    pub what: String,
    /// What to do.
    pub advice: Cow<'static, str>,
}

/// Codes the engine derives itself from timing, not from a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Derived {
    FailedScheduling,
    ScheduleDelay,
    PullImageTooMuchTime,
    KubeletDelay,
    PostStartHookTooMuchTime,
    NoEvent,
    ContainerNotReady,
    TimeoutUnknown,
    FinalizerNotRemoved,
    DeleteTimeout,
    BeforeFinish,
}

pub(crate) use backend::{
    api_failure, container_state, derived, event, gate_not_ready, stage_too_much_time,
};

/// The classifier backend: the `diagnosis` module.
mod backend {
    use super::*;
    use crate::diagnosis as d;

    fn of_code(c: d::Code, what: String) -> Found {
        Found {
            code: Cow::Borrowed(c.as_str()),
            rank: c.rank(),
            sub_reason: None,
            subject: None,
            what,
            advice: Cow::Borrowed(c.advice()),
        }
    }

    fn found(f: d::Finding) -> Found {
        Found {
            code: Cow::Borrowed(f.code.as_str()),
            rank: f.code.rank(),
            sub_reason: f.sub_reason,
            subject: f.subject,
            what: f.what,
            advice: Cow::Borrowed(f.code.advice()),
        }
    }

    /// Classifies an Event (reason + message); `init_container` when its
    /// field path names an init container.
    pub(crate) fn event(reason: &str, message: &str, init_container: bool) -> Option<Found> {
        d::classify_container_event(reason, message, init_container).map(found)
    }

    /// Classifies a container state from an operation string (no message).
    pub(crate) fn container_state(
        waiting: bool,
        reason: &str,
        exit_code: Option<i32>,
        init: bool,
    ) -> Option<Found> {
        let kind = if waiting {
            d::StateKind::Waiting
        } else {
            d::StateKind::Terminated
        };
        d::classify_container_state(kind, reason, "", exit_code, init).map(found)
    }

    /// Classifies a rejected pod create.
    pub(crate) fn api_failure(code: i32, message: &str) -> Found {
        found(d::classify_api_failure(code, message))
    }

    /// A finding the engine derives from timing.
    pub(crate) fn derived(code: Derived, what: String) -> Found {
        let c = match code {
            Derived::FailedScheduling => d::Code::FailedScheduling(d::SchedReason::Other),
            Derived::ScheduleDelay => d::Code::ScheduleDelay,
            Derived::PullImageTooMuchTime => d::Code::PullImageTooMuchTime,
            Derived::KubeletDelay => d::Code::KubeletDelay,
            Derived::PostStartHookTooMuchTime => d::Code::POST_START_HOOK_TOO_MUCH_TIME,
            Derived::NoEvent => d::Code::NoEvent,
            Derived::ContainerNotReady => d::Code::ContainerNotReady,
            Derived::TimeoutUnknown => d::Code::TimeoutUnknown,
            Derived::FinalizerNotRemoved => d::Code::FinalizerNotRemoved,
            Derived::DeleteTimeout => d::Code::DeleteTimeout,
            Derived::BeforeFinish => d::Code::BeforeFinish,
        };
        of_code(c, what)
    }

    /// `<Stage>TooMuchTime` for a stage name like `ImagePull`.
    pub(crate) fn stage_too_much_time(stage: &str, what: String) -> Found {
        match d::Stage::ALL.iter().find(|s| s.as_str() == stage) {
            Some(s) => of_code(d::Code::TooMuchTime(*s), what),
            None => of_code(d::Code::TimeoutUnknown, what),
        }
    }

    /// `<Gate>_NotReady` for a readiness gate.
    pub(crate) fn gate_not_ready(gate: &str, what: String) -> Found {
        let mut f = of_code(d::Code::gate_not_ready(gate), what);
        f.sub_reason = Some(gate.to_string());
        f
    }
}
