//! Fleet migration runs as the console shows them: a run with its counts,
//! and its tenants with failures first. Plain data; the backend fills it
//! from the ledger (`db::fleet::ledger`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One run with the ledger's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub id: Uuid,
    pub template: String,
    pub to_version: i32,
    /// `running`, `paused`, `stopped`, `done` or `cancelled`.
    pub state: String,
    pub actor: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub done: usize,
    pub failed: usize,
    pub running: usize,
    pub queued: usize,
    pub skipped: usize,
}

impl RunSummary {
    /// Tenants not finished yet (queued or running).
    pub fn remaining(&self) -> usize {
        self.queued + self.running
    }

    /// A run a driver may still be moving (its state says so).
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }

    /// A run that can be continued (`migrate apply --resume`).
    pub fn is_resumable(&self) -> bool {
        matches!(self.state.as_str(), "paused" | "stopped")
    }

    /// A run that can still be paused or cancelled.
    pub fn is_open(&self) -> bool {
        matches!(self.state.as_str(), "running" | "paused" | "stopped")
    }
}

/// What the console asks of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAction {
    /// Ask its driver to drain and stop; queued tenants stay queued.
    Pause,
    /// Drive it again from where it stopped.
    Resume,
    /// Running tenants finish, queued ones are skipped.
    Cancel,
}

impl RunAction {
    pub fn verb(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
        }
    }
}

/// One tenant of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTenant {
    pub tenant_id: Uuid,
    pub domain: String,
    /// `queued`, `running`, `done`, `failed` or `skipped`.
    pub state: String,
    pub from_version: i32,
    pub to_version: i32,
    pub at_version: i32,
    pub attempts: i32,
    pub error: Option<String>,
    pub duration_ms: Option<i32>,
}

/// Rank of a ledger state in the console's order: failures first, then
/// running, queued, done, skipped.
pub fn state_rank(state: &str) -> u8 {
    match state {
        "failed" => 0,
        "running" => 1,
        "queued" => 2,
        "done" => 3,
        _ => 4,
    }
}

/// Sort a run's tenants failures first (stable: plan order within a state).
pub fn failures_first(tenants: &mut [RunTenant]) {
    tenants.sort_by_key(|t| state_rank(&t.state));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(state: &str, d: &str) -> RunTenant {
        RunTenant {
            tenant_id: Uuid::nil(),
            domain: d.into(),
            state: state.into(),
            from_version: 1,
            to_version: 2,
            at_version: 1,
            attempts: 0,
            error: None,
            duration_ms: None,
        }
    }

    #[test]
    fn failures_come_first_in_plan_order() {
        let mut v = vec![
            t("done", "a"),
            t("failed", "b"),
            t("queued", "c"),
            t("failed", "d"),
        ];
        failures_first(&mut v);
        let order: Vec<&str> = v.iter().map(|x| x.domain.as_str()).collect();
        assert_eq!(order, ["b", "d", "c", "a"]);
        // Every state in the console's order.
        let mut v = vec![
            t("skipped", "e"),
            t("done", "d"),
            t("queued", "c"),
            t("running", "b"),
            t("failed", "a"),
        ];
        failures_first(&mut v);
        let order: Vec<&str> = v.iter().map(|x| x.state.as_str()).collect();
        assert_eq!(order, ["failed", "running", "queued", "done", "skipped"]);
    }

    #[test]
    fn a_run_counts_what_is_left_and_names_its_actions() {
        let r = RunSummary {
            id: Uuid::nil(),
            template: "default".into(),
            to_version: 3,
            state: "paused".into(),
            actor: "ops".into(),
            started_at: DateTime::from_timestamp(1_800_000_000, 0).expect("time"),
            ended_at: None,
            done: 5,
            failed: 1,
            running: 2,
            queued: 7,
            skipped: 3,
        };
        assert_eq!(r.remaining(), 9, "queued and running");
        assert!(r.is_resumable() && r.is_open() && !r.is_running());
        assert_eq!(
            [RunAction::Pause, RunAction::Resume, RunAction::Cancel].map(RunAction::verb),
            ["pause", "resume", "cancel"]
        );
    }
}
