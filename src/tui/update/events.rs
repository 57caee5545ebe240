//! Backend events into state. Changes from other consoles arrive here as
//! `Tenants`/`TenantsChanged` and are simply applied; a reconnect keeps the
//! user's place (selected tenant, pane, filter, sort).

use std::collections::HashMap;
use std::sync::Arc;

use crate::backend::{Command, Event};
use crate::domain::sanitize::clean;
use crate::domain::tenant::Tenant;
use crate::tui::state::{
    Connection, DetailTab, Modal, Pane, SearchKey, State, WizardOutcome, WizardStep,
};

use super::{complain, load_detail, load_monitor_history, recompute_list, recompute_monitor, say};

/// A backend event: what it changes, and every request it leads to.
pub(super) fn apply(state: &mut State, ev: Event) -> Vec<Command> {
    match ev {
        Event::Connected {
            cluster,
            server_version,
            endpoint,
            read_only,
        } => connected(state, &cluster, &server_version, &endpoint, read_only),
        // The tenant list, and a migration pane watching versions move.
        Event::TenantsChanged => apply_one(state, Event::TenantsChanged)
            .into_iter()
            .chain(super::migrations::changed(state))
            .collect(),
        other => apply_one(state, other).into_iter().collect(),
    }
}

/// Connected (or reconnected): reload what the open pane and an open
/// wizard show, both when both need it.
fn connected(
    state: &mut State,
    cluster: &str,
    server_version: &str,
    endpoint: &str,
    read_only: bool,
) -> Vec<Command> {
    if cluster != state.cluster {
        switch_cluster_data(state, cluster);
    }
    let was_down = matches!(state.connection, Connection::Disconnected { .. });
    state.connection = Connection::Connected {
        server_version: clean(server_version),
        endpoint: clean(endpoint),
    };
    state.server_read_only = read_only;
    state.last_generation = None;
    state.tenants_loading = false;
    if was_down {
        say(state, format!("reconnected to {}", clean(&state.cluster)));
    }
    let mut out = Vec::new();
    if let Some(Modal::Wizard(w)) = &state.modal {
        if w.templates.is_none() {
            out.push(Command::LoadTemplates);
        }
    }
    out.extend(match state.pane {
        Pane::Detail => load_detail(state, true),
        Pane::Audit => super::load_audit(state),
        Pane::Migrations => {
            state.migrations.loading = false;
            super::migrations::load(state)
        }
        _ => None,
    });
    out
}

