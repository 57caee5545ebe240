//! The limits guard (DESIGN.md §4 rule 4): limits that hold even when the
//! tenant lifts them itself. A tenant may `SET statement_timeout = 0` in
//! its session or `ALTER ROLE` itself to other defaults; it cannot stop
//! the operator from ending its statements, putting its role settings
//! back, or taking writes away above its quota.
//!
//! Each check is one set-based statement over every tenant, whatever their
//! number; only the tenants that need an action come back. Every action is
//! audited (`guard.cancel`, `guard.terminate`, `guard.settings`,
//! `guard.quota_block`, `guard.quota_unblock`).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::provision::roles;
use super::{Db, audit, pg_error, quote_ident};
use crate::error::Result;

/// The lease that elects one guard among all consoles and `tenantctl guard`.
pub const LEASE: &str = "guard";

/// One thing the guard did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardAction {
    pub tenant_id: Uuid,
    pub domain: String,
    /// `cancel`, `terminate`, `settings`, `quota_block` or `quota_unblock`.
    pub action: String,
    /// What was found, in one sentence.
    pub reason: String,
}

/// The audit row of one guard action.
async fn record(
    db: &Db,
    client: &impl deadpool_postgres::GenericClient,
    action: &str,
    tenant: Uuid,
    detail: &serde_json::Value,
) -> Result<()> {
    audit::write(
        db,
        client,
        "tenantctl guard",
        action,
        Some(tenant),
        "ok",
        detail,
        None,
    )
    .await
}

/// Cancel statements running past their tenant's statement timeout and end
/// sessions idle in a transaction past its limit, each `grace` after the
/// limit. Only sessions logged in as a tenant's login role; one statement.
pub async fn enforce_sessions(db: &Db, grace: Duration) -> Result<Vec<GuardAction>> {
    let client = db.client().await?;
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &format!(
                "WITH a AS (
                     SELECT t.id, t.domain, s.pid,
                            CASE WHEN s.state = 'active' AND t.statement_timeout IS NOT NULL
                                      AND now() - s.query_start > t.statement_timeout + $1::bigint * interval '1 millisecond'
                                 THEN 'cancel'
                                 WHEN s.state LIKE 'idle in transaction%' AND t.idle_in_transaction_timeout IS NOT NULL
                                      AND now() - s.state_change > t.idle_in_transaction_timeout + $1::bigint * interval '1 millisecond'
                                 THEN 'terminate' END AS action,
                            extract(epoch FROM now() - CASE WHEN s.state = 'active' THEN s.query_start ELSE s.state_change END)::float8 AS secs,
                            (extract(epoch FROM CASE WHEN s.state = 'active' THEN t.statement_timeout
                                                      ELSE t.idle_in_transaction_timeout END) * 1000)::bigint AS limit_ms
                     FROM pg_stat_activity s JOIN {ctl}.tenants t ON t.role_name = s.usename
                     WHERE t.status = 'active' AND s.backend_type = 'client backend' AND s.pid <> pg_backend_pid())
                 SELECT id, domain, pid, action, secs, limit_ms,
                        CASE action WHEN 'cancel' THEN pg_cancel_backend(pid) ELSE pg_terminate_backend(pid) END
                 FROM a WHERE action IS NOT NULL",
                ctl = db.q_schema()
            ),
            &[&grace_ms],
        )
        .await
        .map_err(|e| pg_error(&e, "the guard cannot check the tenants' sessions"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let (id, domain, pid, action, secs, limit_ms, sent): (
            Uuid,
            String,
            i32,
            String,
            f64,
            i64,
            bool,
        ) = (
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            r.get(6),
        );
        if !sent {
            continue; // it ended by itself meanwhile
        }
        let limit = crate::domain::units::format_duration(Duration::from_millis(
            u64::try_from(limit_ms).unwrap_or(0),
        ));
        let reason = if action == "cancel" {
            format!(
                "statement of session {pid} ran {secs:.0} s, past the tenant's {limit} statement timeout"
            )
        } else {
            format!(
                "session {pid} idle in a transaction for {secs:.0} s, past the tenant's {limit} limit"
            )
        };
        let detail = json!({ "pid": pid, "seconds": secs, "limit_ms": limit_ms, "reason": reason });
        record(db, &client, &format!("guard.{action}"), id, &detail).await?;
        out.push(GuardAction {
            tenant_id: id,
            domain,
            action,
            reason,
        });
    }
    Ok(out)
}

