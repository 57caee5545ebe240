//! Pane snapshots with ratatui's TestBackend (insta), every size from 1×1 to
//! 100×40 without a panic, and hostile strings rendered harmlessly.

use std::sync::Arc;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use tenantctl::backend::{Event, ProgressStep};
use tenantctl::config::ThemeName;
use tenantctl::tui::sample;
use tenantctl::tui::state::State;
use tenantctl::tui::{Action, TextKey, ui, update};

fn render(state: &State, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    term.draw(|f| ui::draw(f, state)).expect("draw");
    term.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn st(n: usize) -> State {
    sample::state(n, ThemeName::Dark)
}

fn at(mut s: State, w: u16, h: u16) -> State {
    update(&mut s, Action::Resize(w, h));
    s
}

fn ev(s: &mut State, e: Event) {
    let _ = update(s, Action::Backend(e));
}

fn typ(s: &mut State, t: &str) {
    for c in t.chars() {
        update(s, Action::Text(TextKey::Char(c)));
    }
}

fn snap(name: &str, s: &State) {
    for (w, h) in [(80, 24), (160, 48)] {
        let s = at(s.clone(), w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text(&render(&s, w, h)));
    }
}

fn detail(tab_steps: usize) -> State {
    let mut s = st(30);
    update(&mut s, Action::Open);
    assert_eq!(s.list.selected, Some(sample::id(0)));
    ev(&mut s, Event::Detail(Arc::new(sample::detail(0))));
    ev(
        &mut s,
        Event::History(vec![
            sample::history(Some(sample::id(0)), 1),
            sample::history(None, 0),
        ]),
    );
    ev(
        &mut s,
        Event::Audit {
            tenant: Some(sample::id(0)),
            entries: sample::audit(6),
        },
    );
    for _ in 0..tab_steps {
        update(&mut s, Action::NextTab);
    }
    s.message = None;
    s
}

#[test]
fn tenant_list() {
    snap("tenant_list", &st(60));
    let mut s = st(60);
    update(&mut s, Action::CommandLine);
    let mut line = s.clone();
    typ(&mut line, "s");
    snap("command_line_completions", &line);
    update(&mut s, Action::Text(TextKey::Cancel));
    update(&mut s, Action::Filter);
    typ(&mut s, "status=susp");
    snap("tenant_list_filtering", &s);
}

#[test]
fn tenant_list_empty_and_waiting() {
    let mut config = tenantctl::config::Config::for_url("host=/x");
    config.cluster_name = "prod".into();
    let s = State::new(
        &config,
        tenantctl::tui::keymap::Keymap::default(),
        sample::t0(),
    );
    snap("waiting", &s);
}

#[test]
fn detail_tabs() {
    for (i, name) in [
        "overview",
        "tables",
        "sessions",
        "statements",
        "history",
        "audit",
    ]
    .iter()
    .enumerate()
    {
        snap(&format!("detail_{name}"), &detail(i));
    }
}

#[test]
fn detail_tables_with_hypertables() {
    // Two hypertables among plain tables: the wide size gets a CHUNKS
    // column, both sizes a line about the selected one (its chunks, the
    // time they cover, its size with them).
    let mut s = st(30);
    update(&mut s, Action::Open);
    let mut d = sample::detail(0);
    for (k, t) in d.tables.iter_mut().enumerate() {
        if t.name == "trades" || t.name == "market_data" {
            t.hypertable = Some(tenantctl::domain::metrics::HypertableDetail {
                time_column: "timestamp".into(),
                chunks: 12 + u32::try_from(k).expect("small"),
                range_start: Some(sample::t0() - chrono::TimeDelta::days(12)),
                range_end: Some(sample::t0() + chrono::TimeDelta::days(1)),
                total_bytes: t.total_bytes,
            });
        }
    }
    ev(&mut s, Event::Detail(Arc::new(d)));
    update(&mut s, Action::NextTab);
    s.message = None;
    snap("detail_tables_hypertables_plain_row", &s);
    update(&mut s, Action::Down);
    update(&mut s, Action::Down);
    snap("detail_tables_hypertables", &s);
}

#[test]
fn monitor_audit_alerts() {
    let mut s = st(60);
    update(&mut s, Action::NextPane);
    let top = s.monitor_top.clone();
    ev(
        &mut s,
        Event::History(
            top.iter()
                .enumerate()
                .map(|(k, id)| sample::history(Some(*id), k))
                .chain([sample::history(None, 0)])
                .collect(),
        ),
    );
    s.message = None;
    snap("monitor", &s);
    update(&mut s, Action::NextPane);
    ev(
        &mut s,
        Event::Audit {
            tenant: None,
            entries: sample::audit(30),
        },
    );
    snap("audit", &s);
    update(&mut s, Action::NextPane);
    snap("alerts", &s);
}

/// The monitoring views with fixed data: Neighbours, Locks, the heat map
/// (2,000 tenants, and in mono), and the charts at every window.
#[test]
#[allow(clippy::many_single_char_names)] // reason: one short name per view state, as the other snapshot tests
fn monitoring_views() {
    let mut s = st(60);
    update(
        &mut s,
        Action::View(tenantctl::tui::state::Pane::Neighbours),
    );
    s.message = None;
    snap("neighbours", &s);
    update(&mut s, Action::View(tenantctl::tui::state::Pane::Locks));
    update(&mut s, Action::Down);
    snap("locks", &s);
    let mut h = st(2_000);
    update(&mut h, Action::View(tenantctl::tui::state::Pane::Heatmap));
    for _ in 0..3 {
        update(&mut h, Action::Down);
    }
    update(&mut h, Action::NextTab);
    h.message = None;
    snap("heatmap_2000", &h);
    let mut m = sample::state(300, ThemeName::Mono);
    update(&mut m, Action::View(tenantctl::tui::state::Pane::Heatmap));
    update(&mut m, Action::SortColumn);
    update(&mut m, Action::SortDirection);
    m.message = None;
    snap("heatmap_mono_by_status", &m);
    // The monitor's charts over a 1-minute window.
    let mut c = st(60);
    update(&mut c, Action::View(tenantctl::tui::state::Pane::Monitor));
    ev(&mut c, Event::History(vec![sample::history(None, 3)]));
    update(&mut c, Action::Window);
    c.message = None;
    snap("monitor_charts_1min", &c);
    // Paused and two points back: the status bar says when.
    let mut p = c.clone();
    update(&mut p, Action::Pause);
    update(&mut p, Action::TimeBack);
    let mut old = sample::snapshot(60, 0);
    old.taken_at -= chrono::TimeDelta::seconds(20);
    ev(
        &mut p,
        Event::At {
            back: 1,
            snapshot: Some(Arc::new(old)),
        },
    );
    p.message = None;
    snap("monitor_time_travel", &p);
    for (w, h) in [(200, 60)] {
        let c = at(c.clone(), w, h);
        insta::assert_snapshot!(
            format!("monitor_charts_1min_{w}x{h}"),
            text(&render(&c, w, h))
        );
    }
}

#[test]
fn help_overlay() {
    let mut s = st(20);
    update(&mut s, Action::Help);
    snap("help", &s);
}

#[test]
fn wizard_steps() {
    let mut s = st(12);
    update(&mut s, Action::New);
    ev(&mut s, Event::Templates(sample::templates()));
    typ(&mut s, "Nova Desk");
    snap("wizard_name", &s);
    update(&mut s, Action::Text(TextKey::Submit));
    typ(&mut s, "nova_desk");
    snap("wizard_domain_error", &s);
    update(&mut s, Action::Text(TextKey::Clear));
    typ(&mut s, "nova.example");
    update(&mut s, Action::Text(TextKey::Submit));
    snap("wizard_template", &s);
    update(&mut s, Action::Text(TextKey::Submit));
    snap("wizard_limits", &s);
    update(&mut s, Action::Text(TextKey::Submit));
    update(&mut s, Action::Text(TextKey::Submit));
    snap("wizard_review", &s);
    let cmds = update(&mut s, Action::Text(TextKey::Submit));
    let [tenantctl::backend::Command::Create { id, .. }] = cmds.as_slice() else {
        panic!("create")
    };
    let id = *id;
    // Each step carries its own duration, as provisioning reports it.
    for (name, ms) in [
        ("insert tenant row", 4),
        ("create role", 5),
        ("create schema", 6),
        ("template: 5 tables", 125),
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
    snap("wizard_progress", &s);
    let mut t = sample::tenants(13).pop().expect("t");
    t.name = "Nova Desk".into();
    t.domain = "nova.example".into();
    ev(
        &mut s,
        Event::Done {
            id,
            message: "created Nova Desk in 168 ms".into(),
            tenant: Some(Box::new(t)),
        },
    );
    snap("wizard_result", &s);
}

#[test]
fn confirmations_and_states() {
    let mut s = st(20);
    update(&mut s, Action::SuspendResume);
    snap("confirm_suspend", &s);
    let mut s = st(20);
    update(&mut s, Action::CommandLine);
    typ(&mut s, "filter status=suspended");
    update(&mut s, Action::Text(TextKey::Submit));
    update(&mut s, Action::Delete);
    typ(&mut s, "delta");
    snap("confirm_delete", &s);
    // disconnected, paused, read-only in the status bar
    let mut s = st(20);
    ev(
        &mut s,
        Event::Disconnected {
            error: "connection refused".into(),
            retry_in: Duration::from_secs(4),
        },
    );
    update(&mut s, Action::Pause);
    s.config_read_only = true;
    s.message = None;
    snap("status_disconnected_paused_read_only", &s);
}

#[test]
fn mono_and_light_themes_render() {
    for theme in [ThemeName::Light, ThemeName::Mono] {
        let s = at(sample::state(20, theme), 80, 24);
        let buf = render(&s, 80, 24);
        assert!(text(&buf).contains("Acme Capital"));
    }
    let mono = render(&at(sample::state(20, ThemeName::Mono), 80, 24), 80, 24);
    assert!(!mono.content().is_empty());
    for cell in mono.content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "mono uses no colour");
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "mono uses no colour");
    }
    let light = render(&at(sample::state(20, ThemeName::Light), 80, 24), 80, 24);
    assert!(
        light
            .content()
            .iter()
            .any(|c| c.fg != ratatui::style::Color::Reset),
        "the light theme has colour"
    );
}

