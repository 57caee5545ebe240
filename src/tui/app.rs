//! The event loop: terminal input, backend events, a tick and a render timer
//! in one `tokio::select!`. Keys become Actions through the keymap, `update`
//! turns Actions into state and Commands, and a frame is drawn on the render
//! tick only when something changed. The loop never awaits SQL.

use std::io::{IsTerminal, stdout};
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent, EventStream,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::MissedTickBehavior;

use super::action::Action;
use super::keymap::{InputMode, Keymap};
use super::state::State;
use super::{BackendHandle, ui, update::update};
use crate::backend::{Command, Event};
use crate::config::Config;
use crate::error::{Error, Result};

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::failure(format!("{what}: {e}"))
}

/// Turn one terminal event into actions (a paste becomes one per character).
pub fn translate(state: &State, ev: &TermEvent) -> Vec<Action> {
    match ev {
        TermEvent::Key(k) => state
            .keymap
            .key(state.input_mode(), k)
            .into_iter()
            .collect(),
        TermEvent::Mouse(m) => state.keymap.mouse(m).into_iter().collect(),
        TermEvent::Resize(w, h) => vec![Action::Resize(*w, *h)],
        TermEvent::Paste(text) if state.input_mode() == InputMode::Text => text
            .chars()
            .filter(|c| !c.is_control())
            .map(|c| Action::Text(super::action::TextKey::Char(c)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Take every event already waiting; of several snapshots only the newest
/// is kept (coalesce, don't queue).
pub fn drain(first: Event, rx: &mut UnboundedReceiver<Event>) -> Vec<Event> {
    let mut batch = vec![first];
    while let Ok(e) = rx.try_recv() {
        batch.push(e);
        if batch.len() >= 256 {
            break;
        }
    }
    let last_snapshot = batch.iter().rposition(|e| matches!(e, Event::Snapshot(_)));
    batch
        .into_iter()
        .enumerate()
        .filter(|(i, e)| !matches!(e, Event::Snapshot(_)) || Some(*i) == last_snapshot)
        .map(|(_, e)| e)
        .collect()
}

fn enter(mouse: bool) -> Result<DefaultTerminal> {
    // Our hook runs inside ratatui's (which restores the terminal first):
    // it only turns mouse capture and bracketed paste off before the report.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(stdout(), DisableBracketedPaste);
        if mouse {
            let _ = execute!(stdout(), DisableMouseCapture);
        }
        previous(info);
    }));
    let terminal = ratatui::try_init().map_err(io_err("cannot set up the terminal"))?;
    crate::logging::set_terminal_taken(true);
    // Pasted text arrives as one Paste event, never as key presses that
    // could fire bindings such as `x` or `D`.
    execute!(stdout(), EnableBracketedPaste).map_err(io_err("cannot set up the terminal"))?;
    if mouse {
        execute!(stdout(), EnableMouseCapture).map_err(io_err("cannot enable the mouse"))?;
    }
    Ok(terminal)
}

fn leave(mouse: bool) {
    let _ = execute!(stdout(), DisableBracketedPaste);
    if mouse {
        let _ = execute!(stdout(), DisableMouseCapture);
    }
    ratatui::restore();
    crate::logging::set_terminal_taken(false);
}

/// Ctrl-Z: give the terminal back, stop, and take it again on `fg`.
fn suspend_process(terminal: &mut DefaultTerminal, mouse: bool) -> Result<()> {
    leave(mouse);
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGTSTP)
        .map_err(|e| Error::failure(format!("cannot suspend: {e}")))?;
    // Resumed.
    enable_raw_mode().map_err(io_err("cannot set up the terminal"))?;
    execute!(stdout(), EnterAlternateScreen, EnableBracketedPaste)
        .map_err(io_err("cannot set up the terminal"))?;
    if mouse {
        execute!(stdout(), EnableMouseCapture).map_err(io_err("cannot enable the mouse"))?;
    }
    // A full repaint without `clear()`, which asks the terminal for the cursor position.
    let size = terminal
        .size()
        .map_err(io_err("cannot read the terminal size"))?;
    terminal
        .resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
        .map_err(io_err("cannot repaint the terminal"))?;
    Ok(())
}

