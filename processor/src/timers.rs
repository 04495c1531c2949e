//! The per-cluster timer queue: a 4-ary min-heap of `(time, slot, generation)`.
//!
//! **Why not `std::collections::BinaryHeap`.** A timer is pushed whenever a
//! pod's next wake-up changes, and stale entries stay until their time comes
//! (cheaper than finding and removing them), so at fleet scale the queue holds
//! hundreds of thousands of entries, far beyond any cache. Popping walks the
//! heap from the root to a leaf, and below the cached top levels each level is
//! a cache miss: a binary heap's walk is log2(n) levels deep, a 4-ary heap's
//! log4(n), half as many, while the four children of a node (16 bytes each)
//! span one or two cache lines. On the simulator's traffic the pop was the
//! engine's most expensive single function in a profile.
//!
//! Entries are totally ordered (by time, then slot, then generation), so any
//! correct min-queue pops the same sequence: outputs do not depend on the
//! heap's arity (a property test checks it against `BinaryHeap`).

/// One timer: (fire time µs, pod slot, slot generation).
pub(crate) type Timer = (i64, u32, u32);

/// Children per node.
const ARITY: usize = 4;

/// A min-queue of timers.
#[derive(Debug, Default, Clone)]
pub(crate) struct TimerQueue {
    heap: Vec<Timer>,
}

impl TimerQueue {
    /// The earliest timer, if any.
    #[inline]
    pub(crate) fn peek(&self) -> Option<&Timer> {
        self.heap.first()
    }

    /// Adds a timer.
    pub(crate) fn push(&mut self, timer: Timer) {
        let mut at = self.heap.len();
        self.heap.push(timer);
        while at > 0 {
            let parent = (at - 1) / ARITY;
            if self.heap[parent] <= timer {
                break;
            }
            self.heap[at] = self.heap[parent];
            at = parent;
        }
        self.heap[at] = timer;
    }

    /// Removes and returns the earliest timer.
    pub(crate) fn pop(&mut self) -> Option<Timer> {
        let last = self.heap.pop()?;
        if self.heap.is_empty() {
            return Some(last);
        }
        let top = self.heap[0];
        let len = self.heap.len();
        let mut at = 0;
        loop {
            let first = at * ARITY + 1;
            if first >= len {
                break;
            }
            let end = (first + ARITY).min(len);
            let mut min = first;
            for c in first + 1..end {
                if self.heap[c] < self.heap[min] {
                    min = c;
                }
            }
            if self.heap[min] >= last {
                break;
            }
            self.heap[at] = self.heap[min];
            at = min;
        }
        self.heap[at] = last;
        Some(top)
    }

    /// Number of queued timers (stale ones included).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    proptest! {
        /// Any interleaving of pushes and pops gives what `BinaryHeap` gives
        /// (equal entries included: small ranges make many).
        #[test]
        fn pops_what_a_binary_heap_pops(
            ops in proptest::collection::vec(
                proptest::option::weighted(0.6, (0i64..50, 0u32..4, 0u32..3)),
                0..400,
            )
        ) {
            let mut q = TimerQueue::default();
            let mut reference = BinaryHeap::new();
            for op in ops {
                match op {
                    Some(t) => {
                        q.push(t);
                        reference.push(Reverse(t));
                    }
                    None => {
                        prop_assert_eq!(q.pop(), reference.pop().map(|Reverse(t)| t));
                    }
                }
                prop_assert_eq!(q.peek().copied(), reference.peek().map(|Reverse(t)| *t));
                prop_assert_eq!(q.len(), reference.len());
            }
            while let Some(Reverse(t)) = reference.pop() {
                prop_assert_eq!(q.pop(), Some(t));
            }
            prop_assert_eq!(q.pop(), None);
        }
    }
}
