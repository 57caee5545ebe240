//! The command line: argument parsing and output only. Every command calls
//! the same `backend`/`db` functions the console uses.

mod completions;
mod demo;
mod fleet;
mod guard;
pub mod migrate;
pub mod monitor;
pub mod output;
mod setup;
pub mod templates;
pub mod tenants;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::error::Result;

/// The version with the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("TENANTCTL_COMMIT"),
    ")"
);

/// Operations console for schema-per-tenant PostgreSQL.
#[derive(Debug, Parser)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "each bool is one command-line switch"
)]
#[command(name = "tenantctl", version = VERSION, about, long_about = None, propagate_version = true)]
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
    /// Template directory searched first (then the config's template_dir,
    /// $XDG_DATA_HOME/tenantctl/templates and the built-in templates).
    #[arg(long, global = true, value_name = "DIR")]
    pub template_dir: Option<PathBuf>,
    /// Log file (default: $XDG_STATE_HOME/tenantctl/tenantctl.log).
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Output format of commands that print data (--json is an alias of -o json).
    #[arg(short, long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<output::Format>,
    /// Leave out the header line of tables and CSV.
    #[arg(long, global = true)]
    pub no_headers: bool,
    /// Also write the log lines to stderr (commands, not the console).
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// No warnings on stderr (errors are still printed).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the console (the default when no command is given).
    Ui,
    /// A throwaway local platform with seeded tenants under live load, in the console.
    Demo(demo::DemoArgs),
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
    /// Revoke what weakens tenant isolation on this cluster (each change shown).
    Harden {
        /// Show the statements without running them.
        #[arg(long)]
        dry_run: bool,
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
    /// List tenants.
    List(tenants::ListArgs),
    /// Show one tenant (by id, domain or schema name).
    Show(tenants::ShowArgs),
    /// Create a tenant: role, schema and the template's tables in one transaction.
    Create(tenants::CreateArgs),
    /// Change a tenant's name, limits, quota or settings.
    Update(tenants::UpdateArgs),
    /// Refuse the tenant's logins and end its sessions.
    Suspend(tenants::SuspendArgs),
    /// Allow a suspended tenant's logins again.
    Resume(tenants::TenantArgs),
    /// Delete a suspended tenant (backup first unless --no-backup).
    Delete(tenants::DeleteArgs),
    /// Bring a deleted tenant back from its backup, as suspended.
    Restore(tenants::RestoreArgs),
    /// Give a tenant made before owner roles a NOLOGIN owner role that owns
    /// its schema and objects; its login role keeps only its privileges.
    Convert(tenants::ConvertArgs),
    /// Set a new random password for the tenant role and print it once.
    Credentials(tenants::TenantArgs),
    /// The audit log, newest first.
    Audit(tenants::AuditArgs),
    /// Tenant schema templates.
    Templates {
        #[command(subcommand)]
        command: templates::TemplatesCommand,
    },
    /// Fleet migrations: move tenant schemas to a newer template version, in
    /// waves, resumable.
    Migrate {
        #[command(subcommand)]
        command: migrate::MigrateCommand,
    },
    /// Enforce the tenants' limits: cancel statements past their timeout, end
    /// idle transactions, put back role settings a tenant changed, withhold
    /// writes above the storage quota. Runs until Ctrl-C (consoles run it too).
    Guard {
        /// One round (the quota included), print what was done, exit.
        #[arg(long)]
        once: bool,
        #[arg(long)]
        json: bool,
    },
    /// Tenants by resource use: two samples one interval apart, so rates are real.
    Top {
        /// Sort by this metric (health sorts worst first).
        #[arg(long, value_enum, default_value = "size")]
        sort: monitor::SortMetric,
        /// Show at most this many tenants.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Keep sampling and redraw every interval (like `watch` or `kubectl get -w`); Ctrl-C ends.
        #[arg(short, long)]
        watch: bool,
        /// Time between the samples (default: the config's monitoring interval), e.g. 2s.
        #[arg(long, value_name = "DUR")]
        interval: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Health scores 0-100 with their reasons, worst first.
    Health {
        /// One tenant: id, domain or schema name.
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Usage rollups (per minute, per tenant) for billing.
    Usage {
        #[command(subcommand)]
        command: UsageCommand,
    },
    /// Print shell completions (tenant domains complete from the configured
    /// cluster when it is reachable).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from these definitions.
    #[command(name = "man")]
    Man,
    /// Where tenantctl reads and writes its files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the paths of the config file, log file, backups and templates.
    Paths {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// Print usage samples with FROM <= minute < TO.
    Export {
        /// RFC 3339, `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` (UTC), `now`, or a duration ago (`24h`).
        #[arg(long, value_name = "TIME")]
        from: String,
        /// Same forms as --from; default now.
        #[arg(long, value_name = "TIME")]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "csv")]
        format: monitor::UsageFormat,
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
            template_dir: self.template_dir.clone(),
        }
    }

    /// Whether this command line opens the console (which owns the terminal).
    pub fn opens_console(&self) -> bool {
        matches!(self.command, None | Some(Command::Ui))
            || matches!(&self.command, Some(Command::Demo(a)) if !a.headless)
    }

    /// Whether errors should be printed as JSON.
    pub fn wants_json(&self) -> bool {
        if matches!(self.output, Some(output::Format::Json)) {
            return true;
        }
        match &self.command {
            Some(
                Command::Init { json }
                | Command::Doctor { json }
                | Command::Guard { json, .. }
                | Command::Harden { json, .. }
                | Command::Top { json, .. }
                | Command::Health { json, .. },
            ) => *json,
            Some(Command::List(a)) => a.json,
            Some(Command::Show(a)) => a.json,
            Some(Command::Create(a)) => a.json,
            Some(Command::Update(a)) => a.json,
            Some(Command::Suspend(a)) => a.json,
            Some(Command::Resume(a) | Command::Credentials(a)) => a.json,
            Some(Command::Delete(a)) => a.json,
            Some(Command::Restore(a)) => a.json,
            Some(Command::Convert(a)) => a.json,
            Some(Command::Audit(a)) => a.json,
            Some(Command::Templates { command }) => command.json(),
            Some(Command::Migrate { command }) => command.json(),
            Some(Command::Usage {
                command: UsageCommand::Export { format, .. },
            }) => {
                matches!(format, monitor::UsageFormat::Json)
            }
            Some(Command::Demo(a)) => a.json,
            Some(Command::Config {
                command: ConfigCommand::Paths { json },
            }) => *json || output::structured(false),
            Some(
                Command::LocalCluster { .. }
                | Command::Completions { .. }
                | Command::Man
                | Command::Ui,
            )
            | None => false,
        }
    }
}

/// Run the parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> Result<i32> {
    let overrides = cli.overrides();
    output::set_format(cli.output.unwrap_or_default(), cli.no_headers);
    let command = match cli.command {
        Some(Command::Completions { shell }) => {
            return completions::print(shell, &overrides).await;
        }
        Some(Command::Man) => {
            use clap::CommandFactory;
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut buf)
                .map_err(|e| {
                    crate::error::Error::failure(format!("cannot render the manual page: {e}"))
                })?;
            output::emit(&String::from_utf8_lossy(&buf));
            return Ok(0);
        }
        Some(Command::Config {
            command: ConfigCommand::Paths { json },
        }) => return Ok(setup::paths(&overrides, cli.log_file.as_deref(), json)),
        Some(Command::LocalCluster { keep }) => return setup::local_cluster(keep).await,
        Some(Command::Demo(args)) => return demo::run(args).await,
        Some(c) => c,
        None => Command::Ui,
    };
    let config = Config::load(&overrides)?;
    if config.fleet
        && !matches!(
            command,
            Command::List(_) | Command::Top { .. } | Command::Health { .. }
        )
    {
        let name: String = format!("{command:?}")
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        config.one_cluster(&name.to_ascii_lowercase())?;
    }
    match command {
        Command::Ui => crate::tui::open(config).await,
        Command::Init { json } => setup::init(&config, json).await,
        Command::Doctor { json } => setup::doctor(&config, json).await,
        Command::Guard { once, json } => guard::run(&config, once, json).await,
        Command::Harden { dry_run, json } => setup::harden(&config, dry_run, json).await,
        Command::List(a) => tenants::list(&config, &a).await,
        Command::Show(a) => tenants::show(&config, &a).await,
        Command::Create(a) => tenants::create(&config, &a).await,
        Command::Update(a) => tenants::update(&config, &a).await,
        Command::Suspend(a) => tenants::suspend(&config, &a).await,
        Command::Resume(a) => tenants::resume(&config, &a).await,
        Command::Delete(a) => tenants::delete(&config, &a).await,
        Command::Restore(a) => tenants::restore(&config, &a).await,
        Command::Convert(a) => tenants::convert(&config, &a).await,
        Command::Credentials(a) => tenants::credentials(&config, &a).await,
        Command::Audit(a) => tenants::audit(&config, &a).await,
        Command::Templates { command } => templates::run(&config, &command).await,
        Command::Migrate { command } => migrate::run(&config, &command).await,
        Command::Top {
            sort,
            limit,
            watch,
            interval,
            json,
        } => {
            monitor::top(
                &config,
                &monitor::TopArgs {
                    sort,
                    limit,
                    watch,
                    interval,
                    json,
                },
            )
            .await
        }
        Command::Health { tenant, json } => monitor::health(&config, tenant.as_deref(), json).await,
        Command::Usage {
            command: UsageCommand::Export { from, to, format },
        } => monitor::usage_export(&config, &from, to.as_deref(), format).await,
        Command::Completions { .. }
        | Command::Man
        | Command::Config { .. }
        | Command::LocalCluster { .. }
        | Command::Demo(_) => Ok(0),
    }
}
