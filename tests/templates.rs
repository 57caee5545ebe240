//! Templates against a real cluster: the original service's `default.json`
//! (copied verbatim into tests/fixtures/original) creates a tenant whose
//! tables and columns match it; the shipped default is the platform's schema;
//! forbidden statements are refused with their field path and nothing is
//! created; a statement that slips past validation still cannot leave the
//! tenant's schema; `validate --against` catches what only the server sees;
//! `create` from any working directory uses the built-in default; the lookup
//! chain and where each template came from.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{bin, cluster, fresh_db_init};
use tenantctl::backend::ProgressStep;
use tenantctl::config::{Config, Overrides};
use tenantctl::db::Db;
use tenantctl::db::provision::{self, ProvisionOptions};
use tenantctl::domain::template;
use tenantctl::domain::tenant::NewTenant;
use tenantctl::template_files::{Lookup, Origin};

fn noop(_: ProgressStep) {}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn req(domain: &str, template: &str) -> NewTenant {
    NewTenant {
        name: domain.split('.').next().unwrap_or("t").to_string(),
        domain: domain.into(),
        template: template.into(),
        connection_limit: 5,
        statement_timeout: None,
        storage_quota_bytes: None,
        settings: serde_json::json!({}),
    }
}

fn options(config: &Config, templates: Lookup, state: &Path) -> ProvisionOptions {
    let mut o = ProvisionOptions::from_config(config);
    o.template_dir = templates;
    o.backup_dir = state.join("backups");
    o.actor = "tester@ci".into();
    o
}

/// `(table, column, type, nullable)` of every column in `schema`, in order.
async fn columns(db: &Db, schema: &str) -> Vec<(String, String, String, bool)> {
    let c = db.client().await.expect("client");
    c.query(
        "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
         FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE c.relnamespace = $1::text::regnamespace AND c.relkind IN ('r', 'p')
           AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY c.relname, a.attnum",
        &[&schema],
    )
    .await
    .expect("columns")
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

/// Index names of `schema`, sorted.
async fn indexes(db: &Db, schema: &str) -> Vec<String> {
    let c = db.client().await.expect("client");
    c.query(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 ORDER BY 1",
        &[&schema],
    )
    .await
    .expect("indexes")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

async fn timescale_installed(db: &Db) -> bool {
    let c = db.client().await.expect("client");
    c.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')",
        &[],
    )
    .await
    .expect("ext")
    .get(0)
}

/// (tenant rows, tenant_* and probe schemas in this database, probe roles).
/// Tenant roles are cluster-wide and other tests create them in parallel, so
/// only the probe's roles (which are never committed) are counted.
async fn census(db: &Db) -> (i64, i64, i64) {
    let c = db.client().await.expect("client");
    let row = c
        .query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {}.tenants),
                        (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' OR nspname LIKE 'tenantctl\\_probe\\_%'),
                        (SELECT count(*) FROM pg_roles WHERE rolname LIKE 'tenantctl\\_probe\\_%')",
                db.q_schema()
            ),
            &[],
        )
        .await
        .expect("census");
    (row.get(0), row.get(1), row.get(2))
}

fn col(t: &str, c: &str, ty: &str, nullable: bool) -> (String, String, String, bool) {
    (t.into(), c.into(), ty.into(), nullable)
}

/// The columns of the original service's default.json, as PostgreSQL
/// reports them (DECIMAL is numeric, VARCHAR character varying).
fn original_columns() -> Vec<(String, String, String, bool)> {
    let ts = "timestamp with time zone";
    let dec = "numeric(20,8)";
    vec![
        col("market_data", "symbol", "character varying(20)", false),
        col("market_data", "timestamp", ts, false),
        col("market_data", "open", dec, true),
        col("market_data", "high", dec, true),
        col("market_data", "low", dec, true),
        col("market_data", "close", dec, true),
        col("market_data", "volume", "bigint", true),
        col("portfolios", "id", "uuid", false),
        col("portfolios", "user_id", "uuid", false),
        col("portfolios", "name", "character varying(255)", true),
        col("portfolios", "description", "text", true),
        col("portfolios", "is_active", "boolean", true),
        col("portfolios", "created_at", ts, true),
        col("portfolios", "updated_at", ts, true),
        col("positions", "id", "uuid", false),
        col("positions", "portfolio_id", "uuid", true),
        col("positions", "symbol", "character varying(20)", false),
        col("positions", "quantity", dec, true),
        col("positions", "avg_price", dec, true),
        col("positions", "current_price", dec, true),
        col("positions", "created_at", ts, true),
        col("positions", "updated_at", ts, true),
        col("trades", "id", "uuid", false),
        col("trades", "portfolio_id", "uuid", true),
        col("trades", "symbol", "character varying(20)", false),
        col("trades", "side", "character varying(10)", true),
        col("trades", "quantity", dec, true),
        col("trades", "price", dec, true),
        col("trades", "timestamp", ts, false),
        col("trades", "created_at", ts, true),
    ]
}

