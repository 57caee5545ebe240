//! The fold as a pure function: readings made by hand, no database.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::monitor::Monitor;
use super::sampler::{Read, Readings, SweepReading};
use crate::config::MonitoringConfig;
use crate::db::metrics::{
    Sample, SessionRow, SizeRow, StatementRow, StatementsRead, TableCounters, TotalsRow,
};
use crate::domain::metrics::{AlertKind, MonitoredTenant, Severity};
use crate::domain::tenant::TenantStatus;
use crate::domain::thresholds::Thresholds;
use crate::error::Error;

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_800_000_000_000 + ms).expect("time")
}

fn tenant(n: u128) -> MonitoredTenant {
    MonitoredTenant {
        id: Uuid::from_u128(n),
        name: format!("T{n}"),
        domain: format!("t{n}.test"),
        schema_name: format!("s{n}"),
        role_name: format!("r{n}"),
        status: TenantStatus::Active,
        connection_limit: 10,
        storage_quota_bytes: Some(1_000_000),
        template_version: 1,
        latest_template_version: None,
        expected_tables: Arc::from([]),
        expected_indexes: Arc::from([]),
        reference: None,
        created_at: None,
    }
}

fn ok<T>(v: T) -> Read<T> {
    Read {
        took: Duration::from_millis(1),
        value: Ok(v),
    }
}

fn failed<T>(what: &str) -> Read<T> {
    Read {
        took: Duration::from_millis(1),
        value: Err(Error::failure(what)),
    }
}

/// One tick's readings: every tenant present with `bytes`, `written` rows
/// and `calls`, all lanes read at `lane_ms` (tables) and `now_ms` (the rest).
struct Tick {
    now_ms: i64,
    tables_ms: i64,
    statements_ms: i64,
    written: u64,
    calls: u64,
    bytes: u64,
    sessions: u32,
    connections: u32,
}

impl Default for Tick {
    fn default() -> Self {
        Self {
            now_ms: 0,
            tables_ms: 0,
            statements_ms: 0,
            written: 0,
            calls: 0,
            bytes: 1000,
            sessions: 1,
            connections: 5,
        }
    }
}

fn readings(targets: &Arc<Vec<MonitoredTenant>>, k: &Tick) -> Readings {
    let mut r = Readings::unconnected(Arc::clone(targets), Error::failure("unused"));
    r.connection = Ok(());
    r.lanes_lost = false;
    r.blocking = ok(Sample {
        at: Some(at(k.now_ms)),
        rows: Vec::new(),
    });
    r.sizes = ok(Sample {
        at: Some(at(k.now_ms)),
        rows: targets
            .iter()
            .map(|t| SizeRow {
                schema: t.schema_name.clone(),
                bytes: k.bytes,
                relations: 4,
            })
            .collect(),
    });
    r.tables = ok(Sample {
        at: Some(at(k.tables_ms)),
        rows: targets
            .iter()
            .map(|t| {
                (
                    t.schema_name.clone(),
                    TableCounters {
                        rows_written: k.written,
                        ..TableCounters::default()
                    },
                )
            })
            .collect(),
    });
    r.sessions = ok(Sample {
        at: Some(at(k.now_ms)),
        rows: targets
            .iter()
            .map(|t| SessionRow {
                role: t.role_name.clone(),
                total: k.sessions,
                active: 0,
                idle: k.sessions,
                idle_in_tx: 0,
                longest_running_s: None,
                oldest_xact_s: None,
                idle_in_tx_longest_s: None,
            })
            .collect(),
    });
    r.statements = ok(StatementsRead::Rows(Sample {
        at: Some(at(k.statements_ms)),
        rows: targets
            .iter()
            .map(|t| StatementRow {
                role: t.role_name.clone(),
                calls: k.calls,
                total_ms: k.calls as f64,
            })
            .collect(),
    }));
    r.totals = ok(TotalsRow {
        at: at(k.now_ms),
        database_bytes: None,
        connections: k.connections,
        max_connections: 100,
        xact_commit: 10,
        blks_hit: 90,
        blks_read: 10,
        server_version: "17".into(),
    });
    r.sweep = SweepReading::default();
    r
}

fn monitor() -> Monitor {
    let cfg = MonitoringConfig {
        exact_sweep_batch: 0,
        ..MonitoringConfig::default()
    };
    Monitor::new(&cfg, &Thresholds::default())
}

fn fold(
    m: &mut Monitor,
    targets: &Arc<Vec<MonitoredTenant>>,
    k: &Tick,
) -> Arc<crate::domain::metrics::Snapshot> {
    let _plan = m.plan(targets);
    m.fold(readings(targets, k), at(k.now_ms)).expect("fold")
}

