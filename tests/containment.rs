//! Containment (DESIGN.md §4), tried as a hostile tenant would: logged in
//! as its own login role, or — for hooks that a tenant with DDL rights
//! could plant — with objects owned by its owner role. The superuser
//! connection here only plants the attack; every check is on what the
//! tenant's code could do when tenantctl ran it.

#![allow(clippy::many_single_char_names)] // reason: short names (o, t, c, e) keep the attack steps readable

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{cluster, fresh_db_init};
use tenantctl::backend::ProgressStep;
use tenantctl::config::Config;
use tenantctl::db::provision::{self, ProvisionOptions};
use tenantctl::db::{Db, audit, tenants};
use tenantctl::domain::metrics::MonitoredTenant;
use tenantctl::domain::tenant::{NewTenant, Tenant, TenantStatus};
use tenantctl::error::ErrorKind;
use tokio_postgres::NoTls;

fn noop(_: ProgressStep) {}

fn options(config: &Config, dir: &Path) -> ProvisionOptions {
    let mut o = ProvisionOptions::from_config(config);
    o.template_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("templates")
        .into();
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
        storage_quota_bytes: None,
        settings: serde_json::json!({}),
    }
}

async fn connect(conninfo: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(conninfo, NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// A session logged in as `role` itself.
async fn login_as(db: &Db, role: &str) -> tokio_postgres::Client {
    connect(&cluster().conninfo_as(&db.params.dbname, role))
        .await
        .expect("log in as the role")
}

/// The cluster's superuser, for planting attacks only.
async fn superuser(db: &Db) -> tokio_postgres::Client {
    connect(&cluster().superuser_conninfo(&db.params.dbname))
        .await
        .expect("superuser")
}

async fn create(db: &Db, o: &ProvisionOptions, name: &str) -> Tenant {
    provision::create_tenant(db, o, &req(name, &format!("{name}.example.com")), &noop)
        .await
        .expect("create")
}

/// Every hook a table definition can carry, owned by the tenant's owner
/// role; each calls `hook_act`, which logs who it runs as and tries to make
/// the tenant a superuser, directly and after `RESET ROLE`.
fn hook_sql(t: &Tenant, marker: &str) -> String {
    let login = &t.role_name;
    format!(
        r#"SET ROLE "{owner}"; SET search_path = "{schema}";
CREATE FUNCTION hook_act(kind text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
  RAISE WARNING 'tenantctl-hook {marker}: kind=% user=% session=%', kind, current_user, session_user;
  BEGIN EXECUTE 'ALTER ROLE "{login}" SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN RESET ROLE; EXECUTE 'ALTER ROLE "{login}" SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
  RETURN true;
END $f$;
CREATE FUNCTION hook(kind text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN RETURN "{schema}".hook_act(kind); END $f$;
CREATE DOMAIN hd AS text CHECK (hook('domain'));
CREATE TABLE hooked (
  id int,
  d hd,
  g boolean GENERATED ALWAYS AS (hook('generated' || id::text)) STORED,
  x boolean DEFAULT hook('default'),
  CHECK (hook('check')));
CREATE INDEX hooked_ix ON hooked ((hook('index' || id::text)));
CREATE TABLE hp (a int) PARTITION BY LIST ((hook('partition' || a::text)));
CREATE TABLE hp1 PARTITION OF hp FOR VALUES IN (true);
CREATE FUNCTION trig() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN PERFORM "{schema}".hook_act('trigger'); RETURN NEW; END $f$;
CREATE TRIGGER hooked_trig BEFORE INSERT ON portfolios FOR EACH ROW EXECUTE FUNCTION trig();
CREATE RULE hooked_rule AS ON INSERT TO positions DO ALSO SELECT hook_act('rule');
INSERT INTO hooked (id, d) VALUES (1, 'a'), (2, 'b');
INSERT INTO hp VALUES (1), (2);
RESET ROLE;"#,
        owner = t.owner(),
        schema = t.schema_name,
    )
}

/// A `trades.timestamp` of a tenant type with an implicit cast to
/// timestamptz, and a shadowing `now()`: what the detail pane's read of
/// today's trades would evaluate.
fn cast_sql(t: &Tenant) -> String {
    format!(
        r#"SET ROLE "{owner}"; SET search_path = "{schema}";
CREATE TYPE ht AS (v timestamptz);
CREATE FUNCTION ht_ts(ht) RETURNS timestamptz LANGUAGE plpgsql AS $f$
BEGIN PERFORM "{schema}".hook_act('cast'); RETURN $1.v; END $f$;
CREATE CAST (ht AS timestamptz) WITH FUNCTION ht_ts(ht) AS IMPLICIT;
DROP TABLE trades CASCADE;
CREATE TABLE trades (id int, "timestamp" ht);
INSERT INTO trades VALUES (1, ROW(now())::ht);
CREATE FUNCTION now() RETURNS timestamptz LANGUAGE plpgsql AS $f$
BEGIN PERFORM "{schema}".hook_act('shadow'); RETURN pg_catalog.now(); END $f$;
RESET ROLE;"#,
        owner = t.owner(),
        schema = t.schema_name,
    )
}

/// (kind, current_user, session_user) of every hook line logged after
/// `offset` for `marker`.
fn hook_lines(offset: u64, marker: &str) -> Vec<(String, String, String)> {
    let text = std::fs::read(cluster().log_path()).expect("server log");
    let text = String::from_utf8_lossy(&text[usize::try_from(offset).unwrap_or(0)..]).to_string();
    let tag = format!("tenantctl-hook {marker}: ");
    text.lines()
        .filter_map(|l| l.split_once(&tag).map(|(_, rest)| rest.to_string()))
        .map(|rest| {
            let field = |name: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{name}=")))
                    .unwrap_or_default()
                    .to_string()
            };
            (field("kind"), field("user"), field("session"))
        })
        .collect()
}

fn log_len() -> u64 {
    std::fs::metadata(cluster().log_path()).map_or(0, |m| m.len())
}

#[tokio::test]
async fn tenant_code_never_runs_as_the_operator() {
    hooks_hold(false).await;
}

#[tokio::test]
async fn tenant_code_never_runs_as_the_operator_even_with_tenant_ddl() {
    hooks_hold(true).await;
}

/// No role of the tenant holds an attribute or a membership it was not given.
async fn assert_contained(su: &tokio_postgres::Client, t: &Tenant) {
    let row = su
        .query_one(
            "SELECT count(*) FILTER (WHERE rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication),
                    (SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
                     WHERE r.rolname = ANY ($1) AND m.roleid NOT IN (SELECT oid FROM pg_roles WHERE rolname = ANY ($1)))
             FROM pg_roles WHERE rolname = ANY ($1)",
            &[&vec![t.role_name.clone(), t.owner().to_string()]],
        )
        .await
        .expect("roles");
    assert_eq!(
        row.get::<_, i64>(0),
        0,
        "no tenant role gained an attribute"
    );
    assert_eq!(
        row.get::<_, i64>(1),
        0,
        "no tenant role gained a membership"
    );
}

/// Plant every hook, run every command and action over the tenant, and
/// check that no hook ran as anything but the tenant. With `ddl`, the
/// template opts into tenant DDL and the tenant plants the hooks itself,
/// logged in as its own role.
async fn hooks_hold(ddl: bool) {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let mut o = options(&config, tmp.path());
    let templates = tempfile::tempdir().expect("templates");
    if ddl {
        let mut v: serde_json::Value =
            serde_json::from_str(tenantctl::template_files::BUILT_IN[0].1).expect("default");
        v["name"] = "ddl".into();
        v["tenant_ddl"] = true.into();
        std::fs::write(templates.path().join("ddl.json"), v.to_string()).expect("write");
        o.template_dir = templates.path().to_path_buf().into();
    }
    let mut r = req("hooks", "hooks.example.com");
    if ddl {
        r.template = "ddl".into();
    }
    let t = provision::create_tenant(&db, &o, &r, &noop)
        .await
        .expect("create");
    assert_eq!(
        ddl,
        t.owner() == t.role_name,
        "tenant DDL: the login role owns it"
    );
    let marker = t.id.simple().to_string();
    let su = superuser(&db).await;
    // The hooks fire while they are planted (the inserts): the planting
    // session must itself hold no more than the tenant's rights, or the
    // hooks would escalate there. Without tenant DDL, a login role that is
    // a member of the owner role plays the tenant that could define code.
    let planter_role = format!("{}_planter", t.schema_name);
    let planter = if ddl {
        login_as(&db, &t.role_name).await
    } else {
        su.batch_execute(&format!(
            "CREATE ROLE \"{planter_role}\" LOGIN IN ROLE \"{}\"",
            t.owner()
        ))
        .await
        .expect("planter role");
        login_as(&db, &planter_role).await
    };
    planter
        .batch_execute(&hook_sql(&t, &marker))
        .await
        .expect("plant the hooks");
    // Lines logged while planting (run by the superuser acting as the owner)
    // are the setup, not the attack.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let offset = log_len();

    // Every command and action that reads or writes the tenant's objects.
    tenantctl::db::seed::fill_tenant(&db, &t, 50)
        .await
        .expect("demo seeding");
    planter
        .batch_execute(&cast_sql(&t))
        .await
        .expect("plant the cast");
    let mut mt = MonitoredTenant::from(&t);
    mt.expected_tables = Arc::from(Vec::<String>::new());
    tenantctl::db::detail::tenant_detail(&db, &mt)
        .await
        .expect("the detail pane's queries");
    let upd = tenantctl::domain::tenant::TenantUpdate {
        connection_limit: Some(7),
        ..Default::default()
    };
    provision::update_tenant(&db, &o, t.id, &upd)
        .await
        .expect("update");
    provision::set_credentials(&db, &o, t.id)
        .await
        .expect("credentials");
    provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect("suspend");
    assert_contained(&su, &t).await;
    let out = provision::delete_tenant(&db, &o, t.id, &t.domain, true)
        .await
        .expect("delete with backup");
    let backup = out.backup_path.expect("a backup");
    let restored = provision::restore_tenant(&db, &o, &backup)
        .await
        .expect("restore");
    provision::resume_tenant(&db, &o, restored.id)
        .await
        .expect("resume");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let lines = hook_lines(offset, &marker);
    let runner = format!("{}_run", t.schema_name);
    let tenant_roles = [t.role_name.as_str(), t.owner(), runner.as_str()];
    assert!(!lines.is_empty(), "the hooks must have fired at all");
    for (kind, user, session) in &lines {
        assert!(
            tenant_roles.contains(&user.as_str()) && tenant_roles.contains(&session.as_str()),
            "hook {kind} ran as {user} (session {session}): only the tenant's roles may run its code"
        );
    }
    // The test proves something only if loading rows and seeding did run
    // the hooks (as the tenant).
    let kinds: std::collections::BTreeSet<&str> =
        lines.iter().map(|(k, _, _)| k.as_str()).collect();
    for want in ["check", "domain", "trigger", "rule"] {
        assert!(kinds.contains(want), "hook {want} fired: {kinds:?}");
    }
    for prefix in ["generated", "index", "partition"] {
        assert!(
            kinds.iter().any(|k| k.starts_with(prefix)),
            "hook {prefix} fired: {kinds:?}"
        );
    }
    assert!(
        !kinds.contains("cast"),
        "the detail read evaluated a tenant cast"
    );
    assert_contained(&su, &t).await;
    let runners: i64 = su
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname = $1",
            &[&runner],
        )
        .await
        .expect("runner")
        .get(0);
    assert_eq!(runners, 0, "the runner role is gone");
    su.batch_execute(&format!("DROP ROLE IF EXISTS \"{planter_role}\""))
        .await
        .expect("drop the planter");
}

#[tokio::test]
async fn a_tenant_holding_its_own_role_lock_is_suspended_within_the_lock_timeout() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let t = create(&db, &o, "stubborn").await;
    let tenant = login_as(&db, &t.role_name).await;
    tenant
        .batch_execute(&format!(
            "BEGIN; ALTER ROLE \"{}\" PASSWORD 'mine'",
            t.role_name
        ))
        .await
        .expect("the tenant locks its own role row");
    let start = Instant::now();
    let s = tokio::time::timeout(
        Duration::from_secs(30),
        provision::suspend_tenant(&db, &o, t.id, None),
    )
    .await
    .expect("suspend does not wait forever")
    .expect("suspend");
    let took = start.elapsed();
    assert_eq!(s.status, TenantStatus::Suspended);
    // The lock timeout is 1 s; the rest is ending the session and retrying.
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(
        tenant.simple_query("SELECT 1").await.is_err(),
        "the stubborn session was ended"
    );
    let can_login: bool = db
        .client()
        .await
        .expect("c")
        .query_one(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1",
            &[&t.role_name],
        )
        .await
        .expect("role")
        .get(0);
    assert!(!can_login);
}

#[tokio::test]
async fn a_session_that_did_set_role_before_suspension_loses_access() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let app = format!("app_{}", uuid::Uuid::new_v4().simple());
    let su = superuser(&db).await;
    su.batch_execute(&format!("CREATE ROLE \"{app}\" LOGIN"))
        .await
        .expect("app role");
    let mut o = options(&config, tmp.path());
    o.app_role = Some(app.clone());
    let t = create(&db, &o, "shared").await;
    let app_session = login_as(&db, &app).await;
    let q = format!("SELECT count(*) FROM \"{}\".portfolios", t.schema_name);
    app_session
        .batch_execute(&format!("SET ROLE \"{}\"", t.role_name))
        .await
        .expect("SET ROLE to the tenant while it is active");
    app_session
        .query_one(&q, &[])
        .await
        .expect("reads while active");
    provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect("suspend");
    let e = app_session
        .query_one(&q, &[])
        .await
        .expect_err("the next statement after the suspension fails");
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "{e:?}"
    );
    let e = app_session
        .execute(
            &format!(
                "INSERT INTO \"{}\".portfolios (name) VALUES ('x')",
                t.schema_name
            ),
            &[],
        )
        .await
        .expect_err("and so does a write");
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    su.batch_execute(&format!(
        "REVOKE \"{r}\" FROM \"{app}\"; DROP OWNED BY \"{app}\"",
        r = t.role_name
    ))
    .await
    .ok();
}

