//! `update` tests of whole flows: navigation, filter, sort, wizard,
//! confirmations, read-only refusals, pause, interval, command line,
//! reconnect. Unit tests of the library (they were `tests/tui_update.rs`),
//! so `cargo test --lib` runs them, and cargo-mutants with it.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Command, Event, ProgressStep};
use crate::config::ThemeName;
use crate::domain::tenant::TenantStatus;
use crate::tui::sample;
use crate::tui::state::{Column, Connection, DetailTab, Modal, Pane, State, WizardStep};
use crate::tui::update::complete;
use crate::tui::{Action, TextKey};

/// `update` for an action that leads to at most one request.
fn update(s: &mut State, a: Action) -> Option<Command> {
    let mut cmds = crate::tui::update(s, a);
    assert!(cmds.len() <= 1, "more than one command: {cmds:?}");
    cmds.pop()
}

fn st(n: usize) -> State {
    sample::state(n, ThemeName::Dark)
}

fn typ(s: &mut State, text: &str) -> Option<Command> {
    let mut last = None;
    for c in text.chars() {
        last = update(s, Action::Text(TextKey::Char(c))).or(last);
    }
    last
}

fn key(s: &mut State, k: TextKey) -> Option<Command> {
    update(s, Action::Text(k))
}

fn selected_name(s: &State) -> String {
    s.selected_tenant()
        .map(|t| t.name.clone())
        .unwrap_or_default()
}

fn ev(s: &mut State, e: Event) -> Option<Command> {
    update(s, Action::Backend(e))
}

fn command_line(s: &mut State, line: &str) -> Option<Command> {
    update(s, Action::CommandLine);
    typ(s, line);
    key(s, TextKey::Submit)
}

#[test]
fn navigation_moves_and_clamps() {
    let mut s = st(30);
    assert_eq!(s.list.cursor, 0);
    assert_eq!(selected_name(&s), "Acme Capital");
    update(&mut s, Action::Down);
    update(&mut s, Action::Down);
    assert_eq!(s.list.cursor, 2);
    update(&mut s, Action::Up);
    assert_eq!(s.list.cursor, 1);
    update(&mut s, Action::Bottom);
    assert_eq!(s.list.cursor, 29);
    update(&mut s, Action::Down);
    assert_eq!(s.list.cursor, 29, "clamped at the end");
    update(&mut s, Action::Top);
    assert_eq!(s.list.cursor, 0);
    update(&mut s, Action::Up);
    assert_eq!(s.list.cursor, 0, "clamped at the start");
    update(&mut s, Action::PageDown);
    assert_eq!(s.list.cursor, s.list_page());
    assert!(s.list.offset > 0, "scrolled to keep the cursor visible");
    update(&mut s, Action::PageUp);
    assert_eq!(s.list.cursor, 0);
    // Enter opens the detail and asks for it; Esc goes back to the same row.
    update(&mut s, Action::Down);
    let name = selected_name(&s);
    let cmd = update(&mut s, Action::Open);
    assert_eq!(s.pane, Pane::Detail);
    assert!(
        matches!(cmd, Some(Command::LoadDetail { tenant }) if tenant == sample::id(1) || s.tenant(tenant).is_some())
    );
    update(&mut s, Action::Back);
    assert_eq!(s.pane, Pane::Tenants);
    assert_eq!(selected_name(&s), name);
    // Tab walks the panes.
    let c = update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Monitor);
    assert!(matches!(c, Some(Command::LoadHistory { .. })));
    let c = update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Audit);
    assert!(matches!(c, Some(Command::LoadAudit { tenant: None, .. })));
    update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Alerts);
    update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Tenants);
}

#[test]
fn monitor_rows_take_a_cursor_and_open_the_detail() {
    let mut s = st(30);
    update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Monitor);
    assert!(s.monitor_top.len() > 2, "the sample ranks tenants");
    assert_eq!(s.monitor_cursor, 0);
    update(&mut s, Action::Down);
    update(&mut s, Action::Down);
    assert_eq!(s.monitor_cursor, 2);
    update(&mut s, Action::Bottom);
    assert_eq!(s.monitor_cursor, s.monitor_top.len() - 1);
    update(&mut s, Action::Up);
    let want = s.monitor_top[s.monitor_cursor];
    let cmd = update(&mut s, Action::Open);
    assert_eq!(s.pane, Pane::Detail);
    assert!(matches!(cmd, Some(Command::LoadDetail { tenant }) if tenant == want));
    assert_eq!(s.detail.as_ref().map(|d| d.tenant), Some(want));
}

#[test]
fn resize_keeps_cursor_visible() {
    let mut s = st(100);
    update(&mut s, Action::Bottom);
    update(&mut s, Action::Resize(80, 10));
    let page = s.list_page();
    assert!(s.list.cursor >= s.list.offset && s.list.cursor < s.list.offset + page);
}

#[test]
fn filter_narrows_live_and_esc_restores() {
    let mut s = st(40);
    update(&mut s, Action::Filter);
    assert!(matches!(s.modal, Some(Modal::Filter { .. })));
    typ(&mut s, "kestrel");
    assert_eq!(
        s.list.index.len(),
        3,
        "Kestrel FX, Kestrel FX 1, Kestrel FX 2"
    );
    assert!(selected_name(&s).starts_with("Kestrel"));
    key(&mut s, TextKey::Submit);
    assert!(s.modal.is_none());
    assert_eq!(s.list.filter.text, "kestrel");
    // Esc on the list clears the filter (after the message).
    update(&mut s, Action::Back);
    update(&mut s, Action::Back);
    assert_eq!(s.list.index.len(), 40);
    assert!(selected_name(&s).starts_with("Kestrel"), "selection kept");
    // Esc while typing restores the previous filter.
    update(&mut s, Action::Filter);
    typ(&mut s, "zzz");
    assert!(s.list.index.is_empty());
    key(&mut s, TextKey::Cancel);
    assert_eq!(s.list.index.len(), 40);
}

#[test]
fn filter_by_status_and_domain() {
    let mut s = st(70);
    command_line(&mut s, "filter status=suspended");
    assert!(!s.list.index.is_empty());
    assert!(
        s.list
            .index
            .iter()
            .all(|&i| s.tenants[i].status == TenantStatus::Suspended)
    );
    command_line(&mut s, "filter domain=juniper active");
    assert!(!s.list.index.is_empty());
    assert!(
        s.list
            .index
            .iter()
            .all(|&i| s.tenants[i].domain.contains("juniper")
                && s.tenants[i].status == TenantStatus::Active)
    );
    command_line(&mut s, "filter health<50");
    assert!(!s.list.index.is_empty());
    assert!(s.list.index.iter().all(|&i| {
        s.metrics(s.tenants[i].id)
            .is_some_and(|m| m.health.score < 50)
    }));
}