/// A stream that yields the name of each SIGTERM, SIGHUP or SIGQUIT.
fn end_signals() -> Result<impl futures::Stream<Item = &'static str> + Unpin> {
    use tokio::signal::unix::{SignalKind, signal};
    use tokio_stream_lite::SignalStream;
    let mk = |kind: SignalKind, name: &'static str| {
        signal(kind)
            .map(|s| SignalStream(s, name))
            .map_err(|e| Error::failure(format!("cannot watch for {name}: {e}")))
    };
    Ok(futures::stream::select(
        mk(SignalKind::terminate(), "SIGTERM")?,
        futures::stream::select(
            mk(SignalKind::hangup(), "SIGHUP")?,
            mk(SignalKind::quit(), "SIGQUIT")?,
        ),
    ))
}

/// A tokio `Signal` as a stream of its name.
mod tokio_stream_lite {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct SignalStream(pub tokio::signal::unix::Signal, pub &'static str);

    impl futures::Stream for SignalStream {
        type Item = &'static str;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let name = self.1;
            self.0.poll_recv(cx).map(|o| o.map(|()| name))
        }
    }
}

/// Run the console until the user quits.
pub async fn run(config: Config, handle: BackendHandle) -> Result<()> {
    if !stdout().is_terminal() {
        return Err(Error::usage(
            "the console needs a terminal: use a subcommand (see tenantctl --help) in scripts",
        ));
    }
    let keymap = Keymap::from_config(&config.keys)?.with_mouse(config.ui.mouse);
    let mut state = State::new(&config, keymap, Utc::now());
    let BackendHandle {
        commands,
        mut events,
    } = handle;
    let mouse = config.ui.mouse;
    let mut terminal = enter(mouse)?;
    let result = event_loop(
        &mut terminal,
        &mut state,
        &commands,
        &mut events,
        &config,
        mouse,
    )
    .await;
    let _ = commands.send(Command::Shutdown);
    leave(mouse);
    // Ensure a possible error message starts on a clean line.
    let _ = execute!(stdout(), LeaveAlternateScreen);
    let _ = disable_raw_mode();
    result
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    state: &mut State,
    commands: &tokio::sync::mpsc::UnboundedSender<Command>,
    events: &mut UnboundedReceiver<Event>,
    config: &Config,
    mouse: bool,
) -> Result<()> {
    if let Ok(size) = terminal.size() {
        state.size = (size.width, size.height);
    }
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(config.ui.tick.0.max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut render = tokio::time::interval(config.ui.render.0.max(Duration::from_millis(10)));
    render.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut backend_alive = true;
    // SIGTERM, SIGHUP (the SSH session went away) and SIGQUIT end the console
    // like `q`: the caller restores the terminal on the way out.
    let mut ending = end_signals()?;
    loop {
        let actions: Vec<Action> = tokio::select! {
            sig = ending.next() => {
                tracing::info!("ending the console on {}", sig.unwrap_or("a signal"));
                return Ok(());
            },
            ev = input.next() => match ev {
                Some(Ok(ev)) => translate(state, &ev),
                Some(Err(e)) => return Err(Error::failure(format!("terminal input failed: {e}"))),
                None => return Ok(()),
            },
            ev = events.recv(), if backend_alive => if let Some(ev) = ev {
                drain(ev, events).into_iter().map(Action::Backend).collect()
            } else {
                backend_alive = false;
                vec![Action::Backend(Event::Disconnected {
                    error: "the backend task stopped; restart the console".into(),
                    retry_in: Duration::from_secs(0),
                })]
            },
            _ = tick.tick() => vec![Action::Tick(Utc::now())],
            _ = render.tick() => {
                if state.dirty {
                    state.dirty = false;
                    terminal
                        .draw(|f| ui::draw(f, state))
                        .map_err(io_err("cannot draw"))?;
                }
                Vec::new()
            },
        };
        for action in actions {
            for cmd in update(state, action) {
                if commands.send(cmd).is_err() && backend_alive {
                    backend_alive = false;
                }
            }
        }
        if state.quit {
            return Ok(());
        }
        if state.suspend {
            suspend_process(terminal, mouse)?;
            update(state, Action::Resumed);
        }
    }
}
