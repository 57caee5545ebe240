//! Keys in each pane when no modal is open.
#![allow(clippy::needless_pass_by_value)] // reason: handlers take the Action by value as update() does

#[allow(clippy::wildcard_imports)] // reason: the pane handlers use the update module's helpers
use super::*;

pub(super) fn tenants_pane(state: &mut State, action: Action) -> Option<Command> {
    let page = state.list_page();
    match action {
        Action::Down => state.list.move_by(1, &state.tenants, page),
        Action::Up => state.list.move_by(-1, &state.tenants, page),
        Action::PageDown => state.list.move_by(
            isize::try_from(page).unwrap_or(isize::MAX),
            &state.tenants,
            page,
        ),
        Action::PageUp => state.list.move_by(
            -isize::try_from(page).unwrap_or(isize::MAX),
            &state.tenants,
            page,
        ),
        Action::Top => state.list.move_by(isize::MIN / 2, &state.tenants, page),
        Action::Bottom => state.list.move_by(isize::MAX / 2, &state.tenants, page),
        Action::Open => return open_detail(state),
        Action::SortColumn => {
            state.list.sort = state.list.sort.next();
            state.list.descending = state.list.sort.descending_by_default();
            recompute_list(state);
            say(state, format!("sorted by {}", state.list.sort.key()));
        }
        Action::SortDirection => {
            state.list.descending = !state.list.descending;
            recompute_list(state);
        }
        Action::Edit => return open_edit(state),
        Action::SuspendResume => return ask_suspend_resume(state),
        Action::Delete => return ask_delete(state),
        _ => {}
    }
    None
}

pub(super) fn detail_pane(state: &mut State, action: Action) -> Option<Command> {
    let page = state.list_page();
    let Some(d) = state.detail.as_mut() else {
        state.pane = Pane::Tenants;
        return None;
    };
    match action {
        Action::NextTab | Action::PrevTab => {
            let n = DetailTab::ALL.len();
            let i = DetailTab::ALL.iter().position(|t| *t == d.tab).unwrap_or(0);
            let j = if matches!(action, Action::NextTab) {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            d.tab = DetailTab::ALL[j];
            d.cursor = 0;
            load_detail(state, false)
        }
        Action::Down
        | Action::Up
        | Action::Top
        | Action::Bottom
        | Action::PageDown
        | Action::PageUp => {
            let len = detail_rows(d);
            d.cursor = move_cursor(d.cursor, len, &action, page);
            None
        }
        Action::Open if d.tab == DetailTab::Overview => {
            let tenant = d.tenant;
            let behind = state
                .metrics(tenant)
                .is_some_and(|m| m.health.reasons.iter().any(|r| is_version_behind(&r.text)));
            let template = state.tenant(tenant).map(|t| t.template.clone())?;
            if !behind {
                return None;
            }
            super::migrations::open_for_template(state, &template)
        }
        Action::Edit => open_edit(state),
        Action::SuspendResume => ask_suspend_resume(state),
        Action::Delete => ask_delete(state),
        Action::CancelSession | Action::TerminateSession => {
            let terminate = matches!(action, Action::TerminateSession);
            if d.tab != DetailTab::Sessions {
                complain(state, "select a session in the Sessions tab first");
                return None;
            }
            let Some(s) = d.data.as_ref().and_then(|x| x.sessions.get(d.cursor)) else {
                complain(state, "no session selected");
                return None;
            };
            let pid = s.pid;
            let tenant = d.tenant;
            let query = clean_truncate(&s.query, 60);
            if refused(state) {
                return None;
            }
            let (kind, verb) = if terminate {
                (
                    ConfirmKind::TerminateSession { tenant, pid },
                    "Terminate session",
                )
            } else {
                (
                    ConfirmKind::CancelSession { tenant, pid },
                    "Cancel the statement of session",
                )
            };
            state.modal = Some(Modal::Confirm(Confirm {
                kind,
                prompt: format!("{verb} {pid} ({query})? [y/N]"),
                typed: None,
                error: None,
            }));
            None
        }
        _ => None,
    }
}

/// The health reason "template version N behind latest M".
pub fn is_version_behind(text: &str) -> bool {
    text.starts_with("template version") && text.contains("behind")
}

/// Rows of the current detail tab (for the cursor).
fn detail_rows(d: &DetailState) -> usize {
    match d.tab {
        DetailTab::Tables => d.data.as_ref().map_or(0, |x| x.tables.len()),
        DetailTab::Sessions => d.data.as_ref().map_or(0, |x| x.sessions.len()),
        DetailTab::Statements => d
            .data
            .as_ref()
            .and_then(|x| x.statements.as_ref())
            .map_or(0, Vec::len),
        DetailTab::Audit => d.audit.as_ref().map_or(0, Vec::len),
        // The History tab scrolls through its charts.
        DetailTab::History => d.history.as_ref().map_or(0, |h| h.series.len()),
        DetailTab::Overview => 0,
    }
}

pub(super) fn monitor_pane(state: &mut State, action: Action) -> Option<Command> {
    if matches!(action, Action::SortColumn) {
        state.monitor_metric = state.monitor_metric.next();
        recompute_monitor(state);
        say(
            state,
            format!("top tenants by {}", state.monitor_metric.title()),
        );
        state.history_loading = false;
        return load_monitor_history(state);
    }
    if matches!(action, Action::Open) {
        let tenant = *state.monitor_top.get(state.monitor_cursor)?;
        return open_tenant(state, tenant);
    }
    let len = state.monitor_top.len();
    state.monitor_cursor = move_cursor(state.monitor_cursor, len, &action, state.list_page());
    None
}

pub(super) fn alerts_pane(state: &mut State, action: Action) -> Option<Command> {
    if matches!(action, Action::Open) {
        let tenant = state
            .alerts
            .get(state.alerts_cursor)
            .and_then(|a| a.tenant_id)?;
        return open_tenant(state, tenant);
    }
    let len = state.alerts.len();
    state.alerts_cursor = move_cursor(state.alerts_cursor, len, &action, state.list_page());
    None
}

/// Select a tenant in the list and open its detail (from Monitor or Alerts).
pub(super) fn open_tenant(state: &mut State, tenant: uuid::Uuid) -> Option<Command> {
    if state.tenant(tenant).is_none() {
        complain(state, "that tenant is not in the list");
        return None;
    }
    state.list.selected = Some(tenant);
    recompute_list(state);
    open_detail(state)
}

pub(super) fn click(state: &mut State, x: u16, y: u16) -> Option<Command> {
    // Rows: 0 tabs, 1 header, 2.. tenants; the last two are the bars.
    if y == 0 {
        return state.tab_at(x).and_then(|p| super::switch_pane(state, p));
    }
    if state.pane != Pane::Tenants || y < 2 || y >= state.size.1.saturating_sub(2) {
        return None;
    }
    let row = state.list.offset + usize::from(y - 2);
    if row < state.list.index.len() {
        let delta = isize::try_from(row).unwrap_or(isize::MAX)
            - isize::try_from(state.list.cursor).unwrap_or(0);
        let page = state.list_page();
        state.list.move_by(delta, &state.tenants, page);
    }
    None
}