#[tokio::test]
async fn a_tenant_cannot_stop_usage_recording_with_an_advisory_lock() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let t = create(&db, &o, "biller").await;
    let tenant = login_as(&db, &t.role_name).await;
    // The old election key, and a few others for good measure.
    tenant
        .batch_execute(
            "SELECT pg_advisory_lock(8387236842390582643); SELECT pg_advisory_lock(1); SELECT pg_advisory_lock(0)",
        )
        .await
        .expect("any role may take advisory locks");
    let (writer, _rx) = db.dedicated().await.expect("connection");
    assert!(
        tenantctl::db::usage::try_elect(&writer, &db.schema)
            .await
            .expect("elect"),
        "the usage writer is elected whatever advisory locks a tenant holds"
    );
    assert!(
        tenantctl::db::usage::try_elect(&writer, &db.schema)
            .await
            .expect("renew"),
        "the holder renews its lease"
    );
    // Another console's session holds a live lease: this one does not write.
    // The first console goes away; its backend ends a moment later.
    let pid: i32 = writer
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    drop(writer);
    let c = db.client().await.expect("c");
    let start = Instant::now();
    while c
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
            &[&pid],
        )
        .await
        .expect("activity")
        .get::<_, i64>(0)
        > 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the session did not end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (other, _orx) = db.dedicated().await.expect("connection");
    let (writer, _rx) = db.dedicated().await.expect("connection");
    assert!(
        tenantctl::db::usage::try_elect(&other, &db.schema)
            .await
            .expect("elect"),
        "the first console's session ended, so its lease is free at once"
    );
    assert!(
        !tenantctl::db::usage::try_elect(&writer, &db.schema)
            .await
            .expect("elect")
    );
    // Its holder stops renewing: the lease lapses and this one takes over.
    c.execute(
        &format!(
            "UPDATE {}.leases SET expires_at = now() - interval '1 second' WHERE name = 'usage_writer'",
            db.q_schema()
        ),
        &[],
    )
    .await
    .expect("lapse");
    assert!(
        tenantctl::db::usage::try_elect(&writer, &db.schema)
            .await
            .expect("elect")
    );
    assert!(
        !tenantctl::db::usage::try_elect(&other, &db.schema)
            .await
            .expect("elect"),
        "and holds it"
    );
    // Tenants cannot touch the lease.
    assert!(
        tenant
            .execute(
                &format!("UPDATE {}.leases SET holder = 'me'", db.q_schema()),
                &[]
            )
            .await
            .is_err()
    );
}

