//! Provisioning and the tenant lifecycle (DESIGN.md §4): create, update,
//! suspend, resume, delete, restore and credentials.
//!
//! Every change is one transaction that also writes its audit row; a change
//! that fails records the error in a transaction of its own. Mutations are
//! refused before touching the database when the session is read-only or the
//! role lacks the privileges. SQL text is built in [`render`]: identifiers
//! quoted, user input as bind parameters.

pub mod archive;
mod backup;
mod lifecycle;
pub mod render;
pub mod roles;
mod table_data;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use deadpool_postgres::GenericClient;
use serde_json::json;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

pub use archive::VerifiedBackup;
pub use backup::{
    BackupSidecar, DeleteOutcome, Grant, HypertableBackup, TableCount, delete_tenant, file_sha256,
    legacy_backup_paths, read_backup, restore_tenant,
};
pub use lifecycle::{
    convert_tenant, resume_tenant, set_credentials, suspend_tenant, update_tenant,
};

use super::tenants::{TENANT_COLUMNS, from_row};
use super::{Db, pg_error};
use crate::config::{Config, TimescaleMode};
use crate::domain::progress::ProgressStep;
use crate::domain::template::Template;
use crate::domain::tenant::{
    NewTenant, Tenant, object_name, owner_name, validate_connection_limit, validate_domain,
    validate_name, validate_template_name,
};
use crate::error::{Error, Result};

/// What provisioning needs from the configuration, plus who is acting.
#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    /// Where templates are looked up (see `domain::template::Lookup`).
    pub template_dir: crate::template_files::Lookup,
    pub timescaledb: TimescaleMode,
    /// A creation is cancelled by `statement_timeout` past this, and one that
    /// takes longer in all is logged and flagged on the tenant.
    pub creation_timeout: Duration,
    pub app_role: Option<String>,
    pub backup_dir: PathBuf,
    /// `user@host (SSH_CLIENT claims ...)`, written to every audit row.
    pub actor: String,
    pub read_only: bool,
    /// Set on every new tenant's login role.
    pub idle_in_transaction_timeout: Option<Duration>,
    pub temp_file_limit: Option<u64>,
}

impl ProvisionOptions {
    pub fn from_config(c: &Config) -> Self {
        Self {
            template_dir: c.provisioning.template_dir.clone(),
            timescaledb: c.provisioning.timescaledb,
            creation_timeout: c.provisioning.creation_timeout.0,
            app_role: c.provisioning.app_role.clone(),
            backup_dir: c.provisioning.backup_dir.clone(),
            actor: crate::actor::current_actor(),
            read_only: c.read_only,
            idle_in_transaction_timeout: Some(c.provisioning.idle_in_transaction_timeout.0)
                .filter(|d| !d.is_zero()),
            temp_file_limit: c.provisioning.temp_file_limit.map(|s| s.0),
        }
    }
}

/// Refuse a mutation in a read-only session, before any database work.
pub fn ensure_writable(opts: &ProvisionOptions, action: &str) -> Result<()> {
    if opts.read_only {
        return Err(Error::refused(format!(
            "{action} changes the database, but this session is read-only"
        )));
    }
    Ok(())
}

/// Refuse when the connected role cannot manage roles and schemas. A read of
/// the catalog only; nothing is changed.
pub async fn ensure_privileges(db: &Db, action: &str) -> Result<()> {
    ensure_privileges_on(&**db.client().await?, action).await
}

