//! The live monitor: cluster totals, then the top tenants by the chosen
//! metric, each with a sparkline of its recent history.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

use crate::domain::metrics::{HistoryPoint, Series};
use crate::domain::sanitize::clean_truncate;
use crate::domain::tenant::TenantStatus;
use crate::domain::units::format_size;
use crate::tui::state::{MonitorMetric, State};

use super::detail::spark_data;
use super::{hint, rate};

fn value_text(metric: MonitorMetric, m: &crate::domain::metrics::TenantMetrics) -> String {
    match metric {
        MonitorMetric::Calls => rate(m.calls_per_s),
        MonitorMetric::Writes => rate(m.writes_per_s),
        MonitorMetric::Size => format_size(m.size_bytes),
        MonitorMetric::Connections => m.sessions_total.to_string(),
        MonitorMetric::Health => m.health.score.to_string(),
    }
}

fn series(state: &State, tenant: Option<uuid::Uuid>, series: Series) -> Option<&[HistoryPoint]> {
    state.monitor_history.get(&tenant)?.points(series)
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
    // The upper half charts the cluster; the lower half ranks the tenants.
    let [charts, area] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Min(0)]).areas(area);
    super::charts::cluster(frame, charts, state);
    let [totals, list] = Layout::vertical([Constraint::Length(4), Constraint::Min(0)]).areas(area);
    let tot = &view.totals;
    let count = |s: TenantStatus| state.tenants.iter().filter(|t| t.status == s).count();
    let lines = vec![
        Line::from(vec![
            Span::styled("database ", th.dim),
            Span::styled(format_size(tot.database_bytes), th.text),
            Span::styled("   connections ", th.dim),
            Span::styled(
                format!("{}/{}", tot.connections, tot.max_connections),
                th.text,
            ),
            Span::styled("   commits/s ", th.dim),
            Span::styled(rate(tot.commits_per_s), th.text),
            Span::styled("   cache hit ", th.dim),
            Span::styled(
                tot.cache_hit_ratio
                    .map_or_else(|| "–".into(), |r| format!("{:.1}%", r * 100.0)),
                th.text,
            ),
        ]),
        Line::from(vec![
            Span::styled("tenants ", th.dim),
            Span::styled(
                format!(
                    "{} active, {} suspended, {} provisioning",
                    count(TenantStatus::Active),
                    count(TenantStatus::Suspended),
                    count(TenantStatus::Provisioning)
                ),
                th.text,
            ),
            Span::styled("   statements ", th.dim),
            Span::styled(
                if view.statements_available {
                    "on"
                } else {
                    "n/a"
                },
                th.text,
            ),
            Span::styled(format!("   data of {}", super::hms(view.taken_at)), th.dim),
        ]),
        Line::from(""),
        Line::from(vec![
            Span::styled(
                format!(
                    "top {} by {}",
                    state.monitor_top.len(),
                    state.monitor_metric.title()
                ),
                th.header,
            ),
            Span::styled(
                format!(
                    "   ({} next metric, {} window {} min, {} neighbours, {} locks, {} heat map)",
                    state.keymap.label_of("sort_column"),
                    state.keymap.label_of("window"),
                    state.views.window.as_secs() / 60,
                    state.keymap.label_of("neighbours"),
                    state.keymap.label_of("locks"),
                    state.keymap.label_of("heatmap"),
                ),
                th.dim,
            ),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines), totals);
    if state.monitor_top.is_empty() {
        frame.render_widget(
            Paragraph::new(hint("no tenant metrics yet".into(), state)),
            list,
        );
        return;
    }
    let name_w: u16 = 24.min(list.width / 3);
    let value_w: u16 = 10;
    let spark_x = list.x + name_w + value_w + 2;
    let spark_w = list.width.saturating_sub(name_w + value_w + 2);
    let metric_series = state.monitor_metric.series();
    for (i, id) in state.monitor_top.iter().enumerate() {
        let y = list.y + u16::try_from(i).unwrap_or(u16::MAX);
        if y >= list.y + list.height {
            break;
        }
        let name = state.tenant(*id).map_or_else(
            || id.to_string(),
            |t| clean_truncate(&t.name, usize::from(name_w)),
        );
        let value = view
            .tenants
            .get(id)
            .map_or_else(|| "–".into(), |m| value_text(state.monitor_metric, m));
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(
                    format!("{name:<w$} ", w = usize::from(name_w)),
                    super::row_style(i == state.monitor_cursor, state),
                ),
                Span::styled(format!("{value:>w$} ", w = usize::from(value_w)), th.accent),
            ])),
            Rect {
                x: list.x,
                y,
                width: (name_w + value_w + 2).min(list.width),
                height: 1,
            },
        );
        if spark_w > 0 {
            if let Some(points) = series(state, Some(*id), metric_series) {
                let (data, _) = spark_data(points, usize::from(spark_w));
                frame.render_widget(
                    Sparkline::default().data(data).max(1000).style(th.accent),
                    Rect {
                        x: spark_x,
                        y,
                        width: spark_w,
                        height: 1,
                    },
                );
            }
        }
    }
}
