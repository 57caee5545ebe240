//! The async task between the console (or CLI) and the database: Commands in,
//! Events out. It owns the pool, the collector timer, the metrics store and
//! the LISTEN connection, and reconnects with backoff. The console never
//! awaits SQL: it sends a [`Command`] and later receives an [`Event`].

pub mod collector;
pub mod fleet;
pub mod guard;
pub mod id_map;
mod migrations;
pub mod store;
mod task;

pub use task::{BackendHandle, spawn};

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::domain::audit::AuditEntry;
use crate::domain::metrics::{Alert, History, MonitoredTenant, Snapshot, TenantDetail};
use crate::domain::targets::TemplateSet;
use crate::domain::tenant::{NewTenant, Tenant, TenantUpdate};

/// Identifies a request so its result can be matched to it.
pub type RequestId = u64;

/// What the console asks of the backend.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Take a snapshot now, outside the timer.
    RefreshNow,
    /// Change the collector interval (0.5–60 s).
    SetInterval(Duration),
    /// Stop (true) or resume (false) collecting.
    Pause(bool),
    /// Reload the tenant list.
    LoadTenants,
    /// Create a tenant; progress and the result arrive as events.
    Create {
        id: RequestId,
        tenant: NewTenant,
    },
    Update {
        id: RequestId,
        tenant: Uuid,
        update: TenantUpdate,
    },
    Suspend {
        id: RequestId,
        tenant: Uuid,
        reason: Option<String>,
    },
    Resume {
        id: RequestId,
        tenant: Uuid,
    },
    /// Delete a suspended tenant; `confirm` must equal its domain.
    Delete {
        id: RequestId,
        tenant: Uuid,
        confirm: String,
        backup: bool,
    },
    /// Per-table, session and statement detail of one tenant.
    LoadDetail {
        tenant: Uuid,
    },
    /// Sparkline series for these tenants (and the cluster).
    LoadHistory {
        tenants: Vec<Uuid>,
    },
    /// The snapshot as kept `back` points before the newest (time travel
    /// while paused); answered by [`Event::At`].
    LoadAt {
        back: usize,
    },
    /// Audit rows, newest first; `None` for all tenants.
    LoadAudit {
        tenant: Option<Uuid>,
        limit: i64,
    },
    /// Cancel a backend's current statement.
    CancelSession {
        id: RequestId,
        tenant: Uuid,
        pid: i32,
    },
    /// Terminate a backend.
    TerminateSession {
        id: RequestId,
        tenant: Uuid,
        pid: i32,
    },
    /// Reconnect to another configured cluster.
    SwitchCluster(String),
    /// Stop the backend task.
    Shutdown,
    /// The templates the create wizard can offer; answered by [`Event::Templates`].
    LoadTemplates,
    /// The newest migration runs and the tenants of `run` (the newest run
    /// when `None`); answered by [`Event::Migrations`].
    LoadMigrations {
        run: Option<Uuid>,
    },
    /// Pause, resume or cancel a migration run. A resume drives the run in
    /// the backend (progress as [`Event::MigrationsChanged`]); the result
    /// arrives as `Done`/`Failed`.
    Migration {
        id: RequestId,
        run: Uuid,
        action: crate::domain::runs::RunAction,
    },
}

pub use crate::domain::progress::ProgressStep;

/// What the backend tells the console.
#[derive(Debug, Clone)]
pub enum Event {
    /// Connected (or reconnected) to a cluster.
    Connected {
        cluster: String,
        server_version: String,
        /// `host:port` actually connected to.
        endpoint: String,
        read_only: bool,
    },
    /// The connection is lost; the next attempt is in `retry_in`.
    Disconnected { error: String, retry_in: Duration },
    /// The full tenant list (sent on connect, on notification, on request),
    /// shared with the backend rather than copied.
    Tenants(Arc<Vec<Tenant>>),
    /// Another console or the CLI changed a tenant.
    TenantsChanged,
    /// A fast-tick snapshot.
    Snapshot(Arc<Snapshot>),
    /// Requested sparkline series.
    History(Vec<History>),
    /// Answer to [`Command::LoadAt`]: the snapshot of that instant, `None`
    /// past the oldest point kept.
    At {
        back: usize,
        snapshot: Option<Arc<Snapshot>>,
    },
    /// Requested detail of one tenant.
    Detail(Arc<TenantDetail>),
    /// Requested audit rows.
    Audit {
        tenant: Option<Uuid>,
        entries: Vec<AuditEntry>,
    },
    /// A step of a running creation finished.
    Progress { id: RequestId, step: ProgressStep },
    /// A request finished well; `message` is one sentence for the status line.
    Done {
        id: RequestId,
        message: String,
        tenant: Option<Box<Tenant>>,
    },
    /// A request failed: the error's one sentence and its kind (a
    /// conflict, a refusal, a missing tenant...), as the CLI has it.
    Failed { id: RequestId, error: crate::Error },
    /// Alerts changed (raised or cleared): the full current list.
    Alerts(Vec<Alert>),
    /// A notice for the status line.
    Notice(String),
    /// Answer to [`Command::LoadTemplates`]: every template in the template directory.
    Templates(Vec<TemplateSummary>),
    /// Answer to [`Command::LoadMigrations`]: the newest runs (newest
    /// first) and the tenants of `run`, failures first.
    Migrations {
        runs: Vec<crate::domain::runs::RunSummary>,
        run: Option<Uuid>,
        tenants: Vec<crate::domain::runs::RunTenant>,
    },
    /// A migration run moved (another process, or a resume driven here).
    MigrationsChanged,
}

/// The templates of `dir` as the expectations monitoring judges drift and
/// template versions against. Reading the directory is the edge's job; an
/// unreadable directory or template is the error to report.
pub fn load_template_set(dir: &crate::template_files::Lookup) -> crate::Result<TemplateSet> {
    Ok(TemplateSet::new(crate::template_files::list(dir)?.iter()))
}

/// What is monitored on this cluster, the same for every face (console,
/// `top`, `health`, the demo): the tenant rows with their templates'
/// expectations. Templates that cannot be read leave drift checks off and
/// are logged.
pub fn monitoring_targets(
    tenants: &[Tenant],
    template_dir: &crate::template_files::Lookup,
) -> Arc<Vec<MonitoredTenant>> {
    let set = load_template_set(template_dir).unwrap_or_else(|e| {
        tracing::warn!("templates unavailable (drift checks off): {e}");
        TemplateSet::default()
    });
    crate::domain::targets::targets(tenants, &set)
}

/// A template as the create wizard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSummary {
    pub name: String,
    pub description: String,
    pub version: i32,
    /// Table names the template creates (its preview).
    pub tables: Vec<String>,
}