#[test]
fn rates_divide_by_each_lanes_own_server_clock() {
    let targets = Arc::new(vec![tenant(1)]);
    let mut m = monitor();
    let first = fold(&mut m, &targets, &Tick::default());
    let id = Uuid::from_u128(1);
    assert_eq!(
        first.tenants[&id].writes_per_s, None,
        "no rate on the first reading"
    );
    assert_eq!(first.tenants[&id].calls_per_s, None);
    // Tables read 4 s later by their lane's clock, statements 2 s later by
    // theirs, while the snapshot's clock moved 3 s.
    let second = fold(
        &mut m,
        &targets,
        &Tick {
            now_ms: 3000,
            tables_ms: 4000,
            statements_ms: 2000,
            written: 400,
            calls: 100,
            ..Tick::default()
        },
    );
    let t = &second.tenants[&id];
    assert_eq!(t.writes_per_s, Some(100.0));
    assert_eq!(t.calls_per_s, Some(50.0));
    assert_eq!(t.rows_written, 400);
    assert_eq!(second.taken_at, at(3000));
    assert_eq!(second.generation, 2);
}

#[test]
fn a_counter_that_went_down_is_no_rate_never_a_negative_one() {
    let targets = Arc::new(vec![tenant(1)]);
    let mut m = monitor();
    let id = Uuid::from_u128(1);
    let tick = |ms: i64, written: u64| Tick {
        now_ms: ms,
        tables_ms: ms,
        statements_ms: ms,
        written,
        calls: written,
        ..Tick::default()
    };
    fold(&mut m, &targets, &tick(0, 500));
    let s = fold(&mut m, &targets, &tick(1000, 600));
    assert_eq!(s.tenants[&id].writes_per_s, Some(100.0));
    let reset = fold(&mut m, &targets, &tick(2000, 10));
    assert_eq!(reset.tenants[&id].writes_per_s, None, "reset");
    assert_eq!(reset.tenants[&id].calls_per_s, None, "reset");
    let after = fold(&mut m, &targets, &tick(3000, 30));
    assert_eq!(
        after.tenants[&id].writes_per_s,
        Some(20.0),
        "counts from the reset"
    );
    // The same clock twice: no rate (no division by zero).
    let same = fold(&mut m, &targets, &tick(3000, 40));
    assert_eq!(same.tenants[&id].writes_per_s, None);
}

#[test]
fn a_stale_lane_keeps_its_values_is_listed_and_raises_until_it_answers() {
    let targets = Arc::new(vec![tenant(1)]);
    let mut m = monitor();
    let id = Uuid::from_u128(1);
    fold(
        &mut m,
        &targets,
        &Tick {
            sessions: 7,
            ..Tick::default()
        },
    );
    let _ = m.plan(&targets);
    let mut r = readings(
        &targets,
        &Tick {
            now_ms: 2000,
            sessions: 1,
            bytes: 5000,
            ..Tick::default()
        },
    );
    r.sessions = failed("sessions: no answer within 2000 ms");
    let s = m.fold(r, at(2000)).expect("fold");
    assert_eq!(s.stale, vec!["sessions".to_string()]);
    assert_eq!(s.tenants[&id].sessions_total, 7, "previous value kept");
    assert_eq!(s.tenants[&id].size_bytes, 5000, "other lanes move on");
    let open: Vec<_> = m
        .alerts()
        .into_iter()
        .filter(|a| a.cleared_at.is_none())
        .collect();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].kind, AlertKind::OperationFailed);
    assert_eq!(open[0].tenant_id, None);
    assert!(open[0].message.contains("sessions"), "{}", open[0].message);
    // Failing again: still one alert.
    let _ = m.plan(&targets);
    let mut r = readings(
        &targets,
        &Tick {
            now_ms: 4000,
            ..Tick::default()
        },
    );
    r.sessions = failed("again");
    m.fold(r, at(4000)).expect("fold");
    assert_eq!(m.alerts().len(), 1);
    // It answers: cleared.
    let s = fold(
        &mut m,
        &targets,
        &Tick {
            now_ms: 6000,
            sessions: 2,
            ..Tick::default()
        },
    );
    assert!(s.stale.is_empty());
    assert_eq!(s.tenants[&id].sessions_total, 2);
    let all = m.alerts();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].cleared_at, Some(at(6000)));
}

