//! The fast tick: a fixed number of set-based queries on two dedicated
//! connections (so a tick never borrows, or re-configures, pooled ones),
//! turned into per-tenant metrics with rates over the server clock, health
//! and alerts; then a slice of the exact-size sweep within its time budget;
//! then the per-minute usage rollup when this console is the elected writer.
//!
//! Per tick, whatever the tenant count: lane A runs sessions, approximate
//! sizes and cluster totals; lane B runs table statistics and statement
//! totals (pg_stat_statements, when installed). Every 15th tick, after the
//! fast part, measures the database size and (when template objects are
//! known) checks drift in one set operation. A source that fails or times
//! out keeps its previous values and is listed in [`Snapshot::stale`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_postgres::{AsyncMessage, Client};
use uuid::Uuid;

mod merge;
mod slow;

use super::store::{Reading, Store, delta, ms, rate};
use crate::config::{MonitoringConfig, Thresholds};
use crate::db::Db;
use crate::db::metrics::{
    self as q, Sample, SessionRow, SizeRow, StatementsRead, StatementsSource, TableCounters,
    TotalsRow,
};
use crate::domain::alerts::{AlertBook, Condition, TICK_KINDS, kind, tenant_conditions};
use crate::domain::health;
use crate::domain::metrics::{
    Alert, ClusterTotals, History, MonitoredTenant, Severity, Snapshot, TenantMap, TenantMetrics,
};
use crate::error::{Error, Result};

/// How often (in ticks) the database size and schema drift are re-measured
/// (after the fast queries, outside [`Snapshot::latency`]).
const SLOW_EVERY: u64 = 15;
/// How often (in ticks) pg_stat_statements is looked for again.
const DETECT_EVERY: u64 = 30;

/// Timings of the last tick, for the status bar and the benchmark.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickStats {
    /// Wall time of the fast queries (what [`Snapshot::latency`] reports).
    pub fast_wall: Duration,
    /// Sum of the fast queries' own times (both lanes).
    pub db_time: Duration,
    /// Each query's name and time.
    pub queries: Vec<(&'static str, Duration)>,
    /// Wall time spent on the exact-size sweep this tick.
    pub sweep_wall: Duration,
    /// Tenants measured exactly this tick.
    pub sweep_measured: usize,
    /// Wall time of the drift check and database size, when they ran.
    pub slow_wall: Duration,
    /// Usage rows written this tick.
    pub usage_written: u64,
}

struct Lane {
    client: Client,
    _messages: tokio::sync::mpsc::UnboundedReceiver<AsyncMessage>,
}

#[derive(Debug, Default)]
struct UsageState {
    period_ms: i64,
    bucket: Option<i64>,
    leader: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct TotalsPrev {
    commit: Option<Reading>,
    hit: Option<Reading>,
    read: Option<Reading>,
}

/// The monitoring engine of one console.
pub struct Collector {
    monitoring: MonitoringConfig,
    thresholds: Thresholds,
    lanes: [Option<Lane>; 2],
    statements: Option<StatementsSource>,
    ticks: u64,
    generation: u64,
    store: Store,
    alerts: AlertBook,
    last: Arc<Snapshot>,
    sweep_queue: VecDeque<Uuid>,
    drift: HashMap<Uuid, Arc<[String]>>,
    drift_key: u64,
    totals_prev: TotalsPrev,
    db_size: Option<u64>,
    usage: UsageState,
    stats: TickStats,
    connected_once: bool,
    /// Last activity per tenant from recorded usage, read on the first tick.
    activity_seed: Option<HashMap<Uuid, i64>>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("generation", &self.generation)
            .field("tenants", &self.store.tenant_count())
            .finish_non_exhaustive()
    }
}

type Timed<T> = (&'static str, Duration, Result<T>);

async fn timed<T>(
    name: &'static str,
    limit: Duration,
    f: impl std::future::Future<Output = Result<T>>,
) -> Timed<T> {
    let start = Instant::now();
    let out = match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(Error::failure(format!(
            "{name}: no answer within {} ms",
            limit.as_millis()
        ))),
    };
    (name, start.elapsed(), out)
}

