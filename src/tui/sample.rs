//! Deterministic sample data for snapshot tests, benchmarks and the README
//! capture: fixed ids, fixed times, no randomness.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)] // reason: small synthetic numbers

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use crate::backend::{Event, TemplateSummary};
use crate::config::{Config, ThemeName};
use crate::domain::audit::AuditEntry;
use crate::domain::metrics::{
    Alert, AlertKind, ClusterTotals, Health, HealthReason, History, HistoryPoint, Series,
    SessionDetail, Severity, Snapshot, StatementDetail, TableDetail, TenantDetail, TenantMap,
    TenantMetrics,
};
use crate::domain::tenant::{Tenant, TenantStatus, object_name};
use crate::tui::Action;
use crate::tui::keymap::Keymap;
use crate::tui::state::State;
use crate::tui::update::update;

const NAMES: [&str; 12] = [
    "Acme Capital",
    "Borealis Trading",
    "Cobalt Funds",
    "Delta Quant",
    "Ember Markets",
    "Fjord Securities",
    "Granite Asset Mgmt",
    "Helix Partners",
    "Ion Brokerage",
    "Juniper Wealth",
    "Kestrel FX",
    "Lumen Holdings",
];

/// A fixed instant: 2026-03-02 09:30:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0)
        .single()
        .unwrap_or_default()
}

/// The id of sample tenant `i`.
pub fn id(i: usize) -> Uuid {
    Uuid::from_u128(0x7d3c_1f0e_0000_4abc_8def_0000_0000_0000 + i as u128)
}

/// `n` tenants; every seventh is suspended, one in 50 provisioning.
pub fn tenants(n: usize) -> Vec<Tenant> {
    (0..n)
        .map(|i| {
            let base = NAMES[i % NAMES.len()];
            let name = if i < NAMES.len() {
                base.to_string()
            } else {
                format!("{base} {}", i / NAMES.len())
            };
            let slug = name.to_ascii_lowercase().replace(' ', "-");
            let status = if i % 7 == 3 {
                TenantStatus::Suspended
            } else if i % 50 == 49 {
                TenantStatus::Provisioning
            } else {
                TenantStatus::Active
            };
            let tid = id(i);
            Tenant {
                id: tid,
                name,
                domain: format!("{slug}.tradesage.example"),
                schema_name: object_name(&tid),
                role_name: object_name(&tid),
                owner_role: None,
                status,
                template: "default".into(),
                template_version: if i % 5 == 0 { 1 } else { 2 },
                settings: serde_json::json!({"tier": if i % 3 == 0 { "gold" } else { "standard" }})
                    .into(),
                connection_limit: 20,
                statement_timeout: Some(30_000),
                storage_quota_bytes: Some(10 * 1024 * 1024 * 1024),
                idle_in_transaction_timeout: None,
                temp_file_limit_bytes: None,
                quota_blocked: false,
                warnings: Vec::new(),
                created_at: t0() - chrono::TimeDelta::days(30 + (i % 300) as i64),
                updated_at: t0() - chrono::TimeDelta::days((i % 30) as i64),
                created_by: "ana@ops1".into(),
                provision_ms: Some(180 + (i % 40) as i32),
            }
        })
        .collect()
}

/// Metrics for one tenant, varied but deterministic.
pub fn metrics(i: usize, generation: u64) -> TenantMetrics {
    let g = generation as usize;
    let conns = ((i * 7 + g) % 19) as u32;
    let score: u8 = match i % 11 {
        0 => 62,
        5 => 41,
        _ => 100 - (i % 4) as u8 * 3,
    };
    let mut reasons = Vec::new();
    if score < 100 {
        reasons.push(HealthReason {
            points: 100 - score,
            text: if score < 50 {
                "storage 9.6 GiB of 10 GiB (96%)".into()
            } else {
                format!("connections {conns}/20")
            },
        });
    }
    TenantMetrics {
        tenant_id: id(i),
        size_bytes: 8_000_000 + (i as u64 * 7_919_993) % 4_000_000_000,
        size_exact_at: None,
        sessions_total: conns,
        sessions_active: conns / 3,
        sessions_idle_in_tx: u32::from(i % 13 == 0),
        longest_running: Some(Duration::from_millis(((i * 37) % 5000) as u64)),
        oldest_xact: None,
        calls_per_s: Some(((i * 311 + g * 97) % 900) as f64 / 3.0),
        writes_per_s: if i % 9 == 0 {
            None
        } else {
            Some(((i * 13 + g) % 400) as f64 / 4.0)
        },
        mean_exec_ms: Some(0.4 + (i % 10) as f64 / 10.0),
        total_calls: Some(1_000 * i as u64),
        rows_written: 10 * i as u64,
        seq_scans: i as u64,
        idx_scans: 20 * i as u64,
        dead_tuples: 3 * i as u64,
        health: Health { score, reasons },
        ..TenantMetrics::default()
    }
}

/// The templates the create wizard offers.
pub fn templates() -> Vec<TemplateSummary> {
    vec![
        TemplateSummary {
            name: "default".into(),
            description: "TradeSage trading schema: portfolios, positions, trades and market data"
                .into(),
            version: 2,
            tables: ["portfolios", "positions", "trades", "market_data", "orders"]
                .map(String::from)
                .to_vec(),
        },
        TemplateSummary {
            name: "minimal".into(),
            description: "Accounts only".into(),
            version: 1,
            tables: vec!["accounts".into()],
        },
    ]
}

