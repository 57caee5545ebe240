//! The Migrations pane: loading runs (coalesced, re-read every second while
//! a run moves and on the migration notification), the cursor in the run
//! and tenant lists, and pause/resume/cancel behind a confirmation.
#![allow(clippy::needless_pass_by_value)] // reason: handlers take the Action by value as update() does

use uuid::Uuid;

use crate::backend::Command;
use crate::domain::runs::{RunAction, RunSummary, RunTenant};
use crate::domain::sanitize::{clean, clean_truncate};
use crate::tui::action::Action;
use crate::tui::state::migrations::REFRESH;
use crate::tui::state::{Confirm, ConfirmKind, Modal, Pane, State};

use super::{complain, move_cursor, refused, say};

/// Ask for the runs and the selected run's tenants, unless already coming.
pub(crate) fn load(state: &mut State) -> Option<Command> {
    let m = &mut state.migrations;
    if m.loading {
        m.stale = true;
        return None;
    }
    m.loading = true;
    m.stale = false;
    Some(Command::LoadMigrations { run: m.run })
}

/// Runs arrived: the cursor follows its run; a wanted template picks its
/// newest run (and asks for that run's tenants).
pub(crate) fn arrived(
    state: &mut State,
    runs: Vec<RunSummary>,
    run: Option<Uuid>,
    tenants: Vec<RunTenant>,
) -> Option<Command> {
    let m = &mut state.migrations;
    m.loading = false;
    m.loaded_at = Some(state.now);
    m.runs = runs;
    if let Some(t) = m.want_template.take() {
        if let Some(i) = m.runs.iter().position(|r| r.template == t) {
            m.cursor = i;
            let id = m.runs[i].id;
            if Some(id) != run {
                m.run = Some(id);
                m.tenants.clear();
                return load(state);
            }
        }
    } else {
        m.cursor = run
            .and_then(|id| m.runs.iter().position(|r| r.id == id))
            .unwrap_or(0);
    }
    m.cursor = m.cursor.min(m.runs.len().saturating_sub(1));
    if m.run != run {
        m.tenant_cursor = 0;
    }
    m.run = run;
    m.tenants = tenants;
    m.tenant_cursor = m.tenant_cursor.min(m.tenants.len().saturating_sub(1));
    if m.stale {
        return load(state);
    }
    None
}

/// A run changed somewhere: re-read it when the pane is open.
pub(crate) fn changed(state: &mut State) -> Option<Command> {
    if state.pane == Pane::Migrations {
        load(state)
    } else {
        None
    }
}

/// Once a second while the pane is open and a run moves (or a resume of
/// ours is in flight).
pub(crate) fn tick(state: &mut State) -> Option<Command> {
    if state.pane != Pane::Migrations || state.migrations.loading {
        return None;
    }
    let ours = state
        .pending
        .values()
        .any(|p| p.what.starts_with("resuming run"));
    if !(state.migrations.live() || ours) {
        return None;
    }
    let due = state
        .migrations
        .loaded_at
        .is_none_or(|t| state.now - t >= REFRESH);
    if due { load(state) } else { None }
}

/// Keys in the pane.
pub(crate) fn pane(state: &mut State, action: Action) -> Option<Command> {
    let page = state.list_page();
    match action {
        Action::NextTab | Action::PrevTab => {
            let m = &mut state.migrations;
            m.on_tenants = !m.on_tenants && !m.tenants.is_empty();
            None
        }
        Action::Open => {
            let m = &state.migrations;
            if !m.on_tenants {
                state.migrations.on_tenants = !m.tenants.is_empty();
                return None;
            }
            let tenant = m.tenants.get(m.tenant_cursor)?.tenant_id;
            super::panes::open_tenant(state, tenant)
        }
        Action::Refresh => load(state),
        Action::MigratePause => ask(state, RunAction::Pause, None),
        Action::MigrateResume => ask(state, RunAction::Resume, None),
        Action::MigrateCancel => ask(state, RunAction::Cancel, None),
        Action::Down
        | Action::Up
        | Action::Top
        | Action::Bottom
        | Action::PageDown
        | Action::PageUp => {
            let m = &mut state.migrations;
            if m.on_tenants {
                m.tenant_cursor = move_cursor(m.tenant_cursor, m.tenants.len(), &action, page);
                return None;
            }
            let before = m.cursor;
            m.cursor = move_cursor(m.cursor, m.runs.len(), &action, page);
            if m.cursor == before {
                return None;
            }
            m.run = m.runs.get(m.cursor).map(|r| r.id);
            m.tenants.clear();
            m.tenant_cursor = 0;
            load(state)
        }
        _ => None,
    }
}

/// Find a run by id or id prefix (at least 4 characters), among those shown.
fn find_run<'a>(state: &'a State, what: &str) -> Option<&'a RunSummary> {
    let w = what.trim().to_ascii_lowercase();
    if w.len() < 4 {
        return None;
    }
    state
        .migrations
        .runs
        .iter()
        .find(|r| r.id.to_string().starts_with(&w))
}

/// Open the confirmation for `action` on the selected run (or the run
/// named by `run`); one sentence when it does not apply.
pub(crate) fn ask(state: &mut State, action: RunAction, run: Option<&str>) -> Option<Command> {
    if refused(state) {
        return None;
    }
    let found = match run {
        Some(w) => find_run(state, w),
        None => state.migrations.selected(),
    };
    let Some(r) = found else {
        let why = match run {
            Some(w) => format!(
                "no migration run matches \"{}\": give its id or the first 4+ characters (see the Migrations pane)",
                clean_truncate(w, 40)
            ),
            None => "no migration run selected: open the Migrations pane (M)".to_string(),
        };
        complain(state, why);
        return None;
    };
    let short = r.id.to_string()[..8].to_string();
    let label = format!(
        "run {short} ({} to v{})",
        clean_truncate(&r.template, 30),
        r.to_version
    );
    let state_name = clean(&r.state);
    let ok = match action {
        RunAction::Pause => r.is_running(),
        RunAction::Resume => r.is_resumable(),
        RunAction::Cancel => r.is_open(),
    };
    if !ok {
        let why = match action {
            RunAction::Pause => "only a running run can be paused",
            RunAction::Resume => "only a paused or stopped run can be resumed",
            RunAction::Cancel => "a finished run cannot be cancelled",
        };
        complain(state, format!("{label} is {state_name}: {why}"));
        return None;
    }
    let prompt = match action {
        RunAction::Pause => format!(
            "Pause {label}? Its {} running tenants finish; the {} queued stay queued. [y/N]",
            r.running, r.queued
        ),
        RunAction::Resume => format!(
            "Resume {label} in this console? {} tenants remain. [y/N]",
            r.queued + r.failed
        ),
        RunAction::Cancel => format!(
            "Cancel {label}? Running tenants finish, the {} queued are skipped; finished ones stay at v{}. [y/N]",
            r.queued, r.to_version
        ),
    };
    let id = r.id;
    state.modal = Some(Modal::Confirm(Confirm {
        kind: ConfirmKind::Migration { run: id, action },
        prompt,
        typed: None,
        error: None,
    }));
    None
}

/// Open the pane (from the tenant detail's "template version behind"):
/// the newest run of the tenant's template gets the cursor.
pub(crate) fn open_for_template(state: &mut State, template: &str) -> Option<Command> {
    state.migrations.want_template = Some(template.to_string());
    let cmd = super::switch_pane(state, Pane::Migrations);
    say(
        state,
        format!(
            "migration runs of template {}; Esc goes back",
            clean_truncate(template, 30)
        ),
    );
    cmd
}
