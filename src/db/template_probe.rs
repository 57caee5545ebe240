//! `templates validate FILE --against`: a dry run of a template on the
//! connected cluster. Inside one transaction that is always rolled back, a
//! throwaway NOLOGIN probe role gets a schema of its own and the template runs
//! exactly as `create` would run it (as the schema's owner, `search_path`
//! set, hypertables when TimescaleDB is installed), so a template that parses
//! but fails on the server is caught before any tenant depends on it.
//! Nothing remains afterwards: no role, no schema, no audit row.
//!
//! The same dry run yields the reference [`Catalog`] of a template (the
//! columns and indexes PostgreSQL made from it), and [`schema_drift`]
//! compares a tenant's schema with it: drift checks for SQL-string
//! templates, whose columns are not data tenantctl could compare directly.

use serde::Serialize;

use super::provision::render;
use super::{Db, pg_error, quote_ident};
use crate::config::TimescaleMode;
use crate::domain::template::Template;
use crate::error::{Error, Result};

/// The catalog of a schema built from a template: what drift checks of a
/// SQL-string template compare a tenant against (its columns cannot be read
/// from the statements as PostgreSQL will store them, so they are read from
/// a schema PostgreSQL built). Build it once per template version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Catalog {
    /// `(table, column, type as format_type prints it, NOT NULL)`, sorted.
    pub columns: Vec<(String, String, String, bool)>,
    /// Index names, sorted.
    pub indexes: Vec<String>,
}

/// What a successful dry run did.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The server's `server_version`.
    pub server_version: String,
    /// The TimescaleDB version when hypertables were created in the dry run.
    pub timescaledb: Option<String>,
    /// Tables present in the probe schema after the run.
    pub tables: Vec<String>,
    /// The probe schema's catalog, the reference for drift checks.
    pub catalog: Catalog,
}

const CATALOG_COLUMNS: &str = "SELECT c.relname::text, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
     WHERE c.relnamespace = $1::text::regnamespace AND c.relkind IN ('r', 'p')
       AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY 1, 2";
const CATALOG_INDEXES: &str = "SELECT c.relname::text FROM pg_catalog.pg_class c
     WHERE c.relnamespace = $1::text::regnamespace AND c.relkind IN ('i', 'I') ORDER BY 1";

/// The catalog of `schema` (catalog reads only: no function runs on tenant
/// data).
async fn catalog(client: &impl deadpool_postgres::GenericClient, schema: &str) -> Result<Catalog> {
    let columns = client
        .query(CATALOG_COLUMNS, &[&schema])
        .await
        .map_err(|e| pg_error(&e, "cannot read the schema's columns"))?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let indexes = client
        .query(CATALOG_INDEXES, &[&schema])
        .await
        .map_err(|e| pg_error(&e, "cannot read the schema's indexes"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Catalog { columns, indexes })
}

/// How `schema` differs from the reference catalog of its template: one
/// sentence per missing table, column or index, per column whose type or
/// nullability changed, and per extra table. Empty when it matches.
pub async fn schema_drift(db: &Db, schema: &str, reference: &Catalog) -> Result<Vec<String>> {
    let client = db.client().await?;
    let have = catalog(&client, schema).await?;
    Ok(compare(reference, &have))
}

/// The comparison behind [`schema_drift`].
pub fn compare(reference: &Catalog, have: &Catalog) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    let by_col = |c: &Catalog| -> BTreeMap<(String, String), (String, bool)> {
        c.columns
            .iter()
            .map(|(t, n, ty, nn)| ((t.clone(), n.clone()), (ty.clone(), *nn)))
            .collect()
    };
    let (want, got) = (by_col(reference), by_col(have));
    let tables = |m: &BTreeMap<(String, String), (String, bool)>| -> BTreeSet<String> {
        m.keys().map(|(t, _)| t.clone()).collect()
    };
    let (want_t, got_t) = (tables(&want), tables(&got));
    let mut out = Vec::new();
    for t in want_t.difference(&got_t) {
        out.push(format!("table {t} is missing"));
    }
    for t in got_t.difference(&want_t) {
        out.push(format!("table {t} is not in the template"));
    }
    for ((t, c), (ty, nn)) in &want {
        if !got_t.contains(t) {
            continue;
        }
        match got.get(&(t.clone(), c.clone())) {
            None => out.push(format!("column {t}.{c} is missing")),
            Some((gty, gnn)) => {
                if gty != ty {
                    out.push(format!("column {t}.{c} is {gty}, the template says {ty}"));
                }
                if gnn != nn {
                    out.push(format!(
                        "column {t}.{c} is {}, the template says {}",
                        if *gnn { "NOT NULL" } else { "nullable" },
                        if *nn { "NOT NULL" } else { "nullable" }
                    ));
                }
            }
        }
    }
    for (t, c) in got.keys() {
        if want_t.contains(t) && !want.contains_key(&(t.clone(), c.clone())) {
            out.push(format!("column {t}.{c} is not in the template"));
        }
    }
    let got_ix: BTreeSet<&String> = have.indexes.iter().collect();
    for ix in &reference.indexes {
        if !got_ix.contains(ix) {
            out.push(format!("index {ix} is missing"));
        }
    }
    out
}

