//! The console's resident memory at scale, on the real release binary: the
//! issues' "peak RSS of the console with 10,000 tenants after 10 minutes at a
//! 2 s refresh: at most 64 MiB" and "at 50,000 tenants for 5 minutes with a
//! light write load: at most 160 MiB"
//! (`TENANTCTL_BENCH_CONSOLE_TENANTS=50000 TENANTCTL_BENCH_CONSOLE_SECS=300`).
//!
//! A throwaway local cluster gets 10,000 tenants by bulk SQL (the same shape as
//! the monitor bench) and a light write load: 4 connections, each logged in as
//! one tenant's role at a time, inserting trades a few times a second and
//! moving between tenants with a skew, so a few tenants change and most idle.
//! The bulk tenants lack the default template's four named indexes, so every
//! one of them shows schema drift (a health deduction with its reason): the
//! case of a template that gained objects, the heaviest per-tenant state.
//! `tenantctl ui` runs in a pseudo-terminal at 160x48 with `[monitoring]
//! interval = "2s"`, first against a database with no tenants (the floor,
//! 30 s), then against the 10,000 tenants once the list shows them all.
//! `VmRSS` is sampled every second from /proc, `VmHWM` (the peak) read at the
//! end; the table gives the peak, its ratio to the floor and the RSS along the
//! way, so a slow leak shows.
//!
//! `cargo bench --bench console` (10 minutes of measurement after the setup).
//! Shorter: `TENANTCTL_BENCH_CONSOLE_SECS=90`; fewer tenants:
//! `TENANTCTL_BENCH_CONSOLE_TENANTS=1000`; the floor's length:
//! `TENANTCTL_BENCH_CONSOLE_FLOOR_SECS=30`.

mod support;

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use expectrl::Session;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tenantctl::config::Config;
use tenantctl::db::Db;
use tenantctl::local_cluster::{LocalCluster, PORT};

