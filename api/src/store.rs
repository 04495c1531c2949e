//! Reads of the ClickHouse tables behind the API.
//!
//! Every value a caller sent reaches ClickHouse as a server-side query
//! parameter (`{name:Type}` in the SQL, `param_name` in the request), so the
//! SQL text is a constant of this file and no input can change its meaning.
//! Optional filters are written `({p:String} = '' OR col = {p:String})` for
//! the same reason: one fixed statement per question.
//!
//! Verdicts are read `FROM deliveries FINAL` (latest version of each
//! delivery), events `FROM hyperevents FINAL` (repeats collapsed), spans
//! `FROM spans FINAL`. Reads go by the tables' sorting keys where the
//! question allows it (cluster, namespace, pod name) and fall back to the
//! bloom-filter indexes for a bare uid.

use clickhouse::Row;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Identity of one pod incarnation, with its first appearance.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct PodKeyRow {
    /// Cluster.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod UID (may be empty when no record carried it).
    pub uid: String,
    /// First event or delivery start, µs.
    pub first_us: i64,
}

/// A row of `deliveries` (latest version): the sink's row type, so writer
/// and reader cannot disagree on the table's shape.
pub use lunettes_sinks::clickhouse::request_builder::DeliveryRow;

/// A row of `hyperevents`.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct EventRow {
    /// Event time, µs.
    pub time_us: i64,
    /// Pod UID.
    pub pod_uid: String,
    /// Source.
    pub source: String,
    /// Kind.
    pub kind: String,
    /// Resource.
    pub resource: String,
    /// Operations.
    pub operations: Vec<String>,
    /// Event type.
    pub event_type: String,
    /// Reason.
    pub reason: String,
    /// Message.
    pub message: String,
    /// Count.
    pub count: i32,
    /// Component.
    pub component: String,
    /// Host.
    pub host: String,
    /// User.
    pub user: String,
    /// Verb.
    pub verb: String,
    /// Response code.
    pub response_code: Option<i32>,
    /// Response message.
    pub response_message: String,
    /// Node from pod facts.
    pub node: String,
    /// Pod phase from pod facts.
    pub pod_phase: String,
    /// Owner kind.
    pub owner_kind: String,
    /// Owner name.
    pub owner_name: String,
}

/// A row of `spans`.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct SpanRow {
    /// Trace id.
    pub trace_id: String,
    /// Span id.
    pub span_id: String,
    /// Parent span id.
    pub parent_span_id: String,
    /// Name.
    pub name: String,
    /// Instance.
    pub instance: String,
    /// Start, µs.
    pub start_us: i64,
    /// Duration, ns.
    pub duration_ns: u64,
    /// Owner.
    pub owner: String,
    /// Status code.
    pub status: String,
    /// Status message.
    pub status_message: String,
    /// Attribute keys.
    pub attr_keys: Vec<String>,
    /// Attribute values (same order).
    pub attr_values: Vec<String>,
}

/// One group of the `debugslo` distributions.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct BucketRow {
    /// `all`, `cluster`, `namespace`, `node` or `code`.
    pub dim: String,
    /// The group value.
    pub key: String,
    /// Count.
    pub total: u64,
    /// Count.
    pub success: u64,
    /// Count.
    pub fail: u64,
    /// Count.
    pub kill: u64,
    /// Count.
    pub api_failed: u64,
    /// Count.
    pub abandoned: u64,
}

/// Filters of `debugslo`, as bound parameters (empty = no filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloFilter {
    /// Cluster.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Result.
    pub result: String,
    /// Code.
    pub code: String,
    /// `create`/`delete`.
    pub action: String,
    /// From, µs.
    pub from_us: i64,
    /// To, µs.
    pub to_us: i64,
}

const SLO_WHERE: &str = "action = {action:String} \
    AND decided_at >= fromUnixTimestamp64Micro({from_us:Int64}, 'UTC') \
    AND decided_at < fromUnixTimestamp64Micro({to_us:Int64}, 'UTC') \
    AND ({cluster:String} = '' OR cluster = {cluster:String}) \
    AND ({namespace:String} = '' OR namespace = {namespace:String}) \
    AND ({result:String} = '' OR result = {result:String}) \
    AND ({code:String} = '' OR code = {code:String})";

