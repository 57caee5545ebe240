//! `top`, `health` and `usage export`: the collector and the usage table
//! from the command line.

use crate::{out, outln};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use serde::Serialize;

use super::output::{csv, print_json};
use crate::backend::collector::Collector;
use crate::config::Config;
use crate::db::{self, Db};
use crate::domain::metrics::{Health, MonitoredTenant, Snapshot, TenantMetrics};
use crate::domain::sanitize::clean;
use crate::domain::units::format_size;
use crate::error::{Error, Result};

/// What `top` sorts by (largest first; health and cache hit worst first;
/// name A–Z).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortMetric {
    Size,
    Connections,
    Calls,
    Writes,
    Health,
    Name,
    /// Share of the database's statement time, decayed over the last
    /// minutes (needs two samples; `--watch` lets it build up).
    Share,
    /// WAL bytes per second of the tenant's statements.
    Wal,
    /// Temporary file bytes per second (`temp_blks_written`).
    Temp,
    /// Shared-buffer cache hit ratio of its statements, worst first.
    Cache,
}

/// Output format of `usage export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UsageFormat {
    Csv,
    Json,
}

#[derive(Debug, Serialize)]
pub(super) struct Row<'a> {
    id: uuid::Uuid,
    name: &'a str,
    domain: &'a str,
    schema: &'a str,
    status: &'a str,
    #[serde(flatten)]
    metrics: &'a TenantMetrics,
}

async fn prepare(config: &Config) -> Result<(Db, Vec<MonitoredTenant>)> {
    let db = Db::connect(config).await?;
    db::migrate::check(&db).await?;
    let rows = db::tenants::list_tenants(&db, None).await?;
    let tenants = crate::backend::monitoring_targets(&rows, &config.provisioning.template_dir);
    Ok((db, tenants.to_vec()))
}

fn collector(config: &Config) -> Collector {
    let mut monitoring = config.monitoring.clone();
    monitoring.record_usage = false;
    let mut c = Collector::new(&monitoring, &config.thresholds);
    c.sampler = c
        .sampler
        .with_timescale_mode(config.provisioning.timescaledb);
    c
}

pub(super) fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.digits$}"))
}

pub(super) fn sort_key(
    metric: SortMetric,
    t: &MonitoredTenant,
    m: &TenantMetrics,
) -> (i64, String) {
    #[allow(clippy::cast_possible_truncation)] // reason: only an ordering key
    let f = |v: Option<f64>| v.map_or(i64::MIN, |x| (x * 1000.0) as i64);
    let key = match metric {
        SortMetric::Size => i64::try_from(m.size_bytes).unwrap_or(i64::MAX),
        SortMetric::Connections => i64::from(m.sessions_total),
        SortMetric::Calls => f(m.calls_per_s),
        SortMetric::Writes => f(m.writes_per_s),
        SortMetric::Health => -i64::from(m.health.score),
        SortMetric::Name => 0,
        SortMetric::Share => f(m.share_score),
        SortMetric::Wal => f(m.wal_bytes_per_s),
        SortMetric::Temp => f(m.temp_bytes_per_s),
        SortMetric::Cache => f(m.cache_hit.map(|h| 1.0 - h)),
    };
    (-key, t.name.to_lowercase())
}

/// What `tenantctl top` was asked for.
#[derive(Debug)]
pub struct TopArgs {
    pub sort: SortMetric,
    pub limit: usize,
    pub watch: bool,
    pub interval: Option<String>,
    pub json: bool,
}

/// `tenantctl top`: two samples one interval apart, so rates are real; with
/// `--watch`, a new table every interval (the screen is cleared first on a
/// terminal, as `watch` does; piped, the tables follow each other).
pub async fn top(config: &Config, a: &TopArgs) -> Result<i32> {
    let interval = match &a.interval {
        Some(s) => {
            let d = crate::domain::units::parse_duration(s)?;
            if d < std::time::Duration::from_millis(100) {
                return Err(Error::invalid("--interval must be at least 100ms"));
            }
            d
        }
        None => config.monitoring.interval.0,
    };
    if config.fleet {
        return super::fleet::top(config, a, interval).await;
    }
    let (db, tenants) = prepare(config).await?;
    let mut col = collector(config);
    col.tick(&db, &tenants).await?;
    let clear = a.watch && std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        tokio::time::sleep(interval).await;
        let snap = col.tick(&db, &tenants).await?;
        if clear {
            crate::out!("\x1b[H\x1b[2J");
        }
        print_top(
            &tenants,
            &snap,
            a.sort,
            a.limit,
            a.json,
            serde_json::Value::Null,
        );
        if !a.watch {
            return Ok(0);
        }
        if !clear {
            outln!();
        }
    }
}

