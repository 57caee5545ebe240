//! Health score: 100 minus itemized deductions, each with the reason the
//! detail pane shows. Pure: the time comes in as an argument.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::metrics::{Health, HealthReason, MonitoredTenant, ReasonPool, TenantMetrics};
use crate::domain::tenant::TenantStatus;
use crate::domain::thresholds::Thresholds;
use crate::domain::units::{format_duration, format_size};

/// Points for each rule. Two grades where the issue names "near" and "over".
pub mod points {
    pub const CONNECTIONS_NEAR: u8 = 15;
    pub const CONNECTIONS_AT_LIMIT: u8 = 30;
    pub const SLOW_STATEMENTS: u8 = 15;
    pub const STORAGE_NEAR: u8 = 15;
    pub const STORAGE_OVER: u8 = 30;
    pub const IDLE_IN_TRANSACTION: u8 = 15;
    pub const LONG_RUNNING: u8 = 15;
    pub const DRIFT: u8 = 20;
    pub const TEMPLATE_BEHIND: u8 = 5;
    pub const INACTIVE: u8 = 10;
}

/// Score one tenant from its current metrics, its limits and the thresholds.
pub fn score(
    tenant: &MonitoredTenant,
    m: &TenantMetrics,
    t: &Thresholds,
    now: DateTime<Utc>,
) -> Health {
    let (score, reasons) = deductions(tenant, m, t, now);
    Health {
        score,
        reasons: reasons.into(),
    }
}

/// [`score`], with the list of reasons taken from (or added to) `pool`:
/// tenants with the same deductions share one list.
pub fn score_pooled(
    tenant: &MonitoredTenant,
    m: &TenantMetrics,
    t: &Thresholds,
    now: DateTime<Utc>,
    pool: &mut ReasonPool,
) -> Health {
    let (score, reasons) = deductions(tenant, m, t, now);
    Health {
        score,
        reasons: pool.share(&reasons),
    }
}

fn deductions(
    tenant: &MonitoredTenant,
    m: &TenantMetrics,
    t: &Thresholds,
    now: DateTime<Utc>,
) -> (u8, Vec<HealthReason>) {
    let mut reasons = Vec::new();
    let mut add = |points: u8, text: String| reasons.push(HealthReason { points, text });

    if tenant.connection_limit > 0 {
        let limit = u32::try_from(tenant.connection_limit).unwrap_or(u32::MAX);
        let pct = f64::from(m.sessions_total) * 100.0 / f64::from(limit);
        if m.sessions_total >= limit {
            add(
                points::CONNECTIONS_AT_LIMIT,
                format!(
                    "connections {}/{limit} ({pct:.0}%): at the limit",
                    m.sessions_total
                ),
            );
        } else if pct >= t.connections_pct {
            add(
                points::CONNECTIONS_NEAR,
                format!("connections {}/{limit} ({pct:.0}%)", m.sessions_total),
            );
        }
    }

    if let Some(mean) = m.mean_exec_ms {
        let limit_ms = t.slow_statement.0.as_secs_f64() * 1000.0;
        if mean > limit_ms {
            add(
                points::SLOW_STATEMENTS,
                format!("slow statements: mean {mean:.0} ms over {limit_ms:.0} ms"),
            );
        }
    }

    if let Some(quota) = tenant.storage_quota_bytes.filter(|q| *q > 0) {
        let pct = m.size_bytes as f64 * 100.0 / quota as f64;
        if m.size_bytes >= quota {
            add(
                points::STORAGE_OVER,
                format!(
                    "storage {} over quota {} ({pct:.0}%)",
                    format_size(m.size_bytes),
                    format_size(quota)
                ),
            );
        } else if pct >= t.storage_warn_pct {
            add(
                points::STORAGE_NEAR,
                format!(
                    "storage {} of quota {} ({pct:.0}%)",
                    format_size(m.size_bytes),
                    format_size(quota)
                ),
            );
        }
    }

    if let Some(idle) = m
        .idle_in_tx_longest
        .filter(|d| *d >= t.idle_in_transaction.0)
    {
        add(
            points::IDLE_IN_TRANSACTION,
            format!(
                "{} session(s) idle in transaction, longest {}",
                m.sessions_idle_in_tx.max(1),
                format_duration(idle)
            ),
        );
    }

    if let Some(run) = m.longest_running.filter(|d| *d >= t.long_running.0) {
        add(
            points::LONG_RUNNING,
            format!(
                "statement running for {} (over {})",
                format_duration(run),
                format_duration(t.long_running.0)
            ),
        );
    }

    if !m.drift.is_empty() {
        add(points::DRIFT, drift_text(tenant, &m.drift));
    }

    if let Some(latest) = tenant
        .latest_template_version
        .filter(|v| *v > tenant.template_version)
    {
        add(
            points::TEMPLATE_BEHIND,
            format!(
                "template version {} behind latest {latest}",
                tenant.template_version
            ),
        );
    }

    if tenant.status == TenantStatus::Active {
        let since = match (m.last_activity, tenant.created_at) {
            (Some(a), Some(c)) => Some(a.max(c)),
            (a, _) => a,
        };
        if let Some(since) = since {
            let idle = (now - since).to_std().unwrap_or(Duration::ZERO);
            if idle >= t.inactive.0 {
                add(
                    points::INACTIVE,
                    format!("no activity for {}", format_duration(idle)),
                );
            }
        }
    }

    let lost: u32 = reasons.iter().map(|r| u32::from(r.points)).sum();
    let score = u8::try_from(100u32.saturating_sub(lost)).unwrap_or(0);
    (score, reasons)
}

