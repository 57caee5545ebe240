//! The backend task: one per console. It connects (and reconnects with
//! backoff), keeps the tenant list fresh from LISTEN notifications, runs the
//! collector on a timer that skips while a snapshot is in flight, and runs
//! each mutation in its own task so a slow operation never blocks a tick.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio::time::{Instant, MissedTickBehavior};

use super::collector::Collector;
use std::collections::BTreeMap;

use super::{Command, Event, ProgressStep, RequestId, TemplateSummary};
use crate::config::Config;
use crate::db::provision::{self, ProvisionOptions};
use crate::db::{self, Db};
use crate::domain::metrics::MonitoredTenant;
use crate::domain::template::{self, Template};
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
    collector: Arc<Mutex<Collector>>,
    interval: Duration,
    paused: bool,
    generation: u64,
}

async fn run(
    mut config: Config,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut shared = Shared {
        collector: Arc::new(Mutex::new(Collector::new(
            &config.monitoring,
            &config.thresholds,
        ))),
        interval: config
            .monitoring
            .interval
            .0
            .clamp(MIN_INTERVAL, MAX_INTERVAL),
        paused: false,
        generation: 0,
    };
    let mut backoff = Duration::from_millis(500);
    loop {
        let attempt = connect(&config).await;
        let error = match attempt {
            Ok((db, version)) => {
                backoff = Duration::from_millis(500);
                let collector = shared.collector.clone();
                let ev = events.clone();
                tokio::spawn(async move {
                    let mut c = collector.lock().await;
                    c.connection_restored();
                    send(&ev, Event::Alerts(c.alerts()));
                });
                send(
                    &events,
                    Event::Connected {
                        cluster: config.cluster_name.clone(),
                        server_version: version,
                        read_only: config.read_only,
                    },
                );
                match session(&config, &db, &mut shared, &mut commands, &events).await {
                    Exit::Shutdown => return,
                    Exit::Switch(name) => {
                        match config.with_cluster(&name) {
                            Ok(c) => {
                                config = c;
                                shared.collector = Arc::new(Mutex::new(Collector::new(
                                    &config.monitoring,
                                    &config.thresholds,
                                )));
                                send(
                                    &events,
                                    Event::Notice(format!("switching to cluster {name}")),
                                );
                            }
                            Err(e) => send(&events, Event::Notice(e.message)),
                        }
                        continue;
                    }
                    Exit::Lost(e) => e,
                }
            }
            Err(e) => e.message,
        };
        // The collector may still be finishing a tick: record the loss without waiting for it.
        let collector = shared.collector.clone();
        let (ev, lost) = (events.clone(), error.clone());
        tokio::spawn(async move {
            let mut c = collector.lock().await;
            c.connection_lost(&lost);
            send(&ev, Event::Alerts(c.alerts()));
        });
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
                        match config.with_cluster(&name) {
                            Ok(c) => {
                                config = c;
                                shared.collector =
                                    Arc::new(Mutex::new(Collector::new(&config.monitoring, &config.thresholds)));
                                send(&events, Event::Notice(format!("switching to cluster {name}")));
                            }
                            Err(e) => send(&events, Event::Notice(e.message)),
                        }
                        break;
                    }
                    Some(Command::RefreshNow) => break,
                    Some(Command::Pause(p)) => shared.paused = p,
                    Some(Command::SetInterval(d)) => shared.interval = d.clamp(MIN_INTERVAL, MAX_INTERVAL),
                    Some(other) => reject_offline(&events, &other, &error),
                }
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
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
                message: format!(
                    "not connected to the database ({error}): try again once reconnected"
                ),
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
        | Command::TerminateSession { id, .. } => Some(*id),
        _ => None,
    }
}

async fn connect(config: &Config) -> Result<(Db, String), Error> {
    let db = Db::connect(config).await?;
    db::migrate::check(&db).await?;
    let version = db.server_version().await?;
    Ok((db, version))
}

/// Internal results of spawned work.
enum Internal {
    /// A finished tick: its result, generation, and the alerts when they changed.
    Snapshot(
        Result<Arc<crate::domain::metrics::Snapshot>, Error>,
        u64,
        Option<Vec<crate::domain::metrics::Alert>>,
    ),
    Tenants(Result<Vec<Tenant>, Error>),
}

