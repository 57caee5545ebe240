//! The backend task: one per console. It connects (and reconnects with
//! backoff), keeps the tenant list fresh from LISTEN notifications, runs the
//! collector on a timer that skips while a snapshot is in flight, and runs
//! each mutation in its own task so a slow operation never blocks a tick.
//!
//! The session task owns the [`Monitor`] (store, alerts, last snapshot): no
//! lock, so history is answered at once even while a tick is in flight. Per
//! tick it lends the [`Sampler`] to a spawned task with the monitor's plan;
//! the sampler comes back with the readings, which the monitor folds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use uuid::Uuid;

use super::collector::{Monitor, Readings, Sampler};
use super::{Command, Event, ProgressStep, RequestId, TemplateSummary};
use crate::config::Config;
use crate::db::provision::{self, ProvisionOptions};
use crate::db::{self, Db};
use crate::domain::metrics::MonitoredTenant;
use crate::domain::targets::{self, TemplateSet};
use crate::domain::template::Template;
use crate::domain::tenant::Tenant;
use crate::error::Error;

/// The console's ends of the two channels.
pub struct BackendHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub events: mpsc::UnboundedReceiver<Event>,
}

/// Start the backend task for `config` on the current runtime.
pub fn spawn(config: Config) -> BackendHandle {
    let (ctx, crx) = mpsc::unbounded_channel();
    let (etx, erx) = mpsc::unbounded_channel();
    tokio::spawn(run(config, crx, etx));
    BackendHandle {
        commands: ctx,
        events: erx,
    }
}

const MIN_INTERVAL: Duration = Duration::from_millis(500);
const MAX_INTERVAL: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

enum Exit {
    Shutdown,
    Switch(String),
    Lost(String),
}

/// State that survives reconnects.
struct Shared {
    monitor: Monitor,
    /// The connections of the collector; `None` while lent to a tick (or
    /// lost with a session), then a fresh one is made.
    sampler: Option<Sampler>,
    interval: Duration,
    paused: bool,
    generation: u64,
}

impl Shared {
    fn new(config: &Config) -> Self {
        Self {
            monitor: Monitor::new(&config.monitoring, &config.thresholds),
            sampler: None,
            interval: config
                .monitoring
                .interval
                .0
                .clamp(MIN_INTERVAL, MAX_INTERVAL),
            paused: false,
            generation: 0,
        }
    }

    /// The collector keeps measuring while paused (alerts stay live); only
    /// history freezes.
    fn pause(&mut self, paused: bool) {
        self.paused = paused;
        self.monitor.set_frozen(paused);
    }

    /// A new tick interval (0.5–60 s); history keeps its time window.
    fn set_interval(&mut self, d: Duration) {
        self.interval = d.clamp(MIN_INTERVAL, MAX_INTERVAL);
        self.monitor.set_interval(self.interval);
    }

    /// Send the alert list when it changed.
    fn send_alerts(&mut self, events: &mpsc::UnboundedSender<Event>) {
        if self.monitor.alerts_changed() {
            send(events, Event::Alerts(self.monitor.alerts()));
        }
    }
}

