//! Running a fleet migration: waves of tenants, `parallel` at a time, each
//! tenant migrated by one of the run's workers acting for it alone (tenant
//! rights; see [`super::worker`]) in as few transactions as its steps allow.
//!
//! For each tenant: the operator claims its ledger row (`running`; a tenant
//! another run holds is skipped) and moves an idle worker to the tenant's
//! owner role (the worker is a member of the run's role, see [`run_role`]:
//! USAGE on the control schema and EXECUTE on `migration_begin` /
//! `migration_advance`, for this run only). The worker's transaction, sent
//! in one round trip, runs the steps as the schema's owner with
//! `search_path` set to the schema and `lock_timeout` set, and calls
//! `migration_advance` last: it checks the caller and that the tenant is
//! where the ledger says (the tenant's control row and ledger row, FOR
//! UPDATE NOWAIT), then records the version bump, the ledger step and the
//! audit row; one commit, and a refusal rolls the steps back too.
//! A lock not granted rolls back and is retried with backoff and jitter, so
//! a tenant holding long locks delays only itself. `CREATE INDEX
//! CONCURRENTLY` runs on its own, recorded before (pending) and after; an
//! interrupted one is recognised from the catalog when the run resumes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use rand::Rng;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::ledger::{self, Claim};
use super::worker::{RESET_SQL, Worker, Workers};
use super::{Plan, catalog};
use crate::config::TimescaleMode;
use crate::db::{Db, audit, pg_error, quote_ident, quote_literal};
use crate::domain::fleet::{Canary, Segment, backoff, max_failures, segments, waves};
use crate::domain::template::Template;
use crate::domain::tenant::TenantStatus;
use crate::error::{Error, Result};

/// How a run goes.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub canary: Canary,
    /// Tenants at a time per wave (lowered to what the server and the pool
    /// allow).
    pub parallel: usize,
    /// `--max-failures`; `None`: see [`max_failures`].
    pub max_failures: Option<usize>,
    pub lock_timeout: Duration,
    /// Attempts per transaction when a lock is not granted.
    pub attempts: u32,
    /// Each step's statement timeout.
    pub statement_timeout: Duration,
    pub actor: String,
    pub read_only: bool,
    pub timescaledb: TimescaleMode,
}

impl ApplyOptions {
    pub fn new(actor: String) -> Self {
        Self {
            canary: Canary::Count(1),
            parallel: 4,
            max_failures: None,
            lock_timeout: Duration::from_secs(2),
            attempts: 8,
            statement_timeout: Duration::from_secs(600),
            actor,
            read_only: false,
            timescaledb: TimescaleMode::Auto,
        }
    }
}

/// What happens as a run goes, for progress displays.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ApplyEvent {
    Started {
        run: Uuid,
        tenants: usize,
        parallel: usize,
    },
    Wave {
        wave: u32,
        tenants: usize,
    },
    Done {
        domain: String,
        ms: u64,
    },
    Failed {
        domain: String,
        error: String,
    },
    Skipped {
        domain: String,
        reason: String,
    },
    Retry {
        domain: String,
        attempt: u32,
        delay_ms: u64,
    },
}

/// Callback for [`ApplyEvent`]s.
pub type OnEvent = Arc<dyn Fn(ApplyEvent) + Send + Sync>;

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `None` when there was nothing to do (no run was recorded).
    pub run: Option<Uuid>,
    pub template: String,
    pub to_version: i32,
    /// `done`, `stopped` (a wave's failures passed the limit), `paused`
    /// (interrupted: resume it), or `nothing to do`.
    pub state: String,
    pub done: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Left queued (a stopped or paused run).
    pub remaining: usize,
    pub parallel: usize,
    pub elapsed_ms: u64,
    /// Tenants finished per second.
    pub rate: f64,
    /// `(domain, error)` of every failed tenant of this run.
    pub failures: Vec<(String, String)>,
    pub notes: Vec<String>,
}

