//! Everything the console shows, as plain data. `update` is the only writer;
//! draw functions read it.

pub mod form;
pub mod list;
pub mod migrations;
pub mod views;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tui_input::Input;
use uuid::Uuid;

use crate::backend::RequestId;
use crate::config::Config;
use crate::domain::audit::AuditEntry;
use crate::domain::metrics::{Alert, History, Series, Snapshot, TenantDetail, TenantMetrics};
use crate::domain::tenant::Tenant;
use crate::tui::keymap::{InputMode, Keymap};
use crate::tui::theme::Theme;

pub use form::{EditForm, Field, FormDefaults, Wizard, WizardOutcome, WizardStep};
pub use list::{Column, Filter, ListState, SearchKey};
pub use migrations::MigrationsState;
pub use views::{Heat, HeatGroup, HeatMetric, Views};

/// Bounds of the refresh interval.
pub const MIN_INTERVAL: Duration = Duration::from_millis(500);
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// How long a status message stays.
pub const MESSAGE_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// What the tab bar starts with, before the pane tabs.
pub const TAB_BAR_TITLE: &str = " tenantctl ";

/// The main panes, in Tab order (detail opens from the tenant list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Tenants,
    Detail,
    Monitor,
    Audit,
    Alerts,
    /// Monitor views (under the Monitor tab): noisy neighbours, blocking, heat map.
    Neighbours,
    Locks,
    Heatmap,
    /// Fleet migration runs and their tenants (`M`, `:migrations`).
    Migrations,
}

impl Pane {
    pub const TABS: [Pane; 4] = [Pane::Tenants, Pane::Monitor, Pane::Audit, Pane::Alerts];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Tenants => "Tenants",
            Pane::Detail => "Detail",
            Pane::Monitor => "Monitor",
            Pane::Audit => "Audit",
            Pane::Alerts => "Alerts",
            Pane::Neighbours => "Neighbours",
            Pane::Locks => "Locks",
            Pane::Heatmap => "Heat map",
            Pane::Migrations => "Migrations",
        }
    }

    /// The tab this pane is shown under.
    #[must_use]
    pub fn tab(self) -> Pane {
        match self {
            Pane::Detail => Pane::Tenants,
            Pane::Neighbours | Pane::Locks | Pane::Heatmap => Pane::Monitor,
            p => p,
        }
    }
}

/// Tabs of the tenant detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailTab {
    Overview,
    Tables,
    Sessions,
    Statements,
    History,
    Audit,
}

impl DetailTab {
    pub const ALL: [DetailTab; 6] = [
        DetailTab::Overview,
        DetailTab::Tables,
        DetailTab::Sessions,
        DetailTab::Statements,
        DetailTab::History,
        DetailTab::Audit,
    ];

    pub fn title(self) -> &'static str {
        match self {
            DetailTab::Overview => "Overview",
            DetailTab::Tables => "Tables",
            DetailTab::Sessions => "Sessions",
            DetailTab::Statements => "Statements",
            DetailTab::History => "History",
            DetailTab::Audit => "Audit",
        }
    }
}

/// The open tenant detail.
#[derive(Debug, Clone)]
pub struct DetailState {
    pub tenant: Uuid,
    pub tab: DetailTab,
    pub data: Option<Arc<TenantDetail>>,
    pub history: Option<History>,
    pub audit: Option<Vec<AuditEntry>>,
    /// Selected row in the tables/sessions/statements/audit tab.
    pub cursor: usize,
    /// A `LoadDetail` is in flight (coalesce: never send a second).
    pub loading: bool,
}

/// What the monitor ranks tenants by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorMetric {
    Calls,
    Writes,
    Size,
    Connections,
    Health,
}

impl MonitorMetric {
    pub const ALL: [MonitorMetric; 5] = [
        MonitorMetric::Calls,
        MonitorMetric::Writes,
        MonitorMetric::Size,
        MonitorMetric::Connections,
        MonitorMetric::Health,
    ];

