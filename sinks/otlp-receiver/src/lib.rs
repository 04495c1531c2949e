//! An OTLP traces receiver for tests and demos.
//!
//! Tests of the OTLP sink must see what a real backend would see, so this is
//! a real server on loopback built on the official OTLP service definitions
//! (`opentelemetry-proto`): the gRPC `TraceService` and the HTTP
//! `POST /v1/traces` binary-protobuf endpoint. It records every
//! `ExportTraceServiceRequest` it accepts, in memory and optionally as JSON
//! lines (one span per line, for the demo), so tests can assert trace
//! structure, ids and attributes.
//!
//! It also has a fault switch. A healthy receiver never answers UNAVAILABLE
//! or 503, so the sink's retry path could not otherwise be exercised: with
//! [`OtlpReceiver::fail_next`] the next N requests (on either transport) are
//! refused as a server under maintenance would be (gRPC `UNAVAILABLE` with
//! `RetryInfo`, HTTP 503 with `Retry-After`), and nothing of them is
//! recorded. [`OtlpReceiver::reject_trace`] makes any request holding a given
//! trace fail permanently (`INVALID_ARGUMENT` / 400), the way a backend
//! refuses a malformed span.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use lunettes_otlp_receiver::{OtlpReceiver, ReceiverConfig};
//! let receiver = OtlpReceiver::start(ReceiverConfig::loopback()).await?;
//! println!("gRPC at {}", receiver.grpc_endpoint().unwrap());
//! receiver.fail_next(2, Some(std::time::Duration::from_millis(50)));
//! // ... run the sink against it ...
//! let spans = receiver.spans();
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod grpc;
mod http;
mod record;

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tokio::sync::{watch, Notify};

pub use record::{flatten, ReceivedSpan};

/// Which transport a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP (binary protobuf).
    Http,
}

/// One accepted export request.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Transport it came in on.
    pub transport: Transport,
    /// The request as decoded.
    pub request: ExportTraceServiceRequest,
}

/// Where to listen and what to record.
#[derive(Debug, Clone, Default)]
pub struct ReceiverConfig {
    /// gRPC listen address (none: no gRPC server).
    pub grpc_addr: Option<SocketAddr>,
    /// HTTP listen address (none: no HTTP server).
    pub http_addr: Option<SocketAddr>,
    /// Append every accepted span as one JSON line to this file.
    pub jsonl: Option<PathBuf>,
}

impl ReceiverConfig {
    /// Both transports on free loopback ports, nothing written to disk.
    pub fn loopback() -> Self {
        let any: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
        ReceiverConfig {
            grpc_addr: Some(any),
            http_addr: Some(any),
            jsonl: None,
        }
    }
}

/// What the receiver decides for a request before looking at it further.
pub(crate) enum Verdict {
    /// Record and acknowledge.
    Accept,
    /// Refuse as temporarily unavailable, asking for this delay.
    Unavailable(Option<Duration>),
    /// Refuse permanently, with this message.
    Invalid(String),
}

/// State shared by both transports.
pub(crate) struct Shared {
    received: Mutex<Vec<Received>>,
    jsonl: Mutex<Option<BufWriter<std::fs::File>>>,
    fail_remaining: AtomicU32,
    /// Retry delay to announce with faults, in ms; `u64::MAX` = none.
    fail_retry_after_ms: AtomicU64,
    rejected_traces: Mutex<HashSet<Vec<u8>>>,
    refused: AtomicU64,
    spans: AtomicU64,
    changed: Notify,
}

impl Shared {
    /// Decides and, when accepted, records `request`.
    pub(crate) fn handle(
        &self,
        transport: Transport,
        request: ExportTraceServiceRequest,
    ) -> Verdict {
        let verdict = self.judge(&request);
        match verdict {
            Verdict::Accept => self.record(transport, request),
            _ => {
                self.refused.fetch_add(1, Ordering::SeqCst);
                self.changed.notify_waiters();
            }
        }
        verdict
    }

    fn judge(&self, request: &ExportTraceServiceRequest) -> Verdict {
        let take_fault = self
            .fail_remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if take_fault {
            let ms = self.fail_retry_after_ms.load(Ordering::SeqCst);
            return Verdict::Unavailable((ms != u64::MAX).then(|| Duration::from_millis(ms)));
        }
        let rejected = self.rejected_traces.lock().expect("lock");
        if !rejected.is_empty() {
            let bad = request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .find(|s| rejected.contains(&s.trace_id));
            if let Some(span) = bad {
                return Verdict::Invalid(format!(
                    "trace {} is refused by this receiver's fault switch",
                    hex::encode(&span.trace_id)
                ));
            }
        }
        Verdict::Accept
    }

