//! doctor proves each capability by trying it in a rolled-back transaction
//! and names the statement that fixes what is missing; it warns about what
//! weakens isolation; `harden` closes that, item by item, as far as the
//! operator may. Against real local clusters, as a superuser and as
//! least-privilege operators made like managed-PostgreSQL administrators.

mod common;

use common::{bin, cluster, superuser_exec, superuser_query};
use tenantctl::config::{Config, TimescaleMode};
use tenantctl::db::doctor::{self, Check, Status};
use tenantctl::db::{Db, migrate};
use tenantctl::local_cluster::LocalCluster;

fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    let names: Vec<&str> = checks.iter().map(|c| c.name).collect();
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} missing from {names:?}"))
}

const CAPABILITIES: &[&str] = &[
    "create roles",
    "create schemas",
    "set role and create tables",
    "suspend",
    "delete",
    "terminate sessions",
];

async fn doctor_as(conninfo: &str) -> Vec<Check> {
    let db = Db::connect(&Config::for_url(conninfo))
        .await
        .expect("connect");
    migrate::init(&db).await.expect("init");
    doctor::run_with(
        &db,
        &doctor::Options {
            timescale: TimescaleMode::Auto,
            app_role: None,
            read_only: false,
        },
    )
    .await
    .expect("doctor")
}

fn probe_roles_left(c: &LocalCluster) -> Vec<Option<String>> {
    c.query_sync(
        "postgres",
        "SELECT rolname FROM pg_roles WHERE rolname LIKE 'tenantctl\\_probe\\_%'",
    )
    .expect("query")
}

#[tokio::test]
async fn every_capability_is_proved_and_nothing_is_left_behind() {
    let c = cluster();
    let db = c.create_database().expect("db");
    let checks = doctor_as(&c.conninfo(&db)).await;
    for name in CAPABILITIES.iter().chain(&["privileges"]) {
        let k = find(&checks, name);
        assert_eq!(k.status, Status::Ok, "{name}: {}", k.detail);
    }
    if !c.least_privilege() {
        assert!(find(&checks, "create roles").detail.starts_with("proved"));
    }
    assert!(probe_roles_left(c).is_empty(), "a probe role survived");
    let schemas = superuser_query(
        &db,
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenantctl\\_probe\\_%'",
    );
    assert!(schemas.is_empty(), "a probe schema survived: {schemas:?}");
}

#[tokio::test]
async fn a_managed_postgres_administrator_passes_with_its_own_grants() {
    // Exactly the role of the issue: CREATEROLE, pg_monitor,
    // pg_signal_backend, owner of the database, not a superuser.
    let c = cluster();
    let ops = c.create_operator().expect("operator");
    let db = c.create_database().expect("db");
    superuser_exec(
        "postgres",
        &format!("ALTER DATABASE \"{db}\" OWNER TO \"{ops}\""),
    );
    let checks = doctor_as(&c.conninfo_as(&db, &ops)).await;
    for name in CAPABILITIES {
        let k = find(&checks, name);
        assert_eq!(k.status, Status::Ok, "{name}: {}", k.detail);
    }
    // Up to 15 the operator must grant itself the role; from 16 it holds
    // ADMIN OPTION and grants itself SET: proved either way.
    assert_eq!(find(&checks, "act as tenant roles").status, Status::Ok);
    assert_eq!(find(&checks, "stats access").status, Status::Ok);
    // pg_stat_statements_reset is a superuser's by default: said, not failed.
    let reset = find(&checks, "statement stats reset");
    assert_eq!(reset.status, Status::Warn, "{}", reset.detail);
    assert!(
        reset
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("GRANT EXECUTE ON FUNCTION") && f.contains(&ops)),
        "{reset:?}"
    );
    assert!(probe_roles_left(c).is_empty(), "a probe role survived");
}

