//! The create wizard: name, domain, template (with its tables), limits,
//! settings, review, then live provisioning steps and the result.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::domain::sanitize::{clean, clean_truncate};
use crate::domain::units::format_duration;
use crate::tui::state::{Field, State, Wizard, WizardOutcome, WizardStep};

pub fn draw(frame: &mut Frame, area: Rect, state: &State, w: &Wizard) {
    let th = &state.theme;
    let inner = super::popup(frame, area, 96, 26, "new tenant", state);
    if inner.height < 3 || inner.width < 10 {
        return;
    }
    let [steps, body, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let mut spans = Vec::new();
    for (i, s) in WizardStep::INPUT.iter().enumerate() {
        let style = if *s == w.step {
            th.selected
        } else if WizardStep::INPUT
            .iter()
            .position(|x| *x == w.step)
            .is_some_and(|cur| i < cur)
            || matches!(w.step, WizardStep::Progress | WizardStep::Result)
        {
            th.ok
        } else {
            th.dim
        };
        spans.push(Span::styled(format!(" {} {} ", i + 1, s.title()), style));
        spans.push(Span::styled("›", th.dim));
    }
    spans.pop();
    frame.render_widget(Paragraph::new(Line::from(spans)), steps);
    let hint = match w.step {
        WizardStep::Template => "↑/↓ choose · Enter next · Esc back",
        WizardStep::Limits => "Tab/↑/↓ field · Enter next · Esc back",
        WizardStep::Review => "Enter creates the tenant · Esc back",
        WizardStep::Progress => "provisioning… Esc hides this window",
        WizardStep::Result => "Enter or Esc closes",
        _ => "Enter next · Esc back (at the first step: cancel) · Ctrl-U clears",
    };
    frame.render_widget(Paragraph::new(Span::styled(hint, th.dim)), foot);
    match w.step {
        WizardStep::Name => field(
            frame,
            body,
            state,
            "Display name",
            &w.name,
            "1 to 255 printable characters",
            true,
        ),
        WizardStep::Domain => field(
            frame,
            body,
            state,
            "Domain",
            &w.domain,
            "letters, digits, hyphens and dots; unique among tenants",
            true,
        ),
        WizardStep::Template => template(frame, body, state, w),
        WizardStep::Limits => {
            let rows = Layout::vertical([Constraint::Length(3); 3]).split(body);
            field(
                frame,
                rows[0],
                state,
                "Connection limit",
                &w.connection_limit,
                "-1 unlimited, 0 to 10000",
                w.limit_focus == 0,
            );
            field(
                frame,
                rows[1],
                state,
                "Statement timeout",
                &w.statement_timeout,
                "e.g. 30s, 2m; empty: server default",
                w.limit_focus == 1,
            );
            field(
                frame,
                rows[2],
                state,
                "Storage quota",
                &w.storage_quota,
                "e.g. 10GB; empty: no quota",
                w.limit_focus == 2,
            );
        }
        WizardStep::Settings => field(
            frame,
            body,
            state,
            "Settings (JSON object)",
            &w.settings,
            "e.g. {\"tier\": \"gold\"}",
            true,
        ),
        WizardStep::Review => review(frame, body, state, w),
        WizardStep::Progress | WizardStep::Result => progress(frame, body, state, w),
    }
}

/// A labelled input with its error or hint underneath.
fn field(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    label: &str,
    f: &Field,
    hint: &str,
    focused: bool,
) {
    let th = &state.theme;
    let label_w: u16 = 20;
    let width = usize::from(area.width.saturating_sub(label_w + 1));
    let scroll = f.input.visual_scroll(width);
    let value: String = clean(f.value()).chars().skip(scroll).take(width).collect();
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{label:<w$}", w = usize::from(label_w)),
            if focused { th.accent } else { th.dim },
        ),
        Span::styled(value, if focused { th.input } else { th.text }),
    ])];
    lines.push(match &f.error {
        Some(e) => Line::from(Span::styled(clean(e), th.crit)),
        None => Line::from(Span::styled(hint.to_string(), th.dim)),
    });
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
    if focused {
        let x = area.x
            + label_w
            + u16::try_from(f.input.visual_cursor().saturating_sub(scroll)).unwrap_or(0);
        if x < area.x + area.width && area.height > 0 {
            frame.set_cursor_position(Position::new(x, area.y));
        }
    }
}

