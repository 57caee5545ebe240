//! Shared helpers for integration tests: one local cluster per test binary,
//! a fresh database per test.
#![allow(dead_code)]

use tenantctl::config::Config;
use tenantctl::db::Db;
use tenantctl::local_cluster::LocalCluster;

/// The cluster of this test binary.
pub fn cluster() -> &'static LocalCluster {
    match LocalCluster::shared() {
        Ok(c) => c,
        Err(e) => panic!("local cluster failed to start: {e}"),
    }
}

/// A fresh database and a config pointing at it.
pub fn fresh_config() -> Config {
    let c = cluster();
    let db = c.create_database().expect("create test database");
    Config::for_url(&c.conninfo(&db))
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
