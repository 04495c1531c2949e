//! A real Kafka-protocol broker on loopback for tests and the local demo.
//!
//! Tests talk to a real broker process, not a mock: [`TestBroker::start`]
//! launches `tansu` (an Apache-2.0 Kafka-protocol broker, installed by
//! `deploy/dev/install.sh`) on a free port with in-memory storage and kills it
//! when dropped. The binary is found through `$LUNETTES_TANSU`, then `PATH`,
//! then `~/.cargo/bin`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A broker process on loopback.
#[derive(Debug)]
pub struct TestBroker {
    child: Child,
    addr: SocketAddr,
    _dir: Option<PathBuf>,
}

/// Locates the tansu binary.
pub fn tansu_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("LUNETTES_TANSU") {
        return Some(PathBuf::from(p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("tansu");
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let home = std::env::var_os("HOME")?;
    let p = PathBuf::from(home).join(".cargo/bin/tansu");
    p.is_file().then_some(p)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl TestBroker {
    /// Starts a broker with in-memory storage.
    ///
    /// Panics with an explanation when tansu is not installed: a test that
    /// needs a broker must not silently pass without one.
    pub fn start() -> TestBroker {
        Self::start_with_storage(None).expect("start tansu broker")
    }

    /// Starts a broker; with `Some(path)` it stores data durably in a SQLite
    /// file, so a restarted broker keeps its topics and offsets.
    pub fn start_with_storage(sqlite: Option<PathBuf>) -> std::io::Result<TestBroker> {
        let bin = tansu_binary().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "tansu broker not found: run deploy/dev/install.sh (or set LUNETTES_TANSU)",
            )
        })?;
        let port = free_port()?;
        Self::spawn(&bin, port, sqlite)
    }

    fn spawn(bin: &PathBuf, port: u16, sqlite: Option<PathBuf>) -> std::io::Result<TestBroker> {
        let url = format!("tcp://127.0.0.1:{port}");
        // tansu opens a sqlite path relative to its working directory (an
        // absolute path gets the directory prepended twice), so run it in the
        // file's directory and name the file alone.
        let (storage, workdir) = match &sqlite {
            Some(p) => (
                format!(
                    "sqlite://{}",
                    p.file_name().unwrap_or(p.as_os_str()).to_string_lossy()
                ),
                p.parent().filter(|d| !d.as_os_str().is_empty()),
            ),
            None => ("memory://tansu/".to_string(), None),
        };
        let mut command = Command::new(bin);
        if let Some(dir) = workdir {
            command.current_dir(dir);
        }
        let child = command
            .arg("broker")
            .arg("--listener-url")
            .arg(&url)
            .arg("--advertised-listener-url")
            .arg(&url)
            .arg("--storage-engine")
            .arg(&storage)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("valid addr");
        let mut broker = TestBroker {
            child,
            addr,
            _dir: sqlite,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                return Err(std::io::Error::other(format!(
                    "tansu exited at start: {status}"
                )));
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other("tansu did not listen within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(broker)
    }

    /// `bootstrap.servers` for clients.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Stops the broker (as a crash would: SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Restarts a stopped broker on the same port and storage.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        let bin = tansu_binary().expect("tansu found at start");
        let mut fresh = Self::spawn(&bin, self.addr.port(), self._dir.clone())?;
        // Take the new process over; `fresh` is left holding the dead one.
        std::mem::swap(&mut self.child, &mut fresh.child);
        Ok(())
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill();
    }
}
