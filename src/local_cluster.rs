//! A throwaway PostgreSQL for tests, benches and the demo.
//!
//! `initdb` into a short temporary directory, a server listening on a Unix
//! socket only, `pg_stat_statements` preloaded (plus the libraries named in
//! `TENANTCTL_PG_PRELOAD`, e.g. `timescaledb`). The server runs under a tiny
//! `sh` watchdog whose stdin is a pipe from this process: when this process
//! exits for any reason (even SIGKILL) the pipe closes, the watchdog stops the
//! server and removes the directory, so no server process is ever left behind.
//! As root, `initdb` and `postgres` run as the `postgres` system user.
//!
//! The server comes from `$TENANTCTL_PG_BINDIR` (else `PATH`, `pg_config`,
//! `/usr/lib/postgresql/*/bin`); client programs such as `pg_dump` from
//! `$TENANTCTL_PG_CLIENT_BINDIR`, else the newest found. In least-privilege
//! mode every fresh database is owned by an operator role made like a
//! managed-PostgreSQL administrator, and connections go out as that role.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Extra libraries to preload, from `TENANTCTL_PG_PRELOAD` (for example
/// `timescaledb`), comma-separated; only plain library names are taken.
pub fn preload_extra() -> Option<String> {
    let v = std::env::var("TENANTCTL_PG_PRELOAD").ok()?;
    let libs: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
        .collect();
    (!libs.is_empty()).then(|| libs.join(","))
}

/// The port number only names the socket file; nothing listens on TCP.
pub const PORT: u16 = 5432;

/// The variable naming the server's `bin` directory (initdb, postgres).
pub const BINDIR_VAR: &str = "TENANTCTL_PG_BINDIR";
/// The variable naming the directory of the client programs (pg_dump, pg_restore).
pub const CLIENT_BINDIR_VAR: &str = "TENANTCTL_PG_CLIENT_BINDIR";

/// A directory named by `var`, when it is set and not empty.
fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Directories that may hold PostgreSQL programs, in search order: `PATH`
/// (and the real directory of an `initdb` found there), `pg_config
/// --bindir`, then `/usr/lib/postgresql/*/bin` newest first.
fn search_dirs() -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.exists() {
                if let Ok(real) = std::fs::canonicalize(&initdb) {
                    if let Some(parent) = real.parent() {
                        candidates.push(parent.to_path_buf());
                    }
                }
            }
            candidates.push(dir);
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versioned.sort_by_key(|v| std::cmp::Reverse(v.0));
    candidates.extend(versioned.into_iter().map(|(_, p)| p));
    candidates
}

fn is_server_dir(d: &Path) -> bool {
    d.join("initdb").is_file() && d.join("postgres").is_file()
}

/// The server's `bin` directory (holding both `initdb` and `postgres`):
/// `$TENANTCTL_PG_BINDIR` when set, else the first of `PATH`, `pg_config
/// --bindir` and `/usr/lib/postgresql/*/bin` (newest first).
pub fn find_bindir() -> Result<PathBuf> {
    if let Some(dir) = env_dir(BINDIR_VAR) {
        return if is_server_dir(&dir) {
            Ok(dir)
        } else {
            Err(Error::failure(format!(
                "{BINDIR_VAR}={} holds no initdb and postgres: point it at a PostgreSQL server's bin directory",
                dir.display()
            )))
        };
    }
    search_dirs()
        .into_iter()
        .find(|d| is_server_dir(d))
        .ok_or_else(|| {
            Error::failure(
                "no PostgreSQL server binaries found (initdb and postgres) on PATH, via pg_config or in /usr/lib/postgresql/*/bin: install the server, for example `apt-get install postgresql`, or set TENANTCTL_PG_BINDIR",
            )
        })
}

/// A client program chosen for a job, with the version it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTool {
    pub path: PathBuf,
    /// `(major, minor)`, e.g. `(18, 6)`; 9.6 style versions give `(9, 6)`.
    pub version: (u32, u32),
}

impl ClientTool {
    /// `pg_dump 18.6 (/usr/lib/postgresql/18/bin/pg_dump)`, for sidecars and messages.
    pub fn describe(&self) -> String {
        let name = self
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        format!(
            "{name} {}.{} ({})",
            self.version.0,
            self.version.1,
            self.path.display()
        )
    }