#[test]
fn sort_by_any_column_either_way() {
    let mut s = st(50);
    assert_eq!(s.list.sort, Column::Name);
    let names: Vec<&str> = s
        .list
        .index
        .iter()
        .map(|&i| s.tenants[i].name.as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted);
    update(&mut s, Action::SortColumn);
    assert_eq!(s.list.sort, Column::Domain);
    update(&mut s, Action::SortDirection);
    assert!(s.list.descending);
    let d: Vec<&str> = s
        .list
        .index
        .iter()
        .map(|&i| s.tenants[i].domain.as_str())
        .collect();
    assert_eq!(d.len(), 50);
    assert!(d.windows(2).all(|w| w[0] >= w[1]));
    command_line(&mut s, "sort size");
    assert_eq!(s.list.sort, Column::Size);
    assert!(s.list.descending, "numeric columns sort biggest first");
    let sizes: Vec<u64> = s
        .list
        .index
        .iter()
        .map(|&i| s.metrics(s.tenants[i].id).map_or(0, |m| m.size_bytes))
        .collect();
    assert_eq!(sizes.len(), 50);
    assert!(
        sizes.windows(2).any(|w| w[0] != w[1]),
        "sizes differ: {sizes:?}"
    );
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
    command_line(&mut s, "sort calls asc");
    assert_eq!(s.list.sort, Column::Calls);
    assert!(!s.list.descending);
    let calls: Vec<f64> = s
        .list
        .index
        .iter()
        .map(|&i| {
            s.metrics(s.tenants[i].id)
                .and_then(|m| m.calls_per_s)
                .unwrap_or(-1.0)
        })
        .collect();
    assert_eq!(calls.len(), 50);
    assert!(
        calls.windows(2).any(|w| w[0] < w[1]),
        "calls differ: {calls:?}"
    );
    assert!(
        calls.windows(2).all(|w| w[0] <= w[1]),
        "ascending: {calls:?}"
    );
    // Keeping the selection across a resort.
    update(&mut s, Action::Down);
    update(&mut s, Action::Down);
    let id = s.list.selected;
    update(&mut s, Action::SortDirection);
    assert_eq!(s.list.selected, id);
    assert_eq!(
        s.tenants[s.list.index[s.list.cursor]].id,
        id.expect("selected")
    );
}

#[test]
fn new_snapshot_resorts_only_metric_columns() {
    let mut s = st(20);
    command_line(&mut s, "sort calls");
    let before = s.list.index.clone();
    ev(&mut s, Event::Snapshot(Arc::new(sample::snapshot(20, 9))));
    assert_ne!(before, s.list.index, "calls changed order");
    // stale generations are dropped
    let view_gen = s.view.as_ref().map(|v| v.generation);
    ev(&mut s, Event::Snapshot(Arc::new(sample::snapshot(20, 3))));
    assert_eq!(s.view.as_ref().map(|v| v.generation), view_gen);
}

#[test]
fn wizard_validates_each_step_and_creates() {
    let mut s = st(12);
    let cmd = update(&mut s, Action::New);
    assert_eq!(cmd, Some(Command::LoadTemplates));
    ev(&mut s, Event::Templates(sample::templates()));
    let step = |s: &State| match &s.modal {
        Some(Modal::Wizard(w)) => w.step,
        _ => panic!("wizard closed"),
    };
    let err = |s: &State| match &s.modal {
        Some(Modal::Wizard(w)) => match w.step {
            WizardStep::Name => w.name.error.clone(),
            WizardStep::Domain => w.domain.error.clone(),
            WizardStep::Limits => w.connection_limit.error.clone(),
            WizardStep::Settings => w.settings.error.clone(),
            _ => None,
        },
        _ => None,
    };
    // empty name refused
    key(&mut s, TextKey::Submit);
    assert_eq!(step(&s), WizardStep::Name);
    assert!(err(&s).expect("error").contains("empty"));
    typ(&mut s, "Nova Desk");
    assert!(err(&s).is_none(), "validated as typed");
    key(&mut s, TextKey::Submit);
    assert_eq!(step(&s), WizardStep::Domain);
    typ(&mut s, "nova_desk.example");
    assert!(err(&s).expect("bad domain").contains("letters, digits"));
    key(&mut s, TextKey::Submit);
    assert_eq!(step(&s), WizardStep::Domain, "cannot pass with an error");
    key(&mut s, TextKey::Clear);
    typ(&mut s, "acme-capital.tradesage.example");
    assert!(err(&s).expect("duplicate").contains("already used"));
    key(&mut s, TextKey::Clear);
    typ(&mut s, "Nova.Example");
    assert!(err(&s).is_none());
    key(&mut s, TextKey::Submit);
    assert_eq!(step(&s), WizardStep::Template);
    key(&mut s, TextKey::Down);
    key(&mut s, TextKey::Up);
    key(&mut s, TextKey::Submit);
    assert_eq!(step(&s), WizardStep::Limits);
    key(&mut s, TextKey::Clear);
    typ(&mut s, "20000");
    assert!(err(&s).expect("range").contains("out of range"));
    key(&mut s, TextKey::Submit);
    assert_eq!(step(&s), WizardStep::Limits);
    key(&mut s, TextKey::Clear);
    typ(&mut s, "15");
    key(&mut s, TextKey::Next); // statement timeout
    key(&mut s, TextKey::Clear);
    typ(&mut s, "0");
    key(&mut s, TextKey::Submit);
    assert_eq!(step(&s), WizardStep::Limits, "a zero timeout does not pass");
    let timeout_err = match &s.modal {
        Some(Modal::Wizard(w)) => w.statement_timeout.error.clone(),
        _ => None,
    };
    assert!(
        timeout_err
            .as_deref()
            .is_some_and(|e| e.contains("empty the field")),
        "{timeout_err:?}"
    );
    key(&mut s, TextKey::Clear);
    typ(&mut s, "45s");
    key(&mut s, TextKey::Next); // quota
    typ(&mut s, "5GB");
    key(&mut s, TextKey::Submit);
    assert_eq!(step(&s), WizardStep::Settings);
    key(&mut s, TextKey::Clear);
    typ(&mut s, "[1]");
    assert!(err(&s).expect("json").contains("object"));
    key(&mut s, TextKey::Clear);
    typ(&mut s, "{\"tier\":\"gold\"}");
    key(&mut s, TextKey::Submit);
    assert_eq!(step(&s), WizardStep::Review);
    // Esc goes back one step, Enter comes again
    key(&mut s, TextKey::Cancel);
    assert_eq!(step(&s), WizardStep::Settings);
    key(&mut s, TextKey::Submit);
    let cmd = key(&mut s, TextKey::Submit);
    let Some(Command::Create { id, tenant }) = cmd else {
        panic!("expected Create, got {cmd:?}")
    };
    assert_eq!(tenant.name, "Nova Desk");
    assert_eq!(tenant.domain, "nova.example");
    assert_eq!(tenant.template, "default");
    assert_eq!(tenant.connection_limit, 15);
    assert_eq!(tenant.statement_timeout, Some(Duration::from_secs(45)));
    assert_eq!(tenant.storage_quota_bytes, Some(5 * 1024 * 1024 * 1024));
    assert_eq!(tenant.settings, serde_json::json!({"tier": "gold"}));
    assert_eq!(step(&s), WizardStep::Progress);
    assert!(s.pending.contains_key(&id));
    // steps arrive with timings
    for (name, ms) in [
        ("insert tenant row", 4),
        ("create role", 9),
        ("create schema", 15),
        ("template tables", 140),
    ] {
        ev(
            &mut s,
            Event::Progress {
                id,
                step: ProgressStep {
                    name: name.into(),
                    elapsed: Duration::from_millis(ms),
                },
            },
        );
    }
    match &s.modal {
        Some(Modal::Wizard(w)) => assert_eq!(w.steps.len(), 4),
        _ => panic!("wizard closed"),
    }
    let mut created = sample::tenants(13).pop().expect("one");
    created.name = "Nova Desk".into();
    created.domain = "nova.example".into();
    ev(
        &mut s,
        Event::Done {
            id,
            message: "created Nova Desk".into(),
            tenant: Some(Box::new(created.clone())),
        },
    );
    assert_eq!(step(&s), WizardStep::Result);
    assert!(s.pending.is_empty());
    key(&mut s, TextKey::Submit);
    assert!(s.modal.is_none());
    assert_eq!(
        s.list.selected,
        Some(created.id),
        "the new tenant is selected"
    );
    assert_eq!(s.tenants.len(), 13);
}

