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
//!
//! This module holds the public types and the file-level entry points
//! (`load`, `list`, `validate_file`, `parse`); `parse` walks the JSON into a
//! [`Template`] and `sql` checks the pieces that become SQL text.

mod parse;
mod sql;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

pub use sql::{check_statement, parse_interval};

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
    parse::from_value(&v)
}
