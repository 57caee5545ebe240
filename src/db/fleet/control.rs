//! Cross-process control of a fleet migration run: pause or cancel it from
//! another process (`migrate pause|cancel`, the console), and the driver's
//! side: a watch that notices the request and the run's end.
//!
//! The request is the run's row: `migration_runs.state` set to `paused` or
//! `cancelled` while `ended_at` is still empty. The process driving the run
//! polls the row every [`POLL`] (one primary-key update that also beats
//! `updated_at`), starts no more tenants, drains the running ones and ends
//! the run in [`finish`]: paused leaves the queued tenants queued
//! (resumable), cancelled marks them skipped. A run whose driver stopped
//! beating for [`STALE`] (killed, or stopped before it could end the run) has
//! no driver, so the request is carried out at once. No advisory locks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use super::ledger;
use crate::db::{Db, audit, pg_error};
use crate::domain::runs::{RunSummary, RunTenant, failures_first};
use crate::error::{Error, Result};

/// How often a driver looks at its run's row (and beats `updated_at`).
pub const POLL: Duration = Duration::from_millis(500);
/// A driver silent this long is gone.
pub const STALE: Duration = Duration::from_secs(5);

/// What another process asks of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Pause,
    Cancel,
}

impl Request {
    pub fn verb(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Cancel => "cancel",
        }
    }

    fn state(self) -> &'static str {
        match self {
            Self::Pause => "paused",
            Self::Cancel => "cancelled",
        }
    }
}

/// How a request was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Requested {
    /// The driving process was asked; it drains `running` tenants and stops.
    Asked { running: usize },
    /// Nobody drives the run: carried out here (`skipped` queued tenants
    /// marked skipped by a cancel).
    Done { skipped: usize },
}

/// Tell every console that a run changed (the tenants trigger covers
/// version moves; this covers run states). Best effort.
pub(crate) async fn notify(db: &Db, client: &impl deadpool_postgres::GenericClient) {
    if let Err(e) = client
        .execute(
            "SELECT pg_notify($1, '{\"op\":\"MIGRATION\"}')",
            &[&db.channel()],
        )
        .await
    {
        tracing::debug!("migration notify: {e}");
    }
}

/// Ask run `run` to pause or cancel, by `actor`. Refused with one sentence
/// for an unknown run or one that cannot take the request (finished, or
/// paused already). One transaction: the run row (FOR UPDATE), the change,
/// the audit row.
pub async fn request(db: &Db, run: Uuid, what: Request, actor: &str) -> Result<Requested> {
    let err = "cannot change the migration run";
    let s = db.q_schema();
    let mut client = db.client().await?;
    let tx = client.transaction().await.map_err(|e| pg_error(&e, err))?;
    let stale_ms = i64::try_from(STALE.as_millis()).unwrap_or(i64::MAX);
    let row = tx
        .query_opt(
            &format!(
                "SELECT state, ended_at IS NULL
                        AND updated_at > clock_timestamp() - make_interval(secs => $2::bigint / 1000.0)
                 FROM {s}.migration_runs WHERE id = $1 FOR UPDATE"
            ),
            &[&run, &stale_ms],
        )
        .await
        .map_err(|e| pg_error(&e, err))?;
    let Some(row) = row else {
        return Err(Error::not_found(format!("no migration run {run}")));
    };
    let state: String = row.get(0);
    let driven: bool = row.get(1);
    let verb = what.verb();
    match (state.as_str(), what) {
        ("done" | "cancelled", _) => {
            return Err(Error::conflict(format!(
                "run {run} is {state} already: nothing to {verb}"
            )));
        }
        ("paused", Request::Pause) => {
            return Err(Error::conflict(format!(
                "run {run} is paused already: continue it with tenantctl migrate apply --resume {run}"
            )));
        }
        ("stopped", Request::Pause) => {
            return Err(Error::conflict(format!(
                "run {run} stopped after failures and is not running: nothing to pause"
            )));
        }
        _ => {}
    }
    let running: i64 = tx
        .query_one(
            &format!(
                "SELECT count(*) FROM {s}.migration_ledger WHERE run_id = $1 AND state = 'running'"
            ),
            &[&run],
        )
        .await
        .map_err(|e| pg_error(&e, err))?
        .get(0);
    let outcome = if driven {
        tx.execute(
            &format!(
                "UPDATE {s}.migration_runs SET state = $2, updated_at = clock_timestamp() WHERE id = $1"
            ),
            &[&run, &what.state()],
        )
        .await
        .map_err(|e| pg_error(&e, err))?;
        Requested::Asked {
            running: usize::try_from(running).unwrap_or(0),
        }
    } else {
        let skipped = end_driverless(db, &tx, run, what).await?;
        Requested::Done { skipped }
    };
    audit::write(
        db,
        &tx,
        actor,
        &format!("migrate_{verb}"),
        None,
        "ok",
        &serde_json::json!({"run": run, "from_state": state, "driver": driven,
                            "outcome": &outcome}),
        None,
    )
    .await?;
    notify(db, &tx).await;
    tx.commit().await.map_err(|e| pg_error(&e, err))?;
    if !driven {
        // A killed driver's workers are left; nobody else will drop them.
        super::worker::drop_leftovers(db, run).await;
    }
    Ok(outcome)
}

