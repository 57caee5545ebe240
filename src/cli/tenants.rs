//! Tenant subcommands: argument handling and output only; the work is done
//! by `db::provision`, `db::tenants` and `db::audit`.

use crate::{out, outln};
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use clap::Args;

use super::output::{print_json, table};
use crate::config::Config;
use crate::db::provision::{self, ProvisionOptions};
use crate::db::{self, Db};
use crate::domain::tenant::{
    NewTenant, Tenant, TenantStatus, TenantUpdate, validate_connection_limit, validate_settings,
    validate_statement_timeout, validate_template_name,
};
use crate::domain::units::{format_duration, format_size, parse_duration, parse_size};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only tenants in this status (provisioning, active, suspended, deleted).
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    #[arg(long)]
    pub csv: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Tenant id, domain or schema name.
    pub tenant: String,
    #[arg(long)]
    pub json: bool,
}

/// Limits and settings shared by create and update.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Maximum concurrent sessions of the tenant role (-1 = unlimited).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub connection_limit: Option<String>,
    /// Per-statement time limit for the tenant role, e.g. 30s or 2m.
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub statement_timeout: Option<String>,
    /// Storage quota, e.g. 10GB.
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub storage_quota: Option<String>,
    /// Settings as a JSON object (`-` reads it from stdin).
    #[arg(long, value_name = "JSON", allow_hyphen_values = true)]
    pub settings: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long, allow_hyphen_values = true)]
    pub name: String,
    #[arg(long, allow_hyphen_values = true)]
    pub domain: String,
    /// Template name (a file in the template directory).
    #[arg(long, allow_hyphen_values = true)]
    pub template: Option<String>,
    /// Create at this older template version (the baseline plus the
    /// migrations up to it) instead of the current one.
    #[arg(long, value_name = "N")]
    pub template_version: Option<i32>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Tenant id, domain or schema name.
    pub tenant: String,
    #[arg(long, allow_hyphen_values = true)]
    pub name: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Remove the statement timeout (the server's default applies again).
    #[arg(long, conflicts_with = "statement_timeout")]
    pub no_statement_timeout: bool,
    /// Remove the storage quota.
    #[arg(long, conflicts_with = "storage_quota")]
    pub no_storage_quota: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SuspendArgs {
    pub tenant: String,
    /// Why, for the audit log.
    #[arg(long, allow_hyphen_values = true)]
    pub reason: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TenantArgs {
    pub tenant: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The tenant (id, domain or schema name); omit with --all.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub tenant: Option<String>,
    /// Every tenant that has no owner role yet, one transaction each.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    pub tenant: String,
    /// The tenant's domain, typed back.
    #[arg(long, value_name = "DOMAIN", allow_hyphen_values = true)]
    pub confirm: String,
    /// Skip the backup (one .tar archive in the backup directory: the
    /// schema's pg_dump, the hypertables' rows, their checksums).
    #[arg(long)]
    pub no_backup: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup archive (.tar) written by delete; every checksum in it is
    /// checked before anything is restored. An older backup's .dump (with
    /// its .json sidecar beside it) is also accepted.
    pub backup_file: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this tenant (id, domain or schema name).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only rows since: RFC 3339 time, a date (2024-05-01) or an age (2h, 7d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// At most this many rows, newest first.
    #[arg(long, default_value_t = 100)]
    pub limit: i64,
    #[arg(long)]
    pub json: bool,
}

async fn connect(config: &Config) -> Result<Db> {
    let db = Db::connect(config).await?;
    db::migrate::check(&db).await?;
    Ok(db)
}

fn opts(config: &Config, action: &str) -> Result<ProvisionOptions> {
    let o = ProvisionOptions::from_config(config);
    provision::ensure_writable(&o, action)?;
    Ok(o)
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(
        || "-".into(),
        |m| format_duration(std::time::Duration::from_millis(m)),
    )
}

fn quota(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), format_size)
}

fn limit(n: i32) -> String {
    if n < 0 {
        "unlimited".into()
    } else {
        n.to_string()
    }
}

fn show_tenant(t: &Tenant) -> String {
    let mut rows = vec![
        vec!["id".into(), t.id.to_string()],
        vec!["name".into(), t.name.clone()],
        vec!["domain".into(), t.domain.clone()],
        vec!["status".into(), t.status.to_string()],
        vec!["schema / role".into(), t.schema_name.clone()],
        vec![
            "template".into(),
            format!("{} v{}", t.template, t.template_version),
        ],
        vec!["connection limit".into(), limit(t.connection_limit)],
        vec!["statement timeout".into(), ms(t.statement_timeout)],
        vec!["storage quota".into(), quota(t.storage_quota_bytes)],
        vec!["settings".into(), t.settings.to_string()],
        vec![
            "created".into(),
            format!("{} by {}", t.created_at, t.created_by),
        ],
        vec!["updated".into(), t.updated_at.to_string()],
        vec![
            "provisioned in".into(),
            t.provision_ms
                .map_or_else(|| "-".into(), |m| format!("{m} ms")),
        ],
    ];
    for w in &t.warnings {
        rows.push(vec!["warning".into(), w.clone()]);
    }
    table(&["FIELD", "VALUE"], &rows)
}

fn parse_limits(l: &LimitArgs) -> Result<TenantUpdate> {
    Ok(TenantUpdate {
        name: None,
        connection_limit: l
            .connection_limit
            .as_deref()
            .map(|s| {
                let n: i64 = s.trim().parse().map_err(|_| {
                    Error::invalid(format!(
                        "connection limit \"{}\" is not a whole number",
                        crate::domain::sanitize::clean(s)
                    ))
                })?;
                validate_connection_limit(n)
            })
            .transpose()?,
        statement_timeout: l
            .statement_timeout
            .as_deref()
            .map(|s| parse_duration(s).and_then(validate_statement_timeout))
            .transpose()?,
        storage_quota_bytes: l.storage_quota.as_deref().map(parse_size).transpose()?,
        settings: match l.settings.as_deref() {
            Some("-") => Some(validate_settings(&super::output::read_stdin(
                "the settings",
            )?)?),
            Some(s) => Some(validate_settings(s)?),
            None => None,
        },
        clear_statement_timeout: false,
        clear_storage_quota: false,
    })
}

/// CSV columns of `list`.
pub(super) const LIST_CSV: &[&str] = &[
    "id",
    "name",
    "domain",
    "schema_name",
    "status",
    "template",
    "template_version",
    "connection_limit",
    "statement_timeout_ms",
    "storage_quota_bytes",
    "created_at",
];

/// One CSV line of `list`.
pub(super) fn list_csv_row(t: &Tenant) -> Vec<String> {
    vec![
        t.id.to_string(),
        t.name.clone(),
        t.domain.clone(),
        t.schema_name.clone(),
        t.status.to_string(),
        t.template.clone(),
        t.template_version.to_string(),
        t.connection_limit.to_string(),
        t.statement_timeout
            .map(|v| v.to_string())
            .unwrap_or_default(),
        t.storage_quota_bytes
            .map(|v| v.to_string())
            .unwrap_or_default(),
        t.created_at.to_rfc3339(),
    ]
}

/// Table headers of `list` (wide adds id, schema and creator).
pub(super) fn list_headers(wide: bool) -> Vec<&'static str> {
    let mut headers = vec![
        "NAME", "DOMAIN", "STATUS", "TEMPLATE", "CONN", "TIMEOUT", "QUOTA", "CREATED",
    ];
    if wide {
        headers.insert(0, "ID");
        headers.extend(["SCHEMA / ROLE", "CREATED BY"]);
    }
    headers
}

