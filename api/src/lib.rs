//! The debug API of Lunettes-rs, the pod timeline page, and the client
//! behind `lunettes debug`.
//!
//! Operators ask two questions: "why was *this* pod slow or failed?" and
//! "how is delivery going over *there*?". [`server`] answers both over HTTP
//! from the ClickHouse tables the sinks write (`/api/v1/debugpod`,
//! `/api/v1/debugslo`, described in `api/openapi.yaml`), and serves a page
//! (`/pod?uid=...`) that draws a pod's phases as a Gantt chart with its SLO
//! deadline and diagnosis. [`client`] and [`render`] give the terminal the
//! same answers. The API holds no state of its own: every answer is read
//! fresh from ClickHouse with bound parameters ([`store`]), and the rules
//! that turn rows into answers ([`report`], [`timeline`]) are pure.
//!
//! ```no_run
//! # async fn demo() -> lunettes_api::Result<()> {
//! use lunettes_api::server::{start, ApiConfig};
//! let config = ApiConfig {
//!     listen: "127.0.0.1:8080".parse().unwrap(),
//!     metrics_addr: None,
//!     clickhouse_url: "http://127.0.0.1:8123".into(),
//!     database: "lunettes".into(),
//!     user: None,
//!     password: None,
//!     slo: lunettes_processor::SloConfig::default(),
//!     timeout: std::time::Duration::from_secs(30),
//! };
//! let running = start(config, lunettes_runtime::Shutdown::on_signals()).await?;
//! println!("pod page: http://{}/pod?uid=...", running.addr);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod client;
pub mod error;
pub mod metrics;
pub mod model;
pub mod page;
pub mod params;
pub mod render;
pub mod report;
pub mod server;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timeline;

pub use error::{Error, Result};
