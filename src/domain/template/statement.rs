//! SQL-string templates (the original service's format): each entry of
//! `tables`, `indexes` and `statements` is one SQL statement, parsed with
//! `sqlparser` (PostgreSQL dialect) and accepted only when it is a single
//! CREATE TABLE / CREATE INDEX / CREATE VIEW / CREATE SEQUENCE / COMMENT ON /
//! ALTER TABLE on unqualified names, so that it can only build inside the
//! tenant's schema. The text runs verbatim (the database still runs it as the
//! schema's owner, with `search_path` set to that schema); what the parse
//! yields besides the verdict is what the rest of tenantctl needs to know
//! about the statement: the table it creates (columns, keys) or the index.
//!
//! Messages carry no field path; the parser adds it.

use std::ops::ControlFlow;

use sqlparser::ast::{
    AlterTableOperation, ColumnOption, CommentObject, CreateTable, Expr, ObjectName, Statement,
    TableConstraint, helpers::stmt_create_table::CreateTableBuilder, visit_expressions,
    visit_relations,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::{Column, Index, Reference, Table};

/// What one accepted statement does.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Parsed {
    /// CREATE TABLE: the table as tenantctl describes it, and the unique
    /// column sets (primary key and UNIQUE constraints) for hypertable checks.
    Table(Table, Vec<Vec<String>>),
    /// CREATE INDEX; `name` is `None` when PostgreSQL picks it.
    Index(Option<String>, Index),
    /// CREATE VIEW / SEQUENCE, COMMENT, ALTER TABLE: nothing to remember.
    Other,
}

const ALLOWED: &str = "only CREATE TABLE, CREATE INDEX, CREATE VIEW, CREATE SEQUENCE, COMMENT ON and ALTER TABLE statements are allowed";

/// One statement parsed with the PostgreSQL dialect, after the checks every
/// template statement passes (not empty, no control characters, no dollar
/// quoting or parameters, exactly one statement). `allowed` names what may
/// be written, for the message when the parser fails.
pub(super) fn parse_one(text: &str, allowed: &str) -> Result<Statement, String> {
    if text.trim().is_empty() {
        return Err("empty statement".into());
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err("contains control characters".into());
    }
    // Dollar quoting can hide anything from a reader, and `$n` parameters
    // have no values here.
    if text.contains('$') {
        return Err("dollar quoting and parameters are not allowed".into());
    }
    let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, text).map_err(|e| {
        format!(
            "not a statement tenantctl accepts ({allowed}; the parser says: {})",
            crate::domain::sanitize::clean(&e.to_string())
        )
    })?;
    if stmts.len() != 1 {
        return Err(format!(
            "one statement per entry (found {}): split them into separate strings",
            stmts.len()
        ));
    }
    Ok(stmts.remove(0))
}

