//! The JSON walk that turns a template document into a [`Template`]: the
//! top-level fields, each table with its columns and references, indexes,
//! hypertables and raw statements, checked in order so the first problem is
//! reported with its field path (`tables[2].columns[0].type: ...`). The small
//! field helpers here (`object`, `req_str`, `opt_str`, `opt_bool`,
//! `opt_array`, `str_list`, `ident`) each know how to name the path of what
//! they read; the SQL-text checks they call live in [`super::sql`].

use serde_json::{Map, Value};

use super::sql::{check_statement, default_expr, parse_interval, sql_type};
use super::{Column, Hypertable, Index, Reference, Table, Template, pkey_name};
use crate::error::{Error, Result};

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

pub(super) fn from_value(v: &Value) -> Result<Template> {
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
