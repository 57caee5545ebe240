//! From template text to a [`Template`]: serde deserializes the document
//! into raw structs (refusing unknown and duplicate keys, with the field path
//! of the problem from `serde_path_to_error`), then the cross-field checks
//! run in order so the first problem is reported with its path
//! (`tables[2].columns[0].type: ...`). Each entry of `tables` and `indexes`
//! is either an object (the structured format) or a SQL string (the original
//! service's); a template uses one or the other. SQL-text checks live in
//! [`super::sql`] (structured pieces) and [`super::statement`] (SQL strings).

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use super::sql::{check_statement, default_expr, parse_interval, sql_type};
use super::statement::{self, Parsed};
use super::{Column, Format, Hypertable, Index, Reference, SqlStep, Table, Template, pkey_name};
use crate::error::{Error, Result};

fn err(path: &str, msg: impl fmt::Display) -> Error {
    Error::invalid(format!("{path}: {msg}"))
}

/// An entry of `tables` or `indexes`: a SQL statement or an object.
#[derive(Debug)]
enum Entry<T> {
    Sql(String),
    Obj(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entry<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Entry<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a SQL statement (a string) or an object")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Self::Value, E> {
                Ok(Entry::Sql(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Entry::Obj)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    version: Option<serde_json::Number>,
    #[serde(default)]
    tables: Vec<Entry<RawTable>>,
    #[serde(default)]
    indexes: Vec<Entry<RawIndex>>,
    #[serde(default)]
    timescale_tables: Vec<RawHypertable>,
    #[serde(default)]
    statements: Vec<String>,
    #[serde(default)]
    tenant_ddl: bool,
    #[serde(default)]
    baseline: Option<RawBaseline>,
    #[serde(default)]
    migrations: Vec<RawMigration>,
}

/// The body at the baseline version: the same fields as a template's body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBaseline {
    #[serde(default)]
    version: Option<serde_json::Number>,
    #[serde(default)]
    tables: Vec<Entry<RawTable>>,
    #[serde(default)]
    indexes: Vec<Entry<RawIndex>>,
    #[serde(default)]
    timescale_tables: Vec<RawHypertable>,
    #[serde(default)]
    statements: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMigration {
    to: serde_json::Number,
    #[serde(default)]
    description: Option<String>,
    steps: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: String,
    #[serde(default)]
    columns: Vec<RawColumn>,
    #[serde(default)]
    primary_key: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    nullable: Option<bool>,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    references: Option<RawReference>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReference {
    table: String,
    column: String,
    #[serde(default)]
    on_delete: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndex {
    name: String,
    table: String,
    #[serde(default)]
    columns: Vec<String>,
    #[serde(default)]
    unique: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHypertable {
    name: String,
    time_column: String,
    #[serde(default)]
    chunk_interval: Option<String>,
}

/// serde's message without the position suffix serde_json appends to data
/// errors (the field path says where).
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => &msg[..i],
        _ => msg,
    }
}

/// Deserialize and check template text.
pub(super) fn from_str(text: &str) -> Result<Template> {
    let mut de = serde_json::Deserializer::from_str(text);
    let raw: RawTemplate = match serde_path_to_error::deserialize(&mut de) {
        Ok(r) => r,
        Err(e) => {
            let inner = e.inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(Error::invalid(format!(
                    "not valid JSON at line {} column {}: {}",
                    inner.line(),
                    inner.column(),
                    strip_position(&inner.to_string())
                )));
            }
            let path = e.path().to_string();
            let msg = format!(
                "{} (line {} column {})",
                strip_position(&inner.to_string()),
                inner.line(),
                inner.column()
            );
            return Err(if path == "." {
                Error::invalid(msg)
            } else {
                err(&path, msg)
            });
        }
    };
    de.end().map_err(|e| {
        Error::invalid(format!(
            "not valid JSON at line {} column {}: text after the template",
            e.line(),
            e.column()
        ))
    })?;
    check(raw)
}

fn check(raw: RawTemplate) -> Result<Template> {
    let name = raw.name;
    crate::domain::tenant::validate_template_name(&name).map_err(|e| err("name", e.message))?;
    let description = raw.description.unwrap_or_default();
    if description.chars().any(char::is_control) {
        return Err(err("description", "contains control characters"));
    }
    let version = match raw.version {
        None => 1,
        Some(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| err("version", "expected a positive whole number"))?,
    };
    if raw.tables.is_empty() {
        return Err(err("tables", "a template needs at least one table"));
    }
    let format = match raw.tables[0] {
        Entry::Sql(_) => Format::Sql,
        Entry::Obj(_) => Format::Structured,
    };
    let mut t = Template {
        name,
        description,
        version,
        format,
        tables: Vec::new(),
        indexes: Vec::new(),
        timescale_tables: Vec::new(),
        sql: Vec::new(),
        statements: Vec::new(),
        warnings: Vec::new(),
        tenant_ddl: raw.tenant_ddl,
        baseline: None,
        migrations: Vec::new(),
    };
    // Unique column sets per table (SQL format: keys, UNIQUE constraints and
    // unique indexes), for the hypertable checks.
    let mut unique_sets: Vec<(String, String, Vec<String>)> = Vec::new();
    match format {
        Format::Structured => structured(&mut t, raw.tables, raw.indexes)?,
        Format::Sql => sql_strings(&mut t, raw.tables, raw.indexes, &mut unique_sets)?,
    }
    for (i, s) in raw.statements.iter().enumerate() {
        let p = format!("statements[{i}]");
        let text = check_statement(s).map_err(|m| err(&p, m))?;
        if let Ok(Parsed::Index(_, ix)) = statement::check(&text) {
            if ix.unique {
                unique_sets.push((p.clone(), ix.table.clone(), ix.columns.clone()));
            }
        }
        t.statements.push(text);
    }
    hypertables(&mut t, raw.timescale_tables, &unique_sets)?;
    migrations(&mut t, raw.baseline, raw.migrations)?;
    Ok(t)
}

fn positive(n: Option<&serde_json::Number>, path: &str) -> Result<Option<i32>> {
    n.map(|n| {
        n.as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| err(path, "expected a positive whole number"))
    })
    .transpose()
}

/// The baseline body and the ordered migrations: versions follow each other
/// from the baseline's to the template's, without a gap; every step passes
/// [`super::migration::check_step`].
fn migrations(
    t: &mut Template,
    baseline: Option<RawBaseline>,
    raw: Vec<RawMigration>,
) -> Result<()> {
    let Some(rb) = baseline else {
        if raw.is_empty() {
            return Ok(());
        }
        return Err(err(
            "baseline",
            "a template with migrations needs its baseline body (the schema the first migration starts from)",
        ));
    };
    let base_version = positive(rb.version.as_ref(), "baseline.version")?.unwrap_or(1);
    let expected = i64::from(base_version) + i64::try_from(raw.len()).unwrap_or(i64::MAX);
    if expected != i64::from(t.version) {
        return Err(err(
            "version",
            format!(
                "{}: the baseline is version {base_version} and there are {} migrations, so the template is version {expected}",
                t.version,
                raw.len()
            ),
        ));
    }
    let body = RawTemplate {
        name: t.name.clone(),
        description: None,
        version: Some(serde_json::Number::from(base_version)),
        tables: rb.tables,
        indexes: rb.indexes,
        timescale_tables: rb.timescale_tables,
        statements: rb.statements,
        tenant_ddl: t.tenant_ddl,
        baseline: None,
        migrations: Vec::new(),
    };
    let base = check(body).map_err(|e| Error::new(e.kind, format!("baseline.{}", e.message)))?;
    for (i, rm) in raw.into_iter().enumerate() {
        let p = format!("migrations[{i}]");
        let want = base_version + i32::try_from(i).unwrap_or(i32::MAX) + 1;
        let to = positive(Some(&rm.to), &format!("{p}.to"))?.unwrap_or(0);
        if to != want {
            return Err(err(
                &format!("{p}.to"),
                format!(
                    "expected {want}, found {to}: each migration takes version N to N+1, in order from the baseline's version {base_version}"
                ),
            ));
        }
        let description = rm.description.unwrap_or_default();
        if description.chars().any(char::is_control) {
            return Err(err(
                &format!("{p}.description"),
                "contains control characters",
            ));
        }
        if rm.steps.is_empty() {
            return Err(err(
                &format!("{p}.steps"),
                "a migration needs at least one step",
            ));
        }
        let mut steps = Vec::new();
        for (j, s) in rm.steps.iter().enumerate() {
            let sp = format!("{p}.steps[{j}]");
            let text = s.trim();
            let text = text
                .strip_suffix(';')
                .unwrap_or(text)
                .trim_end()
                .to_string();
            let c = super::migration::check_step(&text).map_err(|m| err(&sp, m))?;
            steps.push(super::MigrationStep {
                path: sp,
                sql: text,
                non_transactional: c.non_transactional,
                in_tx_sql: c.in_tx_sql,
                index: c.index,
            });
        }
        t.migrations.push(super::Migration {
            to,
            description,
            steps,
        });
    }
    t.baseline = Some(Box::new(base));
    Ok(())
}

fn structured(
    t: &mut Template,
    tables: Vec<Entry<RawTable>>,
    indexes: Vec<Entry<RawIndex>>,
) -> Result<()> {
    for (i, e) in tables.into_iter().enumerate() {
        let p = format!("tables[{i}]");
        let Entry::Obj(rt) = e else {
            return Err(err(
                &p,
                "expected an object like tables[0] (a template uses either SQL strings or objects)",
            ));
        };
        let table = table(rt, &p, &t.tables)?;
        t.tables.push(table);
    }
    for (i, e) in indexes.into_iter().enumerate() {
        let p = format!("indexes[{i}]");
        let Entry::Obj(ri) = e else {
            return Err(err(
                &p,
                "expected an object (tables are objects, so indexes are too)",
            ));
        };
        let ix = index(&ri, &p, &t.tables, &t.indexes)?;
        t.indexes.push(ix);
    }
    Ok(())
}

fn sql_strings(
    t: &mut Template,
    tables: Vec<Entry<RawTable>>,
    indexes: Vec<Entry<RawIndex>>,
    unique_sets: &mut Vec<(String, String, Vec<String>)>,
) -> Result<()> {
    let entries = tables
        .into_iter()
        .enumerate()
        .map(|(i, e)| ("tables", i, e.map_obj()))
        .chain(
            indexes
                .into_iter()
                .enumerate()
                .map(|(i, e)| ("indexes", i, e.map_obj())),
        );
    for (field, i, e) in entries {
        let p = format!("{field}[{i}]");
        let Some(text) = e else {
            return Err(err(
                &p,
                "expected a SQL string like tables[0] (a template uses either SQL strings or objects)",
            ));
        };
        let text = check_statement(&text).map_err(|m| err(&p, m))?;
        match statement::check(&text).map_err(|m| err(&p, m))? {
            Parsed::Table(table, sets) => {
                if t.tables.iter().any(|x| x.name == table.name) {
                    return Err(err(
                        &p,
                        format!("table \"{}\" is created twice", table.name),
                    ));
                }
                for s in sets {
                    unique_sets.push((p.clone(), table.name.clone(), s));
                }
                t.tables.push(table);
            }
            Parsed::Index(name, ix) => {
                if ix.unique {
                    unique_sets.push((p.clone(), ix.table.clone(), ix.columns.clone()));
                }
                if let Some(n) = name {
                    if t.indexes.iter().any(|x| x.name == n) {
                        return Err(err(&p, format!("index \"{n}\" is created twice")));
                    }
                    t.indexes.push(ix);
                }
            }
            Parsed::Other => {}
        }
        t.sql.push(SqlStep { path: p, sql: text });
    }
    Ok(())
}

impl<T> Entry<T> {
    fn map_obj(self) -> Option<String> {
        match self {
            Entry::Sql(s) => Some(s),
            Entry::Obj(_) => None,
        }
    }
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

fn idents(list: &[String], p: &str) -> Result<Vec<String>> {
    list.iter()
        .enumerate()
        .map(|(i, s)| ident(s).map_err(|m| err(&format!("{p}[{i}]"), m)))
        .collect()
}

fn index(ri: &RawIndex, p: &str, tables: &[Table], earlier: &[Index]) -> Result<Index> {
    let name = ident(&ri.name).map_err(|m| err(&format!("{p}.name"), m))?;
    if earlier.iter().any(|x| x.name == name)
        || tables
            .iter()
            .any(|t| t.name == name || pkey_name(&t.name) == name)
    {
        return Err(err(
            &format!("{p}.name"),
            format!("\"{name}\" is already used by another table or index"),
        ));
    }
    let tname = ident(&ri.table).map_err(|m| err(&format!("{p}.table"), m))?;
    let Some(t) = tables.iter().find(|t| t.name == tname) else {
        return Err(err(
            &format!("{p}.table"),
            format!("no table \"{tname}\" in this template"),
        ));
    };
    let columns = idents(&ri.columns, &format!("{p}.columns"))?;
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
    Ok(Index {
        name,
        table: tname,
        columns,
        unique: ri.unique.unwrap_or(false),
    })
}

const TIME_TYPES: &[&str] = &[
    "timestamptz",
    "timestamp",
    "timestamp with time zone",
    "timestamp without time zone",
    "date",
];

fn hypertables(
    t: &mut Template,
    raw: Vec<RawHypertable>,
    unique_sets: &[(String, String, Vec<String>)],
) -> Result<()> {
    for (i, rh) in raw.into_iter().enumerate() {
        let p = format!("timescale_tables[{i}]");
        let name = ident(&rh.name).map_err(|m| err(&format!("{p}.name"), m))?;
        let Some(table) = t.tables.iter().find(|x| x.name == name) else {
            return Err(err(
                &format!("{p}.name"),
                format!("no table \"{name}\" in this template"),
            ));
        };
        if t.timescale_tables.iter().any(|h| h.name == name) {
            return Err(err(&format!("{p}.name"), "listed twice"));
        }
        let time_column =
            ident(&rh.time_column).map_err(|m| err(&format!("{p}.time_column"), m))?;
        let Some(col) = table.columns.iter().find(|c| c.name == time_column) else {
            return Err(err(
                &format!("{p}.time_column"),
                format!("table \"{name}\" has no column \"{time_column}\""),
            ));
        };
        if !TIME_TYPES.contains(&col.ty.as_str()) {
            return Err(err(
                &format!("{p}.time_column"),
                format!(
                    "column \"{time_column}\" is {}: a time column must be a timestamp, timestamptz or date",
                    col.ty
                ),
            ));
        }
        let chunk = rh.chunk_interval.unwrap_or_else(|| "7 days".into());
        let chunk_interval =
            parse_interval(&chunk).map_err(|m| err(&format!("{p}.chunk_interval"), m))?;
        // A hypertable's unique indexes must include its time column.
        let mut problems = Vec::new();
        if t.format == Format::Structured {
            if !table.primary_key.is_empty() && !table.primary_key.contains(&time_column) {
                problems.push(format!(
                    "the primary key of \"{name}\" must include \"{time_column}\" for it to become a hypertable"
                ));
            }
            if let Some(ix) = t
                .indexes
                .iter()
                .find(|ix| ix.table == name && ix.unique && !ix.columns.contains(&time_column))
            {
                problems.push(format!(
                    "unique index \"{}\" must include \"{time_column}\" for \"{name}\" to become a hypertable",
                    ix.name
                ));
            }
        } else {
            for (at, tb, cols) in unique_sets {
                if *tb == name && !cols.contains(&time_column) {
                    problems.push(format!(
                        "the primary key or unique index ({}) of \"{name}\" in {at} must include \"{time_column}\" for it to become a hypertable",
                        cols.join(", ")
                    ));
                }
            }
        }
        if let Some(first) = problems.into_iter().next() {
            let msg = format!("{p}.time_column: {first}");
            if t.format == Format::Structured {
                return Err(Error::invalid(msg));
            }
            // The original service's templates run as they did: where
            // TimescaleDB is absent the table is created plain; where it is
            // present creation fails on this, with this path, and nothing
            // is created.
            t.warnings.push(format!(
                "{msg} (creation fails where TimescaleDB is installed)"
            ));
        }
        t.timescale_tables.push(Hypertable {
            name,
            time_column,
            chunk_interval,
        });
    }
    Ok(())
}

fn table(rt: RawTable, p: &str, earlier: &[Table]) -> Result<Table> {
    let name = ident(&rt.name).map_err(|m| err(&format!("{p}.name"), m))?;
    if earlier.iter().any(|t| t.name == name) {
        return Err(err(
            &format!("{p}.name"),
            format!("table \"{name}\" is defined twice"),
        ));
    }
    if rt.columns.is_empty() {
        return Err(err(
            &format!("{p}.columns"),
            "a table needs at least one column",
        ));
    }
    let mut columns: Vec<Column> = Vec::new();
    for (j, rc) in rt.columns.into_iter().enumerate() {
        let cp = format!("{p}.columns[{j}]");
        let cname = ident(&rc.name).map_err(|m| err(&format!("{cp}.name"), m))?;
        if columns.iter().any(|c| c.name == cname) {
            return Err(err(
                &format!("{cp}.name"),
                format!("column \"{cname}\" is defined twice"),
            ));
        }
        let ty = sql_type(&rc.ty).map_err(|m| err(&format!("{cp}.type"), m))?;
        let default = rc
            .default
            .map(|d| default_expr(&d))
            .transpose()
            .map_err(|m| err(&format!("{cp}.default"), m))?;
        let references = match rc.references {
            None => None,
            Some(rr) => {
                let rp = format!("{cp}.references");
                let rt = ident(&rr.table).map_err(|m| err(&format!("{rp}.table"), m))?;
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
                let rcol = ident(&rr.column).map_err(|m| err(&format!("{rp}.column"), m))?;
                if let Some(t) = target {
                    if !t.columns.iter().any(|c| c.name == rcol) {
                        return Err(err(
                            &format!("{rp}.column"),
                            format!("table \"{rt}\" has no column \"{rcol}\""),
                        ));
                    }
                }
                let on_delete = rr
                    .on_delete
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
                    column: rcol,
                    on_delete,
                })
            }
        };
        columns.push(Column {
            name: cname,
            ty,
            nullable: rc.nullable.unwrap_or(true),
            default,
            references,
        });
    }
    let primary_key = idents(&rt.primary_key, &format!("{p}.primary_key"))?;
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
