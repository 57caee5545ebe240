//! Sessions that act as the tenant (DESIGN.md §4 rule 2).
//!
//! Anything that makes PostgreSQL evaluate tenant-defined code — loading
//! rows into tables with constraints, defaults, generated columns, index
//! expressions or triggers; reading columns of tenant types — must run in a
//! session whose *session user* has no more rights than the tenant. `SET
//! ROLE` from the operator's session is not enough: a plain function running
//! under it can `RESET ROLE` and is the operator again.
//!
//! So such work logs in as a runner: a short-lived role
//! `tenant_<id>_run`, a member of the tenant's owner role and nothing else,
//! with a random password that exists only in this process (its SCRAM
//! verifier is computed here). The runner is dropped when the work is done;
//! one left behind by a killed process is dropped by the next runner of
//! the same tenant. Tenant code in such a session can at most `RESET ROLE`
//! to the runner, which has exactly the owner's rights.

use std::time::Duration;

use rand::Rng;

use super::{Db, connect, pg_error, quote_ident, quote_literal};
use crate::config::{ConnParams, Secret};
use crate::domain::tenant::Tenant;
use crate::error::{Error, Result};

/// The runner role of a tenant.
pub fn runner_name(t: &Tenant) -> String {
    format!("{}_run", t.schema_name)
}

