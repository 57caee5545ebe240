//! Delete (with a `pg_dump -Fc` of the schema and a JSON sidecar of the
//! tenant row first) and restore from such a backup.
//!
//! `pg_dump`/`pg_restore` get the connection through `PG*` environment
//! variables, never the password on their command line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{
    ProvisionOptions, ensure_privileges, ensure_writable, lock_tenant, ms_i32, render,
    terminate_sessions,
};
use crate::db::tenants::{TENANT_COLUMNS, from_row, get_tenant};
use crate::db::{Db, audit, pg_error, quote_ident};
use crate::domain::tenant::{Tenant, TenantStatus, object_name};
use crate::error::{Error, Result};

/// What `delete` did.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteOutcome {
    /// The tombstone row.
    pub tenant: Tenant,
    /// The `.dump` file, unless the backup was skipped.
    pub backup_path: Option<PathBuf>,
}

/// The JSON file written beside a dump.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupSidecar {
    pub format: u32,
    pub taken_at: chrono::DateTime<chrono::Utc>,
    pub taken_by: String,
    /// File name of the dump, in the same directory.
    pub dump: String,
    /// The pg_dump that wrote it, with its version (the newest found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_dump: Option<String>,
    pub tenant: Tenant,
}

fn pg_env(cmd: &mut tokio::process::Command, db: &Db) {
    let p = &db.params;
    for var in [
        "PGSERVICE",
        "PGOPTIONS",
        "PGCONNECT_TIMEOUT",
        "PGSSLROOTCERT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PGHOST", p.hosts.join(","))
        .env(
            "PGPORT",
            p.ports
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )
        .env("PGUSER", &p.user)
        .env("PGDATABASE", &p.dbname)
        .env("PGSSLMODE", p.sslmode.as_str())
        .env("PGAPPNAME", crate::db::connect::APPLICATION_NAME);
    if let Some(pw) = &p.password {
        cmd.env("PGPASSWORD", pw.expose());
    } else {
        cmd.env_remove("PGPASSWORD");
    }
    if let Some(root) = &p.sslrootcert {
        cmd.env("PGSSLROOTCERT", root);
    }
    if let Some(t) = p.connect_timeout {
        cmd.env("PGCONNECT_TIMEOUT", t.as_secs().max(1).to_string());
    }
}

async fn run_tool(mut cmd: tokio::process::Command, tool: &str) -> Result<()> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| Error::failure(format!("cannot run {tool}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let last = crate::domain::sanitize::last_line(&err, "no output");
    Err(Error::failure(format!(
        "{tool} failed: {}",
        crate::domain::sanitize::clean(last)
    )))
}

/// pg_restore 17 and newer send `SET transaction_timeout = 0`, which servers
/// before 17 reject (and with it the whole single transaction). For those,
/// pg_restore writes the script, that one line is dropped, and psql runs
/// the rest in one transaction, stopping at the first error.
async fn restore_through_psql(db: &Db, pg_restore: &Path, dump: &Path) -> Result<()> {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let psql = crate::local_cluster::client_tool("psql")?;
    let mut restore = tokio::process::Command::new(pg_restore);
    pg_env(&mut restore, db);
    restore
        .kill_on_drop(true)
        .arg("--single-transaction")
        .arg("--exit-on-error")
        .arg("--file=-")
        .arg(dump)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut apply = tokio::process::Command::new(&psql.path);
    pg_env(&mut apply, db);
    apply
        .kill_on_drop(true)
        .args([
            "--no-psqlrc",
            "--quiet",
            "--set",
            "ON_ERROR_STOP=1",
            "--dbname",
        ])
        .arg(&db.params.dbname)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut restore = restore
        .spawn()
        .map_err(|e| Error::failure(format!("cannot run pg_restore: {e}")))?;
    let mut apply = apply
        .spawn()
        .map_err(|e| Error::failure(format!("cannot run psql: {e}")))?;
    let (Some(out), Some(mut input)) = (restore.stdout.take(), apply.stdin.take()) else {
        return Err(Error::failure("cannot connect pg_restore to psql"));
    };
    let pump = async move {
        let mut reader = tokio::io::BufReader::new(out);
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).await? == 0 {
                break;
            }
            if line.as_slice() != b"SET transaction_timeout = 0;\n" {
                input.write_all(&line).await?;
            }
        }
        input.shutdown().await
    };
    let pumped = pump.await;
    let restored = restore.wait_with_output().await;
    let applied = apply.wait_with_output().await;
    for (tool, result) in [("pg_restore", restored), ("psql", applied)] {
        let out = result.map_err(|e| Error::failure(format!("cannot run {tool}: {e}")))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = crate::domain::sanitize::last_line(&err, "no output");
            return Err(Error::failure(format!(
                "{tool} failed: {}",
                crate::domain::sanitize::clean(last)
            )));
        }
    }
    pumped.map_err(|e| Error::failure(format!("cannot feed the restore script to psql: {e}")))
}

