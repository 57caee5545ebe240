//! Who blocks whom, and who takes what share of the server: blocking
//! chains built from `pg_blocking_pids` rows, the decayed statement-time
//! score the Neighbours view ranks by (as Citus's `citus_stat_tenants`
//! does), and the blocking alert's rule. Pure: rows and times come in as
//! arguments.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::alerts::Condition;
use crate::domain::metrics::{AlertKind, Severity, TenantMetrics};
use crate::domain::thresholds::Thresholds;
use crate::domain::units::format_duration;

/// Half-life of the Neighbours score: a burst of statement time counts
/// half as much a minute later.
pub const SCORE_HALF_LIFE: Duration = Duration::from_secs(60);

/// One session that blocks or waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockSession {
    pub pid: i32,
    /// The login role (sanitize before display).
    pub role: String,
    /// The tenant whose role it is, when it is a tenant's.
    pub tenant_id: Option<Uuid>,
    pub state: String,
    pub xact_start: Option<DateTime<Utc>>,
    pub query_start: Option<DateTime<Utc>>,
    /// Since when it waits for a lock (`pg_locks.waitstart`), when it waits.
    pub wait_start: Option<DateTime<Utc>>,
    /// Truncated statement text (sanitize before display).
    pub query: String,
    /// The sessions it waits for (`pg_blocking_pids`).
    pub blocked_by: Vec<i32>,
}

/// A blocker that waits for nobody, and everyone waiting behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockingChain {
    pub blocker: LockSession,
    /// Waiting sessions with their depth (1: waits for the blocker itself).
    pub waiters: Vec<(u8, LockSession)>,
    /// The longest any of the waiters has waited.
    pub blocking_for: Duration,
}

/// Chains from the sessions that wait and the ones they wait for, longest
/// wait first. A blocker that itself waits is shown under its own blocker;
/// sessions waiting in a cycle (a deadlock about to be broken) hang off the
/// lowest pid of the cycle.
pub fn chains(sessions: &[LockSession], now: DateTime<Utc>) -> Vec<BlockingChain> {
    let by_pid: HashMap<i32, &LockSession> = sessions.iter().map(|s| (s.pid, s)).collect();
    let mut waiters_of: HashMap<i32, Vec<i32>> = HashMap::new();
    for s in sessions {
        for b in &s.blocked_by {
            waiters_of.entry(*b).or_default().push(s.pid);
        }
    }
    for w in waiters_of.values_mut() {
        w.sort_unstable();
        w.dedup();
    }
    let mut roots: Vec<i32> = waiters_of
        .keys()
        .filter(|pid| by_pid.get(pid).is_none_or(|s| s.blocked_by.is_empty()))
        .copied()
        .collect();
    roots.sort_unstable();
    let mut seen: HashSet<i32> = HashSet::new();
    let mut out = Vec::new();
    let walk = |root: i32, seen: &mut HashSet<i32>, out: &mut Vec<BlockingChain>| {
        if !seen.insert(root) {
            return;
        }
        let blocker = by_pid.get(&root).map_or_else(
            || LockSession {
                pid: root,
                role: String::new(),
                tenant_id: None,
                state: "unknown".into(),
                xact_start: None,
                query_start: None,
                wait_start: None,
                query: String::new(),
                blocked_by: Vec::new(),
            },
            |s| (*s).clone(),
        );
        let mut waiters = Vec::new();
        let mut stack: Vec<(u8, i32)> = waiters_of
            .get(&root)
            .map(|w| w.iter().rev().map(|p| (1, *p)).collect())
            .unwrap_or_default();
        while let Some((depth, pid)) = stack.pop() {
            if !seen.insert(pid) {
                continue;
            }
            if let Some(s) = by_pid.get(&pid) {
                waiters.push((depth, (*s).clone()));
            }
            if let Some(w) = waiters_of.get(&pid) {
                stack.extend(w.iter().rev().map(|p| (depth.saturating_add(1), *p)));
            }
        }
        let blocking_for = waiters
            .iter()
            .filter_map(|(_, s)| s.wait_start.or(s.query_start))
            .map(|t| (now - t).to_std().unwrap_or_default())
            .max()
            .unwrap_or_default();
        if !waiters.is_empty() {
            out.push(BlockingChain {
                blocker,
                waiters,
                blocking_for,
            });
        }
    };
    for r in roots {
        walk(r, &mut seen, &mut out);
    }
    // Cycles: every member waits, so none was a root.
    let mut rest: Vec<i32> = waiters_of
        .keys()
        .filter(|p| !seen.contains(p))
        .copied()
        .collect();
    rest.sort_unstable();
    for r in rest {
        walk(r, &mut seen, &mut out);
    }
    out.sort_by(|a, b| {
        b.blocking_for
            .cmp(&a.blocking_for)
            .then(a.blocker.pid.cmp(&b.blocker.pid))
    });
    out
}

