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

/// Who is acting: `user@host`, plus the SSH client address when present.
pub fn actor_from_env(user: Option<&str>, host: Option<&str>, ssh_client: Option<&str>) -> String {
    let user = user.filter(|u| !u.is_empty()).unwrap_or("unknown");
    let host = host.filter(|h| !h.is_empty()).unwrap_or("unknown-host");
    match ssh_client.and_then(|s| s.split_whitespace().next()) {
        Some(ip) => format!("{user}@{host} (ssh from {ip})"),
        None => format!("{user}@{host}"),
    }
}

/// The actor of this process.
pub fn current_actor() -> String {
    let user = std::env::var("USER")
        .ok()
        .or_else(|| std::env::var("LOGNAME").ok())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        });
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string());
    let ssh = std::env::var("SSH_CLIENT")
        .ok()
        .or_else(|| std::env::var("SSH_CONNECTION").ok());
    actor_from_env(user.as_deref(), host.as_deref(), ssh.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_forms() {
        assert_eq!(actor_from_env(Some("ana"), Some("ops1"), None), "ana@ops1");
        assert_eq!(
            actor_from_env(Some("ana"), Some("ops1"), Some("10.1.2.3 51234 22")),
            "ana@ops1 (ssh from 10.1.2.3)"
        );
        assert_eq!(actor_from_env(None, None, None), "unknown@unknown-host");
    }
}
