//! The command line: argument parsing and output only. Every command calls
//! the same `backend`/`db` functions the console uses.

pub mod output;
mod setup;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::error::Result;

/// Operations console for schema-per-tenant PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "tenantctl", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Config file (default: $TENANTCTL_CONFIG or ~/.config/tenantctl/config.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Named cluster from the config file.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// libpq URL or keyword string (overrides the config file and DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Refuse every change.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// No colours (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Capture the mouse in the console.
    #[arg(long, global = true)]
    pub mouse: bool,
    /// Log file (default: $XDG_STATE_HOME/tenantctl/tenantctl.log).
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the console (the default when no command is given).
    Ui,
    /// Install or upgrade the control schema.
    Init {
        #[arg(long)]
        json: bool,
    },
    /// Check connectivity, privileges, extensions and the control schema.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Start a throwaway local PostgreSQL, print how to reach it, and keep it
    /// until stdin closes or Ctrl-C.
    #[command(hide = true)]
    LocalCluster {
        /// Keep the data directory here across runs.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Cli {
    /// The overrides these flags put on the config.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_path: self.config.clone(),
            cluster: self.cluster.clone(),
            database_url: self.database_url.clone(),
            read_only: self.read_only,
            no_color: self.no_color,
            mouse: self.mouse,
        }
    }

    /// Whether errors should be printed as JSON.
    pub fn wants_json(&self) -> bool {
        matches!(
            &self.command,
            Some(Command::Init { json: true } | Command::Doctor { json: true })
        )
    }
}

/// Run the parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> Result<i32> {
    let overrides = cli.overrides();
    let command = match cli.command {
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "tenantctl",
                &mut std::io::stdout(),
            );
            return Ok(0);
        }
        Some(Command::LocalCluster { keep }) => return setup::local_cluster(keep).await,
        Some(c) => c,
        None => Command::Ui,
    };
    let config = Config::load(&overrides)?;
    match command {
        Command::Ui => crate::tui::open(config).await,
        Command::Init { json } => setup::init(&config, json).await,
        Command::Doctor { json } => setup::doctor(&config, json).await,
        Command::Completions { .. } | Command::LocalCluster { .. } => Ok(0),
    }
}