/// [`ensure_privileges`] on a session the caller holds.
async fn ensure_privileges_on(client: &tokio_postgres::Client, action: &str) -> Result<()> {
    let row = client
        .query_one(
            "SELECT r.rolsuper, r.rolcreaterole,
                    has_database_privilege(current_database(), 'CREATE'), current_user::text
             FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the role's privileges"))?;
    let (sup, createrole, create_db, user): (bool, bool, bool, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if !(sup || (createrole && create_db)) {
        return Err(Error::refused(format!(
            "{action} needs CREATEROLE and CREATE on the database, which role \"{user}\" lacks: connect as an administrator role"
        )));
    }
    Ok(())
}

/// Re-check a request (callers may build one by hand) and normalise it.
pub fn validate_new(req: &NewTenant) -> Result<NewTenant> {
    let name = validate_name(&req.name)?;
    let domain = validate_domain(&req.domain)?;
    let template = validate_template_name(&req.template)?;
    let connection_limit = validate_connection_limit(i64::from(req.connection_limit))?;
    check_timeout(req.statement_timeout)?;
    check_quota(req.storage_quota_bytes)?;
    if !req.settings.is_object() {
        return Err(Error::invalid(
            "settings must be a JSON object such as {\"tier\": \"gold\"}",
        ));
    }
    Ok(NewTenant {
        name,
        domain,
        template,
        connection_limit,
        statement_timeout: req.statement_timeout,
        storage_quota_bytes: req.storage_quota_bytes,
        settings: req.settings.clone(),
    })
}

pub(crate) fn check_timeout(t: Option<Duration>) -> Result<Option<i64>> {
    t.map(|d| {
        if d.is_zero() {
            return Err(Error::invalid(
                "a statement timeout of 0 would mean no limit: remove the limit instead (--no-statement-timeout, or an emptied field in the console)",
            ));
        }
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        if ms > i64::from(i32::MAX) {
            Err(Error::invalid(format!(
                "statement timeout {ms} ms is longer than PostgreSQL allows (24 days)"
            )))
        } else {
            Ok(ms)
        }
    })
    .transpose()
}

pub(crate) fn check_quota(q: Option<u64>) -> Result<Option<i64>> {
    q.map(|b| {
        i64::try_from(b)
            .map_err(|_| Error::invalid(format!("storage quota {b} bytes is too large")))
    })
    .transpose()
}

pub(crate) fn ms_i32(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Per-step timings, reported to the caller as they happen.
struct Steps<'a> {
    progress: &'a (dyn Fn(ProgressStep) + Send + Sync),
    last: Instant,
    done: Vec<(String, Duration)>,
}

impl<'a> Steps<'a> {
    fn new(progress: &'a (dyn Fn(ProgressStep) + Send + Sync), start: Instant) -> Self {
        Self {
            progress,
            last: start,
            done: Vec::new(),
        }
    }
    fn step(&mut self, name: &str) {
        let now = Instant::now();
        let elapsed = now - self.last;
        self.last = now;
        self.done.push((name.to_string(), elapsed));
        (self.progress)(ProgressStep {
            name: name.to_string(),
            elapsed,
        });
    }
    fn json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.done
                .iter()
                .map(|(n, d)| json!({ "step": n, "ms": d.as_secs_f64() * 1000.0 }))
                .collect(),
        )
    }
}

/// Turn a failure during a change into one sentence, naming timeouts and
/// lost connections plainly.
pub(crate) fn change_error(e: &tokio_postgres::Error, what: &str, timeout: Duration) -> Error {
    if let Some(db) = e.as_db_error() {
        if *db.code() == SqlState::QUERY_CANCELED {
            return Error::failure(format!(
                "{what}: cancelled after the {} creation timeout; the transaction was rolled back and nothing was changed",
                crate::domain::units::format_duration(timeout)
            ));
        }
        if *db.code() == SqlState::ADMIN_SHUTDOWN || *db.code() == SqlState::CRASH_SHUTDOWN {
            return Error::failure(format!(
                "{what}: the server ended the session ({}); the transaction was rolled back and nothing was changed",
                db.message()
            ));
        }
    } else if e.is_closed() || e.as_db_error().is_none() {
        return Error::failure(format!(
            "{what}: the database connection was lost ({e}); the transaction was rolled back and nothing was changed"
        ));
    }
    pg_error(e, what)
}

/// Create a tenant (DESIGN.md §4): one transaction from tenant row to
/// `active`. Progress steps are reported as they finish. On any failure
/// nothing remains but an `error` audit row.
pub async fn create_tenant(
    db: &Db,
    opts: &ProvisionOptions,
    req: &NewTenant,
    progress: &(dyn Fn(ProgressStep) + Send + Sync),
) -> Result<Tenant> {
    create_tenant_at(db, opts, req, None, progress).await
}

