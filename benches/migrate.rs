//! Fleet migration benchmark (issue 13), at 1,000 tenants created through
//! the real create path:
//!
//! - a no-op apply (everyone current): plan and apply in-process, and the
//!   whole `tenantctl migrate apply` process;
//! - a real one-step migration (a nullable column and an index on small
//!   tables) by `migrate apply`, beside its floor measured in the same run:
//!   the same DDL sent by 4 raw connections of the operator, one
//!   transaction per schema (the floor's changes are undone, untimed,
//!   before the real run).
//!
//! `cargo bench --bench migrate` (`TENANTCTL_BENCH_MIGRATE_TENANTS=N` to
//! change the size).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tenantctl::config::Config;
use tenantctl::db::fleet::{self, ApplyOptions, PlanRequest};
use tenantctl::db::provision::{self, ProvisionOptions};
use tenantctl::db::{Db, migrate, quote_ident};
use tenantctl::domain::fleet::Canary;
use tenantctl::domain::tenant::NewTenant;
use tenantctl::local_cluster::LocalCluster;
use tenantctl::template_files::Lookup;
use tokio_postgres::NoTls;

const WORKERS: usize = 4;

/// CPU seconds used so far: the whole machine (busy, from /proc/stat) and
/// this process (the driver: tenantctl's side). The difference is mostly
/// the server's, on a machine that runs nothing else.
#[derive(Clone, Copy)]
struct Cpu {
    machine: f64,
    driver: f64,
}

impl Cpu {
    fn now() -> Self {
        // Both files count in clock ticks (USER_HZ, 100 on Linux).
        let hz = 100.0;
        let machine = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let f: Vec<f64> = s
                    .lines()
                    .next()?
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal
                let total: f64 = f.iter().take(8).sum();
                Some((total - f.get(3)? - f.get(4)?) / hz)
            })
            .unwrap_or(0.0);
        let driver = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                // After the command's closing parenthesis: fields 3.. ; utime
                // and stime are fields 14 and 15.
                let rest = s.rsplit_once(')')?.1;
                let f: Vec<f64> = rest
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                Some((f.get(11)? + f.get(12)?) / hz)
            })
            .unwrap_or(0.0);
        Self { machine, driver }
    }

    /// `(machine, driver)` CPU seconds since `self`.
    fn since(self) -> (f64, f64) {
        let n = Self::now();
        (n.machine - self.machine, n.driver - self.driver)
    }
}

/// v1: two small tables; v2: a nullable column and an index.
fn template() -> serde_json::Value {
    serde_json::json!({
        "name": "bench",
        "version": 2,
        "tables": [
            "CREATE TABLE accounts (id bigserial PRIMARY KEY, name text NOT NULL)",
            "CREATE TABLE orders (id bigserial PRIMARY KEY, account_id bigint NOT NULL, qty integer NOT NULL, note text)"
        ],
        "indexes": ["CREATE INDEX orders_note_idx ON orders (note)"],
        "baseline": {"version": 1, "tables": [
            "CREATE TABLE accounts (id bigserial PRIMARY KEY, name text NOT NULL)",
            "CREATE TABLE orders (id bigserial PRIMARY KEY, account_id bigint NOT NULL, qty integer NOT NULL)"
        ]},
        "migrations": [
            {"to": 2, "description": "a note on orders, indexed", "steps": [
                "ALTER TABLE orders ADD COLUMN note text",
                "CREATE INDEX orders_note_idx ON orders (note)"
            ]}
        ]
    })
}

const STEPS: [&str; 2] = [
    "ALTER TABLE {s}.orders ADD COLUMN note text",
    "CREATE INDEX orders_note_idx ON {s}.orders (note)",
];
const UNDO: &str = "DROP INDEX {s}.orders_note_idx; ALTER TABLE {s}.orders DROP COLUMN note";

fn request(i: usize) -> NewTenant {
    NewTenant {
        name: format!("Bench {i}"),
        domain: format!("m{i:05}.bench.example.com"),
        template: "bench".into(),
        connection_limit: 5,
        statement_timeout: None,
        storage_quota_bytes: None,
        settings: serde_json::json!({}),
    }
}

