//! The fast tick's queries: a fixed number of set-based statements whatever
//! the tenant count, each grouped by schema or by role. They run on the
//! collector's own connections, outside any transaction block (each
//! statement gets a fresh statistics snapshot), under `statement_timeout`
//! and `lock_timeout`, as `application_name = 'tenantctl'`. Every sample
//! carries the server clock (`now()`) it was read at, for rates.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_postgres::{Client, GenericClient};

use super::{pg_error, query_map};
use crate::domain::metrics::ListPool;
use crate::error::Result;

/// Rows of one source and the server time they were read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<T> {
    pub at: Option<DateTime<Utc>>,
    pub rows: Vec<T>,
}

/// Approximate size of one schema: relpages of heap, TOAST and indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeRow {
    pub schema: String,
    pub bytes: u64,
    pub relations: u32,
}

/// Cumulative table statistics of one schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableCounters {
    /// Rows inserted + updated + deleted.
    pub rows_written: u64,
    pub seq_scans: u64,
    pub idx_scans: u64,
    pub dead_tuples: u64,
}

/// Sessions of one role.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub role: String,
    pub total: u32,
    pub active: u32,
    pub idle: u32,
    pub idle_in_tx: u32,
    /// Seconds; `None` when nothing is running.
    pub longest_running_s: Option<f64>,
    pub oldest_xact_s: Option<f64>,
    pub idle_in_tx_longest_s: Option<f64>,
}

/// Cumulative statement statistics of one role (pg_stat_statements).
#[derive(Debug, Clone, PartialEq)]
pub struct StatementRow {
    pub role: String,
    pub calls: u64,
    pub total_ms: f64,
}

/// Whole-database counters.
#[derive(Debug, Clone, PartialEq)]
pub struct TotalsRow {
    pub at: DateTime<Utc>,
    /// Filled by the collector from [`database_size`] now and then.
    pub database_bytes: Option<u64>,
    pub connections: u32,
    pub max_connections: u32,
    pub xact_commit: u64,
    pub blks_hit: u64,
    pub blks_read: u64,
    pub server_version: String,
}

/// Where pg_stat_statements lives and how its columns are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementsSource {
    /// Not installed in this database (or not preloaded).
    Absent,
    Available {
        /// Schema of the extension (unquoted).
        schema: String,
        version: String,
        /// `total_exec_time` (1.8+, PostgreSQL 13+) or `total_time` before.
        total_column: &'static str,
    },
}

/// Whether TimescaleDB is installed in this database (detected once per
/// monitoring session). When it is, the tenants' hypertable chunks (in
/// `_timescaledb_internal`, not in the tenant's schema) are attributed to
/// the schema of their hypertable; when it is not, no query names its
/// schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimescaleSource {
    Absent,
    Available {
        /// `extversion`, e.g. `2.28.3`.
        version: String,
    },
}

impl TimescaleSource {
    /// Whether chunks are attributed (TimescaleDB 2.x; 1.x has another catalog).
    pub fn chunks(&self) -> bool {
        matches!(self, TimescaleSource::Available { version } if version.split('.').next().and_then(|m| m.parse::<u32>().ok()).is_some_and(|m| m >= 2))
    }
}

