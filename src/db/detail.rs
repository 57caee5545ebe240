//! Detail on demand for one tenant (tables, sessions, top statements, its
//! own trades), and cancel/terminate limited to the tenant's role. These
//! are per-tenant queries, run only when someone opens a tenant.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Transaction;

use super::{Db, metrics, pg_error, quote_ident};
use crate::domain::metrics::{
    HypertableDetail, MonitoredTenant, SessionDetail, StatementDetail, TableDetail, TenantDetail,
};
use crate::error::Result;

/// Statement text is cut to this many characters.
pub const QUERY_CHARS: i32 = 200;
/// Top statements shown.
pub const TOP_STATEMENTS: i64 = 20;

fn secs(v: Option<f64>) -> Option<Duration> {
    v.filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

async fn begin_limited(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error(&e, "cannot begin the detail read"))?;
    tx.batch_execute(
        "SET LOCAL statement_timeout = '5s'; SET LOCAL lock_timeout = '500ms'; \
         SET LOCAL TRANSACTION READ ONLY",
    )
    .await
    .map_err(|e| pg_error(&e, "cannot prepare the detail read"))?;
    Ok(tx)
}

/// Everything the detail pane shows for one tenant. Tables locked
/// AccessExclusive show their relpages estimate instead of waiting.
pub async fn tenant_detail(db: &Db, tenant: &MonitoredTenant) -> Result<TenantDetail> {
    let mut client = db.client().await?;
    let guard = begin_limited(&mut client).await?;
    let tx: &Transaction<'_> = &guard;

    let rows = tx
        .query(
            "WITH locked AS (
                 SELECT l.relation FROM pg_locks l
                 WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
             SELECT c.relname::text, c.reltuples::int8,
                    CASE WHEN EXISTS (SELECT 1 FROM locked l WHERE l.relation = c.oid)
                         THEN c.relpages::int8 * current_setting('block_size')::int8
                         ELSE pg_total_relation_size(c.oid) END,
                    pg_stat_get_dead_tuples(c.oid),
                    greatest(pg_stat_get_last_vacuum_time(c.oid), pg_stat_get_last_autovacuum_time(c.oid)),
                    greatest(pg_stat_get_last_analyze_time(c.oid), pg_stat_get_last_autoanalyze_time(c.oid))
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm')
             ORDER BY c.relname",
            &[&tenant.schema_name],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the tenant's tables"))?;
    let tables: Vec<TableDetail> = rows
        .iter()
        .map(|r| TableDetail {
            name: r.get(0),
            rows_estimate: r.get::<_, i64>(1).max(0),
            total_bytes: u64::try_from(r.get::<_, Option<i64>>(2).unwrap_or(0)).unwrap_or(0),
            dead_tuples: u64::try_from(r.get::<_, i64>(3)).unwrap_or(0),
            last_vacuum: r.get(4),
            last_analyze: r.get(5),
            hypertable: None,
        })
        .collect();
    let tables = with_hypertables(tx, &tenant.schema_name, tables).await?;

    let rows = tx
        .query(
            "SELECT pid, coalesce(state, 'unknown'), left(coalesce(query, ''), $2),
                    extract(epoch FROM now() - query_start)::float8,
                    extract(epoch FROM now() - xact_start)::float8,
                    CASE WHEN wait_event IS NOT NULL THEN wait_event_type || ':' || wait_event END,
                    coalesce(application_name, ''), client_addr::text
             FROM pg_stat_activity
             WHERE usename = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()
               AND application_name IS DISTINCT FROM 'tenantctl'
             ORDER BY query_start NULLS LAST, pid",
            &[&tenant.role_name, &QUERY_CHARS],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the tenant's sessions"))?;
    let sessions = rows
        .iter()
        .map(|r| {
            let state: String = r.get(1);
            let active = state == "active";
            SessionDetail {
                pid: r.get(0),
                query_duration: if active { secs(r.get(3)) } else { None },
                state,
                query: r.get(2),
                xact_duration: secs(r.get(4)),
                wait_event: r.get(5),
                application_name: r.get(6),
                client_addr: r.get(7),
            }
        })
        .collect();

    let statements = match metrics::detect_statements(tx).await? {
        metrics::StatementsSource::Absent => None,
        metrics::StatementsSource::Available {
            schema,
            total_column,
            ..
        } => {
            let sql = format!(
                "SELECT left(s.query, $2), s.calls, s.{total_column}, s.{total_column} / greatest(s.calls, 1), s.rows
                 FROM {}.pg_stat_statements(true) s
                 WHERE s.userid = (SELECT oid FROM pg_roles WHERE rolname = $1)
                   AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                 ORDER BY s.{total_column} DESC LIMIT $3",
                quote_ident(&schema)
            );
            tx.execute("SAVEPOINT statements", &[])
                .await
                .map_err(|e| pg_error(&e, "cannot read statements"))?;
            match tx
                .query(&sql, &[&tenant.role_name, &QUERY_CHARS, &TOP_STATEMENTS])
                .await
            {
                Ok(rows) => Some(
                    rows.iter()
                        .map(|r| StatementDetail {
                            query: r.get::<_, Option<String>>(0).unwrap_or_default(),
                            calls: r.get(1),
                            total_ms: r.get(2),
                            mean_ms: r.get(3),
                            rows: r.get(4),
                        })
                        .collect(),
                ),
                Err(e) => {
                    tracing::debug!("statements unavailable: {e}");
                    tx.execute("ROLLBACK TO SAVEPOINT statements", &[])
                        .await
                        .map_err(|e| pg_error(&e, "cannot read statements"))?;
                    None
                }
            }
        }
    };

    let (trades_today, last_activity) = trades(tx, &tenant.schema_name).await?;

    let expected: Vec<String> = tenant
        .expected_tables
        .iter()
        .chain(tenant.expected_indexes.iter())
        .cloned()
        .collect();
    let drift = if expected.is_empty() {
        Vec::new()
    } else {
        let schemas = [tenant.schema_name.as_str()];
        let group = metrics::DriftGroup {
            schemas: &schemas,
            names: &expected,
        };
        metrics::drift(tx, &[group])
            .await?
            .into_iter()
            .flat_map(|(_, names)| names.to_vec())
            .collect()
    };
    guard
        .commit()
        .await
        .map_err(|e| pg_error(&e, "cannot finish the detail read"))?;
    Ok(TenantDetail {
        tenant_id: tenant.id,
        tables,
        sessions,
        statements,
        trades_today,
        last_activity,
        drift,
    })
}

/// The tenant's hypertables with their chunks, when TimescaleDB is
/// installed: chunk count, the time range the chunks cover, and rows, size
/// and dead tuples of the chunks folded into the hypertable's row (its
/// parent holds none). Catalog and statistics only, per tenant (the detail
/// is read for one tenant on demand): one pass over its chunks. A chunk
/// locked AccessExclusive is counted with its relpages instead of waiting;
/// on any error (lock timeout) the tables are shown without chunk figures.
async fn with_hypertables(
    tx: &Transaction<'_>,
    schema: &str,
    mut tables: Vec<TableDetail>,
) -> Result<Vec<TableDetail>> {
    let ts = metrics::detect_timescale(tx).await?;
    if !ts.chunks() {
        return Ok(tables);
    }
    tx.execute("SAVEPOINT hypertables", &[])
        .await
        .map_err(|e| pg_error(&e, "cannot read the tenant's hypertables"))?;
    let rows = tx
        .query(
            "WITH locked AS (
                 SELECT l.relation FROM pg_locks l
                 WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())),
             ht AS (
                 SELECT h.id, h.table_name::text AS name, d.column_name::text AS time_column,
                        to_regclass(format('%I.%I', h.schema_name, h.table_name))::oid AS rel
                 FROM _timescaledb_catalog.hypertable h
                 JOIN _timescaledb_catalog.dimension d ON d.hypertable_id = h.id
                 WHERE h.schema_name = $1
                   AND d.id = (SELECT min(d2.id) FROM _timescaledb_catalog.dimension d2
                               WHERE d2.hypertable_id = h.id)),
             ch AS (
                 SELECT ht.id, ch.range_start, ch.range_end,
                        to_regclass(format('%I.%I', ch.chunk_schema, ch.chunk_name))::oid AS rel
                 FROM timescaledb_information.chunks ch
                 JOIN ht ON ch.hypertable_name = ht.name
                 WHERE ch.hypertable_schema = $1)
             SELECT ht.name, ht.time_column, count(c.oid)::int8,
                    min(ch.range_start)::timestamptz, max(ch.range_end)::timestamptz,
                    coalesce(sum(c.reltuples) FILTER (WHERE c.reltuples > 0), 0)::int8,
                    (CASE WHEN EXISTS (SELECT 1 FROM locked l WHERE l.relation = ht.rel)
                          THEN 0 ELSE pg_total_relation_size(ht.rel) END
                     + coalesce(sum(CASE WHEN l.relation IS NOT NULL
                                         THEN c.relpages::int8 * current_setting('block_size')::int8
                                         ELSE pg_total_relation_size(c.oid) END), 0))::int8,
                    coalesce(sum(pg_stat_get_dead_tuples(c.oid)), 0)::int8
             FROM ht LEFT JOIN ch ON ch.id = ht.id
             LEFT JOIN pg_class c ON c.oid = ch.rel
             LEFT JOIN locked l ON l.relation = c.oid
             GROUP BY ht.id, ht.name, ht.time_column, ht.rel",
            &[&schema],
        )
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            tracing::debug!("hypertable figures unavailable: {e}");
            tx.execute("ROLLBACK TO SAVEPOINT hypertables", &[])
                .await
                .map_err(|e| pg_error(&e, "cannot read the tenant's hypertables"))?;
            return Ok(tables);
        }
    };
    for r in rows {
        let name: String = r.get(0);
        let Some(t) = tables.iter_mut().find(|t| t.name == name) else {
            continue;
        };
        let bytes = u64::try_from(r.get::<_, i64>(6)).unwrap_or(0);
        t.rows_estimate = t.rows_estimate.max(0) + r.get::<_, i64>(5);
        t.total_bytes = bytes;
        t.dead_tuples += u64::try_from(r.get::<_, i64>(7)).unwrap_or(0);
        t.hypertable = Some(HypertableDetail {
            time_column: r.get(1),
            chunks: u32::try_from(r.get::<_, i64>(2)).unwrap_or(u32::MAX),
            range_start: r.get(3),
            range_end: r.get(4),
            total_bytes: bytes,
        });
    }
    Ok(tables)
}

