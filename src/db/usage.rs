//! Usage rollups: per-period per-tenant rows in `usage_samples`, written by
//! the one console that holds the usage writer lease, and the billing export.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Client;
use uuid::Uuid;

use super::{Db, pg_error};
use crate::error::Result;

/// How long the usage writer's lease lasts without renewal: a writer that
/// is gone is replaced after this.
pub const USAGE_LEASE: std::time::Duration = std::time::Duration::from_secs(180);

/// One row of `usage_samples`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    pub tenant_id: Uuid,
    pub minute: DateTime<Utc>,
    pub bytes: i64,
    pub connections: i32,
    /// `None` when pg_stat_statements was not readable.
    pub calls: Option<i64>,
    pub exec_ms: Option<f64>,
    pub rows_written: i64,
}

/// Take or renew the usage writer's lease for `client`'s session: a row of
/// our control schema's `leases`, never an advisory lock (any role in the
/// database can take an advisory key first and stop every console from
/// recording usage). Free again when the session ends or stops renewing.
pub async fn try_elect(client: &Client, control_schema: &str) -> Result<bool> {
    super::lease::try_take(client, control_schema, "usage_writer", USAGE_LEASE).await
}

/// Write one period's rows in one statement; a row already present for a
/// (tenant, minute) is kept (a second writer can never double-count).
/// Tenants deleted meanwhile are still written: billing keeps them.
pub async fn write(client: &Client, control_schema: &str, rows: &[UsageRow]) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.tenant_id).collect();
    let minutes: Vec<DateTime<Utc>> = rows.iter().map(|r| r.minute).collect();
    let bytes: Vec<i64> = rows.iter().map(|r| r.bytes).collect();
    let conns: Vec<i32> = rows.iter().map(|r| r.connections).collect();
    let calls: Vec<Option<i64>> = rows.iter().map(|r| r.calls).collect();
    let exec: Vec<Option<f64>> = rows.iter().map(|r| r.exec_ms).collect();
    let written: Vec<i64> = rows.iter().map(|r| r.rows_written).collect();
    let sql = format!(
        "INSERT INTO {}.usage_samples (tenant_id, minute, bytes, connections, calls, exec_ms, rows_written)
         SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::int8[], $4::int4[], $5::int8[], $6::float8[], $7::int8[])
         ON CONFLICT (tenant_id, minute) DO NOTHING",
        super::quote_ident(control_schema)
    );
    client
        .execute(
            &sql,
            &[&ids, &minutes, &bytes, &conns, &calls, &exec, &written],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot write usage samples"))
}

/// Rows with `from <= minute < to`, by minute then tenant.
pub async fn export(db: &Db, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<UsageRow>> {
    let client = db.client().await?;
    let sql = format!(
        "SELECT tenant_id, minute, bytes, connections, calls, exec_ms, rows_written
         FROM {}.usage_samples WHERE minute >= $1 AND minute < $2
         ORDER BY minute, tenant_id",
        db.q_schema()
    );
    let rows = client
        .query(&sql, &[&from, &to])
        .await
        .map_err(|e| pg_error(&e, "cannot read usage samples"))?;
    Ok(rows
        .iter()
        .map(|r| UsageRow {
            tenant_id: r.get(0),
            minute: r.get(1),
            bytes: r.get(2),
            connections: r.get(3),
            calls: r.get(4),
            exec_ms: r.get(5),
            rows_written: r.get(6),
        })
        .collect())
}

/// From recorded usage, per tenant: the last minute with writes or
/// statements within `window`, or, when there was none, the first minute
/// recorded in it (quiet since then). Read once when a collector starts,
/// so "no activity in 24 h" survives a console restart. Scans the window's
/// rows (tenants × minutes): bounded by `statement_timeout`.
pub async fn recent_activity(
    client: &Client,
    control_schema: &str,
    window: std::time::Duration,
) -> Result<Vec<(Uuid, DateTime<Utc>)>> {
    let sql = format!(
        "SELECT tenant_id,
                coalesce(max(minute) FILTER (WHERE rows_written > 0 OR coalesce(calls, 0) > 0), min(minute))
         FROM {}.usage_samples
         WHERE minute >= now() - ($1::text)::interval
         GROUP BY tenant_id",
        super::quote_ident(control_schema)
    );
    super::query_map(
        client,
        &sql,
        &[&format!("{} seconds", window.as_secs())],
        |r| (r.get(0), r.get(1)),
    )
    .await
    .map_err(|e| pg_error(&e, "cannot read recent usage"))
}
