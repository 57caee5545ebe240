//! The tenant repository: reading `tenants` rows. Changes go through
//! [`super::provision`], which keeps the row, the role and the schema in step.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::{Db, pg_error};
use crate::domain::tenant::{Tenant, TenantStatus};
use crate::error::{Error, Result};

/// The select list every tenant query uses; [`from_row`] reads it.
pub const TENANT_COLUMNS: &str = "id, name, domain, schema_name, role_name, owner_role, status, \
     template, template_version, settings, connection_limit, \
     (extract(epoch FROM statement_timeout) * 1000)::bigint AS statement_timeout_ms, \
     storage_quota_bytes, \
     (extract(epoch FROM idle_in_transaction_timeout) * 1000)::bigint AS idle_timeout_ms, \
     temp_file_limit_bytes, quota_blocked, \
     warnings, created_at, updated_at, created_by, provision_ms";

/// One row selected with [`TENANT_COLUMNS`] as a [`Tenant`].
pub fn from_row(r: &Row) -> Result<Tenant> {
    let status: String = r.get("status");
    let timeout: Option<i64> = r.get("statement_timeout_ms");
    let quota: Option<i64> = r.get("storage_quota_bytes");
    let idle: Option<i64> = r.get("idle_timeout_ms");
    let temp: Option<i64> = r.get("temp_file_limit_bytes");
    Ok(Tenant {
        id: r.get("id"),
        name: r.get("name"),
        domain: r.get("domain"),
        schema_name: r.get("schema_name"),
        role_name: r.get("role_name"),
        owner_role: r.get("owner_role"),
        status: TenantStatus::parse(&status)?,
        template: r.get("template"),
        template_version: r.get("template_version"),
        settings: r.get::<_, serde_json::Value>("settings").into(),
        connection_limit: r.get("connection_limit"),
        statement_timeout: timeout.and_then(|t| u64::try_from(t).ok()),
        storage_quota_bytes: quota.and_then(|q| u64::try_from(q).ok()),
        idle_in_transaction_timeout: idle.and_then(|t| u64::try_from(t).ok()),
        temp_file_limit_bytes: temp.and_then(|t| u64::try_from(t).ok()),
        quota_blocked: r.get("quota_blocked"),
        warnings: r.get("warnings"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        created_by: r.get("created_by"),
        provision_ms: r.get("provision_ms"),
    })
}

/// Tenants by name; `None` lists every tenant except deleted tombstones,
/// `Some(Deleted)` lists only those. One indexed scan of `tenants`.
pub async fn list_tenants(db: &Db, status: Option<TenantStatus>) -> Result<Vec<Tenant>> {
    use futures::TryStreamExt;
    let client = db.client().await?;
    let s = db.q_schema();
    let what = "cannot list tenants";
    let status = status.map(TenantStatus::as_str);
    let (sql, params): (String, Vec<&(dyn ToSql + Sync)>) = match &status {
        None => (
            format!(
                "SELECT {TENANT_COLUMNS} FROM {s}.tenants WHERE status <> 'deleted' ORDER BY lower(name), domain"
            ),
            Vec::new(),
        ),
        Some(st) => (
            format!(
                "SELECT {TENANT_COLUMNS} FROM {s}.tenants WHERE status = $1 ORDER BY lower(name), domain"
            ),
            vec![st as &(dyn ToSql + Sync)],
        ),
    };
    // Row by row: 50,000 rows of twenty columns held at once as driver
    // rows took about 40 MB on top of the list they became.
    let stream = client
        .query_raw(sql.as_str(), params)
        .await
        .map_err(|e| pg_error(&e, what))?;
    let mut stream = std::pin::pin!(stream);
    let mut out = Vec::new();
    while let Some(r) = stream.try_next().await.map_err(|e| pg_error(&e, what))? {
        out.push(from_row(&r)?);
    }
    // Held for as long as it is current: no spare capacity.
    out.shrink_to_fit();
    Ok(out)
}

/// One tenant by id (tombstones included); NotFound when absent.
pub async fn get_tenant(db: &Db, id: Uuid) -> Result<Tenant> {
    let client = db.client().await?;
    let row = client
        .query_opt(
            &format!(
                "SELECT {TENANT_COLUMNS} FROM {}.tenants WHERE id = $1",
                db.q_schema()
            ),
            &[&id],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the tenant"))?;
    match row {
        Some(r) => from_row(&r),
        None => Err(Error::not_found(format!("no tenant with id {id}"))),
    }
}

/// [`get_tenant`] on the caller's connection, as a cached statement (so it
/// can be pipelined behind another).
pub async fn get_tenant_on(
    db: &Db,
    client: &deadpool_postgres::Object,
    id: Uuid,
) -> Result<Tenant> {
    let what = "cannot read the tenant";
    let stmt = prepare_get_tenant(db, client).await?;
    match client
        .query_opt(&stmt, &[&id])
        .await
        .map_err(|e| pg_error(&e, what))?
    {
        Some(r) => from_row(&r),
        None => Err(Error::not_found(format!("no tenant with id {id}"))),
    }
}

/// [`get_tenant_on`]'s statement, prepared once per connection.
pub async fn prepare_get_tenant(
    db: &Db,
    client: &deadpool_postgres::Object,
) -> Result<tokio_postgres::Statement> {
    client
        .prepare_cached(&format!(
            "SELECT {TENANT_COLUMNS} FROM {}.tenants WHERE id = $1",
            db.q_schema()
        ))
        .await
        .map_err(|e| pg_error(&e, "cannot read the tenant"))
}

/// A tenant by id, domain (case-insensitive) or schema name. A live tenant
/// wins over tombstones of the same domain; among tombstones the newest.
pub async fn find_tenant(db: &Db, key: &str) -> Result<Tenant> {
    let key = key.trim();
    if let Ok(id) = Uuid::parse_str(key) {
        return get_tenant(db, id).await;
    }
    let client = db.client().await?;
    let lowered = key.to_lowercase();
    let params: [&(dyn ToSql + Sync); 1] = [&lowered];
    let row = client
        .query_opt(
            &format!(
                "SELECT {TENANT_COLUMNS} FROM {}.tenants
                 WHERE lower(domain) = $1 OR schema_name = $1
                 ORDER BY (status = 'deleted'), updated_at DESC LIMIT 1",
                db.q_schema()
            ),
            &params,
        )
        .await
        .map_err(|e| pg_error(&e, "cannot look up the tenant"))?;
    match row {
        Some(r) => from_row(&r),
        None => Err(Error::not_found(format!(
            "no tenant with id, domain or schema \"{}\"",
            crate::domain::sanitize::clean_truncate(key, 80)
        ))),
    }
}
