//! The `:` command line (parsing, completion, execution) and the `/` filter.
#![allow(clippy::needless_pass_by_value)] // reason: handlers take the Action by value as update() does; most consume it

use std::time::Duration;

use tui_input::Input;

use crate::backend::Command;
use crate::domain::sanitize::clean;
use crate::domain::tenant::TenantStatus;
use crate::domain::units::parse_duration;
use crate::tui::action::{Action, TextKey};
use crate::tui::state::form::edit_input;
use crate::tui::state::{Column, CommandLine, Modal, State};

use super::{
    ask_delete_for, ask_suspend_resume_for, open_wizard, say, set_filter, set_interval, sort_by,
};

/// Commands the console understands, for completion and help.
pub const COMMANDS: [(&str, &str); 18] = [
    ("create", "open the create wizard"),
    ("suspend", "suspend TENANT (asks first)"),
    ("resume", "resume TENANT (asks first)"),
    ("delete", "delete a suspended TENANT (type its domain)"),
    (
        "filter",
        "filter the list: words, status=, name=, domain=, template=, health<N",
    ),
    ("sort", "sort by COLUMN [asc|desc]"),
    ("cluster", "switch to the configured cluster NAME"),
    ("refresh", "refresh now, or set the interval: :refresh 5s"),
    ("pause", "pause or resume the live view"),
    ("help", "show the keys"),
    ("monitor", "cluster charts and top tenants"),
    (
        "neighbours",
        "tenants by share of the server: :neighbours [share|wal|temp|cache|writes|connections]",
    ),
    ("locks", "blocking chains: who waits for whom"),
    ("heatmap", "every tenant a cell, coloured against the fleet"),
    ("window", "chart window in minutes: :window 1|5|15|60"),
    ("migrations", "fleet migration runs and their tenants"),
    (
        "migrate",
        "pause, resume or cancel a run: :migrate pause|resume|cancel [RUN] (asks first)",
    ),
    ("quit", "leave the console"),
];

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleCommand {
    Create,
    Suspend(String),
    Resume(String),
    Delete(String),
    Filter(String),
    Sort(Column, Option<bool>),
    Cluster(String),
    RefreshNow,
    Interval(Duration),
    Pause,
    Help,
    Quit,
    /// Open a monitoring view (Neighbours optionally ranked by a metric).
    View(
        crate::tui::state::Pane,
        Option<crate::domain::activity::NeighbourMetric>,
    ),
    Window(Duration),
    /// `:migrate pause|resume|cancel [RUN]` (the selected run when none).
    Migrate(crate::domain::runs::RunAction, Option<String>),
}

