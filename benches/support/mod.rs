//! Shared by the benches: many tenants created fast by bulk SQL (control-schema
//! row, role, schema and the default template's tables in batches of 100 per
//! transaction), the same shape the console's backend monitors.
#![allow(dead_code, reason = "each bench binary uses a different part")]

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantctl::db::Db;
use tenantctl::domain::metrics::MonitoredTenant;
use tenantctl::domain::tenant::{TenantStatus, object_name};
use uuid::Uuid;

const BATCH: usize = 100;

/// The default template's tables and indexes, shared by every tenant as the
/// console's backend shares them.
pub struct Expected {
    tables: Arc<[String]>,
    indexes: Arc<[String]>,
    /// The same tables as a SQL-string template: monitoring compares each
    /// tenant's catalog with a schema built from it, as for the platform's
    /// own templates.
    reference: Option<Arc<tenantctl::domain::targets::Reference>>,
}

/// The bench tenants' tables as a SQL-string template (with hypertables:
/// trades keyed with its time column, both time-series tables hypertables).
fn bench_template(hypertables: bool) -> tenantctl::domain::template::Template {
    let trades_key = if hypertables {
        "PRIMARY KEY (id, \\\"timestamp\\\")"
    } else {
        "PRIMARY KEY (id)"
    };
    let ts = if hypertables {
        r#", "timescale_tables": [
            {"name": "trades", "time_column": "timestamp", "chunk_interval": "1 day"},
            {"name": "market_data", "time_column": "ts", "chunk_interval": "1 day"}]"#
    } else {
        ""
    };
    let json = format!(
        r#"{{"name": "default", "tables": [
            "CREATE TABLE portfolios (id bigserial PRIMARY KEY, name text NOT NULL)",
            "CREATE TABLE positions (id bigserial PRIMARY KEY, portfolio_id bigint NOT NULL, symbol text NOT NULL, qty numeric NOT NULL)",
            "CREATE TABLE trades (id bigserial, symbol text NOT NULL, qty numeric NOT NULL, price numeric NOT NULL, \"timestamp\" timestamptz NOT NULL DEFAULT now(), {trades_key})",
            "CREATE TABLE market_data (symbol text NOT NULL, ts timestamptz NOT NULL, price numeric NOT NULL, PRIMARY KEY (symbol, ts))"],
          "indexes": [
            "CREATE INDEX positions_portfolio_id_symbol_idx ON positions (portfolio_id, symbol)",
            "CREATE INDEX trades_timestamp_idx ON trades (\"timestamp\")"]{ts}}}"#
    );
    tenantctl::domain::template::parse(&json).expect("the bench template")
}

impl Expected {
    pub fn new() -> Self {
        Self::with(false)
    }

    /// With `hypertables`, the reference template makes trades and
    /// market_data hypertables, as [`tenant_sql_with`] does.
    pub fn with(hypertables: bool) -> Self {
        Self {
            tables: ["portfolios", "positions", "trades", "market_data"]
                .map(String::from)
                .into(),
            indexes: [
                "positions_portfolio_id_symbol_idx",
                "trades_timestamp_idx",
                "market_data_pkey",
            ]
            .map(String::from)
            .into(),
            reference: tenantctl::domain::targets::Reference::of(&bench_template(hypertables))
                .map(Arc::new),
        }
    }
}

/// The SQL creating tenant `i` (row, role, schema, tables, one trade) and the
/// tenant as the monitor sees it.
pub fn tenant_sql(control: &str, id: Uuid, i: usize, e: &Expected) -> (String, MonitoredTenant) {
    tenant_sql_with(control, id, i, e, 0)
}