#[tokio::test]
async fn the_original_default_json_creates_its_tables_verbatim() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, fixtures().join("original").into(), tmp.path());
    let before = census(&db).await;
    let r = provision::create_tenant(&db, &o, &req("orig.example.com", "default"), &noop).await;
    if timescale_installed(&db).await {
        // The original's trades key lacks its time column: TimescaleDB
        // refuses the hypertable, with the field path, and nothing remains.
        let e = r.expect_err("trades cannot become a hypertable");
        assert!(e.message.contains("timescale_tables[0]: "), "{e}");
        assert_eq!(census(&db).await.1, before.1);
        return;
    }
    let t = r.expect("the original template creates a tenant");
    assert_eq!(columns(&db, &t.schema_name).await, original_columns());
    assert_eq!(
        indexes(&db, &t.schema_name).await,
        [
            "idx_market_data_symbol_timestamp",
            "idx_portfolios_user_id",
            "idx_positions_portfolio_id",
            "idx_trades_portfolio_id_timestamp",
            "market_data_pkey",
            "portfolios_pkey",
            "positions_pkey",
            "trades_pkey",
        ]
    );
    // Nothing of the template landed anywhere else.
    let c = db.client().await.expect("client");
    let stray: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname IN ('portfolios', 'positions', 'trades', 'market_data')
             AND relnamespace <> $1::text::regnamespace",
            &[&t.schema_name],
        )
        .await
        .expect("stray")
        .get(0);
    assert_eq!(stray, 0);
    // The template's function is gone and the owner owns the tables.
    let owners: Vec<String> = c
        .query(
            "SELECT DISTINCT pg_get_userbyid(relowner)::text FROM pg_class
             WHERE relnamespace = $1::text::regnamespace",
            &[&t.schema_name],
        )
        .await
        .expect("owners")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(owners.len(), 1, "{owners:?}");
    let fns: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = $1::text::regnamespace",
            &[&t.schema_name],
        )
        .await
        .expect("fns")
        .get(0);
    assert_eq!(fns, 0);
}

#[tokio::test]
async fn the_default_template_is_the_platform_schema_with_trades_keyed_by_time() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, Lookup::built_in(), tmp.path());
    let t = provision::create_tenant(&db, &o, &req("plat.example.com", "default"), &noop)
        .await
        .expect("create from the built-in default");
    assert_eq!(t.template, "default");
    // Same tables and columns as the original; trades.id stays NOT NULL.
    assert_eq!(columns(&db, &t.schema_name).await, original_columns());
    let c = db.client().await.expect("client");
    let key: String = c
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = format('%I.trades', $1::text)::regclass AND contype = 'p'",
            &[&t.schema_name],
        )
        .await
        .expect("pk")
        .get(0);
    assert_eq!(key, "PRIMARY KEY (id, \"timestamp\")");
    // The platform's services write these columns as they always did.
    c.batch_execute(&format!(
        "SET search_path = \"{s}\";
         INSERT INTO portfolios (user_id, name) VALUES (gen_random_uuid(), 'p');
         INSERT INTO positions (portfolio_id, symbol, quantity, avg_price, current_price)
             SELECT id, 'AAPL', 1, 10.5, 11 FROM portfolios;
         INSERT INTO trades (portfolio_id, symbol, side, quantity, price, timestamp)
             SELECT id, 'AAPL', 'BUY', 1, 10.5, now() FROM portfolios;
         INSERT INTO market_data (symbol, timestamp, volume) VALUES ('AAPL', now(), 9000000000);
         RESET search_path;",
        s = t.schema_name
    ))
    .await
    .expect("the services' inserts");
}

