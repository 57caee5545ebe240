//! Leases: coordination between tenantctl processes through rows of the
//! control schema's `leases` table, which tenants cannot read or lock.
//! Advisory locks would not do: any role in the database can take an
//! advisory key first and so stop every console from doing its job.

use std::time::Duration;

use uuid::Uuid;

use super::{pg_error, quote_ident};
use crate::error::Result;

/// This process's name on leases: unique per process.
pub fn holder() -> &'static str {
    static HOLDER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOLDER.get_or_init(|| format!("{}:{}", std::process::id(), Uuid::new_v4().simple()))
}

/// Take or renew the lease `name` for `ttl`: granted when this process
/// holds it already or when its holder let it lapse. One indexed update.
pub async fn try_take(
    client: &tokio_postgres::Client,
    control_schema: &str,
    name: &str,
    ttl: Duration,
) -> Result<bool> {
    let sql = format!(
        "UPDATE {}.leases SET holder = $1, expires_at = now() + $3::bigint * interval '1 millisecond'
         WHERE name = $2 AND (holder = $1 OR expires_at < now())
         RETURNING 1",
        quote_ident(control_schema)
    );
    let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    client
        .query_opt(&sql, &[&holder(), &name, &ms])
        .await
        .map(|r| r.is_some())
        .map_err(|e| pg_error(&e, &format!("cannot take the {name} lease")))
}
