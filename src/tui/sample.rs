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
        health: Health {
            score,
            reasons: reasons.into(),
        },
        statement_share: Some(share_weight(i, generation)),
        share_score: Some(
            share_weight(i, generation.saturating_sub(1)) + share_weight(i, generation),
        ),
        wal_bytes_per_s: Some(
            ((i * 7_919 + g * 131) % 90_000) as f64 * if i % 17 == 4 { 40.0 } else { 1.0 },
        ),
        temp_bytes_per_s: Some(if i % 23 == 6 {
            8192.0 * ((i + g) % 50) as f64
        } else {
            0.0
        }),
        cache_hit: if i % 9 == 0 {
            None
        } else {
            Some(1.0 - ((i * 31) % 200) as f64 / if i % 19 == 7 { 400.0 } else { 4000.0 })
        },
        ..TenantMetrics::default()
    }
}

/// A heavy-tailed weight: a few tenants take most of the statement time.
fn share_weight(i: usize, generation: u64) -> f64 {
    let r = ((i * 7_727 + generation as usize * 13) % 1_000) as f64 / 1_000.0;
    r.powi(8) + if i == 1 { 3.0 } else { 0.0 }
}

/// Blocking chains: tenant 2 idles in a transaction holding a row lock
/// that tenant 4 waits for, and tenant 6 waits behind tenant 4; a batch
/// role outside the tenants blocks tenant 0.
pub fn blocking(taken_at: DateTime<Utc>) -> Vec<crate::domain::activity::BlockingChain> {
    use crate::domain::activity::LockSession;
    let s = |pid: i32,
             tenant: Option<usize>,
             state: &str,
             xact: i64,
             query: i64,
             wait: Option<i64>,
             q: &str,
             by: &[i32]| LockSession {
        pid,
        role: tenant.map_or_else(|| "etl_batch".to_string(), |i| object_name(&id(i))),
        tenant_id: tenant.map(id),
        state: state.into(),
        xact_start: Some(taken_at - chrono::TimeDelta::seconds(xact)),
        query_start: Some(taken_at - chrono::TimeDelta::seconds(query)),
        wait_start: wait.map(|w| taken_at - chrono::TimeDelta::seconds(w)),
        query: q.into(),
        blocked_by: by.to_vec(),
    };
    let sessions = vec![
        s(
            51_200,
            Some(2),
            "idle in transaction",
            95,
            94,
            None,
            "UPDATE positions SET qty = qty - 10 WHERE id = 42",
            &[],
        ),
        s(
            51_377,
            Some(4),
            "active",
            61,
            61,
            Some(61),
            "UPDATE positions SET qty = qty + 5 WHERE id = 42",
            &[51_200],
        ),
        s(
            51_410,
            Some(6),
            "active",
            20,
            20,
            Some(20),
            "DELETE FROM positions WHERE id = 42",
            &[51_377],
        ),
        s(
            52_001,
            None,
            "active",
            12,
            12,
            None,
            "LOCK TABLE market_data IN EXCLUSIVE MODE",
            &[],
        ),
        s(
            52_090,
            Some(0),
            "active",
            7,
            7,
            Some(7),
            "INSERT INTO market_data VALUES ($1, $2, $3)",
            &[52_001],
        ),
    ];
    crate::domain::activity::chains(&sessions, taken_at)
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
    fn statement_share(m: &mut TenantMetrics) -> &mut Option<f64> {
        &mut m.statement_share
    }
    fn share_score(m: &mut TenantMetrics) -> &mut Option<f64> {
        &mut m.share_score
    }
    let mut list: Vec<TenantMetrics> = (0..n).map(|i| metrics(i, generation)).collect();
    // Shares of the whole: normalized over the tenants (and a little for other roles).
    for f in [statement_share, share_score] {
        let sum: f64 = list.iter_mut().filter_map(|m| *f(m)).sum::<f64>() * 1.05;
        for m in &mut list {
            if let Some(v) = f(m) {
                *v /= sum.max(f64::MIN_POSITIVE);
            }
        }
    }
    let tenants: TenantMap = list.into();
    let taken_at = t0() + chrono::TimeDelta::seconds(2 * generation as i64);
    Snapshot {
        generation,
        taken_at,
        latency: Duration::from_millis(42),
        tenants,
        totals: ClusterTotals {
            database_bytes: 48 * 1024 * 1024 * 1024,
            connections: 87,
            max_connections: 200,
            commits_per_s: Some(412.5),
            cache_hit_ratio: Some(0.993),
            server_version: "16.4".into(),
            calls_per_s: Some(2_315.0),
            wal_bytes_per_s: Some(3.4 * 1024.0 * 1024.0),
            writes_per_s: Some(1_804.5),
        },
        stale: Vec::new(),
        statements_available: true,
        blocking: blocking(taken_at),
    }
}

