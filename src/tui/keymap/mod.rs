//! Keys to Actions. The keymap is data: defaults in code, overridden per
//! action by the config's `[keys]` table. Panes never look at key codes; in
//! text fields the keys map to [`TextKey`]s here as well.

use std::collections::{BTreeMap, HashMap};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};

use super::action::{Action, TextKey};
use crate::config::KeySpec;
use crate::error::{Error, Result};

/// Which mapping applies: commands, or typing into a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputMode {
    /// Keys are commands (the keymap).
    Normal,
    /// Keys edit the focused field.
    Text,
}

/// A rebindable action: its config name, what it does, and its default keys.
struct Bindable {
    name: &'static str,
    help: &'static str,
    defaults: &'static [&'static str],
    /// Mutating or destructive: may not be bound to a Ctrl chord.
    destructive: bool,
    action: fn() -> Action,
}

const BINDABLE: &[Bindable] = &[
    Bindable {
        name: "help",
        help: "show or hide this help",
        defaults: &["?"],
        destructive: false,
        action: || Action::Help,
    },
    Bindable {
        name: "command",
        help: "command line (:create, :suspend T, :sort size, ...)",
        defaults: &[":"],
        destructive: false,
        action: || Action::CommandLine,
    },
    Bindable {
        name: "filter",
        help: "filter by name, domain, status (status=suspended)",
        defaults: &["/"],
        destructive: false,
        action: || Action::Filter,
    },
    Bindable {
        name: "down",
        help: "next row",
        defaults: &["j", "Down"],
        destructive: false,
        action: || Action::Down,
    },
    Bindable {
        name: "up",
        help: "previous row",
        defaults: &["k", "Up"],
        destructive: false,
        action: || Action::Up,
    },
    Bindable {
        name: "top",
        help: "first row",
        defaults: &["g", "Home"],
        destructive: false,
        action: || Action::Top,
    },
    Bindable {
        name: "bottom",
        help: "last row",
        defaults: &["G", "End"],
        destructive: false,
        action: || Action::Bottom,
    },
    Bindable {
        name: "page_down",
        help: "page down",
        defaults: &["PageDown"],
        destructive: false,
        action: || Action::PageDown,
    },
    Bindable {
        name: "page_up",
        help: "page up",
        defaults: &["PageUp"],
        destructive: false,
        action: || Action::PageUp,
    },
    Bindable {
        name: "open",
        help: "open the tenant's detail",
        defaults: &["Enter"],
        destructive: false,
        action: || Action::Open,
    },
    Bindable {
        name: "back",
        help: "back / close",
        defaults: &["Esc"],
        destructive: false,
        action: || Action::Back,
    },
    Bindable {
        name: "next_pane",
        help: "next pane (tenants, monitor, audit, alerts)",
        defaults: &["Tab"],
        destructive: false,
        action: || Action::NextPane,
    },
    Bindable {
        name: "prev_pane",
        help: "previous pane",
        defaults: &["BackTab"],
        destructive: false,
        action: || Action::PrevPane,
    },
    Bindable {
        name: "next_tab",
        help: "next detail tab",
        defaults: &["l", "Right"],
        destructive: false,
        action: || Action::NextTab,
    },
    Bindable {
        name: "prev_tab",
        help: "previous detail tab",
        defaults: &["h", "Left"],
        destructive: false,
        action: || Action::PrevTab,
    },
    Bindable {
        name: "new",
        help: "new tenant (wizard)",
        defaults: &["n"],
        destructive: true,
        action: || Action::New,
    },
    Bindable {
        name: "edit",
        help: "edit the tenant's name, limits, settings",
        defaults: &["e"],
        destructive: true,
        action: || Action::Edit,
    },
    Bindable {
        name: "suspend_resume",
        help: "suspend or resume (asks first)",
        defaults: &["x"],
        destructive: true,
        action: || Action::SuspendResume,
    },
    Bindable {
        name: "delete",
        help: "delete a suspended tenant (type its domain)",
        defaults: &["D"],
        destructive: true,
        action: || Action::Delete,
    },
    Bindable {
        name: "cancel_session",
        help: "sessions tab: cancel the statement (asks first)",
        defaults: &["c"],
        destructive: true,
        action: || Action::CancelSession,
    },
    Bindable {
        name: "terminate_session",
        help: "sessions tab: terminate the session (asks first)",
        defaults: &["T"],
        destructive: true,
        action: || Action::TerminateSession,
    },
    Bindable {
        name: "sort_column",
        help: "sort by the next column (monitor: next metric)",
        defaults: &["s"],
        destructive: false,
        action: || Action::SortColumn,
    },
    Bindable {
        name: "sort_direction",
        help: "flip the sort direction",
        defaults: &["S"],
        destructive: false,
        action: || Action::SortDirection,
    },
    Bindable {
        name: "pause",
        help: "pause / resume the live view",
        defaults: &["Space"],
        destructive: false,
        action: || Action::Pause,
    },
    Bindable {
        name: "faster",
        help: "refresh faster",
        defaults: &["+"],
        destructive: false,
        action: || Action::Faster,
    },
    Bindable {
        name: "slower",
        help: "refresh slower",
        defaults: &["-"],
        destructive: false,
        action: || Action::Slower,
    },
    Bindable {
        name: "refresh",
        help: "refresh now",
        defaults: &["r"],
        destructive: false,
        action: || Action::Refresh,
    },
    Bindable {
        name: "monitor",
        help: "monitor: cluster charts and top tenants",
        defaults: &["m"],
        destructive: false,
        action: || Action::View(crate::tui::state::Pane::Monitor),
    },
    Bindable {
        name: "neighbours",
        help: "neighbours: tenants by share of the server (s: next metric)",
        defaults: &["N"],
        destructive: false,
        action: || Action::View(crate::tui::state::Pane::Neighbours),
    },
    Bindable {
        name: "locks",
        help: "locks: blocking chains (c/T: cancel/terminate the blocker)",
        defaults: &["L"],
        destructive: false,
        action: || Action::View(crate::tui::state::Pane::Locks),
    },
    Bindable {
        name: "heatmap",
        help: "heat map: every tenant a cell (s: metric, S: grouping)",
        defaults: &["H"],
        destructive: false,
        action: || Action::View(crate::tui::state::Pane::Heatmap),
    },
    Bindable {
        name: "migrations",
        help: "migrations: fleet migration runs and their tenants",
        defaults: &["M"],
        destructive: false,
        action: || Action::View(crate::tui::state::Pane::Migrations),
    },
    Bindable {
        name: "migrate_pause",
        help: "migrations: pause the selected run (asks first)",
        defaults: &["p"],
        destructive: true,
        action: || Action::MigratePause,
    },
    Bindable {
        name: "migrate_resume",
        help: "migrations: resume the selected run here (asks first)",
        defaults: &["R"],
        destructive: true,
        action: || Action::MigrateResume,
    },
    Bindable {
        name: "migrate_cancel",
        help: "migrations: cancel the selected run (asks first)",
        defaults: &["C"],
        destructive: true,
        action: || Action::MigrateCancel,
    },
    Bindable {
        name: "window",
        help: "charts: next time window (1, 5, 15, 60 min)",
        defaults: &["w"],
        destructive: false,
        action: || Action::Window,
    },
    Bindable {
        name: "time_back",
        help: "paused: one point back in the history (also ← in the list and monitor views)",
        defaults: &["<"],
        destructive: false,
        action: || Action::TimeBack,
    },
    Bindable {
        name: "time_forward",
        help: "paused: one point forward (also →)",
        defaults: &[">"],
        destructive: false,
        action: || Action::TimeForward,
    },
    Bindable {
        name: "quit",
        help: "quit",
        defaults: &["q"],
        destructive: false,
        action: || Action::Quit,
    },
];

