//! Edge cases of `update` that the scenario tests in `flow_tests.rs`
//! walk past: every arm of the shared cursor arithmetic, the interval's
//! format, which detail tab asks for what and when, the mouse's bounds, and
//! the guards that drop answers meant for another tenant or request. Found
//! by cargo-mutants (mutants that survived the flow tests).

use std::sync::Arc;
use std::time::Duration;

use super::{format_interval, load_detail, move_cursor, update};
use crate::backend::{Command, Event};
use crate::config::ThemeName;
use crate::domain::progress::ProgressStep;
use crate::tui::action::{Action, TextKey};
use crate::tui::sample;
use crate::tui::state::{DetailState, DetailTab, Modal, Pane, State};

fn st(n: usize) -> State {
    sample::state(n, ThemeName::Dark)
}

fn one(s: &mut State, a: Action) -> Option<Command> {
    let mut cmds = update(s, a);
    assert!(cmds.len() <= 1, "more than one command: {cmds:?}");
    cmds.pop()
}

#[test]
fn move_cursor_takes_every_arm_and_clamps() {
    let page = 5;
    assert_eq!(move_cursor(3, 0, &Action::Down, page), 0, "empty list");
    assert_eq!(move_cursor(3, 10, &Action::Down, page), 4);
    assert_eq!(
        move_cursor(9, 10, &Action::Down, page),
        9,
        "stops at the end"
    );
    assert_eq!(move_cursor(3, 10, &Action::Up, page), 2);
    assert_eq!(move_cursor(0, 10, &Action::Up, page), 0, "stops at the top");
    assert_eq!(move_cursor(7, 10, &Action::Top, page), 0);
    assert_eq!(move_cursor(2, 10, &Action::Bottom, page), 9);
    assert_eq!(move_cursor(2, 10, &Action::PageDown, page), 7);
    assert_eq!(
        move_cursor(6, 10, &Action::PageDown, page),
        9,
        "a page clamps"
    );
    assert_eq!(move_cursor(7, 10, &Action::PageUp, page), 2);
    assert_eq!(
        move_cursor(3, 10, &Action::PageUp, page),
        0,
        "a page clamps"
    );
    assert_eq!(
        move_cursor(12, 10, &Action::Refresh, page),
        9,
        "any other action keeps the cursor inside a list that shrank"
    );
    assert_eq!(move_cursor(4, 10, &Action::Refresh, page), 4);
}

#[test]
fn format_interval_picks_minutes_seconds_or_tenths() {
    assert_eq!(format_interval(Duration::from_secs(60)), "1m");
    assert_eq!(format_interval(Duration::from_secs(120)), "2m");
    assert_eq!(format_interval(Duration::from_secs(90)), "90s");
    assert_eq!(format_interval(Duration::from_secs(2)), "2s");
    assert_eq!(format_interval(Duration::from_millis(500)), "0.5s");
    assert_eq!(format_interval(Duration::from_millis(1500)), "1.5s");
    assert_eq!(format_interval(Duration::from_millis(60_500)), "60.5s");
}

fn with_detail(s: &mut State, tab: DetailTab) -> uuid::Uuid {
    let tenant = sample::id(1);
    s.pane = Pane::Detail;
    s.detail = Some(DetailState {
        tenant,
        tab,
        data: None,
        history: None,
        audit: None,
        cursor: 0,
        loading: false,
    });
    tenant
}

#[test]
fn load_detail_asks_once_per_tab_unless_forced() {
    let mut s = st(5);
    assert_eq!(load_detail(&mut s, true), None, "no detail open");

    // History: one request in flight at a time.
    let t = with_detail(&mut s, DetailTab::History);
    s.history_loading = false;
    assert!(
        matches!(load_detail(&mut s, false), Some(Command::LoadHistory { ref tenants }) if tenants == &vec![t])
    );
    assert!(s.history_loading);
    assert_eq!(load_detail(&mut s, false), None, "already coming");
    assert!(matches!(
        load_detail(&mut s, true),
        Some(Command::LoadHistory { .. })
    ));

    // Audit: asked for until it has arrived.
    with_detail(&mut s, DetailTab::Audit);
    assert!(matches!(
        load_detail(&mut s, false),
        Some(Command::LoadAudit { tenant: Some(x), limit: 200 }) if x == t
    ));
    if let Some(d) = s.detail.as_mut() {
        d.audit = Some(Vec::new());
    }
    assert_eq!(load_detail(&mut s, false), None, "already here");
    assert!(matches!(
        load_detail(&mut s, true),
        Some(Command::LoadAudit { .. })
    ));

    // The other tabs: one LoadDetail in flight; paused keeps what it has.
    with_detail(&mut s, DetailTab::Overview);
    assert!(matches!(
        load_detail(&mut s, false),
        Some(Command::LoadDetail { tenant }) if tenant == t
    ));
    assert_eq!(
        load_detail(&mut s, true),
        None,
        "one in flight, even forced"
    );
    with_detail(&mut s, DetailTab::Tables);
    s.paused = true;
    assert!(
        load_detail(&mut s, false).is_some(),
        "paused with nothing to show still asks"
    );
    with_detail(&mut s, DetailTab::Tables);
    if let Some(d) = s.detail.as_mut() {
        d.data = Some(Arc::new(sample::detail(1)));
    }
    assert_eq!(load_detail(&mut s, false), None, "paused keeps its data");
    assert!(load_detail(&mut s, true).is_some(), "unless forced");
}

