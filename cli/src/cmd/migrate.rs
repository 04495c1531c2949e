//! `lunettes migrate`: create the ClickHouse database and apply the pending
//! schema migrations (`schemas/clickhouse/`, compiled in). Idempotent: run it
//! at every deploy; applied versions are recorded in `schema_migrations`.

use anyhow::Context;
use lunettes_sinks::clickhouse::config::{ClickHouseEndpoint, DEFAULT_TTL_DAYS};
use lunettes_sinks::clickhouse::{migrate, MigrateOptions};

/// Flags of `lunettes migrate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// ClickHouse HTTP interface.
    #[arg(
        long,
        env = "LUNETTES_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    pub url: String,
    /// Database to create and migrate.
    #[arg(long, env = "LUNETTES_CLICKHOUSE_DATABASE", default_value = "lunettes")]
    pub database: String,
    /// ClickHouse user.
    #[arg(long, env = "LUNETTES_CLICKHOUSE_USER")]
    pub user: Option<String>,
    /// ClickHouse password.
    #[arg(long, env = "LUNETTES_CLICKHOUSE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Table TTL in days. Used when tables are created; when given
    /// explicitly it is also applied to existing tables (ALTER ... MODIFY TTL).
    #[arg(long)]
    pub ttl_days: Option<u32>,
}

/// Applies the migrations and prints what was done.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let endpoint = ClickHouseEndpoint {
        url: args.url.clone(),
        database: args.database.clone(),
        user: args.user.clone(),
        password: args.password.clone(),
        validation: true,
        ..ClickHouseEndpoint::default()
    };
    endpoint.validate()?;
    if args.ttl_days == Some(0) {
        anyhow::bail!("--ttl-days must be at least 1");
    }
    let options = MigrateOptions {
        database: args.database.clone(),
        ttl_days: args.ttl_days.unwrap_or(DEFAULT_TTL_DAYS),
        alter_ttl: args.ttl_days.is_some(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime
        .block_on(migrate(&endpoint.server_client(), &options))
        .with_context(|| format!("migrating {} at {}", args.database, args.url))?;
    println!(
        "database {}: applied {:?}, already applied {:?}{}",
        args.database,
        report.applied,
        report.already_applied,
        if report.ttl_altered.is_empty() {
            String::new()
        } else {
            format!(
                ", TTL set to {} days on {:?}",
                options.ttl_days, report.ttl_altered
            )
        }
    );
    Ok(0)
}
