//! What monitoring produces, as plain data: per-tenant current values, health,
//! cluster totals, and the snapshot the backend sends each tick. The
//! collector (`backend`) fills these; the console and `top` only read them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// One itemized deduction from a tenant's health.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct HealthReason {
    /// Points taken off 100.
    pub points: u8,
    /// Short, human text: "connections 18/20 (90%)".
    pub text: String,
}

/// Health 0–100 and why.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Health {
    pub score: u8,
    /// Shared: tenants with the same deductions (every tenant of a template
    /// that gained objects shows the same drift) hold one list between
    /// them; see [`ReasonPool`].
    pub reasons: Arc<[HealthReason]>,
}

/// One copy of each distinct list of health reasons: at 50,000 tenants
/// that all show the same drift, a list of their own each (a vector and
/// its text) took 12 MB per snapshot. The monitor uses one pool per
/// snapshot, so lists no longer shown go with it.
pub type ReasonPool = ListPool<HealthReason>;

/// One copy of each distinct list: equal lists handed to [`ListPool::share`]
/// or [`ListPool::share_vec`] come back as one allocation.
#[derive(Debug)]
pub struct ListPool<T> {
    lists: std::collections::HashSet<Arc<[T]>>,
}

impl<T> Default for ListPool<T> {
    fn default() -> Self {
        Self {
            lists: std::collections::HashSet::new(),
        }
    }
}

impl<T: Clone + Eq + std::hash::Hash> ListPool<T> {
    /// The pooled list equal to `list`, added (copied) when new.
    pub fn share(&mut self, list: &[T]) -> Arc<[T]> {
        if let Some(l) = self.lists.get(list) {
            return Arc::clone(l);
        }
        let l: Arc<[T]> = Arc::from(list);
        self.lists.insert(Arc::clone(&l));
        l
    }

    /// [`Self::share`] of a list the caller gives up (moved in when new).
    pub fn share_vec(&mut self, list: Vec<T>) -> Arc<[T]> {
        if let Some(l) = self.lists.get(list.as_slice()) {
            return Arc::clone(l);
        }
        let l: Arc<[T]> = Arc::from(list);
        self.lists.insert(Arc::clone(&l));
        l
    }

    /// Distinct lists held.
    pub fn len(&self) -> usize {
        self.lists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }
}

/// A tenant's current monitoring values. `None` means not available (the
/// source is missing, the first tick, a counter reset), never zero.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TenantMetrics {
    pub tenant_id: Uuid,
    /// Exact size when measured, else the relpages approximation.
    pub size_bytes: u64,
    /// When the exact sweep last measured this tenant.
    pub size_exact_at: Option<DateTime<Utc>>,
    pub sessions_total: u32,
    pub sessions_active: u32,
    pub sessions_idle_in_tx: u32,
    /// Longest running active statement.
    pub longest_running: Option<Duration>,
    /// Oldest open transaction.
    pub oldest_xact: Option<Duration>,
    /// Statements per second (pg_stat_statements).
    pub calls_per_s: Option<f64>,
    /// Rows inserted + updated + deleted per second.
    pub writes_per_s: Option<f64>,
    /// Mean execution time of this tenant's statements.
    pub mean_exec_ms: Option<f64>,
    pub total_calls: Option<u64>,
    pub rows_written: u64,
    pub seq_scans: u64,
    pub idx_scans: u64,
    pub dead_tuples: u64,
    pub health: Health,
    /// Sessions of the role that are idle (not in a transaction).
    pub sessions_idle: u32,
    /// Longest time a session of the role has sat idle in a transaction.
    pub idle_in_tx_longest: Option<Duration>,
    /// The relpages approximation (heap + TOAST + indexes), always present.
    pub size_approx_bytes: u64,
    /// Last time the collector saw the tenant do anything (writes,
    /// statements, scans, active sessions), or when it started watching.
    pub last_activity: Option<DateTime<Utc>>,
    /// Template tables or indexes missing from the schema (last drift check).
    /// Shared: tenants missing the same objects (a template that gained a
    /// table) hold one list between them, in every snapshot.
    pub drift: Arc<[String]>,
    /// This tick's share (0–1) of the database's statement time
    /// (pg_stat_statements, all roles of this database).
    pub statement_share: Option<f64>,
    /// The share of statement time decayed over the last minutes (a burst
    /// stays visible for a while, as Citus ranks its tenants): the
    /// Neighbours view's default ranking.
    pub share_score: Option<f64>,
    /// WAL its statements generated, bytes per second.
    pub wal_bytes_per_s: Option<f64>,
    /// Temporary files its statements wrote (`temp_blks_written`), bytes per second.
    pub temp_bytes_per_s: Option<f64>,
    /// Its statements' shared-buffer hit ratio this tick (0–1).
    pub cache_hit: Option<f64>,
}