/// The blocking alert: a tenant whose session has kept others waiting for
/// at least `[thresholds] blocking` (one condition per tenant, its longest
/// chain).
pub fn blocking_conditions(
    chains: &[BlockingChain],
    name_of: impl Fn(Uuid) -> Option<String>,
    t: &Thresholds,
) -> Vec<Condition> {
    let mut worst: HashMap<Uuid, &BlockingChain> = HashMap::new();
    for c in chains {
        let Some(id) = c.blocker.tenant_id else {
            continue;
        };
        if c.blocking_for < t.blocking.0 {
            continue;
        }
        let e = worst.entry(id).or_insert(c);
        if c.blocking_for > e.blocking_for {
            *e = c;
        }
    }
    let mut out: Vec<Condition> = worst
        .into_iter()
        .map(|(id, c)| Condition {
            tenant_id: Some(id),
            kind: AlertKind::Blocking,
            scope: "",
            severity: if c.blocking_for >= t.blocking.0 * 4 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            message: format!(
                "{}: session {} has blocked {} session{} for {}",
                name_of(id).unwrap_or_else(|| id.to_string()),
                c.blocker.pid,
                c.waiters.len(),
                if c.waiters.len() == 1 { "" } else { "s" },
                format_duration(Duration::from_secs(c.blocking_for.as_secs()))
            ),
        })
        .collect();
    out.sort_by_key(|c| c.tenant_id);
    out
}

/// The decayed score after `elapsed` with `added` new statement time: the
/// old score halves every [`SCORE_HALF_LIFE`].
pub fn decay(score: f64, elapsed: Duration, added: f64) -> f64 {
    let f = 0.5f64.powf(elapsed.as_secs_f64() / SCORE_HALF_LIFE.as_secs_f64());
    score * f + added.max(0.0)
}

/// What the Neighbours view (and `top --sort`) ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NeighbourMetric {
    /// Decayed share of statement time (the default).
    Share,
    /// WAL bytes per second.
    Wal,
    /// Temporary file bytes per second.
    Temp,
    /// Cache hit ratio, worst first.
    Cache,
    /// Rows written per second.
    Writes,
    /// Sessions.
    Connections,
}

impl NeighbourMetric {
    pub const ALL: [NeighbourMetric; 6] = [
        NeighbourMetric::Share,
        NeighbourMetric::Wal,
        NeighbourMetric::Temp,
        NeighbourMetric::Cache,
        NeighbourMetric::Writes,
        NeighbourMetric::Connections,
    ];

    pub fn title(self) -> &'static str {
        match self {
            NeighbourMetric::Share => "share of statement time (decayed)",
            NeighbourMetric::Wal => "WAL bytes/s",
            NeighbourMetric::Temp => "temp spill bytes/s",
            NeighbourMetric::Cache => "cache hit (worst first)",
            NeighbourMetric::Writes => "rows written/s",
            NeighbourMetric::Connections => "connections",
        }
    }

    /// The name `:neighbours`/`top --sort` take.
    pub fn key(self) -> &'static str {
        match self {
            NeighbourMetric::Share => "share",
            NeighbourMetric::Wal => "wal",
            NeighbourMetric::Temp => "temp",
            NeighbourMetric::Cache => "cache",
            NeighbourMetric::Writes => "writes",
            NeighbourMetric::Connections => "connections",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.key().eq_ignore_ascii_case(s.trim()))
    }

    #[must_use]
    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|m| *m == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// The ranking value: bigger ranks higher; `None` (not measured) ranks last.
    pub fn value(self, m: &TenantMetrics) -> Option<f64> {
        match self {
            NeighbourMetric::Share => m.share_score,
            NeighbourMetric::Wal => m.wal_bytes_per_s,
            NeighbourMetric::Temp => m.temp_bytes_per_s,
            // Worst first; only tenants that read anything.
            NeighbourMetric::Cache => m.cache_hit.map(|h| 1.0 - h),
            NeighbourMetric::Writes => m.writes_per_s,
            NeighbourMetric::Connections => Some(f64::from(m.sessions_total)),
        }
    }
}

