//! Keys and snapshots in the monitoring views: the chart window, the
//! Neighbours ranking, the Locks view (cancel or terminate a blocker) and
//! the heat map's cursor.
#![allow(clippy::needless_pass_by_value)] // reason: handlers take the Action by value as update() does

use std::time::Duration;

use crate::backend::Command;
use crate::domain::activity;
use crate::domain::sanitize::clean_truncate;
use crate::tui::action::Action;
use crate::tui::state::views::{Heat, NEIGHBOURS_TOP};
use crate::tui::state::{Confirm, ConfirmKind, Modal, Pane, State};

use super::{complain, move_cursor, refused, say};

/// Open a view by its pane (a key or a `:` command).
pub(crate) fn open_view(state: &mut State, pane: Pane) -> Option<Command> {
    let cmd = super::switch_pane(state, pane);
    recompute_views(state);
    cmd
}

/// Set the charts' window (clamped to the configured history).
pub(crate) fn set_window(state: &mut State, w: Duration) {
    let w = state.views.clamp_window(w);
    state.views.window = w;
    say(
        state,
        format!(
            "charts show the last {} min (history kept: {} min)",
            w.as_secs() / 60,
            state.views.history.as_secs() / 60
        ),
    );
}

/// Recompute what the open view shows from the snapshot on screen.
pub(crate) fn recompute_views(state: &mut State) {
    match state.pane {
        Pane::Neighbours => rank_neighbours(state),
        Pane::Heatmap => relevel(state),
        Pane::Locks => {
            let n = state.view.as_ref().map_or(0, |v| v.blocking.len());
            state.views.locks_cursor = state.views.locks_cursor.min(n.saturating_sub(1));
        }
        _ => {}
    }
}

fn rank_neighbours(state: &mut State) {
    let Some(view) = state.view.as_ref() else {
        state.views.neighbours.clear();
        return;
    };
    let selected = state
        .views
        .neighbours
        .get(state.views.neighbour_cursor)
        .copied();
    let known = &state.by_id;
    state.views.neighbours = activity::rank(
        view.tenants
            .values()
            .filter(|m| known.contains_key(&m.tenant_id)),
        state.views.neighbour_metric,
        NEIGHBOURS_TOP,
    );
    let v = &mut state.views;
    v.neighbour_cursor = selected
        .and_then(|id| v.neighbours.iter().position(|t| *t == id))
        .unwrap_or(v.neighbour_cursor)
        .min(v.neighbours.len().saturating_sub(1));
}

fn relevel(state: &mut State) {
    let heat = &mut state.views.heat;
    let source = (list_addr(&state.tenants), state.tenants.len());
    if heat.source != source || heat.order.is_empty() {
        heat.regroup(&state.tenants);
        heat.source = source;
    }
    let metric = heat.metric;
    let view = state.view.as_ref();
    heat.relevel(|id| {
        view.and_then(|v| v.tenants.get(id))
            .and_then(|m| metric.badness(m))
    });
}

/// The tenant list's identity: a new list from the backend regroups the map.
fn list_addr(a: &std::sync::Arc<Vec<crate::domain::tenant::Tenant>>) -> usize {
    std::sync::Arc::as_ptr(a).cast::<()>().addr()
}

/// Cells per heat-map line at the current terminal width.
pub(crate) fn heat_cols(state: &State) -> usize {
    Heat::cols(state.size.0)
}

/// Heat-map lines that fit on screen (tabs, header, footer, bars).
fn heat_page(state: &State) -> isize {
    isize::try_from(state.size.1.saturating_sub(7).max(1)).unwrap_or(1)
}

pub(super) fn neighbours_pane(state: &mut State, action: Action) -> Option<Command> {
    match action {
        Action::SortColumn => {
            state.views.neighbour_metric = state.views.neighbour_metric.next();
            rank_neighbours(state);
            say(
                state,
                format!("neighbours by {}", state.views.neighbour_metric.title()),
            );
            None
        }
        Action::Open => {
            let id = *state.views.neighbours.get(state.views.neighbour_cursor)?;
            super::panes::open_tenant(state, id)
        }
        other => {
            let len = state.views.neighbours.len();
            let page = state.list_page();
            state.views.neighbour_cursor =
                move_cursor(state.views.neighbour_cursor, len, &other, page);
            None
        }
    }
}

pub(super) fn locks_pane(state: &mut State, action: Action) -> Option<Command> {
    let chains = state.view.as_ref().map_or(0, |v| v.blocking.len());
    match action {
        Action::CancelSession | Action::TerminateSession => {
            let terminate = matches!(action, Action::TerminateSession);
            ask_signal_blocker(state, state.views.locks_cursor, terminate)
        }
        Action::Open => {
            let id = state
                .view
                .as_ref()
                .and_then(|v| v.blocking.get(state.views.locks_cursor))
                .and_then(|c| c.blocker.tenant_id);
            if let Some(id) = id {
                super::panes::open_tenant(state, id)
            } else {
                complain(state, "the blocker is not a tenant's session");
                None
            }
        }
        other => {
            let page = state.list_page();
            state.views.locks_cursor = move_cursor(state.views.locks_cursor, chains, &other, page);
            None
        }
    }
}

