//! The slower duties of a tick: the exact-size sweep within its budget,
//! the schema drift check, the usage rollup of the elected writer, and the
//! activity history read on the first tick.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::DateTime;
use uuid::Uuid;

use super::{Collector, SLOW_EVERY};
use crate::backend::store::ms;
use crate::db::Db;
use crate::db::metrics as q;
use crate::db::usage::{self, UsageRow};
use crate::domain::metrics::MonitoredTenant;
use crate::error::{Error, Result};

impl Collector {
    /// `pg_database_size`, kept until the next measurement.
    pub(super) async fn measure_database_size(&mut self) -> Result<()> {
        let Some(lane) = self.lanes[0].as_ref().or(self.lanes[1].as_ref()) else {
            return Err(Error::failure("no monitoring connection"));
        };
        self.db_size = Some(q::database_size(&lane.client).await?);
        Ok(())
    }

    /// Recorded usage tells when each tenant was last active, so the
    /// inactivity rule does not wait a day after every console start.
    pub(super) async fn load_activity_seed(&self, db: &Db) -> HashMap<Uuid, i64> {
        let Some(lane) = self.lanes[0].as_ref().or(self.lanes[1].as_ref()) else {
            return HashMap::new();
        };
        let window = self.thresholds.inactive.0 + Duration::from_secs(300);
        match usage::recent_activity(&lane.client, &db.schema, window).await {
            Ok(rows) => rows.into_iter().map(|(id, at)| (id, ms(at))).collect(),
            Err(e) => {
                tracing::info!("no activity history from usage samples: {e}");
                HashMap::new()
            }
        }
    }

    /// Measure up to `exact_sweep_batch` tenants exactly, in chunks, while
    /// within `exact_sweep_budget`. Returns (measured, whether a chunk failed).
    pub(super) async fn sweep(
        &mut self,
        present: &[&MonitoredTenant],
        now_ms: i64,
    ) -> (usize, bool) {
        let budget = self.monitoring.exact_sweep_budget.0;
        let per_tick = self.monitoring.exact_sweep_batch;
        if budget.is_zero() || per_tick == 0 || present.is_empty() {
            return (0, false);
        }
        let schema_of: HashMap<Uuid, &str> = present
            .iter()
            .map(|t| (t.id, t.schema_name.as_str()))
            .collect();
        self.sweep_queue.retain(|id| schema_of.contains_key(id));
        if self.sweep_queue.is_empty() {
            // Never-measured tenants first, then the oldest measurement.
            let mut order: Vec<(i64, Uuid)> = present
                .iter()
                .map(|t| {
                    let at = self
                        .store
                        .tenant(&t.id)
                        .and_then(|s| s.exact)
                        .map_or(i64::MIN, |e| e.1);
                    (at, t.id)
                })
                .collect();
            order.sort_unstable();
            self.sweep_queue = order.into_iter().map(|(_, id)| id).collect();
        }
        let Some(lane) = self.lanes[1].as_ref().or(self.lanes[0].as_ref()) else {
            return (0, true);
        };
        let chunk = per_tick.clamp(1, 25);
        let start = Instant::now();
        let mut done = 0;
        let mut failed = false;
        let mut retry = Vec::new();
        while done < per_tick && start.elapsed() < budget && !self.sweep_queue.is_empty() {
            let n = chunk.min(per_tick - done).min(self.sweep_queue.len());
            let ids: Vec<Uuid> = self.sweep_queue.drain(..n).collect();
            let schemas: Vec<String> = ids
                .iter()
                .filter_map(|id| schema_of.get(id).map(|s| (*s).to_string()))
                .collect();
            let by_schema: HashMap<&str, Uuid> = ids
                .iter()
                .filter_map(|id| schema_of.get(id).map(|s| (*s, *id)))
                .collect();
            match q::exact_sizes(&lane.client, &schemas).await {
                Ok(sample) => {
                    let at = sample.at.map_or(now_ms, ms);
                    for (schema, bytes, locked) in sample.rows {
                        let Some(id) = by_schema.get(schema.as_str()).copied() else {
                            continue;
                        };
                        if locked > 0 {
                            retry.push(id);
                            continue;
                        }
                        self.store.tenant_mut(id, now_ms).exact = Some((bytes, at));
                    }
                }
                Err(e) => {
                    tracing::warn!("exact size sweep failed: {e}");
                    failed = true;
                    retry.extend(ids.iter().copied());
                    break;
                }
            }
            done += n;
        }
        let measured = done.saturating_sub(retry.len());
        self.sweep_queue.extend(retry);
        (measured, failed)
    }