/// Dump the tenant's schema and write the sidecar; returns the dump path.
async fn take_backup(db: &Db, opts: &ProvisionOptions, t: &Tenant) -> Result<PathBuf> {
    // Backups hold tenant data: only the owner may read them.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(&opts.backup_dir)
        .map_err(|e| {
            Error::failure(format!(
                "cannot create the backup directory {}: {e}",
                opts.backup_dir.display()
            ))
        })?;
    let now = chrono::Utc::now();
    let stem = format!(
        "{}_{}_{}",
        t.domain,
        &t.id.simple().to_string()[..8],
        now.format("%Y%m%dT%H%M%S%.3fZ")
    );
    let dump = opts.backup_dir.join(format!("{stem}.dump"));
    let sidecar = opts.backup_dir.join(format!("{stem}.json"));
    let tool = crate::local_cluster::client_tool("pg_dump")?;
    let server: i32 = db
        .client()
        .await?
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| pg_error(&e, "cannot read the server version"))?
        .get(0);
    tool.check_server(server)
        .map_err(|e| e.context(&format!("cannot back up tenant {}", t.domain)))?;
    let mut cmd = tokio::process::Command::new(&tool.path);
    pg_env(&mut cmd, db);
    cmd.kill_on_drop(true)
        .arg("--format=custom")
        .arg("--lock-wait-timeout=30s")
        .arg(format!("--schema={}", t.schema_name))
        .arg("--file")
        .arg(&dump);
    let dumped =
        match tokio::time::timeout(Duration::from_secs(900), run_tool(cmd, "pg_dump")).await {
            Ok(r) => r,
            Err(_) => Err(Error::failure("pg_dump did not finish within 15 minutes")),
        };
    dumped.map_err(|e| {
        let _ = std::fs::remove_file(&dump);
        e.context(&format!("cannot back up tenant {}", t.domain))
    })?;
    let side = BackupSidecar {
        format: 1,
        taken_at: now,
        taken_by: opts.actor.clone(),
        dump: format!("{stem}.dump"),
        pg_dump: Some(tool.describe()),
        tenant: t.clone(),
    };
    let text = serde_json::to_string_pretty(&side)
        .map_err(|e| Error::failure(format!("cannot encode the backup sidecar: {e}")))?;
    std::fs::write(&sidecar, text)
        .map_err(|e| Error::failure(format!("cannot write {}: {e}", sidecar.display())))?;
    for f in [&dump, &sidecar] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::failure(format!("cannot restrict {}: {e}", f.display())))?;
    }
    Ok(dump)
}

