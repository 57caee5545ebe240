//! The Migrations pane's state: the newest runs, the selected run's tenants
//! (failures first), which list has the cursor, and what is in flight.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::runs::{RunSummary, RunTenant};

/// How often the open pane re-reads a run that is moving.
pub const REFRESH: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

#[derive(Debug, Clone, Default)]
pub struct MigrationsState {
    /// Newest first.
    pub runs: Vec<RunSummary>,
    /// Index into `runs`.
    pub cursor: usize,
    /// The run `tenants` belong to.
    pub run: Option<Uuid>,
    /// Failures first.
    pub tenants: Vec<RunTenant>,
    pub tenant_cursor: usize,
    /// The cursor is in the tenant list (else in the run list).
    pub on_tenants: bool,
    /// A `LoadMigrations` is in flight (coalesce).
    pub loading: bool,
    /// A change was announced while loading: load again when it arrives.
    pub stale: bool,
    /// When the last answer arrived.
    pub loaded_at: Option<DateTime<Utc>>,
    /// Opened for this template (the detail's "version behind"): select its
    /// newest run when the runs arrive.
    pub want_template: Option<String>,
}

impl MigrationsState {
    /// The run under the cursor.
    pub fn selected(&self) -> Option<&RunSummary> {
        self.runs.get(self.cursor)
    }

    /// A run is moving: the pane re-reads it every [`REFRESH`].
    pub fn live(&self) -> bool {
        self.runs
            .iter()
            .any(|r| r.is_running() || (r.ended_at.is_none() && r.remaining() > 0 && r.running > 0))
    }
}