#[test]
fn too_small_says_so() {
    let s = at(st(5), 30, 6);
    let t = text(&render(&s, 30, 6));
    assert!(t.contains("terminal too"), "{t}");
    insta::assert_snapshot!("too_small_30x6", t);
}

#[test]
fn every_size_draws_without_panic() {
    let mut states = vec![st(50), detail(0), detail(2), detail(4)];
    let mut s = st(50);
    update(&mut s, Action::New);
    ev(&mut s, Event::Templates(sample::templates()));
    states.push(s.clone());
    update(&mut s, Action::Text(TextKey::Cancel));
    update(&mut s, Action::Help);
    states.push(s);
    let mut s = st(50);
    update(&mut s, Action::NextPane);
    states.push(s.clone());
    update(&mut s, Action::NextPane);
    ev(
        &mut s,
        Event::Audit {
            tenant: None,
            entries: sample::audit(10),
        },
    );
    states.push(s.clone());
    update(&mut s, Action::NextPane);
    states.push(s);
    let mut s = st(50);
    update(&mut s, Action::CommandLine);
    typ(&mut s, "suspend ");
    states.push(s);
    for base in &states {
        for w in (1..=100).step_by(3) {
            for h in (1..=40).step_by(3) {
                let s = at(base.clone(), w, h);
                let _ = render(&s, w, h);
            }
        }
        let s = at(base.clone(), 1, 1);
        let _ = render(&s, 1, 1);
    }
}

