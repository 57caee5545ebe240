//! The tenant subcommands through the real binary: exit codes, one-line
//! errors, JSON output, and that refused commands change nothing.

mod common;

use std::process::Output;

use common::{bin, cluster};

struct Cli {
    url: String,
    state: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        let c = cluster();
        let db = c.create_database().expect("database");
        Self {
            url: c.conninfo(&db),
            state: tempfile::tempdir().expect("tmp"),
        }
    }
    fn run(&self, args: &[&str]) -> Output {
        bin()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("XDG_STATE_HOME", self.state.path())
            .arg("--database-url")
            .arg(&self.url)
            .args(args)
            .output()
            .expect("run tenantctl")
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit code and a single-sentence error on stderr.
fn assert_fails(o: &Output, want: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(code(o), want, "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(err.contains(needle), "{needle:?} in {err}");
}

fn tenant_count(cli: &Cli) -> usize {
    let o = cli.run(&["list", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    v.as_array().expect("array").len()
}

#[test]
fn cli_lifecycle_exit_codes_and_output() {
    let cli = Cli::new();
    assert_fails(&cli.run(&["list"]), 1, "tenantctl init");
    assert_eq!(code(&cli.run(&["init"])), 0);

    let o = cli.run(&[
        "create",
        "--name",
        "Acme Trading",
        "--domain",
        "Acme.Example.com",
        "--connection-limit",
        "7",
        "--statement-timeout",
        "20s",
        "--storage-quota",
        "5GB",
        "--settings",
        r#"{"tier":"gold"}"#,
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let t: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("create --json");
    for field in [
        "id",
        "name",
        "domain",
        "schema_name",
        "role_name",
        "status",
        "template",
        "template_version",
        "settings",
        "connection_limit",
        "statement_timeout",
        "storage_quota_bytes",
        "created_at",
        "updated_at",
        "created_by",
        "provision_ms",
    ] {
        assert!(t.get(field).is_some(), "{field} in {t}");
    }
    assert_eq!(t["domain"], "acme.example.com");
    assert_eq!(t["status"], "active");
    assert_eq!(t["connection_limit"], 7);
    assert_eq!(t["statement_timeout"], 20_000);
    assert_eq!(t["storage_quota_bytes"], 5_u64 << 30);

    // Bad input: one sentence, exit code, nothing changed.
    let bad: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--name", "", "--domain", "x.example.com"], 5, "empty"),
        (
            vec!["--name", "X", "--domain", "ACME.example.com"],
            4,
            "already exists",
        ),
        (
            vec!["--name", "X", "--domain", "bad_domain"],
            5,
            "invalid domain",
        ),
        (
            vec![
                "--name",
                "X",
                "--domain",
                "y.example.com",
                "--template",
                "nosuch",
            ],
            3,
            "unknown template",
        ),
        (
            vec![
                "--name",
                "X",
                "--domain",
                "y.example.com",
                "--template",
                "/etc/passwd",
            ],
            5,
            "not a path",
        ),
        (
            vec![
                "--name",
                "X",
                "--domain",
                "y.example.com",
                "--settings",
                "[1]",
            ],
            5,
            "JSON object",
        ),
        (
            vec![
                "--name",
                "X",
                "--domain",
                "y.example.com",
                "--settings",
                "{",
            ],
            5,
            "not valid JSON",
        ),
        (
            vec![
                "--name",
                "X",
                "--domain",
                "y.example.com",
                "--connection-limit",
                "-5",
            ],
            5,
            "out of range",
        ),
        (
            vec![
                "--name",
                "X",
                "--domain",
                "y.example.com",
                "--storage-quota",
                "lots",
            ],
            5,
            "invalid size",
        ),
        (
            vec![
                "--name",
                "X",
                "--domain",
                "y.example.com",
                "--statement-timeout",
                "soon",
            ],
            5,
            "invalid duration",
        ),
        (
            vec!["--name", "X", "--domain", "'; DROP TABLE tenants; --"],
            5,
            "invalid domain",
        ),
    ];
    for (args, want, needle) in bad {
        let mut full = vec!["create"];
        full.extend(args.iter().copied());
        assert_fails(&cli.run(&full), want, needle);
    }
    assert_eq!(tenant_count(&cli), 1, "bad input created nothing");

    let o = cli.run(&["show", "ACME.example.com"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("Acme Trading"));
    assert_fails(&cli.run(&["show", "nobody.example.com"]), 3, "no tenant");
    assert_fails(&cli.run(&["suspend", "nobody.example.com"]), 3, "no tenant");

    assert_fails(
        &cli.run(&[
            "delete",
            "acme.example.com",
            "--confirm",
            "acme.example.com",
        ]),
        5,
        "suspend it first",
    );
    assert_fails(
        &cli.run(&["--read-only", "suspend", "acme.example.com"]),
        5,
        "read-only",
    );
    assert_eq!(
        code(&cli.run(&["suspend", "acme.example.com", "--reason", "test"])),
        0
    );
    assert_fails(
        &cli.run(&[
            "delete",
            "acme.example.com",
            "--confirm",
            "other.example.com",
        ]),
        5,
        "confirmation",
    );
    let o = cli.run(&[
        "update",
        "acme.example.com",
        "--connection-limit",
        "3",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = cli.run(&[
        "update",
        "acme.example.com",
        "--storage-quota",
        "1GB",
        "--no-storage-quota",
    ]);
    assert_eq!(code(&o), 2, "set and removed at once is a usage error");
    let o = cli.run(&[
        "update",
        "acme.example.com",
        "--no-storage-quota",
        "--no-statement-timeout",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let t: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert!(t["storage_quota_bytes"].is_null() && t["statement_timeout"].is_null());
    assert_eq!(t["connection_limit"], 3);
    let o = cli.run(&["credentials", "acme.example.com", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let pw: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(pw["password"].as_str().map(str::len), Some(32));

    let o = cli.run(&[
        "delete",
        "acme.example.com",
        "--confirm",
        "acme.example.com",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let dump = out["backup_path"]
        .as_str()
        .expect("backup path")
        .to_string();
    assert_eq!(tenant_count(&cli), 0);
    let o = cli.run(&["restore", &dump]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("restored tenant acme.example.com"));
    assert_eq!(code(&cli.run(&["resume", "acme.example.com"])), 0);

    let o = cli.run(&["list", "--csv"]);
    assert_eq!(code(&o), 0);
    let csv = stdout(&o);
    assert!(csv.starts_with("id,name,domain,"), "{csv}");
    assert_eq!(csv.lines().count(), 2);
    let o = cli.run(&["list"]);
    assert!(stdout(&o).contains("NAME"));

    let o = cli.run(&["audit", "--tenant", "acme.example.com", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let actions: Vec<String> = rows
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["action"].as_str().unwrap_or(""),
                r["outcome"].as_str().unwrap_or("")
            )
        })
        .collect();
    for want in [
        "create:ok",
        "suspend:ok",
        "delete:error",
        "update:ok",
        "credentials:ok",
        "delete:ok",
        "restore:ok",
        "resume:ok",
    ] {
        assert!(actions.contains(&want.to_string()), "{want} in {actions:?}");
    }
    assert!(!stdout(&o).contains(pw["password"].as_str().unwrap_or("-")));
    assert_eq!(code(&cli.run(&["audit", "--since", "1h"])), 0);
    assert_fails(
        &cli.run(&["audit", "--since", "whenever"]),
        5,
        "invalid time",
    );

    // Errors as JSON with --json.
    let o = cli.run(&["show", "nobody.example.com", "--json"]);
    assert_eq!(code(&o), 3);
    let e: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json error");
    assert_eq!(e["exit_code"], 3);
    assert!(e["error"].as_str().is_some_and(|m| m.contains("no tenant")));
}

#[test]
fn cli_templates() {
    let cli = Cli::new();
    let o = cli.run(&["templates", "list"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("default"));
    let o = cli.run(&["templates", "show", "default"]);
    assert!(stdout(&o).contains("hypertable"));
    assert_fails(
        &cli.run(&["templates", "show", "nosuch"]),
        3,
        "unknown template",
    );
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"name": "bad", "tables": [{"name": "t", "columns": [{"name": "a", "type": "int; drop"}]}]}"#,
    )
    .expect("write");
    assert_fails(
        &cli.run(&["templates", "validate", bad.to_str().expect("path")]),
        5,
        "tables[0].columns[0].type",
    );
    let o = cli.run(&["templates", "validate", "templates/default.json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}