/// Whole-cluster figures for the status bar and monitor pane.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ClusterTotals {
    pub database_bytes: u64,
    pub connections: u32,
    pub max_connections: u32,
    pub commits_per_s: Option<f64>,
    pub cache_hit_ratio: Option<f64>,
    pub server_version: String,
    /// Statements per second in this database (pg_stat_statements).
    pub calls_per_s: Option<f64>,
    /// WAL bytes per second of this database's statements (pg_stat_statements).
    pub wal_bytes_per_s: Option<f64>,
    /// Rows written per second, summed over the tenants.
    pub writes_per_s: Option<f64>,
}

/// Per-tenant values of a snapshot, sorted by tenant id: the lookups of a
/// map in the space of a list (10,000 tenants in 2.7 MB, where a hash map
/// with its spare buckets takes 4.7 MB). Serializes as a map keyed by id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TenantMap(Vec<TenantMetrics>);

impl TenantMap {
    pub fn get(&self, id: &Uuid) -> Option<&TenantMetrics> {
        self.0
            .binary_search_by_key(id, |m| m.tenant_id)
            .ok()
            .map(|i| &self.0[i])
    }

    pub fn contains_key(&self, id: &Uuid) -> bool {
        self.get(id).is_some()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Values in id order.
    pub fn values(&self) -> std::slice::Iter<'_, TenantMetrics> {
        self.0.iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = &Uuid> {
        self.0.iter().map(|m| &m.tenant_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &TenantMetrics)> {
        self.0.iter().map(|m| (&m.tenant_id, m))
    }
}

impl From<Vec<TenantMetrics>> for TenantMap {
    /// Sorts by id; of two values for one tenant, the later one stays.
    fn from(mut list: Vec<TenantMetrics>) -> Self {
        list.reverse();
        // Stable (the later value first) and in place: `sort_by_key`'s
        // merge buffer would hold half the list again (8 MB at 50,000
        // tenants); this sorts (id, position) pairs and then moves the
        // values into place.
        list.sort_by_cached_key(|m| m.tenant_id);
        list.dedup_by_key(|m| m.tenant_id);
        list.shrink_to_fit();
        Self(list)
    }
}

impl FromIterator<TenantMetrics> for TenantMap {
    fn from_iter<I: IntoIterator<Item = TenantMetrics>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl std::ops::Index<&Uuid> for TenantMap {
    type Output = TenantMetrics;

    /// Panics when the tenant is absent, like a map's index.
    fn index(&self, id: &Uuid) -> &TenantMetrics {
        self.get(id).expect("tenant in snapshot")
    }
}

impl Serialize for TenantMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

/// One fast tick's result.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Snapshot {
    /// Increases by one per tick; the console drops older generations.
    pub generation: u64,
    /// Server clock at the snapshot.
    pub taken_at: DateTime<Utc>,
    /// Wall time the snapshot took.
    pub latency: Duration,
    pub tenants: TenantMap,
    pub totals: ClusterTotals,
    /// Sources that failed or timed out this tick (their values are stale).
    pub stale: Vec<String>,
    /// Whether pg_stat_statements could be read (else calls show n/a).
    pub statements_available: bool,
    /// Blocking chains of this tick (pg_blocking_pids), longest wait first.
    pub blocking: Vec<crate::domain::activity::BlockingChain>,
}

/// A point in a sparkline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HistoryPoint {
    pub at: DateTime<Utc>,
    pub value: Option<f64>,
}

/// A history series: the one name the store, the History tab and the
/// monitor's metric share. Tenant series first, in ring order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    /// A tenant's statements per second.
    Calls,
    /// A tenant's rows written per second.
    Writes,
    /// A tenant's size (exact when measured).
    Size,
    /// A tenant's sessions.
    Connections,
    /// A tenant's health score.
    Health,
    /// The cluster's commits per second.
    ClusterCommits,
    /// The cluster's connections.
    ClusterConnections,
    /// The cluster's cache hit ratio, in percent.
    ClusterCacheHit,
    /// The database size.
    ClusterSize,
    /// The database's statements per second.
    ClusterCalls,
    /// The database's WAL bytes per second (from its statements).
    ClusterWal,
    /// Rows written per second over all tenants.
    ClusterWrites,
}