#[test]
fn wizard_failure_shows_result_and_esc_at_first_step_cancels() {
    let mut s = st(3);
    update(&mut s, Action::New);
    key(&mut s, TextKey::Cancel);
    assert!(s.modal.is_none());
    update(&mut s, Action::New);
    typ(&mut s, "X");
    key(&mut s, TextKey::Submit);
    typ(&mut s, "x.example");
    for _ in 0..4 {
        key(&mut s, TextKey::Submit);
    }
    let Some(Command::Create { id, .. }) = key(&mut s, TextKey::Submit) else {
        panic!("create")
    };
    ev(
        &mut s,
        Event::Failed {
            id,
            error: crate::Error::conflict("domain x.example is taken"),
        },
    );
    match &s.modal {
        Some(Modal::Wizard(w)) => assert_eq!(w.step, WizardStep::Result),
        _ => panic!("closed"),
    }
    assert!(s.message.as_ref().is_some_and(|m| m.error));
}

#[test]
fn suspend_and_resume_ask_first() {
    let mut s = st(12);
    // row 0 is Acme Capital (active)
    assert!(update(&mut s, Action::SuspendResume).is_none());
    assert!(matches!(s.modal, Some(Modal::Confirm(_))));
    assert!(key(&mut s, TextKey::Char('n')).is_none());
    assert!(s.modal.is_none());
    update(&mut s, Action::SuspendResume);
    assert!(key(&mut s, TextKey::Submit).is_none(), "Enter means no");
    update(&mut s, Action::SuspendResume);
    let cmd = key(&mut s, TextKey::Char('y'));
    assert!(
        matches!(cmd, Some(Command::Suspend { tenant, .. }) if tenant == s.list.selected.expect("sel"))
    );
    // a suspended tenant is resumed
    command_line(&mut s, "filter status=suspended");
    update(&mut s, Action::SuspendResume);
    let cmd = key(&mut s, TextKey::Char('y'));
    assert!(matches!(cmd, Some(Command::Resume { .. })));
}

#[test]
fn delete_needs_suspended_and_the_domain_typed() {
    let mut s = st(12);
    assert!(update(&mut s, Action::Delete).is_none());
    assert!(s.modal.is_none());
    assert!(
        s.message
            .as_ref()
            .expect("msg")
            .text
            .contains("suspend it first")
    );
    command_line(&mut s, "filter status=suspended");
    let t = s.selected_tenant().expect("a suspended tenant").clone();
    update(&mut s, Action::Delete);
    typ(&mut s, "wrong.example");
    assert!(key(&mut s, TextKey::Submit).is_none());
    match &s.modal {
        Some(Modal::Confirm(c)) => assert!(c.error.is_some()),
        _ => panic!("confirmation closed"),
    }
    key(&mut s, TextKey::Clear);
    typ(&mut s, &t.domain.to_uppercase());
    let cmd = key(&mut s, TextKey::Submit);
    assert_eq!(
        cmd,
        Some(Command::Delete {
            id: 1,
            tenant: t.id,
            confirm: t.domain.clone(),
            backup: true
        })
    );
}

#[test]
fn sessions_cancel_and_terminate_ask_first() {
    let mut s = st(5);
    update(&mut s, Action::Open);
    ev(&mut s, Event::Detail(Arc::new(sample::detail(0))));
    assert!(
        update(&mut s, Action::TerminateSession).is_none(),
        "only in the sessions tab"
    );
    update(&mut s, Action::NextTab);
    update(&mut s, Action::NextTab);
    assert_eq!(s.detail.as_ref().map(|d| d.tab), Some(DetailTab::Sessions));
    update(&mut s, Action::Down);
    assert!(update(&mut s, Action::TerminateSession).is_none());
    let cmd = key(&mut s, TextKey::Char('y'));
    assert!(
        matches!(cmd, Some(Command::TerminateSession { pid: 41_001, .. })),
        "{cmd:?}"
    );
    update(&mut s, Action::CancelSession);
    let cmd = key(&mut s, TextKey::Char('y'));
    assert!(matches!(
        cmd,
        Some(Command::CancelSession { pid: 41_001, .. })
    ));
}

#[test]
fn read_only_refuses_changes_and_says_why() {
    let mut s = st(12);
    s.config_read_only = true;
    for a in [
        Action::New,
        Action::Edit,
        Action::SuspendResume,
        Action::Delete,
    ] {
        assert!(update(&mut s, a).is_none());
        assert!(s.modal.is_none());
        assert!(
            s.message
                .as_ref()
                .expect("says why")
                .text
                .contains("read-only")
        );
    }
    assert!(command_line(&mut s, "suspend Acme Capital").is_none());
    assert!(s.modal.is_none());
    // reads still work
    assert!(matches!(
        update(&mut s, Action::Refresh),
        Some(Command::RefreshNow)
    ));
    // the server can make it read-only too
    let mut s = st(12);
    ev(
        &mut s,
        Event::Connected {
            cluster: "prod".into(),
            endpoint: "db1.internal:5432".into(),
            server_version: "16".into(),
            read_only: true,
        },
    );
    assert!(s.read_only());
    assert!(update(&mut s, Action::New).is_none());
}

#[test]
fn pause_freezes_the_view_and_shows_its_time() {
    let mut s = st(10);
    let cmd = update(&mut s, Action::Pause);
    assert_eq!(cmd, Some(Command::Pause(true)));
    let gen_before = s.view.as_ref().map(|v| v.generation);
    ev(&mut s, Event::Snapshot(Arc::new(sample::snapshot(10, 7))));
    assert_eq!(s.view.as_ref().map(|v| v.generation), gen_before, "frozen");
    assert_eq!(s.latest.as_ref().map(|v| v.generation), Some(7));
    let bar: String = crate::tui::ui::status_bar::segments(&s)
        .iter()
        .map(|sp| sp.content.to_string())
        .collect();
    assert!(bar.contains("PAUSED · data of 09:30:02"), "{bar}");
    assert_eq!(update(&mut s, Action::Pause), Some(Command::Pause(false)));
    assert_eq!(s.view.as_ref().map(|v| v.generation), Some(7));
}

#[test]
fn refresh_interval_steps_and_bounds() {
    let mut s = st(3);
    assert_eq!(s.interval, Duration::from_secs(2));
    assert_eq!(
        update(&mut s, Action::Faster),
        Some(Command::SetInterval(Duration::from_secs(1)))
    );
    assert_eq!(
        update(&mut s, Action::Faster),
        Some(Command::SetInterval(Duration::from_millis(500)))
    );
    assert_eq!(update(&mut s, Action::Faster), None);
    assert!(s.message.as_ref().expect("msg").error);
    assert_eq!(
        update(&mut s, Action::Slower),
        Some(Command::SetInterval(Duration::from_secs(1)))
    );
    assert_eq!(
        command_line(&mut s, "refresh 5s"),
        Some(Command::SetInterval(Duration::from_secs(5)))
    );
    assert_eq!(command_line(&mut s, "refresh 100ms"), None);
    assert_eq!(s.interval, Duration::from_secs(5));
    key(&mut s, TextKey::Cancel);
    assert_eq!(command_line(&mut s, "refresh"), Some(Command::RefreshNow));
    for _ in 0..10 {
        update(&mut s, Action::Slower);
    }
    assert_eq!(s.interval, Duration::from_secs(60));
}

