//! Console render cost with 10,000 tenants.
//!
//! - `list_draw_10k_160x48`: one frame of the tenant list (target ≤ 2 ms).
//! - `key_during_snapshot_10k`: apply a 10,000-tenant snapshot (list sorted
//!   by calls/s, so it resorts), handle a key press, draw (target ≤ 16 ms).
//! - `view_draw_10k_160x48/*`: one frame of each monitoring view (Monitor
//!   with six charts over 450 points, Neighbours, Locks, heat map) at
//!   10,000 tenants (target ≤ 4 ms each), and a heat-map key press with a
//!   snapshot applied (releveling 10,000 cells).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tenantctl::backend::Event;
use tenantctl::config::ThemeName;
use tenantctl::tui::state::{Column, Pane};
use tenantctl::tui::{Action, sample, ui, update};

const N: usize = 10_000;

fn setup() -> (tenantctl::tui::State, Terminal<TestBackend>) {
    let mut s = sample::state(N, ThemeName::Dark);
    update(&mut s, Action::Resize(160, 48));
    let term = Terminal::new(TestBackend::new(160, 48)).expect("backend");
    (s, term)
}

fn report(name: &str, target: Duration, mut f: impl FnMut()) {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    for _ in 0..20 {
        f();
    }
    let runs = 200;
    let start = Instant::now();
    for _ in 0..runs {
        f();
    }
    let per = start.elapsed() / runs;
    let verdict = if per <= target { "ok" } else { "OVER TARGET" };
    println!(
        "{name}: {:.3} ms per run (target ≤ {} ms) {verdict}",
        per.as_secs_f64() * 1e3,
        target.as_millis()
    );
}

/// `VmHWM` (peak RSS) of this process in MiB, from /proc.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The console side of "10 minutes at a 2 s refresh": 300 snapshots of
/// 10,000 tenants applied and drawn (the backend's own memory is not here).
fn soak() {
    let (mut s, mut term) = setup();
    let start = Instant::now();
    for g in 2..302 {
        let _ = update(
            &mut s,
            Action::Backend(Event::Snapshot(Arc::new(sample::snapshot(N, g)))),
        );
        let _ = update(&mut s, Action::Down);
        term.draw(|f| ui::draw(f, &s)).expect("draw");
    }
    println!(
        "soak: 300 snapshots of {N} tenants applied and drawn in {:.1} s; peak RSS of this process {:.1} MiB (target ≤ 64 MiB for the whole console)",
        start.elapsed().as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}

fn benches(c: &mut Criterion) {
    // `cargo test --all-targets` runs benches once in test mode: skip the extra figures there.
    let measuring = std::env::args().any(|a| a == "--bench");
    if measuring {
        soak();
    }
    let (s, mut term) = setup();
    report(
        "list draw, 10,000 tenants, 160x48",
        Duration::from_millis(2),
        || {
            term.draw(|f| ui::draw(f, black_box(&s))).expect("draw");
        },
    );
    c.bench_function("list_draw_10k_160x48", |b| {
        b.iter(|| {
            term.draw(|f| ui::draw(f, black_box(&s))).expect("draw");
        });
    });

    for (name, pane) in [
        ("monitor", Pane::Monitor),
        ("neighbours", Pane::Neighbours),
        ("locks", Pane::Locks),
        ("heatmap", Pane::Heatmap),
    ] {
        let (mut s, mut term) = setup();
        let _ = update(&mut s, Action::View(pane));
        let top = s.monitor_top.clone();
        let mut list: Vec<_> = top
            .iter()
            .enumerate()
            .map(|(k, id)| sample::history(Some(*id), k))
            .collect();
        list.push(sample::cluster_history_of(450, 1));
        let _ = update(&mut s, Action::Backend(Event::History(list)));
        s.message = None;
        report(
            &format!("{name} draw, 10,000 tenants, 160x48"),
            Duration::from_millis(4),
            || {
                term.draw(|f| ui::draw(f, black_box(&s))).expect("draw");
            },
        );
        c.bench_function(&format!("view_draw_10k_160x48/{name}"), |b| {
            b.iter(|| {
                term.draw(|f| ui::draw(f, black_box(&s))).expect("draw");
            });
        });
    }
    {
        let (mut s, mut term) = setup();
        let _ = update(&mut s, Action::View(Pane::Heatmap));
        let snaps = [
            Arc::new(sample::snapshot(N, 2)),
            Arc::new(sample::snapshot(N, 3)),
        ];
        let mut k = 0usize;
        report(
            "heat map: key press + 10,000-tenant snapshot applied + draw",
            Duration::from_millis(16),
            || {
                k += 1;
                s.last_generation = None;
                let _ = update(
                    &mut s,
                    Action::Backend(Event::Snapshot(snaps[k % 2].clone())),
                );
                let _ = update(&mut s, Action::Down);
                term.draw(|f| ui::draw(f, &s)).expect("draw");
            },
        );
    }

    let (mut s, mut term) = setup();
    s.list.sort = Column::Calls;
    s.list.descending = true;
    let snaps = [
        Arc::new(sample::snapshot(N, 2)),
        Arc::new(sample::snapshot(N, 3)),
    ];
    let mut k = 0usize;
    let mut step = |s: &mut tenantctl::tui::State, term: &mut Terminal<TestBackend>| {
        k += 1;
        s.last_generation = None; // alternate two prebuilt snapshots
        let _ = update(s, Action::Backend(Event::Snapshot(snaps[k % 2].clone())));
        let _ = update(s, Action::Down);
        term.draw(|f| ui::draw(f, s)).expect("draw");
    };
    report(
        "key press + 10,000-tenant snapshot applied + draw",
        Duration::from_millis(16),
        || {
            step(&mut s, &mut term);
        },
    );
    c.bench_function("key_during_snapshot_10k", |b| {
        b.iter(|| step(&mut s, &mut term));
    });
}

criterion_group! {
    name = render;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4));
    targets = benches
}
criterion_main!(render);
