//! `update(&mut State, Action) -> Vec<Command>`: the console's only state
//! transition. Pure: no I/O, no clock (time arrives in `Action::Tick`), so it
//! is tested with plain unit tests.
#![allow(clippy::needless_pass_by_value)] // reason: handlers take the Action by value as update() does; most consume it

pub mod command;
mod events;
mod forms;
pub(crate) mod migrations;
mod panes;
#[cfg(test)]
mod tests;
mod views;

use panes::{alerts_pane, click, detail_pane, monitor_pane, tenants_pane};

use std::time::Duration;

use crate::backend::Command;
use crate::domain::sanitize::clean_truncate;
use crate::domain::tenant::TenantStatus;
use crate::tui::action::Action;
use crate::tui::state::{
    Column, Confirm, ConfirmKind, Connection, DetailState, DetailTab, EditForm, MAX_INTERVAL,
    MESSAGE_TTL, MIN_INTERVAL, Message, Modal, Pane, State, Wizard,
};

pub use command::{ConsoleCommand, complete, parse_command};
pub use panes::is_version_behind;

/// Refresh intervals `+` and `-` step through.
const INTERVAL_STEPS_MS: [u64; 9] = [
    500, 1_000, 2_000, 3_000, 5_000, 10_000, 15_000, 30_000, 60_000,
];

/// How many tenants the monitor ranks.
pub const MONITOR_TOP: usize = 10;

/// Apply one action. Returns the command to send to the backend, if any.
pub fn update(state: &mut State, action: Action) -> Vec<Command> {
    match action {
        Action::Backend(ev) => {
            state.dirty = true;
            events::apply(state, ev)
        }
        other => update_one(state, other).into_iter().collect(),
    }
}

/// Every action but backend events (which [`update`] applies), each leading
/// to at most one request.
fn update_one(state: &mut State, action: Action) -> Option<Command> {
    match action {
        Action::Tick(now) => {
            tick(state, now);
            migrations::tick(state)
        }
        Action::Resize(w, h) => {
            state.size = (w, h);
            let page = state.list_page();
            state.list.scroll_into_view(page);
            state.dirty = true;
            None
        }
        Action::SuspendProcess => {
            state.suspend = true;
            None
        }
        Action::Resumed => {
            state.suspend = false;
            state.dirty = true;
            None
        }
        other => {
            state.dirty = true;
            if state.modal.is_some() {
                forms::modal(state, other)
            } else {
                normal(state, other)
            }
        }
    }
}

fn tick(state: &mut State, now: chrono::DateTime<chrono::Utc>) {
    let before = state.now;
    state.now = now;
    if let Some(m) = &state.message {
        if now - m.at > MESSAGE_TTL {
            state.message = None;
            state.dirty = true;
        }
    }
    let second_changed = before.timestamp() != now.timestamp();
    let animating = matches!(
        state.connection,
        Connection::Disconnected { .. } | Connection::Connecting
    ) || !state.pending.is_empty()
        || matches!(&state.modal, Some(Modal::Wizard(w)) if w.request.is_some());
    if animating && second_changed {
        state.dirty = true;
    }
}

/// Put a line in the status bar.
pub(crate) fn say(state: &mut State, text: impl Into<String>) {
    state.message = Some(Message {
        text: text.into(),
        error: false,
        at: state.now,
    });
}

/// Put an error line in the status bar.
pub(crate) fn complain(state: &mut State, text: impl Into<String>) {
    state.message = Some(Message {
        text: text.into(),
        error: true,
        at: state.now,
    });
}

/// Refuse a change if read-only or disconnected; says why.
pub(crate) fn refused(state: &mut State) -> bool {
    if let Some(why) = state.refuse_changes() {
        complain(state, why);
        true
    } else {
        false
    }
}