/// The roles the connected operator is a member of.
async fn memberships(db: &Db) -> Vec<String> {
    db.client()
        .await
        .expect("c")
        .query(
            "SELECT r.rolname::text FROM pg_auth_members m
             JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
             WHERE u.rolname = current_user ORDER BY 1",
            &[],
        )
        .await
        .expect("memberships")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("meta").permissions().mode() & 0o777
}

#[tokio::test]
async fn backups_are_private_and_verified_and_a_changed_dump_is_refused() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let before = memberships(&db).await;
    let t = create(&db, &o, "vault").await;
    tenantctl::db::seed::fill_tenant(&db, &t, 400)
        .await
        .expect("fill");
    provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect("suspend");
    let out = provision::delete_tenant(&db, &o, t.id, &t.domain, true)
        .await
        .expect("delete");
    let dump = out.backup_path.expect("backup");
    // The operator keeps no membership in (and no trace of) the tenant's roles.
    assert_eq!(
        memberships(&db).await,
        before,
        "the operator's memberships are as before the tenant"
    );
    let left: i64 = db
        .client()
        .await
        .expect("c")
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1 || '%'",
            &[&t.schema_name],
        )
        .await
        .expect("roles")
        .get(0);
    assert_eq!(left, 0, "no tenant role left after delete");
    // One artifact, private, nothing else left in the directory.
    assert_eq!(mode(&dump), 0o600);
    assert_eq!(mode(&o.backup_dir), 0o700);
    let files: Vec<PathBuf> = std::fs::read_dir(&o.backup_dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files, std::slice::from_ref(&dump));
    let ms = common::backup::members(&dump);
    let names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["schema.dump", "backup.json", "SHA256SUMS"]);
    let side = provision::read_backup(&dump).expect("verified").sidecar;
    assert_eq!(side.format, 4);
    let dump_member = common::backup::member(&ms, "schema.dump");
    assert_eq!(
        side.dump_sha256.as_deref(),
        Some(common::backup::sha256(&dump_member.content).as_str())
    );
    let trades = side
        .tables
        .iter()
        .find(|c| c.table == "trades")
        .expect("trades counted");
    assert_eq!(trades.rows, 400);
    assert!(
        side.tables
            .iter()
            .all(|c| c.checksum.as_ref().is_some_and(|h| h.len() == 32)),
        "every table has its checksum: {:?}",
        side.tables
    );
    assert!(side.data.is_none(), "no hypertables, no rows member");

    let c = db.client().await.expect("c");
    let census = async || -> i64 {
        c.query_one(
            "SELECT (SELECT count(*) FROM pg_roles WHERE rolname LIKE $1 || '%')
                  + (SELECT count(*) FROM pg_namespace WHERE nspname = $1)",
            &[&t.schema_name],
        )
        .await
        .expect("census")
        .get(0)
    };

    // Each damage, anywhere in the archive: refused in one sentence before
    // anything is made.
    let original = std::fs::read(&dump).expect("archive");
    let side_member = common::backup::member(&ms, "backup.json");
    let sums_member = common::backup::member(&ms, "SHA256SUMS");
    let flip = |at: u64| {
        let mut v = original.clone();
        v[usize::try_from(at).expect("offset")] ^= 0x01;
        v
    };
    let cut = |len: u64| original[..usize::try_from(len).expect("len")].to_vec();
    let last_end = sums_member.offset + sums_member.content.len() as u64;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a byte of the dump",
            flip(dump_member.offset + dump_member.content.len() as u64 / 2),
            "checksum",
        ),
        (
            "a byte of the sidecar",
            flip(side_member.offset + 40),
            "checksum",
        ),
        (
            "a byte of the checksums",
            flip(sums_member.offset + 3),
            "checksum",
        ),
        (
            "a byte of a member's header",
            flip(side_member.offset - 512 + 130),
            "damaged",
        ),
        (
            "cut in the dump",
            cut(original.len() as u64 / 2),
            "cut short",
        ),
        (
            "cut before the checksums",
            cut(sums_member.offset - 512),
            "cut short",
        ),
        ("cut inside the checksums", cut(last_end - 10), "cut short"),
        (
            "cut before the archive's end",
            cut(last_end + 100),
            "cut short",
        ),
        ("empty", Vec::new(), "cut short"),
    ];
    for (what, bytes, says) in cases {
        std::fs::write(&dump, &bytes).expect("damage");
        let e = provision::restore_tenant(&db, &o, &dump)
            .await
            .expect_err(what);
        eprintln!("{what}: {}", e.message);
        assert_eq!(e.kind, ErrorKind::Refused, "{what}: {}", e.message);
        assert!(e.message.contains(says), "{what}: {}", e.message);
        assert!(
            e.message.contains("nothing was restored") && !e.message.contains('\n'),
            "{what}: one sentence saying nothing changed: {}",
            e.message
        );
        let after = tenants::get_tenant(&db, t.id).await.expect("row");
        assert_eq!(after.status, TenantStatus::Deleted, "{what}");
        assert_eq!(census().await, 0, "{what}: nothing was created");
    }
    std::fs::write(&dump, &original).expect("repair");

    // The dump intact but a table's checksum in the sidecar changed, with
    // the archive's own checksums made to match (a sidecar from another
    // backup, or rows damaged between dump and restore): the load is
    // checked, refused, and leaves nothing.
    let mut doctored = side.clone();
    for c in &mut doctored.tables {
        if c.table == "trades" {
            c.checksum = Some("0".repeat(32));
        }
    }
    let doctored_path = tmp.path().join("doctored.tar");
    common::backup::rewrite_sidecar(&dump, &doctored_path, &doctored);
    let e = provision::restore_tenant(&db, &o, &doctored_path)
        .await
        .expect_err("a checksum that does not match is refused");
    assert_eq!(e.kind, ErrorKind::Refused, "{}", e.message);
    assert!(
        e.message.contains("trades") && e.message.contains("checksum"),
        "{}",
        e.message
    );
    let after = tenants::get_tenant(&db, t.id).await.expect("row");
    assert_eq!(after.status, TenantStatus::Deleted, "still a tombstone");
    assert_eq!(census().await, 0, "nothing of the refused restore is left");

    // The intact backup restores, with its rows.
    let count = async || -> i64 {
        c.query_one(
            &format!("SELECT count(*) FROM \"{}\".trades", t.schema_name),
            &[],
        )
        .await
        .expect("count")
        .get(0)
    };
    let r = provision::restore_tenant(&db, &o, &dump)
        .await
        .expect("restore");
    assert_eq!(r.status, TenantStatus::Suspended);
    assert_eq!(count().await, 400);

    // A backup of the older form (.dump and .json side by side) still
    // restores, given either file; a changed byte of its dump is refused.
    let legacy = common::backup::write_legacy(&dump, tmp.path(), "old");
    provision::delete_tenant(&db, &o, t.id, &t.domain, false)
        .await
        .expect("delete without backup");
    let legacy_dump = std::fs::read(&legacy).expect("legacy dump");
    let mut bad = legacy_dump.clone();
    bad[legacy_dump.len() / 2] ^= 0x01;
    std::fs::write(&legacy, &bad).expect("corrupt");
    let e = provision::restore_tenant(&db, &o, &legacy.with_extension("json"))
        .await
        .expect_err("a changed older dump is refused");
    assert_eq!(e.kind, ErrorKind::Refused, "{}", e.message);
    assert!(e.message.contains("checksum"), "{}", e.message);
    assert_eq!(census().await, 0);
    std::fs::write(&legacy, &legacy_dump).expect("repair");
    let r = provision::restore_tenant(&db, &o, &legacy)
        .await
        .expect("restore the older form");
    assert_eq!(r.status, TenantStatus::Suspended);
    assert_eq!(count().await, 400);
}