#[test]
fn clicks_outside_the_rows_do_nothing() {
    let mut s = st(30);
    one(&mut s, Action::Resize(120, 20));
    assert_eq!(s.list.cursor, 0);
    // Row 1 is the header, the last two rows the bars.
    one(&mut s, Action::Click(5, 1));
    assert_eq!(s.list.cursor, 0, "the header");
    one(&mut s, Action::Click(5, 18));
    assert_eq!(s.list.cursor, 0, "the status bar");
    one(&mut s, Action::Click(5, 19));
    assert_eq!(s.list.cursor, 0, "the message line");
    // The last tenant row (y = 17) is the 16th row.
    one(&mut s, Action::Click(5, 17));
    assert_eq!(s.list.cursor, 15);
    one(&mut s, Action::Click(5, 2));
    assert_eq!(s.list.cursor, 0, "the first row");
    one(&mut s, Action::Click(5, 6));
    assert_eq!(s.list.cursor, 4);

    // Beyond the last tenant: nothing.
    let mut few = st(3);
    one(&mut few, Action::Resize(120, 20));
    one(&mut few, Action::Click(5, 10));
    assert_eq!(few.list.cursor, 0);
    one(&mut few, Action::Click(5, 4));
    assert_eq!(few.list.cursor, 2);

    // Rows of other panes are not tenant rows.
    few.pane = Pane::Alerts;
    one(&mut few, Action::Click(5, 2));
    assert_eq!(few.list.cursor, 2);
}

#[test]
fn answers_for_another_tenant_or_request_are_dropped() {
    let mut s = st(5);
    let t = with_detail(&mut s, DetailTab::Overview);
    if let Some(d) = s.detail.as_mut() {
        d.loading = true;
    }
    // sample::detail(i) is tenant i's.
    one(
        &mut s,
        Action::Backend(Event::Detail(Arc::new(sample::detail(2)))),
    );
    let d = s.detail.as_ref().expect("detail");
    assert!(d.data.is_none(), "another tenant's detail");
    assert!(d.loading, "still waiting for its own");
    one(
        &mut s,
        Action::Backend(Event::Detail(Arc::new(sample::detail(1)))),
    );
    let d = s.detail.as_ref().expect("detail");
    assert_eq!(d.data.as_ref().map(|x| x.tenant_id), Some(t));
    assert!(!d.loading);

    // A tenant's audit reaches only its own detail.
    one(
        &mut s,
        Action::Backend(Event::Audit {
            tenant: Some(sample::id(3)),
            entries: sample::audit(4),
        }),
    );
    assert!(s.detail.as_ref().expect("detail").audit.is_none());
    one(
        &mut s,
        Action::Backend(Event::Audit {
            tenant: Some(t),
            entries: sample::audit(4),
        }),
    );
    assert_eq!(
        s.detail
            .as_ref()
            .and_then(|d| d.audit.as_ref())
            .map(Vec::len),
        Some(4)
    );
    // And the audit pane's answer leaves the detail's alone.
    s.audit_loading = true;
    one(
        &mut s,
        Action::Backend(Event::Audit {
            tenant: None,
            entries: sample::audit(2),
        }),
    );
    assert!(!s.audit_loading);
    assert_eq!(s.audit.len(), 2);
    assert_eq!(
        s.detail
            .as_ref()
            .and_then(|d| d.audit.as_ref())
            .map(Vec::len),
        Some(4)
    );
}

#[test]
fn progress_of_another_request_stays_out_of_the_wizard() {
    let mut s = st(3);
    one(&mut s, Action::New);
    let Some(Modal::Wizard(w)) = s.modal.as_mut() else {
        panic!("the wizard opens: {:?}", s.modal);
    };
    let mine = 41;
    w.request = Some(mine);
    let step = |name: &str| ProgressStep {
        name: name.into(),
        elapsed: Duration::from_millis(3),
    };
    one(
        &mut s,
        Action::Backend(Event::Progress {
            id: mine + 1,
            step: step("other"),
        }),
    );
    one(
        &mut s,
        Action::Backend(Event::Progress {
            id: mine,
            step: step("mine"),
        }),
    );
    let Some(Modal::Wizard(w)) = s.modal.as_ref() else {
        panic!("the wizard stays open");
    };
    let names: Vec<&str> = w.steps.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["mine"]);
}

