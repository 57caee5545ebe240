//! Output for people (aligned tables) and scripts (JSON, CSV, YAML), and the
//! one way to write it: a closed pipe (`tenantctl list | head -1`) ends the
//! process quietly instead of panicking.

use std::io::Write;
use std::sync::OnceLock;

use unicode_width::UnicodeWidthStr;

use crate::domain::sanitize::clean;

/// `-o/--output`: how commands print their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The table with every column (ids, schema names).
    Wide,
    Json,
    Csv,
    Yaml,
}

static FORMAT: OnceLock<(Format, bool)> = OnceLock::new();

/// Set the output format and `--no-headers` for this process (once, from
/// the command line).
pub fn set_format(format: Format, no_headers: bool) {
    let _ = FORMAT.set((format, no_headers));
}

/// The output format chosen; a command's own `--json` is its alias.
pub fn format(json: bool) -> Format {
    if json {
        Format::Json
    } else {
        FORMAT.get().map_or(Format::Table, |f| f.0)
    }
}

/// Whether to print a document (JSON or YAML) rather than text.
pub fn structured(json: bool) -> bool {
    matches!(format(json), Format::Json | Format::Yaml)
}

/// `--no-headers`.
pub fn no_headers() -> bool {
    FORMAT.get().is_some_and(|f| f.1)
}

/// Rows as the chosen format: an aligned table (wide or not: the caller picks
/// the columns) or CSV, with or without the header line.
pub fn print_rows(headers: &[&str], rows: &[Vec<String>]) {
    let with = !no_headers();
    if format(false) == Format::Csv {
        emit(&csv_opts(headers, rows, with));
    } else {
        emit(&table_opts(headers, rows, with));
    }
}

/// Write text to stdout. When the reader has gone (`EPIPE`), exit 0 at once,
/// as `cat` and `ls` do; any other write error ends the process with 1.
pub fn emit(s: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        closed_or_failed(&e);
    }
}

/// Write one line to stderr, quietly doing nothing when stderr is closed.
pub fn emit_err(s: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{s}");
}

fn closed_or_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    emit_err(&format!("error: cannot write the output: {e}"));
    std::process::exit(1);
}

/// `println!` to stdout through [`emit`].
#[macro_export]
macro_rules! outln {
    () => { $crate::cli::output::emit("\n") };
    ($($arg:tt)*) => {{
        let mut s = format!($($arg)*);
        s.push('\n');
        $crate::cli::output::emit(&s);
    }};
}

/// `print!` to stdout through [`emit`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::emit(&format!($($arg)*)) };
}

/// All of stdin as text (for a `-` argument), at most 16 MiB.
pub fn read_stdin(what: &str) -> crate::error::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .take(16 << 20)
        .read_to_string(&mut text)
        .map_err(|e| crate::error::Error::invalid(format!("cannot read {what} from stdin: {e}")))?;
    Ok(text)
}

/// Whether what goes to stderr (the panic report) must be plain: with
/// `--no-color`, a non-empty `NO_COLOR` (no-color.org), or stderr not a terminal.
pub fn plain_stderr(
    no_color_flag: bool,
    no_color_env: Option<&std::ffi::OsStr>,
    tty: bool,
) -> bool {
    no_color_flag || no_color_env.is_some_and(|v| !v.is_empty()) || !tty
}

/// Terminal cells a string takes (CJK and emoji take two, combining marks none).
pub fn cells(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// An aligned text table; every cell is sanitized; widths are counted in
/// terminal cells, so wide characters do not shift the columns after them.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    table_opts(headers, rows, true)
}

/// [`table`], with or without its header line.
pub fn table_opts(headers: &[&str], rows: &[Vec<String>], with_headers: bool) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| cells(h)).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cells(c));
            }
        }
    }
    let mut out = String::new();
    let line = |cells_of_row: Vec<&str>, out: &mut String| {
        for (i, c) in cells_of_row.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(c);
            if i + 1 < cells_of_row.len() {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cells(c));
                out.push_str(&" ".repeat(pad));
            }
        }
        out.push('\n');
    };
    if with_headers {
        line(headers.to_vec(), &mut out);
    }
    for r in &rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// One CSV field, quoted when needed (RFC 4180). A field a spreadsheet would
/// take for a formula (starting with `=`, `+`, `-`, `@`, tab or CR) gets a
/// leading `'` (OWASP's CSV injection advice).
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A CSV document with a header line.
pub fn csv(headers: &[&str], rows: &[Vec<String>]) -> String {
    csv_opts(headers, rows, true)
}

/// [`csv`], with or without its header line.
pub fn csv_opts(headers: &[&str], rows: &[Vec<String>], with_headers: bool) -> String {
    let mut out = String::new();
    if with_headers {
        out = headers
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
    }
    for r in rows {
        out.push_str(&r.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// A document to stdout: pretty JSON, or YAML with `-o yaml`.
pub fn print_json(v: &impl serde::Serialize) {
    if format(false) == Format::Yaml {
        match serde_norway::to_string(v) {
            Ok(s) => emit(&s),
            Err(e) => emit_err(&format!("cannot encode YAML output: {e}")),
        }
        return;
    }
    match serde_json::to_string_pretty(v) {
        Ok(mut s) => {
            s.push('\n');
            emit(&s);
        }
        Err(e) => emit_err(&format!("cannot encode JSON output: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
        assert_eq!(
            table_opts(&["A", "BB"], &[vec!["xxx".into(), "y".into()]], false),
            "xxx  y\n"
        );
    }

    #[test]
    fn wide_characters_line_up() {
        let t = table(
            &["NAME", "DOMAIN"],
            &[
                vec!["東京トレード".into(), "tokyo.example".into()],
                vec!["Acme".into(), "acme.example".into()],
            ],
        );
        // The second column starts after the last space of each line.
        let cols: Vec<usize> = t
            .lines()
            .map(|l| cells(&l[..l.rfind(' ').map_or(0, |i| i + 1)]))
            .collect();
        assert_eq!(cols, vec![14, 14, 14], "{t}");
    }

    #[test]
    fn plain_panic_reports() {
        use std::ffi::OsStr;
        assert!(!plain_stderr(false, None, true), "colour on a terminal");
        assert!(plain_stderr(false, Some(OsStr::new("1")), true), "NO_COLOR");
        assert!(
            !plain_stderr(false, Some(OsStr::new("")), true),
            "empty NO_COLOR is unset"
        );
        assert!(plain_stderr(false, None, false), "redirected stderr");
        assert!(plain_stderr(true, None, true), "--no-color");
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn csv_formulas_are_defused() {
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(csv_field("+cmd"), "'+cmd");
        assert_eq!(csv_field("-2"), "'-2");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\tx"), "'\tx");
        assert_eq!(csv_field("\rx"), "\"'\rx\"");
        assert_eq!(
            csv_field("=HYPERLINK(\"x\",1)"),
            "\"'=HYPERLINK(\"\"x\"\",1)\""
        );
        assert_eq!(csv_field("plain"), "plain");
    }
}
