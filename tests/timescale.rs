//! Hypertable creation on a real TimescaleDB, where it is installed: start the
//! tests with `TENANTCTL_PG_PRELOAD=timescaledb` (the local cluster preloads
//! it). Where the extension cannot be created, every test here says so on
//! stderr and passes without asserting anything else.
//!
//! What is proved: the default template's `trades` and `market_data` become
//! hypertables (through `by_range()` on TimescaleDB >= 2.13) owned by the
//! tenant's schema owner, with the template's time column and chunk
//! interval; a role that is not the owner and holds only the template's
//! table privileges creates chunks by inserting, and reads its rows back;
//! the original service's template, whose trades key lacks the time column,
//! is refused with its field path and leaves nothing.

mod common;

use common::{cluster, fresh_db_init};
use tenantctl::backend::ProgressStep;
use tenantctl::config::Config;
use tenantctl::db::Db;
use tenantctl::db::provision::{self, ProvisionOptions};
use tenantctl::domain::tenant::NewTenant;
use tenantctl::template_files::Lookup;
use tokio_postgres::NoTls;

fn noop(_: ProgressStep) {}

/// `CREATE EXTENSION timescaledb` (as the superuser: it is not a trusted
/// extension, and on managed PostgreSQL the provider installs it) in a
/// fresh database; `None` (and a note on stderr) where TimescaleDB is not
/// available or not preloaded.
async fn with_timescale() -> Option<(Config, Db, String)> {
    let (config, db) = fresh_db_init().await;
    let dbname = db.params.dbname.clone();
    let c = db.client().await.expect("client");
    let preloaded = common::superuser_query(
        &dbname,
        "SELECT (EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
                 AND current_setting('shared_preload_libraries') LIKE '%timescaledb%')::text",
    );
    if preloaded.first().cloned().flatten().as_deref() != Some("true") {
        eprintln!(
            "skipped: TimescaleDB is not available here (not installed or not preloaded); run with TENANTCTL_PG_PRELOAD=timescaledb where it is installed"
        );
        return None;
    }
    common::superuser_exec(
        &dbname,
        "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS timescaledb",
    );
    let v: String = c
        .query_one(
            "SELECT extversion::text FROM pg_extension WHERE extname = 'timescaledb'",
            &[],
        )
        .await
        .expect("version")
        .get(0);
    eprintln!("TimescaleDB {v}");
    Some((config, db, v))
}

fn options(config: &Config, templates: Lookup, state: &std::path::Path) -> ProvisionOptions {
    let mut o = ProvisionOptions::from_config(config);
    o.template_dir = templates;
    o.backup_dir = state.join("backups");
    o.actor = "tester@ci".into();
    o
}

async fn tenant_schemas(db: &Db) -> i64 {
    let c = db.client().await.expect("client");
    c.query_one(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_%\\_%'",
        &[],
    )
    .await
    .expect("count")
    .get(0)
}

/// A new tenant of the default template whose own login runs `sql`; the
/// login stays open.
async fn tenant_that_runs(
    db: &Db,
    o: &ProvisionOptions,
    domain: &str,
    sql: &str,
) -> (tenantctl::domain::tenant::Tenant, tokio_postgres::Client) {
    let t = provision::create_tenant(db, o, &req(domain), &noop)
        .await
        .expect("create with hypertables");
    let (tc, conn) = tokio_postgres::connect(
        &cluster().conninfo_as(&db.params.dbname, &t.role_name),
        NoTls,
    )
    .await
    .expect("connect as the tenant");
    tokio::spawn(conn);
    tc.batch_execute(sql).await.expect("the tenant's inserts");
    (t, tc)
}

fn req(domain: &str) -> NewTenant {
    NewTenant {
        name: "TS".into(),
        domain: domain.into(),
        template: "default".into(),
        connection_limit: 5,
        statement_timeout: None,
        storage_quota_bytes: None,
        settings: serde_json::json!({}),
    }
}

