//! Leases: coordination between tenantctl processes through rows of the
//! control schema's `leases` table, which tenants cannot read or lock.
//! Advisory locks would not do: any role in the database can take an
//! advisory key first and so stop every console from doing its job.
//!
//! A lease is held by a database session (its pid and start time): like an
//! advisory lock it is free again as soon as that session ends, and it also
//! lapses when its holder stops renewing it (a hung process).

use std::time::Duration;

use super::{pg_error, quote_ident};
use crate::error::Result;

/// Take or renew the lease `name` for `ttl` on behalf of `client`'s
/// session: granted when this session holds it already, when its holder's
/// session has ended, or when its holder let it lapse. One update.
pub async fn try_take(
    client: &tokio_postgres::Client,
    control_schema: &str,
    name: &str,
    ttl: Duration,
) -> Result<bool> {
    let sql = format!(
        "WITH me AS (
             SELECT pid || '@' || (extract(epoch FROM backend_start) * 1000000)::bigint AS h
             FROM pg_stat_activity WHERE pid = pg_backend_pid())
         UPDATE {}.leases l SET holder = me.h,
                expires_at = now() + $2::bigint * interval '1 millisecond'
         FROM me
         WHERE l.name = $1
           AND (l.holder = me.h OR l.expires_at < now()
                OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                               WHERE a.pid || '@' || (extract(epoch FROM a.backend_start) * 1000000)::bigint = l.holder))
         RETURNING 1",
        quote_ident(control_schema)
    );
    let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    client
        .query_opt(&sql, &[&name, &ms])
        .await
        .map(|r| r.is_some())
        .map_err(|e| pg_error(&e, &format!("cannot take the {name} lease")))
}