/// A key as the keymap stores it: code plus Ctrl/Alt (Shift is folded into
/// the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    fn from_event(ev: &KeyEvent) -> Self {
        Self {
            code: ev.code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        }
    }

    /// Parse a key name as `[keys]` spells it: a character, `Enter`, `Esc`,
    /// `Tab`, `BackTab`, arrows, `PageUp`, `PageDown`, `Home`, `End`,
    /// `Space`, `F1`..`F12`, optionally prefixed `Ctrl-` or `Alt-`.
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(format!(
                "unknown key \"{}\" in [keys]: use a character, Enter, Esc, Tab, BackTab, Up, Down, Left, Right, PageUp, PageDown, Home, End, Space or F1..F12",
                crate::domain::sanitize::clean(spec)
            ))
        };
        let mut rest = spec;
        let mut ctrl = false;
        let mut alt = false;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.chars().count() > 2
                && (lower.starts_with("ctrl-") || lower.starts_with("ctrl+"))
            {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.chars().count() > 2
                && (lower.starts_with("alt-") || lower.starts_with("alt+"))
            {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(c),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" => KeyCode::PageDown,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "space" => KeyCode::Char(' '),
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                f if f.starts_with('f') => {
                    let n: u8 = f[1..].parse().map_err(|_| bad())?;
                    if !(1..=12).contains(&n) {
                        return Err(bad());
                    }
                    KeyCode::F(n)
                }
                _ => return Err(bad()),
            },
        };
        Ok(Self { code, ctrl, alt })
    }

    /// How help shows the key.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Backspace => "Bksp".into(),
            KeyCode::Delete => "Del".into(),
            other => format!("{other:?}"),
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("Ctrl-{base}"),
            (false, true) => format!("Alt-{base}"),
            _ => base,
        }
    }
}

