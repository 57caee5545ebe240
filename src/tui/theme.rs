//! Colours. Dark and light palettes, and a monochrome one that uses only
//! bold, reverse and underline (`NO_COLOR`, `--no-color`, `theme = "mono"`).

use ratatui::style::{Color, Modifier, Style};

use crate::config::ThemeName;

/// The styles every pane draws with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub name: ThemeName,
    pub text: Style,
    pub dim: Style,
    pub title: Style,
    pub border: Style,
    pub header: Style,
    pub selected: Style,
    pub ok: Style,
    pub warn: Style,
    pub crit: Style,
    pub badge: Style,
    pub bar: Style,
    pub accent: Style,
    pub input: Style,
}

impl Theme {
    pub fn new(name: ThemeName) -> Self {
        match name {
            ThemeName::Dark => Self {
                name,
                text: Style::new().fg(Color::Gray),
                dim: Style::new().fg(Color::DarkGray),
                title: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                border: Style::new().fg(Color::DarkGray),
                header: Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                selected: Style::new().bg(Color::Rgb(40, 60, 90)).fg(Color::White),
                ok: Style::new().fg(Color::Green),
                warn: Style::new().fg(Color::Yellow),
                crit: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                badge: Style::new()
                    .bg(Color::Red)
                    .fg(Color::White)
                    .add_modifier(Modifier::BOLD),
                bar: Style::new().bg(Color::Rgb(30, 30, 40)).fg(Color::Gray),
                accent: Style::new().fg(Color::Cyan),
                input: Style::new()
                    .fg(Color::White)
                    .add_modifier(Modifier::UNDERLINED),
            },
            ThemeName::Light => Self {
                name,
                text: Style::new().fg(Color::Black),
                dim: Style::new().fg(Color::Gray),
                title: Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
                border: Style::new().fg(Color::Gray),
                header: Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
                selected: Style::new().bg(Color::Rgb(200, 220, 250)).fg(Color::Black),
                ok: Style::new().fg(Color::Rgb(0, 120, 0)),
                warn: Style::new().fg(Color::Rgb(160, 100, 0)),
                crit: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                badge: Style::new()
                    .bg(Color::Red)
                    .fg(Color::White)
                    .add_modifier(Modifier::BOLD),
                bar: Style::new().bg(Color::Rgb(225, 225, 230)).fg(Color::Black),
                accent: Style::new().fg(Color::Blue),
                input: Style::new()
                    .fg(Color::Black)
                    .add_modifier(Modifier::UNDERLINED),
            },
            ThemeName::Mono => Self {
                name,
                text: Style::new(),
                dim: Style::new(),
                title: Style::new().add_modifier(Modifier::BOLD),
                border: Style::new(),
                header: Style::new().add_modifier(Modifier::BOLD),
                selected: Style::new().add_modifier(Modifier::REVERSED),
                ok: Style::new(),
                warn: Style::new().add_modifier(Modifier::BOLD),
                crit: Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
                badge: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
                bar: Style::new().add_modifier(Modifier::REVERSED),
                accent: Style::new().add_modifier(Modifier::BOLD),
                input: Style::new().add_modifier(Modifier::UNDERLINED),
            },
        }
    }

    /// Style for a health score.
    pub fn health(&self, score: u8) -> Style {
        match score {
            80..=u8::MAX => self.ok,
            50..=79 => self.warn,
            _ => self.crit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_has_no_colour() {
        let t = Theme::new(ThemeName::Mono);
        for s in [
            t.text, t.dim, t.title, t.border, t.header, t.selected, t.ok, t.warn, t.crit, t.badge,
            t.bar, t.accent, t.input,
        ] {
            assert!(s.fg.is_none() && s.bg.is_none(), "{s:?}");
        }
    }
}
