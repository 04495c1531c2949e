//! The insert service: one batch, one `INSERT ... FORMAT RowBinary`, retried.
//!
//! Every attempt of a batch carries the same `insert_deduplication_token`
//! (its Kafka offset ranges): if an attempt reached the server but its
//! answer was lost, the retry is recognised and dropped by the server
//! (`non_replicated_deduplication_window` is set on every table). Batches
//! formed differently on a replay get different tokens; those repeats are
//! collapsed by the tables' `ReplacingMergeTree` keys instead, so correctness
//! never depends on the token, it only keeps duplicates from reaching disk.

use std::time::{Duration, Instant};

use clickhouse::{Row, RowWrite};
use lunettes_runtime::Shutdown;

use super::error::ClickHouseRetryLogic;
use crate::util::retry::{retry, RetryConfig, RetryError};

/// Result of a successful insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertReport {
    /// Rows written.
    pub rows: usize,
    /// Attempts made (1 when the first succeeded).
    pub attempts: u32,
    /// Time from the first attempt to the acknowledgement.
    pub elapsed: Duration,
}

/// Inserts batches into ClickHouse with retries.
#[derive(Debug, Clone)]
pub struct ClickHouseService {
    client: clickhouse::Client,
    retry: RetryConfig,
    timeout: Duration,
}

impl ClickHouseService {
    /// A service over `client` (bound to the sink's database).
    pub fn new(client: clickhouse::Client, retry: RetryConfig, timeout: Duration) -> Self {
        ClickHouseService {
            client,
            retry,
            timeout,
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }

    /// One attempt: streams `rows` as RowBinary and waits for the answer.
    pub async fn insert_once<R>(
        &self,
        table: &str,
        rows: &[R],
        token: &str,
    ) -> clickhouse::error::Result<()>
    where
        R: RowWrite + for<'a> Row<Value<'a> = R>,
    {
        let mut insert = self
            .client
            .insert::<R>(table)
            .await?
            .with_timeouts(Some(self.timeout), Some(self.timeout));
        if !token.is_empty() {
            insert = insert.with_setting("insert_deduplication_token", token);
        }
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await
    }

    /// Inserts `rows` into `table`, retrying retryable errors with backoff
    /// until success, a permanent error, or shutdown. `on_retry` sees each
    /// failed attempt before its backoff.
    pub async fn insert<R>(
        &self,
        table: &str,
        rows: &[R],
        token: &str,
        shutdown: Option<&Shutdown>,
        mut on_retry: impl FnMut(&clickhouse::error::Error, Duration),
    ) -> Result<InsertReport, RetryError<clickhouse::error::Error>>
    where
        R: RowWrite + for<'a> Row<Value<'a> = R>,
    {
        let started = Instant::now();
        let mut attempts = 0u32;
        retry(
            &self.retry,
            &ClickHouseRetryLogic,
            shutdown,
            |e, d| on_retry(e, d),
            || {
                attempts += 1;
                self.insert_once(table, rows, token)
            },
        )
        .await?;
        Ok(InsertReport {
            rows: rows.len(),
            attempts,
            elapsed: started.elapsed(),
        })
    }
}
