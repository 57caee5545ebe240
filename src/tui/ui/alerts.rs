//! Alerts: threshold crossings with time and tenant, open ones first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use crate::domain::metrics::Severity;
use crate::domain::sanitize::{clean, clean_truncate};
use crate::tui::state::State;

use super::{hint, row_style, window};

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    if state.alerts.is_empty() {
        frame.render_widget(Paragraph::new(hint("no alerts".into(), state)), area);
        return;
    }
    let th = &state.theme;
    let (a, b) = window(
        state.alerts_cursor,
        state.alerts.len(),
        usize::from(area.height.saturating_sub(1)),
    );
    let rows = (a..b).map(|i| {
        let al = &state.alerts[i];
        let sev = match al.severity {
            Severity::Critical => Span::styled("CRIT", th.crit),
            Severity::Warning => Span::styled("WARN", th.warn),
            Severity::Info => Span::styled("info", th.dim),
        };
        let tenant = al.tenant_id.map_or_else(
            || "cluster".to_string(),
            |id| {
                state.tenant(id).map_or_else(
                    || id.to_string()[..8].to_string(),
                    |t| clean_truncate(&t.name, 24),
                )
            },
        );
        Row::new(vec![
            Cell::from(al.raised_at.format("%m-%d %H:%M").to_string()),
            Cell::from(sev),
            Cell::from(tenant),
            Cell::from(al.kind.as_str()),
            Cell::from(al.cleared_at.map_or_else(
                || "open".into(),
                |c| format!("cleared {}", c.format("%H:%M")),
            )),
            Cell::from(clean(&al.message)),
        ])
        .style(row_style(i == state.alerts_cursor, state))
    });
    let widths = [
        Constraint::Length(11),
        Constraint::Length(4),
        Constraint::Length(18),
        Constraint::Length(12),
        Constraint::Length(13),
        Constraint::Fill(1),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(
            Row::new(["RAISED", "SEV", "TENANT", "KIND", "STATE", "MESSAGE"]).style(th.header),
        ),
        area,
    );
}
