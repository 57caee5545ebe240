//! The monitor: owns the metrics store, the merge, health and the alert
//! book, and folds a tick's [`Readings`] into a snapshot and alerts as a
//! pure function of (readings, now): no I/O, no clock, no lock. It also
//! makes the [`Plan`] of the next tick (which tenants to sweep, whether
//! drift and the database size are due, which usage rows to write).
//!
//! Another lane: a [`super::sampler::Source`], a field of [`Readings`], and
//! its use here; another alert kind: a variant of
//! [`crate::domain::metrics::AlertKind`] and its rule in `domain::alerts`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::merge;
use super::neighbours::{self, Neighbours};
use super::sampler::{Plan, Read, Readings, Source};
use crate::backend::store::{Reading, Store, delta, ms, rate};
use crate::config::MonitoringConfig;
use crate::db::metrics::{StatementsRead, TotalsRow};
use crate::db::usage::UsageRow;
use crate::domain::alerts::{AlertBook, Condition, cluster_conditions, tenant_conditions};
use crate::domain::health;
use crate::domain::metrics::{
    Alert, ClusterTotals, History, ListPool, MonitoredTenant, ReasonPool, Snapshot, TenantMap,
    TenantMetrics,
};
use crate::domain::thresholds::Thresholds;
use crate::error::{Error, Result};

/// How often (in ticks) the database size and schema drift are re-measured.
pub const SLOW_EVERY: u64 = 15;

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

#[derive(Debug, Default, Clone, Copy)]
struct TotalsPrev {
    commit: Option<Reading>,
    hit: Option<Reading>,
    read: Option<Reading>,
}

/// Everything monitoring remembers between ticks.
#[derive(Debug)]
pub struct Monitor {
    monitoring: MonitoringConfig,
    thresholds: Thresholds,
    ticks: u64,
    generation: u64,
    store: Store,
    alerts: AlertBook,
    last: Arc<Snapshot>,
    sweep_queue: VecDeque<Uuid>,
    drift: HashMap<Uuid, Arc<[String]>>,
    /// Which tenants and lists the last drift check covered.
    drift_key: u64,
    /// The key of a planned check, applied when its answer arrives.
    drift_pending: Option<u64>,
    totals_prev: TotalsPrev,
    db_size: Option<u64>,
    usage_period_ms: i64,
    usage_bucket: Option<i64>,
    usage_rows: Option<Vec<UsageRow>>,
    usage_leader: bool,
    /// Last activity per tenant from recorded usage, read on the first tick.
    activity_seed: Option<HashMap<Uuid, i64>>,
    connected_once: bool,
    stats: TickStats,
    /// Statement extras between ticks (shares, WAL, temp, cache hit).
    neighbours: Neighbours,
}

/// The value of a read, or its source added to the stale list (and its
/// failure recorded in `failed`).
fn take<T>(
    src: Source,
    r: Read<T>,
    stale: &mut Vec<String>,
    failed: &mut Vec<(Source, Error)>,
) -> Option<T> {
    match r.value {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(source = src.label(), "monitoring query failed: {e}");
            stale.push(src.label().to_string());
            failed.push((src, e));
            None
        }
    }
}