/// Delete a suspended tenant whose domain was typed back: back up (unless
/// `backup` is false), drop schema and role, keep a `deleted` tombstone.
pub async fn delete_tenant(
    db: &Db,
    opts: &ProvisionOptions,
    id: Uuid,
    confirm: &str,
    backup: bool,
) -> Result<DeleteOutcome> {
    ensure_writable(opts, "delete")?;
    ensure_privileges(db, "delete").await?;
    let start = Instant::now();
    let t = get_tenant(db, id).await?;
    let result = async {
        if t.status != TenantStatus::Suspended {
            return Err(Error::refused(format!(
                "cannot delete tenant {}: it is {}; suspend it first",
                t.domain,
                t.status.as_str()
            )));
        }
        if confirm.trim().to_ascii_lowercase() != t.domain {
            return Err(Error::refused(format!(
                "cannot delete tenant {}: the confirmation does not match its domain; type the domain exactly",
                t.domain
            )));
        }
        let backup_path = if backup {
            Some(take_backup(db, opts, &t).await?)
        } else {
            None
        };
        let what = format!("cannot delete tenant {}", t.domain);
        let mut client = db.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e, &what))?;
        let locked = lock_tenant(db, &tx, id, &what).await?;
        if locked.status != TenantStatus::Suspended {
            return Err(Error::conflict(format!(
                "{what}: it changed to {} meanwhile",
                locked.status.as_str()
            )));
        }
        terminate_sessions(&tx, &t.role_name, &what).await?;
        let r = quote_ident(&t.role_name);
        tx.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE;
             DO $tenantctl$ BEGIN
               IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {lit}) THEN
                 EXECUTE 'DROP OWNED BY ' || quote_ident({lit});
                 EXECUTE 'DROP ROLE ' || quote_ident({lit});
               END IF;
             END $tenantctl$;",
            quote_ident(&t.schema_name),
            lit = crate::db::quote_literal(&t.role_name),
        ))
        .await
        .map_err(|e| pg_error(&e, &what))?;
        let _ = r;
        let row = tx
            .query_one(
                &format!(
                    "UPDATE {}.tenants SET status = 'deleted', deleted_at = now()
                     WHERE id = $1 RETURNING {TENANT_COLUMNS}",
                    db.q_schema()
                ),
                &[&id],
            )
            .await
            .map_err(|e| pg_error(&e, &what))?;
        let detail = json!({
            "domain": t.domain,
            "backup": backup_path.as_ref().map(|p| p.display().to_string()),
        });
        audit::write(db, &tx, &opts.actor, "delete", Some(id), "ok", &detail, Some(ms_i32(start.elapsed())))
            .await?;
        tx.commit().await.map_err(|e| pg_error(&e, &what))?;
        Ok(DeleteOutcome {
            tenant: from_row(&row)?,
            backup_path,
        })
    }
    .await;
    if let Err(e) = &result {
        audit::record_failure(
            db,
            &opts.actor,
            "delete",
            Some(id),
            json!({ "domain": t.domain, "backup": backup }),
            e,
            Some(ms_i32(start.elapsed())),
        )
        .await;
    }
    result
}

/// The dump and sidecar paths for a backup given by either file.
pub fn backup_paths(file: &Path) -> (PathBuf, PathBuf) {
    match file.extension().and_then(|e| e.to_str()) {
        Some("json") => (file.with_extension("dump"), file.to_path_buf()),
        _ => (file.to_path_buf(), file.with_extension("json")),
    }
}

/// Bring a deleted tenant back from a backup taken by [`delete_tenant`]:
/// role (NOLOGIN), schema and data by `pg_restore`, the row as `suspended`.
pub async fn restore_tenant(
    db: &Db,
    opts: &ProvisionOptions,
    backup_file: &Path,
) -> Result<Tenant> {
    ensure_writable(opts, "restore")?;
    let (dump, sidecar_path) = backup_paths(backup_file);
    for p in [&dump, &sidecar_path] {
        if !p.is_file() {
            return Err(Error::not_found(format!(
                "no backup file {}: restore needs the .dump and its .json sidecar side by side",
                p.display()
            )));
        }
    }
    let text = std::fs::read_to_string(&sidecar_path)
        .map_err(|e| Error::failure(format!("cannot read {}: {e}", sidecar_path.display())))?;
    let side: BackupSidecar = serde_json::from_str(&text).map_err(|e| {
        Error::invalid(format!(
            "{} is not a tenantctl backup sidecar: {e}",
            sidecar_path.display()
        ))
    })?;
    let t = side.tenant;
    if t.schema_name != object_name(&t.id) || t.role_name != t.schema_name {
        return Err(Error::invalid(format!(
            "{}: schema and role names do not match the tenant id",
            sidecar_path.display()
        )));
    }
    let t = Tenant {
        name: crate::domain::tenant::validate_name(&t.name)?,
        domain: crate::domain::tenant::validate_domain(&t.domain)?,
        ..t
    };
    ensure_privileges(db, "restore").await?;
    let start = Instant::now();
    let detail = json!({ "file": dump.display().to_string(), "domain": t.domain });
    let result = restore_inner(db, opts, &t, &dump, start).await;
    if let Err(e) = &result {
        audit::record_failure(
            db,
            &opts.actor,
            "restore",
            Some(t.id),
            detail,
            e,
            Some(ms_i32(start.elapsed())),
        )
        .await;
    }
    result
}

