//! The tenant list. Only the visible rows are built, so 10,000 tenants cost
//! what 40 do. Columns drop out by priority as the terminal narrows.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use crate::domain::sanitize::clean_truncate;
use crate::domain::tenant::{Tenant, TenantStatus};
use crate::domain::units::format_size;
use crate::tui::state::{Column, State};

use super::{rate, row_style};

/// Fixed widths; name and domain take what is left.
#[allow(clippy::match_same_arms)] // reason: one width per column reads best
fn base_width(c: Column) -> u16 {
    match c {
        Column::Name => 14,
        Column::Domain => 18,
        Column::Status => 12,
        Column::Health => 7,
        Column::Size => 10,
        Column::Connections => 7,
        Column::Calls => 8,
        Column::Writes => 9,
        Column::Template => 12,
    }
}

/// Columns in the order they give way as the width shrinks (last goes first).
const PRIORITY: [Column; 9] = [
    Column::Name,
    Column::Status,
    Column::Health,
    Column::Domain,
    Column::Size,
    Column::Connections,
    Column::Calls,
    Column::Writes,
    Column::Template,
];

/// The columns that fit in `width`, in display order, with their widths.
pub fn layout_columns(width: u16) -> Vec<(Column, u16)> {
    let mut chosen: Vec<Column> = Vec::new();
    let mut used: u16 = 0;
    for c in PRIORITY {
        let need = base_width(c) + u16::from(!chosen.is_empty());
        if used + need <= width || chosen.is_empty() {
            chosen.push(c);
            used = used.saturating_add(need);
        }
    }
    let mut cols: Vec<(Column, u16)> = Column::ALL
        .iter()
        .filter(|c| chosen.contains(c))
        .map(|c| (*c, base_width(*c)))
        .collect();
    // Spread the slack over name and domain.
    let spare = width.saturating_sub(used);
    let flex: Vec<usize> = cols
        .iter()
        .enumerate()
        .filter(|(_, (c, _))| matches!(c, Column::Name | Column::Domain))
        .map(|(i, _)| i)
        .collect();
    if !flex.is_empty() {
        let n = u16::try_from(flex.len()).unwrap_or(1);
        for (k, &i) in flex.iter().enumerate() {
            let extra = spare / n + u16::from(k == 0) * (spare % n);
            cols[i].1 += extra;
        }
    }
    if let Some(first) = cols.first_mut() {
        first.1 = first.1.min(width);
    }
    cols
}

fn status_style(s: TenantStatus, state: &State) -> ratatui::style::Style {
    match s {
        TenantStatus::Active => state.theme.ok,
        TenantStatus::Suspended => state.theme.warn,
        TenantStatus::Provisioning | TenantStatus::Restoring => state.theme.accent,
        TenantStatus::Deleted => state.theme.dim,
    }
}

fn cell(t: &Tenant, c: Column, width: u16, state: &State) -> Cell<'static> {
    let w = usize::from(width);
    let m = state.metrics(t.id);
    let have = state.view.is_some();
    let na = || {
        if have {
            "–".to_string()
        } else {
            "…".to_string()
        }
    };
    match c {
        Column::Name => Cell::from(clean_truncate(&t.name, w)),
        Column::Domain => Cell::from(clean_truncate(&t.domain, w)),
        Column::Status => Cell::from(Span::styled(
            t.status.as_str(),
            status_style(t.status, state),
        )),
        Column::Health => match m {
            Some(m) => Cell::from(Span::styled(
                format!("{:>3}", m.health.score),
                state.theme.health(m.health.score),
            )),
            None => Cell::from(na()),
        },
        Column::Size => Cell::from(m.map_or_else(na, |m| format_size(m.size_bytes))),
        Column::Connections => Cell::from(m.map_or_else(na, |m| {
            if t.connection_limit >= 0 {
                format!("{}/{}", m.sessions_total, t.connection_limit)
            } else {
                m.sessions_total.to_string()
            }
        })),
        Column::Calls => Cell::from(m.map_or_else(na, |m| rate(m.calls_per_s))),
        Column::Writes => Cell::from(m.map_or_else(na, |m| rate(m.writes_per_s))),
        Column::Template => Cell::from(clean_truncate(
            &format!("{} v{}", t.template, t.template_version),
            w,
        )),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let t = &state.theme;
    if state.list.index.is_empty() {
        let text = if state.tenants.is_empty() {
            if matches!(
                state.connection,
                crate::tui::state::Connection::Connected { .. }
            ) {
                format!(
                    "no tenants yet: press {} to create one",
                    state.keymap.label_of("new")
                )
            } else {
                "waiting for the tenant list…".to_string()
            }
        } else {
            format!(
                "no tenant matches the filter \"{}\" ({} hidden): {} clears it",
                clean_truncate(&state.list.filter.text, 40),
                state.tenants.len(),
                state.keymap.label_of("back")
            )
        };
        frame.render_widget(Paragraph::new(Line::from(Span::styled(text, t.dim))), area);
        return;
    }
    let cols = layout_columns(area.width);
    let header = Row::new(cols.iter().map(|(c, _)| {
        let mut s = c.title().to_string();
        if *c == state.list.sort {
            s.push(if state.list.descending { '▼' } else { '▲' });
        }
        Cell::from(s)
    }))
    .style(t.header);
    let height = usize::from(area.height.saturating_sub(1));
    let len = state.list.index.len();
    // The offset is kept by update; clamp it here in case the size moved.
    let mut start = state.list.offset.min(len.saturating_sub(1));
    if state.list.cursor < start {
        start = state.list.cursor;
    } else if height > 0 && state.list.cursor >= start + height {
        start = state.list.cursor + 1 - height;
    }
    let end = (start + height).min(len);
    let rows = (start..end).map(|pos| {
        let tenant = &state.tenants[state.list.index[pos]];
        Row::new(cols.iter().map(|(c, w)| cell(tenant, *c, *w, state)))
            .style(row_style(pos == state.list.cursor, state))
    });
    let widths: Vec<Constraint> = cols.iter().map(|(_, w)| Constraint::Length(*w)).collect();
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    frame.render_widget(table, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_drop_by_width() {
        let narrow = layout_columns(40);
        assert_eq!(narrow[0].0, Column::Name);
        assert!(narrow.iter().map(|(_, w)| w + 1).sum::<u16>() <= 41);
        assert!(!narrow.iter().any(|(c, _)| *c == Column::Template));
        let wide = layout_columns(160);
        assert_eq!(wide.len(), 9);
        assert!(wide.iter().map(|(_, w)| w + 1).sum::<u16>() <= 161);
        let tiny = layout_columns(3);
        assert_eq!(tiny, vec![(Column::Name, 3)]);
    }
}