impl Monitor {
    pub fn new(monitoring: &MonitoringConfig, thresholds: &Thresholds) -> Self {
        let cap = Store::capacity_for(monitoring.history.0, monitoring.interval.0);
        Self {
            monitoring: monitoring.clone(),
            thresholds: thresholds.clone(),
            ticks: 0,
            generation: 0,
            store: Store::new(cap),
            alerts: AlertBook::default(),
            last: Arc::new(Snapshot::default()),
            sweep_queue: VecDeque::new(),
            drift: HashMap::new(),
            drift_key: 0,
            drift_pending: None,
            totals_prev: TotalsPrev::default(),
            db_size: None,
            usage_period_ms: 60_000,
            usage_bucket: None,
            usage_rows: None,
            usage_leader: false,
            activity_seed: None,
            connected_once: false,
            stats: TickStats::default(),
            neighbours: Neighbours::default(),
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
        self.usage_period_ms = i64::try_from(period.as_millis()).unwrap_or(60_000).max(1);
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

    /// The snapshot as it was `back` points ago (time travel): each tenant's
    /// kept series (calls/s, writes/s, size, sessions, health score) over the
    /// last snapshot's other fields, the cluster's kept totals; the figures
    /// history does not keep (shares, WAL, health reasons, blocking) are
    /// left out. `None` past the oldest point kept.
    pub fn snapshot_at(&self, back: usize) -> Option<Arc<Snapshot>> {
        let p = self.store.point_at(back)?;
        let mut tenants: Vec<TenantMetrics> = Vec::with_capacity(p.tenants.len());
        for (id, v) in &p.tenants {
            let mut m = self.last.tenants.get(id).cloned().unwrap_or(TenantMetrics {
                tenant_id: *id,
                ..TenantMetrics::default()
            });
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            // reason: kept sizes, sessions and scores are non-negative and in range
            {
                m.calls_per_s = v[0];
                m.writes_per_s = v[1];
                m.size_bytes = v[2].map_or(m.size_bytes, |b| b.max(0.0) as u64);
                m.sessions_total = v[3].map_or(0, |c| c.max(0.0) as u32);
                if let Some(h) = v[4] {
                    m.health.score = h.clamp(0.0, 100.0) as u8;
                    m.health.reasons = Arc::from([]);
                }
            }
            m.statement_share = None;
            m.share_score = None;
            m.wal_bytes_per_s = None;
            m.temp_bytes_per_s = None;
            m.cache_hit = None;
            tenants.push(m);
        }
        let c = p.cluster;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        // reason: kept connections and sizes are non-negative and in range
        let totals = ClusterTotals {
            commits_per_s: c[0],
            connections: c[1].map_or(0, |v| v.max(0.0) as u32),
            cache_hit_ratio: c[2].map(|v| v / 100.0),
            database_bytes: c[3].map_or(0, |v| v.max(0.0) as u64),
            calls_per_s: c[4],
            wal_bytes_per_s: c[5],
            writes_per_s: c[6],
            ..self.last.totals.clone()
        };
        Some(Arc::new(Snapshot {
            generation: self.last.generation,
            taken_at: p.at,
            latency: self.last.latency,
            tenants: TenantMap::from(tenants),
            totals,
            stale: Vec::new(),
            statements_available: self.last.statements_available,
            blocking: Vec::new(),
        }))
    }

    /// Every kept alert, newest first.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts.alerts()
    }

    /// Whether alerts were raised or cleared since the last call.
    pub fn alerts_changed(&mut self) -> bool {
        self.alerts.take_changed()
    }

    /// The backend lost its connection.
    pub fn connection_lost(&mut self, now: DateTime<Utc>, error: &str) {
        self.alerts.connection_lost(now, error);
    }

    /// The backend is connected again.
    pub fn connection_restored(&mut self, now: DateTime<Utc>) {
        self.alerts.connection_restored(now);
    }

    /// A tenant creation took longer than `provisioning.creation_timeout`.
    /// The limits guard acted on a tenant.
    pub fn limit_enforced(&mut self, now: DateTime<Utc>, tenant: Uuid, action: &str, reason: &str) {
        self.alerts.limit_enforced(now, tenant, action, reason);
    }

    pub fn creation_slow(
        &mut self,
        now: DateTime<Utc>,
        tenant: Uuid,
        elapsed: Duration,
        limit: Duration,
    ) {
        self.alerts.creation_slow(now, tenant, elapsed, limit);
    }

    /// A mutation finished: a failure raises (or keeps) its alert, a
    /// success clears it.
    pub fn operation_done(
        &mut self,
        now: DateTime<Utc>,
        tenant: Option<Uuid>,
        operation: &'static str,
        failure: Option<&str>,
    ) {
        match failure {
            Some(message) => {
                self.alerts.operation_failed(
                    now,
                    tenant,
                    operation,
                    format!("{operation} failed: {message}"),
                );
            }
            None => {
                self.alerts.operation_succeeded(now, tenant, operation);
            }
        }
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

    /// Whether the sampler held the usage writer lock at the last tick.
    pub fn is_usage_writer(&self) -> bool {
        self.usage_leader
    }

    /// Tenants with an exact size, and tenants monitored.
    pub fn exact_coverage(&self) -> (usize, usize) {
        let done = self
            .last
            .tenants
            .keys()
            .filter(|id| self.store.tenant(id).is_some_and(|s| s.exact.is_some()))
            .count();
        (done, self.last.tenants.len())
    }

    /// What the next tick should read for these targets.
    pub fn plan(&mut self, targets: &Arc<Vec<MonitoredTenant>>) -> Plan {
        let next_tick = self.ticks + 1;
        Plan {
            targets: Arc::clone(targets),
            sweep: self.plan_sweep(targets),
            drift: self.plan_drift(targets, next_tick),
            database_size: next_tick % SLOW_EVERY == 1 || self.db_size.is_none(),
            activity_seed: self
                .activity_seed
                .is_none()
                .then(|| self.thresholds.inactive.0 + Duration::from_secs(300)),
            usage: self
                .monitoring
                .record_usage
                .then(|| self.usage_rows.take().unwrap_or_default()),
        }
    }

    fn plan_sweep(&mut self, targets: &[MonitoredTenant]) -> Vec<(Uuid, String)> {
        let per_tick = self.monitoring.exact_sweep_batch;
        if self.monitoring.exact_sweep_budget.0.is_zero() || per_tick == 0 || targets.is_empty() {
            return Vec::new();
        }
        // Only tenants seen in the last snapshot (their schema exists), or
        // everyone before the first.
        let schema_of: HashMap<Uuid, &str> = targets
            .iter()
            .filter(|t| self.generation == 0 || self.last.tenants.contains_key(&t.id))
            .map(|t| (t.id, t.schema_name.as_str()))
            .collect();
        self.sweep_queue.retain(|id| schema_of.contains_key(id));
        if self.sweep_queue.is_empty() {
            // Never-measured tenants first, then the oldest measurement.
            let mut order: Vec<(i64, Uuid)> = schema_of
                .keys()
                .map(|id| {
                    let at = self
                        .store
                        .tenant(id)
                        .and_then(|s| s.exact)
                        .map_or(i64::MIN, |e| e.1);
                    (at, *id)
                })
                .collect();
            order.sort_unstable();
            self.sweep_queue = order.into_iter().map(|(_, id)| id).collect();
        }
        self.sweep_queue
            .iter()
            .take(per_tick)
            .filter_map(|id| schema_of.get(id).map(|s| (*id, (*s).to_string())))
            .collect()
    }

    fn plan_drift(
        &mut self,
        targets: &[MonitoredTenant],
        next_tick: u64,
    ) -> Option<super::sampler::DriftGroups> {
        // Tenants sharing a template share its expectations (one `Arc`):
        // group by them, so each list of names is built and sent once.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        // Members by position in `targets`: their schema names are copied
        // only when a check is due (not for 50,000 tenants every tick).
        let mut groups: Vec<(&MonitoredTenant, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<(usize, usize, Option<i32>), usize> = HashMap::new();
        for (i, t) in targets.iter().enumerate() {
            // By address (a template's lists are built once per target
            // list); an empty list is the same whatever its allocation.
            let addr = |l: &Arc<[String]>| {
                if l.is_empty() {
                    0
                } else {
                    Arc::as_ptr(l).cast::<()>().addr()
                }
            };
            // A SQL-string template's tenants are compared with the
            // reference of their own version: one group per version.
            let version = t.reference.as_ref().map(|_| t.template_version);
            let key = (addr(&t.expected_tables), addr(&t.expected_indexes), version);
            std::hash::Hash::hash(&(t.id, key), &mut hasher);
            if let Some(r) = &t.reference {
                std::hash::Hash::hash(&Arc::as_ptr(r).cast::<()>().addr(), &mut hasher);
            }
            if t.expected_tables.is_empty()
                && t.expected_indexes.is_empty()
                && t.reference.is_none()
            {
                continue;
            }
            let g = *group_of.entry(key).or_insert_with(|| {
                groups.push((t, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(i);
        }
        let key = std::hash::Hasher::finish(&hasher);
        if groups.is_empty() {
            self.drift.clear();
            self.drift_key = key;
            return None;
        }
        if key == self.drift_key && next_tick % SLOW_EVERY != 1 {
            return None;
        }
        self.drift_pending = Some(key);
        Some(
            groups
                .into_iter()
                .map(|(t, members)| {
                    let schemas = members
                        .iter()
                        .map(|&i| targets[i].schema_name.clone())
                        .collect();
                    let names = t
                        .expected_tables
                        .iter()
                        .chain(t.expected_indexes.iter())
                        .cloned()
                        .collect();
                    let reference = t
                        .reference
                        .as_ref()
                        .map(|r| (Arc::clone(r), t.template_version));
                    (schemas, names, reference)
                })
                .collect(),
        )
    }

    /// Fold one tick's readings into the next snapshot and the alert book.
    /// `now` stands in for the server clock only when no lane answered.
    /// An error (and the connection-lost alert) when no connection was had.
    pub fn fold(&mut self, readings: Readings, now: DateTime<Utc>) -> Result<Arc<Snapshot>> {
        let Readings {
            targets,
            connection,
            lanes_lost,
            sessions,
            sizes,
            totals,
            tables,
            statements,
            extras,
            blocking,
            fast_wall,
            sweep,
            drift,
            database_size,
            activity_seed,
            usage,
            usage_leader,
            slow_wall,
        } = readings;
        if let Err(e) = connection {
            self.alerts.connection_lost(now, &e.message);
            self.drift_pending = None;
            return Err(e);
        }
        self.usage_leader = usage_leader;
        self.ticks += 1;
        let mut stats = TickStats {
            fast_wall,
            queries: vec![
                (Source::Sessions.label(), sessions.took),
                (Source::Sizes.label(), sizes.took),
                (Source::Totals.label(), totals.took),
                (Source::TableStatistics.label(), tables.took),
                (Source::Statements.label(), statements.took),
                (Source::Blocking.label(), blocking.took),
            ],
            sweep_wall: sweep.took,
            slow_wall,
            ..TickStats::default()
        };
        stats.db_time = stats.queries.iter().map(|q| q.1).sum();
        let mut stale: Vec<String> = Vec::new();
        let mut failed: Vec<(Source, Error)> = Vec::new();
        let mut ok_sources: Vec<Source> = Vec::new();
        let mut note = |src: Source, ok: bool| {
            if ok {
                ok_sources.push(src);
            }
        };
        note(Source::Sessions, sessions.value.is_ok());
        note(Source::Sizes, sizes.value.is_ok());
        note(Source::Totals, totals.value.is_ok());
        note(Source::TableStatistics, tables.value.is_ok());
        note(Source::Statements, statements.value.is_ok());
        note(Source::Blocking, blocking.value.is_ok());
        let sessions = take(Source::Sessions, sessions, &mut stale, &mut failed);
        let mut sizes = take(Source::Sizes, sizes, &mut stale, &mut failed);
        let totals = take(Source::Totals, totals, &mut stale, &mut failed);
        let mut tables = take(Source::TableStatistics, tables, &mut stale, &mut failed);
        // Both per-schema sources sorted by schema in place and looked up
        // by binary search: a hash map of each took about 5 MB more at
        // 50,000 tenants, at the tick's peak (the last snapshot held, the
        // new one being built).
        if let Some(s) = sizes.as_mut() {
            s.rows.sort_unstable_by(|a, b| a.schema.cmp(&b.schema));
        }
        if let Some(s) = tables.as_mut() {
            s.rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        let statements = take(Source::Statements, statements, &mut stale, &mut failed);
        let blocking = take(Source::Blocking, blocking, &mut stale, &mut failed);
        let statements_available = match &statements {
            Some(StatementsRead::Rows(_)) => true,
            Some(StatementsRead::Vanished | StatementsRead::Absent) => false,
            None => self.last.statements_available,
        };
        if lanes_lost {
            let e = Error::failure("lost the monitoring connections during a tick");
            self.alerts.connection_lost(now, &e.message);
            self.drift_pending = None;
            return Err(e);
        }

        let now: DateTime<Utc> = totals
            .as_ref()
            .map(|t| t.at)
            .or_else(|| sizes.as_ref().and_then(|s| s.at))
            .or_else(|| sessions.as_ref().and_then(|s| s.at))
            .unwrap_or(now);
        let now_ms = ms(now);
        if self.connected_once {
            self.alerts.connection_restored(now);
        }
        self.connected_once = true;

        // Which tenants are here: those whose schema exists.
        let present: Vec<&MonitoredTenant> = match &sizes {
            Some(s) => targets
                .iter()
                .filter(|t| merge::find(&s.rows, &t.schema_name, |r| &r.schema).is_some())
                .collect(),
            None if self.generation == 0 => targets.iter().collect(),
            None => targets
                .iter()
                .filter(|t| self.last.tenants.contains_key(&t.id))
                .collect(),
        };
        if let Some(seed) = activity_seed {
            self.activity_seed = Some(seed);
        }
        let keep: HashSet<Uuid> = present.iter().map(|t| t.id).collect();
        self.neighbours.retain(&keep);
        for gone in self.store.retain(&keep) {
            self.alerts.forget_tenant(now, gone);
            self.drift.remove(&gone);
        }
        // First sight: activity known from recorded usage, else now.
        let seed = self.activity_seed.as_ref();
        self.store.add_tenants(present.iter().map(|t| t.id), |id| {
            seed.and_then(|s| s.get(id).copied())
                .map_or(now_ms, |seed| seed.min(now_ms))
        });

        // Exact sizes.
        stats.sweep_measured = self.apply_sweep(&sweep, &keep, now_ms);
        drop(keep);
        match &sweep.error {
            Some(e) => {
                stale.push(Source::ExactSizes.label().into());
                failed.push((Source::ExactSizes, e.clone()));
            }
            None if !sweep.measured.is_empty() => ok_sources.push(Source::ExactSizes),
            None => {}
        }
        if let Some(d) = drift {
            match d.value {
                Ok(missing) => {
                    self.apply_drift(&present, missing);
                    ok_sources.push(Source::Drift);
                }
                Err(e) => {
                    tracing::warn!("drift check failed: {e}");
                    self.drift_pending = None;
                    stale.push(Source::Drift.label().into());
                    failed.push((Source::Drift, e));
                }
            }
        }
        if let Some(d) = database_size {
            match d.value {
                Ok(bytes) => {
                    self.db_size = Some(bytes);
                    ok_sources.push(Source::DatabaseSize);
                }
                Err(e) => {
                    tracing::warn!("database size failed: {e}");
                    stale.push(Source::DatabaseSize.label().into());
                    failed.push((Source::DatabaseSize, e));
                }
            }
        }
        if let Some(u) = usage {
            match u.value {
                Ok(n) => {
                    stats.usage_written = n;
                    ok_sources.push(Source::Usage);
                }
                Err(e) => {
                    tracing::warn!("usage rollup failed: {e}");
                    stale.push(Source::Usage.label().into());
                    failed.push((Source::Usage, e));
                }
            }
        }

        let inputs = merge::Inputs {
            sizes: sizes.as_ref().map(|s| s.rows.as_slice()),
            tables: tables
                .as_ref()
                .map(|s| (s.rows.as_slice(), s.at.map_or(now_ms, ms))),
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
        let mut reasons = ReasonPool::default();
        for t in &present {
            let prev = self.last.tenants.get(&t.id);
            let st = self.store.tenant_mut(t.id, now_ms);
            let mut m = merge::tenant_metrics(t, prev, st, &inputs);
            if let Some(d) = self.drift.get(&t.id) {
                m.drift = Arc::clone(d);
            }
            m.health = health::score_pooled(t, &m, &self.thresholds, now, &mut reasons);
            conditions.extend(tenant_conditions(t, &m, &self.thresholds));
            out.push(m);
        }
        // This tick's rows (at 50,000 tenants about 16 MB with their maps)
        // go before the rest of the fold allocates: the new snapshot is
        // complete and the last one still held, the tick's peak.
        drop(inputs);
        drop((sessions, sizes, tables, statements));
        let extras = self.neighbours.apply(
            extras.as_ref(),
            &present,
            &mut out,
            &self.last.tenants,
            now_ms,
        );
        let writes: Vec<f64> = out.iter().filter_map(|m| m.writes_per_s).collect();
        let out = TenantMap::from(out);

        let mut cluster = self.cluster_totals(totals.as_ref());
        cluster.calls_per_s = extras.calls_per_s;
        cluster.wal_bytes_per_s = extras.wal_bytes_per_s;
        cluster.writes_per_s = (!writes.is_empty()).then(|| writes.iter().sum());
        conditions.extend(cluster_conditions(&cluster, &self.thresholds));
        let blocking = match &blocking {
            Some(rows) => neighbours::blocking_chains(rows, &present, now),
            None => self.last.blocking.clone(),
        };
        let name_of: HashMap<Uuid, &str> =
            present.iter().map(|t| (t.id, t.name.as_str())).collect();
        conditions.extend(crate::domain::activity::blocking_conditions(
            &blocking,
            |id| name_of.get(&id).map(|n| (*n).to_string()),
            &self.thresholds,
        ));
        self.alerts.observe(now, conditions);
        for (src, e) in failed {
            self.alerts.operation_failed(
                now,
                None,
                src.label(),
                format!("monitoring {} failed: {}", src.label(), e.message),
            );
        }
        for src in ok_sources {
            self.alerts.operation_succeeded(now, None, src.label());
        }

        let hit_pct = cluster.cache_hit_ratio.map(|r| r * 100.0);
        let cluster_point = [
            cluster.commits_per_s,
            Some(f64::from(cluster.connections)),
            hit_pct,
            Some(cluster.database_bytes as f64),
            cluster.calls_per_s,
            cluster.wal_bytes_per_s,
            cluster.writes_per_s,
        ];
        self.store.push(
            now,
            |id| match out.get(id) {
                Some(m) => [
                    m.calls_per_s,
                    m.writes_per_s,
                    Some(m.size_bytes as f64),
                    Some(f64::from(m.sessions_total)),
                    Some(f64::from(m.health.score)),
                ],
                None => [None; 5],
            },
            cluster_point,
        );
        if self.monitoring.record_usage {
            self.roll_usage(now_ms, &present);
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
            blocking,
        });
        self.last = snap.clone();
        self.stats = stats;
        Ok(snap)
    }

    /// Record measured sizes; locked and failed tenants go to the back of
    /// the queue, those not reached stay at the front. Returns how many
    /// were measured.
    /// Usage rows of a closed period not yet handed to a plan.
    pub fn take_usage_rows(&mut self) -> Option<Vec<UsageRow>> {
        self.usage_rows.take()
    }

    /// The result of writing usage rows outside a tick.
    pub fn usage_written(&mut self, r: Read<u64>, leader: bool) {
        self.usage_leader = leader;
        match r.value {
            Ok(n) => self.stats.usage_written += n,
            Err(e) => {
                tracing::warn!("usage rollup failed: {e}");
                let now = self.last.taken_at;
                self.alerts.operation_failed(
                    now,
                    None,
                    Source::Usage.label(),
                    format!("monitoring {} failed: {}", Source::Usage.label(), e.message),
                );
            }
        }
    }

    fn apply_sweep(
        &mut self,
        sweep: &super::sampler::SweepReading,
        present: &HashSet<Uuid>,
        now_ms: i64,
    ) -> usize {
        let mut done: HashSet<Uuid> = HashSet::new();
        let mut retry: Vec<Uuid> = Vec::new();
        let mut measured = 0;
        for (id, bytes, locked, at) in &sweep.measured {
            done.insert(*id);
            if *locked > 0 {
                retry.push(*id);
                continue;
            }
            if present.contains(id) {
                let at = at.map_or(now_ms, ms);
                self.store.tenant_mut(*id, now_ms).exact = Some((*bytes, at));
                measured += 1;
            }
        }
        for id in &sweep.failed {
            done.insert(*id);
            retry.push(*id);
        }
        self.sweep_queue.retain(|id| !done.contains(id));
        self.sweep_queue.extend(retry);
        measured
    }

    fn apply_drift(&mut self, present: &[&MonitoredTenant], missing: super::sampler::Missing) {
        let by_schema: HashMap<&str, Uuid> = present
            .iter()
            .map(|t| (t.schema_name.as_str(), t.id))
            .collect();
        self.drift.clear();
        // One allocation per distinct list, however many tenants share it
        // (the check shares equal lists; a catalog difference added to
        // some makes new ones).
        let mut lists: ListPool<String> = ListPool::default();
        for (schema, names) in missing {
            if let Some(id) = by_schema.get(schema.as_str()) {
                self.drift.insert(*id, lists.share(&names));
            }
        }
        if let Some(key) = self.drift_pending.take() {
            self.drift_key = key;
        }
    }

    /// Close the usage period when the server clock enters a new one: the
    /// rows of the closed period go out with the next plan (the sampler
    /// writes them when it holds the writer lock).
    fn roll_usage(&mut self, now_ms: i64, present: &[&MonitoredTenant]) {
        let period = self.usage_period_ms;
        let bucket = now_ms.div_euclid(period);
        let closing = match self.usage_bucket {
            Some(b) if b != bucket => Some(b),
            _ => None,
        };
        self.usage_bucket = Some(bucket);
        let Some(old) = closing else {
            return;
        };
        let minute = DateTime::from_timestamp_millis(old * period).unwrap_or_default();
        let mut rows = Vec::with_capacity(present.len());
        for t in present {
            let st = self.store.tenant_mut(t.id, now_ms);
            let u = std::mem::take(&mut st.usage);
            // The level value carries on into the new period.
            st.usage.bytes = u.bytes;
            rows.push(UsageRow {
                tenant_id: t.id,
                minute,
                bytes: i64::try_from(u.bytes).unwrap_or(i64::MAX),
                connections: i32::try_from(u.max_connections).unwrap_or(i32::MAX),
                calls: u
                    .statements_seen
                    .then(|| i64::try_from(u.calls).unwrap_or(i64::MAX)),
                exec_ms: u.statements_seen.then_some(u.exec_ms),
                rows_written: i64::try_from(u.rows_written).unwrap_or(i64::MAX),
            });
        }
        self.usage_rows.get_or_insert_with(Vec::new).extend(rows);
    }

    fn cluster_totals(&mut self, totals: Option<&TotalsRow>) -> ClusterTotals {
        let Some(t) = totals else {
            let mut last = self.last.totals.clone();
            last.database_bytes = self.db_size.unwrap_or(last.database_bytes);
            return last;
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
            ..ClusterTotals::default()
        }
    }
}
