-- SLO counts per 1-minute tumbling window, one row per engine shard (Kafka
-- partition). A shard re-emits a window with a higher version when a late
-- verdict lands in it; ReplacingMergeTree(version) keeps the latest per
-- (cluster, namespace, action, window_start, shard), and rows of different
-- shards add up. Read with FINAL (or argMax by version) and then sum.
CREATE TABLE IF NOT EXISTS slo_windows_1m
(
    id           String,
    version      Int32,
    shard        Int32,
    cluster      LowCardinality(String),
    namespace    LowCardinality(String),
    action       LowCardinality(String),
    window_start DateTime('UTC') CODEC(Delta, ZSTD(1)),
    total        Int64,
    success      Int64,
    fail         Int64,
    kill         Int64,
    api_failed   Int64,
    abandoned    Int64,
    codes        Map(LowCardinality(String), Int64)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toDate(window_start)
ORDER BY (cluster, namespace, action, window_start, shard)
TTL window_start + INTERVAL {ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

-- Hourly SLO counts. A plain view, not a materialized rollup: an insert-time
-- rollup would add every superseded version of a minute row into the hour,
-- while this view reads the minute rows with FINAL (latest version per shard)
-- and only then sums across shards and minutes.
CREATE VIEW IF NOT EXISTS slo_windows_1h AS
SELECT
    cluster,
    namespace,
    action,
    toStartOfHour(window_start) AS window_start,
    sum(total) AS total,
    sum(success) AS success,
    sum(fail) AS fail,
    sum(kill) AS kill,
    sum(api_failed) AS api_failed,
    sum(abandoned) AS abandoned,
    sumMap(codes) AS codes
FROM slo_windows_1m FINAL
GROUP BY cluster, namespace, action, window_start;
