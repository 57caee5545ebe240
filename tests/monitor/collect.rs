//! Live monitoring against a real PostgreSQL: attribution by role, rates
//! over the server clock, counter resets, missing pg_stat_statements,
//! dropped tenants, stale sources, the exact-size sweep.

use std::time::Duration;

use crate::common::fresh_db_init;
use crate::support::{connect_as, create_tenant, flush_stats, monitoring, thresholds};
use tenantctl::backend::collector::Collector;
use tenantctl::db::Db;
use tenantctl::domain::metrics::AlertKind;
use tenantctl::domain::metrics::MonitoredTenant;

async fn exact_total(db: &Db, schema: &str) -> u64 {
    let c = db.client().await.expect("client");
    let r = c
        .query_one(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')",
            &[&schema],
        )
        .await
        .expect("size");
    u64::try_from(r.get::<_, i64>(0)).expect("non-negative")
}

async fn insert_trades(c: &tokio_postgres::Client, n: i32) {
    // No schema named: the role's search_path finds its own tables.
    c.execute(
        "INSERT INTO trades (symbol, qty, price) SELECT 'ACME', g, 1.5 FROM generate_series(1, $1) g",
        &[&n],
    )
    .await
    .expect("insert");
}

fn tenants(list: &[&MonitoredTenant]) -> Vec<MonitoredTenant> {
    list.iter().map(|t| (*t).clone()).collect()
}

#[tokio::test]
async fn sessions_and_statements_land_on_their_own_tenant() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let b = create_tenant(&db, "Beta").await;
    let all = tenants(&[&a, &b]);
    let mut col = Collector::new(&monitoring(), &thresholds());
    let first = col.tick(&db, &all).await.expect("tick 1");

    let s1 = connect_as(&db, &a.role_name).await;
    let s2 = connect_as(&db, &a.role_name).await;
    insert_trades(&s1, 10).await;
    for _ in 0..5 {
        s1.query("SELECT count(*) FROM positions", &[])
            .await
            .expect("select");
    }
    s2.batch_execute("BEGIN; SELECT 1 FROM trades LIMIT 1")
        .await
        .expect("idle in tx");
    flush_stats(&s1).await;

    let snap = col.tick(&db, &all).await.expect("tick 2");
    assert!(snap.statements_available);
    assert!(snap.stale.is_empty(), "{:?}", snap.stale);
    let ma = &snap.tenants[&a.id];
    let mb = &snap.tenants[&b.id];
    assert_eq!(ma.sessions_total, 2, "{ma:?}");
    assert_eq!(ma.sessions_idle_in_tx, 1);
    assert!(ma.idle_in_tx_longest.is_some());
    assert!(ma.oldest_xact.is_some());
    assert_eq!(ma.rows_written, 10);
    assert!(
        ma.total_calls.expect("calls") >= 7,
        "search_path statements count for A: {ma:?}"
    );
    assert!(ma.calls_per_s.expect("rate") > 0.0);
    assert!(ma.mean_exec_ms.is_some());
    assert_eq!(mb.sessions_total, 0, "{mb:?}");
    // B's only statements are its creation DDL (run under SET ROLE): none since.
    assert_eq!(mb.total_calls, first.tenants[&b.id].total_calls);
    assert_eq!(mb.calls_per_s, Some(0.0));
    assert_eq!(mb.rows_written, 0);
    assert!(ma.size_approx_bytes > 0);
    s2.batch_execute("ROLLBACK").await.expect("rollback");
}