    pub fn title(self) -> &'static str {
        match self {
            MonitorMetric::Calls => "calls/s",
            MonitorMetric::Writes => "writes/s",
            MonitorMetric::Size => "size",
            MonitorMetric::Connections => "connections",
            MonitorMetric::Health => "health (worst)",
        }
    }

    /// The history series the store keeps for this metric.
    pub fn series(self) -> Series {
        match self {
            MonitorMetric::Calls => Series::Calls,
            MonitorMetric::Writes => Series::Writes,
            MonitorMetric::Size => Series::Size,
            MonitorMetric::Connections => Series::Connections,
            MonitorMetric::Health => Series::Health,
        }
    }

    /// The ranking value (bigger ranks higher).
    pub fn value(self, m: &TenantMetrics) -> f64 {
        match self {
            MonitorMetric::Calls => m.calls_per_s.unwrap_or(0.0),
            MonitorMetric::Writes => m.writes_per_s.unwrap_or(0.0),
            MonitorMetric::Size => m.size_bytes as f64,
            MonitorMetric::Connections => f64::from(m.sessions_total),
            MonitorMetric::Health => 100.0 - f64::from(m.health.score),
        }
    }

    #[must_use]
    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|m| *m == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

/// The database connection as the console knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Started, no answer yet.
    Connecting,
    Connected {
        server_version: String,
        /// `host:port` connected to.
        endpoint: String,
    },
    /// Lost; the backend retries at `retry_at`.
    Disconnected {
        error: String,
        retry_at: DateTime<Utc>,
    },
}

/// A question before a destructive action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmKind {
    Suspend {
        tenant: Uuid,
    },
    Resume {
        tenant: Uuid,
    },
    /// Type the domain back.
    Delete {
        tenant: Uuid,
        domain: String,
    },
    CancelSession {
        tenant: Uuid,
        pid: i32,
    },
    TerminateSession {
        tenant: Uuid,
        pid: i32,
    },
    /// Pause, resume or cancel a migration run.
    Migration {
        run: Uuid,
        action: crate::domain::runs::RunAction,
    },
}

/// An open confirmation.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub kind: ConfirmKind,
    /// The question, already sanitized.
    pub prompt: String,
    /// For typed confirmations: what the user typed so far.
    pub typed: Option<Input>,
    pub error: Option<String>,
}

/// The `:` command line.
#[derive(Debug, Clone, Default)]
pub struct CommandLine {
    pub input: Input,
    /// Candidates for the word under the cursor.
    pub completions: Vec<String>,
    /// Which candidate Tab put in, if cycling.
    pub completion_index: Option<usize>,
    pub error: Option<String>,
}

/// What has the keyboard on top of the panes.
#[derive(Debug, Clone)]
pub enum Modal {
    Help {
        scroll: usize,
    },
    CommandLine(CommandLine),
    /// Editing the `/` filter; `previous` is restored by Esc.
    Filter {
        input: Input,
        previous: String,
    },
    Confirm(Confirm),
    Wizard(Box<Wizard>),
    Edit(Box<EditForm>),
}

/// A line for the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub error: bool,
    pub at: DateTime<Utc>,
}

/// A request in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub what: String,
    pub since: DateTime<Utc>,
}