    pub(super) async fn check_drift(&mut self, present: &[&MonitoredTenant]) -> Result<()> {
        // Tenants sharing a template share its expectations (one `Arc`):
        // group by them, so each list of names is built and sent once.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let mut groups: Vec<(&MonitoredTenant, Vec<&str>)> = Vec::new();
        let mut group_of: HashMap<(usize, usize), usize> = HashMap::new();
        for t in present {
            std::hash::Hash::hash(&t.id, &mut hasher);
            // By address: a template's lists are built once per tenant list.
            std::hash::Hash::hash(
                &Arc::as_ptr(&t.expected_tables).cast::<()>().addr(),
                &mut hasher,
            );
            std::hash::Hash::hash(
                &Arc::as_ptr(&t.expected_indexes).cast::<()>().addr(),
                &mut hasher,
            );
            if t.expected_tables.is_empty() && t.expected_indexes.is_empty() {
                continue;
            }
            let key = (
                Arc::as_ptr(&t.expected_tables).cast::<()>().addr(),
                Arc::as_ptr(&t.expected_indexes).cast::<()>().addr(),
            );
            let g = *group_of.entry(key).or_insert_with(|| {
                groups.push((t, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(&t.schema_name);
        }
        let key = std::hash::Hasher::finish(&hasher);
        if groups.is_empty() {
            self.drift.clear();
            return Ok(());
        }
        if key == self.drift_key && self.ticks % SLOW_EVERY != 1 {
            return Ok(());
        }
        let Some(lane) = self.lanes[0].as_ref().or(self.lanes[1].as_ref()) else {
            return Err(Error::failure("no monitoring connection"));
        };
        let names: Vec<Vec<String>> = groups
            .iter()
            .map(|(t, _)| {
                t.expected_tables
                    .iter()
                    .chain(t.expected_indexes.iter())
                    .cloned()
                    .collect()
            })
            .collect();
        let query_groups: Vec<q::DriftGroup<'_>> = groups
            .iter()
            .zip(&names)
            .map(|((_, schemas), names)| q::DriftGroup { schemas, names })
            .collect();
        let missing = q::drift(&lane.client, &query_groups).await?;
        let by_schema: HashMap<&str, Uuid> = present
            .iter()
            .map(|t| (t.schema_name.as_str(), t.id))
            .collect();
        self.drift.clear();
        // One allocation per distinct list, however many tenants share it.
        let mut lists: HashMap<Vec<String>, Arc<[String]>> = HashMap::new();
        for (schema, names) in missing {
            if let Some(id) = by_schema.get(schema.as_str()) {
                let list = lists
                    .entry(names)
                    .or_insert_with_key(|k| Arc::from(k.as_slice()))
                    .clone();
                self.drift.insert(*id, list);
            }
        }
        self.drift_key = key;
        Ok(())
    }

    /// Close the usage period when the server clock enters a new one: the
    /// elected writer inserts one row per tenant; the others drop theirs.
    pub(super) async fn roll_usage(
        &mut self,
        db: &Db,
        now_ms: i64,
        present: &[&MonitoredTenant],
    ) -> Result<u64> {
        let Some(lane) = self.lanes[0].as_ref() else {
            return Err(Error::failure("no monitoring connection for usage"));
        };
        // Renewed every tick: a lease that lapses goes to another console.
        self.usage.leader = usage::try_elect(&lane.client, &db.schema).await?;
        let period = self.usage.period_ms;
        let bucket = now_ms.div_euclid(period);
        let closing = match self.usage.bucket {
            Some(b) if b != bucket => Some(b),
            _ => None,
        };
        if self.usage.bucket.is_none() {
            self.usage.bucket = Some(bucket);
        }
        let Some(old) = closing else {
            return Ok(0);
        };
        self.usage.bucket = Some(bucket);
        let minute = DateTime::from_timestamp_millis(old * period).unwrap_or_default();
        let mut rows = Vec::with_capacity(present.len());
        for t in present {
            let st = self.store.tenant_mut(t.id, now_ms);
            let u = std::mem::take(&mut st.usage);
            // This tick's deltas belong to the new period; keep the level values.
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
        if !self.usage.leader {
            return Ok(0);
        }
        usage::write(&lane.client, &db.schema, &rows).await
    }
}
