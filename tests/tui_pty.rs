//! The real binary in a pseudo-terminal against a local cluster: the list,
//! the create wizard by typed keys, suspend through its confirmation (checked
//! in the database), resizing to 40×10 and back, a hostile tenant name, and
//! an outage with recovery. Needs the backend task (`backend::spawn`).

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use expectrl::Session;

const COLS: u16 = 120;
const ROWS: u16 = 36;

/// Remembers window titles the program tried to set (a hostile name must not).
#[derive(Default)]
struct Titles(Vec<String>);

impl vt100::Callbacks for Titles {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.0.push(String::from_utf8_lossy(title).into_owned());
    }
}

struct Console {
    session: Session,
    screen: vt100::Parser<Titles>,
}

impl Console {
    fn spawn(url: &str, extra: &[&str]) -> Self {
        let mut cmd = common::bin();
        cmd.arg("--database-url").arg(url).args(extra);
        Self::spawn_command(cmd)
    }

    fn spawn_command(mut cmd: std::process::Command) -> Self {
        cmd.env("TERM", "xterm-256color").env_remove("NO_COLOR");
        let mut session = Session::spawn(cmd).expect("spawn in a pty");
        session
            .get_process_mut()
            .set_window_size(COLS, ROWS)
            .expect("window size");
        Self {
            session,
            screen: vt100::Parser::new_with_callbacks(ROWS, COLS, 0, Titles::default()),
        }
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 8192];
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

    /// Wait until the screen satisfies `pred`; panics with the screen on timeout.
    fn wait_for(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            self.pump();
            let t = self.text();
            if pred(&t) {
                return t;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}; screen:\n{t}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_text(&mut self, needle: &str, timeout: Duration) -> String {
        let n = needle.to_string();
        self.wait_for(needle, timeout, move |t| t.contains(&n))
    }

    fn keys(&mut self, s: &str) {
        self.session.write_all(s.as_bytes()).expect("write keys");
        self.session.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(60));
        self.pump();
    }

    fn resize(&mut self, cols: u16, rows: u16) {
        self.session
            .get_process_mut()
            .set_window_size(cols, rows)
            .expect("resize");
        self.screen.screen_mut().set_size(rows, cols);
        std::thread::sleep(Duration::from_millis(300));
        self.pump();
    }

    fn alive(&mut self) -> bool {
        self.session.is_alive().unwrap_or(false)
    }
}