/// The whole console.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // reason: independent flags the loop reads (quit, suspend, dirty, paused, ...)
pub struct State {
    pub now: DateTime<Utc>,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    pub cluster: String,
    /// Configured clusters and whether each is read-only in the config.
    pub clusters: Vec<(String, bool)>,
    pub connection: Connection,
    /// Read-only from the flag or config (cannot be lifted by the server).
    pub config_read_only: bool,
    /// `--read-only` itself, kept across `:cluster` switches.
    pub read_only_flag: bool,
    /// A `LoadTenants` is in flight (coalesce change notifications).
    pub tenants_loading: bool,
    /// Generation of the newest snapshot accepted; reset on (re)connect.
    pub last_generation: Option<u64>,
    /// Read-only as reported by the backend (e.g. a standby).
    pub server_read_only: bool,
    pub interval: Duration,
    /// Paused: the view keeps the snapshot it had.
    pub paused: bool,
    /// The backend's list, shared (copied only when the console changes it).
    pub tenants: Arc<Vec<Tenant>>,
    pub keys: Vec<SearchKey>,
    pub by_id: HashMap<Uuid, usize>,
    /// The snapshot on screen.
    pub view: Option<Arc<Snapshot>>,
    /// The newest snapshot received (differs from `view` while paused).
    pub latest: Option<Arc<Snapshot>>,
    pub list: ListState,
    pub pane: Pane,
    pub detail: Option<DetailState>,
    pub monitor_metric: MonitorMetric,
    /// Top tenants by `monitor_metric`, recomputed per snapshot.
    pub monitor_top: Vec<Uuid>,
    /// Selected row of `monitor_top` (Enter opens its detail).
    pub monitor_cursor: usize,
    pub monitor_history: HashMap<Option<Uuid>, History>,
    pub history_loading: bool,
    /// Charts' window, Neighbours, Locks and heat-map state.
    pub views: Views,
    pub audit: Vec<AuditEntry>,
    pub audit_cursor: usize,
    pub audit_loading: bool,
    pub alerts: Vec<Alert>,
    pub alerts_cursor: usize,
    /// The Migrations pane.
    pub migrations: MigrationsState,
    pub modal: Option<Modal>,
    pub message: Option<Message>,
    pub pending: HashMap<RequestId, Pending>,
    pub next_request: RequestId,
    pub defaults: FormDefaults,
    pub keymap: Arc<Keymap>,
    pub theme: Theme,
    /// Set by `update` when the loop must stop.
    pub quit: bool,
    /// Set by `update` when the loop must suspend the process (Ctrl-Z).
    pub suspend: bool,
    /// Something visible changed since the last frame.
    pub dirty: bool,
}

impl State {
    /// A fresh console for this config.
    pub fn new(config: &Config, keymap: Keymap, now: DateTime<Utc>) -> Self {
        let quota = config
            .provisioning
            .default_storage_quota
            .map(|s| {
                crate::domain::units::format_size(s.0)
                    .replace(' ', "")
                    .replace("iB", "B")
            })
            .unwrap_or_default();
        Self {
            now,
            size: (80, 24),
            cluster: config.cluster_name.clone(),
            clusters: config
                .clusters
                .iter()
                .map(|(n, c)| (n.clone(), c.read_only))
                .collect(),
            connection: Connection::Connecting,
            config_read_only: config.read_only,
            read_only_flag: config.read_only && !config.cluster.read_only,
            tenants_loading: false,
            last_generation: None,
            server_read_only: false,
            interval: config
                .monitoring
                .interval
                .0
                .clamp(MIN_INTERVAL, MAX_INTERVAL),
            paused: false,
            tenants: Arc::default(),
            keys: Vec::new(),
            by_id: HashMap::new(),
            view: None,
            latest: None,
            list: ListState::default(),
            pane: Pane::Tenants,
            detail: None,
            monitor_metric: MonitorMetric::Calls,
            monitor_top: Vec::new(),
            monitor_history: HashMap::new(),
            history_loading: false,
            views: Views::new(config.monitoring.history.0),
            audit: Vec::new(),
            audit_cursor: 0,
            audit_loading: false,
            alerts: Vec::new(),
            alerts_cursor: 0,
            migrations: MigrationsState::default(),
            monitor_cursor: 0,
            modal: None,
            message: None,
            pending: HashMap::new(),
            next_request: 1,
            defaults: FormDefaults {
                template: config.provisioning.default_template.clone(),
                connection_limit: config.provisioning.default_connection_limit,
                statement_timeout: crate::domain::units::format_duration(
                    config.provisioning.default_statement_timeout.0,
                ),
                storage_quota: quota,
            },
            keymap: Arc::new(keymap),
            theme: Theme::new(config.ui.theme),
            quit: false,
            suspend: false,
            dirty: true,
        }
    }

    /// Whether keys edit text or issue commands.
    pub fn input_mode(&self) -> InputMode {
        match self.modal {
            None | Some(Modal::Help { .. }) => InputMode::Normal,
            Some(_) => InputMode::Text,
        }
    }

