-- One row per pod delivery, keyed by the engine's deterministic id. A later
-- correction of a verdict carries a higher version and replaces the earlier
-- row (ReplacingMergeTree(version)); a retried or replayed insert repeats the
-- same (id, version) and collapses too. Read with FINAL (or argMax by version).
-- created_at is fixed per id, so every version of a delivery lands in the
-- same partition and the replacement can happen.
CREATE TABLE IF NOT EXISTS deliveries
(
    id                 String,
    version            Int32,
    cluster            LowCardinality(String),
    namespace          LowCardinality(String),
    name               String,
    uid                String,
    action             LowCardinality(String),
    result             LowCardinality(String),
    code               LowCardinality(String),
    sub_reason         LowCardinality(String),
    summary            String CODEC(ZSTD(3)),
    created_at         DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    finished_at        Nullable(DateTime64(6, 'UTC')),
    decided_at         DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    deadline           Nullable(DateTime64(6, 'UTC')),
    slo_ms             Nullable(Int64),
    slo_class          LowCardinality(String),
    sli_ms             Nullable(Int64),
    k8s_sli_ms         Nullable(Int64),
    schedule_ms        Nullable(Int64),
    image_pull_ms      Nullable(Int64),
    sandbox_ms         Nullable(Int64),
    init_ms            Nullable(Int64),
    container_start_ms Nullable(Int64),
    readiness_ms       Nullable(Int64),
    node               LowCardinality(String),
    pod_ip             String,
    owner_kind         LowCardinality(String),
    owner_name         String,
    is_job             Bool,
    flags              Array(LowCardinality(String)),
    trace_id           String,
    INDEX idx_uid uid TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_code code TYPE set(512) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toDate(created_at)
ORDER BY (cluster, namespace, action, id)
TTL toDateTime(created_at) + INTERVAL {ttl_days} DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;
