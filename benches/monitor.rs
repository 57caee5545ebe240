//! Monitoring at scale: 1,000, 10,000 (and 50,000 when asked) tenants (role,
//! schema, 4 tables and their indexes each) on a throwaway local cluster.
//!
//! For each size, in the same run: the fast tick (wall time of both lanes),
//! each lane's query beside its **floor** (the cheapest query reading the
//! same catalog or statistics rows: one `pg_class` scan grouped by
//! `relnamespace`, the same `pg_stat_get_*` calls over every relation,
//! `pg_stat_activity` grouped by user, `pg_stat_statements(false)` grouped
//! by user) and their ratio; the drift check and the database size beside a
//! `pg_class` scan; an exact-size chunk (25 tenants); `tenantctl top` and
//! `health` as whole processes; the original per-tenant approach (three
//! queries per tenant) at 1,000; the store's bytes per tenant.
//!
//! Targets: fast tick <= 1.5x the sum of the fast lanes' floors at every
//! size, <= 1 s at 10,000 and <= 4 s at 50,000.
//!
//! With TimescaleDB preloaded (`TENANTCTL_PG_PRELOAD=timescaledb`), a
//! second scenario in a database of its own: tenants whose `trades` and
//! `market_data` are hypertables with chunks (`MONITOR_BENCH_HYPERTABLES`
//! tenants, default 1,000; `MONITOR_BENCH_CHUNK_DAYS` one-day chunks per
//! hypertable, default 10), each lane beside the same floors (the chunks
//! are relations of `pg_class` like any other).
//!
//! `cargo bench --bench monitor` (`MONITOR_BENCH_TENANTS=1000,10000,50000`
//! to change the sizes; `MONITOR_BENCH_KEEP=DIR` keeps the cluster there).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use tenantctl::backend::collector::{Collector, Readings};
use tenantctl::config::{Config, Dur, MonitoringConfig, Thresholds};
use tenantctl::db::Db;
use tenantctl::db::metrics::{StatementsSource, detect_statements};
use tenantctl::domain::metrics::MonitoredTenant;
use tenantctl::local_cluster::LocalCluster;

use support::{create_tenants, create_tenants_with};

/// The per-tenant approach is timed up to this many tenants (it is minutes
/// beyond).
const PER_TENANT_UPTO: usize = 1000;
const RUNS: usize = 5;

/// The original service's sweep: three queries per tenant.
async fn per_tenant(db: &Db, list: &[MonitoredTenant]) -> Duration {
    let client = db.client().await.expect("client");
    let start = Instant::now();
    for t in list {
        client
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)), 0)::int8
                 FROM pg_tables WHERE schemaname = $1",
                &[&t.schema_name],
            )
            .await
            .expect("size");
        client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE '%' || $1 || '%'",
                &[&t.schema_name],
            )
            .await
            .expect("activity");
        client
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
                &[&t.schema_name],
            )
            .await
            .expect("count");
    }
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The floors: for each lane (by its label), the cheapest query over the
/// same rows.
fn floor_sql(statements: &StatementsSource) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (
            "sessions",
            "SELECT usename, count(*) FROM pg_stat_activity GROUP BY usename".to_string(),
        ),
        (
            "sizes",
            "SELECT relnamespace, sum(relpages::int8) FROM pg_class GROUP BY relnamespace"
                .to_string(),
        ),
        (
            "totals",
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
                .to_string(),
        ),
        (
            "table statistics",
            "SELECT relnamespace,
                    sum(pg_stat_get_tuples_inserted(oid) + pg_stat_get_tuples_updated(oid)
                        + pg_stat_get_tuples_deleted(oid)),
                    sum(pg_stat_get_numscans(oid)), sum(pg_stat_get_dead_tuples(oid))
             FROM pg_class GROUP BY relnamespace"
                .to_string(),
        ),
        (
            "drift",
            "SELECT relnamespace, count(*) FROM pg_class GROUP BY relnamespace".to_string(),
        ),
        (
            "database size",
            "SELECT sum(relpages::int8) FROM pg_class".to_string(),
        ),
    ];
    if let StatementsSource::Available { schema, .. } = statements {
        out.push((
            "statements",
            format!(
                "SELECT userid, sum(calls) FROM \"{}\".pg_stat_statements(false) GROUP BY userid",
                schema.replace('"', "\"\"")
            ),
        ));
    }
    out
}

