//! Tenant schema templates: `templates/NAME.json` in the original service's
//! format (`name`, `description`, `tables`, `indexes`, `timescale_tables`)
//! plus `version` (default 1) and optional raw `statements`.
//!
//! Loading walks the JSON by hand so the first problem is reported with its
//! field path (`tables[2].columns[0].type: ...`). Everything that later
//! becomes SQL text is either an identifier (always quoted by `db`), a type
//! from an allow-list, a default from a tiny expression grammar, or a raw
//! statement that passed [`check_statement`] — and `db` still runs all of it
//! as the tenant role, so a template can only build inside its own schema.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A validated template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    pub name: String,
    pub description: String,
    pub version: i32,
    pub tables: Vec<Table>,
    pub indexes: Vec<Index>,
    pub timescale_tables: Vec<Hypertable>,
    /// Extra single statements (views, comments, seed rows), run after the
    /// tables and indexes, as the tenant role, inside a security-definer
    /// function so that no statement can change the role.
    pub statements: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub name: String,
    /// Normalised lowercase type, e.g. `numeric(18,8)`, `timestamptz`.
    #[serde(rename = "type")]
    pub ty: String,
    pub nullable: bool,
    /// A checked default expression.
    pub default: Option<String>,
    pub references: Option<Reference>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    pub table: String,
    pub column: String,
    /// `cascade`, `restrict`, `set null` or `no action`.
    pub on_delete: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Index {
    pub name: String,
    pub table: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hypertable {
    pub name: String,
    pub time_column: String,
    #[serde(serialize_with = "ser_ms")]
    pub chunk_interval: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}ms", d.as_millis()))
}

impl Template {
    /// Table names the template creates, in order.
    pub fn table_names(&self) -> Vec<&str> {
        self.tables.iter().map(|t| t.name.as_str()).collect()
    }

    /// Names of the declared indexes.
    pub fn index_names(&self) -> Vec<&str> {
        self.indexes.iter().map(|i| i.name.as_str()).collect()
    }

    /// Every index the schema should have: primary keys (`<table>_pkey`,
    /// PostgreSQL's default name) and the declared ones. For drift checks.
    pub fn expected_index_names(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .tables
            .iter()
            .filter(|t| !t.primary_key.is_empty())
            .map(|t| pkey_name(&t.name))
            .collect();
        out.extend(self.indexes.iter().map(|i| i.name.clone()));
        out
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// The primary key constraint (and index) name of a table.
pub fn pkey_name(table: &str) -> String {
    let mut n = format!("{table}_pkey");
    n.truncate(63);
    n
}

/// Load `NAME.json` from `dir`. The name is checked first, so a path never
/// reaches the file system.
pub fn load(dir: &Path, name: &str) -> Result<Template> {
    let name = crate::domain::tenant::validate_template_name(name)?;
    let path = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            let known = list_names(dir).unwrap_or_default();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            Error::not_found(format!(
                "unknown template \"{name}\": no {} (known: {known})",
                path.display()
            ))
        } else {
            Error::failure(format!("cannot read template {}: {e}", path.display()))
        }
    })?;
    let t = parse(&text).map_err(|e| e.context(&format!("template {}", path.display())))?;
    if t.name != name {
        return Err(Error::invalid(format!(
            "template {}: name: \"{}\" does not match the file name \"{name}\"",
            path.display(),
            t.name
        )));
    }
    Ok(t)
}

/// Validate any template file (for `templates validate FILE`).
pub fn validate_file(path: &Path) -> Result<Template> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::not_found(format!("no template file {}", path.display()))
        } else {
            Error::failure(format!("cannot read {}: {e}", path.display()))
        }
    })?;
    parse(&text).map_err(|e| e.context(&format!("template {}", path.display())))
}

