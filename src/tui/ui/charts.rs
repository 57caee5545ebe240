//! Time charts with axes: a time axis in minutes ago over the chosen
//! window, a value axis with units, and a legend in the title line (each
//! series' marker, name and current value). Used by the Monitor pane (the
//! cluster) and the detail's History tab (a tenant beside its share).

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph};
use uuid::Uuid;

use crate::domain::metrics::{History, HistoryPoint, Series};
use crate::domain::units::format_size;
use crate::tui::state::State;

use super::{hint, rate};

/// How a chart's values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Per second: `412/s`, `2.3k/s`.
    Rate,
    /// Bytes: `48 GiB`.
    Bytes,
    /// Bytes per second.
    BytesRate,
    /// Percent (values already ×100).
    Percent,
    /// A plain count.
    Count,
}

impl Unit {
    pub fn of(series: Series) -> Self {
        match series {
            Series::Size | Series::ClusterSize => Unit::Bytes,
            Series::ClusterWal => Unit::BytesRate,
            Series::ClusterCacheHit => Unit::Percent,
            Series::Connections | Series::ClusterConnections | Series::Health => Unit::Count,
            _ => Unit::Rate,
        }
    }

    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // reason: non-negative display values
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Rate => format!("{}/s", rate(Some(v))),
            Unit::Bytes => compact_size(v.max(0.0) as u64),
            Unit::BytesRate => format!("{}/s", compact_size(v.max(0.0) as u64)),
            Unit::Percent => {
                if v >= 99.95 || (v - v.round()).abs() < 1e-9 {
                    format!("{v:.0}%")
                } else {
                    format!("{v:.1}%")
                }
            }
            Unit::Count => {
                if v >= 10_000.0 {
                    format!("{:.1}k", v / 1000.0)
                } else {
                    format!("{v:.0}")
                }
            }
        }
    }
}

/// `48 GiB` without the space, for axis labels.
fn compact_size(b: u64) -> String {
    format_size(b).replace(' ', "")
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct ChartLine<'a> {
    pub label: &'a str,
    pub points: &'a [HistoryPoint],
    pub style: Style,
}

/// A chart to draw: its title, unit, lines and an optional limit drawn as
/// a dotted line (max_connections).
#[derive(Debug, Clone)]
pub struct ChartSpec<'a> {
    pub title: String,
    pub unit: Unit,
    pub lines: Vec<ChartLine<'a>>,
    pub limit: Option<(&'a str, f64)>,
    /// Fixed value bounds (percent charts), else from 0 to the data's max.
    pub bounds: Option<[f64; 2]>,
}

/// The points within `window` before `now` as (minutes ago, negative; value).
fn xy(points: &[HistoryPoint], now: DateTime<Utc>, window_min: f64) -> Vec<(f64, f64)> {
    let start =
        points.partition_point(|p| (now - p.at).num_milliseconds() as f64 / 60_000.0 > window_min);
    // Time travel: nothing after the instant shown.
    let end = points.partition_point(|p| p.at <= now).max(start);
    points[start..end]
        .iter()
        .filter_map(|p| {
            let x = -((now - p.at).num_milliseconds() as f64) / 60_000.0;
            p.value.filter(|v| v.is_finite()).map(|v| (x.min(0.0), v))
        })
        .collect()
}

fn minutes_label(m: f64) -> String {
    if m <= 0.0 {
        "now".into()
    } else if m < 1.0 {
        format!("{:.0}s ago", m * 60.0)
    } else if m.fract() != 0.0 {
        format!("{m:.1}m ago")
    } else {
        format!("{m:.0}m ago")
    }
}

