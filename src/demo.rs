//! `tenantctl demo`: a throwaway platform under live load.
//!
//! Starts a local cluster, installs the control schema, creates tenants
//! through the real create path, fills them with skewed amounts of realistic
//! data, then runs a bounded synthetic workload as the tenant roles while the
//! console (or a headless timer) runs. A few tenants are set up to trip the
//! health rules: one near its storage quota, one with a long-running
//! statement, one idle in transaction.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::task::JoinSet;

use crate::backend::collector::Collector;
use crate::config::{Config, Dur};
use crate::db::{self, Db};
use crate::domain::metrics::{Alert, MonitoredTenant, Snapshot};
use crate::domain::tenant::{NewTenant, Tenant, TenantStatus};
use crate::error::{Error, Result};
use crate::local_cluster::{LocalCluster, Options};

/// How hard the synthetic workload pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Load {
    Light,
    Heavy,
}

impl Load {
    /// (worker connections, operations per second cap across all workers)
    fn shape(self) -> (usize, u32) {
        match self {
            Load::Light => (4, 80),
            Load::Heavy => (8, 400),
        }
    }
}

/// What the demo was asked to do.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub tenants: usize,
    pub load: Load,
    pub keep: Option<PathBuf>,
    pub seed: u64,
}

const FIRST: &[&str] = &[
    "Acme",
    "Blue Harbor",
    "Northwind",
    "Granite",
    "Silver Birch",
    "Redwood",
    "Cobalt",
    "Meridian",
    "Aurora",
    "Summit",
    "Harbor Light",
    "Ironbridge",
    "Kestrel",
    "Lumen",
    "Maple Leaf",
    "Orion",
    "Pinecrest",
    "Quartz",
    "Riverstone",
    "Saffron",
    "Tidewater",
    "Union Square",
    "Vantage",
    "Westgate",
    "Yellowstone",
    "Zephyr",
];
const SECOND: &[&str] = &[
    "Capital",
    "Trading",
    "Asset Management",
    "Partners",
    "Securities",
    "Investments",
    "Advisors",
    "Markets",
    "Wealth",
    "Holdings",
    "Quant",
    "Fund",
];

/// A name and domain for the `i`-th demo tenant.
pub fn demo_identity(i: usize) -> (String, String) {
    let a = FIRST[i % FIRST.len()];
    let b = SECOND[(i / FIRST.len()) % SECOND.len()];
    let round = i / (FIRST.len() * SECOND.len());
    let name = if round == 0 {
        format!("{a} {b}")
    } else {
        format!("{a} {b} {}", round + 1)
    };
    let slug: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    (name, format!("{slug}.demo.example"))
}

/// The running demo platform: cluster, config and workload.
pub struct Demo {
    pub cluster: LocalCluster,
    pub config: Config,
    pub db: Db,
    pub tenants: Vec<Tenant>,
    stop: Arc<AtomicBool>,
    workers: JoinSet<()>,
    pub ops: Arc<AtomicU64>,
}

/// Thresholds tightened so every rule shows within the first minute.
fn demo_config(cluster: &LocalCluster, dbname: &str) -> Config {
    let mut config = Config::for_url(&cluster.conninfo(dbname));
    config.cluster_name = "demo".to_string();
    config.thresholds.long_running = Dur(Duration::from_secs(5));
    config.thresholds.idle_in_transaction = Dur(Duration::from_secs(5));
    config.provisioning.backup_dir = cluster.socket_dir().join("backups");
    config
}

impl Demo {
    /// Start the cluster, seed it (reporting progress), and start the workload.
    pub async fn start(
        opts: &DemoOptions,
        progress: &(dyn Fn(&str, usize, usize) + Send + Sync),
    ) -> Result<Self> {
        let keep = opts.keep.clone();
        progress("starting PostgreSQL", 0, 1);
        let cluster = tokio::task::spawn_blocking(move || {
            LocalCluster::start_with(Options {
                keep_dir: keep,
                ..Options::default()
            })
        })
        .await
        .map_err(|e| Error::failure(format!("local cluster start failed: {e}")))??;
        let dbname = "tenantctl_demo";
        cluster.ensure_database(dbname)?;
        let config = demo_config(&cluster, dbname);
        let seeding = Db::connect(&config).await?;
        db::migrate::init(&seeding).await?;
        seed(&seeding, &config, opts, progress).await?;
        // Closing the seeding sessions flushes their statistics now, so the
        // bulk load does not show up as a burst of writes in the first ticks.
        seeding.pool.close();
        drop(seeding);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let db = Db::connect(&config).await?;
        let tenants = db::tenants::list_tenants(&db, None).await?;
        let mut demo = Demo {
            cluster,
            config,
            db,
            tenants,
            stop: Arc::new(AtomicBool::new(false)),
            workers: JoinSet::new(),
            ops: Arc::new(AtomicU64::new(0)),
        };
        demo.start_workload(opts);
        Ok(demo)
    }