#[test]
fn command_line_parses_and_completes() {
    let mut s = st(24);
    assert_eq!(complete(&s, "su"), vec!["suspend ".to_string()]);
    assert_eq!(complete(&s, "s").len(), 2, "suspend, sort");
    // Kestrel FX (row 10) is suspended: suspend offers only active tenants.
    assert_eq!(
        complete(&s, "suspend kes"),
        vec!["suspend Kestrel FX 1".to_string()]
    );
    assert_eq!(
        complete(&s, "resume kes"),
        vec!["resume Kestrel FX".to_string()]
    );
    assert!(!complete(&s, "resume ").is_empty());
    assert!(complete(&s, "resume ").iter().all(|l| {
        let name = l.trim_start_matches("resume ");
        s.tenants
            .iter()
            .any(|t| t.name == name && t.status == TenantStatus::Suspended)
    }));
    assert_eq!(complete(&s, "sort si"), vec!["sort size".to_string()]);
    assert_eq!(
        complete(&s, "filter status=s"),
        vec!["filter status=suspended".to_string()]
    );
    // Tab completes in the line editor
    update(&mut s, Action::CommandLine);
    typ(&mut s, "cre");
    key(&mut s, TextKey::Next);
    match &s.modal {
        Some(Modal::CommandLine(cl)) => assert_eq!(cl.input.value(), "create "),
        _ => panic!("closed"),
    }
    assert_eq!(key(&mut s, TextKey::Submit), Some(Command::LoadTemplates));
    assert!(matches!(s.modal, Some(Modal::Wizard(_))));
    key(&mut s, TextKey::Cancel);
    // errors keep the line open
    assert!(command_line(&mut s, "frobnicate").is_none());
    match &s.modal {
        Some(Modal::CommandLine(cl)) => {
            assert!(cl.error.as_ref().expect("err").contains("unknown command"));
        }
        _ => panic!("closed"),
    }
    key(&mut s, TextKey::Cancel);
    // :suspend by name opens the confirmation
    assert!(command_line(&mut s, "suspend Kestrel FX 1").is_none());
    assert!(matches!(s.modal, Some(Modal::Confirm(_))));
    key(&mut s, TextKey::Cancel);
    // :cluster checks the config
    assert!(command_line(&mut s, "cluster nowhere").is_none());
    assert!(s.message.as_ref().expect("msg").text.contains("no cluster"));
    command_line(&mut s, "quit");
    assert!(s.quit);
}

#[test]
fn cluster_switch_sends_and_resets_on_connect() {
    let mut s = st(5);
    s.clusters = vec![("prod".into(), false), ("stage".into(), true)];
    assert_eq!(
        command_line(&mut s, "cluster stage"),
        Some(Command::SwitchCluster("stage".into()))
    );
    ev(
        &mut s,
        Event::Connected {
            cluster: "stage".into(),
            endpoint: "db1.internal:5432".into(),
            server_version: "15".into(),
            read_only: false,
        },
    );
    assert_eq!(s.cluster, "stage");
    assert!(s.tenants.is_empty(), "the other cluster's tenants are gone");
    assert!(s.read_only(), "stage is read-only in the config");
}

#[test]
fn reconnect_keeps_the_users_place() {
    let mut s = st(30);
    command_line(&mut s, "filter capital");
    update(&mut s, Action::Down);
    let id = s.list.selected;
    update(&mut s, Action::Open);
    ev(&mut s, Event::Detail(Arc::new(sample::detail(12))));
    update(&mut s, Action::NextTab);
    ev(
        &mut s,
        Event::Disconnected {
            error: "server closed the connection".into(),
            retry_in: Duration::from_secs(8),
        },
    );
    assert!(matches!(s.connection, Connection::Disconnected { .. }));
    let later = s.now + chrono::TimeDelta::seconds(3);
    update(&mut s, Action::Tick(later));
    let bar: String = crate::tui::ui::status_bar::segments(&s)
        .iter()
        .map(|sp| sp.content.to_string())
        .collect();
    assert!(bar.contains("disconnected — retrying in 5 s"), "{bar}");
    // changes are refused while down, and say why
    assert!(update(&mut s, Action::SuspendResume).is_none());
    assert!(
        s.message
            .as_ref()
            .expect("msg")
            .text
            .contains("disconnected")
    );
    // back: same pane, tab, tenant and filter; the detail is asked again
    let cmd = ev(
        &mut s,
        Event::Connected {
            cluster: "prod".into(),
            endpoint: "db1.internal:5432".into(),
            server_version: "16.4".into(),
            read_only: false,
        },
    );
    assert!(matches!(cmd, Some(Command::LoadDetail { .. })), "{cmd:?}");
    ev(&mut s, Event::Tenants(Arc::new(sample::tenants(30))));
    assert_eq!(s.pane, Pane::Detail);
    assert_eq!(s.detail.as_ref().map(|d| d.tab), Some(DetailTab::Tables));
    assert_eq!(s.list.selected, id);
    assert_eq!(s.list.filter.text, "capital");
    assert!(matches!(s.connection, Connection::Connected { .. }));
    update(&mut s, Action::Back);
    assert_eq!(s.list.selected, id);
}

#[test]
fn changes_from_elsewhere_are_applied_and_coalesced() {
    let mut s = st(10);
    assert_eq!(
        ev(&mut s, Event::TenantsChanged),
        Some(Command::LoadTenants)
    );
    assert_eq!(
        ev(&mut s, Event::TenantsChanged),
        None,
        "one reload in flight"
    );
    let mut list = sample::tenants(10);
    list[1].status = TenantStatus::Suspended;
    list.push(sample::tenants(11).pop().expect("t"));
    ev(&mut s, Event::Tenants(Arc::new(list)));
    assert_eq!(s.tenants.len(), 11);
    assert_eq!(
        s.tenant(sample::id(1)).map(|t| t.status),
        Some(TenantStatus::Suspended)
    );
    assert_eq!(
        ev(&mut s, Event::TenantsChanged),
        Some(Command::LoadTenants)
    );
}

#[test]
fn edit_sends_only_changed_fields() {
    let mut s = st(3);
    update(&mut s, Action::Edit);
    assert!(matches!(s.modal, Some(Modal::Edit(_))));
    key(&mut s, TextKey::Next);
    key(&mut s, TextKey::Clear);
    typ(&mut s, "abc");
    assert!(key(&mut s, TextKey::Submit).is_none(), "invalid number");
    key(&mut s, TextKey::Clear);
    typ(&mut s, "35");
    let cmd = key(&mut s, TextKey::Submit);
    let Some(Command::Update { update: u, .. }) = cmd else {
        panic!("{cmd:?}")
    };
    assert_eq!(u.connection_limit, Some(35));
    assert!(u.name.is_none() && u.settings.is_none() && u.storage_quota_bytes.is_none());
    assert!(!u.clear_statement_timeout && !u.clear_storage_quota);
}

#[test]
fn emptying_the_quota_field_removes_the_quota() {
    let mut s = st(3);
    update(&mut s, Action::Edit);
    for _ in 0..3 {
        key(&mut s, TextKey::Next); // name, connection limit, timeout, quota
    }
    key(&mut s, TextKey::Clear);
    let cmd = key(&mut s, TextKey::Submit);
    let Some(Command::Update { update: u, .. }) = cmd else {
        panic!("{cmd:?}")
    };
    assert!(u.clear_storage_quota && u.storage_quota_bytes.is_none());
    assert!(!u.clear_statement_timeout && u.statement_timeout.is_none());
}

#[test]
fn quit_and_ctrl_z() {
    let mut s = st(1);
    update(&mut s, Action::SuspendProcess);
    assert!(s.suspend);
    update(&mut s, Action::Resumed);
    assert!(!s.suspend && s.dirty);
    update(&mut s, Action::Quit);
    assert!(s.quit);
}