async fn restore_inner(
    db: &Db,
    opts: &ProvisionOptions,
    t: &Tenant,
    dump: &Path,
    start: Instant,
) -> Result<Tenant> {
    let what = format!("cannot restore tenant {}", t.domain);
    let s = db.q_schema();
    let client = db.client().await?;
    let row = client
        .query_one(
            &format!(
                "SELECT
                   EXISTS (SELECT 1 FROM {s}.tenants WHERE id = $1 AND status <> 'deleted'),
                   EXISTS (SELECT 1 FROM {s}.tenants WHERE lower(domain) = $2 AND status <> 'deleted'),
                   EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $3),
                   EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $3)"
            ),
            &[&t.id, &t.domain, &t.role_name],
        )
        .await
        .map_err(|e| pg_error(&e, &what))?;
    let (live_id, live_domain, role, schema): (bool, bool, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if live_id {
        return Err(Error::conflict(format!(
            "{what}: that tenant exists and is not deleted"
        )));
    }
    if live_domain {
        return Err(Error::conflict(format!(
            "{what}: another tenant now uses domain {}",
            t.domain
        )));
    }
    if role || schema {
        return Err(Error::conflict(format!(
            "{what}: a role or schema named {} already exists",
            t.role_name
        )));
    }
    // The role must be committed before pg_restore's own session can use it.
    let timeout = t.statement_timeout.map(std::time::Duration::from_millis);
    let mut ddl = render::role_and_schema(
        &t.role_name,
        &t.schema_name,
        t.connection_limit,
        timeout,
        opts.app_role.as_deref(),
        false,
    );
    // pg_restore recreates the schema itself.
    let _ = writeln!(ddl, "DROP SCHEMA {};", quote_ident(&t.schema_name));
    client
        .batch_execute(&format!("BEGIN;\n{ddl}COMMIT;"))
        .await
        .map_err(|e| pg_error(&e, &what))?;
    let cleanup = async {
        let _ = client
            .batch_execute(&format!(
                "ROLLBACK; DROP SCHEMA IF EXISTS {schema} CASCADE; DROP ROLE IF EXISTS {role};",
                schema = quote_ident(&t.schema_name),
                role = quote_ident(&t.role_name)
            ))
            .await;
    };
    let tool = crate::local_cluster::client_tool("pg_restore")?;
    let server: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| pg_error(&e, &what))?
        .get(0);
    let restored = if tool.version.0 >= 17 && server < 170_000 {
        restore_through_psql(db, &tool.path, dump).await
    } else {
        let mut cmd = tokio::process::Command::new(&tool.path);
        pg_env(&mut cmd, db);
        cmd.arg("--single-transaction")
            .arg("--exit-on-error")
            .arg("--dbname")
            .arg(&db.params.dbname)
            .arg(dump);
        run_tool(cmd, "pg_restore").await
    };
    if let Err(e) = restored {
        cleanup.await;
        return Err(e.context(&what));
    }
    let finish = async {
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| pg_error(&e, &what))?;
        let settings = &t.settings.value();
        let timeout_ms = t.statement_timeout.and_then(|v| i64::try_from(v).ok());
        let quota = t.storage_quota_bytes.and_then(|v| i64::try_from(v).ok());
        let row = client
            .query_one(
                &format!(
                    "INSERT INTO {s}.tenants AS t (id, name, domain, schema_name, role_name, status,
                         template, template_version, settings, connection_limit, statement_timeout,
                         storage_quota_bytes, warnings, created_at, created_by, provision_ms)
                     VALUES ($1, $2, $3, $4, $4, 'suspended', $5, $6, $7, $8,
                         $9::bigint * interval '1 millisecond', $10, $11, $12, $13, $14)
                     ON CONFLICT (id) DO UPDATE SET status = 'suspended', deleted_at = NULL,
                         name = EXCLUDED.name, domain = EXCLUDED.domain
                     WHERE t.status = 'deleted'
                     RETURNING {TENANT_COLUMNS}"
                ),
                &[
                    &t.id,
                    &t.name,
                    &t.domain,
                    &t.schema_name,
                    &t.template,
                    &t.template_version,
                    settings,
                    &t.connection_limit,
                    &timeout_ms,
                    &quota,
                    &t.warnings,
                    &t.created_at,
                    &t.created_by,
                    &t.provision_ms,
                ],
            )
            .await
            .map_err(|e| {
                if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                    Error::conflict(format!(
                        "{what}: another tenant now uses domain {}",
                        t.domain
                    ))
                } else {
                    pg_error(&e, &what)
                }
            })?;
        let detail = json!({ "file": dump.display().to_string(), "domain": t.domain });
        audit::write(
            db,
            &client,
            &opts.actor,
            "restore",
            Some(t.id),
            "ok",
            &detail,
            Some(ms_i32(start.elapsed())),
        )
        .await?;
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| pg_error(&e, &what))?;
        from_row(&row)
    }
    .await;
    if finish.is_err() {
        cleanup.await;
    }
    finish
}
