-- Raw HyperEvents: the debug timeline of every pod, one row per normalized
-- fact. Rows can repeat (collector restarts, sink retries, replays), so the
-- table replaces on its sorting key, which ends with the collector's stable
-- dedup_id. Read it with FINAL when exact counts matter.
-- {ttl_days} is substituted by `lunettes migrate --ttl-days N`.
CREATE TABLE IF NOT EXISTS hyperevents
(
    cluster          LowCardinality(String),
    namespace        LowCardinality(String),
    pod_name         String,
    pod_uid          String,
    time             DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    observed         DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    time_precision   LowCardinality(String),
    source           LowCardinality(String),
    kind             LowCardinality(String),
    resource         LowCardinality(String),
    field_path       String,
    operations       Array(LowCardinality(String)),
    event_type       LowCardinality(String),
    reason           LowCardinality(String),
    message          String CODEC(ZSTD(3)),
    count            Int32,
    component        LowCardinality(String),
    host             LowCardinality(String),
    first_seen       Nullable(DateTime64(6, 'UTC')),
    user             LowCardinality(String),
    user_agent       LowCardinality(String),
    verb             LowCardinality(String),
    response_code    Nullable(Int32),
    response_message String,
    dedup_id         String,
    node             LowCardinality(String),
    pod_phase        LowCardinality(String),
    owner_kind       LowCardinality(String),
    owner_name       String,
    INDEX idx_pod_uid pod_uid TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_reason reason TYPE set(256) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (cluster, namespace, pod_name, time, dedup_id)
TTL toDateTime(time) + INTERVAL {ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;
