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

use crate::config::Config;
use crate::error::Result;

pub use action::{Action, TextKey};
pub use state::State;
pub use update::update;

pub use crate::backend::BackendHandle;

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

fn spawn_backend(config: Config) -> BackendHandle {
    crate::backend::spawn(config)
}