/// Parse what was typed after `:`. Commands may be abbreviated to a unique prefix.
pub fn parse_command(line: &str) -> Result<ConsoleCommand, String> {
    let line = line.trim();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    if word.is_empty() {
        return Err(
            "type a command: create, suspend, resume, delete, filter, sort, cluster, refresh, quit"
                .into(),
        );
    }
    let w = word.to_ascii_lowercase();
    let matches: Vec<&str> = COMMANDS
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| c.starts_with(&w))
        .collect();
    let cmd = match (w.as_str(), matches.as_slice()) {
        ("q" | "q!", _) => "quit",
        (_, [one]) => one,
        (_, []) => {
            return Err(format!(
                "unknown command \"{}\": press Tab to see the commands",
                clean(word)
            ));
        }
        (_, many) => {
            if let Some(exact) = many.iter().find(|c| **c == w) {
                exact
            } else {
                return Err(format!(
                    "\"{}\" is ambiguous: {}",
                    clean(word),
                    many.join(", ")
                ));
            }
        }
    };
    let need = |what: &str| -> Result<String, String> {
        if rest.is_empty() {
            Err(format!(":{cmd} needs {what}"))
        } else {
            Ok(rest.to_string())
        }
    };
    Ok(match cmd {
        "create" => ConsoleCommand::Create,
        "suspend" => ConsoleCommand::Suspend(need("a tenant: name, domain or id")?),
        "resume" => ConsoleCommand::Resume(need("a tenant: name, domain or id")?),
        "delete" => ConsoleCommand::Delete(need("a tenant: name, domain or id")?),
        "filter" => ConsoleCommand::Filter(rest.to_string()),
        "sort" => {
            let mut it = rest.split_whitespace();
            let col = it.next().ok_or_else(|| {
                ":sort needs a column: name, domain, status, health, size, connections, calls, writes, template".to_string()
            })?;
            let col =
                Column::parse(col).ok_or_else(|| format!("unknown column \"{}\"", clean(col)))?;
            let dir = match it.next().map(str::to_ascii_lowercase).as_deref() {
                None => None,
                Some("asc" | "up") => Some(false),
                Some("desc" | "down") => Some(true),
                Some(other) => {
                    return Err(format!(
                        "sort direction \"{}\": use asc or desc",
                        clean(other)
                    ));
                }
            };
            ConsoleCommand::Sort(col, dir)
        }
        "cluster" => ConsoleCommand::Cluster(need("a cluster name")?),
        "refresh" => {
            if rest.is_empty() {
                ConsoleCommand::RefreshNow
            } else {
                ConsoleCommand::Interval(parse_duration(rest).map_err(|e| e.message)?)
            }
        }
        "pause" => ConsoleCommand::Pause,
        "help" => ConsoleCommand::Help,
        "monitor" => ConsoleCommand::View(crate::tui::state::Pane::Monitor, None),
        "neighbours" => {
            let metric = if rest.is_empty() {
                None
            } else {
                Some(
                    crate::domain::activity::NeighbourMetric::parse(rest).ok_or_else(|| {
                        format!(
                            "unknown metric \"{}\": use share, wal, temp, cache, writes or connections",
                            clean(rest)
                        )
                    })?,
                )
            };
            ConsoleCommand::View(crate::tui::state::Pane::Neighbours, metric)
        }
        "locks" => ConsoleCommand::View(crate::tui::state::Pane::Locks, None),
        "heatmap" => ConsoleCommand::View(crate::tui::state::Pane::Heatmap, None),
        "migrations" => ConsoleCommand::View(crate::tui::state::Pane::Migrations, None),
        "migrate" => {
            use crate::domain::runs::RunAction;
            let mut it = rest.split_whitespace();
            let action = match it.next().map(str::to_ascii_lowercase).as_deref() {
                Some("pause") => RunAction::Pause,
                Some("resume") => RunAction::Resume,
                Some("cancel") => RunAction::Cancel,
                Some(other) => {
                    return Err(format!(
                        ":migrate {}: use pause, resume or cancel",
                        clean(other)
                    ));
                }
                None => return Err(":migrate needs pause, resume or cancel".into()),
            };
            let run = it.next().map(str::to_string);
            if it.next().is_some() {
                return Err(":migrate takes an action and at most one run id".into());
            }
            ConsoleCommand::Migrate(action, run)
        }
        "window" => {
            let m: u64 = rest
                .trim_end_matches(['m', 'M'])
                .parse()
                .ok()
                .filter(|m| crate::tui::state::views::WINDOWS_MIN.contains(m))
                .ok_or_else(|| {
                    format!(
                        ":window takes 1, 5, 15 or 60 (minutes), not \"{}\"",
                        clean(rest)
                    )
                })?;
            ConsoleCommand::Window(Duration::from_secs(m * 60))
        }
        _ => ConsoleCommand::Quit,
    })
}