async fn run(
    mut config: Config,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut shared = Shared::new(&config);
    let mut backoff = Duration::from_millis(500);
    loop {
        let attempt = connect(&config).await;
        let error = match attempt {
            Ok((db, version)) => {
                backoff = Duration::from_millis(500);
                shared.monitor.connection_restored(Utc::now());
                shared.send_alerts(&events);
                send(
                    &events,
                    Event::Connected {
                        cluster: config.cluster_name.clone(),
                        server_version: version,
                        endpoint: db.params.endpoint(),
                        read_only: config.read_only,
                    },
                );
                match session(&config, &db, &mut shared, &mut commands, &events).await {
                    Exit::Shutdown => return,
                    Exit::Switch(name) => {
                        switch(&mut config, &mut shared, &name, &events);
                        continue;
                    }
                    Exit::Lost(e) => e,
                }
            }
            Err(e) => e.message,
        };
        shared.monitor.connection_lost(Utc::now(), &error);
        shared.send_alerts(&events);
        tracing::warn!(retry_in = ?backoff, "database unavailable: {error}");
        send(
            &events,
            Event::Disconnected {
                error: error.clone(),
                retry_in: backoff,
            },
        );
        // Wait out the backoff, still answering the console.
        let deadline = Instant::now() + backoff;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Shutdown) => return,
                    Some(Command::SwitchCluster(name)) => {
                        switch(&mut config, &mut shared, &name, &events);
                        break;
                    }
                    Some(Command::RefreshNow) => break,
                    Some(Command::Pause(p)) => shared.pause(p),
                    Some(Command::SetInterval(d)) => shared.set_interval(d),
                    // What is kept is answered; what needs the server waits.
                    Some(Command::LoadAt { back }) => {
                        send(&events, Event::At { back, snapshot: shared.monitor.snapshot_at(back) });
                    }
                    Some(Command::LoadHistory { tenants }) => {
                        send(&events, Event::History(shared.monitor.history(&tenants)));
                    }
                    Some(
                        cmd @ (Command::LoadTenants
                        | Command::LoadTemplates
                        | Command::LoadDetail { .. }
                        | Command::LoadAudit { .. }
                        | Command::Create { .. }
                        | Command::Update { .. }
                        | Command::Suspend { .. }
                        | Command::Resume { .. }
                        | Command::Delete { .. }
                        | Command::CancelSession { .. }
                        | Command::TerminateSession { .. }
                        | Command::LoadMigrations { .. }
                        | Command::Migration { .. }),
                    ) => reject_offline(&events, &cmd, &error),
                }
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn switch(
    config: &mut Config,
    shared: &mut Shared,
    name: &str,
    events: &mpsc::UnboundedSender<Event>,
) {
    match config.with_cluster(name) {
        Ok(c) => {
            *config = c;
            // A new cluster, a new monitor; the user's pause and interval stay.
            let (paused, interval) = (shared.paused, shared.interval);
            *shared = Shared::new(config);
            shared.set_interval(interval);
            shared.pause(paused);
            send(
                events,
                Event::Notice(format!("switching to cluster {name}")),
            );
        }
        Err(e) => send(events, Event::Notice(e.message)),
    }
}

fn send(events: &mpsc::UnboundedSender<Event>, e: Event) {
    let _ = events.send(e);
}

fn reject_offline(events: &mpsc::UnboundedSender<Event>, cmd: &Command, error: &str) {
    if let Some(id) = request_id(cmd) {
        send(
            events,
            Event::Failed {
                id,
                error: Error::failure(format!(
                    "not connected to the database ({error}): try again once reconnected"
                )),
            },
        );
    }
}

fn request_id(cmd: &Command) -> Option<RequestId> {
    match cmd {
        Command::Create { id, .. }
        | Command::Update { id, .. }
        | Command::Suspend { id, .. }
        | Command::Resume { id, .. }
        | Command::Delete { id, .. }
        | Command::CancelSession { id, .. }
        | Command::TerminateSession { id, .. }
        | Command::Migration { id, .. } => Some(*id),
        Command::RefreshNow
        | Command::SetInterval(_)
        | Command::Pause(_)
        | Command::LoadTenants
        | Command::LoadDetail { .. }
        | Command::LoadHistory { .. }
        | Command::LoadAt { .. }
        | Command::LoadAudit { .. }
        | Command::SwitchCluster(_)
        | Command::Shutdown
        | Command::LoadTemplates
        | Command::LoadMigrations { .. } => None,
    }
}

async fn connect(config: &Config) -> Result<(Db, String), Error> {
    let db = Db::connect(config).await?;
    db::migrate::check(&db).await?;
    let version = db.server_version().await?;
    Ok((db, version))
}

/// How a mutation ended, for the alert book.
struct Outcome {
    tenant: Option<Uuid>,
    operation: &'static str,
    failure: Option<String>,
    /// A creation slower than the limit: (tenant, took, limit).
    slow: Option<(Uuid, Duration, Duration)>,
}

/// Internal results of spawned work.
enum Internal {
    /// A finished tick: the sampler back, its readings, the generation.
    Sampled(Box<(Sampler, Readings)>, u64),
    /// A tick that did not finish in time (its sampler is dropped).
    TickTimedOut(Duration, u64),
    Tenants(Result<Vec<Tenant>, Error>),
    Operation(Outcome),
    /// What the limits guard did in one round.
    Guarded(Vec<crate::db::guard::GuardAction>),
}

