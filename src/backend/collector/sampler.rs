//! The sampler: owns the two monitoring connections and does every await of
//! a tick, following a [`Plan`] the monitor made, and returns the raw
//! [`Readings`] with the server time each lane read them at. It judges
//! nothing: rates, health and alerts are the monitor's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_postgres::{AsyncMessage, Client};
use uuid::Uuid;

use crate::config::{MonitoringConfig, TimescaleMode};
use crate::db::Db;
use crate::db::activity::{self, LockRow, StatementExtraRow};
use crate::db::metrics::{
    self as q, Sample, SessionRow, SizeRow, StatementsRead, StatementsSource, TableCounters,
    TimescaleSource, TotalsRow,
};
use crate::db::template_probe::{self, VersionReference};
use crate::db::usage::{self, UsageRow};
use crate::domain::metrics::MonitoredTenant;
use crate::error::{Error, Result};

/// How often (in ticks) pg_stat_statements is looked for again.
const DETECT_EVERY: u64 = 30;

/// A source of monitoring readings. Its label names it in
/// [`crate::domain::metrics::Snapshot::stale`] and in the failure alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Sessions,
    Sizes,
    Totals,
    TableStatistics,
    Statements,
    ExactSizes,
    Drift,
    DatabaseSize,
    Usage,
    Blocking,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Sessions => "sessions",
            Source::Sizes => "sizes",
            Source::Totals => "totals",
            Source::TableStatistics => "table statistics",
            Source::Statements => "statements",
            Source::ExactSizes => "exact sizes",
            Source::Drift => "drift",
            Source::DatabaseSize => "database size",
            Source::Usage => "usage",
            Source::Blocking => "blocking",
        }
    }
}

/// What one source gave: its value or error, and how long it took.
#[derive(Debug)]
pub struct Read<T> {
    pub took: Duration,
    pub value: Result<T>,
}

impl<T> Read<T> {
    fn lost() -> Self {
        Self {
            took: Duration::ZERO,
            value: Err(Error::failure("monitoring connection lost")),
        }
    }
}

/// Template objects missing per schema: `(schema, missing names)`.
pub type Missing = Vec<(String, Arc<[String]>)>;
/// Drift groups: the schemas, the names each of them should have, and for
/// the tenants of one version of a SQL-string template that reference and
/// version (their catalogs are compared with a schema built from it).
pub type DriftGroups = Vec<(
    Vec<String>,
    Vec<String>,
    Option<(Arc<crate::domain::targets::Reference>, i32)>,
)>;

/// What the monitor asks of one tick.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub targets: Arc<Vec<MonitoredTenant>>,
    /// Tenants to measure exactly, in order, at most the per-tick batch.
    pub sweep: Vec<(Uuid, String)>,
    /// Drift groups (schemas, names each should have), when a check is due.
    pub drift: Option<DriftGroups>,
    pub database_size: bool,
    /// Read the last activity of each tenant within this window from
    /// recorded usage (the first tick).
    pub activity_seed: Option<Duration>,
    /// Read the usage writer lock's state and write these closed-period rows.
    pub usage: Option<Vec<UsageRow>>,
}

/// The exact sizes measured this tick.
#[derive(Debug, Default)]
pub struct SweepReading {
    /// (tenant, bytes, relations skipped as locked, server ms).
    pub measured: Vec<(Uuid, u64, u32, Option<DateTime<Utc>>)>,
    /// Tenants of a failed chunk.
    pub failed: Vec<Uuid>,
    pub error: Option<Error>,
    pub took: Duration,
}

