//! `list`, `top` and `health` under `--cluster all`: every configured
//! cluster at once, a CLUSTER column first, and each cluster that does not
//! answer named on stderr (and in the JSON) while the others are printed.
//! The exit code is 1 when any cluster did not answer.

use crate::{out, outln};

use serde::Serialize;

use super::monitor::{SortMetric, TopArgs, row, sort_key, totals_line};
use super::output::{emit_err, print_json};
use super::tenants::{LIST_CSV, ListArgs, list_csv_row, list_headers, list_row};
use crate::backend::fleet::{self, ClusterReport, ClusterSample, Fleet};
use crate::config::Config;
use crate::db::{self, Db};
use crate::domain::metrics::{MonitoredTenant, TenantMetrics};
use crate::domain::sanitize::clean;
use crate::domain::tenant::{Tenant, TenantStatus};
use crate::error::Result;

/// One cluster's state in a fleet answer.
#[derive(Debug, Serialize)]
struct ClusterState {
    cluster: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn states<T>(reports: &[ClusterReport<T>]) -> Vec<ClusterState> {
    reports
        .iter()
        .map(|r| ClusterState {
            cluster: r.cluster.clone(),
            ok: r.result.is_ok(),
            error: r.result.as_ref().err().map(|e| e.message.clone()),
        })
        .collect()
}

/// Name the clusters that did not answer on stderr; the exit code.
fn report_failures<T>(reports: &[ClusterReport<T>], json: bool) -> i32 {
    let mut code = 0;
    for r in reports {
        if let Err(e) = &r.result {
            code = 1;
            if !json {
                emit_err(&format!(
                    "error: cluster {}: {}",
                    r.cluster,
                    clean(&e.message)
                ));
            }
        }
    }
    code
}

#[derive(Serialize)]
struct ClusterTenant<'a> {
    cluster: &'a str,
    #[serde(flatten)]
    tenant: &'a Tenant,
}

/// `list --cluster all`.
pub async fn list(config: &Config, a: &ListArgs, status: Option<TenantStatus>) -> Result<i32> {
    let members = config.fleet_members()?;
    let reports = fleet::each(
        &members,
        fleet::default_deadline(config),
        move |c| async move {
            let db = Db::connect(&c).await?;
            db::migrate::check(&db).await?;
            db::tenants::list_tenants(&db, status).await
        },
    )
    .await;
    let structured = super::output::structured(a.json);
    let code = report_failures(&reports, structured);
    let rows: Vec<(&str, &Tenant)> = reports
        .iter()
        .filter_map(|r| r.result.as_ref().ok().map(|v| (r.cluster.as_str(), v)))
        .flat_map(|(c, v)| v.iter().map(move |t| (c, t)))
        .collect();
    if structured {
        let tenants: Vec<ClusterTenant> = rows
            .iter()
            .map(|(cluster, tenant)| ClusterTenant { cluster, tenant })
            .collect();
        print_json(&serde_json::json!({ "clusters": states(&reports), "tenants": tenants }));
        return Ok(code);
    }
    let format = super::output::format(false);
    if a.csv || format == super::output::Format::Csv {
        let mut headers = vec!["cluster"];
        headers.extend_from_slice(LIST_CSV);
        let lines: Vec<Vec<String>> = rows
            .iter()
            .map(|(c, t)| {
                let mut r = vec![(*c).to_string()];
                r.extend(list_csv_row(t));
                r
            })
            .collect();
        out!(
            "{}",
            super::output::csv_opts(&headers, &lines, !super::output::no_headers())
        );
        return Ok(code);
    }
    if rows.is_empty() {
        outln!("no tenants");
        return Ok(code);
    }
    let wide = format == super::output::Format::Wide;
    let mut headers = vec!["CLUSTER"];
    headers.extend(list_headers(wide));
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|(c, t)| {
            let mut r = vec![(*c).to_string()];
            r.extend(list_row(t, wide));
            r
        })
        .collect();
    super::output::print_rows(&headers, &lines);
    Ok(code)
}

/// The tenants of the clusters that answered, each with its metrics.
fn merged(
    reports: &[ClusterReport<ClusterSample>],
) -> Vec<(&str, &MonitoredTenant, &TenantMetrics)> {
    reports
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .flat_map(|s| {
            s.targets.iter().filter_map(move |t| {
                s.snapshot
                    .tenants
                    .get(&t.id)
                    .map(|m| (s.cluster.as_str(), t, m))
            })
        })
        .collect()
}

#[derive(Serialize)]
struct ClusterRow<'a> {
    cluster: &'a str,
    #[serde(flatten)]
    row: super::monitor::Row<'a>,
}