#[tokio::test]
async fn forbidden_statements_are_refused_with_their_path_and_nothing_is_created() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tempfile::tempdir().expect("templates");
    let o = options(&config, dir.path().to_path_buf().into(), tmp.path());
    let before = census(&db).await;
    let forbidden = [
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'select 1'",
        "CREATE FUNCTION f() RETURNS int AS $$ select 1 $$ LANGUAGE sql",
        "SET ROLE postgres",
        "RESET ROLE",
        "COPY a FROM PROGRAM 'touch /tmp/pwned'",
        "CREATE TABLE public.evil (x int)",
        "CREATE TABLE pg_temp.evil (x int)",
        "CREATE TABLE tenant_admin.evil (x int)",
        "DO 'begin perform 1; end'",
        "CREATE TABLE b (x int); DROP TABLE a",
        "GRANT ALL ON a TO PUBLIC",
        "ALTER TABLE a OWNER TO postgres",
        "CREATE VIEW v AS SELECT * FROM tenant_admin.tenants",
    ];
    for (i, stmt) in forbidden.iter().enumerate() {
        let name = format!("bad{i}");
        let doc = serde_json::json!({
            "name": name,
            "tables": ["CREATE TABLE a (id uuid PRIMARY KEY)", stmt],
        });
        std::fs::write(dir.path().join(format!("{name}.json")), doc.to_string()).expect("write");
        let e = provision::create_tenant(&db, &o, &req(&format!("b{i}.example.com"), &name), &noop)
            .await
            .expect_err(stmt);
        assert!(e.message.contains("tables[1]: "), "{stmt}: {e}");
        assert_eq!(e.exit_code(), 5, "{stmt}: {e}");
        assert!(!e.message.contains('\n'), "one sentence: {e}");
    }
    assert_eq!(census(&db).await, before, "nothing created");
}

#[tokio::test]
async fn a_statement_past_validation_still_cannot_leave_the_schema() {
    // Validation refuses these; the database refuses them too, because the
    // statements run as the schema's owner with search_path set to it.
    let (_config, db) = fresh_db_init().await;
    let mut t = template::parse(
        &serde_json::json!({"name": "x", "tables": ["CREATE TABLE a (x int)"]}).to_string(),
    )
    .expect("template");
    for (stmt, needle) in [
        ("CREATE TABLE public.evil (x int)", "permission denied"),
        (
            "CREATE TABLE tenant_admin.evil (x int)",
            "permission denied",
        ),
        (
            "SELECT set_config('role', 'postgres', true)",
            "security-definer",
        ),
        ("SET SESSION AUTHORIZATION postgres", "security-definer"),
    ] {
        t.sql.push(template::SqlStep {
            path: "tables[1]".into(),
            sql: stmt.into(),
        });
        let mut c = db.client().await.expect("client");
        let tx = c.transaction().await.expect("tx");
        tx.batch_execute(&format!(
            "CREATE ROLE t_owner NOLOGIN; GRANT t_owner TO CURRENT_USER;
             CREATE SCHEMA t_s AUTHORIZATION t_owner; REVOKE ALL ON SCHEMA t_s FROM PUBLIC;
             {}",
            // As create does: `public` closed for CREATE (PostgreSQL 14 opens it).
            provision::roles::harden_public("t_owner", &db.schema)
        ))
        .await
        .expect("role and schema");
        let e = tx
            .batch_execute(&provision::render::template(&t, "t_owner", "t_s", None))
            .await
            .expect_err(stmt);
        let msg = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default();
        assert!(msg.starts_with("tables[1]: "), "{stmt}: {msg}");
        assert!(msg.contains(needle), "{stmt}: {msg}");
        drop(tx);
        t.sql.pop();
    }
}