/// One table line of `list`.
pub(super) fn list_row(t: &Tenant, wide: bool) -> Vec<String> {
    let mut r = vec![
        crate::domain::sanitize::clean_truncate(&t.name, 40),
        t.domain.clone(),
        t.status.to_string(),
        format!("{} v{}", t.template, t.template_version),
        limit(t.connection_limit),
        ms(t.statement_timeout),
        quota(t.storage_quota_bytes),
        t.created_at.format("%Y-%m-%d %H:%M").to_string(),
    ];
    if wide {
        r.insert(0, t.id.to_string());
        r.push(t.schema_name.clone());
        r.push(t.created_by.clone());
    }
    r
}

pub async fn list(config: &Config, a: &ListArgs) -> Result<i32> {
    let status = a.status.as_deref().map(TenantStatus::parse).transpose()?;
    if config.fleet {
        return super::fleet::list(config, a, status).await;
    }
    let db = connect(config).await?;
    let tenants = db::tenants::list_tenants(&db, status).await?;
    if super::output::structured(a.json) {
        print_json(&tenants);
        return Ok(0);
    }
    let format = super::output::format(false);
    if a.csv || format == super::output::Format::Csv {
        let rows: Vec<Vec<String>> = tenants.iter().map(list_csv_row).collect();
        out!(
            "{}",
            super::output::csv_opts(LIST_CSV, &rows, !super::output::no_headers())
        );
        return Ok(0);
    }
    if tenants.is_empty() {
        outln!("no tenants");
        return Ok(0);
    }
    let wide = format == super::output::Format::Wide;
    let rows: Vec<Vec<String>> = tenants.iter().map(|t| list_row(t, wide)).collect();
    super::output::print_rows(&list_headers(wide), &rows);
    Ok(0)
}