#[tokio::test]
async fn default_template_makes_hypertables_and_inserts_make_chunks() {
    let Some((config, db, version)) = with_timescale().await else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, Lookup::built_in(), tmp.path());
    let t = provision::create_tenant(&db, &o, &req("ts.example.com"), &noop)
        .await
        .expect("create with hypertables");
    // A least-privilege operator is told (honestly) that it may not set
    // temp_file_limit; nothing about hypertables may be a warning.
    let unexpected: Vec<&String> = t
        .warnings
        .iter()
        .filter(|w| !(common::least_privilege() && w.starts_with("temp_file_limit not set")))
        .collect();
    assert!(unexpected.is_empty(), "{:?}", t.warnings);
    let c = db.client().await.expect("client");
    let owner: String = c
        .query_one(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1",
            &[&t.schema_name],
        )
        .await
        .expect("schema owner")
        .get(0);
    let hts: Vec<(String, String, String, String)> = c
        .query(
            "SELECT h.hypertable_name::text, h.owner::text, d.column_name::text, d.time_interval::text
             FROM timescaledb_information.hypertables h
             JOIN timescaledb_information.dimensions d
               ON d.hypertable_schema = h.hypertable_schema AND d.hypertable_name = h.hypertable_name
             WHERE h.hypertable_schema = $1 ORDER BY 1",
            &[&t.schema_name],
        )
        .await
        .expect("hypertables")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        hts,
        [
            (
                "market_data".into(),
                owner.clone(),
                "timestamp".into(),
                "1 day".into()
            ),
            (
                "trades".into(),
                owner.clone(),
                "timestamp".into(),
                "1 day".into()
            ),
        ],
        "TimescaleDB {version}"
    );

    // A login role that is not the owner, with the template's table
    // privileges only, inserts three days of trades: three chunks.
    let sch = &t.schema_name;
    let writer = format!("w_{}", &sch[7..20]);
    c.batch_execute(&format!(
        "CREATE ROLE \"{writer}\" LOGIN;
         GRANT USAGE ON SCHEMA \"{sch}\" TO \"{writer}\";
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{sch}\" TO \"{writer}\";"
    ))
    .await
    .expect("writer role");
    let (wc, conn) =
        tokio_postgres::connect(&cluster().conninfo_as(&db.params.dbname, &writer), NoTls)
            .await
            .expect("connect as the writer");
    tokio::spawn(conn);
    wc.batch_execute(&format!(
        "SET search_path = \"{sch}\";
         INSERT INTO portfolios (user_id, name) VALUES (gen_random_uuid(), 'p');
         INSERT INTO trades (portfolio_id, symbol, side, quantity, price, timestamp)
             SELECT p.id, 'AAPL', 'BUY', 1, 10, now() - make_interval(days => g)
             FROM portfolios p, generate_series(0, 2) g;"
    ))
    .await
    .expect("the writer's inserts create chunks");
    let n: i64 = wc
        .query_one("SELECT count(*) FROM trades", &[])
        .await
        .expect("the writer reads its rows through the hypertable")
        .get(0);
    assert_eq!(n, 3);
    let chunks: Vec<(String, String)> = c
        .query(
            "SELECT chunk_schema::text, c.relowner::regrole::text
             FROM timescaledb_information.chunks ch
             JOIN pg_class c ON c.oid = format('%I.%I', ch.chunk_schema, ch.chunk_name)::regclass
             WHERE ch.hypertable_schema = $1 AND ch.hypertable_name = 'trades'",
            &[&t.schema_name],
        )
        .await
        .expect("chunks")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(chunks.len(), 3, "{chunks:?}");
    assert!(
        chunks
            .iter()
            .all(|(sch, own)| sch == "_timescaledb_internal" && *own == owner),
        "chunks carry the hypertable's owner: {chunks:?}"
    );
}

#[tokio::test]
async fn the_original_template_is_refused_where_trades_cannot_be_a_hypertable() {
    let Some((config, db, _)) = with_timescale().await else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original");
    let o = options(&config, dir.into(), tmp.path());
    let before = tenant_schemas(&db).await;
    let e = provision::create_tenant(&db, &o, &req("orig.example.com"), &noop)
        .await
        .expect_err("trades' key lacks its time column");
    assert!(e.message.contains("timescale_tables[0]: "), "{e}");
    assert_eq!(tenant_schemas(&db).await, before, "nothing created");
}