#[test]
fn tab_cycles_through_completions_both_ways() {
    let mut s = st(3);
    one(&mut s, Action::CommandLine);
    // On an empty line every command is a candidate.
    let cands = super::complete(&s, "");
    assert!(cands.len() > 2, "several commands: {cands:?}");
    let value = |s: &State| match s.modal.as_ref() {
        Some(Modal::CommandLine(cl)) => cl.input.value().to_string(),
        other => panic!("the command line: {other:?}"),
    };
    one(&mut s, Action::Text(TextKey::Next));
    let first = value(&s);
    assert!(cands.contains(&first), "{first} from {cands:?}");
    one(&mut s, Action::Text(TextKey::Next));
    let second = value(&s);
    assert_ne!(second, first, "Tab moves on");
    one(&mut s, Action::Text(TextKey::Prev));
    assert_eq!(value(&s), first, "Shift-Tab moves back");
    one(&mut s, Action::Text(TextKey::Prev));
    assert_eq!(
        value(&s),
        *cands.last().expect("candidates"),
        "and wraps from the first to the last"
    );
    one(&mut s, Action::Text(TextKey::Next));
    assert_eq!(value(&s), first, "and from the last to the first");
}

#[test]
fn a_message_lasts_exactly_its_ttl_and_its_end_redraws() {
    let mut s = st(3);
    let t0 = s.now;
    super::say(&mut s, "saved");
    s.dirty = false;
    one(&mut s, Action::Tick(t0 + crate::tui::state::MESSAGE_TTL));
    assert_eq!(
        s.message.as_ref().map(|m| m.text.as_str()),
        Some("saved"),
        "still shown at its TTL"
    );
    assert!(!s.dirty, "nothing changed on screen yet");
    one(
        &mut s,
        Action::Tick(t0 + crate::tui::state::MESSAGE_TTL + chrono::TimeDelta::milliseconds(1)),
    );
    assert!(s.message.is_none(), "gone after its TTL");
    assert!(s.dirty, "its end is drawn");
}

#[test]
fn a_tick_redraws_each_new_second_only_while_something_animates() {
    use crate::tui::state::Connection;
    let second = |s: &State| s.now.timestamp();
    // Connected, nothing pending: a new second changes nothing on screen.
    let mut s = st(3);
    assert!(matches!(s.connection, Connection::Connected { .. }));
    assert!(s.pending.is_empty());
    s.dirty = false;
    let next = s.now + chrono::TimeDelta::seconds(1);
    one(&mut s, Action::Tick(next));
    assert!(
        !s.dirty,
        "a connected, idle console does not redraw per second"
    );
    // Connecting: the spinner moves once a second, not between.
    s.connection = Connection::Connecting;
    let start = s.now;
    let same_second = chrono::DateTime::from_timestamp(second(&s), 900_000_000).expect("time");
    assert!(same_second >= start);
    one(&mut s, Action::Tick(same_second));
    assert!(!s.dirty, "the same second again does not redraw");
    one(
        &mut s,
        Action::Tick(same_second + chrono::TimeDelta::milliseconds(200)),
    );
    assert!(s.dirty, "a new second while connecting redraws");
    // Connected with a request in flight: its spinner moves too.
    let mut s = st(3);
    s.pending.insert(
        7,
        crate::tui::state::Pending {
            what: "suspending acme".into(),
            since: s.now,
        },
    );
    s.dirty = false;
    let next = s.now + chrono::TimeDelta::seconds(1);
    one(&mut s, Action::Tick(next));
    assert!(s.dirty, "a pending request redraws each new second");
}

#[test]
fn each_console_command_parses_to_its_own_request() {
    use super::command::{ConsoleCommand as C, parse_command};
    let tenant = |r: Result<C, String>| match r {
        Ok(C::Suspend(t)) => ("suspend", t),
        Ok(C::Resume(t)) => ("resume", t),
        Ok(C::Delete(t)) => ("delete", t),
        other => panic!("not a tenant command: {other:?}"),
    };
    assert_eq!(
        tenant(parse_command("suspend acme")),
        ("suspend", "acme".into())
    );
    assert_eq!(
        tenant(parse_command("resume acme")),
        ("resume", "acme".into())
    );
    assert_eq!(
        tenant(parse_command("delete  acme ")),
        ("delete", "acme".into())
    );
    assert!(matches!(parse_command("pause"), Ok(C::Pause)));
    assert!(matches!(parse_command("help"), Ok(C::Help)));
    assert!(matches!(parse_command("create"), Ok(C::Create)));
    assert!(matches!(parse_command("q"), Ok(C::Quit)));
    // A unique prefix is enough; a shared one is refused with the choices.
    assert!(matches!(parse_command("pau"), Ok(C::Pause)));
    let err = parse_command("m").expect_err("ambiguous");
    assert!(err.contains("is ambiguous"), "{err}");
    assert!(err.contains("monitor"), "{err}");
    assert_eq!(
        parse_command("resume").expect_err("no tenant"),
        ":resume needs a tenant: name, domain or id"
    );
}

