//! Command-line manners through the real binary: closed pipes, SIGTERM in
//! the console, durations and times that round-trip, output formats, wide
//! characters in tables, and logs that stay private.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, cluster};

struct Cli {
    url: String,
    state: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        let c = cluster();
        let db = c.create_database().expect("database");
        let cli = Self {
            url: c.conninfo(&db),
            state: tempfile::tempdir().expect("tmp"),
        };
        cli.ok(&["init"]);
        cli
    }
    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = bin();
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("XDG_STATE_HOME", self.state.path())
            .arg("--database-url")
            .arg(&self.url)
            .args(args);
        cmd
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run tenantctl")
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn create(&self, name: &str, domain: &str, extra: &[&str]) {
        let mut args = vec!["create", "--name", name, "--domain", domain];
        args.extend_from_slice(extra);
        self.ok(&args);
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The reader goes away before tenantctl writes: no panic, exit 0.
fn assert_quiet_on_closed_pipe(mut cmd: std::process::Command, what: &str) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(!err.contains("Broken pipe"), "{what}: {err}");
}

#[test]
fn closed_pipes_end_quietly() {
    let cli = Cli::new();
    for i in 0..3 {
        cli.create(&format!("Pipe {i}"), &format!("pipe-{i}.example"), &[]);
    }
    assert_quiet_on_closed_pipe(cli.cmd(&["list"]), "list");
    assert_quiet_on_closed_pipe(cli.cmd(&["list", "--json"]), "list --json");
    assert_quiet_on_closed_pipe(cli.cmd(&["audit"]), "audit");
    let mut c = bin();
    c.args(["completions", "zsh"]);
    assert_quiet_on_closed_pipe(c, "completions zsh");
    let mut c = bin();
    c.args(["man"]);
    assert_quiet_on_closed_pipe(c, "man");
    // As `| head -1` does it: one line read, then the pipe closed.
    let mut child = cli
        .cmd(&["list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("read");
    let out = child.wait_with_output().expect("wait");
    assert!(first.starts_with("NAME"), "{first}");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
}

/// The TIMEOUT column of `list` for the tenant named `name`.
fn printed_timeout(cli: &Cli, domain: &str) -> String {
    let out = cli.ok(&["list"]);
    let header = out.lines().next().expect("header");
    let at = header.find("TIMEOUT").expect("TIMEOUT column");
    let line = out
        .lines()
        .find(|l| l.contains(domain))
        .unwrap_or_else(|| panic!("{domain} in {out}"));
    // Columns are padded by cells; these lines are ASCII, so bytes = cells.
    line[at..]
        .split_whitespace()
        .next()
        .expect("value")
        .to_string()
}

#[test]
fn every_duration_list_prints_parses_back() {
    let cli = Cli::new();
    let cases = [
        ("250ms", "250ms"),
        ("12s", "12.0s"),
        ("1m30s", "1m30s"),
        ("90", "1m30s"),
        ("1h30m", "1h30m"),
        ("2d04h", "2d04h"),
        ("1h 5m", "1h05m"),
    ];
    for (i, (typed, shown)) in cases.iter().enumerate() {
        let domain = format!("dur-{i}.example");
        cli.create(
            &format!("Dur {i}"),
            &domain,
            &["--statement-timeout", typed],
        );
        let printed = printed_timeout(&cli, &domain);
        assert_eq!(&printed, shown, "{typed}");
        // What list printed is accepted back, and prints the same again.
        cli.ok(&["update", &domain, "--statement-timeout", &printed]);
        assert_eq!(printed_timeout(&cli, &domain), printed, "{typed}");
    }
    // Zero is refused with a pointer to the flag that removes the limit.
    let o = cli.run(&["update", "dur-0.example", "--statement-timeout", "0"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--no-statement-timeout"),
        "{}",
        stderr(&o)
    );
    cli.ok(&["update", "dur-0.example", "--no-statement-timeout"]);
    assert_eq!(printed_timeout(&cli, "dur-0.example"), "-");
    // Half a byte is not a quota.
    let o = cli.run(&["update", "dur-0.example", "--storage-quota", "0.5"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("less than one byte"), "{}", stderr(&o));
    // audit --since takes what usage export --from takes, and what it prints.
    let rows = cli.ok(&["audit", "--since", "2026-01-01 10:00"]);
    assert!(rows.contains("create"), "{rows}");
    let first_at: String = rows
        .lines()
        .nth(1)
        .expect("a row")
        .chars()
        .take(19)
        .collect();
    cli.ok(&["audit", "--since", &first_at]);
    cli.ok(&["audit", "--since", "24h ago"]);
    cli.ok(&[
        "usage",
        "export",
        "--from",
        "2026-01-01 10:00",
        "--to",
        "now",
    ]);
}

#[test]
fn wide_characters_keep_columns_aligned() {
    let cli = Cli::new();
    cli.create("東京トレード株式会社", "tokyo.example", &[]);
    cli.create("Acme", "acme.example", &[]);
    let out = cli.ok(&["list"]);
    let cell_col = |line: &str, needle: &str| {
        let at = line
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} in {line}"));
        unicode_width::UnicodeWidthStr::width(&line[..at])
    };
    let lines: Vec<&str> = out.lines().collect();
    let header = cell_col(lines[0], "DOMAIN");
    let tokyo = lines.iter().find(|l| l.contains("tokyo")).expect("row");
    let acme = lines
        .iter()
        .find(|l| l.contains("acme.example"))
        .expect("row");
    assert_eq!(cell_col(tokyo, "tokyo.example"), header, "{out}");
    assert_eq!(cell_col(acme, "acme.example"), header, "{out}");
    let status = cell_col(lines[0], "STATUS");
    assert_eq!(cell_col(tokyo, "active"), status, "{out}");
}

#[test]
fn output_formats() {
    let cli = Cli::new();
    cli.create("=HYPERLINK(\"http://x\")", "formula.example", &[]);
    let csv = cli.ok(&["list", "-o", "csv"]);
    assert!(csv.starts_with("id,name,"), "{csv}");
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{csv}");
    let bare = cli.ok(&["list", "-o", "csv", "--no-headers"]);
    assert!(!bare.contains("id,name,"), "{bare}");
    assert_eq!(bare.lines().count(), 1);
    let yaml = cli.ok(&["list", "-o", "yaml"]);
    assert!(yaml.contains("domain: formula.example"), "{yaml}");
    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["list", "-o", "json"])).expect("json");
    assert_eq!(json[0]["domain"], "formula.example");
    let wide = cli.ok(&["list", "-o", "wide"]);
    assert!(
        wide.lines().next().expect("header").starts_with("ID"),
        "{wide}"
    );
    let plain = cli.ok(&["list", "--no-headers"]);
    assert!(!plain.contains("DOMAIN"), "{plain}");
    let show = cli.ok(&["show", "formula.example", "-o", "yaml"]);
    assert!(show.contains("status: active"), "{show}");
    // Completions name the cluster's tenants.
    let script = cli.ok(&["completions", "bash"]);
    assert!(
        script.contains("formula.example"),
        "domains in the completion script"
    );
}

#[test]
fn version_man_and_paths() {
    let o = bin().arg("--version").output().expect("run");
    let v = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(v.starts_with("tenantctl 0."), "{v}");
    assert!(
        v.contains('(') && !v.contains("unknown commit"),
        "commit in {v}"
    );
    let man = bin().arg("man").output().expect("run");
    let man = String::from_utf8_lossy(&man.stdout).into_owned();
    assert!(man.contains(".TH tenantctl"), "{man}");
    assert!(man.contains("database\\-url"), "flags in the man page");
    let state = tempfile::tempdir().expect("tmp");
    let o = bin()
        .env("XDG_STATE_HOME", state.path())
        .args(["config", "paths", "--json"])
        .output()
        .expect("run");
    let paths: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let log = paths["log"].as_str().expect("log path");
    assert!(
        log.starts_with(state.path().to_str().expect("utf8")),
        "{paths}"
    );
    assert!(
        paths["backups"].is_string()
            && paths["templates"]
                .as_array()
                .is_some_and(|t| t.iter().any(|d| d["from"] == "templates (built in)")),
        "{paths}"
    );
}

#[test]
fn logs_are_private_and_hold_no_secrets() {
    let cli = Cli::new();
    cli.create("Secret Co", "secret.example", &[]);
    let dir = tempfile::tempdir().expect("tmp");
    let log_dir = dir.path().join("logs");
    let log = log_dir.join("t.log");
    let o = cli
        .cmd(&[
            "--log-file",
            log.to_str().expect("utf8"),
            "credentials",
            "secret.example",
        ])
        .env("LOG_LEVEL", "debug")
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let password = out
        .lines()
        .last()
        .expect("password line")
        .trim()
        .to_string();
    assert!(password.len() >= 24, "{out}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("DEBUG"), "debug lines were written: {text}");
    assert!(
        text.contains("preparing query"),
        "statement logging is on: {text}"
    );
    assert!(!text.contains("SCRAM-SHA-256$"), "verifier in the log");
    assert!(!text.contains(&password), "password in the log");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&log), 0o600);
    assert_eq!(mode(&log_dir), 0o700);
    // -v: the log lines on stderr too, just as clean.
    let o = cli
        .cmd(&["-v", "credentials", "secret.example"])
        .env("LOG_LEVEL", "debug")
        .output()
        .expect("run");
    let err = stderr(&o);
    assert!(err.contains("DEBUG"), "{err}");
    assert!(!err.contains("SCRAM-SHA-256$"), "{err}");
}