impl Series {
    /// Per-tenant series, in the store's ring order.
    pub const TENANT: [Series; 5] = [
        Series::Calls,
        Series::Writes,
        Series::Size,
        Series::Connections,
        Series::Health,
    ];
    /// Cluster series, in the store's order.
    pub const CLUSTER: [Series; 7] = [
        Series::ClusterCommits,
        Series::ClusterConnections,
        Series::ClusterCacheHit,
        Series::ClusterSize,
        Series::ClusterCalls,
        Series::ClusterWal,
        Series::ClusterWrites,
    ];

    /// The label a sparkline shows.
    pub fn label(self) -> &'static str {
        match self {
            Series::Calls | Series::ClusterCalls => "calls/s",
            Series::Writes | Series::ClusterWrites => "writes/s",
            Series::ClusterWal => "WAL/s",
            Series::Size | Series::ClusterSize => "size",
            Series::Connections | Series::ClusterConnections => "connections",
            Series::Health => "health",
            Series::ClusterCommits => "commits/s",
            Series::ClusterCacheHit => "cache hit %",
        }
    }

    /// Whether values are bytes (shown as sizes).
    pub fn is_bytes(self) -> bool {
        matches!(
            self,
            Series::Size | Series::ClusterSize | Series::ClusterWal
        )
    }

    /// The cluster series a tenant series is a share of, when there is one.
    pub fn cluster_total(self) -> Option<Series> {
        match self {
            Series::Calls => Some(Series::ClusterCalls),
            Series::Writes => Some(Series::ClusterWrites),
            Series::Size => Some(Series::ClusterSize),
            Series::Connections => Some(Series::ClusterConnections),
            _ => None,
        }
    }
}

/// Series for one tenant (or the cluster when `tenant_id` is `None`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct History {
    pub tenant_id: Option<Uuid>,
    pub series: Vec<(Series, Vec<HistoryPoint>)>,
}

impl History {
    /// The points of one series, when present.
    pub fn points(&self, series: Series) -> Option<&[HistoryPoint]> {
        self.series
            .iter()
            .find(|(s, _)| *s == series)
            .map(|(_, p)| p.as_slice())
    }
}

/// Alert severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// What an alert is about; with the tenant, the de-duplication key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Storage near or over the tenant's quota.
    Quota,
    /// A statement running longer than the threshold.
    LongRunning,
    /// A session idle in a transaction longer than the threshold.
    IdleInTransaction,
    /// A tenant's connections near its limit.
    Connections,
    /// The cluster's connections near `max_connections`.
    ClusterConnections,
    /// The console lost its database connection.
    ConnectionLost,
    /// A tenant creation slower than the configured limit.
    CreationSlow,
    /// A mutation or a monitoring lane failed; cleared by its next success.
    OperationFailed,
    /// The limits guard acted on a tenant: a statement cancelled, an idle
    /// transaction ended, role settings put back, writes withheld or allowed
    /// again at the storage quota.
    LimitEnforced,
    /// A tenant's session has blocked others longer than `[thresholds] blocking`.
    Blocking,
}

impl AlertKind {
    /// Every kind, for exhaustive listings.
    pub const ALL: [AlertKind; 10] = [
        AlertKind::Quota,
        AlertKind::LongRunning,
        AlertKind::IdleInTransaction,
        AlertKind::Connections,
        AlertKind::ClusterConnections,
        AlertKind::ConnectionLost,
        AlertKind::CreationSlow,
        AlertKind::OperationFailed,
        AlertKind::LimitEnforced,
        AlertKind::Blocking,
    ];

    /// Stable snake_case name (JSON, the alerts pane).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Quota => "quota",
            AlertKind::LongRunning => "long_running",
            AlertKind::IdleInTransaction => "idle_in_transaction",
            AlertKind::Connections => "connections",
            AlertKind::ClusterConnections => "cluster_connections",
            AlertKind::ConnectionLost => "connection_lost",
            AlertKind::CreationSlow => "creation_slow",
            AlertKind::OperationFailed => "operation_failed",
            AlertKind::LimitEnforced => "limit_enforced",
            AlertKind::Blocking => "blocking",
        }
    }

    /// Whether each snapshot re-evaluates it (absent from a snapshot: cleared).
    pub fn from_snapshot(self) -> bool {
        match self {
            AlertKind::Quota
            | AlertKind::LongRunning
            | AlertKind::IdleInTransaction
            | AlertKind::Connections
            | AlertKind::ClusterConnections
            | AlertKind::Blocking => true,
            AlertKind::ConnectionLost
            | AlertKind::CreationSlow
            | AlertKind::OperationFailed
            | AlertKind::LimitEnforced => false,
        }
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A threshold crossing; `cleared_at` is set when the condition ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub id: u64,
    pub raised_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
    pub tenant_id: Option<Uuid>,
    /// De-duplication key together with the tenant.
    pub kind: AlertKind,
    pub severity: Severity,
    pub message: String,
}

