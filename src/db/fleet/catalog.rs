//! Catalogs of template versions and of tenant schemas, for fleet
//! migrations: what a schema holds, compared table, column, type, default,
//! index and constraint, with the schema's own name taken out of every
//! definition so that two schemas compare.
//!
//! [`versions`] builds, inside one transaction that is always rolled back,
//! a throwaway probe role with one schema per template version (the
//! baseline plus the migrations up to it, exactly as `create
//! --template-version` builds it) and one from the current body, reads
//! their catalogs, and compares the last version with the body: the proof
//! that the body and the migrations have not drifted apart.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tokio_postgres::GenericClient;

use crate::config::TimescaleMode;
use crate::db::provision::render;
use crate::db::{Db, pg_error, quote_ident};
use crate::domain::template::Template;
use crate::error::{Error, Result};

/// A schema's catalog, with the schema name removed from definitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Catalog {
    /// `(table, column) -> (type, NOT NULL, default)`.
    pub columns: BTreeMap<(String, String), (String, bool, Option<String>)>,
    /// `index -> (table, definition)`.
    pub indexes: BTreeMap<String, (String, String)>,
    /// `(table, constraint) -> definition`.
    pub constraints: BTreeMap<(String, String), String>,
}

impl Catalog {
    fn tables(&self) -> BTreeSet<&str> {
        self.columns.keys().map(|(t, _)| t.as_str()).collect()
    }
}

/// Strip `schema.` (quoted or not) from a definition.
fn unqualify(def: &str, schema: &str) -> String {
    def.replace(&format!("{}.", quote_ident(schema)), "")
        .replace(&format!("{schema}."), "")
}

const COLUMNS: &str = "SELECT n.nspname::text, c.relname::text, a.attname::text,
        pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
        pg_catalog.pg_get_expr(d.adbin, d.adrelid)
     FROM pg_catalog.pg_class c
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
     LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
     WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p')
       AND a.attnum > 0 AND NOT a.attisdropped";
const INDEXES: &str = "SELECT n.nspname::text, t.relname::text, i.relname::text,
        pg_catalog.pg_get_indexdef(i.oid)
     FROM pg_catalog.pg_index x
     JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
     JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
     JOIN pg_catalog.pg_namespace n ON n.oid = i.relnamespace
     WHERE n.nspname = ANY($1)";
/// Constraints other than NOT NULL: PostgreSQL 18 records those in
/// `pg_constraint` too (`contype` 'n', named after the column), and they are
/// compared as the column's nullability already.
const CONSTRAINTS: &str = "SELECT n.nspname::text, t.relname::text, k.conname::text,
        pg_catalog.pg_get_constraintdef(k.oid)
     FROM pg_catalog.pg_constraint k
     JOIN pg_catalog.pg_class t ON t.oid = k.conrelid
     JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname = ANY($1) AND k.contype <> 'n'";

/// The catalogs of `schemas`, three catalog queries in all whatever their
/// number (no function runs on tenant data: the definitions are decompiled
/// from the catalog). Run inside a transaction with `search_path` set to
/// `pg_catalog, pg_temp` so that every name in a definition is qualified the
/// same way. A schema without tables has an empty catalog.
pub async fn read(
    client: &impl GenericClient,
    schemas: &[String],
) -> Result<BTreeMap<String, Catalog>> {
    read_raw(client, schemas)
        .await
        .map_err(|e| pg_error(&e, "cannot read the schemas' catalogs"))
}

