//! Detail on demand, cancel/terminate limited to the tenant's role, and the
//! usage writer election, against a real PostgreSQL.

use std::time::Duration;

use crate::common::fresh_db_init;
use crate::support::{connect_as, create_tenant, monitoring, thresholds};
use tenantctl::backend::collector::Collector;
use tenantctl::db::{detail, usage};

#[tokio::test]
async fn detail_shows_tables_sessions_statements_and_trades() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let s = connect_as(&db, &a.role_name).await;
    s.batch_execute(
        "INSERT INTO trades (symbol, qty, price) SELECT 'ACME', g, 2 FROM generate_series(1, 25) g;
         INSERT INTO trades (symbol, qty, price, \"timestamp\") VALUES ('OLD', 1, 1, now() - interval '3 days');
         INSERT INTO positions (symbol, qty) VALUES ('ACME', 25);
         ANALYZE trades;",
    )
    .await
    .expect("seed");
    crate::support::flush_stats(&s).await;
    let idle = connect_as(&db, &a.role_name).await;
    idle.batch_execute("BEGIN; SELECT count(*) FROM positions")
        .await
        .expect("idle in tx");

    let d = detail::tenant_detail(&db, &a).await.expect("detail");
    assert_eq!(d.tenant_id, a.id);
    let names: Vec<&str> = d.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["positions", "trades"]);
    let trades = &d.tables[1];
    assert_eq!(trades.rows_estimate, 26);
    assert!(trades.total_bytes > 8192);
    assert!(trades.last_analyze.is_some());
    assert_eq!(d.trades_today, Some(25));
    let last = d.last_activity.expect("last trade");
    assert!((chrono::Utc::now() - last).num_minutes() < 5);
    assert!(d.drift.is_empty());
    let states: Vec<&str> = d.sessions.iter().map(|x| x.state.as_str()).collect();
    assert!(states.contains(&"idle in transaction"), "{states:?}");
    assert!(d.sessions.iter().any(|x| x.query.contains("positions")));
    let statements = d.statements.expect("pg_stat_statements");
    assert!(!statements.is_empty());
    assert!(
        statements.iter().any(|x| x.query.contains("trades")),
        "{statements:?}"
    );
    assert!(
        statements
            .windows(2)
            .all(|w| w[0].total_ms >= w[1].total_ms)
    );

    // A tenant without a trades table, with drift.
    let mut b = create_tenant(&db, "Beta").await;
    crate::common::superuser_exec(
        &db.params.dbname,
        &format!("DROP TABLE {}.trades", b.schema_name),
    );
    crate::support::expect_table(&mut b, "market_data");
    let d = detail::tenant_detail(&db, &b).await.expect("detail");
    assert_eq!(d.trades_today, None);
    assert_eq!(d.last_activity, None);
    assert_eq!(d.drift, vec!["market_data", "trades", "trades_timestamp"]);
    idle.batch_execute("ROLLBACK").await.expect("rollback");
}

#[tokio::test]
async fn cancel_and_terminate_only_touch_the_tenants_own_sessions() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let b = create_tenant(&db, "Beta").await;
    let sleeper = connect_as(&db, &a.role_name).await;
    let pid: i32 = sleeper
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    let running = tokio::spawn(async move {
        let r = sleeper.batch_execute("SELECT pg_sleep(30)").await;
        (sleeper, r)
    });
    // Wait until it is running.
    for _ in 0..100 {
        let d = detail::tenant_detail(&db, &a).await.expect("detail");
        if d.sessions
            .iter()
            .any(|s| s.pid == pid && s.state == "active")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !detail::cancel_session(&db, &b.role_name, pid)
            .await
            .expect("cancel"),
        "B may not cancel A's session"
    );
    assert!(
        !detail::terminate_session(&db, &b.role_name, pid)
            .await
            .expect("terminate")
    );
    assert!(
        detail::cancel_session(&db, &a.role_name, pid)
            .await
            .expect("cancel")
    );
    let (sleeper, result) = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("cancelled in time")
        .expect("join");
    let err = result.expect_err("statement was cancelled");
    let msg = err
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("cancel"), "{err:?}");
    assert!(
        detail::terminate_session(&db, &a.role_name, pid)
            .await
            .expect("terminate")
    );
    for _ in 0..100 {
        if sleeper.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(sleeper.is_closed());
    assert!(
        !detail::terminate_session(&db, &a.role_name, 999_999)
            .await
            .expect("no such pid")
    );
}

#[tokio::test]
async fn one_usage_writer_is_elected_and_another_takes_over() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let b = create_tenant(&db, "Beta").await;
    let all = vec![a.clone(), b.clone()];
    let mut cfg = monitoring();
    cfg.record_usage = true;
    let mut one = Collector::new(&cfg, &thresholds());
    let mut two = Collector::new(&cfg, &thresholds());
    one.monitor.set_usage_period(Duration::from_secs(1));
    two.monitor.set_usage_period(Duration::from_secs(1));
    let s = connect_as(&db, &a.role_name).await;
    let mut written = (0, 0);
    for i in 0..8 {
        s.batch_execute(&format!(
            "INSERT INTO trades (symbol, qty, price) VALUES ('X', {i}, 1)"
        ))
        .await
        .expect("write");
        crate::support::flush_stats(&s).await;
        one.tick(&db, &all).await.expect("tick one");
        written.0 += one.monitor.last_tick_stats().usage_written;
        two.tick(&db, &all).await.expect("tick two");
        written.1 += two.monitor.last_tick_stats().usage_written;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(one.is_usage_writer());
    assert!(!two.is_usage_writer());
    assert!(written.0 >= 4, "{written:?}");
    assert_eq!(written.1, 0);
    let from = chrono::Utc::now() - chrono::Duration::hours(1);
    let to = chrono::Utc::now() + chrono::Duration::hours(1);
    let rows = usage::export(&db, from, to).await.expect("export");
    assert_eq!(rows.len() as u64, written.0);
    let a_rows: Vec<_> = rows.iter().filter(|r| r.tenant_id == a.id).collect();
    assert!(a_rows.iter().map(|r| r.rows_written).sum::<i64>() >= 3);
    assert!(!a_rows.is_empty());
    assert!(a_rows.iter().all(|r| r.bytes > 0 && r.calls.is_some()));

    // The writer goes away: the other console takes over.
    one.disconnect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..4 {
        two.tick(&db, &all).await.expect("tick two");
        written.1 += two.monitor.last_tick_stats().usage_written;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(two.is_usage_writer());
    assert!(written.1 >= 2, "{written:?}");
}
