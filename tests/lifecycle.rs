//! Tenant lifecycle against a real local PostgreSQL: isolation, atomicity,
//! concurrency, suspend/resume, delete/restore, credentials, audit, and bad
//! input that must change nothing.

#![allow(clippy::many_single_char_names)] // reason: short names (o, t, c, e) keep the scenario steps readable

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{cluster, fresh_config, fresh_db_init};
use tenantctl::backend::ProgressStep;
use tenantctl::config::{Config, TimescaleMode};
use tenantctl::db::provision::{self, ProvisionOptions};
use tenantctl::db::{Db, audit, tenants};
use tenantctl::domain::tenant::{NewTenant, Tenant, TenantStatus, TenantUpdate};
use tenantctl::error::ErrorKind;
use tokio_postgres::NoTls;
use uuid::Uuid;

fn noop(_: ProgressStep) {}

fn shipped_templates() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates")
}

fn options(config: &Config, dir: &Path) -> ProvisionOptions {
    let mut o = ProvisionOptions::from_config(config);
    o.template_dir = shipped_templates().into();
    o.backup_dir = dir.join("backups");
    o.actor = "tester@ci".into();
    o
}

fn req(name: &str, domain: &str) -> NewTenant {
    NewTenant {
        name: name.into(),
        domain: domain.into(),
        template: "default".into(),
        connection_limit: 5,
        statement_timeout: Some(Duration::from_secs(30)),
        storage_quota_bytes: Some(1 << 30),
        settings: serde_json::json!({"tier": "gold"}),
    }
}

/// A template directory with `default.json` plus `name.json` = `json`.
fn template_dir(json: &serde_json::Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        shipped_templates().join("default.json"),
        dir.path().join("default.json"),
    )
    .expect("copy default");
    let name = json["name"].as_str().expect("name");
    std::fs::write(dir.path().join(format!("{name}.json")), json.to_string()).expect("write");
    dir
}

fn small_template(name: &str, statements: &[String]) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "tables": [{"name": "items", "columns": [{"name": "id", "type": "bigint", "nullable": false}], "primary_key": ["id"]}],
        "statements": statements,
    })
}

async fn raw(config: &Config) -> tokio_postgres::Client {
    let p = config.conn_params().expect("params");
    let (client, conn) = p
        .to_pg_config("test")
        .connect(NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

async fn connect_as(db: &Db, role: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) =
        tokio_postgres::connect(&cluster().conninfo_as(&db.params.dbname, role), NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// (tenant rows, tenant schemas, tenant roles, audit rows) in this database.
async fn census(db: &Db) -> (i64, i64, i64, i64) {
    let c = db.client().await.expect("client");
    let s = db.q_schema();
    let row = c
        .query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {s}.tenants WHERE status <> 'deleted'),
                        (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'),
                        (SELECT count(*) FROM pg_roles r WHERE EXISTS
                           (SELECT 1 FROM pg_namespace n WHERE n.nspname = r.rolname AND n.nspname LIKE 'tenant\\_%')),
                        (SELECT count(*) FROM {s}.audit_log)"
            ),
            &[],
        )
        .await
        .expect("census");
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

/// Schema, role and row of one tenant id: all must be absent after a failure.
async fn leftovers(db: &Db, id: Uuid) -> (bool, bool, bool) {
    let name = tenantctl::domain::tenant::object_name(&id);
    let c = db.client().await.expect("client");
    let row = c
        .query_one(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
                        EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
                        EXISTS (SELECT 1 FROM {}.tenants WHERE id = $2)",
                db.q_schema()
            ),
            &[&name, &id],
        )
        .await
        .expect("leftovers");
    (row.get(0), row.get(1), row.get(2))
}

/// The id of the newest failed `create` in the audit log.
async fn last_failed_create(db: &Db) -> audit_entry::Entry {
    let rows = audit::list_audit(db, None, None, 50).await.expect("audit");
    let e = rows
        .into_iter()
        .find(|e| e.action == "create" && e.outcome == "error")
        .expect("an error audit row for the failed create");
    audit_entry::Entry(e)
}

mod audit_entry {
    pub struct Entry(pub tenantctl::domain::audit::AuditEntry);
}

/// Tenant roles are global to the cluster; count only those of this database.
async fn orphans(db: &Db) -> (i64, i64) {
    let c = db.client().await.expect("client");
    let s = db.q_schema();
    let row = c
        .query_one(
            &format!(
                "SELECT (SELECT count(*) FROM pg_namespace n WHERE nspname LIKE 'tenant\\_%' AND nspname <> $1
                           AND NOT EXISTS (SELECT 1 FROM {s}.tenants t WHERE t.schema_name = n.nspname AND t.status <> 'deleted')),
                        (SELECT count(*) FROM {s}.tenants t WHERE t.status <> 'deleted'
                           AND NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = t.role_name))"
            ),
            &[&db.schema],
        )
        .await
        .expect("orphans");
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn create_builds_role_schema_and_template_in_one_go() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let steps = std::sync::Mutex::new(Vec::new());
    let t = provision::create_tenant(&db, &o, &req("Acme", "Acme.Example.com"), &|s| {
        steps.lock().expect("lock").push(s.name);
    })
    .await
    .expect("create");
    assert_eq!(t.status, TenantStatus::Active);
    assert_eq!(t.domain, "acme.example.com");
    assert_eq!(t.schema_name, t.role_name);
    assert!(t.provision_ms.is_some());
    assert!(
        t.warnings.iter().any(|w| w.contains("TimescaleDB")),
        "auto mode without the extension records a warning: {:?}",
        t.warnings
    );
    let names = steps.lock().expect("lock").clone();
    assert!(names.contains(&"template".to_string()), "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("commit"));

    // pg_authid is for superusers: the test reads it as one.
    let admin = Db::connect(&common::superuser_config(&db.params.dbname))
        .await
        .expect("superuser");
    let c = admin.client().await.expect("client");
    let row = c
        .query_one(
            "SELECT r.rolcanlogin, r.rolconnlimit, r.rolpassword IS NULL,
                    array_to_string(s.setconfig, ','),
                    (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1),
                    (SELECT count(*) FROM pg_tables WHERE schemaname = $1),
                    (SELECT count(*) FROM pg_indexes WHERE schemaname = $1)
             FROM pg_authid r LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid
             WHERE r.rolname = $1",
            &[&t.role_name],
        )
        .await
        .expect("role");
    assert!(row.get::<_, bool>(0), "LOGIN");
    assert_eq!(row.get::<_, i32>(1), 5);
    assert!(row.get::<_, bool>(2), "no password");
    assert!(
        row.get::<_, Option<String>>(3)
            .unwrap_or_default()
            .contains("statement_timeout=30000ms"),
        "{:?}",
        row.get::<_, Option<String>>(3)
    );
    assert_eq!(
        Some(row.get::<_, String>(4)),
        t.owner_role,
        "the owner role owns the schema"
    );
    assert_ne!(t.owner(), t.role_name);
    assert_eq!(row.get::<_, i64>(5), 4);
    assert_eq!(
        row.get::<_, i64>(6),
        8,
        "four primary keys and four indexes"
    );

    let a = audit::list_audit(&db, Some(t.id), None, 10)
        .await
        .expect("audit");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].action, "create");
    assert_eq!(a[0].outcome, "ok");
    assert_eq!(a[0].actor, "tester@ci");
    assert!(
        a[0].detail["steps"]
            .as_array()
            .is_some_and(|s| s.len() >= 4)
    );
    assert!(a[0].detail["provision_ms"].is_number());

    // Addressable by id, domain (any case) and schema.
    for key in [
        t.id.to_string(),
        "ACME.example.com".into(),
        t.schema_name.clone(),
    ] {
        assert_eq!(
            tenants::find_tenant(&db, &key).await.expect("find").id,
            t.id
        );
    }
    let e = tenants::find_tenant(&db, "nobody.example.com")
        .await
        .expect_err("unknown");
    assert_eq!(e.exit_code(), 3);
}