/// A runner role with a password, valid until [`Runner::finish`].
pub struct Runner {
    pub role: String,
    /// The tenant's owner role: work that creates objects sets this role
    /// first so that they belong to the tenant, not to the runner.
    pub owner: String,
    schema: String,
    password: Secret,
    params: ConnParams,
    /// The connection tasks of [`Runner::connect`]'s sessions: each ends
    /// when its client is dropped and the server has closed the session.
    sessions: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

pub(crate) fn random_password() -> Secret {
    Secret::new(
        rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(40)
            .map(char::from)
            .collect::<String>(),
    )
}

/// SQL that creates a short-lived login role (`inherit`: `INHERIT` or
/// `NOINHERIT`) with the given SCRAM verifier, valid until `until`, and
/// makes the operator (unless a superuser) a member with its privileges, so
/// that it can take back what the role may come to own.
pub(crate) fn create_login_sql(
    role: &str,
    inherit: &str,
    connection_limit: i32,
    verifier: &str,
    until: &str,
) -> String {
    let lit = quote_literal(role);
    format!(
        "CREATE ROLE {r} LOGIN {inherit} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
             NOBYPASSRLS CONNECTION LIMIT {connection_limit} PASSWORD {pw} VALID UNTIL {until};
         DO $tenantctl$ BEGIN
           IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
             IF current_setting('server_version_num')::int >= 160000 THEN
               EXECUTE format('GRANT %I TO CURRENT_USER WITH INHERIT TRUE, SET TRUE', {lit});
             ELSE
               EXECUTE format('GRANT %I TO CURRENT_USER', {lit});
             END IF;
           END IF;
         END $tenantctl$;",
        r = quote_ident(role),
        pw = quote_literal(verifier),
        until = quote_literal(until),
    )
}

/// SQL that ends the runner's sessions and drops it (anything it came to
/// own goes to the owner first). Safe when the runner does not exist.
fn drop_sql(role: &str, owner: &str) -> String {
    let lit = quote_literal(role);
    format!(
        "DO $tenantctl$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {lit}) THEN
    PERFORM pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = {lit};
    EXECUTE format('REASSIGN OWNED BY %I TO %I', {lit}, {owner});
    EXECUTE format('DROP OWNED BY %I', {lit});
    EXECUTE format('DROP ROLE %I', {lit});
  END IF;
END $tenantctl$;",
        owner = quote_literal(owner),
    )
}

impl Runner {
    /// Create (or re-create) the tenant's runner. Needs membership in the
    /// owner role, which the operator holds since the tenant was created.
    pub async fn start(db: &Db, t: &Tenant) -> Result<Self> {
        let role = runner_name(t);
        let owner = t.owner().to_string();
        let password = random_password();
        let verifier = postgres_protocol::password::scram_sha_256(password.expose().as_bytes());
        let what = format!("cannot prepare a session as tenant {}", t.domain);
        let until = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
        let client = db.client().await?;
        let r = quote_ident(&role);
        // One query, so one round trip and one implicit transaction: a
        // failure anywhere leaves no runner. We must hold the runner's
        // privileges to drop what it may own; a superuser has them.
        client
            .batch_execute(&format!(
                "{drop}
                 {create}
                 GRANT {o} TO {r};",
                create = create_login_sql(&role, "INHERIT", 4, &verifier, &until),
                drop = drop_sql(&role, &owner),
                o = quote_ident(&owner),
            ))
            .await
            .map_err(|e| pg_error(&e, &what))?;
        let mut params = db.params.clone();
        params.user.clone_from(&role);
        params.password = Some(password.clone());
        Ok(Self {
            role,
            owner,
            schema: t.schema_name.clone(),
            password,
            params,
            sessions: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// A session as the runner, acting as the owner (`SET ROLE`), with the
    /// `search_path` the tenant's own sessions have (its schema; pg_catalog
    /// is searched first), and the given statement timeout.
    pub async fn connect(
        &self,
        db: &Db,
        statement_timeout: Duration,
    ) -> Result<tokio_postgres::Client> {
        let pg = self.params.to_pg_config(connect::APPLICATION_NAME);
        let (client, conn) = pg.connect(db.tls.clone()).await.map_err(|e| {
            Error::failure(format!(
                "cannot log in as the tenant's runner role {}: {}; pg_hba.conf must allow password logins for it",
                self.role,
                connect::connect_error(&e, &self.params).message
            ))
        })?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        if let Ok(mut v) = self.sessions.lock() {
            v.push(task);
        }
        client
            .batch_execute(&format!(
                "SET ROLE {}; SET search_path = {}; SET statement_timeout = {}",
                quote_ident(&self.owner),
                quote_ident(&self.schema),
                quote_literal(&format!("{}ms", statement_timeout.as_millis()))
            ))
            .await
            .map_err(|e| pg_error(&e, "cannot prepare the tenant session"))?;
        Ok(client)
    }

    /// `PG*` variables for a `pg_dump`/`pg_restore` run as the runner.
    pub fn env(&self, cmd: &mut tokio::process::Command) {
        cmd.env("PGUSER", &self.role)
            .env("PGPASSWORD", self.password.expose());
    }

    /// Drop the runner. Failing to is logged: the next runner of the same
    /// tenant, or `doctor`, removes it.
    ///
    /// Sessions of [`Runner::connect`] whose clients were dropped are waited
    /// for (briefly) first: the server ends them at once, whereas
    /// `pg_terminate_backend`'s wait polls every 100 ms.
    pub async fn finish(self, db: &Db) {
        let sessions = self
            .sessions
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        let _ =
            tokio::time::timeout(Duration::from_secs(2), futures::future::join_all(sessions)).await;
        match db.client().await {
            Ok(c) => {
                // A closed session's backend is gone a moment after its
                // socket: look for a few milliseconds before the drop, whose
                // pg_terminate_backend(pid, timeout) waits in steps of 100 ms.
                for _ in 0..40 {
                    let live = c
                        .query_one(
                            "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE usename = $1",
                            &[&self.role],
                        )
                        .await
                        .map_or(0, |r| r.get::<_, i64>(0));
                    if live == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                if let Err(e) = c.batch_execute(&drop_sql(&self.role, &self.owner)).await {
                    tracing::warn!(role = %self.role, "cannot drop the runner role: {e}");
                }
            }
            Err(e) => {
                tracing::warn!(role = %self.role, "cannot drop the runner role: {}", e.message);
            }
        }
    }
}

/// Drop a runner left behind (by a killed process) without starting one.
pub async fn drop_leftover(
    client: &impl deadpool_postgres::GenericClient,
    t: &Tenant,
) -> Result<()> {
    client
        .batch_execute(&drop_sql(&runner_name(t), t.owner()))
        .await
        .map_err(|e| pg_error(&e, "cannot drop a leftover runner role"))
}
