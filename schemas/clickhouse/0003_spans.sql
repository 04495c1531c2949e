-- Delivery spans, modelled on the OpenTelemetry ClickHouse exporter's
-- otel_traces table (same column names, so existing trace dashboards work),
-- plus our pod columns. Span ids are deterministic, so a replay or retry
-- repeats the same (TraceId, SpanId) and ReplacingMergeTree collapses it; the
-- last inserted version of a span wins. SpanAttributes are sorted on insert
-- (mapSort) so equal spans are byte-identical.
CREATE TABLE IF NOT EXISTS spans
(
    Timestamp          DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    TraceId            String CODEC(ZSTD(1)),
    SpanId             String CODEC(ZSTD(1)),
    ParentSpanId       String CODEC(ZSTD(1)),
    TraceState         String CODEC(ZSTD(1)),
    SpanName           LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind           LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName        LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName          String CODEC(ZSTD(1)),
    ScopeVersion       String CODEC(ZSTD(1)),
    SpanAttributes     Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration           UInt64 CODEC(ZSTD(1)),
    StatusCode         LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage      String CODEC(ZSTD(1)),
    DeliveryId         String CODEC(ZSTD(1)),
    Cluster            LowCardinality(String),
    Namespace          LowCardinality(String),
    PodName            String CODEC(ZSTD(1)),
    PodUid             String CODEC(ZSTD(1)),
    Node               LowCardinality(String),
    Owner              LowCardinality(String),
    Instance           String CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Cluster, Namespace, TraceId, SpanId)
TTL toDateTime(Timestamp) + INTERVAL {ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

-- TraceId -> time range, so a lookup by trace id reads one or two daily
-- partitions of spans. min/max are idempotent, so repeated inserts (retries,
-- replays) never change the answer.
CREATE TABLE IF NOT EXISTS spans_trace_id_ts
(
    TraceId String CODEC(ZSTD(1)),
    Start   SimpleAggregateFunction(min, DateTime64(9, 'UTC')),
    End     SimpleAggregateFunction(max, DateTime64(9, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY TraceId
TTL toDateTime(End) + INTERVAL {ttl_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS spans_trace_id_ts_mv TO spans_trace_id_ts
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp + toIntervalNanosecond(Duration)) AS End
FROM spans
WHERE TraceId != ''
GROUP BY TraceId;