fn assert_denied(r: Result<impl std::fmt::Debug, tokio_postgres::Error>, what: &str) {
    match r {
        Ok(v) => panic!("{what}: allowed ({v:?}) but must be denied"),
        Err(e) => {
            let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
            assert!(
                code == "42501" || code == "42P01" || code == "3F000",
                "{what}: expected a privilege error, got {e:?}"
            );
        }
    }
}

#[tokio::test]
async fn tenant_roles_are_isolated() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let a = provision::create_tenant(&db, &o, &req("A", "a.example.com"), &noop)
        .await
        .expect("a");
    let b = provision::create_tenant(&db, &o, &req("B", "b.example.com"), &noop)
        .await
        .expect("b");
    let ca = connect_as(&db, &a.role_name).await.expect("login as A");
    let bs = &b.schema_name;
    let ctl = db.q_schema();

    // Positive control: A uses its own schema.
    ca.batch_execute("INSERT INTO portfolios (user_id, name) VALUES (gen_random_uuid(), 'mine')")
        .await
        .expect("A can use its own schema (search_path default is \"$user\")");
    // ... but defines nothing in it: no tables, functions, types, triggers.
    assert_denied(
        ca.execute("CREATE TABLE scratch (x int)", &[]).await,
        "create a table in its own schema",
    );
    assert_denied(
        ca.execute(
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            &[],
        )
        .await,
        "create a function in its own schema",
    );
    assert_denied(
        ca.execute("ALTER TABLE portfolios ADD CHECK (true)", &[])
            .await,
        "alter its own table",
    );
    assert_denied(
        ca.execute("CREATE TYPE mood AS ENUM ('a')", &[]).await,
        "create a type",
    );
    let n: i64 = ca
        .query_one("SELECT count(*) FROM portfolios", &[])
        .await
        .expect("read own")
        .get(0);
    assert_eq!(n, 1);

    assert_denied(
        ca.query(&format!("SELECT * FROM \"{bs}\".portfolios"), &[])
            .await,
        "read B",
    );
    assert_denied(
        ca.execute(
            &format!("INSERT INTO \"{bs}\".portfolios (name) VALUES ('x')"),
            &[],
        )
        .await,
        "write B",
    );
    assert_denied(
        ca.query(&format!("SELECT * FROM {ctl}.tenants"), &[]).await,
        "read the control schema",
    );
    assert_denied(
        ca.query(&format!("SELECT * FROM {ctl}.audit_log"), &[])
            .await,
        "read the audit log",
    );
    assert_denied(
        ca.execute("CREATE TABLE public.evil (x int)", &[]).await,
        "create in public",
    );
    assert_denied(
        ca.execute(&format!("CREATE TABLE \"{bs}\".evil (x int)"), &[])
            .await,
        "create in B",
    );
    assert_denied(
        ca.execute("CREATE SCHEMA evil", &[]).await,
        "create a schema",
    );
    assert_denied(
        ca.execute(&format!("SET ROLE \"{}\"", b.role_name), &[])
            .await,
        "SET ROLE to B",
    );
    assert_denied(
        ca.execute(&format!("DROP TABLE \"{bs}\".trades"), &[])
            .await,
        "drop B's table",
    );
    assert_denied(
        ca.execute(&format!("DROP SCHEMA \"{bs}\" CASCADE"), &[])
            .await,
        "drop B's schema",
    );
    // B is untouched.
    let cb = connect_as(&db, &b.role_name).await.expect("login as B");
    let n: i64 = cb
        .query_one("SELECT count(*) FROM trades", &[])
        .await
        .expect("B reads its own")
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_template_naming_another_schema_fails_and_leaves_nothing() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let mut o = options(&config, tmp.path());
    let b = provision::create_tenant(&db, &o, &req("B", "b.example.com"), &noop)
        .await
        .expect("b");
    let bs = &b.schema_name;
    for (i, stmt) in [
        "CREATE TABLE public.evil (x int)".to_string(),
        format!("CREATE TABLE \"{bs}\".evil (x int)"),
        format!("INSERT INTO \"{bs}\".portfolios (name) VALUES ('stolen')"),
        format!("CREATE VIEW peek AS SELECT * FROM \"{bs}\".trades"),
        format!(
            "CREATE VIEW peek2 AS SELECT * FROM {}.tenants",
            db.q_schema()
        ),
    ]
    .iter()
    .enumerate()
    {
        let name = format!("hostile{i}");
        let dir = template_dir(&small_template(&name, std::slice::from_ref(stmt)));
        o.template_dir = dir.path().to_path_buf().into();
        let before = census(&db).await;
        let mut r = req("Evil", &format!("evil{i}.example.com"));
        r.template = name;
        let e = provision::create_tenant(&db, &o, &r, &noop)
            .await
            .expect_err("hostile statement must fail");
        // Refused when the template loads, before anything is created; the
        // database's own refusal (the statements run as the schema's owner)
        // is tested in tests/templates.rs with validation bypassed.
        assert!(e.message.contains("statements[0]: "), "{stmt}: {e}");
        assert_eq!(e.exit_code(), 5, "{stmt}: {e}");
        let after = census(&db).await;
        assert_eq!(before, after, "{stmt}");
    }
    let n: i64 = db
        .client()
        .await
        .expect("c")
        .query_one(&format!("SELECT count(*) FROM \"{bs}\".portfolios"), &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 0, "B's data untouched");
}