/// [`create_tenant`] at template version `version` (`None`: the current
/// one): an older version is the baseline plus the migrations up to it, in
/// the same one transaction, for platforms whose application is not ready
/// for the newest schema (and for tests of fleet migrations).
pub async fn create_tenant_at(
    db: &Db,
    opts: &ProvisionOptions,
    req: &NewTenant,
    version: Option<i32>,
    progress: &(dyn Fn(ProgressStep) + Send + Sync),
) -> Result<Tenant> {
    let start = Instant::now();
    ensure_writable(opts, "create")?;
    let req = validate_new(req)?;
    let tpl = crate::template_files::load(&opts.template_dir, &req.template)?;
    let version = version.unwrap_or(tpl.version);
    tpl.body_at(version)?;
    let id = Uuid::new_v4();
    // The template runs inside a function: see `Db::client_for_templates`.
    let mut client = db.client_for_templates().await?;
    ensure_privileges_on(&client, "create").await?;
    let mut steps = Steps::new(progress, start);
    steps.step("validate");
    let created = create_in_tx(
        db,
        &mut client,
        opts,
        &req,
        &tpl,
        version,
        id,
        &mut steps,
        start,
    )
    .await;
    // Back to the pool (or closed) before the failure is recorded on another.
    drop(client);
    match created {
        Ok(t) => Ok(t),
        Err(e) => {
            let detail = json!({
                "name": req.name, "domain": req.domain, "template": tpl.name,
                "steps": steps.json(),
            });
            super::audit::record_failure(
                db,
                &opts.actor,
                "create",
                Some(id),
                detail,
                &e,
                Some(ms_i32(start.elapsed())),
            )
            .await;
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)] // reason: the create transaction's inputs, each used once
async fn create_in_tx(
    db: &Db,
    client: &mut crate::db::TemplateClient,
    opts: &ProvisionOptions,
    req: &NewTenant,
    tpl: &Template,
    version: i32,
    id: Uuid,
    steps: &mut Steps<'_>,
    start: Instant,
) -> Result<Tenant> {
    let what = format!("cannot create tenant {}", req.domain);
    let timeout = opts.creation_timeout;
    let obj = object_name(&id);
    let tx = client
        .transaction()
        .await
        .map_err(|e| change_error(&e, &what, timeout))?;
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = '{}ms'",
        timeout.as_millis().max(1)
    ))
    .await
    .map_err(|e| change_error(&e, &what, timeout))?;
    steps.step("begin");

    let s = db.q_schema();
    let insert = tx
        .prepare_cached(&format!(
            "INSERT INTO {s}.tenants (id, name, domain, schema_name, role_name, owner_role, status,
                 template, template_version, settings, connection_limit, statement_timeout,
                 storage_quota_bytes, created_by, idle_in_transaction_timeout, temp_file_limit_bytes)
             VALUES ($1, $2, $3, $4, $4, $12, 'provisioning', $5, $6, $7, $8,
                 $9::bigint * interval '1 millisecond', $10, $11,
                 $13::bigint * interval '1 millisecond', $14)
             RETURNING (SELECT n.nspname::text FROM pg_extension e
                        JOIN pg_namespace n ON n.oid = e.extnamespace
                        WHERE e.extname = 'timescaledb')"
        ))
        .await
        .map_err(|e| change_error(&e, &what, timeout))?;
    let timeout_ms = check_timeout(req.statement_timeout)?;
    let quota = check_quota(req.storage_quota_bytes)?;
    let op = roles::operator(&tx).await?;
    // A template that opts into tenant DDL gives the login role the schema.
    let owner = if tpl.tenant_ddl {
        obj.clone()
    } else {
        owner_name(&id)
    };
    let idle_ms = check_timeout(opts.idle_in_transaction_timeout)?;
    let temp_limit = if op.can_set_temp_file_limit {
        check_quota(opts.temp_file_limit)?
    } else {
        None
    };
    let row = tx
        .query_one(
            &insert,
            &[
                &id,
                &req.name,
                &req.domain,
                &obj,
                &tpl.name,
                &version,
                &req.settings,
                &req.connection_limit,
                &timeout_ms,
                &quota,
                &opts.actor,
                &owner,
                &idle_ms,
                &temp_limit,
            ],
        )
        .await
        .map_err(|e| {
            if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                Error::conflict(format!(
                    "a tenant with domain {} already exists: choose another domain",
                    req.domain
                ))
            } else {
                change_error(&e, &what, timeout)
            }
        })?;
    let timescale_schema: Option<String> = row.get(0);
    steps.step("tenant row");

    let mut warnings: Vec<String> = Vec::new();
    let hypertables = if tpl.timescale_tables.is_empty() {
        None
    } else {
        match (opts.timescaledb, timescale_schema) {
            (TimescaleMode::Off, _) => None,
            (_, Some(ts)) => Some(ts),
            (TimescaleMode::Require, None) => {
                return Err(Error::refused(format!(
                    "{what}: template \"{}\" has hypertables and timescaledb = require, but the TimescaleDB extension is not installed in this database: install it or set timescaledb = auto",
                    tpl.name
                )));
            }
            (TimescaleMode::Auto, None) => {
                warnings.push(format!(
                    "TimescaleDB is not installed: {} created as plain tables",
                    tpl.timescale_tables
                        .iter()
                        .map(|h| h.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                None
            }
        }
    };

    if opts.temp_file_limit.is_some() && temp_limit.is_none() {
        warnings.push(
            "temp_file_limit not set: the operator may not set it (superuser, or GRANT SET ON PARAMETER temp_file_limit)"
                .to_string(),
        );
    }
    let limits = roles::Limits {
        connection_limit: req.connection_limit,
        statement_timeout: req.statement_timeout,
        idle_in_transaction_timeout: opts.idle_in_transaction_timeout,
        temp_file_limit: opts.temp_file_limit,
    };
    let mut ddl = roles::create(
        &owner,
        &obj,
        &obj,
        &limits,
        &op,
        opts.app_role.as_deref(),
        true,
    );
    ddl.push_str(&roles::harden_public(&obj, &db.schema));
    tx.batch_execute(&ddl)
        .await
        .map_err(|e| change_error(&e, &format!("{what}: roles and schema"), timeout))?;
    steps.step("roles and schema");

    // The template runs as the owner role: everything it creates belongs to
    // the owner, and the login role gets the default privileges.
    tx.batch_execute(&render::template_at(
        tpl,
        version,
        &owner,
        &obj,
        hypertables.as_deref(),
    )?)
    .await
    .map_err(|e| {
        change_error(
            &e,
            &format!("{what}: template \"{}\" failed", tpl.name),
            timeout,
        )
    })?;
    steps.step(if hypertables.is_some() {
        "template and hypertables"
    } else {
        "template"
    });

    let elapsed = start.elapsed();
    if elapsed > timeout {
        tracing::warn!(
            tenant = %id,
            domain = %req.domain,
            ms = elapsed.as_millis(),
            "tenant creation took longer than the creation timeout"
        );
        warnings.push(format!(
            "creation took {}, longer than the {} limit",
            crate::domain::units::format_duration(elapsed),
            crate::domain::units::format_duration(timeout)
        ));
    }
    let provision_ms = ms_i32(elapsed);
    let detail = json!({
        "name": req.name,
        "domain": req.domain,
        "template": tpl.name,
        "template_version": version,
        "connection_limit": req.connection_limit,
        "statement_timeout_ms": timeout_ms,
        "storage_quota_bytes": quota,
        "hypertables": hypertables.is_some(),
        "warnings": warnings,
        "slow": elapsed > timeout,
        "steps": steps.json(),
        "provision_ms": provision_ms,
    });
    let activate = tx
        .prepare_cached(&format!(
            "WITH audit AS (
                 INSERT INTO {s}.audit_log (actor, action, tenant_id, outcome, detail, duration_ms)
                 VALUES ($4, 'create', $1, 'ok', $5, $2))
             UPDATE {s}.tenants SET status = 'active', provision_ms = $2, warnings = $3
             WHERE id = $1 RETURNING {TENANT_COLUMNS}"
        ))
        .await
        .map_err(|e| change_error(&e, &what, timeout))?;
    let row = tx
        .query_one(
            &activate,
            &[&id, &provision_ms, &warnings, &opts.actor, &detail],
        )
        .await
        .map_err(|e| change_error(&e, &what, timeout))?;
    let tenant = from_row(&row)?;
    steps.step("activate");
    tx.commit().await.map_err(|e| {
        if e.as_db_error().is_some() {
            change_error(&e, &what, timeout)
        } else {
            // The COMMIT was sent: whether it landed is unknown to us.
            Error::failure(format!(
                "{what}: the connection was lost during COMMIT ({e}); the outcome is unknown: check with tenantctl show {}",
                req.domain
            ))
        }
    })?;
    steps.step("commit");
    Ok(tenant)
}

/// Lock a tenant row for a change; NotFound when absent.
pub(crate) async fn lock_tenant(
    db: &Db,
    tx: &impl GenericClient,
    id: Uuid,
    what: &str,
) -> Result<Tenant> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT {TENANT_COLUMNS} FROM {}.tenants WHERE id = $1 FOR UPDATE",
                db.q_schema()
            ),
            &[&id],
        )
        .await
        .map_err(|e| pg_error(&e, what))?;
    match row {
        Some(r) => from_row(&r),
        None => Err(Error::not_found(format!("{what}: no tenant with id {id}"))),
    }
}

/// Terminate every session of `role`, waiting up to 5 s for each to end.
/// Returns how many there were.
pub(crate) async fn terminate_sessions(
    client: &impl GenericClient,
    role: &str,
    what: &str,
) -> Result<i64> {
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))
             FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()",
            &[&role],
        )
        .await
        .map_err(|e| pg_error(&e, what))?;
    Ok(row.get(0))
}