#[test]
fn hostile_strings_render_harmlessly() {
    let mut s = st(5);
    let mut list = sample::tenants(5);
    // A bidi override (which ratatui passes through), ESC and BEL.
    list[0].name = "\u{202e}ev\u{1b}[2Jil\u{7}".into();
    list[0].domain = "evil.example".into();
    list[2].name = "\u{1b}[2J\u{1b}]0;pwned\u{7}evil\u{9b}31m".into();
    list[1].created_by = "x\u{1b}[31m".into();
    ev(&mut s, Event::Tenants(Arc::new(list)));
    ev(&mut s, Event::Notice("bad \u{1b}[2J\u{202e} notice".into()));
    // The tenant list shows each neutralised character as a visible `?`.
    let first = text(&render(&at(s.clone(), 160, 48), 160, 48));
    assert!(first.contains("?ev?[2Jil?"), "{first}");
    assert!(first.contains("bad ?[2J? notice"), "{first}");
    for _pane in 0..4 {
        for (w, h) in [(80, 24), (160, 48)] {
            let s2 = at(s.clone(), w, h);
            let buf = render(&s2, w, h);
            assert!(!buf.content().is_empty());
            for cell in buf.content() {
                assert!(
                    !cell.symbol().chars().any(|c| c.is_control()
                        || ('\u{202a}'..='\u{202e}').contains(&c)
                        || ('\u{2066}'..='\u{2069}').contains(&c)),
                    "control or bidi char in {:?}",
                    cell.symbol()
                );
            }
        }
        update(&mut s, Action::NextPane);
    }
    // and the detail of that tenant
    let mut s = st(5);
    let mut list = sample::tenants(5);
    list[0].name = "\u{1b}[2Jevil".into();
    ev(&mut s, Event::Tenants(Arc::new(list)));
    update(&mut s, Action::Top);
    update(&mut s, Action::Open);
    let mut d = sample::detail(0);
    d.sessions[0].query = "SELECT '\u{1b}[2J\u{202e}'".into();
    ev(&mut s, Event::Detail(Arc::new(d)));
    let mut shown = 0;
    for _ in 0..6 {
        let buf = render(&s, 120, 30);
        let t = text(&buf);
        assert!(!t.contains('\u{1b}') && !t.contains('\u{202e}'));
        shown += usize::from(t.contains("SELECT '?[2J?'"));
        update(&mut s, Action::NextTab);
    }
    assert_eq!(shown, 1, "the sessions tab shows the query, neutralised");
    let t = text(&render(&at(st(1), 80, 24), 80, 24));
    assert!(!t.contains('\u{1b}'));
}

