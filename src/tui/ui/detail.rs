//! Tenant detail: overview (identity, limits, health reasons), tables,
//! sessions (cancel/terminate behind a confirmation), top statements,
//! history sparklines, the tenant's audit trail.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Tabs, Wrap};

use crate::domain::sanitize::{clean, clean_truncate};
use crate::domain::tenant::Tenant;
use crate::domain::units::{format_duration, format_size};
use crate::tui::state::{DetailState, DetailTab, State};

use super::{hint, kv, rate, row_style, window, ymdhm};

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let (Some(d), Some(t)) = (state.detail.as_ref(), state.selected_tenant()) else {
        return;
    };
    let th = &state.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(th.border)
        .title(Span::styled(
            format!(
                " {} · {} ",
                clean_truncate(&t.name, 40),
                clean_truncate(&t.domain, 50)
            ),
            th.title,
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let [tabs, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let i = DetailTab::ALL.iter().position(|x| *x == d.tab).unwrap_or(0);
    frame.render_widget(
        Tabs::new(DetailTab::ALL.iter().map(|x| x.title()))
            .select(i)
            .style(th.dim)
            .highlight_style(th.selected),
        tabs,
    );
    match d.tab {
        DetailTab::Overview => overview(frame, body, state, d, t),
        DetailTab::Tables => tables(frame, body, state, d),
        DetailTab::Sessions => sessions(frame, body, state, d),
        DetailTab::Statements => statements(frame, body, state, d),
        DetailTab::History => history(frame, body, state, d),
        DetailTab::Audit => audit(frame, body, state, d),
    }
}

fn loading(frame: &mut Frame, area: Rect, state: &State, d: &DetailState) {
    let text = if d.loading {
        "loading…"
    } else {
        "no data yet"
    };
    frame.render_widget(Paragraph::new(hint(text.to_string(), state)), area);
}

#[allow(clippy::many_single_char_names)] // reason: d/t/m/l/r read as detail/tenant/metrics/left/right
fn overview(frame: &mut Frame, area: Rect, state: &State, d: &DetailState, t: &Tenant) {
    let th = &state.theme;
    let [left, right] = if area.width >= 90 {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area)
    } else {
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
    };
    let m = state.metrics(t.id);
    let mut l = vec![
        kv("id", t.id.to_string(), state),
        kv("status", t.status.as_str().to_string(), state),
        kv("schema / role", clean(&t.schema_name), state),
        kv(
            "template",
            format!("{} v{}", clean(&t.template), t.template_version),
            state,
        ),
        kv(
            "created",
            format!(
                "{} by {}",
                ymdhm(t.created_at),
                clean_truncate(&t.created_by, 40)
            ),
            state,
        ),
        kv(
            "provisioned in",
            t.provision_ms
                .map_or_else(|| "–".into(), |ms| format!("{ms} ms")),
            state,
        ),
        kv(
            "settings",
            clean_truncate(&t.settings.to_string(), 60),
            state,
        ),
    ];
    let conn_limit = if t.connection_limit < 0 {
        "unlimited".to_string()
    } else {
        t.connection_limit.to_string()
    };
    let used = m.map_or_else(|| "–".to_string(), |m| m.sessions_total.to_string());
    l.push(kv("connections", format!("{used} of {conn_limit}"), state));
    l.push(kv(
        "statement timeout",
        t.statement_timeout.map_or_else(
            || "server default".into(),
            |ms| format_duration(std::time::Duration::from_millis(ms)),
        ),
        state,
    ));
    let size = m.map(|m| m.size_bytes);
    let quota = match (size, t.storage_quota_bytes) {
        (Some(s), Some(q)) if q > 0 => format!(
            "{} of {} ({:.0}%)",
            format_size(s),
            format_size(q),
            s as f64 * 100.0 / q as f64
        ),
        (Some(s), None) => format!("{} (no quota)", format_size(s)),
        (None, Some(q)) => format!("– of {}", format_size(q)),
        _ => "–".to_string(),
    };
    l.push(kv("storage", quota, state));
    for w in &t.warnings {
        l.push(Line::from(Span::styled(
            format!("warning: {}", clean(w)),
            th.warn,
        )));
    }
    frame.render_widget(Paragraph::new(l).wrap(Wrap { trim: false }), left);

    let mut r = Vec::new();
    match m {
        Some(m) => {
            r.push(Line::from(vec![
                Span::styled(format!("{:<18}", "health"), th.dim),
                Span::styled(format!("{}/100", m.health.score), th.health(m.health.score)),
            ]));
            if m.health.reasons.is_empty() {
                r.push(hint("  no deductions".into(), state));
            }
            for reason in m.health.reasons.iter() {
                r.push(Line::from(vec![
                    Span::styled(format!("  -{:<3} ", reason.points), th.warn),
                    Span::styled(clean(&reason.text), th.text),
                ]));
                if crate::tui::update::is_version_behind(&reason.text) {
                    r.push(hint(
                        format!(
                            "       Enter: its migration runs ({})",
                            state.keymap.label_of("migrations")
                        ),
                        state,
                    ));
                }
            }
            r.push(kv("calls/s", rate(m.calls_per_s), state));
            r.push(kv("writes/s", rate(m.writes_per_s), state));
            r.push(kv(
                "mean exec",
                m.mean_exec_ms
                    .map_or_else(|| "–".into(), |x| format!("{x:.2} ms")),
                state,
            ));
            r.push(kv(
                "sessions",
                format!(
                    "{} active, {} idle in tx",
                    m.sessions_active, m.sessions_idle_in_tx
                ),
                state,
            ));
            r.push(kv(
                "longest running",
                m.longest_running
                    .map_or_else(|| "–".into(), format_duration),
                state,
            ));
            r.push(kv(
                "scans seq/idx",
                format!("{} / {}", m.seq_scans, m.idx_scans),
                state,
            ));
        }
        None => r.push(hint("no metrics for this tenant yet".into(), state)),
    }
    if let Some(data) = &d.data {
        if let Some(n) = data.trades_today {
            r.push(kv("trades today", n.to_string(), state));
        }
        r.push(kv(
            "last activity",
            data.last_activity.map_or_else(|| "–".into(), ymdhm),
            state,
        ));
        // The same reason health gives: the objects this detail read found
        // missing by name, then the catalog differences of a SQL-string
        // template's tenant from the last drift check (which only the
        // collector, holding the template's reference catalog, makes).
        let checked = m.map(|m| &*m.drift).unwrap_or_default();
        let drift: Vec<String> = data
            .drift
            .iter()
            .cloned()
            .chain(
                checked
                    .iter()
                    .filter(|e| e.contains(' ') && !data.drift.contains(e))
                    .cloned(),
            )
            .collect();
        if !drift.is_empty() {
            let is_name = |e: &str| data.drift.iter().any(|x| x == e);
            r.push(Line::from(Span::styled(
                clean_truncate(
                    &crate::domain::health::drift_words(&drift, is_name, DRIFT_SHOWN),
                    DRIFT_CHARS,
                ),
                th.warn,
            )));
        }
    }
    frame.render_widget(Paragraph::new(r).wrap(Wrap { trim: false }), right);
}

/// Drift entries the overview's drift line names before "and N more",
/// and its length (it wraps).
const DRIFT_SHOWN: usize = 8;
const DRIFT_CHARS: usize = 400;

fn table_rows<'a>(
    rows: impl Iterator<Item = (usize, Vec<Cell<'a>>)>,
    cursor: usize,
    state: &State,
) -> Vec<Row<'a>> {
    rows.map(|(i, cells)| Row::new(cells).style(row_style(i == cursor, state)))
        .collect()
}

