//! Checks of the deployment files against the code they deploy.
//!
//! Deployment files rot silently: a renamed flag, a metric that no longer
//! exists, a dashboard query against a column that moved, a Helm template
//! that stopped rendering. Nothing in `cargo build` notices. This crate holds
//! the helpers of the tests under `tests/` that do: the Grafana ClickHouse
//! plugin's query expansion ([`grafana`]), the metric names the workers
//! register and the ones PromQL expressions use ([`metrics`]), the Helm
//! chart rendered by Helm's own Go SDK ([`helm`]), and the repository layout
//! ([`repo`]).
#![deny(missing_docs)]

pub mod grafana;
pub mod helm;
pub mod metrics;
pub mod repo;
