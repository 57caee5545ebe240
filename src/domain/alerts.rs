//! Alerts as a pure state machine: a condition that starts raises one alert
//! (time, tenant, reason); while it persists nothing new is raised; when it
//! ends the alert is marked cleared. Time comes in as an argument.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::metrics::{
    Alert, AlertKind, ClusterTotals, MonitoredTenant, Severity, TenantMetrics,
};
use crate::domain::thresholds::Thresholds;
use crate::domain::units::{format_duration, format_size};

/// A condition that holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub tenant_id: Option<Uuid>,
    pub kind: AlertKind,
    /// What within the kind, for kinds with several subjects (the failed
    /// operation or monitoring lane); empty otherwise.
    pub scope: &'static str,
    pub severity: Severity,
    pub message: String,
}

/// The conditions the cluster's totals meet now.
pub fn cluster_conditions(c: &ClusterTotals, t: &Thresholds) -> Vec<Condition> {
    let mut out = Vec::new();
    if c.max_connections > 0
        && f64::from(c.connections) * 100.0
            >= t.cluster_connections_pct * f64::from(c.max_connections)
    {
        out.push(Condition {
            tenant_id: None,
            kind: AlertKind::ClusterConnections,
            scope: "",
            severity: if c.connections >= c.max_connections {
                Severity::Critical
            } else {
                Severity::Warning
            },
            message: format!(
                "cluster connections {} of max_connections {}",
                c.connections, c.max_connections
            ),
        });
    }
    out
}

/// The conditions one tenant's metrics meet now.
pub fn tenant_conditions(
    tenant: &MonitoredTenant,
    m: &TenantMetrics,
    t: &Thresholds,
) -> Vec<Condition> {
    let mut out = Vec::new();
    let mut push = |kind, severity, message| {
        out.push(Condition {
            tenant_id: Some(tenant.id),
            kind,
            scope: "",
            severity,
            message,
        });
    };
    if let Some(quota) = tenant.storage_quota_bytes.filter(|q| *q > 0) {
        let pct = m.size_bytes as f64 * 100.0 / quota as f64;
        if m.size_bytes >= quota {
            push(
                AlertKind::Quota,
                Severity::Critical,
                format!(
                    "{}: storage {} over quota {}",
                    tenant.name,
                    format_size(m.size_bytes),
                    format_size(quota)
                ),
            );
        } else if pct >= t.storage_warn_pct {
            push(
                AlertKind::Quota,
                Severity::Warning,
                format!(
                    "{}: storage {} is {pct:.0}% of quota {}",
                    tenant.name,
                    format_size(m.size_bytes),
                    format_size(quota)
                ),
            );
        }
    }
    if let Some(d) = m.longest_running.filter(|d| *d >= t.long_running.0) {
        push(
            AlertKind::LongRunning,
            Severity::Warning,
            format!(
                "{}: a statement has run for {}",
                tenant.name,
                format_duration(d)
            ),
        );
    }
    if let Some(d) = m
        .idle_in_tx_longest
        .filter(|d| *d >= t.idle_in_transaction.0)
    {
        push(
            AlertKind::IdleInTransaction,
            Severity::Warning,
            format!(
                "{}: a session has been idle in transaction for {}",
                tenant.name,
                format_duration(d)
            ),
        );
    }
    if tenant.connection_limit > 0 {
        let limit = u32::try_from(tenant.connection_limit).unwrap_or(u32::MAX);
        let pct = f64::from(m.sessions_total) * 100.0 / f64::from(limit);
        if pct >= t.connections_pct {
            let severity = if m.sessions_total >= limit {
                Severity::Critical
            } else {
                Severity::Warning
            };
            push(
                AlertKind::Connections,
                severity,
                format!(
                    "{}: {} of {limit} connections in use",
                    tenant.name, m.sessions_total
                ),
            );
        }
    }
    out
}

