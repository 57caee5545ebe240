//! The edit form of one tenant.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::domain::sanitize::clean;
use crate::tui::state::{EditForm, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State, e: &EditForm) {
    let th = &state.theme;
    let inner = super::popup(
        frame,
        area,
        76,
        16,
        "edit tenant · Tab next field · Enter saves · Esc cancels",
        state,
    );
    let mut lines = Vec::new();
    let mut cursor = None;
    for (i, (label, f)) in EditForm::LABELS.iter().zip(&e.fields).enumerate() {
        let focused = i == e.focus;
        if focused {
            cursor = Some((lines.len(), f.input.visual_cursor()));
        }
        lines.push(Line::from(vec![
            Span::styled(
                format!("{label:<19}"),
                if focused { th.accent } else { th.dim },
            ),
            Span::styled(clean(f.value()), if focused { th.input } else { th.text }),
        ]));
        match &f.error {
            Some(err) => lines.push(Line::from(Span::styled(
                format!("  {}", clean(err)),
                th.crit,
            ))),
            // The two limits that can be removed say how.
            None if focused && (i == 2 || i == 3) => lines.push(Line::from(Span::styled(
                "  empty removes the limit",
                th.dim,
            ))),
            None => lines.push(Line::from("")),
        }
    }
    if e.request.is_some() {
        lines.push(Line::from(Span::styled("saving…", th.accent)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    if let Some((row, col)) = cursor {
        let x = inner.x + 19 + u16::try_from(col).unwrap_or(0);
        let y = inner.y + u16::try_from(row).unwrap_or(0);
        if x < inner.x + inner.width && y < inner.y + inner.height {
            frame.set_cursor_position(Position::new(x, y));
        }
    }
}