/// One table of a tenant, for the detail pane.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableDetail {
    pub name: String,
    pub rows_estimate: i64,
    pub total_bytes: u64,
    pub dead_tuples: u64,
    pub last_vacuum: Option<DateTime<Utc>>,
    pub last_analyze: Option<DateTime<Utc>>,
    /// A TimescaleDB hypertable: rows, size and dead tuples above include
    /// its chunks (the parent holds none of its rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hypertable: Option<HypertableDetail>,
}

/// The chunks of one hypertable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HypertableDetail {
    pub time_column: String,
    pub chunks: u32,
    /// Start of the oldest chunk's range and end of the newest (time
    /// dimensions only; `None` for integer dimensions or no chunk).
    pub range_start: Option<DateTime<Utc>>,
    pub range_end: Option<DateTime<Utc>>,
    /// Chunk heap, TOAST and indexes, and the parent's.
    pub total_bytes: u64,
}

/// One session of a tenant's role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionDetail {
    pub pid: i32,
    pub state: String,
    /// Truncated statement text (sanitize before display).
    pub query: String,
    pub query_duration: Option<Duration>,
    pub xact_duration: Option<Duration>,
    pub wait_event: Option<String>,
    pub application_name: String,
    pub client_addr: Option<String>,
}

/// One statement of a tenant's role from pg_stat_statements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementDetail {
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: i64,
}

/// Everything the detail pane shows beyond the list row.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TenantDetail {
    pub tenant_id: Uuid,
    pub tables: Vec<TableDetail>,
    pub sessions: Vec<SessionDetail>,
    /// `None` when pg_stat_statements is not available.
    pub statements: Option<Vec<StatementDetail>>,
    /// From the tenant's own `trades` table.
    pub trades_today: Option<i64>,
    pub last_activity: Option<DateTime<Utc>>,
    /// Template tables or indexes missing from the schema.
    pub drift: Vec<String>,
}

/// What the collector needs to know about one tenant: plain data, built from
/// a [`crate::domain::tenant::Tenant`] row (plus its template, when known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitoredTenant {
    pub id: Uuid,
    pub name: String,
    pub domain: String,
    pub schema_name: String,
    pub role_name: String,
    pub status: crate::domain::tenant::TenantStatus,
    /// -1 means no limit.
    pub connection_limit: i32,
    pub storage_quota_bytes: Option<u64>,
    pub template_version: i32,
    /// The template's current version, when known; behind it costs health.
    pub latest_template_version: Option<i32>,
    /// Tables the template creates; one missing is schema drift. Shared by
    /// every tenant of the template.
    pub expected_tables: Arc<[String]>,
    /// Indexes the template creates; one missing is schema drift.
    pub expected_indexes: Arc<[String]>,
    /// A SQL-string template, whose columns are judged against the catalog
    /// of a schema built from it (see [`crate::domain::targets::Reference`]).
    #[serde(skip)]
    pub reference: Option<Arc<crate::domain::targets::Reference>>,
    pub created_at: Option<DateTime<Utc>>,
}

impl From<&crate::domain::tenant::Tenant> for MonitoredTenant {
    fn from(t: &crate::domain::tenant::Tenant) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            domain: t.domain.clone(),
            schema_name: t.schema_name.clone(),
            role_name: t.role_name.clone(),
            status: t.status,
            connection_limit: t.connection_limit,
            storage_quota_bytes: t.storage_quota_bytes,
            template_version: t.template_version,
            latest_template_version: None,
            expected_tables: Arc::from([]),
            expected_indexes: Arc::from([]),
            reference: None,
            created_at: Some(t.created_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: u128, size: u64) -> TenantMetrics {
        TenantMetrics {
            tenant_id: Uuid::from_u128(id),
            size_bytes: size,
            ..TenantMetrics::default()
        }
    }

