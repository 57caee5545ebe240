//! A confirmation box: y/N, or the domain typed back for a delete.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::domain::sanitize::clean;
use crate::tui::state::{Confirm, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State, c: &Confirm) {
    let th = &state.theme;
    let inner = super::popup(frame, area, 70, 8, "confirm", state);
    let mut lines = vec![Line::from(Span::styled(c.prompt.clone(), th.text))];
    if let Some(input) = &c.typed {
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            Span::styled("> ", th.accent),
            Span::styled(clean(input.value()), th.input),
        ]));
    }
    if let Some(e) = &c.error {
        lines.push(Line::from(Span::styled(clean(e), th.crit)));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    if let Some(input) = &c.typed {
        // Place the cursor after the typed text when the prompt fits on one line.
        let prompt_rows =
            u16::try_from(c.prompt.chars().count() / usize::from(inner.width.max(1)) + 1)
                .unwrap_or(1);
        let x = u16::try_from(input.visual_cursor() + 2).unwrap_or(0);
        let y = inner.y + prompt_rows + 1;
        if x < inner.width && y < inner.y + inner.height {
            frame.set_cursor_position(Position::new(inner.x + x, y));
        }
    }
}
