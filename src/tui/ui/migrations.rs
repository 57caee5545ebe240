//! The Migrations pane: the newest runs (template, target, state,
//! done/failed/remaining, started, actor) above the selected run's tenants,
//! failures first (state, from→to, attempts, duration, error). `p`/`R`/`C`
//! pause, resume or cancel the selected run (asking first). Every string
//! from the database passes through `sanitize`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use crate::domain::runs::{RunSummary, RunTenant};
use crate::domain::sanitize::{clean, clean_truncate};
use crate::tui::state::State;

use super::{hint, row_style, window};

/// How a run's state reads: a paused or cancelled run whose driver is
/// still finishing its running tenants is "pausing" / "cancelling".
pub fn state_label(r: &RunSummary) -> String {
    match (r.state.as_str(), r.ended_at.is_none()) {
        ("paused", true) => "pausing".into(),
        ("cancelled", true) => "cancelling".into(),
        (s, _) => clean(s),
    }
}

fn run_style(r: &RunSummary, state: &State) -> Style {
    let th = &state.theme;
    match r.state.as_str() {
        "done" if r.failed == 0 => th.ok,
        "running" => th.accent,
        "stopped" | "cancelled" => th.crit,
        _ if r.failed > 0 => th.crit,
        _ => th.warn,
    }
}

fn tenant_style(t: &RunTenant, state: &State) -> Style {
    let th = &state.theme;
    match t.state.as_str() {
        "failed" => th.crit,
        "running" => th.accent,
        "done" => th.ok,
        "skipped" => th.dim,
        _ => th.text,
    }
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let m = &state.migrations;
    if m.runs.is_empty() {
        let text = if m.loading {
            "loading the migration runs…".to_string()
        } else {
            "no migration runs yet: start one with tenantctl migrate apply".to_string()
        };
        frame.render_widget(Paragraph::new(hint(text, state)), area);
        return;
    }
    let runs_h = u16::try_from(m.runs.len() + 1)
        .unwrap_or(u16::MAX)
        .min(area.height / 3)
        .max(2);
    let [runs, title, tenants, footer] = Layout::vertical([
        Constraint::Length(runs_h),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_runs(frame, runs, state);
    draw_title(frame, title, state);
    draw_tenants(frame, tenants, state);
    let k = |n: &str| state.keymap.label_of(n);
    frame.render_widget(
        Paragraph::new(hint(
            format!(
                "{} pause  {} resume here  {} cancel  {}/{} runs/tenants  Enter tenant  {} refresh",
                k("migrate_pause"),
                k("migrate_resume"),
                k("migrate_cancel"),
                k("prev_tab"),
                k("next_tab"),
                k("refresh"),
            ),
            state,
        )),
        footer,
    );
}

fn draw_runs(frame: &mut Frame, area: Rect, state: &State) {
    let m = &state.migrations;
    let th = &state.theme;
    let wide = area.width >= 110;
    let (a, b) = window(
        m.cursor,
        m.runs.len(),
        usize::from(area.height.saturating_sub(1)),
    );
    let rows = (a..b).map(|i| {
        let r = &m.runs[i];
        let selected = i == m.cursor;
        let mut cells = vec![
            Cell::from(r.started_at.format("%m-%d %H:%M").to_string()),
            Cell::from(r.id.to_string()[..8].to_string()),
            Cell::from(clean_truncate(&r.template, 20)),
            Cell::from(format!("v{}", r.to_version)),
            Cell::from(Span::styled(state_label(r), run_style(r, state))),
            Cell::from(r.done.to_string()),
            Cell::from(r.failed.to_string()),
            Cell::from(r.remaining().to_string()),
        ];
        if wide {
            cells.push(Cell::from(r.skipped.to_string()));
            cells.push(Cell::from(clean_truncate(&r.actor, 40)));
        }
        let style = if selected && !m.on_tenants {
            th.selected
        } else {
            row_style(false, state)
        };
        Row::new(cells).style(style)
    });
    let mut widths = vec![
        Constraint::Length(11),
        Constraint::Length(8),
        Constraint::Length(14),
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(9),
    ];
    let mut header = vec![
        "STARTED",
        "RUN",
        "TEMPLATE",
        "TARGET",
        "STATE",
        "DONE",
        "FAILED",
        "REMAINING",
    ];
    if wide {
        widths.push(Constraint::Length(7));
        widths.push(Constraint::Fill(1));
        header.push("SKIPPED");
        header.push("ACTOR");
    }
    frame.render_widget(
        Table::new(rows, widths).header(Row::new(header).style(th.header)),
        area,
    );
}

fn draw_title(frame: &mut Frame, area: Rect, state: &State) {
    let m = &state.migrations;
    let th = &state.theme;
    let Some(r) = m.runs.iter().find(|r| Some(r.id) == m.run) else {
        frame.render_widget(Paragraph::new(hint("no run selected".into(), state)), area);
        return;
    };
    let total = r.done + r.failed + r.running + r.queued + r.skipped;
    let id = if area.width >= 120 {
        r.id.to_string()
    } else {
        r.id.to_string()[..8].to_string()
    };
    let line = Line::from(vec![
        Span::styled(format!("run {id} "), th.title),
        Span::styled(
            format!(
                "{} to v{}: {}, {} of {total} done, {} failed, {} running, {} queued",
                clean_truncate(&r.template, 20),
                r.to_version,
                state_label(r),
                r.done,
                r.failed,
                r.running,
                r.queued
            ),
            th.text,
        ),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_tenants(frame: &mut Frame, area: Rect, state: &State) {
    let m = &state.migrations;
    let th = &state.theme;
    if m.tenants.is_empty() {
        let text = if m.loading {
            "loading the run's tenants…"
        } else {
            "no tenants in this run"
        };
        frame.render_widget(Paragraph::new(hint(text.into(), state)), area);
        return;
    }
    let (a, b) = window(
        m.tenant_cursor,
        m.tenants.len(),
        usize::from(area.height.saturating_sub(1)),
    );
    let rows = (a..b).map(|i| {
        let t = &m.tenants[i];
        let versions = if t.at_version != t.from_version && t.at_version != t.to_version {
            format!("v{}→v{} @v{}", t.from_version, t.to_version, t.at_version)
        } else {
            format!("v{}→v{}", t.from_version, t.to_version)
        };
        let cells = vec![
            Cell::from(Span::styled(clean(&t.state), tenant_style(t, state))),
            Cell::from(clean_truncate(&t.domain, 60)),
            Cell::from(versions),
            Cell::from(t.attempts.to_string()),
            Cell::from(
                t.duration_ms
                    .map_or_else(|| "–".into(), |d| format!("{d} ms")),
            ),
            Cell::from(clean(t.error.as_deref().unwrap_or(""))),
        ];
        let style = if i == m.tenant_cursor && m.on_tenants {
            th.selected
        } else {
            row_style(false, state)
        };
        Row::new(cells).style(style)
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(if area.width >= 120 { 40 } else { 26 }),
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Fill(1),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(
            Row::new(["STATE", "TENANT", "VERSION", "ATTEMPTS", "TOOK", "ERROR"]).style(th.header),
        ),
        area,
    );
}