/// Check one statement of a SQL-string template.
pub(super) fn check(text: &str) -> Result<Parsed, String> {
    let stmt = parse_one(text, ALLOWED)?;
    let parsed = match &stmt {
        Statement::CreateTable(ct) => create_table(ct)?,
        Statement::CreateIndex(ci) => {
            if ci.concurrently {
                return Err(
                    "CREATE INDEX CONCURRENTLY cannot run inside the creation transaction".into(),
                );
            }
            let table = unqualified(&ci.table_name, "the indexed table")?;
            let name = ci
                .name
                .as_ref()
                .map(|n| unqualified(n, "an index name"))
                .transpose()?;
            let columns = ci
                .columns
                .iter()
                .map(|c| match &c.column.expr {
                    Expr::Identifier(i) => i.value.to_ascii_lowercase(),
                    other => other.to_string(),
                })
                .collect();
            Parsed::Index(
                name.clone(),
                Index {
                    name: name.unwrap_or_default(),
                    table,
                    columns,
                    unique: ci.unique,
                },
            )
        }
        Statement::CreateView(cv) => {
            if cv.materialized {
                // A materialized view runs its query at creation time.
                return Err("CREATE MATERIALIZED VIEW is not allowed (use CREATE VIEW)".into());
            }
            unqualified(&cv.name, "a view name")?;
            Parsed::Other
        }
        Statement::CreateSequence {
            temporary, name, ..
        } => {
            if *temporary {
                return Err("temporary objects are not allowed".into());
            }
            unqualified(name, "a sequence name")?;
            Parsed::Other
        }
        Statement::Comment {
            object_type,
            object_name,
            ..
        } => {
            let parts = match object_type {
                CommentObject::Column => 2,
                CommentObject::Table
                | CommentObject::View
                | CommentObject::Index
                | CommentObject::Sequence => 1,
                _ => {
                    return Err(
                        "COMMENT ON is allowed for tables, columns, views, indexes and sequences"
                            .into(),
                    );
                }
            };
            if object_name.0.len() != parts {
                return Err(format!(
                    "\"{}\" names another schema: use the object's plain name",
                    crate::domain::sanitize::clean(&object_name.to_string())
                ));
            }
            Parsed::Other
        }
        Statement::AlterTable(at) => {
            unqualified(&at.name, "the altered table")?;
            for op in &at.operations {
                let ok = matches!(
                    op,
                    AlterTableOperation::AddConstraint { .. }
                        | AlterTableOperation::AddColumn { .. }
                        | AlterTableOperation::AlterColumn { .. }
                        | AlterTableOperation::DropConstraint { .. }
                        | AlterTableOperation::DropColumn { .. }
                        | AlterTableOperation::RenameColumn { .. }
                        | AlterTableOperation::RenameConstraint { .. }
                        | AlterTableOperation::ValidateConstraint { .. }
                );
                if !ok {
                    return Err(
                        "ALTER TABLE may add, alter, drop or rename columns and constraints only"
                            .into(),
                    );
                }
            }
            Parsed::Other
        }
        _ => return Err(ALLOWED.into()),
    };
    names_stay_home(&stmt)?;
    Ok(parsed)
}

/// The single identifier of an unqualified name, lowercased as PostgreSQL
/// folds it (a quoted name keeps its case).
pub(super) fn unqualified(n: &ObjectName, what: &str) -> Result<String, String> {
    match n.0.as_slice() {
        [part] => {
            let i = part
                .as_ident()
                .ok_or_else(|| format!("{what} must be a plain name"))?;
            if i.value.starts_with("pg_") {
                return Err(format!("\"{}\" uses the reserved pg_ prefix", i.value));
            }
            Ok(if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_ascii_lowercase()
            })
        }
        _ => Err(format!(
            "\"{}\" names another schema: {what} must be a plain name (objects land in the tenant's schema)",
            crate::domain::sanitize::clean(&n.to_string())
        )),
    }
}

/// No relation, function or column reference anywhere in the statement
/// names a schema, and nothing reaches for the temporary schema.
pub(super) fn names_stay_home(stmt: &Statement) -> Result<(), String> {
    let r = visit_relations(stmt, |rel| {
        if rel.0.len() > 1 {
            ControlFlow::Break(format!(
                "\"{}\" names another schema: use plain names (objects land in the tenant's schema)",
                crate::domain::sanitize::clean(&rel.to_string())
            ))
        } else {
            ControlFlow::Continue(())
        }
    });
    if let ControlFlow::Break(m) = r {
        return Err(m);
    }
    let r = visit_expressions(stmt, |e| match e {
        Expr::Function(f) if f.name.0.len() > 1 => ControlFlow::Break(format!(
            "function \"{}\" is schema-qualified: call functions by their plain name",
            crate::domain::sanitize::clean(&f.name.to_string())
        )),
        Expr::CompoundIdentifier(parts) if parts.len() > 2 => ControlFlow::Break(format!(
            "\"{}\" names another schema",
            crate::domain::sanitize::clean(
                &parts
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            )
        )),
        _ => ControlFlow::Continue(()),
    });
    if let ControlFlow::Break(m) = r {
        return Err(m);
    }
    Ok(())
}

