//! Checks for everything in a template that becomes SQL text other than an
//! identifier: column types from an allow-list ([`sql_type`]), defaults from a
//! tiny expression grammar ([`default_expr`]), SQL statements of allowed kinds
//! ([`check_statement`], through [`super::statement`]) and hypertable chunk
//! intervals ([`parse_interval`]).
//! Each returns the normalised text or a message without a field path; the
//! parser adds the path.

use std::time::Duration;

const BASE_TYPES: &[&str] = &[
    "uuid",
    "text",
    "varchar",
    "character varying",
    "char",
    "character",
    "integer",
    "int",
    "int4",
    "bigint",
    "int8",
    "smallint",
    "int2",
    "serial",
    "bigserial",
    "numeric",
    "decimal",
    "real",
    "double precision",
    "float8",
    "float4",
    "boolean",
    "bool",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "timestamp with time zone",
    "timestamp without time zone",
    "interval",
    "json",
    "jsonb",
    "bytea",
    "inet",
    "cidr",
    "money",
];

/// A column type from the allow-list, with optional `(n)`/`(p,s)` and `[]`.
pub(super) fn sql_type(s: &str) -> std::result::Result<String, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    let (body, array) = match t.strip_suffix("[]") {
        Some(b) => (b.trim_end(), true),
        None => (t.as_str(), false),
    };
    let (base, args) = match body.find('(') {
        Some(i) => {
            let args = body[i..].trim();
            let inner = args
                .strip_prefix('(')
                .and_then(|a| a.strip_suffix(')'))
                .ok_or_else(|| format!("\"{s}\" has malformed parentheses"))?;
            let nums: Vec<&str> = inner.split(',').map(str::trim).collect();
            if nums.len() > 2
                || nums
                    .iter()
                    .any(|n| n.is_empty() || n.len() > 4 || !n.chars().all(|c| c.is_ascii_digit()))
            {
                return Err(format!(
                    "\"{s}\": type arguments must be one or two numbers"
                ));
            }
            (body[..i].trim(), format!("({})", nums.join(",")))
        }
        None => (body, String::new()),
    };
    if !BASE_TYPES.contains(&base) {
        return Err(format!(
            "unsupported type \"{}\" (use a built-in type such as uuid, text, varchar(n), integer, bigint, numeric(p,s), boolean, timestamptz, date, interval, jsonb)",
            crate::domain::sanitize::clean(s)
        ));
    }
    Ok(format!("{base}{args}{}", if array { "[]" } else { "" }))
}

const DEFAULT_FUNCS: &[&str] = &[
    "now()",
    "gen_random_uuid()",
    "clock_timestamp()",
    "statement_timestamp()",
    "transaction_timestamp()",
];
const DEFAULT_WORDS: &[&str] = &[
    "true",
    "false",
    "null",
    "current_timestamp",
    "current_date",
    "localtimestamp",
];

/// A default: a literal (string, number, true/false/null), one of a few
/// functions, optionally cast with `::type`.
pub(super) fn default_expr(s: &str) -> std::result::Result<String, String> {
    let d = s.trim();
    let (value, cast) = match d.rfind("::") {
        // A `::` inside a string literal is not a cast.
        Some(i) if !d[i..].contains('\'') => (d[..i].trim(), Some(sql_type(&d[i + 2..])?)),
        _ => (d, None),
    };
    let lower = value.to_ascii_lowercase();
    let ok = if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        // Quotes inside must be doubled; no backslash escapes (standard strings).
        inner.replace("''", "").find('\'').is_none() && !inner.chars().any(char::is_control)
    } else {
        DEFAULT_FUNCS.contains(&lower.as_str())
            || DEFAULT_WORDS.contains(&lower.as_str())
            || is_number(value)
    };
    if !ok {
        return Err(format!(
            "\"{}\" is not an allowed default (use a quoted literal, a number, true, false, null, now(), gen_random_uuid() or current_timestamp, optionally with ::type)",
            crate::domain::sanitize::clean(s)
        ));
    }
    let value = if value.starts_with('\'') {
        value.to_string()
    } else {
        lower
    };
    Ok(match cast {
        Some(c) => format!("{value}::{c}"),
        None => value,
    })
}

fn is_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.chars().filter(|c| *c == '.').count() <= 1
        && s.chars().any(|c| c.is_ascii_digit())
}

/// Check one SQL statement of a template (a SQL-string `tables` or
/// `indexes` entry, or an extra `statements` entry): exactly one CREATE
/// TABLE / CREATE INDEX / CREATE VIEW / CREATE SEQUENCE / COMMENT ON / ALTER
/// TABLE on the tenant's own (unqualified) objects. Returns the statement,
/// trimmed. The schema boundary is also enforced by the database (the
/// statement runs as the schema's owner inside a security-definer function);
/// this check refuses what has no business in a template before anything runs.
pub fn check_statement(s: &str) -> std::result::Result<String, String> {
    let text = s.trim();
    let text = text.strip_suffix(';').unwrap_or(text).trim_end();
    super::statement::check(text)?;
    Ok(text.to_string())
}

/// `1 day`, `7 days`, `12 hours`, `1d`, `6h`, `30m`: the chunk interval.
pub fn parse_interval(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("\"{s}\" is not an interval such as \"1 day\" or \"6 hours\""))?;
    let secs = match unit.trim() {
        "d" | "day" | "days" => 86_400,
        "h" | "hour" | "hours" => 3_600,
        "m" | "min" | "minute" | "minutes" => 60,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => {
            return Err(format!(
                "\"{s}\" is not an interval such as \"1 day\" or \"6 hours\""
            ));
        }
    };
    if n == 0 || n > 10_000 {
        return Err(format!("\"{s}\" is out of range"));
    }
    Ok(Duration::from_secs(n * secs))
}