#[test]
fn q_closes_help_and_ctrl_c_quits_from_anywhere() {
    let mut s = st(1);
    update(&mut s, Action::Help);
    assert!(matches!(s.modal, Some(Modal::Help { .. })));
    update(&mut s, Action::Quit);
    assert!(s.modal.is_none() && !s.quit, "q closes the help overlay");
    update(&mut s, Action::Help);
    update(&mut s, Action::Interrupt);
    assert!(s.quit, "Ctrl-C quits from the help overlay");

    let mut s = st(1);
    update(&mut s, Action::New);
    assert!(matches!(s.modal, Some(Modal::Wizard(_))));
    update(&mut s, Action::Text(TextKey::Char('q')));
    assert!(!s.quit, "q is text in a field");
    update(&mut s, Action::Interrupt);
    assert!(s.quit, "Ctrl-C quits from a text field");
}

#[test]
fn queued_snapshots_are_coalesced() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for g in 2..6 {
        tx.send(Event::Snapshot(Arc::new(sample::snapshot(3, g))))
            .expect("send");
        tx.send(Event::Notice(format!("n{g}"))).expect("send");
    }
    let first = Event::Snapshot(Arc::new(sample::snapshot(3, 1)));
    let batch = crate::tui::app::drain(first, &mut rx);
    let gens: Vec<u64> = batch
        .iter()
        .filter_map(|e| match e {
            Event::Snapshot(s) => Some(s.generation),
            _ => None,
        })
        .collect();
    assert_eq!(gens, vec![5], "only the newest snapshot is applied");
    assert_eq!(batch.len(), 5, "every other event is kept, in order");
}

#[test]
fn example_config_keys_are_all_known() {
    let text = include_str!("../../../config.example.toml");
    let keys = text
        .lines()
        .skip_while(|l| l.trim() != "[keys]")
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.contains(" = "))
        .fold(String::new(), |mut acc, l| {
            acc.push_str(l);
            acc.push('\n');
            acc
        });
    let parsed: std::collections::BTreeMap<String, crate::config::KeySpec> =
        toml::from_str(&keys).expect("the commented [keys] lines parse");
    assert!(parsed.len() >= 28, "{}", parsed.len());
    let km = crate::tui::keymap::Keymap::from_config(&parsed).expect("every name is an action");
    assert_eq!(km.label_of("quit"), "q");
}

#[test]
fn mouse_click_selects_a_row() {
    let mut s = st(30);
    update(&mut s, Action::Resize(80, 24));
    update(&mut s, Action::Click(5, 7)); // header at row 1, first tenant at row 2
    assert_eq!(s.list.cursor, 5);
    update(&mut s, Action::Click(5, 23)); // the message line: ignored
    assert_eq!(s.list.cursor, 5);
}

#[test]
fn connecting_with_the_wizard_open_reloads_both_templates_and_the_detail() {
    let mut s = st(10);
    update(&mut s, Action::Open);
    assert_eq!(s.pane, Pane::Detail);
    ev(&mut s, Event::Detail(Arc::new(sample::detail(0))));
    assert!(matches!(
        update(&mut s, Action::New),
        Some(Command::LoadTemplates)
    ));
    assert!(matches!(s.modal, Some(Modal::Wizard(_))));
    ev(
        &mut s,
        Event::Disconnected {
            error: "gone".into(),
            retry_in: Duration::from_secs(1),
        },
    );
    let cmds = crate::tui::update(
        &mut s,
        Action::Backend(Event::Connected {
            cluster: "prod".into(),
            endpoint: "db1.internal:5432".into(),
            server_version: "17.2".into(),
            read_only: false,
        }),
    );
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert!(matches!(cmds[0], Command::LoadTemplates), "{cmds:?}");
    assert!(
        matches!(cmds[1], Command::LoadDetail { tenant } if Some(tenant) == s.list.selected),
        "{cmds:?}"
    );
}

#[test]
fn strings_from_the_backend_reach_the_state_neutralised() {
    let mut s = st(3);
    ev(
        &mut s,
        Event::Notice("disk \u{1b}[2J\u{202e}full\u{7}".into()),
    );
    assert_eq!(
        s.message.as_ref().map(|m| m.text.as_str()),
        Some("disk ?[2J?full?")
    );
    // Tenant rows are kept as read and cleaned where drawn (tui_render).
    ev(
        &mut s,
        Event::Disconnected {
            error: "reset \u{1b}[31mby peer".into(),
            retry_in: Duration::from_secs(1),
        },
    );
    assert!(
        matches!(&s.connection, Connection::Disconnected { error, .. } if error == "reset ?[31mby peer"),
        "{:?}",
        s.connection
    );
}

#[test]
fn views_open_by_key_and_command_and_esc_returns_to_the_monitor() {
    let mut s = st(40);
    update(&mut s, Action::View(Pane::Neighbours));
    assert_eq!(s.pane, Pane::Neighbours);
    assert_eq!(s.tab_label(Pane::Monitor), " Monitor › Neighbours ");
    update(&mut s, Action::Back);
    assert_eq!(s.pane, Pane::Monitor);
    for (line, pane) in [
        ("locks", Pane::Locks),
        ("heatmap", Pane::Heatmap),
        ("neighbours wal", Pane::Neighbours),
        ("monitor", Pane::Monitor),
    ] {
        command_line(&mut s, line);
        assert_eq!(s.pane, pane, ":{line}");
    }
    assert_eq!(
        s.views.neighbour_metric,
        crate::domain::activity::NeighbourMetric::Wal
    );
    command_line(&mut s, "neighbours bogus");
    match &s.modal {
        Some(Modal::CommandLine(cl)) => {
            assert!(cl.error.as_deref().unwrap_or("").contains("unknown metric"));
        }
        other => panic!("command line with an error expected, got {other:?}"),
    }
    update(&mut s, Action::Text(TextKey::Cancel));
    // Tab from a view goes on to the pane after the Monitor.
    update(&mut s, Action::View(Pane::Heatmap));
    update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Audit);
}

#[test]
fn neighbours_rank_by_the_decayed_share_and_follow_the_selection() {
    let mut s = st(60);
    update(&mut s, Action::View(Pane::Neighbours));
    let view = s.view.clone().expect("view");
    let shares: Vec<f64> = s
        .views
        .neighbours
        .iter()
        .map(|id| view.tenants[id].share_score.expect("share"))
        .collect();
    assert!(!shares.is_empty());
    assert!(
        shares.windows(2).all(|w| w[0] >= w[1]),
        "highest share first: {shares:?}"
    );
    assert_eq!(
        s.views.neighbours[0],
        sample::id(1),
        "the heavy tenant leads"
    );
    // The cursor stays on its tenant when a new snapshot re-ranks.
    update(&mut s, Action::Down);
    update(&mut s, Action::Down);
    let picked = s.views.neighbours[2];
    ev(&mut s, Event::Snapshot(Arc::new(sample::snapshot(60, 7))));
    assert_eq!(s.views.neighbours[s.views.neighbour_cursor], picked);
    // `s` ranks by WAL next; Enter opens the tenant under the cursor.
    update(&mut s, Action::SortColumn);
    let view = s.view.clone().expect("view");
    let wal: Vec<f64> = s
        .views
        .neighbours
        .iter()
        .map(|id| view.tenants[id].wal_bytes_per_s.expect("wal"))
        .collect();
    assert!(wal.windows(2).all(|w| w[0] >= w[1]), "{wal:?}");
    let want = s.views.neighbours[s.views.neighbour_cursor];
    let cmd = update(&mut s, Action::Open);
    assert_eq!(s.pane, Pane::Detail);
    assert_eq!(s.detail.as_ref().map(|d| d.tenant), Some(want));
    assert!(matches!(cmd, Some(Command::LoadDetail { .. })));
}

