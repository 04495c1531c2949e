//! Cluster collectors: every way a cluster's pod history reaches Kafka.
//!
//! Each source is a thin I/O adapter around the pure
//! [`lunettes_ingest::Normalizer`] (one per cluster, so the `namespace/name ->
//! uid` it learns keeps a pod's records on one partition), and they all
//! publish through one [`publish::Publisher`]:
//!
//! * [`webhook`]: the apiserver's audit webhook backend; 200 only after Kafka
//!   acknowledged the batch, so the apiserver's retry covers every failure;
//! * [`audit_file`]: follows a JSON-lines audit log through rotation and
//!   persists its position only after Kafka acknowledged what it read;
//! * [`watch`]: Pods and Events through the Kubernetes API (for managed
//!   clusters without audit access), resuming from the last acknowledged
//!   resourceVersion and relisting on 410 Gone without duplicates;
//! * [`file`](mod@file): recorded files, with event-time watermarks, then exit.
//!
//! Rejected inputs go to the dead-letter topic with their reason; live
//! sources publish wall-clock watermarks to every partition so deadlines fire
//! for quiet clusters.
#![deny(missing_docs)]

pub mod audit_file;
pub mod config;
pub mod deadletter;
pub mod file;
pub mod metrics;
pub mod publish;
pub mod runner;
pub mod watch;
pub mod watermark;
pub mod webhook;

pub use metrics::CollectorMetrics;
pub use publish::{PublishError, PublishOptions, Publisher};
