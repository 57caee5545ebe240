//! A migration run's workers: one login, many tenants, one at a time
//! (DESIGN.md §4 rule 2; control schema v5).
//!
//! A tenant's DDL must run in a session whose session user has no more
//! rights than the tenant: tenant code the DDL fires (a trigger of a
//! backfill, a default, an index expression) may `RESET ROLE`. A fresh role
//! and login per tenant gives that at the cost of a role, a SCRAM login and
//! a cold backend for every tenant. A worker gives it once per run:
//!
//! - its role `tenantctl_mw_<run>_<n>` is LOGIN and NOINHERIT, a member of
//!   the run's role (the ledger functions) and, at any moment, of at most
//!   one tenant's owner role, which it can only use by `SET ROLE` (so a
//!   SECURITY DEFINER function it came to own carries no tenant's rights:
//!   SET ROLE is refused inside those);
//! - [`Worker::bind`] moves it to the next tenant in one statement of the
//!   operator: what it came to own goes to the previous tenant's owner,
//!   whatever was granted to it is taken back (`DROP OWNED`), and its
//!   membership moves to the new owner;
//! - after each tenant its session is reset ([`RESET_SQL`]: temporary
//!   tables that could shadow the next tenant's, settings, prepared
//!   statements, listens, session advisory locks); a session that cannot
//!   be reset, or was lost, is closed and the next attempt logs in anew,
//!   after the operator has given the worker a new password and cleared its
//!   role settings (tenant code acting as the worker may change both, to
//!   trip up the tenants after it);
//! - the ledger functions accept a worker only while this tenant's owner is
//!   its one membership besides the run's role, so tenant code cannot record
//!   progress for another tenant.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use uuid::Uuid;

use crate::config::ConnParams;
use crate::db::runner::{create_login_sql, random_password};
use crate::db::{Db, connect, pg_error, quote_ident, quote_literal};
use crate::error::{Error, Result};

/// The role of worker `n` of a run.
pub fn worker_name(run: Uuid, n: usize) -> String {
    format!("tenantctl_mw_{}_{n}", run.simple())
}

/// SQL that ends a worker's sessions and drops it: what it owns goes to the
/// tenant owner it acts for (if any), the rest is dropped. Safe when the
/// role does not exist.
fn drop_sql(role: &str) -> String {
    let lit = quote_literal(role);
    format!(
        "DO $tenantctl$ DECLARE o text; BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {lit}) THEN
    PERFORM pg_catalog.pg_terminate_backend(pid, 5000) FROM pg_catalog.pg_stat_activity WHERE usename = {lit};
    SELECT r.rolname INTO o FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles r ON r.oid = m.roleid
     WHERE m.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = {lit})
       AND r.rolname NOT LIKE 'tenantctl\\_migrate\\_%'
     LIMIT 1;
    IF o IS NOT NULL THEN
      EXECUTE format('REASSIGN OWNED BY %I TO %I', {lit}, o);
    END IF;
    EXECUTE format('DROP OWNED BY %I', {lit});
    EXECUTE format('DROP ROLE %I', {lit});
  END IF;
END $tenantctl$;"
    )
}

/// What `DISCARD ALL` does but `DISCARD PLANS` (our ledger functions' plans
/// stay cached: they are the operator's, and depend on nothing a tenant can
/// change): open cursors, settings (the role too), prepared statements,
/// listens, session advisory locks, temporary objects, sequence state.
pub const RESET_SQL: &str = "CLOSE ALL; RESET ALL; DEALLOCATE ALL; UNLISTEN *; \
     SELECT pg_catalog.pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES";

/// One worker: its role, password and (lazily) its session.
pub struct Worker {
    role: String,
    params: ConnParams,
    /// The tenant owner role it is a member of now.
    bound: Option<String>,
    /// Whether it has logged in before (a new login renews it first).
    logged_in: bool,
    /// Whether the session was used since its last reset.
    dirty: bool,
    session: Option<(tokio_postgres::Client, tokio::task::JoinHandle<()>)>,
}

impl Worker {
    /// Create (or re-create, after a killed driver) worker `n` of a run.
    async fn create(db: &Db, role: String, run_role: &str) -> Result<Self> {
        let password = random_password();
        let verifier = postgres_protocol::password::scram_sha_256(password.expose().as_bytes());
        let until = (chrono::Utc::now() + chrono::TimeDelta::hours(6)).to_rfc3339();
        let r = quote_ident(&role);
        let client = db.client().await?;
        // One query: a failure leaves no worker. The operator must hold the
        // worker's privileges to take back what it may come to own.
        client
            .batch_execute(&format!(
                "{drop}
                 {create}
                 GRANT {run} TO {r};",
                drop = drop_sql(&role),
                create = create_login_sql(&role, "NOINHERIT", 2, &verifier, &until),
                run = quote_ident(run_role),
            ))
            .await
            .map_err(|e| pg_error(&e, "cannot create the migration worker's role"))?;
        let mut params = db.params.clone();
        params.user.clone_from(&role);
        params.password = Some(password);
        Ok(Self {
            role,
            params,
            bound: None,
            logged_in: false,
            dirty: false,
            session: None,
        })
    }

    /// The worker's role name (the session user of its tenants' DDL).
    pub fn role(&self) -> &str {
        &self.role
    }