/// How many rows a bucket dimension returns at most.
pub const MAX_BUCKETS: usize = 100;
/// Most spans read for one pod.
pub const MAX_SPANS: usize = 2_000;
/// Most incarnations of one namespace/name considered.
pub const MAX_INCARNATIONS: usize = 20;

/// The ClickHouse reads of the API. Cloning is cheap (the client shares its
/// connection pool); every method is independent, so concurrent requests
/// share nothing but the pool.
#[derive(Clone)]
pub struct Store {
    client: clickhouse::Client,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn store_err(query: &'static str) -> impl FnOnce(clickhouse::error::Error) -> Error {
    move |source| Error::Store { query, source }
}

impl Store {
    /// A store over `client` (bound to the database holding the tables).
    pub fn new(client: clickhouse::Client) -> Self {
        Store { client }
    }

    /// A store for `url` and `database` (user/password from the URL are not
    /// parsed: use a client built by the caller for authenticated servers).
    pub fn connect(url: &str, database: &str) -> Self {
        Store::new(
            clickhouse::Client::default()
                .with_url(url)
                .with_database(database)
                .with_validation(true),
        )
    }

    /// `SELECT 1`: whether ClickHouse answers (readiness).
    pub async fn ping(&self) -> Result<()> {
        self.client
            .query("SELECT toUInt8(1)")
            .fetch_one::<u8>()
            .await
            .map(|_| ())
            .map_err(store_err("ping"))
    }

    /// Incarnations carrying `uid` (normally one), newest first.
    pub async fn pods_by_uid(&self, uid: &str, cluster: &str) -> Result<Vec<PodKeyRow>> {
        self.client
            .query(
                "SELECT cluster, namespace, name, uid, min(t) AS first_us FROM ( \
                   SELECT toString(cluster) AS cluster, toString(namespace) AS namespace, \
                          pod_name AS name, pod_uid AS uid, toUnixTimestamp64Micro(time) AS t \
                   FROM hyperevents \
                   WHERE pod_uid = {uid:String} AND ({cluster:String} = '' OR cluster = {cluster:String}) \
                   UNION ALL \
                   SELECT toString(cluster), toString(namespace), name, uid, toUnixTimestamp64Micro(created_at) \
                   FROM deliveries \
                   WHERE uid = {uid:String} AND ({cluster:String} = '' OR cluster = {cluster:String}) \
                 ) GROUP BY cluster, namespace, name, uid ORDER BY first_us DESC LIMIT 20",
            )
            .param("uid", uid)
            .param("cluster", cluster)
            .fetch_all()
            .await
            .map_err(store_err("pods_by_uid"))
    }

    /// Incarnations of `namespace/name` (one per uid), newest first.
    pub async fn pods_by_name(
        &self,
        namespace: &str,
        name: &str,
        cluster: &str,
    ) -> Result<Vec<PodKeyRow>> {
        self.client
            .query(
                "SELECT cluster, namespace, name, uid, min(t) AS first_us FROM ( \
                   SELECT toString(cluster) AS cluster, toString(namespace) AS namespace, \
                          pod_name AS name, pod_uid AS uid, toUnixTimestamp64Micro(time) AS t \
                   FROM hyperevents \
                   WHERE namespace = {namespace:String} AND pod_name = {name:String} \
                     AND ({cluster:String} = '' OR cluster = {cluster:String}) \
                   UNION ALL \
                   SELECT toString(cluster), toString(namespace), name, uid, toUnixTimestamp64Micro(created_at) \
                   FROM deliveries \
                   WHERE namespace = {namespace:String} AND name = {name:String} \
                     AND ({cluster:String} = '' OR cluster = {cluster:String}) \
                 ) GROUP BY cluster, namespace, name, uid ORDER BY first_us DESC LIMIT 20",
            )
            .param("namespace", namespace)
            .param("name", name)
            .param("cluster", cluster)
            .fetch_all()
            .await
            .map_err(store_err("pods_by_name"))
    }