/// Width from which the Tables tab shows a CHUNKS column.
const CHUNKS_COLUMN_FROM: u16 = 90;

/// What the Tables tab says under the list about the selected table when
/// it is a hypertable: time column, chunks and the time they cover.
fn hypertable_line(x: &crate::domain::metrics::TableDetail) -> Option<String> {
    let h = x.hypertable.as_ref()?;
    let range = match (h.range_start, h.range_end) {
        (Some(a), Some(b)) => format!(", {} → {}", ymdhm(a), ymdhm(b)),
        _ => String::new(),
    };
    Some(format!(
        "{}: {} chunk{} on {}, {}{range}",
        clean(&x.name),
        h.chunks,
        if h.chunks == 1 { "" } else { "s" },
        clean(&h.time_column),
        format_size(h.total_bytes)
    ))
}

fn tables(frame: &mut Frame, area: Rect, state: &State, d: &DetailState) {
    let Some(data) = &d.data else {
        return loading(frame, area, state, d);
    };
    if data.tables.is_empty() {
        return frame.render_widget(Paragraph::new(hint("no tables".into(), state)), area);
    }
    let any_ht = data.tables.iter().any(|t| t.hypertable.is_some());
    let (area, foot) = if any_ht {
        let [a, b] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
        (a, Some(b))
    } else {
        (area, None)
    };
    let wide = any_ht && area.width >= CHUNKS_COLUMN_FROM;
    let (a, b) = window(
        d.cursor,
        data.tables.len(),
        usize::from(area.height.saturating_sub(1)),
    );
    let rows = table_rows(
        (a..b).map(|i| {
            let x = &data.tables[i];
            let mut cells = vec![
                Cell::from(clean(&x.name)),
                Cell::from(x.rows_estimate.to_string()),
                Cell::from(format_size(x.total_bytes)),
                Cell::from(x.dead_tuples.to_string()),
            ];
            if wide {
                cells.push(Cell::from(
                    x.hypertable
                        .as_ref()
                        .map_or_else(|| "–".into(), |h| h.chunks.to_string()),
                ));
            }
            cells.push(Cell::from(
                x.last_vacuum.map_or_else(|| "never".into(), ymdhm),
            ));
            cells.push(Cell::from(
                x.last_analyze.map_or_else(|| "never".into(), ymdhm),
            ));
            (i, cells)
        }),
        d.cursor,
        state,
    );
    let mut widths = vec![
        Constraint::Min(14),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(8),
    ];
    let mut header = vec!["TABLE", "ROWS~", "SIZE", "DEAD"];
    if wide {
        widths.push(Constraint::Length(7));
        header.push("CHUNKS");
    }
    widths.extend([Constraint::Length(16), Constraint::Length(16)]);
    header.extend(["LAST VACUUM", "LAST ANALYZE"]);
    frame.render_widget(
        Table::new(rows, widths).header(Row::new(header).style(state.theme.header)),
        area,
    );
    if let Some(foot) = foot {
        let text = data
            .tables
            .get(d.cursor)
            .and_then(hypertable_line)
            .unwrap_or_else(|| {
                let n = data
                    .tables
                    .iter()
                    .filter(|t| t.hypertable.is_some())
                    .count();
                format!("{n} hypertable(s): rows and sizes include their chunks")
            });
        frame.render_widget(Paragraph::new(hint(text, state)), foot);
    }
}