#[tokio::test]
async fn a_statement_cannot_change_role_even_past_validation() {
    // Validation refuses these; the database refuses them too, because raw
    // statements run inside a security-definer function of the tenant role.
    let (_config, db) = fresh_db_init().await;
    let mut t = tenantctl::domain::template::parse(&small_template("escape", &[]).to_string())
        .expect("template");
    for stmt in [
        "RESET ROLE",
        "SELECT set_config('role', 'postgres', true)",
        "SET SESSION AUTHORIZATION postgres",
    ] {
        assert!(tenantctl::domain::template::check_statement(stmt).is_err());
        t.statements = vec![stmt.to_string()];
        let id = Uuid::new_v4();
        let obj = tenantctl::domain::tenant::object_name(&id);
        let mut c = db.client().await.expect("client");
        let tx = c.transaction().await.expect("tx");
        let op = provision::roles::operator(&tx).await.expect("operator");
        let owner = tenantctl::domain::tenant::owner_name(&id);
        let limits = provision::roles::Limits {
            connection_limit: 1,
            ..Default::default()
        };
        tx.batch_execute(&provision::roles::create(
            &owner, &obj, &obj, &limits, &op, None, true,
        ))
        .await
        .expect("role and schema");
        let e = tx
            .batch_execute(&provision::render::template(&t, &owner, &obj, None))
            .await
            .expect_err("role change must be refused");
        let msg = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default();
        assert!(msg.contains("security-definer"), "{stmt}: {msg}");
        drop(tx);
    }
}

#[tokio::test]
async fn a_template_failing_at_its_kth_statement_leaves_nothing() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let mut o = options(&config, tmp.path());
    let stmts = vec![
        "CREATE VIEW v AS SELECT id FROM items".to_string(),
        "CREATE INDEX items_again ON items (id)".to_string(),
        "CREATE INDEX items_again ON items (id)".to_string(), // exists already: statement 3 fails
        "CREATE TABLE never (x int)".to_string(),
    ];
    let dir = template_dir(&small_template("third", &stmts));
    o.template_dir = dir.path().to_path_buf().into();
    let before = census(&db).await;
    let mut r = req("K", "k.example.com");
    r.template = "third".into();
    let e = provision::create_tenant(&db, &o, &r, &noop)
        .await
        .expect_err("fails");
    assert!(e.message.contains("statements[2]: "), "{e}");
    assert!(e.message.contains("already exists"), "{e}");
    let entry = last_failed_create(&db).await.0;
    assert_eq!(entry.detail["domain"], "k.example.com");
    assert!(entry.detail["error"].as_str().is_some());
    let id = entry.tenant_id.expect("id");
    assert_eq!(leftovers(&db, id).await, (false, false, false));
    let after = census(&db).await;
    assert_eq!((before.0, before.1), (after.0, after.1));

    // A structured column whose default cannot be evaluated fails the same way.
    let bad = serde_json::json!({
        "name": "baddefault",
        "tables": [
            {"name": "ok", "columns": [{"name": "x", "type": "integer"}]},
            {"name": "broken", "columns": [{"name": "x", "type": "integer", "default": "'abc'::integer"}]}
        ]
    });
    let dir = template_dir(&bad);
    o.template_dir = dir.path().to_path_buf().into();
    let mut r = req("K2", "k2.example.com");
    r.template = "baddefault".into();
    provision::create_tenant(&db, &o, &r, &noop)
        .await
        .expect_err("fails at the second table");
    let id = last_failed_create(&db).await.0.tenant_id.expect("id");
    assert_eq!(leftovers(&db, id).await, (false, false, false));
}

