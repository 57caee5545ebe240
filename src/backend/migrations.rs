//! The console's migration run control: pause and cancel ask the run's
//! driver (wherever it runs) through the run row; resume drives the run
//! here, in the backend, its progress announced as `MigrationsChanged`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::mpsc;
use uuid::Uuid;

use super::Event;
use crate::db::Db;
use crate::db::fleet::{self, ApplyOptions, control};
use crate::db::provision::{self, ProvisionOptions};
use crate::domain::runs::RunAction;
use crate::error::Result;

/// Carry out `action` on `run`; the sentence for the status line.
pub(super) async fn control(
    db: &Db,
    opts: &ProvisionOptions,
    run: Uuid,
    action: RunAction,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<String> {
    provision::ensure_writable(opts, "changing a migration run")?;
    let short = &run.to_string()[..8];
    let request = match action {
        RunAction::Pause => control::Request::Pause,
        RunAction::Cancel => control::Request::Cancel,
        RunAction::Resume => return resume(db, opts, run, events).await,
    };
    let r = control::request(db, run, request, &opts.actor).await;
    let _ = events.send(Event::MigrationsChanged);
    Ok(match r? {
        control::Requested::Asked { running } => format!(
            "{} requested: run {short} finishes its {running} running tenant{} and stops",
            action.verb(),
            if running == 1 { "" } else { "s" }
        ),
        control::Requested::Done { skipped } => match request {
            control::Request::Pause => format!("run {short} paused"),
            control::Request::Cancel => {
                format!("run {short} cancelled: {skipped} queued tenants skipped")
            }
        },
    })
}

async fn resume(
    db: &Db,
    opts: &ProvisionOptions,
    run: Uuid,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<String> {
    let r = fleet::ledger::get_run(db, Some(run)).await?;
    let t = crate::template_files::load(&opts.template_dir, &r.template)?;
    let mut o = ApplyOptions::new(opts.actor.clone());
    o.read_only = opts.read_only;
    o.timescaledb = opts.timescaledb;
    if let Some(p) = r
        .options
        .get("parallel")
        .and_then(serde_json::Value::as_u64)
    {
        o.parallel = usize::try_from(p).unwrap_or(4).max(1);
    }
    let ev = events.clone();
    let on: fleet::apply::OnEvent = Arc::new(move |_| {
        let _ = ev.send(Event::MigrationsChanged);
    });
    let stop = Arc::new(AtomicBool::new(false));
    let s = fleet::resume(db, &t, run, &o, stop, on).await?;
    let _ = events.send(Event::MigrationsChanged);
    Ok(format!(
        "run {}: {} (done {}, failed {}, remaining {})",
        &run.to_string()[..8],
        s.state,
        s.done,
        s.failed,
        s.remaining
    ))
}