/// A history of 60 points: a tenant's series, or the cluster's for `None`.
pub fn history(tenant: Option<Uuid>, seed: usize) -> History {
    if tenant.is_none() {
        return cluster_history(seed);
    }
    let series = Series::TENANT
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let pts = (0..60)
                .map(|j| HistoryPoint {
                    at: history_at(j),
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

/// The time of history point `j` of 60: 2 s apart, the last at the first
/// snapshot's time ([`t0`] + 2 s).
fn history_at(j: usize) -> DateTime<Utc> {
    history_at_of(j, 60)
}

fn history_at_of(j: usize, n: usize) -> DateTime<Utc> {
    t0() + chrono::TimeDelta::seconds(2 - 2 * (n as i64 - 1 - j as i64))
}

/// The cluster's series, 60 points 2 s apart, ending at the first snapshot.
pub fn cluster_history(seed: usize) -> History {
    cluster_history_of(60, seed)
}

/// The cluster's series with `n` points (450: 15 minutes at 2 s, for benchmarks).
pub fn cluster_history_of(n: usize, seed: usize) -> History {
    let series = Series::CLUSTER
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let pts = (0..n)
                .map(|j| {
                    let wave = (((j * (k + 2) + seed * 7) % 29) as f64) / 29.0;
                    let value = match name {
                        Series::ClusterCommits => 350.0 + 120.0 * wave,
                        Series::ClusterConnections => 70.0 + 30.0 * wave,
                        Series::ClusterCacheHit => 98.5 + 1.2 * wave,
                        Series::ClusterSize => 48.0 * 1024.0 * 1024.0 * 1024.0 + 2.0e6 * j as f64,
                        Series::ClusterCalls => 1_900.0 + 800.0 * wave,
                        Series::ClusterWal => 2.5e6 + 2.0e6 * wave,
                        _ => 1_500.0 + 600.0 * wave,
                    };
                    HistoryPoint {
                        at: history_at_of(j, n),
                        value: (j > 0 || k != 4).then_some(value),
                    }
                })
                .collect();
            (*name, pts)
        })
        .collect();
    History {
        tenant_id: None,
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

/// The id of sample migration run `i`.
pub fn run_id(i: usize) -> Uuid {
    Uuid::from_u128(0x5a11_0000_0000_4000_8000_0000_0000_0000 + ((i as u128) << 96))
}

/// Three migration runs, newest first: one running (with a failure), one
/// paused, one done.
pub fn runs() -> Vec<crate::domain::runs::RunSummary> {
    use crate::domain::runs::RunSummary;
    let run = |i: usize, state: &str, mins: i64, counts: [usize; 5], ended: bool| RunSummary {
        id: run_id(i),
        template: "default".into(),
        to_version: 3,
        state: state.into(),
        actor: "ops@example.com".into(),
        started_at: t0() - chrono::TimeDelta::minutes(mins),
        ended_at: ended.then(|| t0() - chrono::TimeDelta::minutes(mins - 2)),
        done: counts[0],
        failed: counts[1],
        running: counts[2],
        queued: counts[3],
        skipped: counts[4],
    };
    vec![
        run(0, "running", 1, [3, 1, 2, 4, 0], false),
        run(1, "paused", 90, [10, 0, 0, 20, 0], true),
        run(2, "done", 600, [30, 0, 0, 0, 0], true),
    ]
}

/// The tenants of the running sample run, failures first: one failed
/// (its error carries escape sequences), two running, four queued, three
/// done.
pub fn run_tenants() -> Vec<crate::domain::runs::RunTenant> {
    use crate::domain::runs::RunTenant;
    let names = tenants(10);
    let mut v: Vec<RunTenant> = names
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let state = match i {
                0..=2 => "done",
                3 => "failed",
                4 | 5 => "running",
                _ => "queued",
            };
            RunTenant {
                tenant_id: t.id,
                domain: t.domain.clone(),
                state: state.into(),
                from_version: 1,
                to_version: 3,
                at_version: match state {
                    "done" => 3,
                    "running" if i == 4 => 2,
                    _ => 1,
                },
                attempts: match state {
                    "failed" => 8,
                    "queued" => 0,
                    _ => 1,
                },
                error: (state == "failed").then(|| {
                    "orders: lock not granted \u{1b}]0;pwned\u{7}(after 8 attempts)".to_string()
                }),
                duration_ms: match state {
                    "done" => Some(120 + i32::try_from(i).unwrap_or(0) * 10),
                    "failed" => Some(16_400),
                    _ => None,
                },
            }
        })
        .collect();
    crate::domain::runs::failures_first(&mut v);
    v
}