async fn read_raw(
    client: &impl GenericClient,
    schemas: &[String],
) -> std::result::Result<BTreeMap<String, Catalog>, tokio_postgres::Error> {
    let mut out: BTreeMap<String, Catalog> = schemas
        .iter()
        .map(|s| (s.clone(), Catalog::default()))
        .collect();
    for r in client.query(COLUMNS, &[&schemas]).await? {
        let s: String = r.get(0);
        let def: Option<String> = r.get(5);
        let def = def.map(|d| unqualify(&d, &s));
        if let Some(c) = out.get_mut(&s) {
            c.columns
                .insert((r.get(1), r.get(2)), (r.get(3), r.get(4), def));
        }
    }
    for r in client.query(INDEXES, &[&schemas]).await? {
        let s: String = r.get(0);
        let def: String = r.get(3);
        if let Some(c) = out.get_mut(&s) {
            c.indexes.insert(r.get(2), (r.get(1), unqualify(&def, &s)));
        }
    }
    for r in client.query(CONSTRAINTS, &[&schemas]).await? {
        let s: String = r.get(0);
        let def: String = r.get(3);
        if let Some(c) = out.get_mut(&s) {
            c.constraints
                .insert((r.get(1), r.get(2)), unqualify(&def, &s));
        }
    }
    Ok(out)
}

/// How long a catalog read waits for a table lock before the schema is
/// reported as locked instead. Decompiling a column default opens its table
/// (`pg_get_expr` takes ACCESS SHARE), so without a bound one tenant holding
/// an exclusive lock would stall the read of every schema.
pub const READ_LOCK_TIMEOUT_MS: u64 = 250;

/// The catalogs of the schemas that could be read, and the schemas that
/// could not because a table of theirs is locked exclusively right now.
#[derive(Debug, Default)]
pub struct SchemaCatalogs {
    pub read: BTreeMap<String, Catalog>,
    pub locked: Vec<String>,
}

/// [`read`] on a pool connection, in read-only transactions with a safe
/// `search_path` and a short `lock_timeout`. When a lock is not granted, the
/// batch is split in halves and each half read again, so a locked schema
/// costs a few more queries (about 2·log2 n for each one) and never holds
/// back the others; a schema alone in its batch that is still locked is
/// reported in [`SchemaCatalogs::locked`].
pub async fn read_schemas_unlocked(db: &Db, schemas: &[String]) -> Result<SchemaCatalogs> {
    use tokio_postgres::error::SqlState;
    let what = "cannot read the schemas' catalogs";
    let mut client = db.client().await?;
    let mut out = SchemaCatalogs::default();
    let mut todo: Vec<Vec<String>> = vec![schemas.to_vec()];
    while let Some(batch) = todo.pop() {
        if batch.is_empty() {
            continue;
        }
        let tx = client
            .build_transaction()
            .read_only(true)
            .start()
            .await
            .map_err(|e| pg_error(&e, what))?;
        tx.batch_execute(&format!(
            "SET LOCAL search_path = pg_catalog, pg_temp; SET LOCAL lock_timeout = '{READ_LOCK_TIMEOUT_MS}ms'"
        ))
        .await
        .map_err(|e| pg_error(&e, what))?;
        match read_raw(&*tx, &batch).await {
            Ok(m) => {
                tx.rollback().await.map_err(|e| pg_error(&e, what))?;
                out.read.extend(m);
            }
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                drop(tx);
                if batch.len() == 1 {
                    out.locked.extend(batch);
                } else {
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    todo.push(second);
                    todo.push(first);
                }
            }
            Err(e) => return Err(pg_error(&e, what)),
        }
    }
    out.locked.sort();
    Ok(out)
}

/// [`read`] on a pool connection, in a read-only transaction with a safe
/// `search_path`; waits for locks like any reader.
pub async fn read_schemas(db: &Db, schemas: &[String]) -> Result<BTreeMap<String, Catalog>> {
    let mut client = db.client().await?;
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(|e| pg_error(&e, "cannot read the schemas' catalogs"))?;
    tx.batch_execute("SET LOCAL search_path = pg_catalog, pg_temp")
        .await
        .map_err(|e| pg_error(&e, "cannot read the schemas' catalogs"))?;
    let out = read(&*tx, schemas).await?;
    tx.rollback()
        .await
        .map_err(|e| pg_error(&e, "cannot read the schemas' catalogs"))?;
    Ok(out)
}