/// Completions of the line: command names, or the argument of the command
/// (tenant names, clusters, columns, filter keys). At most 50 candidates,
/// each a whole replacement line.
pub fn complete(state: &State, line: &str) -> Vec<String> {
    const MAX: usize = 50;
    let Some((word, arg)) = line.split_once(' ') else {
        let w = line.to_ascii_lowercase();
        return COMMANDS
            .iter()
            .filter(|(c, _)| c.starts_with(&w))
            .map(|(c, _)| format!("{c} "))
            .collect();
    };
    let w = word.to_ascii_lowercase();
    let mut named = COMMANDS
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| c.starts_with(&w));
    let (Some(full), None) = (named.next(), named.next()) else {
        return Vec::new();
    };
    let a = arg.trim_start().to_lowercase();
    let out = |cands: Vec<String>| -> Vec<String> {
        let mut v: Vec<String> = cands
            .into_iter()
            .filter(|c| c.to_lowercase().starts_with(&a))
            .map(|c| format!("{full} {c}"))
            .collect();
        v.sort();
        v.dedup();
        v.truncate(MAX);
        v
    };
    let tenants = |want: Option<TenantStatus>| -> Vec<String> {
        state
            .tenants
            .iter()
            .filter(|t| want.is_none_or(|s| t.status == s))
            .filter(|t| t.status != TenantStatus::Deleted)
            .map(|t| clean(&t.name))
            .filter(|n| n.to_lowercase().starts_with(&a))
            .take(MAX * 4)
            .collect()
    };
    match full {
        "suspend" => out(tenants(Some(TenantStatus::Active))),
        "resume" | "delete" => out(tenants(Some(TenantStatus::Suspended))),
        "cluster" => out(state.clusters.iter().map(|(n, _)| n.clone()).collect()),
        "sort" => out(Column::ALL.iter().map(|c| c.key().to_string()).collect()),
        "neighbours" => out(crate::domain::activity::NeighbourMetric::ALL
            .iter()
            .map(|m| m.key().to_string())
            .collect()),
        "window" => out(["1", "5", "15", "60"].map(String::from).to_vec()),
        "migrate" => out(["pause", "resume", "cancel"].map(String::from).to_vec()),
        "filter" => out([
            "status=active",
            "status=suspended",
            "status=provisioning",
            "health<50",
        ]
        .iter()
        .map(ToString::to_string)
        .collect()),
        _ => Vec::new(),
    }
}

fn longest_common_prefix(v: &[String]) -> String {
    let Some(first) = v.first() else {
        return String::new();
    };
    let mut n = first.len();
    for s in &v[1..] {
        n = n.min(
            first
                .char_indices()
                .zip(s.chars())
                .take_while(|((_, a), b)| a == b)
                .last()
                .map_or(0, |((i, a), _)| i + a.len_utf8()),
        );
    }
    first[..n].to_string()
}

