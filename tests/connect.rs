//! Connections with libpq's semantics against real servers: a pg_service.conf
//! service, `target_session_attrs` over a primary and a standby started from
//! its base backup, `.pgpass` per host with a socket path, TLS without
//! verification against a self-signed X.509 v1 certificate, and a Unix
//! socket under `sslmode=require`; verify-ca and verify-full against v1 and
//! v3 certificates.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tenantctl::config::Config;
use tenantctl::db::Db;
use tenantctl::local_cluster::{LocalCluster, Options};

/// The unprivileged server user when we run as root (as local_cluster does).
fn server_user() -> Option<nix::unistd::User> {
    if nix::unistd::geteuid().is_root() {
        nix::unistd::User::from_name("postgres").ok().flatten()
    } else {
        None
    }
}

fn as_server_user(cmd: &mut Command, home: &Path) {
    for var in [
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGPASSWORD",
        "PGSERVICE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("LC_ALL", "C");
    if let Some(u) = server_user() {
        cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
        cmd.env("HOME", home).env("USER", "postgres");
    }
}

fn give_to_server_user(p: &Path) {
    if let Some(u) = server_user() {
        std::os::unix::fs::chown(p, Some(u.uid.as_raw()), Some(u.gid.as_raw())).expect("chown");
    }
}

/// A hot standby of `primary`, from `pg_basebackup -R`, on its own socket.
struct Standby {
    base: PathBuf,
    child: Child,
}

impl Standby {
    fn start(primary: &LocalCluster) -> Self {
        let base = tempfile::Builder::new()
            .prefix("tcs")
            .tempdir_in("/tmp")
            .expect("tempdir")
            .keep();
        give_to_server_user(&base);
        let data = base.join("data");
        let mut cmd = Command::new(primary.bindir().join("pg_basebackup"));
        as_server_user(&mut cmd, &base);
        let out = cmd
            .arg("-D")
            .arg(&data)
            .args([
                "-R", "-X", "stream", "-c", "fast", "-U", "postgres", "-p", "5432", "-h",
            ])
            .arg(primary.socket_dir())
            .output()
            .expect("run pg_basebackup");
        assert!(
            out.status.success(),
            "pg_basebackup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            data.join("standby.signal").exists(),
            "-R writes standby.signal"
        );
        let log = std::fs::File::create(base.join("server.log")).expect("log");
        give_to_server_user(&base.join("server.log"));
        let mut cmd = Command::new(primary.bindir().join("postgres"));
        as_server_user(&mut cmd, &base);
        let child = cmd
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&base)
            .args([
                "-c",
                "listen_addresses=",
                "-c",
                "port=5432",
                "-c",
                "hot_standby=on",
                "-c",
                "shared_preload_libraries=pg_stat_statements",
                "-c",
                "fsync=off",
                // A hot standby needs at least the primary's limits.
                "-c",
                "max_connections=300",
                "-c",
                "max_locks_per_transaction=256",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the standby");
        let s = Self { base, child };
        s.wait_ready();
        s
    }

    fn socket_dir(&self) -> &Path {
        &self.base
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        let conninfo = format!(
            "host={} port=5432 user=postgres dbname=postgres sslmode=disable",
            self.base.display()
        );
        loop {
            let ok = std::thread::scope(|s| {
                s.spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("rt")
                        .block_on(async {
                            tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
                                .await
                                .is_ok()
                        })
                })
                .join()
                .unwrap_or(false)
            });
            if ok {
                return;
            }
            let log = std::fs::read_to_string(self.base.join("server.log")).unwrap_or_default();
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "standby did not start: {log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(0));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

async fn connect(conninfo: &str) -> tenantctl::error::Result<Db> {
    Db::connect(&Config::for_url(conninfo)).await
}

async fn in_recovery(db: &Db) -> bool {
    let c = db.client().await.expect("client");
    c.query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .expect("query")
        .get(0)
}

#[tokio::test]
async fn target_session_attrs_over_a_primary_and_a_standby() {
    let primary = common::cluster();
    let standby = Standby::start(primary);
    let p = primary.socket_dir().display().to_string();
    let s = standby.socket_dir().display().to_string();
    let info = |hosts: &str, tsa: &str| {
        format!(
            "host={hosts} port=5432 user=postgres dbname=postgres sslmode=disable target_session_attrs={tsa}"
        )
    };
    // The first host is the standby: read-write skips it, as Patroni users expect.
    let db = connect(&info(&format!("{s},{p}"), "read-write"))
        .await
        .expect("read-write finds the primary");
    assert_eq!(db.params.hosts, vec![p.clone()]);
    assert!(!in_recovery(&db).await);
    assert!(db.params.describe().contains(&p) && !db.params.describe().contains(&s));
    for (tsa, hosts, want_standby) in [
        ("primary", format!("{s},{p}"), false),
        ("standby", format!("{p},{s}"), true),
        ("read-only", format!("{p},{s}"), true),
        ("prefer-standby", format!("{p},{s}"), true),
        ("any", format!("{s},{p}"), true),
        ("any", format!("{p},{s}"), false),
    ] {
        let db = connect(&info(&hosts, tsa)).await.expect(tsa);
        assert_eq!(in_recovery(&db).await, want_standby, "{tsa} over {hosts}");
        assert_eq!(db.params.hosts.len(), 1, "the pool names the host it chose");
    }
    // prefer-standby falls back to the primary when no standby answers.
    let db = connect(&info(&format!("/nonexistent-tc,{p}"), "prefer-standby"))
        .await
        .expect("fallback");
    assert!(!in_recovery(&db).await);
    // Nothing fits: one sentence naming every host and why.
    let e = connect(&info(&s, "read-write"))
        .await
        .expect_err("only a standby");
    assert!(e.message.contains("read-write"), "{}", e.message);
    assert!(e.message.contains("is read-only"), "{}", e.message);
    assert!(e.message.contains(&s), "{}", e.message);
    let e = connect(&info(&p, "standby"))
        .await
        .expect_err("only a primary");
    assert!(e.message.contains("is a primary"), "{}", e.message);
}

/// A cluster that wants passwords over its socket and TLS over TCP on a
/// loopback address of its own, with a self-signed X.509 v1 certificate.
struct Guarded {
    cluster: LocalCluster,
    tcp: String,
    files: tempfile::TempDir,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether `openssl` runs here; the TLS tests skip cleanly without it.
fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: openssl is not installed (it makes the test certificates)");
    }
    ok
}

fn guarded() -> Option<Guarded> {
    if !have_openssl() {
        return None;
    }
    let files = tempfile::Builder::new()
        .prefix("tcg")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let dir = files.path();
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-subj",
            "/CN=localhost",
            "-out",
            "server.csr",
        ],
        dir,
    );
    // `x509 -req` without extensions signs an X.509 v1 certificate.
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-signkey",
            "server.key",
            "-days",
            "30",
            "-out",
            "server.crt",
        ],
        dir,
    );
    let text = Command::new("openssl")
        .args(["x509", "-in", "server.crt", "-noout", "-text"])
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("Version: 1 (0x0)"),
        "a v1 certificate"
    );
    // A client certificate for certuser, self-signed, which the server trusts.
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "client.key",
            "-subj",
            "/CN=certuser",
            "-out",
            "client.csr",
        ],
        dir,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-signkey",
            "client.key",
            "-days",
            "30",
            "-out",
            "client.crt",
        ],
        dir,
    );
    std::fs::write(
        dir.join("pg_hba.conf"),
        "local all postgres trust\nlocal replication all trust\nlocal all all scram-sha-256\n\
         hostssl all certuser 127.0.0.0/8 cert\n\
         hostssl all all 127.0.0.0/8 trust\nhostnossl all all 127.0.0.0/8 reject\n",
    )
    .expect("hba");
    for f in ["server.key", "server.crt", "pg_hba.conf", "client.crt"] {
        give_to_server_user(&dir.join(f));
    }
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // A loopback address of this run's own, so parallel runs do not collide on 5432.
    let n = std::process::id();
    let tcp = format!(
        "127.{}.{}.{}",
        1 + (n >> 16) % 250,
        1 + (n >> 8) % 250,
        1 + n % 250
    );
    let path = |f: &str| dir.join(f).display().to_string();
    let cluster = LocalCluster::start_with(Options {
        keep_dir: None,
        settings: vec![
            ("hba_file".into(), path("pg_hba.conf")),
            ("listen_addresses".into(), tcp.clone()),
            ("ssl".into(), "on".into()),
            ("ssl_cert_file".into(), path("server.crt")),
            ("ssl_key_file".into(), path("server.key")),
            ("ssl_ca_file".into(), path("client.crt")),
            ("password_encryption".into(), "scram-sha-256".into()),
        ],
    })
    .expect("start the guarded cluster");
    cluster
        .exec_sync(
            "postgres",
            "CREATE ROLE pgp LOGIN PASSWORD 'right-pw'; CREATE ROLE certuser LOGIN",
        )
        .expect("role");
    Some(Guarded {
        cluster,
        tcp,
        files,
    })
}