/// A snapshot of `n` tenants.
pub fn snapshot(n: usize, generation: u64) -> Snapshot {
    let tenants: TenantMap = (0..n).map(|i| metrics(i, generation)).collect();
    Snapshot {
        generation,
        taken_at: t0() + chrono::TimeDelta::seconds(2 * generation as i64),
        latency: Duration::from_millis(42),
        tenants,
        totals: ClusterTotals {
            database_bytes: 48 * 1024 * 1024 * 1024,
            connections: 87,
            max_connections: 200,
            commits_per_s: Some(412.5),
            cache_hit_ratio: Some(0.993),
            server_version: "16.4".into(),
        },
        stale: Vec::new(),
        statements_available: true,
    }
}

/// A sparkline series of 60 points.
pub fn history(tenant: Option<Uuid>, seed: usize) -> History {
    let series = Series::TENANT
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let pts = (0..60)
                .map(|j| HistoryPoint {
                    at: t0() + chrono::TimeDelta::seconds(2 * j as i64),
                    value: Some(if *name == Series::Health {
                        (100 - (j * 7 + seed * 11) % 40) as f64
                    } else {
                        (((j * (k + 3) + seed * 11) % 37) as f64) * (k as f64 + 1.0)
                    }),
                })
                .collect();
            (*name, pts)
        })
        .collect();
    History {
        tenant_id: tenant,
        series,
    }
}

/// The detail of sample tenant `i`.
pub fn detail(i: usize) -> TenantDetail {
    let tables = ["portfolios", "positions", "trades", "market_data", "orders"]
        .iter()
        .enumerate()
        .map(|(k, n)| TableDetail {
            name: (*n).to_string(),
            rows_estimate: (k as i64 + 1) * 12_345,
            total_bytes: (k as u64 + 1) * 3_456_789,
            dead_tuples: k as u64 * 17,
            last_vacuum: Some(t0() - chrono::TimeDelta::hours(k as i64 + 1)),
            last_analyze: if k == 4 {
                None
            } else {
                Some(t0() - chrono::TimeDelta::hours(2))
            },
            hypertable: None,
        })
        .collect();
    let sessions = (0..3)
        .map(|k| SessionDetail {
            pid: 41_000 + k,
            state: if k == 1 {
                "idle in transaction".into()
            } else {
                "active".into()
            },
            query: format!(
                "SELECT * FROM trades WHERE account_id = ${k} ORDER BY executed_at DESC"
            ),
            query_duration: Some(Duration::from_millis(120 * (k as u64 + 1))),
            xact_duration: Some(Duration::from_secs(3 * (k as u64 + 1))),
            wait_event: if k == 2 {
                Some("Lock:tuple".into())
            } else {
                None
            },
            application_name: "tradesage-api".into(),
            client_addr: Some("10.0.4.17".into()),
        })
        .collect();
    let statements = (0..4)
        .map(|k| StatementDetail {
            query: format!("UPDATE positions SET qty = qty + $1 WHERE id = $2 -- {k}"),
            calls: 10_000 / (k + 1),
            total_ms: 5_432.1 / (k as f64 + 1.0),
            mean_ms: 0.54,
            rows: 9_000 / (k + 1),
        })
        .collect();
    TenantDetail {
        tenant_id: id(i),
        tables,
        sessions,
        statements: Some(statements),
        trades_today: Some(1_234),
        last_activity: Some(t0() - chrono::TimeDelta::minutes(3)),
        drift: Vec::new(),
    }
}

/// Audit rows.
pub fn audit(n: usize) -> Vec<AuditEntry> {
    let actions = ["create", "update", "suspend", "resume", "delete"];
    (0..n)
        .map(|k| AuditEntry {
            id: k as i64 + 1,
            at: t0() - chrono::TimeDelta::minutes(7 * k as i64),
            actor: "ana@ops1 (ssh from 10.1.2.3)".into(),
            db_role: "tenantctl_admin".into(),
            action: actions[k % actions.len()].into(),
            tenant_id: Some(id(k)),
            outcome: if k == 2 { "error".into() } else { "ok".into() },
            detail: serde_json::json!({"reason": "scheduled"}),
            duration_ms: Some(12 + k as i32),
        })
        .collect()
}

/// Alerts.
pub fn alerts() -> Vec<Alert> {
    vec![
        Alert {
            id: 1,
            raised_at: t0() - chrono::TimeDelta::minutes(4),
            cleared_at: None,
            tenant_id: Some(id(5)),
            kind: AlertKind::Quota,
            severity: Severity::Critical,
            message: "storage 9.6 GiB of 10 GiB (96%)".into(),
        },
        Alert {
            id: 2,
            raised_at: t0() - chrono::TimeDelta::minutes(12),
            cleared_at: Some(t0() - chrono::TimeDelta::minutes(2)),
            tenant_id: Some(id(0)),
            kind: AlertKind::LongRunning,
            severity: Severity::Warning,
            message: "a statement ran for 6m12s".into(),
        },
    ]
}

/// A console connected to "prod" with `n` tenants, a snapshot, alerts and
/// audit rows applied, at 80×24, dark theme unless `theme` says otherwise.
pub fn state(n: usize, theme: ThemeName) -> State {
    let mut config = Config::for_url("host=/nonexistent");
    config.cluster_name = "prod".into();
    config.ui.theme = theme;
    let mut s = State::new(&config, Keymap::default(), t0());
    for ev in [
        Event::Connected {
            cluster: "prod".into(),
            server_version: "16.4".into(),
            endpoint: "db1.internal:5432".into(),
            read_only: false,
        },
        Event::Tenants(Arc::new(tenants(n))),
        Event::Snapshot(Arc::new(snapshot(n, 1))),
        Event::Alerts(alerts()),
    ] {
        let _ = update(&mut s, Action::Backend(ev));
    }
    let _ = update(&mut s, Action::Tick(t0() + chrono::TimeDelta::seconds(3)));
    s.message = None;
    s
}