pub async fn show(config: &Config, a: &ShowArgs) -> Result<i32> {
    let db = connect(config).await?;
    let t = db::tenants::find_tenant(&db, &a.tenant).await?;
    if super::output::structured(a.json) {
        print_json(&t);
    } else {
        out!("{}", show_tenant(&t));
    }
    Ok(0)
}

pub async fn create(config: &Config, a: &CreateArgs) -> Result<i32> {
    let o = opts(config, "create")?;
    let limits = parse_limits(&a.limits)?;
    let p = &config.provisioning;
    let req = NewTenant {
        name: a.name.clone(),
        domain: a.domain.clone(),
        template: validate_template_name(a.template.as_deref().unwrap_or(&p.default_template))?,
        connection_limit: limits
            .connection_limit
            .unwrap_or(p.default_connection_limit),
        statement_timeout: limits
            .statement_timeout
            .or(Some(p.default_statement_timeout.0)),
        storage_quota_bytes: limits
            .storage_quota_bytes
            .or(p.default_storage_quota.map(|s| s.0)),
        settings: limits
            .settings
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new())),
    };
    let req = provision::validate_new(&req)?;
    // Load the template before connecting: an unknown one changes nothing.
    let tpl = crate::template_files::load(&o.template_dir, &req.template)?;
    if let Some(v) = a.template_version {
        tpl.body_at(v)?;
    }
    let db = connect(config).await?;
    let steps = Mutex::new(Vec::new());
    let t = provision::create_tenant_at(&db, &o, &req, a.template_version, &|s| {
        if let Ok(mut v) = steps.lock() {
            v.push(s);
        }
    })
    .await?;
    if super::output::structured(a.json) {
        print_json(&t);
        return Ok(0);
    }
    outln!(
        "created tenant {} ({}) in {} ms: schema and role {}",
        t.domain,
        t.id,
        t.provision_ms.unwrap_or(0),
        t.schema_name
    );
    if let Ok(v) = steps.lock() {
        let parts: Vec<String> = v
            .iter()
            .map(|s| format!("{} {:.1}ms", s.name, s.elapsed.as_secs_f64() * 1000.0))
            .collect();
        outln!("  steps: {}", parts.join(", "));
    }
    for w in &t.warnings {
        outln!("  warning: {}", crate::domain::sanitize::clean(w));
    }
    Ok(0)
}

pub async fn update(config: &Config, a: &UpdateArgs) -> Result<i32> {
    let o = opts(config, "update")?;
    let mut upd = parse_limits(&a.limits)?;
    upd.name = a
        .name
        .as_deref()
        .map(crate::domain::tenant::validate_name)
        .transpose()?;
    upd.clear_statement_timeout = a.no_statement_timeout;
    upd.clear_storage_quota = a.no_storage_quota;
    if upd.is_empty() {
        return Err(Error::invalid(
            "nothing to update: give --name, --connection-limit, --statement-timeout, --storage-quota, --settings, --no-statement-timeout or --no-storage-quota",
        ));
    }
    let db = connect(config).await?;
    let t = db::tenants::find_tenant(&db, &a.tenant).await?;
    let t = provision::update_tenant(&db, &o, t.id, &upd).await?;
    if super::output::structured(a.json) {
        print_json(&t);
    } else {
        outln!("updated tenant {}", t.domain);
        out!("{}", show_tenant(&t));
    }
    Ok(0)
}

pub async fn suspend(config: &Config, a: &SuspendArgs) -> Result<i32> {
    let o = opts(config, "suspend")?;
    let db = connect(config).await?;
    let t = db::tenants::find_tenant(&db, &a.tenant).await?;
    let t = provision::suspend_tenant(&db, &o, t.id, a.reason.as_deref()).await?;
    if super::output::structured(a.json) {
        print_json(&t);
    } else {
        outln!(
            "suspended tenant {}: logins refused, sessions ended",
            t.domain
        );
    }
    Ok(0)
}

pub async fn resume(config: &Config, a: &TenantArgs) -> Result<i32> {
    let o = opts(config, "resume")?;
    let db = connect(config).await?;
    let t = db::tenants::find_tenant(&db, &a.tenant).await?;
    let t = provision::resume_tenant(&db, &o, t.id).await?;
    if super::output::structured(a.json) {
        print_json(&t);
    } else {
        outln!("resumed tenant {}: logins allowed again", t.domain);
    }
    Ok(0)
}