/// Everything a tick read, raw.
#[derive(Debug)]
pub struct Readings {
    /// The targets of the plan these readings follow.
    pub targets: Arc<Vec<MonitoredTenant>>,
    /// `Err` when no monitoring connection could be opened.
    pub connection: Result<()>,
    /// Whether both connections were gone at the end of the fast lanes.
    pub lanes_lost: bool,
    pub sessions: Read<Sample<SessionRow>>,
    pub sizes: Read<Sample<SizeRow>>,
    pub totals: Read<TotalsRow>,
    pub tables: Read<Sample<(String, TableCounters)>>,
    pub statements: Read<StatementsRead>,
    /// The statements' extras per role (WAL, temp, buffers), read by the
    /// same query; `None` when it failed or pg_stat_statements is absent.
    pub extras: Option<Sample<StatementExtraRow>>,
    /// Sessions waiting on locks and those they wait for.
    pub blocking: Read<Sample<LockRow>>,
    /// Wall time of the fast lanes (both at once).
    pub fast_wall: Duration,
    pub sweep: SweepReading,
    pub drift: Option<Read<Missing>>,
    pub database_size: Option<Read<u64>>,
    pub activity_seed: Option<HashMap<Uuid, i64>>,
    /// Whether this console holds the usage writer lock, and rows written.
    pub usage: Option<Read<u64>>,
    pub usage_leader: bool,
    /// Wall time of drift and database size.
    pub slow_wall: Duration,
}

impl Readings {
    /// Readings of a tick that found no connection.
    pub fn unconnected(targets: Arc<Vec<MonitoredTenant>>, e: Error) -> Self {
        Self {
            targets,
            connection: Err(e),
            lanes_lost: true,
            sessions: Read::lost(),
            sizes: Read::lost(),
            totals: Read::lost(),
            tables: Read::lost(),
            statements: Read::lost(),
            extras: None,
            blocking: Read::lost(),
            fast_wall: Duration::ZERO,
            sweep: SweepReading::default(),
            drift: None,
            database_size: None,
            activity_seed: None,
            usage: None,
            usage_leader: false,
            slow_wall: Duration::ZERO,
        }
    }
}

struct Lane {
    client: Client,
    _messages: tokio::sync::mpsc::UnboundedReceiver<AsyncMessage>,
}

/// The monitoring connections and what is known about the server.
pub struct Sampler {
    monitoring: MonitoringConfig,
    lanes: [Option<Lane>; 2],
    statements: Option<StatementsSource>,
    /// TimescaleDB, detected once per monitoring session (again after a
    /// reconnect, or after a query found its catalog gone).
    timescale: Option<TimescaleSource>,
    ticks: u64,
    usage_leader: bool,
    /// Whether references are built with hypertables (as `create` would).
    timescale_mode: TimescaleMode,
    /// Reference catalogs of SQL-string templates by (content hash,
    /// version), built once on a lane; `None` where it could not be built
    /// (those tenants are checked by name only). Cleared on reconnect.
    references: HashMap<(String, i32), Option<Arc<VersionReference>>>,
    /// Catalog drift of SQL-string-template tenants, by schema, as last
    /// found: each check digests one window of at most [`DIGEST_WINDOW`]
    /// schemas (rotating through the fleet by `digest_next`), and the
    /// others keep what their last window found.
    catalog_drift: HashMap<String, Vec<String>>,
    digest_next: usize,
    /// Schemas one drift check digests ([`DIGEST_WINDOW`] unless set).
    digest_window: usize,
}

/// Schemas whose catalogs one drift check digests. The digest decompiles
/// column defaults, and `pg_get_expr` takes ACCESS SHARE on each table: a
/// window bounds the locks one query holds (the shared lock table has
/// `max_locks_per_transaction × max_connections` slots) and its time
/// (about 0.3 ms a tenant), so drift keeps working at 50,000 tenants; each
/// tenant is re-checked every `n / DIGEST_WINDOW` slow ticks.
pub const DIGEST_WINDOW: usize = 500;

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("ticks", &self.ticks)
            .field("lanes", &self.lanes.iter().filter(|l| l.is_some()).count())
            .finish_non_exhaustive()
    }
}