/// A backup that fails half way (here pg_dump, acting as the tenant's
/// owner, meets a table in the schema that the owner may not read) leaves
/// no file, whole or partial, and the tenant as it was.
#[tokio::test]
async fn a_backup_that_fails_leaves_no_file_and_the_tenant_in_place() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let t = create(&db, &o, "halfway").await;
    tenantctl::db::seed::fill_tenant(&db, &t, 50)
        .await
        .expect("fill");
    common::superuser_exec(
        &db.params.dbname,
        &format!(
            "CREATE TABLE \"{}\".planted (x int); INSERT INTO \"{}\".planted VALUES (1)",
            t.schema_name, t.schema_name
        ),
    );
    provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect("suspend");
    let e = provision::delete_tenant(&db, &o, t.id, &t.domain, true)
        .await
        .expect_err("the backup cannot read every table");
    eprintln!("{}", e.message);
    assert!(
        e.message.contains("cannot back up tenant") && e.message.contains("permission denied"),
        "{}",
        e.message
    );
    let left: Vec<PathBuf> = std::fs::read_dir(&o.backup_dir)
        .map(|d| d.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no half artifact: {left:?}");
    let after = tenants::get_tenant(&db, t.id).await.expect("row");
    assert_eq!(after.status, TenantStatus::Suspended, "not deleted");
}

