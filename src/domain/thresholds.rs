//! Where health deductions and alerts begin: plain data, so `domain` judges
//! without knowing where the numbers came from (`config` deserializes the
//! `[thresholds]` table into this type).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::units::Dur;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Connections above this share of the tenant's limit cost health.
    pub connections_pct: f64,
    /// Mean statement time above this is slow.
    pub slow_statement: Dur,
    /// Storage above this share of the quota costs health and warns.
    pub storage_warn_pct: f64,
    /// Sessions idle in transaction longer than this.
    pub idle_in_transaction: Dur,
    /// Statements running longer than this.
    pub long_running: Dur,
    /// No activity for this long.
    pub inactive: Dur,
    /// Cluster connections at or above this share of `max_connections` alert.
    pub cluster_connections_pct: f64,
    /// A tenant's session keeping others waiting on its locks this long alerts.
    pub blocking: Dur,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            connections_pct: 80.0,
            slow_statement: Dur(Duration::from_millis(500)),
            storage_warn_pct: 80.0,
            idle_in_transaction: Dur(Duration::from_secs(60)),
            long_running: Dur(Duration::from_secs(300)),
            inactive: Dur(Duration::from_secs(24 * 3600)),
            cluster_connections_pct: 90.0,
            blocking: Dur(Duration::from_secs(30)),
        }
    }
}
