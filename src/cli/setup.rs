//! `init` and `doctor`.

use super::output::print_json;
use crate::config::Config;
use crate::db::doctor::Status;
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::outln;

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
    if super::output::structured(json) {
        print_json(&report);
    } else if report.applied.is_empty() {
        outln!(
            "control schema {} is up to date (version {})",
            report.schema,
            report.to_version
        );
    } else {
        let from = report
            .from_version
            .map_or_else(|| "nothing".to_string(), |v| format!("version {v}"));
        outln!(
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
    if super::output::structured(json) {
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
        super::output::print_rows(&["STATUS", "CHECK", "DETAIL"], &rows);
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
        crate::outln!("nothing to harden: every check is already in place");
    } else {
        for item in &items {
            let (label, note) = match item.outcome {
                Outcome::Applied => ("applied", None),
                Outcome::Planned => ("would apply", None),
                Outcome::Skipped => ("skipped", item.change.not_permitted.as_deref()),
                Outcome::Failed => ("FAILED", item.error.as_deref()),
            };
            crate::outln!("{label}: {}", item.change.finding);
            for s in &item.change.statements {
                crate::outln!("    {s};");
            }
            if let Some(n) = note {
                crate::outln!("    ({n})");
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

/// `tenantctl config paths`: where config, logs, backups and templates are
/// read and written.
pub fn paths(
    overrides: &crate::config::Overrides,
    log_file: Option<&std::path::Path>,
    json: bool,
) -> i32 {
    let config_file = crate::config::config_file(overrides);
    // A broken or absent config still gets its paths printed.
    let config = Config::load(overrides).ok();
    let defaults = crate::config::ProvisioningConfig::default();
    let prov = config.as_ref().map_or(&defaults, |c| &c.provisioning);
    let log = log_file.map_or_else(
        crate::logging::default_log_file,
        std::path::Path::to_path_buf,
    );
    let data_templates = dirs::data_dir().map(|d| d.join("tenantctl/templates"));
    let exists = |p: &std::path::Path| if p.exists() { "" } else { " (absent)" };
    let mut rows: Vec<(&str, String, String)> = Vec::new();
    if let Some(c) = &config_file {
        rows.push(("config", c.display().to_string(), exists(c).to_string()));
    }
    rows.push(("log", log.display().to_string(), exists(&log).to_string()));
    rows.push((
        "backups",
        prov.backup_dir.display().to_string(),
        exists(&prov.backup_dir).to_string(),
    ));
    // The template lookup chain, first match wins.
    let mut any_data_home = false;
    for (dir, origin) in prov.template_dir.dirs() {
        any_data_home |= origin == crate::template_files::Origin::DataHome;
        rows.push((
            match origin {
                crate::template_files::Origin::Flag => "templates (--template-dir)",
                crate::template_files::Origin::Config => "templates (config)",
                crate::template_files::Origin::DataHome => "templates (user)",
                crate::template_files::Origin::BuiltIn => "templates (built in)",
            },
            dir.display().to_string(),
            exists(dir).to_string(),
        ));
    }
    if let Some(d) = data_templates.as_ref().filter(|_| !any_data_home) {
        rows.push((
            "templates (user)",
            d.display().to_string(),
            exists(d).to_string(),
        ));
    }
    rows.push((
        "templates (built in)",
        "compiled into the binary".into(),
        String::new(),
    ));
    if super::output::structured(json) {
        // The template lookup chain as one ordered list; the rest by name.
        let mut map: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .filter(|(k, _, _)| !k.starts_with("templates"))
            .map(|(k, v, _)| ((*k).to_string(), serde_json::Value::String(v.clone())))
            .collect();
        map.insert(
            "templates".into(),
            rows.iter()
                .filter(|(k, _, _)| k.starts_with("templates"))
                .map(|(k, v, _)| serde_json::json!({ "from": k, "path": v }))
                .collect(),
        );
        print_json(&map);
    } else {
        let table_rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|(k, v, e)| vec![k.to_string(), format!("{v}{e}")])
            .collect();
        super::output::print_rows(&["WHAT", "PATH"], &table_rows);
    }
    0
}