/// Draw one chart in `area` (at least 3 rows; smaller areas get a hint).
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    spec: &ChartSpec<'_>,
    now: DateTime<Utc>,
    state: &State,
) {
    let th = &state.theme;
    let window_min = state.views.window.as_secs_f64() / 60.0;
    let data: Vec<Vec<(f64, f64)>> = spec
        .lines
        .iter()
        .map(|l| xy(l.points, now, window_min))
        .collect();
    // Legend: each line's marker, name and newest value.
    let mut legend: Vec<Span> = vec![Span::styled(format!("{} ", spec.title), th.header)];
    for (l, d) in spec.lines.iter().zip(&data) {
        let now_v = d
            .last()
            .map_or_else(|| "–".to_string(), |p| spec.unit.format(p.1));
        legend.push(Span::styled("━ ", l.style));
        if spec.lines.len() > 1 {
            legend.push(Span::styled(format!("{} ", l.label), th.dim));
        }
        legend.push(Span::styled(format!("{now_v} "), th.text));
    }
    if let Some((label, v)) = spec.limit {
        legend.push(Span::styled("┄ ", th.warn));
        legend.push(Span::styled(
            format!("{label} {} ", spec.unit.format(v)),
            th.dim,
        ));
    }
    if area.height < 4 {
        frame.render_widget(Paragraph::new(Line::from(legend)), area);
        return;
    }
    let max = data
        .iter()
        .flatten()
        .map(|p| p.1)
        .chain(spec.limit.map(|l| l.1))
        .fold(0.0_f64, f64::max);
    let [lo, hi] = spec
        .bounds
        .unwrap_or([0.0, if max > 0.0 { max * 1.1 } else { 1.0 }]);
    let limit_data: Vec<(f64, f64)> = spec
        .limit
        .map(|(_, v)| {
            let n = 40;
            (0..=n)
                .map(|k| (-window_min + window_min * f64::from(k) / f64::from(n), v))
                .collect()
        })
        .unwrap_or_default();
    let mut sets: Vec<Dataset> = spec
        .lines
        .iter()
        .zip(&data)
        .map(|(l, d)| {
            Dataset::default()
                .name(l.label)
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(l.style)
                .data(d)
        })
        .collect();
    if spec.limit.is_some() {
        sets.push(
            Dataset::default()
                .marker(Marker::Dot)
                .graph_type(GraphType::Scatter)
                .style(th.warn)
                .data(&limit_data),
        );
    }
    let half = window_min / 2.0;
    let mut x_labels = vec![Span::styled(minutes_label(window_min), th.dim)];
    if area.width >= 40 {
        x_labels.push(Span::styled(minutes_label(half), th.dim));
    }
    x_labels.push(Span::styled("now", th.dim));
    let y_labels = if area.height >= 9 {
        vec![
            Span::styled(spec.unit.format(lo), th.dim),
            Span::styled(spec.unit.format(f64::midpoint(lo, hi)), th.dim),
            Span::styled(spec.unit.format(hi), th.dim),
        ]
    } else {
        vec![
            Span::styled(spec.unit.format(lo), th.dim),
            Span::styled(spec.unit.format(hi), th.dim),
        ]
    };
    let chart = Chart::new(sets)
        .block(
            Block::new()
                .borders(Borders::TOP)
                .border_style(th.border)
                .title(Line::from(legend)),
        )
        .legend_position(None)
        .x_axis(
            Axis::default()
                .bounds([-window_min, 0.0])
                .labels(x_labels)
                .style(th.dim),
        )
        .y_axis(
            Axis::default()
                .bounds([lo, hi])
                .labels(y_labels)
                .style(th.dim),
        );
    frame.render_widget(chart, area);
}

/// Lay `n` charts out in `area`: up to three columns at least 26 wide,
/// rows at least 5 high; the charts that do not fit are left out.
pub fn grid(area: Rect, n: usize) -> Vec<Rect> {
    if n == 0 || area.width < 10 || area.height < 3 {
        return Vec::new();
    }
    let cols = usize::from(area.width / 26).clamp(1, 3).min(n);
    let fit_rows = usize::from(area.height / 5).max(1);
    let rows = n.div_ceil(cols).min(fit_rows);
    let row_areas = Layout::vertical(vec![
        Constraint::Ratio(1, u32::try_from(rows).unwrap_or(1));
        rows
    ])
    .split(area);
    let mut out = Vec::new();
    for r in row_areas.iter() {
        let cells = Layout::horizontal(vec![
            Constraint::Ratio(1, u32::try_from(cols).unwrap_or(1));
            cols
        ])
        .spacing(1)
        .split(*r);
        out.extend(cells.iter().copied());
    }
    out.truncate(n);
    out
}

/// The time the charts end at: the snapshot on screen, else the newest point.
pub fn chart_now(state: &State, h: Option<&History>) -> Option<DateTime<Utc>> {
    state.view.as_ref().map(|v| v.taken_at).or_else(|| {
        h.and_then(|h| {
            h.series
                .iter()
                .filter_map(|(_, p)| p.last().map(|p| p.at))
                .max()
        })
    })
}