#[test]
fn pane_tabs_cycle_both_ways_and_wrap() {
    let mut s = st(3);
    assert_eq!(s.pane, Pane::Tenants);
    let mut back = Vec::new();
    for _ in 0..Pane::TABS.len() {
        one(&mut s, Action::PrevPane);
        back.push(s.pane);
    }
    assert_eq!(
        back,
        vec![Pane::Alerts, Pane::Audit, Pane::Monitor, Pane::Tenants],
        "backwards from the first tab wraps to the last"
    );
    let mut forth = Vec::new();
    for _ in 0..Pane::TABS.len() {
        one(&mut s, Action::NextPane);
        forth.push(s.pane);
    }
    assert_eq!(
        forth,
        vec![Pane::Monitor, Pane::Audit, Pane::Alerts, Pane::Tenants]
    );
}

#[test]
fn refresh_asks_for_what_the_pane_shows() {
    let mut s = st(3);
    s.pane = Pane::Audit;
    assert!(matches!(
        one(&mut s, Action::Refresh),
        Some(Command::LoadAudit { .. })
    ));
    s.pane = Pane::Migrations;
    assert!(matches!(
        one(&mut s, Action::Refresh),
        Some(Command::LoadMigrations { .. })
    ));
    let mut s = st(3);
    with_detail(&mut s, DetailTab::Overview);
    assert!(matches!(
        one(&mut s, Action::Refresh),
        Some(Command::LoadDetail { .. })
    ));
    let mut s = st(3);
    assert!(matches!(
        one(&mut s, Action::Refresh),
        Some(Command::RefreshNow)
    ));
}

#[test]
fn filter_from_another_pane_goes_to_the_list_and_back_keeps_other_panes_filters() {
    let mut s = st(3);
    with_detail(&mut s, DetailTab::Overview);
    one(&mut s, Action::Filter);
    assert_eq!(s.pane, Pane::Tenants);
    assert!(s.detail.is_none(), "the detail closes");
    assert!(matches!(s.modal, Some(Modal::Filter { .. })));
    // Back on another pane leaves the list's filter alone.
    let mut s = st(3);
    s.list.filter.text = "acme".into();
    s.pane = Pane::Audit;
    s.message = None;
    one(&mut s, Action::Back);
    assert_eq!(s.list.filter.text, "acme");
}

#[test]
fn time_keys_step_through_history_only_while_paused() {
    let mut s = st(3);
    assert!(!s.paused);
    s.message = None;
    one(&mut s, Action::PrevTab);
    assert_eq!(s.views.time_back, 0, "live: no time travel");
    assert!(
        !s.message
            .as_ref()
            .is_some_and(|m| m.text.contains("time travel")),
        "live, the tab keys are not time keys: {:?}",
        s.message.as_ref().map(|m| &m.text)
    );
    // Paused, they are.
    one(&mut s, Action::Pause);
    assert!(s.paused);
    one(&mut s, Action::PrevTab);
    assert_eq!(s.views.time_back, 1, "paused, PrevTab steps back in time");
}

#[test]
fn the_monitor_ranks_the_top_tenants_highest_first_and_its_cursor_follows_one() {
    let mut s = st(40);
    let view = s.view.clone().expect("a snapshot");
    assert!(view.tenants.len() > super::MONITOR_TOP);
    // Independently: every tenant by calls/s, highest first, ties by id.
    let mut all: Vec<(f64, uuid::Uuid)> = view
        .tenants
        .iter()
        .map(|(id, m)| (m.calls_per_s.unwrap_or(0.0), *id))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let want: Vec<uuid::Uuid> = all.iter().take(super::MONITOR_TOP).map(|x| x.1).collect();
    assert!(
        all[0].0 > all[super::MONITOR_TOP].0,
        "the sample has a spread"
    );
    super::recompute_monitor(&mut s);
    assert_eq!(s.monitor_top, want);
    // The cursor stays on its tenant when the ranking moves it.
    s.monitor_cursor = 3;
    let followed = s.monitor_top[3];
    let mut snap = (*view).clone();
    let mut list: Vec<_> = snap.tenants.iter().map(|(_, m)| m.clone()).collect();
    for m in &mut list {
        if m.tenant_id == followed {
            m.calls_per_s = Some(1e12);
        }
    }
    snap.tenants = list.into_iter().collect();
    s.view = Some(Arc::new(snap));
    super::recompute_monitor(&mut s);
    assert_eq!(s.monitor_top[0], followed);
    assert_eq!(
        s.monitor_cursor, 0,
        "the cursor followed its tenant to the top"
    );
}

