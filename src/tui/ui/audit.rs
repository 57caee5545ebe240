//! The audit log, newest first (also the detail's audit tab).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use crate::domain::audit::AuditEntry;
use crate::domain::sanitize::{clean, clean_truncate};
use crate::tui::state::State;

use super::{hint, row_style, window};

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    if state.audit.is_empty() {
        let text = if state.audit_loading {
            "loading the audit log…"
        } else {
            "no audit entries"
        };
        frame.render_widget(Paragraph::new(hint(text.into(), state)), area);
        return;
    }
    table(frame, area, state, &state.audit, state.audit_cursor, true);
}

/// The audit table; `show_tenant` adds the tenant column.
pub fn table(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    entries: &[AuditEntry],
    cursor: usize,
    show_tenant: bool,
) {
    if entries.is_empty() {
        frame.render_widget(Paragraph::new(hint("no audit entries".into(), state)), area);
        return;
    }
    let th = &state.theme;
    let show_actor = area.width >= 110;
    let (a, b) = window(
        cursor,
        entries.len(),
        usize::from(area.height.saturating_sub(1)),
    );
    let rows = (a..b).map(|i| {
        let e = &entries[i];
        let tenant = e.tenant_id.map_or_else(String::new, |id| {
            state.tenant(id).map_or_else(
                || id.to_string()[..8].to_string(),
                |t| clean_truncate(&t.name, 24),
            )
        });
        let outcome = if e.outcome == "ok" {
            Span::styled("ok", th.ok)
        } else {
            Span::styled(clean(&e.outcome), th.crit)
        };
        let mut cells = vec![Cell::from(e.at.format("%m-%d %H:%M:%S").to_string())];
        if show_actor {
            cells.push(Cell::from(clean_truncate(&e.actor, 30)));
        }
        cells.push(Cell::from(clean(&e.action)));
        if show_tenant {
            cells.push(Cell::from(tenant));
        }
        cells.push(Cell::from(outcome));
        cells.push(Cell::from(
            e.duration_ms
                .map_or_else(String::new, |ms| format!("{ms} ms")),
        ));
        cells.push(Cell::from(clean(&e.detail.to_string())));
        Row::new(cells).style(row_style(i == cursor, state))
    });
    let mut widths = vec![Constraint::Length(14)];
    let mut header = vec!["AT (UTC)"];
    if show_actor {
        widths.push(Constraint::Length(22));
        header.push("ACTOR");
    }
    widths.push(Constraint::Length(9));
    header.push("ACTION");
    if show_tenant {
        widths.push(Constraint::Length(18));
        header.push("TENANT");
    }
    widths.extend([
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Fill(1),
    ]);
    header.extend(["OUTCOME", "TOOK", "DETAIL"]);
    frame.render_widget(
        Table::new(rows, widths).header(Row::new(header).style(th.header)),
        area,
    );
}