    fn start_workload(&mut self, opts: &DemoOptions) {
        let mut active: Vec<Tenant> = self
            .tenants
            .iter()
            .filter(|t| t.status == TenantStatus::Active)
            .cloned()
            .collect();
        active.sort_by(|a, b| a.name.cmp(&b.name));
        if active.len() < 4 {
            return;
        }
        let (workers, cap) = opts.load.shape();
        let per_worker = Duration::from_secs_f64(
            f64::from(u32::try_from(workers).unwrap_or(1)) / f64::from(cap),
        );
        // The special tenants: 0 long-running, 1 idle in transaction; both stay out of the random mix.
        let long = active[0].clone();
        let idle = active[1].clone();
        let mix: Arc<Vec<Tenant>> = Arc::new(active[2..].to_vec());
        let cluster_host = self.cluster.socket_dir().display().to_string();
        let dbname = self.db.params.dbname.clone();
        for (tenant, kind) in [
            (long, db::seed::Hold::LongRunning),
            (idle, db::seed::Hold::IdleInTransaction),
        ] {
            let conninfo = tenant_conninfo(&cluster_host, &dbname, &tenant.role_name);
            let stop = self.stop.clone();
            self.workers.spawn(async move {
                db::seed::hold_session(&conninfo, kind, stop).await;
            });
        }
        for w in 0..workers {
            let mix = mix.clone();
            let stop = self.stop.clone();
            let op_count = self.ops.clone();
            let host = cluster_host.clone();
            let dbname = dbname.clone();
            let seed = opts.seed.wrapping_add(w as u64 * 7919);
            self.workers.spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed);
                let started = std::time::Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let t = &mix[skewed_index(&mut rng, mix.len(), started.elapsed())];
                    let conninfo = tenant_conninfo(&host, &dbname, &t.role_name);
                    let session_len = Duration::from_secs(rng.random_range(2..7));
                    if let Err(e) = db::seed::work_session(
                        &conninfo,
                        session_len,
                        per_worker,
                        &stop,
                        &op_count,
                        rng.random(),
                    )
                    .await
                    {
                        tracing::debug!("demo session ended: {e}");
                        tokio::time::sleep(per_worker).await;
                    }
                }
            });
        }
    }

    /// Stop the workload and wait for its connections to close.
    pub async fn stop_workload(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        while self.workers.join_next().await.is_some() {}
    }
}

fn tenant_conninfo(host: &str, dbname: &str, role: &str) -> String {
    format!(
        "host={host} port={} user={role} dbname={dbname} sslmode=disable application_name=demo-app",
        crate::local_cluster::PORT
    )
}