fn template_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        Error::failure(format!(
            "cannot read the template directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn list_names(dir: &Path) -> Result<Vec<String>> {
    Ok(template_files(dir)?
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
        .collect())
}

/// Every template in `dir`, sorted by name; the first invalid one is an error.
pub fn list(dir: &Path) -> Result<Vec<Template>> {
    template_files(dir)?
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
        .map(|n| load(dir, &n))
        .collect()
}

/// Parse and validate template text.
pub fn parse(text: &str) -> Result<Template> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        Error::invalid(format!(
            "not valid JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    from_value(&v)
}

fn err(path: &str, msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{path}: {msg}"))
}

fn object<'a>(v: &'a Value, path: &str, allowed: &[&str]) -> Result<&'a Map<String, Value>> {
    let o = v
        .as_object()
        .ok_or_else(|| err(path, "expected an object"))?;
    for k in o.keys() {
        if !allowed.contains(&k.as_str()) {
            let p = if path == "(top)" {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            return Err(err(
                &p,
                format!("unknown field (expected one of {})", allowed.join(", ")),
            ));
        }
    }
    Ok(o)
}

fn field_path(path: &str, key: &str) -> String {
    if path == "(top)" {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn req_str(o: &Map<String, Value>, path: &str, key: &str) -> Result<String> {
    let p = field_path(path, key);
    match o.get(key) {
        None => Err(err(&p, "missing")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(err(&p, "expected a string")),
    }
}

fn opt_str(o: &Map<String, Value>, path: &str, key: &str) -> Result<Option<String>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err(&field_path(path, key), "expected a string")),
    }
}

fn opt_bool(o: &Map<String, Value>, path: &str, key: &str, default: bool) -> Result<bool> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(err(&field_path(path, key), "expected true or false")),
    }
}

fn opt_array<'a>(o: &'a Map<String, Value>, path: &str, key: &str) -> Result<&'a [Value]> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a.as_slice()),
        Some(_) => Err(err(&field_path(path, key), "expected an array")),
    }
}

fn str_list(o: &Map<String, Value>, path: &str, key: &str) -> Result<Vec<String>> {
    opt_array(o, path, key)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let p = format!("{}[{i}]", field_path(path, key));
            let s = v.as_str().ok_or_else(|| err(&p, "expected a string"))?;
            ident(s).map_err(|m| err(&p, m))
        })
        .collect()
}

/// A lowercase SQL identifier, never quoted-looking, never `pg_`-prefixed.
fn ident(s: &str) -> std::result::Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(format!(
            "\"{}\" is not a plain identifier (1-63 lowercase letters, digits and underscores, not starting with a digit)",
            crate::domain::sanitize::clean(s)
        ));
    }
    if s.starts_with("pg_") {
        return Err(format!("\"{s}\" uses the reserved pg_ prefix"));
    }
    Ok(s.to_string())
}

