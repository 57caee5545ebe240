//! The fleet at a glance: every tenant a cell, grouped by template version
//! or status, coloured by the chosen metric against the fleet (health by
//! default); the cursor's tenant and its values in the footer. The mono
//! theme uses glyphs of rising intensity instead of colours. Cells are
//! written straight into the buffer: 10,000 tenants cost one pass over the
//! visible lines.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::ThemeName;
use crate::domain::sanitize::clean_truncate;
use crate::domain::units::format_size;
use crate::tui::state::State;
use crate::tui::state::views::{CELL_W, Heat, HeatLine};

use super::charts::Unit;
use super::{hint, rate};

/// Glyph and style of a level (0 no data, 1 fine … 5 outlier).
pub fn cell(level: u8, theme: ThemeName) -> (&'static str, Style) {
    const MONO: [&str; 6] = ["·", "░", "▒", "▓", "█", "◆"];
    let i = usize::from(level.min(5));
    match theme {
        ThemeName::Mono => (
            MONO[i],
            if i == 5 {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            },
        ),
        ThemeName::Dark | ThemeName::Light => {
            let c = match (theme, i) {
                (_, 0) => return ("·", Style::new().fg(Color::DarkGray)),
                (ThemeName::Dark, 1) => Color::Rgb(40, 160, 70),
                (ThemeName::Dark, 2) => Color::Rgb(150, 200, 60),
                (ThemeName::Dark, 3) => Color::Rgb(230, 200, 40),
                (ThemeName::Dark, 4) => Color::Rgb(240, 130, 30),
                (_, 1) => Color::Rgb(0, 130, 40),
                (_, 2) => Color::Rgb(110, 150, 0),
                (_, 3) => Color::Rgb(190, 140, 0),
                (_, 4) => Color::Rgb(210, 90, 0),
                _ => Color::Rgb(220, 30, 30),
            };
            ("■", Style::new().fg(c))
        }
    }
}

fn legend(state: &State) -> Vec<Span<'static>> {
    let mut v = vec![Span::styled("  ", state.theme.dim)];
    let names = if state.views.heat.metric == crate::tui::state::HeatMetric::Health {
        ["no data", "100", "≥90", "≥75", "≥50", "<50"]
    } else {
        ["no data", "≤p50", "≤p75", "≤p90", "≤p99", ">p99"]
    };
    for (k, n) in names.iter().enumerate() {
        let (g, s) = cell(u8::try_from(k).unwrap_or(0), state.theme.name);
        v.push(Span::styled(g, s));
        v.push(Span::styled(format!(" {n}  "), state.theme.dim));
    }
    v
}

fn footer(state: &State, heat: &Heat) -> Vec<Line<'static>> {
    let th = &state.theme;
    let Some(id) = heat.order.get(heat.cursor) else {
        return vec![hint("no tenants".into(), state)];
    };
    let Some(t) = state.tenant(*id) else {
        return Vec::new();
    };
    let m = state.view.as_ref().and_then(|v| v.tenants.get(id));
    let pct = |v: Option<f64>| v.map_or_else(|| "–".into(), |x| format!("{:.1}%", x * 100.0));
    let first = Line::from(vec![
        Span::styled(format!("{} ", clean_truncate(&t.name, 40)), th.title),
        Span::styled(
            format!(
                "{}  {}  {} v{}",
                clean_truncate(&t.domain, 50),
                t.status.as_str(),
                clean_truncate(&t.template, 20),
                t.template_version
            ),
            th.dim,
        ),
        Span::styled(
            format!(
                "   ({}/{} of {})",
                heat.cursor + 1,
                heat.order.len(),
                state.tenants.len()
            ),
            th.dim,
        ),
    ]);
    let second = match m {
        None => hint("no metrics for this tenant yet".into(), state),
        Some(m) => Line::from(Span::styled(
            format!(
                "health {}  size {}  calls/s {}  writes/s {}  share {}  WAL {}  cache hit {}  connections {}",
                m.health.score,
                format_size(m.size_bytes),
                rate(m.calls_per_s),
                rate(m.writes_per_s),
                pct(m.share_score),
                m.wal_bytes_per_s
                    .map_or_else(|| "–".into(), |v| Unit::BytesRate.format(v)),
                pct(m.cache_hit),
                m.sessions_total
            ),
            th.text,
        )),
    };
    vec![first, second]
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let th = &state.theme;
    let heat = &state.views.heat;
    let [top_line, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(2),
    ])
    .areas(area);
    let mut h = vec![
        Span::styled("Heat map ", th.title),
        Span::styled(
            format!("{} by {}", heat.metric.title(), heat.group.title()),
            th.header,
        ),
        Span::styled(
            format!(
                "  ({} metric, {} grouping)",
                state.keymap.label_of("sort_column"),
                state.keymap.label_of("sort_direction")
            ),
            th.dim,
        ),
    ];
    h.extend(legend(state));
    frame.render_widget(Paragraph::new(Line::from(h)), top_line);
    if heat.order.is_empty() || state.view.is_none() {
        frame.render_widget(
            Paragraph::new(hint("waiting for tenants and their metrics…".into(), state)),
            body,
        );
        return;
    }
    let cols = Heat::cols(body.width);
    let lines = heat.lines(cols);
    let rows = usize::from(body.height);
    let cur = heat.cursor_line(&lines);
    let (start, end) = super::window(cur, lines.len(), rows);
    let buf = frame.buffer_mut();
    for (k, line) in lines[start..end].iter().enumerate() {
        let y = body.y + u16::try_from(k).unwrap_or(u16::MAX);
        match *line {
            HeatLine::Label(g) => {
                let row = &heat.groups[g];
                let text = format!("{} ({})", clean_truncate(&row.label, 60), row.len);
                buf.set_stringn(body.x, y, text, usize::from(body.width), th.header);
            }
            HeatLine::Cells { start, len } => {
                for j in 0..len {
                    let i = start + j;
                    let level = heat.levels.get(i).copied().unwrap_or(0);
                    let (glyph, mut style) = cell(level, th.name);
                    if i == heat.cursor {
                        style = style.patch(th.selected).add_modifier(Modifier::REVERSED);
                    }
                    let x = body.x + u16::try_from(j).unwrap_or(u16::MAX) * CELL_W;
                    if x < body.x + body.width {
                        buf[(x, y)].set_symbol(glyph).set_style(style);
                    }
                }
            }
        }
    }
    frame.render_widget(Paragraph::new(footer(state, heat)), foot);
}