const FAST: [&str; 5] = [
    "sessions",
    "sizes",
    "totals",
    "table statistics",
    "statements",
];

struct Line {
    tenants: usize,
    /// TimescaleDB chunks, in the hypertable scenario.
    chunks: Option<i64>,
    relations: i64,
    create: Duration,
    fast_wall: Duration,
    /// (lane, its time, its floor)
    lanes: Vec<(&'static str, Duration, Option<Duration>)>,
    chunk: Duration,
    pg_database_size: Duration,
    top: Duration,
    health: Duration,
    per_tenant: Option<Duration>,
    store_bytes: usize,
}

/// One tick by hand, so each lane's own time is at hand.
async fn tick(
    col: &mut Collector,
    db: &Db,
    targets: &std::sync::Arc<Vec<MonitoredTenant>>,
) -> Readings {
    let plan = col.monitor.plan(targets);
    col.sampler.sample(db, &plan).await
}

fn run_cli(exe: &Path, config: &Path, url: &str, args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = std::process::Command::new(exe)
        .arg("--config")
        .arg(config)
        .arg("--database-url")
        .arg(url)
        .args(args)
        .output()
        .expect("run tenantctl");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "tenantctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

async fn measure(
    db: &Db,
    list: &[MonitoredTenant],
    create: Duration,
    cli: (&Path, &Path, &str),
) -> Line {
    let th = Thresholds::default();
    let client = db.client().await.expect("client");
    let relations: i64 = client
        .query_one("SELECT count(*) FROM pg_class", &[])
        .await
        .expect("count")
        .get(0);
    let statements = detect_statements(&**client).await.expect("detect");
    let floors = floor_sql(&statements);
    let targets = std::sync::Arc::new(list.to_vec());

    // Every tick checks drift and the database size (so they are timed
    // each run); the sweep is timed alone below.
    let cfg = MonitoringConfig {
        exact_sweep_budget: Dur(Duration::ZERO),
        query_timeout: Dur(Duration::from_secs(30)),
        ..MonitoringConfig::default()
    };
    let mut col = Collector::new(&cfg, &th);
    let warm = tick(&mut col, db, &targets).await;
    let snap = col.monitor.fold(warm, chrono::Utc::now()).expect("warm-up");
    assert_eq!(snap.tenants.len(), list.len());
    assert!(snap.stale.is_empty(), "{:?}", snap.stale);
    assert!(
        snap.tenants.values().all(|m| m.drift.is_empty()),
        "template names match"
    );
    let mut walls = Vec::new();
    let mut lane_runs: Vec<(&'static str, Vec<Duration>)> = Vec::new();
    let mut floor_runs: Vec<(&'static str, Vec<Duration>)> =
        floors.iter().map(|(n, _)| (*n, Vec::new())).collect();
    let push = |v: &mut Vec<(&'static str, Vec<Duration>)>, n: &'static str, d: Duration| match v
        .iter_mut()
        .find(|(k, _)| *k == n)
    {
        Some((_, x)) => x.push(d),
        None => v.push((n, vec![d])),
    };
    for _ in 0..RUNS {
        // A new monitor each run, so drift is checked every time.
        col.monitor = tenantctl::backend::collector::Monitor::new(&cfg, &th);
        let r = tick(&mut col, db, &targets).await;
        walls.push(r.fast_wall);
        push(&mut lane_runs, "sessions", r.sessions.took);
        push(&mut lane_runs, "sizes", r.sizes.took);
        push(&mut lane_runs, "totals", r.totals.took);
        push(&mut lane_runs, "table statistics", r.tables.took);
        push(&mut lane_runs, "statements", r.statements.took);
        if let Some(d) = &r.drift {
            assert!(d.value.is_ok(), "drift: {:?}", d.value);
            push(&mut lane_runs, "drift", d.took);
        }
        if let Some(d) = &r.database_size {
            assert!(d.value.is_ok(), "database size: {:?}", d.value);
            push(&mut lane_runs, "database size", d.took);
        }
        col.monitor.fold(r, chrono::Utc::now()).expect("tick");
        for (name, sql) in &floors {
            let t = Instant::now();
            client.query(sql.as_str(), &[]).await.expect("floor");
            push(&mut floor_runs, name, t.elapsed());
        }
    }
    let floor_of = |n: &str| {
        floor_runs
            .iter()
            .find(|(k, v)| *k == n && !v.is_empty())
            .map(|(_, v)| median(v.clone()))
    };
    let lanes = lane_runs
        .into_iter()
        .map(|(n, v)| (n, median(v), floor_of(n)))
        .collect();
    let store_bytes = col.monitor.store().bytes_per_tenant();

    let t = Instant::now();
    client
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await
        .expect("pg_database_size");
    let pg_database_size = t.elapsed();

    // One exact-size chunk (the sweep measures 25 tenants per query).
    let sweep_cfg = MonitoringConfig {
        exact_sweep_budget: Dur(Duration::from_secs(60)),
        exact_sweep_batch: 25,
        query_timeout: Dur(Duration::from_secs(30)),
        ..MonitoringConfig::default()
    };
    let mut col = Collector::new(&sweep_cfg, &th);
    col.tick_shared(db, &targets).await.expect("tick");
    let chunk = col.monitor.last_tick_stats().sweep_wall;
    assert_eq!(col.monitor.exact_coverage().0, 25.min(list.len()));

    let (exe, config, url) = cli;
    let top = run_cli(exe, config, url, &["top", "--limit", "10", "--json"]);
    let health = run_cli(exe, config, url, &["health", "--json"]);
    let per_tenant = if list.len() <= PER_TENANT_UPTO {
        Some(per_tenant(db, list).await)
    } else {
        None
    };
    Line {
        tenants: list.len(),
        chunks: None,
        relations,
        create,
        fast_wall: median(walls),
        lanes,
        chunk,
        pg_database_size,
        top,
        health,
        per_tenant,
        store_bytes,
    }
}

fn main() {
    let full = support::start();
    let default_sizes = if full { vec![1000, 10_000] } else { vec![20] };
    let sizes: Vec<usize> = std::env::var("MONITOR_BENCH_TENANTS")
        .ok()
        .map_or(default_sizes, |s| {
            s.split(',').filter_map(|x| x.trim().parse().ok()).collect()
        });
    // `MONITOR_BENCH_KEEP=DIR` keeps the cluster's data directory there, to
    // look at the plans afterwards (`tenantctl local-cluster --keep DIR`).
    let cluster = LocalCluster::start_with(tenantctl::local_cluster::Options {
        keep_dir: std::env::var_os("MONITOR_BENCH_KEEP").map(std::path::PathBuf::from),
        settings: vec![("max_locks_per_transaction".into(), "1024".into())],
    })
    .expect("local cluster");
    let dbname = cluster.create_database().expect("database");
    let url = cluster.conninfo(&dbname);
    let config = Config::for_url(&url);
    // `top` and `health` as a user runs them: the release binary, the
    // shipped templates, the default 2 s between top's two samples.
    let dir = tempfile::tempdir().expect("temporary directory");
    let cfg_path = dir.path().join("config.toml");
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    std::fs::write(
        &cfg_path,
        format!(
            "[monitoring]\nquery_timeout = \"30s\"\n\n[provisioning]\ntemplate_dir = {}\n",
            toml::Value::String(templates.display().to_string())
        ),
    )
    .expect("config");
    let exe = Path::new(env!("CARGO_BIN_EXE_tenantctl"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let lines = rt.block_on(async {
        let db = Db::connect(&config).await.expect("connect");
        tenantctl::db::migrate::init(&db).await.expect("init");
        let mut list = Vec::new();
        let mut lines = Vec::new();
        for n in sizes {
            let create = create_tenants(&db, &mut list, n).await;
            eprintln!("created {n} tenants in {:.1} s", create.as_secs_f64());
            let line = measure(&db, &list, create, (exe, &cfg_path, &url)).await;
            eprintln!("measured {n} tenants");
            lines.push(line);
        }
        if let Some(line) = hypertables(&cluster, full, (exe, &cfg_path)).await {
            lines.push(line);
        }
        lines
    });

    println!();
    println!("monitoring benchmark (PostgreSQL local cluster, medians of {RUNS} runs)");
    for l in &lines {
        println!();
        match l.chunks {
            Some(chunks) => println!(
                "{} tenants with hypertables, {chunks} chunks, {} relations (created in {:.1} s)",
                l.tenants,
                l.relations,
                l.create.as_secs_f64()
            ),
            None => println!(
                "{} tenants, {} relations (created in {:.1} s)",
                l.tenants,
                l.relations,
                l.create.as_secs_f64()
            ),
        }
        println!(
            "  {:<18} {:>10} {:>10} {:>7}",
            "lane", "time", "floor", "ratio"
        );
        let mut floor_sum = Duration::ZERO;
        for (n, d, f) in &l.lanes {
            if FAST.contains(n) {
                floor_sum += f.unwrap_or(Duration::ZERO);
            }
            match f {
                Some(f) => println!(
                    "  {:<18} {:>7.1} ms {:>7.1} ms {:>6.2}x",
                    n,
                    ms(*d),
                    ms(*f),
                    d.as_secs_f64() / f.as_secs_f64().max(1e-6)
                ),
                None => println!("  {:<18} {:>7.1} ms {:>10} {:>7}", n, ms(*d), "-", "-"),
            }
        }
        let ratio = l.fast_wall.as_secs_f64() / floor_sum.as_secs_f64().max(1e-6);
        println!(
            "  fast tick {:.1} ms, sum of its lanes' floors {:.1} ms: {ratio:.2}x (target <= 1.5x) {}",
            ms(l.fast_wall),
            ms(floor_sum),
            if ratio <= 1.5 { "ok" } else { "MISSED" }
        );
        let limit = match l.tenants {
            10_000 => Some(1000.0),
            50_000 => Some(4000.0),
            _ => None,
        };
        if let Some(limit) = limit {
            println!(
                "  fast tick {:.1} ms (target <= {limit:.0} ms) {}",
                ms(l.fast_wall),
                if ms(l.fast_wall) <= limit {
                    "ok"
                } else {
                    "MISSED"
                }
            );
        }
        println!(
            "  pg_database_size {:.1} ms (the collector reads the catalog above {} relations)",
            ms(l.pg_database_size),
            tenantctl::db::metrics::CATALOG_SIZE_ABOVE
        );
        println!(
            "  exact sizes, one chunk of 25 tenants: {:.1} ms",
            ms(l.chunk)
        );
        println!(
            "  tenantctl top (two samples 2 s apart): {:.2} s; tenantctl health: {:.2} s (whole processes)",
            l.top.as_secs_f64(),
            l.health.as_secs_f64()
        );
        if let Some(p) = l.per_tenant {
            println!(
                "  per-tenant approach (3 queries per tenant): {:.1} s, {:.0}x the fast tick",
                p.as_secs_f64(),
                p.as_secs_f64() / l.fast_wall.as_secs_f64()
            );
        }
        println!(
            "  store bound per tenant (450 points, 5 series): {} B",
            l.store_bytes
        );
    }
}

/// The hypertable scenario, where TimescaleDB is preloaded: a database of
/// its own with the extension, tenants with chunks, measured as above.
async fn hypertables(cluster: &LocalCluster, full: bool, cli: (&Path, &Path)) -> Option<Line> {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(d)
    };
    let tenants = env("MONITOR_BENCH_HYPERTABLES", if full { 1000 } else { 5 });
    let days = env("MONITOR_BENCH_CHUNK_DAYS", if full { 10 } else { 2 }).max(1);
    if tenants == 0 {
        return None;
    }
    let dbname = cluster.create_database().expect("database");
    let url = cluster.conninfo(&dbname);
    let config = Config::for_url(&url);
    let db = Db::connect(&config).await.expect("connect");
    let c = db.client().await.expect("client");
    let preloaded: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
                    AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'",
            &[],
        )
        .await
        .expect("preloaded")
        .get(0);
    if !preloaded {
        eprintln!(
            "hypertable scenario skipped: TimescaleDB is not preloaded (TENANTCTL_PG_PRELOAD=timescaledb)"
        );
        return None;
    }
    c.batch_execute(
        "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS timescaledb",
    )
    .await
    .expect("create extension");
    tenantctl::db::migrate::init(&db).await.expect("init");
    let mut list = Vec::new();
    let create = create_tenants_with(&db, &mut list, tenants, days).await;
    let chunks: i64 = c
        .query_one("SELECT count(*) FROM _timescaledb_catalog.chunk", &[])
        .await
        .expect("chunks")
        .get(0);
    eprintln!(
        "created {tenants} tenants with {chunks} chunks in {:.1} s",
        create.as_secs_f64()
    );
    let mut line = measure(&db, &list, create, (cli.0, cli.1, &url)).await;
    line.chunks = Some(chunks);
    Some(line)
}