    fn record(&self, transport: Transport, request: ExportTraceServiceRequest) {
        let flat = flatten(transport, &request);
        {
            let mut file = self.jsonl.lock().expect("lock");
            if let Some(w) = file.as_mut() {
                for span in &flat {
                    let line = serde_json::to_string(span).expect("spans serialize");
                    if let Err(e) = writeln!(w, "{line}") {
                        tracing::error!("writing received spans: {e}");
                    }
                }
                if let Err(e) = w.flush() {
                    tracing::error!("writing received spans: {e}");
                }
            }
        }
        self.spans.fetch_add(flat.len() as u64, Ordering::SeqCst);
        self.received
            .lock()
            .expect("lock")
            .push(Received { transport, request });
        self.changed.notify_waiters();
    }
}

/// A running receiver. Dropping it stops the servers.
pub struct OtlpReceiver {
    shared: Arc<Shared>,
    grpc_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for OtlpReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpReceiver")
            .field("grpc_addr", &self.grpc_addr)
            .field("http_addr", &self.http_addr)
            .finish()
    }
}

impl OtlpReceiver {
    /// Binds the configured listeners and starts serving.
    pub async fn start(config: ReceiverConfig) -> std::io::Result<OtlpReceiver> {
        let jsonl = match &config.jsonl {
            Some(path) => Some(BufWriter::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        std::io::Error::new(e.kind(), format!("opening {}: {e}", path.display()))
                    })?,
            )),
            None => None,
        };
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            jsonl: Mutex::new(jsonl),
            fail_remaining: AtomicU32::new(0),
            fail_retry_after_ms: AtomicU64::new(u64::MAX),
            rejected_traces: Mutex::new(HashSet::new()),
            refused: AtomicU64::new(0),
            spans: AtomicU64::new(0),
            changed: Notify::new(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut grpc_addr = None;
        if let Some(addr) = config.grpc_addr {
            let (bound, task) = grpc::serve(addr, shared.clone(), stop_rx.clone()).await?;
            grpc_addr = Some(bound);
            tasks.push(task);
        }
        let mut http_addr = None;
        if let Some(addr) = config.http_addr {
            let (bound, task) = http::serve(addr, shared.clone(), stop_rx).await?;
            http_addr = Some(bound);
            tasks.push(task);
        }
        Ok(OtlpReceiver {
            shared,
            grpc_addr,
            http_addr,
            stop,
            tasks,
        })
    }

    /// `http://addr` of the gRPC server.
    pub fn grpc_endpoint(&self) -> Option<String> {
        self.grpc_addr.map(|a| format!("http://{a}"))
    }

    /// `http://addr` of the HTTP server (the sink appends `/v1/traces`).
    pub fn http_endpoint(&self) -> Option<String> {
        self.http_addr.map(|a| format!("http://{a}"))
    }

    /// Refuse the next `n` requests (either transport) as temporarily
    /// unavailable, announcing `retry_after` (gRPC `RetryInfo`, HTTP
    /// `Retry-After`, rounded up to whole seconds) when given.
    pub fn fail_next(&self, n: u32, retry_after: Option<Duration>) {
        let ms = retry_after.map_or(u64::MAX, |d| d.as_millis() as u64);
        self.shared.fail_retry_after_ms.store(ms, Ordering::SeqCst);
        self.shared.fail_remaining.store(n, Ordering::SeqCst);
    }

    /// Requests still to be refused by [`Self::fail_next`].
    pub fn failing_remaining(&self) -> u32 {
        self.shared.fail_remaining.load(Ordering::SeqCst)
    }

    /// Refuse permanently every request that holds a span of this trace
    /// (32 hex characters).
    pub fn reject_trace(&self, trace_id_hex: &str) -> Result<(), hex::FromHexError> {
        let id = hex::decode(trace_id_hex)?;
        self.shared.rejected_traces.lock().expect("lock").insert(id);
        Ok(())
    }

    /// Requests refused so far (faults and rejections).
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Accepted requests, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.received.lock().expect("lock").clone()
    }

    /// Every accepted span, flattened with its resource and scope, in
    /// arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.requests()
            .iter()
            .flat_map(|r| flatten(r.transport, &r.request))
            .collect()
    }

    /// Number of accepted spans.
    pub fn span_count(&self) -> u64 {
        self.shared.spans.load(Ordering::SeqCst)
    }

    /// Forgets what was received (fault settings stay).
    pub fn clear(&self) {
        self.shared.received.lock().expect("lock").clear();
        self.shared.spans.store(0, Ordering::SeqCst);
    }

    /// Waits until at least `n` spans were accepted; false on timeout.
    pub async fn wait_for_spans(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            if self.span_count() >= n {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            // Notify may race with the check above; the short cap re-checks.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), notified).await;
        }
    }

    /// Waits until at least `n` requests were refused; false on timeout.
    pub async fn wait_for_refusals(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.refused() < n {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Stops both servers and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
