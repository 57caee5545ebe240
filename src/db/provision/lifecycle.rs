//! Update, suspend, resume and credentials: each one transaction that locks
//! the tenant row, changes the role and the row, and writes the audit row.

use std::fmt::Write as _;
use std::time::Instant;

use rand::Rng;
use serde_json::json;
use uuid::Uuid;

use super::{
    ProvisionOptions, check_quota, check_timeout, ensure_privileges, ensure_writable, lock_tenant,
    ms_i32, roles, terminate_sessions,
};
use crate::config::Secret;
use crate::db::tenants::{TENANT_COLUMNS, from_row};
use crate::db::{Db, audit, pg_error, quote_ident, quote_literal};
use crate::domain::tenant::{
    Tenant, TenantStatus, TenantUpdate, validate_connection_limit, validate_name,
};
use crate::error::{Error, Result};

/// Run `body` and record an error audit row when it fails.
async fn audited<T>(
    db: &Db,
    opts: &ProvisionOptions,
    action: &str,
    id: Uuid,
    detail: serde_json::Value,
    body: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let start = Instant::now();
    match body.await {
        Ok(v) => Ok(v),
        Err(e) => {
            if e.kind != crate::ErrorKind::NotFound {
                audit::record_failure(
                    db,
                    &opts.actor,
                    action,
                    Some(id),
                    detail,
                    &e,
                    Some(ms_i32(start.elapsed())),
                )
                .await;
            }
            Err(e)
        }
    }
}

fn refuse_state(t: &Tenant, action: &str, allowed: &[TenantStatus]) -> Result<()> {
    if allowed.contains(&t.status) {
        return Ok(());
    }
    let msg = format!(
        "cannot {action} tenant {}: it is {}",
        t.domain,
        t.status.as_str()
    );
    Err(match (action, t.status) {
        ("suspend", TenantStatus::Suspended) | ("resume", TenantStatus::Active) => {
            Error::conflict(format!("{msg} already"))
        }
        _ => Error::refused(msg),
    })
}

/// Change name, limits, quota or settings; limits go to the role in the
/// same transaction (they apply to sessions opened afterwards).
pub async fn update_tenant(
    db: &Db,
    opts: &ProvisionOptions,
    id: Uuid,
    upd: &TenantUpdate,
) -> Result<Tenant> {
    ensure_writable(opts, "update")?;
    if upd.is_empty() {
        return Err(Error::invalid(
            "nothing to update: give --name, --connection-limit, --statement-timeout, --storage-quota, --settings, --no-statement-timeout or --no-storage-quota",
        ));
    }
    if (upd.clear_statement_timeout && upd.statement_timeout.is_some())
        || (upd.clear_storage_quota && upd.storage_quota_bytes.is_some())
    {
        return Err(Error::invalid(
            "a limit cannot be both set and removed in one update: give one of the two",
        ));
    }
    let name = upd.name.as_deref().map(validate_name).transpose()?;
    let limit = upd
        .connection_limit
        .map(|l| validate_connection_limit(i64::from(l)))
        .transpose()?;
    let timeout_ms = check_timeout(upd.statement_timeout)?;
    let quota = check_quota(upd.storage_quota_bytes)?;
    if upd.settings.as_ref().is_some_and(|s| !s.is_object()) {
        return Err(Error::invalid(
            "settings must be a JSON object such as {\"tier\": \"gold\"}",
        ));
    }
    ensure_privileges(db, "update").await?;
    let start = Instant::now();
    let detail = json!({
        "name": name, "connection_limit": limit, "statement_timeout_ms": timeout_ms,
        "storage_quota_bytes": quota, "settings": upd.settings,
        "clear_statement_timeout": upd.clear_statement_timeout,
        "clear_storage_quota": upd.clear_storage_quota,
    });
    audited(db, opts, "update", id, detail.clone(), async {
        let what = "cannot update the tenant";
        let mut client = db.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e, what))?;
        let before = lock_tenant(db, &tx, id, what).await?;
        refuse_state(
            &before,
            "update",
            &[TenantStatus::Active, TenantStatus::Suspended],
        )?;
        let r = quote_ident(&before.role_name);
        let mut ddl = String::new();
        if let Some(l) = limit {
            let _ = writeln!(ddl, "ALTER ROLE {r} CONNECTION LIMIT {l};");
        }
        if let Some(ms) = timeout_ms {
            let _ = writeln!(
                ddl,
                "ALTER ROLE {r} SET statement_timeout = {};",
                quote_literal(&format!("{ms}ms"))
            );
        }
        if upd.clear_statement_timeout {
            let _ = writeln!(ddl, "ALTER ROLE {r} RESET statement_timeout;");
        }
        if !ddl.is_empty() {
            role_change(&tx, &before.role_name, &ddl, what).await?;
        }
        let s = db.q_schema();
        let row = tx
            .query_one(
                &format!(
                    "UPDATE {s}.tenants SET
                         name = COALESCE($2, name),
                         connection_limit = COALESCE($3, connection_limit),
                         statement_timeout = CASE WHEN $7 THEN NULL
                             ELSE COALESCE($4::bigint * interval '1 millisecond', statement_timeout) END,
                         storage_quota_bytes = CASE WHEN $8 THEN NULL
                             ELSE COALESCE($5, storage_quota_bytes) END,
                         settings = COALESCE($6, settings)
                     WHERE id = $1 RETURNING {TENANT_COLUMNS}"
                ),
                &[
                    &id,
                    &name,
                    &limit,
                    &timeout_ms,
                    &quota,
                    &upd.settings,
                    &upd.clear_statement_timeout,
                    &upd.clear_storage_quota,
                ],
            )
            .await
            .map_err(|e| pg_error(&e, what))?;
        let after = from_row(&row)?;
        let mut d = detail.clone();
        d["before"] = json!({
            "name": before.name, "connection_limit": before.connection_limit,
            "statement_timeout_ms": before.statement_timeout,
            "storage_quota_bytes": before.storage_quota_bytes, "settings": before.settings,
        });
        audit::write(db, &tx, &opts.actor, "update", Some(id), "ok", &d, Some(ms_i32(start.elapsed())))
            .await?;
        tx.commit().await.map_err(|e| pg_error(&e, what))?;
        Ok(after)
    })
    .await
}