#[tokio::test]
async fn both_create_hypertable_signatures_run_on_this_timescaledb() {
    // The version switch picks by_range() from 2.13 on; the old signature is
    // what servers before 2.13 get. Both statements as written run here
    // (2.x keeps the old signature), as the table's owner.
    let Some((_config, db, _)) = with_timescale().await else {
        return;
    };
    let c = db.client().await.expect("client");
    let ts: String = c
        .query_one(
            "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'timescaledb'",
            &[],
        )
        .await
        .expect("schema")
        .get(0);
    for (new_api, table, hours) in [(true, "a_new", 6_u64), (false, "a_old", 12)] {
        let sql = provision::render::create_hypertable(
            &ts,
            "ts_owned",
            table,
            "at",
            std::time::Duration::from_secs(hours * 3600),
            new_api,
        );
        c.batch_execute(&format!(
            "BEGIN;
             CREATE ROLE ts_owner_{table} NOLOGIN; GRANT ts_owner_{table} TO CURRENT_USER;
             CREATE SCHEMA IF NOT EXISTS ts_owned;
             GRANT CREATE, USAGE ON SCHEMA ts_owned TO ts_owner_{table};
             SET LOCAL ROLE ts_owner_{table};
             CREATE TABLE ts_owned.{table} (at timestamptz NOT NULL, v int);
             {sql};
             RESET ROLE;
             COMMIT;"
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        let iv: String = c
            .query_one(
                "SELECT time_interval::text FROM timescaledb_information.dimensions
                 WHERE hypertable_schema = 'ts_owned' AND hypertable_name = $1",
                &[&table],
            )
            .await
            .expect("dimension")
            .get(0);
        assert_eq!(iv, format!("{hours:02}:00:00"), "{sql}");
    }
}

/// `tenantctl ARGS` against this database; its stdout parsed as JSON.
fn cli_json(db: &Db, state: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = common::bin()
        .current_dir("/")
        .env("XDG_STATE_HOME", state)
        .arg("--database-url")
        .arg(cluster().url(&db.params.dbname))
        .args(args)
        .output()
        .expect("run tenantctl");
    assert!(
        out.status.success(),
        "tenantctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// Make this session's table statistics visible to other sessions now
/// (PostgreSQL 15+ flushes on request; before, when the session idles).
async fn flush_stats(c: &tokio_postgres::Client) {
    if c.batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .is_err()
    {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
}

/// `hypertable_size` of the schema's hypertables plus
/// `pg_total_relation_size` of its other tables, and its chunk count.
async fn timescale_size(db: &Db, schema: &str) -> (i64, i64) {
    let c = db.client().await.expect("client");
    let r = c
        .query_one(
            "SELECT (SELECT coalesce(sum(hypertable_size(format('%I.%I', hypertable_schema, hypertable_name)::regclass)), 0)
                     FROM timescaledb_information.hypertables WHERE hypertable_schema = $1)::int8
                  + (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1 AND c.relkind = 'r'
                       AND NOT EXISTS (SELECT 1 FROM timescaledb_information.hypertables h
                                       WHERE h.hypertable_schema = $1 AND h.hypertable_name = c.relname))::int8,
                    (SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = $1)",
            &[&schema],
        )
        .await
        .expect("sizes by TimescaleDB");
    (r.get(0), r.get(1))
}

/// md5 over every row of each hypertable, ordered, and the row counts,
/// read as the superuser.
fn contents(dbname: &str, schema: &str) -> Vec<Option<String>> {
    common::superuser_query(
        dbname,
        &format!(
            "SELECT format('%s %s %s', t, n, h) FROM (
                 SELECT 'market_data' AS t, count(*) AS n,
                        md5(coalesce(string_agg(m::text, ',' ORDER BY m.symbol, m.timestamp), '')) AS h
                 FROM \"{schema}\".market_data m
                 UNION ALL
                 SELECT 'trades', count(*),
                        md5(coalesce(string_agg(x::text, ',' ORDER BY x.timestamp, x.id), ''))
                 FROM \"{schema}\".trades x
                 UNION ALL
                 SELECT 'portfolios', count(*),
                        md5(coalesce(string_agg(p::text, ',' ORDER BY p.id), ''))
                 FROM \"{schema}\".portfolios p) s ORDER BY t"
        ),
    )
}

#[tokio::test]
#[allow(
    clippy::many_single_char_names,
    clippy::similar_names,
    clippy::cast_possible_wrap,
    reason = "a long scenario with short names; chunk counts are small"
)]
async fn hypertable_rows_count_in_size_and_writes_and_survive_delete_and_restore() {
    let Some((config, db, version)) = with_timescale().await else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, Lookup::built_in(), tmp.path());
    // The tenant's own login inserts 5,000 rows of market data over 50
    // days (50 one-day chunks) and a few trades.
    let (t, tc) = tenant_that_runs(
        &db,
        &o,
        "md.example.com",
        "INSERT INTO portfolios (user_id, name) VALUES (gen_random_uuid(), 'p');
         INSERT INTO market_data (symbol, timestamp, open, high, low, close, volume)
             SELECT 'S' || (g % 7), now() - make_interval(mins => g * 14), g, g + 1, g - 1, g, g * 10
             FROM generate_series(1, 5000) g;
         INSERT INTO trades (portfolio_id, symbol, side, quantity, price, timestamp)
             SELECT p.id, 'AAPL', 'BUY', g, 10, now() - make_interval(hours => g * 7)
             FROM portfolios p, generate_series(1, 40) g;",
    )
    .await;
    let sch = t.schema_name.clone();
    flush_stats(&tc).await;
    drop(tc);

    let (want, chunks) = timescale_size(&db, &sch).await;
    assert!(chunks >= 50, "TimescaleDB {version}: {chunks} chunks");
    let top = cli_json(&db, tmp.path(), &["top", "--json", "--limit", "100"]);
    let row = top["tenants"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["schema"] == sch.as_str()))
        .unwrap_or_else(|| panic!("tenant in top: {top}"));
    let size = row["size_bytes"].as_i64().expect("size_bytes");
    let ratio = size as f64 / want as f64;
    eprintln!(
        "TimescaleDB {version}: top size {size} B, hypertable_size + plain tables {want} B ({ratio:.3}), {chunks} chunks, rows written {}",
        row["rows_written"]
    );
    assert!(
        (0.9..=1.1).contains(&ratio),
        "top's size {size} is within 10% of TimescaleDB's {want}: {row}"
    );
    assert_eq!(
        row["rows_written"].as_i64(),
        Some(5041),
        "rows written count the chunks' inserts: {row}"
    );

    // The detail's Tables tab: each hypertable with its chunks, their time
    // range and its size with them.
    let d = tenantctl::db::detail::tenant_detail(
        &db,
        &tenantctl::domain::metrics::MonitoredTenant::from(&t),
    )
    .await
    .expect("detail");
    let md = d
        .tables
        .iter()
        .find(|x| x.name == "market_data")
        .expect("market_data listed");
    let h = md.hypertable.as_ref().expect("market_data is a hypertable");
    assert_eq!(h.time_column, "timestamp");
    // 5,000 rows 14 minutes apart span 48.6 days: at least 49 one-day
    // chunks, whatever the time of day.
    assert!(h.chunks >= 49, "{h:?}");
    let (lo, hi) = (
        h.range_start.expect("range start"),
        h.range_end.expect("range end"),
    );
    assert!(hi - lo >= chrono::TimeDelta::days(48), "{h:?}");
    assert!(md.total_bytes > 1_000_000, "the chunks' size: {md:?}");
    assert!(
        d.tables
            .iter()
            .find(|x| x.name == "portfolios")
            .is_some_and(|x| x.hypertable.is_none()),
        "a plain table stays plain"
    );

    // Delete with its backup: the hypertables' rows are in it, and no
    // chunk of the tenant is left behind.
    let dbname = db.params.dbname.clone();
    let before = contents(&dbname, &sch);
    let chunk_rels = common::superuser_query(
        &dbname,
        &format!(
            "SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks
             WHERE hypertable_schema = '{sch}'"
        ),
    );
    assert_eq!(chunk_rels.len() as i64, chunks);
    provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect("suspend");
    let out = provision::delete_tenant(&db, &o, t.id, &t.domain, true)
        .await
        .expect("delete with backup");
    let dump = out.backup_path.expect("a backup");
    let ms = common::backup::members(&dump);
    let names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "schema.dump",
            "hypertables.data",
            "backup.json",
            "SHA256SUMS"
        ],
        "one archive"
    );
    let side = provision::read_backup(&dump).expect("verified").sidecar;
    let md = side
        .tables
        .iter()
        .find(|c| c.table == "market_data")
        .expect("market_data in the sidecar");
    assert_eq!(md.rows, 5000, "{md:?}");
    let h = md.hypertable.as_ref().expect("recorded as a hypertable");
    assert_eq!(h.time_column, "timestamp");
    assert!(
        side.data.is_some() && side.data_sha256.is_some(),
        "{side:?}"
    );
    let left = common::superuser_query(
        &dbname,
        &format!(
            "SELECT count(*)::text FROM unnest(ARRAY[{}]::text[]) r WHERE to_regclass(r) IS NOT NULL",
            chunk_rels
                .iter()
                .map(|r| format!("'{}'", r.clone().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        ),
    );
    assert_eq!(left, [Some("0".to_string())], "no chunk relation left");
    let in_catalog = common::superuser_query(
        &dbname,
        &format!(
            "SELECT count(*)::text FROM _timescaledb_catalog.chunk k
             JOIN _timescaledb_catalog.hypertable h ON h.id = k.hypertable_id
             WHERE h.schema_name = '{sch}'"
        ),
    );
    assert_eq!(
        in_catalog,
        [Some("0".to_string())],
        "no chunk in TimescaleDB's catalog"
    );

    // A changed byte in the hypertables' rows, or the archive cut short
    // inside them: refused before anything.
    let rows = common::backup::member(&ms, "hypertables.data");
    let original = std::fs::read(&dump).expect("archive");
    let mid = usize::try_from(rows.offset).expect("offset") + rows.content.len() / 2;
    let mut bad = original.clone();
    bad[mid] ^= 0x01;
    for (what, bytes, says) in [
        ("changed rows", bad, "checksum"),
        ("cut in the rows", original[..mid].to_vec(), "cut short"),
    ] {
        std::fs::write(&dump, &bytes).expect("corrupt");
        let e = provision::restore_tenant(&db, &o, &dump)
            .await
            .expect_err(what);
        eprintln!("{what}: {}", e.message);
        assert!(e.message.contains(says), "{what}: {}", e.message);
        assert_eq!(tenant_schemas(&db).await, 0, "{what}: nothing restored");
    }
    std::fs::write(&dump, &original).expect("repair");

    // Restore: hypertables again, same time column and interval, every row.
    provision::restore_tenant(&db, &o, &dump)
        .await
        .expect("restore");
    let c = db.client().await.expect("client");
    let dims: Vec<(String, String, String)> = c
        .query(
            "SELECT hypertable_name::text, column_name::text, time_interval::text
             FROM timescaledb_information.dimensions WHERE hypertable_schema = $1 ORDER BY 1",
            &[&sch],
        )
        .await
        .expect("dimensions")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        dims,
        [
            ("market_data".into(), "timestamp".into(), "1 day".into()),
            ("trades".into(), "timestamp".into(), "1 day".into())
        ],
        "TimescaleDB {version}"
    );
    let after = contents(&dbname, &sch);
    eprintln!("before delete: {before:?}\nafter restore: {after:?}");
    assert_eq!(
        after, before,
        "row-identical (count and md5 over ordered rows)"
    );
    let (_, chunks_after) = timescale_size(&db, &sch).await;
    assert_eq!(chunks_after, chunks, "the rows are in chunks again");

    // The older form of the same backup (.dump, .data and .json side by
    // side) restores the hypertables' rows too.
    let tmp = tempfile::tempdir().expect("tmp");
    let legacy = common::backup::write_legacy(&dump, tmp.path(), "old");
    provision::delete_tenant(&db, &o, t.id, &t.domain, false)
        .await
        .expect("delete without backup");
    provision::restore_tenant(&db, &o, &legacy)
        .await
        .expect("restore the older form");
    assert_eq!(
        contents(&dbname, &sch),
        before,
        "row-identical from the older form"
    );
}