#[tokio::test]
async fn rates_follow_rows_written_over_the_server_clock() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let all = tenants(&[&a]);
    let mut col = Collector::new(&monitoring(), &thresholds());
    let s = connect_as(&db, &a.role_name).await;
    insert_trades(&s, 5).await;
    flush_stats(&s).await;
    // Tick by hand so the test reads the table-statistics lane's own server
    // time: the rate is over that clock, not the snapshot's.
    let targets = std::sync::Arc::new(all.clone());
    let tables_at = |r: &tenantctl::backend::collector::Readings| {
        r.tables
            .value
            .as_ref()
            .expect("table statistics")
            .at
            .expect("server time")
    };
    let plan = col.monitor.plan(&targets);
    let r1 = col.sampler.sample(&db, &plan).await;
    let t1 = tables_at(&r1);
    let first = col.monitor.fold(r1, chrono::Utc::now()).expect("tick 1");
    assert_eq!(
        first.tenants[&a.id].writes_per_s, None,
        "no rate on the first sample"
    );
    // Long enough that the lanes' few ms apart could not hide in the tolerance.
    tokio::time::sleep(Duration::from_secs(1)).await;
    insert_trades(&s, 600).await;
    s.execute("UPDATE trades SET qty = qty + 1 WHERE id <= 100", &[])
        .await
        .expect("update");
    flush_stats(&s).await;
    let plan = col.monitor.plan(&targets);
    let r2 = col.sampler.sample(&db, &plan).await;
    let t2 = tables_at(&r2);
    let second = col.monitor.fold(r2, chrono::Utc::now()).expect("tick 2");
    // In server milliseconds, as the store keeps readings.
    let elapsed = (t2.timestamp_millis() - t1.timestamp_millis()) as f64 / 1000.0;
    assert!(elapsed >= 1.0, "{elapsed}");
    let m = &second.tenants[&a.id];
    assert_eq!(m.rows_written, 705);
    let rate = m.writes_per_s.expect("rate");
    // Same clock as the code: only float rounding remains.
    assert!(
        (rate * elapsed - 700.0).abs() < 1e-6,
        "rate {rate} over {elapsed}s should be 700 rows"
    );
    let h = col.monitor.history(&[a.id]);
    assert_eq!(h.len(), 2, "tenant and cluster");
    let writes = &h[0].series[1];
    assert_eq!(writes.0, tenantctl::domain::metrics::Series::Writes);
    assert_eq!(writes.1.len(), 2);
    assert!(writes.1[1].value.is_some());
}

#[tokio::test]
async fn counter_reset_gives_no_rate_never_a_negative_one() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let all = tenants(&[&a]);
    let mut col = Collector::new(&monitoring(), &thresholds());
    let s = connect_as(&db, &a.role_name).await;
    insert_trades(&s, 50).await;
    flush_stats(&s).await;
    col.tick(&db, &all).await.expect("tick 1");
    insert_trades(&s, 50).await;
    flush_stats(&s).await;
    let snap = col.tick(&db, &all).await.expect("tick 2");
    assert!(snap.tenants[&a.id].writes_per_s.expect("rate") > 0.0);

    // Resetting statistics is a superuser's (a setup step, not tenantctl).
    let admin = Db::connect(&crate::common::superuser_config(&db.params.dbname))
        .await
        .expect("superuser");
    let admin = admin.client().await.expect("client");
    admin
        .execute(
            "SELECT pg_stat_reset(), pg_stat_statements_reset((SELECT oid FROM pg_roles WHERE rolname = $1), 0, 0)",
            &[&a.role_name],
        )
        .await
        .expect("reset");
    flush_stats(&admin).await;
    let snap = col.tick(&db, &all).await.expect("tick 3");
    let m = &snap.tenants[&a.id];
    assert_eq!(m.writes_per_s, None, "reset: {m:?}");
    assert_eq!(m.calls_per_s, None, "reset: {m:?}");
    insert_trades(&s, 20).await;
    flush_stats(&s).await;
    let snap = col.tick(&db, &all).await.expect("tick 4");
    let m = &snap.tenants[&a.id];
    assert!(m.writes_per_s.expect("rate again") > 0.0);
    assert!(m.calls_per_s.expect("rate again") >= 0.0);
}

