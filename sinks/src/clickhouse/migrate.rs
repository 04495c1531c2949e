//! Versioned schema migrations (`schemas/clickhouse/NNNN_name.sql`).
//!
//! The SQL files are compiled into the binary, so a deployed sink or
//! `lunettes migrate` always carries the schema it writes. Applied versions
//! and the checksum of their file are recorded in `schema_migrations`;
//! applying is idempotent (every statement is `IF NOT EXISTS`, and applied
//! versions are skipped), and editing a file after it was applied is refused,
//! since the databases that already ran it would silently differ. The TTL is
//! a parameter (`{ttl_days}` in the files); changing it later is an explicit
//! `ALTER TABLE ... MODIFY TTL` done by [`migrate`] when asked.
//!
//! Statements in a file are separated by `;` at the end of a line; files
//! must not contain `;` inside string literals.

use clickhouse::Row;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::config::is_identifier;
use super::error::{Error, Result};

/// One migration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Version (the file's number).
    pub version: u32,
    /// Name (the rest of the file name).
    pub name: &'static str,
    /// SQL text with `{ttl_days}` placeholders.
    pub sql: &'static str,
}

/// All migrations, in order. A test checks this list against the directory.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "hyperevents",
        sql: include_str!("../../../schemas/clickhouse/0001_hyperevents.sql"),
    },
    Migration {
        version: 2,
        name: "deliveries",
        sql: include_str!("../../../schemas/clickhouse/0002_deliveries.sql"),
    },
    Migration {
        version: 3,
        name: "spans",
        sql: include_str!("../../../schemas/clickhouse/0003_spans.sql"),
    },
    Migration {
        version: 4,
        name: "slo_windows",
        sql: include_str!("../../../schemas/clickhouse/0004_slo_windows.sql"),
    },
];

/// Tables with a TTL and the expression the TTL counts from.
pub const TTL_COLUMNS: &[(&str, &str)] = &[
    ("hyperevents", "toDateTime(time)"),
    ("deliveries", "toDateTime(created_at)"),
    ("spans", "toDateTime(Timestamp)"),
    ("spans_trace_id_ts", "toDateTime(End)"),
    ("slo_windows_1m", "window_start"),
];

impl Migration {
    /// File name, `NNNN_name.sql`.
    pub fn file_name(&self) -> String {
        format!("{:04}_{}.sql", self.version, self.name)
    }

    /// SHA-256 (hex) of the file text, before substitution.
    pub fn checksum(&self) -> String {
        let digest = Sha256::digest(self.sql.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The statements of the file with `{ttl_days}` substituted.
    pub fn statements(&self, ttl_days: u32) -> Vec<String> {
        split_statements(&self.sql.replace("{ttl_days}", &ttl_days.to_string()))
    }
}

/// Splits SQL text into statements: drops `--` comment lines, splits on `;`.
pub fn split_statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateOptions {
    /// Database to create and migrate.
    pub database: String,
    /// TTL substituted into new tables.
    pub ttl_days: u32,
    /// Also set the TTL of existing tables to `ttl_days` (`ALTER ... MODIFY TTL`).
    pub alter_ttl: bool,
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied now.
    pub applied: Vec<u32>,
    /// Versions that were already applied.
    pub already_applied: Vec<u32>,
    /// Tables whose TTL was altered.
    pub ttl_altered: Vec<String>,
}

#[derive(Debug, Row, Deserialize)]
struct AppliedRow {
    version: u32,
    name: String,
    checksum: String,
}

/// Creates the database and applies the pending migrations. `server` is a
/// client not bound to a database (the database may not exist yet).
pub async fn migrate(
    server: &clickhouse::Client,
    options: &MigrateOptions,
) -> Result<MigrationReport> {
    let db = &options.database;
    if !is_identifier(db) {
        return Err(Error::Config(format!(
            "database {db:?} is not an identifier"
        )));
    }
    server
        .query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .execute()
        .await?;
    let client = server.clone().with_database(db);
    client
        .query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (\
               version UInt32, name String, checksum String, \
               applied_at DateTime64(3, 'UTC') DEFAULT now64(3)\
             ) ENGINE = ReplacingMergeTree ORDER BY version",
        )
        .execute()
        .await?;
    let applied: Vec<AppliedRow> = client
        .query("SELECT version, name, checksum FROM schema_migrations FINAL ORDER BY version")
        .fetch_all()
        .await?;

    let mut report = MigrationReport::default();
    for m in MIGRATIONS {
        if let Some(done) = applied.iter().find(|a| a.version == m.version) {
            let bundled = m.checksum();
            if done.checksum != bundled {
                return Err(Error::ChecksumMismatch {
                    version: m.version,
                    name: done.name.clone(),
                    applied: done.checksum.clone(),
                    bundled,
                });
            }
            report.already_applied.push(m.version);
            continue;
        }
        for statement in m.statements(options.ttl_days) {
            client
                .query_raw(&statement)
                .execute()
                .await
                .map_err(|source| Error::Migration {
                    version: m.version,
                    name: m.name.to_string(),
                    source,
                })?;
        }
        client
            .query("INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)")
            .bind(m.version)
            .bind(m.name)
            .bind(m.checksum())
            .execute()
            .await?;
        report.applied.push(m.version);
    }

    if options.alter_ttl {
        for (table, column) in TTL_COLUMNS {
            client
                .query_raw(&format!(
                    "ALTER TABLE {table} MODIFY TTL {column} + INTERVAL {} DAY",
                    options.ttl_days
                ))
                // Apply to new parts and merges; do not rewrite every part now.
                .with_setting("materialize_ttl_after_modify", "0")
                .execute()
                .await?;
            report.ttl_altered.push(table.to_string());
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_list_matches_the_directory() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/clickhouse");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let bundled: Vec<String> = MIGRATIONS.iter().map(Migration::file_name).collect();
        assert_eq!(
            files, bundled,
            "every schemas/clickhouse/*.sql must be listed in MIGRATIONS"
        );
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "versions are consecutive");
            assert!(!m.statements(30).is_empty());
            assert!(m.statements(7).iter().all(|s| !s.contains("{ttl_days}")));
        }
    }

    #[test]
    fn splitting_drops_comments_and_empty_statements() {
        let s = split_statements(
            "-- a; comment\nCREATE TABLE a (x UInt8);\n\n-- b\nCREATE VIEW v AS SELECT 1;\n",
        );
        assert_eq!(
            s,
            vec!["CREATE TABLE a (x UInt8)", "CREATE VIEW v AS SELECT 1"]
        );
    }
}
