//! The noisy-neighbour figures and the blocking chains of a tick, folded
//! purely: per tenant, deltas of the statement extras over the server
//! clock (WAL, temp spill, buffer hits, statement time) into rates, its
//! share of the database's statement time, and the decayed score; the
//! database's calls and WAL per second; the lock rows into chains with
//! their tenants.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use uuid::Uuid;

use crate::backend::id_map::IdMap;
use crate::backend::store::ms;
use crate::db::activity::{LockRow, StatementExtraRow};
use crate::db::metrics::Sample;
use crate::domain::activity::{self, BlockingChain, LockSession};
use crate::domain::metrics::{MonitoredTenant, TenantMap, TenantMetrics};

/// The counters of one role's statements at the last reading.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counters {
    at_ms: i64,
    calls: u64,
    exec_us: u64,
    wal: Option<u64>,
    temp: u64,
    hit: u64,
    read: u64,
}

impl Counters {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    // reason: non-negative milliseconds to a microsecond counter
    fn of(r: &StatementExtraRow, at_ms: i64) -> Self {
        Self {
            at_ms,
            calls: r.calls,
            exec_us: (r.total_ms.max(0.0) * 1000.0) as u64,
            wal: r.wal_bytes,
            temp: r.temp_bytes,
            hit: r.shared_blks_hit,
            read: r.shared_blks_read,
        }
    }

    fn add(&mut self, o: &Self) {
        self.calls += o.calls;
        self.exec_us += o.exec_us;
        self.wal = match (self.wal, o.wal) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.temp += o.temp;
        self.hit += o.hit;
        self.read += o.read;
    }
}

/// The increases since `prev`, with the seconds between them; `None` on
/// the first reading, a clock that did not advance, or any counter that
/// went down (a reset).
struct Delta {
    secs: f64,
    calls: u64,
    exec_us: u64,
    wal: Option<u64>,
    temp: u64,
    hit: u64,
    read: u64,
}

fn delta(prev: Option<&Counters>, now: &Counters) -> Option<Delta> {
    let p = prev?;
    if now.at_ms <= p.at_ms
        || now.calls < p.calls
        || now.exec_us < p.exec_us
        || now.temp < p.temp
        || now.hit < p.hit
        || now.read < p.read
    {
        return None;
    }
    let wal = match (p.wal, now.wal) {
        (Some(a), Some(b)) if b >= a => Some(b - a),
        (Some(_), Some(_)) => return None,
        _ => None,
    };
    Some(Delta {
        secs: (now.at_ms - p.at_ms) as f64 / 1000.0,
        calls: now.calls - p.calls,
        exec_us: now.exec_us - p.exec_us,
        wal,
        temp: now.temp - p.temp,
        hit: now.hit - p.hit,
        read: now.read - p.read,
    })
}

/// Per tenant between ticks: its last counters and its decayed score.
#[derive(Debug, Clone, Copy, Default)]
struct TenantPrev {
    counters: Option<Counters>,
    /// Decayed statement time (µs) and when it was last decayed (server ms).
    score: f64,
    score_ms: i64,
}

/// The database's figures from the extras, for the cluster totals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClusterExtras {
    pub calls_per_s: Option<f64>,
    pub wal_bytes_per_s: Option<f64>,
}

/// Everything the neighbour figures remember.
#[derive(Debug, Default)]
pub struct Neighbours {
    /// By tenant id, sorted (a hash map's spare buckets held a quarter more).
    tenants: IdMap<TenantPrev>,
    cluster: Option<Counters>,
    last_cluster: ClusterExtras,
}

impl Neighbours {
    /// Forget tenants not in `keep`.
    pub fn retain(&mut self, keep: &HashSet<Uuid>) {
        self.tenants.retain_ids(keep);
    }

