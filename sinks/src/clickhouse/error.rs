//! Errors of the ClickHouse sink, with their retry classification.
//!
//! The server reports failures as `Code: N. DB::Exception: ...`; the code
//! decides whether repeating the insert can help. Network trouble, timeouts,
//! overload and unknown 5xx answers are retried; errors the request itself
//! causes (syntax, unknown table or column, type mismatch, bad data,
//! authentication) are not: they would fail forever, so the sink stops
//! without committing and an operator fixes the cause (usually: run
//! `lunettes migrate`).

use crate::util::retry::RetryLogic;

/// Errors of the ClickHouse sink and migrations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to ClickHouse failed.
    #[error("ClickHouse request failed: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// An insert failed with an error a retry cannot fix.
    #[error("insert of {rows} rows into {table} failed permanently: {source}")]
    Insert {
        /// Table.
        table: &'static str,
        /// Rows in the batch.
        rows: usize,
        /// What ClickHouse said.
        source: clickhouse::error::Error,
    },
    /// A migration statement failed.
    #[error("migration {version:04} ({name}) failed: {source}")]
    Migration {
        /// Migration version.
        version: u32,
        /// Migration name.
        name: String,
        /// What ClickHouse said.
        source: clickhouse::error::Error,
    },
    /// An applied migration no longer matches the bundled file.
    #[error(
        "migration {version:04} ({name}) was applied with checksum {applied} but the bundled \
         file has {bundled}: applied migrations must never be edited; add a new one instead"
    )]
    ChecksumMismatch {
        /// Migration version.
        version: u32,
        /// Migration name.
        name: String,
        /// Checksum recorded in `schema_migrations`.
        applied: String,
        /// Checksum of the bundled file.
        bundled: String,
    },
    /// The configuration is invalid.
    #[error("invalid ClickHouse sink configuration: {0}")]
    Config(String),
    /// Kafka setup failed.
    #[error(transparent)]
    Kafka(#[from] lunettes_runtime::kafka::KafkaError),
    /// A Kafka consumer call failed.
    #[error("kafka consumer: {0}")]
    Consumer(#[from] rdkafka::error::KafkaError),
    /// Local I/O (config file, metrics listener).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// ClickHouse exception codes that a retry cannot fix.
const PERMANENT_CODES: &[u32] = &[
    1,   // UNSUPPORTED_METHOD (also the dev server's "bad request")
    6,   // CANNOT_PARSE_TEXT
    16,  // NO_SUCH_COLUMN_IN_TABLE
    20,  // NUMBER_OF_COLUMNS_DOESNT_MATCH
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    33,  // CANNOT_READ_ALL_DATA
    36,  // BAD_ARGUMENTS
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    43,  // ILLEGAL_TYPE_OF_ARGUMENT
    44,  // ILLEGAL_COLUMN
    47,  // UNKNOWN_IDENTIFIER
    48,  // NOT_IMPLEMENTED
    53,  // TYPE_MISMATCH
    60,  // UNKNOWN_TABLE
    62,  // SYNTAX_ERROR
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    81,  // UNKNOWN_DATABASE
    115, // UNKNOWN_SETTING
    117, // INCORRECT_DATA
    164, // READONLY
    192, // UNKNOWN_USER
    193, // WRONG_PASSWORD
    194, // REQUIRED_PASSWORD
    195, // IP_ADDRESS_NOT_ALLOWED
    497, // ACCESS_DENIED
    516, // AUTHENTICATION_FAILED
];

/// The ClickHouse exception code in an error, when the server sent one.
pub fn exception_code(error: &clickhouse::error::Error) -> Option<u32> {
    let clickhouse::error::Error::BadResponse(text) = error else {
        return None;
    };
    let rest = &text[text.find("Code:")? + 5..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Whether repeating the request that failed with `error` may succeed.
pub fn is_retriable(error: &clickhouse::error::Error) -> bool {
    use clickhouse::error::Error as E;
    match error {
        E::Network(_) | E::TimedOut => true,
        E::BadResponse(text) => match exception_code(error) {
            Some(code) => !PERMANENT_CODES.contains(&code),
            // No exception code: a proxy or an overloaded server answering
            // with a bare status. 4xx are the request's fault.
            None => !text.trim_start().starts_with('4'),
        },
        // Client-side encoding/decoding and parameter errors repeat identically.
        _ => false,
    }
}

/// Retry classification of ClickHouse errors for [`crate::util::retry::retry`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ClickHouseRetryLogic;

impl RetryLogic for ClickHouseRetryLogic {
    type Error = clickhouse::error::Error;
    fn is_retriable(&self, error: &Self::Error) -> bool {
        is_retriable(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickhouse::error::Error as E;

    fn bad(text: &str) -> E {
        E::BadResponse(text.to_string())
    }

    #[test]
    fn classifies_server_errors_by_code() {
        let syntax =
            bad("Code: 62. DB::Exception: Syntax error: failed at position 1 (version 26.9.2.1)");
        assert_eq!(exception_code(&syntax), Some(62));
        assert!(!is_retriable(&syntax));
        assert!(!is_retriable(&bad(
            "Code: 60. DB::Exception: Unknown table expression identifier 'x'"
        )));
        let parts = bad("Code: 252. DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts");
        assert!(is_retriable(&parts));
        assert!(is_retriable(&bad(
            "Code: 241. DB::Exception: Memory limit (total) exceeded"
        )));
    }

    #[test]
    fn classifies_bare_statuses_and_transport_errors() {
        assert_eq!(exception_code(&bad("503 Service Unavailable")), None);
        assert!(is_retriable(&bad("503 Service Unavailable")));
        assert!(!is_retriable(&bad("403 Forbidden")));
        assert!(is_retriable(&E::TimedOut));
        assert!(is_retriable(&E::Network("connection refused".into())));
        assert!(!is_retriable(&E::NotEnoughData));
    }
}