/// How long one attempt at a role change waits for a lock the tenant holds
/// (for example an open `ALTER ROLE` of its own) before its sessions are
/// ended and the change is tried again.
const ROLE_LOCK_TIMEOUT: &str = "1s";
const ROLE_LOCK_ATTEMPTS: u32 = 10;

/// Run `ddl` inside `tx` under a short `lock_timeout`; when a lock is not
/// granted, end the login role's sessions (whose open transactions hold
/// it) and try again. The tenant row is not locked meanwhile.
async fn role_change(
    tx: &deadpool_postgres::Transaction<'_>,
    login: &str,
    ddl: &str,
    what: &str,
) -> Result<()> {
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{ROLE_LOCK_TIMEOUT}'"))
        .await
        .map_err(|e| pg_error(&e, what))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        tx.batch_execute("SAVEPOINT role_change")
            .await
            .map_err(|e| pg_error(&e, what))?;
        match tx.batch_execute(ddl).await {
            Ok(()) => {
                return tx
                    .batch_execute("RELEASE SAVEPOINT role_change")
                    .await
                    .map_err(|e| pg_error(&e, what));
            }
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE)
                    && attempt < ROLE_LOCK_ATTEMPTS =>
            {
                tx.batch_execute("ROLLBACK TO SAVEPOINT role_change")
                    .await
                    .map_err(|e| pg_error(&e, what))?;
                let ended = terminate_sessions(tx, login, what).await?;
                tracing::info!(
                    role = login,
                    ended,
                    attempt,
                    "role locked by its own sessions: ended them, trying again"
                );
            }
            Err(e) => return Err(pg_error(&e, what)),
        }
    }
}