/// No driver: pause puts tenants left `running` (a killed driver) back to
/// queued; cancel marks every queued (or left running) tenant skipped.
async fn end_driverless(
    db: &Db,
    tx: &tokio_postgres::Transaction<'_>,
    run: Uuid,
    what: Request,
) -> Result<usize> {
    let err = "cannot change the migration run";
    let s = db.q_schema();
    let skipped = match what {
        Request::Pause => {
            tx.execute(
                &format!(
                    "UPDATE {s}.migration_ledger SET state = 'queued'
                     WHERE run_id = $1 AND state = 'running'"
                ),
                &[&run],
            )
            .await
            .map_err(|e| pg_error(&e, err))?;
            0
        }
        Request::Cancel => skip_queued(db, tx, run, &["queued", "running"]).await?,
    };
    tx.execute(
        &format!(
            "UPDATE {s}.migration_runs SET state = $2, updated_at = clock_timestamp(),
                 ended_at = clock_timestamp() WHERE id = $1"
        ),
        &[&run, &what.state()],
    )
    .await
    .map_err(|e| pg_error(&e, err))?;
    Ok(skipped)
}

async fn skip_queued(
    db: &Db,
    tx: &tokio_postgres::Transaction<'_>,
    run: Uuid,
    states: &[&str],
) -> Result<usize> {
    let n = tx
        .execute(
            &format!(
                "UPDATE {}.migration_ledger SET state = 'skipped', error = 'the run was cancelled',
                     ended_at = clock_timestamp()
                 WHERE run_id = $1 AND state = ANY($2)",
                db.q_schema()
            ),
            &[&run, &states],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot change the migration run"))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The driver's watch over its run's row; dropping it ends the watch.
pub struct Watch {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Beat the run's `updated_at` and read its state: `None` when the read
/// failed (the next poll tries again).
async fn poll(db: &Db, run: Uuid) -> Option<String> {
    let client = db.client().await.ok()?;
    let row = client
        .query_opt(
            &format!(
                "UPDATE {}.migration_runs SET updated_at = clock_timestamp() WHERE id = $1 RETURNING state",
                db.q_schema()
            ),
            &[&run],
        )
        .await
        .ok()??;
    Some(row.get(0))
}

/// Watch run `run` for a pause or cancel from elsewhere: `stop` is set as
/// soon as its state is no longer `running`. Looks once before returning
/// (a run cancelled before it resumed starts no tenant), then every
/// [`POLL`].
pub async fn watch(db: &Db, run: Uuid, stop: Arc<AtomicBool>) -> Watch {
    if poll(db, run).await.is_some_and(|s| s != "running") {
        stop.store(true, Ordering::SeqCst);
    }
    let db = db.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(POLL).await;
            if poll(&db, run).await.is_some_and(|s| s != "running") {
                stop.store(true, Ordering::SeqCst);
            }
        }
    });
    Watch { task }
}

/// How the driver ended its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The run's final state.
    pub state: String,
    /// Queued tenants a cancel marked skipped.
    pub skipped: usize,
    /// Who asked to pause or cancel, when someone did.
    pub requested: Option<String>,
}

/// End the run as its driver saw it (`done`, `stopped` or `paused`), with
/// any request from elsewhere: a cancel marks the queued tenants skipped
/// and ends `cancelled`; a pause ends `paused` (the queued tenants stay).
/// A run with nothing left ends `done` whatever was asked. One transaction.
pub async fn finish(db: &Db, run: Uuid, driver: &str) -> Result<Ended> {
    let err = "cannot record the run's state";
    let s = db.q_schema();
    let mut client = db.client().await?;
    let tx = client.transaction().await.map_err(|e| pg_error(&e, err))?;
    let asked: String = tx
        .query_one(
            &format!("SELECT state FROM {s}.migration_runs WHERE id = $1 FOR UPDATE"),
            &[&run],
        )
        .await
        .map_err(|e| pg_error(&e, err))?
        .get(0);
    let requested = matches!(asked.as_str(), "paused" | "cancelled").then(|| asked.clone());
    let queued: i64 = tx
        .query_one(
            &format!(
                "SELECT count(*) FROM {s}.migration_ledger WHERE run_id = $1 AND state = 'queued'"
            ),
            &[&run],
        )
        .await
        .map_err(|e| pg_error(&e, err))?
        .get(0);
    let (state, skipped) = match (asked.as_str(), driver) {
        (_, "done") => ("done".to_string(), 0),
        (_, "paused") if queued == 0 => ("done".to_string(), 0),
        ("cancelled", _) => (
            "cancelled".to_string(),
            skip_queued(db, &tx, run, &["queued"]).await?,
        ),
        ("paused", "stopped") => ("stopped".to_string(), 0),
        ("paused", _) => ("paused".to_string(), 0),
        (_, d) => (d.to_string(), 0),
    };
    tx.execute(
        &format!(
            "UPDATE {s}.migration_runs SET state = $2, updated_at = clock_timestamp(),
                 ended_at = clock_timestamp() WHERE id = $1"
        ),
        &[&run, &state],
    )
    .await
    .map_err(|e| pg_error(&e, err))?;
    notify(db, &tx).await;
    tx.commit().await.map_err(|e| pg_error(&e, err))?;
    Ok(Ended {
        state,
        skipped,
        requested,
    })
}

