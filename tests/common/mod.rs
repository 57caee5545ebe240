//! Shared helpers for integration tests: one local cluster per test binary,
//! a fresh database per test.
//!
//! `TENANTCTL_TEST_OPERATOR=least` runs the tests as a least-privilege
//! operator: every fresh database is owned by a role made like a
//! managed-PostgreSQL administrator (LOGIN CREATEROLE, `pg_monitor`,
//! `pg_signal_backend`, owner of the database, not a superuser), and
//! [`fresh_config`], `cluster().conninfo(db)` and `cluster().url(db)`
//! connect as that role. `superuser` (the default) connects as the
//! superuser. Setup that needs a superuser (planting an attack, installing
//! an extension) goes through [`superuser_exec`] in either mode.
#![allow(dead_code)]

use std::sync::Once;

use tenantctl::config::Config;
use tenantctl::db::Db;
use tenantctl::local_cluster::LocalCluster;

/// The variable that picks the role the tests connect as.
pub const OPERATOR_VAR: &str = "TENANTCTL_TEST_OPERATOR";

/// Whether this run connects as a least-privilege operator.
pub fn least_privilege() -> bool {
    match std::env::var(OPERATOR_VAR).as_deref() {
        Ok("least") => true,
        Ok("" | "superuser") | Err(_) => false,
        Ok(other) => panic!("{OPERATOR_VAR}={other}: expected `least` or `superuser`"),
    }
}

/// The cluster of this test binary, in the mode [`OPERATOR_VAR`] asks for.
pub fn cluster() -> &'static LocalCluster {
    static MODE: Once = Once::new();
    let c = match LocalCluster::shared() {
        Ok(c) => c,
        Err(e) => panic!("local cluster failed to start: {e}"),
    };
    MODE.call_once(|| c.set_least_privilege(least_privilege()));
    c
}

/// A fresh database and a config pointing at it.
pub fn fresh_config() -> Config {
    fresh_named_config().1
}

/// A fresh database's name and a config pointing at it.
pub fn fresh_named_config() -> (String, Config) {
    let c = cluster();
    let db = c.create_database().expect("create test database");
    let config = Config::for_url(&c.conninfo(&db));
    (db, config)
}

/// A fresh database with a connected pool.
pub async fn fresh_db() -> (Config, Db) {
    let config = fresh_config();
    let db = Db::connect(&config)
        .await
        .expect("connect to test database");
    (config, db)
}

/// A fresh database with the control schema installed.
pub async fn fresh_db_init() -> (Config, Db) {
    let (config, db) = fresh_db().await;
    tenantctl::db::migrate::init(&db).await.expect("init");
    (config, db)
}

/// Run SQL as the superuser in `dbname`, whatever the operator mode.
pub fn superuser_exec(dbname: &str, sql: &str) {
    if let Err(e) = cluster().exec_sync(dbname, sql) {
        panic!("superuser setup failed: {e}\n{sql}");
    }
}

/// First-column rows of a query run as the superuser in `dbname`.
pub fn superuser_query(dbname: &str, sql: &str) -> Vec<Option<String>> {
    match cluster().query_sync(dbname, sql) {
        Ok(rows) => rows,
        Err(e) => panic!("superuser query failed: {e}\n{sql}"),
    }
}

/// A config for `dbname` as the superuser, whatever the operator mode.
pub fn superuser_config(dbname: &str) -> Config {
    Config::for_url(&cluster().superuser_conninfo(dbname))
}

/// The built binary.
pub fn bin() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"));
    for var in [
        "DATABASE_URL",
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGPASSWORD",
        "TENANTCTL_CONFIG",
    ] {
        cmd.env_remove(var);
    }
    let tmp = std::env::temp_dir().join("tenantctl-test-logs");
    cmd.env("XDG_STATE_HOME", &tmp).env("XDG_CONFIG_HOME", &tmp);
    cmd
}

pub mod backup;