/// One way a schema's catalog differs from the one it should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    MissingTable(String),
    ExtraTable(String),
    MissingColumn(String, String),
    ColumnType {
        table: String,
        column: String,
        have: String,
        want: String,
    },
    ColumnNullability {
        table: String,
        column: String,
        not_null: bool,
    },
    ColumnDefault {
        table: String,
        column: String,
        have: Option<String>,
        want: Option<String>,
    },
    ExtraColumn(String, String),
    MissingIndex {
        name: String,
        table: String,
    },
    IndexDefinition {
        name: String,
        have: String,
        want: String,
    },
    ExtraIndex(String),
    MissingConstraint {
        table: String,
        name: String,
    },
    ConstraintDefinition {
        table: String,
        name: String,
        have: String,
        want: String,
    },
    ExtraConstraint {
        table: String,
        name: String,
    },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let null = |b: bool| if b { "NOT NULL" } else { "nullable" };
        let def = |d: &Option<String>| d.clone().unwrap_or_else(|| "no default".into());
        match self {
            Self::MissingTable(t) => write!(f, "table {t} is missing"),
            Self::ExtraTable(t) => write!(f, "table {t} is not in the template"),
            Self::MissingColumn(t, c) => write!(f, "column {t}.{c} is missing"),
            Self::ColumnType {
                table,
                column,
                have,
                want,
            } => write!(
                f,
                "column {table}.{column} is {have}, the template says {want}"
            ),
            Self::ColumnNullability {
                table,
                column,
                not_null,
            } => write!(
                f,
                "column {table}.{column} is {}, the template says {}",
                null(*not_null),
                null(!*not_null)
            ),
            Self::ColumnDefault {
                table,
                column,
                have,
                want,
            } => write!(
                f,
                "column {table}.{column} has default {}, the template says {}",
                def(have),
                def(want)
            ),
            Self::ExtraColumn(t, c) => write!(f, "column {t}.{c} is not in the template"),
            Self::MissingIndex { name, .. } => write!(f, "index {name} is missing"),
            Self::IndexDefinition { name, have, want } => {
                write!(
                    f,
                    "index {name} is \"{have}\", the template says \"{want}\""
                )
            }
            Self::ExtraIndex(name) => write!(f, "index {name} is not in the template"),
            Self::MissingConstraint { table, name } => {
                write!(f, "constraint {name} on {table} is missing")
            }
            Self::ConstraintDefinition {
                table,
                name,
                have,
                want,
            } => write!(
                f,
                "constraint {name} on {table} is \"{have}\", the template says \"{want}\""
            ),
            Self::ExtraConstraint { table, name } => {
                write!(f, "constraint {name} on {table} is not in the template")
            }
        }
    }
}

