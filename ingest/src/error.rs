//! Errors and the per-document report.
//!
//! A bad record must never hide the records around it, so errors are values
//! collected in a [`Report`] rather than early returns: the caller prints them
//! (`input:line: reason`) and decides the exit status.

use std::fmt;

/// A record that could not be normalized: which input, which line, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Name of the input (file path, `-` for stdin, a collector's stream name).
    pub input: String,
    /// 1-based line where the bad record starts, when the input has lines.
    pub line: Option<u64>,
    /// What is wrong, in words a user can act on.
    pub reason: String,
}

impl InputError {
    /// An error about `input` at `line`.
    ///
    /// Reasons longer than [`InputError::MAX_REASON`] bytes are cut (parser
    /// messages can quote a whole bad value; an error line must stay readable).
    pub fn new(input: &str, line: Option<u64>, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > Self::MAX_REASON {
            let mut cut = Self::MAX_REASON;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
            reason.push_str("...");
        }
        InputError {
            input: input.to_string(),
            line,
            reason,
        }
    }

    /// Longest reason kept, in bytes.
    pub const MAX_REASON: usize = 300;
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.input, line, self.reason),
            None => write!(f, "{}: {}", self.input, self.reason),
        }
    }
}

impl std::error::Error for InputError {}

/// What normalizing one document produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Records read (audit events, Kubernetes objects, CSV rows, log entries).
    pub records: u64,
    /// HyperEvents appended to the output.
    pub events: u64,
    /// Valid records that are not about pods (a ConfigMap audit record, a node log).
    pub skipped: u64,
    /// Records that did not parse.
    pub errors: Vec<InputError>,
}

impl Report {
    /// Adds another report's counts and errors to this one.
    pub fn merge(&mut self, other: Report) {
        self.records += other.records;
        self.events += other.events;
        self.skipped += other.skipped;
        self.errors.extend(other.errors);
    }
}

/// Internal outcome of one record: how many HyperEvents it produced, or that
/// it was valid but not about pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The record was about pods and produced this many HyperEvents (maybe 0).
    Emitted(usize),
    /// The record is valid but not about pods.
    Skipped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_input_and_line() {
        let e = InputError::new("audit.log", Some(7), "expected value at column 1");
        assert_eq!(e.to_string(), "audit.log:7: expected value at column 1");
        let e = InputError::new("-", None, "empty");
        assert_eq!(e.to_string(), "-: empty");
        let e = InputError::new("-", None, "é".repeat(400));
        assert!(e.reason.len() <= InputError::MAX_REASON + 3);
        assert!(e.reason.ends_with("..."));
    }
}