struct Cli {
    url: String,
    state: tempfile::TempDir,
    data: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        let c = cluster();
        let db = c.create_database().expect("database");
        Self {
            url: c.conninfo(&db),
            state: tempfile::tempdir().expect("tmp"),
            data: tempfile::tempdir().expect("tmp"),
        }
    }
    /// Run from `/`, with an empty data home and no config file.
    fn run(&self, args: &[&str]) -> Output {
        bin()
            .current_dir("/")
            .env("XDG_STATE_HOME", self.state.path())
            .env("XDG_DATA_HOME", self.data.path())
            .arg("--database-url")
            .arg(&self.url)
            .args(args)
            .output()
            .expect("run tenantctl")
    }
}

fn out(o: &Output) -> (i32, String, String) {
    (
        o.status.code().expect("exit code"),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn create_from_another_directory_uses_the_built_in_default() {
    let cli = Cli::new();
    let (code, _, err) = out(&cli.run(&["init"]));
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = out(&cli.run(&["templates", "list"]));
    assert_eq!(code, 0, "{err}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("default"))
        .expect("default listed");
    assert!(line.contains("built-in"), "{stdout}");
    let (code, stdout, err) = out(&cli.run(&[
        "create",
        "--name",
        "X",
        "--domain",
        "x.example.com",
        "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["template"], "default", "{stdout}");

    // A template in the data home shadows the built-in one and says so.
    let dir = cli.data.path().join("tenantctl/templates");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let text = std::fs::read_to_string(fixtures().join("original/default.json")).expect("read");
    std::fs::write(dir.join("default.json"), text).expect("write");
    let (code, stdout, err) = out(&cli.run(&["templates", "list"]));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("$XDG_DATA_HOME"), "{stdout}");
    assert!(stdout.contains("hides built-in"), "{stdout}");

    // `show` prints the SQL it runs, verbatim.
    let (code, stdout, err) = out(&cli.run(&["templates", "show", "default"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("-- tables[0]\nCREATE TABLE IF NOT EXISTS portfolios (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), user_id UUID NOT NULL"),
        "{stdout}"
    );
    assert!(stdout.contains("by_range('timestamp'"), "{stdout}");

    // A missing --template-dir is one clear sentence.
    let (code, _, err) =
        out(&cli.run(&["--template-dir", "/nonexistent/tpl", "templates", "list"]));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("/nonexistent/tpl (from --template-dir) does not exist"),
        "{err}"
    );
}

#[test]
fn validate_refuses_bad_files_with_their_path() {
    let cli = Cli::new();
    let dir = tempfile::tempdir().expect("tmp");
    let cases: [(&str, &[u8], &str); 6] = [
        ("dup.json", br#"{"name": "dup", "tables": ["CREATE TABLE a (x int)"], "tables": []}"#, "duplicate field `tables`"),
        ("dupnested.json", br#"{"name": "d", "tables": ["CREATE TABLE a (ts timestamptz)"], "timescale_tables": [{"name": "a", "name": "a", "time_column": "ts"}]}"#, "timescale_tables[0]"),
        ("notjson.json", b"{\"name\": ", "not valid JSON"),
        ("latin1.json", b"{\"name\": \"caf\xe9\"}", "not UTF-8"),
        ("forbidden.json", br#"{"name": "f", "tables": ["CREATE TABLE a (x int)"], "indexes": ["COPY a TO PROGRAM 'id'"]}"#, "indexes[0]: "),
        ("interval.json", br#"{"name": "i", "tables": ["CREATE TABLE a (ts timestamptz NOT NULL)"], "timescale_tables": [{"name": "a", "time_column": "ts", "chunk_interval": "soon"}]}"#, "timescale_tables[0].chunk_interval: "),
    ];
    for (file, bytes, needle) in cases {
        let p = dir.path().join(file);
        std::fs::write(&p, bytes).expect("write");
        let (code, _, err) = out(&cli.run(&["templates", "validate", p.to_str().expect("utf8")]));
        assert_eq!(code, 5, "{file}: {err}");
        assert!(err.contains(needle), "{file}: {needle:?} in {err}");
        assert_eq!(err.trim().lines().count(), 1, "{file}: {err}");
    }
}

#[test]
fn validate_against_catches_what_only_the_server_sees() {
    let cli = Cli::new();
    let (code, _, err) = out(&cli.run(&["init"]));
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().expect("tmp");
    // Parses, but the index names a column the table does not have.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        serde_json::json!({
            "name": "bad",
            "tables": ["CREATE TABLE a (id uuid PRIMARY KEY)"],
            "indexes": ["CREATE INDEX a_nope ON a (nope)"],
        })
        .to_string(),
    )
    .expect("write");
    let (code, _, err) = out(&cli.run(&["templates", "validate", bad.to_str().expect("p")]));
    assert_eq!(code, 0, "offline it looks fine: {err}");
    let (code, _, err) = out(&cli.run(&[
        "templates",
        "validate",
        bad.to_str().expect("p"),
        "--against",
    ]));
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("indexes[0]: column \"nope\" does not exist"),
        "{err}"
    );
    // The original default runs on the server too (as plain tables here, or
    // it fails on its trades key where TimescaleDB is installed).
    let orig = fixtures().join("original/default.json");
    let (code, stdout, err) = out(&cli.run(&[
        "templates",
        "validate",
        orig.to_str().expect("p"),
        "--against",
    ]));
    if code == 0 {
        assert!(
            stdout.contains("market_data, portfolios, positions, trades"),
            "{stdout}"
        );
        assert!(
            stdout.contains("warning: timescale_tables[0].time_column"),
            "{stdout}"
        );
    } else {
        assert!(err.contains("timescale_tables[0]: "), "{err}");
    }
}

#[tokio::test]
async fn dry_runs_leave_nothing_behind() {
    let (config, db) = fresh_db_init().await;
    let before = census(&db).await;
    let t = tenantctl::template_files::load(&Lookup::built_in(), "default").expect("default");
    let report =
        tenantctl::db::template_probe::probe(&db, &t, config.provisioning.timescaledb, 10_000)
            .await
            .expect("the default runs");
    assert_eq!(
        report.tables,
        ["market_data", "portfolios", "positions", "trades"]
    );
    assert_eq!(census(&db).await, before);
}

#[test]
fn the_lookup_chain_and_config_relative_template_dir() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg_dir = tmp.path().join("etc");
    std::fs::create_dir_all(cfg_dir.join("tpl")).expect("mkdir");
    let cfg = cfg_dir.join("tenantctl.toml");
    std::fs::write(&cfg, "[provisioning]\ntemplate_dir = \"tpl\"\n").expect("write");
    let ov = Overrides {
        config_path: Some(cfg.clone()),
        template_dir: Some(tmp.path().join("flag")),
        ..Overrides::default()
    };
    let env: BTreeMap<String, String> =
        BTreeMap::from([("XDG_DATA_HOME".to_string(), "/data".to_string())]);
    let c = Config::load_with(&ov, &env).expect("config");
    let dirs: Vec<(PathBuf, Origin)> = c
        .provisioning
        .template_dir
        .dirs()
        .map(|(p, o)| (p.to_path_buf(), o))
        .collect();
    assert_eq!(
        dirs,
        [
            (tmp.path().join("flag"), Origin::Flag),
            (cfg_dir.join("tpl"), Origin::Config),
            (PathBuf::from("/data/tenantctl/templates"), Origin::DataHome),
        ]
    );
    // The flag's directory does not exist: said, not skipped.
    let e = tenantctl::template_files::load(&c.provisioning.template_dir, "default")
        .expect_err("missing flag dir");
    assert!(
        e.message.contains("(from --template-dir) does not exist"),
        "{e}"
    );
    // Without the flag, the config's (empty) directory and the missing data
    // home fall through to the built-in default.
    let ov = Overrides {
        config_path: Some(cfg),
        ..Overrides::default()
    };
    let c = Config::load_with(&ov, &env).expect("config");
    let f = tenantctl::template_files::load_found(&c.provisioning.template_dir, "default")
        .expect("default");
    assert_eq!(f.origin, Origin::BuiltIn);
    // A file in the config's directory wins, and must carry its own name.
    std::fs::write(
        cfg_dir.join("tpl/default.json"),
        r#"{"name": "other", "tables": ["CREATE TABLE a (x int)"]}"#,
    )
    .expect("write");
    let e = tenantctl::template_files::load(&c.provisioning.template_dir, "default")
        .expect_err("name mismatch");
    assert!(e.message.contains("does not match the file name"), "{e}");
    let e = tenantctl::template_files::load(&c.provisioning.template_dir, "nosuch")
        .expect_err("unknown");
    assert!(e.message.contains("known: default"), "{e}");
}

#[tokio::test]
async fn drift_of_a_sql_template_is_judged_against_its_reference_catalog() {
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let t = tenantctl::template_files::load(&Lookup::built_in(), "default").expect("default");
    let reference =
        tenantctl::db::template_probe::probe(&db, &t, config.provisioning.timescaledb, 10_000)
            .await
            .expect("dry run")
            .reference;
    assert!(
        reference
            .indexes
            .contains_key("idx_trades_portfolio_id_timestamp")
    );
    let o = options(&config, Lookup::built_in(), tmp.path());
    let tenant = provision::create_tenant(&db, &o, &req("drift.example.com", "default"), &noop)
        .await
        .expect("create");
    let s = &tenant.schema_name;
    let drift = tenantctl::db::template_probe::schema_drift(&db, s, &reference)
        .await
        .expect("drift");
    assert!(drift.is_empty(), "{drift:?}");
    let c = db.client().await.expect("client");
    c.batch_execute(&format!(
        "ALTER TABLE \"{s}\".positions DROP COLUMN avg_price;
         ALTER TABLE \"{s}\".market_data ALTER COLUMN volume TYPE numeric;
         DROP INDEX \"{s}\".idx_portfolios_user_id;
         CREATE TABLE \"{s}\".scratch (x int);"
    ))
    .await
    .expect("alter");
    let drift = tenantctl::db::template_probe::schema_drift(&db, s, &reference)
        .await
        .expect("drift");
    assert_eq!(
        drift,
        [
            "table scratch is not in the template",
            "column market_data.volume is numeric, the template says bigint",
            "column positions.avg_price is missing",
            "index idx_portfolios_user_id is missing",
        ],
        "{drift:?}"
    );
}

/// The monitoring path of SQL-string template drift: references built per
/// version in a rolled-back transaction (nothing remains), one digest query
/// for every tenant, one catalog read per distinct drift (tenants drifted
/// the same way share it), and what the name check covers left to it.
#[tokio::test]
#[allow(
    clippy::many_single_char_names,
    reason = "a scenario of short-lived names"
)]
async fn catalog_drift_reads_one_schema_per_distinct_drift() {
    use tenantctl::db::template_probe::{self, catalog_drift, references};
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let t = tenantctl::template_files::load(&Lookup::built_in(), "default").expect("default");
    let o = options(&config, Lookup::built_in(), tmp.path());
    let mut schemas = Vec::new();
    for i in 0..4 {
        let x = provision::create_tenant(
            &db,
            &o,
            &req(&format!("cd{i}.example.com"), "default"),
            &noop,
        )
        .await
        .expect("create");
        schemas.push(x.schema_name);
    }
    let before = census(&db).await;
    let (mut client, _rx) = db.dedicated().await.expect("dedicated");
    let built = references(
        &mut client,
        &t,
        &[t.version, t.version - 1],
        config.provisioning.timescaledb,
        10_000,
    )
    .await
    .expect("references");
    assert_eq!(census(&db).await, before, "the build leaves nothing");
    assert!(
        built[&(t.version - 1)].is_err(),
        "a version before the baseline cannot be built"
    );
    let r = built[&t.version].as_ref().expect("current version");
    let untouched = tenantctl::db::fleet::catalog::digests(&client, &[schemas[0].as_str()])
        .await
        .expect("digest");
    assert_eq!(
        untouched,
        [(schemas[0].clone(), r.digest.clone())],
        "a tenant as created has its reference's digest (it is not read)"
    );
    let c = db.client().await.expect("client");
    let (a, b, d) = (&schemas[1], &schemas[2], &schemas[3]);
    c.batch_execute(&format!(
        "ALTER TABLE \"{a}\".positions DROP COLUMN avg_price;
         ALTER TABLE \"{b}\".positions DROP COLUMN avg_price;
         DROP TABLE \"{d}\".market_data;
         ALTER TABLE \"{d}\".trades ALTER COLUMN side SET DEFAULT 'BUY';"
    ))
    .await
    .expect("drift three");
    let names: Vec<String> = t
        .table_names()
        .iter()
        .map(|s| (*s).to_string())
        .chain(t.expected_index_names())
        .collect();
    let checked: Vec<(&str, &template_probe::VersionReference, &[String])> = schemas
        .iter()
        .map(|s| (s.as_str(), r, names.as_slice()))
        .collect();
    let mut got = catalog_drift(&client, &checked).await.expect("drift");
    got.sort();
    let mut want = vec![
        (a.clone(), vec!["column positions.avg_price is missing".to_string()]),
        (b.clone(), vec!["column positions.avg_price is missing".to_string()]),
        (
            d.clone(),
            vec!["column trades.side has default 'BUY'::character varying, the template says no default".to_string()],
        ),
    ];
    want.sort();
    assert_eq!(got, want);
}

/// The drift check digests a window of the SQL-string-template tenants at
/// a time (`DIGEST_WINDOW` in production, 2 here, with 5 tenants): a drift
/// shows once its tenant's window comes round, the other tenants keep what
/// their last window found (carried over, not forgotten), and a repaired
/// tenant is cleared when its window comes again.
#[tokio::test]
async fn the_drift_digest_window_rotates_and_carries_results_over() {
    use std::sync::Arc;
    use tenantctl::backend::collector::{Plan, Sampler};
    let (config, db) = fresh_db_init().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let t = tenantctl::template_files::load(&Lookup::built_in(), "default").expect("default");
    let o = options(&config, Lookup::built_in(), tmp.path());
    let mut schemas = Vec::new();
    for i in 0..5 {
        let x = provision::create_tenant(
            &db,
            &o,
            &req(&format!("dw{i}.example.com"), "default"),
            &noop,
        )
        .await
        .expect("create");
        schemas.push(x.schema_name);
    }
    let c = db.client().await.expect("client");
    let default_on = |s: &str, on: bool| {
        if on {
            format!("ALTER TABLE \"{s}\".trades ALTER COLUMN side SET DEFAULT 'BUY'")
        } else {
            format!("ALTER TABLE \"{s}\".trades ALTER COLUMN side DROP DEFAULT")
        }
    };
    c.batch_execute(&format!(
        "{}; {}",
        default_on(&schemas[1], true),
        default_on(&schemas[4], true)
    ))
    .await
    .expect("drift two");
    let reference =
        Arc::new(tenantctl::domain::targets::Reference::of(&t).expect("a SQL template"));
    let names: Vec<String> = t
        .table_names()
        .iter()
        .map(|s| (*s).to_string())
        .chain(t.expected_index_names())
        .collect();
    let plan = Plan {
        drift: Some(vec![(
            schemas.clone(),
            names,
            Some((Arc::clone(&reference), t.version)),
        )]),
        ..Plan::default()
    };
    let mut sampler = Sampler::new(&config.monitoring).with_digest_window(2);
    let mut check = async || -> Vec<usize> {
        let r = sampler.sample(&db, &plan).await;
        let found = r.drift.expect("a drift check").value.expect("drift");
        let mut drifted: Vec<usize> = found
            .iter()
            .map(|(s, what)| {
                assert!(
                    what.iter().any(|w| w.contains("trades.side has default")),
                    "{s}: {what:?}"
                );
                schemas.iter().position(|x| x == s).expect("a tenant")
            })
            .collect();
        drifted.sort_unstable();
        drifted
    };
    // Windows: [0, 1], [2, 3], [4, 0], [1, 2], ...
    assert_eq!(check().await, [1], "the first window finds tenant 1 only");
    assert_eq!(
        check().await,
        [1],
        "tenant 1 carried over while 2 and 3 are read"
    );
    assert_eq!(
        check().await,
        [1, 4],
        "tenant 4 found when its window comes"
    );
    c.batch_execute(&default_on(&schemas[1], false))
        .await
        .expect("repair tenant 1");
    assert_eq!(
        check().await,
        [4],
        "tenant 1 cleared in its window, 4 carried"
    );
    assert_eq!(check().await, [4]);
}