#[tokio::test]
async fn missing_pg_stat_statements_shows_na_and_nothing_else_breaks() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let all = tenants(&[&a]);
    let mut col = Collector::new(&monitoring(), &thresholds());
    let snap = col.tick(&db, &all).await.expect("tick 1");
    assert!(snap.statements_available);
    // Dropped between ticks.
    // The extension belongs to the superuser who installed it.
    crate::common::superuser_exec(&db.params.dbname, "DROP EXTENSION pg_stat_statements");
    let snap = col.tick(&db, &all).await.expect("tick 2");
    assert!(!snap.statements_available);
    assert!(snap.stale.is_empty(), "{:?}", snap.stale);
    let m = &snap.tenants[&a.id];
    assert_eq!(m.total_calls, None);
    assert_eq!(m.calls_per_s, None);
    assert_eq!(m.mean_exec_ms, None);
    assert!(m.size_bytes > 0);
    // And a collector that starts without it.
    let mut fresh = Collector::new(&monitoring(), &thresholds());
    let snap = fresh.tick(&db, &all).await.expect("tick");
    assert!(!snap.statements_available);
    assert!(snap.stale.is_empty(), "{:?}", snap.stale);
    assert!(snap.tenants.contains_key(&a.id));
    assert!(snap.totals.max_connections > 0);
}

#[tokio::test]
async fn dropped_tenant_disappears_cleanly() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let b = create_tenant(&db, "Beta").await;
    let all = tenants(&[&a, &b]);
    let mut col = Collector::new(&monitoring(), &thresholds());
    let snap = col.tick(&db, &all).await.expect("tick 1");
    assert_eq!(snap.tenants.len(), 2);
    // Dropped behind tenantctl's back, by a superuser.
    crate::common::superuser_exec(
        &db.params.dbname,
        &format!("DROP SCHEMA {0} CASCADE; DROP ROLE {0}", b.schema_name),
    );
    // The tenant list still names B (the row is not updated yet).
    let snap = col.tick(&db, &all).await.expect("tick 2");
    assert!(snap.stale.is_empty(), "{:?}", snap.stale);
    assert_eq!(snap.tenants.len(), 1);
    assert!(snap.tenants.contains_key(&a.id));
    assert_eq!(
        col.monitor.history(&[b.id]).len(),
        1,
        "only the cluster series"
    );
    // And once the list drops it too.
    let snap = col.tick(&db, &tenants(&[&a])).await.expect("tick 3");
    assert_eq!(snap.tenants.len(), 1);
}

#[tokio::test]
async fn a_query_that_times_out_keeps_the_other_values() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let all = tenants(&[&a]);
    let mut cfg = monitoring();
    cfg.query_timeout = tenantctl::config::Dur(Duration::from_millis(400));
    cfg.exact_sweep_budget = tenantctl::config::Dur(Duration::ZERO);
    let mut col = Collector::new(&cfg, &thresholds());
    let s = connect_as(&db, &a.role_name).await;
    insert_trades(&s, 10).await;
    flush_stats(&s).await;
    col.tick(&db, &all).await.expect("tick 1");
    // Hold pg_authid: everything reading roles or sessions waits, the
    // catalog-only queries (sizes, table statistics) do not.
    // Locking a shared catalog takes a superuser (a setup step, not tenantctl).
    let admin = Db::connect(&crate::common::superuser_config(&db.params.dbname))
        .await
        .expect("superuser");
    let mut locker = admin.client().await.expect("client");
    let tx = locker.transaction().await.expect("begin");
    tx.batch_execute("LOCK TABLE pg_catalog.pg_authid IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let snap = col.tick(&db, &all).await.expect("tick 2");
    tx.rollback().await.expect("rollback");
    assert!(
        snap.stale.iter().any(|s| s == "sessions"),
        "{:?}",
        snap.stale
    );
    assert!(
        !snap
            .stale
            .iter()
            .any(|s| s == "sizes" || s == "table statistics"),
        "{:?}",
        snap.stale
    );
    let m = &snap.tenants[&a.id];
    assert_eq!(m.rows_written, 10, "fresh values still there");
    assert!(m.total_calls.is_some(), "stale values kept: {m:?}");
    let snap = col.tick(&db, &all).await.expect("tick 3");
    assert!(snap.stale.is_empty(), "{:?}", snap.stale);
}

