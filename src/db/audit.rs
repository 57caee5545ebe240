//! The append-only audit log: writing rows (inside a change's transaction or,
//! for a failed change, in a transaction of its own) and reading them back.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{Db, pg_error};
use crate::domain::audit::AuditEntry;
use crate::error::Result;

/// The insert statement; parameters: actor, action, tenant_id, outcome, detail, duration_ms.
pub fn insert_sql(db: &Db) -> String {
    format!(
        "INSERT INTO {}.audit_log (actor, action, tenant_id, outcome, detail, duration_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
        db.q_schema()
    )
}

/// Write one row on `client` (inside the caller's transaction).
#[allow(clippy::too_many_arguments)] // reason: one argument per audit column reads clearer than a struct built once
pub async fn write(
    db: &Db,
    client: &impl GenericClient,
    actor: &str,
    action: &str,
    tenant: Option<Uuid>,
    outcome: &str,
    detail: &serde_json::Value,
    duration_ms: Option<i32>,
) -> Result<()> {
    client
        .execute(
            &insert_sql(db),
            &[&actor, &action, &tenant, &outcome, detail, &duration_ms],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot write the audit log"))?;
    Ok(())
}

/// Record a failed change in a transaction of its own. A failure to record
/// is logged, never raised over the original error.
pub async fn record_failure(
    db: &Db,
    actor: &str,
    action: &str,
    tenant: Option<Uuid>,
    mut detail: serde_json::Value,
    error: &crate::Error,
    duration_ms: Option<i32>,
) {
    if let Some(o) = detail.as_object_mut() {
        o.insert("error".into(), error.message.clone().into());
        o.insert(
            "kind".into(),
            serde_json::to_value(error.kind).unwrap_or_default(),
        );
    }
    // The pool may still hand out the connection the failure broke (not yet
    // seen as closed); then a dedicated connection records the row.
    let mut result = async {
        let client = db.client().await?;
        write(
            db,
            &client,
            actor,
            action,
            tenant,
            "error",
            &detail,
            duration_ms,
        )
        .await
    }
    .await;
    if result.is_err() {
        result = async {
            let (client, _messages) = db.dedicated().await?;
            client
                .execute(
                    &insert_sql(db),
                    &[&actor, &action, &tenant, &"error", &detail, &duration_ms],
                )
                .await
                .map(|_| ())
                .map_err(|e| pg_error(&e, "cannot write the audit log"))
        }
        .await;
    }
    if let Err(e) = result {
        tracing::warn!(
            action,
            "cannot record the failed {action} in the audit log: {e}"
        );
    }
}

/// Audit rows newest first, optionally for one tenant and since a time.
/// Uses `audit_log_tenant` or `audit_log_at`; `limit` bounds the cost.
pub async fn list_audit(
    db: &Db,
    tenant: Option<Uuid>,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let client = db.client().await?;
    let rows = client
        .query(
            &format!(
                "SELECT id, at, actor, db_role, action, tenant_id, outcome, detail, duration_ms
                 FROM {}.audit_log
                 WHERE ($1::uuid IS NULL OR tenant_id = $1)
                   AND ($2::timestamptz IS NULL OR at >= $2)
                 ORDER BY at DESC, id DESC LIMIT $3",
                db.q_schema()
            ),
            &[&tenant, &since, &limit.max(0)],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the audit log"))?;
    Ok(rows
        .iter()
        .map(|r| AuditEntry {
            id: r.get(0),
            at: r.get(1),
            actor: r.get(2),
            db_role: r.get(3),
            action: r.get(4),
            tenant_id: r.get(5),
            outcome: r.get(6),
            detail: r.get(7),
            duration_ms: r.get(8),
        })
        .collect())
}