/// Hold `audit_log` locked so a creation blocks at its last statement, with
/// role, schema and tables already made inside its transaction.
async fn lock_audit_log(config: &Config, db: &Db) -> tokio_postgres::Client {
    let locker = raw(config).await;
    locker
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE {}.audit_log IN ACCESS EXCLUSIVE MODE",
            db.q_schema()
        ))
        .await
        .expect("lock");
    locker
}

/// The pid of the creation blocked by [`lock_audit_log`] (polls the catalog).
async fn blocked_creation(config: &Config) -> i32 {
    waiting_on(config, "%UPDATE%tenants%provision_ms%").await
}

/// The pid of a backend of this database waiting on a lock in a query like `pattern`.
async fn waiting_on(config: &Config, pattern: &str) -> i32 {
    let watcher = raw(config).await;
    for _ in 0..1000 {
        let row = watcher
            .query_opt(
                "SELECT a.pid FROM pg_stat_activity a
                 WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'
                   AND a.query LIKE $1",
                &[&pattern],
            )
            .await
            .expect("watch");
        if let Some(r) = row {
            return r.get(0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no backend ever waited on a lock in a query like {pattern}");
}

#[tokio::test]
async fn a_creation_whose_connection_is_terminated_leaves_nothing() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let before = census(&db).await;
    let locker = lock_audit_log(&config, &db).await;
    let db2 = db.clone();
    let o2 = o.clone();
    let task = tokio::spawn(async move {
        provision::create_tenant(&db2, &o2, &req("T", "t.example.com"), &noop).await
    });
    let pid = blocked_creation(&config).await;
    // Mid-creation, role and schema exist inside the open transaction only.
    let killer = raw(&config).await;
    let ok: bool = killer
        .query_one("SELECT pg_terminate_backend($1, 5000)", &[&pid])
        .await
        .expect("terminate")
        .get(0);
    assert!(ok);
    locker.batch_execute("ROLLBACK").await.expect("unlock");
    let e = task.await.expect("join").expect_err("creation must fail");
    assert!(
        e.message.contains("rolled back"),
        "the error says nothing was created: {e}"
    );
    let after = census(&db).await;
    assert_eq!((before.0, before.1), (after.0, after.1));
    let entry = last_failed_create(&db).await.0;
    assert_eq!(
        leftovers(&db, entry.tenant_id.expect("id")).await,
        (false, false, false)
    );
}

#[tokio::test]
async fn a_hung_creation_is_cancelled_by_the_creation_timeout() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let mut o = options(&config, tmp.path());
    o.creation_timeout = Duration::from_millis(1500);
    let locker = lock_audit_log(&config, &db).await;
    let db2 = db.clone();
    let task = tokio::spawn(async move {
        provision::create_tenant(&db2, &o, &req("H", "h.example.com"), &noop).await
    });
    blocked_creation(&config).await;
    // Cancelled by its statement timeout, the creation then records the
    // failure in a transaction of its own, which waits for our lock.
    waiting_on(&config, "INSERT INTO%audit_log%").await;
    locker.batch_execute("ROLLBACK").await.expect("unlock");
    let e = task.await.expect("join").expect_err("cancelled");
    assert!(e.message.contains("cancelled after"), "{e}");
    let entry = last_failed_create(&db).await.0;
    assert_eq!(
        leftovers(&db, entry.tenant_id.expect("id")).await,
        (false, false, false)
    );
}

#[tokio::test]
async fn timescale_require_refuses_and_off_is_silent() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let mut o = options(&config, tmp.path());
    o.timescaledb = TimescaleMode::Require;
    let before = census(&db).await;
    let e = provision::create_tenant(&db, &o, &req("R", "r.example.com"), &noop)
        .await
        .expect_err("require without the extension");
    assert_eq!(e.kind, ErrorKind::Refused);
    assert!(
        e.message.contains("TimescaleDB extension is not installed"),
        "{e}"
    );
    let after = census(&db).await;
    assert_eq!((before.0, before.1), (after.0, after.1));
    o.timescaledb = TimescaleMode::Off;
    let t = provision::create_tenant(&db, &o, &req("R", "r.example.com"), &noop)
        .await
        .expect("off");
    // Silent about TimescaleDB (a least-privilege operator still hears that
    // it may not set temp_file_limit).
    assert!(
        !t.warnings.iter().any(|w| w.contains("TimescaleDB")),
        "{:?}",
        t.warnings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_creations_at_once_all_succeed() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (db, o) = (db.clone(), o.clone());
        tasks.push(tokio::spawn(async move {
            provision::create_tenant(
                &db,
                &o,
                &req(&format!("T{i}"), &format!("t{i}.example.com")),
                &noop,
            )
            .await
        }));
    }
    for t in tasks {
        let r: Result<Tenant, _> = t.await.expect("join");
        r.expect("every creation succeeds");
    }
    let list = tenants::list_tenants(&db, Some(TenantStatus::Active))
        .await
        .expect("list");
    assert_eq!(list.len(), 100);
    assert_eq!(orphans(&db).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_pairs_for_one_domain_give_one_tenant_each() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let mut tasks = Vec::new();
    for i in 0..10 {
        for variant in [
            format!("race{i}.example.com"),
            format!("RACE{i}.Example.com"),
        ] {
            let (db, o) = (db.clone(), o.clone());
            tasks.push(tokio::spawn(async move {
                provision::create_tenant(&db, &o, &req("Racer", &variant), &noop).await
            }));
        }
    }
    let (mut ok, mut conflicts) = (0, 0);
    for t in tasks {
        match t.await.expect("join") {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
                assert_eq!(e.exit_code(), 4);
                conflicts += 1;
            }
        }
    }
    assert_eq!((ok, conflicts), (10, 10));
    let list = tenants::list_tenants(&db, None).await.expect("list");
    assert_eq!(list.len(), 10);
    assert_eq!(orphans(&db).await, (0, 0));
    let c = db.client().await.expect("c");
    let schemas: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' AND nspname <> $1",
            &[&db.schema],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(schemas, 10);
    let failed = audit::list_audit(&db, None, None, 100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.outcome == "error" && e.action == "create")
        .count();
    assert_eq!(failed, 10, "every lost race is audited");
}