#[tokio::test]
async fn pgpass_per_host_and_tls_without_verification() {
    let Some(g) = guarded() else { return };
    let sock = g.cluster.socket_dir().display().to_string();
    let pass_dir = tempfile::tempdir().expect("tmp");
    let passfile = pass_dir.path().join("pgpass");
    // libpq looks each host up on its own; a socket directory is matched by
    // its path, and `localhost` stands only for the default socket directory.
    std::fs::write(
        &passfile,
        format!(
            "/nonexistent-tc:5432:*:pgp:wrong-first\nlocalhost:5432:*:pgp:wrong-localhost\n{sock}:5432:*:pgp:right-pw\n"
        ),
    )
    .expect("pgpass");
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let info = format!(
        "host=/nonexistent-tc,{sock} port=5432 user=pgp dbname=postgres sslmode=disable passfile={}",
        passfile.display()
    );
    let db = connect(&info).await.expect("the second host's password");
    assert_eq!(db.params.hosts, vec![sock.clone()]);
    drop(db);
    // Without the entry for the socket path there is no password to give.
    std::fs::write(&passfile, "localhost:5432:*:pgp:right-pw\n").expect("pgpass");
    let e = connect(&format!(
        "host={sock} user=pgp dbname=postgres passfile={}",
        passfile.display()
    ))
    .await
    .expect_err("localhost does not stand for this socket directory");
    assert!(e.message.contains("password"), "{}", e.message);
    // A file others can read is ignored, with the warning on stderr.
    std::fs::write(&passfile, format!("{sock}:5432:*:pgp:right-pw\n")).expect("pgpass");
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let o = common::bin()
        .args([
            "--database-url",
            &format!("host={sock} user=pgp dbname=postgres"),
            "list",
        ])
        .env("PGPASSFILE", &passfile)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: password file") && err.contains("0600"),
        "{err}"
    );
    assert_ne!(o.status.code(), Some(0));

    // TLS: prefer and require encrypt and accept the v1 self-signed certificate.
    for mode in ["prefer", "require", "allow"] {
        let db = connect(&format!(
            "host={} port=5432 user=postgres dbname=postgres sslmode={mode}",
            g.tcp
        ))
        .await
        .unwrap_or_else(|e| panic!("sslmode={mode}: {}", e.message));
        let c = db.client().await.expect("client");
        let ssl: bool = c
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("pg_stat_ssl")
            .get(0);
        assert!(ssl, "sslmode={mode} encrypts");
    }
    // The server refuses plain TCP, so the TLS above was real.
    let e = connect(&format!(
        "host={} port=5432 user=postgres dbname=postgres sslmode=disable",
        g.tcp
    ))
    .await
    .expect_err("no TLS, no entry");
    assert!(
        e.message.contains("pg_hba")
            || e.message.contains("no encryption")
            || e.message.contains("reject"),
        "{}",
        e.message
    );
    // Certificate authentication: sslcert/sslkey (and PGSSLCERT/PGSSLKEY) are sent.
    let cert = g.files.path().join("client.crt").display().to_string();
    let key = g.files.path().join("client.key").display().to_string();
    let db = connect(&format!(
        "host={} port=5432 user=certuser dbname=postgres sslmode=require sslcert={cert} sslkey={key}",
        g.tcp
    ))
    .await
    .unwrap_or_else(|e| panic!("client certificate: {}", e.message));
    let who: String = db
        .client()
        .await
        .expect("client")
        .query_one("SELECT current_user::text", &[])
        .await
        .expect("q")
        .get(0);
    assert_eq!(who, "certuser");
    let env: std::collections::BTreeMap<String, String> = [
        ("PGSSLCERT", cert.clone()),
        ("PGSSLKEY", key.clone()),
        ("PGPASSFILE", "/nonexistent".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let params = tenantctl::config::conninfo::resolve(
        &format!(
            "host={} user=certuser dbname=postgres sslmode=require",
            g.tcp
        ),
        &env,
    )
    .expect("resolve");
    Db::connect_params(params, "tenant_admin", 1, "t")
        .await
        .unwrap_or_else(|e| panic!("PGSSLCERT/PGSSLKEY: {}", e.message));
    let e = connect(&format!(
        "host={} port=5432 user=certuser dbname=postgres sslmode=require sslcert=/nonexistent/x.crt sslkey={key}",
        g.tcp
    ))
    .await
    .expect_err("a named certificate must exist");
    assert!(e.message.contains("sslcert"), "{}", e.message);
    // verify-full checks: an unknown root is refused.
    let e = connect(&format!(
        "host={} port=5432 user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
        g.tcp,
        g.files.path().join("pg_hba.conf").display()
    ))
    .await
    .expect_err("no certificates in that file");
    assert!(e.message.contains("certificate"), "{}", e.message);
}

#[tokio::test]
async fn sockets_skip_tls_and_zero_timeout_waits() {
    let c = common::cluster();
    let dbname = c.create_database().expect("db");
    let sock = c.socket_dir().display().to_string();
    // libpq skips TLS on a Unix socket, even under require or verify-full.
    for mode in ["require", "verify-full"] {
        connect(&format!(
            "host={sock} user=postgres dbname={dbname} sslmode={mode}"
        ))
        .await
        .unwrap_or_else(|e| panic!("sslmode={mode}: {}", e.message));
    }
    // connect_timeout=0 waits as long as it takes (here: not long), rather
    // than timing out at once.
    let db = connect(&format!(
        "host={sock} user=postgres dbname={dbname} connect_timeout=0 keepalives=1 keepalives_idle=20 \
         tcp_user_timeout=5000 channel_binding=prefer load_balance_hosts=disable \
         fallback_application_name=fb gssencmode=disable"
    ))
    .await
    .expect("connect_timeout=0 and friends");
    assert_eq!(db.params.effective_connect_timeout(), None);
    let name: String = db
        .client()
        .await
        .expect("client")
        .query_one("SELECT current_setting('application_name')", &[])
        .await
        .expect("q")
        .get(0);
    // tenantctl's own name wins over a fallback, as application_name would.
    assert_eq!(name, "fb");
}

#[test]
fn pg_service_conf_service() {
    let c = common::cluster();
    let dbname = c.create_database().expect("db");
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("pg_service.conf");
    std::fs::write(
        &file,
        format!(
            "[decoy]\nhost=/nonexistent-tc\n\n[prod]\nhost={}\nport=5432\nuser=postgres\ndbname={dbname}\nsslmode=disable\n",
            c.socket_dir().display()
        ),
    )
    .expect("service file");
    let state = tempfile::tempdir().expect("tmp");
    let run = |args: &[&str], service_env: bool| {
        let mut cmd = common::bin();
        cmd.env("XDG_STATE_HOME", state.path())
            .env("XDG_CONFIG_HOME", state.path())
            .env("PGSERVICEFILE", &file)
            .env("PGSYSCONFDIR", "/nonexistent-tc")
            .args(args);
        if service_env {
            cmd.env("PGSERVICE", "prod");
        }
        cmd.output().expect("run")
    };
    let o = run(&["--database-url", "service=prod", "init"], false);
    assert!(
        o.status.success(),
        "service=: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // PGSERVICE alone, no URL at all.
    let o = run(&["list", "--json"], true);
    assert!(
        o.status.success(),
        "PGSERVICE: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
    let o = run(&["--database-url", "service=nope", "list"], false);
    assert_eq!(o.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&o.stderr).contains("service \"nope\" not found"));
}

/// Removes a file when dropped.
struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn any_port_finds_its_socket_in_the_default_directory() {
    // psql with PGPORT=5433 and no host uses /var/run/postgresql/.s.PGSQL.5433
    // (or /tmp's). Stand a socket up under an unused port in /tmp: a link to
    // the test cluster's socket (the port only names the file).
    let c = common::cluster();
    let dbname = c.create_database().expect("db");
    let port = 40_000 + std::process::id() % 20_000;
    let link = PathBuf::from(format!("/tmp/.s.PGSQL.{port}"));
    assert!(
        !Path::new(&format!("/var/run/postgresql/.s.PGSQL.{port}")).exists(),
        "port {port} is taken in /var/run/postgresql"
    );
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(c.socket_dir().join(".s.PGSQL.5432"), &link).expect("symlink");
    let _cleanup = Remove(link);
    let env: std::collections::BTreeMap<String, String> = [
        ("PGPORT", port.to_string()),
        ("PGUSER", "postgres".into()),
        ("PGDATABASE", dbname.clone()),
        ("PGPASSFILE", "/nonexistent".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let params = tenantctl::config::conninfo::resolve("sslmode=require", &env).expect("resolve");
    assert_eq!(
        params.hosts,
        vec!["/tmp".to_string()],
        "the socket, not TCP localhost"
    );
    let db = Db::connect_params(params, "tenant_admin", 1, "test")
        .await
        .expect("connect through the default socket directory");
    assert!(
        db.params.describe().contains(&format!("/tmp:{port}")),
        "{}",
        db.params.describe()
    );
    db.ping().await.expect("ping");
}

/// A CA (v3) and a server certificate it signed (v3, for `localhost` only),
/// made in `dir`: `ca.crt`, `s3.crt`, `s3.key`.
fn v3_chain(dir: &Path) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-subj",
            "/CN=tenantctl test CA",
            "-days",
            "2",
            "-out",
            "ca.crt",
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "s3.key",
            "-subj",
            "/CN=localhost",
            "-out",
            "s3.csr",
        ],
        dir,
    );
    std::fs::write(
        dir.join("s3.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost\n",
    )
    .expect("ext");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "s3.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "s3.ext",
            "-out",
            "s3.crt",
        ],
        dir,
    );
    for f in ["s3.crt", "s3.key"] {
        give_to_server_user(&dir.join(f));
    }
    std::fs::set_permissions(dir.join("s3.key"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
}

#[tokio::test]
async fn verify_ca_and_verify_full_check_what_require_does_not() {
    let Some(g) = guarded() else { return };
    let files = g.files.path();
    let at = |mode: &str, extra: &str| {
        format!(
            "host={} port=5432 user=postgres dbname=postgres sslmode={mode} {extra}",
            g.tcp
        )
    };
    let v1 = files.join("server.crt").display().to_string();
    // require: the v1 self-signed certificate is taken, and the link is encrypted.
    connect(&at("require", ""))
        .await
        .unwrap_or_else(|e| panic!("require: {}", e.message));
    // verify-ca without a root certificate refuses before connecting.
    let e = connect(&at("verify-ca", "sslrootcert=/nonexistent/root.crt"))
        .await
        .expect_err("no root, no verify-ca");
    assert!(
        e.message.contains("root certificate") && e.message.contains("sslrootcert"),
        "{}",
        e.message
    );
    // verify-ca with the v1 certificate itself as the root: webpki checks v3
    // certificates only, and the error says so and what to do.
    for mode in ["verify-ca", "verify-full"] {
        let e = connect(&at(mode, &format!("sslrootcert={v1}")))
            .await
            .expect_err("v1 certificates cannot be verified");
        assert!(
            e.message.contains("X.509 v1") && e.message.contains("sslmode=require"),
            "{mode}: {}",
            e.message
        );
    }

    // The server now presents a v3 certificate signed by a CA, for
    // `localhost` only (the configuration is reloaded, not restarted).
    v3_chain(files);
    // The server's files are given on its command line (which ALTER SYSTEM
    // cannot override): their contents are replaced, then reloaded.
    for (from, to) in [("s3.crt", "server.crt"), ("s3.key", "server.key")] {
        let bytes = std::fs::read(files.join(from)).expect("read");
        std::fs::write(files.join(to), bytes).expect("replace");
    }
    g.cluster
        .exec_sync("postgres", "SELECT pg_reload_conf()")
        .expect("reload");
    let ca = files.join("ca.crt").display().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match connect(&at("verify-ca", &format!("sslrootcert={ca}"))).await {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => panic!("verify-ca with the CA: {}", e.message),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    // verify-ca: another root (the old v1 certificate) is not the issuer.
    let client_crt = files.join("client.crt").display().to_string();
    let e = connect(&at("verify-ca", &format!("sslrootcert={client_crt}")))
        .await
        .expect_err("an unknown issuer");
    assert!(e.message.contains("certificate"), "{}", e.message);
    // verify-full also checks the name: the certificate is for localhost,
    // not for the address connected to; with host=localhost it matches.
    let e = connect(&at("verify-full", &format!("sslrootcert={ca}")))
        .await
        .expect_err("the name does not match");
    assert!(e.message.contains("certificate"), "{}", e.message);
    connect(&format!(
        "host=localhost hostaddr={} port=5432 user=postgres dbname=postgres sslmode=verify-full sslrootcert={ca}",
        g.tcp
    ))
    .await
    .unwrap_or_else(|e| panic!("verify-full for localhost: {}", e.message));
    // require still takes any certificate (this one's issuer is unknown to it).
    connect(&at("require", ""))
        .await
        .unwrap_or_else(|e| panic!("require after the switch: {}", e.message));
}
