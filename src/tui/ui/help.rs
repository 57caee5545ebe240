//! The help overlay, generated from the live keymap (rebindings show).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::state::State;
use crate::tui::update::command::COMMANDS;

pub fn draw(frame: &mut Frame, area: Rect, state: &State, scroll: usize) {
    let th = &state.theme;
    let inner = super::popup(frame, area, 76, 40, "help · Esc closes", state);
    let mut lines = vec![Line::from(Span::styled("keys", th.header))];
    for r in state.keymap.help_rows() {
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<14}", r.keys), th.accent),
            Span::styled(format!("{:<18}", r.name), th.dim),
            Span::styled(r.help, th.text),
        ]));
    }
    lines.push(Line::from(vec![
        Span::styled(format!("  {:<14}", "Ctrl-Z"), th.accent),
        Span::styled(format!("{:<18}", ""), th.dim),
        Span::styled("suspend the console (fg resumes)", th.text),
    ]));
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "commands (: then Tab completes)",
        th.header,
    )));
    for (c, what) in COMMANDS {
        lines.push(Line::from(vec![
            Span::styled(format!("  :{c:<13}"), th.accent),
            Span::styled(what, th.text),
        ]));
    }
    let scroll = u16::try_from(scroll).unwrap_or(u16::MAX);
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}