#[test]
fn no_connection_is_an_error_one_alert_and_the_last_snapshot_stays() {
    let targets = Arc::new(vec![tenant(1)]);
    let mut m = monitor();
    let first = fold(&mut m, &targets, &Tick::default());
    for s in 1..4 {
        let _ = m.plan(&targets);
        let r = Readings::unconnected(Arc::clone(&targets), Error::failure("connection refused"));
        assert!(m.fold(r, at(s * 1000)).is_err());
    }
    assert_eq!(m.last_snapshot(), first);
    let open: Vec<_> = m
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::ConnectionLost && a.cleared_at.is_none())
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].severity, Severity::Critical);
    fold(
        &mut m,
        &targets,
        &Tick {
            now_ms: 9000,
            ..Tick::default()
        },
    );
    let lost: Vec<_> = m
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::ConnectionLost)
        .collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(
        lost[0].cleared_at,
        Some(at(9000)),
        "the next good tick clears it"
    );
}

#[test]
fn persisting_conditions_are_one_alert_and_cluster_connections_use_the_threshold() {
    let mut t = tenant(1);
    t.storage_quota_bytes = Some(1000);
    let targets = Arc::new(vec![t]);
    let mut m = monitor();
    for s in 0..5 {
        fold(
            &mut m,
            &targets,
            &Tick {
                now_ms: s * 1000,
                bytes: 2000,
                connections: 95,
                ..Tick::default()
            },
        );
    }
    let kinds: Vec<AlertKind> = m.alerts().iter().map(|a| a.kind).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&AlertKind::Quota));
    assert!(kinds.contains(&AlertKind::ClusterConnections));
    assert!(m.alerts_changed());
    fold(
        &mut m,
        &targets,
        &Tick {
            now_ms: 6000,
            bytes: 2000,
            connections: 95,
            ..Tick::default()
        },
    );
    assert!(!m.alerts_changed(), "nothing new while they persist");
    fold(
        &mut m,
        &targets,
        &Tick {
            now_ms: 7000,
            bytes: 10,
            connections: 10,
            ..Tick::default()
        },
    );
    assert!(m.alerts().iter().all(|a| a.cleared_at == Some(at(7000))));
    assert_eq!(m.alerts().len(), 2);
}

#[test]
fn equal_drift_lists_are_shared_and_applied_to_their_tenants() {
    let tables: Arc<[String]> = Arc::from(vec!["trades".to_string(), "market_data".to_string()]);
    let mk = |n| {
        let mut t = tenant(n);
        t.expected_tables = Arc::clone(&tables);
        t
    };
    let targets = Arc::new(vec![mk(1), mk(2), mk(3)]);
    let mut m = monitor();
    let plan = m.plan(&targets);
    let groups = plan.drift.expect("first plan checks drift");
    assert_eq!(groups.len(), 1, "one template, one group");
    assert_eq!(groups[0].0, vec!["s1", "s2", "s3"]);
    assert_eq!(groups[0].1, vec!["trades", "market_data"]);
    let mut r = readings(&targets, &Tick::default());
    r.drift = Some(ok(vec![
        ("s1".into(), Arc::from(vec!["market_data".to_string()])),
        ("s2".into(), Arc::from(vec!["market_data".to_string()])),
    ]));
    let s = m.fold(r, at(0)).expect("fold");
    let d1 = &s.tenants[&Uuid::from_u128(1)].drift;
    let d2 = &s.tenants[&Uuid::from_u128(2)].drift;
    assert_eq!(&d1[..], ["market_data".to_string()]);
    assert!(Arc::ptr_eq(d1, d2), "equal lists share one allocation");
    assert!(s.tenants[&Uuid::from_u128(3)].drift.is_empty());
    assert!(
        s.tenants[&Uuid::from_u128(1)]
            .health
            .reasons
            .iter()
            .any(|r| r.text.contains("schema drift")),
        "drift costs health"
    );
    let h1 = &s.tenants[&Uuid::from_u128(1)].health.reasons;
    let h2 = &s.tenants[&Uuid::from_u128(2)].health.reasons;
    assert!(
        Arc::ptr_eq(h1, h2),
        "tenants with the same deductions share one list of reasons"
    );
    assert!(!Arc::ptr_eq(
        h1,
        &s.tenants[&Uuid::from_u128(3)].health.reasons
    ));
    // Unchanged targets: no new check until it is due.
    assert!(m.plan(&targets).drift.is_none());
}

#[test]
fn health_history_is_kept_for_the_monitor_ranked_by_health() {
    let targets = Arc::new(vec![tenant(1)]);
    let mut m = monitor();
    fold(&mut m, &targets, &Tick::default());
    fold(
        &mut m,
        &targets,
        &Tick {
            now_ms: 1000,
            sessions: 10,
            ..Tick::default()
        },
    );
    let h = m.history(&[Uuid::from_u128(1)]);
    let health = h[0]
        .points(crate::domain::metrics::Series::Health)
        .expect("a health series");
    let values: Vec<Option<f64>> = health.iter().map(|p| p.value).collect();
    // 10 of 10 connections: at the limit (30 points).
    assert_eq!(values, vec![Some(100.0), Some(70.0)]);
}