async fn timed<T>(limit: Duration, f: impl std::future::Future<Output = Result<T>>) -> Read<T> {
    let start = Instant::now();
    let value = match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(Error::failure(format!(
            "no answer within {} ms",
            limit.as_millis()
        ))),
    };
    Read {
        took: start.elapsed(),
        value,
    }
}

impl Sampler {
    pub fn new(monitoring: &MonitoringConfig) -> Self {
        Self {
            monitoring: monitoring.clone(),
            lanes: [None, None],
            statements: None,
            timescale: None,
            ticks: 0,
            usage_leader: false,
            timescale_mode: TimescaleMode::Auto,
            references: HashMap::new(),
            catalog_drift: HashMap::new(),
            digest_next: 0,
            digest_window: DIGEST_WINDOW,
        }
    }

    /// Digest at most `n` schemas per drift check (at least one) instead
    /// of [`DIGEST_WINDOW`]: the others keep what their last check found.
    #[must_use]
    pub fn with_digest_window(mut self, n: usize) -> Self {
        self.digest_window = n.max(1);
        self
    }

    /// Build the reference catalogs of SQL-string templates as `create`
    /// builds tenants under this `timescaledb` setting (default `auto`).
    #[must_use]
    pub fn with_timescale_mode(mut self, mode: TimescaleMode) -> Self {
        self.references.clear();
        self.timescale_mode = mode;
        self
    }

    /// Drop the connections (the usage writer lock goes with them); the next
    /// tick reconnects.
    pub fn disconnect(&mut self) {
        self.lanes = [None, None];
        self.usage_leader = false;
    }

    /// Whether this sampler holds the usage writer lock.
    pub fn is_usage_writer(&self) -> bool {
        self.usage_leader
    }

    fn drop_closed_lanes(&mut self) {
        for i in 0..2 {
            if self.lanes[i].as_ref().is_some_and(|l| l.client.is_closed()) {
                self.lanes[i] = None;
                if i == 0 {
                    self.usage_leader = false;
                }
            }
        }
    }