/// How `have` differs from `want` (tables, columns with their type,
/// nullability and default, indexes and constraints with their
/// definitions), in the order [`compare`] words them. Empty when they are
/// the same.
pub fn differences(want: &Catalog, have: &Catalog) -> Vec<Difference> {
    let mut out = Vec::new();
    let (wt, ht) = (want.tables(), have.tables());
    for t in wt.difference(&ht) {
        out.push(Difference::MissingTable((*t).to_string()));
    }
    for t in ht.difference(&wt) {
        out.push(Difference::ExtraTable((*t).to_string()));
    }
    for ((t, c), (ty, nn, def)) in &want.columns {
        if !ht.contains(t.as_str()) {
            continue;
        }
        match have.columns.get(&(t.clone(), c.clone())) {
            None => out.push(Difference::MissingColumn(t.clone(), c.clone())),
            Some((hty, hnn, hdef)) => {
                if hty != ty {
                    out.push(Difference::ColumnType {
                        table: t.clone(),
                        column: c.clone(),
                        have: hty.clone(),
                        want: ty.clone(),
                    });
                }
                if hnn != nn {
                    out.push(Difference::ColumnNullability {
                        table: t.clone(),
                        column: c.clone(),
                        not_null: *hnn,
                    });
                }
                if hdef != def {
                    out.push(Difference::ColumnDefault {
                        table: t.clone(),
                        column: c.clone(),
                        have: hdef.clone(),
                        want: def.clone(),
                    });
                }
            }
        }
    }
    for (t, c) in have.columns.keys() {
        if wt.contains(t.as_str()) && !want.columns.contains_key(&(t.clone(), c.clone())) {
            out.push(Difference::ExtraColumn(t.clone(), c.clone()));
        }
    }
    for (name, (table, def)) in &want.indexes {
        match have.indexes.get(name) {
            None => out.push(Difference::MissingIndex {
                name: name.clone(),
                table: table.clone(),
            }),
            Some((_, hdef)) if hdef != def => out.push(Difference::IndexDefinition {
                name: name.clone(),
                have: hdef.clone(),
                want: def.clone(),
            }),
            Some(_) => {}
        }
    }
    for name in have.indexes.keys() {
        if !want.indexes.contains_key(name) {
            out.push(Difference::ExtraIndex(name.clone()));
        }
    }
    for ((t, k), def) in &want.constraints {
        match have.constraints.get(&(t.clone(), k.clone())) {
            None => out.push(Difference::MissingConstraint {
                table: t.clone(),
                name: k.clone(),
            }),
            Some(hdef) if hdef != def => out.push(Difference::ConstraintDefinition {
                table: t.clone(),
                name: k.clone(),
                have: hdef.clone(),
                want: def.clone(),
            }),
            Some(_) => {}
        }
    }
    for (t, k) in have.constraints.keys() {
        if !want.constraints.contains_key(&(t.clone(), k.clone())) {
            out.push(Difference::ExtraConstraint {
                table: t.clone(),
                name: k.clone(),
            });
        }
    }
    out
}

