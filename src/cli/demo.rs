//! `tenantctl demo`: argument handling, the seeding progress bar, and the
//! headless summary. The platform itself is in `crate::demo`.

use crate::outln;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::demo::{Demo, DemoOptions, Load};
use crate::domain::units::parse_duration;
use crate::error::{Error, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Number of tenants to create.
    #[arg(long, default_value_t = 200)]
    pub tenants: usize,
    /// Synthetic workload intensity.
    #[arg(long, value_enum, default_value_t = Load::Light)]
    pub load: Load,
    /// Keep the cluster's data here and reuse it next time.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Run without the console and print the final top snapshot.
    #[arg(long)]
    pub headless: bool,
    /// How long a headless run lasts.
    #[arg(long, default_value = "30s", value_name = "DUR")]
    pub duration: String,
    /// Headless output as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The seeding progress bar, drawn only when stderr is a terminal (a
/// redirected stderr gets no escape codes).
fn progress_bar(quiet: bool) -> impl Fn(&str, usize, usize) + Send + Sync {
    use std::io::IsTerminal;
    let quiet = quiet || !std::io::stderr().is_terminal();
    move |what: &str, done: usize, total: usize| {
        if quiet {
            return;
        }
        let width = 30;
        let filled = (done * width)
            .checked_div(total)
            .unwrap_or(width)
            .min(width);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K[{}{}] {what} {done}/{total}",
            "#".repeat(filled),
            "-".repeat(width - filled)
        );
        if done >= total {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

pub async fn run(args: DemoArgs) -> Result<i32> {
    if args.tenants == 0 || args.tenants > 20_000 {
        return Err(Error::invalid("--tenants must be between 1 and 20000"));
    }
    let duration = parse_duration(&args.duration)?;
    let opts = DemoOptions {
        tenants: args.tenants,
        load: args.load,
        keep: args.keep.clone(),
        seed: 42,
    };
    let bar = progress_bar(args.json);
    let mut demo = Demo::start(&opts, &bar).await?;
    let result = if args.headless {
        headless(&mut demo, duration, args.json).await
    } else {
        crate::tui::open(demo.config.clone()).await
    };
    demo.stop_workload().await;
    let Demo { cluster, .. } = demo;
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .ok();
    result
}

async fn headless(demo: &mut Demo, duration: Duration, json: bool) -> Result<i32> {
    let r = crate::demo::run_headless(demo, duration).await?;
    let live: Vec<_> = r.alerts.iter().filter(|a| a.cleared_at.is_none()).collect();
    let extra = serde_json::json!({
        "workload_ops": r.ops,
        "alerts": r.alerts,
        "cluster": { "socket_dir": demo.cluster.socket_dir(), "postmaster_pid": demo.cluster.postmaster_pid() },
    });
    super::monitor::print_top(
        &r.tenants,
        &r.snapshot,
        super::monitor::SortMetric::Calls,
        20,
        json,
        extra,
    );
    if !json {
        outln!(
            "\nworkload: {} operations; {} active alerts",
            r.ops,
            live.len()
        );
        for a in live {
            let who = a
                .tenant_id
                .and_then(|id| r.tenants.iter().find(|t| t.id == id))
                .map_or("cluster", |t| t.domain.as_str());
            outln!(
                "  {:?} {who}: {}",
                a.severity,
                crate::domain::sanitize::clean(&a.message)
            );
        }
    }
    Ok(0)
}