/// Drift of a tenant whose trades and market data are hypertables: the
/// reference schema is built with hypertables too (their time indexes
/// included), so an untouched tenant shows no drift and a dropped column of
/// a hypertable shows in `health --json`, whatever the chunks hold.
#[tokio::test]
async fn hypertable_tenants_drift_against_a_reference_built_with_hypertables() {
    let Some((config, db, version)) = with_timescale().await else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, Lookup::built_in(), tmp.path());
    let fine = provision::create_tenant(&db, &o, &req("fine.example.com"), &noop)
        .await
        .expect("create");
    let drifted = provision::create_tenant(&db, &o, &req("drifted.example.com"), &noop)
        .await
        .expect("create");
    let c = db.client().await.expect("client");
    let d = &drifted.schema_name;
    c.batch_execute(&format!(
        "INSERT INTO \"{d}\".market_data (symbol, timestamp, volume)
             SELECT 'S', now() - make_interval(days => g), g FROM generate_series(1, 5) g;
         ALTER TABLE \"{d}\".market_data DROP COLUMN high;"
    ))
    .await
    .expect("chunks, then a dropped column");
    let health = cli_json(&db, tmp.path(), &["health", "--json"]);
    let reasons = |id: uuid::Uuid| -> Vec<String> {
        health
            .as_array()
            .expect("a list")
            .iter()
            .find(|v| v["id"] == id.to_string())
            .unwrap_or_else(|| panic!("{id} in {health}"))["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .map(|r| r["text"].as_str().expect("text").to_string())
            .collect()
    };
    eprintln!("TimescaleDB {version}: {health}");
    assert!(reasons(fine.id).is_empty(), "{health}");
    assert_eq!(
        reasons(drifted.id),
        ["schema drift: column market_data.high is missing"],
        "{health}"
    );
}