/// Wait (up to `limit`) until a run asked to pause or cancel has ended:
/// its final state, or `None` when it is still draining. A driver that
/// stops beating meanwhile (killed while draining) is taken over: the
/// request is carried out here.
pub async fn wait_ended(db: &Db, run: Uuid, limit: Duration) -> Result<Option<String>> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let r = ledger::get_run(db, Some(run)).await?;
        if r.ended_at.is_some() {
            return Ok(Some(r.state));
        }
        take_over(db, run).await?;
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// End a paused or cancelled run whose driver went silent.
async fn take_over(db: &Db, run: Uuid) -> Result<()> {
    let err = "cannot change the migration run";
    let stale_ms = i64::try_from(STALE.as_millis()).unwrap_or(i64::MAX);
    let mut client = db.client().await?;
    let tx = client.transaction().await.map_err(|e| pg_error(&e, err))?;
    let row = tx
        .query_opt(
            &format!(
                "SELECT state FROM {}.migration_runs
                 WHERE id = $1 AND ended_at IS NULL AND state IN ('paused', 'cancelled')
                   AND updated_at <= clock_timestamp() - make_interval(secs => $2::bigint / 1000.0)
                 FOR UPDATE",
                db.q_schema()
            ),
            &[&run, &stale_ms],
        )
        .await
        .map_err(|e| pg_error(&e, err))?;
    let Some(row) = row else { return Ok(()) };
    let state: String = row.get(0);
    let what = if state == "cancelled" {
        Request::Cancel
    } else {
        Request::Pause
    };
    end_driverless(db, &tx, run, what).await?;
    notify(db, &tx).await;
    tx.commit().await.map_err(|e| pg_error(&e, err))
}

/// The newest `limit` runs with their ledger counts, newest first.
pub async fn summaries(db: &Db, limit: i64) -> Result<Vec<RunSummary>> {
    let s = db.q_schema();
    let client = db.client().await?;
    let rows = client
        .query(
            &format!(
                "SELECT r.id, r.template, r.to_version, r.state, r.actor, r.started_at, r.ended_at,
                        count(*) FILTER (WHERE l.state = 'done'),
                        count(*) FILTER (WHERE l.state = 'failed'),
                        count(*) FILTER (WHERE l.state = 'running'),
                        count(*) FILTER (WHERE l.state = 'queued'),
                        count(*) FILTER (WHERE l.state = 'skipped')
                 FROM (SELECT * FROM {s}.migration_runs ORDER BY started_at DESC LIMIT $1) r
                 LEFT JOIN {s}.migration_ledger l ON l.run_id = r.id
                 GROUP BY r.id, r.template, r.to_version, r.state, r.actor, r.started_at, r.ended_at
                 ORDER BY r.started_at DESC"
            ),
            &[&limit],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the migration runs"))?;
    let n = |r: &tokio_postgres::Row, i: usize| usize::try_from(r.get::<_, i64>(i)).unwrap_or(0);
    Ok(rows
        .iter()
        .map(|r| RunSummary {
            id: r.get(0),
            template: r.get(1),
            to_version: r.get(2),
            state: r.get(3),
            actor: r.get(4),
            started_at: r.get(5),
            ended_at: r.get(6),
            done: n(r, 7),
            failed: n(r, 8),
            running: n(r, 9),
            queued: n(r, 10),
            skipped: n(r, 11),
        })
        .collect())
}

/// A run's tenants, failures first.
pub async fn tenants(db: &Db, run: Uuid) -> Result<Vec<RunTenant>> {
    let mut v: Vec<RunTenant> = ledger::entries(db, run)
        .await?
        .into_iter()
        .map(|e| RunTenant {
            tenant_id: e.tenant_id,
            domain: e.domain,
            state: e.state,
            from_version: e.from_version,
            to_version: e.to_version,
            at_version: e.at_version,
            attempts: e.attempts,
            error: e.error,
            duration_ms: e.duration_ms,
        })
        .collect();
    failures_first(&mut v);
    Ok(v)
}
