//! Foundation: local cluster lifecycle, control schema install and upgrade,
//! doctor, and the one-sentence errors of the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{bin, cluster, fresh_db};
use tenantctl::db::{Db, doctor, migrate};

fn pid_alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

#[test]
fn cluster_stops_on_drop_and_removes_its_directory() {
    let mut c = tenantctl::local_cluster::LocalCluster::start().expect("start");
    let pid = c.postmaster_pid().expect("pid");
    let dir = c.socket_dir().to_path_buf();
    assert!(pid_alive(pid));
    assert!(c.is_running());
    assert_eq!(
        c.query_sync("postgres", "SELECT 1").expect("query"),
        vec![Some("1".to_string())]
    );
    drop(c);
    assert!(!pid_alive(pid), "postmaster {pid} still alive after drop");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn no_server_left_when_the_owner_is_killed() {
    let mut child = bin()
        .arg("local-cluster")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tenantctl local-cluster");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut text = String::new();
    while !text.trim_end().ends_with('}') {
        let mut line = String::new();
        if out.read_line(&mut line).expect("read") == 0 {
            break;
        }
        text.push_str(&line);
    }
    let info: serde_json::Value = serde_json::from_str(&text).expect("json");
    let pid = i32::try_from(info["postmaster_pid"].as_i64().expect("pid")).expect("pid fits");
    let dir = std::path::PathBuf::from(info["socket_dir"].as_str().expect("dir"));
    assert!(pid_alive(pid));
    // SIGKILL: no destructor runs; the watchdog must still stop the server.
    child.kill().expect("kill");
    child.wait().expect("wait");
    let start = Instant::now();
    while pid_alive(pid) && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!pid_alive(pid), "postmaster {pid} survived its owner");
    while dir.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn server_runs_as_postgres_when_root() {
    let c = cluster();
    let user = c
        .query_sync("postgres", "SELECT current_setting('data_directory')")
        .expect("query");
    assert!(user[0].is_some());
    let pid = c.postmaster_pid().expect("pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    let uid: u32 = uid_line
        .split_whitespace()
        .nth(1)
        .expect("uid")
        .parse()
        .expect("number");
    if nix::unistd::geteuid().is_root() {
        assert_ne!(uid, 0, "postgres must not run as root");
    } else {
        assert_eq!(uid, nix::unistd::geteuid().as_raw());
    }
}

#[tokio::test]
async fn init_twice_is_safe_and_check_passes() {
    let (_cfg, db) = fresh_db().await;
    let err = migrate::check(&db).await.expect_err("missing schema");
    assert_eq!(
        err.message,
        "control schema not installed: run tenantctl init"
    );
    let first = migrate::init(&db).await.expect("init");
    assert_eq!(first.from_version, None);
    assert_eq!(first.to_version, migrate::latest_version());
    assert_eq!(first.applied.len(), migrate::MIGRATIONS.len());
    let second = migrate::init(&db).await.expect("init again");
    assert!(second.applied.is_empty());
    assert_eq!(second.to_version, migrate::latest_version());
    assert_eq!(
        migrate::check(&db).await.expect("check"),
        migrate::latest_version()
    );
}

#[tokio::test]
async fn upgrade_from_previous_version_keeps_data() {
    let (_cfg, db) = fresh_db().await;
    migrate::apply_up_to(&db, 1).await.expect("v1");
    let client = db.client().await.expect("client");
    client
        .execute(
            "INSERT INTO tenant_admin.tenants (id, name, domain, schema_name, role_name, template, created_by)
             VALUES (gen_random_uuid(), 'Old', 'old.example', 's', 'r', 'default', 'test')",
            &[],
        )
        .await
        .expect("insert");
    assert!(
        client
            .query_one(
                "SELECT to_regclass('tenant_admin.usage_samples') IS NULL",
                &[]
            )
            .await
            .expect("q")
            .get::<_, bool>(0)
    );
    let report = migrate::init(&db).await.expect("upgrade");
    assert_eq!(report.from_version, Some(1));
    assert_eq!(
        report.applied,
        vec![
            "V2__usage_samples".to_string(),
            "V3__containment".to_string(),
            "V4__migrations".to_string(),
            "V5__migration_workers".to_string(),
            "V6__one_ledger_call".to_string(),
            "V7__leaner_advance".to_string()
        ]
    );
    let n: i64 = client
        .query_one("SELECT count(*) FROM tenant_admin.tenants", &[])
        .await
        .expect("q")
        .get(0);
    assert_eq!(n, 1);
    assert!(
        client
            .query_one(
                "SELECT to_regclass('tenant_admin.usage_samples') IS NOT NULL",
                &[]
            )
            .await
            .expect("q")
            .get::<_, bool>(0)
    );
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let (_cfg, db) = fresh_db().await;
    migrate::init(&db).await.expect("init");
    let client = db.client().await.expect("client");
    client
        .execute(
            "INSERT INTO tenant_admin.schema_version (version, name) VALUES (99, 'future')",
            &[],
        )
        .await
        .expect("insert");
    let err = migrate::check(&db).await.expect_err("newer");
    assert!(
        err.message.contains("newer than this tenantctl"),
        "{}",
        err.message
    );
    let err = migrate::init(&db).await.expect_err("newer");
    assert!(err.message.contains("upgrade tenantctl"), "{}", err.message);
}

#[tokio::test]
async fn audit_log_is_append_only() {
    let (_cfg, db) = fresh_db().await;
    migrate::init(&db).await.expect("init");
    let client = db.client().await.expect("client");
    client
        .execute("INSERT INTO tenant_admin.audit_log (actor, action, outcome) VALUES ('t', 'test', 'ok')", &[])
        .await
        .expect("insert");
    for sql in [
        "UPDATE tenant_admin.audit_log SET action = 'x'",
        "DELETE FROM tenant_admin.audit_log",
        "TRUNCATE tenant_admin.audit_log",
    ] {
        let e = client.execute(sql, &[]).await.expect_err(sql);
        assert!(
            e.to_string().contains("append-only") || format!("{e:?}").contains("append-only"),
            "{sql}: {e:?}"
        );
    }
}

#[tokio::test]
async fn doctor_reports_every_required_check_ok() {
    let (_cfg, db) = fresh_db().await;
    migrate::init(&db).await.expect("init");
    let checks = doctor::run(&db, tenantctl::config::TimescaleMode::Auto)
        .await
        .expect("doctor");
    let names: Vec<&str> = checks.iter().map(|c| c.name).collect();
    for required in [
        "server",
        "latency",
        "privileges",
        "pg_stat_statements",
        "timescaledb",
        "control schema",
    ] {
        let c = checks
            .iter()
            .find(|c| c.name == required)
            .unwrap_or_else(|| panic!("{required} missing from {names:?}"));
        assert_eq!(c.status, doctor::Status::Ok, "{required}: {}", c.detail);
    }
}

#[test]
fn cli_init_and_doctor_against_a_local_cluster() {
    let c = cluster();
    let dbname = c.create_database().expect("db");
    let url = c.url(&dbname);
    let out = bin()
        .args(["--database-url", &url, "doctor", "--json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "doctor fails before init");
    let out = bin()
        .args(["--database-url", &url, "init"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("version 7"));
    let out = bin()
        .args(["--database-url", &url, "init"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    let out = bin()
        .args(["--database-url", &url, "doctor", "--json"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], true);
}

fn one_sentence_error(args: &[&str], expect_code: i32, needle: &str) {
    let out = bin().args(args).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(expect_code), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("Backtrace"),
        "{err}"
    );
}

#[test]
fn bad_connections_get_one_clear_sentence() {
    let c = cluster();
    one_sentence_error(
        &["--database-url", "http://nope", "doctor"],
        5,
        "postgres://",
    );
    one_sentence_error(
        &[
            "--database-url",
            "host=/nonexistent/dir user=x dbname=y",
            "doctor",
        ],
        1,
        "is the server running",
    );
    one_sentence_error(
        &[
            "--database-url",
            "host=127.0.0.1 port=1 user=x dbname=y connect_timeout=2",
            "doctor",
        ],
        1,
        "cannot connect",
    );
    let wrong_db = c.conninfo("no_such_db");
    one_sentence_error(
        &["--database-url", &wrong_db, "doctor"],
        1,
        "does not exist",
    );
    let dbname = c.create_database().expect("db");
    one_sentence_error(
        &[
            "--database-url",
            &c.conninfo(&dbname),
            "--read-only",
            "init",
        ],
        5,
        "read-only",
    );
    one_sentence_error(
        &[
            "--database-url",
            // A TCP host: on a Unix socket libpq (and tenantctl) skip TLS,
            // so no root certificate is needed there.
            "host=127.0.0.1 port=1 sslmode=verify-full sslrootcert=/nonexistent.pem user=x dbname=y",
            "doctor",
        ],
        5,
        "root certificate",
    );
}

#[test]
fn bad_config_file_names_line_and_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[monitoring]\ninterval = \"2s\"\nbogus = 1\n").expect("write");
    one_sentence_error(
        &["--config", path.to_str().expect("utf8"), "doctor"],
        5,
        "line 3",
    );
}

#[tokio::test]
async fn probe_answers_while_the_pool_is_busy() {
    let mut config = common::fresh_config();
    config.cluster.pool_size = 1;
    let db = Db::connect(&config).await.expect("connect");
    // The pool's only connection is held by a long statement.
    let busy = db.client().await.expect("client");
    let hold =
        tokio::spawn(async move { busy.simple_query("SELECT pg_sleep(5)").await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pooled = tokio::time::timeout(Duration::from_secs(1), db.ping()).await;
    assert!(pooled.is_err(), "a ping through the full pool waits");
    tokio::time::timeout(Duration::from_secs(3), db.probe())
        .await
        .expect("the probe does not wait for the pool")
        .expect("the server answers");
    hold.await.expect("join").expect("sleep");
}