    /// Pods seen on `node` (by their verdicts or their events), newest first;
    /// at most `limit` + 1 so the caller can tell a truncated list.
    pub async fn pods_on_node(
        &self,
        node: &str,
        cluster: &str,
        limit: usize,
    ) -> Result<Vec<PodKeyRow>> {
        self.client
            .query(
                "SELECT cluster, namespace, name, uid, min(t) AS first_us FROM ( \
                   SELECT toString(cluster) AS cluster, toString(namespace) AS namespace, \
                          pod_name AS name, pod_uid AS uid, toUnixTimestamp64Micro(time) AS t \
                   FROM hyperevents \
                   WHERE node = {node:String} AND pod_uid != '' \
                     AND ({cluster:String} = '' OR cluster = {cluster:String}) \
                   UNION ALL \
                   SELECT toString(cluster), toString(namespace), name, uid, toUnixTimestamp64Micro(created_at) \
                   FROM deliveries \
                   WHERE node = {node:String} AND ({cluster:String} = '' OR cluster = {cluster:String}) \
                 ) GROUP BY cluster, namespace, name, uid ORDER BY first_us DESC, uid LIMIT {n:UInt32}",
            )
            .param("node", node)
            .param("cluster", cluster)
            .param("n", (limit + 1) as u32)
            .fetch_all()
            .await
            .map_err(store_err("pods_on_node"))
    }

    /// Pods that had `ip` (from verdicts: the events table does not keep
    /// IPs), newest first, at most `limit` + 1.
    pub async fn pods_with_ip(
        &self,
        ip: &str,
        cluster: &str,
        limit: usize,
    ) -> Result<Vec<PodKeyRow>> {
        self.client
            .query(
                "SELECT toString(cluster) AS cluster, toString(namespace) AS namespace, name, uid, \
                        min(toUnixTimestamp64Micro(created_at)) AS first_us \
                 FROM deliveries \
                 WHERE pod_ip = {ip:String} AND ({cluster:String} = '' OR cluster = {cluster:String}) \
                 GROUP BY cluster, namespace, name, uid ORDER BY first_us DESC, uid LIMIT {n:UInt32}",
            )
            .param("ip", ip)
            .param("cluster", cluster)
            .param("n", (limit + 1) as u32)
            .fetch_all()
            .await
            .map_err(store_err("pods_with_ip"))
    }

    /// Latest versions of the deliveries of one pod.
    pub async fn deliveries_of(&self, pod: &PodKeyRow) -> Result<Vec<DeliveryRow>> {
        self.client
            .query(
                "SELECT ?fields FROM deliveries FINAL \
                 WHERE cluster = {cluster:String} AND namespace = {namespace:String} \
                   AND name = {name:String} AND uid = {uid:String} \
                 ORDER BY created_at, action",
            )
            .param("cluster", &pod.cluster)
            .param("namespace", &pod.namespace)
            .param("name", &pod.name)
            .param("uid", &pod.uid)
            .fetch_all()
            .await
            .map_err(store_err("deliveries_of"))
    }

    /// Latest verdicts of the pods with these uids (list answers).
    pub async fn deliveries_of_uids(&self, uids: &[String]) -> Result<Vec<DeliveryRow>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        self.client
            .query(
                "SELECT ?fields FROM deliveries FINAL \
                 WHERE uid IN {uids:Array(String)} ORDER BY created_at, action",
            )
            .param("uids", uids)
            .fetch_all()
            .await
            .map_err(store_err("deliveries_of_uids"))
    }

    /// Events of one pod: those carrying its uid, plus uid-less ones of the
    /// same namespace/name within `[lo_us, hi_us)` (the incarnation's
    /// lifetime). Oldest first, at most `limit` + 1.
    pub async fn events_of(
        &self,
        pod: &PodKeyRow,
        lo_us: i64,
        hi_us: i64,
        limit: usize,
    ) -> Result<Vec<EventRow>> {
        self.client
            .query(
                "SELECT toUnixTimestamp64Micro(time) AS time_us, pod_uid, toString(source) AS source, \
                        toString(kind) AS kind, toString(resource) AS resource, \
                        CAST(operations, 'Array(String)') AS operations, \
                        toString(event_type) AS event_type, toString(reason) AS reason, message, count, \
                        toString(component) AS component, toString(host) AS host, toString(user) AS user, \
                        toString(verb) AS verb, response_code, response_message, \
                        toString(node) AS node, toString(pod_phase) AS pod_phase, \
                        toString(owner_kind) AS owner_kind, owner_name \
                 FROM hyperevents FINAL \
                 WHERE cluster = {cluster:String} AND namespace = {namespace:String} \
                   AND pod_name = {name:String} \
                   AND (pod_uid = {uid:String} OR (pod_uid = '' \
                        AND time >= fromUnixTimestamp64Micro({lo:Int64}, 'UTC') \
                        AND time < fromUnixTimestamp64Micro({hi:Int64}, 'UTC'))) \
                 ORDER BY time, dedup_id LIMIT {n:UInt32}",
            )
            .param("cluster", &pod.cluster)
            .param("namespace", &pod.namespace)
            .param("name", &pod.name)
            .param("uid", &pod.uid)
            .param("lo", lo_us)
            .param("hi", hi_us)
            .param("n", (limit + 1) as u32)
            .fetch_all()
            .await
            .map_err(store_err("events_of"))
    }

