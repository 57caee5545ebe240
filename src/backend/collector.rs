//! The monitoring engine, in two halves:
//!
//! - [`Sampler`] owns two dedicated connections (so a tick never borrows,
//!   or re-configures, pooled ones) and does every await: per tick, lane A
//!   runs sessions, approximate sizes and cluster totals; lane B runs table
//!   statistics and statement totals (pg_stat_statements, when installed);
//!   then a slice of the exact-size sweep within its time budget; every
//!   15th tick the database size and (when template objects are known) the
//!   drift check in one set operation; the usage rows when elected writer.
//! - [`Monitor`] owns the store, the merge, health and the alert book, and
//!   folds the raw readings into a snapshot and alerts as a pure function
//!   of (readings, now). A source that failed keeps its previous values, is
//!   listed in [`Snapshot::stale`] and raises a failed-operation alert until
//!   it answers again.
//!
//! The console backend keeps the monitor in its session task (history is
//! answered at once, never behind a tick) and lends the sampler to a
//! spawned task per tick. [`Collector`] puts the two together for `top`,
//! `health`, the demo, tests and benchmarks.

use std::sync::Arc;

use chrono::Utc;

#[cfg(test)]
mod fold_tests;
mod merge;
pub mod monitor;
mod neighbours;
pub mod sampler;

pub use monitor::{Monitor, TickStats};
pub use sampler::{Plan, Readings, Sampler, Source};

use crate::config::MonitoringConfig;
use crate::db::Db;
use crate::domain::metrics::{MonitoredTenant, Snapshot};
use crate::domain::thresholds::Thresholds;
use crate::error::Result;

/// A sampler and a monitor, ticked in turn.
#[derive(Debug)]
pub struct Collector {
    pub sampler: Sampler,
    pub monitor: Monitor,
}

impl Collector {
    pub fn new(monitoring: &MonitoringConfig, thresholds: &Thresholds) -> Self {
        Self {
            sampler: Sampler::new(monitoring),
            monitor: Monitor::new(monitoring, thresholds),
        }
    }

    /// One tick over `targets` (active and suspended rows): plan, sample,
    /// fold, then write the usage rows of a period that just closed. A
    /// connection failure is an error (and raises the connection-lost
    /// alert) while the previous snapshot stays available.
    pub async fn tick(&mut self, db: &Db, targets: &[MonitoredTenant]) -> Result<Arc<Snapshot>> {
        let targets = Arc::new(targets.to_vec());
        self.tick_shared(db, &targets).await
    }

    /// [`Self::tick`] without copying a shared target list.
    pub async fn tick_shared(
        &mut self,
        db: &Db,
        targets: &Arc<Vec<MonitoredTenant>>,
    ) -> Result<Arc<Snapshot>> {
        let plan = self.monitor.plan(targets);
        let readings = self.sampler.sample(db, &plan).await;
        let snap = self.monitor.fold(readings, Utc::now())?;
        if let Some(rows) = self.monitor.take_usage_rows() {
            let r = self.sampler.write_usage(db, &rows).await;
            self.monitor
                .usage_written(r, self.sampler.is_usage_writer());
        }
        Ok(snap)
    }

    /// Every kept alert, newest first.
    pub fn alerts(&self) -> Vec<crate::domain::metrics::Alert> {
        self.monitor.alerts()
    }

    /// Whether this console holds the usage writer lock.
    pub fn is_usage_writer(&self) -> bool {
        self.sampler.is_usage_writer()
    }

    /// Drop the connections; the next tick reconnects.
    pub fn disconnect(&mut self) {
        self.sampler.disconnect();
    }
}