/// Whether TimescaleDB is installed here, and its version. One catalog row.
pub async fn detect_timescale(client: &impl GenericClient) -> Result<TimescaleSource> {
    let row = client
        .query_opt(
            "SELECT extversion::text FROM pg_extension WHERE extname = 'timescaledb'",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot detect TimescaleDB"))?;
    Ok(match row {
        Some(r) => TimescaleSource::Available { version: r.get(0) },
        None => TimescaleSource::Absent,
    })
}

/// The chunks of the user hypertables, each with the oid of the schema it
/// belongs to: `ch(rel, nsp)`, and with their indexes `chi(rel, nsp,
/// kind)`; `only` restricts the hypertables (SQL on `h.schema_name`, e.g.
/// `h.schema_name = ANY($1::text[])`). Set-based, without a function call
/// per row:
///
/// - the hypertables come from TimescaleDB's catalog and are resolved to
///   relations on `pg_class`'s (name, schema) index, one probe per
///   hypertable (a lateral lookup: a plain join lets the planner match
///   every tenant's `trades` by name first); their chunks are their
///   inheritance children, one scan of `pg_inherits` hashed against them,
///   so a chunk whose relation is gone is not there at all;
/// - a compressed chunk is no inheritance child (TimescaleDB 2.x): it comes
///   from the chunk catalog (`compressed_chunk_id` of its user's chunk),
///   one `pg_class` probe each, and counts for the user's schema;
/// - the chunks' indexes are one scan of `pg_index` hashed against the
///   chunks (resolving each chunk's name with `to_regclass` instead made
///   the size lane ~12x its floor at 1,000 tenants with 20,000 chunks).
fn chunks_cte(only: &str) -> String {
    format!(
        "hyp AS MATERIALIZED (
                 SELECT hn.oid AS pnsp, h.table_name, hn.oid AS nsp
                 FROM _timescaledb_catalog.hypertable h
                 JOIN pg_namespace hn ON hn.nspname = h.schema_name
                 -- A compressed hypertable's own rows count through its user's.
                 WHERE ({only}) AND NOT EXISTS (SELECT 1 FROM _timescaledb_catalog.hypertable u
                                                WHERE u.compressed_hypertable_id = h.id)),
             par AS MATERIALIZED (
                 SELECT hc.oid AS parent, hyp.nsp FROM hyp
                 CROSS JOIN LATERAL (SELECT c.oid FROM pg_class c
                                     WHERE c.relnamespace = hyp.pnsp AND c.relname = hyp.table_name
                                     LIMIT 1) hc),
             cz AS MATERIALIZED (
                 SELECT zc.oid AS rel, hn.oid AS nsp
                 FROM (SELECT hypertable_id, compressed_chunk_id FROM _timescaledb_catalog.chunk
                       WHERE compressed_chunk_id IS NOT NULL) k
                 JOIN _timescaledb_catalog.chunk z ON z.id = k.compressed_chunk_id
                 JOIN _timescaledb_catalog.hypertable h ON h.id = k.hypertable_id
                 JOIN pg_namespace hn ON hn.nspname = h.schema_name
                 JOIN pg_namespace zn ON zn.nspname = z.schema_name
                 CROSS JOIN LATERAL (SELECT c.oid FROM pg_class c
                                     WHERE c.relnamespace = zn.oid AND c.relname = z.table_name
                                     LIMIT 1) zc
                 WHERE {only}),
             ch AS MATERIALIZED (
                 SELECT i.inhrelid AS rel, par.nsp FROM pg_inherits i JOIN par ON par.parent = i.inhparent
                 UNION ALL SELECT rel, nsp FROM cz),
             chi AS (
                 SELECT rel, nsp, 'r'::\"char\" AS kind FROM ch
                 UNION ALL
                 SELECT i.indexrelid, ch.nsp, 'i'::\"char\" FROM pg_index i JOIN ch ON ch.rel = i.indrelid)"
    )
}

/// The schemas the per-schema lanes report: every schema but the system's
/// and TimescaleDB's own (whose chunks count for their hypertable's
/// schema). The monitor keeps the rows of the schemas it monitors and
/// drops the few others; the list of monitored schemas does not travel
/// with every tick (at 50,000 tenants that 2.4 MB parameter was encoded
/// for each query, and each connection's write buffer kept its size).
const USER_SCHEMAS: &str =
    "n.nspname <> 'information_schema' AND n.nspname !~ '^(pg_|_timescaledb)'";

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_u32(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// Apply the monitoring session settings to a collector connection.
/// One round trip, once per connection. JIT is off: the catalog queries
/// here cost their scans, and a join over thousands of chunks is estimated
/// high enough that compiling it (~0.9 s at 20,000 chunks) would cost far
/// more than running it.
pub async fn prepare_session(client: &Client, query_timeout_ms: u128) -> Result<()> {
    let lock_ms = (query_timeout_ms / 2).max(50);
    client
        .batch_execute(&format!(
            "SET statement_timeout = {query_timeout_ms}; SET lock_timeout = {lock_ms}; \
             SET application_name = 'tenantctl'; SET idle_in_transaction_session_timeout = 0; \
             SET jit = off"
        ))
        .await
        .map_err(|e| pg_error(&e, "cannot prepare the monitoring session"))
}

/// Approximate size per schema from `pg_class.relpages` (heap, its TOAST
/// table, indexes). Reads only the catalog, in one scan of `pg_class`
/// aggregated by namespace oid (at 210,000 relations ~2.4x that bare scan,
/// where joining each relation to its TOAST row by index was ~3.5x); the
/// TOAST pages are found by a hash of the (few) TOAST tables with pages;
/// the schema names are hash-joined at the end (an `= ANY` of thousands of
/// names would be tested against every namespace, N×M). With TimescaleDB,
/// the chunks of each schema's hypertables (heap, TOAST, indexes) count
/// for it: the one scan of `pg_class` is grouped by the tenant schema of
/// each chunk and chunk index (hashed from [`chunks_cte`]) or else its own
/// schema; at 1,000 tenants with 20,000 chunks ~9x the bare scan in the
/// monitor bench (~6x alone on the server), where resolving each chunk by
/// name was ~12x.
pub async fn approx_sizes(client: &Client, ts: &TimescaleSource) -> Result<Sample<SizeRow>> {
    let sql = if ts.chunks() {
        // One pass over pg_class where each chunk and chunk index counts
        // for its tenant's schema instead of its own (hashed against
        // `chi`); TOAST pages from a hash of the TOAST tables with pages.
        let chunks = chunks_cte("true");
        format!(
            "WITH {chunks},
             t AS (SELECT oid, relpages FROM pg_class WHERE relkind = 't' AND relpages > 0),
             agg AS (
                 SELECT coalesce(m.nsp, c.relnamespace) AS nsp,
                        sum(c.relpages::int8 + coalesce(t.relpages, 0)::int8) AS pages,
                        count(*)::int4 AS rels
                 FROM pg_class c LEFT JOIN t ON t.oid = c.reltoastrelid
                 LEFT JOIN chi m ON m.rel = c.oid
                 WHERE c.relkind IN ('r', 'i', 'm')
                 GROUP BY 1)
             SELECT now(), n.nspname::text,
                    (coalesce(a.pages, 0) * current_setting('block_size')::int8)::int8,
                    coalesce(a.rels, 0)
             FROM pg_namespace n
             LEFT JOIN agg a ON a.nsp = n.oid
             WHERE {USER_SCHEMAS}"
        )
    } else {
        format!(
            "WITH r AS MATERIALIZED (
                 SELECT oid, relnamespace, relkind, relpages, reltoastrelid FROM pg_class
                 WHERE relkind IN ('r', 'i', 'm') OR (relkind = 't' AND relpages > 0)),
             t AS (SELECT oid, relpages FROM r WHERE relkind = 't'),
             agg AS (
                 SELECT c.relnamespace AS nsp,
                        sum(c.relpages::int8 + coalesce(t.relpages, 0)::int8) AS pages,
                        count(*)::int4 AS rels
                 FROM r c LEFT JOIN t ON t.oid = c.reltoastrelid
                 WHERE c.relkind <> 't'
                 GROUP BY c.relnamespace)
             SELECT now(), n.nspname::text,
                    (coalesce(a.pages, 0) * current_setting('block_size')::int8)::int8,
                    coalesce(a.rels, 0)
             FROM pg_namespace n
             LEFT JOIN agg a ON a.nsp = n.oid
             WHERE {USER_SCHEMAS}"
        )
    };
    let mut at = None;
    let rows = query_map(client, &sql, &[], |r| {
        at.get_or_insert_with(|| r.get(0));
        SizeRow {
            schema: r.get(1),
            bytes: to_u64(r.get(2)),
            relations: to_u32(r.get(3)),
        }
    })
    .await
    .map_err(|e| pg_error(&e, "cannot read approximate sizes"))?;
    Ok(Sample { at, rows })
}

/// Table statistics per schema, read with the `pg_stat_get_*` functions
/// behind `pg_stat_user_tables` (only the columns needed, no per-table
/// grouping): rows written, scans, dead tuples. One pass over the tenant
/// schemas' relations; with TimescaleDB also over their hypertables'
/// chunks and chunk indexes (where a hypertable's rows and their
/// statistics are: the parent holds none), grouped by the schema's oid and
/// named after grouping (grouping ~71,000 rows by name instead cost ~13%
/// more server CPU at 1,000 tenants with 20,000 chunks).
pub async fn table_counters(
    client: &Client,
    ts: &TimescaleSource,
) -> Result<Sample<(String, TableCounters)>> {
    let sql = if ts.chunks() {
        let chunks = chunks_cte("true");
        format!(
            "WITH {chunks},
             rels AS (
                 SELECT n.oid AS nsp, c.oid AS rel, c.relkind AS kind
                 FROM pg_namespace n
                 JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'm', 'i')
                 WHERE {USER_SCHEMAS}
                 UNION ALL SELECT nsp, rel, kind FROM chi),
             agg AS (
                 SELECT x.nsp,
                    coalesce(sum(pg_stat_get_tuples_inserted(x.rel) + pg_stat_get_tuples_updated(x.rel)
                                 + pg_stat_get_tuples_deleted(x.rel)) FILTER (WHERE x.kind <> 'i'), 0)::int8 AS written,
                    coalesce(sum(pg_stat_get_numscans(x.rel)) FILTER (WHERE x.kind <> 'i'), 0)::int8 AS seq,
                    coalesce(sum(pg_stat_get_numscans(x.rel)) FILTER (WHERE x.kind = 'i'), 0)::int8 AS idx,
                    coalesce(sum(pg_stat_get_dead_tuples(x.rel)) FILTER (WHERE x.kind <> 'i'), 0)::int8 AS dead
                 FROM rels x GROUP BY x.nsp)
             SELECT now(), n.nspname::text, a.written, a.seq, a.idx, a.dead
             FROM agg a JOIN pg_namespace n ON n.oid = a.nsp"
        )
    } else {
        format!(
            "SELECT now(), n.nspname::text,
                coalesce(sum(pg_stat_get_tuples_inserted(c.oid) + pg_stat_get_tuples_updated(c.oid)
                             + pg_stat_get_tuples_deleted(c.oid)) FILTER (WHERE c.relkind <> 'i'), 0)::int8,
                coalesce(sum(pg_stat_get_numscans(c.oid)) FILTER (WHERE c.relkind <> 'i'), 0)::int8,
                coalesce(sum(pg_stat_get_numscans(c.oid)) FILTER (WHERE c.relkind = 'i'), 0)::int8,
                coalesce(sum(pg_stat_get_dead_tuples(c.oid)) FILTER (WHERE c.relkind <> 'i'), 0)::int8
         FROM pg_namespace n
         JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'm', 'i')
         WHERE {USER_SCHEMAS}
         GROUP BY n.nspname"
        )
    };
    let mut at = None;
    let rows = query_map(client, &sql, &[], |r| {
        at.get_or_insert_with(|| r.get(0));
        (
            r.get(1),
            TableCounters {
                rows_written: to_u64(r.get(2)),
                seq_scans: to_u64(r.get(3)),
                idx_scans: to_u64(r.get(4)),
                dead_tuples: to_u64(r.get(5)),
            },
        )
    })
    .await
    .map_err(|e| pg_error(&e, "cannot read table statistics"))?;
    Ok(Sample { at, rows })
}