/// One line of the help overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRow {
    pub keys: String,
    pub name: &'static str,
    pub help: &'static str,
}

/// The live keymap.
#[derive(Debug, Clone)]
pub struct Keymap {
    map: HashMap<Key, usize>,
    /// Keys per bindable index, in the order given.
    keys: Vec<Vec<Key>>,
    mouse: bool,
}

impl Default for Keymap {
    fn default() -> Self {
        Self::from_config(&BTreeMap::new()).unwrap_or_else(|_| unreachable!("defaults parse"))
    }
}

impl Keymap {
    /// Defaults, with each action named in `[keys]` rebound to the given keys.
    /// A key taken by a rebinding is removed from the action that had it by
    /// default. Unknown names or keys, and destructive actions on Ctrl chords,
    /// are errors.
    pub fn from_config(keys: &BTreeMap<String, KeySpec>) -> Result<Self> {
        let mut per: Vec<Vec<Key>> = Vec::with_capacity(BINDABLE.len());
        for b in BINDABLE {
            let mut v = Vec::new();
            for d in b.defaults {
                v.push(Key::parse(d)?);
            }
            per.push(v);
        }
        let mut user: Vec<usize> = Vec::new();
        for (name, spec) in keys {
            let Some(i) = BINDABLE.iter().position(|b| b.name == name) else {
                let known: Vec<&str> = BINDABLE.iter().map(|b| b.name).collect();
                return Err(Error::invalid(format!(
                    "unknown action \"{}\" in [keys]: known actions are {}",
                    crate::domain::sanitize::clean(name),
                    known.join(", ")
                )));
            };
            let mut v = Vec::new();
            for k in spec.keys() {
                let key = Key::parse(k)?;
                if BINDABLE[i].destructive && (key.ctrl || key.alt) {
                    return Err(Error::invalid(format!(
                        "[keys] {name} = \"{k}\": actions that change tenants may not be bound to a Ctrl or Alt chord"
                    )));
                }
                if is_reserved(key) {
                    return Err(Error::invalid(format!(
                        "[keys] {name} = \"{k}\": Ctrl-C and Ctrl-Z are reserved"
                    )));
                }
                v.push(key);
            }
            per[i] = v;
            user.push(i);
        }
        // User bindings win over defaults of other actions.
        let mut map = HashMap::new();
        for (i, ks) in per.iter().enumerate() {
            if user.contains(&i) {
                continue;
            }
            for k in ks {
                map.insert(*k, i);
            }
        }
        for &i in &user {
            for k in &per[i] {
                map.insert(*k, i);
            }
        }
        // Drop keys an action lost to another one so help shows the truth.
        for (i, ks) in per.iter_mut().enumerate() {
            ks.retain(|k| map.get(k) == Some(&i));
        }
        Ok(Self {
            map,
            keys: per,
            mouse: false,
        })
    }