/// The cluster's charts (the Monitor pane's upper half).
pub fn cluster(frame: &mut Frame, area: Rect, state: &State) {
    let th = &state.theme;
    let Some(h) = state.monitor_history.get(&None) else {
        frame.render_widget(
            Paragraph::new(hint("loading the cluster's history…".into(), state)),
            area,
        );
        return;
    };
    let Some(now) = chart_now(state, Some(h)) else {
        return;
    };
    let max_conn = state
        .view
        .as_ref()
        .map(|v| f64::from(v.totals.max_connections))
        .filter(|m| *m > 0.0);
    let one = |series: Series, title: &str| -> Option<ChartSpec<'_>> {
        let points = h.points(series)?;
        Some(ChartSpec {
            title: title.to_string(),
            unit: Unit::of(series),
            lines: vec![ChartLine {
                label: series.label(),
                points,
                style: th.accent,
            }],
            limit: None,
            bounds: None,
        })
    };
    let mut specs: Vec<ChartSpec> = Vec::new();
    specs.extend(one(Series::ClusterCommits, "commits/s"));
    specs.extend(one(Series::ClusterCalls, "statements/s"));
    if let Some(mut c) = one(Series::ClusterConnections, "connections") {
        c.limit = max_conn.map(|m| ("max", m));
        specs.push(c);
    }
    if let Some(mut c) = one(Series::ClusterCacheHit, "cache hit") {
        let lowest = c.lines[0]
            .points
            .iter()
            .filter_map(|p| p.value)
            .fold(100.0_f64, f64::min);
        c.bounds = Some([(lowest - 1.0).floor().clamp(0.0, 99.0), 100.0]);
        specs.push(c);
    }
    specs.extend(one(Series::ClusterSize, "database size"));
    // WAL only where the server reports it (pg_stat_statements 1.8+).
    if h.points(Series::ClusterWal)
        .is_some_and(|p| p.iter().any(|p| p.value.is_some()))
    {
        specs.extend(one(Series::ClusterWal, "WAL"));
    }
    for (spec, cell) in specs.iter().zip(grid(area, specs.len())) {
        draw(frame, cell, spec, now, state);
    }
}

/// `tenant / cluster` in percent at each of the tenant's points (the two
/// share the store's timeline).
pub fn share_points(tenant: &[HistoryPoint], cluster: &[HistoryPoint]) -> Vec<HistoryPoint> {
    let by_at: std::collections::HashMap<i64, f64> = cluster
        .iter()
        .filter_map(|p| p.value.map(|v| (p.at.timestamp_millis(), v)))
        .collect();
    tenant
        .iter()
        .map(|p| HistoryPoint {
            at: p.at,
            value: p.value.and_then(|v| {
                by_at
                    .get(&p.at.timestamp_millis())
                    .filter(|c| **c > 0.0)
                    .map(|c| (v / c * 100.0).min(100.0))
            }),
        })
        .collect()
}

/// A tenant's series, each beside its share of the cluster (the detail's
/// History tab); `first` is the first series shown (the tab scrolls).
pub fn tenant(frame: &mut Frame, area: Rect, state: &State, id: Uuid, h: &History, first: usize) {
    let th = &state.theme;
    let cluster = state.monitor_history.get(&None);
    let Some(now) = chart_now(state, Some(h)) else {
        return;
    };
    let rows_fit = usize::from(area.height / 6).max(1);
    let series: Vec<&(Series, Vec<HistoryPoint>)> =
        h.series.iter().skip(first).take(rows_fit).collect();
    if series.is_empty() {
        return;
    }
    let rows = Layout::vertical(vec![
        Constraint::Ratio(
            1,
            u32::try_from(series.len()).unwrap_or(1)
        );
        series.len()
    ])
    .split(area);
    let _ = id;
    for ((s, points), row) in series.into_iter().zip(rows.iter()) {
        let share = s
            .cluster_total()
            .and_then(|c| cluster.and_then(|h| h.points(c)))
            .map(|c| share_points(points, c));
        let spec = ChartSpec {
            title: s.label().to_string(),
            unit: Unit::of(*s),
            lines: vec![ChartLine {
                label: s.label(),
                points,
                style: th.accent,
            }],
            limit: None,
            bounds: (*s == Series::Health).then_some([0.0, 100.0]),
        };
        match &share {
            Some(sp) if row.width >= 60 => {
                let [l, r] =
                    Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                        .spacing(1)
                        .areas(*row);
                draw(frame, l, &spec, now, state);
                let share_spec = ChartSpec {
                    title: format!("{} share of cluster", s.label()),
                    unit: Unit::Percent,
                    lines: vec![ChartLine {
                        label: "share",
                        points: sp,
                        style: th.ok,
                    }],
                    limit: None,
                    bounds: None,
                };
                draw(frame, r, &share_spec, now, state);
            }
            Some(sp) => {
                // Narrow: the share goes into the title.
                let last = sp.iter().rev().find_map(|p| p.value);
                let mut spec = spec;
                spec.title = format!(
                    "{} ({} of cluster)",
                    s.label(),
                    last.map_or_else(|| "–".to_string(), |v| Unit::Percent.format(v))
                );
                draw(frame, *row, &spec, now, state);
            }
            None => draw(frame, *row, &spec, now, state),
        }
    }
}
