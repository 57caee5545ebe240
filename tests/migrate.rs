//! Fleet migrations against a real cluster (issue 13): tenants created at
//! v1 of a test template move to v3 (a column with a default, a CHECK
//! constraint, a concurrent index, a backfill, a dropped column) and end with
//! the catalog of a fresh v3 tenant; a run killed with SIGKILL resumes
//! without applying any step twice (`ADD COLUMN` fails when run twice); a
//! tenant holding an ACCESS EXCLUSIVE lock delays only itself; a failure in
//! the canary wave stops the run with every other tenant untouched; two
//! concurrent runs migrate each tenant once; bad input is one sentence.
#![allow(
    clippy::many_single_char_names,
    reason = "scenario tests: e is the environment, p the plan, s the summary"
)]

mod common;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tenantctl::backend::ProgressStep;
use tenantctl::config::Config;
use tenantctl::db::Db;
use tenantctl::db::fleet::{self, ApplyOptions, PlanRequest, catalog};
use tenantctl::db::provision::{self, ProvisionOptions};
use tenantctl::domain::fleet::Canary;
use tenantctl::domain::template::Template;
use tenantctl::domain::tenant::{NewTenant, Tenant};
use tenantctl::template_files::Lookup;

use common::{bin, cluster, fresh_named_config, superuser_exec, superuser_query};

fn noop(_: ProgressStep) {}

const BASELINE: &[&str] = &[
    "CREATE TABLE accounts (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_code text, balance numeric(20,8) NOT NULL DEFAULT 0)",
    "CREATE TABLE orders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), account_id uuid REFERENCES accounts(id), qty integer NOT NULL, price numeric(20,8) NOT NULL)",
];

/// The test template: v1 baseline, v2 and v3 migrations, the v3 body.
fn fleet_template() -> serde_json::Value {
    serde_json::json!({
        "name": "fleet",
        "version": 3,
        "tables": [
            "CREATE TABLE accounts (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), balance numeric(20,8) NOT NULL DEFAULT 0)",
            "CREATE TABLE orders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), account_id uuid REFERENCES accounts(id), qty integer NOT NULL CONSTRAINT orders_qty_positive CHECK (qty > 0), price numeric(20,8) NOT NULL, fee numeric(20,8) NOT NULL DEFAULT 0, notional numeric(20,8))"
        ],
        "indexes": ["CREATE INDEX idx_orders_account ON orders (account_id)"],
        "baseline": {"version": 1, "tables": BASELINE},
        "migrations": [
            {"to": 2, "description": "fees, positive quantities, an index", "steps": [
                "ALTER TABLE orders ADD COLUMN fee numeric(20,8) NOT NULL DEFAULT 0",
                "ALTER TABLE orders ADD CONSTRAINT orders_qty_positive CHECK (qty > 0)",
                "CREATE INDEX CONCURRENTLY idx_orders_account ON orders (account_id)"
            ]},
            {"to": 3, "description": "notional, backfilled; legacy codes go", "steps": [
                "ALTER TABLE orders ADD COLUMN notional numeric(20,8)",
                "UPDATE orders SET notional = qty * price WHERE notional IS NULL",
                "ALTER TABLE accounts DROP COLUMN legacy_code"
            ]}
        ]
    })
}

struct Env {
    config: Config,
    dbname: String,
    db: Db,
    o: ProvisionOptions,
    t: Template,
    dir: tempfile::TempDir,
}

async fn env() -> Env {
    let (dbname, config) = fresh_named_config();
    let db = Db::connect(&config).await.expect("connect");
    tenantctl::db::migrate::init(&db).await.expect("init");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("fleet.json"), fleet_template().to_string())
        .expect("write template");
    let mut o = ProvisionOptions::from_config(&config);
    o.template_dir = Lookup::from(dir.path().to_path_buf());
    o.backup_dir = dir.path().join("backups");
    o.actor = "tester@ci".into();
    let t = tenantctl::template_files::load(&o.template_dir, "fleet").expect("template");
    Env {
        config,
        dbname,
        db,
        o,
        t,
        dir,
    }
}

fn req(domain: &str) -> NewTenant {
    NewTenant {
        name: domain.split('.').next().unwrap_or("t").to_string(),
        domain: domain.into(),
        template: "fleet".into(),
        connection_limit: 5,
        statement_timeout: None,
        storage_quota_bytes: None,
        settings: serde_json::json!({}),
    }
}

