//! `migrate plan | apply | status`: fleet migrations of tenant schemas to a
//! newer template version (see `db::fleet`). The progress bar (indicatif)
//! draws on stderr when it is a terminal; otherwise one plain line per
//! tenant goes to stderr. Tables and `--json` go to stdout.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand};
use uuid::Uuid;

use super::output::{emit_err, print_json, table};
use crate::config::Config;
use crate::db::fleet::{self, ApplyEvent, ApplyOptions, Plan, PlanRequest, Summary};
use crate::db::{self, Db};
use crate::domain::fleet::Canary;
use crate::error::{Error, Result};
use crate::{out, outln};

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Per tenant: its version, the target, the steps and the drift found now.
    Plan(PlanArgs),
    /// Run the plan: waves of tenants, each in its own transaction as its
    /// schema's owner; resumable with --resume RUN.
    Apply(ApplyArgs),
    /// Ask a run to pause: the process driving it finishes its running
    /// tenants and stops; the queued ones stay queued (--resume continues).
    Pause {
        /// Run id.
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a run: running tenants finish, queued ones are skipped;
    /// finished tenants stay at the new version, the rest at the old.
    Cancel {
        /// Run id.
        run: String,
        /// Do not ask first.
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// A run's progress from the ledger (the newest run when none is given).
    Status {
        /// Run id.
        run: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

impl MigrateCommand {
    pub fn json(&self) -> bool {
        match self {
            Self::Plan(a) => a.json,
            Self::Apply(a) => a.plan.json,
            Self::Status { json, .. } | Self::Pause { json, .. } | Self::Cancel { json, .. } => {
                *json
            }
        }
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Template whose tenants move (default: the config's default template).
    #[arg(long, allow_hyphen_values = true)]
    pub template: Option<String>,
    /// Target version (default: the template's latest).
    #[arg(long, value_name = "V")]
    pub to: Option<i32>,
    /// Only these tenants: comma-separated domains (`*` wildcards), ids or schemas.
    #[arg(long, value_name = "FILTER", allow_hyphen_values = true)]
    pub tenants: Option<String>,
    /// Migrate tenants whose schema drifted from their version too.
    #[arg(long)]
    pub include_drifted: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// The first wave: a number of tenants, a share (5%), or tenant domains.
    #[arg(
        long,
        default_value = "1",
        value_name = "N|N%|LIST",
        allow_hyphen_values = true
    )]
    pub canary: String,
    /// Tenants migrated at a time (bounded by the server's free connections and the pool).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallel: usize,
    /// Failures a wave tolerates before it stops (default: none in the canary wave, 1% after).
    #[arg(long, value_name = "N")]
    pub max_failures: Option<usize>,
    /// How long a step waits for a lock before the transaction is retried.
    #[arg(long, default_value = "2s", value_name = "DUR")]
    pub lock_timeout: String,
    /// Attempts per transaction when a lock is not granted.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub attempts: u32,
    /// Continue this run exactly where it stopped.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<String>,
}

fn template_name(config: &Config, a: &PlanArgs) -> Result<String> {
    crate::domain::tenant::validate_template_name(
        a.template
            .as_deref()
            .unwrap_or(&config.provisioning.default_template),
    )
}

fn request(a: &PlanArgs) -> PlanRequest {
    PlanRequest {
        to: a.to,
        tenants: a.tenants.clone(),
        include_drifted: a.include_drifted,
    }
}

fn run_id(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s.trim()).map_err(|_| {
        Error::invalid(format!(
            "\"{}\" is not a run id (a UUID)",
            crate::domain::sanitize::clean(s)
        ))
    })
}

async fn connect(config: &Config) -> Result<Db> {
    let db = Db::connect(config).await?;
    db::migrate::check(&db).await?;
    if db::migrate::installed_version(&db).await? < Some(4) {
        return Err(Error::failure(
            "the control schema predates fleet migrations: run tenantctl init",
        ));
    }
    Ok(db)
}

pub async fn run(config: &Config, cmd: &MigrateCommand) -> Result<i32> {
    match cmd {
        MigrateCommand::Plan(a) => plan(config, a).await,
        MigrateCommand::Apply(a) => apply(config, a).await,
        MigrateCommand::Status { run, json } => status(config, run.as_deref(), *json).await,
        MigrateCommand::Pause { run, json } => {
            control(config, run, fleet::control::Request::Pause, true, *json).await
        }
        MigrateCommand::Cancel { run, yes, json } => {
            control(config, run, fleet::control::Request::Cancel, *yes, *json).await
        }
    }
}

/// `migrate pause|cancel RUN`: ask the run (its driver, wherever it runs)
/// to stop, then wait a while for it to drain.
async fn control(
    config: &Config,
    run: &str,
    what: fleet::control::Request,
    yes: bool,
    json: bool,
) -> Result<i32> {
    use fleet::control::{Request, Requested};
    let verb = what.verb();
    if config.read_only {
        return Err(Error::refused(format!(
            "migrate {verb} changes a run, but this session is read-only"
        )));
    }
    let id = run_id(run)?;
    let db = connect(config).await?;
    let r = fleet::ledger::get_run(&db, Some(id)).await?;
    if what == Request::Cancel
        && !yes
        && matches!(r.state.as_str(), "running" | "paused" | "stopped")
    {
        if !std::io::stdin().is_terminal() {
            return Err(Error::refused(
                "migrate cancel asks first, but stdin is not a terminal: give --yes",
            ));
        }
        let queued = fleet::ledger::entries(&db, id)
            .await?
            .iter()
            .filter(|e| e.state == "queued")
            .count();
        eprint!(
            "Cancel run {id} ({} to v{})? Its {queued} queued tenants are skipped; finished ones stay migrated. [y/N] ",
            crate::domain::sanitize::clean(&r.template),
            r.to_version
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            emit_err("not cancelled: nothing changed");
            return Ok(1);
        }
    }
    let actor = crate::actor::current_actor();
    let outcome = fleet::control::request(&db, id, what, &actor).await?;
    let final_state = match &outcome {
        Requested::Asked { running } => {
            if !json {
                emit_err(&format!(
                    "{verb} requested: the process driving run {id} finishes its {running} running tenant{} and stops",
                    if *running == 1 { "" } else { "s" }
                ));
            }
            fleet::control::wait_ended(&db, id, Duration::from_secs(120)).await?
        }
        Requested::Done { .. } => Some(what_state(what).to_string()),
    };
    let counts = fleet::ledger::entries(&db, id).await?;
    let count = |s: &str| counts.iter().filter(|e| e.state == s).count();
    if super::output::structured(json) {
        print_json(&serde_json::json!({
            "run": id,
            "request": what,
            "outcome": outcome,
            "state": final_state,
            "counts": {"done": count("done"), "failed": count("failed"), "queued": count("queued"),
                       "running": count("running"), "skipped": count("skipped")},
        }));
        return Ok(0);
    }
    if let Some(state) = final_state {
        outln!(
            "run {id}: {state} (done {}, failed {}, queued {}, skipped {}){}",
            count("done"),
            count("failed"),
            count("queued"),
            count("skipped"),
            if state == "paused" {
                format!("; continue with tenantctl migrate apply --resume {id}")
            } else {
                String::new()
            }
        );
    } else {
        outln!(
            "run {id}: {verb} requested; its driver is still finishing running tenants (see tenantctl migrate status {id})"
        );
    }
    Ok(0)
}

fn what_state(what: fleet::control::Request) -> &'static str {
    match what {
        fleet::control::Request::Pause => "paused",
        fleet::control::Request::Cancel => "cancelled",
    }
}

async fn plan(config: &Config, a: &PlanArgs) -> Result<i32> {
    let name = template_name(config, a)?;
    let t = crate::template_files::load(&config.provisioning.template_dir, &name)?;
    fleet::target(&t, a.to)?;
    let db = connect(config).await?;
    let p = fleet::plan(&db, &t, config.provisioning.timescaledb, &request(a)).await?;
    if super::output::structured(a.json) {
        print_json(&p);
        return Ok(0);
    }
    print_plan(&p);
    Ok(0)
}

fn print_plan(p: &Plan) {
    let rows: Vec<Vec<String>> = p
        .tenants
        .iter()
        .map(|x| {
            vec![
                x.domain.clone(),
                x.status.clone(),
                format!("v{}", x.from),
                format!("v{}", x.to),
                x.action.as_str().to_string(),
                if x.steps.is_empty() {
                    "-".into()
                } else {
                    format!(
                        "{}{}",
                        x.steps.len(),
                        if x.non_transactional > 0 {
                            format!(" ({} outside a transaction)", x.non_transactional)
                        } else {
                            String::new()
                        }
                    )
                },
                if x.drift_checked {
                    crate::domain::sanitize::clean(&x.drift.join("; "))
                } else {
                    "not checked: a table was locked".into()
                },
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &[
                "TENANT", "STATUS", "AT", "TARGET", "ACTION", "STEPS", "DRIFT"
            ],
            &rows
        )
    );
    outln!(
        "template {} v{} (target v{}): {} tenants, {} to migrate ({} steps), {} current, {} held back{}",
        p.template,
        p.latest,
        p.to,
        p.totals.tenants,
        p.totals.migrate,
        p.totals.steps,
        p.totals.current,
        p.totals.held,
        if p.tenants
            .iter()
            .any(|x| x.action == fleet::Action::HeldDrifted)
        {
            " (drifted tenants: --include-drifted migrates them anyway)"
        } else {
            ""
        }
    );
}

async fn apply(config: &Config, a: &ApplyArgs) -> Result<i32> {
    // Refused before anything is read or connected.
    if config.read_only {
        return Err(Error::refused(
            "migrate apply changes tenant schemas, but this session is read-only",
        ));
    }
    if a.parallel == 0 {
        return Err(Error::invalid(
            "--parallel 0 would migrate nobody: give 1 or more",
        ));
    }
    if a.attempts == 0 {
        return Err(Error::invalid("--attempts must be 1 or more"));
    }
    let canary = Canary::parse(&a.canary)?;
    let lock_timeout = crate::domain::units::parse_duration(&a.lock_timeout)
        .map_err(|e| e.context("--lock-timeout"))?;
    if lock_timeout.is_zero() {
        return Err(Error::invalid(
            "--lock-timeout 0 would wait for locks forever: give a duration such as 2s",
        ));
    }
    let resume = a.resume.as_deref().map(run_id).transpose()?;
    let lookup = &config.provisioning.template_dir;
    let db_first = if resume.is_some() && a.plan.template.is_none() {
        // The run knows its template.
        Some(connect(config).await?)
    } else {
        None
    };
    let name = match (&db_first, resume) {
        (Some(db), Some(r)) => fleet::ledger::get_run(db, Some(r)).await?.template,
        _ => template_name(config, &a.plan)?,
    };
    let t = crate::template_files::load(lookup, &name)?;
    if resume.is_none() {
        fleet::target(&t, a.plan.to)?;
    }
    let db = match db_first {
        Some(db) => db,
        None => connect(config).await?,
    };
    let mut opts = ApplyOptions::new(crate::actor::current_actor());
    opts.canary = canary;
    opts.parallel = a.parallel;
    opts.max_failures = a.max_failures;
    opts.lock_timeout = lock_timeout;
    opts.attempts = a.attempts;
    opts.read_only = config.read_only;
    opts.timescaledb = config.provisioning.timescaledb;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                emit_err(
                    "interrupted: finishing the tenants in flight, starting no more (Ctrl-C again to quit at once)",
                );
                stop.store(true, Ordering::SeqCst);
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
    }
    let json = super::output::structured(a.plan.json);
    let progress = Progress::new(json);
    let on = progress.callback();
    let summary = if let Some(r) = resume {
        fleet::resume(&db, &t, r, &opts, stop, on).await?
    } else {
        let p = fleet::plan(&db, &t, config.provisioning.timescaledb, &request(&a.plan)).await?;
        fleet::apply(&db, &t, &p, &opts, stop, on).await?
    };
    progress.finish();
    if json {
        print_json(&summary);
    } else {
        print_summary(&summary);
    }
    Ok(match summary.state.as_str() {
        "done" | "nothing to do" if summary.failed == 0 => 0,
        _ => 1,
    })
}

fn print_summary(s: &Summary) {
    let rows = vec![vec![
        s.run.map_or_else(|| "-".into(), |r| r.to_string()),
        format!("{} v{}", s.template, s.to_version),
        s.state.clone(),
        s.done.to_string(),
        s.failed.to_string(),
        s.skipped.to_string(),
        s.remaining.to_string(),
        crate::domain::units::format_duration(Duration::from_millis(s.elapsed_ms)),
        format!("{:.1}/s", s.rate),
    ]];
    out!(
        "{}",
        table(
            &[
                "RUN",
                "TARGET",
                "STATE",
                "DONE",
                "FAILED",
                "SKIPPED",
                "REMAINING",
                "TIME",
                "RATE"
            ],
            &rows
        )
    );
    for (d, e) in &s.failures {
        outln!("failed: {d}: {}", crate::domain::sanitize::clean(e));
    }
    for n in &s.notes {
        outln!("{n}");
    }
}

/// The bar (a terminal) or plain lines (anything else) on stderr.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl Progress {
    fn new(json: bool) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} {msg} {per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        Self { bar, quiet: json }
    }

    fn callback(&self) -> fleet::apply::OnEvent {
        let bar = self.bar.clone();
        let quiet = self.quiet;
        let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        Arc::new(move |e: ApplyEvent| {
            if let Some(b) = &bar {
                match &e {
                    ApplyEvent::Started { tenants, .. } => b.set_length(*tenants as u64),
                    ApplyEvent::Done { .. } | ApplyEvent::Skipped { .. } => b.inc(1),
                    ApplyEvent::Failed { domain, error } => {
                        let n = failed.fetch_add(1, Ordering::SeqCst) + 1;
                        b.inc(1);
                        b.set_message(format!("{n} failed"));
                        b.println(format!(
                            "failed: {domain}: {}",
                            crate::domain::sanitize::clean(error)
                        ));
                    }
                    ApplyEvent::Wave { wave, tenants } => {
                        b.println(format!("wave {wave}: {tenants} tenants"));
                    }
                    ApplyEvent::Retry { .. } => {}
                }
                return;
            }
            if quiet {
                return;
            }
            let line = match e {
                ApplyEvent::Started {
                    run,
                    tenants,
                    parallel,
                } => format!("run {run}: {tenants} tenants, {parallel} at a time"),
                ApplyEvent::Wave { wave, tenants } => format!("wave {wave}: {tenants} tenants"),
                ApplyEvent::Done { domain, ms } => format!("done: {domain} ({ms} ms)"),
                ApplyEvent::Failed { domain, error } => {
                    format!(
                        "failed: {domain}: {}",
                        crate::domain::sanitize::clean(&error)
                    )
                }
                ApplyEvent::Skipped { domain, reason } => format!("skipped: {domain}: {reason}"),
                ApplyEvent::Retry {
                    domain,
                    attempt,
                    delay_ms,
                } => format!(
                    "retry: {domain}: lock not granted (attempt {attempt}), again in {delay_ms} ms"
                ),
            };
            emit_err(&line);
        })
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

async fn status(config: &Config, run: Option<&str>, json: bool) -> Result<i32> {
    let id = run.map(run_id).transpose()?;
    let db = connect(config).await?;
    let r = fleet::ledger::get_run(&db, id).await?;
    let mut entries = fleet::ledger::entries(&db, r.id).await?;
    // Failures first, then running, queued, done, skipped.
    let rank = |s: &str| match s {
        "failed" => 0,
        "running" => 1,
        "queued" => 2,
        "done" => 3,
        _ => 4,
    };
    entries.sort_by_key(|e| rank(&e.state));
    let count = |s: &str| entries.iter().filter(|e| e.state == s).count();
    if super::output::structured(json) {
        print_json(&serde_json::json!({
            "run": r,
            "counts": {
                "queued": count("queued"), "running": count("running"), "done": count("done"),
                "failed": count("failed"), "skipped": count("skipped"),
            },
            "tenants": entries,
        }));
        return Ok(0);
    }
    outln!(
        "run {} ({} v{}): {}, started {} by {}",
        r.id,
        r.template,
        r.to_version,
        r.state,
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        crate::domain::sanitize::clean(&r.actor)
    );
    outln!(
        "done {}, failed {}, running {}, queued {}, skipped {}",
        count("done"),
        count("failed"),
        count("running"),
        count("queued"),
        count("skipped")
    );
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.domain.clone(),
                e.wave.to_string(),
                format!("v{}", e.from_version),
                format!("v{}", e.at_version),
                e.state.clone(),
                e.attempts.to_string(),
                e.duration_ms
                    .map_or_else(|| "-".into(), |d| format!("{d} ms")),
                crate::domain::sanitize::clean(e.error.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &[
                "TENANT", "WAVE", "FROM", "AT", "STATE", "ATTEMPTS", "TIME", "ERROR"
            ],
            &rows
        )
    );
    Ok(0)
}
