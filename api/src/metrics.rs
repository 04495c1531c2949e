//! Request metrics of the API, registered in the registry `/metrics` serves.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Counters and latencies per route.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    /// `lunettes_api_requests_total{route, status}`.
    pub requests: IntCounterVec,
    /// `lunettes_api_request_seconds{route}`.
    pub latency: HistogramVec,
}

impl ApiMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "lunettes_api_requests_total",
                "API requests by route and status",
            ),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "lunettes_api_request_seconds",
                "API request latency by route",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(ApiMetrics { requests, latency })
    }
}