/// The capture shown in docs/console.md.
/// The README's captures of the Monitor, Neighbours and heat-map views.
#[test]
fn readme_views_100x30() {
    let mut s = st(240);
    update(&mut s, Action::View(tenantctl::tui::state::Pane::Monitor));
    let top = s.monitor_top.clone();
    ev(
        &mut s,
        Event::History(
            top.iter()
                .enumerate()
                .map(|(k, id)| sample::history(Some(*id), k))
                .chain([sample::history(None, 2)])
                .collect(),
        ),
    );
    update(&mut s, Action::Window);
    s.message = None;
    let m = at(s.clone(), 100, 30);
    insta::assert_snapshot!("readme_monitor_100x30", text(&render(&m, 100, 30)));
    update(
        &mut s,
        Action::View(tenantctl::tui::state::Pane::Neighbours),
    );
    s.message = None;
    let n = at(s.clone(), 100, 30);
    insta::assert_snapshot!("readme_neighbours_100x30", text(&render(&n, 100, 30)));
    let mut h = sample::state(800, ThemeName::Mono);
    update(&mut h, Action::Resize(100, 30));
    update(&mut h, Action::View(tenantctl::tui::state::Pane::Heatmap));
    update(&mut h, Action::SortColumn);
    for _ in 0..4 {
        update(&mut h, Action::Down);
    }
    h.message = None;
    insta::assert_snapshot!("readme_heatmap_100x30", text(&render(&h, 100, 30)));
}

#[test]
fn readme_capture_100x30() {
    let mut s = st(240);
    update(&mut s, Action::CommandLine);
    typ(&mut s, "sort calls");
    update(&mut s, Action::Text(TextKey::Submit));
    update(&mut s, Action::Top);
    s.message = None;
    let s = at(s, 100, 30);
    insta::assert_snapshot!("readme_100x30", text(&render(&s, 100, 30)));
}

