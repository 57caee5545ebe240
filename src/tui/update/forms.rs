//! Keys while a modal has the focus: help, confirmations, the create wizard
//! and the edit form. Fields are validated as they are typed, by the same
//! functions the command line uses (`domain::tenant`, `domain::units`).
#![allow(clippy::needless_pass_by_value)] // reason: handlers take the Action by value as update() does; most consume it

use crate::backend::Command;
use crate::domain::tenant::{
    NewTenant, TenantStatus, TenantUpdate, validate_connection_limit, validate_domain,
    validate_name, validate_settings, validate_template_name,
};
use crate::domain::units::{parse_duration, parse_size};
use crate::tui::action::{Action, TextKey};
use crate::tui::state::form::edit_input;
use crate::tui::state::{
    Confirm, ConfirmKind, EditForm, Field, Modal, Pending, State, Wizard, WizardStep,
};

use super::{command, refused, say};

pub(super) fn modal(state: &mut State, action: Action) -> Option<Command> {
    let in_help = matches!(state.modal, Some(Modal::Help { .. }));
    if matches!(action, Action::Interrupt) || (matches!(action, Action::Quit) && !in_help) {
        // Ctrl-C anywhere; `q` outside the help overlay.
        state.quit = true;
        return None;
    }
    let modal = state.modal.take()?;
    match modal {
        Modal::Help { scroll } => {
            help(state, scroll, &action);
            None
        }
        Modal::CommandLine(cl) => command::command_line(state, cl, action),
        Modal::Filter { input, previous } => {
            command::filter(state, input, previous, action);
            None
        }
        Modal::Confirm(c) => confirm(state, c, action),
        Modal::Wizard(w) => wizard(state, w, action),
        Modal::Edit(e) => edit(state, e, action),
    }
}

fn help(state: &mut State, scroll: usize, action: &Action) {
    let rows = state.keymap.help_rows().len() + 12;
    let scroll = match action {
        // `q` closes the overlay, as in a pager; Ctrl-C never reaches here.
        Action::Help | Action::Back | Action::Quit => return,
        Action::Down => (scroll + 1).min(rows),
        Action::Up => scroll.saturating_sub(1),
        Action::PageDown => (scroll + 10).min(rows),
        Action::PageUp => scroll.saturating_sub(10),
        Action::Top => 0,
        _ => scroll,
    };
    state.modal = Some(Modal::Help { scroll });
}

fn confirm(state: &mut State, mut c: Confirm, action: Action) -> Option<Command> {
    let Action::Text(key) = action else {
        state.modal = Some(Modal::Confirm(c));
        return None;
    };
    if let Some(input) = c.typed.as_mut() {
        match key {
            TextKey::Submit => {
                let ConfirmKind::Delete { domain, .. } = &c.kind else {
                    return None;
                };
                if input.value().trim().eq_ignore_ascii_case(domain) {
                    return execute(state, c.kind);
                }
                c.error = Some("that is not the tenant's domain: nothing was deleted".into());
            }
            TextKey::Cancel => {
                say(state, "not deleted");
                return None;
            }
            other => {
                edit_input(input, other);
                c.error = None;
            }
        }
        state.modal = Some(Modal::Confirm(c));
        return None;
    }
    match key {
        TextKey::Char('y' | 'Y') => execute(state, c.kind),
        TextKey::Char('n' | 'N') | TextKey::Cancel | TextKey::Submit => {
            say(state, "cancelled: nothing changed");
            None
        }
        _ => {
            state.modal = Some(Modal::Confirm(c));
            None
        }
    }
}