    /// Spans of one pod's delivery traces, by start.
    pub async fn spans_of(&self, pod: &PodKeyRow) -> Result<Vec<SpanRow>> {
        self.client
            .query(
                "SELECT TraceId AS trace_id, SpanId AS span_id, ParentSpanId AS parent_span_id, \
                        toString(SpanName) AS name, Instance AS instance, \
                        toUnixTimestamp64Micro(Timestamp) AS start_us, Duration AS duration_ns, \
                        toString(Owner) AS owner, toString(StatusCode) AS status, \
                        StatusMessage AS status_message, \
                        CAST(mapKeys(SpanAttributes), 'Array(String)') AS attr_keys, \
                        mapValues(SpanAttributes) AS attr_values \
                 FROM spans FINAL \
                 WHERE Cluster = {cluster:String} AND Namespace = {namespace:String} \
                   AND PodName = {name:String} AND PodUid = {uid:String} \
                 ORDER BY Timestamp, ParentSpanId != '', SpanName, Instance LIMIT {n:UInt32}",
            )
            .param("cluster", &pod.cluster)
            .param("namespace", &pod.namespace)
            .param("name", &pod.name)
            .param("uid", &pod.uid)
            .param("n", MAX_SPANS as u32)
            .fetch_all()
            .await
            .map_err(store_err("spans_of"))
    }

    /// Verdict counts by cluster, namespace, node and code (at most
    /// [`MAX_BUCKETS`] each, largest first) plus the overall row (`all`).
    pub async fn slo_buckets(&self, f: &SloFilter) -> Result<Vec<BucketRow>> {
        self.client
            .query(&format!(
                "SELECT g.1 AS dim, g.2 AS key, count() AS total, \
                        countIf(result = 'success') AS success, countIf(result = 'fail') AS fail, \
                        countIf(result = 'kill') AS kill, countIf(result = 'api_failed') AS api_failed, \
                        countIf(result = 'abandoned') AS abandoned \
                 FROM ( \
                   SELECT result, arrayJoin([('all', ''), ('cluster', toString(cluster)), \
                          ('namespace', toString(namespace)), ('node', toString(node)), \
                          ('code', toString(code))]) AS g \
                   FROM deliveries FINAL WHERE {SLO_WHERE} \
                 ) GROUP BY dim, key ORDER BY dim, total DESC, key LIMIT {MAX_BUCKETS} BY dim"
            ))
            .param("action", &f.action)
            .param("from_us", f.from_us)
            .param("to_us", f.to_us)
            .param("cluster", &f.cluster)
            .param("namespace", &f.namespace)
            .param("result", &f.result)
            .param("code", &f.code)
            .fetch_all()
            .await
            .map_err(store_err("slo_buckets"))
    }

    /// Matching deliveries, newest verdict first, at most `limit` + 1.
    pub async fn slo_pods(&self, f: &SloFilter, limit: usize) -> Result<Vec<DeliveryRow>> {
        self.client
            .query(&format!(
                "SELECT ?fields FROM deliveries FINAL WHERE {SLO_WHERE} \
                 ORDER BY decided_at DESC, id LIMIT {{n:UInt32}}"
            ))
            .param("action", &f.action)
            .param("from_us", f.from_us)
            .param("to_us", f.to_us)
            .param("cluster", &f.cluster)
            .param("namespace", &f.namespace)
            .param("result", &f.result)
            .param("code", &f.code)
            .param("n", (limit + 1) as u32)
            .fetch_all()
            .await
            .map_err(store_err("slo_pods"))
    }
}