pub async fn convert(config: &Config, a: &ConvertArgs) -> Result<i32> {
    let o = opts(config, "convert")?;
    let db = connect(config).await?;
    let targets: Vec<crate::domain::tenant::Tenant> = match &a.tenant {
        Some(t) => vec![db::tenants::find_tenant(&db, t).await?],
        None => db::tenants::list_tenants(&db, None)
            .await?
            .into_iter()
            .filter(|t| t.owner_role.is_none())
            .collect(),
    };
    let mut done = Vec::new();
    let mut failed = 0;
    for t in &targets {
        match provision::convert_tenant(&db, &o, t.id).await {
            Ok(c) => {
                if !a.json {
                    crate::outln!(
                        "converted tenant {}: owner role {}",
                        c.domain,
                        c.owner_role.as_deref().unwrap_or("")
                    );
                }
                done.push(c);
            }
            Err(e) if a.tenant.is_some() => return Err(e),
            Err(e) => {
                failed += 1;
                eprintln!("tenantctl: {}: {}", t.domain, e.message);
            }
        }
    }
    if a.json {
        print_json(&serde_json::json!({ "converted": done, "failed": failed }));
    } else if targets.is_empty() {
        crate::outln!("every tenant has an owner role already");
    }
    Ok(i32::from(failed > 0))
}

pub async fn delete(config: &Config, a: &DeleteArgs) -> Result<i32> {
    let o = opts(config, "delete")?;
    let db = connect(config).await?;
    let t = db::tenants::find_tenant(&db, &a.tenant).await?;
    let out = provision::delete_tenant(&db, &o, t.id, &a.confirm, !a.no_backup).await?;
    if super::output::structured(a.json) {
        print_json(&out);
    } else if let Some(p) = &out.backup_path {
        outln!(
            "deleted tenant {}; backup in {}",
            out.tenant.domain,
            p.display()
        );
    } else {
        outln!("deleted tenant {} (no backup taken)", out.tenant.domain);
    }
    Ok(0)
}

pub async fn restore(config: &Config, a: &RestoreArgs) -> Result<i32> {
    let o = opts(config, "restore")?;
    let db = connect(config).await?;
    let t = provision::restore_tenant(&db, &o, &a.backup_file).await?;
    if super::output::structured(a.json) {
        print_json(&t);
    } else {
        outln!(
            "restored tenant {} ({}) as suspended: resume it to allow logins",
            t.domain,
            t.id
        );
    }
    Ok(0)
}

pub async fn credentials(config: &Config, a: &TenantArgs) -> Result<i32> {
    let o = opts(config, "credentials")?;
    let db = connect(config).await?;
    let t = db::tenants::find_tenant(&db, &a.tenant).await?;
    let (t, secret) = provision::set_credentials(&db, &o, t.id).await?;
    if super::output::structured(a.json) {
        print_json(&serde_json::json!({
            "tenant": t.id, "domain": t.domain, "role": t.role_name, "password": secret.expose(),
        }));
    } else {
        outln!(
            "new password for role {} (tenant {}), shown once and stored nowhere:",
            t.role_name,
            t.domain
        );
        outln!("{}", secret.expose());
    }
    Ok(0)
}

/// `--since`: the one time grammar (`crate::domain::units::parse_time`).
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    crate::domain::units::parse_time(s, now)
}

pub async fn audit(config: &Config, a: &AuditArgs) -> Result<i32> {
    let since = a
        .since
        .as_deref()
        .map(|s| parse_since(s, Utc::now()))
        .transpose()?;
    if a.limit < 1 {
        return Err(Error::invalid("--limit must be at least 1"));
    }
    let db = connect(config).await?;
    let tenant = match &a.tenant {
        Some(k) => Some(db::tenants::find_tenant(&db, k).await?.id),
        None => None,
    };
    let rows = db::audit::list_audit(&db, tenant, since, a.limit).await?;
    if super::output::structured(a.json) {
        print_json(&rows);
        return Ok(0);
    }
    if rows.is_empty() {
        outln!("no audit entries");
        return Ok(0);
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let detail = r
                .detail
                .get("error")
                .and_then(|e| e.as_str())
                .map_or_else(|| r.detail.to_string(), str::to_string);
            vec![
                r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.actor.clone(),
                r.action.clone(),
                r.tenant_id.map(|t| t.to_string()).unwrap_or_default(),
                r.outcome.clone(),
                r.duration_ms.map(|d| format!("{d}ms")).unwrap_or_default(),
                crate::domain::sanitize::clean_truncate(&detail, 80),
            ]
        })
        .collect();
    super::output::print_rows(
        &[
            "AT", "ACTOR", "ACTION", "TENANT", "OUTCOME", "TOOK", "DETAIL",
        ],
        &table_rows,
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        let now = DateTime::parse_from_rfc3339("2024-05-02T00:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(
            parse_since("2h", now).expect("age"),
            now - chrono::Duration::hours(2)
        );
        assert_eq!(
            parse_since("2024-05-01", now).expect("date").to_rfc3339(),
            "2024-05-01T00:00:00+00:00"
        );
        assert!(parse_since("yesterday", now).is_err());
        assert_eq!(
            parse_since("2026-12-01 10:00", now)
                .expect("as usage export takes it")
                .to_rfc3339(),
            "2026-12-01T10:00:00+00:00"
        );
    }
}
