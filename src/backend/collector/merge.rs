//! One tenant's metrics from this tick's rows, its previous metrics and its
//! counters: rates over the server clock, resets as "no rate", and the
//! previous values kept for a source that failed this tick.

use std::collections::HashMap;
use std::time::Duration;

use chrono::DateTime;

use crate::backend::store::{TenantState, delta, rate};
use crate::db::metrics::{SessionRow, SizeRow, StatementRow, TableCounters};
use crate::domain::metrics::{MonitoredTenant, TenantMetrics};

/// This tick's rows by schema (sorted by it) or role, with their server
/// time (ms); `None` for a source that failed.
pub(super) struct Inputs<'a> {
    pub sizes: Option<&'a [SizeRow]>,
    pub tables: Option<(&'a [(String, TableCounters)], i64)>,
    pub sessions: Option<HashMap<&'a str, &'a SessionRow>>,
    pub statements: Option<(HashMap<&'a str, &'a StatementRow>, i64)>,
    pub statements_available: bool,
    pub now_ms: i64,
}

/// The row of `schema` in rows sorted by `key`.
pub(super) fn find<'a, T>(
    rows: &'a [T],
    schema: &str,
    key: impl Fn(&T) -> &String,
) -> Option<&'a T> {
    rows.binary_search_by(|r| key(r).as_str().cmp(schema))
        .ok()
        .map(|i| &rows[i])
}

fn secs(v: Option<f64>) -> Option<Duration> {
    v.filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Everything but drift and health, which the collector adds.
pub(super) fn tenant_metrics(
    t: &MonitoredTenant,
    prev: Option<&TenantMetrics>,
    st: &mut TenantState,
    inp: &Inputs<'_>,
) -> TenantMetrics {
    let mut m = TenantMetrics {
        tenant_id: t.id,
        ..TenantMetrics::default()
    };
    let mut active = false;

    m.size_approx_bytes = match &inp.sizes {
        Some(rows) => find(rows, &t.schema_name, |r| &r.schema).map_or(0, |r| r.bytes),
        None => prev.map_or(0, |p| p.size_approx_bytes),
    };

    if let Some((by, at)) = &inp.tables {
        let counters = find(by, &t.schema_name, |r| &r.0)
            .map(|r| r.1)
            .unwrap_or_default();
        m.rows_written = counters.rows_written;
        m.seq_scans = counters.seq_scans;
        m.idx_scans = counters.idx_scans;
        m.dead_tuples = counters.dead_tuples;
        let written = delta(&mut st.rows, *at, counters.rows_written);
        m.writes_per_s = written.map(|(n, s)| n as f64 / s);
        if let Some((n, _)) = written {
            st.usage.rows_written += n;
            active |= n > 0;
        }
        let scans = counters.seq_scans.saturating_add(counters.idx_scans);
        active |= rate(&mut st.scans, *at, scans).is_some_and(|r| r > 0.0);
    } else if let Some(p) = prev {
        m.rows_written = p.rows_written;
        m.seq_scans = p.seq_scans;
        m.idx_scans = p.idx_scans;
        m.dead_tuples = p.dead_tuples;
        m.writes_per_s = p.writes_per_s;
    }

    if let Some(by) = &inp.sessions {
        if let Some(r) = by.get(t.role_name.as_str()) {
            m.sessions_total = r.total;
            m.sessions_active = r.active;
            m.sessions_idle = r.idle;
            m.sessions_idle_in_tx = r.idle_in_tx;
            m.longest_running = secs(r.longest_running_s);
            m.oldest_xact = secs(r.oldest_xact_s);
            m.idle_in_tx_longest = secs(r.idle_in_tx_longest_s);
            active |= r.active > 0;
        }
    } else if let Some(p) = prev {
        m.sessions_total = p.sessions_total;
        m.sessions_active = p.sessions_active;
        m.sessions_idle = p.sessions_idle;
        m.sessions_idle_in_tx = p.sessions_idle_in_tx;
        m.longest_running = p.longest_running;
        m.oldest_xact = p.oldest_xact;
        m.idle_in_tx_longest = p.idle_in_tx_longest;
    }
    st.usage.max_connections = st.usage.max_connections.max(m.sessions_total);

    if let Some((by, at)) = &inp.statements {
        let (calls, total_ms) = by
            .get(t.role_name.as_str())
            .map_or((0, 0.0), |r| (r.calls, r.total_ms));
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        // reason: non-negative milliseconds to a microsecond counter
        let exec_us = (total_ms.max(0.0) * 1000.0) as u64;
        m.total_calls = Some(calls);
        let dc = delta(&mut st.calls, *at, calls);
        let de = delta(&mut st.exec_us, *at, exec_us);
        m.calls_per_s = dc.map(|(n, s)| n as f64 / s);
        // Mean over this tick's calls when there were any, else since the
        // statistics were last reset.
        m.mean_exec_ms = match (dc, de) {
            (Some((n, _)), Some((us, _))) if n > 0 => Some(us as f64 / 1000.0 / n as f64),
            _ if calls > 0 => Some(total_ms / calls as f64),
            _ => None,
        };
        if let (Some((n, _)), Some((us, _))) = (dc, de) {
            st.usage.calls += n;
            st.usage.exec_ms += us as f64 / 1000.0;
            active |= n > 0;
        }
        st.usage.statements_seen = true;
    } else if inp.statements_available {
        if let Some(p) = prev {
            m.total_calls = p.total_calls;
            m.calls_per_s = p.calls_per_s;
            m.mean_exec_ms = p.mean_exec_ms;
        }
    }

    m.size_bytes = m.size_approx_bytes;
    if let Some((bytes, at)) = st.exact {
        m.size_bytes = bytes;
        m.size_exact_at = DateTime::from_timestamp_millis(at);
    }
    st.usage.bytes = m.size_bytes;
    if active {
        st.last_activity_ms = inp.now_ms;
    }
    m.last_activity = DateTime::from_timestamp_millis(st.last_activity_ms);
    m
}