/// `sql` (with `{s}` for the quoted schema) over `WORKERS` raw connections,
/// one transaction per schema; the wall time.
async fn raw_run(conninfo: &str, schemas: &[String], sql: &str) -> Duration {
    let mut clients = Vec::new();
    for _ in 0..WORKERS {
        let (c, conn) = tokio_postgres::connect(conninfo, NoTls)
            .await
            .expect("raw connect");
        tokio::spawn(conn);
        clients.push(c);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let schemas: Arc<Vec<String>> = Arc::new(schemas.to_vec());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in clients {
        let (next, schemas, sql) = (next.clone(), schemas.clone(), sql.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(s) = schemas.get(i) else { break };
                let body = sql.replace("{s}", &quote_ident(s));
                c.batch_execute(&format!("BEGIN; {body}; COMMIT"))
                    .await
                    .expect("raw DDL");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    start.elapsed()
}

/// [`raw_run`] with a new session for every schema: what a login per
/// tenant costs on its own.
async fn fresh_run(conninfo: &str, schemas: &[String], sql: &str) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let schemas: Arc<Vec<String>> = Arc::new(schemas.to_vec());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let (next, schemas, sql, conninfo) = (
            next.clone(),
            schemas.clone(),
            sql.to_string(),
            conninfo.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(s) = schemas.get(i) else { break };
                let (c, conn) = tokio_postgres::connect(&conninfo, NoTls)
                    .await
                    .expect("raw connect");
                let task = tokio::spawn(conn);
                let body = sql.replace("{s}", &quote_ident(s));
                c.batch_execute(&format!("BEGIN; {body}; COMMIT"))
                    .await
                    .expect("raw DDL");
                drop(c);
                let _ = task.await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    start.elapsed()
}

/// The statements that took the most server time since the reset, with
/// their calls and mean.
async fn print_statements(c: &tokio_postgres::Client) {
    let rows = c
        .query(
            // Statements that differ only in the names they quote (each
            // tenant's DDL, each worker's moves) counted as one.
            "SELECT sum(calls)::int8, sum(total_exec_time), q
             FROM (SELECT calls, total_exec_time,
                          left(regexp_replace(regexp_replace(query, '\"[^\"]*\"', '\"…\"', 'g'), '\\s+', ' ', 'g'), 110) AS q
                   FROM pg_stat_statements) s
             GROUP BY q ORDER BY 2 DESC LIMIT 24",
            &[],
        )
        .await
        .expect("pg_stat_statements");
    println!(
        "{:>7} {:>9} {:>8}  statement",
        "calls", "total ms", "mean ms"
    );
    for r in rows {
        let (calls, total, q): (i64, f64, String) = (r.get(0), r.get(1), r.get(2));
        #[allow(clippy::cast_precision_loss, reason = "a mean for people to read")]
        let mean = total / calls.max(1) as f64;
        println!("{calls:>7} {total:>9.1} {mean:>8.3}  {q}");
    }
}

#[allow(
    clippy::many_single_char_names,
    reason = "a bench scenario: n tenants, o options, t template, p plan, s summary"
)]
fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("migrate bench: run it with `cargo bench --bench migrate`");
        return;
    }
    let n: usize = std::env::var("TENANTCTL_BENCH_MIGRATE_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // `RUST_LOG=tenantctl=debug` shows each tenant's phases.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    // pg_stat_statements tracks top-level statements, its default and what
    // managed servers run (the test clusters track nested ones too, which
    // costs every statement inside the ledger function); nested ones only
    // when their figures are asked for.
    let statements = std::env::var_os("TENANTCTL_BENCH_STATEMENTS").is_some();
    let track = if statements { "all" } else { "top" };
    let cluster = LocalCluster::start_with(tenantctl::local_cluster::Options {
        keep_dir: None,
        settings: vec![("pg_stat_statements.track".into(), track.into())],
    })
    .expect("local cluster");
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
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("bench.json"), template().to_string()).expect("template");
        let mut o = ProvisionOptions::from_config(&config);
        o.template_dir = Lookup::from(dir.path().to_path_buf());
        o.actor = "bench@local".into();
        let t = tenantctl::template_files::load(&o.template_dir, "bench").expect("load");

        let built = Instant::now();
        let schemas: Vec<String> = futures::stream::iter(0..n)
            .map(|i| {
                let (db, o) = (&db, &o);
                async move {
                    provision::create_tenant_at(db, o, &request(i), Some(1), &|_| {})
                        .await
                        .expect("create")
                        .schema_name
                }
            })
            .buffer_unordered(WORKERS)
            .collect()
            .await;
        let c = db.client().await.expect("client");
        c.batch_execute("VACUUM ANALYZE").await.expect("vacuum");
        let built = built.elapsed();

        let mut opts = ApplyOptions::new("bench@local".into());
        opts.canary = Canary::Count(0);
        opts.parallel = WORKERS;
        opts.timescaledb = config.provisioning.timescaledb;

        // The floor, then undone (untimed) so the real run starts from v1.
        let cpu = Cpu::now();
        let floor = raw_run(&conninfo, &schemas, &STEPS.join("; ")).await;
        let floor_cpu = cpu.since();
        raw_run(&conninfo, &schemas, UNDO).await;
        let fresh = fresh_run(&conninfo, &schemas, &STEPS.join("; ")).await;
        raw_run(&conninfo, &schemas, UNDO).await;

        // `TENANTCTL_BENCH_STATEMENTS=1`: where the server's time went
        // during plan + apply (pg_stat_statements, top statements).
        if statements {
            c.batch_execute(
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()",
            )
            .await
            .expect("pg_stat_statements");
        }
        let cpu = Cpu::now();
        let step = Instant::now();
        let p = fleet::plan(&db, &t, opts.timescaledb, &PlanRequest::default())
            .await
            .expect("plan");
        assert_eq!(p.totals.migrate, n, "every tenant is behind");
        let planned = step.elapsed();
        let s = fleet::apply(
            &db,
            &t,
            &p,
            &opts,
            Arc::new(AtomicBool::new(false)),
            Arc::new(|_| {}),
        )
        .await
        .expect("apply");
        let step = step.elapsed();
        let step_cpu = cpu.since();
        assert_eq!((s.done, s.failed), (n, 0), "{s:?}");

        if statements {
            print_statements(&c).await;
        }

        // Everyone current: plan and apply in-process, then the whole process.
        let noop = Instant::now();
        let p = fleet::plan(&db, &t, opts.timescaledb, &PlanRequest::default())
            .await
            .expect("plan");
        assert_eq!(p.totals.current, n);
        let s = fleet::apply(
            &db,
            &t,
            &p,
            &opts,
            Arc::new(AtomicBool::new(false)),
            Arc::new(|_| {}),
        )
        .await
        .expect("no-op apply");
        let noop = noop.elapsed();
        assert_eq!(s.done, 0);
        let bin = env!("CARGO_BIN_EXE_tenantctl");
        let proc_start = Instant::now();
        let out = std::process::Command::new(bin)
            .args([
                "--database-url",
                &conninfo,
                "--template-dir",
                &dir.path().display().to_string(),
                "migrate",
                "apply",
                "--template",
                "bench",
                "--json",
            ])
            .output()
            .expect("run tenantctl");
        let noop_proc = proc_start.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let ratio = step.as_secs_f64() / floor.as_secs_f64();
        #[allow(clippy::cast_precision_loss, reason = "rates for people to read")]
        let (rate, floor_rate) = (
            n as f64 / step.as_secs_f64(),
            n as f64 / floor.as_secs_f64(),
        );
        println!();
        println!(
            "fleet migration, {n} tenants (built in {:.1} s through create), {WORKERS} at a time",
            built.as_secs_f64()
        );
        println!("{:<44} {:>9} {:>11}", "run", "seconds", "tenants/s");
        println!(
            "{:<44} {:>9.2} {:>11.1}",
            "floor: same DDL, 4 raw connections",
            floor.as_secs_f64(),
            floor_rate
        );
        #[allow(clippy::cast_precision_loss, reason = "a rate for people to read")]
        let fresh_rate = n as f64 / fresh.as_secs_f64();
        println!(
            "{:<44} {:>9.2} {:>11.1}",
            "same DDL, a new session per schema",
            fresh.as_secs_f64(),
            fresh_rate
        );
        println!(
            "{:<44} {:>9.2} {:>11.1}",
            "migrate plan + apply, one step",
            step.as_secs_f64(),
            rate
        );
        println!(
            "{:<44} {:>9.2}",
            "  of which the plan (drift of every tenant)",
            planned.as_secs_f64()
        );
        println!(
            "{:<44} {:>9.2}",
            "no-op plan + apply (in-process)",
            noop.as_secs_f64()
        );
        println!(
            "{:<44} {:>9.2}",
            "no-op `tenantctl migrate apply` (process)",
            noop_proc.as_secs_f64()
        );
        println!();
        // On 2 cores a run that keeps both busy is bound by CPU, not by
        // round trips: its cost is the CPU it burns.
        println!(
            "CPU (whole machine, of which this driver process), core-seconds: floor {:.2} ({:.2}), plan + apply {:.2} ({:.2}); per tenant {:.2} ms and {:.2} ms",
            floor_cpu.0,
            floor_cpu.1,
            step_cpu.0,
            step_cpu.1,
            floor_cpu.0 * 1000.0 / n as f64,
            step_cpu.0 * 1000.0 / n as f64,
        );
        println!();
        println!(
            "one-step ratio (apply / floor): {ratio:.2}x (target <= 1.50x) {}",
            if ratio <= 1.5 { "ok" } else { "MISSED" }
        );
        println!(
            "one-step ratio (apply / a new session per schema): {:.2}x",
            step.as_secs_f64() / fresh.as_secs_f64()
        );
        let worst = noop.max(noop_proc).as_secs_f64();
        println!(
            "no-op apply: {worst:.2} s (target <= 2 s) {}",
            if worst <= 2.0 { "ok" } else { "MISSED" }
        );
    });
}
