//! The run and ledger rows of fleet migrations (`migration_runs`,
//! `migration_ledger`), written by the operator as a run goes. The steps
//! themselves are recorded by the runner through `migration_begin` /
//! `migration_advance`, in the transaction of their DDL.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::db::{Db, pg_error};
use crate::error::{Error, Result};

/// A run.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: Uuid,
    pub template: String,
    pub to_version: i32,
    pub state: String,
    pub options: serde_json::Value,
    pub actor: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// One tenant of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub tenant_id: Uuid,
    pub domain: String,
    /// The role that owns the tenant's objects (when the ledger was read).
    pub owner: String,
    pub wave: i32,
    pub from_version: i32,
    pub to_version: i32,
    pub at_version: i32,
    pub at_step: i32,
    pub pending_step: Option<i32>,
    pub state: String,
    pub attempts: i32,
    pub error: Option<String>,
    pub duration_ms: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours to migrate, from `(at_version, at_step)`, with a pending
    /// non-transactional step if one was started.
    Claimed {
        at_version: i32,
        at_step: i32,
        pending_step: Option<i32>,
        to_version: i32,
    },
    /// Another run is migrating the tenant.
    Busy(Option<Uuid>),
    /// Done or skipped already.
    Finished,
}

/// Create a run with its ledger rows (`(tenant, wave, from)` in order), in
/// one transaction with the run's audit row. One insert per 1,000 tenants.
pub async fn create_run(
    db: &Db,
    run: Uuid,
    template: &str,
    to: i32,
    options: &serde_json::Value,
    actor: &str,
    tenants: &[(Uuid, u32, i32)],
) -> Result<()> {
    let what = "cannot record the migration run";
    let s = db.q_schema();
    let mut client = db.client().await?;
    let tx = client.transaction().await.map_err(|e| pg_error(&e, what))?;
    tx.execute(
        &format!(
            "INSERT INTO {s}.migration_runs (id, template, to_version, options, actor) VALUES ($1, $2, $3, $4, $5)"
        ),
        &[&run, &template, &to, options, &actor],
    )
    .await
    .map_err(|e| pg_error(&e, what))?;
    for (n, chunk) in tenants.chunks(1000).enumerate() {
        let ids: Vec<Uuid> = chunk.iter().map(|t| t.0).collect();
        let waves: Vec<i32> = chunk
            .iter()
            .map(|t| i32::try_from(t.1).unwrap_or(i32::MAX))
            .collect();
        let froms: Vec<i32> = chunk.iter().map(|t| t.2).collect();
        let base = i32::try_from(n * 1000).unwrap_or(i32::MAX);
        tx.execute(
            &format!(
                "INSERT INTO {s}.migration_ledger (run_id, tenant_id, ord, wave, from_version, to_version, at_version)
                 SELECT $1, t.id, $5 + t.ord::int, t.wave, t.v, $2, t.v
                 FROM unnest($3::uuid[], $4::int[], $6::int[]) WITH ORDINALITY AS t(id, wave, v, ord)"
            ),
            &[&run, &to, &ids, &waves, &base, &froms],
        )
        .await
        .map_err(|e| pg_error(&e, what))?;
    }
    crate::db::audit::write(
        db,
        &tx,
        actor,
        "migrate_run",
        None,
        "ok",
        &serde_json::json!({"run": run, "template": template, "to_version": to,
                            "tenants": tenants.len(), "event": "start", "options": options}),
        None,
    )
    .await?;
    tx.commit().await.map_err(|e| pg_error(&e, what))
}

fn run_from_row(r: &tokio_postgres::Row) -> Run {
    Run {
        id: r.get(0),
        template: r.get(1),
        to_version: r.get(2),
        state: r.get(3),
        options: r.get(4),
        actor: r.get(5),
        started_at: r.get(6),
        ended_at: r.get(7),
    }
}

const RUN_COLUMNS: &str = "id, template, to_version, state, options, actor, started_at, ended_at";