    /// Fill each tenant's share, score, WAL, temp and cache hit from this
    /// tick's extras (`None`: the read failed or the extension is absent;
    /// then each tenant keeps its figures of `prev`, the last snapshot, as
    /// for the other sources). `out` is in the order of `present`.
    pub fn apply(
        &mut self,
        extras: Option<&Sample<StatementExtraRow>>,
        present: &[&MonitoredTenant],
        out: &mut [TenantMetrics],
        prev: &TenantMap,
        now_ms: i64,
    ) -> ClusterExtras {
        let Some(sample) = extras else {
            for m in out.iter_mut() {
                if let Some(p) = prev.get(&m.tenant_id) {
                    m.statement_share = p.statement_share;
                    m.share_score = p.share_score;
                    m.wal_bytes_per_s = p.wal_bytes_per_s;
                    m.temp_bytes_per_s = p.temp_bytes_per_s;
                    m.cache_hit = p.cache_hit;
                }
            }
            return self.last_cluster;
        };
        let at = sample.at.map_or(now_ms, ms);
        let by_role: HashMap<&str, &StatementExtraRow> =
            sample.rows.iter().map(|r| (r.role.as_str(), r)).collect();
        // The database's total: every role's statements, tenants or not.
        let mut total = Counters {
            at_ms: at,
            ..Counters::default()
        };
        for r in &sample.rows {
            total.add(&Counters::of(r, at));
        }
        let cluster_delta = delta(self.cluster.as_ref(), &total);
        self.cluster = Some(total);
        let cluster = ClusterExtras {
            calls_per_s: cluster_delta.as_ref().map(|d| d.calls as f64 / d.secs),
            wal_bytes_per_s: cluster_delta
                .as_ref()
                .and_then(|d| d.wal.map(|w| w as f64 / d.secs)),
        };
        let exec_total = cluster_delta.as_ref().map(|d| d.exec_us as f64);
        self.tenants
            .add_missing(out.iter().map(|m| m.tenant_id), |_| TenantPrev::default());
        // Each tenant's row, by its login role: `present` is in the order
        // of `out` (a map only for a caller that mixed them).
        let aligned = present.len() == out.len()
            && present
                .iter()
                .zip(out.iter())
                .all(|(t, m)| t.id == m.tenant_id);
        let tenant_of: HashMap<Uuid, &MonitoredTenant> = if aligned {
            HashMap::new()
        } else {
            present.iter().map(|t| (t.id, *t)).collect()
        };
        let mut scores: Vec<f64> = Vec::with_capacity(out.len());
        for (i, m) in out.iter_mut().enumerate() {
            let t = if aligned {
                Some(present[i])
            } else {
                tenant_of.get(&m.tenant_id).copied()
            };
            let now = t.and_then(|t| by_role.get(t.role_name.as_str())).map_or(
                Counters {
                    at_ms: at,
                    ..Counters::default()
                },
                |r| Counters::of(r, at),
            );
            let prev = self
                .tenants
                .get_or_insert_with(m.tenant_id, TenantPrev::default);
            let d = delta(prev.counters.as_ref(), &now);
            let elapsed =
                Duration::from_millis(u64::try_from(at - prev.score_ms).unwrap_or_default());
            let added = d.as_ref().map_or(0.0, |d| d.exec_us as f64);
            prev.score = if prev.score_ms == 0 {
                added
            } else {
                activity::decay(prev.score, elapsed, added)
            };
            prev.score_ms = at;
            prev.counters = Some(now);
            scores.push(prev.score);
            // The rates need this tick alone; the share of the score waits
            // for everyone's score.
            if let Some(d) = d {
                m.wal_bytes_per_s = d.wal.map(|w| w as f64 / d.secs);
                m.temp_bytes_per_s = Some(d.temp as f64 / d.secs);
                m.cache_hit = (d.hit + d.read > 0).then(|| d.hit as f64 / (d.hit + d.read) as f64);
                m.statement_share =
                    exec_total.map(|t| if t > 0.0 { d.exec_us as f64 / t } else { 0.0 });
            }
        }
        let score_sum: f64 = scores.iter().sum();
        for (m, score) in out.iter_mut().zip(scores) {
            m.share_score = (score_sum > 0.0).then(|| score / score_sum).or(
                // Nothing ran in the window yet: every tenant's share is 0.
                m.statement_share.map(|_| 0.0),
            );
        }
        self.last_cluster = cluster;
        cluster
    }
}