#[test]
fn heat_map_cursor_moves_over_cells_and_opens_the_tenant() {
    let mut s = st(200);
    update(&mut s, Action::Resize(40, 20)); // 20 cells a line
    update(&mut s, Action::View(Pane::Heatmap));
    let h = &s.views.heat;
    assert_eq!(h.order.len(), 200);
    assert_eq!(h.levels.len(), 200, "levels computed on opening");
    let v1 = h.groups[0].len; // template v1 first: 40 tenants
    assert_eq!(v1, 40);
    update(&mut s, Action::NextTab);
    update(&mut s, Action::NextTab);
    assert_eq!(s.views.heat.cursor, 2, "right moves one cell");
    update(&mut s, Action::Down);
    assert_eq!(s.views.heat.cursor, 22, "down: same column, next line");
    update(&mut s, Action::Down);
    assert_eq!(s.views.heat.cursor, 42, "into the next group");
    update(&mut s, Action::PrevTab);
    update(&mut s, Action::Up);
    assert_eq!(s.views.heat.cursor, 21);
    update(&mut s, Action::Bottom);
    assert_eq!(s.views.heat.cursor, 199);
    update(&mut s, Action::Top);
    // `s` cycles the metric and recolours; `S` regroups by status.
    let before = s.views.heat.metric;
    update(&mut s, Action::SortColumn);
    assert_ne!(s.views.heat.metric, before);
    update(&mut s, Action::SortDirection);
    assert_eq!(s.views.heat.groups[0].label, "active");
    let id = s.views.heat.order[s.views.heat.cursor];
    update(&mut s, Action::Open);
    assert_eq!(s.detail.as_ref().map(|d| d.tenant), Some(id));
}

#[test]
fn chart_window_steps_within_the_history_and_the_command_sets_it() {
    let mut s = st(10);
    assert_eq!(
        s.views.window,
        Duration::from_secs(15 * 60),
        "the whole history"
    );
    update(&mut s, Action::Window);
    assert_eq!(
        s.views.window,
        Duration::from_secs(60),
        "60 min is past 15: back to 1"
    );
    update(&mut s, Action::Window);
    assert_eq!(s.views.window, Duration::from_secs(300));
    command_line(&mut s, "window 15");
    assert_eq!(s.views.window, Duration::from_secs(900));
    command_line(&mut s, "window 60");
    assert_eq!(
        s.views.window,
        Duration::from_secs(900),
        "clamped to the history"
    );
    command_line(&mut s, "window 7");
    assert!(matches!(&s.modal, Some(Modal::CommandLine(cl)) if cl.error.is_some()));
}

#[test]
fn locks_cancel_and_terminate_the_blocker_only_after_asking() {
    let mut s = st(30);
    update(&mut s, Action::View(Pane::Locks));
    // The first chain: tenant 2 blocks (idle in transaction).
    assert_eq!(s.views.locks_cursor, 0);
    assert!(
        update(&mut s, Action::TerminateSession).is_none(),
        "asks first"
    );
    let Some(Modal::Confirm(c)) = &s.modal else {
        panic!("a confirmation")
    };
    assert!(c.prompt.contains("Terminate session 51200"), "{}", c.prompt);
    let cmd = update(&mut s, Action::Text(TextKey::Char('y')));
    assert!(
        matches!(cmd, Some(Command::TerminateSession { tenant, pid: 51_200, .. }) if tenant == sample::id(2)),
        "{cmd:?}"
    );
    // Cancelling an idle-in-transaction blocker says it will not help.
    update(&mut s, Action::CancelSession);
    let Some(Modal::Confirm(c)) = &s.modal else {
        panic!("a confirmation")
    };
    assert!(
        c.prompt.contains("does not release its locks"),
        "{}",
        c.prompt
    );
    update(&mut s, Action::Text(TextKey::Char('n')));
    // The second chain's blocker is no tenant's: refused in one sentence.
    update(&mut s, Action::Down);
    assert!(update(&mut s, Action::TerminateSession).is_none());
    assert!(s.modal.is_none());
    assert!(
        s.message
            .as_ref()
            .is_some_and(|m| m.error && m.text.contains("not a tenant's")),
        "{:?}",
        s.message
    );
}

#[test]
fn time_cursor_moves_through_the_kept_history_only_while_paused() {
    let mut s = st(30);
    assert!(update(&mut s, Action::TimeBack).is_none());
    assert!(
        s.message
            .as_ref()
            .is_some_and(|m| m.error && m.text.contains("while paused")),
        "{:?}",
        s.message
    );
    update(&mut s, Action::Pause);
    let present = s.view.clone().expect("view");
    let cmd = update(&mut s, Action::TimeBack);
    assert_eq!(cmd, Some(Command::LoadAt { back: 1 }));
    let cmd = update(&mut s, Action::PrevTab); // ← in the list, while paused
    assert_eq!(cmd, Some(Command::LoadAt { back: 2 }));
    // An answer for a point the cursor has left is dropped.
    let mut old = sample::snapshot(30, 0);
    old.taken_at = present.taken_at - chrono::TimeDelta::seconds(4);
    ev(
        &mut s,
        Event::At {
            back: 1,
            snapshot: Some(Arc::new(sample::snapshot(30, 9))),
        },
    );
    assert_eq!(s.view.as_ref().map(|v| v.taken_at), Some(present.taken_at));
    ev(
        &mut s,
        Event::At {
            back: 2,
            snapshot: Some(Arc::new(old.clone())),
        },
    );
    assert_eq!(s.view.as_ref().map(|v| v.taken_at), Some(old.taken_at));
    // Past the oldest point: the cursor stays where it was.
    assert_eq!(
        update(&mut s, Action::TimeBack),
        Some(Command::LoadAt { back: 3 })
    );
    ev(
        &mut s,
        Event::At {
            back: 3,
            snapshot: None,
        },
    );
    assert_eq!(s.views.time_back, 2);
    assert!(
        s.message
            .as_ref()
            .is_some_and(|m| m.text.contains("oldest point"))
    );
    // Forward to the present needs no request; a new snapshot does not move the view.
    update(&mut s, Action::TimeForward);
    assert!(update(&mut s, Action::NextTab).is_none());
    assert_eq!(s.views.time_back, 0);
    assert_eq!(s.view.as_ref().map(|v| v.taken_at), Some(present.taken_at));
    ev(&mut s, Event::Snapshot(Arc::new(sample::snapshot(30, 20))));
    assert_eq!(s.view.as_ref().map(|v| v.taken_at), Some(present.taken_at));
    // Resuming leaves the past.
    update(&mut s, Action::TimeBack);
    update(&mut s, Action::Pause);
    assert_eq!(s.views.time_back, 0);
    assert_eq!(s.view.as_ref().map(|v| v.generation), Some(20));
}

// ---- the Migrations pane ----

use crate::domain::runs::RunAction;

/// The Migrations pane open on the sample runs, the running run selected.
fn migrations(n: usize) -> State {
    let mut s = st(n);
    let cmd = update(&mut s, Action::View(Pane::Migrations));
    assert_eq!(cmd, Some(Command::LoadMigrations { run: None }));
    assert_eq!(s.pane, Pane::Migrations);
    let c = ev(
        &mut s,
        Event::Migrations {
            runs: sample::runs(),
            run: Some(sample::run_id(0)),
            tenants: sample::run_tenants(),
        },
    );
    assert_eq!(c, None);
    s
}