#[tokio::test]
async fn a_grant_to_a_deleted_tenant_does_not_make_a_backup_unrestorable() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let a = create(&db, &o, "giver").await;
    let b = create(&db, &o, "taker").await;
    let c_ = create(&db, &o, "keeper").await;
    let su = superuser(&db).await;
    su.batch_execute(&format!(
        "SET ROLE \"{owner}\";
         GRANT USAGE ON SCHEMA \"{s}\" TO \"{b}\", \"{c}\";
         GRANT SELECT ON \"{s}\".portfolios TO \"{b}\", \"{c}\";
         RESET ROLE;",
        owner = a.owner(),
        s = a.schema_name,
        b = b.role_name,
        c = c_.role_name
    ))
    .await
    .expect("A shares with B and C");
    provision::suspend_tenant(&db, &o, a.id, None)
        .await
        .expect("suspend a");
    let out = provision::delete_tenant(&db, &o, a.id, &a.domain, true)
        .await
        .expect("delete a");
    // B goes after A's backup was taken: the backup names a role that no
    // longer exists.
    provision::suspend_tenant(&db, &o, b.id, None)
        .await
        .expect("suspend b");
    provision::delete_tenant(&db, &o, b.id, &b.domain, false)
        .await
        .expect("delete b");
    let r = provision::restore_tenant(&db, &o, &out.backup_path.expect("backup"))
        .await
        .expect("restore despite the grant to a deleted role");
    assert_eq!(r.status, TenantStatus::Suspended);
    let entry = audit::list_audit(&db, Some(a.id), None, 10)
        .await
        .expect("audit")
        .into_iter()
        .find(|e| e.action == "restore" && e.outcome == "ok")
        .expect("restore audited");
    let skipped = entry.detail["grants_skipped"].to_string();
    assert!(skipped.contains(&b.role_name), "{skipped}");
    // The grant to a role that still exists came back.
    let kept: bool = su
        .query_one(
            &format!(
                "SELECT has_table_privilege('{}', '\"{}\".portfolios', 'SELECT')",
                c_.role_name, a.schema_name
            ),
            &[],
        )
        .await
        .expect("privilege")
        .get(0);
    assert!(kept);
}