    /// Refuse a server newer than this client (an older pg_dump refuses
    /// newer servers; a newer one reads every older server).
    pub fn check_server(&self, server_version_num: i32) -> Result<()> {
        let server_major = u32::try_from(server_version_num / 10_000).unwrap_or(0);
        if server_major > self.version.0 {
            return Err(Error::failure(format!(
                "{} cannot work with a PostgreSQL {server_major} server: install the PostgreSQL {server_major} client programs (or newer) or point {CLIENT_BINDIR_VAR} at them",
                self.describe()
            )));
        }
        Ok(())
    }
}

/// `pg_dump (PostgreSQL) 18.6 (Debian 18.6-1)` -> `(18, 6)`.
fn parse_tool_version(text: &str) -> Option<(u32, u32)> {
    let word = text
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let digits = |s: &str| -> String { s.chars().take_while(char::is_ascii_digit).collect() };
    let major_text = digits(word);
    let major = major_text.parse().ok()?;
    let minor = word[major_text.len()..]
        .strip_prefix('.')
        .and_then(|rest| digits(rest).parse().ok())
        .unwrap_or(0);
    Some((major, minor))
}

fn tool_version(path: &Path) -> Option<(u32, u32)> {
    let out = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_tool_version(&String::from_utf8_lossy(&out.stdout))
}

/// The newest `name` among `dirs` that runs and reports a version.
fn newest_in(name: &str, dirs: &[PathBuf]) -> Option<ClientTool> {
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut best: Option<ClientTool> = None;
    for dir in dirs {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if seen.contains(&real) {
            continue;
        }
        seen.push(real);
        if let Some(version) = tool_version(&path) {
            if best.as_ref().is_none_or(|b| version > b.version) {
                best = Some(ClientTool { path, version });
            }
        }
    }
    best
}

/// A client program (`pg_dump`, `pg_restore`, `psql`): from
/// `$TENANTCTL_PG_CLIENT_BINDIR` when set, else the newest found in the
/// server's bindir, `PATH`, `pg_config --bindir` and `/usr/lib/postgresql/*/bin`.
pub fn client_tool(name: &str) -> Result<ClientTool> {
    if let Some(dir) = env_dir(CLIENT_BINDIR_VAR) {
        return newest_in(name, std::slice::from_ref(&dir)).ok_or_else(|| {
            Error::failure(format!(
                "{CLIENT_BINDIR_VAR}={} holds no working {name}: point it at the PostgreSQL client programs",
                dir.display()
            ))
        });
    }
    let mut dirs: Vec<PathBuf> = find_bindir().into_iter().collect();
    dirs.extend(search_dirs());
    newest_in(name, &dirs).ok_or_else(|| {
        Error::failure(format!(
            "{name} not found on PATH, beside the PostgreSQL server binaries or in /usr/lib/postgresql/*/bin: install the PostgreSQL client programs or set {CLIENT_BINDIR_VAR}"
        ))
    })
}

/// The path of [`client_tool`].
pub fn find_pg_binary(name: &str) -> Result<PathBuf> {
    client_tool(name).map(|t| t.path)
}

/// The unprivileged user to run the server as, when we are root.
fn server_user() -> Result<Option<nix::unistd::User>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name("postgres") {
        Ok(Some(u)) => Ok(Some(u)),
        _ => Err(Error::failure(
            "running as root, but PostgreSQL refuses to run as root and no `postgres` system user exists: create one (`useradd --system postgres`) or run as an ordinary user",
        )),
    }
}

/// Options for [`LocalCluster::start_with`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep the data directory here across runs instead of a temporary one.
    pub keep_dir: Option<PathBuf>,
    /// Extra `-c name=value` server settings.
    pub settings: Vec<(String, String)>,
}

/// A running throwaway server. Dropping it stops the server.
pub struct LocalCluster {
    socket_dir: PathBuf,
    data_dir: PathBuf,
    bindir: PathBuf,
    watchdog: Option<Child>,
    stdin: Option<ChildStdin>,
    log_path: PathBuf,
    options: Options,
    /// Whether [`Self::create_database`] makes each database owned by a
    /// least-privilege operator of its own (see [`Self::set_least_privilege`]).
    least_privilege: AtomicBool,
    /// Database name -> the operator role that owns it.
    operators: Mutex<HashMap<String, String>>,
}

static SHARED: OnceLock<std::result::Result<LocalCluster, Error>> = OnceLock::new();
static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