/// Suspend: the login role loses USAGE on its schema and its membership in
/// the shared application role (the next statement of every session fails,
/// also of sessions that reached it by `SET ROLE`), its sessions end, it is
/// set `NOLOGIN` (under a lock timeout, ending sessions and retrying when
/// its own transactions hold the lock), status `suspended`. Sessions are
/// terminated inside the transaction (counted in the audit row) and once
/// more after commit, when no new login can slip in.
pub async fn suspend_tenant(
    db: &Db,
    opts: &ProvisionOptions,
    id: Uuid,
    reason: Option<&str>,
) -> Result<Tenant> {
    ensure_writable(opts, "suspend")?;
    if let Some(r) = reason {
        if r.chars().count() > 1000 {
            return Err(Error::invalid("the reason is longer than 1000 characters"));
        }
    }
    ensure_privileges(db, "suspend").await?;
    let start = Instant::now();
    audited(db, opts, "suspend", id, json!({ "reason": reason }), async {
        let what = "cannot suspend the tenant";
        let t = crate::db::tenants::get_tenant(db, id).await?;
        refuse_state(&t, "suspend", &[TenantStatus::Active])?;
        let mut client = db.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e, what))?;
        let mut ddl = roles::cut_access(&t.role_name, &t.schema_name, t.owner(), opts.app_role.as_deref());
        let _ = writeln!(ddl, "ALTER ROLE {} NOLOGIN;", quote_ident(&t.role_name));
        role_change(&tx, &t.role_name, &ddl, what).await?;
        // Only now the row: nothing above waited while holding it.
        let locked = lock_tenant(db, &tx, id, what).await?;
        refuse_state(&locked, "suspend", &[TenantStatus::Active])?;
        let ended = terminate_sessions(&tx, &t.role_name, what).await?;
        let row = tx
            .query_one(
                &format!(
                    "UPDATE {}.tenants SET status = 'suspended' WHERE id = $1 RETURNING {TENANT_COLUMNS}",
                    db.q_schema()
                ),
                &[&id],
            )
            .await
            .map_err(|e| pg_error(&e, what))?;
        let detail = json!({ "reason": reason, "sessions_terminated": ended });
        audit::write(db, &tx, &opts.actor, "suspend", Some(id), "ok", &detail, Some(ms_i32(start.elapsed())))
            .await?;
        tx.commit().await.map_err(|e| pg_error(&e, what))?;
        // Committed: a session that slipped in before NOLOGIN is ended now;
        // failing to do so does not undo the suspension.
        if let Err(e) = terminate_sessions(&client, &t.role_name, what).await {
            tracing::warn!(tenant = %t.domain, "suspended, but ending late sessions failed: {}", e.message);
        }
        from_row(&row)
    })
    .await
}

/// `LOGIN`, schema USAGE and the application role's membership again,
/// status `active`.
pub async fn resume_tenant(db: &Db, opts: &ProvisionOptions, id: Uuid) -> Result<Tenant> {
    ensure_writable(opts, "resume")?;
    ensure_privileges(db, "resume").await?;
    let start = Instant::now();
    audited(db, opts, "resume", id, json!({}), async {
        let what = "cannot resume the tenant";
        let t = crate::db::tenants::get_tenant(db, id).await?;
        refuse_state(&t, "resume", &[TenantStatus::Suspended])?;
        let mut client = db.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e, what))?;
        let mut ddl = roles::restore_access(&t.role_name, &t.schema_name, t.owner(), opts.app_role.as_deref());
        let _ = writeln!(ddl, "ALTER ROLE {} LOGIN;", quote_ident(&t.role_name));
        role_change(&tx, &t.role_name, &ddl, what).await?;
        let locked = lock_tenant(db, &tx, id, what).await?;
        refuse_state(&locked, "resume", &[TenantStatus::Suspended])?;
        let row = tx
            .query_one(
                &format!(
                    "UPDATE {}.tenants SET status = 'active' WHERE id = $1 RETURNING {TENANT_COLUMNS}",
                    db.q_schema()
                ),
                &[&id],
            )
            .await
            .map_err(|e| pg_error(&e, what))?;
        audit::write(db, &tx, &opts.actor, "resume", Some(id), "ok", &json!({}), Some(ms_i32(start.elapsed())))
            .await?;
        tx.commit().await.map_err(|e| pg_error(&e, what))?;
        from_row(&row)
    })
    .await
}

/// A new random password for the tenant role. Only the SCRAM verifier,
/// computed here, reaches the server; the password is returned once and
/// stored nowhere.
pub async fn set_credentials(
    db: &Db,
    opts: &ProvisionOptions,
    id: Uuid,
) -> Result<(Tenant, Secret)> {
    ensure_writable(opts, "credentials")?;
    ensure_privileges(db, "credentials").await?;
    let start = Instant::now();
    audited(db, opts, "credentials", id, json!({}), async {
        let what = "cannot set the tenant's credentials";
        let password: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let mut client = db.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e, what))?;
        let t = lock_tenant(db, &tx, id, what).await?;
        refuse_state(
            &t,
            "set credentials for",
            &[TenantStatus::Active, TenantStatus::Suspended],
        )?;
        // The verifier is not the password; statement logging may show it.
        role_change(
            &tx,
            &t.role_name,
            &format!(
                "ALTER ROLE {} PASSWORD {}",
                quote_ident(&t.role_name),
                quote_literal(&verifier)
            ),
            what,
        )
        .await?;
        audit::write(
            db,
            &tx,
            &opts.actor,
            "credentials",
            Some(id),
            "ok",
            &json!({ "role": t.role_name, "method": "scram-sha-256" }),
            Some(ms_i32(start.elapsed())),
        )
        .await?;
        tx.commit().await.map_err(|e| pg_error(&e, what))?;
        Ok((t, Secret::new(password)))
    })
    .await
}