/// A skewed pick (roughly Zipf) whose favourites drift over time.
fn skewed_index(rng: &mut StdRng, n: usize, elapsed: Duration) -> usize {
    let u: f64 = rng.random_range(0.0f64..1.0);
    // Power law: small ranks are far more likely.
    let rank = ((n as f64).powf(u) - 1.0).max(0.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // reason: 0 <= rank < n
    let rank = rank as usize;
    // Drift: the ranking rotates slowly, one place every 20 s.
    let shift = usize::try_from(elapsed.as_secs() / 20).unwrap_or(0);
    (rank + shift) % n.max(1)
}

async fn seed(
    db: &Db,
    config: &Config,
    opts: &DemoOptions,
    progress: &(dyn Fn(&str, usize, usize) + Send + Sync),
) -> Result<Vec<Tenant>> {
    let existing = db::tenants::list_tenants(db, None).await?;
    let popts = Arc::new(db::provision::ProvisionOptions::from_config(config));
    let have = existing.len();
    let old_ids: std::collections::HashSet<uuid::Uuid> = existing.iter().map(|t| t.id).collect();
    let want = opts.tenants;
    let mut created: Vec<Tenant> = existing;
    let next = Arc::new(AtomicU64::new(have as u64));
    let done = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for w in 0..4u64 {
        let db = db.clone();
        let popts = popts.clone();
        let next = next.clone();
        let done = done.clone();
        set.spawn(async move {
            let mut rng = StdRng::seed_from_u64(w);
            let mut out = Vec::new();
            loop {
                let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap_or(usize::MAX);
                if i >= want {
                    break;
                }
                let (name, domain) = demo_identity(i);
                let req = NewTenant {
                    name,
                    domain,
                    template: "default".to_string(),
                    connection_limit: [5, 10, 20, 50][rng.random_range(0..4)],
                    statement_timeout: Some(Duration::from_secs(
                        [15, 30, 60][rng.random_range(0..3)],
                    )),
                    storage_quota_bytes: Some(
                        [256u64, 1024, 4096, 10240][rng.random_range(0..4)] * 1024 * 1024,
                    ),
                    settings: {
                        let tier = ["bronze", "silver", "gold"][rng.random_range(0..3)];
                        let region = ["eu-west", "us-east", "ap-south"][rng.random_range(0..3)];
                        serde_json::json!({ "tier": tier, "region": region })
                    },
                };
                let t = db::provision::create_tenant(&db, &popts, &req, &|_| {}).await?;
                out.push(t);
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, Error>(out)
        });
    }
    let total = want.saturating_sub(have);
    loop {
        tokio::select! {
            r = set.join_next() => match r {
                None => break,
                Some(Ok(Ok(v))) => created.extend(v),
                Some(Ok(Err(e))) => return Err(e.context("seeding demo tenants")),
                Some(Err(e)) => return Err(Error::failure(format!("seeding task failed: {e}"))),
            },
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                progress("creating tenants", usize::try_from(done.load(Ordering::Relaxed)).unwrap_or(0), total);
            }
        }
    }
    progress("creating tenants", total, total);
    // The same order the workload uses to pick its special tenants.
    created.sort_by(|a, b| a.name.cmp(&b.name));
    // Fill only what this run created (a kept cluster has its data already).
    let new: Vec<(usize, &Tenant)> = created
        .iter()
        .enumerate()
        .filter(|(_, t)| !old_ids.contains(&t.id))
        .collect();
    let n = new.len();
    for (k, (i, t)) in new.into_iter().enumerate() {
        {
            // Sizes spread over orders of magnitude: three whales, a few mid-size, a long tail.
            let trades = match i {
                2..=4 => 60_000,
                5..=14 => 8_000,
                _ => 200 + (i * 37) % 1_500,
            };
            db::seed::fill_tenant(db, t, trades).await?;
            progress("filling tenant data", k + 1, n);
        }
    }
    if have == 0 {
        // One tenant close to its quota.
        if let Some(t) = created.get(2) {
            let bytes = db::seed::exact_size(db, t).await?;
            let quota = bytes.saturating_mul(100) / 92;
            let popts = db::provision::ProvisionOptions::from_config(config);
            let upd = crate::domain::tenant::TenantUpdate {
                storage_quota_bytes: Some(quota),
                ..Default::default()
            };
            db::provision::update_tenant(db, &popts, t.id, &upd).await?;
        }
    }
    if n > 0 {
        db::seed::analyze(db).await?;
    }
    db::tenants::list_tenants(db, None).await
}

/// What a headless run ends with.
pub struct HeadlessResult {
    pub tenants: Vec<MonitoredTenant>,
    pub snapshot: Arc<Snapshot>,
    pub alerts: Vec<Alert>,
    pub ops: u64,
}

/// Watch the demo for `duration` with the same collector the console uses.
/// Resolves on Ctrl-C (SIGINT) or SIGTERM; never when they cannot be watched.
async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            if r.is_err() {
                std::future::pending::<()>().await;
            }
        }
        () = term => {}
    }
}

pub async fn run_headless(demo: &Demo, duration: Duration) -> Result<HeadlessResult> {
    let mut collector = Collector::new(&demo.config.monitoring, &demo.config.thresholds);
    let monitored: Vec<MonitoredTenant> =
        crate::backend::monitoring_targets(&demo.tenants, &demo.config.provisioning.template_dir)
            .to_vec();
    let end = tokio::time::Instant::now() + duration;
    // Ctrl-C or SIGTERM ends the run early, with its summary and the cleanup.
    let stop = interrupted();
    tokio::pin!(stop);
    let mut snapshot = collector.tick(&demo.db, &monitored).await?;
    while tokio::time::Instant::now() < end {
        let next = (tokio::time::Instant::now() + demo.config.monitoring.interval.0).min(end);
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = &mut stop => break,
        }
        snapshot = collector.tick(&demo.db, &monitored).await?;
    }
    Ok(HeadlessResult {
        tenants: monitored,
        snapshot,
        alerts: collector.alerts(),
        ops: demo.ops.load(Ordering::Relaxed),
    })
}
