//! The backend task against a real cluster: connect, create with progress,
//! changes from another console by notification, snapshots, detail.

mod common;

use std::time::Duration;

use tenantctl::backend::{self, BackendHandle, Command, Event};
use tenantctl::db::provision::{ProvisionOptions, create_tenant};
use tenantctl::domain::tenant::NewTenant;

async fn next_matching(
    h: &mut BackendHandle,
    what: &str,
    mut f: impl FnMut(&Event) -> bool,
) -> Event {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ev = tokio::time::timeout_at(deadline, h.events.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|| panic!("backend ended while waiting for {what}"));
        if f(&ev) {
            return ev;
        }
    }
}

fn new_tenant(name: &str, domain: &str) -> NewTenant {
    NewTenant {
        name: name.into(),
        domain: domain.into(),
        template: "default".into(),
        connection_limit: 5,
        statement_timeout: Some(Duration::from_secs(10)),
        storage_quota_bytes: None,
        settings: serde_json::json!({}),
    }
}

#[tokio::test]
async fn backend_creates_reports_progress_and_follows_other_consoles() {
    let (mut config, db) = common::fresh_db_init().await;
    config.monitoring.interval = tenantctl::config::Dur(Duration::from_millis(500));
    let mut h = backend::spawn(config.clone());
    next_matching(&mut h, "Connected", |e| {
        matches!(e, Event::Connected { .. })
    })
    .await;
    next_matching(
        &mut h,
        "the empty tenant list",
        |e| matches!(e, Event::Tenants(t) if t.is_empty()),
    )
    .await;

    h.commands
        .send(Command::Create {
            id: 7,
            tenant: new_tenant("Via Backend", "via-backend.example"),
        })
        .expect("send");
    let mut steps = 0;
    let done = next_matching(&mut h, "the creation result", |e| match e {
        Event::Progress { id: 7, .. } => {
            steps += 1;
            false
        }
        Event::Failed { id: 7, error } => panic!("create failed: {error}"),
        Event::Done { id: 7, .. } => true,
        _ => false,
    })
    .await;
    assert!(steps >= 3, "progress steps reported: {steps}");
    let Event::Done {
        tenant: Some(created),
        ..
    } = done
    else {
        panic!("no tenant in {done:?}")
    };
    assert_eq!(created.domain, "via-backend.example");

    // Another console creates a tenant: this backend hears of it without being asked.
    let opts = ProvisionOptions::from_config(&config);
    let other = create_tenant(
        &db,
        &opts,
        &new_tenant("Elsewhere", "elsewhere.example"),
        &|_| {},
    )
    .await
    .expect("create");
    next_matching(&mut h, "the notification", |e| {
        matches!(e, Event::TenantsChanged)
    })
    .await;
    next_matching(
        &mut h,
        "the reloaded list",
        |e| matches!(e, Event::Tenants(t) if t.iter().any(|t| t.id == other.id)),
    )
    .await;

    // Snapshots arrive on the timer with rising generations and cover both tenants.
    let mut last = 0;
    for _ in 0..2 {
        let Event::Snapshot(s) = next_matching(
            &mut h,
            "a snapshot",
            |e| matches!(e, Event::Snapshot(s) if s.tenants.contains_key(&other.id)),
        )
        .await
        else {
            unreachable!()
        };
        assert!(
            s.generation > last,
            "generation {} after {last}",
            s.generation
        );
        last = s.generation;
        assert!(s.tenants.contains_key(&created.id));
    }

    h.commands
        .send(Command::LoadDetail { tenant: created.id })
        .expect("send");
    let Event::Detail(d) = next_matching(&mut h, "detail", |e| matches!(e, Event::Detail(_))).await
    else {
        unreachable!()
    };
    assert_eq!(d.tenant_id, created.id);
    let mut tables: Vec<&str> = d.tables.iter().map(|t| t.name.as_str()).collect();
    tables.sort_unstable();
    assert_eq!(
        tables,
        vec!["market_data", "portfolios", "positions", "trades"]
    );
    assert!(
        d.drift.is_empty(),
        "no drift on a fresh tenant: {:?}",
        d.drift
    );

    h.commands
        .send(Command::Suspend {
            id: 8,
            tenant: created.id,
            reason: Some("test".into()),
        })
        .expect("send");
    next_matching(&mut h, "suspend result", |e| match e {
        Event::Failed { id: 8, error } => panic!("suspend failed: {error}"),
        Event::Done { id: 8, .. } => true,
        _ => false,
    })
    .await;
    h.commands.send(Command::Shutdown).expect("send");
}