/// A mouse click on a tab, where the tab is drawn, opens that pane.
#[test]
fn clicking_a_drawn_tab_opens_its_pane() {
    use tenantctl::tui::state::Pane;
    let mut s = at(st(30), 120, 30);
    for (label, pane) in [
        ("Monitor", Pane::Monitor),
        ("Audit", Pane::Audit),
        ("Alerts", Pane::Alerts),
        ("Tenants", Pane::Tenants),
    ] {
        let first = text(&render(&s, 120, 30))
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let col = first.find(label).expect("tab drawn");
        let x = u16::try_from(first[..col].chars().count()).expect("column") + 1;
        update(&mut s, Action::Click(x, 0));
        assert_eq!(s.pane, pane, "click at x={x} on {label:?} in {first:?}");
    }
    // The title and the gaps open nothing.
    update(&mut s, Action::Click(2, 0));
    assert_eq!(s.pane, Pane::Tenants);
}

// ---- the Migrations pane ----

fn migrations_open() -> State {
    let mut s = st(10);
    update(
        &mut s,
        Action::View(tenantctl::tui::state::Pane::Migrations),
    );
    ev(
        &mut s,
        Event::Migrations {
            runs: sample::runs(),
            run: Some(sample::run_id(0)),
            tenants: sample::run_tenants(),
        },
    );
    s
}

#[test]
fn migrations_pane_snapshots() {
    let s = migrations_open();
    snap("migrations", &s);
    // The hostile error is shown as text, never as an escape sequence.
    let t = text(&render(&at(s.clone(), 160, 48), 160, 48));
    assert!(t.contains("lock not granted"), "{t}");
    assert!(!t.contains('\u{1b}') && !t.contains('\u{7}'), "{t}");
    // The tenant list has the cursor; cancel asks first.
    let mut s = s;
    update(&mut s, Action::NextTab);
    update(&mut s, Action::Down);
    snap("migrations_tenants", &s);
    update(&mut s, Action::MigrateCancel);
    snap("migrations_cancel_confirm", &s);
    // No runs yet.
    let mut s = st(10);
    update(
        &mut s,
        Action::View(tenantctl::tui::state::Pane::Migrations),
    );
    ev(
        &mut s,
        Event::Migrations {
            runs: Vec::new(),
            run: None,
            tenants: Vec::new(),
        },
    );
    snap("migrations_empty", &s);
}

#[test]
fn the_detail_shows_where_a_version_behind_leads() {
    let mut s = st(10);
    let mut snap_ = sample::snapshot(10, 2);
    let mut v: Vec<_> = snap_.tenants.values().cloned().collect();
    let mut reasons = v[0].health.reasons.to_vec();
    reasons.push(tenantctl::domain::metrics::HealthReason {
        points: 5,
        text: "template version 1 behind latest 3".into(),
    });
    v[0].health.reasons = reasons.into();
    snap_.tenants = v.into();
    ev(&mut s, Event::Snapshot(Arc::new(snap_)));
    s.list.selected = Some(sample::id(0));
    update(&mut s, Action::Open);
    let t = text(&render(&at(s.clone(), 160, 48), 160, 48));
    assert!(t.contains("template version 1 behind latest 3"), "{t}");
    assert!(t.contains("Enter: its migration runs (M)"), "{t}");
}

/// The overview's drift line gives the reason health gives: the objects
/// the detail read found missing by name, then the catalog differences of
/// the last drift check (a SQL-string template's tenant), not only names.
#[test]
fn the_detail_drift_line_shows_catalog_differences_like_health() {
    let mut s = st(10);
    let mut snap_ = sample::snapshot(10, 2);
    let mut v: Vec<_> = snap_.tenants.values().cloned().collect();
    let at0 = v
        .iter()
        .position(|m| m.tenant_id == sample::id(0))
        .expect("tenant 0");
    v[at0].drift = Arc::from([
        "market_data".to_string(),
        "column positions.avg_price is missing".to_string(),
    ]);
    snap_.tenants = v.into();
    ev(&mut s, Event::Snapshot(Arc::new(snap_)));
    s.list.selected = Some(sample::id(0));
    update(&mut s, Action::Open);
    let mut detail0 = sample::detail(0);
    detail0.drift = vec!["market_data".to_string(), "trades_pkey".to_string()];
    ev(&mut s, Event::Detail(Arc::new(detail0)));
    let t = text(&render(&at(s.clone(), 160, 48), 160, 48));
    // (The line wraps after "is" at this width.)
    assert!(
        t.contains("schema drift: missing market_data, trades_pkey; column positions.avg_price is"),
        "{t}"
    );
    assert!(!t.contains("drift: missing column"), "{t}");
}
