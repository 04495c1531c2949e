//! A real ClickHouse engine on loopback for tests, benchmarks and demos.
//!
//! [`DevClickHouse::start`] runs `deploy/dev/clickhouse_server.py` (chdb, the
//! ClickHouse engine in-process, behind ClickHouse's HTTP interface) on a
//! free port with a fresh data directory, and kills it and removes the
//! directory when dropped. Tests talk to it over HTTP exactly as the sink
//! talks to a production server.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A dev ClickHouse server process.
#[derive(Debug)]
pub struct DevClickHouse {
    child: Child,
    url: String,
    data_dir: PathBuf,
}

/// Path of the dev server script in this repository.
pub fn server_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/dev/clickhouse_server.py")
}

impl DevClickHouse {
    /// Starts a server; panics with the reason when it cannot (a test that
    /// needs ClickHouse must not pass without one).
    pub fn start() -> DevClickHouse {
        match Self::try_start() {
            Ok(s) => s,
            Err(e) => panic!(
                "cannot start the dev ClickHouse server ({}): {e}; install chdb with `pip install chdb-core`",
                server_script().display()
            ),
        }
    }

    /// Starts a server with a fresh data directory (`LUNETTES_CLICKHOUSE_VERBOSE=1`
    /// makes it log every request to stderr).
    pub fn try_start() -> std::io::Result<DevClickHouse> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let data_dir = std::env::temp_dir().join(format!(
            "lunettes-ch-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&data_dir);
        let mut child =
            Command::new(std::env::var("LUNETTES_PYTHON").unwrap_or_else(|_| "python3".into()))
                .arg(server_script())
                .args(["--host", "127.0.0.1", "--port", "0", "--data"])
                .arg(&data_dir)
                .args(std::env::var_os("LUNETTES_CLICKHOUSE_VERBOSE").map(|_| "--verbose"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                return Err(std::io::Error::other(
                    "dev server did not start within 120 s",
                ));
            }
        };
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_string);
        match url {
            Some(url) => Ok(DevClickHouse {
                child,
                url,
                data_dir,
            }),
            None => {
                let status = child.wait()?;
                Err(std::io::Error::other(format!(
                    "dev server exited ({status}) without announcing its address: {line:?}"
                )))
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A client not bound to a database.
    pub fn client(&self) -> clickhouse::Client {
        clickhouse::Client::default().with_url(&self.url)
    }

    /// Runs `sql` in `database` and returns the TabSeparated output, trimmed.
    pub async fn query_text(&self, database: &str, sql: &str) -> clickhouse::error::Result<String> {
        let mut cursor = self
            .client()
            .with_database(database)
            .query_raw(sql)
            .fetch_bytes("TabSeparated")?;
        let out = cursor.collect().await?;
        Ok(String::from_utf8_lossy(&out).trim_end().to_string())
    }

    /// Stops the server (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DevClickHouse {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
