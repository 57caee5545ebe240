//! `init` and `doctor`.

use super::output::{print_json, table};
use crate::config::Config;
use crate::db::doctor::Status;
use crate::db::{self, Db};
use crate::error::{Error, Result};

pub async fn init(config: &Config, json: bool) -> Result<i32> {
    if config.read_only {
        return Err(Error::refused(
            "init changes the database, but this session is read-only",
        ));
    }
    let db = Db::connect(config).await?;
    let (version, num) = db::doctor::server_version(&db).await?;
    db::doctor::ensure_supported(&version, num)?;
    let report = db::migrate::init(&db).await?;
    if json {
        print_json(&report);
    } else if report.applied.is_empty() {
        println!(
            "control schema {} is up to date (version {})",
            report.schema, report.to_version
        );
    } else {
        let from = report
            .from_version
            .map_or_else(|| "nothing".to_string(), |v| format!("version {v}"));
        println!(
            "control schema {} upgraded from {from} to version {} ({})",
            report.schema,
            report.to_version,
            report.applied.join(", ")
        );
    }
    Ok(0)
}

pub async fn doctor(config: &Config, json: bool) -> Result<i32> {
    let db = Db::connect(config).await?;
    let checks = db::doctor::run_with(
        &db,
        &db::doctor::Options {
            timescale: config.provisioning.timescaledb,
            app_role: config.provisioning.app_role.clone(),
            read_only: config.read_only,
        },
    )
    .await?;
    let failed = checks.iter().any(|c| c.status == Status::Fail);
    if json {
        print_json(&serde_json::json!({ "ok": !failed, "checks": checks }));
    } else {
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|c| {
                let status = match c.status {
                    Status::Ok => "ok",
                    Status::Warn => "warn",
                    Status::Fail => "FAIL",
                };
                let mut detail = c.detail.clone();
                if let Some(fix) = &c.fix {
                    detail.push_str(" — ");
                    detail.push_str(fix);
                }
                vec![status.to_string(), c.name.to_string(), detail]
            })
            .collect();
        print!("{}", table(&["STATUS", "CHECK", "DETAIL"], &rows));
    }
    Ok(i32::from(failed))
}

pub async fn harden(config: &Config, dry_run: bool, json: bool) -> Result<i32> {
    use crate::db::harden::Outcome;
    if config.read_only && !dry_run {
        return Err(Error::refused(
            "harden changes the cluster, but this session is read-only: add --dry-run to see the plan",
        ));
    }
    let db = Db::connect(config).await?;
    let items = db::harden::apply(&db, dry_run).await?;
    let failed = items.iter().any(|i| i.outcome == Outcome::Failed);
    if json {
        print_json(&serde_json::json!({ "dry_run": dry_run, "changes": items }));
    } else if items.is_empty() {
        println!("nothing to harden: every check is already in place");
    } else {
        for item in &items {
            let (label, note) = match item.outcome {
                Outcome::Applied => ("applied", None),
                Outcome::Planned => ("would apply", None),
                Outcome::Skipped => ("skipped", item.change.not_permitted.as_deref()),
                Outcome::Failed => ("FAILED", item.error.as_deref()),
            };
            println!("{label}: {}", item.change.finding);
            for s in &item.change.statements {
                println!("    {s};");
            }
            if let Some(n) = note {
                println!("    ({n})");
            }
        }
    }
    Ok(i32::from(failed))
}

/// Hold a local cluster open for manual use and for process-exit tests.
pub async fn local_cluster(keep: Option<std::path::PathBuf>) -> Result<i32> {
    use tokio::io::AsyncBufReadExt;
    let options = crate::local_cluster::Options {
        keep_dir: keep,
        ..Default::default()
    };
    let cluster = tokio::task::spawn_blocking(move || {
        crate::local_cluster::LocalCluster::start_with(options)
    })
    .await
    .map_err(|e| Error::failure(format!("local cluster start panicked: {e}")))??;
    print_json(&serde_json::json!({
        "conninfo": cluster.conninfo("postgres"),
        "url": cluster.url("postgres"),
        "postmaster_pid": cluster.postmaster_pid(),
        "socket_dir": cluster.socket_dir(),
    }));
    eprintln!("local PostgreSQL running; close stdin (Ctrl-D) or press Ctrl-C to stop it");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    tokio::select! {
        () = async { while let Ok(Some(_)) = lines.next_line().await {} } => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .ok();
    Ok(0)
}