#[tokio::test]
async fn large_objects_block_delete_with_a_sentence() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let t = create(&db, &o, "blobby").await;
    let tenant = login_as(&db, &t.role_name).await;
    let lo: u32 = tenant
        .query_one("SELECT lo_from_bytea(0, 'secret')::oid", &[])
        .await
        .expect("PUBLIC may create large objects unless hardened")
        .get(0);
    drop(tenant);
    provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect("suspend");
    let e = provision::delete_tenant(&db, &o, t.id, &t.domain, true)
        .await
        .expect_err("delete must not lose the large object");
    assert_eq!(e.kind, ErrorKind::Refused);
    assert!(e.message.contains("large object"), "{}", e.message);
    assert_eq!(
        tenants::get_tenant(&db, t.id).await.expect("row").status,
        TenantStatus::Suspended
    );
    superuser(&db)
        .await
        .execute("SELECT lo_unlink($1)", &[&lo])
        .await
        .expect("unlink");
    provision::delete_tenant(&db, &o, t.id, &t.domain, true)
        .await
        .expect("then delete works");
}

/// md5 over the ordered rows of the tenant's trades and positions.
async fn fingerprint(su: &tokio_postgres::Client, schema: &str) -> String {
    su.query_one(
        &format!(
            "SELECT md5((SELECT string_agg(t::text, ',' ORDER BY t::text) FROM \"{schema}\".trades t)
                     || (SELECT string_agg(p::text, ',' ORDER BY p::text) FROM \"{schema}\".positions p))"
        ),
        &[],
    )
    .await
    .expect("fingerprint")
    .get(0)
}

fn restore_cmd(db: &Db, dump: &Path) -> std::process::Command {
    let mut cmd = common::bin();
    cmd.arg("--database-url")
        .arg(cluster().conninfo(&db.params.dbname))
        .arg("restore")
        .arg(dump)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_killed_anywhere_is_finished_by_the_next_one() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let t = create(&db, &o, "phoenix").await;
    tenantctl::db::seed::fill_tenant(&db, &t, 3000)
        .await
        .expect("fill");
    let su = superuser(&db).await;
    let before = fingerprint(&su, &t.schema_name).await;
    provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect("suspend");
    let dump = provision::delete_tenant(&db, &o, t.id, &t.domain, true)
        .await
        .expect("delete")
        .backup_path
        .expect("backup");

    // One whole restore by the binary, timed, to spread the kills over it.
    let start = Instant::now();
    let status = restore_cmd(&db, &dump).status().expect("run");
    assert!(status.success());
    let whole = start.elapsed();
    let mut interrupted = 0;
    for k in 0..10u32 {
        if tenants::get_tenant(&db, t.id).await.expect("row").status == TenantStatus::Suspended {
            provision::delete_tenant(&db, &o, t.id, &t.domain, false)
                .await
                .expect("delete again");
        }
        let mut child = restore_cmd(&db, &dump).spawn().expect("spawn");
        std::thread::sleep(whole * k / 10);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if tenants::get_tenant(&db, t.id).await.expect("row").status == TenantStatus::Restoring {
            interrupted += 1;
        }
    }
    assert!(
        interrupted >= 3,
        "only {interrupted} of 10 kills landed inside a restore: the test proves little"
    );
    if tenants::get_tenant(&db, t.id).await.expect("row").status == TenantStatus::Suspended {
        provision::delete_tenant(&db, &o, t.id, &t.domain, false)
            .await
            .expect("delete again");
    }
    let r = provision::restore_tenant(&db, &o, &dump)
        .await
        .expect("the next restore finishes the job");
    assert_eq!(r.status, TenantStatus::Suspended);
    assert_eq!(
        fingerprint(&su, &t.schema_name).await,
        before,
        "row-identical"
    );
    let leftovers: i64 = su
        .query_one(
            "SELECT (SELECT count(*) FROM pg_roles WHERE rolname LIKE $1 || '%' AND rolname NOT IN ($2, $3))
                  + (SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'tenantctl-restore-%')",
            &[&t.schema_name, &t.role_name, &t.owner()],
        )
        .await
        .expect("leftovers")
        .get(0);
    assert_eq!(
        leftovers, 0,
        "no runner role or restore session left behind"
    );
}

/// A template directory with one small template, `docs (id, body)`.
fn docs_template() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = serde_json::json!({
        "name": "docs",
        "tables": [{"name": "docs", "columns": [
            {"name": "id", "type": "bigint", "nullable": false},
            {"name": "body", "type": "text"}
        ], "primary_key": ["id"]}],
    });
    std::fs::write(dir.path().join("docs.json"), json.to_string()).expect("write");
    dir
}

fn docs_req(name: &str) -> NewTenant {
    NewTenant {
        template: "docs".into(),
        ..req(name, &format!("{name}.example.com"))
    }
}