#[test]
fn arguments_complete_per_command() {
    let mut s = st(3);
    s.clusters = vec![("prod".into(), true), ("staging".into(), false)];
    assert_eq!(super::complete(&s, "cluster st"), vec!["cluster staging"]);
    assert_eq!(
        super::complete(&s, "window "),
        vec!["window 1", "window 15", "window 5", "window 60"]
    );
    assert_eq!(
        super::complete(&s, "migrate "),
        vec!["migrate cancel", "migrate pause", "migrate resume"]
    );
    let n = super::complete(&s, "neighbours ");
    assert!(
        !n.is_empty() && n.iter().all(|c| c.starts_with("neighbours ")),
        "{n:?}"
    );
    assert!(
        super::complete(&s, "quit x").is_empty(),
        "no argument to complete"
    );
}

#[test]
fn tab_extends_to_the_common_prefix_then_cycles_and_says_when_nothing_fits() {
    let mut s = st(3);
    s.clusters = vec![("prod-eu".into(), true), ("prod-us".into(), true)];
    let value = |s: &State| match s.modal.as_ref() {
        Some(Modal::CommandLine(cl)) => (cl.input.value().to_string(), cl.error.clone()),
        other => panic!("the command line: {other:?}"),
    };
    one(&mut s, Action::CommandLine);
    for c in "cluster p".chars() {
        one(&mut s, Action::Text(TextKey::Char(c)));
    }
    one(&mut s, Action::Text(TextKey::Next));
    assert_eq!(value(&s).0, "cluster prod-", "first the shared prefix");
    one(&mut s, Action::Text(TextKey::Next));
    assert_eq!(value(&s).0, "cluster prod-eu", "then the candidates");
    one(&mut s, Action::Text(TextKey::Next));
    assert_eq!(value(&s).0, "cluster prod-us");
    // One candidate: taken whole.
    let mut s = st(3);
    s.clusters = vec![("prod-eu".into(), true)];
    one(&mut s, Action::CommandLine);
    for c in "cluster p".chars() {
        one(&mut s, Action::Text(TextKey::Char(c)));
    }
    one(&mut s, Action::Text(TextKey::Next));
    assert_eq!(value(&s), ("cluster prod-eu".to_string(), None));
    // None: said so.
    for c in "zz".chars() {
        one(&mut s, Action::Text(TextKey::Char(c)));
    }
    one(&mut s, Action::Text(TextKey::Next));
    assert_eq!(value(&s).1.as_deref(), Some("no completion"));
}

#[test]
fn resume_by_command_asks_to_resume_that_tenant() {
    let mut s = st(10);
    let suspended = s.tenants[3].clone();
    assert_eq!(
        suspended.status,
        crate::domain::tenant::TenantStatus::Suspended
    );
    one(&mut s, Action::CommandLine);
    for c in format!("resume {}", suspended.name).chars() {
        one(&mut s, Action::Text(TextKey::Char(c)));
    }
    one(&mut s, Action::Text(TextKey::Submit));
    match &s.modal {
        Some(Modal::Confirm(c)) => assert_eq!(
            c.kind,
            crate::tui::state::ConfirmKind::Resume {
                tenant: suspended.id
            }
        ),
        other => panic!("a resume question: {other:?}"),
    }
}

#[test]
fn a_reconnect_reloads_the_pane_on_screen() {
    let connected = || Event::Connected {
        cluster: "prod".into(),
        endpoint: "db1.internal:5432".into(),
        server_version: "16".into(),
        read_only: false,
    };
    let mut s = st(3);
    s.pane = Pane::Audit;
    let cmds = update(&mut s, Action::Backend(connected()));
    assert!(
        cmds.iter().any(|c| matches!(c, Command::LoadAudit { .. })),
        "{cmds:?}"
    );
    let mut s = st(3);
    s.pane = Pane::Migrations;
    s.migrations.loading = true;
    let cmds = update(&mut s, Action::Backend(connected()));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::LoadMigrations { .. })),
        "a load cut off by the loss is asked again: {cmds:?}"
    );
}

#[test]
fn a_snapshot_on_the_monitor_reranks_and_asks_for_the_history() {
    let mut s = st(20);
    s.pane = Pane::Monitor;
    s.history_loading = false;
    s.monitor_top.clear();
    let cmds = update(
        &mut s,
        Action::Backend(Event::Snapshot(Arc::new(sample::snapshot(20, 99)))),
    );
    assert!(!s.monitor_top.is_empty(), "ranked");
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::LoadHistory { .. })),
        "{cmds:?}"
    );
}