    #[test]
    fn tenant_map_finds_by_id_and_keeps_the_later_value() {
        let map: TenantMap = [m(3, 1), m(1, 1), m(2, 1), m(3, 2)].into_iter().collect();
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&Uuid::from_u128(3)).map(|m| m.size_bytes), Some(2));
        assert_eq!(map[&Uuid::from_u128(1)].size_bytes, 1);
        assert!(!map.contains_key(&Uuid::from_u128(4)));
        assert!(map.contains_key(&Uuid::from_u128(2)));
        assert!(!map.is_empty());
        assert!(TenantMap::default().is_empty());
        let keys: Vec<u128> = map.keys().map(Uuid::as_u128).collect();
        assert_eq!(keys, vec![1, 2, 3]);
        let json = serde_json::to_value(&map).expect("json");
        assert_eq!(
            json[Uuid::from_u128(3).to_string()]["size_bytes"],
            serde_json::json!(2)
        );
    }

    #[test]
    fn reason_pool_keeps_one_copy_of_each_list() {
        let r = |points: u8, text: &str| HealthReason {
            points,
            text: text.into(),
        };
        let drift = [r(20, "schema drift: missing market_data")];
        let mut pool = ReasonPool::default();
        assert!(pool.is_empty());
        let a = pool.share(&drift);
        let b = pool.share(&drift.clone());
        assert!(Arc::ptr_eq(&a, &b), "equal lists are one allocation");
        assert_eq!(&*a, &drift);
        let other = pool.share(&[r(20, "schema drift: missing trades")]);
        assert!(!Arc::ptr_eq(&a, &other));
        assert_eq!(other[0].text, "schema drift: missing trades");
        // Same text, other points: another list.
        let fewer = pool.share(&[r(10, "schema drift: missing market_data")]);
        assert!(!Arc::ptr_eq(&a, &fewer));
        let moved = pool.share_vec(drift.to_vec());
        assert!(Arc::ptr_eq(&a, &moved), "a moved-in list is pooled too");
        let none = pool.share(&[]);
        assert!(none.is_empty());
        assert!(Arc::ptr_eq(&none, &pool.share(&[])));
        assert_eq!(pool.len(), 4);
        assert!(!pool.is_empty());
        let mut names: ListPool<String> = ListPool::default();
        let first = names.share_vec(vec!["idx_a".into(), "idx_b".into()]);
        let again = names.share_vec(vec!["idx_a".into(), "idx_b".into()]);
        let swapped = names.share_vec(vec!["idx_b".into(), "idx_a".into()]);
        assert!(Arc::ptr_eq(&first, &again));
        assert!(!Arc::ptr_eq(&first, &swapped), "order counts");
        assert_eq!(*swapped, ["idx_b", "idx_a"]);
        assert_eq!(names.len(), 2);
        let json = serde_json::to_value(Health {
            score: 80,
            reasons: a,
        })
        .expect("json");
        assert_eq!(
            json,
            serde_json::json!({"score": 80, "reasons": [{"points": 20, "text": "schema drift: missing market_data"}]})
        );
    }

    #[test]
    fn series_and_alert_kinds_have_their_stable_names() {
        let labels: Vec<&str> = Series::TENANT.iter().map(|s| s.label()).collect();
        assert_eq!(
            labels,
            ["calls/s", "writes/s", "size", "connections", "health"]
        );
        let cluster: Vec<&str> = Series::CLUSTER.iter().map(|s| s.label()).collect();
        assert_eq!(
            cluster,
            [
                "commits/s",
                "connections",
                "cache hit %",
                "size",
                "calls/s",
                "WAL/s",
                "writes/s"
            ]
        );
        let bytes: Vec<Series> = Series::TENANT
            .iter()
            .chain(Series::CLUSTER.iter())
            .copied()
            .filter(|s| s.is_bytes())
            .collect();
        assert_eq!(
            bytes,
            [Series::Size, Series::ClusterSize, Series::ClusterWal]
        );
        let names: Vec<String> = AlertKind::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "quota",
                "long_running",
                "idle_in_transaction",
                "connections",
                "cluster_connections",
                "connection_lost",
                "creation_slow",
                "operation_failed",
                "limit_enforced",
                "blocking"
            ]
        );
        for k in AlertKind::ALL {
            assert_eq!(
                serde_json::to_value(k).expect("json"),
                serde_json::json!(k.as_str())
            );
        }
    }

    #[test]
    fn tenant_series_name_the_cluster_series_they_are_a_share_of() {
        assert_eq!(Series::Calls.cluster_total(), Some(Series::ClusterCalls));
        assert_eq!(Series::Writes.cluster_total(), Some(Series::ClusterWrites));
        assert_eq!(Series::Size.cluster_total(), Some(Series::ClusterSize));
        assert_eq!(
            Series::Connections.cluster_total(),
            Some(Series::ClusterConnections)
        );
        assert_eq!(Series::ClusterCalls.cluster_total(), None);
    }
}
