//! Alerts as a pure state machine: a condition that starts raises one alert
//! (time, tenant, reason); while it persists nothing new is raised; when it
//! ends the alert is marked cleared. Time comes in as an argument.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::config::Thresholds;
use crate::domain::metrics::{Alert, MonitoredTenant, Severity, TenantMetrics};
use crate::domain::units::{format_duration, format_size};

/// Stable alert kinds (the de-duplication key together with the tenant).
pub mod kind {
    pub const QUOTA: &str = "quota";
    pub const LONG_RUNNING: &str = "long_running";
    pub const IDLE_IN_TRANSACTION: &str = "idle_in_transaction";
    pub const CONNECTIONS: &str = "connections";
    pub const CLUSTER_CONNECTIONS: &str = "cluster_connections";
    pub const CONNECTION_LOST: &str = "connection_lost";
    pub const CREATION_SLOW: &str = "creation_slow";
    pub const OPERATION_FAILED: &str = "operation_failed";
}

/// Kinds evaluated from each snapshot; the others come from events.
pub const TICK_KINDS: &[&str] = &[
    kind::QUOTA,
    kind::LONG_RUNNING,
    kind::IDLE_IN_TRANSACTION,
    kind::CONNECTIONS,
    kind::CLUSTER_CONNECTIONS,
];