/// Client sessions per role from `pg_stat_activity`, without tenantctl's
/// own sessions. Scans the backend array once (max_connections entries).
/// Without pg_read_all_stats other roles' sessions still count, but their
/// state (and backend type) is hidden, so active/idle split shows zeros.
pub async fn sessions(client: &Client) -> Result<Sample<SessionRow>> {
    let secs = |v: Option<f64>| v.map(|s| s.max(0.0));
    let mut at = None;
    let rows = query_map(
        client,
        "SELECT now(), usename::text,
                    count(*)::int4,
                    count(*) FILTER (WHERE state = 'active')::int4,
                    count(*) FILTER (WHERE state = 'idle')::int4,
                    count(*) FILTER (WHERE state LIKE 'idle in transaction%')::int4,
                    extract(epoch FROM max(now() - query_start) FILTER (WHERE state = 'active'))::float8,
                    extract(epoch FROM max(now() - xact_start))::float8,
                    extract(epoch FROM max(now() - state_change)
                            FILTER (WHERE state LIKE 'idle in transaction%'))::float8
             FROM pg_stat_activity
             WHERE (backend_type = 'client backend' OR backend_type IS NULL) AND pid <> pg_backend_pid()
               AND application_name IS DISTINCT FROM $1 AND usename IS NOT NULL
             GROUP BY usename",
        &[&super::connect::APPLICATION_NAME],
        |r| {
            at.get_or_insert_with(|| r.get(0));
            SessionRow {
                role: r.get(1),
                total: to_u32(r.get(2)),
                active: to_u32(r.get(3)),
                idle: to_u32(r.get(4)),
                idle_in_tx: to_u32(r.get(5)),
                longest_running_s: secs(r.get(6)),
                oldest_xact_s: secs(r.get(7)),
                idle_in_tx_longest_s: secs(r.get(8)),
            }
        },
    )
    .await
    .map_err(|e| pg_error(&e, "cannot read sessions"))?;
    Ok(Sample { at, rows })
}