/// Send a confirmed destructive request.
fn execute(state: &mut State, kind: ConfirmKind) -> Option<Command> {
    if refused(state) {
        return None;
    }
    let id = state.request_id();
    let name = |state: &State, t: uuid::Uuid| {
        state.tenant(t).map_or_else(
            || t.to_string(),
            |t| crate::domain::sanitize::clean_truncate(&t.name, 40),
        )
    };
    let (what, cmd) = match kind {
        ConfirmKind::Suspend { tenant } => (
            format!("suspending {}", name(state, tenant)),
            Command::Suspend {
                id,
                tenant,
                reason: None,
            },
        ),
        ConfirmKind::Resume { tenant } => (
            format!("resuming {}", name(state, tenant)),
            Command::Resume { id, tenant },
        ),
        ConfirmKind::Delete { tenant, domain } => (
            format!("deleting {}", name(state, tenant)),
            Command::Delete {
                id,
                tenant,
                confirm: domain,
                backup: true,
            },
        ),
        ConfirmKind::CancelSession { tenant, pid } => (
            format!("cancelling the statement of session {pid}"),
            Command::CancelSession { id, tenant, pid },
        ),
        ConfirmKind::TerminateSession { tenant, pid } => (
            format!("terminating session {pid}"),
            Command::TerminateSession { id, tenant, pid },
        ),
        ConfirmKind::Migration { run, action } => (
            format!(
                "{} run {}",
                match action {
                    crate::domain::runs::RunAction::Pause => "pausing",
                    crate::domain::runs::RunAction::Resume => "resuming",
                    crate::domain::runs::RunAction::Cancel => "cancelling",
                },
                &run.to_string()[..8]
            ),
            Command::Migration { id, run, action },
        ),
    };
    say(state, format!("{what}…"));
    state.pending.insert(
        id,
        Pending {
            what,
            since: state.now,
        },
    );
    Some(cmd)
}

// ---- validation shared by the wizard and the edit form ----

fn check_name(v: &str) -> Result<String, String> {
    validate_name(v).map_err(|e| e.message)
}

fn check_domain(state: &State, v: &str) -> Result<String, String> {
    let d = validate_domain(v).map_err(|e| e.message)?;
    if let Some(t) = state
        .tenants
        .iter()
        .find(|t| t.status != TenantStatus::Deleted && t.domain.eq_ignore_ascii_case(&d))
    {
        return Err(format!(
            "domain {d} is already used by tenant {}",
            crate::domain::sanitize::clean_truncate(&t.name, 40)
        ));
    }
    Ok(d)
}

fn check_connection_limit(v: &str) -> Result<i32, String> {
    let n: i64 = v.trim().parse().map_err(|_| {
        format!(
            "connection limit \"{}\" is not a whole number: use -1 (unlimited) or 0 to 10000",
            crate::domain::sanitize::clean_truncate(v.trim(), 20)
        )
    })?;
    validate_connection_limit(n).map_err(|e| e.message)
}

fn check_timeout(v: &str) -> Result<Option<std::time::Duration>, String> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    match parse_duration(v) {
        Ok(d) if d.is_zero() => {
            Err("a timeout of 0 would mean no limit: empty the field to remove the limit".into())
        }
        Ok(d) => Ok(Some(d)),
        Err(e) => Err(e.message),
    }
}

fn check_quota(v: &str) -> Result<Option<u64>, String> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    parse_size(v).map(Some).map_err(|e| e.message)
}

fn check_settings(v: &str) -> Result<serde_json::Value, String> {
    if v.trim().is_empty() {
        return Ok(serde_json::json!({}));
    }
    validate_settings(v).map_err(|e| e.message)
}

fn set_error<T>(f: &mut Field, r: Result<T, String>) -> bool {
    f.error = r.err();
    f.error.is_none()
}

