//! The bottom line: the `:` command line with completions, the `/` filter
//! being typed, the last message, or key hints.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::domain::sanitize::clean;
use crate::tui::state::{Modal, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let t = &state.theme;
    let width = usize::from(area.width);
    match &state.modal {
        Some(Modal::CommandLine(cl)) => {
            let value = clean(cl.input.value());
            let scroll = cl.input.visual_scroll(width.saturating_sub(2));
            let shown: String = value.chars().skip(scroll).collect();
            let mut spans = vec![Span::styled(":", t.accent), Span::styled(shown, t.text)];
            if let Some(e) = &cl.error {
                spans.push(Span::styled(format!("   {}", clean(e)), t.crit));
            } else if cl.completions.len() > 1 {
                let list: Vec<String> = cl
                    .completions
                    .iter()
                    .take(8)
                    .map(|c| clean(c).trim().to_string())
                    .collect();
                spans.push(Span::styled(format!("   {}", list.join("  ")), t.dim));
            }
            frame.render_widget(Paragraph::new(Line::from(spans)), area);
            let x = cl.input.visual_cursor().saturating_sub(scroll);
            let x = u16::try_from(x + 1)
                .unwrap_or(u16::MAX)
                .min(area.width.saturating_sub(1));
            frame.set_cursor_position(Position::new(area.x + x, area.y));
        }
        Some(Modal::Filter { input, .. }) => {
            let spans = vec![
                Span::styled("/", t.accent),
                Span::styled(clean(input.value()), t.text),
                Span::styled(
                    format!(
                        "   {} of {} match · Enter keeps · Esc undoes",
                        state.list.index.len(),
                        state.tenants.len()
                    ),
                    t.dim,
                ),
            ];
            frame.render_widget(Paragraph::new(Line::from(spans)), area);
            let x = u16::try_from(input.visual_cursor() + 1)
                .unwrap_or(u16::MAX)
                .min(area.width.saturating_sub(1));
            frame.set_cursor_position(Position::new(area.x + x, area.y));
        }
        _ => {
            let line = if let Some(m) = &state.message {
                Line::from(Span::styled(
                    clean(&m.text),
                    if m.error { t.crit } else { t.text },
                ))
            } else {
                let k = |n: &str| state.keymap.label_of(n);
                let mut hints = format!(
                    "{} help  {} command  {} filter  {} open  {} new  {} suspend/resume  {} sort  {} pause  {} quit",
                    k("help"),
                    k("command"),
                    k("filter"),
                    k("open"),
                    k("new"),
                    k("suspend_resume"),
                    k("sort_column"),
                    k("pause"),
                    k("quit")
                );
                if let Some(why) = state.refuse_changes() {
                    hints = why;
                }
                Line::from(Span::styled(hints, t.dim))
            };
            frame.render_widget(Paragraph::new(line), area);
        }
    }
}
