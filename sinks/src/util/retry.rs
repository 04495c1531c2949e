//! Retry with capped exponential backoff and jitter.
//!
//! A sink must not drop data because its destination hiccuped, and must not
//! spin on a destination that is down. [`retry`] repeats an operation while
//! the sink's [`RetryLogic`] calls the error retryable, sleeping an
//! exponentially growing, jittered delay between attempts (so many sinks
//! restarting together do not hammer the server in lockstep). It gives up only
//! on a non-retryable error, or when shutdown begins: then the caller leaves
//! its offsets uncommitted and the data is read again after the restart.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lunettes_runtime::Shutdown;
use serde::{Deserialize, Serialize};

/// Backoff settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First delay, in milliseconds.
    pub initial_backoff_ms: u64,
    /// Largest delay, in milliseconds.
    pub max_backoff_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff_ms: 100,
            max_backoff_ms: 30_000,
        }
    }
}

/// Which errors of a destination are worth retrying.
pub trait RetryLogic {
    /// The destination's error type.
    type Error;
    /// Whether repeating the same request may succeed (network trouble,
    /// overload, a server restarting), as opposed to an error the request
    /// itself causes (bad SQL, schema mismatch) that would fail forever.
    fn is_retriable(&self, error: &Self::Error) -> bool;
}

/// Exponential backoff state: each delay doubles up to the cap, with the
/// actual sleep drawn uniformly from the upper half of the current step.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    step: Duration,
    attempts: u32,
    seed: u64,
}

impl Backoff {
    /// A backoff starting at `config.initial_backoff_ms`.
    pub fn new(config: &RetryConfig) -> Self {
        let initial = Duration::from_millis(config.initial_backoff_ms.max(1));
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Backoff {
            initial,
            max: Duration::from_millis(config.max_backoff_ms.max(config.initial_backoff_ms.max(1))),
            step: initial,
            attempts: 0,
            seed,
        }
    }

    /// The next delay to sleep; advances the state.
    pub fn next_delay(&mut self) -> Duration {
        self.attempts += 1;
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        // splitmix64: cheap, good enough for jitter.
        self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let half = step / 2;
        let jitter_nanos = (half.as_nanos() as u64).max(1);
        half + Duration::from_nanos(z % jitter_nanos)
    }

    /// Number of delays handed out so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Back to the initial delay (after a success).
    pub fn reset(&mut self) {
        self.step = self.initial;
        self.attempts = 0;
    }
}

/// Why [`retry`] gave up.
#[derive(Debug)]
pub enum RetryError<E> {
    /// The logic called the error permanent.
    Permanent(E),
    /// Shutdown began while the operation was still failing.
    ShutDown(E),
}

impl<E> RetryError<E> {
    /// The last error of the operation.
    pub fn into_inner(self) -> E {
        match self {
            RetryError::Permanent(e) | RetryError::ShutDown(e) => e,
        }
    }
}

/// Runs `op` until it succeeds, a permanent error occurs, or `shutdown` fires
/// during a backoff. `on_retry(error, delay)` is called before each sleep
/// (for logs and metrics).
pub async fn retry<T, E, L, F, Fut>(
    config: &RetryConfig,
    logic: &L,
    shutdown: Option<&Shutdown>,
    mut on_retry: impl FnMut(&E, Duration),
    mut op: F,
) -> Result<T, RetryError<E>>
where
    L: RetryLogic<Error = E>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new(config);
    loop {
        let error = match op().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !logic.is_retriable(&error) {
            return Err(RetryError::Permanent(error));
        }
        if shutdown.is_some_and(Shutdown::is_triggered) {
            return Err(RetryError::ShutDown(error));
        }
        let delay = backoff.next_delay();
        on_retry(&error, delay);
        match shutdown {
            Some(s) => {
                let s = s.clone();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = s.wait() => return Err(RetryError::ShutDown(error)),
                }
            }
            None => tokio::time::sleep(delay).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    struct EvenIsRetriable;
    impl RetryLogic for EvenIsRetriable {
        type Error = u32;
        fn is_retriable(&self, e: &u32) -> bool {
            e.is_multiple_of(2)
        }
    }

    fn fast() -> RetryConfig {
        RetryConfig {
            initial_backoff_ms: 1,
            max_backoff_ms: 4,
        }
    }

    #[test]
    fn delays_grow_and_are_capped() {
        let mut b = Backoff::new(&RetryConfig {
            initial_backoff_ms: 100,
            max_backoff_ms: 800,
        });
        let d: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        for (i, step) in [100u64, 200, 400, 800, 800, 800].iter().enumerate() {
            let step = Duration::from_millis(*step);
            assert!(d[i] >= step / 2 && d[i] <= step, "delay {i} = {:?}", d[i]);
        }
        assert_eq!(b.attempts(), 6);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn retries_retriable_errors_until_success() {
        let calls = Cell::new(0u32);
        let mut retries = 0;
        let out = retry(
            &fast(),
            &EvenIsRetriable,
            None,
            |_, _| retries += 1,
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 4 {
                        Err(2)
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(out.unwrap(), 4);
        assert_eq!(retries, 3);
    }

    #[tokio::test]
    async fn stops_on_permanent_error() {
        let calls = Cell::new(0u32);
        let out: Result<(), _> = retry(
            &fast(),
            &EvenIsRetriable,
            None,
            |_, _| {},
            || {
                calls.set(calls.get() + 1);
                async { Err(3) }
            },
        )
        .await;
        assert!(matches!(out, Err(RetryError::Permanent(3))));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test]
    async fn gives_up_when_shutdown_begins() {
        let (trigger, shutdown) = Shutdown::new();
        trigger.trigger();
        let out: Result<(), _> = retry(
            &fast(),
            &EvenIsRetriable,
            Some(&shutdown),
            |_, _| {},
            || async { Err(2) },
        )
        .await;
        assert!(matches!(out, Err(RetryError::ShutDown(2))));
    }
}
