//! The insert service: one batch, one `INSERT ... FORMAT RowBinary`, retried.
//!
//! Every attempt of a batch carries the same `insert_deduplication_token`
//! (its Kafka offset ranges): if an attempt reached the server but its
//! answer was lost, the retry is recognised and dropped by the server
//! (`non_replicated_deduplication_window` is set on every table). Batches
//! formed differently on a replay get different tokens; those repeats are
//! collapsed by the tables' `ReplacingMergeTree` keys instead, so correctness
//! never depends on the token, it only keeps duplicates from reaching disk.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
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

    /// One attempt: sends rows already encoded as RowBinary and waits for
    /// the answer.
    pub async fn insert_row_binary_once(
        &self,
        table: &str,
        body: &RowBinary,
        token: &str,
    ) -> clickhouse::error::Result<()> {
        let columns = body
            .columns
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(",");
        let mut insert = self
            .client
            .insert_formatted_with(format!("INSERT INTO {table}({columns}) FORMAT RowBinary"))
            .with_timeouts(Some(self.timeout), Some(self.timeout));
        if !token.is_empty() {
            insert = insert.with_setting("insert_deduplication_token", token);
        }
        insert.send(body.bytes.clone()).await?;
        insert.end().await
    }

    /// Inserts `rows` into `table`, retrying retryable errors with backoff
    /// until success, a permanent error, or shutdown. `on_retry` sees each
    /// failed attempt before its backoff. `rows` is a slice of `Row`s or a
    /// [`RowBinary`] body.
    pub async fn insert<B>(
        &self,
        table: &str,
        rows: &B,
        token: &str,
        shutdown: Option<&Shutdown>,
        mut on_retry: impl FnMut(&clickhouse::error::Error, Duration),
    ) -> Result<InsertReport, RetryError<clickhouse::error::Error>>
    where
        B: InsertBody + ?Sized,
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
                rows.insert_once(self, table, token)
            },
        )
        .await?;
        Ok(InsertReport {
            rows: rows.row_count(),
            attempts,
            elapsed: started.elapsed(),
        })
    }
}

/// Rows already encoded as RowBinary for a table of known columns.
#[derive(Debug, Clone)]
pub struct RowBinary {
    /// Column names, in the order the rows hold them.
    pub columns: &'static [&'static str],
    /// The encoded rows.
    pub bytes: Bytes,
    /// How many rows `bytes` holds.
    pub rows: usize,
}

/// What [`ClickHouseService::insert`] can write: a slice of `Row`s (encoded
/// by the `clickhouse` crate) or a [`RowBinary`] body.
pub trait InsertBody: Sync {
    /// Rows written by one insert.
    fn row_count(&self) -> usize;
    /// One attempt.
    fn insert_once<'a>(
        &'a self,
        service: &'a ClickHouseService,
        table: &'a str,
        token: &'a str,
    ) -> impl Future<Output = clickhouse::error::Result<()>> + Send + 'a;
}

impl<R> InsertBody for [R]
where
    R: RowWrite + for<'a> Row<Value<'a> = R> + Sync,
{
    fn row_count(&self) -> usize {
        self.len()
    }

    fn insert_once<'a>(
        &'a self,
        service: &'a ClickHouseService,
        table: &'a str,
        token: &'a str,
    ) -> impl Future<Output = clickhouse::error::Result<()>> + Send + 'a {
        service.insert_once(table, self, token)
    }
}

/// A batch owns its rows as a `Vec`: the same insert as the slice.
impl<R> InsertBody for Vec<R>
where
    [R]: InsertBody,
    R: Sync,
{
    fn row_count(&self) -> usize {
        self.as_slice().row_count()
    }

    fn insert_once<'a>(
        &'a self,
        service: &'a ClickHouseService,
        table: &'a str,
        token: &'a str,
    ) -> impl Future<Output = clickhouse::error::Result<()>> + Send + 'a {
        self.as_slice().insert_once(service, table, token)
    }
}

impl InsertBody for RowBinary {
    fn row_count(&self) -> usize {
        self.rows
    }

    fn insert_once<'a>(
        &'a self,
        service: &'a ClickHouseService,
        table: &'a str,
        token: &'a str,
    ) -> impl Future<Output = clickhouse::error::Result<()>> + Send + 'a {
        service.insert_row_binary_once(table, self, token)
    }
}
