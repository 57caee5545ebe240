//! Parse the command line, install the error and log hooks, dispatch.

use clap::Parser;
use tenantctl::cli::{self, Cli};

fn main() {
    let cli = Cli::parse();
    let json = cli.wants_json();
    let level = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| std::env::var("LOG_LEVEL").ok());
    let _guard = match tenantctl::logging::init(cli.log_file.as_deref(), level.as_deref()) {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("warning: {e}; continuing without a log file");
            None
        }
    };
    let _ = color_eyre::install();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(kind = ?e.kind, "{}", e.message);
            if json {
                println!("{}", e.to_json());
            } else {
                eprintln!("error: {e}");
            }
            e.exit_code()
        }
    };
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    std::process::exit(code);
}
