//! A fleet of independent clusters: `--cluster all` for list, top and health
//! over three local clusters, one of them stopped mid-session and started
//! again; moving a tenant from one cluster to another.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use tenantctl::backend::fleet::Fleet;
use tenantctl::config::{Config, Overrides};
use tenantctl::db::Db;
use tenantctl::db::provision::{self, ProvisionOptions};
use tenantctl::domain::tenant::NewTenant;
use tenantctl::local_cluster::LocalCluster;

/// Another cluster for this binary, in the operator mode of the run.
pub fn another_cluster() -> LocalCluster {
    let c = LocalCluster::start().expect("start another local cluster");
    c.set_least_privilege(common::least_privilege());
    c
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

/// A fresh database on `cluster` with the control schema and `tenants`
/// (domain prefixes) created; its conninfo.
async fn seeded(cluster: &LocalCluster, prefix: &str, tenants: usize) -> String {
    let dbname = cluster.create_database().expect("database");
    let info = cluster.conninfo(&dbname);
    let config = Config::for_url(&info);
    let db = Db::connect(&config).await.expect("connect");
    tenantctl::db::migrate::init(&db).await.expect("init");
    let o = ProvisionOptions::from_config(&config);
    for i in 0..tenants {
        provision::create_tenant(
            &db,
            &o,
            &req(
                &format!("{prefix} {i}"),
                &format!("{prefix}{i}.example.com"),
            ),
            &|_| {},
        )
        .await
        .expect("create");
    }
    info
}

fn write_config(dir: &Path, clusters: &[(&str, &str)]) -> std::path::PathBuf {
    let mut text = format!(
        "[provisioning]\nbackup_dir = \"{}\"\n",
        dir.join("backups").display()
    );
    for (name, url) in clusters {
        let _ = writeln!(text, "[clusters.{name}]\nurl = \"{url}\"");
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("config");
    path
}

fn run(config: &Path, args: &[&str]) -> (i32, String, String) {
    let o = common::bin()
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run tenantctl");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// Clusters and their tenant counts in a `--json` fleet answer.
fn per_cluster(v: &serde_json::Value) -> Vec<(String, bool, usize)> {
    let tenants = v["tenants"].as_array().expect("tenants");
    v["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .map(|c| {
            let name = c["cluster"].as_str().expect("name").to_string();
            let n = tenants
                .iter()
                .filter(|t| t["cluster"] == name.as_str())
                .count();
            (name, c["ok"].as_bool().expect("ok"), n)
        })
        .collect()
}

fn owned(v: &[(&str, bool, usize)]) -> Vec<(String, bool, usize)> {
    v.iter()
        .map(|(n, o, c)| ((*n).to_string(), *o, *c))
        .collect()
}

#[tokio::test]
async fn cluster_all_answers_while_one_cluster_is_down() {
    let a = common::cluster();
    let mut b = another_cluster();
    let c = another_cluster();
    let (ia, ib, ic) = (
        seeded(a, "alpha", 2).await,
        seeded(&b, "bravo", 3).await,
        seeded(&c, "charlie", 1).await,
    );
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = write_config(dir.path(), &[("a", &ia), ("b", &ib), ("c", &ic)]);

    // Every cluster answers: one list, a CLUSTER column.
    let (code, out, err) = run(&cfg, &["--cluster", "all", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        per_cluster(&json(&out)),
        owned(&[("a", true, 2), ("b", true, 3), ("c", true, 1)])
    );
    let (code, out, err) = run(&cfg, &["--cluster", "all", "list"]);
    assert_eq!(code, 0, "{err}");
    let header = out.lines().next().expect("header");
    assert!(header.starts_with("CLUSTER"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("b ") && l.contains("bravo2.example.com")),
        "{out}"
    );
    // Commands of one cluster say so.
    let (code, _, err) = run(&cfg, &["--cluster", "all", "suspend", "alpha0.example.com"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("one cluster") && err.contains("a, b, c"),
        "{err}"
    );

    // A session over the fleet: each cluster sampled by its own task.
    let config = Config::load(&Overrides {
        config_path: Some(cfg.clone()),
        cluster: Some("all".into()),
        ..Overrides::default()
    })
    .expect("load");
    let fleet = Fleet::new(
        config.fleet_members().expect("members"),
        Duration::from_secs(5),
    );
    assert_eq!(fleet.clusters(), ["a", "b", "c"]);
    let (round, _) = fleet.tick().await;
    assert!(round.iter().all(|r| r.result.is_ok()), "{round:?}");

    // b goes away mid-session: its tenants are unreachable, the others live.
    b.pause().expect("stop b");
    let (round, took) = fleet.tick().await;
    assert!(
        took < Duration::from_secs(5),
        "a lost cluster holds nobody up: {took:?}"
    );
    let by: Vec<(&str, Option<usize>)> = round
        .iter()
        .map(|r| {
            (
                r.cluster.as_str(),
                r.result.as_ref().ok().map(|s| s.snapshot.tenants.len()),
            )
        })
        .collect();
    assert_eq!(by, [("a", Some(2)), ("b", None), ("c", Some(1))]);
    let why = &round[1].result.as_ref().expect_err("b is down").message;
    assert!(why.starts_with("cluster b"), "{why}");

    let (code, out, err) = run(&cfg, &["--cluster", "all", "list", "--json"]);
    assert_eq!(code, 1, "a partial answer fails: {err}");
    let v = json(&out);
    assert_eq!(
        per_cluster(&v),
        owned(&[("a", true, 2), ("b", false, 0), ("c", true, 1)])
    );
    assert!(
        v["clusters"][1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("connect")),
        "{v}"
    );
    let (code, out, err) = run(&cfg, &["--cluster", "all", "list"]);
    assert_eq!(code, 1);
    assert!(err.contains("cluster b:"), "{err}");
    assert!(
        out.contains("alpha1.example.com") && out.contains("charlie0.example.com"),
        "{out}"
    );
    let (code, out, err) = run(
        &cfg,
        &["--cluster", "all", "top", "--interval", "200ms", "--json"],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        per_cluster(&json(&out)),
        owned(&[("a", true, 2), ("b", false, 0), ("c", true, 1)])
    );
    let (code, out, err) = run(&cfg, &["--cluster", "all", "health"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.starts_with("CLUSTER") && out.contains("charlie0.example.com"),
        "{out}"
    );
    assert!(err.contains("cluster b:"), "{err}");

    // b is back: the same session reconnects and sees its tenants again.
    b.restart().expect("start b");
    let (round, _) = fleet.tick().await;
    let counts: Vec<Option<usize>> = round
        .iter()
        .map(|r| r.result.as_ref().ok().map(|s| s.snapshot.tenants.len()))
        .collect();
    assert_eq!(counts, [Some(2), Some(3), Some(1)], "{round:?}");
    let (code, out, err) = run(&cfg, &["--cluster", "all", "top", "--interval", "200ms"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("bravo0.example.com"), "{out}");
}