/// "schema drift: missing a, b; column t.c is missing and 2 more": the
/// template objects missing by name (entries the template names, or bare
/// names), then the catalog differences of a SQL-string template's tenant
/// (sentences), at most three shown.
fn drift_text(tenant: &MonitoredTenant, drift: &[String]) -> String {
    let is_name = |e: &str| {
        !e.contains(' ')
            || tenant.expected_tables.iter().any(|x| x == e)
            || tenant.expected_indexes.iter().any(|x| x == e)
    };
    drift_words(drift, is_name, 3)
}

/// The words of a drift reason, as health and the detail pane give it:
/// "schema drift: " then, of the first `shown` entries, those `is_name`
/// says are missing objects ("missing a, b"), then the others (catalog
/// differences, sentences), then how many more there are.
pub fn drift_words(drift: &[String], is_name: impl Fn(&str) -> bool, shown: usize) -> String {
    let shown = &drift[..drift.len().min(shown)];
    let names: Vec<&str> = shown
        .iter()
        .map(String::as_str)
        .filter(|e| is_name(e))
        .collect();
    let mut parts: Vec<String> = Vec::new();
    if !names.is_empty() {
        parts.push(format!("missing {}", names.join(", ")));
    }
    parts.extend(shown.iter().filter(|e| !is_name(e)).cloned());
    let more = drift.len() - shown.len();
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("schema drift: {}{tail}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::units::Dur;
    use uuid::Uuid;

    fn tenant() -> MonitoredTenant {
        MonitoredTenant {
            id: Uuid::nil(),
            name: "Acme".into(),
            domain: "acme.test".into(),
            schema_name: "tenant_x".into(),
            role_name: "tenant_x".into(),
            status: TenantStatus::Active,
            connection_limit: 20,
            storage_quota_bytes: Some(1000),
            template_version: 1,
            latest_template_version: Some(1),
            expected_tables: std::sync::Arc::from([]),
            expected_indexes: std::sync::Arc::from([]),
            reference: None,
            created_at: None,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    fn healthy() -> TenantMetrics {
        TenantMetrics {
            size_bytes: 100,
            sessions_total: 2,
            last_activity: Some(now()),
            ..TenantMetrics::default()
        }
    }

    fn only(h: &Health) -> &HealthReason {
        assert_eq!(h.reasons.len(), 1, "{:?}", h.reasons);
        &h.reasons[0]
    }

    #[test]
    fn healthy_tenant_scores_100() {
        let h = score(&tenant(), &healthy(), &Thresholds::default(), now());
        assert_eq!(h.score, 100);
        assert!(h.reasons.is_empty());
    }

    #[test]
    fn connections_near_and_at_limit() {
        let mut m = healthy();
        m.sessions_total = 16;
        let h = score(&tenant(), &m, &Thresholds::default(), now());
        assert_eq!(only(&h).points, points::CONNECTIONS_NEAR);
        assert_eq!(only(&h).text, "connections 16/20 (80%)");
        assert_eq!(h.score, 85);
        m.sessions_total = 20;
        let h = score(&tenant(), &m, &Thresholds::default(), now());
        assert_eq!(only(&h).points, points::CONNECTIONS_AT_LIMIT);
        assert!(only(&h).text.contains("at the limit"));
        m.sessions_total = 15;
        assert!(
            score(&tenant(), &m, &Thresholds::default(), now())
                .reasons
                .is_empty()
        );
        let mut unlimited = tenant();
        unlimited.connection_limit = -1;
        m.sessions_total = 500;
        assert!(
            score(&unlimited, &m, &Thresholds::default(), now())
                .reasons
                .is_empty()
        );
        // 0 (no logins at all) is not a limit to be near.
        unlimited.connection_limit = 0;
        m.sessions_total = 1;
        assert!(
            score(&unlimited, &m, &Thresholds::default(), now())
                .reasons
                .is_empty()
        );
    }

    #[test]
    fn slow_statements() {
        let mut m = healthy();
        m.mean_exec_ms = Some(812.0);
        let h = score(&tenant(), &m, &Thresholds::default(), now());
        assert_eq!(only(&h).points, points::SLOW_STATEMENTS);
        assert_eq!(only(&h).text, "slow statements: mean 812 ms over 500 ms");
        m.mean_exec_ms = Some(500.0);
        assert_eq!(
            score(&tenant(), &m, &Thresholds::default(), now()).score,
            100,
            "at the threshold is not over it"
        );
        m.mean_exec_ms = Some(499.0);
        assert_eq!(
            score(&tenant(), &m, &Thresholds::default(), now()).score,
            100
        );
        m.mean_exec_ms = None;
        assert_eq!(
            score(&tenant(), &m, &Thresholds::default(), now()).score,
            100
        );
    }

    #[test]
    fn storage_near_and_over_quota() {
        let mut m = healthy();
        m.size_bytes = 850;
        let h = score(&tenant(), &m, &Thresholds::default(), now());
        assert_eq!(only(&h).points, points::STORAGE_NEAR);
        assert!(only(&h).text.contains("(85%)"), "{}", only(&h).text);
        m.size_bytes = 1200;
        let h = score(&tenant(), &m, &Thresholds::default(), now());
        assert_eq!(only(&h).points, points::STORAGE_OVER);
        assert!(only(&h).text.contains("over quota"), "{}", only(&h).text);
        let mut no_quota = tenant();
        no_quota.storage_quota_bytes = None;
        assert_eq!(
            score(&no_quota, &m, &Thresholds::default(), now()).score,
            100
        );
        no_quota.storage_quota_bytes = Some(0);
        assert_eq!(
            score(&no_quota, &m, &Thresholds::default(), now()).score,
            100,
            "a zero quota is no quota"
        );
    }

    #[test]
    fn idle_in_transaction() {
        let mut m = healthy();
        m.sessions_idle_in_tx = 3;
        m.idle_in_tx_longest = Some(Duration::from_secs(245));
        let h = score(&tenant(), &m, &Thresholds::default(), now());
        assert_eq!(only(&h).points, points::IDLE_IN_TRANSACTION);
        assert_eq!(
            only(&h).text,
            "3 session(s) idle in transaction, longest 4m05s"
        );
        m.idle_in_tx_longest = Some(Duration::from_secs(10));
        assert_eq!(
            score(&tenant(), &m, &Thresholds::default(), now()).score,
            100
        );
    }

    #[test]
    fn long_running() {
        let mut m = healthy();
        m.longest_running = Some(Duration::from_secs(400));
        let h = score(&tenant(), &m, &Thresholds::default(), now());
        assert_eq!(only(&h).points, points::LONG_RUNNING);
        assert_eq!(only(&h).text, "statement running for 6m40s (over 5m00s)");
    }

    #[test]
    fn drift_lists_missing_objects() {
        let mut m = healthy();
        m.drift = std::sync::Arc::from(["trades", "positions", "a", "b"].map(String::from));
        let h = score(&tenant(), &m, &Thresholds::default(), now());
        assert_eq!(only(&h).points, points::DRIFT);
        assert_eq!(
            only(&h).text,
            "schema drift: missing trades, positions, a and 1 more"
        );
    }

    #[test]
    fn drift_names_then_catalog_differences() {
        let mut m = healthy();
        let mut t = tenant();
        t.expected_tables = std::sync::Arc::from(["trades".to_string()]);
        m.drift = std::sync::Arc::from(
            [
                "trades",
                "column positions.avg_price is missing",
                "column market_data.volume is numeric, the template says bigint",
                "index x is missing",
            ]
            .map(String::from),
        );
        let h = score(&t, &m, &Thresholds::default(), now());
        assert_eq!(only(&h).points, points::DRIFT);
        assert_eq!(
            only(&h).text,
            "schema drift: missing trades; column positions.avg_price is missing; column market_data.volume is numeric, the template says bigint and 1 more"
        );
        m.drift = std::sync::Arc::from(["column positions.avg_price is missing".to_string()]);
        let h = score(&t, &m, &Thresholds::default(), now());
        assert_eq!(
            only(&h).text,
            "schema drift: column positions.avg_price is missing"
        );
        // A name with a space is still a name when the template has it, as
        // a table or as an index.
        t.expected_tables = std::sync::Arc::from(["order book".to_string()]);
        t.expected_indexes = std::sync::Arc::from(["by day".to_string()]);
        for e in ["order book", "by day"] {
            m.drift = std::sync::Arc::from([e.to_string()]);
            let h = score(&t, &m, &Thresholds::default(), now());
            assert_eq!(only(&h).text, format!("schema drift: missing {e}"));
        }
    }

    #[test]
    fn template_behind() {
        let mut t = tenant();
        t.latest_template_version = Some(3);
        let h = score(&t, &healthy(), &Thresholds::default(), now());
        assert_eq!(only(&h).points, points::TEMPLATE_BEHIND);
        assert_eq!(only(&h).text, "template version 1 behind latest 3");
        t.latest_template_version = Some(t.template_version);
        assert_eq!(
            score(&t, &healthy(), &Thresholds::default(), now()).score,
            100,
            "on the latest version"
        );
        t.latest_template_version = None;
        assert_eq!(
            score(&t, &healthy(), &Thresholds::default(), now()).score,
            100
        );
    }

    #[test]
    fn inactive_for_a_day() {
        let mut m = healthy();
        m.last_activity = Some(now() - chrono::Duration::hours(25));
        let h = score(&tenant(), &m, &Thresholds::default(), now());
        assert_eq!(only(&h).points, points::INACTIVE);
        assert_eq!(only(&h).text, "no activity for 1d01h");
        // A tenant created an hour ago is not inactive.
        let mut young = tenant();
        young.created_at = Some(now() - chrono::Duration::hours(1));
        assert_eq!(score(&young, &m, &Thresholds::default(), now()).score, 100);
        // Suspended tenants are expected to be quiet.
        let mut s = tenant();
        s.status = TenantStatus::Suspended;
        assert_eq!(score(&s, &m, &Thresholds::default(), now()).score, 100);
        // Unknown activity costs nothing.
        m.last_activity = None;
        assert_eq!(
            score(&tenant(), &m, &Thresholds::default(), now()).score,
            100
        );
    }

    #[test]
    fn deductions_add_up_and_floor_at_zero() {
        let mut m = healthy();
        m.sessions_total = 25;
        m.size_bytes = 5000;
        m.mean_exec_ms = Some(10_000.0);
        m.longest_running = Some(Duration::from_secs(3600));
        m.idle_in_tx_longest = Some(Duration::from_secs(3600));
        m.drift = std::sync::Arc::from(["trades".to_string()]);
        m.last_activity = Some(now() - chrono::Duration::days(3));
        let mut t = tenant();
        t.latest_template_version = Some(2);
        let th = Thresholds {
            long_running: Dur(Duration::from_secs(60)),
            ..Thresholds::default()
        };
        let h = score(&t, &m, &th, now());
        assert_eq!(h.reasons.len(), 8);
        assert_eq!(h.score, 0);
    }
}