    async fn ensure_lanes(&mut self, db: &Db) -> Result<()> {
        let timeout_ms = self.monitoring.query_timeout.0.as_millis();
        self.drop_closed_lanes();
        let mut last_err = None;
        for lane in &mut self.lanes {
            if lane.is_none() {
                match db.dedicated().await {
                    Ok((client, rx)) => match q::prepare_session(&client, timeout_ms).await {
                        Ok(()) => {
                            self.timescale = None;
                            self.references.clear();
                            self.catalog_drift.clear();
                            *lane = Some(Lane {
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

    fn any_lane(&self, prefer: usize) -> Option<&Client> {
        self.lanes[prefer]
            .as_ref()
            .or(self.lanes[1 - prefer].as_ref())
            .map(|l| &l.client)
    }

    /// Run one tick's queries as planned. Never fails: what failed is in
    /// the readings.
    pub async fn sample(&mut self, db: &Db, plan: &Plan) -> Readings {
        if let Err(e) = self.ensure_lanes(db).await {
            return Readings::unconnected(Arc::clone(&plan.targets), e);
        }
        self.ticks += 1;
        let limit = self.monitoring.query_timeout.0 + Duration::from_secs(1);
        // pg_stat_statements: detect now and then, and after it vanished.
        if self.statements.is_none() || self.ticks % DETECT_EVERY == 1 {
            if let Some(c) = self.any_lane(1) {
                match q::detect_statements(c).await {
                    Ok(src) => self.statements = Some(src),
                    Err(e) => tracing::warn!("cannot detect pg_stat_statements: {e}"),
                }
            }
        }
        let src = self.statements.clone().unwrap_or(StatementsSource::Absent);
        if self.timescale.is_none() {
            if let Some(c) = self.any_lane(0) {
                match q::detect_timescale(c).await {
                    Ok(ts) => self.timescale = Some(ts),
                    Err(e) => tracing::warn!("cannot detect TimescaleDB: {e}"),
                }
            }
        }
        let ts = self.timescale.clone().unwrap_or(TimescaleSource::Absent);

        let started = Instant::now();
        let lane_a = self.lanes[0].as_ref().map(|l| &l.client);
        let lane_b = self.lanes[1].as_ref().map(|l| &l.client);
        let ((sessions, sizes, totals, blocking), (tables, with_extras)) = tokio::join!(
            async {
                let Some(c) = lane_a else {
                    return (Read::lost(), Read::lost(), Read::lost(), Read::lost());
                };
                let sessions = timed(limit, q::sessions(c)).await;
                let sizes = timed(limit, q::approx_sizes(c, &ts)).await;
                let totals = timed(limit, q::totals(c)).await;
                let blocking = timed(limit, activity::blocking(c)).await;
                (sessions, sizes, totals, blocking)
            },
            async {
                let Some(c) = lane_b else {
                    return (Read::lost(), Read::lost());
                };
                let t = timed(limit, q::table_counters(c, &ts)).await;
                let s = timed(limit, activity::statements_with_extras(c, &src)).await;
                (t, s)
            }
        );
        // One query gave both the base statement rows and their extras.
        let (statements, extras) = match with_extras.value {
            Ok(w) => (
                Read {
                    took: with_extras.took,
                    value: Ok(w.base),
                },
                w.extras,
            ),
            Err(e) => (
                Read {
                    took: with_extras.took,
                    value: Err(e),
                },
                None,
            ),
        };
        let fast_wall = started.elapsed();
        if let Ok(StatementsRead::Vanished) = &statements.value {
            self.statements = Some(StatementsSource::Absent);
        }
        if ts.chunks() && (sizes.value.is_err() || tables.value.is_err()) {
            // Dropped or upgraded meanwhile: look again next tick.
            self.timescale = None;
        }
        self.drop_closed_lanes();
        let lanes_lost = self.lanes.iter().all(Option::is_none);
        let mut out = Readings {
            targets: Arc::clone(&plan.targets),
            connection: Ok(()),
            lanes_lost,
            sessions,
            sizes,
            totals,
            tables,
            statements,
            extras,
            blocking,
            fast_wall,
            sweep: SweepReading::default(),
            drift: None,
            database_size: None,
            activity_seed: None,
            usage: None,
            usage_leader: self.usage_leader,
            slow_wall: Duration::ZERO,
        };
        if lanes_lost {
            return out;
        }
        if let Some(window) = plan.activity_seed {
            out.activity_seed = Some(self.activity_seed(db, window).await);
        }
        out.sweep = self.sweep(&plan.sweep, &ts).await;
        let slow_start = Instant::now();
        if let Some(groups) = &plan.drift {
            out.drift = Some(self.drift(groups, limit).await);
        }
        if plan.database_size {
            out.database_size = Some(match self.any_lane(0) {
                Some(c) => timed(limit, q::database_size(c, q::CATALOG_SIZE_ABOVE)).await,
                None => Read::lost(),
            });
        }
        out.slow_wall = slow_start.elapsed();
        if let Some(rows) = &plan.usage {
            out.usage = Some(self.write_usage(db, rows).await);
            out.usage_leader = self.usage_leader;
        }
        out
    }

    async fn drift(&mut self, groups: &DriftGroups, limit: Duration) -> Read<Missing> {
        self.build_references(groups, limit).await;
        let mut cache = std::mem::take(&mut self.catalog_drift);
        let mut next = self.digest_next;
        let r = self
            .drift_window(groups, limit, &mut cache, &mut next)
            .await;
        self.catalog_drift = cache;
        self.digest_next = next;
        r
    }

    async fn drift_window(
        &self,
        groups: &DriftGroups,
        limit: Duration,
        cache: &mut HashMap<String, Vec<String>>,
        next: &mut usize,
    ) -> Read<Missing> {
        let Some(c) = self.any_lane(0) else {
            return Read::lost();
        };
        let refs: Vec<Vec<&str>> = groups
            .iter()
            .map(|(s, _, _)| s.iter().map(String::as_str).collect())
            .collect();
        let query: Vec<q::DriftGroup<'_>> = refs
            .iter()
            .zip(groups)
            .map(|(schemas, (_, names, _))| q::DriftGroup { schemas, names })
            .collect();
        // SQL-string templates: every schema of a group with a reference,
        // compared by catalog beyond the names.
        let mut checked: Vec<(&str, &VersionReference, &[String])> = Vec::new();
        for (schemas, (_, names, r)) in refs.iter().zip(groups) {
            let Some((reference, v)) = r else { continue };
            let key = (reference.content_hash.clone(), *v);
            if let Some(Some(vr)) = self.references.get(&key) {
                checked.extend(schemas.iter().map(|s| (*s, vr.as_ref(), names.as_slice())));
            }
        }
        // This check's window of the reference-checked schemas.
        let n = checked.len();
        let start = if *next < n { *next } else { 0 };
        let window: Vec<(&str, &VersionReference, &[String])> = checked
            .iter()
            .cycle()
            .skip(start)
            .take(n.min(self.digest_window))
            .copied()
            .collect();
        timed(limit, async {
            let mut missing = q::drift(c, &query).await?;
            if checked.is_empty() {
                cache.clear();
                return Ok(missing);
            }
            let found = template_probe::catalog_drift(c, &window).await?;
            for (schema, _, _) in &window {
                cache.remove(*schema);
            }
            cache.extend(found);
            // Forget schemas no longer checked (deleted, another template).
            if cache.len() > n {
                let live: std::collections::HashSet<&str> = checked.iter().map(|c| c.0).collect();
                cache.retain(|s, _| live.contains(s.as_str()));
            }
            *next = (start + window.len()) % n.max(1);
            let mut at: HashMap<String, usize> = missing
                .iter()
                .enumerate()
                .map(|(i, (s, _))| (s.clone(), i))
                .collect();
            for (schema, more) in cache.iter() {
                if let Some(&i) = at.get(schema) {
                    missing[i].1 = missing[i].1.iter().chain(more).cloned().collect();
                } else {
                    at.insert(schema.clone(), missing.len());
                    missing.push((schema.clone(), Arc::from(more.as_slice())));
                }
            }
            Ok(missing)
        })
        .await
    }

    /// Build the references of the planned SQL-string template versions
    /// not built yet (one rolled-back transaction per template, on a
    /// lane), and forget those no longer planned.
    async fn build_references(&mut self, groups: &DriftGroups, limit: Duration) {
        let wanted: std::collections::HashSet<(String, i32)> = groups
            .iter()
            .filter_map(|(_, _, r)| r.as_ref())
            .map(|(r, v)| (r.content_hash.clone(), *v))
            .collect();
        self.references.retain(|k, _| wanted.contains(k));
        let mut due: Vec<(&crate::domain::targets::Reference, Vec<i32>)> = Vec::new();
        for (r, v) in groups.iter().filter_map(|(_, _, r)| r.as_ref()) {
            if self.references.contains_key(&(r.content_hash.clone(), *v)) {
                continue;
            }
            match due
                .iter_mut()
                .find(|(d, _)| d.content_hash == r.content_hash)
            {
                Some((_, vs)) if !vs.contains(v) => vs.push(*v),
                Some(_) => {}
                None => due.push((r.as_ref(), vec![*v])),
            }
        }
        let (mode, timeout_ms) = (self.timescale_mode, limit.as_millis());
        for (r, versions) in due {
            let i = usize::from(self.lanes[0].is_none());
            let Some(c) = self.lanes[i].as_mut().map(|l| &mut l.client) else {
                return;
            };
            let built = tokio::time::timeout(
                limit,
                template_probe::references(c, &r.template, &versions, mode, timeout_ms),
            )
            .await
            .unwrap_or_else(|_| {
                Err(Error::failure(format!(
                    "no answer within {} ms",
                    limit.as_millis()
                )))
            });
            let name = &r.template.name;
            match built {
                Ok(mut by_version) => {
                    for v in versions {
                        let value = match by_version.remove(&v) {
                            Some(Ok(vr)) => Some(Arc::new(vr)),
                            Some(Err(e)) => {
                                tracing::warn!(
                                    "template {name} v{v}: no reference catalog, its tenants' drift is checked by name only: {e}"
                                );
                                None
                            }
                            None => None,
                        };
                        self.references.insert((r.content_hash.clone(), v), value);
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        "template {name}: cannot build its reference catalogs, its tenants' drift is checked by name only: {e}"
                    );
                    for v in versions {
                        self.references.insert((r.content_hash.clone(), v), None);
                    }
                }
            }
        }
    }

    /// Recorded usage tells when each tenant was last active, so the
    /// inactivity rule does not wait a day after every console start.
    async fn activity_seed(&self, db: &Db, window: Duration) -> HashMap<Uuid, i64> {
        let Some(c) = self.any_lane(0) else {
            return HashMap::new();
        };
        match usage::recent_activity(c, &db.schema, window).await {
            Ok(rows) => rows
                .into_iter()
                .map(|(id, at)| (id, at.timestamp_millis()))
                .collect(),
            Err(e) => {
                tracing::info!("no activity history from usage samples: {e}");
                HashMap::new()
            }
        }
    }

    /// Measure the planned tenants exactly, in chunks, while within
    /// `exact_sweep_budget`; those not reached stay for the next tick.
    async fn sweep(&self, planned: &[(Uuid, String)], ts: &TimescaleSource) -> SweepReading {
        let mut out = SweepReading::default();
        let budget = self.monitoring.exact_sweep_budget.0;
        if budget.is_zero() || planned.is_empty() {
            return out;
        }
        let Some(c) = self.any_lane(1) else {
            out.failed = planned.iter().map(|(id, _)| *id).collect();
            out.error = Some(Error::failure("monitoring connection lost"));
            return out;
        };
        let start = Instant::now();
        for chunk in planned.chunks(25) {
            if start.elapsed() >= budget {
                break;
            }
            let schemas: Vec<String> = chunk.iter().map(|(_, s)| s.clone()).collect();
            let by_schema: HashMap<&str, Uuid> =
                chunk.iter().map(|(id, s)| (s.as_str(), *id)).collect();
            match q::exact_sizes(c, &schemas, ts).await {
                Ok(sample) => {
                    for (schema, bytes, locked) in sample.rows {
                        if let Some(id) = by_schema.get(schema.as_str()) {
                            out.measured.push((*id, bytes, locked, sample.at));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("exact size sweep failed: {e}");
                    out.failed.extend(chunk.iter().map(|(id, _)| *id));
                    out.error = Some(e);
                    break;
                }
            }
        }
        out.took = start.elapsed();
        out
    }

    /// Write closed-period usage rows when this sampler is (or becomes) the
    /// elected writer; 0 rows otherwise.
    pub async fn write_usage(&mut self, db: &Db, rows: &[UsageRow]) -> Read<u64> {
        let start = Instant::now();
        let Some(c) = self.lanes[0].as_ref().map(|l| &l.client) else {
            return Read::lost();
        };
        let value = async {
            // Renewed at every period: a lease that lapses (a hung console)
            // goes to another one; a closed session frees it at once.
            self.usage_leader = usage::try_elect(c, &db.schema).await?;
            if self.usage_leader {
                usage::write(c, &db.schema, rows).await
            } else {
                Ok(0)
            }
        }
        .await;
        Read {
            took: start.elapsed(),
            value,
        }
    }
}
