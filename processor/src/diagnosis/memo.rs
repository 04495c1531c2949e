//! A small per-thread memo of recent `classify_event` answers.
//!
//! Why: the kubelet repeats the same Warning for a failing pod over and over
//! (`BackOff` every back-off period, `Unhealthy` every probe period,
//! `FailedMount` every retry, `FailedScheduling` on every scheduling attempt),
//! and audit and watch sources deliver each occurrence again. Classifying a
//! message costs a few microseconds of text scanning; recognising a repeat
//! costs one hash and one comparison. The memo is direct-mapped and bounded
//! ([`SLOTS`] entries per thread, messages up to [`MAX_MEMO_LEN`] bytes), so
//! memory stays flat whatever the input, and it is exact (keys are compared in
//! full), so answers are identical to the uncached rules.

use std::cell::RefCell;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use super::finding::Finding;

/// Entries per thread (power of two).
const SLOTS: usize = 1024;
/// Longer messages are classified without the memo.
const MAX_MEMO_LEN: usize = 2048;
/// Fixed seed: the memo never leaves the process, any value works.
const SEED: u64 = 0x6c75_6e65_7474_6573;

struct Slot {
    hash: u64,
    reason: Box<str>,
    message: Box<str>,
    finding: Option<Finding>,
}

thread_local! {
    static MEMO: RefCell<Vec<Option<Slot>>> = const { RefCell::new(Vec::new()) };
}

/// `compute()`'s answer for `(reason, message)`, from the memo when seen recently.
pub(crate) fn memoized(
    reason: &str,
    message: &str,
    compute: impl FnOnce() -> Option<Finding>,
) -> Option<Finding> {
    if message.len() > MAX_MEMO_LEN {
        return compute();
    }
    let hash = FixedState::with_seed(SEED).hash_one((reason, message));
    let index = hash as usize & (SLOTS - 1);
    let hit = MEMO.with(|memo| {
        let memo = memo.borrow();
        match memo.get(index) {
            Some(Some(slot))
                if slot.hash == hash && &*slot.reason == reason && &*slot.message == message =>
            {
                Some(slot.finding.clone())
            }
            _ => None,
        }
    });
    if let Some(finding) = hit {
        return finding;
    }
    let finding = compute();
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        if memo.is_empty() {
            memo.resize_with(SLOTS, || None);
        }
        memo[index] = Some(Slot {
            hash,
            reason: reason.into(),
            message: message.into(),
            finding: finding.clone(),
        });
    });
    finding
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::Code;
    use std::cell::Cell;

    #[test]
    fn repeats_are_served_from_the_memo_and_equal() {
        let calls = Cell::new(0);
        let compute = || {
            calls.set(calls.get() + 1);
            Some(Finding::new(Code::NoEvent, None, None, "x"))
        };
        let first = memoized("Unit", "memo test message 1", compute);
        let second = memoized("Unit", "memo test message 1", || {
            calls.set(calls.get() + 1);
            None
        });
        assert_eq!(first, second);
        assert_eq!(calls.get(), 1);
        // Different reason, same message: computed again.
        let third = memoized("Unit2", "memo test message 1", || None);
        assert_eq!(third, None);
    }

    #[test]
    fn long_messages_bypass_the_memo() {
        let long = "x".repeat(MAX_MEMO_LEN + 1);
        let calls = Cell::new(0);
        for _ in 0..2 {
            let _ = memoized("Unit", &long, || {
                calls.set(calls.get() + 1);
                None
            });
        }
        assert_eq!(calls.get(), 2);
    }
}