/// Start a run of `plan` (its `migrate` tenants). Refused in read-only mode
/// before anything is read.
pub async fn apply(
    db: &Db,
    t: &Template,
    plan: &Plan,
    opts: &ApplyOptions,
    stop: Arc<AtomicBool>,
    on: OnEvent,
) -> Result<Summary> {
    refuse_read_only(opts)?;
    let start = Instant::now();
    let todo: Vec<&super::PlanTenant> = plan.to_migrate().collect();
    if todo.is_empty() {
        return Ok(Summary {
            run: None,
            template: t.name.clone(),
            to_version: plan.to,
            state: "nothing to do".into(),
            done: 0,
            failed: 0,
            skipped: 0,
            remaining: 0,
            parallel: 0,
            elapsed_ms: ms(start.elapsed()),
            rate: 0.0,
            failures: Vec::new(),
            notes: vec![format!(
                "{} of {} tenants at version {}; {} held back",
                plan.totals.current, plan.totals.tenants, plan.to, plan.totals.held
            )],
        });
    }
    let wave_of = waves(todo.len(), &opts.canary, |i| {
        [
            todo[i].domain.clone(),
            todo[i].id.to_string(),
            todo[i].schema.clone(),
        ]
    });
    let rows: Vec<(Uuid, u32, i32)> = todo
        .iter()
        .zip(&wave_of)
        .map(|(x, w)| (x.id, *w, x.from))
        .collect();
    let run = Uuid::new_v4();
    let options = serde_json::json!({
        "canary": opts.canary, "parallel": opts.parallel, "max_failures": opts.max_failures,
        "lock_timeout_ms": ms(opts.lock_timeout), "attempts": opts.attempts,
    });
    ledger::create_run(db, run, &t.name, plan.to, &options, &opts.actor, &rows).await?;
    drive(db, t, run, plan.to, opts, stop, on, start).await
}

/// Continue run `run` exactly where it stopped: every tenant not done or
/// skipped, from the position its ledger row records.
pub async fn resume(
    db: &Db,
    t: &Template,
    run: Uuid,
    opts: &ApplyOptions,
    stop: Arc<AtomicBool>,
    on: OnEvent,
) -> Result<Summary> {
    refuse_read_only(opts)?;
    let start = Instant::now();
    let r = ledger::get_run(db, Some(run)).await?;
    if r.template != t.name {
        return Err(Error::invalid(format!(
            "run {run} migrates template {}, not {}",
            r.template, t.name
        )));
    }
    if r.to_version > t.version {
        return Err(Error::invalid(format!(
            "run {run} goes to version {}, but template {} now ends at {}",
            r.to_version, t.name, t.version
        )));
    }
    if r.state == "done" || r.state == "cancelled" {
        return Err(Error::conflict(format!(
            "run {run} is {} already: start a new run with tenantctl migrate apply",
            r.state
        )));
    }
    let versions = catalog::versions(db, t, opts.timescaledb).await?;
    catalog::ensure_consistent(t, &versions)?;
    ledger::set_run_state(db, run, "running").await?;
    drive(db, t, run, r.to_version, opts, stop, on, start).await
}