fn apply_one(state: &mut State, ev: Event) -> Option<Command> {
    match ev {
        Event::Connected { .. } => None,
        Event::Disconnected { error, retry_in } => {
            let retry_at = state.now
                + chrono::TimeDelta::from_std(retry_in).unwrap_or(chrono::TimeDelta::zero());
            state.connection = Connection::Disconnected {
                error: clean(&error),
                retry_at,
            };
            // Requests in flight are lost with the connection; ask again later.
            if let Some(d) = state.detail.as_mut() {
                d.loading = false;
            }
            state.history_loading = false;
            state.audit_loading = false;
            state.tenants_loading = false;
            state.migrations.loading = false;
            None
        }
        Event::Tenants(list) => {
            set_tenants(state, list);
            None
        }
        Event::TenantsChanged => {
            if state.tenants_loading {
                return None;
            }
            state.tenants_loading = true;
            Some(Command::LoadTenants)
        }
        Event::Snapshot(snap) => {
            if state.last_generation.is_some_and(|g| snap.generation <= g) {
                return None; // stale
            }
            state.last_generation = Some(snap.generation);
            state.latest = Some(snap.clone());
            if state.paused {
                return None;
            }
            state.view = Some(snap);
            if state.list.depends_on_metrics() {
                recompute_list(state);
            }
            match state.pane {
                Pane::Monitor => {
                    recompute_monitor(state);
                    load_monitor_history(state)
                }
                Pane::Neighbours | Pane::Locks | Pane::Heatmap => {
                    super::views::recompute_views(state);
                    None
                }
                Pane::Detail => {
                    let tab = state.detail.as_ref().map(|d| d.tab);
                    match tab {
                        Some(DetailTab::Audit) | None => None,
                        Some(_) => load_detail(state, false),
                    }
                }
                _ => None,
            }
        }
        Event::At { back, snapshot } => {
            super::views::arrived_at(state, back, snapshot);
            None
        }
        Event::History(list) => {
            state.history_loading = false;
            for h in list {
                if let Some(d) = state.detail.as_mut() {
                    if h.tenant_id == Some(d.tenant) {
                        d.history = Some(h.clone());
                    }
                }
                state.monitor_history.insert(h.tenant_id, h);
            }
            None
        }
        Event::Detail(detail) => {
            if let Some(d) = state.detail.as_mut() {
                if d.tenant == detail.tenant_id {
                    d.loading = false;
                    d.data = Some(detail);
                }
            }
            None
        }
        Event::Audit { tenant, entries } => {
            match tenant {
                None => {
                    state.audit_loading = false;
                    state.audit = entries;
                    state.audit_cursor =
                        state.audit_cursor.min(state.audit.len().saturating_sub(1));
                }
                Some(id) => {
                    if let Some(d) = state.detail.as_mut() {
                        if d.tenant == id {
                            d.audit = Some(entries);
                        }
                    }
                }
            }
            None
        }
        Event::Progress { id, step } => {
            if let Some(Modal::Wizard(w)) = state.modal.as_mut() {
                if w.request == Some(id) {
                    w.steps.push(step);
                }
            }
            None
        }
        Event::Done {
            id,
            message,
            tenant,
        } => {
            state.pending.remove(&id);
            let message = clean(&message);
            if let Some(t) = &tenant {
                upsert(state, t.as_ref().clone());
            }
            let mut created = None;
            let mut close = false;
            match state.modal.as_mut() {
                Some(Modal::Wizard(w)) if w.request == Some(id) => {
                    w.step = WizardStep::Result;
                    w.outcome = Some(match tenant {
                        Some(t) => {
                            created = Some(t.id);
                            WizardOutcome::Created(t)
                        }
                        None => WizardOutcome::Done(message.clone()),
                    });
                }
                Some(Modal::Edit(e)) if e.request == Some(id) => close = true,
                _ => {}
            }
            if close {
                state.modal = None;
            }
            if created.is_some() {
                state.list.selected = created;
                recompute_list(state);
            }
            say(state, message);
            if state.pane == Pane::Migrations {
                return super::migrations::load(state);
            }
            // A cancelled or terminated session: show the sessions as they are now.
            if state.pane == Pane::Detail {
                if let Some(d) = state.detail.as_mut() {
                    d.audit = None;
                }
                return load_detail(state, true);
            }
            None
        }
        Event::Failed { id, error } => {
            state.pending.remove(&id);
            let message = clean(&error.message);
            match state.modal.as_mut() {
                Some(Modal::Wizard(w)) if w.request == Some(id) => {
                    w.step = WizardStep::Result;
                    w.outcome = Some(WizardOutcome::Failed(message.clone()));
                }
                Some(Modal::Edit(e)) if e.request == Some(id) => {
                    e.request = None;
                    e.fields[e.focus].error = Some(message.clone());
                }
                _ => {}
            }
            complain(state, message);
            super::migrations::changed(state)
        }
        Event::Alerts(alerts) => {
            state.alerts = alerts;
            state.alerts_cursor = state
                .alerts_cursor
                .min(state.alerts.len().saturating_sub(1));
            None
        }
        Event::Notice(text) => {
            say(state, clean(&text));
            None
        }
        Event::Migrations { runs, run, tenants } => {
            super::migrations::arrived(state, runs, run, tenants)
        }
        Event::MigrationsChanged => super::migrations::changed(state),
        Event::Templates(list) => {
            if let Some(Modal::Wizard(w)) = state.modal.as_mut() {
                w.template_cursor = list
                    .iter()
                    .position(|t| t.name == state.defaults.template)
                    .unwrap_or(0);
                w.templates = Some(list);
            }
            None
        }
    }
}

/// Replace the tenant list, keeping the selection where it can.
pub(crate) fn set_tenants(state: &mut State, list: Arc<Vec<Tenant>>) {
    state.tenants_loading = false;
    state.keys = list.iter().map(SearchKey::of).collect();
    state.by_id = list
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id, i))
        .collect::<HashMap<_, _>>();
    state.tenants = list;
    recompute_list(state);
    if let Some(d) = &state.detail {
        if !state.by_id.contains_key(&d.tenant) {
            state.detail = None;
            if state.pane == Pane::Detail {
                state.pane = Pane::Tenants;
            }
            complain(state, "the tenant you were looking at is gone");
        }
    }
}

/// Insert or replace one tenant (a result of our own request).
fn upsert(state: &mut State, t: Tenant) {
    if let Some(&i) = state.by_id.get(&t.id) {
        state.keys[i] = SearchKey::of(&t);
        // Copies the list only while the backend still shares it; the next
        // list from the backend replaces it anyway.
        Arc::make_mut(&mut state.tenants)[i] = t;
    } else {
        state.by_id.insert(t.id, state.tenants.len());
        state.keys.push(SearchKey::of(&t));
        Arc::make_mut(&mut state.tenants).push(t);
    }
    recompute_list(state);
}

/// Another cluster: its tenants and metrics are not ours.
fn switch_cluster_data(state: &mut State, cluster: &str) {
    state.cluster = cluster.to_string();
    let ro = state
        .clusters
        .iter()
        .find(|(n, _)| n == cluster)
        .is_some_and(|(_, ro)| *ro);
    state.config_read_only = state.read_only_flag || ro;
    state.tenants = Arc::default();
    state.keys.clear();
    state.by_id.clear();
    state.view = None;
    state.latest = None;
    state.list.index.clear();
    state.list.selected = None;
    state.list.cursor = 0;
    state.list.offset = 0;
    state.detail = None;
    if state.pane == Pane::Detail {
        state.pane = Pane::Tenants;
    }
    state.audit.clear();
    state.alerts.clear();
    state.monitor_top.clear();
    state.monitor_history.clear();
}