/// Print the top table (or JSON) of one snapshot; `extra` fields are merged
/// into the JSON object (the demo adds its alerts).
pub fn print_top(
    tenants: &[MonitoredTenant],
    snap: &Snapshot,
    sort: SortMetric,
    limit: usize,
    json: bool,
    extra: serde_json::Value,
) {
    let mut rows: Vec<(&MonitoredTenant, &TenantMetrics)> = tenants
        .iter()
        .filter_map(|t| snap.tenants.get(&t.id).map(|m| (t, m)))
        .collect();
    rows.sort_by_key(|(t, m)| sort_key(sort, t, m));
    rows.truncate(limit);
    if super::output::structured(json) {
        let out: Vec<Row> = rows.iter().map(|(t, m)| row(t, m)).collect();
        let mut doc = serde_json::json!({
            "taken_at": snap.taken_at,
            "latency_ms": snap.latency.as_secs_f64() * 1000.0,
            "statements_available": snap.statements_available,
            "stale": snap.stale,
            "totals": snap.totals,
            "tenants": out,
        });
        if let (Some(d), serde_json::Value::Object(e)) = (doc.as_object_mut(), extra) {
            d.extend(e);
        }
        print_json(&doc);
        return;
    }
    out!("{}", totals_line(snap));
    let lines: Vec<Vec<String>> = rows.iter().map(|(t, m)| top_cells(t, m)).collect();
    super::output::print_rows(&TOP_HEADER, &lines);
}

/// The columns of `top`'s table, in the order of [`top_cells`].
pub(super) const TOP_HEADER: [&str; 13] = [
    "NAME", "DOMAIN", "STATUS", "HEALTH", "SIZE", "CONN", "CALLS/S", "WRITES/S", "MEAN MS",
    "SHARE", "WAL/S", "TEMP/S", "CACHE",
];

/// One tenant's row of `top`'s table (`--cluster all` puts its cluster first).
pub(super) fn top_cells(t: &MonitoredTenant, m: &TenantMetrics) -> Vec<String> {
    vec![
        t.name.clone(),
        t.domain.clone(),
        t.status.to_string(),
        m.health.score.to_string(),
        format!(
            "{}{}",
            format_size(m.size_bytes),
            if m.size_exact_at.is_some() { "" } else { "~" }
        ),
        m.sessions_total.to_string(),
        opt(m.calls_per_s, 1),
        opt(m.writes_per_s, 1),
        opt(m.mean_exec_ms, 2),
        m.share_score
            .map_or_else(|| "n/a".into(), |v| format!("{:.1}%", v * 100.0)),
        bytes_per_s(m.wal_bytes_per_s),
        bytes_per_s(m.temp_bytes_per_s),
        m.cache_hit
            .map_or_else(|| "n/a".into(), |v| format!("{:.1}%", v * 100.0)),
    ]
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // reason: a non-negative rate shown as a size
fn bytes_per_s(v: Option<f64>) -> String {
    v.map_or_else(
        || "n/a".into(),
        |v| format!("{}/s", format_size(v.max(0.0) as u64)),
    )
}

pub(super) fn row<'a>(t: &'a MonitoredTenant, m: &'a TenantMetrics) -> Row<'a> {
    Row {
        id: t.id,
        name: &t.name,
        domain: &t.domain,
        schema: &t.schema_name,
        status: t.status.as_str(),
        metrics: m,
    }
}

pub(super) fn totals_line(snap: &Snapshot) -> String {
    let t = &snap.totals;
    let mut s = format!(
        "database {}  connections {}/{}  commits/s {}  cache hit {}  ({} tenants, {:.0} ms)\n",
        format_size(t.database_bytes),
        t.connections,
        t.max_connections,
        opt(t.commits_per_s, 1),
        t.cache_hit_ratio
            .map_or_else(|| "n/a".into(), |r| format!("{:.1}%", r * 100.0)),
        snap.tenants.len(),
        snap.latency.as_secs_f64() * 1000.0
    );
    if !snap.statements_available {
        s.push_str("pg_stat_statements not readable: calls show n/a (see tenantctl doctor)\n");
    }
    if !snap.stale.is_empty() {
        let _ = writeln!(s, "stale: {}", snap.stale.join(", "));
    }
    s
}

/// Find one tenant by id, domain or schema name.
pub(super) fn find<'a>(tenants: &'a [MonitoredTenant], key: &str) -> Result<&'a MonitoredTenant> {
    let k = key.trim();
    tenants
        .iter()
        .find(|t| {
            t.id.to_string() == k.to_ascii_lowercase()
                || t.domain.eq_ignore_ascii_case(k)
                || t.schema_name == k
        })
        .ok_or_else(|| {
            Error::not_found(format!(
                "no active or suspended tenant \"{}\": give its id, domain or schema name",
                clean(k)
            ))
        })
}