/// Call `f` until it reports an action for `tenant`, for at most 15 s.
async fn until_guard_acts<F, Fut>(tenant: uuid::Uuid, mut f: F) -> tenantctl::db::guard::GuardAction
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<
            Output = tenantctl::error::Result<Vec<tenantctl::db::guard::GuardAction>>,
        >,
{
    let start = Instant::now();
    loop {
        let actions = f().await.expect("guard round");
        if let Some(a) = actions.into_iter().find(|a| a.tenant_id == tenant) {
            return a;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the guard never acted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_tenant_that_lifts_its_own_timeouts_is_stopped_anyway() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let mut o = options(&config, tmp.path());
    o.idle_in_transaction_timeout = Some(Duration::from_secs(1));
    let mut r = req("lifter", "lifter.example.com");
    r.statement_timeout = Some(Duration::from_secs(1));
    let t = provision::create_tenant(&db, &o, &r, &noop)
        .await
        .expect("create");

    // A statement with the session's timeout lifted.
    let runner = login_as(&db, &t.role_name).await;
    runner
        .batch_execute("SET statement_timeout = 0")
        .await
        .expect("any session may lift its own statement_timeout");
    let long = tokio::spawn(async move { runner.batch_execute("SELECT pg_sleep(60)").await });
    let a = until_guard_acts(t.id, || {
        tenantctl::db::guard::enforce_sessions(&db, Duration::ZERO)
    })
    .await;
    assert_eq!(a.action, "cancel", "{}", a.reason);
    let e = tokio::time::timeout(Duration::from_secs(10), long)
        .await
        .expect("the statement ended")
        .expect("task")
        .expect_err("cancelled");
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
    );

    // A transaction left idle with the idle timeout lifted.
    let idler = login_as(&db, &t.role_name).await;
    idler
        .batch_execute("SET idle_in_transaction_session_timeout = 0; BEGIN; SELECT 1")
        .await
        .expect("idle in a transaction");
    let a = until_guard_acts(t.id, || {
        tenantctl::db::guard::enforce_sessions(&db, Duration::ZERO)
    })
    .await;
    assert_eq!(a.action, "terminate", "{}", a.reason);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        idler.simple_query("SELECT 1").await.is_err(),
        "the idle session was ended"
    );
    let actions: Vec<String> = audit::list_audit(&db, Some(t.id), None, 20)
        .await
        .expect("audit")
        .iter()
        .map(|e| e.action.clone())
        .collect();
    assert!(actions.contains(&"guard.cancel".to_string()), "{actions:?}");
    assert!(
        actions.contains(&"guard.terminate".to_string()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn role_settings_a_tenant_changes_are_put_back() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let t = create(&db, &o, "tinkerer").await;
    assert!(
        tenantctl::db::guard::enforce_settings(&db)
            .await
            .expect("round")
            .iter()
            .all(|a| a.tenant_id != t.id),
        "a fresh tenant's settings are as recorded"
    );
    let tenant = login_as(&db, &t.role_name).await;
    tenant
        .batch_execute(&format!(
            "ALTER ROLE \"{r}\" SET statement_timeout = 0;
             ALTER ROLE \"{r}\" IN DATABASE \"{d}\" SET idle_in_transaction_session_timeout = 0",
            r = t.role_name,
            d = db.params.dbname
        ))
        .await
        .expect("a role may change its own defaults");
    let a = tenantctl::db::guard::enforce_settings(&db)
        .await
        .expect("round")
        .into_iter()
        .find(|a| a.tenant_id == t.id)
        .expect("the change is found");
    assert_eq!(a.action, "settings");
    let row = superuser(&db)
        .await
        .query_one(
            "SELECT (SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s
                     WHERE s.setrole = r.oid AND s.setdatabase = 0),
                    (SELECT count(*) FROM pg_db_role_setting s
                     WHERE s.setrole = r.oid AND s.setdatabase <> 0)
             FROM pg_roles r WHERE r.rolname = $1",
            &[&t.role_name],
        )
        .await
        .expect("settings");
    let global: String = row.get(0);
    assert!(global.contains("statement_timeout=30000ms"), "{global}");
    assert_eq!(row.get::<_, i64>(1), 0, "no per-database override left");
    assert!(
        tenantctl::db::guard::enforce_settings(&db)
            .await
            .expect("round")
            .iter()
            .all(|a| a.tenant_id != t.id),
        "put back once, then quiet"
    );
}

#[tokio::test]
async fn the_storage_quota_withholds_writes_until_the_tenant_is_back_under() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let templates = docs_template();
    let mut o = options(&config, tmp.path());
    o.template_dir = templates.path().to_path_buf().into();
    let t = provision::create_tenant(&db, &o, &docs_req("hoarder"), &noop)
        .await
        .expect("create");
    let su = superuser(&db).await;
    let base: i64 = su
        .query_one(
            "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
            &[&t.schema_name],
        )
        .await
        .expect("size")
        .get(0);
    let quota = u64::try_from(base).expect("size") + 512 * 1024;
    let upd = tenantctl::domain::tenant::TenantUpdate {
        storage_quota_bytes: Some(quota),
        ..Default::default()
    };
    provision::update_tenant(&db, &o, t.id, &upd)
        .await
        .expect("set the quota");
    let tenant = login_as(&db, &t.role_name).await;
    // About 2 MB of incompressible text, four times the headroom.
    tenant
        .batch_execute(
            "INSERT INTO docs SELECT g, (SELECT string_agg(md5(g::text || ':' || h::text), '') FROM generate_series(1, 64) h)
             FROM generate_series(1, 1000) g",
        )
        .await
        .expect("writes while under the quota");
    let a = tenantctl::db::guard::enforce_quota(&db)
        .await
        .expect("round")
        .into_iter()
        .find(|a| a.tenant_id == t.id)
        .expect("over the quota is found");
    assert_eq!(a.action, "quota_block", "{}", a.reason);
    let e = tenant
        .execute("INSERT INTO docs VALUES (5000, 'more')", &[])
        .await
        .expect_err("writes are refused over the quota");
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    assert!(
        tenant
            .execute("UPDATE docs SET body = 'x' WHERE id = 1", &[])
            .await
            .is_err(),
        "updates too"
    );
    let n: i64 = tenant
        .query_one("SELECT count(*) FROM docs", &[])
        .await
        .expect("reads keep working")
        .get(0);
    assert_eq!(n, 1000);
    assert!(
        tenants::get_tenant(&db, t.id)
            .await
            .expect("row")
            .quota_blocked,
        "recorded on the row"
    );
    tenant
        .execute("DELETE FROM docs", &[])
        .await
        .expect("deletes keep working");
    su.batch_execute(&format!("VACUUM \"{}\".docs", t.schema_name))
        .await
        .expect("vacuum");
    let a = tenantctl::db::guard::enforce_quota(&db)
        .await
        .expect("round")
        .into_iter()
        .find(|a| a.tenant_id == t.id)
        .expect("back under is found");
    assert_eq!(a.action, "quota_unblock", "{}", a.reason);
    tenant
        .execute("INSERT INTO docs VALUES (5000, 'more')", &[])
        .await
        .expect("writes again");
    let actions: Vec<String> = audit::list_audit(&db, Some(t.id), None, 20)
        .await
        .expect("audit")
        .iter()
        .map(|e| e.action.clone())
        .collect();
    for want in ["guard.quota_block", "guard.quota_unblock"] {
        assert!(actions.contains(&want.to_string()), "{want} in {actions:?}");
    }
}

