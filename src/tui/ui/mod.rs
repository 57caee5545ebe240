//! Drawing. Every function takes `&State` and a frame; nothing here mutates
//! state or does I/O. One file per pane. Strings from the database pass
//! through `sanitize::clean` before they reach a cell.

pub mod alerts;
pub mod audit;
pub mod charts;
pub mod command_line;
pub mod confirm;
pub mod detail;
pub mod edit;
pub mod heatmap;
pub mod help;
pub mod locks;
pub mod migrations;
pub mod monitor;
pub mod neighbours;
pub mod status_bar;
pub mod tenant_list;
pub mod wizard;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::tui::state::{Modal, Pane, State};

/// Below this the console says the terminal is too small.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 8;

/// Draw the whole console.
pub fn draw(frame: &mut Frame, state: &State) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, state);
        return;
    }
    let [tabs, main, status, message] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(frame, tabs, state);
    match state.pane {
        Pane::Tenants => tenant_list::draw(frame, main, state),
        Pane::Detail => detail::draw(frame, main, state),
        Pane::Monitor => monitor::draw(frame, main, state),
        Pane::Audit => audit::draw(frame, main, state),
        Pane::Alerts => alerts::draw(frame, main, state),
        Pane::Neighbours => neighbours::draw(frame, main, state),
        Pane::Locks => locks::draw(frame, main, state),
        Pane::Heatmap => heatmap::draw(frame, main, state),
        Pane::Migrations => migrations::draw(frame, main, state),
    }
    status_bar::draw(frame, status, state);
    command_line::draw(frame, message, state);
    match &state.modal {
        Some(Modal::Help { scroll }) => help::draw(frame, main, state, *scroll),
        Some(Modal::Confirm(c)) => confirm::draw(frame, main, state, c),
        Some(Modal::Wizard(w)) => wizard::draw(frame, main, state, w),
        Some(Modal::Edit(e)) => edit::draw(frame, main, state, e),
        Some(Modal::CommandLine(_) | Modal::Filter { .. }) | None => {}
    }
}

fn too_small(frame: &mut Frame, area: Rect, state: &State) {
    let text = format!(
        "terminal too small: {}×{}, need at least {MIN_WIDTH}×{MIN_HEIGHT}",
        area.width, area.height
    );
    frame.render_widget(
        Paragraph::new(text)
            .style(state.theme.warn)
            .wrap(Wrap { trim: true }),
        area,
    );
}

use crate::tui::state::TAB_BAR_TITLE;

fn draw_tabs(frame: &mut Frame, area: Rect, state: &State) {
    let t = &state.theme;
    let mut spans = vec![Span::styled(TAB_BAR_TITLE, t.title)];
    let current = state.pane.tab();
    for p in Pane::TABS {
        let label = state.tab_label(p);
        let style = if p == current {
            t.selected
        } else if p == Pane::Alerts && label != " Alerts " {
            t.warn
        } else {
            t.dim
        };
        spans.push(Span::styled(label, style));
        spans.push(Span::raw(" "));
    }
    if state.pane == Pane::Migrations {
        spans.push(Span::styled(" Migrations ", t.selected));
        spans.push(Span::raw(" "));
    }
    if !state.list.filter.is_empty() {
        spans.push(Span::styled(
            format!(
                " filter: {} ",
                crate::domain::sanitize::clean_truncate(&state.list.filter.text, 30)
            ),
            t.accent,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A centered box of at most `w`×`h` inside `area`, cleared, with a titled border.
pub fn popup(frame: &mut Frame, area: Rect, w: u16, h: u16, title: &str, state: &State) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, r);
    let block = Block::bordered()
        .border_style(state.theme.border)
        .title(Span::styled(format!(" {title} "), state.theme.title));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    inner
}

/// `12.3`, `1.2k`, or `–` when not available.
pub fn rate(v: Option<f64>) -> String {
    match v {
        None => "–".to_string(),
        Some(x) if x >= 10_000.0 => format!("{:.1}k", x / 1000.0),
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
    }
}

/// A label: value line.
pub fn kv<'a>(label: &'a str, value: String, state: &State) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{label:<18}"), state.theme.dim),
        Span::styled(value, state.theme.text),
    ])
}

/// A one-line hint in the dim style.
pub fn hint(text: String, state: &State) -> Line<'static> {
    Line::from(Span::styled(text, state.theme.dim))
}

/// Style for a selected row.
pub fn row_style(selected: bool, state: &State) -> Style {
    if selected {
        state.theme.selected
    } else {
        state.theme.text
    }
}

/// `HH:MM:SS` in UTC.
pub fn hms(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// `YYYY-MM-DD HH:MM` in UTC.
pub fn ymdhm(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// The window `[offset, offset + height)` that keeps `cursor` visible.
pub fn window(cursor: usize, len: usize, height: usize) -> (usize, usize) {
    let height = height.max(1);
    let start = cursor
        .saturating_sub(height.saturating_sub(1))
        .min(len.saturating_sub(height));
    (start, (start + height).min(len))
}