fn from_value(v: &Value) -> Result<Template> {
    let top = "(top)";
    let o = object(
        v,
        top,
        &[
            "name",
            "description",
            "version",
            "tables",
            "indexes",
            "timescale_tables",
            "statements",
        ],
    )?;
    let name = req_str(o, top, "name")?;
    crate::domain::tenant::validate_template_name(&name).map_err(|e| err("name", e.message))?;
    let description = opt_str(o, top, "description")?.unwrap_or_default();
    if description.chars().any(char::is_control) {
        return Err(err("description", "contains control characters"));
    }
    let version = match o.get("version") {
        None | Some(Value::Null) => 1,
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| err("version", "expected a positive whole number"))?,
        Some(_) => return Err(err("version", "expected a positive whole number")),
    };
    let raw_tables = opt_array(o, top, "tables")?;
    if raw_tables.is_empty() {
        return Err(err("tables", "a template needs at least one table"));
    }
    let mut tables: Vec<Table> = Vec::new();
    for (i, tv) in raw_tables.iter().enumerate() {
        let t = table(tv, &format!("tables[{i}]"), &tables)?;
        tables.push(t);
    }
    let mut indexes: Vec<Index> = Vec::new();
    for (i, iv) in opt_array(o, top, "indexes")?.iter().enumerate() {
        let p = format!("indexes[{i}]");
        let io = object(iv, &p, &["name", "table", "columns", "unique"])?;
        let name = ident(&req_str(io, &p, "name")?).map_err(|m| err(&format!("{p}.name"), m))?;
        if indexes.iter().any(|x| x.name == name)
            || tables
                .iter()
                .any(|t| t.name == name || pkey_name(&t.name) == name)
        {
            return Err(err(
                &format!("{p}.name"),
                format!("\"{name}\" is already used by another table or index"),
            ));
        }
        let tname = ident(&req_str(io, &p, "table")?).map_err(|m| err(&format!("{p}.table"), m))?;
        let Some(t) = tables.iter().find(|t| t.name == tname) else {
            return Err(err(
                &format!("{p}.table"),
                format!("no table \"{tname}\" in this template"),
            ));
        };
        let columns = str_list(io, &p, "columns")?;
        if columns.is_empty() {
            return Err(err(&format!("{p}.columns"), "an index needs a column"));
        }
        for (j, c) in columns.iter().enumerate() {
            if !t.columns.iter().any(|x| &x.name == c) {
                return Err(err(
                    &format!("{p}.columns[{j}]"),
                    format!("table \"{tname}\" has no column \"{c}\""),
                ));
            }
        }
        let unique = opt_bool(io, &p, "unique", false)?;
        indexes.push(Index {
            name,
            table: tname,
            columns,
            unique,
        });
    }
    let mut timescale_tables: Vec<Hypertable> = Vec::new();
    for (i, hv) in opt_array(o, top, "timescale_tables")?.iter().enumerate() {
        let p = format!("timescale_tables[{i}]");
        let ho = object(hv, &p, &["name", "time_column", "chunk_interval"])?;
        let name = ident(&req_str(ho, &p, "name")?).map_err(|m| err(&format!("{p}.name"), m))?;
        let Some(t) = tables.iter().find(|t| t.name == name) else {
            return Err(err(
                &format!("{p}.name"),
                format!("no table \"{name}\" in this template"),
            ));
        };
        if timescale_tables.iter().any(|h| h.name == name) {
            return Err(err(&format!("{p}.name"), "listed twice"));
        }
        let time_column = ident(&req_str(ho, &p, "time_column")?)
            .map_err(|m| err(&format!("{p}.time_column"), m))?;
        let Some(col) = t.columns.iter().find(|c| c.name == time_column) else {
            return Err(err(
                &format!("{p}.time_column"),
                format!("table \"{name}\" has no column \"{time_column}\""),
            ));
        };
        if !matches!(
            col.ty.as_str(),
            "timestamptz" | "timestamp" | "date" | "integer" | "bigint" | "smallint"
        ) {
            return Err(err(
                &format!("{p}.time_column"),
                format!(
                    "column \"{time_column}\" is {}: a time column must be a timestamp, date or integer",
                    col.ty
                ),
            ));
        }
        let chunk = opt_str(ho, &p, "chunk_interval")?.unwrap_or_else(|| "7 days".into());
        let chunk_interval =
            parse_interval(&chunk).map_err(|m| err(&format!("{p}.chunk_interval"), m))?;
        // A hypertable's unique indexes must include its time column.
        if !t.primary_key.is_empty() && !t.primary_key.contains(&time_column) {
            return Err(err(
                &format!("{p}.time_column"),
                format!(
                    "the primary key of \"{name}\" must include \"{time_column}\" for it to become a hypertable"
                ),
            ));
        }
        if let Some(ix) = indexes
            .iter()
            .find(|ix| ix.table == name && ix.unique && !ix.columns.contains(&time_column))
        {
            return Err(err(
                &format!("{p}.time_column"),
                format!(
                    "unique index \"{}\" must include \"{time_column}\" for \"{name}\" to become a hypertable",
                    ix.name
                ),
            ));
        }
        timescale_tables.push(Hypertable {
            name,
            time_column,
            chunk_interval,
        });
    }
    let mut statements = Vec::new();
    for (i, sv) in opt_array(o, top, "statements")?.iter().enumerate() {
        let p = format!("statements[{i}]");
        let s = sv.as_str().ok_or_else(|| err(&p, "expected a string"))?;
        statements.push(check_statement(s).map_err(|m| err(&p, m))?);
    }
    Ok(Template {
        name,
        description,
        version,
        tables,
        indexes,
        timescale_tables,
        statements,
    })
}

