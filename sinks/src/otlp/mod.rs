//! OTLP traces sink: exports each delivery trace to an OpenTelemetry backend.