/// A condition that holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub tenant_id: Option<Uuid>,
    pub kind: &'static str,
    pub severity: Severity,
    pub message: String,
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
            severity,
            message,
        });
    };
    if let Some(quota) = tenant.storage_quota_bytes.filter(|q| *q > 0) {
        let pct = m.size_bytes as f64 * 100.0 / quota as f64;
        if m.size_bytes >= quota {
            push(
                kind::QUOTA,
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
                kind::QUOTA,
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
            kind::LONG_RUNNING,
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
            kind::IDLE_IN_TRANSACTION,
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
                kind::CONNECTIONS,
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

type Key = (Option<Uuid>, &'static str);

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

    /// Evaluate the full set of conditions of the `kinds` a snapshot covers:
    /// new ones raise, persisting ones stay one alert, absent ones clear.
    pub fn observe(&mut self, now: DateTime<Utc>, kinds: &[&str], current: Vec<Condition>) {
        let mut seen: HashSet<Key> = HashSet::with_capacity(current.len());
        for c in current {
            seen.insert((c.tenant_id, c.kind));
            self.raise(now, c);
        }
        let to_clear: Vec<Key> = self
            .open
            .keys()
            .filter(|k| kinds.contains(&k.1) && !seen.contains(k))
            .copied()
            .collect();
        for (tenant, k) in to_clear {
            self.clear(now, tenant, k);
        }
    }

    /// Raise unless the same (tenant, kind) is already open; a rise in
    /// severity updates the open alert instead of raising another.
    pub fn raise(&mut self, now: DateTime<Utc>, c: Condition) -> bool {
        let key = (c.tenant_id, c.kind);
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
            kind: c.kind.to_string(),
            severity: c.severity,
            message: c.message,
        });
        self.open.insert(key, id);
        self.changed = true;
        self.trim();
        true
    }

    /// Record that a condition ended. Returns whether an alert was open.
    pub fn clear(&mut self, now: DateTime<Utc>, tenant: Option<Uuid>, kind: &str) -> bool {
        let Some(key) = self
            .open
            .keys()
            .find(|k| k.0 == tenant && k.1 == kind)
            .copied()
        else {
            return false;
        };
        let Some(id) = self.open.remove(&key) else {
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
            kind: c.kind.to_string(),
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
                kind: kind::CONNECTION_LOST,
                severity: Severity::Critical,
                message: format!("lost the database connection: {error}"),
            },
        );
    }

    /// The backend is connected again.
    pub fn connection_restored(&mut self, now: DateTime<Utc>) {
        self.clear(now, None, kind::CONNECTION_LOST);
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
                kind: kind::CREATION_SLOW,
                severity: Severity::Warning,
                message: format!(
                    "tenant creation took {} (limit {})",
                    format_duration(elapsed),
                    format_duration(limit)
                ),
            },
        );
    }

    /// An operation (create, suspend, delete...) failed.
    pub fn operation_failed(&mut self, now: DateTime<Utc>, tenant: Option<Uuid>, what: &str) {
        self.event(
            now,
            Condition {
                tenant_id: tenant,
                kind: kind::OPERATION_FAILED,
                severity: Severity::Warning,
                message: what.to_string(),
            },
        );
    }

    /// A tenant disappeared: clear whatever it had open.
    pub fn forget_tenant(&mut self, now: DateTime<Utc>, tenant: Uuid) {
        let keys: Vec<Key> = self
            .open
            .keys()
            .filter(|k| k.0 == Some(tenant))
            .copied()
            .collect();
        for (t, k) in keys {
            self.clear(now, t, k);
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
            book.observe(at(s), TICK_KINDS, tenant_conditions(&t, &over_quota(), &th));
        }
        let all = book.alerts();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].raised_at, at(0));
        assert_eq!(all[0].kind, "quota");
        assert_eq!(all[0].tenant_id, Some(t.id));
        assert_eq!(all[0].severity, Severity::Critical);
        assert!(book.take_changed());
        book.observe(
            at(11),
            TICK_KINDS,
            tenant_conditions(&t, &over_quota(), &th),
        );
        assert!(!book.take_changed(), "nothing changed while it persists");
        book.observe(
            at(12),
            TICK_KINDS,
            tenant_conditions(&t, &TenantMetrics::default(), &th),
        );
        let all = book.alerts();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].cleared_at, Some(at(12)));
        assert!(book.take_changed());
        assert!(book.open_alerts().is_empty());
        // It comes back: a new alert.
        book.observe(
            at(20),
            TICK_KINDS,
            tenant_conditions(&t, &over_quota(), &th),
        );
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
        book.observe(at(0), TICK_KINDS, tenant_conditions(&t, &near, &th));
        assert_eq!(book.alerts()[0].severity, Severity::Warning);
        book.observe(at(1), TICK_KINDS, tenant_conditions(&t, &over_quota(), &th));
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
        let kinds: Vec<&str> = tenant_conditions(&t, &m, &th)
            .iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(
            kinds,
            vec![
                kind::QUOTA,
                kind::LONG_RUNNING,
                kind::IDLE_IN_TRANSACTION,
                kind::CONNECTIONS
            ]
        );
    }

    #[test]
    fn connection_loss_is_one_alert_until_restored() {
        let mut book = AlertBook::default();
        book.connection_lost(at(0), "connection refused");
        book.connection_lost(at(2), "connection refused");
        book.connection_lost(at(4), "timed out");
        assert_eq!(book.open_alerts().len(), 1);
        // Tick evaluation does not clear event-driven alerts.
        book.observe(at(5), TICK_KINDS, vec![]);
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
        book.operation_failed(at(1), Some(id), "suspend failed: permission denied");
        let all = book.alerts();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].kind, kind::CREATION_SLOW);
        assert_eq!(all[1].message, "tenant creation took 14.0s (limit 10.0s)");
        assert_eq!(all[0].kind, kind::OPERATION_FAILED);
        assert!(book.open_alerts().is_empty());
    }

    #[test]
    fn forgotten_tenant_clears_and_capacity_bounds() {
        let th = Thresholds::default();
        let t = tenant();
        let mut book = AlertBook::new(3);
        book.observe(at(0), TICK_KINDS, tenant_conditions(&t, &over_quota(), &th));
        book.forget_tenant(at(1), t.id);
        assert!(book.open_alerts().is_empty());
        for i in 0..10 {
            book.operation_failed(at(2 + i), None, "x");
        }
        assert_eq!(book.alerts().len(), 3);
    }
}
