//! Helpers shared by the sinks: batching with Kafka offset bookkeeping, and
//! retry with exponential backoff.
//!
//! Both sinks have the same delivery contract (write, wait for the
//! destination's acknowledgement, only then commit the Kafka offsets), so the
//! pieces that implement it live here once; each sink brings its own
//! [`retry::RetryLogic`] that knows which of its destination's errors are
//! worth retrying.

pub mod batch;
pub mod retry;