fn refuse_read_only(opts: &ApplyOptions) -> Result<()> {
    if opts.read_only {
        return Err(Error::refused(
            "migrate apply changes tenant schemas, but this session is read-only",
        ));
    }
    if opts.parallel == 0 {
        return Err(Error::invalid(
            "--parallel 0 would migrate nobody: give 1 or more",
        ));
    }
    Ok(())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How many tenants at a time: the request, below the server's free
/// connections (each worker holds one session) and the pool (the
/// ledger writes borrow from it).
async fn bounded_parallel(db: &Db, want: usize, notes: &mut Vec<String>) -> Result<usize> {
    let free = usize::try_from(ledger::free_connections(db).await?.max(0)).unwrap_or(0);
    let pool = db.pool.status().max_size;
    let cap = free.saturating_sub(2).min(pool.saturating_sub(1)).max(1);
    if want > cap {
        notes.push(format!(
            "--parallel {want} lowered to {cap} ({free} free server connections, a pool of {pool})"
        ));
        return Ok(cap);
    }
    Ok(want)
}

#[allow(clippy::too_many_arguments)] // reason: one run's fixed inputs, passed once
async fn drive(
    db: &Db,
    t: &Template,
    run: Uuid,
    to: i32,
    opts: &ApplyOptions,
    stop: Arc<AtomicBool>,
    on: OnEvent,
    start: Instant,
) -> Result<Summary> {
    let mut notes = Vec::new();
    // A pause or cancel from another process sets `stop` (see `control`).
    let watch = super::control::watch(db, run, stop.clone()).await;
    let parallel = bounded_parallel(db, opts.parallel, &mut notes).await?;
    let role = grant_run_role(db, run).await?;
    let workers = Arc::new(Workers::new(run, role.clone()));
    let entries = ledger::entries(db, run).await?;
    let pending: Vec<&ledger::Entry> = entries
        .iter()
        .filter(|e| matches!(e.state.as_str(), "queued" | "running" | "failed"))
        .collect();
    on(ApplyEvent::Started {
        run,
        tenants: pending.len(),
        parallel,
    });
    let t = Arc::new(t.clone());
    let opts_a = Arc::new(opts.clone());
    let mut waves_seen: Vec<i32> = pending.iter().map(|e| e.wave).collect();
    waves_seen.dedup();
    let (mut done, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    let mut state = "done";
    'waves: for wave in waves_seen {
        let of_wave: Vec<&ledger::Entry> =
            pending.iter().copied().filter(|e| e.wave == wave).collect();
        let wave_u = u32::try_from(wave).unwrap_or(0);
        let budget = max_failures(opts.max_failures, wave_u, of_wave.len());
        on(ApplyEvent::Wave {
            wave: wave_u,
            tenants: of_wave.len(),
        });
        let mut queue = of_wave.into_iter();
        let mut set: JoinSet<(String, Outcome)> = JoinSet::new();
        let mut wave_failures = 0usize;
        let mut halted = false;
        loop {
            while !halted && set.len() < parallel && !stop.load(Ordering::SeqCst) {
                let Some(e) = queue.next() else { break };
                let (db, t, o, on) = (db.clone(), t.clone(), opts_a.clone(), on.clone());
                let (id, domain, owner) = (e.tenant_id, e.domain.clone(), e.owner.clone());
                let w = workers.clone();
                set.spawn(async move {
                    let out =
                        migrate_tenant(&db, &t, &w, run, (id, &domain, &owner), to, &o, &on).await;
                    (domain, out)
                });
            }
            let Some(res) = set.join_next().await else {
                break;
            };
            let (domain, out) = match res {
                Ok(r) => r,
                Err(e) => {
                    // A task that panicked: stop, and still drop the workers.
                    workers.finish(db).await;
                    return Err(Error::failure(format!("a migration task failed: {e}")));
                }
            };
            match out {
                Outcome::Done(d) => {
                    done += 1;
                    on(ApplyEvent::Done { domain, ms: ms(d) });
                }
                Outcome::Skipped(reason) => {
                    skipped += 1;
                    on(ApplyEvent::Skipped { domain, reason });
                }
                Outcome::Failed(error) => {
                    failed += 1;
                    wave_failures += 1;
                    failures.push((domain.clone(), error.clone()));
                    on(ApplyEvent::Failed { domain, error });
                    if wave_failures > budget {
                        halted = true;
                    }
                }
            }
        }
        if halted {
            state = "stopped";
            notes.push(format!(
                "wave {wave} stopped after {wave_failures} failure{} (the limit is {budget}): the other tenants are untouched; fix the cause and run tenantctl migrate apply --resume {run}",
                if wave_failures == 1 { "" } else { "s" }
            ));
            break 'waves;
        }
        if stop.load(Ordering::SeqCst) {
            state = "paused";
            notes.push(format!(
                "interrupted: running tenants were finished; continue with tenantctl migrate apply --resume {run}"
            ));
            break 'waves;
        }
    }
    drop(watch);
    workers.finish(db).await;
    drop_run_role(db, &role).await;
    let ended = super::control::finish(db, run, state).await?;
    skipped += ended.skipped;
    if ended.state == "cancelled" {
        notes.retain(|n| !n.starts_with("interrupted"));
        notes.push(format!(
            "cancelled: running tenants were finished, {} queued skipped; finished tenants are at version {to}, the others at their old version",
            ended.skipped
        ));
    }
    let state = ended.state.as_str();
    let remaining = ledger::entries(db, run)
        .await?
        .iter()
        .filter(|e| e.state == "queued")
        .count();
    let elapsed = start.elapsed();
    let summary = Summary {
        run: Some(run),
        template: t.name.clone(),
        to_version: to,
        state: state.into(),
        done,
        failed,
        skipped,
        remaining,
        parallel,
        elapsed_ms: ms(elapsed),
        #[allow(clippy::cast_precision_loss, reason = "a rate for people to read")]
        rate: (done + failed) as f64 / elapsed.as_secs_f64().max(0.001),
        failures,
        notes,
    };
    let client = db.client().await?;
    audit::write(
        db,
        &client,
        &opts.actor,
        "migrate_run",
        None,
        if failed == 0 { "ok" } else { "error" },
        &serde_json::json!({"run": run, "event": "end", "state": state, "done": done,
                            "failed": failed, "skipped": skipped, "remaining": remaining}),
        i32::try_from(summary.elapsed_ms).ok(),
    )
    .await?;
    Ok(summary)
}

enum Outcome {
    Done(Duration),
    Skipped(String),
    Failed(String),
}

/// Migrate one tenant of a run; every error becomes a failed (or skipped)
/// ledger row and an audit row, never an error of the run.
#[allow(clippy::too_many_arguments)] // reason: one tenant's fixed inputs, passed once
async fn migrate_tenant(
    db: &Db,
    t: &Template,
    workers: &Workers,
    run: Uuid,
    (tenant, domain, owner): (Uuid, &str, &str),
    to: i32,
    opts: &ApplyOptions,
    on: &OnEvent,
) -> Outcome {
    let start = Instant::now();
    let r = migrate_claimed(db, t, workers, run, (tenant, domain, owner), to, opts, on).await;
    match r {
        Ok(Some(reason)) => {
            let _ = ledger::finish(db, run, tenant, "skipped", Some(&reason)).await;
            Outcome::Skipped(reason)
        }
        Ok(None) => Outcome::Done(start.elapsed()),
        Err(e) => {
            let msg = crate::domain::sanitize::clean(&e.message);
            if let Err(le) = ledger::finish(db, run, tenant, "failed", Some(&msg)).await {
                tracing::warn!(%tenant, "cannot record the failed migration: {}", le.message);
            }
            audit::record_failure(
                db,
                &opts.actor,
                "migrate",
                Some(tenant),
                serde_json::json!({"run": run, "template": t.name, "to_version": to}),
                &e,
                i32::try_from(start.elapsed().as_millis()).ok(),
            )
            .await;
            Outcome::Failed(msg)
        }
    }
}

/// `Ok(Some(reason))`: skipped; `Ok(None)`: done. Takes a worker for the
/// tenant and hands it back (reset) whatever happens.
#[allow(clippy::too_many_arguments)] // reason: one tenant's fixed inputs, passed once
async fn migrate_claimed(
    db: &Db,
    t: &Template,
    workers: &Workers,
    run: Uuid,
    (tenant, domain, owner): (Uuid, &str, &str),
    to: i32,
    opts: &ApplyOptions,
    on: &OnEvent,
) -> Result<Option<String>> {
    let mut worker = workers.take(db).await?;
    let r = migrate_with(
        db,
        t,
        &mut worker,
        run,
        (tenant, domain, owner),
        to,
        opts,
        on,
    )
    .await;
    worker.reset().await;
    workers.put(worker);
    r
}

#[allow(clippy::too_many_arguments)] // reason: one tenant's fixed inputs, passed once
async fn migrate_with(
    db: &Db,
    t: &Template,
    worker: &mut Worker,
    run: Uuid,
    (tenant, domain, owner_then): (Uuid, &str, &str),
    to: i32,
    opts: &ApplyOptions,
    on: &OnEvent,
) -> Result<Option<String>> {
    let t0 = Instant::now();
    // The claim, the tenant's row (read after the claim) and the worker's
    // move to the tenant's owner (as the ledger read it), pipelined in this
    // order on one connection: one round trip.
    let client = db.client().await?;
    // The order holds only if no statement still has to be prepared: an
    // uncached prepare is a round trip of its own, during which the tenant
    // read would be sent and run before the claim. The claim may wait for
    // another run's last transaction on this tenant (the one-running-row
    // index); a read sent before it then sees the tenant half-way, and the
    // run would take the other run's intermediate version for its start.
    // So both are prepared first (once per connection; cached after).
    let (claim_ready, read_ready) = tokio::join!(
        ledger::prepare_claim(db, &client),
        crate::db::tenants::prepare_get_tenant(db, &client)
    );
    claim_ready?;
    read_ready?;
    let (claim, tn, bound) = tokio::join!(
        biased;
        ledger::claim(db, &client, run, tenant),
        crate::db::tenants::get_tenant_on(db, &client, tenant),
        worker.bind(&client, owner_then)
    );
    // Back to the pool: the tenant's other ledger writes borrow their own.
    drop(client);
    let (mut at_version, at_step, pending) = match claim? {
        Claim::Claimed {
            at_version,
            at_step,
            pending_step,
            ..
        } => (at_version, at_step, pending_step),
        Claim::Busy(other) => {
            return Ok(Some(match other {
                Some(o) => format!("run {o} is migrating this tenant"),
                None => "another run is migrating this tenant".into(),
            }));
        }
        // Nothing to release: the row was not ours to claim.
        Claim::Finished => return Ok(Some("already finished in this run".into())),
    };
    let tn = tn?;
    bound?;
    let t1 = t0.elapsed();
    if !matches!(tn.status, TenantStatus::Active | TenantStatus::Suspended) {
        return Ok(Some(format!("the tenant is {}", tn.status.as_str())));
    }
    if tn.template_version != at_version {
        if tn.template_version >= to {
            return Ok(Some(format!(
                "already at version {} (moved by another run)",
                tn.template_version
            )));
        }
        if at_step == 0 && pending.is_none() && tn.template_version > at_version {
            ledger::adopt_version(db, run, tenant, tn.template_version).await?;
            at_version = tn.template_version;
        } else {
            return Err(Error::conflict(format!(
                "tenant {domain} is at version {}, but this run recorded {at_version}: check it with tenantctl migrate plan",
                tn.template_version
            )));
        }
    }
    let segs = segments(t, at_version, at_step, to)?;
    let ctl = db.q_schema();
    let owner = tn.owner().to_string();
    if owner != owner_then {
        // Converted since the ledger was read.
        worker.bind(&db.client().await?, &owner).await?;
    }
    let ledger_role = run_role(run);
    worker.session(db).await?;
    let t2 = t0.elapsed();
    let total = segs.len();
    for (i, seg) in segs.iter().enumerate() {
        let finished = i + 1 == total;
        let mut attempt = 1;
        // The worker's session was lost during this segment: the retry
        // logs in anew, and a concurrent index build asks the catalog.
        let mut reconnected = false;
        loop {
            let client = worker.session(db).await?;
            let mut reset = None;
            let r = match seg {
                Segment::Tx { steps, end } => {
                    let (r, reset_ok) = run_tx(
                        client,
                        &ctl,
                        (&owner, &ledger_role, &tn.schema_name),
                        run,
                        tenant,
                        steps,
                        *end,
                        finished,
                        opts,
                    )
                    .await;
                    reset = Some(reset_ok);
                    r
                }
                Segment::NonTx {
                    path,
                    sql,
                    index,
                    at,
                    end,
                } => {
                    let resumed = pending == Some(at.1) && i == 0;
                    run_non_tx(
                        client,
                        &ctl,
                        (&owner, &ledger_role, &tn.schema_name),
                        run,
                        tenant,
                        path,
                        sql,
                        index,
                        *at,
                        *end,
                        finished,
                        (resumed && attempt == 1) || reconnected,
                        opts,
                    )
                    .await
                }
            };
            let lost = client.is_closed();
            if let Some(ok) = reset {
                worker.reset_done(ok);
            }
            match r {
                Ok(()) => break,
                Err(_) if lost && attempt < opts.attempts => {
                    worker.lose_session();
                    reconnected = true;
                    let _ = ledger::add_attempt(db, run, tenant).await;
                    attempt += 1;
                }
                Err(StepError { retry: true, .. }) if attempt < opts.attempts => {
                    let delay = backoff(attempt, rand::rng().random::<f64>());
                    on(ApplyEvent::Retry {
                        domain: domain.to_string(),
                        attempt,
                        delay_ms: ms(delay),
                    });
                    let _ = ledger::add_attempt(db, run, tenant).await;
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => {
                    let tries = if e.retry {
                        format!(" (after {attempt} attempts)")
                    } else {
                        String::new()
                    };
                    return Err(Error::failure(format!("{}{tries}", e.message)));
                }
            }
        }
    }
    tracing::debug!(
        tenant = domain,
        claimed = ?t1,
        session = ?t2,
        done = ?t0.elapsed(),
        "migrated a tenant (times since its start)"
    );
    Ok(None)
}

/// The NOLOGIN role that holds, for one run, what its workers need of the
/// control schema: USAGE and EXECUTE on the two ledger functions (which
/// check that the caller is a worker of the run acting for the tenant it
/// names). Each worker is made a member when it is created and uses it by
/// `SET ROLE` (workers are NOINHERIT), so no per-tenant grant updates a
/// shared ACL and workers never queue behind one another.
pub fn run_role(run: Uuid) -> String {
    format!("tenantctl_migrate_{}", run.simple())
}

/// Create the run's role (when missing) and give it its grants.
#[allow(
    clippy::many_single_char_names,
    reason = "short names for the SQL pieces"
)]
async fn grant_run_role(db: &Db, run: Uuid) -> Result<String> {
    let role = run_role(run);
    let s = db.q_schema();
    let r = quote_ident(&role);
    let sql = format!(
        "DO $tenantctl$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {lit}) THEN
             CREATE ROLE {r} NOLOGIN NOINHERIT;
           END IF;
         END $tenantctl$;
         GRANT USAGE ON SCHEMA {s} TO {r};
         GRANT EXECUTE ON FUNCTION {s}.migration_begin(uuid, uuid),
             {s}.migration_advance(uuid, uuid, integer, integer, integer, boolean, jsonb) TO {r};",
        lit = quote_literal(&role),
    );
    // Concurrent GRANTs on the same schema or function (two runs starting
    // at once) update the same catalog row; PostgreSQL then says "tuple
    // concurrently updated". One at a time in this process, and a few
    // retries across processes.
    let _one = GRANTS.lock().await;
    let client = db.client().await?;
    let mut n = 0;
    loop {
        match client.batch_execute(&sql).await {
            Ok(()) => return Ok(role),
            Err(e)
                if n < 10
                    && e.as_db_error().is_some_and(|d| {
                        d.message().contains("concurrently updated")
                            || *d.code() == SqlState::DUPLICATE_OBJECT
                    }) =>
            {
                n += 1;
                let j: f64 = rand::rng().random();
                tokio::time::sleep(backoff(1, j)).await;
            }
            Err(e) => return Err(pg_error(&e, "cannot let the runners record their progress")),
        }
    }
}

