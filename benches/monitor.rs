//! Monitoring at scale: 1,000 then 5,000 tenants (role, schema, 4 tables
//! and their indexes each) on a throwaway local cluster. Reports the fast tick
//! (wall and database time), the exact sweep's coverage time, the original
//! per-tenant approach (three queries per tenant) on the same cluster, the
//! ratios, and the store's bytes per tenant.
//!
//! `cargo bench --bench monitor` (set `MONITOR_BENCH_TENANTS=200,1000` to
//! change the sizes).

mod support;

use std::time::{Duration, Instant};

use tenantctl::backend::collector::Collector;
use tenantctl::config::{Config, Dur, MonitoringConfig, Thresholds};
use tenantctl::db::Db;
use tenantctl::domain::metrics::MonitoredTenant;
use tenantctl::local_cluster::LocalCluster;

use support::create_tenants;

/// The per-tenant approach is timed on at most this many tenants and
/// extrapolated linearly beyond.
const PER_TENANT_SAMPLE: usize = 1000;

/// The original service's sweep: three queries per tenant.
async fn per_tenant(db: &Db, list: &[MonitoredTenant]) -> (Duration, usize) {
    let client = db.client().await.expect("client");
    let sample = &list[..list.len().min(PER_TENANT_SAMPLE)];
    let start = Instant::now();
    for t in sample {
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
    (start.elapsed(), sample.len())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Line {
    tenants: usize,
    relations: i64,
    create: Duration,
    fast_wall: Duration,
    db_time: Duration,
    queries: Vec<(&'static str, Duration)>,
    tick_with_sweep: Duration,
    sweep_ticks: usize,
    sweep_time: Duration,
    one_pass_sweep: Duration,
    per_tenant: Duration,
    per_tenant_extrapolated: bool,
    store_bytes: usize,
    /// What the store held after the timed ticks, per tenant, and how many
    /// tenants had a ring (their points kept changing).
    store_held: usize,
    rings: usize,
    slow: Duration,
}

async fn measure(db: &Db, list: &[MonitoredTenant], create: Duration) -> Line {
    let defaults = MonitoringConfig::default();
    let th = Thresholds::default();
    let relations: i64 = db
        .client()
        .await
        .expect("client")
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'tenant\\_%'",
            &[],
        )
        .await
        .expect("count")
        .get(0);

    // Fast tick alone (no sweep), median of 7 after a warm-up.
    let fast_cfg = MonitoringConfig {
        exact_sweep_budget: Dur(Duration::ZERO),
        ..defaults.clone()
    };
    let mut col = Collector::new(&fast_cfg, &th);
    let warm = col.tick(db, list).await.expect("warm-up");
    assert!(
        warm.tenants.values().all(|m| m.drift.is_empty()),
        "template names match"
    );
    let slow = col.monitor.last_tick_stats().slow_wall;
    let mut walls = Vec::new();
    let mut dbs = Vec::new();
    let mut per_query: Vec<(&'static str, Vec<Duration>)> = Vec::new();
    for _ in 0..7 {
        let snap = col.tick(db, list).await.expect("tick");
        assert_eq!(snap.tenants.len(), list.len());
        assert!(snap.stale.is_empty(), "{:?}", snap.stale);
        let st = col.monitor.last_tick_stats();
        walls.push(st.fast_wall);
        dbs.push(st.db_time);
        for (n, d) in &st.queries {
            match per_query.iter_mut().find(|(k, _)| k == n) {
                Some((_, v)) => v.push(*d),
                None => per_query.push((n, vec![*d])),
            }
        }
    }
    let store_bytes = col.monitor.store().bytes_per_tenant();
    let store_held = col.monitor.store().bytes_total() / list.len().max(1);
    let rings = col.monitor.store().rings_held();

    // Default config: how many ticks the exact sweep needs to cover everyone.
    let mut col = Collector::new(&defaults, &th);
    let mut sweep_ticks = 0;
    let mut sweep_time = Duration::ZERO;
    let mut with_sweep = Vec::new();
    loop {
        let t = Instant::now();
        col.tick(db, list).await.expect("tick");
        with_sweep.push(t.elapsed());
        sweep_ticks += 1;
        sweep_time += col.monitor.last_tick_stats().sweep_wall;
        let (done, all) = col.monitor.exact_coverage();
        if done == all || sweep_ticks > 10_000 {
            break;
        }
    }
    // One unbounded pass: every tenant in one tick.
    let one = MonitoringConfig {
        exact_sweep_budget: Dur(Duration::from_secs(600)),
        exact_sweep_batch: list.len(),
        query_timeout: Dur(Duration::from_secs(120)),
        ..defaults.clone()
    };
    let mut col = Collector::new(&one, &th);
    col.tick(db, list).await.expect("tick");
    let one_pass_sweep = col.monitor.last_tick_stats().sweep_wall;
    assert_eq!(col.monitor.exact_coverage().0, list.len());

    let (pt, sampled) = per_tenant(db, list).await;
    let per_tenant_time = pt.mul_f64(list.len() as f64 / sampled as f64);
    Line {
        tenants: list.len(),
        relations,
        create,
        fast_wall: median(walls),
        db_time: median(dbs),
        queries: per_query.into_iter().map(|(n, v)| (n, median(v))).collect(),
        tick_with_sweep: median(with_sweep),
        sweep_ticks,
        sweep_time,
        one_pass_sweep,
        per_tenant: per_tenant_time,
        per_tenant_extrapolated: sampled < list.len(),
        store_bytes,
        store_held,
        rings,
        slow,
    }
}

fn main() {
    let full = support::start();
    let default_sizes = if full { vec![1000, 5000] } else { vec![20] };
    let sizes: Vec<usize> = std::env::var("MONITOR_BENCH_TENANTS")
        .ok()
        .map_or(default_sizes, |s| {
            s.split(',').filter_map(|x| x.trim().parse().ok()).collect()
        });
    let cluster = LocalCluster::start_with(tenantctl::local_cluster::Options {
        keep_dir: None,
        settings: vec![("max_locks_per_transaction".into(), "1024".into())],
    })
    .expect("local cluster");
    let dbname = cluster.create_database().expect("database");
    let config = Config::for_url(&cluster.conninfo(&dbname));
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
            let line = measure(&db, &list, create).await;
            eprintln!("measured {n} tenants");
            lines.push(line);
        }
        lines
    });

    let interval = MonitoringConfig::default().interval.0;
    println!();
    println!("monitoring benchmark (2 s tick, 15 min history; PostgreSQL local cluster)");
    println!(
        "{:>8} {:>9} {:>11} {:>11} {:>11} {:>13} {:>17} {:>12} {:>13} {:>9} {:>10}",
        "tenants",
        "relations",
        "fast tick",
        "db/tick",
        "tick+sweep",
        "sweep ticks",
        "sweep cover",
        "1-pass sweep",
        "per-tenant",
        "speedup",
        "store/tnt"
    );
    for l in &lines {
        let speedup = l.per_tenant.as_secs_f64() / l.fast_wall.as_secs_f64();
        let cover = interval * u32::try_from(l.sweep_ticks).unwrap_or(u32::MAX);
        println!(
            "{:>8} {:>9} {:>8.1} ms {:>8.1} ms {:>8.1} ms {:>13} {:>6.0} s ({:>5.0} ms) {:>9.0} ms {:>10.1} s{} {:>8.0}x {:>8} B",
            l.tenants,
            l.relations,
            ms(l.fast_wall),
            ms(l.db_time),
            ms(l.tick_with_sweep),
            l.sweep_ticks,
            cover.as_secs_f64(),
            ms(l.sweep_time),
            ms(l.one_pass_sweep),
            l.per_tenant.as_secs_f64(),
            if l.per_tenant_extrapolated { "*" } else { " " },
            speedup,
            l.store_bytes,
        );
    }
    println!();
    for l in &lines {
        let parts: Vec<String> = l
            .queries
            .iter()
            .map(|(n, d)| format!("{n} {:.1} ms", ms(*d)))
            .collect();
        println!(
            "{} tenants: created in {:.1} s; per query (median): {}; every 15th tick, drift check + database size: {:.1} ms",
            l.tenants,
            l.create.as_secs_f64(),
            parts.join(", "),
            ms(l.slow)
        );
    }
    println!();
    println!("targets:");
    for l in &lines {
        let (target, ok) = match l.tenants {
            1000 => (150.0, ms(l.fast_wall) <= 150.0),
            5000 => (600.0, ms(l.fast_wall) <= 600.0),
            _ => (f64::NAN, true),
        };
        if !target.is_nan() {
            println!(
                "  fast tick at {} tenants: {:.1} ms (target <= {target:.0} ms) {}",
                l.tenants,
                ms(l.fast_wall),
                if ok { "ok" } else { "MISSED" }
            );
        }
        if l.tenants == 1000 {
            let speedup = l.per_tenant.as_secs_f64() / l.fast_wall.as_secs_f64();
            println!(
                "  speedup over per-tenant at 1000: {speedup:.0}x (target >= 50x) {}",
                if speedup >= 50.0 { "ok" } else { "MISSED" }
            );
        }
    }
    if let Some(l) = lines.first() {
        println!(
            "  store per tenant (15 min at 2 s = 450 points): {} B (target <= 4096 B) {}",
            l.store_bytes,
            if l.store_bytes <= 4096 {
                "ok"
            } else {
                "MISSED"
            }
        );
        println!(
            "  (plus the current values in the last snapshot: {} B per tenant, sorted by id, shared by Arc)",
            std::mem::size_of::<tenantctl::domain::metrics::TenantMetrics>()
        );
    }
    for l in &lines {
        println!(
            "  store held at {} tenants after the timed ticks: {} B per tenant, {} rings (the bound above is every tenant with a ring)",
            l.tenants, l.store_held, l.rings
        );
    }
    println!(
        "  * per-tenant time measured on the first {PER_TENANT_SAMPLE} tenants and scaled linearly"
    );
    println!(
        "  sweep cover = ticks x {} s interval (sweep time actually spent in parentheses); 1-pass = every tenant in one unbounded query batch set",
        interval.as_secs()
    );
}
