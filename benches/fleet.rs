//! A fleet of clusters under `--cluster all` (issue 17): three throwaway
//! local clusters of 2,000 tenants each (bulk-created by SQL, as the
//! monitor bench does), sampled by [`Fleet`] as `top`, `health` and `list`
//! sample them: one task per cluster.
//!
//! In the same run: each cluster's tick alone (a fleet of that one
//! cluster), then the fleet's tick over all three at once; the fleet's tick
//! beside the slowest single cluster's (target: <= 1.2x), and beside the
//! same clusters sampled at once by independent one-cluster fleets.
//!
//! The three clusters share this machine's cores, as a fleet's clusters
//! never do (each is a server of its own): the ratio here is an upper
//! bound of what the fleet's own machinery costs.
//!
//! `cargo bench --bench fleet` (`TENANTCTL_BENCH_FLEET_TENANTS=N` per
//! cluster, `TENANTCTL_BENCH_FLEET_CLUSTERS=K` clusters).

mod support;

use std::time::Duration;

use tenantctl::backend::fleet::{ClusterReport, ClusterSample, Fleet};
use tenantctl::config::Config;
use tenantctl::db::Db;
use tenantctl::local_cluster::LocalCluster;

const RUNS: usize = 7;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn check(reports: &[ClusterReport<ClusterSample>], tenants: usize) {
    for r in reports {
        match &r.result {
            Ok(s) => assert_eq!(
                s.snapshot.tenants.len(),
                tenants,
                "cluster {} sampled every tenant",
                r.cluster
            ),
            Err(e) => panic!("cluster {}: {}", r.cluster, e.message),
        }
    }
}

/// A warm-up round (connect, read the tenant list, first samples), then
/// [`RUNS`] rounds: their median wall time.
async fn ticks(fleet: &Fleet, tenants: usize) -> Duration {
    let (first, _) = fleet.tick().await;
    check(&first, tenants);
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let (reports, took) = fleet.tick().await;
        check(&reports, tenants);
        times.push(took);
    }
    median(times)
}

fn main() {
    let full = support::start();
    let n = env_usize(
        "TENANTCTL_BENCH_FLEET_TENANTS",
        if full { 2000 } else { 20 },
    );
    let k = env_usize("TENANTCTL_BENCH_FLEET_CLUSTERS", 3).max(1);
    let clusters: Vec<LocalCluster> = (0..k)
        .map(|_| LocalCluster::start().expect("local cluster"))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut members = Vec::new();
        let mut built = Duration::ZERO;
        for (i, c) in clusters.iter().enumerate() {
            let dbname = c.create_database().expect("database");
            let mut config = Config::for_url(&c.conninfo(&dbname));
            config.cluster_name = format!("c{i}");
            let db = Db::connect(&config).await.expect("connect");
            tenantctl::db::migrate::init(&db).await.expect("init");
            let mut list = Vec::new();
            built += support::create_tenants(&db, &mut list, n).await;
            members.push(config);
        }
        let deadline = Duration::from_secs(120);
        let mut alone = Vec::new();
        for m in &members {
            let one = Fleet::new(vec![m.clone()], deadline);
            alone.push((m.cluster_name.clone(), ticks(&one, n).await));
        }
        // The same clusters sampled at once by independent one-cluster
        // fleets, in lock step: what sharing this machine's cores costs,
        // without the fleet's own machinery.
        let singles: Vec<Fleet> = members
            .iter()
            .map(|m| Fleet::new(vec![m.clone()], deadline))
            .collect();
        futures::future::join_all(singles.iter().map(Fleet::tick)).await;
        let mut shared = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let start = std::time::Instant::now();
            let rounds = futures::future::join_all(singles.iter().map(Fleet::tick)).await;
            shared.push(start.elapsed());
            for (reports, _) in &rounds {
                check(reports, n);
            }
        }
        let shared = median(shared);
        let fleet = Fleet::new(members.clone(), deadline);
        let together = ticks(&fleet, n).await;
        let slowest = alone.iter().map(|a| a.1).max().unwrap_or_default();
        let ratio = together.as_secs_f64() / slowest.as_secs_f64().max(1e-9);
        println!();
        println!(
            "--cluster all: {k} local clusters of {n} tenants each (built in {:.1} s), median of {RUNS} ticks",
            built.as_secs_f64()
        );
        println!("{:<40} {:>10}", "tick", "ms");
        for (name, d) in &alone {
            println!(
                "{:<40} {:>10.1}",
                format!("cluster {name} alone"),
                d.as_secs_f64() * 1e3
            );
        }
        println!(
            "{:<40} {:>10.1}",
            format!("{k} one-cluster fleets at once"),
            shared.as_secs_f64() * 1e3
        );
        println!(
            "{:<40} {:>10.1}",
            format!("the fleet, all {k} at once"),
            together.as_secs_f64() * 1e3
        );
        println!();
        println!(
            "fleet tick / slowest single cluster: {ratio:.2}x (target <= 1.20x) {}",
            if ratio <= 1.2 { "ok" } else { "MISSED" }
        );
        println!(
            "fleet tick / {k} one-cluster fleets at once (the cores shared, no fleet): {:.2}x",
            together.as_secs_f64() / shared.as_secs_f64().max(1e-9)
        );
    });
}
