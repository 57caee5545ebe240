//! The limits guard's loop inside a console (and `tenantctl guard`): one
//! round per monitoring interval while this process holds the guard lease,
//! the quota measured every `quota_interval`. What it does is audited by
//! [`crate::db::guard`] and handed to `report` (the console raises an
//! alert and a notice for each action).

use std::time::{Duration, Instant};

use crate::config::MonitoringConfig;
use crate::db::{Db, guard};

/// Aborts the loop when dropped (the session ended).
pub struct GuardTask(tokio::task::JoinHandle<()>);

impl Drop for GuardTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Start the guard loop; `None` when the guard is off or the session is
/// read-only (it would change roles and privileges).
pub fn spawn(
    db: &Db,
    monitoring: &MonitoringConfig,
    read_only: bool,
    report: impl Fn(Vec<guard::GuardAction>) + Send + 'static,
) -> Option<GuardTask> {
    if !monitoring.guard || read_only {
        return None;
    }
    let db = db.clone();
    let every = monitoring.interval.0.max(Duration::from_millis(500));
    let grace = monitoring.guard_grace.0;
    let quota_every = monitoring.quota_interval.0;
    Some(GuardTask(tokio::spawn(async move {
        let mut last_quota: Option<Instant> = None;
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // The lease is held by a session of our own, so it is free again
        // the moment this console goes away.
        let mut lease: Option<tokio_postgres::Client> = None;
        loop {
            ticker.tick().await;
            if lease.as_ref().is_none_or(tokio_postgres::Client::is_closed) {
                lease = match db.dedicated().await {
                    Ok((c, _)) => Some(c),
                    Err(e) => {
                        tracing::warn!("guard cannot connect: {}", e.message);
                        continue;
                    }
                };
            }
            let Some(client) = lease.as_ref() else {
                continue;
            };
            let with_quota = last_quota.is_none_or(|t| t.elapsed() >= quota_every);
            match guard::tick(&db, client, grace, with_quota).await {
                Ok(actions) => {
                    if with_quota {
                        last_quota = Some(Instant::now());
                    }
                    if !actions.is_empty() {
                        report(actions);
                    }
                }
                Err(e) => tracing::warn!("guard round failed: {}", e.message),
            }
        }
    })))
}