fn arrive(s: &mut State, run: usize) -> Option<Command> {
    ev(
        s,
        Event::Migrations {
            runs: sample::runs(),
            run: Some(sample::run_id(run)),
            tenants: sample::run_tenants(),
        },
    )
}

#[test]
fn migrations_pane_opens_by_key_and_command_and_coalesces_loads() {
    let mut s = st(10);
    let k = crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char('M'),
        crossterm::event::KeyModifiers::SHIFT,
    );
    let a = s
        .keymap
        .key(crate::tui::keymap::InputMode::Normal, &k)
        .expect("M is bound");
    assert!(matches!(a, Action::View(Pane::Migrations)), "{a:?}");
    assert_eq!(
        update(&mut s, a),
        Some(Command::LoadMigrations { run: None })
    );
    assert!(s.migrations.loading);
    // A change announced while loading is not a second request...
    assert_eq!(ev(&mut s, Event::MigrationsChanged), None);
    // ...but the answer then asks once more.
    assert_eq!(
        arrive(&mut s, 0),
        Some(Command::LoadMigrations {
            run: Some(sample::run_id(0))
        })
    );
    arrive(&mut s, 0);
    assert!(!s.migrations.loading);
    assert_eq!(s.migrations.tenants[0].state, "failed", "failures first");
    // Esc goes back; the command line opens it again.
    update(&mut s, Action::Back);
    assert_eq!(s.pane, Pane::Tenants);
    assert_eq!(
        ev(&mut s, Event::MigrationsChanged),
        None,
        "closed: no reload"
    );
    assert_eq!(
        command_line(&mut s, "migrations"),
        Some(Command::LoadMigrations {
            run: Some(sample::run_id(0))
        })
    );
    assert_eq!(s.pane, Pane::Migrations);
}

#[test]
fn migrations_cursor_selects_a_run_and_its_tenants() {
    let mut s = migrations(10);
    assert_eq!(s.migrations.cursor, 0);
    assert_eq!(
        update(&mut s, Action::Down),
        Some(Command::LoadMigrations {
            run: Some(sample::run_id(1))
        })
    );
    assert!(s.migrations.tenants.is_empty(), "the old run's tenants go");
    arrive(&mut s, 1);
    assert_eq!(s.migrations.run, Some(sample::run_id(1)));
    assert_eq!(s.migrations.cursor, 1);
    update(&mut s, Action::Bottom);
    arrive(&mut s, 2);
    assert_eq!(s.migrations.cursor, 2);
    assert_eq!(
        update(&mut s, Action::Down),
        None,
        "clamped at the last run"
    );
    // Right: the tenant list takes the cursor; Enter opens the tenant.
    update(&mut s, Action::NextTab);
    assert!(s.migrations.on_tenants);
    update(&mut s, Action::Down);
    assert_eq!(s.migrations.tenant_cursor, 1);
    let want = s.migrations.tenants[1].tenant_id;
    let cmd = update(&mut s, Action::Open);
    assert_eq!(cmd, Some(Command::LoadDetail { tenant: want }));
    assert_eq!(s.pane, Pane::Detail);
}

#[test]
fn pause_resume_cancel_ask_first_and_refuse_what_does_not_apply() {
    let mut s = migrations(10);
    // Pause the running run: asked first, `n` changes nothing.
    assert_eq!(update(&mut s, Action::MigratePause), None);
    let Some(Modal::Confirm(c)) = &s.modal else {
        panic!("no confirmation: {:?}", s.modal)
    };
    assert!(c.prompt.starts_with("Pause run 5a110000"), "{}", c.prompt);
    assert_eq!(key(&mut s, TextKey::Char('n')), None);
    assert!(s.modal.is_none());
    update(&mut s, Action::MigratePause);
    assert_eq!(
        key(&mut s, TextKey::Char('y')),
        Some(Command::Migration {
            id: 1,
            run: sample::run_id(0),
            action: RunAction::Pause
        })
    );
    assert!(s.pending.values().any(|p| p.what == "pausing run 5a110000"));
    // A running run cannot be resumed: one sentence, no question.
    assert_eq!(update(&mut s, Action::MigrateResume), None);
    assert!(s.modal.is_none());
    assert!(s.message.as_ref().is_some_and(|m| {
        m.error
            && m.text
                .contains("only a paused or stopped run can be resumed")
    }));
    // The paused run resumes (here, in the backend) after a yes.
    update(&mut s, Action::Down);
    arrive(&mut s, 1);
    update(&mut s, Action::MigrateResume);
    assert!(matches!(s.modal, Some(Modal::Confirm(_))));
    assert_eq!(
        key(&mut s, TextKey::Char('y')),
        Some(Command::Migration {
            id: 2,
            run: sample::run_id(1),
            action: RunAction::Resume
        })
    );
    // A done run cannot be cancelled.
    update(&mut s, Action::Down);
    arrive(&mut s, 2);
    assert_eq!(update(&mut s, Action::MigrateCancel), None);
    assert!(s.modal.is_none());
    assert!(
        s.message
            .as_ref()
            .is_some_and(|m| m.error && m.text.contains("is done"))
    );
    // :migrate cancel RUN names a run; it asks first too.
    let line = format!("migrate cancel {}", sample::run_id(1));
    assert_eq!(command_line(&mut s, &line), None);
    let Some(Modal::Confirm(c)) = &s.modal else {
        panic!("no confirmation: {:?}", s.modal)
    };
    assert!(
        c.prompt.contains("the 20 queued are skipped"),
        "{}",
        c.prompt
    );
    assert_eq!(
        key(&mut s, TextKey::Char('y')),
        Some(Command::Migration {
            id: 3,
            run: sample::run_id(1),
            action: RunAction::Cancel
        })
    );
    // Bad input: one sentence, nothing asked.
    assert_eq!(command_line(&mut s, "migrate stop"), None);
    let Some(Modal::CommandLine(cl)) = &s.modal else {
        panic!("the command line stays open: {:?}", s.modal)
    };
    assert!(
        cl.error
            .as_deref()
            .is_some_and(|e| e.contains("use pause, resume or cancel"))
    );
    key(&mut s, TextKey::Cancel);
    assert_eq!(command_line(&mut s, "migrate pause 0000dead"), None);
    assert!(s.modal.is_none());
    assert!(
        s.message
            .as_ref()
            .is_some_and(|m| m.error && m.text.contains("no migration run matches"))
    );
    // Read-only: refused before asking.
    s.config_read_only = true;
    update(&mut s, Action::Top);
    assert_eq!(update(&mut s, Action::MigrateCancel), None);
    assert!(s.modal.is_none());
    assert!(
        s.message
            .as_ref()
            .is_some_and(|m| m.text.contains("read-only"))
    );
    // Outside the pane the keys say where to go.
    s.config_read_only = false;
    update(&mut s, Action::Back);
    assert_eq!(update(&mut s, Action::MigratePause), None);
    assert!(s.modal.is_none());
    assert!(
        s.message
            .as_ref()
            .is_some_and(|m| m.text.contains("Migrations pane (M)"))
    );
}