/// A compressed chunk is not an inheritance child of anything: its rows
/// (most of a compressed hypertable's bytes) must still count for the
/// tenant, exactly as `hypertable_size` counts them.
#[tokio::test]
#[allow(clippy::cast_precision_loss, reason = "a ratio of sizes")]
async fn compressed_chunks_count_in_the_tenants_size() {
    let Some((config, db, version)) = with_timescale().await else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let o = options(&config, Lookup::built_in(), tmp.path());
    let (t, tc) = tenant_that_runs(
        &db,
        &o,
        "zip.example.com",
        "INSERT INTO market_data (symbol, timestamp, open, high, low, close, volume)
             SELECT 'S' || (g % 7), now() - make_interval(mins => g * 14), g, g + 1, g - 1, g, g * 10
             FROM generate_series(1, 5000) g;",
    )
    .await;
    let sch = t.schema_name.clone();
    drop(tc);
    let dbname = db.params.dbname.clone();
    common::superuser_exec(
        &dbname,
        &format!(
            "SET client_min_messages = error;
             ALTER TABLE \"{sch}\".market_data SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol');
             SELECT count(compress_chunk(c)) FROM show_chunks('\"{sch}\".market_data') c;
             ANALYZE;"
        ),
    );
    let compressed = common::superuser_query(
        &dbname,
        &format!(
            "SELECT count(*) FROM timescaledb_information.chunks
             WHERE hypertable_schema = '{sch}' AND hypertable_name = 'market_data' AND is_compressed"
        ),
    );
    let n: i64 = compressed[0]
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(n >= 49, "TimescaleDB {version}: {n} compressed chunks");
    let (want, _) = timescale_size(&db, &sch).await;
    let top = cli_json(&db, tmp.path(), &["top", "--json", "--limit", "100"]);
    let row = top["tenants"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["schema"] == sch.as_str()))
        .unwrap_or_else(|| panic!("tenant in top: {top}"));
    let size = row["size_bytes"].as_i64().expect("size_bytes");
    let ratio = size as f64 / want as f64;
    eprintln!(
        "TimescaleDB {version}: {n} compressed chunks, top size {size} B, hypertable_size + plain tables {want} B ({ratio:.3})"
    );
    assert!(
        (0.9..=1.1).contains(&ratio),
        "top's size {size} is within 10% of TimescaleDB's {want}: {row}"
    );

    // Delete with its backup and restore: every compressed row comes back
    // (as rows of a hypertable; the compression settings are not kept).
    let before = contents(&dbname, &sch);
    provision::suspend_tenant(&db, &o, t.id, None)
        .await
        .expect("suspend");
    let out = provision::delete_tenant(&db, &o, t.id, &t.domain, true)
        .await
        .expect("delete with backup");
    let dump = out.backup_path.expect("a backup");
    provision::restore_tenant(&db, &o, &dump)
        .await
        .expect("restore");
    let after = contents(&dbname, &sch);
    eprintln!("compressed, before delete: {before:?}; after restore: {after:?}");
    assert_eq!(before, after, "every row is back");
    assert!(
        before.iter().any(|r| r
            .as_deref()
            .is_some_and(|r| r.starts_with("market_data 5000 "))),
        "{before:?}"
    );
}
