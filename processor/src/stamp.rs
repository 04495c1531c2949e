//! Milestone times with their precision.
//!
//! Audit and `eventTime` stamps are microseconds; condition and container
//! times are whole seconds. A [`Stamp`] keeps the uncertainty of the second
//! form, so two sightings of one milestone at different precisions merge into
//! the narrower one instead of producing a negative phase.

use lunettes_schemas::TimePrecision;

/// "Not seen" for min-accumulated times.
pub(crate) const NONE: i64 = i64::MAX;

/// A point in time with its uncertainty: whole-second times mean
/// `[t, t + slack]`, with slack < 1 s and capped by when it was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub t: i64,
    pub slack: u32,
}

impl Stamp {
    pub(crate) const NONE: Stamp = Stamp { t: NONE, slack: 0 };

    /// The stamp of an event time with its precision.
    #[inline]
    pub(crate) fn of(t: i64, precision: TimePrecision, observed: i64) -> Stamp {
        let slack = match precision {
            TimePrecision::Micros => 0,
            TimePrecision::Seconds => {
                let cap = if observed > t { observed - t } else { 999_999 };
                cap.clamp(0, 999_999) as u32
            }
        };
        Stamp { t, slack }
    }

    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        self.t != NONE
    }

    /// Set and not later than `at`.
    #[inline]
    pub(crate) fn by(&self, at: i64) -> bool {
        self.t != NONE && self.t <= at
    }

    #[inline]
    pub(crate) fn hi(&self) -> i64 {
        self.t.saturating_add(self.slack as i64)
    }

    /// Merges another observation of the same milestone: when the two overlap
    /// they are the same instant seen with different precision and the
    /// narrower wins; otherwise the earlier wins.
    #[inline]
    pub(crate) fn merge(&mut self, o: Stamp) {
        if !o.is_set() {
            return;
        }
        if !self.is_set() {
            *self = o;
            return;
        }
        let overlap = o.t <= self.hi() && self.t <= o.hi();
        let take = if overlap {
            (o.slack, o.t) < (self.slack, self.t)
        } else {
            o.t < self.t
        };
        if take {
            *self = o;
        }
    }
}
