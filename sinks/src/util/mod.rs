//! Helpers shared by the sinks (batching, retry backoff).