fn sessions(frame: &mut Frame, area: Rect, state: &State, d: &DetailState) {
    let Some(data) = &d.data else {
        return loading(frame, area, state, d);
    };
    // Blocking chains this tenant is part of, below its sessions.
    let blocking = super::locks::tenant_lines(state, d.tenant, usize::from(area.width));
    let block_h = u16::try_from(blocking.len())
        .unwrap_or(u16::MAX)
        .min(area.height / 2);
    let [list, chains, foot] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(block_h),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(blocking), chains);
    frame.render_widget(
        Paragraph::new(hint(
            format!(
                "{} cancel statement · {} terminate session (both ask first)",
                state.keymap.label_of("cancel_session"),
                state.keymap.label_of("terminate_session")
            ),
            state,
        )),
        foot,
    );
    if data.sessions.is_empty() {
        return frame.render_widget(Paragraph::new(hint("no sessions".into(), state)), list);
    }
    let (a, b) = window(
        d.cursor,
        data.sessions.len(),
        usize::from(list.height.saturating_sub(1)),
    );
    let dur = |x: Option<std::time::Duration>| x.map_or_else(|| "–".into(), format_duration);
    let rows = table_rows(
        (a..b).map(|i| {
            let s = &data.sessions[i];
            (
                i,
                vec![
                    Cell::from(s.pid.to_string()),
                    Cell::from(clean(&s.state)),
                    Cell::from(dur(s.query_duration)),
                    Cell::from(dur(s.xact_duration)),
                    Cell::from(s.wait_event.as_deref().map_or_else(String::new, clean)),
                    Cell::from(clean(&s.application_name)),
                    Cell::from(
                        s.client_addr
                            .as_deref()
                            .map_or_else(|| "local".into(), clean),
                    ),
                    Cell::from(clean(&s.query)),
                ],
            )
        }),
        d.cursor,
        state,
    );
    let widths = [
        Constraint::Length(7),
        Constraint::Length(12),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Min(10),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(
            Row::new([
                "PID",
                "STATE",
                "QUERY",
                "XACT",
                "WAIT",
                "APP",
                "CLIENT",
                "STATEMENT",
            ])
            .style(state.theme.header),
        ),
        list,
    );
}