/// The limit settings a tenant changed on its own login role (`ALTER ROLE
/// itself SET …`, globally or `IN DATABASE`), compared with the control
/// row, put back. One catalog query; only drifted tenants come back.
pub async fn enforce_settings(db: &Db) -> Result<Vec<GuardAction>> {
    let mut client = db.client().await?;
    let rows = client
        .query(
            &format!(
                "WITH t AS (
                     SELECT t.id, t.domain, t.role_name, r.oid AS roid,
                            CASE WHEN t.statement_timeout IS NULL THEN NULL
                                 ELSE (extract(epoch FROM t.statement_timeout) * 1000)::bigint || 'ms' END AS want_st,
                            CASE WHEN t.idle_in_transaction_timeout IS NULL THEN NULL
                                 ELSE (extract(epoch FROM t.idle_in_transaction_timeout) * 1000)::bigint || 'ms' END AS want_idle,
                            CASE WHEN t.temp_file_limit_bytes IS NULL THEN NULL
                                 ELSE greatest(t.temp_file_limit_bytes / 1024, 1) || 'kB' END AS want_temp,
                            t.temp_file_limit_bytes IS NOT NULL AS temp_managed,
                            (SELECT setconfig FROM pg_db_role_setting s WHERE s.setrole = r.oid AND s.setdatabase = 0) AS global,
                            (SELECT setconfig FROM pg_db_role_setting s WHERE s.setrole = r.oid
                               AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())) AS local
                     FROM {ctl}.tenants t JOIN pg_roles r ON r.rolname = t.role_name
                     WHERE t.status IN ('active', 'suspended')),
                 v AS (
                     SELECT t.*,
                            (SELECT substr(c, length('statement_timeout=') + 1) FROM unnest(global) c WHERE c LIKE 'statement\\_timeout=%') AS st,
                            (SELECT substr(c, length('idle_in_transaction_session_timeout=') + 1) FROM unnest(global) c WHERE c LIKE 'idle\\_in\\_transaction\\_session\\_timeout=%') AS idle,
                            (SELECT substr(c, length('temp_file_limit=') + 1) FROM unnest(global) c WHERE c LIKE 'temp\\_file\\_limit=%') AS temp,
                            (SELECT array_agg(split_part(c, '=', 1)) FROM unnest(local) c
                               WHERE split_part(c, '=', 1) IN ('statement_timeout', 'idle_in_transaction_session_timeout', 'temp_file_limit')) AS local_keys
                     FROM t)
                 SELECT id, domain, role_name,
                        (extract(epoch FROM (SELECT statement_timeout FROM {ctl}.tenants x WHERE x.id = v.id)) * 1000)::bigint,
                        (extract(epoch FROM (SELECT idle_in_transaction_timeout FROM {ctl}.tenants x WHERE x.id = v.id)) * 1000)::bigint,
                        (SELECT temp_file_limit_bytes FROM {ctl}.tenants x WHERE x.id = v.id),
                        st, idle, temp, coalesce(local_keys, '{{}}')
                 FROM v
                 WHERE st IS DISTINCT FROM want_st OR idle IS DISTINCT FROM want_idle
                    OR (temp_managed AND temp IS DISTINCT FROM want_temp)
                    OR local_keys IS NOT NULL",
                ctl = db.q_schema()
            ),
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "the guard cannot read the tenants' role settings"))?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error(&e, "the guard cannot begin"))?;
    tx.batch_execute("SET LOCAL lock_timeout = '1s'")
        .await
        .map_err(|e| pg_error(&e, "the guard cannot begin"))?;
    let op = roles::operator(&tx).await?;
    let dbname: String = tx
        .query_one("SELECT current_database()::text", &[])
        .await
        .map_err(|e| pg_error(&e, "the guard cannot read the database name"))?
        .get(0);
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let (id, domain, role): (Uuid, String, String) = (r.get(0), r.get(1), r.get(2));
        let ms = |v: Option<i64>| {
            v.and_then(|m| u64::try_from(m).ok())
                .map(Duration::from_millis)
        };
        let limits = roles::Limits {
            connection_limit: 0, // not part of ALTER ROLE … SET
            statement_timeout: ms(r.get(3)),
            idle_in_transaction_timeout: ms(r.get(4)),
            temp_file_limit: r
                .get::<_, Option<i64>>(5)
                .and_then(|b| u64::try_from(b).ok()),
        };
        let found = json!({
            "statement_timeout": r.get::<_, Option<String>>(6),
            "idle_in_transaction_session_timeout": r.get::<_, Option<String>>(7),
            "temp_file_limit": r.get::<_, Option<String>>(8),
            "in_database": r.get::<_, Vec<String>>(9),
        });
        let mut sql = roles::role_settings(&role, &limits, &op, true);
        for key in r.get::<_, Vec<String>>(9) {
            let _ = writeln!(
                sql,
                "ALTER ROLE {} IN DATABASE {} RESET {};",
                quote_ident(&role),
                quote_ident(&dbname),
                quote_ident(&key)
            );
        }
        let reason = format!("the tenant changed its role's limit settings ({found}); put back");
        tx.batch_execute(&sql).await.map_err(|e| {
            pg_error(
                &e,
                &format!("the guard cannot put back {domain}'s settings"),
            )
        })?;
        record(
            db,
            &tx,
            "guard.settings",
            id,
            &json!({ "found": found, "reason": reason }),
        )
        .await?;
        out.push(GuardAction {
            tenant_id: id,
            domain,
            action: "settings".into(),
            reason,
        });
    }
    tx.commit()
        .await
        .map_err(|e| pg_error(&e, "the guard cannot commit"))?;
    Ok(out)
}

