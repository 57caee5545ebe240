//! Delete (with a verified backup first) and restore from such a backup.
//!
//! A backup is one artifact: a tar archive, private (0600) from its first
//! byte and renamed into place only when complete (see [`super::archive`]),
//! holding the `pg_dump -Fc` of the tenant's schema, when the tenant has
//! TimescaleDB hypertables the rows of each as a binary `COPY` stream
//! (their chunks are outside the schema, where `pg_dump -n` does not look),
//! and the sidecar with the tenant row, the SHA-256 of the dump and of the
//! rows, every table's row count and checksum (see [`super::table_data`]),
//! each hypertable's time column and chunk interval, and the grants the
//! tenant made to other roles; a last member has the SHA-256 of each. Restore
//! checks every byte of it before it touches anything, makes the hypertables
//! hypertables again, loads their rows, and checks every table's count and
//! checksum before the tenant comes back. Backups of the older format (the
//! `.dump`, `.data` and `.json` files side by side) are still restored.
//! Dump and restore run as the tenant's runner (see [`crate::db::runner`]),
//! never as the operator, so a constraint, default or trigger of the
//! tenant's runs with the tenant's rights only.
//!
//! Restore is crash-safe: the tenant row is `restoring` from before the
//! first object is made until the last check passes; a restore that was
//! killed is removed and redone by the next restore of the same tenant.
//! `pg_dump`/`pg_restore` get the connection through `PG*` variables, never
//! the password on their command line.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use super::archive::{self, ArchiveWriter};
use super::{ProvisionOptions, ensure_privileges, ensure_writable, lock_tenant, ms_i32, roles};
use crate::db::runner::{self, Runner};
use crate::db::tenants::{TENANT_COLUMNS, from_row, get_tenant};
use crate::db::{Db, audit, pg_error, quote_ident};
use crate::domain::tenant::{Tenant, TenantStatus, object_name, owner_name};
use crate::error::{Error, Result};

/// The sidecar format this binary writes (4: one archive; 3: per-table
/// checksums and the hypertables' data file beside the dump; 2 had row
/// counts only; 2 and 3 are still restored).
pub const SIDECAR_FORMAT: u32 = 4;

/// What `delete` did.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteOutcome {
    /// The tombstone row.
    pub tenant: Tenant,
    /// The backup archive, unless the backup was skipped.
    pub backup_path: Option<PathBuf>,
}

pub use super::table_data::{HypertableBackup, TableCount};

/// A privilege the tenant granted on one of its objects to a role other
/// than its own; re-applied on restore when the role still exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// `schema`, `table` or `sequence`.
    pub kind: String,
    /// The object's name inside the schema; empty for the schema itself.
    pub object: String,
    pub privilege: String,
    pub grantee: String,
}

/// The sidecar: `backup.json` in the archive (format 4), or the `.json`
/// file beside the dump (formats 2 and 3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupSidecar {
    pub format: u32,
    pub taken_at: chrono::DateTime<chrono::Utc>,
    pub taken_by: String,
    /// The dump's member name (format 4), or its file name in the same
    /// directory (before).
    pub dump: String,
    /// Hex SHA-256 of the dump file (format 2).
    #[serde(default)]
    pub dump_sha256: Option<String>,
    #[serde(default)]
    pub dump_bytes: Option<u64>,
    /// `pg_dump --version` of the client that took it.
    #[serde(default)]
    pub pg_dump: Option<String>,
    /// The hypertables' rows: their member name (format 4), or their file
    /// name in the same directory (format 3); only when the tenant had
    /// hypertables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_bytes: Option<u64>,
    #[serde(default)]
    pub tables: Vec<TableCount>,
    #[serde(default)]
    pub grants: Vec<Grant>,
    pub tenant: Tenant,
}