/// Take the run role's grants back and drop it, once no runner of the run
/// is left. A failure is logged: the role holds nothing but those grants,
/// and the next driver of the run (resume) reuses it.
async fn drop_run_role(db: &Db, role: &str) {
    let s = db.q_schema();
    let r = quote_ident(role);
    let sql = format!(
        "REVOKE EXECUTE ON FUNCTION {s}.migration_begin(uuid, uuid),
             {s}.migration_advance(uuid, uuid, integer, integer, integer, boolean, jsonb) FROM {r};
         REVOKE USAGE ON SCHEMA {s} FROM {r};
         DROP ROLE {r};"
    );
    let _one = GRANTS.lock().await;
    if let Ok(client) = db.client().await {
        for _ in 0..10 {
            match client.batch_execute(&sql).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::debug!(role, "dropping the run's role: {e}");
                    let j: f64 = rand::rng().random();
                    tokio::time::sleep(backoff(1, j)).await;
                }
            }
        }
        tracing::warn!(role, "cannot drop the migration run's role");
    }
}

/// One grant or revoke at a time in this process (see [`grant_run_role`]).
static GRANTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A failed attempt: whether a retry may succeed (a lock not granted, a
/// deadlock, a serialization failure), and the sentence.
struct StepError {
    retry: bool,
    message: String,
}

fn step_error(e: &tokio_postgres::Error, what: &str) -> StepError {
    let retry = matches!(
        e.code(),
        Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
    );
    let message = match e.as_db_error() {
        Some(d) => format!("{what}: {}", crate::domain::sanitize::clean(d.message())),
        None => pg_error(e, what).message,
    };
    StepError { retry, message }
}

fn statement_timeout_sql(opts: &ApplyOptions) -> String {
    format!(
        "statement_timeout = {}",
        quote_literal(&format!("{}ms", opts.statement_timeout.as_millis().max(1)))
    )
}

fn lock_sql(opts: &ApplyOptions) -> String {
    format!(
        "lock_timeout = {}",
        quote_literal(&format!("{}ms", opts.lock_timeout.as_millis().max(1)))
    )
}

/// One transaction of the worker: the steps as the owner, then the
/// progress, which the control schema accepts only if the run holds the
/// tenant and the tenant is where the ledger says (else all rolls back).
///
/// Three simple queries, sent at once (tokio-postgres pipelines requests
/// that are polled together), so a tenant's transaction costs one round
/// trip and three of the server's replies: the body (`BEGIN`, the
/// settings, the steps, the ledger call; one statement each, separated by
/// line breaks so a step's trailing comment ends at its line), `COMMIT`,
/// and the worker's session reset ([`RESET_SQL`]). The server stops the
/// body at its first error and the `COMMIT` behind it then ends the
/// transaction as a rollback, so nothing of it remains; which statement
/// failed is the number that completed before it (or, for a syntax error,
/// which the server rejects before running any, the statement its
/// position falls in). The second value says whether the reset succeeded.
#[allow(clippy::too_many_arguments)] // reason: one transaction's fixed inputs
async fn run_tx(
    client: &tokio_postgres::Client,
    ctl: &str,
    (owner, ledger_role, schema): (&str, &str, &str),
    run: Uuid,
    tenant: Uuid,
    steps: &[(String, String)],
    end: (i32, i32),
    finished: bool,
    opts: &ApplyOptions,
) -> (std::result::Result<(), StepError>, bool) {
    // Simple queries only: an extended query would first be prepared, in a
    // round trip of its own, and run after the statements sent behind it.
    // The values are typed (uuids, integers, our own JSON), written as
    // literals.
    let detail = serde_json::json!({"steps": steps.iter().map(|s| &s.0).collect::<Vec<_>>()});
    let begin = "cannot begin the tenant's transaction as the schema's owner";
    let mut parts: Vec<(&str, String)> = vec![
        (begin, "BEGIN".into()),
        (begin, format!("SET LOCAL {}", lock_sql(opts))),
        (begin, format!("SET LOCAL {}", statement_timeout_sql(opts))),
        (
            begin,
            format!("SET LOCAL search_path = {}", quote_ident(schema)),
        ),
        (begin, format!("SET LOCAL ROLE {}", quote_ident(owner))),
    ];
    for (path, sql) in steps {
        parts.push((path.as_str(), sql.clone()));
    }
    parts.push((
        "cannot leave the owner role",
        format!("SET LOCAL ROLE {}", quote_ident(ledger_role)),
    ));
    // The one call into the control schema, last: it checks the caller,
    // that the ledger row is running and the tenant at the version it
    // records, locks both rows (NOWAIT) and records the progress; when it
    // refuses, the steps roll back with it.
    parts.push((
        "the tenant is locked or moved",
        format!(
            "SELECT {ctl}.migration_advance('{run}'::uuid, '{tenant}'::uuid, {}, {}, NULL, {finished}, {}::jsonb)",
            end.0,
            end.1,
            quote_literal(&detail.to_string())
        ),
    ));
    let body = parts
        .iter()
        .map(|(_, sql)| sql.as_str())
        .collect::<Vec<_>>()
        .join("\n;\n");
    let run_body = async {
        let mut done = 0usize;
        let stream = client
            .simple_query_raw(&body)
            .await
            .map_err(|e| (done, e))?;
        futures::pin_mut!(stream);
        while let Some(m) = stream.next().await {
            match m {
                Ok(tokio_postgres::SimpleQueryMessage::CommandComplete(_)) => done += 1,
                Ok(_) => {}
                Err(e) => return Err((done, e)),
            }
        }
        Ok(())
    };
    let (body_r, commit_r, reset_r) = tokio::join!(
        run_body,
        client.batch_execute("COMMIT"),
        client.batch_execute(RESET_SQL)
    );
    let outcome = match (body_r, commit_r) {
        (Err((done, e)), _) => {
            let what = failed_part(&parts, done, &e);
            Err(step_error(&e, what))
        }
        (Ok(()), Err(e)) => Err(step_error(&e, "cannot commit the migration")),
        (Ok(()), Ok(())) => Ok(()),
    };
    (outcome, reset_r.is_ok())
}

/// The label of the statement of a body (`parts`, joined by `"\n;\n"`)
/// that failed after `done` completed: the one a syntax error's position
/// falls in (the server parses the whole body before running any of it),
/// else the next one to run.
fn failed_part<'a>(parts: &[(&'a str, String)], done: usize, e: &tokio_postgres::Error) -> &'a str {
    let at = e.as_db_error().and_then(|d| match d.position() {
        Some(tokio_postgres::error::ErrorPosition::Original(p)) => usize::try_from(*p).ok(),
        _ => None,
    });
    let index = match at {
        Some(p) if e.code() == Some(&SqlState::SYNTAX_ERROR) => {
            // Positions count characters from 1; each part is followed by
            // the three characters of the separator.
            let mut end = 0;
            parts
                .iter()
                .position(|(_, sql)| {
                    end += sql.chars().count() + 3;
                    p <= end
                })
                .unwrap_or(done)
        }
        _ => done,
    };
    parts
        .get(index.min(parts.len().saturating_sub(1)))
        .map_or("cannot migrate the tenant", |(what, _)| *what)
}