/// `top --cluster all`: each cluster sampled by its own task, twice one
/// interval apart; one table with a CLUSTER column.
pub async fn top(config: &Config, a: &TopArgs, interval: std::time::Duration) -> Result<i32> {
    let fleet = Fleet::new(config.fleet_members()?, fleet::default_deadline(config));
    fleet.tick().await;
    let clear = a.watch && std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        tokio::time::sleep(interval).await;
        let (reports, took) = fleet.tick().await;
        if clear {
            out!("\x1b[H\x1b[2J");
        }
        let code = print_top(&reports, took, a.sort, a.limit, a.json);
        if !a.watch {
            return Ok(code);
        }
        if !clear {
            outln!();
        }
    }
}

/// Print one fleet round of `top`; returns the exit code (1 when a cluster
/// did not answer).
pub fn print_top(
    reports: &[ClusterReport<ClusterSample>],
    took: std::time::Duration,
    sort: SortMetric,
    limit: usize,
    json: bool,
) -> i32 {
    let structured = super::output::structured(json);
    let code = report_failures(reports, structured);
    let mut rows = merged(reports);
    rows.sort_by_key(|(c, t, m)| (sort_key(sort, t, m), (*c).to_string()));
    rows.truncate(limit);
    if structured {
        let clusters: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| match &r.result {
                Ok(s) => serde_json::json!({
                    "cluster": r.cluster, "ok": true,
                    "taken_at": s.snapshot.taken_at,
                    "latency_ms": s.snapshot.latency.as_secs_f64() * 1000.0,
                    "statements_available": s.snapshot.statements_available,
                    "stale": s.snapshot.stale,
                    "totals": s.snapshot.totals,
                }),
                Err(e) => {
                    serde_json::json!({ "cluster": r.cluster, "ok": false, "error": e.message })
                }
            })
            .collect();
        let tenants: Vec<ClusterRow> = rows
            .iter()
            .map(|(cluster, t, m)| ClusterRow {
                cluster,
                row: row(t, m),
            })
            .collect();
        print_json(&serde_json::json!({
            "round_ms": took.as_secs_f64() * 1000.0,
            "clusters": clusters,
            "tenants": tenants,
        }));
        return code;
    }
    for r in reports {
        if let Ok(s) = &r.result {
            out!("{}: {}", r.cluster, totals_line(&s.snapshot));
        }
    }
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|(c, t, m)| {
            let mut cells = vec![(*c).to_string()];
            cells.extend(super::monitor::top_cells(t, m));
            cells
        })
        .collect();
    let mut header = vec!["CLUSTER"];
    header.extend(super::monitor::TOP_HEADER);
    super::output::print_rows(&header, &lines);
    code
}

/// `health --cluster all [TENANT]`: scores of every cluster's tenants, worst
/// first; a tenant is looked for in every cluster.
pub async fn health(config: &Config, tenant: Option<&str>, json: bool) -> Result<i32> {
    let fleet = Fleet::new(config.fleet_members()?, fleet::default_deadline(config));
    let (reports, _) = fleet.tick().await;
    let structured = super::output::structured(json);
    let code = report_failures(&reports, structured);
    let mut rows = merged(&reports);
    if let Some(k) = tenant {
        let found: Vec<_> = rows
            .iter()
            .filter(|(_, t, _)| super::monitor::find(std::slice::from_ref(*t), k).is_ok())
            .copied()
            .collect();
        if found.is_empty() {
            // Say which clusters were searched (and which could not be).
            let answered = reports.iter().filter(|r| r.result.is_ok()).count();
            let e = super::monitor::find(&[], k)
                .err()
                .unwrap_or_else(|| crate::Error::not_found("no such tenant"));
            return Err(e.context(&format!("in the {answered} cluster(s) that answered")));
        }
        rows = found;
    }
    rows.sort_by_key(|(c, t, m)| (m.health.score, t.name.to_lowercase(), (*c).to_string()));
    if structured {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(c, t, m)| {
                serde_json::json!({
                    "cluster": c, "id": t.id, "name": t.name, "domain": t.domain,
                    "score": m.health.score, "reasons": m.health.reasons,
                })
            })
            .collect();
        print_json(&serde_json::json!({ "clusters": states(&reports), "tenants": v }));
        return Ok(code);
    }
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|(c, t, m)| {
            let h = &m.health;
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
                (*c).to_string(),
                t.name.clone(),
                t.domain.clone(),
                h.score.to_string(),
                reasons,
            ]
        })
        .collect();
    super::output::print_rows(&["CLUSTER", "NAME", "DOMAIN", "HEALTH", "REASONS"], &lines);
    Ok(code)
}