/// Whether pg_stat_statements is installed here, where, and its column
/// names. (Not being preloaded shows up when it is read: see
/// [`StatementsRead::Vanished`]; `shared_preload_libraries` itself is
/// hidden from roles without pg_read_all_settings.)
pub async fn detect_statements(client: &impl GenericClient) -> Result<StatementsSource> {
    let row = client
        .query_opt(
            "SELECT e.extversion, n.nspname::text,
                    EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = format('%I.pg_stat_statements', n.nspname)::regclass
                              AND a.attname = 'total_exec_time' AND NOT a.attisdropped)
             FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
             WHERE e.extname = 'pg_stat_statements'",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot detect pg_stat_statements"))?;
    Ok(match row {
        Some(r) => StatementsSource::Available {
            version: r.get(0),
            schema: r.get(1),
            total_column: if r.get(2) {
                "total_exec_time"
            } else {
                "total_time"
            },
        },
        None => StatementsSource::Absent,
    })
}

/// What reading pg_stat_statements gave.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementsRead {
    Rows(Sample<StatementRow>),
    /// Not installed (as detected): calls show n/a.
    Absent,
    /// Detected earlier but gone now (dropped, or not preloaded any more).
    Vanished,
}

/// Whether an error means "pg_stat_statements went away" rather than a fault.
pub fn statements_missing(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.as_db_error().is_some_and(|d| {
        [
            SqlState::UNDEFINED_TABLE,
            SqlState::UNDEFINED_FUNCTION,
            SqlState::UNDEFINED_COLUMN,
            SqlState::INVALID_SCHEMA_NAME,
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        ]
        .contains(d.code())
    })
}