    pub fn read_only(&self) -> bool {
        self.config_read_only || self.server_read_only
    }

    /// Why changes are refused right now, if they are.
    pub fn refuse_changes(&self) -> Option<String> {
        if self.config_read_only {
            return Some(
                "read-only mode (--read-only or the cluster's read_only): changes are disabled"
                    .into(),
            );
        }
        if self.server_read_only {
            return Some(
                "read-only: the server is a standby or the role cannot write; changes are disabled"
                    .into(),
            );
        }
        if let Connection::Disconnected { .. } = self.connection {
            return Some("disconnected: changes wait until the connection is back".into());
        }
        None
    }

    /// The tenant under the cursor (in the list) or open in the detail.
    pub fn selected_tenant(&self) -> Option<&Tenant> {
        let id = match (&self.pane, &self.detail) {
            (Pane::Detail, Some(d)) => Some(d.tenant),
            _ => self.list.selected,
        }?;
        self.tenant(id)
    }

    /// A pane's label in the tab bar (with its counts).
    pub fn tab_label(&self, p: Pane) -> String {
        match p {
            Pane::Tenants if self.list.filter.is_empty() => {
                format!(" Tenants {} ", self.tenants.len())
            }
            Pane::Tenants => format!(" Tenants {}/{} ", self.list.index.len(), self.tenants.len()),
            Pane::Alerts => {
                let open = self
                    .alerts
                    .iter()
                    .filter(|a| a.cleared_at.is_none())
                    .count();
                if open > 0 {
                    format!(" Alerts {open} ")
                } else {
                    " Alerts ".to_string()
                }
            }
            Pane::Monitor if self.pane.tab() == Pane::Monitor && self.pane != Pane::Monitor => {
                format!(" Monitor › {} ", self.pane.title())
            }
            other => format!(" {} ", other.title()),
        }
    }

    /// The pane whose tab is at column `x` of the tab bar (each tab is
    /// followed by one space, as drawn).
    pub fn tab_at(&self, x: u16) -> Option<Pane> {
        let mut start = unicode_width::UnicodeWidthStr::width(TAB_BAR_TITLE);
        let x = usize::from(x);
        for p in Pane::TABS {
            let w = unicode_width::UnicodeWidthStr::width(self.tab_label(p).as_str());
            if (start..start + w).contains(&x) {
                return Some(p);
            }
            start += w + 1;
        }
        None
    }

    pub fn tenant(&self, id: Uuid) -> Option<&Tenant> {
        self.by_id.get(&id).and_then(|&i| self.tenants.get(i))
    }

    /// Live (or frozen, while paused) metrics of a tenant.
    pub fn metrics(&self, id: Uuid) -> Option<&TenantMetrics> {
        self.view.as_ref().and_then(|s| s.tenants.get(&id))
    }

    /// Rows of the list that fit on screen (for paging and scrolling).
    pub fn list_page(&self) -> usize {
        // tabs line + table header + status bar + message line
        usize::from(self.size.1.saturating_sub(4)).max(1)
    }

    /// Find a tenant by id, id prefix, domain or name (case-insensitive).
    pub fn find_tenant(&self, what: &str) -> Option<&Tenant> {
        let w = what.trim().to_lowercase();
        if w.is_empty() {
            return None;
        }
        self.tenants
            .iter()
            .find(|t| {
                t.id.to_string() == w || t.domain.eq_ignore_ascii_case(&w) || t.schema_name == w
            })
            .or_else(|| {
                self.tenants
                    .iter()
                    .zip(&self.keys)
                    .find(|(_, k)| k.name == w)
                    .map(|(t, _)| t)
            })
            .or_else(|| {
                (w.len() >= 4)
                    .then(|| {
                        self.tenants
                            .iter()
                            .find(|t| t.id.to_string().starts_with(&w))
                    })
                    .flatten()
            })
    }

    /// Allocate a request id.
    pub fn request_id(&mut self) -> RequestId {
        let id = self.next_request;
        self.next_request += 1;
        id
    }
}