#[test]
fn migrations_reload_every_second_while_a_run_moves_and_on_changes() {
    let mut s = migrations(10);
    let now = s.now;
    assert_eq!(
        update(
            &mut s,
            Action::Tick(now + chrono::TimeDelta::milliseconds(500))
        ),
        None
    );
    assert_eq!(
        update(
            &mut s,
            Action::Tick(now + chrono::TimeDelta::milliseconds(1100))
        ),
        Some(Command::LoadMigrations {
            run: Some(sample::run_id(0))
        })
    );
    assert_eq!(
        update(
            &mut s,
            Action::Tick(now + chrono::TimeDelta::milliseconds(2500))
        ),
        None,
        "one load in flight at a time"
    );
    arrive(&mut s, 0);
    // A tenant's version moved (the tenants NOTIFY): the list and the pane reload.
    let cmds = crate::tui::update(&mut s, Action::Backend(Event::TenantsChanged));
    assert_eq!(
        cmds,
        vec![
            Command::LoadTenants,
            Command::LoadMigrations {
                run: Some(sample::run_id(0))
            }
        ]
    );
    // Nothing moves: no polling.
    let mut runs = sample::runs();
    for r in &mut runs {
        r.state = "done".into();
        r.running = 0;
    }
    ev(
        &mut s,
        Event::Migrations {
            runs,
            run: Some(sample::run_id(0)),
            tenants: Vec::new(),
        },
    );
    let later = s.now + chrono::TimeDelta::seconds(5);
    assert_eq!(update(&mut s, Action::Tick(later)), None);
    // A request's end reloads the pane.
    assert_eq!(
        ev(
            &mut s,
            Event::Done {
                id: 9,
                message: "run 5a110000 paused".into(),
                tenant: None
            }
        ),
        Some(Command::LoadMigrations {
            run: Some(sample::run_id(0))
        })
    );
}

#[test]
fn version_behind_in_the_detail_jumps_to_the_migrations_pane() {
    let mut s = st(10);
    let t = sample::id(0);
    ev(&mut s, Event::Snapshot(Arc::new(behind_snapshot(10, 0))));
    s.list.selected = Some(t);
    update(&mut s, Action::Open);
    assert_eq!(s.pane, Pane::Detail);
    assert_eq!(
        update(&mut s, Action::Open),
        Some(Command::LoadMigrations { run: None })
    );
    assert_eq!(s.pane, Pane::Migrations);
    // The newest run of the tenant's template takes the cursor.
    let mut runs = sample::runs();
    runs[0].template = "other".into();
    let c = ev(
        &mut s,
        Event::Migrations {
            runs,
            run: Some(sample::run_id(0)),
            tenants: Vec::new(),
        },
    );
    assert_eq!(
        c,
        Some(Command::LoadMigrations {
            run: Some(sample::run_id(1))
        })
    );
    assert_eq!(s.migrations.cursor, 1);
    // Esc goes back to the detail it came from.
    update(&mut s, Action::Back);
    assert_eq!(s.pane, Pane::Detail);
    // Behind, but on another tab: Enter is that tab's, not the jump.
    let mut s = st(10);
    ev(&mut s, Event::Snapshot(Arc::new(behind_snapshot(10, 0))));
    s.list.selected = Some(t);
    update(&mut s, Action::Open);
    update(&mut s, Action::NextTab);
    assert_ne!(s.detail.as_ref().map(|d| d.tab), Some(DetailTab::Overview));
    update(&mut s, Action::Open);
    assert_eq!(s.pane, Pane::Detail, "no jump from the Tables tab");
    // A tenant that is current: Enter does nothing.
    let mut s = st(10);
    s.list.selected = Some(sample::id(1));
    update(&mut s, Action::Open);
    assert_eq!(update(&mut s, Action::Open), None);
    assert_eq!(s.pane, Pane::Detail);
}

/// The sample snapshot with tenant `i` a template version behind.
fn behind_snapshot(n: usize, i: usize) -> crate::domain::metrics::Snapshot {
    let mut snap = sample::snapshot(n, 2);
    let mut v: Vec<_> = snap.tenants.values().cloned().collect();
    let m = v
        .iter_mut()
        .find(|m| m.tenant_id == sample::id(i))
        .expect("sample tenant");
    let mut reasons = m.health.reasons.to_vec();
    reasons.push(crate::domain::metrics::HealthReason {
        points: 5,
        text: "template version 1 behind latest 3".into(),
    });
    m.health.reasons = reasons.into();
    snap.tenants = v.into();
    snap
}

#[test]
fn migrations_pane_refreshes_and_moves_between_its_lists() {
    let mut s = migrations(10);
    assert!(!s.migrations.loading);
    assert_eq!(
        update(&mut s, Action::Refresh),
        Some(Command::LoadMigrations {
            run: Some(sample::run_id(0))
        })
    );
    arrive(&mut s, 0);
    assert!(!s.migrations.tenants.is_empty());
    // Enter on the runs list moves to its tenants; Tab goes back and forth.
    assert_eq!(update(&mut s, Action::Open), None);
    assert!(s.migrations.on_tenants);
    update(&mut s, Action::NextTab);
    assert!(!s.migrations.on_tenants);
    update(&mut s, Action::PrevTab);
    assert!(s.migrations.on_tenants);
    update(&mut s, Action::NextTab);
    // A run without tenants keeps the cursor on the runs.
    s.migrations.tenants.clear();
    update(&mut s, Action::NextTab);
    assert!(!s.migrations.on_tenants, "no tenants to move to");
    assert_eq!(update(&mut s, Action::Open), None);
    assert!(!s.migrations.on_tenants);
}

#[test]
fn a_run_is_named_by_four_or_more_characters_of_its_id() {
    let mut s = migrations(10);
    assert_eq!(command_line(&mut s, "migrate pause 5a1"), None);
    assert!(s.modal.is_none());
    assert!(
        s.message
            .as_ref()
            .is_some_and(|m| m.error && m.text.contains("first 4+ characters")),
        "{:?}",
        s.message
    );
    assert_eq!(command_line(&mut s, "migrate pause 5A11"), None);
    let Some(Modal::Confirm(c)) = &s.modal else {
        panic!("no confirmation: {:?}", s.message)
    };
    assert!(c.prompt.starts_with("Pause run 5a110000"), "{}", c.prompt);
}

#[test]
fn a_snapshot_refreshes_what_the_open_pane_shows() {
    // The heat map is built from the first snapshot it sees.
    let mut s = st(10);
    s.pane = Pane::Heatmap;
    s.views.heat.order.clear();
    ev(&mut s, Event::Snapshot(Arc::new(sample::snapshot(10, 3))));
    assert_eq!(s.views.heat.order.len(), 10);
    // An open detail (not Audit) asks again for its data.
    let mut s = st(10);
    s.list.selected = Some(sample::id(2));
    assert_eq!(
        update(&mut s, Action::Open),
        Some(Command::LoadDetail {
            tenant: sample::id(2)
        })
    );
    ev(&mut s, Event::Detail(Arc::new(sample::detail(2))));
    assert_eq!(
        ev(&mut s, Event::Snapshot(Arc::new(sample::snapshot(10, 3)))),
        Some(Command::LoadDetail {
            tenant: sample::id(2)
        })
    );
}

#[test]
fn a_tenant_that_goes_away_closes_its_detail() {
    let mut s = st(10);
    s.list.selected = Some(sample::id(2));
    update(&mut s, Action::Open);
    assert_eq!(s.pane, Pane::Detail);
    let rest: Vec<_> = s
        .tenants
        .iter()
        .filter(|t| t.id != sample::id(2))
        .cloned()
        .collect();
    ev(&mut s, Event::Tenants(Arc::new(rest)));
    assert!(s.detail.is_none());
    assert_eq!(s.pane, Pane::Tenants);
    assert!(
        s.message
            .as_ref()
            .is_some_and(|m| m.text.contains("is gone")),
        "{:?}",
        s.message
    );
}
