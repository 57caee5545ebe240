//! The fast tick's activity queries beyond the basic counters: statement
//! statistics per role with the extras the Neighbours view ranks by (WAL,
//! temp spill, buffer hits), and the blocking sessions. One set-based
//! statement each, whatever the tenant count; they run on the collector's
//! connections with its timeouts (see [`super::metrics`]).

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use super::metrics::{Sample, StatementRow, StatementsRead, StatementsSource, statements_missing};
use super::{pg_error, query_map, quote_ident};
use crate::error::Result;

/// Cumulative statement statistics of one role, with the extras.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementExtraRow {
    pub role: String,
    pub calls: u64,
    pub total_ms: f64,
    /// `None` before pg_stat_statements 1.8 (no `wal_bytes`).
    pub wal_bytes: Option<u64>,
    /// `temp_blks_written` in bytes (times `block_size`).
    pub temp_bytes: u64,
    pub shared_blks_hit: u64,
    pub shared_blks_read: u64,
}

/// What the statements query gave: the per-role rows the base metrics use
/// and, when readable, the same rows with their extras.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementsWithExtras {
    pub base: StatementsRead,
    pub extras: Option<Sample<StatementExtraRow>>,
}

fn to_u64(v: Option<i64>) -> u64 {
    v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

/// Statement totals and extras per role of this database, from
/// `pg_stat_statements(false)` (no query text is read): calls, execution
/// time, WAL bytes, temp blocks written, shared blocks hit and read. One
/// pass over the statements hash table (pg_stat_statements.max entries),
/// grouped by role: the same cost as the base statements query it replaces.
pub async fn statements_with_extras(
    client: &Client,
    source: &StatementsSource,
) -> Result<StatementsWithExtras> {
    let StatementsSource::Available {
        schema,
        total_column,
        ..
    } = source
    else {
        return Ok(StatementsWithExtras {
            base: StatementsRead::Absent,
            extras: None,
        });
    };
    // `wal_bytes` came with 1.8, as `total_exec_time` did.
    let wal = if *total_column == "total_exec_time" {
        "sum(s.wal_bytes)::int8"
    } else {
        "NULL::int8"
    };
    let sql = format!(
        "SELECT now(), r.rolname::text, sum(s.calls)::int8, sum(s.{total_column})::float8,
                {wal}, (sum(s.temp_blks_written) * current_setting('block_size')::int8)::int8,
                sum(s.shared_blks_hit)::int8, sum(s.shared_blks_read)::int8
         FROM {}.pg_stat_statements(false) s
         JOIN pg_roles r ON r.oid = s.userid
         WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         GROUP BY r.rolname",
        quote_ident(schema)
    );
    let mut at: Option<DateTime<Utc>> = None;
    let read = query_map(client, &sql, &[], |r| {
        at.get_or_insert_with(|| r.get(0));
        StatementExtraRow {
            role: r.get(1),
            calls: to_u64(r.get(2)),
            total_ms: r.get::<_, Option<f64>>(3).unwrap_or(0.0),
            wal_bytes: r
                .get::<_, Option<i64>>(4)
                .map(|v| u64::try_from(v).unwrap_or(0)),
            temp_bytes: to_u64(r.get(5)),
            shared_blks_hit: to_u64(r.get(6)),
            shared_blks_read: to_u64(r.get(7)),
        }
    })
    .await;
    match read {
        Ok(extras) => {
            let base = StatementsRead::Rows(Sample {
                at,
                rows: extras
                    .iter()
                    .map(|e| StatementRow {
                        role: e.role.clone(),
                        calls: e.calls,
                        total_ms: e.total_ms,
                    })
                    .collect(),
            });
            Ok(StatementsWithExtras {
                base,
                extras: Some(Sample { at, rows: extras }),
            })
        }
        Err(e) if statements_missing(&e) => Ok(StatementsWithExtras {
            base: StatementsRead::Vanished,
            extras: None,
        }),
        Err(e) => Err(pg_error(&e, "cannot read pg_stat_statements")),
    }
}

/// A session that waits for a lock, or that one waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRow {
    pub pid: i32,
    pub role: String,
    pub state: String,
    pub xact_start: Option<DateTime<Utc>>,
    pub query_start: Option<DateTime<Utc>>,
    /// When its oldest ungranted lock request began (`pg_locks.waitstart`).
    pub wait_start: Option<DateTime<Utc>>,
    /// The first 300 characters of its statement.
    pub query: String,
    /// `pg_blocking_pids`: whom it waits for (empty for a pure blocker).
    pub blocked_by: Vec<i32>,
}

/// Blocking sessions in one statement: `pg_blocking_pids` of each session
/// of this database waiting on a lock (only those: it takes the lock manager's partition
/// locks, so it is not called for every backend), then the waiting and
/// blocking sessions' state, transaction and statement start, and the wait
/// start from one pass over `pg_locks`. Cost: one scan of the backend array
/// and one of the lock table; nothing when nobody waits.
pub async fn blocking(client: &Client) -> Result<Sample<LockRow>> {
    let rows = client
        .query(
            "WITH w AS MATERIALIZED (
                 SELECT pid, pg_blocking_pids(pid) AS by FROM pg_stat_activity
                 WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()
                   AND datid = (SELECT oid FROM pg_database WHERE datname = current_database())),
             ws AS (
                 SELECT pid, min(waitstart) AS since FROM pg_locks
                 WHERE NOT granted AND pid IN (SELECT pid FROM w) GROUP BY pid),
             involved AS (
                 SELECT pid FROM w WHERE cardinality(by) > 0
                 UNION SELECT unnest(by) FROM w)
             SELECT now(), a.pid, coalesce(a.usename::text, ''), coalesce(a.state, ''),
                    a.xact_start, a.query_start, ws.since,
                    left(coalesce(a.query, ''), 300), coalesce(w.by, '{}')
             FROM involved i
             JOIN pg_stat_activity a ON a.pid = i.pid
             LEFT JOIN w ON w.pid = a.pid
             LEFT JOIN ws ON ws.pid = a.pid",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read blocking sessions"))?;
    Ok(Sample {
        at: rows.first().map(|r| r.get(0)),
        rows: rows
            .iter()
            .map(|r| LockRow {
                pid: r.get(1),
                role: r.get(2),
                state: r.get(3),
                xact_start: r.get(4),
                query_start: r.get(5),
                wait_start: r.get(6),
                query: r.get(7),
                blocked_by: r.get(8),
            })
            .collect(),
    })
}