    /// Make the worker act for the tenant whose objects `owner` owns: one
    /// statement on the operator's `client` (one commit).
    pub async fn bind(&mut self, client: &deadpool_postgres::Object, owner: &str) -> Result<()> {
        let r = quote_ident(&self.role);
        let o = quote_ident(owner);
        let sql = match &self.bound {
            Some(prev) if prev == owner => {
                format!("REASSIGN OWNED BY {r} TO {o};\nDROP OWNED BY {r};")
            }
            Some(prev) => {
                let p = quote_ident(prev);
                format!(
                    "REASSIGN OWNED BY {r} TO {p};\nDROP OWNED BY {r};\nREVOKE {p} FROM {r};\nGRANT {o} TO {r};"
                )
            }
            None => format!("DROP OWNED BY {r};\nGRANT {o} TO {r};"),
        };
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| pg_error(&e, "cannot let the migration worker act for the tenant"))?;
        self.bound = Some(owner.to_string());
        Ok(())
    }

    /// The worker's session, logging in when it has none (or lost it).
    pub async fn session(&mut self, db: &Db) -> Result<&tokio_postgres::Client> {
        if self.session.as_ref().is_some_and(|(c, _)| c.is_closed()) {
            self.session = None;
        }
        if self.session.is_none() {
            if self.logged_in {
                self.renew(db).await?;
            }
            self.logged_in = true;
            let pg = self.params.to_pg_config(connect::APPLICATION_NAME);
            let (client, conn) = pg.connect(db.tls.clone()).await.map_err(|e| {
                Error::failure(format!(
                    "cannot log in as the migration worker {}: {}; pg_hba.conf must allow password logins for it",
                    self.role,
                    connect::connect_error(&e, &self.params).message
                ))
            })?;
            let task = tokio::spawn(async move {
                let _ = conn.await;
            });
            self.session = Some((client, task));
        }
        self.dirty = true;
        match &self.session {
            Some((c, _)) => Ok(c),
            None => Err(Error::failure("the migration worker has no session")),
        }
    }

    /// Before a second login: tenant code acting as the worker may have
    /// changed its own password or its role settings (which apply to new
    /// sessions only) to trip up the tenants after it. A new password and no
    /// settings, in one statement of the operator.
    async fn renew(&mut self, db: &Db) -> Result<()> {
        let password = random_password();
        let verifier = postgres_protocol::password::scram_sha_256(password.expose().as_bytes());
        let r = quote_ident(&self.role);
        let client = db.client().await?;
        client
            .batch_execute(&format!(
                "ALTER ROLE {r} RESET ALL; ALTER ROLE {r} PASSWORD {};",
                quote_literal(&verifier)
            ))
            .await
            .map_err(|e| pg_error(&e, "cannot renew the migration worker's login"))?;
        self.params.password = Some(password);
        Ok(())
    }

    /// Close the session (it could not be reset); the next tenant logs in
    /// anew.
    pub fn lose_session(&mut self) {
        self.session = None;
    }

    /// [`RESET_SQL`] was sent behind the last use (`ok`: it succeeded; if
    /// not, the session is closed).
    pub fn reset_done(&mut self, ok: bool) {
        if ok {
            self.dirty = false;
        } else {
            self.lose_session();
        }
    }

    /// Reset the session after a tenant (unless that was done already);
    /// closes it when the reset fails.
    pub async fn reset(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let ok = match &self.session {
            Some((c, _)) => c.batch_execute(RESET_SQL).await.is_ok(),
            None => true,
        };
        if !ok {
            self.lose_session();
        }
    }

    /// Close the session and wait (briefly) for the server to end it.
    async fn close(&mut self) {
        if let Some((client, task)) = self.session.take() {
            drop(client);
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

/// A run's workers: at most `parallel` are made, each used by one tenant at
/// a time and handed back.
pub struct Workers {
    run: Uuid,
    run_role: String,
    idle: Mutex<Vec<Worker>>,
    made: AtomicUsize,
}

impl Workers {
    pub fn new(run: Uuid, run_role: String) -> Self {
        Self {
            run,
            run_role,
            idle: Mutex::new(Vec::new()),
            made: AtomicUsize::new(0),
        }
    }

    /// An idle worker, or a new one.
    pub async fn take(&self, db: &Db) -> Result<Worker> {
        if let Some(w) = self.idle.lock().ok().and_then(|mut v| v.pop()) {
            return Ok(w);
        }
        let n = self.made.fetch_add(1, Ordering::SeqCst);
        Worker::create(db, worker_name(self.run, n), &self.run_role).await
    }

    /// Hand a worker back for the next tenant.
    pub fn put(&self, w: Worker) {
        if let Ok(mut v) = self.idle.lock() {
            v.push(w);
        }
    }

    /// Close every session and drop every worker of the run (also those
    /// whose task ended without handing them back, and those a killed
    /// driver of the run left).
    pub async fn finish(&self, db: &Db) {
        let idle = self
            .idle
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        for mut w in idle {
            w.close().await;
        }
        drop_leftovers(db, self.run).await;
    }
}

/// Drop every worker role of a run (its driver ended, or was killed and the
/// run was ended without it). Failing to is logged: a later driver of the
/// run, or this call again, drops them.
pub async fn drop_leftovers(db: &Db, run: Uuid) {
    let client = match db.client().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(%run, "cannot drop the migration workers: {}", e.message);
            return;
        }
    };
    let like = format!("tenantctl\\_mw\\_{}\\_%", run.simple());
    let names: Vec<String> = match client
        .query(
            "SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname LIKE $1",
            &[&like],
        )
        .await
    {
        Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
        Err(e) => {
            tracing::warn!(%run, "cannot list the migration workers: {e}");
            return;
        }
    };
    for role in names {
        if let Err(e) = client.batch_execute(&drop_sql(&role)).await {
            tracing::warn!(role, "cannot drop the migration worker's role: {e}");
        }
    }
}