fn pg_env(cmd: &mut tokio::process::Command, db: &Db) {
    let p = &db.params;
    for var in [
        "PGSERVICE",
        "PGOPTIONS",
        "PGCONNECT_TIMEOUT",
        "PGSSLROOTCERT",
        "PGPASSFILE",
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

fn tool_error(tool: &str, stderr: &[u8]) -> Error {
    let err = String::from_utf8_lossy(stderr);
    // The error itself, not the `detail:` lines the tools print after it.
    let last = err
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.contains("error:"))
        .unwrap_or_else(|| crate::domain::sanitize::last_line(&err, "no output"));
    Error::failure(format!(
        "{tool} failed: {}",
        crate::domain::sanitize::clean(last)
    ))
}

async fn run_tool(mut cmd: tokio::process::Command, tool: &str) -> Result<Vec<u8>> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| Error::failure(format!("cannot run {tool}: {e}")))?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    Err(tool_error(tool, &out.stderr))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// SHA-256 of a file, read in blocks.
pub fn file_sha256(path: &Path) -> Result<(String, u64)> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path)
        .map_err(|e| Error::failure(format!("cannot read {}: {e}", path.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f
            .read(&mut buf)
            .map_err(|e| Error::failure(format!("cannot read {}: {e}", path.display())))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex(&h.finalize()), n))
}

/// Run `pg_dump` as the runner, streaming its output into the archive's
/// dump member while hashing it. Returns (sha256, bytes).
async fn dump_schema(
    db: &Db,
    tool: &crate::local_cluster::ClientTool,
    run: &Runner,
    t: &Tenant,
    out: &mut ArchiveWriter,
) -> Result<(String, u64)> {
    let mut cmd = tokio::process::Command::new(&tool.path);
    pg_env(&mut cmd, db);
    run.env(&mut cmd);
    cmd.kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .arg("--format=custom")
        .arg("--lock-wait-timeout=30s")
        .arg(format!("--role={}", run.owner))
        .arg(format!("--schema={}", t.schema_name));
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::failure(format!("cannot run pg_dump: {e}")))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::failure("pg_dump has no output pipe"))?;
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| Error::failure("pg_dump has no error pipe"))?;
    let err_task = tokio::spawn(async move {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v).await;
        v
    });
    out.begin()?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = stdout
            .read(&mut buf)
            .await
            .map_err(|e| Error::failure(format!("cannot read pg_dump's output: {e}")))?;
        if k == 0 {
            break;
        }
        out.write_all(&buf[..k]).map_err(|e| {
            Error::failure(format!(
                "cannot write the backup {}: {e}",
                out.path().display()
            ))
        })?;
    }
    let status = child
        .wait()
        .await
        .map_err(|e| Error::failure(format!("pg_dump did not finish: {e}")))?;
    let stderr = err_task.await.unwrap_or_default();
    if !status.success() {
        return Err(tool_error("pg_dump", &stderr));
    }
    out.finish(archive::DUMP)
}

/// Grants on the schema and its relations to roles other than the
/// tenant's own (and PUBLIC, which never holds any). Catalog only.
async fn foreign_grants(db: &Db, t: &Tenant) -> Result<Vec<Grant>> {
    let client = db.client().await?;
    let rows = client
        .query(
            "SELECT 'schema', '', a.privilege_type, r.rolname::text
             FROM pg_namespace n, aclexplode(n.nspacl) a JOIN pg_roles r ON r.oid = a.grantee
             WHERE n.nspname = $1 AND r.rolname <> ALL ($2)
             UNION ALL
             SELECT CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END, c.relname::text,
                    a.privilege_type, r.rolname::text
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                  aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee
             WHERE n.nspname = $1 AND r.rolname <> ALL ($2)
             ORDER BY 1, 2, 3, 4",
            &[&t.schema_name, &own_roles(t)],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the tenant's grants"))?;
    Ok(rows
        .iter()
        .map(|r| Grant {
            kind: r.get(0),
            object: r.get(1),
            privilege: r.get(2),
            grantee: r.get(3),
        })
        .collect())
}

fn own_roles(t: &Tenant) -> Vec<String> {
    let mut v = vec![t.role_name.clone(), runner::runner_name(t)];
    if let Some(o) = t.owner_role.as_ref().filter(|o| **o != t.role_name) {
        v.push(o.clone());
    }
    v
}

/// `server_version_num` of the connected server.
async fn server_version(db: &Db) -> Result<i32> {
    Ok(db
        .client()
        .await?
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| pg_error(&e, "cannot read the server version"))?
        .get(0))
}