    /// Turn on mouse translation (`--mouse`).
    #[must_use]
    pub fn with_mouse(mut self, on: bool) -> Self {
        self.mouse = on;
        self
    }

    /// The action for a key press in the given mode.
    pub fn key(&self, mode: InputMode, ev: &KeyEvent) -> Option<Action> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        let key = Key::from_event(ev);
        if key.ctrl {
            match key.code {
                KeyCode::Char('c') => return Some(Action::Interrupt),
                KeyCode::Char('z') => return Some(Action::SuspendProcess),
                _ => {}
            }
        }
        match mode {
            InputMode::Normal => self.map.get(&key).map(|&i| (BINDABLE[i].action)()),
            InputMode::Text => text_key(key).map(Action::Text),
        }
    }

    /// The action for a mouse event, when the mouse is on.
    pub fn mouse(&self, ev: &MouseEvent) -> Option<Action> {
        if !self.mouse {
            return None;
        }
        match ev.kind {
            MouseEventKind::ScrollDown => Some(Action::Down),
            MouseEventKind::ScrollUp => Some(Action::Up),
            MouseEventKind::Down(crossterm::event::MouseButton::Left) => {
                Some(Action::Click(ev.column, ev.row))
            }
            _ => None,
        }
    }

    /// The first key bound to an action by config name, for hints.
    pub fn label_of(&self, name: &str) -> String {
        BINDABLE
            .iter()
            .position(|b| b.name == name)
            .and_then(|i| self.keys[i].first())
            .map_or_else(|| "unbound".to_string(), Key::label)
    }

    /// Every action with its current keys, for the help overlay.
    pub fn help_rows(&self) -> Vec<HelpRow> {
        BINDABLE
            .iter()
            .zip(&self.keys)
            .map(|(b, ks)| HelpRow {
                keys: if ks.is_empty() {
                    "unbound".to_string()
                } else {
                    ks.iter().map(Key::label).collect::<Vec<_>>().join(" ")
                },
                name: b.name,
                help: b.help,
            })
            .collect()
    }
}

fn is_reserved(k: Key) -> bool {
    k.ctrl && matches!(k.code, KeyCode::Char('c' | 'z'))
}

fn text_key(k: Key) -> Option<TextKey> {
    if k.ctrl {
        return match k.code {
            KeyCode::Char('w' | 'h') | KeyCode::Backspace => Some(TextKey::DeleteWord),
            KeyCode::Char('u') => Some(TextKey::Clear),
            KeyCode::Char('a') => Some(TextKey::Home),
            KeyCode::Char('e') => Some(TextKey::End),
            _ => None,
        };
    }
    Some(match k.code {
        KeyCode::Char(c) => TextKey::Char(c),
        KeyCode::Backspace => TextKey::Backspace,
        KeyCode::Delete => TextKey::Delete,
        KeyCode::Left => TextKey::Left,
        KeyCode::Right => TextKey::Right,
        KeyCode::Home => TextKey::Home,
        KeyCode::End => TextKey::End,
        KeyCode::Up => TextKey::Up,
        KeyCode::Down => TextKey::Down,
        KeyCode::Enter => TextKey::Submit,
        KeyCode::Esc => TextKey::Cancel,
        KeyCode::Tab => TextKey::Next,
        KeyCode::BackTab => TextKey::Prev,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