fn statements(frame: &mut Frame, area: Rect, state: &State, d: &DetailState) {
    let Some(data) = &d.data else {
        return loading(frame, area, state, d);
    };
    let Some(stmts) = &data.statements else {
        return frame.render_widget(
            Paragraph::new(hint(
                "pg_stat_statements is not available on this server".into(),
                state,
            )),
            area,
        );
    };
    if stmts.is_empty() {
        return frame.render_widget(
            Paragraph::new(hint("no statements recorded".into(), state)),
            area,
        );
    }
    let (a, b) = window(
        d.cursor,
        stmts.len(),
        usize::from(area.height.saturating_sub(1)),
    );
    let rows = table_rows(
        (a..b).map(|i| {
            let s = &stmts[i];
            (
                i,
                vec![
                    Cell::from(s.calls.to_string()),
                    Cell::from(format!("{:.1}", s.total_ms)),
                    Cell::from(format!("{:.2}", s.mean_ms)),
                    Cell::from(s.rows.to_string()),
                    Cell::from(clean(&s.query)),
                ],
            )
        }),
        d.cursor,
        state,
    );
    let widths = [
        Constraint::Length(9),
        Constraint::Length(11),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Min(10),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(
            Row::new(["CALLS", "TOTAL ms", "MEAN ms", "ROWS", "STATEMENT"])
                .style(state.theme.header),
        ),
        area,
    );
}

/// Scale a series to u64 for a sparkline; `None` points become empty bars.
pub fn spark_data(
    points: &[crate::domain::metrics::HistoryPoint],
    width: usize,
) -> (Vec<Option<u64>>, f64) {
    let tail = &points[points.len().saturating_sub(width)..];
    let max = tail.iter().filter_map(|p| p.value).fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { 1000.0 / max } else { 0.0 };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let data = tail
        .iter()
        .map(|p| p.value.map(|v| (v.max(0.0) * scale).round() as u64))
        .collect();
    (data, max)
}

fn history(frame: &mut Frame, area: Rect, state: &State, d: &DetailState) {
    let Some(h) = &d.history else {
        return frame.render_widget(Paragraph::new(hint("loading history…".into(), state)), area);
    };
    if h.series.is_empty() {
        return frame.render_widget(Paragraph::new(hint("no history yet".into(), state)), area);
    }
    super::charts::tenant(frame, area, state, d.tenant, h, d.cursor);
}

fn audit(frame: &mut Frame, area: Rect, state: &State, d: &DetailState) {
    let Some(entries) = &d.audit else {
        return frame.render_widget(
            Paragraph::new(hint("loading audit trail…".into(), state)),
            area,
        );
    };
    super::audit::table(frame, area, state, entries, d.cursor, false);
}