/// Validate the field of a wizard step; true when it is good.
fn validate_step(state: &State, w: &mut Wizard, step: WizardStep) -> bool {
    match step {
        WizardStep::Name => {
            let r = check_name(w.name.value());
            set_error(&mut w.name, r)
        }
        WizardStep::Domain => {
            let r = check_domain(state, w.domain.value());
            set_error(&mut w.domain, r)
        }
        WizardStep::Template => {
            validate_template_name(w.template_name(&state.defaults.template)).is_ok()
        }
        WizardStep::Limits => {
            let a = {
                let r = check_connection_limit(w.connection_limit.value());
                set_error(&mut w.connection_limit, r)
            };
            let b = {
                let r = check_timeout(w.statement_timeout.value());
                set_error(&mut w.statement_timeout, r)
            };
            let c = {
                let r = check_quota(w.storage_quota.value());
                set_error(&mut w.storage_quota, r)
            };
            if !a {
                w.limit_focus = 0;
            } else if !b {
                w.limit_focus = 1;
            } else if !c {
                w.limit_focus = 2;
            }
            a && b && c
        }
        WizardStep::Settings => {
            let r = check_settings(w.settings.value());
            set_error(&mut w.settings, r)
        }
        WizardStep::Review | WizardStep::Progress | WizardStep::Result => true,
    }
}

/// The request the review step sends; the first bad step on error.
pub(crate) fn new_tenant(state: &State, w: &mut Wizard) -> Result<NewTenant, WizardStep> {
    for step in &WizardStep::INPUT {
        if !validate_step(state, w, *step) {
            return Err(*step);
        }
    }
    let bad = |_| WizardStep::Review;
    Ok(NewTenant {
        name: check_name(w.name.value()).map_err(bad)?,
        domain: check_domain(state, w.domain.value()).map_err(bad)?,
        template: w.template_name(&state.defaults.template).to_string(),
        connection_limit: check_connection_limit(w.connection_limit.value()).map_err(bad)?,
        statement_timeout: check_timeout(w.statement_timeout.value()).map_err(bad)?,
        storage_quota_bytes: check_quota(w.storage_quota.value()).map_err(bad)?,
        settings: check_settings(w.settings.value()).map_err(bad)?,
    })
}

fn wizard(state: &mut State, mut w: Box<Wizard>, action: Action) -> Option<Command> {
    let Action::Text(key) = action else {
        state.modal = Some(Modal::Wizard(w));
        return None;
    };
    let mut cmd = None;
    let step = w.step;
    match (step, key) {
        (WizardStep::Progress, TextKey::Cancel) => {
            say(state, "the creation goes on; its result will show here");
            return None;
        }
        (WizardStep::Result, TextKey::Submit | TextKey::Cancel) => return None,
        (WizardStep::Progress | WizardStep::Result, _) => {}
        (_, TextKey::Cancel | TextKey::Prev) => {
            let Some(p) = step.prev() else {
                say(state, "tenant creation cancelled");
                return None;
            };
            w.step = p;
        }
        (WizardStep::Review, TextKey::Submit) => {
            if refused(state) {
                state.modal = Some(Modal::Wizard(w));
                return None;
            }
            match new_tenant(state, &mut w) {
                Ok(tenant) => {
                    let id = state.request_id();
                    let what = format!(
                        "creating {}",
                        crate::domain::sanitize::clean_truncate(&tenant.name, 40)
                    );
                    state.pending.insert(
                        id,
                        Pending {
                            what,
                            since: state.now,
                        },
                    );
                    w.request = Some(id);
                    w.started_at = Some(state.now);
                    w.step = WizardStep::Progress;
                    cmd = Some(Command::Create { id, tenant });
                }
                Err(bad) => w.step = bad,
            }
        }
        (WizardStep::Limits, TextKey::Next | TextKey::Down) => {
            w.limit_focus = (w.limit_focus + 1) % 3;
        }
        (WizardStep::Limits, TextKey::Up) => w.limit_focus = (w.limit_focus + 2) % 3,
        (WizardStep::Template, TextKey::Down) => {
            let n = w.templates.as_ref().map_or(0, Vec::len);
            if n > 0 {
                w.template_cursor = (w.template_cursor + 1).min(n - 1);
            }
        }
        (WizardStep::Template, TextKey::Up) => {
            w.template_cursor = w.template_cursor.saturating_sub(1);
        }
        (_, TextKey::Submit | TextKey::Next) => {
            if validate_step(state, &mut w, step) {
                w.step = step.next();
            }
        }
        (_, other) => {
            let field = match step {
                WizardStep::Name => Some(&mut w.name),
                WizardStep::Domain => Some(&mut w.domain),
                WizardStep::Limits => Some(w.limit_field_mut()),
                WizardStep::Settings => Some(&mut w.settings),
                _ => None,
            };
            if let Some(f) = field {
                if f.edit(other) {
                    validate_step(state, &mut w, step);
                    // Errors of the other limit fields wait for Enter.
                }
            }
        }
    }
    state.modal = Some(Modal::Wizard(w));
    cmd
}

