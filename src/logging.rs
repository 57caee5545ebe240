//! Logging with tracing to a file: `--log-file`, else
//! `$XDG_STATE_HOME/tenantctl/tenantctl.log`. Level from `RUST_LOG` or
//! `LOG_LEVEL` (default `info`). Nothing goes to the terminal, which belongs
//! to the console, except with `-v` (log lines also on stderr) for commands.
//!
//! Private by default: the file is created 0600 in a 0700 directory, and
//! every line passes through [`redact`], so no password, SCRAM verifier or
//! `PASSWORD` clause reaches it at any level. tokio-postgres's batch
//! logging (`executing statement batch: ...`), where such clauses travel, is
//! also kept out.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::error::{Error, Result};

/// Lines the log writer queues before it drops (it never blocks the caller).
const LOG_QUEUE_LINES: usize = 4096;

/// The driver's batch logging (`executing statement batch: ...`) carries
/// whole utility statements such as `ALTER ROLE ... PASSWORD`: never in the
/// file, at any level. Prepared statements (`preparing query ...`) stay at
/// debug; their text still passes [`redact`].
const QUIET_DRIVER: &[&str] = &["tokio_postgres::simple_query=info"];

static QUIET: AtomicBool = AtomicBool::new(false);
static TERMINAL_TAKEN: AtomicBool = AtomicBool::new(false);

/// The default log file.
pub fn default_log_file() -> PathBuf {
    crate::config::state_dir().join("tenantctl.log")
}

/// `-q`: no warnings on stderr (errors are still printed).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// The console owns the terminal: warnings go to the log only.
pub fn set_terminal_taken(taken: bool) {
    TERMINAL_TAKEN.store(taken, Ordering::Relaxed);
}

/// A warning for the person at the terminal (and the log): on stderr unless
/// `-q` or while the console has the screen.
pub fn warn_user(message: &str) {
    tracing::warn!("{message}");
    if !QUIET.load(Ordering::Relaxed) && !TERMINAL_TAKEN.load(Ordering::Relaxed) {
        let _ = writeln!(std::io::stderr().lock(), "warning: {message}");
    }
}

/// Create `dir` (and missing parents) as 0700: logs and backups are private.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Open `path` for appending, created 0600; an existing file readable by
/// others is narrowed to 0600.
pub fn open_private_append(path: &Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let meta = file.metadata()?;
    if meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Install the file subscriber. Keep the guard alive until exit so the last
/// lines are flushed. `verbose` also writes the lines to stderr.
pub fn init(path: Option<&Path>, level: Option<&str>, verbose: bool) -> Result<WorkerGuard> {
    let path = path.map_or_else(default_log_file, Path::to_path_buf);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(|e| {
        Error::failure(format!(
            "cannot create the log directory {}: {e}",
            dir.display()
        ))
    })?;
    let file = open_private_append(&path)
        .map_err(|e| Error::failure(format!("cannot open the log file {}: {e}", path.display())))?;
    // The default queue preallocates 128,000 lines (4 MiB); a console logs
    // a few lines a minute, and a burst beyond this is dropped, not waited on.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .finish(file);
    let filter = build_filter(level)?;
    let file_layer = tracing_subscriber::fmt::layer()
        .with_writer(Redacting(writer))
        .with_ansi(false);
    let stderr_layer = verbose.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(Redacting(std::io::stderr))
            .with_ansi(false)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(stderr_layer)
        .try_init()
        .ok();
    Ok(guard)
}

fn build_filter(level: Option<&str>) -> Result<EnvFilter> {
    let mut filter = EnvFilter::try_new(level.unwrap_or("info")).map_err(|e| {
        Error::invalid(format!(
            "invalid log level \"{}\": {e}",
            crate::domain::sanitize::clean_truncate(level.unwrap_or_default(), 40)
        ))
    })?;
    for d in QUIET_DRIVER {
        if let Ok(d) = d.parse() {
            filter = filter.add_directive(d);
        }
    }
    Ok(filter)
}

/// A `MakeWriter` whose writers pass every line through [`redact`].
#[derive(Clone)]
pub struct Redacting<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}