/// pg_restore 17 and newer send `SET transaction_timeout = 0`, which servers
/// before 17 reject (and with it the whole single transaction). For those,
/// pg_restore writes the script, that one line is dropped, and psql runs
/// the rest in one transaction, stopping at the first error.
/// `restore` is a pg_restore with its options and the dump, without a
/// target; `apply` a psql with the connection's environment.
async fn restore_through_psql(
    mut restore: tokio::process::Command,
    mut apply: tokio::process::Command,
    dbname: &str,
) -> Result<()> {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    restore
        .kill_on_drop(true)
        .arg("--file=-")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    apply
        .kill_on_drop(true)
        .args([
            "--no-psqlrc",
            "--quiet",
            "--set",
            "ON_ERROR_STOP=1",
            "--dbname",
        ])
        .arg(dbname)
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

/// Dump the tenant's schema and copy its hypertables' rows as the tenant,
/// then the sidecar, all into one archive; returns its path. Nothing is
/// left in the backup directory when any step fails.
async fn take_backup(db: &Db, opts: &ProvisionOptions, t: &Tenant) -> Result<PathBuf> {
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
    let what = format!("cannot back up tenant {}", t.domain);
    let path = opts.backup_dir.join(format!("{stem}{}", archive::SUFFIX));
    // The newest pg_dump found; one older than the server refuses to dump it.
    let tool = crate::local_cluster::client_tool("pg_dump")?;
    tool.check_server(server_version(db).await?)
        .map_err(|e| e.context(&what))?;
    let mut out = ArchiveWriter::create(&path).map_err(|e| e.context(&what))?;
    let run = Runner::start(db, t).await?;
    let result = async {
        let (sha, bytes) = match tokio::time::timeout(
            Duration::from_secs(900),
            dump_schema(db, &tool, &run, t, &mut out),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => return Err(Error::failure("pg_dump did not finish within 15 minutes")),
        };
        let client = run.connect(db, Duration::from_secs(900)).await?;
        let (tables, data_sum) =
            super::table_data::back_up(&client, &t.schema_name, &mut out).await?;
        Ok((sha, bytes, tables, data_sum))
    }
    .await;
    run.finish(db).await;
    let (sha, bytes, tables, data_sum) = result.map_err(|e| e.context(&what))?;
    let side = BackupSidecar {
        format: SIDECAR_FORMAT,
        taken_at: now,
        taken_by: opts.actor.clone(),
        dump: archive::DUMP.to_string(),
        dump_sha256: Some(sha),
        dump_bytes: Some(bytes),
        pg_dump: Some(tool.describe()),
        data: data_sum.as_ref().map(|_| archive::DATA.to_string()),
        data_sha256: data_sum.as_ref().map(|d| d.0.clone()),
        data_bytes: data_sum.as_ref().map(|d| d.1),
        tables,
        grants: foreign_grants(db, t).await?,
        tenant: t.clone(),
    };
    let text = serde_json::to_string_pretty(&side)
        .map_err(|e| Error::failure(format!("cannot encode the backup sidecar: {e}")))?;
    out.add(archive::SIDECAR, text.as_bytes())
        .and_then(|_| out.commit())
        .map_err(|e| e.context(&what))
}

/// What a schema backup cannot hold and a drop would lose or leave behind:
/// large objects of the tenant's roles, and objects they own or were
/// granted in other databases. Catalog only. Empty when delete may go on.
async fn unbackupable(db: &Db, t: &Tenant) -> Result<Vec<String>> {
    let client = db.client().await?;
    let row = client
        .query_one(
            "WITH r AS (SELECT oid FROM pg_roles WHERE rolname = ANY ($1))
             SELECT (SELECT count(*) FROM pg_largeobject_metadata WHERE lomowner IN (SELECT oid FROM r)),
                    (SELECT array_agg(DISTINCT d.datname::text ORDER BY d.datname::text)
                     FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
                     WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid IN (SELECT oid FROM r)
                       AND d.datname <> current_database())",
            &[&own_roles(t)],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot look for the tenant's objects outside its schema"))?;
    let (lo, dbs): (i64, Option<Vec<String>>) = (row.get(0), row.get(1));
    let mut why = Vec::new();
    if lo > 0 {
        why.push(format!(
            "its roles own {lo} large object(s), which a schema backup cannot hold: export them (lo_export) and remove them (lo_unlink), then delete again"
        ));
    }
    if let Some(dbs) = dbs.filter(|d| !d.is_empty()) {
        why.push(format!(
            "its roles own objects or hold privileges in other databases ({}): drop or reassign them there (DROP OWNED BY in each), then delete again",
            dbs.join(", ")
        ));
    }
    Ok(why)
}

/// Delete a suspended tenant whose domain was typed back: back up (unless
/// `backup` is false), drop schema and roles, keep a `deleted` tombstone.
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
        let blockers = unbackupable(db, &t).await?;
        if !blockers.is_empty() {
            return Err(Error::refused(format!(
                "cannot delete tenant {}: {}",
                t.domain,
                blockers.join("; ")
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
        super::terminate_sessions(&tx, &t.role_name, &what).await?;
        runner::drop_leftover(&tx, &t).await?;
        let own = own_roles(&t);
        let runner = runner::runner_name(&t);
        let mut drop_roles: Vec<&str> = own
            .iter()
            .map(String::as_str)
            .filter(|r| *r != runner)
            .collect();
        drop_roles.dedup();
        tx.batch_execute(&roles::drop_all(&t.schema_name, &drop_roles))
            .await
            .map_err(|e| pg_error(&e, &what))?;
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

/// The dump and sidecar paths of an older backup (format 3 and before:
/// files side by side) given by either file.
pub fn legacy_backup_paths(file: &Path) -> (PathBuf, PathBuf) {
    match file.extension().and_then(|e| e.to_str()) {
        Some("json") => (file.with_extension("dump"), file.to_path_buf()),
        _ => (file.to_path_buf(), file.with_extension("json")),
    }
}

/// The data file an older sidecar names: a plain file name beside the dump.
fn legacy_data_path(dump: &Path, name: &str) -> Result<PathBuf> {
    let plain = Path::new(name)
        .file_name()
        .is_some_and(|f| f == std::ffi::OsStr::new(name));
    if !plain {
        return Err(Error::invalid(format!(
            "the backup sidecar names its data file {name:?}, which is not a file name beside the dump"
        )));
    }
    let p = dump.with_file_name(name);
    if !p.is_file() {
        return Err(Error::not_found(format!(
            "no backup file {}: an older backup needs its .dump, its .data and its .json sidecar side by side",
            p.display()
        )));
    }
    Ok(p)
}

/// Read a backup and check every checksum it records: the archive that
/// delete writes, or an older backup's `.dump` (or `.json`) with the files
/// beside it. Nothing in the database is touched.
pub fn read_backup(backup_file: &Path) -> Result<archive::VerifiedBackup> {
    if !backup_file.is_file() {
        return Err(Error::not_found(format!(
            "no backup file {}: give the .tar archive that delete wrote",
            backup_file.display()
        )));
    }
    let older = matches!(
        backup_file.extension().and_then(|e| e.to_str()),
        Some("dump" | "json")
    );
    if older && !archive::is_archive(backup_file) {
        return read_legacy_backup(backup_file);
    }
    archive::open(backup_file)
}

/// An older backup: the dump, the sidecar and the rows side by side.
fn read_legacy_backup(backup_file: &Path) -> Result<archive::VerifiedBackup> {
    let (dump, sidecar_path) = legacy_backup_paths(backup_file);
    for p in [&dump, &sidecar_path] {
        if !p.is_file() {
            return Err(Error::not_found(format!(
                "no backup file {}: {} is neither a backup archive nor an older backup's .dump with its .json sidecar beside it",
                p.display(),
                backup_file.display()
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
    if side.format > 3 {
        return Err(Error::invalid(format!(
            "{} is a sidecar of format {}, which lives inside a backup archive, not beside a dump: restore the .tar archive",
            sidecar_path.display(),
            side.format
        )));
    }
    let Some(want) = side.dump_sha256.as_deref() else {
        return Err(Error::refused(format!(
            "{} records no checksum of its dump (a backup taken before checksums), so it cannot be verified: restore it with the tenantctl that took it",
            sidecar_path.display()
        )));
    };
    let (got, bytes) = file_sha256(&dump)?;
    if !got.eq_ignore_ascii_case(want) || side.dump_bytes.is_some_and(|b| b != bytes) {
        return Err(Error::refused(format!(
            "{} does not match its sidecar's checksum: the dump was changed or damaged; nothing was restored",
            dump.display()
        )));
    }
    let data = match &side.data {
        None => None,
        Some(name) => {
            let data = legacy_data_path(&dump, name)?;
            let (got, bytes) = file_sha256(&data)?;
            if side
                .data_sha256
                .as_deref()
                .is_none_or(|want| !got.eq_ignore_ascii_case(want))
                || side.data_bytes.is_some_and(|b| b != bytes)
            {
                return Err(Error::refused(format!(
                    "{} does not match its sidecar's checksum: the hypertables' rows were changed or damaged; nothing was restored",
                    data.display()
                )));
            }
            archive::check_streams(&side, bytes).map_err(|w| {
                Error::refused(format!(
                    "{} is not an intact tenantctl backup ({w}); nothing was restored",
                    sidecar_path.display()
                ))
            })?;
            Some((data, 0))
        }
    };
    Ok(archive::VerifiedBackup {
        sidecar: side,
        dump: archive::DumpFile::Beside(dump),
        data,
    })
}

/// Bring a deleted tenant back from a backup taken by [`delete_tenant`]:
/// roles (login disabled), schema and data loaded as the tenant, row counts
/// checked, grants re-applied where their roles still exist; the row ends
/// `suspended`.
pub async fn restore_tenant(
    db: &Db,
    opts: &ProvisionOptions,
    backup_file: &Path,
) -> Result<Tenant> {
    ensure_writable(opts, "restore")?;
    let backup = read_backup(backup_file)?;
    let side = &backup.sidecar;
    let t = side.tenant.clone();
    if t.schema_name != object_name(&t.id) || t.role_name != t.schema_name {
        return Err(Error::invalid(format!(
            "{}: schema and role names do not match the tenant id",
            backup_file.display()
        )));
    }
    // Restored tenants get an owner role, whatever they had, except those
    // whose template gave the login role the schema (tenant DDL).
    let owner = if t.owner_role.as_deref() == Some(t.role_name.as_str()) {
        t.role_name.clone()
    } else {
        owner_name(&t.id)
    };
    let t = Tenant {
        name: crate::domain::tenant::validate_name(&t.name)?,
        domain: crate::domain::tenant::validate_domain(&t.domain)?,
        owner_role: Some(owner),
        ..t
    };
    ensure_privileges(db, "restore").await?;
    if side.tables.iter().any(|x| x.hypertable.is_some()) {
        let client = db.client().await?;
        if super::table_data::timescale(&client).await?.is_none() {
            return Err(Error::refused(format!(
                "cannot restore tenant {}: its backup holds hypertables and TimescaleDB is not installed in this database; install it (CREATE EXTENSION timescaledb), then restore",
                t.domain
            )));
        }
    }
    let start = Instant::now();
    let detail = json!({ "file": backup_file.display().to_string(), "domain": t.domain });
    let result = restore_inner(db, opts, &t, &backup, backup_file, start).await;
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

/// The application name of a restore's `pg_restore`, so that a restore
/// killed with its `pg_restore` still running can have that session ended.
fn restore_app_name(t: &Tenant) -> String {
    format!("tenantctl-restore-{}", t.id.simple())
}

/// Remove whatever a killed restore of `t` left: its `pg_restore` session,
/// the runner, the schema and the roles. The row stays `restoring`.
async fn clear_leftovers(db: &Db, t: &Tenant, what: &str) -> Result<()> {
    let client = db.client().await?;
    client
        .execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&restore_app_name(t)],
        )
        .await
        .map_err(|e| pg_error(&e, what))?;
    runner::drop_leftover(&client, t).await?;
    super::terminate_sessions(&client, &t.role_name, what).await?;
    client
        .batch_execute(&roles::drop_all(
            &t.schema_name,
            &[t.owner(), t.role_name.as_str()],
        ))
        .await
        .map_err(|e| pg_error(&e, what))
}

async fn restore_inner(
    db: &Db,
    opts: &ProvisionOptions,
    t: &Tenant,
    backup: &archive::VerifiedBackup,
    file: &Path,
    start: Instant,
) -> Result<Tenant> {
    let side = &backup.sidecar;
    let what = format!("cannot restore tenant {}", t.domain);
    let s = db.q_schema();
    let owner = t.owner().to_string();
    let client = db.client().await?;
    let row = client
        .query_one(
            &format!(
                "SELECT
                   (SELECT status FROM {s}.tenants WHERE id = $1),
                   EXISTS (SELECT 1 FROM {s}.tenants WHERE lower(domain) = $2 AND status <> 'deleted' AND id <> $1),
                   EXISTS (SELECT 1 FROM pg_roles WHERE rolname IN ($3, $4)),
                   EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $3)"
            ),
            &[&t.id, &t.domain, &t.role_name, &owner],
        )
        .await
        .map_err(|e| pg_error(&e, &what))?;
    let (status, live_domain, role, schema): (Option<String>, bool, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let resuming = status.as_deref() == Some("restoring");
    if status
        .as_deref()
        .is_some_and(|s| s != "deleted" && s != "restoring")
    {
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
    if resuming {
        // A restore of this tenant was killed: start again from nothing.
        clear_leftovers(db, t, &what).await?;
    } else if role || schema {
        return Err(Error::conflict(format!(
            "{what}: a role or schema named {} already exists",
            t.role_name
        )));
    }
    drop(client);

    // 1. The row says `restoring` before any object exists; roles and an
    //    empty schema owned by the owner, the login role disabled.
    {
        let mut client = db.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| pg_error(&e, &what))?;
        let settings = &t.settings.value();
        let timeout_ms = t.statement_timeout.and_then(|v| i64::try_from(v).ok());
        let quota = t.storage_quota_bytes.and_then(|v| i64::try_from(v).ok());
        tx.execute(
            &format!(
                "INSERT INTO {s}.tenants AS t (id, name, domain, schema_name, role_name, owner_role, status,
                     template, template_version, settings, connection_limit, statement_timeout,
                     storage_quota_bytes, warnings, created_at, created_by, provision_ms, quota_blocked)
                 VALUES ($1, $2, $3, $4, $4, $15, 'restoring', $5, $6, $7, $8,
                     $9::bigint * interval '1 millisecond', $10, $11, $12, $13, $14, $16)
                 ON CONFLICT (id) DO UPDATE SET status = 'restoring', deleted_at = NULL,
                     name = EXCLUDED.name, domain = EXCLUDED.domain, owner_role = EXCLUDED.owner_role
                 WHERE t.status IN ('deleted', 'restoring')"
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
                &owner,
                &t.quota_blocked,
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
        let op = roles::operator(&tx).await?;
        let limits = roles::Limits {
            connection_limit: t.connection_limit,
            statement_timeout: t.statement_timeout.map(Duration::from_millis),
            idle_in_transaction_timeout: t
                .idle_in_transaction_timeout
                .map(Duration::from_millis)
                .or(opts.idle_in_transaction_timeout),
            temp_file_limit: t.temp_file_limit_bytes.or(opts.temp_file_limit),
        };
        let mut ddl = roles::create(
            &owner,
            &t.role_name,
            &t.schema_name,
            &limits,
            &op,
            None,
            false,
        );
        ddl.push_str(&roles::cut_access(
            &t.role_name,
            &t.schema_name,
            &owner,
            None,
        ));
        tx.batch_execute(&ddl)
            .await
            .map_err(|e| pg_error(&e, &what))?;
        tx.commit().await.map_err(|e| pg_error(&e, &what))?;
    }

    // 2. Data and objects, loaded as the tenant in one transaction.
    let run = Runner::start(db, t).await?;
    let loaded = load_as_tenant(db, &run, t, backup).await;
    run.finish(db).await;
    let skipped = match loaded {
        Ok(()) => apply_grants(db, t, side).await,
        Err(e) => Err(e),
    };
    let skipped = match skipped {
        Ok(s) => s,
        Err(e) => {
            if let Err(c) = clear_leftovers(db, t, &what).await {
                tracing::warn!(tenant = %t.domain, "restore failed and its cleanup too: {}", c.message);
            } else if let Ok(c) = db.client().await {
                // Nothing of the restore is left: the row is a tombstone again.
                let _ = c
                    .execute(
                        &format!(
                            "UPDATE {s}.tenants SET status = 'deleted', deleted_at = now()
                             WHERE id = $1 AND status = 'restoring'"
                        ),
                        &[&t.id],
                    )
                    .await;
            }
            return Err(e.context(&what));
        }
    };

    // 3. Done: suspended, audited.
    let mut client = db.client().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error(&e, &what))?;
    let row = tx
        .query_one(
            &format!(
                "UPDATE {s}.tenants SET status = 'suspended' WHERE id = $1 AND status = 'restoring'
                 RETURNING {TENANT_COLUMNS}"
            ),
            &[&t.id],
        )
        .await
        .map_err(|e| pg_error(&e, &what))?;
    let detail = json!({
        "file": file.display().to_string(),
        "domain": t.domain,
        "verified": { "sha256": side.dump_sha256, "tables": side.tables.len() },
        "grants_skipped": skipped,
        "resumed_killed_restore": resuming,
    });
    audit::write(
        db,
        &tx,
        &opts.actor,
        "restore",
        Some(t.id),
        "ok",
        &detail,
        Some(ms_i32(start.elapsed())),
    )
    .await?;
    tx.commit().await.map_err(|e| pg_error(&e, &what))?;
    from_row(&row)
}

/// `pg_restore` as the runner (acting as the owner) into the existing
/// schema, objects and data only, in one transaction; then the
/// hypertables' rows, and every table's row count and checksum against
/// the sidecar.
async fn load_as_tenant(
    db: &Db,
    run: &Runner,
    t: &Tenant,
    backup: &archive::VerifiedBackup,
) -> Result<()> {
    let side = &backup.sidecar;
    let dump = backup.dump.path();
    let tool = crate::local_cluster::client_tool("pg_restore")?;
    let bin = tool.path.clone();
    // The table of contents without the schema itself (it exists, owned by
    // the owner, who may not create schemas).
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.arg("--list").arg(dump);
    let toc = run_tool(cmd, "pg_restore").await?;
    let toc = String::from_utf8_lossy(&toc);
    let schema_entry = format!(" SCHEMA - {} ", t.schema_name);
    let list: String = toc
        .lines()
        .filter(|l| !l.contains(&schema_entry))
        .flat_map(|l| [l, "\n"])
        .collect();
    let list_file = tempfile::Builder::new()
        .prefix("tenantctl-restore-")
        .tempfile()
        .map_err(|e| Error::failure(format!("cannot write the restore list: {e}")))?;
    std::fs::write(list_file.path(), list)
        .map_err(|e| Error::failure(format!("cannot write the restore list: {e}")))?;

    let mut cmd = tokio::process::Command::new(&bin);
    pg_env(&mut cmd, db);
    run.env(&mut cmd);
    cmd.env("PGAPPNAME", restore_app_name(t))
        .arg("--single-transaction")
        .arg("--exit-on-error")
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg(format!("--role={}", run.owner))
        .arg(format!("--schema={}", t.schema_name))
        .arg("--use-list")
        .arg(list_file.path());
    if tool.version.0 >= 17 && server_version(db).await? < 170_000 {
        // Through psql, as the runner too: see `restore_through_psql`.
        cmd.arg(dump);
        let psql = crate::local_cluster::client_tool("psql")?;
        let mut apply = tokio::process::Command::new(&psql.path);
        pg_env(&mut apply, db);
        run.env(&mut apply);
        apply.env("PGAPPNAME", restore_app_name(t));
        restore_through_psql(cmd, apply, &db.params.dbname).await?;
    } else {
        cmd.arg("--dbname").arg(&db.params.dbname).arg(dump);
        run_tool(cmd, "pg_restore").await?;
    }

    // Hypertables again, their rows, and every table checked, in one
    // transaction of the tenant's: a mismatch leaves none of it.
    let client = run.connect(db, Duration::from_secs(900)).await?;
    let data = backup.data.as_ref().map(|(p, o)| (p.as_path(), *o));
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| pg_error(&e, "cannot begin loading the hypertables"))?;
    super::table_data::restore_hypertables(&client, &t.schema_name, &side.tables, data).await?;
    let diff = super::table_data::verify(&client, &t.schema_name, &side.tables).await?;
    if !diff.is_empty() {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(Error::refused(format!(
            "the restored rows do not match the backup's counts and checksums ({}); nothing was restored",
            diff.join("; ")
        )));
    }
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| pg_error(&e, "cannot commit the hypertables' rows"))?;
    Ok(())
}

const PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
    "USAGE",
    "CREATE",
    "MAINTAIN",
];

/// The login role's privileges, the owner's default privileges, and the
/// recorded grants to other roles that still exist. Returns the grants
/// skipped because their role is gone. Statements only; no tenant code.
async fn apply_grants(db: &Db, t: &Tenant, side: &BackupSidecar) -> Result<Vec<String>> {
    let what = "cannot re-apply the tenant's privileges";
    let mut client = db.client().await?;
    let tx = client.transaction().await.map_err(|e| pg_error(&e, what))?;
    let grantees: Vec<String> = side.grants.iter().map(|g| g.grantee.clone()).collect();
    let existing: std::collections::HashSet<String> = tx
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname = ANY ($1)",
            &[&grantees],
        )
        .await
        .map_err(|e| pg_error(&e, what))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let owner = t.owner();
    let mut sql = roles::grant_existing(&t.role_name, &t.schema_name, t.quota_blocked);
    sql.push_str(&roles::default_privileges(
        owner,
        &t.role_name,
        &t.schema_name,
    ));
    // Suspended: the login role's schema USAGE stays revoked until resume.
    sql.push_str(&roles::cut_access(
        &t.role_name,
        &t.schema_name,
        owner,
        None,
    ));
    let mut skipped = Vec::new();
    let s = quote_ident(&t.schema_name);
    for g in &side.grants {
        let desc = format!(
            "{} on {} {} to {}",
            g.privilege, g.kind, g.object, g.grantee
        );
        if !existing.contains(&g.grantee) {
            skipped.push(desc);
            continue;
        }
        let Some(privilege) = PRIVILEGES.iter().find(|p| **p == g.privilege) else {
            skipped.push(format!("{desc} (unknown privilege)"));
            continue;
        };
        let target = match g.kind.as_str() {
            "schema" => format!("SCHEMA {s}"),
            "table" => format!("TABLE {s}.{}", quote_ident(&g.object)),
            "sequence" => format!("SEQUENCE {s}.{}", quote_ident(&g.object)),
            _ => {
                skipped.push(format!("{desc} (unknown object kind)"));
                continue;
            }
        };
        let _ = writeln!(
            sql,
            "GRANT {privilege} ON {target} TO {};",
            quote_ident(&g.grantee)
        );
    }
    tx.batch_execute(&sql)
        .await
        .map_err(|e| pg_error(&e, what))?;
    tx.commit().await.map_err(|e| pg_error(&e, what))?;
    Ok(skipped)
}
