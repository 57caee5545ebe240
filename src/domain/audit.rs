//! Audit entries and the actor who made a change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One row of `audit_log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub db_role: String,
    pub action: String,
    pub tenant_id: Option<Uuid>,
    /// "ok" or "error".
    pub outcome: String,
    pub detail: serde_json::Value,
    pub duration_ms: Option<i32>,
}

/// Who is acting, as written to `audit_log.actor`: the OS user of the
/// process's real uid at the host, plus what `SSH_CLIENT` *claims* (any
/// process can set it, so it is recorded as a claim, never as a fact). The
/// database role is recorded beside it (`audit_log.db_role`). Pure: the
/// values come from the edge (`crate::actor`).
pub fn actor_from_env(user: Option<&str>, host: Option<&str>, ssh_client: Option<&str>) -> String {
    let clean = |s: &str| crate::domain::sanitize::clean_truncate(s, 64);
    let user = user
        .filter(|u| !u.is_empty())
        .map_or_else(|| "unknown".to_string(), clean);
    let host = host
        .filter(|h| !h.is_empty())
        .map_or_else(|| "unknown-host".to_string(), clean);
    match ssh_client.and_then(|s| s.split_whitespace().next()) {
        Some(ip) => format!("{user}@{host} (SSH_CLIENT claims {})", clean(ip)),
        None => format!("{user}@{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_forms() {
        assert_eq!(actor_from_env(Some("ana"), Some("ops1"), None), "ana@ops1");
        assert_eq!(
            actor_from_env(Some("ana"), Some("ops1"), Some("10.1.2.3 51234 22")),
            "ana@ops1 (SSH_CLIENT claims 10.1.2.3)"
        );
        assert_eq!(actor_from_env(None, None, None), "unknown@unknown-host");
    }
}