#[tokio::test]
async fn exact_sweep_converges_and_skips_locked_tables() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let b = create_tenant(&db, "Beta").await;
    let all = tenants(&[&a, &b]);
    let s = connect_as(&db, &a.role_name).await;
    insert_trades(&s, 3000).await;

    // A lock held on one of A's tables: A is skipped, B is measured.
    let mut locker = connect_as(&db, &a.role_name).await;
    let tx = locker.transaction().await.expect("begin");
    tx.batch_execute("LOCK TABLE positions IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let mut col = Collector::new(&monitoring(), &thresholds());
    let snap = col.tick(&db, &all).await.expect("tick 1");
    assert_eq!(snap.tenants[&a.id].size_exact_at, None, "locked: skipped");
    assert!(snap.tenants[&b.id].size_exact_at.is_some());
    assert_eq!(col.monitor.exact_coverage(), (1, 2));
    tx.rollback().await.expect("rollback");

    let snap = col.tick(&db, &all).await.expect("tick 2");
    assert_eq!(col.monitor.exact_coverage(), (2, 2));
    for t in [&a, &b] {
        let m = &snap.tenants[&t.id];
        assert!(m.size_exact_at.is_some());
        assert_eq!(m.size_bytes, exact_total(&db, &t.schema_name).await);
    }
    assert!(snap.tenants[&a.id].size_bytes > snap.tenants[&b.id].size_bytes);
}

#[tokio::test]
async fn sweep_respects_the_per_tick_batch() {
    let (_config, db) = fresh_db_init().await;
    let mut list = Vec::new();
    for i in 0..5 {
        list.push(create_tenant(&db, &format!("T{i}")).await);
    }
    let mut cfg = monitoring();
    cfg.exact_sweep_batch = 2;
    let mut col = Collector::new(&cfg, &thresholds());
    col.tick(&db, &list).await.expect("tick");
    assert_eq!(col.monitor.exact_coverage(), (2, 5));
    assert_eq!(col.monitor.last_tick_stats().sweep_measured, 2);
    col.tick(&db, &list).await.expect("tick");
    col.tick(&db, &list).await.expect("tick");
    assert_eq!(col.monitor.exact_coverage(), (5, 5));
}

#[tokio::test]
async fn health_alerts_and_drift_come_from_the_tick() {
    let (_config, db) = fresh_db_init().await;
    let a = crate::support::create_tenant_with(&db, "Alpha", 2, Some(1024)).await;
    let mut b = create_tenant(&db, "Beta").await;
    crate::support::expect_table(&mut b, "market_data");
    let all = vec![a.clone(), b.clone()];
    let mut col = Collector::new(&monitoring(), &thresholds());
    let c1 = connect_as(&db, &a.role_name).await;
    let c2 = connect_as(&db, &a.role_name).await;
    for _ in 0..3 {
        col.tick(&db, &all).await.expect("tick");
    }
    let snap = col.monitor.last_snapshot();
    let ha = &snap.tenants[&a.id].health;
    let texts: Vec<&str> = ha.reasons.iter().map(|r| r.text.as_str()).collect();
    assert!(texts.iter().any(|t| t.contains("over quota")), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.starts_with("connections 2/2")),
        "{texts:?}"
    );
    assert!(ha.score <= 40, "{ha:?}");
    let hb = &snap.tenants[&b.id].health;
    assert_eq!(hb.reasons.len(), 1, "{hb:?}");
    assert_eq!(hb.reasons[0].text, "schema drift: missing market_data");
    assert_eq!(*snap.tenants[&b.id].drift, ["market_data".to_string()]);

    let alerts = col.alerts();
    let quota: Vec<_> = alerts
        .iter()
        .filter(|x| x.kind == AlertKind::Quota)
        .collect();
    assert_eq!(quota.len(), 1, "one alert over three ticks: {alerts:?}");
    assert_eq!(quota[0].tenant_id, Some(a.id));
    assert!(col.monitor.alerts_changed());
    col.tick(&db, &all).await.expect("tick");
    assert!(!col.monitor.alerts_changed());
    drop(c1);
    drop(c2);
}