/// Tenants ranked by `metric`, highest first (ties by id), at most `limit`.
pub fn rank<'a>(
    tenants: impl Iterator<Item = &'a TenantMetrics>,
    metric: NeighbourMetric,
    limit: usize,
) -> Vec<Uuid> {
    let mut v: Vec<(f64, Uuid)> = tenants
        .filter_map(|m| metric.value(m).map(|x| (x, m.tenant_id)))
        .filter(|(x, _)| x.is_finite())
        .collect();
    let cmp = |a: &(f64, Uuid), b: &(f64, Uuid)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if v.len() > limit && limit > 0 {
        v.select_nth_unstable_by(limit - 1, cmp);
        v.truncate(limit);
    }
    v.sort_unstable_by(cmp);
    v.into_iter().map(|(_, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    fn sess(pid: i32, tenant: Option<u128>, by: &[i32], wait: Option<i64>) -> LockSession {
        LockSession {
            pid,
            role: format!("r{pid}"),
            tenant_id: tenant.map(Uuid::from_u128),
            state: if by.is_empty() {
                "idle in transaction".into()
            } else {
                "active".into()
            },
            xact_start: Some(at(0)),
            query_start: Some(at(1)),
            wait_start: wait.map(at),
            query: "UPDATE t SET v = 1".into(),
            blocked_by: by.to_vec(),
        }
    }

    #[test]
    fn chains_root_at_the_blocker_that_waits_for_nobody() {
        // 10 blocks 11 and 12; 12 blocks 13; 20 blocks 21 (shorter wait).
        let rows = vec![
            sess(13, Some(3), &[12], Some(50)),
            sess(11, Some(2), &[10], Some(40)),
            sess(12, Some(2), &[10], Some(45)),
            sess(10, Some(1), &[], None),
            sess(21, None, &[20], Some(90)),
            sess(20, Some(9), &[], None),
        ];
        let c = chains(&rows, at(100));
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].blocker.pid, 10, "longest wait first");
        assert_eq!(c[0].blocking_for, Duration::from_secs(60));
        let w: Vec<(u8, i32)> = c[0].waiters.iter().map(|(d, s)| (*d, s.pid)).collect();
        assert_eq!(w, vec![(1, 11), (1, 12), (2, 13)]);
        assert_eq!(c[1].blocker.pid, 20);
        assert_eq!(c[1].blocking_for, Duration::from_secs(10));
    }

    #[test]
    fn a_cycle_hangs_off_its_lowest_pid_and_an_unseen_blocker_is_kept() {
        let rows = vec![
            sess(31, None, &[30], Some(10)),
            sess(30, None, &[31], Some(20)),
            sess(41, None, &[40], Some(5)),
        ];
        let c = chains(&rows, at(30));
        let blockers: Vec<i32> = c.iter().map(|c| c.blocker.pid).collect();
        assert_eq!(blockers, vec![40, 30]);
        assert_eq!(c[0].blocker.state, "unknown");
        assert_eq!(c[1].waiters.len(), 1);
    }

    #[test]
    fn blocking_alerts_only_past_the_threshold_once_per_tenant() {
        let t = Thresholds::default();
        let rows = vec![
            sess(10, Some(1), &[], None),
            sess(11, Some(2), &[10], Some(0)),
            sess(12, Some(2), &[10], Some(60)),
            sess(20, Some(5), &[], None),
            sess(21, Some(2), &[20], Some(60)),
        ];
        let c = chains(&rows, at(70));
        let conds = blocking_conditions(&c, |_| Some("acme".into()), &t);
        assert_eq!(conds.len(), 1, "{conds:?}");
        assert_eq!(conds[0].tenant_id, Some(Uuid::from_u128(1)));
        assert_eq!(conds[0].kind, AlertKind::Blocking);
        assert_eq!(conds[0].severity, Severity::Warning);
        assert!(
            conds[0].message.contains("blocked 2 sessions for 1m10s"),
            "{}",
            conds[0].message
        );
        let c = chains(
            &[sess(10, Some(1), &[], None), sess(11, None, &[10], Some(0))],
            at(29),
        );
        assert!(
            blocking_conditions(&c, |_| None, &t).is_empty(),
            "29 s < 30 s"
        );
        let c = chains(
            &[sess(10, Some(1), &[], None), sess(11, None, &[10], Some(0))],
            at(30),
        );
        assert_eq!(blocking_conditions(&c, |_| None, &t).len(), 1, "at 30 s");
        let c = chains(
            &[sess(10, Some(1), &[], None), sess(11, None, &[10], Some(0))],
            at(120),
        );
        assert_eq!(
            blocking_conditions(&c, |_| None, &t)[0].severity,
            Severity::Critical
        );
    }

    #[test]
    fn a_tenant_blocking_from_several_sessions_is_reported_by_its_longest_chain() {
        let t = Thresholds::default();
        // Tenant 1 blocks from two sessions: 30's waiter has waited 100 s,
        // 10's 40 s.
        let rows = vec![
            sess(10, Some(1), &[], None),
            sess(11, None, &[10], Some(60)),
            sess(30, Some(1), &[], None),
            sess(31, None, &[30], Some(0)),
        ];
        let c = chains(&rows, at(100));
        assert_eq!(c.len(), 2);
        let reversed: Vec<BlockingChain> = c.iter().rev().cloned().collect();
        for given in [&c, &reversed] {
            let conds = blocking_conditions(given, |_| None, &t);
            assert_eq!(conds.len(), 1, "{conds:?}");
            assert!(
                conds[0]
                    .message
                    .contains("session 30 has blocked 1 session for 1m40s"),
                "{}",
                conds[0].message
            );
        }
        // Equal waits: the first chain given stands (the lowest pid, as
        // `chains` orders them).
        let rows = vec![
            sess(10, Some(1), &[], None),
            sess(11, None, &[10], Some(0)),
            sess(30, Some(1), &[], None),
            sess(31, None, &[30], Some(0)),
        ];
        let c = chains(&rows, at(60));
        assert_eq!(c[0].blocker.pid, 10);
        let conds = blocking_conditions(&c, |_| None, &t);
        assert!(
            conds[0].message.contains("session 10 has"),
            "{}",
            conds[0].message
        );
    }

    #[test]
    fn the_score_halves_every_half_life() {
        assert!((decay(100.0, SCORE_HALF_LIFE, 0.0) - 50.0).abs() < 1e-9);
        assert!((decay(100.0, Duration::ZERO, 5.0) - 105.0).abs() < 1e-9);
        assert!((decay(0.0, SCORE_HALF_LIFE * 2, -3.0)).abs() < 1e-9);
    }

    #[test]
    fn ranking_puts_the_biggest_first_and_skips_the_unmeasured() {
        let m = |id: u128, share: Option<f64>, hit: Option<f64>| TenantMetrics {
            tenant_id: Uuid::from_u128(id),
            share_score: share,
            cache_hit: hit,
            ..TenantMetrics::default()
        };
        let all = [
            m(1, Some(0.2), Some(0.99)),
            m(2, Some(0.5), Some(0.5)),
            m(3, None, None),
            m(4, Some(0.2), Some(0.9)),
        ];
        let ids = |v: Vec<Uuid>| v.iter().map(Uuid::as_u128).collect::<Vec<_>>();
        assert_eq!(ids(rank(all.iter(), NeighbourMetric::Share, 10)), [2, 1, 4]);
        assert_eq!(ids(rank(all.iter(), NeighbourMetric::Share, 2)), [2, 1]);
        assert_eq!(ids(rank(all.iter(), NeighbourMetric::Cache, 10)), [2, 4, 1]);
        assert_eq!(NeighbourMetric::parse("WAL"), Some(NeighbourMetric::Wal));
        assert_eq!(NeighbourMetric::parse("x"), None);
        assert_eq!(NeighbourMetric::Connections.next(), NeighbourMetric::Share);
    }

    #[test]
    fn each_neighbour_metric_has_its_own_title_and_key_and_limit_zero_ranks_all() {
        let titles: std::collections::BTreeSet<&str> =
            NeighbourMetric::ALL.iter().map(|m| m.title()).collect();
        assert_eq!(titles.len(), NeighbourMetric::ALL.len());
        assert!(titles.iter().all(|t| t.len() > 3));
        assert!(titles.contains("WAL bytes/s"));
        for m in NeighbourMetric::ALL {
            assert_eq!(NeighbourMetric::parse(m.key()), Some(m));
        }
        let ms: Vec<TenantMetrics> = (0..5u128)
            .map(|i| TenantMetrics {
                tenant_id: Uuid::from_u128(i + 1),
                sessions_total: u32::try_from(i).expect("small"),
                ..TenantMetrics::default()
            })
            .collect();
        let all = rank(ms.iter(), NeighbourMetric::Connections, 0);
        assert_eq!(all.len(), 5, "no limit");
        assert_eq!(all.first(), Some(&Uuid::from_u128(5)));
        assert_eq!(
            rank(ms.iter(), NeighbourMetric::Connections, 2),
            [Uuid::from_u128(5), Uuid::from_u128(4)]
        );
    }
}