#[test]
fn answers_touch_only_the_form_that_asked() {
    use crate::tui::state::WizardStep;
    let done = |id| Event::Done {
        id,
        message: "done".into(),
        tenant: None,
    };
    let failed = |id| Event::Failed {
        id,
        error: crate::Error::conflict("refused"),
    };
    let wizard_step = |s: &State| match &s.modal {
        Some(Modal::Wizard(w)) => w.step,
        other => panic!("the wizard: {other:?}"),
    };
    for answer in [done as fn(u64) -> Event, failed] {
        let mut s = st(3);
        one(&mut s, Action::New);
        if let Some(Modal::Wizard(w)) = s.modal.as_mut() {
            w.request = Some(5);
        }
        let before = wizard_step(&s);
        assert_ne!(before, WizardStep::Result);
        update(&mut s, Action::Backend(answer(6)));
        assert_eq!(wizard_step(&s), before, "another request's answer");
        update(&mut s, Action::Backend(answer(5)));
        assert_eq!(wizard_step(&s), WizardStep::Result, "its own answer");
    }
    // The edit form: closed by its own success, kept (with the error) by
    // its own failure, untouched by others'.
    let mut s = st(3);
    one(&mut s, Action::Edit);
    let set = |s: &mut State, id| {
        if let Some(Modal::Edit(e)) = s.modal.as_mut() {
            e.request = Some(id);
        }
    };
    set(&mut s, 5);
    update(&mut s, Action::Backend(failed(6)));
    assert!(
        matches!(&s.modal, Some(Modal::Edit(e)) if e.request == Some(5) && e.fields.iter().all(|f| f.error.is_none())),
        "another request's failure"
    );
    update(&mut s, Action::Backend(done(6)));
    assert!(
        matches!(s.modal, Some(Modal::Edit(_))),
        "another request's success"
    );
    update(&mut s, Action::Backend(failed(5)));
    assert!(
        matches!(&s.modal, Some(Modal::Edit(e)) if e.request.is_none() && e.fields.iter().any(|f| f.error.is_some())),
        "its own failure stays on the form"
    );
    set(&mut s, 7);
    update(&mut s, Action::Backend(done(7)));
    assert!(s.modal.is_none(), "its own success closes it");
}

#[test]
fn history_answers_reach_the_open_detail_only_for_its_tenant() {
    let mut s = st(3);
    let t = with_detail(&mut s, DetailTab::History);
    let other = crate::domain::metrics::History {
        tenant_id: Some(sample::id(2)),
        ..Default::default()
    };
    let mine = crate::domain::metrics::History {
        tenant_id: Some(t),
        ..Default::default()
    };
    update(&mut s, Action::Backend(Event::History(vec![other])));
    assert!(s.detail.as_ref().is_some_and(|d| d.history.is_none()));
    update(&mut s, Action::Backend(Event::History(vec![mine])));
    assert!(
        s.detail
            .as_ref()
            .and_then(|d| d.history.as_ref())
            .is_some_and(|h| h.tenant_id == Some(t))
    );
}

#[test]
fn the_help_pager_scrolls_by_line_and_page_and_returns_to_the_top() {
    let mut s = st(3);
    one(&mut s, Action::Help);
    let scroll = |s: &State| match s.modal {
        Some(Modal::Help { scroll }) => scroll,
        ref other => panic!("help: {other:?}"),
    };
    assert_eq!(scroll(&s), 0);
    one(&mut s, Action::Down);
    one(&mut s, Action::Down);
    assert_eq!(scroll(&s), 2);
    one(&mut s, Action::Up);
    assert_eq!(scroll(&s), 1);
    one(&mut s, Action::PageDown);
    assert_eq!(scroll(&s), 11);
    one(&mut s, Action::PageUp);
    assert_eq!(scroll(&s), 1);
    one(&mut s, Action::PageUp);
    assert_eq!(scroll(&s), 0, "not above the top");
    one(&mut s, Action::PageDown);
    one(&mut s, Action::Top);
    assert_eq!(scroll(&s), 0);
    for _ in 0..1000 {
        one(&mut s, Action::Down);
    }
    let bottom = scroll(&s);
    assert_eq!(bottom, s.keymap.help_rows().len() + 12, "stops at the end");
}