fn init(url: &str) {
    let out = common::bin()
        .args(["--database-url", url, "init"])
        .output()
        .expect("run init");
    assert!(
        out.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rows for display only (no schema or role behind them).
fn seed(cluster: &tenantctl::local_cluster::LocalCluster, db: &str) {
    cluster
        .exec_sync(
            db,
            "INSERT INTO tenant_admin.tenants (id, name, domain, schema_name, role_name, status, template, created_by)
             VALUES (gen_random_uuid(), 'Seeded Alpha', 'alpha.example', 'tenant_seed_alpha', 'tenant_seed_alpha', 'active', 'default', 'test'),
                    (gen_random_uuid(), E'\\x1b[2J\\x1b]0;pwned\\x07Evil Corp', 'evil.example', 'tenant_seed_evil', 'tenant_seed_evil', 'active', 'default', 'test');",
        )
        .expect("seed tenants");
}

const T: Duration = Duration::from_secs(20);

#[test]
fn console_end_to_end() {
    let cluster = common::cluster();
    let db = cluster.create_database().expect("database");
    let url = cluster.conninfo(&db);
    init(&url);
    seed(cluster, &db);

    let mut c = Console::spawn(&url, &[]);
    // The list shows the tenants; the hostile name is shown defanged.
    let screen = c.wait_text("Seeded Alpha", T);
    assert!(screen.contains("Evil Co"), "{screen}");
    assert!(screen.contains("?[2J"), "escape shown as text: {screen}");
    assert!(
        !c.screen.callbacks().0.iter().any(|t| t.contains("pwned")),
        "a tenant name set the window title"
    );

    // Create a tenant through the wizard by typed keys.
    c.keys("n");
    c.wait_text("new tenant", T);
    c.keys("Pty Tenant\r");
    c.wait_text("Domain", T);
    c.keys("pty-tenant.example\r");
    c.wait_text("Template", T);
    c.keys("\r"); // template (default)
    c.keys("\r"); // limits as proposed
    c.keys("\r"); // settings {}
    c.wait_text("Review", T);
    c.keys("\r"); // create
    let done = c.wait_for("the creation result", Duration::from_secs(60), |t| {
        t.contains("Enter or Esc closes")
    });
    assert!(!done.contains("failed:"), "{done}");
    if done.contains("created Pty Tenant") {
        // The Done event carried the tenant: schema and role are shown.
        assert!(done.contains("schema") && done.contains("role"), "{done}");
    }
    c.keys("\r"); // close the result
    c.wait_text("Pty Tenant", T);
    let status = cluster
        .query_sync(
            &db,
            "SELECT status FROM tenant_admin.tenants WHERE domain = 'pty-tenant.example'",
        )
        .expect("query");
    assert_eq!(status, vec![Some("active".to_string())]);

    // Suspend it through its confirmation (the command line finds it by name).
    c.keys(":suspend Pty Tenant\r");
    c.wait_text("Suspend Pty Tenant", T);
    c.keys("y");
    let start = Instant::now();
    loop {
        let s = cluster
            .query_sync(
                &db,
                "SELECT status FROM tenant_admin.tenants WHERE domain = 'pty-tenant.example'",
            )
            .expect("query");
        if s == vec![Some("suspended".to_string())] {
            break;
        }
        assert!(start.elapsed() < T, "not suspended in the database: {s:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    c.wait_for("the row to show suspended", T, |t| {
        t.lines()
            .any(|l| l.contains("Pty Tenant") && l.contains("suspended"))
    });

    // Resize to 40×10 and back without a panic.
    c.resize(40, 10);
    assert!(c.alive(), "console died at 40x10");
    c.resize(COLS, ROWS);
    c.wait_text("Pty Tenant", T);
    assert!(c.alive(), "console died after resizing back");

    // Quit cleanly.
    c.keys("q");
    let start = Instant::now();
    while c.alive() {
        assert!(start.elapsed() < T, "console did not quit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn console_survives_an_outage() {
    let mut cluster = tenantctl::local_cluster::LocalCluster::start().expect("own cluster");
    let db = cluster.create_database().expect("database");
    let url = cluster.conninfo(&db);
    init(&url);
    seed(&cluster, &db);
    let mut c = Console::spawn(&url, &[]);
    c.wait_text("Seeded Alpha", T);
    c.keys("/alpha\r");
    cluster.pause().expect("stop the cluster");
    c.wait_for("the disconnected state", Duration::from_secs(30), |t| {
        t.contains("disconnected") && t.contains("retrying in")
    });
    assert!(c.alive());
    cluster.restart().expect("restart the cluster");
    c.wait_for("recovery", Duration::from_secs(60), |t| {
        !t.contains("disconnected") && t.contains("PostgreSQL") && t.contains("Seeded Alpha")
    });
    // The filter survived the reconnect.
    assert!(c.text().contains("filter: alpha"), "{}", c.text());
    c.keys("q");
}

/// Ctrl-Z under a real job-control shell: the console stops with the
/// terminal restored (the shell's prompt on the normal screen), and `fg`
/// brings it back drawn and working.
#[test]
fn ctrl_z_stops_and_fg_resumes_under_a_job_control_shell() {
    let cluster = common::cluster();
    let db = cluster.create_database().expect("database");
    let url = cluster.conninfo(&db);
    init(&url);
    seed(cluster, &db);

    let mut bash = std::process::Command::new("bash");
    bash.args(["--norc", "--noprofile", "-i"])
        .env("PS1", "PROMPT$ ");
    let mut c = Console::spawn_command(bash);
    c.wait_text("PROMPT$", T);
    let bin = common::bin();
    let line = format!(
        "'{}' --database-url '{url}' ui\r",
        bin.get_program().to_string_lossy()
    );
    c.keys(&line);
    c.wait_text("Seeded Alpha", T);
    assert!(
        c.screen.screen().alternate_screen(),
        "the console draws on the alternate screen"
    );

    c.keys("\x1a");
    c.wait_text("Stopped", T);
    assert!(
        !c.screen.screen().alternate_screen(),
        "stopped: the terminal is back on the normal screen"
    );

    c.keys("fg\r");
    c.wait_text("Seeded Alpha", T);
    assert!(c.screen.screen().alternate_screen());
    // Still working: a key moves to the Monitor pane.
    assert!(!c.text().contains("top "), "{}", c.text());
    c.keys("\t");
    c.wait_text("top ", T);

    c.keys("q");
    c.wait_for("the shell's prompt after quitting", T, |t| {
        t.lines()
            .any(|l| l.starts_with("PROMPT$") && l.trim_end() == "PROMPT$")
    });
    assert!(!c.screen.screen().alternate_screen());
    c.keys("exit\r");
}

/// A tenant whose `trades.timestamp` is of its own type with an implicit
/// cast (the detail pane's read of today's trades would evaluate it): the
/// console opens its detail and every tab, and the cast never runs as the
/// operator.
#[test]
fn the_detail_pane_runs_no_tenant_code_as_the_operator() {
    let cluster = common::cluster();
    let db = cluster.create_database().expect("database");
    let url = cluster.conninfo(&db);
    init(&url);
    let out = common::bin()
        .args([
            "--database-url",
            &url,
            "create",
            "--name",
            "Hooked Books",
            "--domain",
            "hooked.example",
            "--json",
        ])
        .output()
        .expect("create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let t = if t.get("tenant").is_some() {
        t["tenant"].clone()
    } else {
        t
    };
    let schema = t["schema_name"].as_str().expect("schema").to_string();
    let owner = t["owner_role"].as_str().expect("owner role").to_string();
    let marker = format!("pty{}", &schema[7..15]);
    cluster
        .exec_sync(
            &db,
            &format!(
                r#"SET ROLE "{owner}"; SET search_path = "{schema}";
CREATE FUNCTION hook_act(kind text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  RAISE WARNING 'tenantctl-hook {marker}: kind=% user=% session=%', kind, current_user, session_user;
  RETURN true;
END $f$;
CREATE TYPE ht AS (v timestamptz);
CREATE FUNCTION ht_ts(ht) RETURNS timestamptz LANGUAGE plpgsql AS $f$
BEGIN PERFORM "{schema}".hook_act('cast'); RETURN $1.v; END $f$;
CREATE CAST (ht AS timestamptz) WITH FUNCTION ht_ts(ht) AS IMPLICIT;
DROP TABLE trades CASCADE;
CREATE TABLE trades (id int, "timestamp" ht);
INSERT INTO trades VALUES (1, ROW(now())::ht);
RESET ROLE;"#
            ),
        )
        .expect("plant the cast");
    let mut c = Console::spawn(&url, &[]);
    c.wait_text("Hooked Books", T);
    c.keys("\r");
    c.wait_text("Overview", T);
    for _ in 0..6 {
        c.keys("l");
        std::thread::sleep(Duration::from_millis(400));
    }
    std::thread::sleep(Duration::from_secs(1));
    c.keys("q");
    let log = std::fs::read_to_string(cluster.log_path()).unwrap_or_default();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("tenantctl-hook {marker}:")))
        .collect();
    assert!(
        lines.iter().all(|l| l.contains("session=tenant_")),
        "tenant code ran as the operator: {lines:?}"
    );
}

/// Every monitoring view opens in the real binary, by its key and by its
/// `:` command, and draws its frame (charts with their axes, the
/// Neighbours header, the Locks view, the heat map with its footer).
#[test]
fn monitoring_views_open_by_key_and_command() {
    let cluster = common::cluster();
    let db = cluster.create_database().expect("database");
    let url = cluster.conninfo(&db);
    init(&url);
    seed(cluster, &db);
    let mut c = Console::spawn(&url, &[]);
    c.wait_text("Seeded Alpha", T);
    c.keys("m");
    c.wait_for("the cluster charts", T, |t| {
        t.contains("commits/s")
            && t.contains("connections")
            && t.contains("now")
            && t.contains("ago")
    });
    c.keys("w");
    c.wait_text("1m ago", T);
    c.keys("N");
    c.wait_text("Noisy neighbours", T);
    c.keys("L");
    c.wait_for("the Locks view", T, |t| {
        t.contains("Monitor › Locks") && t.contains("nobody waits on a lock")
    });
    c.keys("H");
    c.wait_for("the heat map", T, |t| {
        t.contains("Heat map")
            && t.contains("health by template version")
            && t.contains("(1/2 of 2)")
    });
    c.keys("l"); // the cursor moves to the next cell; the footer follows
    c.wait_text("Seeded Alpha", T);
    c.keys("\x1b"); // Esc: back to the monitor
    c.wait_text("top ", T);
    for (cmd, needle) in [
        (":neighbours wal\r", "by WAL bytes/s"),
        (":locks\r", "blocking chain"),
        (":heatmap\r", "Monitor › Heat map"),
        (":monitor\r", "statements/s"),
    ] {
        c.keys(cmd);
        c.wait_text(needle, T);
    }
    c.keys("q");
    let start = Instant::now();
    while c.alive() {
        assert!(start.elapsed() < T, "console did not quit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A template whose one migration sleeps 0.4 s per row, so a run of a
/// dozen tenants takes long enough to watch.
const SLOW_TEMPLATE: &str = r#"{"name": "slow", "version": 2,
 "tables": ["CREATE TABLE items (id integer PRIMARY KEY, note text)"],
 "baseline": {"version": 1, "tables": ["CREATE TABLE items (id integer PRIMARY KEY)"]},
 "migrations": [{"to": 2, "description": "notes", "steps": [
   "ALTER TABLE items ADD COLUMN note text",
   "UPDATE items SET note = 'x' WHERE pg_sleep(0.4)::text = ''"]}]}"#;

/// The "N of TOTAL done" count of the pane's run line.
fn done_count(screen: &str, total: usize) -> Option<usize> {
    let needle = format!(" of {total} done");
    let line = screen.lines().find(|l| l.contains(&needle))?;
    let head = &line[..line.find(&needle)?];
    head.rsplit(' ').next()?.parse().ok()
}

#[test]
fn the_migrations_pane_shows_a_run_move_and_pauses_it() {
    const N: usize = 14;
    let cluster = common::cluster();
    let db = cluster.create_database().expect("database");
    let url = cluster.conninfo(&db);
    init(&url);
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("slow.json"), SLOW_TEMPLATE).expect("template");
    let tdir = dir.path().to_str().expect("utf-8 path").to_string();
    for i in 0..N {
        let out = common::bin()
            .args(["--database-url", &url, "--template-dir", &tdir, "create"])
            .args(["--name", &format!("Slow {i:02}")])
            .args(["--domain", &format!("slow{i:02}.example")])
            .args(["--template", "slow", "--template-version", "1"])
            .output()
            .expect("create");
        assert!(
            out.status.success(),
            "create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    cluster
        .exec_sync(
            &db,
            "DO $d$ DECLARE s text; BEGIN
               FOR s IN SELECT schema_name FROM tenant_admin.tenants WHERE template = 'slow' LOOP
                 EXECUTE format('INSERT INTO %I.items VALUES (1)', s);
               END LOOP; END $d$",
        )
        .expect("rows");
    // Another process drives the run, one tenant at a time.
    let mut driver = common::bin()
        .args(["--database-url", &url, "--template-dir", &tdir])
        .args(["migrate", "apply", "--template", "slow", "--parallel", "1"])
        .args(["--canary", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("driver");

    let mut c = Console::spawn(&url, &["--template-dir", &tdir]);
    c.wait_text("Slow 00", T);
    c.keys("M");
    let screen = c.wait_for("the running run", T, |t| {
        t.lines()
            .any(|l| l.contains("slow") && l.contains("running"))
            && done_count(t, N).is_some()
    });
    let first = done_count(&screen, N).expect("count");
    // The pane follows the run as tenants finish.
    c.wait_for("progress", T, |t| {
        done_count(t, N).is_some_and(|n| n > first)
    });
    assert!(c.text().contains("v1→v2"), "{}", c.text());
    // Pause it: asked first, then the driver drains and stops.
    c.keys("p");
    c.wait_text("Pause run", T);
    c.keys("y");
    let start = Instant::now();
    loop {
        let s = cluster
            .query_sync(
                &db,
                "SELECT state || ' ' || (ended_at IS NOT NULL)::text FROM tenant_admin.migration_runs",
            )
            .expect("query");
        if s == vec![Some("paused true".to_string())] {
            break;
        }
        assert!(start.elapsed() < T, "not paused in the database: {s:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let screen = c.wait_for("the paused run", T, |t| {
        t.lines()
            .any(|l| l.contains("slow") && l.contains("paused") && !l.contains("pausing"))
    });
    let paused_at = done_count(&screen, N).expect("count");
    assert!(paused_at < N, "paused before the end: {screen}");
    let start = Instant::now();
    while driver.try_wait().expect("wait").is_none() {
        assert!(start.elapsed() < T, "the driver did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let queued = cluster
        .query_sync(
            &db,
            "SELECT count(*) FROM tenant_admin.migration_ledger WHERE state = 'queued'",
        )
        .expect("query");
    assert_ne!(
        queued,
        vec![Some("0".to_string())],
        "queued tenants stay queued"
    );
    // Nothing moves any more.
    std::thread::sleep(Duration::from_millis(1500));
    c.pump();
    assert_eq!(done_count(&c.text(), N), Some(paused_at), "{}", c.text());
    // Resume it here: the console's backend drives the rest, the pane follows.
    c.keys("R");
    c.wait_text("Resume run", T);
    c.keys("y");
    c.wait_for("the resumed run to finish", Duration::from_secs(60), |t| {
        done_count(t, N) == Some(N) && t.lines().any(|l| l.contains("slow") && l.contains("done"))
    });
    let v = cluster
        .query_sync(
            &db,
            "SELECT count(*) FROM tenant_admin.tenants WHERE template = 'slow' AND template_version = 2",
        )
        .expect("query");
    assert_eq!(v, vec![Some(N.to_string())], "every tenant at v2");
    c.keys("q");
    let start = Instant::now();
    while c.alive() {
        assert!(start.elapsed() < T, "console did not quit");
        std::thread::sleep(Duration::from_millis(50));
    }
}