fn create_table(ct: &CreateTable) -> Result<Parsed, String> {
    if ct.temporary {
        return Err("temporary tables are not allowed".into());
    }
    if ct.query.is_some() {
        return Err("CREATE TABLE ... AS runs a query: declare the columns instead".into());
    }
    let name = unqualified(&ct.name, "a table name")?;
    // Anything beyond columns, constraints, IF NOT EXISTS and UNLOGGED
    // (INHERITS, PARTITION OF, LIKE, WITH options, TABLESPACE, ...) is
    // refused: compare with the same table built from those parts alone.
    let plain = CreateTableBuilder::new(ct.name.clone())
        .columns(ct.columns.clone())
        .constraints(ct.constraints.clone())
        .if_not_exists(ct.if_not_exists)
        .unlogged(ct.unlogged)
        .build();
    if &plain != ct {
        return Err(
            "CREATE TABLE may declare columns and constraints only (no INHERITS, PARTITION, LIKE, WITH or TABLESPACE clauses)"
                .into(),
        );
    }
    let mut columns = Vec::new();
    let mut primary_key: Vec<String> = Vec::new();
    let mut unique_sets: Vec<Vec<String>> = Vec::new();
    let lower = |i: &sqlparser::ast::Ident| {
        if i.quote_style.is_some() {
            i.value.clone()
        } else {
            i.value.to_ascii_lowercase()
        }
    };
    for c in &ct.columns {
        let cname = lower(&c.name);
        let mut col = Column {
            name: cname.clone(),
            ty: c.data_type.to_string().to_ascii_lowercase(),
            nullable: true,
            default: None,
            references: None,
        };
        for o in &c.options {
            match &o.option {
                ColumnOption::Null
                | ColumnOption::Check(_)
                | ColumnOption::Generated { .. }
                | ColumnOption::Identity(_) => {}
                ColumnOption::NotNull => col.nullable = false,
                ColumnOption::Default(e) => col.default = Some(e.to_string()),
                ColumnOption::PrimaryKey(_) => {
                    col.nullable = false;
                    primary_key = vec![cname.clone()];
                }
                ColumnOption::Unique(_) => unique_sets.push(vec![cname.clone()]),
                ColumnOption::ForeignKey(fk) => {
                    col.references = Some(Reference {
                        table: unqualified(&fk.foreign_table, "a referenced table")?,
                        column: fk.referred_columns.first().map(&lower).unwrap_or_default(),
                        on_delete: fk
                            .on_delete
                            .map_or_else(|| "no action".into(), |a| a.to_string().to_lowercase()),
                    });
                }
                _ => {
                    return Err(format!(
                        "column \"{cname}\": only NULL, NOT NULL, DEFAULT, PRIMARY KEY, UNIQUE, REFERENCES, CHECK and GENERATED are allowed"
                    ));
                }
            }
        }
        columns.push(col);
    }
    for tc in &ct.constraints {
        match tc {
            TableConstraint::PrimaryKey(pk) => {
                primary_key = pk
                    .columns
                    .iter()
                    .map(|c| c.column.expr.to_string().to_ascii_lowercase())
                    .collect();
            }
            TableConstraint::Unique(u) => unique_sets.push(
                u.columns
                    .iter()
                    .map(|c| c.column.expr.to_string().to_ascii_lowercase())
                    .collect(),
            ),
            TableConstraint::ForeignKey(fk) => {
                unqualified(&fk.foreign_table, "a referenced table")?;
            }
            TableConstraint::Check(_) => {}
            _ => {
                return Err(
                    "only PRIMARY KEY, UNIQUE, FOREIGN KEY and CHECK table constraints are allowed"
                        .into(),
                );
            }
        }
    }
    for c in &mut columns {
        if primary_key.contains(&c.name) {
            c.nullable = false;
        }
    }
    if !primary_key.is_empty() {
        unique_sets.push(primary_key.clone());
    }
    Ok(Parsed::Table(
        Table {
            name,
            columns,
            primary_key,
        },
        unique_sets,
    ))
}