/// Ask before cancelling or terminating the blocker of chain `i`.
pub(crate) fn ask_signal_blocker(state: &mut State, i: usize, terminate: bool) -> Option<Command> {
    let Some(chain) = state.view.as_ref().and_then(|v| v.blocking.get(i)) else {
        complain(state, "no blocking session selected");
        return None;
    };
    let b = &chain.blocker;
    let (pid, waiters, idle) = (b.pid, chain.waiters.len(), b.state.starts_with("idle"));
    let Some(tenant) = b.tenant_id else {
        complain(
            state,
            format!(
                "session {pid} ({}) is not a tenant's: tenantctl only signals tenant sessions",
                clean_truncate(&b.role, 40)
            ),
        );
        return None;
    };
    let name = state
        .tenant(tenant)
        .map_or_else(|| tenant.to_string(), |t| clean_truncate(&t.name, 40));
    if refused(state) {
        return None;
    }
    let (kind, prompt) = if terminate {
        (
            ConfirmKind::TerminateSession { tenant, pid },
            format!(
                "Terminate session {pid} of {name}? Its transaction rolls back and {waiters} waiting session{} go on. [y/N]",
                if waiters == 1 { "" } else { "s" }
            ),
        )
    } else {
        (
            ConfirmKind::CancelSession { tenant, pid },
            format!(
                "Cancel the statement of session {pid} of {name}?{} [y/N]",
                if idle {
                    " It is idle in a transaction: cancelling does not release its locks (T terminates)."
                } else {
                    ""
                }
            ),
        )
    };
    state.modal = Some(Modal::Confirm(Confirm {
        kind,
        prompt,
        typed: None,
        error: None,
    }));
    None
}

pub(super) fn heatmap_pane(state: &mut State, action: Action) -> Option<Command> {
    let cols = heat_cols(state);
    let page = heat_page(state);
    let heat = &mut state.views.heat;
    match action {
        Action::SortColumn => {
            heat.metric = heat.metric.next();
            let t = heat.metric.title();
            relevel(state);
            say(state, format!("heat map coloured by {t}"));
        }
        Action::SortDirection => {
            heat.group = match heat.group {
                crate::tui::state::HeatGroup::TemplateVersion => {
                    crate::tui::state::HeatGroup::Status
                }
                crate::tui::state::HeatGroup::Status => {
                    crate::tui::state::HeatGroup::TemplateVersion
                }
            };
            let t = heat.group.title();
            heat.regroup(&state.tenants);
            relevel(state);
            say(state, format!("heat map grouped by {t}"));
        }
        Action::Open => {
            let id = *heat.order.get(heat.cursor)?;
            return super::panes::open_tenant(state, id);
        }
        Action::NextTab => heat.move_cursor(1, 0, cols),
        Action::PrevTab => heat.move_cursor(-1, 0, cols),
        Action::Down => heat.move_cursor(0, 1, cols),
        Action::Up => heat.move_cursor(0, -1, cols),
        Action::PageDown => heat.move_cursor(0, page, cols),
        Action::PageUp => heat.move_cursor(0, -page, cols),
        Action::Top => heat.cursor = 0,
        Action::Bottom => heat.cursor = heat.order.len().saturating_sub(1),
        _ => {}
    }
    None
}

/// Move the time cursor one point back or forward (only while paused).
pub(crate) fn time_step(state: &mut State, back: bool) -> Option<Command> {
    if !state.paused {
        complain(
            state,
            format!(
                "time travel works while paused: {} pauses, then {}/{} move through the kept history",
                state.keymap.label_of("pause"),
                state.keymap.label_of("time_back"),
                state.keymap.label_of("time_forward")
            ),
        );
        return None;
    }
    let cur = state.views.time_back;
    let next = if back { cur + 1 } else { cur.saturating_sub(1) };
    if next == cur {
        say(state, "at the newest point: Space goes live");
        return None;
    }
    if cur == 0 {
        state.views.present.clone_from(&state.view);
    }
    state.views.time_back = next;
    if next == 0 {
        if let Some(p) = state.views.present.take() {
            show(state, p);
        }
        return None;
    }
    Some(Command::LoadAt { back: next })
}

/// The snapshot of an instant arrived: show it, unless the cursor moved on.
pub(crate) fn arrived_at(
    state: &mut State,
    back: usize,
    snapshot: Option<std::sync::Arc<crate::domain::metrics::Snapshot>>,
) {
    if !state.paused || back != state.views.time_back {
        return;
    }
    if let Some(s) = snapshot {
        show(state, s);
    } else {
        state.views.time_back = back.saturating_sub(1);
        let at = state.view.as_ref().map_or_else(String::new, |v| {
            format!(" ({})", v.taken_at.format("%H:%M:%S"))
        });
        say(state, format!("that is the oldest point kept{at}"));
    }
}

fn show(state: &mut State, s: std::sync::Arc<crate::domain::metrics::Snapshot>) {
    state.view = Some(s);
    if state.list.depends_on_metrics() {
        super::recompute_list(state);
    }
    super::recompute_monitor(state);
    recompute_views(state);
}
