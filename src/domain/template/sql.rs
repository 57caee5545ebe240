//! Checks for everything in a template that becomes SQL text other than an
//! identifier: column types from an allow-list ([`sql_type`]), defaults from a
//! tiny expression grammar ([`default_expr`]), raw statements of allowed kinds
//! ([`check_statement`]) and hypertable chunk intervals ([`parse_interval`]).
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

/// Statement kinds a template may add: they build objects, never change
/// who runs them or end the transaction.
const STATEMENT_STARTS: &[&[&str]] = &[
    &["create", "table"],
    &["create", "unique", "index"],
    &["create", "index"],
    &["create", "view"],
    &["create", "or", "replace", "view"],
    &["create", "sequence"],
    &["create", "type"],
    &["alter", "table"],
    &["comment", "on"],
    &["insert", "into"],
];

/// Check one raw statement: a single statement of an allowed kind, with no
/// comments, dollar quoting or escape-string syntax that could hide a second
/// statement. The schema boundary itself is enforced by the database (the
/// statement runs as the tenant role); this check keeps the text honest.
pub fn check_statement(s: &str) -> std::result::Result<String, String> {
    let text = s.trim().trim_end_matches(';').trim();
    if text.is_empty() {
        return Err("empty statement".into());
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("contains control characters".into());
    }
    // Walk the text outside string literals and quoted identifiers.
    let mut in_str = false;
    let mut in_ident = false;
    let mut prev = '\0';
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied().unwrap_or('\0');
        if in_str {
            if c == '\'' {
                in_str = false;
            }
        } else if in_ident {
            if c == '"' {
                in_ident = false;
            }
        } else {
            match c {
                '\'' => {
                    if matches!(prev, 'e' | 'E' | 'u' | 'U' | '&' | 'b' | 'B' | 'x' | 'X')
                        && !(i >= 2 && chars[i - 2].is_alphanumeric())
                    {
                        return Err("escape-string and bit-string syntax is not allowed".into());
                    }
                    in_str = true;
                }
                '"' => in_ident = true,
                ';' => return Err("only one statement per entry".into()),
                '$' => return Err("dollar quoting and parameters are not allowed".into()),
                '-' if next == '-' => return Err("comments are not allowed".into()),
                '/' if next == '*' => return Err("comments are not allowed".into()),
                '\\' => return Err("backslashes are not allowed outside strings".into()),
                _ => {}
            }
        }
        prev = c;
    }
    if in_str || in_ident {
        return Err("unterminated quote".into());
    }
    let words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .take(4)
        .map(str::to_ascii_lowercase)
        .collect();
    let allowed = STATEMENT_STARTS.iter().any(|start| {
        start.iter().zip(words.iter()).all(|(a, b)| a == b) && words.len() >= start.len()
    });
    if !allowed {
        return Err(
            "only CREATE TABLE/INDEX/VIEW/SEQUENCE/TYPE, ALTER TABLE, COMMENT ON and INSERT INTO statements are allowed"
                .into(),
        );
    }
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