impl LocalCluster {
    /// A fresh server in a temporary directory.
    pub fn start() -> Result<Self> {
        Self::start_with(Options::default())
    }

    /// The one cluster of this process (tests, benches), started on first use
    /// and stopped when the process exits.
    pub fn shared() -> Result<&'static LocalCluster> {
        SHARED
            .get_or_init(Self::start)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Start with options; with `keep_dir` an existing data directory is reused.
    pub fn start_with(options: Options) -> Result<Self> {
        let bindir = find_bindir()?;
        let user = server_user()?;
        // A short socket directory: Unix socket paths are limited to ~100 bytes.
        let base = tempfile::Builder::new()
            .prefix("tc")
            .tempdir_in("/tmp")
            .map_err(|e| {
                Error::failure(format!("cannot create a temporary directory in /tmp: {e}"))
            })?
            .keep();
        let socket_dir = base.clone();
        let data_dir = match &options.keep_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::failure(format!(
                        "cannot create the cluster directory {}: {e}",
                        dir.display()
                    ))
                })?;
                dir.join("data")
            }
            None => base.join("data"),
        };
        let log_path = base.join("server.log");
        if let Some(u) = &user {
            for p in [Some(base.as_path()), options.keep_dir.as_deref()]
                .into_iter()
                .flatten()
            {
                std::os::unix::fs::chown(p, Some(u.uid.as_raw()), Some(u.gid.as_raw())).map_err(
                    |e| {
                        Error::failure(format!(
                            "cannot hand {} to the postgres user: {e}",
                            p.display()
                        ))
                    },
                )?;
            }
        }
        let mut cluster = LocalCluster {
            socket_dir,
            data_dir,
            bindir,
            watchdog: None,
            stdin: None,
            log_path,
            options,
            least_privilege: AtomicBool::new(false),
            operators: Mutex::new(HashMap::new()),
        };
        if !cluster.data_dir.join("PG_VERSION").exists() {
            cluster.initdb(user.as_ref())?;
        }
        cluster.launch(user.as_ref())?;
        cluster.wait_ready(Duration::from_secs(30))?;
        cluster.prepare_template()?;
        Ok(cluster)
    }

    fn command(&self, program: &Path, user: Option<&nix::unistd::User>) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.socket_dir);
        for var in [
            "PGDATA",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGPASSWORD",
            "PGOPTIONS",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("LC_ALL", "C");
        if let Some(u) = user {
            cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
            cmd.env("HOME", &self.socket_dir).env("USER", "postgres");
        }
        cmd
    }

    fn initdb(&self, user: Option<&nix::unistd::User>) -> Result<()> {
        let out = self
            .command(&self.bindir.join("initdb"), user)
            .arg("-D")
            .arg(&self.data_dir)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                Error::failure(format!(
                    "cannot run initdb from {}: {e}",
                    self.bindir.display()
                ))
            })?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = crate::domain::sanitize::last_line(&err, "no output");
            return Err(Error::failure(format!(
                "initdb failed in {}: {last}",
                self.data_dir.display()
            )));
        }
        Ok(())
    }

    fn launch(&mut self, user: Option<&nix::unistd::User>) -> Result<()> {
        let mut args: Vec<String> = vec![
            "-D".into(),
            self.data_dir.display().to_string(),
            "-k".into(),
            self.socket_dir.display().to_string(),
        ];
        let mut settings: Vec<(String, String)> = [
            ("listen_addresses", ""),
            ("port", "5432"),
            ("shared_preload_libraries", "pg_stat_statements"),
            ("pg_stat_statements.track", "all"),
            ("fsync", "off"),
            ("synchronous_commit", "off"),
            ("full_page_writes", "off"),
            ("max_connections", "300"),
            ("shared_buffers", "128MB"),
            ("max_locks_per_transaction", "256"),
            ("log_min_messages", "warning"),
            ("logging_collector", "off"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
        if let Some(extra) = preload_extra() {
            if let Some(s) = settings
                .iter_mut()
                .find(|(k, _)| k == "shared_preload_libraries")
            {
                s.1 = format!("{},{extra}", s.1);
            }
            if extra.split(',').any(|l| l == "timescaledb") {
                // Its job schedulers connect to every database, which makes
                // CREATE DATABASE ... TEMPLATE fail at random; tests need no jobs.
                settings.push(("timescaledb.max_background_workers".into(), "0".into()));
                settings.push(("timescaledb.telemetry_level".into(), "off".into()));
            }
        }
        settings.extend(self.options.settings.iter().cloned());
        for (k, v) in settings {
            args.push("-c".into());
            args.push(format!("{k}={v}"));
        }
        // The watchdog: start postgres, wait for stdin to close, then stop it
        // (fast shutdown, immediate after 10 s) and remove the temporary dir.
        let script = r#"
pg="$1"; base="$2"; keep="$3"; shift 3
"$pg" "$@" &
pid=$!
trap 'kill -INT $pid 2>/dev/null' INT TERM HUP
read _line
kill -INT $pid 2>/dev/null
i=0
while kill -0 $pid 2>/dev/null; do
  i=$((i+1))
  if [ $i -gt 100 ]; then kill -QUIT $pid 2>/dev/null; fi
  sleep 0.1
done
wait $pid 2>/dev/null
# With --keep the data lives elsewhere; $base holds only the socket and log.
rm -rf "$base"
"#;
        let log = std::fs::File::create(&self.log_path).map_err(|e| {
            Error::failure(format!("cannot create {}: {e}", self.log_path.display()))
        })?;
        if let Some(u) = user {
            let _ = std::os::unix::fs::chown(
                &self.log_path,
                Some(u.uid.as_raw()),
                Some(u.gid.as_raw()),
            );
        }
        let log2 = log
            .try_clone()
            .map_err(|e| Error::failure(format!("cannot open the server log: {e}")))?;
        let keep = if self.options.keep_dir.is_some() {
            "1"
        } else {
            "0"
        };
        let mut cmd = self.command(Path::new("/bin/sh"), user);
        // Its own process group: a terminal's SIGINT or SIGHUP goes to the
        // owner, which then stops the server in order; the watchdog acts
        // only on its stdin closing.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(self.bindir.join("postgres"))
            .arg(&self.socket_dir)
            .arg(keep)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| {
                Error::failure(format!(
                    "cannot start postgres from {}: {e}",
                    self.bindir.display()
                ))
            })?;
        self.stdin = child.stdin.take();
        self.watchdog = Some(child);
        Ok(())
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let pidfile = self.data_dir.join("postmaster.pid");
        loop {
            if let Ok(text) = std::fs::read_to_string(&pidfile) {
                // Line 5 names the socket directory: a stale file from an
                // earlier server (a kept data directory) does not count.
                let lines: Vec<&str> = text.lines().collect();
                let ours = lines
                    .get(4)
                    .is_some_and(|l| Path::new(l.trim()) == self.socket_dir);
                if ours && lines.get(7).is_some_and(|l| l.trim() == "ready") {
                    return Ok(());
                }
            }
            if let Some(child) = self.watchdog.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return Err(self.startup_error("exited during startup"));
                }
            }
            if start.elapsed() > timeout {
                return Err(self.startup_error("did not become ready within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn startup_error(&self, what: &str) -> Error {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let last = crate::domain::sanitize::last_line(&log, "no log output");
        Error::failure(format!(
            "local PostgreSQL {what}: {last} (log: {})",
            self.log_path.display()
        ))
    }

    fn prepare_template(&self) -> Result<()> {
        let exists = self.query_sync(
            "postgres",
            "SELECT 1 FROM pg_database WHERE datname = 'tenantctl_template'",
        )?;
        if exists.is_empty() {
            self.exec_sync("postgres", "CREATE DATABASE tenantctl_template")?;
            self.exec_sync(
                "tenantctl_template",
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
            )?;
        }
        Ok(())
    }

    /// The server's `server_version_num` (e.g. `170002`).
    pub fn server_version_num(&self) -> Result<i32> {
        self.query_sync("postgres", "SHOW server_version_num")?
            .into_iter()
            .flatten()
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::failure("local cluster: cannot read server_version_num"))
    }

    /// The Unix socket directory (the `host`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The server's `bin` directory.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// Path of the server log.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// A keyword conninfo for `dbname` as the role tenantctl runs as there:
    /// its operator when [`Self::create_database`] made one (least-privilege
    /// mode), else the superuser.
    pub fn conninfo(&self, dbname: &str) -> String {
        match self.operator_of(dbname) {
            Some(op) => self.conninfo_as(dbname, &op),
            None => self.superuser_conninfo(dbname),
        }
    }

    /// A keyword conninfo for `dbname` as the superuser, whatever the mode.
    pub fn superuser_conninfo(&self, dbname: &str) -> String {
        self.conninfo_as(dbname, "postgres")
    }

    /// A keyword conninfo for `dbname` as `user`.
    pub fn conninfo_as(&self, dbname: &str, user: &str) -> String {
        format!(
            "host={} port={PORT} user={user} dbname={dbname} sslmode=disable",
            self.socket_dir.display()
        )
    }

    /// A `postgres://` URL for `dbname`, as the same role as [`Self::conninfo`].
    pub fn url(&self, dbname: &str) -> String {
        let host: String = percent_encoding::utf8_percent_encode(
            &self.socket_dir.display().to_string(),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .collect();
        let user = self
            .operator_of(dbname)
            .unwrap_or_else(|| "postgres".to_string());
        format!("postgres://{user}@{host}:{PORT}/{dbname}?sslmode=disable")
    }

    /// From now on, every database made by [`Self::create_database`] is owned
    /// by an operator role of its own made like a managed-PostgreSQL
    /// administrator (see [`Self::create_operator`]), and [`Self::conninfo`]
    /// and [`Self::url`] connect as that role.
    pub fn set_least_privilege(&self, on: bool) {
        self.least_privilege.store(on, Ordering::Relaxed);
    }

    /// Whether [`Self::set_least_privilege`] is on.
    pub fn least_privilege(&self) -> bool {
        self.least_privilege.load(Ordering::Relaxed)
    }

    /// The operator role that owns `dbname`, when this cluster made one for it.
    pub fn operator_of(&self, dbname: &str) -> Option<String> {
        self.operators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(dbname)
            .cloned()
    }

    /// A new role made exactly like the administrator of a managed
    /// PostgreSQL service (RDS, Cloud SQL, Azure, Supabase): LOGIN and
    /// CREATEROLE, a member of `pg_monitor` and `pg_signal_backend`, not a
    /// superuser. Returns its name.
    pub fn create_operator(&self) -> Result<String> {
        let n = DB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("ops_{}_{n}", std::process::id());
        self.exec_sync(
            "postgres",
            &format!(
                "CREATE ROLE \"{name}\" LOGIN CREATEROLE;
                 GRANT pg_monitor, pg_signal_backend TO \"{name}\";"
            ),
        )?;
        Ok(name)
    }

    /// Create database `name` from the prepared template unless it exists.
    pub fn ensure_database(&self, name: &str) -> Result<()> {
        let literal = format!("'{}'", name.replace('\'', "''"));
        let found = self.query_sync(
            "postgres",
            &format!("SELECT 1 FROM pg_database WHERE datname = {literal}"),
        )?;
        if found.is_empty() {
            let ident = format!("\"{}\"", name.replace('"', "\"\""));
            self.exec_sync(
                "postgres",
                &format!("CREATE DATABASE {ident} TEMPLATE tenantctl_template"),
            )?;
        }
        Ok(())
    }

    /// A fresh database cloned from the prepared template; returns its name.
    /// In least-privilege mode it is owned by a new operator role
    /// ([`Self::create_operator`]), which [`Self::conninfo`] then connects as.
    pub fn create_database(&self) -> Result<String> {
        let owner = if self.least_privilege() {
            Some(self.create_operator()?)
        } else {
            None
        };
        let n = DB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        let owner_clause = owner
            .as_ref()
            .map_or_else(String::new, |o| format!(" OWNER \"{o}\""));
        self.exec_sync(
            "postgres",
            &format!("CREATE DATABASE \"{name}\"{owner_clause} TEMPLATE tenantctl_template"),
        )?;
        if let Some(o) = owner {
            self.operators
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(name.clone(), o);
        }
        Ok(name)
    }

    /// Run SQL (one or more statements) as the superuser on a short-lived
    /// connection, from sync code or from inside a runtime alike.
    pub fn exec_sync(&self, dbname: &str, sql: &str) -> Result<()> {
        let conninfo = self.superuser_conninfo(dbname);
        let sql = sql.to_string();
        run_blocking(async move {
            let client = connect_raw(&conninfo).await?;
            client
                .batch_execute(&sql)
                .await
                .map_err(|e| Error::failure(format!("local cluster: {e}")))
        })
    }

    /// Rows of the first column as text, queried as the superuser.
    pub fn query_sync(&self, dbname: &str, sql: &str) -> Result<Vec<Option<String>>> {
        let conninfo = self.superuser_conninfo(dbname);
        let sql = sql.to_string();
        run_blocking(async move {
            let client = connect_raw(&conninfo).await?;
            let msgs = client
                .simple_query(&sql)
                .await
                .map_err(|e| Error::failure(format!("local cluster: {e}")))?;
            Ok(msgs
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => {
                        Some(r.get(0).map(str::to_string))
                    }
                    _ => None,
                })
                .collect())
        })
    }

    /// Stop the server now (fast shutdown) and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        if let Some(mut child) = self.watchdog.take() {
            let _ = child.wait();
        }
    }

    /// Whether the server is up (its watchdog still runs).
    pub fn is_running(&mut self) -> bool {
        self.watchdog
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Pid of the postmaster, from `postmaster.pid`.
    pub fn postmaster_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.data_dir.join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Stop the server but keep its data, for outage tests; [`Self::restart`] brings it back.
    pub fn pause(&mut self) -> Result<()> {
        let pid = self
            .postmaster_pid()
            .ok_or_else(|| Error::failure("local cluster is not running"))?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGINT,
        )
        .map_err(|e| Error::failure(format!("cannot stop the local cluster: {e}")))?;
        let start = Instant::now();
        while self.data_dir.join("postmaster.pid").exists()
            && start.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.data_dir.join("postmaster.pid").exists() {
            return Err(Error::failure("local cluster did not stop within 30 s"));
        }
        // Retire the watchdog before closing its stdin: end of input is its
        // signal to remove the directory, which must survive a pause.
        if let Some(mut c) = self.watchdog.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stdin.take();
        Ok(())
    }

    /// Start the server again after [`Self::pause`].
    pub fn restart(&mut self) -> Result<()> {
        let user = server_user()?;
        self.launch(user.as_ref())?;
        self.wait_ready(Duration::from_secs(30))
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run_blocking<T: Send + 'static>(
    fut: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::failure(format!("cannot start a runtime: {e}")))?;
        rt.block_on(fut)
    })
    .join()
    .map_err(|_| Error::failure("local cluster helper thread panicked"))?
}

