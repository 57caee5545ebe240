//! Provisioning benchmark: 200 tenants created one at a time and 200 with 4
//! concurrent workers through `create_tenant`, beside the floor — the same
//! statements sent as one script per tenant over raw connections.
//!
//! `cargo bench --bench provision`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tenantctl::config::Config;
use tenantctl::db::provision::{self, ProvisionOptions, render};
use tenantctl::db::{Db, migrate, quote_literal};
use tenantctl::domain::template::Template;
use tenantctl::domain::tenant::{NewTenant, object_name};
use tenantctl::local_cluster::LocalCluster;
use tokio_postgres::NoTls;
use uuid::Uuid;

const N: usize = 200;
const WORKERS: usize = 4;

struct Run {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Run {
    fn pct(&self, p: f64) -> f64 {
        let mut v = self.latencies.clone();
        v.sort();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        // reason: an index into a short vector
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i].as_secs_f64() * 1000.0
    }
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

fn request(i: usize, tag: &str) -> NewTenant {
    NewTenant {
        name: format!("Bench {tag} {i}"),
        domain: format!("{tag}{i}.bench.example.com"),
        template: "default".into(),
        connection_limit: 20,
        statement_timeout: Some(Duration::from_secs(30)),
        storage_quota_bytes: None,
        settings: serde_json::json!({}),
    }
}

/// The statements `create_tenant` sends, as one script with literals.
fn floor_script(db: &Db, opts: &ProvisionOptions, tpl: &Template, req: &NewTenant) -> String {
    let id = Uuid::new_v4();
    let obj = object_name(&id);
    let s = db.q_schema();
    format!(
        "BEGIN;
SET LOCAL statement_timeout = '{timeout}ms';
INSERT INTO {s}.tenants (id, name, domain, schema_name, role_name, status, template,
    template_version, settings, connection_limit, statement_timeout, storage_quota_bytes, created_by)
VALUES ('{id}', {name}, {domain}, '{obj}', '{obj}', 'provisioning', 'default', 1, '{{}}', 20,
    30000 * interval '1 millisecond', NULL, {actor});
{role}{tpl_sql}WITH audit AS (
    INSERT INTO {s}.audit_log (actor, action, tenant_id, outcome, detail, duration_ms)
    VALUES ({actor}, 'create', '{id}', 'ok', '{{}}', 1))
UPDATE {s}.tenants SET status = 'active', provision_ms = 1, warnings = '{{}}' WHERE id = '{id}';
COMMIT;",
        timeout = opts.creation_timeout.as_millis(),
        name = quote_literal(&req.name),
        domain = quote_literal(&req.domain),
        actor = quote_literal(&opts.actor),
        role = {
            let owner = tenantctl::domain::tenant::owner_name(&id);
            let op = tenantctl::db::provision::roles::Operator {
                superuser: true,
                version: 150_000,
                can_set_temp_file_limit: true,
            };
            let limits = tenantctl::db::provision::roles::Limits {
                connection_limit: 20,
                statement_timeout: req.statement_timeout,
                idle_in_transaction_timeout: opts.idle_in_transaction_timeout,
                temp_file_limit: opts.temp_file_limit,
            };
            let mut sql = tenantctl::db::provision::roles::create(
                &owner, &obj, &obj, &limits, &op, None, true,
            );
            sql.push_str(&tenantctl::db::provision::roles::harden_public(&obj, &db.schema));
            sql.push_str(&render::template(tpl, &owner, &obj, None));
            sql
        },
        tpl_sql = "",
    )
}

async fn tenantctl_run(db: &Db, opts: &ProvisionOptions, tag: &str, workers: usize) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (db, opts, next, tag) = (db.clone(), opts.clone(), next.clone(), tag.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= N {
                    break;
                }
                let t = Instant::now();
                provision::create_tenant(&db, &opts, &request(i, &tag), &|_| {})
                    .await
                    .expect("create");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("join"));
    }
    Run {
        latencies,
        wall: start.elapsed(),
    }
}

async fn floor_run(
    conninfo: &str,
    db: &Db,
    opts: &ProvisionOptions,
    tpl: &Template,
    tag: &str,
    workers: usize,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..workers {
        let (c, conn) = tokio_postgres::connect(conninfo, NoTls)
            .await
            .expect("raw connect");
        tokio::spawn(conn);
        clients.push(c);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in clients {
        let (db, opts, tpl, next, tag) = (
            db.clone(),
            opts.clone(),
            tpl.clone(),
            next.clone(),
            tag.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= N {
                    break;
                }
                let script = floor_script(&db, &opts, &tpl, &request(i, &tag));
                let t = Instant::now();
                c.batch_execute(&script).await.expect("floor script");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("join"));
    }
    Run {
        latencies,
        wall: start.elapsed(),
    }
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: stay quick there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("provision bench: run it with `cargo bench --bench provision`");
        return;
    }
    let cluster = LocalCluster::start().expect("local cluster");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dbname = cluster.create_database().expect("database");
        let conninfo = cluster.conninfo(&dbname);
        let config = Config::for_url(&conninfo);
        let db = Db::connect(&config).await.expect("connect");
        migrate::init(&db).await.expect("init");
        let mut opts = ProvisionOptions::from_config(&config);
        opts.actor = "bench@local".into();
        let tpl = tenantctl::template_files::load(&opts.template_dir, "default").expect("template");

        // Warm up both paths (connections, caches) outside the measurement.
        for i in 0..10 {
            provision::create_tenant(&db, &opts, &request(i, "warm"), &|_| {})
                .await
                .expect("warm");
        }
        floor_run(&conninfo, &db, &opts, &tpl, "warmf", 1).await;

        let floor1 = floor_run(&conninfo, &db, &opts, &tpl, "fa", 1).await;
        let ours1 = tenantctl_run(&db, &opts, "ta", 1).await;
        let floor4 = floor_run(&conninfo, &db, &opts, &tpl, "fb", WORKERS).await;
        let ours4 = tenantctl_run(&db, &opts, "tb", WORKERS).await;

        println!();
        println!("provisioning {N} tenants (default template) on a local cluster");
        println!(
            "{:<24} {:>9} {:>9} {:>11}",
            "path", "p50 ms", "p95 ms", "tenants/s"
        );
        for (name, r) in [
            ("floor, serial", &floor1),
            ("create_tenant, serial", &ours1),
            ("floor, 4-way", &floor4),
            ("create_tenant, 4-way", &ours4),
        ] {
            println!(
                "{name:<24} {:>9.2} {:>9.2} {:>11.1}",
                r.pct(0.5),
                r.pct(0.95),
                r.throughput()
            );
        }
        let p50_ratio = ours1.pct(0.5) / floor1.pct(0.5);
        let tp_ratio = ours4.throughput() / floor4.throughput();
        println!();
        println!(
            "serial p50 ratio (create_tenant / floor): {p50_ratio:.2}x (target <= 1.30x) {}",
            if p50_ratio <= 1.3 { "ok" } else { "MISSED" }
        );
        println!(
            "4-way throughput ratio (create_tenant / floor): {tp_ratio:.2}x (target >= 0.75x) {}",
            if tp_ratio >= 0.75 { "ok" } else { "MISSED" }
        );
    });
}