#[tokio::test]
async fn a_tenant_made_before_owner_roles_is_converted_in_one_go() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    // A tenant as tenantctl made them before: the login role owns it all.
    let id = uuid::Uuid::new_v4();
    let name = tenantctl::domain::tenant::object_name(&id);
    let su = superuser(&db).await;
    // Made by the operator, as tenantctl made them (as whoever it ran as).
    let op = db.client().await.expect("operator");
    op.batch_execute(&format!(
        "INSERT INTO {ctl}.tenants (id, name, domain, schema_name, role_name, status, template, created_by)
           VALUES ('{id}', 'Old', 'old.example.com', '{name}', '{name}', 'active', 'default', 'past');
         CREATE ROLE \"{name}\" LOGIN;
         GRANT \"{name}\" TO CURRENT_USER;
         CREATE SCHEMA \"{name}\" AUTHORIZATION \"{name}\";
         SET ROLE \"{name}\";
         CREATE TABLE \"{name}\".books (id bigserial PRIMARY KEY, title text);
         INSERT INTO \"{name}\".books (title) VALUES ('kept');
         RESET ROLE;",
        ctl = db.q_schema()
    ))
    .await
    .expect("a legacy tenant");
    let tenant = login_as(&db, &name).await;
    tenant
        .batch_execute("CREATE TABLE scratch (x int); DROP TABLE scratch")
        .await
        .expect("before: the tenant could define objects");
    drop(tenant);
    let t = provision::convert_tenant(&db, &o, id)
        .await
        .expect("convert");
    let owner = t.owner_role.clone().expect("an owner role");
    let row = su
        .query_one(
            "SELECT (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1),
                    (SELECT tableowner::text FROM pg_tables WHERE schemaname = $1 AND tablename = 'books')",
            &[&name],
        )
        .await
        .expect("owners");
    assert_eq!(row.get::<_, String>(0), owner);
    assert_eq!(row.get::<_, String>(1), owner);
    let tenant = login_as(&db, &name).await;
    tenant
        .batch_execute("INSERT INTO books (title) VALUES ('new'); SELECT count(*) FROM books")
        .await
        .expect("after: the tenant still reads and writes its tables, sequences included");
    let e = tenant
        .execute("CREATE TABLE scratch (x int)", &[])
        .await
        .expect_err("after: the tenant defines nothing");
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    let e = provision::convert_tenant(&db, &o, id)
        .await
        .expect_err("twice");
    assert_eq!(e.kind, ErrorKind::Conflict);
    assert!(
        audit::list_audit(&db, Some(id), None, 10)
            .await
            .expect("audit")
            .iter()
            .any(|e| e.action == "convert" && e.outcome == "ok")
    );
}

#[tokio::test]
async fn objects_in_another_database_are_found_before_anything_is_dropped() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, tmp.path());
    let t = create(&db, &o, "roamer").await;
    // Another database where PUBLIC may create in `public` (PostgreSQL 14
    // and older, or an upgraded database), reachable since CONNECT is PUBLIC's.
    let other = cluster().create_database().expect("other database");
    common::superuser_exec(&other, "GRANT CREATE ON SCHEMA public TO PUBLIC");
    let away = connect(&cluster().conninfo_as(&other, &t.role_name))
        .await
        .expect("the tenant connects to another database");
    away.batch_execute("CREATE TABLE public.stash (x int)")
        .await
        .expect("and leaves a table there");
    drop(away);
    provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect("suspend");
    let e = provision::delete_tenant(&db, &o, t.id, &t.domain, true)
        .await
        .expect_err("delete must name what it would leave behind");
    assert_eq!(e.kind, ErrorKind::Refused);
    assert!(e.message.contains(&other), "{}", e.message);
    assert_eq!(
        tenants::get_tenant(&db, t.id).await.expect("row").status,
        TenantStatus::Suspended,
        "nothing was dropped"
    );
    common::superuser_exec(&other, "DROP TABLE public.stash");
    provision::delete_tenant(&db, &o, t.id, &t.domain, true)
        .await
        .expect("then delete works");
}
