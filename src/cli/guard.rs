//! `tenantctl guard`: the limits guard without a console, for platforms
//! where nobody keeps one open. Elected by the same lease as the consoles'
//! guards, so running several is harmless.

use std::time::{Duration, Instant};

use super::output::{print_json, table};
use crate::config::Config;
use crate::db::{self, Db};
use crate::error::{Error, Result};

pub async fn run(config: &Config, once: bool, json: bool) -> Result<i32> {
    if config.read_only {
        return Err(Error::refused(
            "guard changes roles and privileges, but this session is read-only",
        ));
    }
    let db = Db::connect(config).await?;
    db::migrate::check(&db).await?;
    let grace = config.monitoring.guard_grace.0;
    let (lease, _notices) = db.dedicated().await?;
    if once {
        let actions = db::guard::tick(&db, &lease, grace, true).await?;
        if json {
            print_json(&serde_json::json!({ "actions": actions }));
        } else {
            let rows: Vec<Vec<String>> = actions
                .iter()
                .map(|a| vec![a.domain.clone(), a.action.clone(), a.reason.clone()])
                .collect();
            crate::out!("{}", table(&["TENANT", "ACTION", "REASON"], &rows));
        }
        return Ok(0);
    }
    let every = config.monitoring.interval.0.max(Duration::from_millis(500));
    let mut last_quota: Option<Instant> = None;
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => return Ok(0),
        }
        let with_quota =
            last_quota.is_none_or(|t| t.elapsed() >= config.monitoring.quota_interval.0);
        if lease.is_closed() {
            return Err(Error::failure(
                "the guard's connection was lost: start tenantctl guard again",
            ));
        }
        match db::guard::tick(&db, &lease, grace, with_quota).await {
            Ok(actions) => {
                if with_quota {
                    last_quota = Some(Instant::now());
                }
                for a in actions {
                    if json {
                        crate::outln!("{}", serde_json::to_string(&a).unwrap_or_default());
                    } else {
                        crate::outln!("{}  {}  {}", a.domain, a.action, a.reason);
                    }
                }
            }
            Err(e) => eprintln!("tenantctl: guard round failed: {}", e.message),
        }
    }
}