/// The templates of the template directory, read at the edge; a problem is
/// one notice and no template expectations (drift checks off).
fn load_templates(
    config: &Config,
    events: &mpsc::UnboundedSender<Event>,
) -> BTreeMap<String, Template> {
    match crate::template_files::list(&config.provisioning.template_dir) {
        Ok(list) => list.into_iter().map(|t| (t.name.clone(), t)).collect(),
        Err(e) => {
            send(
                events,
                Event::Notice(format!(
                    "templates unavailable (drift checks off): {}",
                    e.message
                )),
            );
            BTreeMap::new()
        }
    }
}

async fn session(
    config: &Config,
    db: &Db,
    shared: &mut Shared,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    events: &mpsc::UnboundedSender<Event>,
) -> Exit {
    let opts = Arc::new(ProvisionOptions::from_config(config));
    let templates = load_templates(config, events);
    let template_set = Arc::new(TemplateSet::new(templates.values()));
    let (itx, mut irx) = mpsc::unbounded_channel::<Internal>();
    let mut tenants: Arc<Vec<Tenant>> = Arc::new(Vec::new());
    let mut monitored: Arc<Vec<MonitoredTenant>> = Arc::new(Vec::new());
    if shared.sampler.is_none() {
        shared.sampler = Some(
            Sampler::new(&config.monitoring).with_timescale_mode(config.provisioning.timescaledb),
        );
    }
    reload_tenants(db, &itx);
    let mut notifications = match db::notify::listen(db).await {
        Ok(rx) => Some(rx),
        Err(e) => {
            send(
                events,
                Event::Notice(format!(
                    "live updates from other consoles are off: {}",
                    e.message
                )),
            );
            None
        }
    };
    let gtx = itx.clone();
    let _guard = super::guard::spawn(db, &config.monitoring, opts.read_only, move |actions| {
        let _ = gtx.send(Internal::Guarded(actions));
    });
    let mut ticker = tokio::time::interval(shared.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut tenants_loaded = false;
    let mut reload_pending = false;
    let mut reload_dirty = false;
    loop {
        let can_tick = shared.sampler.is_some() && tenants_loaded;
        tokio::select! {
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return Exit::Shutdown };
                match cmd {
                    Command::Shutdown => return Exit::Shutdown,
                    Command::SwitchCluster(name) => return Exit::Switch(name),
                    Command::RefreshNow => {
                        if can_tick {
                            start_tick(db, shared, &monitored, &itx);
                        }
                    }
                    Command::SetInterval(d) => {
                        shared.set_interval(d);
                        ticker = tokio::time::interval_at(Instant::now() + shared.interval, shared.interval);
                        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
                    }
                    // The collector keeps measuring (alerts stay live); only history freezes.
                    Command::Pause(p) => shared.pause(p),
                    Command::LoadTenants => reload_tenants(db, &itx),
                    Command::LoadTemplates => send(events, Event::Templates(
                        templates.values().map(|t| TemplateSummary {
                            name: t.name.clone(),
                            description: t.description.clone(),
                            version: t.version,
                            tables: t.table_names().iter().map(|s| (*s).to_string()).collect(),
                        }).collect(),
                    )),
                    // Answered from the store at once, never behind a tick.
                    Command::LoadHistory { tenants: ids } => {
                        send(events, Event::History(shared.monitor.history(&ids)));
                    }
                    Command::LoadAt { back } => {
                        send(events, Event::At { back, snapshot: shared.monitor.snapshot_at(back) });
                    }
                    cmd @ (Command::Create { .. }
                    | Command::Update { .. }
                    | Command::Suspend { .. }
                    | Command::Resume { .. }
                    | Command::Delete { .. }
                    | Command::LoadDetail { .. }
                    | Command::LoadAudit { .. }
                    | Command::CancelSession { .. }
                    | Command::TerminateSession { .. }
                    | Command::LoadMigrations { .. }
                    | Command::Migration { .. }) => {
                        handle_request(cmd, db, &opts, &template_set, &tenants, events, &itx);
                    }
                }
            }
            _ = ticker.tick(), if can_tick => {
                start_tick(db, shared, &monitored, &itx);
            }
            note = recv_opt(&mut notifications) => match note {
                Some(change) if change.op == "MIGRATION" => send(events, Event::MigrationsChanged),
                Some(_) => {
                    send(events, Event::TenantsChanged);
                    if reload_pending {
                        reload_dirty = true;
                    } else {
                        reload_pending = true;
                        reload_tenants(db, &itx);
                    }
                }
                None => return Exit::Lost("the notification connection closed".to_string()),
            },
            internal = irx.recv() => match internal {
                None => return Exit::Lost("backend channel closed".to_string()),
                Some(Internal::Tenants(Ok(list))) => {
                    reload_pending = false;
                    if reload_dirty {
                        // A change arrived while this list was being read.
                        reload_dirty = false;
                        reload_pending = true;
                        reload_tenants(db, &itx);
                    }
                    tenants_loaded = true;
                    tenants = Arc::new(list);
                    monitored = targets::targets(&tenants, &template_set);
                    send(events, Event::Tenants(Arc::clone(&tenants)));
                    crate::alloc::release_free_memory();
                }
                Some(Internal::Tenants(Err(e))) => {
                    reload_pending = false;
                    if let Some(lost) = check_alive(db, &e).await { return Exit::Lost(lost) }
                    send(events, Event::Notice(format!("tenant list: {}", e.message)));
                    if !tenants_loaded {
                        // Without a list nothing is monitored: try again shortly.
                        let (db, itx) = (db.clone(), itx.clone());
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_secs(2)).await;
                            reload_tenants(&db, &itx);
                        });
                    }
                }
                Some(Internal::Guarded(actions)) => {
                    let now = Utc::now();
                    for a in actions {
                        send(events, Event::Notice(format!("guard: {}: {}", a.domain, a.reason)));
                        shared.monitor.limit_enforced(now, a.tenant_id, &a.action, &a.reason);
                    }
                    shared.send_alerts(events);
                }
                Some(Internal::Operation(o)) => {
                    let now = Utc::now();
                    if let Some((id, took, limit)) = o.slow {
                        shared.monitor.creation_slow(now, id, took, limit);
                    }
                    shared.monitor.operation_done(now, o.tenant, o.operation, o.failure.as_deref());
                    shared.send_alerts(events);
                }
                Some(Internal::TickTimedOut(limit, _generation)) => {
                    // The sampler went with the task; the next tick reconnects.
                    shared.sampler = Some(Sampler::new(&config.monitoring).with_timescale_mode(config.provisioning.timescaledb));
                    let e = Error::failure(format!(
                        "the snapshot did not finish within {} s",
                        limit.as_secs()
                    ));
                    shared.monitor.connection_lost(Utc::now(), &e.message);
                    shared.send_alerts(events);
                    if let Some(lost) = check_alive(db, &e).await { return Exit::Lost(lost) }
                    send(events, Event::Notice(format!("snapshot failed: {}", e.message)));
                }
                Some(Internal::Sampled(done, generation)) => {
                    let (sampler, readings) = *done;
                    shared.sampler = Some(sampler);
                    let result = shared.monitor.fold(readings, Utc::now());
                    shared.send_alerts(events);
                    match result {
                        Ok(snap) => {
                            if generation >= shared.generation {
                                shared.generation = generation;
                                send(events, Event::Snapshot(snap));
                            }
                        }
                        Err(e) => {
                            if let Some(lost) = check_alive(db, &e).await { return Exit::Lost(lost) }
                            send(events, Event::Notice(format!("snapshot failed: {}", e.message)));
                        }
                    }
                    // The tick's rows and the previous snapshot are freed by now.
                    crate::alloc::release_free_memory();
                }
            },
        }
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// After a failure: is the server still there? `Some(reason)` when it is not.
async fn check_alive(db: &Db, e: &Error) -> Option<String> {
    // Outside the pool: a pool saturated by long operations is not a lost server.
    let probe = db.probe();
    match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(Ok(())) => None,
        Ok(Err(p)) => Some(format!("{} ({})", e.message, p.message)),
        Err(_) => Some(format!(
            "{} (the server did not answer within 3 s)",
            e.message
        )),
    }
}