/// `tenantctl health [TENANT]`: scores and itemized reasons.
pub async fn health(config: &Config, tenant: Option<&str>, json: bool) -> Result<i32> {
    if config.fleet {
        return super::fleet::health(config, tenant, json).await;
    }
    let (db, tenants) = prepare(config).await?;
    let chosen: Vec<MonitoredTenant> = match tenant {
        Some(k) => vec![find(&tenants, k)?.clone()],
        None => tenants.clone(),
    };
    let mut col = collector(config);
    let snap = col.tick(&db, &chosen).await?;
    let mut out: Vec<(&MonitoredTenant, &Health)> = chosen
        .iter()
        .filter_map(|t| snap.tenants.get(&t.id).map(|m| (t, &m.health)))
        .collect();
    out.sort_by_key(|(t, h)| (h.score, t.name.to_lowercase()));
    if super::output::structured(json) {
        let v: Vec<serde_json::Value> = out
            .iter()
            .map(|(t, h)| {
                serde_json::json!({
                    "id": t.id, "name": t.name, "domain": t.domain,
                    "score": h.score, "reasons": h.reasons,
                })
            })
            .collect();
        if tenant.is_some() {
            print_json(&v.into_iter().next().unwrap_or_default());
        } else {
            print_json(&v);
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = out
        .iter()
        .map(|(t, h)| {
            let reasons = if h.reasons.is_empty() {
                "ok".to_string()
            } else {
                h.reasons
                    .iter()
                    .map(|r| format!("-{} {}", r.points, r.text))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            vec![
                t.name.clone(),
                t.domain.clone(),
                h.score.to_string(),
                reasons,
            ]
        })
        .collect();
    super::output::print_rows(&["NAME", "DOMAIN", "HEALTH", "REASONS"], &rows);
    Ok(0)
}

/// A point in time: see [`crate::domain::units::parse_time`].
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    crate::domain::units::parse_time(s, now)
}

/// `tenantctl usage export`: usage rollups in `[from, to)` for billing.
pub async fn usage_export(
    config: &Config,
    from: &str,
    to: Option<&str>,
    format: UsageFormat,
) -> Result<i32> {
    let now = Utc::now();
    let from = parse_time(from, now)?;
    let to = to.map_or(Ok(now), |t| parse_time(t, now))?;
    if to <= from {
        return Err(Error::invalid("--to must be after --from"));
    }
    let db = Db::connect(config).await?;
    db::migrate::check(&db).await?;
    let rows = db::usage::export(&db, from, to).await?;
    match format {
        UsageFormat::Json => print_json(&rows),
        UsageFormat::Csv => {
            let lines: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.tenant_id.to_string(),
                        r.minute.to_rfc3339(),
                        r.bytes.to_string(),
                        r.connections.to_string(),
                        r.calls.map(|c| c.to_string()).unwrap_or_default(),
                        r.exec_ms.map(|e| format!("{e:.3}")).unwrap_or_default(),
                        r.rows_written.to_string(),
                    ]
                })
                .collect();
            out!(
                "{}",
                csv(
                    &[
                        "tenant_id",
                        "minute",
                        "bytes",
                        "connections",
                        "calls",
                        "exec_ms",
                        "rows_written"
                    ],
                    &lines
                )
            );
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(parse_time("now", now).expect("now"), now);
        assert_eq!(
            parse_time("2026-11-01", now).expect("date").to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-11-01 10:30", now)
                .expect("datetime")
                .to_rfc3339(),
            "2026-11-01T10:30:00+00:00"
        );
        assert_eq!(
            parse_time("2026-11-01T10:30:00+01:00", now)
                .expect("rfc3339")
                .to_rfc3339(),
            "2026-11-01T09:30:00+00:00"
        );
        assert_eq!(
            parse_time("24h", now).expect("ago"),
            now - chrono::Duration::hours(24)
        );
        assert!(parse_time("yesterday-ish", now).is_err());
    }
}
