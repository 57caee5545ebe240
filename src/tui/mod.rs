//! The console: an event loop (`app`), one Action enum (`action`), a pure
//! `update`, plain-data `state`, draw functions per pane (`ui`), the keymap
//! and the themes. It talks to the database only through the backend's
//! Command/Event channels.

pub mod action;
pub mod app;
pub mod keymap;
pub mod sample;
pub mod state;
pub mod theme;
pub mod ui;
pub mod update;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::backend::{Command, Event};
use crate::config::Config;
use crate::error::Result;

pub use action::{Action, TextKey};
pub use state::State;
pub use update::update;

/// The two channel halves of the backend task.
///
/// INTEGRATION: a local stand-in with the field names `backend::spawn` is
/// expected to return; replace it with `pub use crate::backend::BackendHandle;`.
pub struct BackendHandle {
    pub commands: UnboundedSender<Command>,
    pub events: UnboundedReceiver<Event>,
}

/// Run the console on an already started backend until the user quits.
pub async fn run(config: Config, handle: BackendHandle) -> Result<()> {
    app::run(config, handle).await
}

/// Start the backend for `config` and open the console (`tenantctl`, `tenantctl ui`).
pub async fn open(config: Config) -> Result<i32> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return Err(crate::error::Error::usage(
            "the console needs a terminal: use a subcommand (see tenantctl --help) in scripts",
        ));
    }
    let handle = spawn_backend(config.clone());
    run(config, handle).await?;
    Ok(0)
}

/// INTEGRATION: replace the body with `crate::backend::spawn(config)`.
/// Until the backend task lands this stand-in only reports that it is missing.
#[allow(clippy::needless_pass_by_value)] // reason: the real backend::spawn takes the config by value
fn spawn_backend(config: Config) -> BackendHandle {
    let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::unbounded_channel::<Command>();
    let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let _ = &config;
    tokio::spawn(async move {
        let _ = ev_tx.send(Event::Disconnected {
            error: "the backend task is not built into this binary yet".into(),
            retry_in: std::time::Duration::from_secs(5),
        });
        while let Some(cmd) = cmd_rx.recv().await {
            if cmd == Command::Shutdown {
                break;
            }
        }
    });
    BackendHandle {
        commands: cmd_tx,
        events: ev_rx,
    }
}