/// The value of a timed query, or its name added to the stale list.
fn ok<T>(t: Timed<T>, stale: &mut Vec<String>) -> Option<T> {
    match t.2 {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(source = t.0, "monitoring query failed: {e}");
            stale.push(t.0.to_string());
            None
        }
    }
}

impl Collector {
    pub fn new(monitoring: &MonitoringConfig, thresholds: &Thresholds) -> Self {
        let cap = Store::capacity_for(monitoring.history.0, monitoring.interval.0);
        Self {
            monitoring: monitoring.clone(),
            thresholds: thresholds.clone(),
            lanes: [None, None],
            statements: None,
            ticks: 0,
            generation: 0,
            store: Store::new(cap),
            alerts: AlertBook::default(),
            last: Arc::new(Snapshot::default()),
            sweep_queue: VecDeque::new(),
            drift: HashMap::new(),
            drift_key: 0,
            totals_prev: TotalsPrev::default(),
            db_size: None,
            usage: UsageState {
                period_ms: 60_000,
                ..UsageState::default()
            },
            stats: TickStats::default(),
            connected_once: false,
            activity_seed: None,
        }
    }

    /// A new tick interval: the history keeps its time window, so the
    /// number of points changes (the newest are kept).
    pub fn set_interval(&mut self, interval: Duration) {
        self.monitoring.interval = crate::config::Dur(interval);
        self.store
            .resize(Store::capacity_for(self.monitoring.history.0, interval));
    }

    /// The rollup period of usage samples (a minute; tests shorten it).
    pub fn set_usage_period(&mut self, period: Duration) {
        self.usage.period_ms = i64::try_from(period.as_millis()).unwrap_or(60_000).max(1);
    }

    /// Freeze (true) or thaw history for pause. Ticks still measure, so
    /// alerts and rates stay right; only history stops moving.
    pub fn set_frozen(&mut self, frozen: bool) {
        self.store.set_frozen(frozen);
    }

    /// Sparkline series for these tenants, then the cluster's (tenant `None`).
    pub fn history(&self, tenants: &[Uuid]) -> Vec<History> {
        self.store.history(tenants)
    }