#[tokio::test]
async fn frozen_history_stops_and_resumes() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let all = tenants(&[&a]);
    let mut col = Collector::new(&monitoring(), &thresholds());
    col.tick(&db, &all).await.expect("tick");
    col.monitor.set_frozen(true);
    let snap = col.tick(&db, &all).await.expect("tick");
    assert_eq!(snap.generation, 2, "still measuring while frozen");
    assert_eq!(col.monitor.history(&[a.id])[0].series[0].1.len(), 1);
    col.monitor.set_frozen(false);
    col.tick(&db, &all).await.expect("tick");
    assert_eq!(col.monitor.history(&[a.id])[0].series[0].1.len(), 2);
}

#[tokio::test]
async fn a_console_role_without_read_all_stats_still_gets_a_snapshot() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let all = tenants(&[&a]);
    let role = format!("mon_plain_{}", uuid::Uuid::new_v4().simple());
    db.client()
        .await
        .expect("client")
        .batch_execute(&format!("CREATE ROLE {role} LOGIN"))
        .await
        .expect("role");
    let plain_config = tenantctl::config::Config::for_url(
        &crate::common::cluster().conninfo_as(&db.params.dbname, &role),
    );
    let plain = Db::connect(&plain_config)
        .await
        .expect("connect as plain role");
    let s = connect_as(&db, &a.role_name).await;
    s.batch_execute("BEGIN; SELECT 1")
        .await
        .expect("idle in tx");
    let mut col = Collector::new(&monitoring(), &thresholds());
    col.tick(&plain, &all).await.expect("tick 1");
    let snap = col.tick(&plain, &all).await.expect("tick 2");
    assert!(snap.stale.is_empty(), "{:?}", snap.stale);
    let m = &snap.tenants[&a.id];
    assert_eq!(m.sessions_total, 1, "the session is counted: {m:?}");
    assert_eq!(
        m.sessions_idle_in_tx, 0,
        "its state is hidden without the role"
    );
    assert!(snap.statements_available, "numbers are readable by anyone");
    assert!(m.total_calls.is_some());
    assert!(m.size_bytes > 0);
    assert!(snap.totals.max_connections > 0);
    s.batch_execute("ROLLBACK").await.expect("rollback");
}

#[tokio::test]
async fn recorded_usage_tells_inactivity_across_restarts() {
    let (_config, db) = fresh_db_init().await;
    let quiet = create_tenant(&db, "Quiet").await;
    let busy = create_tenant(&db, "Busy").await;
    db.client()
        .await
        .expect("client")
        .execute(
            &format!(
                "INSERT INTO {}.usage_samples (tenant_id, minute, bytes, connections, calls, exec_ms, rows_written)
                 VALUES ($1, date_trunc('minute', now() - interval '24 hours 2 minutes'), 1, 0, 0, 0, 0),
                        ($1, date_trunc('minute', now() - interval '1 hour'), 1, 0, 0, 0, 0),
                        ($2, date_trunc('minute', now() - interval '24 hours 2 minutes'), 1, 0, 0, 0, 0),
                        ($2, date_trunc('minute', now() - interval '2 hours'), 1, 1, 5, 1, 3)",
                db.q_schema()
            ),
            &[&quiet.id, &busy.id],
        )
        .await
        .expect("seed usage");
    let mut col = Collector::new(&monitoring(), &thresholds());
    let snap = col
        .tick(&db, &tenants(&[&quiet, &busy]))
        .await
        .expect("tick");
    let hq = &snap.tenants[&quiet.id].health;
    assert!(
        hq.reasons
            .iter()
            .any(|r| r.text.starts_with("no activity for 1d")),
        "{hq:?} {:?} at {}",
        snap.tenants[&quiet.id].last_activity,
        snap.taken_at
    );
    let hb = &snap.tenants[&busy.id].health;
    assert!(hb.reasons.is_empty(), "{hb:?}");
    let last = snap.tenants[&busy.id].last_activity.expect("seeded");
    assert!((snap.taken_at - last).num_minutes() >= 119);
}

