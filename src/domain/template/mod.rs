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
//! This module holds the public types and [`parse`] (text to a validated
//! [`Template`]); `parse` walks the JSON and `sql` checks the pieces that
//! become SQL text. Reading template files is the edge's job
//! ([`crate::template_files`]): `domain` does no I/O.

mod parse;
mod sql;
#[cfg(test)]
mod tests;

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