fn reload_tenants(db: &Db, itx: &mpsc::UnboundedSender<Internal>) {
    let db = db.clone();
    let itx = itx.clone();
    tokio::spawn(async move {
        let r = db::tenants::list_tenants(&db, None).await;
        let _ = itx.send(Internal::Tenants(r));
    });
}

/// Lend the sampler to a task that runs the monitor's plan.
fn start_tick(
    db: &Db,
    shared: &mut Shared,
    monitored: &Arc<Vec<MonitoredTenant>>,
    itx: &mpsc::UnboundedSender<Internal>,
) {
    let Some(mut sampler) = shared.sampler.take() else {
        return;
    };
    let plan = shared.monitor.plan(monitored);
    let db = db.clone();
    let itx = itx.clone();
    let generation = shared.generation + 1;
    // A tick that hangs (a dead network) must not hold the sampler forever.
    let limit = (shared.interval * 5).max(Duration::from_secs(15));
    tokio::spawn(async move {
        let msg = match tokio::time::timeout(limit, sampler.sample(&db, &plan)).await {
            Ok(readings) => Internal::Sampled(Box::new((sampler, readings)), generation),
            Err(_) => Internal::TickTimedOut(limit, generation),
        };
        let _ = itx.send(msg);
    });
}

/// The operation name a mutation's failure alert is kept under.
fn operation_of(cmd: &Command) -> Option<(&'static str, Option<Uuid>)> {
    match cmd {
        Command::Create { .. } => Some(("create", None)),
        Command::Update { tenant, .. } => Some(("update", Some(*tenant))),
        Command::Suspend { tenant, .. } => Some(("suspend", Some(*tenant))),
        Command::Resume { tenant, .. } => Some(("resume", Some(*tenant))),
        Command::Delete { tenant, .. } => Some(("delete", Some(*tenant))),
        Command::CancelSession { tenant, .. } => Some(("cancel session", Some(*tenant))),
        Command::TerminateSession { tenant, .. } => Some(("terminate session", Some(*tenant))),
        Command::Migration { .. } => Some(("migration", None)),
        Command::RefreshNow
        | Command::SetInterval(_)
        | Command::Pause(_)
        | Command::LoadTenants
        | Command::LoadDetail { .. }
        | Command::LoadHistory { .. }
        | Command::LoadAt { .. }
        | Command::LoadAudit { .. }
        | Command::SwitchCluster(_)
        | Command::Shutdown
        | Command::LoadTemplates
        | Command::LoadMigrations { .. } => None,
    }
}