/// Tenants missing the same objects (a template that gained a table) share
/// one drift list in the snapshot rather than a copy each.
#[tokio::test]
async fn equal_drift_lists_are_shared() {
    let (_config, db) = fresh_db_init().await;
    let mut a = create_tenant(&db, "Shared A").await;
    let mut b = create_tenant(&db, "Shared B").await;
    let c = create_tenant(&db, "Clean C").await;
    crate::support::expect_table(&mut a, "market_data");
    crate::support::expect_table(&mut b, "market_data");
    let mut col = Collector::new(&monitoring(), &thresholds());
    let snap = col
        .tick(&db, &[a.clone(), b.clone(), c.clone()])
        .await
        .expect("tick");
    let (da, db_) = (&snap.tenants[&a.id].drift, &snap.tenants[&b.id].drift);
    assert_eq!(**da, ["market_data".to_string()]);
    assert!(std::sync::Arc::ptr_eq(da, db_), "one list for both");
    assert!(snap.tenants[&c.id].drift.is_empty());
}

#[tokio::test]
async fn database_size_from_files_or_from_the_catalog() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let s = connect_as(&db, &a.role_name).await;
    insert_trades(&s, 2000).await;
    let c = db.client().await.expect("client");
    c.batch_execute("VACUUM ANALYZE").await.expect("vacuum");
    let files: i64 = c
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await
        .expect("size")
        .get(0);
    let small = tenantctl::db::metrics::database_size(&c, i64::MAX)
        .await
        .expect("from files");
    assert_eq!(small, u64::try_from(files).expect("positive"));
    // Above the threshold: the catalog's pages, a little under the files
    // (free space maps, visibility maps and the WAL-logged init forks).
    let catalog = tenantctl::db::metrics::database_size(&c, 0)
        .await
        .expect("from the catalog");
    assert_ne!(catalog, small, "the other way of measuring");
    assert!(
        catalog > small / 2 && catalog <= small,
        "catalog {catalog} vs files {small}"
    );
}

