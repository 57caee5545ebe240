//! The status bar: cluster, connection state, refresh interval, snapshot
//! latency, READ-ONLY and PAUSED badges, requests in flight.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::domain::sanitize::clean_truncate;
use crate::tui::state::{Connection, State};
use crate::tui::update::format_interval;

const SPINNER: [char; 8] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧'];

/// The bar's text segments with their styles (exposed for tests), for a bar
/// `width` columns wide: the badges come first, details give way when narrow.
pub fn segments_for(state: &State, width: u16) -> Vec<Span<'static>> {
    let full = segments_detailed(state, true);
    let len = |v: &[Span<'static>]| v.iter().map(|s| s.content.chars().count()).sum::<usize>();
    if len(&full) <= usize::from(width) {
        return full;
    }
    segments_detailed(state, false)
}

/// Every segment with its details.
pub fn segments(state: &State) -> Vec<Span<'static>> {
    segments_detailed(state, true)
}

fn segments_detailed(state: &State, detailed: bool) -> Vec<Span<'static>> {
    let t = &state.theme;
    let mut s: Vec<Span<'static>> = Vec::new();
    s.push(Span::styled(
        format!(" {} ", clean_truncate(&state.cluster, 24)),
        t.title.patch(t.bar),
    ));
    if state.read_only() {
        s.push(Span::styled(" READ-ONLY ", t.badge));
    }
    match &state.connection {
        Connection::Connecting => s.push(Span::styled(" connecting… ", t.warn.patch(t.bar))),
        Connection::Connected {
            server_version,
            endpoint,
        } => s.push(Span::styled(
            if detailed {
                format!(
                    " ● PostgreSQL {} at {} ",
                    clean_truncate(server_version, 12),
                    clean_truncate(endpoint, 40)
                )
            } else {
                " ● connected ".to_string()
            },
            t.ok.patch(t.bar),
        )),
        Connection::Disconnected { error, retry_at } => {
            let secs = (*retry_at - state.now).num_seconds().max(0);
            let why = if detailed {
                format!(" ({})", clean_truncate(error, 40))
            } else {
                String::new()
            };
            s.push(Span::styled(
                format!(" disconnected — retrying in {secs} s{why} "),
                t.badge,
            ));
        }
    }
    if state.paused {
        let at = state
            .view
            .as_ref()
            .map_or_else(|| "no data".to_string(), |v| super::hms(v.taken_at));
        if state.views.time_back > 0 {
            let ago = state
                .view
                .as_ref()
                .map_or(0, |v| (state.now - v.taken_at).num_seconds().max(0));
            s.push(Span::styled(
                format!(" PAUSED · at {at}, {ago} s ago "),
                t.badge,
            ));
        } else {
            s.push(Span::styled(format!(" PAUSED · data of {at} "), t.badge));
        }
    } else {
        s.push(Span::styled(
            format!(" every {} ", format_interval(state.interval)),
            t.bar,
        ));
    }
    if let Some(snap) = &state.latest {
        let stale_note = if snap.stale.is_empty() || !detailed {
            String::new()
        } else {
            format!(" stale: {}", snap.stale.len())
        };
        s.push(Span::styled(
            format!(" snapshot {} ms{stale_note} ", snap.latency.as_millis()),
            t.bar,
        ));
    }
    if !state.pending.is_empty() {
        let i = usize::try_from(state.now.timestamp().rem_euclid(8)).unwrap_or(0);
        let mut what: Vec<&str> = state.pending.values().map(|p| p.what.as_str()).collect();
        what.sort_unstable();
        s.push(Span::styled(
            format!(" {} {} ", SPINNER[i], what.join(", ")),
            t.accent.patch(t.bar),
        ));
    }
    s
}

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    frame.render_widget(
        Paragraph::new(Line::from(segments_for(state, area.width))).style(state.theme.bar),
        area,
    );
}
