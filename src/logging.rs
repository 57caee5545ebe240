//! Logging with tracing to a file: `--log-file`, else
//! `$XDG_STATE_HOME/tenantctl/tenantctl.log`. Level from `RUST_LOG` or
//! `LOG_LEVEL` (default `info`). Nothing goes to the terminal, which belongs
//! to the console.

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::error::{Error, Result};

/// Lines the log writer queues before it drops (it never blocks the caller).
const LOG_QUEUE_LINES: usize = 4096;

/// The default log file.
pub fn default_log_file() -> PathBuf {
    crate::config::state_dir().join("tenantctl.log")
}

/// Install the file subscriber. Keep the guard alive until exit so the last
/// lines are flushed.
pub fn init(path: Option<&Path>, level: Option<&str>) -> Result<WorkerGuard> {
    let path = path.map_or_else(default_log_file, Path::to_path_buf);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::failure(format!(
            "cannot create the log directory {}: {e}",
            dir.display()
        ))
    })?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::failure(format!("cannot open the log file {}: {e}", path.display())))?;
    // The default queue preallocates 128,000 lines (4 MiB); a console logs
    // a few lines a minute, and a burst beyond this is dropped, not waited on.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .finish(file);
    let filter = EnvFilter::try_new(level.unwrap_or("info")).map_err(|e| {
        Error::invalid(format!(
            "invalid log level \"{}\": {e}",
            level.unwrap_or_default()
        ))
    })?;
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok();
    Ok(guard)
}