#[tokio::test]
async fn approximate_sizes_count_heap_indexes_and_toast() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let b = create_tenant(&db, "Beta").await;
    let session = connect_as(&db, &a.role_name).await;
    // Incompressible text past the TOAST threshold: it lands in TOAST.
    session
        .batch_execute(
            "INSERT INTO trades (symbol, qty, price)
         SELECT string_agg(md5(g::text || '-' || r::text), ''), 1, 1
         FROM generate_series(1, 20) r, generate_series(1, 400) g GROUP BY r",
        )
        .await
        .expect("insert wide rows");
    let client = db.client().await.expect("client");
    client
        .batch_execute("VACUUM ANALYZE")
        .await
        .expect("vacuum");
    let expect = |schema: String| {
        let client = &client;
        async move {
            let r = client
                .query_one(
                    "SELECT (sum(c.relpages::int8) * current_setting('block_size')::int8)::int8,
                            (coalesce(sum(t.relpages::int8), 0) * current_setting('block_size')::int8)::int8
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
                     WHERE n.nspname = $1 AND c.relkind IN ('r', 'i', 'm')",
                    &[&schema],
                )
                .await
                .expect("expected size");
            (r.get::<_, i64>(0), r.get::<_, i64>(1))
        }
    };
    let (a_main, a_toast) = expect(a.schema_name.clone()).await;
    assert!(a_toast > 0, "the wide rows went to TOAST");
    let sample = tenantctl::db::metrics::approx_sizes(
        &client,
        &tenantctl::db::metrics::detect_timescale(&**client)
            .await
            .expect("detect"),
    )
    .await
    .expect("sizes");
    // Every user schema once (the monitor keeps the ones it monitors), no
    // system schema.
    let names: Vec<&str> = sample.rows.iter().map(|r| r.schema.as_str()).collect();
    for s in [a.schema_name.as_str(), b.schema_name.as_str()] {
        assert_eq!(names.iter().filter(|n| **n == s).count(), 1, "{names:?}");
    }
    for s in ["pg_catalog", "information_schema", "pg_toast"] {
        assert!(!names.contains(&s), "{names:?}");
    }
    let got = |schema: &str| {
        sample
            .rows
            .iter()
            .find(|r| r.schema == schema)
            .map(|r| (r.bytes, r.relations))
            .expect("schema listed")
    };
    let (a_bytes, a_rels) = got(&a.schema_name);
    assert_eq!(a_bytes, u64::try_from(a_main + a_toast).expect("size"));
    assert!(a_rels >= 4, "{a_rels}");
    let (b_main, b_toast) = expect(b.schema_name.clone()).await;
    assert_eq!(
        got(&b.schema_name).0,
        u64::try_from(b_main + b_toast).expect("size")
    );
}

/// The statement extras of one tick's query: the tenant that writes and
/// spills to temp files takes the WAL, the temp bytes and the bigger share;
/// the database's statements and WAL per second come from the same rows.
#[tokio::test]
async fn noisy_neighbours_from_the_statement_extras() {
    let (_config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Loud").await;
    let b = create_tenant(&db, "Quiet").await;
    let all = tenants(&[&a, &b]);
    let mut col = Collector::new(&monitoring(), &thresholds());
    col.tick(&db, &all).await.expect("tick 1");
    let loud = connect_as(&db, &a.role_name).await;
    insert_trades(&loud, 20_000).await;
    loud.batch_execute(
        "SET work_mem = '64kB';
         SELECT count(*) FROM (SELECT g FROM generate_series(1, 200000) g ORDER BY g DESC) s",
    )
    .await
    .expect("spill");
    let quiet = connect_as(&db, &b.role_name).await;
    quiet.batch_execute("SELECT 1").await.expect("select");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let snap = col.tick(&db, &all).await.expect("tick 2");
    let (ma, mb) = (&snap.tenants[&a.id], &snap.tenants[&b.id]);
    assert!(ma.wal_bytes_per_s.expect("A's WAL") > 0.0, "{ma:?}");
    assert!(ma.temp_bytes_per_s.expect("A's temp") > 0.0, "{ma:?}");
    assert_eq!(mb.temp_bytes_per_s, Some(0.0), "{mb:?}");
    let (sa, sb) = (
        ma.share_score.expect("A's share"),
        mb.share_score.expect("B's share"),
    );
    assert!(sa > sb && sa > 0.5, "A {sa} B {sb}");
    assert!(ma.statement_share.expect("share") > 0.0);
    assert!(ma.cache_hit.is_some(), "A touched buffers");
    let t = &snap.totals;
    assert!(t.calls_per_s.expect("calls") > 0.0);
    assert!(t.wal_bytes_per_s.expect("wal") >= ma.wal_bytes_per_s.expect("A"));
    assert!(snap.blocking.is_empty(), "nobody waits");
    // Ranked as the Neighbours view and `top --sort share` rank.
    let ranked = tenantctl::domain::activity::rank(
        snap.tenants.values(),
        tenantctl::domain::activity::NeighbourMetric::Share,
        10,
    );
    assert_eq!(ranked[0], a.id);
}