fn handle_request(
    cmd: Command,
    db: &Db,
    opts: &Arc<ProvisionOptions>,
    templates: &Arc<TemplateSet>,
    tenants: &Arc<Vec<Tenant>>,
    events: &mpsc::UnboundedSender<Event>,
    itx: &mpsc::UnboundedSender<Internal>,
) {
    let db = db.clone();
    let opts = opts.clone();
    let ev = events.clone();
    let itx = itx.clone();
    let templates = Arc::clone(templates);
    let tenants = tenants.clone();
    let operation = operation_of(&cmd);
    tokio::spawn(async move {
        // Report a mutation's end to the console and to the alert book.
        let done = |id: RequestId,
                    r: Result<(String, Option<Tenant>), Error>,
                    slow: Option<(Uuid, Duration, Duration)>| {
            if let Some((name, tenant)) = operation {
                let _ = itx.send(Internal::Operation(Outcome {
                    tenant,
                    operation: name,
                    failure: r.as_ref().err().map(|e| e.message.clone()),
                    slow,
                }));
            }
            match r {
                Ok((message, tenant)) => send(
                    &ev,
                    Event::Done {
                        id,
                        message,
                        tenant: tenant.map(Box::new),
                    },
                ),
                Err(error) => send(&ev, Event::Failed { id, error }),
            }
        };
        match cmd {
            Command::Create { id, tenant } => {
                let progress_ev = ev.clone();
                let progress =
                    move |step: ProgressStep| send(&progress_ev, Event::Progress { id, step });
                let started = std::time::Instant::now();
                let r = provision::create_tenant(&db, &opts, &tenant, &progress).await;
                let took = started.elapsed();
                let slow = match &r {
                    Ok(t) if took > opts.creation_timeout => {
                        Some((t.id, took, opts.creation_timeout))
                    }
                    _ => None,
                };
                done(
                    id,
                    r.map(|t| {
                        (
                            format!(
                                "created {} ({}) in {} ms",
                                t.name,
                                t.domain,
                                took.as_millis()
                            ),
                            Some(t),
                        )
                    }),
                    slow,
                );
            }
            Command::Update { id, tenant, update } => {
                let r = provision::update_tenant(&db, &opts, tenant, &update).await;
                done(
                    id,
                    r.map(|t| (format!("updated {}", t.domain), Some(t))),
                    None,
                );
            }
            Command::Suspend { id, tenant, reason } => {
                let r = provision::suspend_tenant(&db, &opts, tenant, reason.as_deref()).await;
                done(
                    id,
                    r.map(|t| (format!("suspended {}", t.domain), Some(t))),
                    None,
                );
            }
            Command::Resume { id, tenant } => {
                let r = provision::resume_tenant(&db, &opts, tenant).await;
                done(
                    id,
                    r.map(|t| (format!("resumed {}", t.domain), Some(t))),
                    None,
                );
            }
            Command::Delete {
                id,
                tenant,
                confirm,
                backup,
            } => {
                let r = provision::delete_tenant(&db, &opts, tenant, &confirm, backup).await;
                done(
                    id,
                    r.map(|o| {
                        let msg = match &o.backup_path {
                            Some(p) => {
                                format!("deleted {} (backup {})", o.tenant.domain, p.display())
                            }
                            None => format!("deleted {} (no backup)", o.tenant.domain),
                        };
                        (msg, Some(o.tenant))
                    }),
                    None,
                );
            }
            Command::LoadDetail { tenant } => {
                let Some(t) = tenants.iter().find(|t| t.id == tenant) else {
                    return;
                };
                match db::detail::tenant_detail(&db, &targets::target(t, &templates)).await {
                    Ok(d) => send(&ev, Event::Detail(Arc::new(d))),
                    Err(e) => send(
                        &ev,
                        Event::Notice(format!("detail of {}: {}", t.domain, e.message)),
                    ),
                }
            }
            Command::LoadAudit { tenant, limit } => {
                match db::audit::list_audit(&db, tenant, None, limit).await {
                    Ok(entries) => send(&ev, Event::Audit { tenant, entries }),
                    Err(e) => send(&ev, Event::Notice(format!("audit: {}", e.message))),
                }
            }
            Command::CancelSession { id, tenant, pid }
            | Command::TerminateSession { id, tenant, pid } => {
                let terminate = matches!(cmd, Command::TerminateSession { .. });
                let verb = if terminate { "terminated" } else { "cancelled" };
                if let Err(e) = provision::ensure_writable(
                    &opts,
                    if terminate {
                        "terminating a session"
                    } else {
                        "cancelling a statement"
                    },
                ) {
                    done(id, Err(e), None);
                    return;
                }
                let r = match tenants.iter().find(|t| t.id == tenant) {
                    None => Err(Error::not_found("that tenant is gone: nothing to do")),
                    Some(t) => {
                        let r = if terminate {
                            db::detail::terminate_session(&db, &t.role_name, pid).await
                        } else {
                            db::detail::cancel_session(&db, &t.role_name, pid).await
                        };
                        match r {
                            Ok(true) => Ok(format!("{verb} session {pid} of {}", t.domain)),
                            Ok(false) => Err(Error::not_found(format!(
                                "session {pid} is no longer a session of {}: nothing {verb}",
                                t.domain
                            ))),
                            Err(e) => Err(e),
                        }
                    }
                };
                done(id, r.map(|m| (m, None)), None);
            }
            Command::LoadMigrations { run } => {
                let r = async {
                    let runs = db::fleet::control::summaries(&db, 50).await?;
                    let pick = run
                        .filter(|r| runs.iter().any(|x| x.id == *r))
                        .or_else(|| runs.first().map(|x| x.id));
                    let tenants = match pick {
                        Some(r) => db::fleet::control::tenants(&db, r).await?,
                        None => Vec::new(),
                    };
                    Ok::<_, Error>((runs, pick, tenants))
                }
                .await;
                match r {
                    Ok((runs, run, tenants)) => send(&ev, Event::Migrations { runs, run, tenants }),
                    Err(e) => send(&ev, Event::Notice(format!("migrations: {}", e.message))),
                }
            }
            Command::Migration { id, run, action } => {
                let r = super::migrations::control(&db, &opts, run, action, &ev).await;
                done(id, r.map(|m| (m, None)), None);
            }
            // Answered in the session task, never spawned.
            Command::RefreshNow
            | Command::SetInterval(_)
            | Command::Pause(_)
            | Command::LoadTenants
            | Command::LoadHistory { .. }
            | Command::LoadAt { .. }
            | Command::SwitchCluster(_)
            | Command::Shutdown
            | Command::LoadTemplates => {}
        }
    });
}