#[test]
fn the_edit_form_cycles_its_fields_and_sends_only_what_changed() {
    let mut s = st(3);
    one(&mut s, Action::Edit);
    let focus = |s: &State| match &s.modal {
        Some(Modal::Edit(e)) => e.focus,
        other => panic!("the edit form: {other:?}"),
    };
    one(&mut s, Action::Text(TextKey::Prev));
    assert_eq!(focus(&s), 4, "back from the first field wraps to the last");
    one(&mut s, Action::Text(TextKey::Next));
    assert_eq!(focus(&s), 0);
    one(&mut s, Action::Text(TextKey::Next));
    assert_eq!(focus(&s), 1);
    // Nothing changed: nothing sent.
    assert!(one(&mut s, Action::Text(TextKey::Submit)).is_none());
    // What Submit sends after setting some fields of a fresh form.
    let sent = |set: &[(usize, &str)]| {
        let mut s = st(3);
        one(&mut s, Action::Edit);
        if let Some(Modal::Edit(e)) = s.modal.as_mut() {
            for (i, v) in set {
                e.fields[*i] = crate::tui::state::Field::new(v);
            }
        }
        match one(&mut s, Action::Text(TextKey::Submit)) {
            Some(Command::Update { update, .. }) => update,
            other => panic!("an update: {other:?}"),
        }
    };
    // Emptied statement timeout and quota (fields 2 and 3): both limits
    // are removed, nothing else is sent.
    assert_eq!(
        sent(&[(2, ""), (3, "")]),
        crate::domain::tenant::TenantUpdate {
            clear_statement_timeout: true,
            clear_storage_quota: true,
            ..Default::default()
        }
    );
    // A new timeout and quota: set, not cleared, and nothing else.
    assert_eq!(
        sent(&[(2, "45s"), (3, "2GB")]),
        crate::domain::tenant::TenantUpdate {
            statement_timeout: Some(Duration::from_secs(45)),
            storage_quota_bytes: Some(2 << 30),
            ..Default::default()
        }
    );
    // A new name and connection limit: exactly those.
    assert_eq!(
        sent(&[(0, "Renamed Desk"), (1, "7")]),
        crate::domain::tenant::TenantUpdate {
            name: Some("Renamed Desk".into()),
            connection_limit: Some(7),
            ..Default::default()
        }
    );
}

#[test]
fn the_wizard_cycles_its_limit_fields_and_keeps_its_template_cursor_in_the_list() {
    use crate::tui::state::WizardStep;
    fn wizard(s: &mut State) -> &mut crate::tui::state::Wizard {
        match s.modal.as_mut() {
            Some(Modal::Wizard(w)) => w,
            other => panic!("the wizard: {other:?}"),
        }
    }
    let mut s = st(3);
    one(&mut s, Action::New);
    wizard(&mut s).step = WizardStep::Limits;
    wizard(&mut s).limit_focus = 0;
    one(&mut s, Action::Text(TextKey::Up));
    assert_eq!(wizard(&mut s).limit_focus, 2, "up from the first wraps");
    one(&mut s, Action::Text(TextKey::Next));
    assert_eq!(wizard(&mut s).limit_focus, 0, "on from the last wraps");
    one(&mut s, Action::Text(TextKey::Down));
    assert_eq!(wizard(&mut s).limit_focus, 1);
    one(&mut s, Action::Text(TextKey::Up));
    assert_eq!(wizard(&mut s).limit_focus, 0);

    let templates = sample::templates();
    let n = templates.len();
    assert!(n >= 2, "the sample offers a choice");
    wizard(&mut s).templates = Some(templates);
    wizard(&mut s).step = WizardStep::Template;
    wizard(&mut s).template_cursor = 0;
    for _ in 0..n + 2 {
        one(&mut s, Action::Text(TextKey::Down));
    }
    assert_eq!(wizard(&mut s).template_cursor, n - 1, "stops at the last");
    one(&mut s, Action::Text(TextKey::Up));
    assert_eq!(wizard(&mut s).template_cursor, n - 2);
}

#[test]
fn detail_tabs_cycle_both_ways_wrap_and_reset_the_cursor() {
    let mut s = st(5);
    with_detail(&mut s, DetailTab::Overview);
    let tab = |s: &State| s.detail.as_ref().map(|d| (d.tab, d.cursor));
    if let Some(d) = s.detail.as_mut() {
        d.cursor = 3;
    }
    one(&mut s, Action::PrevTab);
    assert_eq!(
        tab(&s),
        Some((DetailTab::Audit, 0)),
        "back from the first wraps to the last"
    );
    one(&mut s, Action::PrevTab);
    assert_eq!(tab(&s), Some((DetailTab::History, 0)));
    one(&mut s, Action::NextTab);
    one(&mut s, Action::NextTab);
    assert_eq!(
        tab(&s),
        Some((DetailTab::Overview, 0)),
        "on from the last wraps to the first"
    );
    one(&mut s, Action::NextTab);
    assert_eq!(tab(&s), Some((DetailTab::Tables, 0)));
}