async fn connect_raw(conninfo: &str) -> Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
        .await
        .map_err(|e| Error::failure(format!("cannot connect to the local cluster: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_tool(dir: &Path, name: &str, version_line: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).expect("dir");
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho '{version_line}'\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[test]
    fn tool_versions_parse() {
        assert_eq!(
            parse_tool_version("pg_dump (PostgreSQL) 18.6"),
            Some((18, 6))
        );
        assert_eq!(
            parse_tool_version("pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"),
            Some((15, 14))
        );
        assert_eq!(
            parse_tool_version("pg_restore (PostgreSQL) 17beta1"),
            Some((17, 0))
        );
        assert_eq!(parse_tool_version("no version here"), None);
    }

    #[test]
    fn the_newest_client_wins_and_an_older_one_is_refused_for_a_newer_server() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (old, new, broken) = (
            tmp.path().join("15"),
            tmp.path().join("18"),
            tmp.path().join("x"),
        );
        fake_tool(&old, "pg_dump", "pg_dump (PostgreSQL) 15.14");
        fake_tool(&new, "pg_dump", "pg_dump (PostgreSQL) 18.6");
        fake_tool(&broken, "pg_dump", "garbage");
        let dirs = vec![old.clone(), broken, new.clone()];
        let t = newest_in("pg_dump", &dirs).expect("found");
        assert_eq!(t.path, new.join("pg_dump"));
        assert_eq!(t.version, (18, 6));
        assert_eq!(
            t.describe(),
            format!("pg_dump 18.6 ({})", new.join("pg_dump").display())
        );
        assert!(t.check_server(180_004).is_ok());
        assert!(t.check_server(140_023).is_ok());

        let old_tool = newest_in("pg_dump", std::slice::from_ref(&old)).expect("found");
        let e = old_tool.check_server(170_010).expect_err("refused");
        assert!(
            e.message
                .contains("cannot work with a PostgreSQL 17 server")
                && e.message.contains(CLIENT_BINDIR_VAR),
            "{e}"
        );
        assert!(newest_in("pg_restore", &dirs).is_none());
    }
}