/// Exact sizes of the tenants that have a storage quota, against it: above
/// it the login role loses INSERT and UPDATE on the tenant's tables (reads
/// and deletes keep working), back under it they return. One statement
/// finds the transitions; `pg_total_relation_size` of each relation of a
/// quota tenant is its cost, so it runs every `quota_interval`, not every
/// tick.
pub async fn enforce_quota(db: &Db) -> Result<Vec<GuardAction>> {
    let mut client = db.client().await?;
    let rows = client
        .query(
            &format!(
                "WITH q AS (
                     SELECT id, domain, schema_name, role_name, coalesce(owner_role, role_name) AS owner,
                            storage_quota_bytes, quota_blocked
                     FROM {ctl}.tenants WHERE status IN ('active', 'suspended') AND storage_quota_bytes IS NOT NULL),
                 s AS (
                     SELECT q.id, coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
                     FROM q JOIN pg_namespace n ON n.nspname = q.schema_name
                     LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'm', 'p')
                     GROUP BY q.id)
                 SELECT q.id, q.domain, q.schema_name, q.role_name, q.owner, s.bytes, q.storage_quota_bytes,
                        s.bytes > q.storage_quota_bytes AS over
                 FROM q JOIN s ON s.id = q.id
                 WHERE (s.bytes > q.storage_quota_bytes) <> q.quota_blocked",
                ctl = db.q_schema()
            ),
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "the guard cannot measure the tenants' sizes"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let (id, domain, schema, login, owner, bytes, quota, over): (
            Uuid,
            String,
            String,
            String,
            String,
            i64,
            i64,
            bool,
        ) = (
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            r.get(6),
            r.get(7),
        );
        let (s, l) = (quote_ident(&schema), quote_ident(&login));
        let (action, sql) = if over {
            (
                "quota_block",
                format!(
                    "REVOKE {} ON ALL TABLES IN SCHEMA {s} FROM {l};",
                    roles::QUOTA_PRIVILEGES
                ),
            )
        } else {
            (
                "quota_unblock",
                format!(
                    "GRANT {} ON ALL TABLES IN SCHEMA {s} TO {l};",
                    roles::QUOTA_PRIVILEGES
                ),
            )
        };
        if owner == login {
            // A tenant that owns its tables (created before owner roles, or
            // with tenant DDL) keeps an owner's rights: it must be converted.
            tracing::warn!(tenant = %domain, "over its quota, but it owns its tables: run tenantctl convert");
        }
        let size = |b: i64| crate::domain::units::format_size(u64::try_from(b).unwrap_or(0));
        let reason = if over {
            format!(
                "{} used, over the {} quota: writes withheld (reads and deletes keep working)",
                size(bytes),
                size(quota)
            )
        } else {
            format!(
                "{} used, back under the {} quota: writes allowed again",
                size(bytes),
                size(quota)
            )
        };
        let tx = client
            .transaction()
            .await
            .map_err(|e| pg_error(&e, "the guard cannot begin"))?;
        tx.batch_execute(&format!("SET LOCAL lock_timeout = '1s'; {sql}"))
            .await
            .map_err(|e| pg_error(&e, &format!("the guard cannot change {domain}'s writes")))?;
        tx.execute(
            &format!(
                "UPDATE {}.tenants SET quota_blocked = $2 WHERE id = $1",
                db.q_schema()
            ),
            &[&id, &over],
        )
        .await
        .map_err(|e| pg_error(&e, "the guard cannot record the quota state"))?;
        record(
            db,
            &tx,
            &format!("guard.{action}"),
            id,
            &json!({ "bytes": bytes, "quota_bytes": quota, "reason": reason }),
        )
        .await?;
        tx.commit()
            .await
            .map_err(|e| pg_error(&e, "the guard cannot commit"))?;
        out.push(GuardAction {
            tenant_id: id,
            domain,
            action: action.into(),
            reason,
        });
    }
    Ok(out)
}

/// One round of the guard, if `lease`'s session holds the guard lease:
/// sessions and settings every time, the quota when `with_quota`. Returns
/// what it did (nothing when another process holds the lease).
pub async fn tick(
    db: &Db,
    lease: &tokio_postgres::Client,
    grace: Duration,
    with_quota: bool,
) -> Result<Vec<GuardAction>> {
    if !super::lease::try_take(lease, &db.schema, LEASE, Duration::from_secs(30)).await? {
        return Ok(Vec::new());
    }
    let mut out = enforce_sessions(db, grace).await?;
    out.extend(enforce_settings(db).await?);
    if with_quota {
        out.extend(enforce_quota(db).await?);
    }
    Ok(out)
}