async fn session(
    config: &Config,
    db: &Db,
    shared: &mut Shared,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    events: &mpsc::UnboundedSender<Event>,
) -> Exit {
    let opts = Arc::new(ProvisionOptions::from_config(config));
    let templates: BTreeMap<String, Template> =
        match template::list(&config.provisioning.template_dir) {
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
        };
    let (itx, mut irx) = mpsc::unbounded_channel::<Internal>();
    let expected = expectations(&templates);
    let mut tenants: Arc<Vec<Tenant>> = Arc::new(Vec::new());
    let mut monitored: Arc<Vec<MonitoredTenant>> = Arc::new(Vec::new());
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
    let _guard = super::guard::spawn(db, &config.monitoring, opts.read_only, events.clone());
    let mut ticker = tokio::time::interval(shared.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut in_flight = false;
    let mut tenants_loaded = false;
    let mut reload_pending = false;
    let mut reload_dirty = false;
    loop {
        tokio::select! {
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return Exit::Shutdown };
                match cmd {
                    Command::Shutdown => return Exit::Shutdown,
                    Command::SwitchCluster(name) => return Exit::Switch(name),
                    Command::RefreshNow => {
                        if !in_flight && tenants_loaded {
                            in_flight = true;
                            start_snapshot(db, shared, &monitored, &itx);
                        }
                    }
                    Command::SetInterval(d) => {
                        shared.interval = d.clamp(MIN_INTERVAL, MAX_INTERVAL);
                        ticker = tokio::time::interval_at(Instant::now() + shared.interval, shared.interval);
                        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
                    }
                    // The collector keeps measuring (alerts stay live); only history freezes.
                    Command::Pause(p) => shared.paused = p,
                    Command::LoadTenants => reload_tenants(db, &itx),
                    Command::LoadTemplates => send(events, Event::Templates(
                        templates.values().map(|t| TemplateSummary {
                            name: t.name.clone(),
                            description: t.description.clone(),
                            version: t.version,
                            tables: t.table_names().iter().map(|s| (*s).to_string()).collect(),
                        }).collect(),
                    )),
                    other => handle_request(other, db, &opts, shared, &tenants, events),
                }
            }
            _ = ticker.tick(), if !in_flight && tenants_loaded => {
                in_flight = true;
                start_snapshot(db, shared, &monitored, &itx);
            }
            note = recv_opt(&mut notifications) => match note {
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
                    monitored = monitored_list(&tenants, &expected);
                    send(events, Event::Tenants(Arc::clone(&tenants)));
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
                Some(Internal::Snapshot(result, generation, alerts)) => {
                    in_flight = false;
                    if let Some(a) = alerts {
                        send(events, Event::Alerts(a));
                    }
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

fn start_snapshot(
    db: &Db,
    shared: &mut Shared,
    monitored: &Arc<Vec<MonitoredTenant>>,
    itx: &mpsc::UnboundedSender<Internal>,
) {
    let db = db.clone();
    let itx = itx.clone();
    let collector = shared.collector.clone();
    let generation = shared.generation + 1;
    let monitored = Arc::clone(monitored);
    let frozen = shared.paused;
    // A tick that hangs (a dead network) must not hold the collector forever.
    let limit = (shared.interval * 5).max(Duration::from_secs(15));
    tokio::spawn(async move {
        let work = tokio::spawn(async move {
            let mut c = collector.lock().await;
            c.set_frozen(frozen);
            let r = if let Ok(r) = tokio::time::timeout(limit, c.tick(&db, &monitored)).await {
                r
            } else {
                c.disconnect();
                Err(Error::failure(format!(
                    "the snapshot did not finish within {} s",
                    limit.as_secs()
                )))
            };
            let alerts = c.alerts_changed().then(|| c.alerts());
            (r, alerts)
        });
        let (r, alerts) = work.await.unwrap_or_else(|e| {
            (
                Err(Error::failure(format!("the snapshot task failed: {e}"))),
                None,
            )
        });
        let _ = itx.send(Internal::Snapshot(r, generation, alerts));
    });
}

/// What a template's tenants should have, built once and shared by them all.
#[derive(Debug, Clone)]
struct Expectations {
    version: i32,
    tables: Arc<[String]>,
    indexes: Arc<[String]>,
}

fn expectations(templates: &BTreeMap<String, Template>) -> BTreeMap<String, Expectations> {
    templates
        .iter()
        .map(|(name, tpl)| {
            let e = Expectations {
                version: tpl.version,
                tables: tpl.table_names().iter().map(|s| (*s).to_string()).collect(),
                indexes: tpl.expected_index_names().into(),
            };
            (name.clone(), e)
        })
        .collect()
}

/// What the collector needs of a tenant, with its template's expectations
/// so drift and "template version behind" can be judged.
fn monitored(t: &Tenant, expected: &BTreeMap<String, Expectations>) -> MonitoredTenant {
    let mut m = MonitoredTenant::from(t);
    if let Some(e) = expected.get(&t.template) {
        m.latest_template_version = Some(e.version);
        m.expected_tables = Arc::clone(&e.tables);
        m.expected_indexes = Arc::clone(&e.indexes);
    }
    m
}

/// The tenants the collector watches (tombstones left out), rebuilt only
/// when the tenant list changes and shared with every tick.
fn monitored_list(
    tenants: &[Tenant],
    expected: &BTreeMap<String, Expectations>,
) -> Arc<Vec<MonitoredTenant>> {
    let mut list = Vec::with_capacity(tenants.len());
    list.extend(
        tenants
            .iter()
            .filter(|t| t.status != crate::domain::tenant::TenantStatus::Deleted)
            .map(|t| monitored(t, expected)),
    );
    Arc::new(list)
}

fn handle_request(
    cmd: Command,
    db: &Db,
    opts: &Arc<ProvisionOptions>,
    shared: &Shared,
    tenants: &Arc<Vec<Tenant>>,
    events: &mpsc::UnboundedSender<Event>,
) {
    let db = db.clone();
    let opts = opts.clone();
    let ev = events.clone();
    let collector = shared.collector.clone();
    let tenants = tenants.clone();
    tokio::spawn(async move {
        let done = |id: RequestId, r: Result<(String, Option<Tenant>), Error>| match r {
            Ok((message, tenant)) => send(
                &ev,
                Event::Done {
                    id,
                    message,
                    tenant: tenant.map(Box::new),
                },
            ),
            Err(e) => send(
                &ev,
                Event::Failed {
                    id,
                    message: e.message,
                },
            ),
        };
        match cmd {
            Command::Create { id, tenant } => {
                let progress_ev = ev.clone();
                let progress =
                    move |step: ProgressStep| send(&progress_ev, Event::Progress { id, step });
                let started = std::time::Instant::now();
                let r = provision::create_tenant(&db, &opts, &tenant, &progress).await;
                let took = started.elapsed();
                if let Ok(t) = &r {
                    if took > opts.creation_timeout {
                        let mut c = collector.lock().await;
                        c.creation_slow(t.id, took, opts.creation_timeout);
                        send(&ev, Event::Alerts(c.alerts()));
                    }
                }
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
                );
            }
            Command::Update { id, tenant, update } => {
                let r = provision::update_tenant(&db, &opts, tenant, &update).await;
                done(id, r.map(|t| (format!("updated {}", t.domain), Some(t))));
            }
            Command::Suspend { id, tenant, reason } => {
                let r = provision::suspend_tenant(&db, &opts, tenant, reason.as_deref()).await;
                done(id, r.map(|t| (format!("suspended {}", t.domain), Some(t))));
            }
            Command::Resume { id, tenant } => {
                let r = provision::resume_tenant(&db, &opts, tenant).await;
                done(id, r.map(|t| (format!("resumed {}", t.domain), Some(t))));
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
                );
            }
            Command::LoadDetail { tenant } => {
                let Some(t) = tenants.iter().find(|t| t.id == tenant) else {
                    return;
                };
                let templates: BTreeMap<String, Template> =
                    template::load(&opts.template_dir, &t.template)
                        .map(|tpl| BTreeMap::from([(tpl.name.clone(), tpl)]))
                        .unwrap_or_default();
                let expected = expectations(&templates);
                match db::detail::tenant_detail(&db, &monitored(t, &expected)).await {
                    Ok(d) => send(&ev, Event::Detail(Arc::new(d))),
                    Err(e) => send(
                        &ev,
                        Event::Notice(format!("detail of {}: {}", t.domain, e.message)),
                    ),
                }
            }
            Command::LoadHistory { tenants: ids } => {
                let h = collector.lock().await.history(&ids);
                send(&ev, Event::History(h));
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
                    done(id, Err(e));
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
                done(id, r.map(|m| (m, None)));
            }
            _ => {}
        }
    });
}