#[test]
fn connection_string_errors_hide_the_password() {
    for url in [
        "postgres://bob:zq s/cr?t@db/x",
        "postgres://bob:zq/x@db/x",
        "host=db password=zq secret",
    ] {
        let o = bin()
            .args(["--database-url", url, "list"])
            .output()
            .expect("run");
        assert_eq!(o.status.code(), Some(5), "{url}: {}", stderr(&o));
        assert!(!stderr(&o).contains("zq"), "{url}: {}", stderr(&o));
    }
}

#[test]
fn sigterm_restores_the_terminal() {
    let cli = Cli::new();
    let mut cmd = bin();
    cmd.env("XDG_STATE_HOME", cli.state.path())
        .env("TERM", "xterm-256color")
        .args(["--database-url", &cli.url]);
    let mut session = expectrl::Session::spawn(cmd).expect("spawn in a pty");
    session
        .get_process_mut()
        .set_window_size(100, 30)
        .expect("size");
    let mut screen = vt100::Parser::new(30, 100, 0);
    let pump = |session: &mut expectrl::Session, screen: &mut vt100::Parser| {
        let mut buf = [0u8; 8192];
        while let Ok(n) = session.try_read(&mut buf) {
            if n == 0 {
                break;
            }
            screen.process(&buf[..n]);
        }
    };
    let start = Instant::now();
    while !screen.screen().contents().contains("no tenants yet") {
        pump(&mut session, &mut screen);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "console did not start: {}",
            screen.screen().contents()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        screen.screen().alternate_screen(),
        "the console uses the alternate screen"
    );
    let pid = session.get_process().pid();
    // expectrl has its own nix; kill(1) keeps the test free of that version.
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let start = Instant::now();
    while session.is_alive().unwrap_or(false) {
        pump(&mut session, &mut screen);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "console did not end"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    pump(&mut session, &mut screen);
    assert!(
        !screen.screen().alternate_screen(),
        "back on the normal screen after SIGTERM"
    );
}