/// `n` tenants at `version`, through the real create path, 6 at a time;
/// each gets two accounts and four orders.
async fn tenants(e: &Env, prefix: &str, n: usize, version: Option<i32>) -> Vec<Tenant> {
    let mut out: Vec<Tenant> = futures::stream::iter(0..n)
        .map(|i| {
            let r = req(&format!("{prefix}{i:03}.example.com"));
            async move {
                provision::create_tenant_at(&e.db, &e.o, &r, version, &noop)
                    .await
                    .expect("create")
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    out.sort_by(|a, b| a.domain.cmp(&b.domain));
    if version == Some(1) {
        superuser_exec(
            &e.dbname,
            &format!(
                "DO $d$ DECLARE s text; BEGIN
                   FOR s IN SELECT schema_name FROM tenant_admin.tenants WHERE domain LIKE '{prefix}%' LOOP
                     EXECUTE format('INSERT INTO %I.accounts (legacy_code) VALUES (''a''), (''b'')', s);
                     EXECUTE format('INSERT INTO %I.orders (account_id, qty, price) SELECT id, 2, 10.5 FROM %I.accounts, generate_series(1, 2)', s, s);
                   END LOOP; END $d$"
            ),
        );
    }
    out
}

fn opts(e: &Env) -> ApplyOptions {
    let mut o = ApplyOptions::new("tester@ci".into());
    o.timescaledb = e.config.provisioning.timescaledb;
    o
}

fn stop() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

fn quiet() -> fleet::apply::OnEvent {
    Arc::new(|_| {})
}

async fn versions(db: &Db) -> Vec<(String, i32)> {
    let c = db.client().await.expect("client");
    c.query(
        "SELECT domain, template_version FROM tenant_admin.tenants WHERE status <> 'deleted' ORDER BY domain",
        &[],
    )
    .await
    .expect("versions")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Audit rows `migrate` with outcome ok, per tenant.
async fn migrate_audits(db: &Db) -> std::collections::BTreeMap<uuid::Uuid, i64> {
    let c = db.client().await.expect("client");
    c.query(
        "SELECT tenant_id, count(*) FROM tenant_admin.audit_log
         WHERE action = 'migrate' AND outcome = 'ok' GROUP BY tenant_id",
        &[],
    )
    .await
    .expect("audit")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test]
async fn two_hundred_tenants_from_v1_to_v3_end_like_a_fresh_v3_tenant() {
    let e = env().await;
    let fleet = tenants(&e, "f", 200, Some(1)).await;
    let fresh = provision::create_tenant(&e.db, &e.o, &req("fresh.example.com"), &noop)
        .await
        .expect("fresh v3");
    assert_eq!(fresh.template_version, 3);

    let p = fleet::plan(
        &e.db,
        &e.t,
        e.config.provisioning.timescaledb,
        &PlanRequest::default(),
    )
    .await
    .expect("plan");
    assert_eq!(
        (p.totals.migrate, p.totals.current, p.totals.held),
        (200, 1, 0)
    );
    assert_eq!(p.totals.steps, 200 * 6);
    assert!(p.tenants.iter().all(|x| x.drift.is_empty()));

    let start = Instant::now();
    let s = fleet::apply(&e.db, &e.t, &p, &opts(&e), stop(), quiet())
        .await
        .expect("apply");
    eprintln!(
        "200 tenants v1 -> v3 in {:?} ({:.1}/s)",
        start.elapsed(),
        s.rate
    );
    assert_eq!(
        (s.state.as_str(), s.done, s.failed, s.remaining),
        ("done", 200, 0, 0),
        "{s:?}"
    );
    assert!(versions(&e.db).await.iter().all(|(_, v)| *v == 3));
    // The run's role (the runners' grants on the ledger functions) is gone.
    let first_run = s.run.expect("run");
    let run_role = fleet::apply::run_role(first_run);
    let left = superuser_query(
        &e.dbname,
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{run_role}'"),
    );
    assert_eq!(left, vec![Some("0".to_string())], "{run_role} is left");

    let mut schemas: Vec<String> = fleet.iter().map(|t| t.schema_name.clone()).collect();
    schemas.push(fresh.schema_name.clone());
    let cats = catalog::read_schemas(&e.db, &schemas)
        .await
        .expect("catalogs");
    let want = &cats[&fresh.schema_name];
    assert!(
        want.columns
            .contains_key(&("orders".into(), "notional".into()))
    );
    for t in &fleet {
        let d = catalog::compare(want, &cats[&t.schema_name]);
        assert!(d.is_empty(), "{}: {d:?}", t.domain);
    }
    // The backfill ran (4 orders of 2 x 10.5).
    let notional = superuser_query(
        &e.dbname,
        &format!(
            "SELECT sum(notional)::text FROM {}.orders",
            fleet[7].schema_name
        ),
    );
    assert_eq!(notional, vec![Some("84.00000000".to_string())]);
    let audits = migrate_audits(&e.db).await;
    assert!(fleet.iter().all(|t| audits.get(&t.id) == Some(&1)));

    // Everyone current: a no-op plan touches nobody and records no run.
    let p = fleet::plan(
        &e.db,
        &e.t,
        e.config.provisioning.timescaledb,
        &PlanRequest::default(),
    )
    .await
    .expect("plan");
    let s = fleet::apply(&e.db, &e.t, &p, &opts(&e), stop(), quiet())
        .await
        .expect("no-op");
    assert_eq!((s.state.as_str(), s.run), ("nothing to do", None));
    // No runner or worker role is left behind.
    let left = superuser_query(
        &e.dbname,
        &format!("SELECT count(*) FROM pg_roles WHERE rolname IN (SELECT schema_name || '_run' FROM tenant_admin.tenants)
            OR rolname LIKE 'tenantctl\\_mw\\_{}\\_%'",
            first_run.simple()
        ),
    );
    assert_eq!(
        left,
        vec![Some("0".to_string())],
        "runner or worker roles are left"
    );
}

#[tokio::test]
async fn a_failure_in_the_canary_wave_stops_the_run_and_changes_no_other_tenant() {
    let e = env().await;
    let fleet = tenants(&e, "c", 6, Some(1)).await;
    let bad = &fleet[3];
    // A quantity the v2 CHECK constraint refuses, in one tenant only.
    superuser_exec(
        &e.dbname,
        &format!("UPDATE {}.orders SET qty = 0", bad.schema_name),
    );
    let before = catalog::read_schemas(&e.db, std::slice::from_ref(&bad.schema_name))
        .await
        .expect("catalog");
    let p = fleet::plan(
        &e.db,
        &e.t,
        e.config.provisioning.timescaledb,
        &PlanRequest::default(),
    )
    .await
    .expect("plan");
    let mut o = opts(&e);
    o.canary = Canary::List(vec![bad.domain.clone(), fleet[0].domain.clone()]);
    o.parallel = 1;
    let s = fleet::apply(&e.db, &e.t, &p, &o, stop(), quiet())
        .await
        .expect("apply");
    assert_eq!(s.state, "stopped", "{s:?}");
    assert_eq!(s.failed, 1);
    assert!(
        s.failures[0].1.contains("migrations[0].steps[1]"),
        "{:?}",
        s.failures
    );
    assert!(
        s.failures[0].1.contains("orders_qty_positive"),
        "{:?}",
        s.failures
    );
    assert_eq!(s.remaining, 4, "the second wave never started");
    // The failed tenant's schema is exactly as before; only the canary
    // that passed moved.
    let after = catalog::read_schemas(&e.db, std::slice::from_ref(&bad.schema_name))
        .await
        .expect("catalog");
    assert_eq!(before, after);
    let v = versions(&e.db).await;
    let moved: Vec<&String> = v.iter().filter(|(_, v)| *v != 1).map(|(d, _)| d).collect();
    assert_eq!(moved, vec![&fleet[0].domain]);
    let st = fleet::ledger::entries(&e.db, s.run.expect("run"))
        .await
        .expect("ledger");
    let failed: Vec<_> = st.iter().filter(|x| x.state == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].tenant_id, bad.id);
    assert_eq!(st.iter().filter(|x| x.state == "queued").count(), 4);
    // A failed migration is audited with the server's error.
    let c = e.db.client().await.expect("client");
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM tenant_admin.audit_log WHERE action = 'migrate' AND outcome = 'error'
               AND tenant_id = $1 AND detail->>'error' LIKE '%orders_qty_positive%'",
            &[&bad.id],
        )
        .await
        .expect("audit")
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test]

async fn a_tenant_holding_a_long_lock_delays_only_itself() {
    let e = env().await;
    let fleet = tenants(&e, "l", 5, Some(1)).await;
    let locked = fleet[2].clone();
    // An ACCESS EXCLUSIVE lock on the tenant's table for 10 s, taken by an
    // idle transaction.
    let (_su, holder) = hold_lock(&e, &locked).await;
    let held = superuser_query(
        &e.dbname,
        &format!(
            "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = '{}.orders'::regclass",
            locked.schema_name
        ),
    );
    assert_eq!(held, vec![Some("1".to_string())], "the lock is held");
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let at = Instant::now();
        holder.batch_execute("COMMIT").await.expect("release");
        at
    });
    let p = fleet::plan(
        &e.db,
        &e.t,
        e.config.provisioning.timescaledb,
        &PlanRequest::default(),
    )
    .await
    .expect("plan");
    // The plan does not wait for the lock: it reports the locked tenant's
    // drift as not checked and still plans to migrate it.
    assert!(
        !release.is_finished(),
        "the plan waited for another tenant's lock"
    );
    let pl = p
        .tenants
        .iter()
        .find(|x| x.id == locked.id)
        .expect("locked tenant planned");
    assert!(!pl.drift_checked, "{pl:?}");
    assert_eq!(pl.action, fleet::Action::Migrate, "{pl:?}");
    assert!(
        p.tenants
            .iter()
            .filter(|x| x.id != locked.id)
            .all(|x| x.drift_checked)
    );
    let finished = Arc::new(std::sync::Mutex::new(Vec::<(String, Instant)>::new()));
    let f2 = finished.clone();
    let on: fleet::apply::OnEvent = Arc::new(move |ev| {
        if let fleet::ApplyEvent::Done { domain, .. } = ev {
            if let Ok(mut v) = f2.lock() {
                v.push((domain, Instant::now()));
            }
        }
    });
    let mut o = opts(&e);
    o.canary = Canary::Count(0);
    let s = fleet::apply(&e.db, &e.t, &p, &o, stop(), on)
        .await
        .expect("apply");
    let released = release.await.expect("holder");
    assert_eq!((s.done, s.failed), (5, 0), "{s:?}");
    let done = finished.lock().expect("lock").clone();
    assert_eq!(done.len(), 5);
    // The locked tenant finished only after the lock was released; every
    // other one well before (their concurrent index builds may wait up to a
    // lock_timeout for the locked tenant's waiting transaction: PostgreSQL's
    // CREATE INDEX CONCURRENTLY waits for older snapshots database-wide).
    for (d, at) in &done {
        if *d == locked.domain {
            assert!(*at >= released, "{d} finished before the lock was released");
        } else {
            assert!(
                *at + Duration::from_secs(2) < released,
                "{d} waited for another tenant's lock: done {:?} before the release",
                released.saturating_duration_since(*at)
            );
        }
    }
    let st = fleet::ledger::entries(&e.db, s.run.expect("run"))
        .await
        .expect("ledger");
    let lk = st.iter().find(|x| x.tenant_id == locked.id).expect("row");
    assert!(lk.attempts > 2, "retried: {lk:?}");
    // Others retry at most when their concurrent index build timed out
    // waiting for the locked tenant's transaction (see above).
    let others: Vec<_> = st.iter().filter(|x| x.tenant_id != locked.id).collect();
    assert_eq!(others.len(), 4);
    assert!(
        others.iter().all(|x| x.attempts < lk.attempts),
        "{others:?} vs {lk:?}"
    );
}