    /// Every kept alert, newest first.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts.alerts()
    }

    /// Whether alerts were raised or cleared since the last call.
    pub fn alerts_changed(&mut self) -> bool {
        self.alerts.take_changed()
    }

    /// The backend lost its connection (also raised by a failed tick).
    pub fn connection_lost(&mut self, error: &str) {
        self.alerts.connection_lost(Utc::now(), error);
    }

    /// The backend is connected again.
    pub fn connection_restored(&mut self) {
        self.alerts.connection_restored(Utc::now());
    }

    /// A tenant creation took longer than `provisioning.creation_timeout`.
    pub fn creation_slow(&mut self, tenant: Uuid, elapsed: Duration, limit: Duration) {
        self.alerts
            .creation_slow(Utc::now(), tenant, elapsed, limit);
    }

    /// An operation on a tenant failed.
    pub fn operation_failed(&mut self, tenant: Option<Uuid>, what: &str) {
        self.alerts.operation_failed(Utc::now(), tenant, what);
    }

    /// The last snapshot (empty before the first tick).
    pub fn last_snapshot(&self) -> Arc<Snapshot> {
        self.last.clone()
    }

    pub fn last_tick_stats(&self) -> &TickStats {
        &self.stats
    }

    /// The metrics store (history, exact sizes, memory figures).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Tenants with an exact size, and tenants monitored.
    pub fn exact_coverage(&self) -> (usize, usize) {
        let ids: Vec<&Uuid> = self.last.tenants.keys().collect();
        let done = ids
            .iter()
            .filter(|id| self.store.tenant(id).is_some_and(|s| s.exact.is_some()))
            .count();
        (done, ids.len())
    }

    /// Whether this console holds the usage writer lock.
    pub fn is_usage_writer(&self) -> bool {
        self.usage.leader
    }

    /// Drop the collector's connections (the lock of the usage writer goes
    /// with them); the next tick reconnects.
    pub fn disconnect(&mut self) {
        self.lanes = [None, None];
        self.usage.leader = false;
    }

    async fn ensure_lanes(&mut self, db: &Db) -> Result<()> {
        let timeout_ms = self.monitoring.query_timeout.0.as_millis();
        let mut last_err = None;
        for i in 0..2 {
            let closed = self.lanes[i].as_ref().is_some_and(|l| l.client.is_closed());
            if closed {
                self.lanes[i] = None;
                if i == 0 {
                    self.usage.leader = false;
                }
            }
            if self.lanes[i].is_none() {
                match db.dedicated().await {
                    Ok((client, rx)) => match q::prepare_session(&client, timeout_ms).await {
                        Ok(()) => {
                            self.lanes[i] = Some(Lane {
                                client,
                                _messages: rx,
                            });
                        }
                        Err(e) => last_err = Some(e),
                    },
                    Err(e) => last_err = Some(e),
                }
            }
        }
        match (&self.lanes, last_err) {
            ([None, None], Some(e)) => Err(e),
            ([None, None], None) => Err(Error::failure("no monitoring connection")),
            _ => Ok(()),
        }
    }

    /// One fast tick over `tenants` (active and suspended rows). Returns the
    /// new snapshot; a connection failure returns an error (and raises the
    /// connection-lost alert) while the previous snapshot stays available.
    pub async fn tick(&mut self, db: &Db, tenants: &[MonitoredTenant]) -> Result<Arc<Snapshot>> {
        if let Err(e) = self.ensure_lanes(db).await {
            self.alerts.connection_lost(Utc::now(), &e.message);
            return Err(e);
        }
        if self.connected_once {
            self.alerts.connection_restored(Utc::now());
        }
        self.connected_once = true;
        self.ticks += 1;
        let limit = self.monitoring.query_timeout.0 + Duration::from_secs(1);
        let schemas: Vec<&str> = tenants.iter().map(|t| t.schema_name.as_str()).collect();

        // pg_stat_statements: detect now and then, and after it vanished.
        if self.statements.is_none() || self.ticks % DETECT_EVERY == 1 {
            if let Some(l) = self.lanes[1].as_ref().or(self.lanes[0].as_ref()) {
                match q::detect_statements(&l.client).await {
                    Ok(src) => self.statements = Some(src),
                    Err(e) => tracing::warn!("cannot detect pg_stat_statements: {e}"),
                }
            }
        }
        let src = self.statements.clone().unwrap_or(StatementsSource::Absent);

        let started = Instant::now();
        let lane_a = self.lanes[0].as_ref().map(|l| &l.client);
        let lane_b = self.lanes[1].as_ref().map(|l| &l.client);
        let no_lane = || Error::failure("monitoring connection lost");
        let (from_a, from_b) = tokio::join!(
            async {
                let Some(c) = lane_a else {
                    return (
                        ("sessions", Duration::ZERO, Err(no_lane())),
                        ("sizes", Duration::ZERO, Err(no_lane())),
                        ("totals", Duration::ZERO, Err(no_lane())),
                    );
                };
                let s = timed("sessions", limit, q::sessions(c)).await;
                let z = timed("sizes", limit, q::approx_sizes(c, &schemas)).await;
                let t = timed("totals", limit, q::totals(c)).await;
                (s, z, t)
            },
            async {
                let Some(c) = lane_b else {
                    return (
                        ("table statistics", Duration::ZERO, Err(no_lane())),
                        ("statements", Duration::ZERO, Err(no_lane())),
                    );
                };
                let t = timed("table statistics", limit, q::table_counters(c, &schemas)).await;
                let s = timed("statements", limit, q::statements(c, &src)).await;
                (t, s)
            }
        );
        let fast_wall = started.elapsed();
        let (sessions, sizes, totals) = from_a;
        let (tables, statements) = from_b;
        let mut stats = TickStats {
            fast_wall,
            ..TickStats::default()
        };
        for (n, d) in [
            (sessions.0, sessions.1),
            (sizes.0, sizes.1),
            (totals.0, totals.1),
            (tables.0, tables.1),
            (statements.0, statements.1),
        ] {
            stats.db_time += d;
            stats.queries.push((n, d));
        }
        let mut stale: Vec<String> = Vec::new();
        let sessions: Option<Sample<SessionRow>> = ok(sessions, &mut stale);
        let sizes: Option<Sample<SizeRow>> = ok(sizes, &mut stale);
        let totals: Option<TotalsRow> = ok(totals, &mut stale);
        let tables: Option<Sample<(String, TableCounters)>> = ok(tables, &mut stale);
        let statements: Option<StatementsRead> = ok(statements, &mut stale);
        let statements_available = match &statements {
            Some(StatementsRead::Rows(_)) => true,
            Some(StatementsRead::Vanished) => {
                self.statements = Some(StatementsSource::Absent);
                false
            }
            Some(StatementsRead::Absent) => false,
            None => self.last.statements_available,
        };
        self.drop_closed_lanes();
        if self.lanes.iter().all(Option::is_none) {
            let e = Error::failure("lost the monitoring connections during a tick");
            self.alerts.connection_lost(Utc::now(), &e.message);
            return Err(e);
        }

        let now: DateTime<Utc> = totals
            .as_ref()
            .map(|t| t.at)
            .or_else(|| sizes.as_ref().and_then(|s| s.at))
            .or_else(|| sessions.as_ref().and_then(|s| s.at))
            .unwrap_or_else(Utc::now);
        let now_ms = ms(now);

        // Which tenants are here: those whose schema exists.
        let present: Vec<&MonitoredTenant> = match &sizes {
            Some(s) => {
                let have: HashSet<&str> = s.rows.iter().map(|r| r.schema.as_str()).collect();
                tenants
                    .iter()
                    .filter(|t| have.contains(t.schema_name.as_str()))
                    .collect()
            }
            None if self.generation == 0 => tenants.iter().collect(),
            None => tenants
                .iter()
                .filter(|t| self.last.tenants.contains_key(&t.id))
                .collect(),
        };
        if self.activity_seed.is_none() {
            self.activity_seed = Some(self.load_activity_seed(db).await);
        }
        let keep: HashSet<Uuid> = present.iter().map(|t| t.id).collect();
        for gone in self.store.retain(&keep) {
            self.alerts.forget_tenant(now, gone);
            self.drift.remove(&gone);
        }
        for t in &present {
            // First sight: activity known from recorded usage, else now.
            let first_seen = self
                .activity_seed
                .as_ref()
                .and_then(|s| s.get(&t.id).copied())
                .map_or(now_ms, |seed| seed.min(now_ms));
            self.store.tenant_mut(t.id, first_seen);
        }

        // Exact sizes: a slice of the sweep within the budget.
        let sweep_start = Instant::now();
        let (measured, sweep_failed) = self.sweep(&present, now_ms).await;
        stats.sweep_wall = sweep_start.elapsed();
        stats.sweep_measured = measured;
        if sweep_failed {
            stale.push("exact sizes".into());
        }
        let slow_start = Instant::now();
        if let Err(e) = self.check_drift(&present).await {
            tracing::warn!("drift check failed: {e}");
            stale.push("drift".into());
        }
        if self.ticks % SLOW_EVERY == 1 || self.db_size.is_none() {
            if let Err(e) = self.measure_database_size().await {
                tracing::warn!("database size failed: {e}");
                stale.push("database size".into());
            }
        }
        stats.slow_wall = slow_start.elapsed();

        let inputs = merge::Inputs {
            sizes: sizes.as_ref().map(|s| {
                s.rows
                    .iter()
                    .map(|r| (r.schema.as_str(), r.bytes))
                    .collect()
            }),
            tables: tables.as_ref().map(|s| {
                (
                    s.rows.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
                    s.at.map_or(now_ms, ms),
                )
            }),
            sessions: sessions
                .as_ref()
                .map(|s| s.rows.iter().map(|r| (r.role.as_str(), r)).collect()),
            statements: match &statements {
                Some(StatementsRead::Rows(s)) => Some((
                    s.rows.iter().map(|r| (r.role.as_str(), r)).collect(),
                    s.at.map_or(now_ms, ms),
                )),
                _ => None,
            },
            statements_available,
            now_ms,
        };
        let mut out: Vec<TenantMetrics> = Vec::with_capacity(present.len());
        let mut conditions: Vec<Condition> = Vec::new();
        for t in &present {
            let prev = self.last.tenants.get(&t.id);
            let st = self.store.tenant_mut(t.id, now_ms);
            let mut m = merge::tenant_metrics(t, prev, st, &inputs);
            if let Some(d) = self.drift.get(&t.id) {
                m.drift = Arc::clone(d);
            }
            m.health = health::score(t, &m, &self.thresholds, now);
            conditions.extend(tenant_conditions(t, &m, &self.thresholds));
            out.push(m);
        }
        let out = TenantMap::from(out);

        let cluster = self.cluster_totals(totals.as_ref());
        if cluster.max_connections > 0
            && f64::from(cluster.connections) >= 0.9 * f64::from(cluster.max_connections)
        {
            conditions.push(Condition {
                tenant_id: None,
                kind: kind::CLUSTER_CONNECTIONS,
                severity: Severity::Warning,
                message: format!(
                    "cluster connections {} of max_connections {}",
                    cluster.connections, cluster.max_connections
                ),
            });
        }
        self.alerts.observe(now, TICK_KINDS, conditions);

        let hit_pct = cluster.cache_hit_ratio.map(|r| r * 100.0);
        let cluster_point = [
            cluster.commits_per_s,
            Some(f64::from(cluster.connections)),
            hit_pct,
            Some(cluster.database_bytes as f64),
        ];
        self.store.push(
            now,
            |id| match out.get(id) {
                Some(m) => [
                    m.calls_per_s,
                    m.writes_per_s,
                    Some(m.size_bytes as f64),
                    Some(f64::from(m.sessions_total)),
                ],
                None => [None; 4],
            },
            cluster_point,
        );
        if self.ticks % SLOW_EVERY == 1 {
            tracing::debug!(
                tenants = self.store.tenant_count(),
                rings = self.store.rings_held(),
                bytes = self.store.bytes_total(),
                "history store"
            );
        }

        if self.monitoring.record_usage {
            match self.roll_usage(db, now_ms, &present).await {
                Ok(n) => stats.usage_written = n,
                Err(e) => {
                    tracing::warn!("usage rollup failed: {e}");
                    stale.push("usage".into());
                }
            }
        }

        self.generation += 1;
        let snap = Arc::new(Snapshot {
            generation: self.generation,
            taken_at: now,
            latency: fast_wall,
            tenants: out,
            totals: cluster,
            stale,
            statements_available,
        });
        self.last = snap.clone();
        self.stats = stats;
        Ok(snap)
    }

    fn drop_closed_lanes(&mut self) {
        for i in 0..2 {
            if self.lanes[i].as_ref().is_some_and(|l| l.client.is_closed()) {
                self.lanes[i] = None;
                if i == 0 {
                    self.usage.leader = false;
                }
            }
        }
    }

    fn cluster_totals(&mut self, totals: Option<&TotalsRow>) -> ClusterTotals {
        let Some(t) = totals else {
            return self.last.totals.clone();
        };
        let at = ms(t.at);
        let p = &mut self.totals_prev;
        let commits_per_s = rate(&mut p.commit, at, t.xact_commit);
        let dh = delta(&mut p.hit, at, t.blks_hit);
        let dr = delta(&mut p.read, at, t.blks_read);
        let cache_hit_ratio = match (dh, dr) {
            (Some((h, _)), Some((r, _))) if h + r > 0 => Some(h as f64 / (h + r) as f64),
            _ if t.blks_hit + t.blks_read > 0 => {
                Some(t.blks_hit as f64 / (t.blks_hit + t.blks_read) as f64)
            }
            _ => None,
        };
        ClusterTotals {
            database_bytes: self.db_size.unwrap_or(0),
            connections: t.connections,
            max_connections: t.max_connections,
            commits_per_s,
            cache_hit_ratio,
            server_version: t.server_version.clone(),
        }
    }
}