/// A `CREATE INDEX CONCURRENTLY` on its own: recorded as pending, run,
/// recorded as done. `resumed`: the ledger says it was started before, so
/// the catalog decides (a valid index: done; an invalid one: dropped and
/// built again).
#[allow(clippy::too_many_arguments)] // reason: one step's fixed inputs
async fn run_non_tx(
    client: &tokio_postgres::Client,
    ctl: &str,
    (owner, ledger_role, schema): (&str, &str, &str),
    run: Uuid,
    tenant: Uuid,
    path: &str,
    sql: &str,
    index: &str,
    at: (i32, i32),
    end: (i32, i32),
    finished: bool,
    resumed: bool,
    opts: &ApplyOptions,
) -> std::result::Result<(), StepError> {
    let o = quote_ident(owner);
    // Each concurrent statement on its own: a multi-statement query is an
    // implicit transaction block, where CONCURRENTLY is refused.
    let drop_invalid = format!("DROP INDEX CONCURRENTLY IF EXISTS {}", quote_ident(index));
    let as_owner = format!("SET ROLE {o}");
    let as_ledger = format!("SET ROLE {}", quote_ident(ledger_role));
    client
        .batch_execute(&format!(
            "SET {}; SET {}; SET search_path = {}; {as_ledger}",
            lock_sql(opts),
            statement_timeout_sql(opts),
            quote_ident(schema),
        ))
        .await
        .map_err(|e| step_error(&e, "cannot prepare the worker's session"))?;
    client
        .query(
            &format!("SELECT * FROM {ctl}.migration_begin($1, $2)"),
            &[&run, &tenant],
        )
        .await
        .map_err(|e| step_error(&e, "the tenant is locked or moved"))?;
    let mut already = false;
    if resumed {
        match ledger::index_valid(client, schema, index).await {
            Ok(Some(true)) => already = true,
            Ok(Some(false)) => {
                client
                    .batch_execute(&as_owner)
                    .await
                    .map_err(|e| step_error(&e, path))?;
                let r = client.batch_execute(&drop_invalid).await;
                let _ = client.batch_execute(&as_ledger).await;
                r.map_err(|e| step_error(&e, path))?;
            }
            Ok(None) => {}
            Err(e) => {
                return Err(StepError {
                    retry: false,
                    message: e.message,
                });
            }
        }
    }
    let advance = format!("SELECT {ctl}.migration_advance($1, $2, $3, $4, $5, $6, $7)");
    if !already {
        let none: Option<serde_json::Value> = None;
        client
            .execute(
                &advance,
                &[&run, &tenant, &at.0, &at.1, &Some(at.1), &false, &none],
            )
            .await
            .map_err(|e| step_error(&e, "cannot record the step as started"))?;
        client
            .batch_execute(&as_owner)
            .await
            .map_err(|e| step_error(&e, path))?;
        let r = client.batch_execute(sql).await;
        if let Err(e) = r {
            let err = step_error(&e, path);
            // A failed concurrent build leaves an invalid index behind.
            let _ = client.batch_execute(&drop_invalid).await;
            let _ = client.batch_execute(&as_ledger).await;
            let none_i: Option<i32> = None;
            let _ = client
                .execute(
                    &advance,
                    &[&run, &tenant, &at.0, &at.1, &none_i, &false, &none],
                )
                .await;
            return Err(err);
        }
        client
            .batch_execute(&as_ledger)
            .await
            .map_err(|e| step_error(&e, "cannot leave the owner role"))?;
    }
    let detail = Some(serde_json::json!({"steps": [path], "non_transactional": true}));
    let none_i: Option<i32> = None;
    client
        .execute(
            &advance,
            &[&run, &tenant, &end.0, &end.1, &none_i, &finished, &detail],
        )
        .await
        .map_err(|e| step_error(&e, "cannot record the migration"))?;
    Ok(())
}