type Key = (Option<Uuid>, AlertKind, &'static str);

/// Every alert raised, newest last, with the open ones indexed by key.
#[derive(Debug, Clone)]
pub struct AlertBook {
    next_id: u64,
    alerts: VecDeque<Alert>,
    open: HashMap<Key, u64>,
    changed: bool,
    capacity: usize,
}

impl Default for AlertBook {
    fn default() -> Self {
        Self::new(500)
    }
}

impl AlertBook {
    /// Keep at most `capacity` alerts; the oldest cleared ones go first.
    pub fn new(capacity: usize) -> Self {
        Self {
            next_id: 1,
            alerts: VecDeque::new(),
            open: HashMap::new(),
            changed: false,
            capacity: capacity.max(1),
        }
    }

    /// Evaluate the full set of conditions of the kinds a snapshot covers
    /// ([`AlertKind::from_snapshot`]): new ones raise, persisting ones stay
    /// one alert, absent ones clear.
    pub fn observe(&mut self, now: DateTime<Utc>, current: Vec<Condition>) {
        let mut seen: HashSet<Key> = HashSet::with_capacity(current.len());
        for c in current {
            seen.insert((c.tenant_id, c.kind, c.scope));
            self.raise(now, c);
        }
        let to_clear: Vec<Key> = self
            .open
            .keys()
            .filter(|k| k.1.from_snapshot() && !seen.contains(k))
            .copied()
            .collect();
        for (tenant, k, scope) in to_clear {
            self.clear(now, tenant, k, scope);
        }
    }

    /// Raise unless the same (tenant, kind) is already open; a rise in
    /// severity updates the open alert instead of raising another.
    pub fn raise(&mut self, now: DateTime<Utc>, c: Condition) -> bool {
        let key = (c.tenant_id, c.kind, c.scope);
        if let Some(id) = self.open.get(&key).copied() {
            if let Some(a) = self.alerts.iter_mut().find(|a| a.id == id) {
                if c.severity > a.severity {
                    a.severity = c.severity;
                    a.message = c.message;
                    self.changed = true;
                }
                return false;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.alerts.push_back(Alert {
            id,
            raised_at: now,
            cleared_at: None,
            tenant_id: c.tenant_id,
            kind: c.kind,
            severity: c.severity,
            message: c.message,
        });
        self.open.insert(key, id);
        self.changed = true;
        self.trim();
        true
    }

    /// Record that a condition ended. Returns whether an alert was open.
    pub fn clear(
        &mut self,
        now: DateTime<Utc>,
        tenant: Option<Uuid>,
        kind: AlertKind,
        scope: &'static str,
    ) -> bool {
        let Some(id) = self.open.remove(&(tenant, kind, scope)) else {
            return false;
        };
        if let Some(a) = self.alerts.iter_mut().find(|a| a.id == id) {
            a.cleared_at = Some(now);
        }
        self.changed = true;
        true
    }

    /// A one-off event (it has no "while"): recorded raised and cleared at once.
    pub fn event(&mut self, now: DateTime<Utc>, c: Condition) {
        let id = self.next_id;
        self.next_id += 1;
        self.alerts.push_back(Alert {
            id,
            raised_at: now,
            cleared_at: Some(now),
            tenant_id: c.tenant_id,
            kind: c.kind,
            severity: c.severity,
            message: c.message,
        });
        self.changed = true;
        self.trim();
    }

    /// The backend lost its database connection.
    pub fn connection_lost(&mut self, now: DateTime<Utc>, error: &str) {
        self.raise(
            now,
            Condition {
                tenant_id: None,
                kind: AlertKind::ConnectionLost,
                scope: "",
                severity: Severity::Critical,
                message: format!("lost the database connection: {error}"),
            },
        );
    }

    /// The backend is connected again.
    pub fn connection_restored(&mut self, now: DateTime<Utc>) {
        self.clear(now, None, AlertKind::ConnectionLost, "");
    }

    /// The limits guard acted on a tenant (`reason` says what and why);
    /// writes withheld at the quota are critical, the rest warnings.
    pub fn limit_enforced(&mut self, now: DateTime<Utc>, tenant: Uuid, action: &str, reason: &str) {
        self.event(
            now,
            Condition {
                tenant_id: Some(tenant),
                kind: AlertKind::LimitEnforced,
                scope: "",
                severity: if action == "quota_block" {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                message: format!("guard: {reason}"),
            },
        );
    }

    /// A tenant creation took longer than the configured limit.
    pub fn creation_slow(
        &mut self,
        now: DateTime<Utc>,
        tenant: Uuid,
        elapsed: Duration,
        limit: Duration,
    ) {
        self.event(
            now,
            Condition {
                tenant_id: Some(tenant),
                kind: AlertKind::CreationSlow,
                scope: "",
                severity: Severity::Warning,
                message: format!(
                    "tenant creation took {} (limit {})",
                    format_duration(elapsed),
                    format_duration(limit)
                ),
            },
        );
    }

    /// An operation (create, suspend, delete...) or a monitoring lane
    /// failed: one open alert per (tenant, operation) until
    /// [`Self::operation_succeeded`] clears it; a repeat keeps the one alert.
    pub fn operation_failed(
        &mut self,
        now: DateTime<Utc>,
        tenant: Option<Uuid>,
        operation: &'static str,
        message: String,
    ) {
        self.raise(
            now,
            Condition {
                tenant_id: tenant,
                kind: AlertKind::OperationFailed,
                scope: operation,
                severity: Severity::Warning,
                message,
            },
        );
    }

    /// The operation (or lane) worked again: its failure alert clears.
    pub fn operation_succeeded(
        &mut self,
        now: DateTime<Utc>,
        tenant: Option<Uuid>,
        operation: &'static str,
    ) -> bool {
        self.clear(now, tenant, AlertKind::OperationFailed, operation)
    }

    /// A tenant disappeared: clear whatever it had open.
    pub fn forget_tenant(&mut self, now: DateTime<Utc>, tenant: Uuid) {
        let keys: Vec<Key> = self
            .open
            .keys()
            .filter(|k| k.0 == Some(tenant))
            .copied()
            .collect();
        for (t, k, scope) in keys {
            self.clear(now, t, k, scope);
        }
    }

    /// Every kept alert, newest first.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts.iter().rev().cloned().collect()
    }

    /// The alerts not yet cleared, newest first.
    pub fn open_alerts(&self) -> Vec<Alert> {
        self.alerts
            .iter()
            .rev()
            .filter(|a| a.cleared_at.is_none())
            .cloned()
            .collect()
    }

    /// Whether anything was raised, cleared or escalated since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    fn trim(&mut self) {
        while self.alerts.len() > self.capacity {
            let victim = self
                .alerts
                .iter()
                .position(|a| a.cleared_at.is_some())
                .unwrap_or(0);
            if let Some(a) = self.alerts.remove(victim) {
                self.open.retain(|_, id| *id != a.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    fn tenant() -> MonitoredTenant {
        MonitoredTenant {
            id: Uuid::from_u128(7),
            name: "Acme".into(),
            domain: "acme.test".into(),
            schema_name: "s".into(),
            role_name: "r".into(),
            status: crate::domain::tenant::TenantStatus::Active,
            connection_limit: 10,
            storage_quota_bytes: Some(1000),
            template_version: 1,
            latest_template_version: None,
            expected_tables: std::sync::Arc::from([]),
            expected_indexes: std::sync::Arc::from([]),
            reference: None,
            created_at: None,
        }
    }

    fn over_quota() -> TenantMetrics {
        TenantMetrics {
            size_bytes: 2000,
            ..TenantMetrics::default()
        }
    }

    #[test]
    fn persisting_condition_is_one_alert_and_clearing_is_recorded() {
        let th = Thresholds::default();
        let t = tenant();
        let mut book = AlertBook::default();
        for s in 0..10 {
            book.observe(at(s), tenant_conditions(&t, &over_quota(), &th));
        }
        let all = book.alerts();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].raised_at, at(0));
        assert_eq!(all[0].kind, AlertKind::Quota);
        assert_eq!(all[0].tenant_id, Some(t.id));
        assert_eq!(all[0].severity, Severity::Critical);
        assert!(book.take_changed());
        book.observe(at(11), tenant_conditions(&t, &over_quota(), &th));
        assert!(!book.take_changed(), "nothing changed while it persists");
        book.observe(
            at(12),
            tenant_conditions(&t, &TenantMetrics::default(), &th),
        );
        let all = book.alerts();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].cleared_at, Some(at(12)));
        assert!(book.take_changed());
        assert!(book.open_alerts().is_empty());
        // It comes back: a new alert.
        book.observe(at(20), tenant_conditions(&t, &over_quota(), &th));
        assert_eq!(book.alerts().len(), 2);
        assert_eq!(book.open_alerts().len(), 1);
    }

    #[test]
    fn warning_escalates_in_place() {
        let th = Thresholds::default();
        let t = tenant();
        let mut book = AlertBook::default();
        let near = TenantMetrics {
            size_bytes: 900,
            ..TenantMetrics::default()
        };
        book.observe(at(0), tenant_conditions(&t, &near, &th));
        assert_eq!(book.alerts()[0].severity, Severity::Warning);
        book.observe(at(1), tenant_conditions(&t, &over_quota(), &th));
        assert_eq!(book.alerts().len(), 1);
        assert_eq!(book.alerts()[0].severity, Severity::Critical);
    }

    #[test]
    fn each_tick_rule_raises_its_kind() {
        let th = Thresholds::default();
        let t = tenant();
        let m = TenantMetrics {
            size_bytes: 2000,
            sessions_total: 9,
            longest_running: Some(Duration::from_secs(600)),
            idle_in_tx_longest: Some(Duration::from_secs(120)),
            ..TenantMetrics::default()
        };
        let kinds: Vec<AlertKind> = tenant_conditions(&t, &m, &th)
            .iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(
            kinds,
            vec![
                AlertKind::Quota,
                AlertKind::LongRunning,
                AlertKind::IdleInTransaction,
                AlertKind::Connections
            ]
        );
    }

    #[test]
    fn rules_hold_back_below_their_thresholds_and_without_limits() {
        let th = Thresholds::default();
        let mut t = tenant();
        let quiet = TenantMetrics {
            size_bytes: 799,
            sessions_total: 7,
            longest_running: Some(Duration::from_secs(299)),
            idle_in_tx_longest: Some(Duration::from_secs(59)),
            ..TenantMetrics::default()
        };
        assert_eq!(tenant_conditions(&t, &quiet, &th), vec![], "all just below");
        let at_edges = TenantMetrics {
            size_bytes: 800,
            sessions_total: 8,
            longest_running: Some(Duration::from_secs(300)),
            idle_in_tx_longest: Some(Duration::from_secs(60)),
            ..TenantMetrics::default()
        };
        let sev: Vec<(AlertKind, Severity)> = tenant_conditions(&t, &at_edges, &th)
            .iter()
            .map(|c| (c.kind, c.severity))
            .collect();
        assert_eq!(
            sev,
            vec![
                (AlertKind::Quota, Severity::Warning),
                (AlertKind::LongRunning, Severity::Warning),
                (AlertKind::IdleInTransaction, Severity::Warning),
                (AlertKind::Connections, Severity::Warning),
            ]
        );
        let full = TenantMetrics {
            sessions_total: 10,
            ..TenantMetrics::default()
        };
        assert_eq!(
            tenant_conditions(&t, &full, &th)[0].severity,
            Severity::Critical,
            "at the limit"
        );
        // A zero quota and a zero connection limit are not limits to alert on.
        t.storage_quota_bytes = Some(0);
        t.connection_limit = 0;
        let busy = TenantMetrics {
            size_bytes: 5,
            sessions_total: 1,
            ..TenantMetrics::default()
        };
        assert_eq!(tenant_conditions(&t, &busy, &th), vec![]);
    }

    #[test]
    fn a_full_book_drops_the_oldest_and_keeps_the_others_open() {
        let mut book = AlertBook::new(2);
        let lost = |n: u128| Condition {
            tenant_id: Some(Uuid::from_u128(n)),
            kind: AlertKind::Connections,
            scope: "",
            severity: Severity::Warning,
            message: format!("t{n}"),
        };
        for n in 1..=3 {
            assert!(book.raise(at(0), lost(n)));
        }
        let kept: Vec<String> = book.alerts().iter().map(|a| a.message.clone()).collect();
        assert_eq!(kept, ["t3", "t2"], "all open: the oldest goes");
        // Those kept are still open: raising them again adds nothing.
        assert!(!book.raise(at(1), lost(2)));
        assert!(!book.raise(at(1), lost(3)));
        // The dropped one is no longer open: it raises anew.
        assert!(book.raise(at(2), lost(1)));
    }

    #[test]
    fn connection_loss_is_one_alert_until_restored() {
        let mut book = AlertBook::default();
        book.connection_lost(at(0), "connection refused");
        book.connection_lost(at(2), "connection refused");
        book.connection_lost(at(4), "timed out");
        assert_eq!(book.open_alerts().len(), 1);
        // Tick evaluation does not clear event-driven alerts.
        book.observe(at(5), vec![]);
        assert_eq!(book.open_alerts().len(), 1);
        book.connection_restored(at(6));
        assert!(book.open_alerts().is_empty());
        assert_eq!(book.alerts()[0].cleared_at, Some(at(6)));
    }

    #[test]
    fn events_are_recorded_once_each() {
        let mut book = AlertBook::default();
        let id = Uuid::from_u128(9);
        book.creation_slow(at(0), id, Duration::from_secs(14), Duration::from_secs(10));
        book.creation_slow(at(1), id, Duration::from_secs(15), Duration::from_secs(10));
        let all = book.alerts();
        assert_eq!(all.len(), 2, "each slow creation is its own event");
        assert_ne!(all[0].id, all[1].id, "each alert has its own id");

        assert_eq!(all[1].kind, AlertKind::CreationSlow);
        assert_eq!(all[1].message, "tenant creation took 14.0s (limit 10.0s)");
        assert_eq!(all[1].cleared_at, Some(at(0)));
        assert!(book.open_alerts().is_empty());
        book.connection_lost(at(2), "x");
        let ids: HashSet<u64> = book.alerts().iter().map(|a| a.id).collect();
        assert_eq!(
            ids.len(),
            3,
            "raised and one-off alerts share one id sequence"
        );
    }

    #[test]
    fn failed_operation_stays_one_alert_until_its_next_success() {
        let mut book = AlertBook::default();
        let a = Uuid::from_u128(9);
        let b = Uuid::from_u128(10);
        book.operation_failed(at(0), Some(a), "suspend", "suspend failed: denied".into());
        book.operation_failed(at(1), Some(a), "suspend", "suspend failed: denied".into());
        book.operation_failed(at(1), Some(b), "suspend", "suspend failed: denied".into());
        book.operation_failed(at(2), None, "sizes", "sizes: timed out".into());
        let open = book.open_alerts();
        assert_eq!(open.len(), 3, "{open:?}");
        assert!(open.iter().all(|x| x.kind == AlertKind::OperationFailed));
        // A snapshot does not clear them: only a success does.
        book.observe(at(3), vec![]);
        assert_eq!(book.open_alerts().len(), 3);
        assert!(
            !book.operation_succeeded(at(4), Some(a), "resume"),
            "another operation"
        );
        assert!(book.operation_succeeded(at(4), Some(a), "suspend"));
        assert!(book.operation_succeeded(at(5), None, "sizes"));
        let open = book.open_alerts();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].tenant_id, Some(b));
        let first = book
            .alerts()
            .into_iter()
            .find(|x| x.tenant_id == Some(a))
            .expect("a");
        assert_eq!((first.raised_at, first.cleared_at), (at(0), Some(at(4))));
    }

    #[test]
    fn cluster_connections_alert_at_the_configured_share() {
        let mut th = Thresholds::default();
        let totals = |connections| ClusterTotals {
            connections,
            max_connections: 100,
            ..ClusterTotals::default()
        };
        assert!(cluster_conditions(&totals(89), &th).is_empty());
        let at_90 = cluster_conditions(&totals(90), &th);
        assert_eq!(at_90.len(), 1);
        assert_eq!(at_90[0].kind, AlertKind::ClusterConnections);
        assert_eq!(at_90[0].severity, Severity::Warning);
        assert_eq!(
            at_90[0].message,
            "cluster connections 90 of max_connections 100"
        );
        assert_eq!(
            cluster_conditions(&totals(100), &th)[0].severity,
            Severity::Critical
        );
        th.cluster_connections_pct = 50.0;
        assert_eq!(cluster_conditions(&totals(50), &th).len(), 1);
        assert!(cluster_conditions(&totals(49), &th).is_empty());
        let unknown = ClusterTotals::default();
        assert!(
            cluster_conditions(&unknown, &th).is_empty(),
            "no max_connections yet"
        );
    }

    #[test]
    fn forgotten_tenant_clears_and_capacity_bounds() {
        let th = Thresholds::default();
        let t = tenant();
        let mut book = AlertBook::new(3);
        book.observe(at(0), tenant_conditions(&t, &over_quota(), &th));
        book.forget_tenant(at(1), t.id);
        assert!(book.open_alerts().is_empty());
        for i in 0..10 {
            book.creation_slow(
                at(2 + i),
                t.id,
                Duration::from_secs(20),
                Duration::from_secs(10),
            );
        }
        assert_eq!(book.alerts().len(), 3);
    }

    #[test]
    fn an_enforced_limit_is_an_event_critical_only_for_a_withheld_write() {
        let t = tenant();
        let mut book = AlertBook::default();
        book.limit_enforced(at(0), t.id, "terminate_idle", "idle in transaction for 2m");
        book.limit_enforced(at(1), t.id, "quota_block", "storage over its quota");
        let all = book.alerts();
        assert_eq!(all.len(), 2, "{all:?}");
        for a in &all {
            assert_eq!(a.kind, AlertKind::LimitEnforced);
            assert_eq!(a.tenant_id, Some(t.id));
            assert!(a.message.starts_with("guard: "), "{}", a.message);
        }
        let quota = all
            .iter()
            .find(|a| a.message.contains("quota"))
            .map(|a| a.severity);
        let idle = all
            .iter()
            .find(|a| a.message.contains("idle"))
            .map(|a| a.severity);
        assert_eq!(quota, Some(Severity::Critical));
        assert_eq!(idle, Some(Severity::Warning));
    }
}