fn table(v: &Value, p: &str, earlier: &[Table]) -> Result<Table> {
    let o = object(v, p, &["name", "columns", "primary_key"])?;
    let name = ident(&req_str(o, p, "name")?).map_err(|m| err(&format!("{p}.name"), m))?;
    if earlier.iter().any(|t| t.name == name) {
        return Err(err(
            &format!("{p}.name"),
            format!("table \"{name}\" is defined twice"),
        ));
    }
    let raw_cols = opt_array(o, p, "columns")?;
    if raw_cols.is_empty() {
        return Err(err(
            &format!("{p}.columns"),
            "a table needs at least one column",
        ));
    }
    let mut columns: Vec<Column> = Vec::new();
    for (j, cv) in raw_cols.iter().enumerate() {
        let cp = format!("{p}.columns[{j}]");
        let co = object(
            cv,
            &cp,
            &["name", "type", "nullable", "default", "references"],
        )?;
        let cname = ident(&req_str(co, &cp, "name")?).map_err(|m| err(&format!("{cp}.name"), m))?;
        if columns.iter().any(|c| c.name == cname) {
            return Err(err(
                &format!("{cp}.name"),
                format!("column \"{cname}\" is defined twice"),
            ));
        }
        let ty = sql_type(&req_str(co, &cp, "type")?).map_err(|m| err(&format!("{cp}.type"), m))?;
        let nullable = opt_bool(co, &cp, "nullable", true)?;
        let default = opt_str(co, &cp, "default")?
            .map(|d| default_expr(&d))
            .transpose()
            .map_err(|m| err(&format!("{cp}.default"), m))?;
        let references = match co.get("references") {
            None | Some(Value::Null) => None,
            Some(rv) => {
                let rp = format!("{cp}.references");
                let ro = object(rv, &rp, &["table", "column", "on_delete"])?;
                let rt = ident(&req_str(ro, &rp, "table")?)
                    .map_err(|m| err(&format!("{rp}.table"), m))?;
                let target = if rt == name {
                    None
                } else {
                    Some(earlier.iter().find(|t| t.name == rt).ok_or_else(|| {
                        err(
                            &format!("{rp}.table"),
                            format!("no table \"{rt}\" defined before this one"),
                        )
                    })?)
                };
                let rc = ident(&req_str(ro, &rp, "column")?)
                    .map_err(|m| err(&format!("{rp}.column"), m))?;
                if let Some(t) = target {
                    if !t.columns.iter().any(|c| c.name == rc) {
                        return Err(err(
                            &format!("{rp}.column"),
                            format!("table \"{rt}\" has no column \"{rc}\""),
                        ));
                    }
                }
                let on_delete = opt_str(ro, &rp, "on_delete")?
                    .unwrap_or_else(|| "no action".into())
                    .to_ascii_lowercase();
                if !["cascade", "restrict", "set null", "no action"].contains(&on_delete.as_str()) {
                    return Err(err(
                        &format!("{rp}.on_delete"),
                        "use cascade, restrict, set null or no action",
                    ));
                }
                Some(Reference {
                    table: rt,
                    column: rc,
                    on_delete,
                })
            }
        };
        columns.push(Column {
            name: cname,
            ty,
            nullable,
            default,
            references,
        });
    }
    let primary_key = str_list(o, p, "primary_key")?;
    for (k, c) in primary_key.iter().enumerate() {
        if !columns.iter().any(|x| &x.name == c) {
            return Err(err(
                &format!("{p}.primary_key[{k}]"),
                format!("no column \"{c}\" in table \"{name}\""),
            ));
        }
    }
    Ok(Table {
        name,
        columns,
        primary_key,
    })
}

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
fn sql_type(s: &str) -> std::result::Result<String, String> {
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
fn default_expr(s: &str) -> std::result::Result<String, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates")
    }

    #[test]
    fn default_template_loads() {
        let t = load(&shipped_dir(), "default").expect("default loads");
        assert_eq!(t.version, 1);
        assert_eq!(
            t.table_names(),
            ["portfolios", "positions", "trades", "market_data"]
        );
        assert_eq!(t.indexes.len(), 4);
        let trades = t.table("trades").expect("trades");
        assert_eq!(trades.primary_key, ["id", "timestamp"]);
        let ht: Vec<&str> = t.timescale_tables.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(ht, ["trades", "market_data"]);
        assert!(
            t.timescale_tables
                .iter()
                .all(|h| h.chunk_interval == Duration::from_secs(86_400))
        );
        assert!(
            t.expected_index_names()
                .contains(&"trades_pkey".to_string())
        );
        assert_eq!(list(&shipped_dir()).expect("list").len(), 1);
    }

    fn base() -> Value {
        serde_json::json!({
            "name": "t",
            "tables": [
                {"name": "a", "columns": [{"name": "id", "type": "uuid"}, {"name": "ts", "type": "timestamptz"}], "primary_key": ["id"]},
                {"name": "b", "columns": [{"name": "id", "type": "bigint"}]}
            ]
        })
    }

    fn problem(v: &Value) -> String {
        from_value(v).expect_err("should be invalid").message
    }

    #[test]
    fn problems_name_their_field_path() {
        let mut v = base();
        v["tables"][1]["columns"][0]["type"] = "evil; drop".into();
        assert!(
            problem(&v).starts_with("tables[1].columns[0].type: "),
            "{}",
            problem(&v)
        );

        let mut v = base();
        v["tables"][0]["columns"][1]["default"] = "now(); DROP TABLE x".into();
        assert!(problem(&v).starts_with("tables[0].columns[1].default: "));

        let mut v = base();
        v["tables"][0]["name"] = "other.x".into();
        assert!(problem(&v).starts_with("tables[0].name: "));

        let mut v = base();
        v["tables"][0]["colums"] = serde_json::json!([]);
        assert!(problem(&v).starts_with("tables[0].colums: unknown field"));

        let mut v = base();
        v["indexes"] = serde_json::json!([{"name": "i", "table": "a", "columns": ["nope"]}]);
        assert!(problem(&v).starts_with("indexes[0].columns[0]: "));

        let mut v = base();
        v["timescale_tables"] =
            serde_json::json!([{"name": "a", "time_column": "ts", "chunk_interval": "1 day"}]);
        assert!(
            problem(&v).contains("primary key"),
            "hypertable PK must include the time column"
        );

        let mut v = base();
        v["version"] = serde_json::json!(0);
        assert!(problem(&v).starts_with("version: "));

        let mut v = base();
        v["name"] = "../etc".into();
        assert!(problem(&v).starts_with("name: "));

        assert!(parse("{").expect_err("bad json").message.contains("line 1"));
    }

    #[test]
    fn types_and_defaults() {
        assert_eq!(sql_type("NUMERIC(18, 8)").expect("ok"), "numeric(18,8)");
        assert_eq!(sql_type("text[]").expect("ok"), "text[]");
        assert!(sql_type("public.evil").is_err());
        assert!(sql_type("int) ; drop table x; --").is_err());
        assert_eq!(default_expr("'{}'::jsonb").expect("ok"), "'{}'::jsonb");
        assert_eq!(default_expr("NOW()").expect("ok"), "now()");
        assert_eq!(default_expr("'it''s'").expect("ok"), "'it''s'");
        assert_eq!(default_expr("-1.5").expect("ok"), "-1.5");
        for bad in [
            "'a' || 'b'",
            "'a'); drop table x; --",
            "set_config('role','postgres',true)",
            "pg_sleep(1)",
            "'x''",
        ] {
            assert!(default_expr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statements_are_single_and_of_allowed_kinds() {
        assert!(check_statement("CREATE VIEW v AS SELECT 1").is_ok());
        assert!(check_statement("insert into a (id) values ('x;y')").is_ok());
        for bad in [
            "RESET ROLE",
            "SET ROLE postgres",
            "SELECT set_config('role', 'postgres', true)",
            "COMMIT",
            "CREATE TABLE a (x int); RESET ROLE",
            "CREATE FUNCTION f() RETURNS int AS $$ select 1 $$ LANGUAGE sql",
            "CREATE TABLE a (x int) -- hi",
            "CREATE TABLE a (x text default E'\\x41')",
            "DO 'begin end'",
            "",
        ] {
            assert!(check_statement(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1 day"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_interval("6h"), Ok(Duration::from_secs(21_600)));
        assert!(parse_interval("0 days").is_err());
        assert!(parse_interval("1 fortnight").is_err());
    }
}