/// Run `t` as a probe role inside a rolled-back transaction.
pub async fn probe(
    db: &Db,
    t: &Template,
    mode: TimescaleMode,
    timeout_ms: u128,
) -> Result<ProbeReport> {
    let what = format!("template {} fails on the server", t.name);
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("tenantctl_probe_{}", &suffix[..16]);
    let mut client = db.client().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error(&e, "cannot start the dry run"))?;
    let row = tx
        .query_one(
            "SELECT current_setting('server_version'),
                    (SELECT n.nspname::text FROM pg_extension e
                     JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'timescaledb'),
                    (SELECT extversion::text FROM pg_extension WHERE extname = 'timescaledb')",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the server's version"))?;
    let server_version: String = row.get(0);
    let ts_schema: Option<String> = row.get(1);
    let ts_version: Option<String> = row.get(2);
    if mode == TimescaleMode::Require && ts_schema.is_none() && !t.timescale_tables.is_empty() {
        return Err(Error::refused(format!(
            "{what}: it has hypertables and timescaledb = require, but the TimescaleDB extension is not installed in this database"
        )));
    }
    let ts_schema = if mode == TimescaleMode::Off || t.timescale_tables.is_empty() {
        None
    } else {
        ts_schema
    };
    let q = quote_ident(&name);
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = '{}ms';
         CREATE ROLE {q} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
         GRANT {q} TO CURRENT_USER;
         CREATE SCHEMA {q} AUTHORIZATION {q};
         REVOKE ALL ON SCHEMA {q} FROM PUBLIC;",
        timeout_ms.max(1)
    ))
    .await
    .map_err(|e| pg_error(&e, "cannot create the probe role and schema"))?;
    tx.batch_execute(&render::template(t, &name, &name, ts_schema.as_deref()))
        .await
        .map_err(|e| match e.as_db_error() {
            Some(d) => Error::invalid(format!(
                "{what}: {}",
                crate::domain::sanitize::clean(d.message())
            )),
            None => pg_error(&e, &what),
        })?;
    let tables = tx
        .query(
            "SELECT c.relname::text FROM pg_catalog.pg_class c
             WHERE c.relnamespace = $1::text::regnamespace AND c.relkind IN ('r', 'p')
             ORDER BY c.relname",
            &[&name],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot list the probe's tables"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let catalog = catalog(&tx, &name).await?;
    tx.rollback()
        .await
        .map_err(|e| pg_error(&e, "cannot roll the dry run back"))?;
    Ok(ProbeReport {
        server_version,
        timescaledb: ts_schema.and(ts_version),
        tables,
        catalog,
    })
}