pub(super) fn command_line(
    state: &mut State,
    mut cl: CommandLine,
    action: Action,
) -> Option<Command> {
    let Action::Text(key) = action else {
        state.modal = Some(Modal::CommandLine(cl));
        return None;
    };
    match key {
        TextKey::Cancel => return None,
        TextKey::Submit => {
            let line = cl.input.value().to_string();
            return match parse_command(&line) {
                Ok(c) => run(state, c),
                Err(e) => {
                    cl.error = Some(e);
                    state.modal = Some(Modal::CommandLine(cl));
                    None
                }
            };
        }
        TextKey::Next | TextKey::Prev => {
            let forward = key == TextKey::Next;
            if let Some(i) = cl.completion_index.filter(|_| cl.completions.len() > 1) {
                let n = cl.completions.len();
                let j = if forward {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                cl.completion_index = Some(j);
                cl.input = Input::new(cl.completions[j].clone());
            } else {
                let cands = complete(state, cl.input.value());
                match cands.len() {
                    0 => cl.error = Some("no completion".into()),
                    1 => {
                        cl.input = Input::new(cands[0].clone());
                        cl.completions.clear();
                        cl.completion_index = None;
                    }
                    _ => {
                        let prefix = longest_common_prefix(&cands);
                        if prefix.len() > cl.input.value().len() {
                            cl.input = Input::new(prefix);
                            cl.completion_index = None;
                        } else {
                            cl.completion_index = Some(0);
                            cl.input = Input::new(cands[0].clone());
                        }
                        cl.completions = cands;
                    }
                }
            }
        }
        other => {
            if edit_input(&mut cl.input, other) {
                cl.error = None;
                cl.completion_index = None;
                cl.completions = if cl.input.value().contains(' ') {
                    Vec::new()
                } else {
                    complete(state, cl.input.value())
                };
            } else if other == TextKey::Backspace && cl.input.value().is_empty() {
                return None;
            }
        }
    }
    state.modal = Some(Modal::CommandLine(cl));
    None
}

/// Carry out a command line.
pub(super) fn run(state: &mut State, c: ConsoleCommand) -> Option<Command> {
    match c {
        ConsoleCommand::Create => open_wizard(state),
        ConsoleCommand::Suspend(ref t)
        | ConsoleCommand::Resume(ref t)
        | ConsoleCommand::Delete(ref t) => {
            let Some(id) = state.find_tenant(t).map(|x| x.id) else {
                super::complain(state, format!("no tenant matches \"{}\"", clean(t)));
                return None;
            };
            match c {
                ConsoleCommand::Suspend(_) => ask_suspend_resume_for(state, id, Some(true)),
                ConsoleCommand::Resume(_) => ask_suspend_resume_for(state, id, Some(false)),
                _ => ask_delete_for(state, id),
            }
        }
        ConsoleCommand::Filter(f) => {
            state.pane = crate::tui::state::Pane::Tenants;
            state.detail = None;
            set_filter(state, &f);
            say(
                state,
                format!(
                    "{} of {} tenants match",
                    state.list.index.len(),
                    state.tenants.len()
                ),
            );
            None
        }
        ConsoleCommand::Sort(col, dir) => {
            sort_by(state, col, dir);
            say(state, format!("sorted by {}", col.key()));
            None
        }
        ConsoleCommand::Cluster(name) => {
            if !state.clusters.iter().any(|(n, _)| *n == name) {
                let known: Vec<&str> = state.clusters.iter().map(|(n, _)| n.as_str()).collect();
                super::complain(
                    state,
                    format!(
                        "no cluster named \"{}\" in the config (known: {})",
                        clean(&name),
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
                return None;
            }
            if name == state.cluster {
                say(state, format!("already on {}", clean(&name)));
                return None;
            }
            say(state, format!("switching to {}…", clean(&name)));
            state.connection = crate::tui::state::Connection::Connecting;
            Some(Command::SwitchCluster(name))
        }
        ConsoleCommand::RefreshNow => {
            say(state, "refreshing…");
            Some(Command::RefreshNow)
        }
        ConsoleCommand::Interval(d) => set_interval(state, d),
        ConsoleCommand::Pause => super::update_one(state, Action::Pause),
        ConsoleCommand::Help => {
            state.modal = Some(Modal::Help { scroll: 0 });
            None
        }
        ConsoleCommand::Quit => {
            state.quit = true;
            None
        }
        ConsoleCommand::View(pane, metric) => {
            if let Some(m) = metric {
                state.views.neighbour_metric = m;
            }
            super::views::open_view(state, pane)
        }
        ConsoleCommand::Window(w) => {
            super::views::set_window(state, w);
            None
        }
        ConsoleCommand::Migrate(action, run) => {
            super::migrations::ask(state, action, run.as_deref())
        }
    }
}

/// Keys while the `/` filter is open: the list follows as it is typed.
pub(super) fn filter(state: &mut State, mut input: Input, previous: String, action: Action) {
    let Action::Text(key) = action else {
        state.modal = Some(Modal::Filter { input, previous });
        return;
    };
    match key {
        TextKey::Submit => {
            let n = state.list.index.len();
            if !state.list.filter.is_empty() {
                say(
                    state,
                    format!("{n} of {} tenants match; Esc clears", state.tenants.len()),
                );
            }
            return;
        }
        TextKey::Cancel => {
            set_filter(state, &previous);
            return;
        }
        other => {
            if edit_input(&mut input, other) {
                set_filter(state, input.value());
            }
        }
    }
    state.modal = Some(Modal::Filter { input, previous });
}
