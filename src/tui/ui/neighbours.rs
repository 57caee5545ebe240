//! Noisy neighbours: tenants ranked by the chosen metric (the decayed share
//! of statement time by default), each with a bar of its share of the
//! cluster and its WAL, temp spill, cache hit, writes and connections.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::domain::activity::NeighbourMetric;
use crate::domain::metrics::TenantMetrics;
use crate::domain::sanitize::clean_truncate;
use crate::tui::state::State;

use super::charts::Unit;
use super::{hint, rate, row_style, window};

/// A horizontal bar of `share` (0–1) in `width` cells, in eighths.
pub fn bar(share: f64, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // reason: 0..=width*8
    let eighths = (share.clamp(0.0, 1.0) * (width * 8) as f64).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    if eighths % 8 > 0 && s.chars().count() < width {
        s.push(PARTS[eighths % 8]);
    }
    let n = s.chars().count();
    s.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
    s
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{:.1}%", x * 100.0))
}

/// The share the bar shows for this metric: of the cluster's total where
/// there is one, else of the highest-ranked tenant's value (`top`).
fn share_of(
    metric: NeighbourMetric,
    m: &TenantMetrics,
    totals: &crate::domain::metrics::ClusterTotals,
    top: f64,
) -> f64 {
    let of = |v: Option<f64>, total: Option<f64>| match (v, total) {
        (Some(v), Some(t)) if t > 0.0 => v / t,
        _ => 0.0,
    };
    match metric {
        NeighbourMetric::Share => m.share_score.unwrap_or(0.0),
        NeighbourMetric::Temp => of(m.temp_bytes_per_s, Some(top)),
        NeighbourMetric::Wal => of(m.wal_bytes_per_s, totals.wal_bytes_per_s),
        NeighbourMetric::Cache => m.cache_hit.map_or(0.0, |h| 1.0 - h),
        NeighbourMetric::Writes => of(m.writes_per_s, totals.writes_per_s),
        NeighbourMetric::Connections => of(
            Some(f64::from(m.sessions_total)),
            Some(f64::from(totals.connections)),
        ),
    }
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
    let [head, list] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(area);
    let metric = state.views.neighbour_metric;
    let t = &view.totals;
    let header = vec![
        Line::from(vec![
            Span::styled("Noisy neighbours ", th.title),
            Span::styled(format!("by {}", metric.title()), th.header),
            Span::styled(
                format!(
                    "   statements {}  WAL {}  writes {}",
                    t.calls_per_s
                        .map_or_else(|| "–".into(), |v| Unit::Rate.format(v)),
                    t.wal_bytes_per_s
                        .map_or_else(|| "–".into(), |v| Unit::BytesRate.format(v)),
                    t.writes_per_s
                        .map_or_else(|| "–".into(), |v| Unit::Rate.format(v)),
                ),
                th.dim,
            ),
            Span::styled(
                format!(
                    "   ({} next metric, Enter opens)",
                    state.keymap.label_of("sort_column")
                ),
                th.dim,
            ),
        ]),
        Line::from(Span::styled(
            if view.statements_available {
                String::new()
            } else {
                "pg_stat_statements is not readable: shares, WAL, temp and cache hit show –".into()
            },
            th.warn,
        )),
    ];
    frame.render_widget(Paragraph::new(header), head);
    if state.views.neighbours.is_empty() {
        frame.render_widget(
            Paragraph::new(hint("no tenant has statement figures yet".into(), state)),
            list,
        );
        return;
    }
    let w = usize::from(list.width);
    let wide = w >= 120;
    let name_w = if wide { 28 } else { 18 };
    // # name share bar share% now wal temp cache writes conn
    let fixed = 4
        + name_w
        + 1
        + 7
        + 1
        + if wide {
            8 + 10 + 10 + 7 + 9 + 5
        } else {
            10 + 7 + 5
        };
    let bar_w = w.saturating_sub(fixed).clamp(4, 60);
    let mut lines = vec![Line::from(Span::styled(
        if wide {
            format!(
                "{:>3} {:<name_w$} {:<bar_w$} {:>7} {:>7} {:>9} {:>9} {:>6} {:>8} {:>4}",
                "#",
                "TENANT",
                "SHARE OF CLUSTER",
                "SCORE",
                "NOW",
                "WAL/S",
                "TEMP/S",
                "CACHE",
                "WRITES/S",
                "CONN"
            )
        } else {
            format!(
                "{:>3} {:<name_w$} {:<bar_w$} {:>7} {:>9} {:>6} {:>4}",
                "#", "TENANT", "SHARE", "SCORE", "WAL/S", "CACHE", "CONN"
            )
        },
        th.header,
    ))];
    let top = state
        .views
        .neighbours
        .first()
        .and_then(|id| view.tenants.get(id))
        .and_then(|m| metric.value(m))
        .unwrap_or(0.0);
    let rows = usize::from(list.height.saturating_sub(1));
    let (start, end) = window(
        state.views.neighbour_cursor,
        state.views.neighbours.len(),
        rows,
    );
    for (i, id) in state.views.neighbours[start..end].iter().enumerate() {
        let k = start + i;
        let Some(m) = view.tenants.get(id) else {
            continue;
        };
        let name = state
            .tenant(*id)
            .map_or_else(|| id.to_string(), |t| clean_truncate(&t.name, name_w));
        let share = share_of(metric, m, t, top);
        let sel = k == state.views.neighbour_cursor;
        let style = row_style(sel, state);
        let wal = m
            .wal_bytes_per_s
            .map_or_else(|| "–".into(), |v| Unit::BytesRate.format(v));
        let mut spans = vec![
            Span::styled(format!("{:>3} {name:<name_w$} ", k + 1), style),
            Span::styled(bar(share, bar_w), if sel { th.selected } else { th.accent }),
            Span::styled(format!(" {:>7}", pct(m.share_score)), style),
        ];
        if wide {
            spans.push(Span::styled(
                format!(
                    " {:>7} {wal:>9} {:>9} {:>6} {:>8} {:>4}",
                    pct(m.statement_share),
                    m.temp_bytes_per_s
                        .map_or_else(|| "–".into(), |v| Unit::BytesRate.format(v)),
                    pct(m.cache_hit),
                    rate(m.writes_per_s),
                    m.sessions_total
                ),
                style,
            ));
        } else {
            spans.push(Span::styled(
                format!(" {wal:>9} {:>6} {:>4}", pct(m.cache_hit), m.sessions_total),
                style,
            ));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), list);
}

#[cfg(test)]
mod tests {
    use super::bar;

    #[test]
    fn bars_fill_in_eighths() {
        assert_eq!(bar(0.0, 4), "    ");
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.5, 4), "██  ");
        assert_eq!(bar(1.0 / 32.0, 4), "▏   ");
        assert_eq!(bar(2.0, 3), "███");
    }
}