const COLS: u16 = 160;
const ROWS: u16 = 48;
/// The targets: 64 MiB up to 10,000 tenants, 160 MiB at 50,000.
fn target_mib(tenants: usize) -> f64 {
    if tenants <= 10_000 { 64.0 } else { 160.0 }
}
/// Connections of the write load.
const WORKERS: u64 = 4;
/// Between two inserts of one connection: about 4 per second each.
const PACE: Duration = Duration::from_millis(250);
/// How long the console may take to show the whole list and a first snapshot.
const LOAD_TIMEOUT: Duration = Duration::from_secs(180);

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}=\"{v}\" is not a whole number")),
        Err(_) => default,
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A `kB` field (`VmRSS`, `VmHWM`) of /proc/PID/status.
fn proc_kib(pid: i32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The real binary in a pseudo-terminal, its output fed to a screen.
struct Console {
    session: Session,
    screen: vt100::Parser,
    pid: i32,
    log: std::path::PathBuf,
}

impl Console {
    fn spawn(conninfo: &str, dir: &Path, name: &str) -> Self {
        let log = dir.join(format!("{name}.log"));
        // `TENANTCTL_BENCH_CONSOLE_WRAP="heaptrack -o /tmp/console"` runs the
        // console under a profiler (the RSS figures are then the wrapper's).
        let wrap = std::env::var("TENANTCTL_BENCH_CONSOLE_WRAP").unwrap_or_default();
        let mut words = wrap.split_whitespace();
        let mut cmd = match words.next() {
            Some(program) => {
                let mut c = std::process::Command::new(program);
                c.args(words).arg(env!("CARGO_BIN_EXE_tenantctl"));
                c
            }
            None => std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl")),
        };
        for var in [
            "DATABASE_URL",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGPASSWORD",
            "TENANTCTL_CONFIG",
            "NO_COLOR",
            "RUST_LOG",
            "LOG_LEVEL",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("TERM", "xterm-256color")
            .env("XDG_STATE_HOME", dir)
            .env("XDG_CONFIG_HOME", dir)
            .arg("--config")
            .arg(dir.join("config.toml"))
            .arg("--log-file")
            .arg(&log)
            .arg("--database-url")
            .arg(conninfo)
            .arg("ui");
        let mut session = Session::spawn(cmd).expect("spawn tenantctl in a pty");
        session
            .get_process_mut()
            .set_window_size(COLS, ROWS)
            .expect("window size");
        let pid = session.get_process().pid().as_raw();
        Self {
            session,
            screen: vt100::Parser::new(ROWS, COLS, 0),
            pid,
            log,
        }
    }

    /// Drain the pty: a console whose output nobody reads blocks on write.
    fn pump(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.session.try_read(&mut buf) {
                Ok(n) if n > 0 => self.screen.process(&buf[..n]),
                _ => break,
            }
        }
    }

    fn text(&self) -> String {
        self.screen.screen().contents()
    }

    fn alive(&mut self) -> bool {
        self.session.is_alive().unwrap_or(false)
    }

    /// Panic with the screen and the end of the console's log.
    fn fail(&self, what: &str) -> ! {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "{what}\n--- screen ---\n{}\n--- end of {} ---\n{}",
            self.text(),
            self.log.display(),
            tail.join("\n")
        );
    }

    /// Wait until the screen shows every needle; returns how long it took.
    fn wait_for(&mut self, needles: &[&str], timeout: Duration) -> Duration {
        let start = Instant::now();
        loop {
            self.pump();
            let t = self.text();
            if needles.iter().all(|n| t.contains(n)) {
                return start.elapsed();
            }
            if !self.alive() {
                self.fail(&format!("the console exited while waiting for {needles:?}"));
            }
            if start.elapsed() > timeout {
                self.fail(&format!(
                    "the console did not show {needles:?} within {} s: it did not load the tenants, so there is nothing to measure",
                    timeout.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The snapshot latency the status bar shows, in ms.
    fn snapshot_ms(&self) -> Option<u64> {
        let t = self.text();
        let rest = &t[t.rfind(" snapshot ")? + " snapshot ".len()..];
        rest.split_whitespace().next()?.parse().ok()
    }

    fn kib(&self, field: &str) -> u64 {
        proc_kib(self.pid, field)
            .unwrap_or_else(|| self.fail(&format!("cannot read {field} of pid {}", self.pid)))
    }

    /// Sample `VmRSS` every second for `duration`, draining the pty meanwhile.
    fn sample(&mut self, duration: Duration) -> Samples {
        let start = Instant::now();
        let mut s = Samples::default();
        let mut next = start;
        loop {
            self.pump();
            let now = Instant::now();
            if now >= next {
                if !self.alive() {
                    self.fail("the console exited during the measurement");
                }
                s.rss.push((now - start, self.kib("VmRSS")));
                if let Some(ms) = self.snapshot_ms() {
                    s.latency_ms.push(ms);
                }
                if now - start >= duration {
                    break;
                }
                next += Duration::from_secs(1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        s.hwm = self.kib("VmHWM");
        s
    }

    /// `q`, then a kill if it has not exited within 10 s.
    fn quit(mut self) {
        let _ = self.session.write_all(b"q");
        let _ = self.session.flush();
        let start = Instant::now();
        while self.alive() && start.elapsed() < Duration::from_secs(10) {
            self.pump();
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.alive() {
            eprintln!("the console did not quit on `q` within 10 s: killing it");
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = self.session.get_process().wait();
        }
    }
}

#[derive(Default)]
struct Samples {
    /// (time since the start of sampling, VmRSS in KiB)
    rss: Vec<(Duration, u64)>,
    hwm: u64,
    latency_ms: Vec<u64>,
}

impl Samples {
    fn mean(&self) -> u64 {
        let n = self.rss.len().max(1) as u64;
        self.rss.iter().map(|s| s.1).sum::<u64>() / n
    }

    /// VmRSS at the first sample at or after `at`.
    fn at(&self, at: Duration) -> Option<u64> {
        self.rss.iter().find(|s| s.0 >= at).map(|s| s.1)
    }

    /// Least-squares slope of VmRSS from `from` on, in MiB per minute.
    fn trend(&self, from: Duration) -> Option<f64> {
        let pts: Vec<(f64, f64)> = self
            .rss
            .iter()
            .filter(|s| s.0 >= from)
            .map(|s| (s.0.as_secs_f64() / 60.0, mib(s.1)))
            .collect();
        if pts.len() < 10 {
            return None;
        }
        let n = pts.len() as f64;
        let (mx, my) = (
            pts.iter().map(|p| p.0).sum::<f64>() / n,
            pts.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let num: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let den: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        Some(num / den)
    }

    fn range(&self, from: Duration) -> (u64, u64) {
        let v = self.rss.iter().filter(|s| s.0 >= from).map(|s| s.1);
        (v.clone().min().unwrap_or(0), v.max().unwrap_or(0))
    }
}

/// The write load: counters shared with its tasks.
#[derive(Default)]
struct LoadStats {
    inserts: AtomicU64,
    sessions: AtomicU64,
    errors: AtomicU64,
}

/// A skewed pick (roughly Zipf: rank r about as likely as 1/r) whose
/// favourites move on by one place every 20 s.
fn skewed(rng: &mut StdRng, n: usize, elapsed: Duration) -> usize {
    let u: f64 = rng.random_range(0.0f64..1.0);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "0 <= rank < n"
    )]
    let rank = ((n as f64).powf(u) - 1.0).max(0.0) as usize;
    let shift = usize::try_from(elapsed.as_secs() / 20).unwrap_or(0);
    (rank + shift) % n.max(1)
}

/// One tenant's application session: log in as its role (trusted on the local
/// socket) and insert a trade every `PACE` for `length`.
async fn work_session(
    conninfo: &str,
    length: Duration,
    stop: &AtomicBool,
    stats: &LoadStats,
) -> Result<(), tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    stats.sessions.fetch_add(1, Ordering::Relaxed);
    // The role's search_path ("$user") finds its own schema.
    let insert = client
        .prepare(
            "INSERT INTO trades (symbol, qty, price)
             VALUES ($1, 1 + floor(random() * 100), round((20 + random() * 480)::numeric, 2))",
        )
        .await?;
    let started = Instant::now();
    let mut n = 0usize;
    while started.elapsed() < length && !stop.load(Ordering::Relaxed) {
        let sym = ["ACME", "INIT", "GLOB", "UMBR"][n % 4];
        client.execute(&insert, &[&sym]).await?;
        stats.inserts.fetch_add(1, Ordering::Relaxed);
        n += 1;
        tokio::time::sleep(PACE).await;
    }
    Ok(())
}

fn start_load(
    rt: &tokio::runtime::Runtime,
    host: &str,
    dbname: &str,
    roles: &Arc<Vec<String>>,
    stop: &Arc<AtomicBool>,
    stats: &Arc<LoadStats>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..WORKERS)
        .map(|w| {
            let (roles, stop, stats) = (roles.clone(), stop.clone(), stats.clone());
            let (host, dbname) = (host.to_string(), dbname.to_string());
            rt.spawn(async move {
                let mut rng = StdRng::seed_from_u64(0x7e7a_a7c7 + w * 7919);
                let started = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let role = &roles[skewed(&mut rng, roles.len(), started.elapsed())];
                    let conninfo = format!(
                        "host={host} port={PORT} user={role} dbname={dbname} sslmode=disable application_name=bench-load"
                    );
                    let length = Duration::from_secs(rng.random_range(2..7));
                    if let Err(e) = work_session(&conninfo, length, &stop, &stats).await {
                        if stats.errors.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("a load session failed (later failures are only counted): {e:?}");
                        }
                        tokio::time::sleep(PACE).await;
                    }
                }
            })
        })
        .collect()
}

/// Run the console on `dbname` until it shows `tenants` tenants, the 2 s
/// interval and a snapshot, then sample it for `duration`.
fn run_console(
    cluster: &LocalCluster,
    dbname: &str,
    tenants: usize,
    dir: &Path,
    duration: Duration,
) -> (Samples, Duration) {
    let name = format!("console-{tenants}");
    let mut c = Console::spawn(&cluster.conninfo(dbname), dir, &name);
    let title = format!(" Tenants {tenants} ");
    let loaded = c.wait_for(&[&title, " every 2s ", " snapshot "], LOAD_TIMEOUT);
    eprintln!(
        "{tenants} tenants on the console's screen after {:.1} s; sampling for {} s",
        loaded.as_secs_f64(),
        duration.as_secs()
    );
    let samples = c.sample(duration);
    c.quit();
    (samples, loaded)
}

fn main() {
    let full = support::start();
    let (d_tenants, d_secs, d_floor) = if full { (10_000, 600, 30) } else { (50, 5, 3) };
    let tenants = usize::try_from(env_num("TENANTCTL_BENCH_CONSOLE_TENANTS", d_tenants))
        .expect("tenant count");
    let secs = env_num("TENANTCTL_BENCH_CONSOLE_SECS", d_secs);
    let floor_secs = env_num("TENANTCTL_BENCH_CONSOLE_FLOOR_SECS", d_floor);

    let dir = tempfile::Builder::new()
        .prefix("tenantctl-bench-console")
        .tempdir()
        .expect("temporary directory");
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let config = format!(
        "[monitoring]\ninterval = \"2s\"\n\n[provisioning]\ntemplate_dir = {}\n",
        toml::Value::String(templates.display().to_string())
    );
    std::fs::write(dir.path().join("config.toml"), config).expect("write the console's config");

    let cluster = LocalCluster::start_with(tenantctl::local_cluster::Options {
        keep_dir: None,
        settings: vec![("max_locks_per_transaction".into(), "1024".into())],
    })
    .expect("local cluster");
    let floor_db = cluster.create_database().expect("database");
    let main_db = cluster.create_database().expect("database");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (roles, create) = rt.block_on(async {
        for name in [&floor_db, &main_db] {
            let db = Db::connect(&Config::for_url(&cluster.conninfo(name)))
                .await
                .expect("connect");
            tenantctl::db::migrate::init(&db).await.expect("init");
        }
        let db = Db::connect(&Config::for_url(&cluster.conninfo(&main_db)))
            .await
            .expect("connect");
        let mut list = Vec::new();
        let create = support::create_tenants(&db, &mut list, tenants).await;
        // The bulk DDL runs as the superuser, so the tables are not the
        // tenant role's: let each role write its trades.
        let client = db.client().await.expect("client");
        for chunk in list.chunks(500) {
            let mut sql = String::from("BEGIN;");
            for t in chunk {
                let o = &t.schema_name;
                let r = &t.role_name;
                let _ = write!(
                    sql,
                    "GRANT SELECT, INSERT ON {o}.trades TO {r}; GRANT USAGE ON SEQUENCE {o}.trades_id_seq TO {r};"
                );
            }
            sql.push_str("COMMIT;");
            client.batch_execute(&sql).await.expect("grant the load's privileges");
        }
        drop(client);
        db.pool.close();
        let roles: Vec<String> = list.into_iter().map(|t| t.role_name).collect();
        (roles, create)
    });
    eprintln!("created {tenants} tenants in {:.1} s", create.as_secs_f64());

    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(LoadStats::default());
    let load = if roles.is_empty() {
        Vec::new()
    } else {
        start_load(
            &rt,
            &cluster.socket_dir().display().to_string(),
            &main_db,
            &Arc::new(roles),
            &stop,
            &stats,
        )
    };

    let (floor, _) = run_console(
        &cluster,
        &floor_db,
        0,
        dir.path(),
        Duration::from_secs(floor_secs),
    );
    let load_start = (
        stats.inserts.load(Ordering::Relaxed),
        stats.sessions.load(Ordering::Relaxed),
    );
    let (run, loaded) = run_console(
        &cluster,
        &main_db,
        tenants,
        dir.path(),
        Duration::from_secs(secs),
    );
    let inserts = stats.inserts.load(Ordering::Relaxed) - load_start.0;
    let sessions = stats.sessions.load(Ordering::Relaxed) - load_start.1;

    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for h in load {
            let _ = h.await;
        }
    });
    drop(rt);
    drop(cluster);

    let peak = mib(run.hwm);
    let floor_peak = mib(floor.hwm);
    let per_tenant_kib = if tenants == 0 {
        0.0
    } else {
        (run.hwm.saturating_sub(floor.hwm)) as f64 / tenants as f64
    };
    let target = target_mib(tenants);
    let verdict = if peak <= target { "ok" } else { "MISS" };
    println!();
    println!("console RSS, real binary in a pty at {COLS}x{ROWS}, refresh 2 s, light write load");
    println!(
        "{:>8} {:>9} {:>17} {:>9} {:>18} {:>11} {:>11}  target",
        "tenants",
        "duration",
        "peak RSS (VmHWM)",
        "mean RSS",
        "floor (0 tenants)",
        "peak/floor",
        "per tenant",
    );
    println!(
        "{:>8} {:>7} s {:>13.1} MiB {:>5.1} MiB {:>14.1} MiB {:>10.2}x {:>7.1} KiB  <= {target:.0} MiB {verdict}",
        tenants,
        secs,
        peak,
        mib(run.mean()),
        floor_peak,
        peak / floor_peak,
        per_tenant_kib,
    );
    println!();
    let point = |label: &str, at: Duration| match run.at(at) {
        Some(k) if at.as_secs() <= secs => format!("{label} {:.1} MiB", mib(k)),
        _ => format!("{label} -"),
    };
    let end = run.rss.last().map_or(0, |s| s.1);
    println!(
        "RSS over time: {}, {}, end ({secs} s) {:.1} MiB",
        point("1 min", Duration::from_secs(60)),
        point("5 min", Duration::from_secs(300)),
        mib(end)
    );
    if secs >= 120 {
        let minutes: Vec<String> = (1..=secs / 60)
            .filter_map(|m| run.at(Duration::from_secs(m * 60)))
            .map(|k| format!("{:.1}", mib(k)))
            .collect();
        println!("  each minute (MiB): {}", minutes.join(" "));
    }
    let settle = Duration::from_secs(60.min(secs / 2));
    let (lo, hi) = run.range(settle);
    let trend = run
        .trend(settle)
        .map_or_else(|| "-".to_string(), |t| format!("{t:+.3} MiB/min"));
    println!(
        "  from {} s to the end: min {:.1} MiB, max {:.1} MiB, trend {trend} (least squares over {} samples)",
        settle.as_secs(),
        mib(lo),
        mib(hi),
        run.rss.iter().filter(|s| s.0 >= settle).count()
    );
    let mut lat = run.latency_ms.clone();
    lat.sort_unstable();
    if lat.is_empty() {
        println!("snapshot latency on the status bar: not shown");
    } else {
        println!(
            "snapshot latency on the status bar (read each second): median {} ms, p95 {} ms, max {} ms",
            lat[lat.len() / 2],
            lat[(lat.len() * 95 / 100).min(lat.len() - 1)],
            lat[lat.len() - 1]
        );
    }
    println!(
        "floor: 0 tenants for {floor_secs} s, peak {floor_peak:.1} MiB, mean {:.1} MiB",
        mib(floor.mean())
    );
    println!(
        "setup: {tenants} tenants created in {:.1} s; the console showed them all after {:.1} s",
        create.as_secs_f64(),
        loaded.as_secs_f64()
    );
    println!(
        "write load during the measurement: {WORKERS} connections, {inserts} inserts ({:.1}/s) in {sessions} tenant sessions, {} failed sessions",
        inserts as f64 / secs.max(1) as f64,
        stats.errors.load(Ordering::Relaxed)
    );
}
