//! Console render cost with 10,000 tenants.
//!
//! - `list_draw_10k_160x48`: one frame of the tenant list (target ≤ 2 ms).
//! - `key_during_snapshot_10k`: apply a 10,000-tenant snapshot (list sorted
//!   by calls/s, so it resorts), handle a key press, draw (target ≤ 16 ms).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tenantctl::backend::Event;
use tenantctl::config::ThemeName;
use tenantctl::tui::state::Column;
use tenantctl::tui::{Action, sample, ui, update};

const N: usize = 10_000;

fn setup() -> (tenantctl::tui::State, Terminal<TestBackend>) {
    let mut s = sample::state(N, ThemeName::Dark);
    update(&mut s, Action::Resize(160, 48));
    let term = Terminal::new(TestBackend::new(160, 48)).expect("backend");
    (s, term)
}

fn report(name: &str, target: Duration, mut f: impl FnMut()) {
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

fn benches(c: &mut Criterion) {
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