/// Split a tenant created before owner roles (its login role owns its
/// schema and objects) into an owner role that owns everything and a login
/// role that only uses it, in one transaction, audited. Its privileges on
/// its tables stay (writes withheld if it is over its quota), a suspended
/// tenant stays without schema USAGE. A tenant that has an owner role
/// already is refused as a conflict.
pub async fn convert_tenant(db: &Db, opts: &ProvisionOptions, id: Uuid) -> Result<Tenant> {
    ensure_writable(opts, "convert")?;
    ensure_privileges(db, "convert").await?;
    let start = Instant::now();
    audited(db, opts, "convert", id, json!({}), async {
        let what = "cannot convert the tenant";
        let t = crate::db::tenants::get_tenant(db, id).await?;
        refuse_state(
            &t,
            "convert",
            &[TenantStatus::Active, TenantStatus::Suspended],
        )?;
        if t.owner_role.is_some() {
            return Err(Error::conflict(format!(
                "tenant {} has an owner role already: nothing to convert",
                t.domain
            )));
        }
        let owner = crate::domain::tenant::owner_name(&t.id);
        let mut client = db.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e, what))?;
        let op = roles::operator(&tx).await?;
        if !op.superuser && op.version >= 160_000 {
            // From 16, only a role's ADMIN may grant it, and a role made by
            // someone else (a superuser, before owner roles) has none for us.
            let admin: bool = tx
                .query_one(
                    "SELECT pg_has_role(current_user, $1::text::regrole, 'MEMBER WITH ADMIN OPTION')",
                    &[&t.role_name],
                )
                .await
                .map_err(|e| pg_error(&e, what))?
                .get(0);
            if !admin {
                return Err(Error::refused(format!(
                    "cannot convert tenant {}: role {} was made by another role and this operator holds no ADMIN OPTION on it; have a superuser run GRANT {} TO CURRENT_USER WITH ADMIN OPTION for this operator, or convert as a superuser",
                    t.domain,
                    t.role_name,
                    quote_ident(&t.role_name)
                )));
            }
        }
        let (o, r) = (quote_ident(&owner), quote_ident(&t.role_name));
        let mut ddl = format!(
            "CREATE ROLE {o} NOLOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;\n"
        );
        if !op.superuser {
            let with = if op.version >= 160_000 {
                " WITH INHERIT TRUE, SET TRUE"
            } else {
                ""
            };
            let _ = writeln!(ddl, "GRANT {o} TO CURRENT_USER{with};");
            let _ = writeln!(ddl, "GRANT {r} TO CURRENT_USER{with};");
        }
        let _ = writeln!(ddl, "REASSIGN OWNED BY {r} TO {o};");
        let _ = writeln!(
            ddl,
            "GRANT USAGE ON SCHEMA {} TO {r};",
            quote_ident(&t.schema_name)
        );
        ddl.push_str(&roles::grant_existing(&t.role_name, &t.schema_name, t.quota_blocked));
        ddl.push_str(&roles::default_privileges(&owner, &t.role_name, &t.schema_name));
        if t.status == TenantStatus::Suspended {
            ddl.push_str(&roles::cut_access(&t.role_name, &t.schema_name, &owner, None));
        }
        role_change(&tx, &t.role_name, &ddl, what).await?;
        let locked = lock_tenant(db, &tx, id, what).await?;
        if locked.owner_role.is_some() || locked.status != t.status {
            return Err(Error::conflict(format!(
                "{what}: tenant {} changed meanwhile; try again",
                t.domain
            )));
        }
        let row = tx
            .query_one(
                &format!(
                    "UPDATE {}.tenants SET owner_role = $2 WHERE id = $1 RETURNING {TENANT_COLUMNS}",
                    db.q_schema()
                ),
                &[&id, &owner],
            )
            .await
            .map_err(|e| pg_error(&e, what))?;
        audit::write(
            db,
            &tx,
            &opts.actor,
            "convert",
            Some(id),
            "ok",
            &json!({ "owner_role": owner }),
            Some(ms_i32(start.elapsed())),
        )
        .await?;
        tx.commit().await.map_err(|e| pg_error(&e, what))?;
        from_row(&row)
    })
    .await
}