#[test]
fn the_detail_pane_edits_suspends_and_deletes_its_own_tenant() {
    let mut s = st(5);
    // Tenant 3 of the sample is suspended; the list's selection is elsewhere.
    s.list.selected = Some(sample::id(0));
    with_detail(&mut s, DetailTab::Overview);
    assert_eq!(one(&mut s, Action::Edit), None);
    assert!(
        matches!(&s.modal, Some(Modal::Edit(f)) if f.tenant == sample::id(1)),
        "{:?}",
        s.modal.is_some()
    );
    s.modal = None;
    assert_eq!(one(&mut s, Action::Delete), None);
    assert!(s.modal.is_none(), "an active tenant is not deleted");
    assert!(
        s.message
            .as_ref()
            .is_some_and(|m| m.error && m.text.contains("suspend it first")),
        "{:?}",
        s.message
    );
    if let Some(d) = s.detail.as_mut() {
        d.tenant = sample::id(3);
    }
    assert_eq!(one(&mut s, Action::Delete), None);
    assert!(matches!(
        &s.modal,
        Some(Modal::Confirm(c)) if matches!(c.kind, crate::tui::state::ConfirmKind::Delete { tenant, .. } if tenant == sample::id(3))
    ));
}

#[test]
fn open_in_the_alerts_pane_opens_the_alerts_tenant() {
    let mut s = st(8);
    s.pane = Pane::Alerts;
    let first = s.alerts.first().and_then(|a| a.tenant_id);
    assert!(first.is_some(), "the sample's first alert names a tenant");
    let cmd = one(&mut s, Action::Open);
    assert_eq!(s.pane, Pane::Detail);
    assert_eq!(s.detail.as_ref().map(|d| d.tenant), first);
    assert!(
        matches!(cmd, Some(Command::LoadDetail { tenant }) if Some(tenant) == first),
        "{cmd:?}"
    );
    // The cursor moves over the alerts, and stops at the last.
    s.pane = Pane::Alerts;
    s.alerts_cursor = 0;
    one(&mut s, Action::Down);
    one(&mut s, Action::Down);
    assert_eq!(s.alerts_cursor, s.alerts.len() - 1);
}

#[test]
fn heat_map_pages_move_by_a_screen_and_top_goes_home() {
    let mut s = st(3000);
    s.size = (80, 24);
    s.pane = Pane::Heatmap;
    super::views::recompute_views(&mut s);
    assert_eq!(s.views.heat.order.len(), 3000, "every tenant has a cell");
    let cursor = |s: &State| s.views.heat.cursor;
    one(&mut s, Action::Down);
    let line = cursor(&s);
    assert!(line > 0, "down moves a line");
    one(&mut s, Action::Top);
    assert_eq!(cursor(&s), 0);
    one(&mut s, Action::PageDown);
    let page = cursor(&s);
    assert!(
        page > 5 * line,
        "a page is many lines: {page} vs a line of {line}"
    );
    one(&mut s, Action::PageDown);
    let two = cursor(&s);
    assert!(two > page);
    one(&mut s, Action::PageUp);
    assert!(cursor(&s) < two, "a page up goes up");
    assert!(cursor(&s) + 5 * line < two, "by many lines");
    one(&mut s, Action::Bottom);
    assert_eq!(cursor(&s), 2999);
    one(&mut s, Action::Top);
    assert_eq!(cursor(&s), 0);
}

#[test]
fn a_new_tenant_list_of_the_same_length_regroups_the_heat_map() {
    let mut s = st(20);
    s.pane = Pane::Heatmap;
    super::views::recompute_views(&mut s);
    let before = s.views.heat.order.clone();
    // The same tenants, one renamed to sort first in its group.
    let mut list: Vec<_> = s.tenants.as_ref().clone();
    let renamed = before.last().copied().expect("a cell");
    if let Some(t) = list.iter_mut().find(|t| t.id == renamed) {
        t.name = "!first".into();
    }
    s.tenants = Arc::new(list);
    super::views::recompute_views(&mut s);
    assert_eq!(s.views.heat.order.len(), before.len());
    assert_ne!(s.views.heat.order, before, "regrouped from the new list");
}

#[test]
fn esc_clears_the_filter_in_the_list_only() {
    let mut s = st(10);
    super::set_filter(&mut s, "acme");
    assert_eq!(s.list.filter.text, "acme");
    s.message = None;
    s.pane = Pane::Alerts;
    one(&mut s, Action::Back);
    assert_eq!(
        s.list.filter.text, "acme",
        "another pane keeps the list's filter"
    );
    s.pane = Pane::Tenants;
    s.message = None;
    one(&mut s, Action::Back);
    assert_eq!(s.list.filter.text, "", "the list's Esc clears it");
}

#[test]
fn only_the_template_version_reason_counts_as_behind() {
    use super::panes::is_version_behind;
    assert!(is_version_behind("template version 1 behind latest 3"));
    assert!(!is_version_behind("waits behind tenant 4's lock"));
    assert!(!is_version_behind("template version unknown"));
}