fn template(frame: &mut Frame, area: Rect, state: &State, w: &Wizard) {
    let th = &state.theme;
    let Some(list) = &w.templates else {
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!(
                    "loading templates… (Enter uses \"{}\")",
                    clean(&state.defaults.template)
                ),
                th.dim,
            )),
            area,
        );
        return;
    };
    if list.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no templates found in the template directory",
                th.crit,
            )),
            area,
        );
        return;
    }
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    let lines: Vec<Line> = list
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Line::from(Span::styled(
                format!("{} v{}", clean(&t.name), t.version),
                super::row_style(i == w.template_cursor, state),
            ))
        })
        .collect();
    let (a, b) = super::window(w.template_cursor, lines.len(), usize::from(left.height));
    frame.render_widget(Paragraph::new(lines[a..b].to_vec()), left);
    if let Some(t) = list.get(w.template_cursor) {
        let mut r = vec![
            Line::from(Span::styled(clean(&t.description), th.text)),
            Line::from(""),
            Line::from(Span::styled(
                format!("{} tables", t.tables.len()),
                th.header,
            )),
        ];
        for name in &t.tables {
            r.push(Line::from(Span::styled(
                format!("  {}", clean(name)),
                th.text,
            )));
        }
        frame.render_widget(Paragraph::new(r).wrap(Wrap { trim: false }), right);
    }
}

fn review(frame: &mut Frame, area: Rect, state: &State, w: &Wizard) {
    let or = |s: &str, d: &str| {
        if s.trim().is_empty() {
            d.to_string()
        } else {
            clean(s.trim())
        }
    };
    let lines = vec![
        super::kv("name", clean(w.name.value().trim()), state),
        super::kv(
            "domain",
            clean(&w.domain.value().trim().to_ascii_lowercase()),
            state,
        ),
        super::kv(
            "template",
            clean(w.template_name(&state.defaults.template)),
            state,
        ),
        super::kv(
            "connection limit",
            clean(w.connection_limit.value().trim()),
            state,
        ),
        super::kv(
            "statement timeout",
            or(w.statement_timeout.value(), "server default"),
            state,
        ),
        super::kv("storage quota", or(w.storage_quota.value(), "none"), state),
        super::kv(
            "settings",
            clean_truncate(w.settings.value().trim(), 60),
            state,
        ),
        Line::from(""),
        Line::from(Span::styled(
            "The schema, role, limits and template tables are created in one transaction.",
            state.theme.dim,
        )),
    ];
    frame.render_widget(Paragraph::new(lines), area);
}

fn progress(frame: &mut Frame, area: Rect, state: &State, w: &Wizard) {
    let th = &state.theme;
    let mut lines = Vec::new();
    // Each step reports its own duration; "at" is the running total.
    let mut at = std::time::Duration::ZERO;
    for s in &w.steps {
        let took = s.elapsed;
        at += took;
        lines.push(Line::from(vec![
            Span::styled("  ✓ ", th.ok),
            Span::styled(format!("{:<40}", clean_truncate(&s.name, 40)), th.text),
            Span::styled(
                format!("{:>8}  at {}", format_duration(took), format_duration(at)),
                th.dim,
            ),
        ]));
    }
    match &w.outcome {
        None => {
            let elapsed = w
                .started_at
                .map(|t| (state.now - t).to_std().unwrap_or_default())
                .unwrap_or_default();
            lines.push(Line::from(Span::styled(
                format!("  … working ({})", format_duration(elapsed)),
                th.accent,
            )));
        }
        Some(WizardOutcome::Created(t)) => {
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(
                format!(
                    "created {} ({}){}",
                    clean_truncate(&t.name, 40),
                    clean(&t.domain),
                    t.provision_ms
                        .map_or_else(String::new, |ms| format!(" in {ms} ms"))
                ),
                th.ok,
            )));
            lines.push(super::kv("schema", clean(&t.schema_name), state));
            lines.push(super::kv("role", clean(&t.role_name), state));
            lines.push(super::kv("id", t.id.to_string(), state));
            for warn in &t.warnings {
                lines.push(Line::from(Span::styled(
                    format!("warning: {}", clean(warn)),
                    th.warn,
                )));
            }
        }
        Some(WizardOutcome::Done(m)) => {
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(clean(m), th.ok)));
        }
        Some(WizardOutcome::Failed(m)) => {
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(
                format!("failed: {}", clean(m)),
                th.crit,
            )));
            lines.push(Line::from(Span::styled(
                "nothing was left half-made: the transaction rolled back",
                th.dim,
            )));
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}