#[tokio::test]
async fn two_concurrent_runs_migrate_each_tenant_once() {
    let e = env().await;
    let fleet = tenants(&e, "d", 16, Some(1)).await;
    let mode = e.config.provisioning.timescaledb;
    let p1 = fleet::plan(&e.db, &e.t, mode, &PlanRequest::default())
        .await
        .expect("plan");
    let p2 = p1.clone();
    let (o1, o2) = (opts(&e), opts(&e));
    let (a, b) = tokio::join!(
        fleet::apply(&e.db, &e.t, &p1, &o1, stop(), quiet()),
        fleet::apply(&e.db, &e.t, &p2, &o2, stop(), quiet()),
    );
    let (a, b) = (a.expect("run a"), b.expect("run b"));
    assert_eq!(a.failed + b.failed, 0, "{a:?} {b:?}");
    assert_eq!(a.done + b.done, 16, "{a:?} {b:?}");
    assert_eq!(a.skipped + b.skipped, 16);
    assert!(versions(&e.db).await.iter().all(|(_, v)| *v == 3));
    let audits = migrate_audits(&e.db).await;
    assert!(
        fleet.iter().all(|t| audits.get(&t.id) == Some(&1)),
        "{audits:?}"
    );
}

/// Another run's last transaction on a tenant is still open when this run
/// claims it: the claim waits for it (one running row per tenant), and the
/// run must then see where that transaction left the tenant (done, at v3),
/// not the version it had half-way (v2). A read of the tenant sent before
/// the claim ran saw v2 and the run failed in `migration_begin` ("the
/// tenant is at version 3, the run expected 2"), as two concurrent runs did
/// once in CI. The other run is played by hand on the control tables.
#[tokio::test]
async fn a_claim_that_waits_for_another_runs_last_step_starts_where_it_ended() {
    let e = env().await;
    let t = tenants(&e, "w", 1, Some(1)).await.remove(0);
    let mode = e.config.provisioning.timescaledb;
    let p = fleet::plan(&e.db, &e.t, mode, &PlanRequest::default())
        .await
        .expect("plan");
    let other = uuid::Uuid::new_v4();
    // The other run, half-way: its row running, the tenant at v2.
    superuser_exec(
        &e.dbname,
        &format!(
            "INSERT INTO tenant_admin.migration_runs (id, template, to_version, actor)
               VALUES ('{other}', 'fleet', 3, 'other@ci');
             INSERT INTO tenant_admin.migration_ledger
               (run_id, tenant_id, ord, wave, from_version, to_version, at_version, state)
               VALUES ('{other}', '{id}', 1, 0, 1, 3, 2, 'running');
             UPDATE tenant_admin.tenants SET template_version = 2 WHERE id = '{id}'",
            id = t.id
        ),
    );
    // Its last transaction, open: done, at v3.
    let (_su, holder) = hold_open(
        &e,
        &format!(
            "BEGIN;
             UPDATE tenant_admin.migration_ledger SET state = 'done', at_version = 3
               WHERE run_id = '{other}';
             UPDATE tenant_admin.tenants SET template_version = 3 WHERE id = '{id}'",
            id = t.id
        ),
    )
    .await;
    let holder_pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    let release = async {
        // Commit once the claim waits for the holder's transaction.
        for _ in 0..600 {
            let waiting: i64 = holder
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))",
                    &[&holder_pid],
                )
                .await
                .expect("waiters")
                .get(0);
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        holder.batch_execute("COMMIT").await.expect("commit");
    };
    let mut o = opts(&e);
    o.canary = Canary::Count(0);
    let (s, ()) = tokio::join!(fleet::apply(&e.db, &e.t, &p, &o, stop(), quiet()), release);
    let s = s.expect("apply");
    assert_eq!((s.done, s.failed, s.skipped), (0, 0, 1), "{s:?}");
    let st = fleet::ledger::entries(&e.db, s.run.expect("run"))
        .await
        .expect("ledger");
    assert_eq!(st[0].state, "skipped", "{st:?}");
    assert!(
        st[0].error.as_deref().unwrap_or("").contains("version 3"),
        "{st:?}"
    );
}