/// [`tenant_sql`]; with `chunk_days > 0` (TimescaleDB installed) `trades`
/// and `market_data` are hypertables of one-day chunks, each given a row a
/// day over `chunk_days` days: `2 * chunk_days` chunks per tenant.
pub fn tenant_sql_with(
    control: &str,
    id: Uuid,
    i: usize,
    e: &Expected,
    chunk_days: usize,
) -> (String, MonitoredTenant) {
    let (tables, indexes) = (&e.tables, &e.indexes);
    let o = object_name(&id);
    // A hypertable's unique indexes include its time column.
    let trades_key = if chunk_days > 0 {
        "PRIMARY KEY (id, \"timestamp\")"
    } else {
        "PRIMARY KEY (id)"
    };
    let mut sql = format!(
        "INSERT INTO {control}.tenants (id, name, domain, schema_name, role_name, status, template, created_by)
           VALUES ('{id}', 'Tenant {i}', 't{i}.bench.test', '{o}', '{o}', 'active', 'default', 'bench');
         CREATE ROLE {o} LOGIN;
         CREATE SCHEMA {o} AUTHORIZATION {o};
         CREATE TABLE {o}.portfolios (id bigserial PRIMARY KEY, name text NOT NULL);
         CREATE TABLE {o}.positions (id bigserial PRIMARY KEY, portfolio_id bigint NOT NULL, symbol text NOT NULL, qty numeric NOT NULL);
         CREATE INDEX ON {o}.positions (portfolio_id, symbol);
         CREATE TABLE {o}.trades (id bigserial, symbol text NOT NULL, qty numeric NOT NULL, price numeric NOT NULL, \"timestamp\" timestamptz NOT NULL DEFAULT now(), {trades_key});
         CREATE INDEX ON {o}.trades (\"timestamp\");
         CREATE TABLE {o}.market_data (symbol text NOT NULL, ts timestamptz NOT NULL, price numeric NOT NULL, PRIMARY KEY (symbol, ts));
         INSERT INTO {o}.trades (symbol, qty, price) VALUES ('ACME', 1, 1);
"
    );
    if chunk_days > 0 {
        let last = chunk_days - 1;
        let _ = write!(
            sql,
            "SELECT create_hypertable('{o}.trades', by_range('timestamp', interval '1 day'), migrate_data => true);
             SELECT create_hypertable('{o}.market_data', by_range('ts', interval '1 day'));
             INSERT INTO {o}.trades (symbol, qty, price, \"timestamp\")
                 SELECT 'ACME', 1, 1, now() - make_interval(days => g) FROM generate_series(1, {last}) g;
             INSERT INTO {o}.market_data (symbol, ts, price)
                 SELECT 'ACME', now() - make_interval(days => g), 1 FROM generate_series(0, {last}) g;
"
        );
    }
    let t = MonitoredTenant {
        id,
        name: format!("Tenant {i}"),
        domain: format!("t{i}.bench.test"),
        schema_name: o.clone(),
        role_name: o,
        status: TenantStatus::Active,
        connection_limit: -1,
        storage_quota_bytes: None,
        template_version: 1,
        latest_template_version: None,
        expected_tables: Arc::clone(tables),
        expected_indexes: Arc::clone(indexes),
        reference: e.reference.clone(),
        created_at: None,
    };
    (sql, t)
}

/// Grow `list` to `upto` tenants; returns the time taken (including the
/// closing `VACUUM ANALYZE`).
pub async fn create_tenants(db: &Db, list: &mut Vec<MonitoredTenant>, upto: usize) -> Duration {
    create_tenants_with(db, list, upto, 0).await
}

/// [`create_tenants`] with hypertables of `chunk_days` chunks each (see
/// [`tenant_sql_with`]), in smaller transactions (every chunk takes locks).
pub async fn create_tenants_with(
    db: &Db,
    list: &mut Vec<MonitoredTenant>,
    upto: usize,
    chunk_days: usize,
) -> Duration {
    let start = Instant::now();
    let client = db.client().await.expect("client");
    let control = db.q_schema();
    let expected = Expected::with(chunk_days > 0);
    let batch = if chunk_days > 0 { 10 } else { BATCH };
    while list.len() < upto {
        let mut sql = String::from("BEGIN;");
        for _ in 0..batch.min(upto - list.len()) {
            let i = list.len();
            let (s, t) = tenant_sql_with(&control, Uuid::new_v4(), i, &expected, chunk_days);
            sql.push_str(&s);
            list.push(t);
        }
        sql.push_str("COMMIT;");
        client.batch_execute(&sql).await.expect("bulk create");
    }
    // Steady state, as on a live cluster: catalogs vacuumed after the bulk
    // DDL, so autovacuum does not compete with the measurements.
    client
        .batch_execute("VACUUM ANALYZE")
        .await
        .expect("vacuum analyze");
    start.elapsed()
}

/// Log warnings to stderr, and say whether this is a full run: `cargo bench`
/// passes `--bench`; `cargo test --all-targets` runs a bench binary without
/// it, and then a bench does only a quick smoke run.
pub fn start() -> bool {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    std::env::args().any(|a| a == "--bench")
}
