//! Tenant schema templates, `NAME.json`, in two formats side by side:
//!
//! - the original service's: `tables` and `indexes` are arrays of SQL
//!   statements, run verbatim as the schema's owner with `search_path` set
//!   to the tenant's schema (each one checked by [`check_statement`]);
//! - the structured one: tables, columns, keys and indexes as data, from
//!   which `db` writes the SQL with every identifier quoted.
//!
//! Both carry `name`, `description`, `version` (default 1),
//! `timescale_tables` (`name`, `time_column`, `chunk_interval`) and optional
//! extra `statements`. Templates are deserialized with serde, refusing
//! unknown and duplicate keys, and every problem is reported with its field
//! path (`tables[2].columns[0].type: ...`); the cross-field checks follow.
//!
//! Templates are found by [`crate::template_files`] (the edge): a lookup
//! chain of `--template-dir`, the config's `template_dir`,
//! `$XDG_DATA_HOME/tenantctl/templates`, then the set built into the binary.
//!
//! This module holds the public types and [`parse`]/[`parse_bytes`]; `parse`
//! turns the JSON into a [`Template`], `sql` checks the pieces of structured
//! templates that become SQL text and `statement` checks SQL-string entries.
//! `domain` does no I/O.

mod migration;
mod parse;
mod sql;
mod statement;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

pub use migration::{Migration, MigrationStep};
pub use sql::{check_statement, parse_interval};

/// Which of the two formats a template is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `tables` and `indexes` as data.
    Structured,
    /// `tables` and `indexes` as SQL statements (the original service's format).
    Sql,
}

/// A validated template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    pub name: String,
    pub description: String,
    pub version: i32,
    /// The tenant may define its own objects (functions, types, triggers):
    /// its login role owns the schema, no separate owner role is made, and
    /// only running tenant code as the tenant (DESIGN.md §4 rule 2) protects
    /// the operator. Off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tenant_ddl: bool,
    pub format: Format,
    /// The tables it creates: as declared (structured) or as read from the
    /// CREATE TABLE statements (SQL), for previews and drift checks.
    pub tables: Vec<Table>,
    /// Named indexes: declared, or read from the CREATE INDEX statements.
    pub indexes: Vec<Index>,
    pub timescale_tables: Vec<Hypertable>,
    /// SQL format: the `tables` and `indexes` statements, verbatim, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sql: Vec<SqlStep>,
    /// Extra single statements (views, comments, ...), run after the tables,
    /// indexes and hypertables, with the same checks as SQL-string entries.
    pub statements: Vec<String>,
    /// The body at the version the first migration starts from (version 1,
    /// or the version of the last squash); `None` without migrations. The
    /// top-level body is the current version; `templates validate --against`
    /// proves the baseline plus every migration builds the same catalog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Box<Template>>,
    /// Ordered migrations, each from version N to N+1, ending at `version`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<Migration>,
    /// Problems that do not stop loading but will stop creation where they
    /// matter (a SQL-string table that cannot become a hypertable fails only
    /// where TimescaleDB is installed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One SQL statement of a SQL-string template, with its field path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SqlStep {
    /// `tables[0]`, `indexes[3]`.
    pub path: String,
    pub sql: String,
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

    /// The oldest version this template can build: its baseline's, or the
    /// current one when it has no migrations.
    pub fn baseline_version(&self) -> i32 {
        self.baseline.as_ref().map_or(self.version, |b| b.version)
    }

    /// The migrations that take a schema from version `from` to `to`, in
    /// order; a sentence when the template cannot do that.
    pub fn migrations_between(&self, from: i32, to: i32) -> Result<&[Migration]> {
        if to > self.version {
            return Err(Error::invalid(format!(
                "template {} has no version {to}: its latest is {}",
                self.name, self.version
            )));
        }
        if from > to {
            return Err(Error::invalid(format!(
                "template {}: version {from} is newer than {to}, and migrations only go forward",
                self.name
            )));
        }
        let base = self.baseline_version();
        if from < base {
            return Err(Error::invalid(format!(
                "template {} starts at version {base} (its baseline): it has no migration from version {from}",
                self.name
            )));
        }
        let lo = usize::try_from(from - base).unwrap_or(0);
        let hi = usize::try_from(to - base).unwrap_or(0);
        Ok(&self.migrations[lo..hi])
    }

    /// What builds version `v` for a new tenant: a body and the migrations
    /// to run after it (none for the current version, whose body is used
    /// directly).
    pub fn body_at(&self, v: i32) -> Result<(&Template, &[Migration])> {
        if v == self.version {
            return Ok((self, &[]));
        }
        // Before a squashed template's baseline is no version it can build.
        if v < self.baseline_version() || v > self.version {
            return Err(Error::invalid(format!(
                "template {} has no version {v}: its versions are {} to {}",
                self.name,
                self.baseline_version(),
                self.version
            )));
        }
        let Some(base) = &self.baseline else {
            return Err(Error::invalid(format!(
                "template {} has no migrations: it can only build version {}",
                self.name, self.version
            )));
        };
        let m = self.migrations_between(base.version, v)?;
        Ok((base, m))
    }
}

/// The primary key constraint (and index) name of a table.
pub fn pkey_name(table: &str) -> String {
    let mut n = format!("{table}_pkey");
    n.truncate(63);
    n
}

/// Parse template bytes: UTF-8 first, then [`parse`].
pub fn parse_bytes(bytes: &[u8]) -> Result<Template> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].split(|b| *b == b'\n').count();
        Error::invalid(format!(
            "not UTF-8 text (invalid byte at offset {at}, line {line}): save the file as UTF-8"
        ))
    })?;
    parse(text)
}

/// Parse and validate template text.
pub fn parse(text: &str) -> Result<Template> {
    parse::from_str(text)
}

/// Parse and validate a JSON value (tests and callers that build templates).
pub fn from_value(v: &Value) -> Result<Template> {
    parse::from_str(&v.to_string())
}