/// One run by id, or the newest when `id` is `None`. Primary key or
/// `migration_runs_started` lookup.
pub async fn get_run(db: &Db, id: Option<Uuid>) -> Result<Run> {
    let client = db.client().await?;
    let s = db.q_schema();
    let row = match id {
        Some(id) => {
            client
                .query_opt(
                    &format!("SELECT {RUN_COLUMNS} FROM {s}.migration_runs WHERE id = $1"),
                    &[&id],
                )
                .await
        }
        None => client
            .query_opt(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM {s}.migration_runs ORDER BY started_at DESC LIMIT 1"
                ),
                &[],
            )
            .await,
    }
    .map_err(|e| pg_error(&e, "cannot read the migration runs"))?;
    match (row, id) {
        (Some(r), _) => Ok(run_from_row(&r)),
        (None, Some(id)) => Err(Error::not_found(format!("no migration run {id}"))),
        (None, None) => Err(Error::not_found(
            "no migration run yet: start one with tenantctl migrate apply",
        )),
    }
}

/// The newest runs, newest first (at most `limit`).
pub async fn list_runs(db: &Db, limit: i64) -> Result<Vec<Run>> {
    let client = db.client().await?;
    let rows = client
        .query(
            &format!(
                "SELECT {RUN_COLUMNS} FROM {}.migration_runs ORDER BY started_at DESC LIMIT $1",
                db.q_schema()
            ),
            &[&limit],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the migration runs"))?;
    Ok(rows.iter().map(run_from_row).collect())
}

/// Set a run's state (and its end time when it is no longer running). A
/// cancelled run is never set running again (a resume racing a cancel: the
/// driver's watch then sees it cancelled and starts no tenant).
pub async fn set_run_state(db: &Db, run: Uuid, state: &str) -> Result<()> {
    let client = db.client().await?;
    client
        .execute(
            &format!(
                "UPDATE {}.migration_runs SET state = $2, updated_at = clock_timestamp(),
                     ended_at = CASE WHEN $2 IN ('done', 'stopped', 'cancelled', 'paused') THEN clock_timestamp() END
                 WHERE id = $1 AND NOT ($2 = 'running' AND state = 'cancelled')"
            , db.q_schema()),
            &[&run, &state],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot record the run's state"))?;
    Ok(())
}

/// Every tenant of a run in plan order (wave, then order), with its
/// domain. Uses `migration_ledger_order`; one row per tenant of the run.
pub async fn entries(db: &Db, run: Uuid) -> Result<Vec<Entry>> {
    let client = db.client().await?;
    let s = db.q_schema();
    let rows = client
        .query(
            &format!(
                "SELECT l.tenant_id, t.domain, l.wave, l.from_version, l.to_version, l.at_version,
                        l.at_step, l.pending_step, l.state, l.attempts, l.error, l.duration_ms,
                        l.started_at, l.ended_at, coalesce(t.owner_role, t.role_name)
                 FROM {s}.migration_ledger l JOIN {s}.tenants t ON t.id = l.tenant_id
                 WHERE l.run_id = $1 ORDER BY l.wave, l.ord"
            ),
            &[&run],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the migration ledger"))?;
    Ok(rows
        .iter()
        .map(|r| Entry {
            tenant_id: r.get(0),
            domain: r.get(1),
            wave: r.get(2),
            from_version: r.get(3),
            to_version: r.get(4),
            at_version: r.get(5),
            at_step: r.get(6),
            pending_step: r.get(7),
            state: r.get(8),
            attempts: r.get(9),
            error: r.get(10),
            duration_ms: r.get(11),
            started_at: r.get(12),
            ended_at: r.get(13),
            owner: r.get(14),
        })
        .collect())
}

/// Claim a tenant of a run: its row becomes `running` (one attempt more).
/// A cached statement on the caller's `client`, so the caller can pipeline
/// the tenant's read behind it (a statement of its own: a snapshot taken
/// after the claim, which may have waited for another run's commit). A
/// tenant another run holds is `Busy` (the partial unique index
/// `migration_ledger_one_running` says so). Primary-key update.
pub async fn claim(
    db: &Db,
    client: &deadpool_postgres::Object,
    run: Uuid,
    tenant: Uuid,
) -> Result<Claim> {
    let s = db.q_schema();
    let stmt = prepare_claim(db, client).await?;
    let r = client.query_opt(&stmt, &[&run, &tenant]).await;
    match r {
        Ok(Some(row)) => Ok(Claim::Claimed {
            at_version: row.get(0),
            at_step: row.get(1),
            pending_step: row.get(2),
            to_version: row.get(3),
        }),
        Ok(None) => Ok(Claim::Finished),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            let other = client
                .query_opt(
                    &format!(
                        "SELECT run_id FROM {s}.migration_ledger WHERE tenant_id = $1 AND state = 'running'"
                    ),
                    &[&tenant],
                )
                .await
                .ok()
                .flatten()
                .map(|r| r.get(0));
            Ok(Claim::Busy(other))
        }
        Err(e) => Err(pg_error(&e, "cannot claim the tenant in the ledger")),
    }
}

/// The claim's statement, prepared once per connection (a round trip the
/// first time only).
pub async fn prepare_claim(
    db: &Db,
    client: &deadpool_postgres::Object,
) -> Result<tokio_postgres::Statement> {
    client
        .prepare_cached(&format!(
            "UPDATE {}.migration_ledger
             SET state = 'running', attempts = attempts + 1, error = NULL, ended_at = NULL,
                 started_at = coalesce(started_at, clock_timestamp())
             WHERE run_id = $1 AND tenant_id = $2 AND state IN ('queued', 'running', 'failed')
             RETURNING at_version, at_step, pending_step, to_version",
            db.q_schema()
        ))
        .await
        .map_err(|e| pg_error(&e, "cannot claim the tenant in the ledger"))
}

/// Move a claimed tenant's starting point (another run moved it forward
/// before this one applied anything). Primary-key update.
pub async fn adopt_version(db: &Db, run: Uuid, tenant: Uuid, version: i32) -> Result<()> {
    let client = db.client().await?;
    client
        .execute(
            &format!(
                "UPDATE {}.migration_ledger SET at_version = $3, at_step = 0
                 WHERE run_id = $1 AND tenant_id = $2 AND state = 'running' AND at_step = 0 AND pending_step IS NULL",
                db.q_schema()
            ),
            &[&run, &tenant, &version],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot update the migration ledger"))?;
    Ok(())
}

/// Count one more attempt (a retry after a lock was not granted).
pub async fn add_attempt(db: &Db, run: Uuid, tenant: Uuid) -> Result<()> {
    let client = db.client().await?;
    client
        .execute(
            &format!(
                "UPDATE {}.migration_ledger SET attempts = attempts + 1 WHERE run_id = $1 AND tenant_id = $2",
                db.q_schema()
            ),
            &[&run, &tenant],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot update the migration ledger"))?;
    Ok(())
}

/// End a running tenant as `failed`, `skipped` or back to `queued` (a
/// drained run), with the reason. Primary-key update.
pub async fn finish(
    db: &Db,
    run: Uuid,
    tenant: Uuid,
    state: &str,
    error: Option<&str>,
) -> Result<()> {
    let client = db.client().await?;
    client
        .execute(
            &format!(
                "UPDATE {}.migration_ledger SET state = $3, error = $4,
                     ended_at = CASE WHEN $3 = 'queued' THEN NULL ELSE clock_timestamp() END,
                     duration_ms = CASE WHEN $3 = 'queued' THEN NULL ELSE
                         (extract(epoch FROM clock_timestamp() - coalesce(started_at, clock_timestamp())) * 1000)::integer END
                 WHERE run_id = $1 AND tenant_id = $2 AND state <> 'done'",
                db.q_schema()
            ),
            &[&run, &tenant, &state, &error],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot update the migration ledger"))?;
    Ok(())
}

/// Whether the tenant's index `name` in `schema` exists and is valid:
/// `None` when absent. One catalog lookup.
pub async fn index_valid(
    client: &tokio_postgres::Client,
    schema: &str,
    name: &str,
) -> Result<Option<bool>> {
    let row = client
        .query_opt(
            "SELECT x.indisvalid FROM pg_catalog.pg_index x
             JOIN pg_catalog.pg_class c ON c.oid = x.indexrelid
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&schema, &name],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the index's state"))?;
    Ok(row.map(|r| r.get(0)))
}

/// Free connections on the server: `max_connections` less the reserved
/// ones and those in use. One read of `pg_stat_activity`.
pub async fn free_connections(db: &Db) -> Result<i64> {
    let client = db.client().await?;
    let row = client
        .query_one(
            "SELECT current_setting('max_connections')::int
                    - current_setting('superuser_reserved_connections')::int
                    - (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend')",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the free connections"))?;
    Ok(row.get(0))
}
