//! Parse the command line, install the error and log hooks, dispatch.

use clap::Parser;
use tenantctl::cli::output::emit_err;
use tenantctl::cli::{self, Cli};

/// The panic report: coloured only when stderr is a terminal and `NO_COLOR`
/// is not set.
fn install_panic_report(no_color: bool) {
    use std::io::IsTerminal;
    let plain = tenantctl::cli::output::plain_stderr(
        no_color,
        std::env::var_os("NO_COLOR").as_deref(),
        std::io::stderr().is_terminal(),
    );
    let builder = color_eyre::config::HookBuilder::default();
    let builder = if plain {
        builder.theme(color_eyre::config::Theme::new())
    } else {
        builder
    };
    let _ = builder.install();
}

fn main() {
    // One malloc arena and a fixed mmap threshold; before any thread starts.
    tenantctl::alloc::configure();
    let cli = Cli::parse();
    let json = cli.wants_json();
    tenantctl::logging::set_quiet(cli.quiet);
    let level = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| std::env::var("LOG_LEVEL").ok());
    // -v writes log lines to stderr, which the console's screen would garble.
    let verbose = cli.verbose && cli.command.is_some() && !cli.opens_console();
    let guard = match tenantctl::logging::init(cli.log_file.as_deref(), level.as_deref(), verbose) {
        Ok(g) => Some(g),
        Err(e) => {
            emit_err(&format!("warning: {e}; continuing without a log file"));
            None
        }
    };
    install_panic_report(cli.no_color);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            emit_err(&format!("error: cannot start the async runtime: {e}"));
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(kind = ?e.kind, "{}", e.message);
            if json {
                tenantctl::outln!("{}", e.to_json());
            } else {
                emit_err(&format!("error: {e}"));
            }
            e.exit_code()
        }
    };
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    // exit() runs no destructors: flush the log writer first.
    drop(guard);
    std::process::exit(code);
}