#[tokio::test]
async fn suspend_ends_sessions_and_refuses_logins_until_resume() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let t = provision::create_tenant(&db, &o, &req("S", "s.example.com"), &noop)
        .await
        .expect("create");
    let live = connect_as(&db, &t.role_name).await.expect("login");
    live.query_one("SELECT 1", &[]).await.expect("works");

    let s = provision::suspend_tenant(&db, &o, t.id, Some("unpaid invoice"))
        .await
        .expect("suspend");
    assert_eq!(s.status, TenantStatus::Suspended);
    assert!(
        live.query_one("SELECT 1", &[]).await.is_err(),
        "the live session was ended"
    );
    let e = connect_as(&db, &t.role_name)
        .await
        .expect_err("login refused");
    let msg = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("not permitted to log in"), "{e:?}");
    let again = provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect_err("already suspended");
    assert_eq!(again.kind, ErrorKind::Conflict);

    let r = provision::resume_tenant(&db, &o, t.id)
        .await
        .expect("resume");
    assert_eq!(r.status, TenantStatus::Active);
    connect_as(&db, &t.role_name)
        .await
        .expect("login allowed again")
        .query_one("SELECT count(*) FROM trades", &[])
        .await
        .expect("works");

    let a = audit::list_audit(&db, Some(t.id), None, 10)
        .await
        .expect("audit");
    let actions: Vec<(&str, &str)> = a
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("resume", "ok"),
            ("suspend", "error"),
            ("suspend", "ok"),
            ("create", "ok")
        ]
    );
    assert_eq!(a[2].detail["reason"], "unpaid invoice");
    assert_eq!(a[2].detail["sessions_terminated"], 1);
}