#[allow(clippy::many_single_char_names)] // reason: e/i/n/v are the form, index, count, value
fn edit(state: &mut State, mut e: Box<EditForm>, action: Action) -> Option<Command> {
    let Action::Text(key) = action else {
        state.modal = Some(Modal::Edit(e));
        return None;
    };
    if e.request.is_some() && key != TextKey::Cancel {
        state.modal = Some(Modal::Edit(e)); // waiting for the answer
        return None;
    }
    let n = e.fields.len();
    let mut cmd = None;
    match key {
        TextKey::Cancel => {
            say(state, "edit cancelled: nothing changed");
            return None;
        }
        TextKey::Next | TextKey::Down => e.focus = (e.focus + 1) % n,
        TextKey::Prev | TextKey::Up => e.focus = (e.focus + n - 1) % n,
        TextKey::Submit => match tenant_update(&mut e) {
            Err(i) => e.focus = i,
            Ok(u) if u.is_empty() => {
                say(state, "nothing changed");
                return None;
            }
            Ok(update) => {
                if refused(state) {
                    state.modal = Some(Modal::Edit(e));
                    return None;
                }
                let id = state.request_id();
                state.pending.insert(
                    id,
                    Pending {
                        what: "saving changes".into(),
                        since: state.now,
                    },
                );
                e.request = Some(id);
                cmd = Some(Command::Update {
                    id,
                    tenant: e.tenant,
                    update,
                });
            }
        },
        other => {
            let i = e.focus;
            if e.fields[i].edit(other) {
                let v = e.fields[i].value().to_string();
                let r = check_edit_field(i, &v);
                e.fields[i].error = r.err();
            }
        }
    }
    state.modal = Some(Modal::Edit(e));
    cmd
}

fn check_edit_field(i: usize, v: &str) -> Result<(), String> {
    match i {
        0 => check_name(v).map(|_| ()),
        1 => check_connection_limit(v).map(|_| ()),
        2 => check_timeout(v).map(|_| ()),
        3 => check_quota(v).map(|_| ()),
        _ => check_settings(v).map(|_| ()),
    }
}

/// The changed fields as an update; the index of the first bad field on error.
fn tenant_update(e: &mut EditForm) -> Result<TenantUpdate, usize> {
    let mut u = TenantUpdate::default();
    for i in 0..e.fields.len() {
        let v = e.fields[i].value().to_string();
        if let Err(msg) = check_edit_field(i, &v) {
            e.fields[i].error = Some(msg);
            return Err(i);
        }
        if v.trim() == e.original[i].trim() {
            continue;
        }
        // An emptied timeout or quota field removes the limit.
        let cleared = v.trim().is_empty();
        match i {
            0 => u.name = check_name(&v).ok(),
            1 => u.connection_limit = check_connection_limit(&v).ok(),
            2 if cleared => u.clear_statement_timeout = true,
            2 => u.statement_timeout = check_timeout(&v).ok().flatten(),
            3 if cleared => u.clear_storage_quota = true,
            3 => u.storage_quota_bytes = check_quota(&v).ok().flatten(),
            _ => u.settings = check_settings(&v).ok(),
        }
    }
    Ok(u)
}