fn cli(e: &Env, args: &[&str]) -> std::process::Output {
    cli_cmd(e, args).output().expect("run tenantctl")
}

fn cli_cmd(e: &Env, args: &[&str]) -> std::process::Command {
    let mut c = bin();
    c.arg("--database-url")
        .arg(cluster().conninfo(&e.dbname))
        .arg("--template-dir")
        .arg(e.dir.path())
        .args(args);
    c
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[tokio::test]
async fn a_run_killed_mid_way_resumes_without_applying_a_step_twice() {
    let e = env().await;
    let fleet = tenants(&e, "k", 24, Some(1)).await;
    // One tenant the run cannot pass before the kill.
    let (_su, holder) = hold_lock(&e, &fleet[10]).await;
    let mut child = cli_cmd(
        &e,
        &[
            "migrate",
            "apply",
            "--template",
            "fleet",
            "--parallel",
            "2",
            "--canary",
            "0",
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn");
    // Kill it once a few tenants are done.
    let c = e.db.client().await.expect("client");
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM tenant_admin.migration_ledger WHERE state = 'done'",
                &[],
            )
            .await
            .expect("count")
            .get(0);
        if n >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the run made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    holder.batch_execute("COMMIT").await.expect("release");
    let v = versions(&e.db).await;
    assert!(
        v.iter().any(|(_, v)| *v == 1),
        "killed before the end: {v:?}"
    );
    let run: uuid::Uuid = c
        .query_one("SELECT id FROM tenant_admin.migration_runs", &[])
        .await
        .expect("run")
        .get(0);
    let o = cli(
        &e,
        &["migrate", "apply", "--resume", &run.to_string(), "--json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json summary");
    assert_eq!(s["state"], "done", "{s}");
    assert_eq!(s["failed"], 0, "a step applied twice fails: {s}");
    assert!(versions(&e.db).await.iter().all(|(_, v)| *v == 3));
    let audits = migrate_audits(&e.db).await;
    assert!(
        fleet.iter().all(|t| audits.get(&t.id) == Some(&1)),
        "{audits:?}"
    );
    let o = cli(&e, &["migrate", "status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status json");
    assert_eq!(st["counts"]["done"], 24, "{st}");
    // The killed driver's workers went with the resumed run.
    assert_eq!(worker_roles(&e, run), vec![Some("0".to_string())]);
    // Every index the interrupted run built is valid.
    let invalid = superuser_query(
        &e.dbname,
        "SELECT count(*) FROM pg_index WHERE NOT indisvalid",
    );
    assert_eq!(invalid, vec![Some("0".to_string())]);
}

#[tokio::test]
async fn bad_input_is_one_sentence_and_changes_nothing() {
    let e = env().await;
    tenants(&e, "b", 1, Some(1)).await;
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["migrate", "plan", "--template", "fleet", "--to", "9"],
            5,
            "--to 9 is beyond the latest version of template fleet (3)",
        ),
        (
            &["migrate", "apply", "--template", "fleet", "--parallel", "0"],
            5,
            "--parallel 0",
        ),
        (
            &["migrate", "plan", "--template", "nope"],
            3,
            "unknown template \"nope\"",
        ),
        (
            &["migrate", "status", "3f1e4b1e-0000-4000-8000-000000000000"],
            3,
            "no migration run 3f1e4b1e",
        ),
        (
            &["--read-only", "migrate", "apply", "--template", "fleet"],
            5,
            "read-only",
        ),
        (
            &[
                "create",
                "--name",
                "x",
                "--domain",
                "x.example.com",
                "--template",
                "fleet",
                "--template-version",
                "7",
            ],
            5,
            "has no version 7",
        ),
    ];
    for (args, code, want) in cases {
        let o = cli(&e, args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    assert!(versions(&e.db).await.iter().all(|(_, v)| *v == 1));
    let c = e.db.client().await.expect("client");
    let runs: i64 = c
        .query_one("SELECT count(*) FROM tenant_admin.migration_runs", &[])
        .await
        .expect("runs")
        .get(0);
    assert_eq!(runs, 0);
}

#[tokio::test]
async fn validate_proves_the_migrations_rebuild_the_body_and_diff_shows_the_change() {
    let e = env().await;
    let file = e.dir.path().join("fleet.json");
    let o = cli(
        &e,
        &[
            "templates",
            "validate",
            file.to_str().expect("utf-8"),
            "--against",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("migrations v1 to v3 rebuild the current body"),
        "{out}"
    );

    // A body that forgot the index the migrations build.
    let mut v = fleet_template();
    v["indexes"] = serde_json::json!([]);
    let broken = e.dir.path().join("broken.json");
    std::fs::write(&broken, v.to_string()).expect("write");
    let o = cli(
        &e,
        &[
            "templates",
            "validate",
            broken.to_str().expect("utf-8"),
            "--against",
        ],
    );
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("index idx_orders_account is not in the template"),
        "{}",
        stderr(&o)
    );

    let o = cli(&e, &["templates", "diff", "fleet", "1", "3", "--against"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "ALTER TABLE orders ADD COLUMN fee numeric(20,8) NOT NULL DEFAULT 0;",
        "CREATE INDEX CONCURRENTLY idx_orders_account ON orders (account_id);  -- runs outside a transaction",
        "+ column orders.fee numeric(20,8) NOT NULL DEFAULT 0",
        "- column accounts.legacy_code text",
        "+ constraint orders_qty_positive on orders: CHECK ((qty > 0))",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
    // create --template-version builds the old version.
    let o = cli(
        &e,
        &[
            "create",
            "--name",
            "old",
            "--domain",
            "old.example.com",
            "--template",
            "fleet",
            "--template-version",
            "2",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let t: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(t["template_version"], 2);
    let p = fleet::plan(
        &e.db,
        &e.t,
        e.config.provisioning.timescaledb,
        &PlanRequest::default(),
    )
    .await
    .expect("plan");
    assert_eq!(p.tenants[0].steps.len(), 3);
    assert!(p.tenants[0].drift.is_empty(), "{:?}", p.tenants[0].drift);
}

// ---- pause and cancel from another process (the console's run control) ----

/// Start `migrate apply` in a child process (one tenant at a time, no
/// canary wave), its JSON summary on stdout; the run's id once it shows.
#[allow(clippy::zombie_processes, reason = "the caller waits for the child")]
async fn start_driver(e: &Env) -> (std::process::Child, uuid::Uuid) {
    let child = cli_cmd(
        e,
        &[
            "migrate",
            "apply",
            "--template",
            "fleet",
            "--parallel",
            "1",
            "--canary",
            "0",
            "--json",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn");
    let c = e.db.client().await.expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = c
            .query_opt(
                "SELECT r.id FROM tenant_admin.migration_runs r
                 WHERE (SELECT count(*) FROM tenant_admin.migration_ledger l
                        WHERE l.run_id = r.id AND l.state = 'done') >= 2",
                &[],
            )
            .await
            .expect("run");
        if let Some(r) = r {
            return (child, r.get(0));
        }
        assert!(Instant::now() < deadline, "the run made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An idle superuser transaction holding an ACCESS EXCLUSIVE lock on the
/// tenant's `orders`: a run cannot get past that tenant (it waits, retries)
/// until the transaction ends, so a test can act on a run in flight however
/// fast the other tenants go. `COMMIT` on the client releases it.
async fn hold_lock(e: &Env, t: &Tenant) -> (Db, deadpool_postgres::Object) {
    hold_open(
        e,
        &format!(
            "BEGIN; LOCK TABLE {}.orders IN ACCESS EXCLUSIVE MODE",
            t.schema_name
        ),
    )
    .await
}

/// A superuser session that ran `sql` (a transaction left open).
async fn hold_open(e: &Env, sql: &str) -> (Db, deadpool_postgres::Object) {
    let su = Db::connect(&common::superuser_config(&e.dbname))
        .await
        .expect("superuser");
    let holder = su.client().await.expect("client");
    holder.batch_execute(sql).await.expect("open transaction");
    (su, holder)
}

/// How many worker roles of the run exist (roles are the cluster's: other
/// tests' runs have theirs).
fn worker_roles(e: &Env, run: uuid::Uuid) -> Vec<Option<String>> {
    superuser_query(
        &e.dbname,
        &format!(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'tenantctl\\_mw\\_{}\\_%'",
            run.simple()
        ),
    )
}

/// The child's exit and JSON summary (it must end within a minute).
fn driver_summary(child: std::process::Child) -> (i32, serde_json::Value) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the driving process stopped")
        .expect("wait");
    let s = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "json summary: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), s)
}

async fn ledger_counts(db: &Db, run: uuid::Uuid) -> std::collections::BTreeMap<String, i64> {
    let c = db.client().await.expect("client");
    c.query(
        "SELECT state, count(*) FROM tenant_admin.migration_ledger WHERE run_id = $1 GROUP BY state",
        &[&run],
    )
    .await
    .expect("ledger")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Every tenant of the run is where the ledger says: done ones at v3, the
/// others at the ledger's `at_version` — v1, but for the one tenant a
/// killed driver may have left between the two halves of a version that a
/// `CREATE INDEX CONCURRENTLY` splits (its DDL and version bump committed
/// together, so ledger and tenant still agree).
async fn versions_follow_the_ledger(db: &Db, run: uuid::Uuid) {
    let c = db.client().await.expect("client");
    let rows = c
        .query(
            "SELECT l.state, t.template_version, l.at_version FROM tenant_admin.migration_ledger l
             JOIN tenant_admin.tenants t ON t.id = l.tenant_id WHERE l.run_id = $1",
            &[&run],
        )
        .await
        .expect("ledger");
    assert!(!rows.is_empty());
    let mut moved = 0;
    for r in &rows {
        let (state, v, at): (String, i32, i32) = (r.get(0), r.get(1), r.get(2));
        if state == "done" {
            assert_eq!(v, 3, "a done tenant at v{v}");
        } else {
            assert_eq!(v, at, "a {state} tenant at v{v}, the ledger says v{at}");
            if v != 1 {
                moved += 1;
            }
        }
    }
    assert!(
        moved <= 1,
        "{moved} unfinished tenants moved (one at a time ran)"
    );
}

async fn audit_count(db: &Db, action: &str) -> i64 {
    let c = db.client().await.expect("client");
    c.query_one(
        "SELECT count(*) FROM tenant_admin.audit_log WHERE action = $1 AND outcome = 'ok'",
        &[&action],
    )
    .await
    .expect("audit")
    .get(0)
}

#[tokio::test]
async fn pause_from_another_process_drains_the_run_and_cancel_ends_it() {
    let e = env().await;
    let fleet = tenants(&e, "p", 24, Some(1)).await;
    let (_su, holder) = hold_lock(&e, &fleet[5]).await;
    let (child, run) = start_driver(&e).await;
    let id = run.to_string();
    // Pause waits for the driver to drain its running tenant, which waits
    // for the lock: released once the pause is surely requested.
    let mut pause = cli_cmd(&e, &["migrate", "pause", &id]);
    let pausing = tokio::task::spawn_blocking(move || pause.output().expect("pause"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    holder.batch_execute("COMMIT").await.expect("release");
    let o = pausing.await.expect("pause");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("run {id}: paused")),
        "{out}: {:?}",
        superuser_query(
            &e.dbname,
            "SELECT error FROM tenant_admin.migration_ledger WHERE error IS NOT NULL"
        )
    );
    assert!(out.contains("--resume"), "{out}");
    // The driver drained its running tenant and stopped: paused, exit 1.
    let (code, s) = driver_summary(child);
    assert_eq!(code, 1, "{s}");
    assert_eq!(s["state"], "paused", "{s}");
    let n = ledger_counts(&e.db, run).await;
    assert_eq!(n.get("running"), None, "drained: {n:?}");
    assert!(n.get("done").copied().unwrap_or(0) >= 2, "{n:?}");
    assert!(n.get("queued").copied().unwrap_or(0) > 0, "{n:?}");
    versions_follow_the_ledger(&e.db, run).await;
    assert_eq!(audit_count(&e.db, "migrate_pause").await, 1);
    // Pausing again, an unknown run, a bad id: one sentence, nothing changes.
    let o = cli(&e, &["migrate", "pause", &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is paused already"), "{}", stderr(&o));
    let o = cli(&e, &["migrate", "pause", &uuid::Uuid::nil().to_string()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no migration run"), "{}", stderr(&o));
    let o = cli(&e, &["migrate", "cancel", "nope", "--yes"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is not a run id"), "{}", stderr(&o));
    // Cancel asks first; without a terminal it needs --yes.
    let o = cli(&e, &["migrate", "cancel", &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("give --yes"), "{}", stderr(&o));
    assert_eq!(ledger_counts(&e.db, run).await, n, "nothing changed");
    // Cancelling the paused run (nobody drives it) skips the queued tenants at once.
    let o = cli(&e, &["migrate", "cancel", &id, "--yes", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["state"], "cancelled", "{j}");
    assert_eq!(j["outcome"]["outcome"], "done", "{j}");
    let after = ledger_counts(&e.db, run).await;
    assert_eq!(after.get("queued"), None, "{after:?}");
    assert_eq!(after.get("skipped"), n.get("queued"), "{after:?}");
    assert_eq!(after.get("done"), n.get("done"), "{after:?}");
    versions_follow_the_ledger(&e.db, run).await;
    assert_eq!(audit_count(&e.db, "migrate_cancel").await, 1);
    // A cancelled run is finished: no cancel, no pause, no resume.
    for args in [
        vec!["migrate", "cancel", id.as_str(), "--yes"],
        vec!["migrate", "pause", id.as_str()],
        vec!["migrate", "apply", "--resume", id.as_str()],
    ] {
        let o = cli(&e, &args);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            stderr(&o).contains("cancelled already"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[tokio::test]
async fn cancel_while_a_run_is_driving_finishes_running_tenants_and_skips_the_rest() {
    let e = env().await;
    let fleet = tenants(&e, "c", 24, Some(1)).await;
    let (_su, holder) = hold_lock(&e, &fleet[5]).await;
    let (child, run) = start_driver(&e).await;
    let id = run.to_string();
    let o = cli(&e, &["migrate", "cancel", &id, "--yes"]);
    assert!(o.status.success(), "{}", stderr(&o));
    holder.batch_execute("COMMIT").await.expect("release");
    assert!(stderr(&o).contains("cancel requested"), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("run {id}: cancelled")), "{out}");
    let (code, s) = driver_summary(child);
    assert_eq!(code, 1, "{s}");
    assert_eq!(s["state"], "cancelled", "{s}");
    assert_eq!(s["remaining"], 0, "{s}");
    let n = ledger_counts(&e.db, run).await;
    assert_eq!(n.get("running"), None, "{n:?}");
    assert_eq!(n.get("queued"), None, "{n:?}");
    assert!(n.get("done").copied().unwrap_or(0) >= 2, "{n:?}");
    assert!(n.get("skipped").copied().unwrap_or(0) > 0, "{n:?}");
    versions_follow_the_ledger(&e.db, run).await;
    // Every finished tenant's schema is a v3 schema; the others are v1.
    let invalid = superuser_query(
        &e.dbname,
        "SELECT count(*) FROM pg_index WHERE NOT indisvalid",
    );
    assert_eq!(invalid, vec![Some("0".to_string())]);
}

#[tokio::test]
async fn a_run_whose_driver_was_killed_is_cancelled_directly() {
    let e = env().await;
    let fleet = tenants(&e, "d", 12, Some(1)).await;
    let (_su, holder) = hold_lock(&e, &fleet[5]).await;
    let (mut child, run) = start_driver(&e).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    holder.batch_execute("COMMIT").await.expect("release");
    // The run still says running, but nobody beats it any more.
    tokio::time::sleep(fleet::control::STALE + Duration::from_millis(500)).await;
    let o = cli(
        &e,
        &["migrate", "cancel", &run.to_string(), "--yes", "--json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["state"], "cancelled", "{j}");
    assert_eq!(j["outcome"]["outcome"], "done", "no driver: done here: {j}");
    // The killed driver left its worker: the driverless cancel drops it.
    assert_eq!(worker_roles(&e, run), vec![Some("0".to_string())]);
    let n = ledger_counts(&e.db, run).await;
    assert_eq!(n.get("running"), None, "{n:?}");
    assert_eq!(n.get("queued"), None, "{n:?}");
    versions_follow_the_ledger(&e.db, run).await;
}

// ---- a hostile tenant and the worker that serves the next tenants ----

/// The hook a hostile tenant plants on its `orders`: each backfilled row
/// (the v3 `UPDATE`) runs it in the worker's session, acting as the
/// tenant's owner. It tries to reach `victims` (schema, owner, id) — as the
/// worker, as their owner, through the ledger — and to leave something in
/// the session or the worker for the next tenant (a temporary `orders` that
/// would shadow theirs, a search_path, a SECURITY DEFINER function owned by
/// the worker, a new password and read-only transactions for the worker's
/// next login), and writes each outcome to its own `escapes` table. (The
/// test cluster trusts local logins, so only the setting's effect shows.)
fn hostile_hook_sql(a: &Tenant, victims: &[&Tenant]) -> String {
    let attacks = victims.iter().fold(String::new(), |mut out, v| {
            let _ = write!(
                out,
            r#"
  BEGIN RESET ROLE; EXECUTE 'SET ROLE "{vo}"'; r := array_append(r, 'set_role:ok');
  EXCEPTION WHEN OTHERS THEN r := r || ('set_role:' || SQLERRM); END;
  BEGIN RESET ROLE; EXECUTE 'INSERT INTO "{vs}".accounts (legacy_code) VALUES (''x'')'; r := array_append(r, 'write:ok');
  EXCEPTION WHEN OTHERS THEN r := r || ('write:' || SQLERRM); END;
  BEGIN RESET ROLE; EXECUTE format('SET ROLE %I', 'tenantctl_migrate_' || replace(run::text, '-', ''));
    PERFORM tenant_admin.migration_advance(run, '{vid}'::uuid, 3, 0, NULL, true, NULL); r := array_append(r, 'ledger:ok');
  EXCEPTION WHEN OTHERS THEN r := r || ('ledger:' || SQLERRM); END;"#,
            vo = v.owner(),
            vs = v.schema_name,
            vid = v.id,
            );
            out
        });
    format!(
        r#"SET ROLE "{ao}"; SET search_path = "{as_}";
CREATE TABLE escapes (what text, outcome text);
CREATE FUNCTION hook() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
  run uuid := substring(session_user::text from 'tenantctl_mw_([0-9a-f]{{32}})_')::uuid;
  r text[] := '{{}}';
BEGIN
  IF run IS NULL THEN RETURN NEW; END IF;{attacks}
  BEGIN EXECUTE 'CREATE TEMP TABLE IF NOT EXISTS orders (id int)'; r := array_append(r, 'temp:ok');
  EXCEPTION WHEN OTHERS THEN r := r || ('temp:' || SQLERRM); END;
  PERFORM set_config('search_path', '"{as_}"', false);
  BEGIN RESET ROLE; EXECUTE format('ALTER ROLE %I PASSWORD %L', session_user, 'stolen');
    r := array_append(r, 'password:ok');
  EXCEPTION WHEN OTHERS THEN r := r || ('password:' || SQLERRM); END;
  BEGIN RESET ROLE; EXECUTE format('ALTER ROLE %I SET default_transaction_read_only = on', session_user);
    r := array_append(r, 'role_setting:ok');
  EXCEPTION WHEN OTHERS THEN r := r || ('role_setting:' || SQLERRM); END;
  BEGIN EXECUTE 'SET ROLE "{ao}"'; EXECUTE format('GRANT CREATE ON SCHEMA "{as_}" TO %I', session_user::text);
    RESET ROLE; EXECUTE 'CREATE FUNCTION "{as_}".planted() RETURNS int LANGUAGE sql SECURITY DEFINER AS ''SELECT 1''';
    r := array_append(r, 'plant:ok');
  EXCEPTION WHEN OTHERS THEN r := r || ('plant:' || SQLERRM); END;
  EXECUTE 'SET ROLE "{ao}"';
  INSERT INTO "{as_}".escapes SELECT split_part(x, ':', 1), substr(x, strpos(x, ':') + 1) FROM unnest(r) x;
  RETURN NEW;
END $f$;
CREATE TRIGGER hook BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION hook();
RESET ROLE;"#,
        ao = a.owner(),
        as_ = a.schema_name,
    )
}

#[tokio::test]
async fn a_hostile_tenant_cannot_reach_the_tenants_its_worker_serves_next() {
    let e = env().await;
    let fleet = tenants(&e, "h", 3, Some(1)).await;
    let (a, victims) = (&fleet[0], [&fleet[1], &fleet[2]]);
    // The tenant that could define code: a login role that is a member of
    // its owner role (what a template with tenant DDL gives it).
    let planter = format!("{}_planter", a.schema_name);
    superuser_exec(
        &e.dbname,
        &format!("CREATE ROLE \"{planter}\" LOGIN IN ROLE \"{}\"", a.owner()),
    );
    let (c, conn) = tokio_postgres::connect(
        &cluster().conninfo_as(&e.dbname, &planter),
        tokio_postgres::NoTls,
    )
    .await
    .expect("log in as the planter");
    tokio::spawn(conn);
    c.batch_execute(&hostile_hook_sql(a, &victims))
        .await
        .expect("plant the hook");

    // One worker serves all three, the hostile tenant first.
    let pr = PlanRequest {
        include_drifted: true,
        ..PlanRequest::default()
    };
    let p = fleet::plan(&e.db, &e.t, e.config.provisioning.timescaledb, &pr)
        .await
        .expect("plan");
    let mut o = opts(&e);
    o.parallel = 1;
    o.canary = Canary::Count(0);
    // The first victim shares the hostile tenant's session (what the hook
    // left in it must be gone). Then the session is lost: the last victim
    // needs a new login, which the hook tried to spoil.
    let run_id = Arc::new(std::sync::Mutex::new(None));
    let (dbname, second) = (e.dbname.clone(), victims[0].domain.clone());
    let on: fleet::apply::OnEvent = Arc::new(move |ev| match ev {
        fleet::ApplyEvent::Started { run, .. } => *run_id.lock().expect("lock") = Some(run),
        fleet::ApplyEvent::Done { domain, .. } if domain == second => {
            let run = run_id.lock().expect("lock").expect("started").simple();
            superuser_exec(
                &dbname,
                &format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename LIKE 'tenantctl\\_mw\\_{run}\\_%'"
                ),
            );
        }
        _ => {}
    });
    let s = fleet::apply(&e.db, &e.t, &p, &o, stop(), on)
        .await
        .expect("apply");
    assert_eq!((s.done, s.failed), (3, 0), "{s:?}");

    // The hook ran in the worker's session, and every reach failed.
    let rows = c
        .query(
            &format!("SELECT what, outcome FROM \"{}\".escapes", a.schema_name),
            &[],
        )
        .await
        .expect("escapes");
    let got: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(!got.is_empty(), "the hook must have run");
    for want in [
        "set_role",
        "write",
        "ledger",
        "temp",
        "plant",
        "password",
        "role_setting",
    ] {
        assert!(got.iter().any(|(w, _)| w == want), "{want} tried: {got:?}");
    }
    for (what, outcome) in &got {
        if matches!(what.as_str(), "set_role" | "write" | "ledger") {
            assert_ne!(outcome, "ok", "{what} reached another tenant: {got:?}");
        }
    }
    assert!(
        got.iter()
            .any(|(w, o)| w == "ledger"
                && o.contains("only the run's worker acting for this tenant")),
        "the ledger refused the worker for another tenant: {got:?}"
    );

    // What it left in the session did not reach the next tenants: their
    // schemas are exactly a fresh v3 tenant's, and their rows are theirs.
    let fresh = provision::create_tenant_at(&e.db, &e.o, &req("fresh.example.com"), None, &noop)
        .await
        .expect("fresh v3 tenant");
    let mut schemas: Vec<String> = victims.iter().map(|t| t.schema_name.clone()).collect();
    schemas.push(fresh.schema_name.clone());
    let cats = catalog::read_schemas(&e.db, &schemas)
        .await
        .expect("catalogs");
    for v in victims {
        let d = catalog::compare(&cats[&fresh.schema_name], &cats[&v.schema_name]);
        assert!(d.is_empty(), "{}: {d:?}", v.domain);
        let n = superuser_query(
            &e.dbname,
            &format!("SELECT count(*) FROM \"{}\".accounts", v.schema_name),
        );
        assert_eq!(n, vec![Some("2".to_string())], "{}", v.domain);
    }
    // A function the worker came to own went to the hostile tenant's owner
    // (never to the operator), and no worker role is left.
    let owners = superuser_query(
        &e.dbname,
        "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'planted'",
    );
    let want: Vec<Option<String>> = if got.contains(&("plant".into(), "ok".into())) {
        vec![Some(a.owner().to_string())]
    } else {
        Vec::new()
    };
    assert_eq!(owners, want, "the planted function's owner");
    let left = superuser_query(
        &e.dbname,
        &format!(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'tenantctl\\_mw\\_{}\\_%'",
            s.run.expect("run").simple()
        ),
    );
    assert_eq!(left, vec![Some("0".to_string())]);
    drop(c);
    superuser_exec(&e.dbname, &format!("DROP ROLE \"{planter}\""));
}