#[tokio::test]
async fn delete_needs_suspension_and_confirmation_and_restore_brings_data_back() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let t = provision::create_tenant(&db, &o, &req("D", "d.example.com"), &noop)
        .await
        .expect("create");
    let c = connect_as(&db, &t.role_name).await.expect("login");
    c.batch_execute(
        "INSERT INTO portfolios (id, user_id, name) VALUES ('11111111-1111-4111-8111-111111111111', gen_random_uuid(), 'Growth');
         INSERT INTO trades (portfolio_id, symbol, side, quantity, price, timestamp)
           SELECT '11111111-1111-4111-8111-111111111111', 'ACME', 'buy', g, 10.5, now() FROM generate_series(1, 50) g;",
    )
    .await
    .expect("tenant writes");
    drop(c);

    let before = census(&db).await;
    let e = provision::delete_tenant(&db, &o, t.id, "d.example.com", true)
        .await
        .expect_err("active");
    assert_eq!(e.exit_code(), 5);
    assert!(e.message.contains("suspend it first"), "{e}");
    provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect("suspend");
    let e = provision::delete_tenant(&db, &o, t.id, "wrong.example.com", true)
        .await
        .expect_err("wrong confirmation");
    assert_eq!(e.exit_code(), 5);
    assert!(e.message.contains("confirmation"), "{e}");
    let mid = census(&db).await;
    assert_eq!((before.0, before.1), (mid.0, mid.1), "nothing changed");
    assert!(
        !o.backup_dir.exists() || std::fs::read_dir(&o.backup_dir).expect("dir").count() == 0,
        "no backup taken for a refused delete"
    );

    let out = provision::delete_tenant(&db, &o, t.id, "D.example.com", true)
        .await
        .expect("delete");
    assert_eq!(out.tenant.status, TenantStatus::Deleted);
    let dump = out.backup_path.expect("backup");
    assert!(dump.is_file());
    assert_eq!(
        dump.extension().and_then(|e| e.to_str()),
        Some("tar"),
        "{}",
        dump.display()
    );
    let files: Vec<_> = std::fs::read_dir(&o.backup_dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(
        files,
        std::slice::from_ref(&dump),
        "one artifact, no temporary file left"
    );
    // The sidecar names the pg_dump that wrote it: the newest found.
    let side = provision::read_backup(&dump).expect("verified").sidecar;
    let newest = tenantctl::local_cluster::client_tool("pg_dump").expect("pg_dump");
    assert_eq!(side.pg_dump, Some(newest.describe()));
    assert_eq!(
        leftovers(&db, t.id).await,
        (false, false, true),
        "tombstone only"
    );
    let tomb = tenants::get_tenant(&db, t.id).await.expect("tombstone");
    assert_eq!(tomb.status, TenantStatus::Deleted);

    let r = provision::restore_tenant(&db, &o, &dump)
        .await
        .expect("restore");
    assert_eq!(r.id, t.id);
    assert_eq!(r.status, TenantStatus::Suspended);
    assert_eq!(r.domain, "d.example.com");
    let e = provision::restore_tenant(&db, &o, &dump)
        .await
        .expect_err("already restored");
    assert_eq!(e.kind, ErrorKind::Conflict);
    provision::resume_tenant(&db, &o, t.id)
        .await
        .expect("resume");
    let c = connect_as(&db, &t.role_name)
        .await
        .expect("login after restore");
    let row = c
        .query_one(
            "SELECT (SELECT count(*) FROM trades), (SELECT sum(quantity)::text FROM trades),
                    (SELECT name FROM portfolios)",
            &[],
        )
        .await
        .expect("data intact");
    assert_eq!(row.get::<_, i64>(0), 50);
    assert_eq!(row.get::<_, String>(1), "1275.00000000");
    assert_eq!(row.get::<_, String>(2), "Growth");
    let own: String = db
        .client()
        .await
        .expect("c")
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE schemaname = $1 AND tablename = 'trades'",
            &[&t.schema_name],
        )
        .await
        .expect("owner")
        .get(0);
    assert_eq!(own, t.owner(), "restored objects belong to the owner role");

    let actions: Vec<String> = audit::list_audit(&db, Some(t.id), None, 20)
        .await
        .expect("audit")
        .iter()
        .map(|e| format!("{}:{}", e.action, e.outcome))
        .collect();
    for want in ["delete:error", "delete:ok", "restore:ok", "restore:error"] {
        assert!(actions.contains(&want.to_string()), "{want} in {actions:?}");
    }

    // Delete without a backup.
    provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect("suspend");
    let out = provision::delete_tenant(&db, &o, t.id, "d.example.com", false)
        .await
        .expect("delete without backup");
    assert!(out.backup_path.is_none());
}

#[tokio::test]
async fn credentials_set_a_scram_verifier_and_store_no_password() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let t = provision::create_tenant(&db, &o, &req("C", "c.example.com"), &noop)
        .await
        .expect("create");
    let (_, secret) = provision::set_credentials(&db, &o, t.id)
        .await
        .expect("creds");
    let pw = secret.expose().to_string();
    assert_eq!(pw.len(), 32);
    assert!(!format!("{secret:?}").contains(&pw));
    // pg_authid is for superusers: the test reads it as one.
    let admin = Db::connect(&common::superuser_config(&db.params.dbname))
        .await
        .expect("superuser");
    let c = admin.client().await.expect("c");
    let verifier: String = c
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&t.role_name],
        )
        .await
        .expect("authid")
        .get(0);
    assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");
    assert!(!verifier.contains(&pw));
    let s = db.q_schema();
    let leaks: i64 = c
        .query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {s}.audit_log WHERE detail::text LIKE '%' || $1 || '%')
                      + (SELECT count(*) FROM {s}.tenants WHERE row_to_json(tenants)::text LIKE '%' || $1 || '%')"
            ),
            &[&pw],
        )
        .await
        .expect("leaks")
        .get(0);
    assert_eq!(leaks, 0, "the password is stored nowhere");
    let (_, second) = provision::set_credentials(&db, &o, t.id)
        .await
        .expect("again");
    assert_ne!(second.expose(), pw);
}

#[tokio::test]
async fn update_changes_row_and_role_together() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let t = provision::create_tenant(&db, &o, &req("U", "u.example.com"), &noop)
        .await
        .expect("create");
    let upd = TenantUpdate {
        name: Some("'; DROP TABLE tenants; --".into()),
        connection_limit: Some(9),
        statement_timeout: Some(Duration::from_secs(5)),
        storage_quota_bytes: Some(2048),
        settings: Some(serde_json::json!({"tier": "silver"})),
        ..TenantUpdate::default()
    };
    let u = provision::update_tenant(&db, &o, t.id, &upd)
        .await
        .expect("update");
    assert_eq!(u.name, "'; DROP TABLE tenants; --");
    assert_eq!(u.connection_limit, 9);
    assert_eq!(u.statement_timeout, Some(5000));
    assert_eq!(u.storage_quota_bytes, Some(2048));
    assert_eq!(u.settings.value()["tier"], "silver");
    let row = db
        .client()
        .await
        .expect("c")
        .query_one(
            "SELECT r.rolconnlimit, array_to_string(s.setconfig, ',')
             FROM pg_roles r JOIN pg_db_role_setting s ON s.setrole = r.oid WHERE r.rolname = $1",
            &[&t.role_name],
        )
        .await
        .expect("role");
    assert_eq!(row.get::<_, i32>(0), 9);
    assert!(row.get::<_, String>(1).contains("statement_timeout=5000ms"));
    let e = provision::update_tenant(&db, &o, t.id, &TenantUpdate::default())
        .await
        .expect_err("empty");
    assert_eq!(e.exit_code(), 5);
    let e = provision::update_tenant(&db, &o, Uuid::new_v4(), &upd)
        .await
        .expect_err("unknown");
    assert_eq!(e.exit_code(), 3);

    // Removing the limits: the row's values go and so does the role setting.
    let both = TenantUpdate {
        statement_timeout: Some(Duration::from_secs(1)),
        clear_statement_timeout: true,
        ..TenantUpdate::default()
    };
    let e = provision::update_tenant(&db, &o, t.id, &both)
        .await
        .expect_err("set and removed at once");
    assert_eq!(e.exit_code(), 5);
    let clear = TenantUpdate {
        clear_statement_timeout: true,
        clear_storage_quota: true,
        ..TenantUpdate::default()
    };
    let c = provision::update_tenant(&db, &o, t.id, &clear)
        .await
        .expect("clear");
    assert_eq!((c.statement_timeout, c.storage_quota_bytes), (None, None));
    assert_eq!(c.connection_limit, 9, "other limits stay");
    let settings: Option<String> = db
        .client()
        .await
        .expect("c")
        .query_opt(
            "SELECT array_to_string(s.setconfig, ',')
             FROM pg_roles r JOIN pg_db_role_setting s ON s.setrole = r.oid WHERE r.rolname = $1",
            &[&t.role_name],
        )
        .await
        .expect("role settings")
        .map(|r| r.get(0));
    assert!(
        !settings.unwrap_or_default().contains("statement_timeout"),
        "the role's statement_timeout is reset"
    );
}