/// The lock rows as chains, each session with its tenant (by login role).
pub fn blocking_chains(
    rows: &Sample<LockRow>,
    present: &[&MonitoredTenant],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<BlockingChain> {
    let tenant_of: HashMap<&str, Uuid> = present
        .iter()
        .map(|t| (t.role_name.as_str(), t.id))
        .collect();
    let sessions: Vec<LockSession> = rows
        .rows
        .iter()
        .map(|r| LockSession {
            pid: r.pid,
            role: r.role.clone(),
            tenant_id: tenant_of.get(r.role.as_str()).copied(),
            state: r.state.clone(),
            xact_start: r.xact_start,
            query_start: r.query_start,
            wait_start: r.wait_start,
            query: r.query.clone(),
            blocked_by: r.blocked_by.clone(),
        })
        .collect();
    activity::chains(&sessions, rows.at.unwrap_or(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn tenant(k: u128) -> MonitoredTenant {
        let t = crate::tui::sample::tenants(3)
            .into_iter()
            .nth(usize::try_from(k).unwrap_or(0))
            .expect("sample");
        MonitoredTenant::from(&t)
    }

    fn row(role: &str, calls: u64, ms: f64, wal: u64, hit: u64, read: u64) -> StatementExtraRow {
        StatementExtraRow {
            role: role.into(),
            calls,
            total_ms: ms,
            wal_bytes: Some(wal),
            temp_bytes: 8192 * calls,
            shared_blks_hit: hit,
            shared_blks_read: read,
        }
    }

    fn sample(s: i64, rows: Vec<StatementExtraRow>) -> Sample<StatementExtraRow> {
        Sample {
            at: DateTime::from_timestamp(1_800_000_000 + s, 0),
            rows,
        }
    }

    #[test]
    fn shares_rates_and_a_decaying_score() {
        let (a, b) = (tenant(0), tenant(1));
        let present = [&a, &b];
        let mut n = Neighbours::default();
        let mut out = vec![
            TenantMetrics {
                tenant_id: a.id,
                ..TenantMetrics::default()
            },
            TenantMetrics {
                tenant_id: b.id,
                ..TenantMetrics::default()
            },
        ];
        let ra = a.role_name.as_str();
        let rb = b.role_name.as_str();
        let c = n.apply(
            Some(&sample(
                0,
                vec![
                    row(ra, 0, 0.0, 0, 0, 0),
                    row(rb, 0, 0.0, 0, 0, 0),
                    row("ops", 0, 0.0, 0, 0, 0),
                ],
            )),
            &present,
            &mut out,
            &TenantMap::default(),
            0,
        );
        assert_eq!(c.calls_per_s, None, "first reading: no rate");
        assert_eq!(out[0].wal_bytes_per_s, None);
        // 2 s later: A spent 300 ms, B 100 ms, the operator 100 ms.
        let c = n.apply(
            Some(&sample(
                2,
                vec![
                    row(ra, 10, 300.0, 4000, 90, 10),
                    row(rb, 2, 100.0, 0, 0, 0),
                    row("ops", 2, 100.0, 0, 0, 0),
                ],
            )),
            &present,
            &mut out,
            &TenantMap::default(),
            0,
        );
        assert_eq!(c.calls_per_s, Some(7.0));
        assert_eq!(c.wal_bytes_per_s, Some(2000.0));
        assert_eq!(out[0].statement_share, Some(0.6));
        assert_eq!(out[1].statement_share, Some(0.2));
        assert_eq!(out[0].wal_bytes_per_s, Some(2000.0));
        assert_eq!(out[0].temp_bytes_per_s, Some(8192.0 * 5.0));
        assert_eq!(out[0].cache_hit, Some(0.9));
        assert_eq!(out[1].cache_hit, None, "no buffers touched");
        assert_eq!(out[0].share_score, Some(0.75));
        // A minute later only B ran: A's burst still counts, halved.
        let c = n.apply(
            Some(&sample(
                62,
                vec![
                    row(ra, 10, 300.0, 4000, 90, 10),
                    row(rb, 3, 400.0, 0, 0, 0),
                    row("ops", 2, 100.0, 0, 0, 0),
                ],
            )),
            &present,
            &mut out,
            &TenantMap::default(),
            0,
        );
        assert_eq!(out[0].statement_share, Some(0.0));
        assert_eq!(out[1].statement_share, Some(1.0));
        // A: 300/2 = 150; B: 100/2 + 300 = 350.
        let sa = out[0].share_score.expect("score");
        assert!((sa - 0.3).abs() < 1e-9, "{sa}");
        assert!(c.calls_per_s.is_some());
        // A reset: no rates that tick, never negative.
        let fresh = |out: &[TenantMetrics]| -> Vec<TenantMetrics> {
            out.iter()
                .map(|m| TenantMetrics {
                    tenant_id: m.tenant_id,
                    ..TenantMetrics::default()
                })
                .collect()
        };
        let mut out = fresh(&out);
        n.apply(
            Some(&sample(
                64,
                vec![row(ra, 1, 1.0, 1, 1, 1), row(rb, 3, 400.0, 0, 0, 0)],
            )),
            &present,
            &mut out,
            &TenantMap::default(),
            0,
        );
        assert_eq!(out[0].statement_share, None, "a reset has no rate");
        assert_eq!(out[0].wal_bytes_per_s, None);
        // A failed read keeps the last figures.
        let before = out.clone();
        let mut out = fresh(&out);
        n.apply(
            None,
            &present,
            &mut out,
            &TenantMap::from(before.clone()),
            0,
        );
        assert_eq!(out, before);
        // A tenant the last snapshot lacks keeps nothing.
        let mut out = fresh(&out);
        n.apply(None, &present, &mut out, &TenantMap::default(), 0);
        assert_eq!(out, fresh(&before));
    }

    #[test]
    fn present_in_another_order_than_out_gives_the_same_figures() {
        let (a, b, c) = (tenant(0), tenant(1), tenant(2));
        let rows = |s: i64, k: u64| {
            sample(
                s,
                vec![
                    row(&a.role_name, k, 30.0 * k as f64, 100 * k, 9 * k, k),
                    row(&b.role_name, 2 * k, 10.0 * k as f64, 0, k, 0),
                    row(&c.role_name, 0, 0.0, 0, 0, 0),
                ],
            )
        };
        let blank = |t: &MonitoredTenant| TenantMetrics {
            tenant_id: t.id,
            ..TenantMetrics::default()
        };
        let run = |present: [&MonitoredTenant; 3]| {
            let mut n = Neighbours::default();
            let mut out = Vec::new();
            for (s, k) in [(0, 1), (2, 5), (4, 9)] {
                out = vec![blank(&a), blank(&b), blank(&c)];
                n.apply(
                    Some(&rows(s, k)),
                    &present,
                    &mut out,
                    &TenantMap::default(),
                    0,
                );
            }
            out
        };
        let aligned = run([&a, &b, &c]);
        assert!(aligned[0].statement_share.is_some_and(|v| v > 0.0));
        assert!(aligned[1].wal_bytes_per_s.is_some());
        assert_ne!(aligned[0].share_score, aligned[1].share_score);
        assert_eq!(run([&c, &a, &b]), aligned);
        assert_eq!(run([&b, &c, &a]), aligned);
    }
}