/// Trades since midnight (server time zone) and the newest trade, from the
/// tenant's own `trades` table and its `timestamp` column; `None` when the
/// table or column is missing or cannot be read in time.
///
/// This is the one read of tenant data as the operator, so it runs only
/// where it can evaluate no tenant code: a plain or partitioned table
/// without row-level security (policies are tenant expressions), a column
/// of the built-in timestamp types themselves (not a domain, not a type
/// with casts of the tenant's), and operators resolved in `pg_catalog`
/// alone.
async fn trades(
    tx: &Transaction<'_>,
    schema: &str,
) -> Result<(Option<i64>, Option<DateTime<Utc>>)> {
    let has = tx
        .query_one(
            "SELECT EXISTS (
                 SELECT 1 FROM pg_attribute a
                 JOIN pg_class c ON c.oid = a.attrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relname = 'trades' AND c.relkind IN ('r', 'p')
                   AND NOT c.relrowsecurity
                   AND NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
                                   WHERE i.inhparent = c.oid AND (p.relrowsecurity OR p.relkind NOT IN ('r', 'p')))
                   AND a.attname = 'timestamp' AND NOT a.attisdropped
                   AND a.atttypid IN ('pg_catalog.timestamptz'::pg_catalog.regtype,
                                      'pg_catalog.timestamp'::pg_catalog.regtype))",
            &[&schema],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot look for the trades table"))?
        .get::<_, bool>(0);
    if !has {
        return Ok((None, None));
    }
    let table = format!("{}.{}", quote_ident(schema), quote_ident("trades"));
    let sql = format!(
        "SELECT (SELECT pg_catalog.count(*) FROM {table}
                 WHERE \"timestamp\" OPERATOR(pg_catalog.>=) pg_catalog.date_trunc('day', pg_catalog.now())),
                (SELECT pg_catalog.max(\"timestamp\")::pg_catalog.timestamptz FROM {table})"
    );
    tx.batch_execute("SAVEPOINT trades; SET LOCAL search_path = pg_catalog, pg_temp")
        .await
        .map_err(|e| pg_error(&e, "cannot read trades"))?;
    match tx.query_one(&sql, &[]).await {
        Ok(r) => Ok((r.get(0), r.get(1))),
        Err(e) => {
            tracing::debug!("trades unavailable: {e}");
            tx.execute("ROLLBACK TO SAVEPOINT trades", &[])
                .await
                .map_err(|e| pg_error(&e, "cannot read trades"))?;
            Ok((None, None))
        }
    }
}

async fn signal(db: &Db, role_name: &str, pid: i32, function: &str) -> Result<bool> {
    let client = db.client().await?;
    let sql = format!(
        "SELECT {function}(pid) FROM pg_stat_activity
         WHERE pid = $1 AND usename = $2 AND backend_type = 'client backend'"
    );
    let rows = client
        .query(&sql, &[&pid, &role_name])
        .await
        .map_err(|e| pg_error(&e, &format!("cannot signal backend {pid}")))?;
    Ok(rows.first().is_some_and(|r| r.get::<_, bool>(0)))
}

/// Cancel the running statement of `pid`, only if it is a session of
/// `role_name`. Returns whether a signal was sent.
pub async fn cancel_session(db: &Db, role_name: &str, pid: i32) -> Result<bool> {
    signal(db, role_name, pid, "pg_cancel_backend").await
}

/// Terminate the session `pid`, only if it belongs to `role_name`.
pub async fn terminate_session(db: &Db, role_name: &str, pid: i32) -> Result<bool> {
    signal(db, role_name, pid, "pg_terminate_backend").await
}