#[tokio::test]
async fn read_only_refuses_every_change_before_touching_the_database() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let t = provision::create_tenant(&db, &o, &req("RO", "ro.example.com"), &noop)
        .await
        .expect("create");
    let mut ro = o.clone();
    ro.read_only = true;
    let before = census(&db).await;
    let errors = vec![
        provision::create_tenant(&db, &ro, &req("X", "x.example.com"), &noop)
            .await
            .err(),
        provision::update_tenant(
            &db,
            &ro,
            t.id,
            &TenantUpdate {
                connection_limit: Some(1),
                ..TenantUpdate::default()
            },
        )
        .await
        .err(),
        provision::suspend_tenant(&db, &ro, t.id, None).await.err(),
        provision::resume_tenant(&db, &ro, t.id).await.err(),
        provision::delete_tenant(&db, &ro, t.id, "ro.example.com", false)
            .await
            .err(),
        provision::restore_tenant(&db, &ro, Path::new("/nonexistent.dump"))
            .await
            .err(),
        provision::set_credentials(&db, &ro, t.id).await.err(),
    ];
    for e in errors {
        let e = e.expect("refused");
        assert_eq!(e.exit_code(), 5, "{e}");
        assert!(e.message.contains("read-only"), "{e}");
    }
    assert_eq!(
        census(&db).await,
        before,
        "nothing changed, not even the audit log"
    );
}

#[tokio::test]
async fn a_role_without_privileges_is_refused() {
    let (config, db) = fresh_db_init().await;
    let c = db.client().await.expect("c");
    c.batch_execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'weak') THEN CREATE ROLE weak LOGIN; END IF; END $$")
        .await
        .expect("role");
    let weak_config = Config::for_url(&cluster().conninfo_as(&db.params.dbname, "weak"));
    let weak = Db::connect(&weak_config).await.expect("connect as weak");
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let e = provision::create_tenant(&weak, &o, &req("W", "w.example.com"), &noop)
        .await
        .expect_err("refused");
    assert_eq!(e.exit_code(), 5);
    assert!(e.message.contains("CREATEROLE"), "{e}");
}

#[tokio::test]
async fn bad_input_is_one_sentence_and_changes_nothing() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    provision::create_tenant(&db, &o, &req("Taken", "taken.example.com"), &noop)
        .await
        .expect("create");
    let before = census(&db).await;
    let cases: Vec<(NewTenant, i32)> = vec![
        (req("", "e1.example.com"), 5),
        (req(&"x".repeat(256), "e2.example.com"), 5),
        (req("bell\u{7}", "e3.example.com"), 5),
        (req("ok", "not a domain"), 5),
        (req("ok", "'; DROP SCHEMA tenant_admin CASCADE; --"), 5),
        (req("ok", &format!("{}.com", "a".repeat(250))), 5),
        (
            NewTenant {
                template: "../../etc/passwd".into(),
                ..req("ok", "e4.example.com")
            },
            5,
        ),
        (
            NewTenant {
                template: "nosuch".into(),
                ..req("ok", "e5.example.com")
            },
            3,
        ),
        (
            NewTenant {
                settings: serde_json::json!([1, 2]),
                ..req("ok", "e6.example.com")
            },
            5,
        ),
        (
            NewTenant {
                connection_limit: -7,
                ..req("ok", "e7.example.com")
            },
            5,
        ),
    ];
    for (r, code) in cases {
        let e = provision::create_tenant(&db, &o, &r, &noop)
            .await
            .expect_err("invalid");
        assert_eq!(e.exit_code(), code, "{r:?}: {e}");
        assert!(!e.message.contains('\n'), "one line: {e}");
        assert!(!e.message.contains('\u{7}'), "no control characters echoed");
    }
    assert_eq!(census(&db).await, before, "invalid input changes nothing");

    // SQL in a name is data.
    let t = provision::create_tenant(
        &db,
        &o,
        &req("Robert'); DROP TABLE tenants;--", "bobby.example.com"),
        &noop,
    )
    .await
    .expect("odd but valid name");
    assert_eq!(t.name, "Robert'); DROP TABLE tenants;--");

    // A duplicate domain, in any case, is a conflict; only its audit row is added.
    let before = census(&db).await;
    let e = provision::create_tenant(&db, &o, &req("Again", "TAKEN.example.com"), &noop)
        .await
        .expect_err("duplicate");
    assert_eq!(e.exit_code(), 4);
    assert!(e.message.contains("already exists"), "{e}");
    let after = census(&db).await;
    assert_eq!((before.0, before.1, before.2), (after.0, after.1, after.2));
}