#[tokio::test]
async fn a_role_without_createrole_fails_with_the_statement_that_fixes_it() {
    let c = cluster();
    let weak = format!("weak_{}", std::process::id());
    superuser_exec(
        "postgres",
        &format!("CREATE ROLE \"{weak}\" LOGIN; GRANT pg_monitor TO \"{weak}\""),
    );
    let db = c.create_database().expect("db");
    superuser_exec(
        "postgres",
        &format!("ALTER DATABASE \"{db}\" OWNER TO \"{weak}\""),
    );
    let checks = doctor_as(&c.conninfo_as(&db, &weak)).await;
    let k = find(&checks, "create roles");
    assert_eq!(k.status, Status::Fail, "{}", k.detail);
    assert!(
        k.fix
            .as_deref()
            .is_some_and(|f| f.starts_with(&format!("ALTER ROLE \"{weak}\" CREATEROLE"))),
        "{k:?}"
    );
    assert_eq!(find(&checks, "privileges").status, Status::Fail);
    assert_eq!(find(&checks, "delete").status, Status::Fail);
    let t = find(&checks, "terminate sessions");
    assert_eq!(t.status, Status::Fail);
    assert_eq!(
        t.fix.as_deref(),
        Some(format!("GRANT pg_signal_backend TO \"{weak}\"").as_str())
    );

    // The binary exits non-zero and prints the fix.
    let out = bin()
        .args(["--database-url", &c.conninfo_as(&db, &weak), "doctor"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CREATEROLE"), "{text}");
}

#[tokio::test]
async fn create_on_the_database_is_proved_not_assumed() {
    // CREATEROLE but neither owner of nor CREATE on the database.
    let c = cluster();
    let ops = c.create_operator().expect("operator");
    let db = c.create_database().expect("db");
    superuser_exec(
        &db,
        &format!("REVOKE CREATE ON DATABASE \"{db}\" FROM PUBLIC"),
    );
    let checks = doctor_as_without_init(&c.conninfo_as(&db, &ops)).await;
    let k = find(&checks, "create schemas");
    assert_eq!(k.status, Status::Fail, "{}", k.detail);
    assert_eq!(
        k.fix.as_deref(),
        Some(format!("GRANT CREATE ON DATABASE \"{db}\" TO \"{ops}\"").as_str())
    );
    assert_eq!(find(&checks, "create roles").status, Status::Ok);
    assert!(
        find(&checks, "delete").detail.starts_with("not tried"),
        "{:?}",
        find(&checks, "delete")
    );
    assert!(probe_roles_left(c).is_empty(), "a probe role survived");
}

async fn doctor_as_without_init(conninfo: &str) -> Vec<Check> {
    let db = Db::connect(&Config::for_url(conninfo))
        .await
        .expect("connect");
    doctor::run(&db, TimescaleMode::Auto).await.expect("doctor")
}

#[tokio::test]
async fn doctor_warns_about_what_weakens_isolation() {
    let c = cluster();
    let db = c.create_database().expect("db");
    superuser_exec(
        "postgres",
        &format!("ALTER DATABASE \"{db}\" SET lo_compat_privileges = on"),
    );
    let checks = doctor_as(&c.conninfo(&db)).await;
    // Every fresh cluster lets PUBLIC connect to `postgres` and make temp tables.
    let other = find(&checks, "isolation: other databases");
    assert_eq!(other.status, Status::Warn, "{}", other.detail);
    assert!(
        other
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("REVOKE CONNECT, TEMPORARY ON DATABASE")),
        "{other:?}"
    );
    let temp = find(&checks, "isolation: temporary tables");
    assert_eq!(temp.status, Status::Warn);
    assert!(
        temp.fix.as_deref().is_some_and(|f| f.contains(&format!(
            "REVOKE TEMPORARY ON DATABASE \"{db}\" FROM PUBLIC"
        ))),
        "{temp:?}"
    );
    let lo = find(&checks, "isolation: large objects");
    assert_eq!(lo.status, Status::Warn);
    assert!(
        lo.fix
            .as_deref()
            .is_some_and(|f| f.contains("pg_catalog.\"lo_create\"(oid)")),
        "{lo:?}"
    );
    let compat = find(&checks, "isolation: lo_compat_privileges");
    assert_eq!(compat.status, Status::Warn, "{}", compat.detail);
    let pgss = find(&checks, "isolation: pg_stat_statements");
    assert_eq!(pgss.status, Status::Warn, "{}", pgss.detail);
    // PostgreSQL 14 still grants CREATE on public to PUBLIC; 15 does not.
    let v = c.server_version_num().expect("version");
    let public = find(&checks, "isolation: schema public");
    assert_eq!(
        public.status == Status::Warn,
        v < 150_000,
        "server {v}: {public:?}"
    );
}

#[test]
fn an_unsupported_server_is_refused_in_one_sentence() {
    let e = doctor::ensure_supported("13.16", 130_016).expect_err("13 refused");
    assert_eq!(e.kind, tenantctl::error::ErrorKind::Refused);
    assert!(
        e.message.contains("PostgreSQL 13.16 is not supported"),
        "{e}"
    );
    assert!(e.message.contains("14 or newer"), "{e}");
    assert!(doctor::ensure_supported("14.0", 140_000).is_ok());
    assert!(doctor::ensure_supported("18.4", 180_004).is_ok());
}

fn run_cli(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = bin()
        .args(["--database-url", url])
        .args(args)
        .output()
        .expect("run tenantctl");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn one(c: &LocalCluster, db: &str, sql: &str) -> String {
    c.query_sync(db, sql)
        .expect("query")
        .into_iter()
        .next()
        .flatten()
        .expect("a value")
}

/// harden changes cluster-wide privileges: it gets a cluster of its own.
#[test]
fn harden_closes_every_item_and_doctor_then_reports_them_closed() {
    let c = LocalCluster::start().expect("own cluster");
    let db = c.create_database().expect("db");
    let other = c.create_database().expect("other db");
    c.exec_sync(
        "postgres",
        &format!("ALTER DATABASE \"{db}\" SET lo_compat_privileges = on"),
    )
    .expect("lo_compat on");
    let url = c.conninfo(&db);
    let (code, _, err) = run_cli(&url, &["init"]);
    assert_eq!(code, 0, "{err}");

    // Dry run: every statement shown, nothing changed.
    let (code, plan, err) = run_cli(&url, &["harden", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    for expected in [
        format!("REVOKE CONNECT, TEMPORARY ON DATABASE \"{other}\" FROM PUBLIC;"),
        format!("REVOKE TEMPORARY ON DATABASE \"{db}\" FROM PUBLIC;"),
        "REVOKE EXECUTE ON FUNCTION pg_catalog.".to_string(),
        "GRANT SELECT ON \"public\".pg_stat_statements TO \"postgres\";".to_string(),
        "REVOKE SELECT ON \"public\".pg_stat_statements FROM PUBLIC;".to_string(),
        format!("ALTER DATABASE \"{db}\" SET lo_compat_privileges = off;"),
    ] {
        assert!(plan.contains(&expected), "{expected} missing from:\n{plan}");
    }
    assert!(plan.contains("would apply"), "{plan}");
    let other_lit = format!("'{other}'");
    let connect_sql = format!("SELECT has_database_privilege('public', {other_lit}, 'CONNECT')");
    assert_eq!(one(&c, "postgres", &connect_sql), "t", "dry run changed it");

    let (code, done, err) = run_cli(&url, &["harden"]);
    assert_eq!(code, 0, "{err}\n{done}");
    assert!(done.contains("applied"), "{done}");
    assert!(!done.contains("FAILED"), "{done}");
    assert_eq!(one(&c, "postgres", &connect_sql), "f");
    assert_eq!(
        one(
            &c,
            &db,
            &format!("SELECT has_database_privilege('public', '{db}', 'TEMPORARY')")
        ),
        "f"
    );
    assert_eq!(
        one(
            &c,
            &db,
            "SELECT has_function_privilege('public', 'lo_create(oid)', 'EXECUTE')"
        ),
        "f"
    );
    assert_eq!(
        one(
            &c,
            &db,
            "SELECT has_table_privilege('public', 'pg_stat_statements', 'SELECT')"
        ),
        "f"
    );
    assert_eq!(
        one(
            &c,
            &db,
            "SELECT has_function_privilege('public', 'pg_stat_statements(boolean)', 'EXECUTE')"
        ),
        "f"
    );
    assert_eq!(one(&c, &db, "SHOW lo_compat_privileges"), "off");
    // The tenants' own database stays open to them.
    assert_eq!(
        one(
            &c,
            "postgres",
            &format!("SELECT has_database_privilege('public', '{db}', 'CONNECT')")
        ),
        "t"
    );

    // doctor now reports every isolation item closed.
    let (code, report, err) = run_cli(&url, &["doctor", "--json"]);
    assert_eq!(code, 0, "{err}\n{report}");
    let v: serde_json::Value = serde_json::from_str(&report).expect("json");
    for check in v["checks"].as_array().expect("checks") {
        let name = check["name"].as_str().expect("name");
        // harden changes this database and cluster-wide privileges; schema
        // public of other databases (open on PostgreSQL 14) is for their owners.
        if name.starts_with("isolation") && name != "isolation: public in other databases" {
            assert_eq!(check["status"], "ok", "{check}");
        }
    }
    let (code, again, _) = run_cli(&url, &["harden"]);
    assert_eq!(code, 0);
    assert!(again.contains("nothing to harden"), "{again}");
}

#[test]
fn harden_as_a_least_privilege_operator_says_what_it_may_not_change() {
    let c = LocalCluster::start().expect("own cluster");
    c.set_least_privilege(true);
    let db = c.create_database().expect("db");
    let ops = c.operator_of(&db).expect("an operator owns it");
    let url = c.conninfo(&db);
    let (code, _, err) = run_cli(&url, &["init"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run_cli(&url, &["harden", "--json"]);
    assert_eq!(code, 0, "{err}\n{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let changes = v["changes"].as_array().expect("changes");
    let by_kind = |kind: &str| -> Vec<&serde_json::Value> {
        changes.iter().filter(|c| c["kind"] == kind).collect()
    };
    // Its own database: applied. `postgres` belongs to the superuser: skipped, said why.
    let temp = by_kind("temp");
    assert_eq!(temp.len(), 1, "{out}");
    assert_eq!(temp[0]["outcome"], "applied", "{out}");
    let others = by_kind("other_database");
    assert!(!others.is_empty(), "{out}");
    for o in others {
        assert_eq!(o["outcome"], "skipped", "{o}");
        assert!(
            o["not_permitted"]
                .as_str()
                .is_some_and(|w| w.contains("only the owner of database")),
            "{o}"
        );
    }
    for kind in ["large_objects", "pg_stat_statements"] {
        let k = by_kind(kind);
        assert_eq!(k.len(), 1, "{kind}: {out}");
        assert_eq!(k[0]["outcome"], "skipped", "{kind}: {out}");
    }
    assert_eq!(
        one(
            &c,
            &db,
            &format!("SELECT has_database_privilege('public', '{db}', 'TEMPORARY')")
        ),
        "f"
    );
    // The operator still reads pg_stat_statements and its own session works.
    assert_eq!(
        one(
            &c,
            &db,
            &format!("SELECT has_table_privilege('{ops}', 'pg_stat_statements', 'SELECT')")
        ),
        "t"
    );
}

#[test]
fn a_read_only_session_proves_nothing_and_harden_only_plans() {
    let c = cluster();
    let db = c.create_database().expect("db");
    let url = c.conninfo(&db);
    let (code, _, err) = run_cli(&url, &["init"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run_cli(&url, &["--read-only", "harden"]);
    assert_eq!(code, 5, "{out}{err}");
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
    assert!(err.contains("read-only"), "{err}");
    let temp = format!("SELECT has_database_privilege('public', '{db}', 'TEMPORARY')");
    assert_eq!(one(c, &db, &temp), "t", "refused harden changed nothing");
    let (code, out, err) = run_cli(&url, &["--read-only", "harden", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "REVOKE TEMPORARY ON DATABASE \"{db}\" FROM PUBLIC;"
        )),
        "{out}"
    );
    assert_eq!(one(c, &db, &temp), "t", "dry run changed nothing");
    let (code, out, err) = run_cli(&url, &["--read-only", "doctor", "--json"]);
    assert_eq!(code, 0, "{err}\n{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let privileges = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|k| k["name"] == "privileges")
        .expect("privileges check");
    assert_eq!(privileges["status"], "warn", "{privileges}");
    assert!(
        privileges["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("not proved")),
        "{privileges}"
    );
}