/// Keys with no modal open.
fn normal(state: &mut State, action: Action) -> Option<Command> {
    match action {
        Action::Quit | Action::Interrupt => {
            state.quit = true;
            None
        }
        Action::Help => {
            state.modal = Some(Modal::Help { scroll: 0 });
            None
        }
        Action::CommandLine => {
            state.modal = Some(Modal::CommandLine(crate::tui::state::CommandLine::default()));
            None
        }
        Action::Filter => {
            if state.pane != Pane::Tenants {
                state.pane = Pane::Tenants;
                state.detail = None;
            }
            let previous = state.list.filter.text.clone();
            state.modal = Some(Modal::Filter {
                input: tui_input::Input::new(previous.clone()),
                previous,
            });
            None
        }
        Action::NextPane | Action::PrevPane => {
            let cur = state.pane.tab();
            let i = Pane::TABS.iter().position(|p| *p == cur).unwrap_or(0);
            let n = Pane::TABS.len();
            let next = if matches!(action, Action::NextPane) {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            switch_pane(state, Pane::TABS[next])
        }
        Action::Pause => Some(toggle_pause(state)),
        Action::Faster => step_interval(state, true),
        Action::Slower => step_interval(state, false),
        Action::Refresh => match state.pane {
            Pane::Audit => load_audit(state),
            Pane::Migrations => migrations::load(state),
            Pane::Detail => load_detail(state, true),
            _ => {
                say(state, "refreshing…");
                Some(Command::RefreshNow)
            }
        },
        Action::New => open_wizard(state),
        Action::View(p) => views::open_view(state, p),
        Action::TimeBack => views::time_step(state, true),
        Action::TimeForward => views::time_step(state, false),
        Action::PrevTab | Action::NextTab
            if state.paused
                && matches!(
                    state.pane,
                    Pane::Tenants | Pane::Monitor | Pane::Neighbours | Pane::Locks
                ) =>
        {
            views::time_step(state, matches!(action, Action::PrevTab))
        }
        Action::Window => {
            let w = state.views.next_window();
            views::set_window(state, w);
            None
        }
        Action::Back => {
            if state.pane == Pane::Migrations {
                state.pane = if state.detail.is_some() {
                    Pane::Detail
                } else {
                    Pane::Tenants
                };
                return None;
            }
            if state.pane.tab() == Pane::Monitor && state.pane != Pane::Monitor {
                return switch_pane(state, Pane::Monitor);
            }
            if state.pane == Pane::Detail {
                state.pane = Pane::Tenants;
                state.detail = None;
            } else if state.message.is_some() {
                state.message = None;
            } else if !state.list.filter.is_empty() && state.pane == Pane::Tenants {
                set_filter(state, "");
            }
            None
        }
        Action::Click(x, y) => click(state, x, y),
        Action::MigratePause | Action::MigrateResume | Action::MigrateCancel
            if state.pane != Pane::Migrations =>
        {
            let hint = state.keymap.label_of("migrations");
            complain(
                state,
                format!("select a run in the Migrations pane ({hint}) first"),
            );
            None
        }
        other => match state.pane {
            Pane::Tenants => tenants_pane(state, other),
            Pane::Detail => detail_pane(state, other),
            Pane::Monitor => monitor_pane(state, other),
            Pane::Audit => {
                let len = state.audit.len();
                state.audit_cursor =
                    move_cursor(state.audit_cursor, len, &other, state.list_page());
                None
            }
            Pane::Alerts => alerts_pane(state, other),
            Pane::Neighbours => views::neighbours_pane(state, other),
            Pane::Locks => views::locks_pane(state, other),
            Pane::Heatmap => views::heatmap_pane(state, other),
            Pane::Migrations => migrations::pane(state, other),
        },
    }
}

/// Cursor arithmetic shared by the simple lists.
pub(crate) fn move_cursor(cur: usize, len: usize, action: &Action, page: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let last = len - 1;
    match action {
        Action::Down => (cur + 1).min(last),
        Action::Up => cur.saturating_sub(1),
        Action::Top => 0,
        Action::Bottom => last,
        Action::PageDown => (cur + page).min(last),
        Action::PageUp => cur.saturating_sub(page),
        _ => cur.min(last),
    }
}

pub(crate) fn switch_pane(state: &mut State, pane: Pane) -> Option<Command> {
    state.pane = pane;
    // The Migrations pane keeps an open detail: Esc goes back to it.
    if pane != Pane::Detail && pane != Pane::Migrations {
        state.detail = None;
    }
    match pane {
        Pane::Audit => load_audit(state),
        Pane::Migrations => migrations::load(state),
        Pane::Monitor => {
            recompute_monitor(state);
            load_monitor_history(state)
        }
        _ => None,
    }
}

/// Rebuild the list index from the tenants and the view's metrics.
pub(crate) fn recompute_list(state: &mut State) {
    let page = state.list_page();
    let metrics = state.view.as_ref().map(|s| &s.tenants);
    state
        .list
        .recompute(&state.tenants, &state.keys, metrics, page);
}

/// Rank the top tenants for the monitor.
pub(crate) fn recompute_monitor(state: &mut State) {
    let metric = state.monitor_metric;
    let Some(view) = state.view.as_ref() else {
        state.monitor_top.clear();
        return;
    };
    let mut ranked: Vec<(f64, uuid::Uuid)> = view
        .tenants
        .iter()
        .filter(|(id, _)| state.by_id.contains_key(id))
        .map(|(id, m)| (metric.value(m), *id))
        .collect();
    let cmp =
        |a: &(f64, uuid::Uuid), b: &(f64, uuid::Uuid)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if ranked.len() > MONITOR_TOP {
        ranked.select_nth_unstable_by(MONITOR_TOP - 1, cmp);
        ranked.truncate(MONITOR_TOP);
    }
    ranked.sort_unstable_by(cmp);
    // The cursor follows its tenant while it stays in the top, else keeps its row.
    let selected = state.monitor_top.get(state.monitor_cursor).copied();
    state.monitor_top = ranked.into_iter().map(|(_, id)| id).collect();
    state.monitor_cursor = selected
        .and_then(|id| state.monitor_top.iter().position(|t| *t == id))
        .unwrap_or(state.monitor_cursor)
        .min(state.monitor_top.len().saturating_sub(1));
}

pub(crate) fn load_monitor_history(state: &mut State) -> Option<Command> {
    // Even with no tenant ranked yet: the answer carries the cluster's series.
    if state.history_loading || state.paused {
        return None;
    }
    state.history_loading = true;
    Some(Command::LoadHistory {
        tenants: state.monitor_top.clone(),
    })
}

pub(crate) fn load_audit(state: &mut State) -> Option<Command> {
    if state.audit_loading {
        return None;
    }
    state.audit_loading = true;
    Some(Command::LoadAudit {
        tenant: None,
        limit: 500,
    })
}

/// Ask for what the open detail tab shows, unless it is already coming.
pub(crate) fn load_detail(state: &mut State, force: bool) -> Option<Command> {
    let paused = state.paused;
    let d = state.detail.as_mut()?;
    match d.tab {
        DetailTab::History => {
            if state.history_loading && !force {
                return None;
            }
            state.history_loading = true;
            Some(Command::LoadHistory {
                tenants: vec![d.tenant],
            })
        }
        DetailTab::Audit => {
            if d.audit.is_some() && !force {
                return None;
            }
            Some(Command::LoadAudit {
                tenant: Some(d.tenant),
                limit: 200,
            })
        }
        _ => {
            if d.loading || (paused && d.data.is_some() && !force) {
                return None;
            }
            d.loading = true;
            Some(Command::LoadDetail { tenant: d.tenant })
        }
    }
}

fn open_detail(state: &mut State) -> Option<Command> {
    let id = state.list.selected?;
    state.tenant(id)?;
    state.pane = Pane::Detail;
    state.detail = Some(DetailState {
        tenant: id,
        tab: DetailTab::Overview,
        data: None,
        history: None,
        audit: None,
        cursor: 0,
        loading: false,
    });
    load_detail(state, true)
}

fn toggle_pause(state: &mut State) -> Command {
    state.paused = !state.paused;
    state.views.time_back = 0;
    state.views.present = None;
    if state.paused {
        let at = state.view.as_ref().map_or_else(
            || "no data yet".to_string(),
            |s| s.taken_at.format("%H:%M:%S").to_string(),
        );
        say(
            state,
            format!("paused: showing data of {at}; Space resumes"),
        );
    } else {
        if state.latest.is_some() {
            state.view.clone_from(&state.latest);
            if state.list.depends_on_metrics() {
                recompute_list(state);
            }
            recompute_monitor(state);
            views::recompute_views(state);
        }
        say(state, "live again");
    }
    Command::Pause(state.paused)
}

/// Set the interval, clamped to 0.5–60 s.
pub(crate) fn set_interval(state: &mut State, d: Duration) -> Option<Command> {
    if d < MIN_INTERVAL || d > MAX_INTERVAL {
        complain(
            state,
            format!(
                "refresh interval {} is out of range: use 0.5s to 60s",
                crate::domain::units::format_duration(d)
            ),
        );
        return None;
    }
    state.interval = d;
    say(state, format!("refreshing every {}", format_interval(d)));
    Some(Command::SetInterval(d))
}

/// `2s`, `0.5s`, `1m`.
pub fn format_interval(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 60_000 == 0 && ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn step_interval(state: &mut State, faster: bool) -> Option<Command> {
    let cur = u64::try_from(state.interval.as_millis()).unwrap_or(u64::MAX);
    let next = if faster {
        INTERVAL_STEPS_MS.iter().rev().find(|&&s| s < cur).copied()
    } else {
        INTERVAL_STEPS_MS.iter().find(|&&s| s > cur).copied()
    };
    if let Some(ms) = next {
        set_interval(state, Duration::from_millis(ms))
    } else {
        complain(
            state,
            if faster {
                "already refreshing as fast as allowed (0.5s)"
            } else {
                "already refreshing as slowly as allowed (60s)"
            },
        );
        None
    }
}

pub(crate) fn set_filter(state: &mut State, text: &str) {
    state.list.filter = crate::tui::state::Filter::parse(text);
    recompute_list(state);
}

pub(crate) fn open_wizard(state: &mut State) -> Option<Command> {
    if refused(state) {
        return None;
    }
    state.modal = Some(Modal::Wizard(Box::new(Wizard::new(&state.defaults))));
    Some(Command::LoadTemplates)
}

fn open_edit(state: &mut State) -> Option<Command> {
    if refused(state) {
        return None;
    }
    let Some(t) = state.selected_tenant() else {
        complain(state, "no tenant selected");
        return None;
    };
    if t.status == TenantStatus::Deleted {
        complain(state, "a deleted tenant cannot be edited");
        return None;
    }
    state.modal = Some(Modal::Edit(Box::new(EditForm::new(t))));
    None
}

/// Open the suspend or resume confirmation for a tenant.
pub(crate) fn ask_suspend_resume_for(
    state: &mut State,
    id: uuid::Uuid,
    want: Option<bool>,
) -> Option<Command> {
    if refused(state) {
        return None;
    }
    let Some(t) = state.tenant(id) else {
        complain(state, "no such tenant");
        return None;
    };
    let label = format!(
        "{} ({})",
        clean_truncate(&t.name, 40),
        clean_truncate(&t.domain, 60)
    );
    let suspend = match (t.status, want) {
        (TenantStatus::Active, None | Some(true)) => true,
        (TenantStatus::Suspended, None | Some(false)) => false,
        (s, _) => {
            let s = s.as_str();
            complain(state, format!("{label} is {s}: nothing to do"));
            return None;
        }
    };
    let (kind, prompt) = if suspend {
        (
            ConfirmKind::Suspend { tenant: id },
            format!(
                "Suspend {label}? Its role stops logging in and its sessions are terminated. [y/N]"
            ),
        )
    } else {
        (
            ConfirmKind::Resume { tenant: id },
            format!("Resume {label}? Its role may log in again. [y/N]"),
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

fn ask_suspend_resume(state: &mut State) -> Option<Command> {
    let Some(id) = state.selected_tenant().map(|t| t.id) else {
        complain(state, "no tenant selected");
        return None;
    };
    ask_suspend_resume_for(state, id, None)
}

/// Open the typed delete confirmation for a tenant.
pub(crate) fn ask_delete_for(state: &mut State, id: uuid::Uuid) -> Option<Command> {
    if refused(state) {
        return None;
    }
    let Some(t) = state.tenant(id) else {
        complain(state, "no such tenant");
        return None;
    };
    if t.status != TenantStatus::Suspended {
        let hint = state.keymap.label_of("suspend_resume");
        complain(
            state,
            format!("only a suspended tenant can be deleted: suspend it first ({hint})"),
        );
        return None;
    }
    let domain = t.domain.clone();
    let prompt = format!(
        "Delete {} for good? A backup is taken first. Type its domain ({}) to confirm:",
        clean_truncate(&t.name, 40),
        clean_truncate(&t.domain, 60)
    );
    state.modal = Some(Modal::Confirm(Confirm {
        kind: ConfirmKind::Delete { tenant: id, domain },
        prompt,
        typed: Some(tui_input::Input::default()),
        error: None,
    }));
    None
}

fn ask_delete(state: &mut State) -> Option<Command> {
    let Some(id) = state.selected_tenant().map(|t| t.id) else {
        complain(state, "no tenant selected");
        return None;
    };
    ask_delete_for(state, id)
}

/// Sort by a column (`:sort`).
pub(crate) fn sort_by(state: &mut State, col: Column, descending: Option<bool>) {
    state.list.sort = col;
    state.list.descending = descending.unwrap_or_else(|| col.descending_by_default());
    recompute_list(state);
}

#[cfg(test)]
mod flow_tests;