#[tokio::test]
async fn changes_are_announced_to_listeners() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let mut rx = tenantctl::db::notify::listen(&db).await.expect("listen");
    let t = provision::create_tenant(&db, &o, &req("N", "n.example.com"), &noop)
        .await
        .expect("create");
    provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect("suspend");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let c = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a notification within 10 s")
            .expect("channel open");
        seen.push(c.op);
    }
    // Delivered at commit: the create's insert and activation, then the suspension.
    assert_eq!(seen, ["INSERT", "UPDATE", "UPDATE"]);
    // Any role may LISTEN: the payload names no tenant.
    let (client, mut conn) = tokio_postgres::connect(&cluster().conninfo(&db.params.dbname), NoTls)
        .await
        .expect("connect");
    let (ntx, mut nrx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = futures::StreamExt::next(&mut stream).await {
            if let tokio_postgres::AsyncMessage::Notification(n) = m {
                let _ = ntx.send(n.payload().to_string());
            }
        }
    });
    client
        .batch_execute(&format!(
            "LISTEN {}",
            tenantctl::db::quote_ident(&db.channel())
        ))
        .await
        .expect("listen");
    provision::resume_tenant(&db, &o, t.id)
        .await
        .expect("resume");
    let payload = tokio::time::timeout(Duration::from_secs(10), nrx.recv())
        .await
        .expect("a notification within 10 s")
        .expect("open");
    assert_eq!(payload, r#"{"op" : "UPDATE"}"#);
    assert!(!payload.contains(&t.id.to_string()));
}

#[tokio::test]
async fn suspend_also_closes_the_shared_application_role_path() {
    let (config, db) = fresh_db_init().await;
    let app = format!("app_{}", Uuid::new_v4().simple());
    raw(&config)
        .await
        .batch_execute(&format!("CREATE ROLE \"{app}\" LOGIN"))
        .await
        .expect("app role");
    let dir = tempfile::tempdir().expect("tmp");
    let mut opts = options(&config, dir.path());
    opts.app_role = Some(app.clone());
    let t = provision::create_tenant(&db, &opts, &req("Shared App", "shared-app.example"), &noop)
        .await
        .expect("create");
    let set_role = format!("SET ROLE \"{}\"", t.role_name);
    let c = connect_as(&db, &app).await.expect("app login");
    c.batch_execute(&set_role)
        .await
        .expect("the app may act as an active tenant");
    drop(c);

    provision::suspend_tenant(&db, &opts, t.id, None)
        .await
        .expect("suspend");
    let c = connect_as(&db, &app).await.expect("app login");
    assert_denied(
        c.batch_execute(&set_role).await,
        "SET ROLE to a suspended tenant",
    );

    provision::resume_tenant(&db, &opts, t.id)
        .await
        .expect("resume");
    let c = connect_as(&db, &app).await.expect("app login");
    c.batch_execute(&set_role)
        .await
        .expect("the app may act as the tenant again");
}

/// PL/pgSQL keeps a dropped function's compiled code and saved plans for as
/// long as its session lives, and every cache invalidation walks them: a
/// pooled session must not carry the function of every tenant it created.
/// One pooled session, 40 creates; then the session's leftovers are
/// counted in its own memory contexts.
#[tokio::test]
async fn a_pooled_session_does_not_keep_every_template_function_it_ran() {
    let mut config = fresh_config();
    config.cluster.pool_size = 1;
    let db = Db::connect(&config).await.expect("connect");
    tenantctl::db::migrate::init(&db).await.expect("init");
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let n = 40;
    assert!(n > 2 * tenantctl::db::TEMPLATE_SESSION_USES);
    for i in 0..n {
        provision::create_tenant(
            &db,
            &o,
            &req(&format!("Leak {i}"), &format!("leak{i}.example.com")),
            &noop,
        )
        .await
        .expect("create");
    }
    let c = db.client().await.expect("client");
    let row = c
        .query_one(
            "SELECT count(*) FILTER (WHERE name = 'PL/pgSQL function' AND ident LIKE '%tenantctl\\_apply(%'),
                    count(*) FILTER (WHERE name = 'CachedPlanSource')
             FROM pg_catalog.pg_backend_memory_contexts",
            &[],
        )
        .await
        .expect("memory contexts");
    let (functions, plans): (i64, i64) = (row.get(0), row.get(1));
    let most = i64::try_from(tenantctl::db::TEMPLATE_SESSION_USES).expect("small");
    assert!(
        functions <= most,
        "{functions} template functions in one pooled session after {n} creates (at most {most})"
    );
    // The steps are one loop: a few plans per function (about six), not two
    // per statement; the rest are the control schema's triggers'.
    assert!(
        plans <= 8 * functions + 12,
        "{plans} saved plans in one pooled session with {functions} template functions"
    );
}
