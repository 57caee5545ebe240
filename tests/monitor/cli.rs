//! `tenantctl top`, `health` and `usage export` through the real binary.

use crate::common::{bin, fresh_db, fresh_db_init};
use crate::support::create_tenant;

fn config_file() -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().expect("temp config");
    std::fs::write(f.path(), "[monitoring]\ninterval = \"300ms\"\n").expect("write config");
    f
}

fn run(url: &str, cfg: &tempfile::NamedTempFile, args: &[&str]) -> std::process::Output {
    bin()
        .arg("--config")
        .arg(cfg.path())
        .arg("--database-url")
        .arg(url)
        .args(args)
        .output()
        .expect("run tenantctl")
}

#[tokio::test]
async fn top_json_has_real_rates_and_sorts() {
    let (config, db) = fresh_db_init().await;
    let a = create_tenant(&db, "Alpha").await;
    let b = create_tenant(&db, "Beta").await;
    let s = crate::support::connect_as(&db, &a.role_name).await;
    s.batch_execute(
        "INSERT INTO trades (symbol, qty, price) SELECT 'X', g, 1 FROM generate_series(1, 2000) g",
    )
    .await
    .expect("seed");
    let cfg = config_file();
    let out = run(
        &config.cluster.url,
        &cfg,
        &["top", "--json", "--sort", "size"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let list = v["tenants"].as_array().expect("tenants");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], a.id.to_string(), "biggest first");
    assert_eq!(list[1]["id"], b.id.to_string());
    assert!(list[0]["writes_per_s"].is_number(), "{}", list[0]);
    assert!(list[0]["calls_per_s"].is_number(), "{}", list[0]);
    assert!(list[0]["health"]["score"].is_number());
    assert_eq!(v["statements_available"], true);

    let out = run(
        &config.cluster.url,
        &cfg,
        &["top", "--limit", "1", "--sort", "name"],
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Alpha") && !text.contains("Beta"), "{text}");
    assert!(text.contains("CALLS/S"), "{text}");
}

#[tokio::test]
async fn health_for_one_tenant_and_unknown_tenant() {
    let (config, db) = fresh_db_init().await;
    let a = crate::support::create_tenant_with(&db, "Alpha", -1, Some(1)).await;
    let cfg = config_file();
    let out = run(&config.cluster.url, &cfg, &["health", &a.domain, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["id"], a.id.to_string());
    assert!(v["score"].as_u64().expect("score") <= 70);
    assert!(
        v["reasons"][0]["text"]
            .as_str()
            .expect("reason")
            .contains("over quota")
    );
    let out = run(
        &config.cluster.url,
        &cfg,
        &["health", "nope.example", "--json"],
    );
    assert_eq!(out.status.code(), Some(3));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json error");
    assert!(e["error"].as_str().expect("msg").contains("nope.example"));
    let out = run(&config.cluster.url, &cfg, &["health"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("over quota"));
}

#[tokio::test]
async fn usage_export_csv_and_json() {
    let (config, db) = fresh_db_init().await;
    let id = uuid::Uuid::new_v4();
    db.client()
        .await
        .expect("client")
        .execute(
            &format!(
                "INSERT INTO {}.usage_samples (tenant_id, minute, bytes, connections, calls, exec_ms, rows_written)
                 VALUES ($1, '2026-11-01T10:00:00Z', 1000, 2, 30, 12.5, 7),
                        ($1, '2026-11-01T10:01:00Z', 1100, 1, NULL, NULL, 0),
                        ($1, '2026-11-02T10:00:00Z', 1200, 1, 1, 1, 1)",
                db.q_schema()
            ),
            &[&id],
        )
        .await
        .expect("seed usage");
    let cfg = config_file();
    let out = run(
        &config.cluster.url,
        &cfg,
        &[
            "usage",
            "export",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-02",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "tenant_id,minute,bytes,connections,calls,exec_ms,rows_written"
    );
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[1],
        format!("{id},2026-11-01T10:00:00+00:00,1000,2,30,12.500,7")
    );
    assert_eq!(
        lines[2],
        format!("{id},2026-11-01T10:01:00+00:00,1100,1,,,0")
    );
    let out = run(
        &config.cluster.url,
        &cfg,
        &[
            "usage",
            "export",
            "--from",
            "2026-10-01",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v.as_array().expect("rows").len(), 3);
    let out = run(
        &config.cluster.url,
        &cfg,
        &["usage", "export", "--from", "soon"],
    );
    assert_eq!(out.status.code(), Some(5));
}

#[tokio::test]
async fn top_refuses_without_the_control_schema() {
    let (config, _db) = fresh_db().await;
    let cfg = config_file();
    let out = run(&config.cluster.url, &cfg, &["top"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenantctl init"));
}