/// Cluster totals: connections against max_connections, commit and block
/// counters of this database. Reads pg_stat_activity and one row of
/// pg_stat_database.
pub async fn totals(client: &Client) -> Result<TotalsRow> {
    let r = client
        .query_one(
            "SELECT now(),
                    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int4,
                    current_setting('max_connections')::int4,
                    d.xact_commit, d.blks_hit, d.blks_read,
                    current_setting('server_version')
             FROM pg_stat_database d WHERE d.datname = current_database()",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read cluster totals"))?;
    Ok(TotalsRow {
        at: r.get(0),
        database_bytes: None,
        connections: to_u32(r.get(1)),
        max_connections: to_u32(r.get(2)),
        xact_commit: to_u64(r.get(3)),
        blks_hit: to_u64(r.get(4)),
        blks_read: to_u64(r.get(5)),
        server_version: r.get(6),
    })
}

/// Relations above which the collector takes the database size from the
/// catalog.
pub const CATALOG_SIZE_ABOVE: i64 = 20_000;

/// The size of the current database: `pg_database_size` (a `stat()` of
/// every file, two or three per relation) up to `catalog_above` relations
/// (the collector passes [`CATALOG_SIZE_ABOVE`]); above, the catalog's page counts (one `pg_class` scan; as
/// fresh as the last VACUUM/ANALYZE, like the approximate tenant sizes).
/// The collector runs it every few ticks, outside the fast part.
pub async fn database_size(client: &Client, catalog_above: i64) -> Result<u64> {
    let r = client
        .query_one(
            "SELECT CASE WHEN (SELECT count(*) FROM pg_class) > $1
                         THEN (SELECT sum(relpages::int8) * current_setting('block_size')::int8
                               FROM pg_class WHERE relkind IN ('r', 'i', 't', 'm', 'S'))::int8
                         ELSE pg_database_size(current_database()) END",
            &[&catalog_above],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the database size"))?;
    Ok(to_u64(r.get(0)))
}

/// Schemas that should all hold the same objects (the tenants of one template).
#[derive(Debug, Clone, Copy)]
pub struct DriftGroup<'a> {
    pub schemas: &'a [&'a str],
    /// Tables and indexes each of those schemas should have.
    pub names: &'a [String],
}