/// How `have` differs from `want`, one sentence per [`Difference`]. Empty
/// when they are the same.
pub fn compare(want: &Catalog, have: &Catalog) -> Vec<String> {
    differences(want, have)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The differences monitoring reports beside its check of names: every
/// [`Difference`] except what the name check already says (a missing
/// table, index or constraint named in `expected`) or what follows from it
/// (the indexes and constraints of a missing table).
pub fn beyond_names(want: &Catalog, have: &Catalog, expected: &[String]) -> Vec<String> {
    let named = |n: &str| expected.iter().any(|e| e == n);
    let (wt, ht) = (want.tables(), have.tables());
    let gone = |t: &str| wt.contains(t) && !ht.contains(t);
    differences(want, have)
        .into_iter()
        .filter(|d| match d {
            Difference::MissingTable(t) => !named(t),
            Difference::MissingIndex { name, table }
            | Difference::MissingConstraint { table, name } => !named(name) && !gone(table),
            _ => true,
        })
        .map(|d| d.to_string())
        .collect()
}

/// Per schema, a digest (md5) of exactly what [`read`] reads: two schemas
/// with equal digests have equal catalogs, so only schemas whose digest
/// differs from their reference's need [`read`] and [`compare`]. One
/// catalog query for all `schemas`, the definitions decompiled on the
/// server; the same `search_path` rules as [`read`]. A schema that does not
/// exist is left out.
const DIGESTS: &str = "WITH s AS (
         SELECT n.oid, n.nspname::text AS s, pg_catalog.quote_ident(n.nspname) || '.' AS q,
                n.nspname::text || '.' AS p
         FROM unnest($1::text[]) AS w(name) JOIN pg_catalog.pg_namespace n ON n.nspname = w.name),
     items AS (
         SELECT s.s, pg_catalog.concat_ws(chr(31), 'c', c.relname, a.attname,
                    pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull::text,
                    coalesce(replace(replace(pg_catalog.pg_get_expr(d.adbin, d.adrelid), s.q, ''), s.p, ''),
                             chr(30))) AS item
         FROM s JOIN pg_catalog.pg_class c ON c.relnamespace = s.oid AND c.relkind IN ('r', 'p')
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
         UNION ALL
         SELECT s.s, pg_catalog.concat_ws(chr(31), 'i', i.relname, t.relname,
                    replace(replace(pg_catalog.pg_get_indexdef(i.oid), s.q, ''), s.p, ''))
         FROM s JOIN pg_catalog.pg_class i ON i.relnamespace = s.oid AND i.relkind IN ('i', 'I')
         JOIN pg_catalog.pg_index x ON x.indexrelid = i.oid
         JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
         UNION ALL
         SELECT s.s, pg_catalog.concat_ws(chr(31), 'k', t.relname, k.conname,
                    replace(replace(pg_catalog.pg_get_constraintdef(k.oid), s.q, ''), s.p, ''))
         FROM s JOIN pg_catalog.pg_class t ON t.relnamespace = s.oid
         JOIN pg_catalog.pg_constraint k ON k.conrelid = t.oid AND k.contype <> 'n')
     SELECT s.s, pg_catalog.md5(coalesce(string_agg(i.item, chr(10) ORDER BY i.item COLLATE \"C\"), ''))
     FROM s LEFT JOIN items i ON i.s = s.s
     GROUP BY s.s";

/// [`DIGESTS`] of `schemas`: `(schema, digest)` for those that exist. Run
/// it with the same `search_path` as the digest it is compared with
/// (`pg_catalog, pg_temp`).
pub async fn digests(
    client: &impl GenericClient,
    schemas: &[&str],
) -> Result<Vec<(String, String)>> {
    Ok(client
        .query(DIGESTS, &[&schemas])
        .await
        .map_err(|e| pg_error(&e, "cannot read the schemas' catalog digests"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The catalogs of every version of a template, and the proof.
#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    /// Version -> the catalog a new tenant at that version gets.
    pub by_version: BTreeMap<i32, Catalog>,
    /// The current body's catalog.
    pub body: Catalog,
    /// How the baseline plus every migration differs from the current
    /// body; empty when the migrations rebuild it exactly.
    pub differences: Vec<String>,
}

/// A fresh name for a throwaway probe role.
pub fn probe_role_name() -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("tenantctl_probe_{}", &suffix[..16])
}

/// The schema TimescaleDB is installed in, when it is.
pub async fn timescale_schema(client: &impl GenericClient) -> Result<Option<String>> {
    Ok(client
        .query_one(
            "SELECT (SELECT n.nspname::text FROM pg_catalog.pg_extension e
                     JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'timescaledb')",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the installed extensions"))?
        .get(0))
}

/// Build every version of `t` (baseline, each migration) and its current
/// body in throwaway schemas of a throwaway probe role, inside one
/// transaction that is always rolled back; read and compare the catalogs.
/// Cost: one schema per version, created and discarded; nothing remains.
pub async fn versions(db: &Db, t: &Template, mode: TimescaleMode) -> Result<Versions> {
    let what = format!("template {} fails on the server", t.name);
    let role = probe_role_name();
    // The template runs inside functions: see `Db::client_for_templates`.
    let mut client = db.client_for_templates().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error(&e, "cannot start the dry run"))?;
    let ts = timescale_schema(&*tx).await?;
    let ts = if mode == TimescaleMode::Off { None } else { ts };
    let r = quote_ident(&role);
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = '60s';
         CREATE ROLE {r} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
         GRANT {r} TO CURRENT_USER;"
    ))
    .await
    .map_err(|e| pg_error(&e, "cannot create the probe role"))?;
    let base = t.baseline_version();
    let mut schemas: Vec<(Option<i32>, String)> = (base..=t.version)
        .map(|v| (Some(v), format!("{role}_v{v}")))
        .collect();
    schemas.push((None, format!("{role}_body")));
    for (v, schema) in &schemas {
        let q = quote_ident(schema);
        tx.batch_execute(&format!(
            "CREATE SCHEMA {q} AUTHORIZATION {r}; REVOKE ALL ON SCHEMA {q} FROM PUBLIC;"
        ))
        .await
        .map_err(|e| pg_error(&e, "cannot create a probe schema"))?;
        let sql = match v {
            Some(v) => render::baseline_then(t, *v, &role, schema, ts.as_deref())?,
            None => render::template(t, &role, schema, ts.as_deref()),
        };
        tx.batch_execute(&sql)
            .await
            .map_err(|e| match e.as_db_error() {
                Some(d) => Error::invalid(format!(
                    "{what}{}: {}",
                    v.map(|v| format!(" at version {v}")).unwrap_or_default(),
                    crate::domain::sanitize::clean(d.message())
                )),
                None => pg_error(&e, &what),
            })?;
    }
    tx.batch_execute("SET LOCAL search_path = pg_catalog, pg_temp")
        .await
        .map_err(|e| pg_error(&e, "cannot read the probe's catalog"))?;
    let names: Vec<String> = schemas.iter().map(|(_, s)| s.clone()).collect();
    let mut cats = read(&*tx, &names).await?;
    tx.rollback()
        .await
        .map_err(|e| pg_error(&e, "cannot roll the dry run back"))?;
    let mut by_version = BTreeMap::new();
    let mut body = Catalog::default();
    for (v, s) in schemas {
        let c = cats.remove(&s).unwrap_or_default();
        match v {
            Some(v) => {
                by_version.insert(v, c);
            }
            None => body = c,
        }
    }
    let differences = by_version
        .get(&t.version)
        .map(|last| compare(&body, last))
        .unwrap_or_default();
    Ok(Versions {
        by_version,
        body,
        differences,
    })
}