#[tokio::test]
async fn backend_without_control_schema_says_what_to_do() {
    let config = common::fresh_config();
    let mut h = backend::spawn(config);
    let ev = next_matching(&mut h, "Disconnected", |e| {
        matches!(e, Event::Disconnected { .. })
    })
    .await;
    let Event::Disconnected { error, .. } = ev else {
        unreachable!()
    };
    assert!(error.contains("run tenantctl init"), "{error}");
    h.commands.send(Command::Shutdown).expect("send");
}

/// Drift and an old template version on one tenant, a dropped column on
/// another (the default template is a SQL-string one: its tenants are
/// compared with the catalog of a schema built from it): `tenantctl health`
/// and the console's snapshots give every tenant the same score and reasons.
#[tokio::test]
async fn health_and_the_console_agree_on_drift_and_an_old_template_version() {
    let (mut config, db) = common::fresh_db_init().await;
    config.monitoring.interval = tenantctl::config::Dur(Duration::from_millis(500));
    let opts = ProvisionOptions::from_config(&config);
    let mut made = Vec::new();
    for (name, domain) in [
        ("Drifted", "drifted.example"),
        ("Fine", "fine.example"),
        ("Column", "column.example"),
    ] {
        let t = create_tenant(&db, &opts, &new_tenant(name, domain), &|_| {})
            .await
            .expect("create");
        made.push(t);
    }
    let drifted = &made[0];
    let client = db.client().await.expect("client");
    client
        .batch_execute(&format!(
            "DROP TABLE \"{}\".market_data CASCADE; \
             UPDATE tenant_admin.tenants SET template_version = template_version - 1 WHERE id = '{}';
             ALTER TABLE \"{}\".positions DROP COLUMN avg_price;
             ALTER TABLE \"{}\".portfolios ALTER COLUMN is_active SET NOT NULL;",
            drifted.schema_name, drifted.id, made[2].schema_name, made[2].schema_name
        ))
        .await
        .expect("drift and age one tenant");

    // The CLI's view.
    let out = common::bin()
        .arg("--database-url")
        .arg(&config.cluster.url)
        .args(["health", "--json"])
        .output()
        .expect("run tenantctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let cli = cli.as_array().expect("a list").clone();
    assert_eq!(cli.len(), 3, "{cli:?}");

    // The console's view: the first snapshot that has checked drift.
    let mut h = backend::spawn(config.clone());
    let Event::Snapshot(snap) = next_matching(&mut h, "a snapshot with drift", |e| {
        matches!(e, Event::Snapshot(s) if s.tenants.get(&drifted.id).is_some_and(|m| !m.drift.is_empty()))
    })
    .await
    else {
        unreachable!("matched a snapshot")
    };
    h.commands.send(Command::Shutdown).expect("shutdown");

    let reasons_of = |v: &serde_json::Value| -> Vec<String> {
        v["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .map(|r| format!("-{} {}", r["points"], r["text"].as_str().expect("text")))
            .collect()
    };
    for t in &made {
        let row = cli
            .iter()
            .find(|v| v["id"] == t.id.to_string())
            .unwrap_or_else(|| panic!("{} missing from health", t.domain));
        let console = &snap.tenants[&t.id].health;
        let console_reasons: Vec<String> = console
            .reasons
            .iter()
            .map(|r| format!("-{} {}", r.points, r.text))
            .collect();
        assert_eq!(row["score"], u64::from(console.score), "{}", t.domain);
        assert_eq!(reasons_of(row), console_reasons, "{}", t.domain);
    }
    let drifted_reasons = reasons_of(
        cli.iter()
            .find(|v| v["id"] == drifted.id.to_string())
            .expect("row"),
    );
    assert_eq!(drifted_reasons.len(), 2, "{drifted_reasons:?}");
    assert!(
        drifted_reasons[0].starts_with("-20 schema drift: missing ")
            && drifted_reasons[0].contains(" market_data,"),
        "{drifted_reasons:?}"
    );
    assert!(
        drifted_reasons[1].contains("behind latest"),
        "{drifted_reasons:?}"
    );
    let fine = cli
        .iter()
        .find(|v| v["id"] == made[1].id.to_string())
        .expect("row");
    assert_eq!(fine["score"], 100);
    assert!(reasons_of(fine).is_empty(), "{fine}");
    let column = cli
        .iter()
        .find(|v| v["id"] == made[2].id.to_string())
        .expect("row");
    assert_eq!(
        reasons_of(column),
        [
            "-20 schema drift: column portfolios.is_active is NOT NULL, the template says nullable; column positions.avg_price is missing"
        ],
        "{column}"
    );
}

/// A tick held up (here by a lock on the usage table its first sample
/// reads) does not hold up history: the monitor answers from its store at
/// once, while the tick is still out.
#[tokio::test]
async fn history_is_answered_while_a_tick_is_in_flight() {
    let (mut config, db) = common::fresh_db_init().await;
    config.monitoring.interval = tenantctl::config::Dur(Duration::from_millis(500));
    // lock_timeout is half the query timeout: the held-up query waits 4 s.
    config.monitoring.query_timeout = tenantctl::config::Dur(Duration::from_secs(8));
    let blocker = db.dedicated().await.expect("connection").0;
    blocker
        .batch_execute("BEGIN; LOCK TABLE tenant_admin.usage_samples IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let mut h = backend::spawn(config.clone());
    next_matching(&mut h, "the tenant list", |e| {
        matches!(e, Event::Tenants(_))
    })
    .await;
    // The first tick starts with the list and waits on the lock.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = std::time::Instant::now();
    h.commands
        .send(Command::LoadHistory { tenants: vec![] })
        .expect("send");
    let mut snapshot_first = false;
    let ev = next_matching(&mut h, "history", |e| {
        snapshot_first |= matches!(e, Event::Snapshot(_));
        matches!(e, Event::History(_))
    })
    .await;
    let waited = asked.elapsed();
    assert!(
        !snapshot_first,
        "the tick finished before history was answered"
    );
    assert!(waited < Duration::from_secs(2), "history waited {waited:?}");
    let Event::History(h0) = ev else {
        unreachable!()
    };
    assert_eq!(
        h0.len(),
        1,
        "the cluster's series only, before any snapshot"
    );
    assert_eq!(h0[0].tenant_id, None);
    blocker.batch_execute("ROLLBACK").await.expect("unlock");
    next_matching(&mut h, "the held-up snapshot", |e| {
        matches!(e, Event::Snapshot(_))
    })
    .await;
    h.commands.send(Command::Shutdown).expect("shutdown");
}

/// DESIGN.md §5 "failed operations": a failed mutation raises an alert for
/// its tenant and operation; another operation does not clear it; the same
/// operation succeeding does.
#[tokio::test]
async fn a_failed_operation_alerts_until_it_succeeds() {
    let (mut config, db) = common::fresh_db_init().await;
    config.monitoring.interval = tenantctl::config::Dur(Duration::from_secs(30));
    let opts = ProvisionOptions::from_config(&config);
    let t = create_tenant(
        &db,
        &opts,
        &new_tenant("Failing", "failing.example"),
        &|_| {},
    )
    .await
    .expect("create");
    let mut h = backend::spawn(config.clone());
    next_matching(
        &mut h,
        "the tenant list",
        |e| matches!(e, Event::Tenants(l) if !l.is_empty()),
    )
    .await;
    let delete = |id| Command::Delete {
        id,
        tenant: t.id,
        confirm: "failing.example".into(),
        backup: false,
    };
    // An active tenant cannot be deleted.
    h.commands.send(delete(1)).expect("send");
    let Event::Failed { error, .. } = next_matching(&mut h, "the refusal", |e| {
        matches!(e, Event::Failed { id: 1, .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_ne!(
        error.kind,
        tenantctl::ErrorKind::Failure,
        "a refusal, with its kind: {error:?}"
    );
    let open_failures = |alerts: &[tenantctl::domain::metrics::Alert]| {
        alerts
            .iter()
            .filter(|a| {
                a.kind == tenantctl::domain::metrics::AlertKind::OperationFailed
                    && a.cleared_at.is_none()
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    let Event::Alerts(alerts) = next_matching(
        &mut h,
        "the alert",
        |e| matches!(e, Event::Alerts(a) if !open_failures(a).is_empty()),
    )
    .await
    else {
        unreachable!()
    };
    let open = open_failures(&alerts);
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].tenant_id, Some(t.id));
    assert!(
        open[0].message.starts_with("delete failed: "),
        "{}",
        open[0].message
    );

    h.commands
        .send(Command::Suspend {
            id: 2,
            tenant: t.id,
            reason: None,
        })
        .expect("send");
    next_matching(&mut h, "the suspension", |e| {
        matches!(e, Event::Done { id: 2, .. })
    })
    .await;
    h.commands.send(delete(3)).expect("send");
    next_matching(&mut h, "the deletion", |e| match e {
        Event::Failed { id: 3, error } => panic!("delete failed: {error}"),
        Event::Done { id: 3, .. } => true,
        _ => false,
    })
    .await;
    let Event::Alerts(alerts) = next_matching(
        &mut h,
        "the cleared alert",
        |e| matches!(e, Event::Alerts(a) if open_failures(a).is_empty()),
    )
    .await
    else {
        unreachable!()
    };
    let failure: Vec<_> = alerts
        .iter()
        .filter(|a| a.kind == tenantctl::domain::metrics::AlertKind::OperationFailed)
        .collect();
    assert_eq!(failure.len(), 1, "{failure:?}");
    assert!(failure[0].cleared_at.is_some());
    h.commands.send(Command::Shutdown).expect("shutdown");
}

/// The console's backend runs the limits guard: a tenant that lifts its own
/// statement timeout has the statement cancelled, and the console gets an
/// alert and a notice naming the tenant.
#[tokio::test]
async fn the_console_guards_limits_and_raises_an_alert() {
    let (mut config, db) = common::fresh_db_init().await;
    config.monitoring.interval = tenantctl::config::Dur(Duration::from_millis(500));
    config.monitoring.guard_grace = tenantctl::config::Dur(Duration::ZERO);
    let opts = ProvisionOptions::from_config(&config);
    let mut req = new_tenant("Lifter", "lifter.example");
    req.statement_timeout = Some(Duration::from_secs(1));
    let t = create_tenant(&db, &opts, &req, &|_| {})
        .await
        .expect("create");
    let (tenant, conn) = tokio_postgres::connect(
        &common::cluster().conninfo_as(&db.params.dbname, &t.role_name),
        tokio_postgres::NoTls,
    )
    .await
    .expect("log in as the tenant");
    tokio::spawn(conn);
    let long = tokio::spawn(async move {
        tenant
            .batch_execute("SET statement_timeout = 0; SELECT pg_sleep(60)")
            .await
    });
    let mut h = backend::spawn(config.clone());
    let ev = next_matching(&mut h, "the guard's alert", |e| {
        matches!(e, Event::Alerts(list) if list.iter().any(|a| a.kind == tenantctl::domain::metrics::AlertKind::LimitEnforced))
    })
    .await;
    let Event::Alerts(list) = ev else {
        unreachable!()
    };
    let a = list
        .iter()
        .find(|a| a.kind == tenantctl::domain::metrics::AlertKind::LimitEnforced)
        .expect("the alert");
    assert_eq!(a.tenant_id, Some(t.id));
    assert!(a.message.contains("statement timeout"), "{}", a.message);
    let e = tokio::time::timeout(Duration::from_secs(10), long)
        .await
        .expect("the statement ended")
        .expect("task")
        .expect_err("cancelled by the guard");
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
    );
}

/// Tenant A (logged in as its own role) holds a row lock on a table both
/// tenants may update; tenant B waits for it. The backend's snapshot names
/// A as B's blocker, the blocking alert fires once the wait passes
/// `[thresholds] blocking`, and terminating the blocker (as the Locks view
/// does) lets B go on and clears the alert.
#[tokio::test]
async fn locks_name_the_blocking_tenant_and_alert_after_the_threshold() {
    use tenantctl::domain::metrics::AlertKind;
    let (mut config, db) = common::fresh_db_init().await;
    config.monitoring.interval = tenantctl::config::Dur(Duration::from_millis(500));
    config.thresholds.blocking = tenantctl::config::Dur(Duration::from_secs(2));
    let opts = ProvisionOptions::from_config(&config);
    let a = create_tenant(&db, &opts, &new_tenant("Holder", "holder.example"), &|_| {})
        .await
        .expect("create A");
    let b = create_tenant(&db, &opts, &new_tenant("Waiter", "waiter.example"), &|_| {})
        .await
        .expect("create B");
    // A table outside both schemas that both tenants may update (a shared
    // reference table), made by the operator.
    let op = db.client().await.expect("operator");
    op.batch_execute(&format!(
        "CREATE SCHEMA shared; CREATE TABLE shared.rates (id int PRIMARY KEY, v int);
         INSERT INTO shared.rates VALUES (1, 0);
         GRANT USAGE ON SCHEMA shared TO \"{a}\", \"{b}\";
         GRANT SELECT, UPDATE ON shared.rates TO \"{a}\", \"{b}\";",
        a = a.role_name,
        b = b.role_name
    ))
    .await
    .expect("shared table");
    drop(op);
    let login = |role: String| {
        let conninfo = common::cluster().conninfo_as(&db.params.dbname, &role);
        async move {
            let (c, conn) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
                .await
                .expect("log in as the tenant");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            c
        }
    };
    let holder = login(a.role_name.clone()).await;
    let a_pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    holder
        .batch_execute("BEGIN; UPDATE shared.rates SET v = 1 WHERE id = 1")
        .await
        .expect("A takes the row lock");
    let waiter = login(b.role_name.clone()).await;
    let b_pid: i32 = waiter
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    let waiting = tokio::spawn(async move {
        waiter
            .execute("UPDATE shared.rates SET v = 2 WHERE id = 1", &[])
            .await
    });

    let mut h = backend::spawn(config.clone());
    let Event::Snapshot(snap) = next_matching(
        &mut h,
        "a snapshot with the chain",
        |e| matches!(e, Event::Snapshot(s) if !s.blocking.is_empty()),
    )
    .await
    else {
        unreachable!()
    };
    let chain = &snap.blocking[0];
    assert_eq!(chain.blocker.pid, a_pid, "{chain:?}");
    assert_eq!(chain.blocker.tenant_id, Some(a.id), "A is the blocker");
    assert!(
        chain.blocker.state.starts_with("idle in transaction"),
        "{chain:?}"
    );
    assert!(
        chain.blocker.query.contains("UPDATE shared.rates"),
        "{chain:?}"
    );
    assert_eq!(chain.waiters.len(), 1, "{chain:?}");
    assert_eq!(chain.waiters[0].1.pid, b_pid);
    assert_eq!(chain.waiters[0].1.tenant_id, Some(b.id), "B waits");
    assert!(
        chain.waiters[0].1.wait_start.is_some(),
        "pg_locks.waitstart read"
    );

    // The alert: not before the wait reached the threshold, then on A.
    let Event::Alerts(alerts) = next_matching(&mut h, "the blocking alert", |e| {
        matches!(e, Event::Alerts(list) if list.iter().any(|a| a.kind == AlertKind::Blocking && a.cleared_at.is_none()))
    })
    .await
    else {
        unreachable!()
    };
    let alert = alerts
        .iter()
        .find(|x| x.kind == AlertKind::Blocking)
        .expect("blocking alert");
    assert_eq!(alert.tenant_id, Some(a.id));
    assert!(alert.message.contains("Holder"), "{}", alert.message);
    let since = chain.waiters[0].1.wait_start.expect("wait start");
    assert!(
        alert.raised_at - since >= chrono::TimeDelta::seconds(2),
        "raised {} after the wait began at {since}",
        alert.raised_at
    );

    // Terminate the blocker as the Locks view asks the backend to.
    h.commands
        .send(Command::TerminateSession {
            id: 9,
            tenant: a.id,
            pid: a_pid,
        })
        .expect("send");
    next_matching(&mut h, "the termination", |e| match e {
        Event::Failed { id: 9, error } => panic!("terminate failed: {error}"),
        Event::Done { id: 9, .. } => true,
        _ => false,
    })
    .await;
    let done = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("B goes on")
        .expect("join");
    assert_eq!(done.expect("B's update"), 1);
    next_matching(&mut h, "the alert cleared", |e| {
        matches!(e, Event::Alerts(list) if list.iter().any(|a| a.kind == AlertKind::Blocking && a.cleared_at.is_some()))
    })
    .await;
    drop(holder);
    let _ = h.commands.send(Command::Shutdown);
}
