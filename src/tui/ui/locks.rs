//! Blocking chains: each blocker (its tenant, state, transaction age,
//! statement start and text) with the sessions waiting behind it indented
//! beneath, longest wait first. `c`/`T` cancel or terminate the selected
//! blocker (asking first). Also the section the Sessions tab shows.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::domain::activity::{BlockingChain, LockSession};
use crate::domain::sanitize::clean_truncate;
use crate::domain::units::format_duration;
use crate::tui::state::State;

use super::{hint, hms, row_style};

fn age(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    since.map_or_else(
        || "–".into(),
        |t| {
            format_duration(std::time::Duration::from_secs(
                (now - t).num_seconds().max(0).unsigned_abs(),
            ))
        },
    )
}

fn who(s: &LockSession, state: &State, w: usize) -> String {
    match s.tenant_id.and_then(|id| state.tenant(id)) {
        Some(t) => clean_truncate(&t.name, w),
        None if s.role.is_empty() => "(unknown session)".into(),
        None => format!("role {}", clean_truncate(&s.role, w.saturating_sub(5))),
    }
}

/// The lines of one chain: the blocker, then its waiters by depth.
pub fn chain_lines(
    c: &BlockingChain,
    now: DateTime<Utc>,
    selected: bool,
    width: usize,
    state: &State,
) -> Vec<Line<'static>> {
    let th = &state.theme;
    let b = &c.blocker;
    let name_w = 24.min(width / 4);
    let head = format!(
        "{} pid {:<7} {:<name_w$} {:<20} xact {:>7}  query since {}  blocks {} for {}  ",
        if selected { "▶" } else { " " },
        b.pid,
        who(b, state, name_w),
        clean_truncate(&b.state, 20),
        age(b.xact_start, now),
        b.query_start.map_or_else(|| "–".into(), hms),
        c.waiters.len(),
        format_duration(std::time::Duration::from_secs(c.blocking_for.as_secs())),
    );
    let q_w = width.saturating_sub(head.chars().count());
    let mut out = vec![Line::from(vec![
        Span::styled(head, if selected { th.selected } else { th.warn }),
        Span::styled(clean_truncate(&b.query, q_w), row_style(selected, state)),
    ])];
    for (depth, s) in &c.waiters {
        let indent = "  ".repeat(usize::from(*depth));
        let line = format!(
            "{indent}└ pid {:<7} {:<name_w$} waits {:>7}  ",
            s.pid,
            who(s, state, name_w),
            age(s.wait_start.or(s.query_start), now),
        );
        let q_w = width.saturating_sub(line.chars().count());
        out.push(Line::from(vec![
            Span::styled(line, th.text),
            Span::styled(clean_truncate(&s.query, q_w), th.dim),
        ]));
    }
    out
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let th = &state.theme;
    let Some(view) = &state.view else {
        frame.render_widget(
            Paragraph::new(hint("waiting for the first snapshot…".into(), state)),
            area,
        );
        return;
    };
    let waiting: usize = view.blocking.iter().map(|c| c.waiters.len()).sum();
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Locks ", th.title),
            Span::styled(
                format!(
                    "{} blocking chain{}, {waiting} waiting session{}",
                    view.blocking.len(),
                    if view.blocking.len() == 1 { "" } else { "s" },
                    if waiting == 1 { "" } else { "s" }
                ),
                th.header,
            ),
            Span::styled(
                format!(
                    "   ({}/{} cancel/terminate the blocker, Enter opens its tenant; data of {})",
                    state.keymap.label_of("cancel_session"),
                    state.keymap.label_of("terminate_session"),
                    hms(view.taken_at)
                ),
                th.dim,
            ),
        ]),
        Line::from(""),
    ];
    if view.blocking.is_empty() {
        lines.push(hint("nobody waits on a lock".into(), state));
        frame.render_widget(Paragraph::new(lines), area);
        return;
    }
    // Scroll whole chains so the selected one is on screen.
    let width = usize::from(area.width);
    let room = usize::from(area.height).saturating_sub(2);
    let cur = state.views.locks_cursor;
    let heights: Vec<usize> = view.blocking.iter().map(|c| 1 + c.waiters.len()).collect();
    let mut first = 0;
    while first < cur && heights[first..=cur].iter().sum::<usize>() > room {
        first += 1;
    }
    for (k, c) in view.blocking.iter().enumerate().skip(first) {
        if lines.len() >= room + 2 {
            break;
        }
        lines.extend(chain_lines(c, view.taken_at, k == cur, width, state));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// The chains a tenant is part of (as blocker or waiter), for its Sessions tab.
pub fn tenant_lines(state: &State, tenant: uuid::Uuid, width: usize) -> Vec<Line<'static>> {
    let Some(view) = &state.view else {
        return Vec::new();
    };
    let mine: Vec<&BlockingChain> = view
        .blocking
        .iter()
        .filter(|c| {
            c.blocker.tenant_id == Some(tenant)
                || c.waiters.iter().any(|(_, s)| s.tenant_id == Some(tenant))
        })
        .collect();
    if mine.is_empty() {
        return Vec::new();
    }
    let mut out = vec![Line::from(Span::styled(
        format!(
            "Blocking ({} chain{})",
            mine.len(),
            if mine.len() == 1 { "" } else { "s" }
        ),
        state.theme.header,
    ))];
    for c in mine {
        out.extend(chain_lines(c, view.taken_at, false, width, state));
    }
    out
}