/// One writer of [`Redacting`]: tracing's fmt layer writes each event in one
/// `write` call, so each call is redacted whole.
pub struct RedactingWriter<W>(W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Mask secrets in a log line: a `PASSWORD '...'` clause (any quoting), a
/// SCRAM or md5 verifier, `password=...` in a connection string, and the
/// password of a `postgres://user:password@host` URL.
pub fn redact(line: &str) -> String {
    let mut s = mask_password_clause(line);
    s = mask_after(&s, "SCRAM-SHA-256$", "[scram verifier]", |c| {
        c.is_whitespace() || c == '\'' || c == '"'
    });
    s = mask_keyword(&s, "password");
    crate::config::conninfo::mask_url_password(&s)
}

/// `PASSWORD 'x'` / `PASSWORD E'x'` / `PASSWORD $$x$$` -> `PASSWORD ***`.
fn mask_password_clause(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while let Some(found) = lower[i..].find("password") {
        let start = i + found;
        let after = start + "password".len();
        out.push_str(&line[i..after]);
        let rest = &line[after..];
        let ws = rest.len() - rest.trim_start().len();
        let body = rest.trim_start();
        let body = body
            .strip_prefix(['E', 'e'])
            .filter(|b| b.starts_with('\''))
            .unwrap_or(body);
        if ws > 0 && (body.starts_with('\'') || body.starts_with('$')) {
            let skip = rest.len() - body.len();
            let end = quoted_end(body);
            out.push_str(&rest[..ws]);
            out.push_str("***");
            i = after + skip + end;
        } else {
            i = after;
        }
    }
    out.push_str(&line[i..]);
    out
}

/// Byte length of a leading SQL string literal (`'..''..'` or `$tag$..$tag$`);
/// the whole rest when it does not close.
fn quoted_end(s: &str) -> usize {
    if let Some(body) = s.strip_prefix('\'') {
        let bytes = body.as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            if bytes[j] == b'\\' {
                j += 2;
                continue;
            }
            if bytes[j] == b'\'' {
                if bytes.get(j + 1) == Some(&b'\'') {
                    j += 2;
                    continue;
                }
                return 1 + j + 1;
            }
            j += 1;
        }
        return s.len();
    }
    // Dollar quoting: $tag$ ... $tag$
    if let Some(close) = s[1..].find('$') {
        let tag = &s[..close + 2];
        if let Some(end) = s[tag.len()..].find(tag) {
            return tag.len() + end + tag.len();
        }
    }
    s.len()
}

/// Replace each `marker` and what follows it up to a stop character.
fn mask_after(line: &str, marker: &str, with: &str, stop: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at]);
        out.push_str(with);
        let tail = &rest[at + marker.len()..];
        let end = tail.find(&stop).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `password=secret` / `password = 'a b'` -> `password=***`.
fn mask_keyword(line: &str, key: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while let Some(found) = lower[i..].find(key) {
        let start = i + found;
        let after = start + key.len();
        let rest = &line[after..];
        let trimmed = rest.trim_start();
        if let Some(v) = trimmed.strip_prefix('=') {
            let v = v.trim_start();
            let skip = rest.len() - v.len();
            let end = if v.starts_with('\'') {
                quoted_end(v)
            } else {
                v.find(|c: char| c.is_whitespace() || c == '&' || c == '"')
                    .unwrap_or(v.len())
            };
            out.push_str(&line[i..after]);
            out.push_str("=***");
            i = after + skip + end;
        } else {
            out.push_str(&line[i..after]);
            i = after;
        }
    }
    out.push_str(&line[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        let v = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy";
        for (input, secret) in [
            (
                format!("executing statement batch: ALTER ROLE \"r\" PASSWORD '{v}'"),
                v.to_string(),
            ),
            (
                "alter role x password 'it''s hunter2' valid until 'x'".into(),
                "hunter2".into(),
            ),
            (
                "ALTER ROLE x WITH PASSWORD $p$hunter2$p$".into(),
                "hunter2".into(),
            ),
            (format!("verifier {v}"), "c3RvcmVk".into()),
            (
                "conn host=h password=hunter2 user=u".into(),
                "hunter2".into(),
            ),
            ("conn password = 'hun ter2' user=u".into(), "ter2".into()),
            ("url postgres://bob:hunter2@db/x".into(), "hunter2".into()),
        ] {
            let out = redact(&input);
            assert!(!out.contains(&secret), "{input} -> {out}");
            assert!(!out.contains("SCRAM-SHA-256$"), "{out}");
        }
        assert_eq!(redact("no secrets here"), "no secrets here");
        assert_eq!(
            redact("set credentials: PASSWORD 'x' done"),
            "set credentials: PASSWORD *** done"
        );
    }

    #[test]
    fn files_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("a/b");
        create_private_dir(&sub).expect("mkdir");
        assert_eq!(
            std::fs::metadata(&sub).expect("meta").permissions().mode() & 0o777,
            0o700
        );
        let f = sub.join("x.log");
        std::fs::write(&f, "").expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        drop(open_private_append(&f).expect("open"));
        assert_eq!(
            std::fs::metadata(&f).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        let g = sub.join("y.log");
        drop(open_private_append(&g).expect("open"));
        assert_eq!(
            std::fs::metadata(&g).expect("meta").permissions().mode() & 0o777,
            0o600
        );
    }
}