/// Template objects missing per schema: `(schema, missing names)` for
/// existing schemas with at least one missing. Equal lists are one
/// allocation (every tenant of a template that gained four indexes misses
/// the same four: at 50,000 tenants a list each took 16 MB per check). Set-based: each group's
/// schemas and names travel once and are paired on the server, then the
/// expected (schema, name) pairs EXCEPT the relations of those schemas (one
/// hashed pass over their pg_class rows; no per-pair nested loop, whatever
/// the planner guesses for `unnest`).
pub async fn drift(
    client: &(impl GenericClient + Sync),
    groups: &[DriftGroup<'_>],
) -> Result<Vec<(String, Arc<[String]>)>> {
    let (mut schemas, mut schema_group) = (Vec::<&str>::new(), Vec::<i32>::new());
    let (mut names, mut name_group) = (Vec::<&str>::new(), Vec::<i32>::new());
    for (g, group) in (0i32..).zip(groups) {
        schemas.extend_from_slice(group.schemas);
        schema_group.extend(std::iter::repeat_n(g, group.schemas.len()));
        names.extend(group.names.iter().map(String::as_str));
        name_group.extend(std::iter::repeat_n(g, group.names.len()));
    }
    if schemas.is_empty() || names.is_empty() {
        return Ok(Vec::new());
    }
    let mut lists = ListPool::default();
    query_map(
        client,
        "WITH here AS (
                 SELECT n.oid, n.nspname::text AS s
                 FROM unnest($1::text[]) AS w(name) JOIN pg_namespace n ON n.nspname = w.name),
             want AS (
                 SELECT s.s, n.name
                 FROM unnest($1::text[], $2::int4[]) AS s(s, g)
                 JOIN unnest($3::text[], $4::int4[]) AS n(name, g) USING (g))
             SELECT m.s, array_agg(m.name ORDER BY m.name)
             FROM (SELECT s, name FROM want
                   EXCEPT
                   SELECT h.s, c.relname::text FROM pg_class c JOIN here h ON h.oid = c.relnamespace) m
             WHERE m.s IN (SELECT s FROM here)
             GROUP BY m.s",
        &[&schemas, &schema_group, &names, &name_group],
        |r| (r.get(0), lists.share_vec(r.get(1))),
    )
    .await
    .map_err(|e| pg_error(&e, "cannot check schema drift"))
}

/// Exact size of a batch of schemas: `pg_total_relation_size` of every
/// table and materialized view (indexes and TOAST included), and with
/// TimescaleDB of every chunk of the schemas' hypertables. Relations
/// held or awaited AccessExclusive are skipped and counted, so the caller
/// can keep the old value; `lock_timeout` bounds any other wait.
/// Cost: a few `stat()` calls per relation file.
pub async fn exact_sizes(
    client: &Client,
    schemas: &[String],
    ts: &TimescaleSource,
) -> Result<Sample<(String, u64, u32)>> {
    let (chunks, chunk_rels) = if ts.chunks() {
        (
            format!("{},", chunks_cte("h.schema_name = ANY($1::text[])")),
            "UNION ALL SELECT nsp, rel FROM ch",
        )
    } else {
        (String::new(), "")
    };
    let sql = format!(
        "WITH {chunks}
             locked AS (
                 SELECT DISTINCT l.relation FROM pg_locks l
                 WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())),
             rels AS (
                 SELECT n.oid AS nsp, c.oid AS rel
                 FROM unnest($1::text[]) AS w(name)
                 JOIN pg_namespace n ON n.nspname = w.name
                 JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'm')
                 {chunk_rels})
         SELECT now(), n.nspname::text,
                coalesce(sum(pg_total_relation_size(x.rel)) FILTER (WHERE x.rel IS NOT NULL AND l.relation IS NULL), 0)::int8,
                count(l.relation)::int4
         FROM unnest($1::text[]) AS w(name)
         JOIN pg_namespace n ON n.nspname = w.name
         LEFT JOIN rels x ON x.nsp = n.oid
         LEFT JOIN locked l ON l.relation = x.rel
         GROUP BY n.nspname"
    );
    let mut at = None;
    let rows = query_map(client, &sql, &[&schemas], |r| {
        at.get_or_insert_with(|| r.get(0));
        (r.get(1), to_u64(r.get(2)), to_u32(r.get(3)))
    })
    .await
    .map_err(|e| pg_error(&e, "cannot measure exact sizes"))?;
    Ok(Sample { at, rows })
}