/// Refuse a template whose migrations do not rebuild its current body.
pub fn ensure_consistent(t: &Template, v: &Versions) -> Result<()> {
    if v.differences.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "template {}: the baseline plus its migrations do not build the current body ({}): fix the migrations or the body",
        t.name,
        v.differences.join("; ")
    )))
}

/// What changes from catalog `a` to catalog `b`: `+` added, `-` removed,
/// `~` changed, one line per column, index and constraint.
pub fn diff(a: &Catalog, b: &Catalog) -> Vec<String> {
    fn col((ty, nn, def): &(String, bool, Option<String>)) -> String {
        let mut s = ty.clone();
        if *nn {
            s.push_str(" NOT NULL");
        }
        if let Some(d) = def {
            s.push_str(" DEFAULT ");
            s.push_str(d);
        }
        s
    }
    let mut out = Vec::new();
    let (at, bt) = (a.tables(), b.tables());
    for t in bt.difference(&at) {
        out.push(format!("+ table {t}"));
    }
    for t in at.difference(&bt) {
        out.push(format!("- table {t}"));
    }
    for ((t, c), v) in &b.columns {
        match a.columns.get(&(t.clone(), c.clone())) {
            None => out.push(format!("+ column {t}.{c} {}", col(v))),
            Some(old) if old != v => {
                out.push(format!("~ column {t}.{c}: {} -> {}", col(old), col(v)));
            }
            Some(_) => {}
        }
    }
    for ((t, c), v) in &a.columns {
        if !b.columns.contains_key(&(t.clone(), c.clone())) {
            out.push(format!("- column {t}.{c} {}", col(v)));
        }
    }
    for (n, (_, def)) in &b.indexes {
        match a.indexes.get(n) {
            None => out.push(format!("+ index {def}")),
            Some((_, old)) if old != def => out.push(format!("~ index {old} -> {def}")),
            Some(_) => {}
        }
    }
    for (n, (_, def)) in &a.indexes {
        if !b.indexes.contains_key(n) {
            out.push(format!("- index {def}"));
        }
    }
    for ((t, k), def) in &b.constraints {
        match a.constraints.get(&(t.clone(), k.clone())) {
            None => out.push(format!("+ constraint {k} on {t}: {def}")),
            Some(old) if old != def => out.push(format!("~ constraint {k} on {t}: {old} -> {def}")),
            Some(_) => {}
        }
    }
    for ((t, k), def) in &a.constraints {
        if !b.constraints.contains_key(&(t.clone(), k.clone())) {
            out.push(format!("- constraint {k} on {t}: {def}"));
        }
    }
    out
}
