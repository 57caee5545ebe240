//! Detail on demand for one tenant (tables, sessions, top statements, its
//! own trades), and cancel/terminate limited to the tenant's role. These
//! are per-tenant queries, run only when someone opens a tenant.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Transaction;

use super::{Db, metrics, pg_error, quote_ident};
use crate::domain::metrics::{
    MonitoredTenant, SessionDetail, StatementDetail, TableDetail, TenantDetail,
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
    let tables = rows
        .iter()
        .map(|r| TableDetail {
            name: r.get(0),
            rows_estimate: r.get::<_, i64>(1).max(0),
            total_bytes: u64::try_from(r.get::<_, Option<i64>>(2).unwrap_or(0)).unwrap_or(0),
            dead_tuples: u64::try_from(r.get::<_, i64>(3)).unwrap_or(0),
            last_vacuum: r.get(4),
            last_analyze: r.get(5),
        })
        .collect();

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

    let (trades_today, last_activity) = trades(tx, &tenant.schema_name, &tenant.role_name).await?;

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
            .flat_map(|(_, names)| names)
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

/// Trades since midnight (server time zone) and the newest trade, from the
/// tenant's own `trades` table and its `timestamp` column; `None` when the
/// table or column is missing or cannot be read in time.
/// Read as the tenant's role when the operator may `SET ROLE` to it (rule
/// 2; and from PostgreSQL 16 an operator whose membership is `INHERIT FALSE`
/// has no other way in), else as the operator.
async fn trades(
    tx: &Transaction<'_>,
    schema: &str,
    role: &str,
) -> Result<(Option<i64>, Option<DateTime<Utc>>)> {
    let has = tx
        .query_one(
            "SELECT EXISTS (
                 SELECT 1 FROM pg_attribute a
                 JOIN pg_class c ON c.oid = a.attrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relname = 'trades' AND c.relkind IN ('r', 'p')
                   AND a.attname = 'timestamp' AND NOT a.attisdropped)",
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
        "SELECT (SELECT count(*) FROM {table} WHERE \"timestamp\" >= date_trunc('day', now())),
                (SELECT max(\"timestamp\")::timestamptz FROM {table})"
    );
    // 'SET' is a privilege of role membership from 16; before, members may SET ROLE.
    let may_set: bool = tx
        .query_opt(
            "SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
                         THEN pg_has_role(current_user, r.oid, 'SET')
                         ELSE pg_has_role(current_user, r.oid, 'MEMBER') END
             FROM pg_roles r WHERE r.rolname = $1",
            &[&role],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read role membership"))?
        .is_some_and(|r| r.get(0));
    tx.execute("SAVEPOINT trades", &[])
        .await
        .map_err(|e| pg_error(&e, "cannot read trades"))?;
    let read = async {
        if may_set {
            tx.batch_execute(&format!("SET LOCAL ROLE {}", quote_ident(role)))
                .await?;
        }
        let r = tx.query_one(&sql, &[]).await?;
        if may_set {
            tx.batch_execute("RESET ROLE").await?;
        }
        Ok::<_, tokio_postgres::Error>(r)
    };
    match read.await {
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
