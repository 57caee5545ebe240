//! `templates validate FILE --against`: a dry run of a template on the
//! connected cluster. Inside one transaction that is always rolled back, a
//! throwaway NOLOGIN probe role gets a schema of its own and the template runs
//! exactly as `create` would run it (as the schema's owner, `search_path`
//! set, hypertables when TimescaleDB is installed), so a template that parses
//! but fails on the server is caught before any tenant depends on it.
//! Nothing remains afterwards: no role, no schema, no audit row.

use serde::Serialize;

use super::provision::render;
use super::{Db, pg_error, quote_ident};
use crate::config::TimescaleMode;
use crate::domain::template::Template;
use crate::error::{Error, Result};

/// What a successful dry run did.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The server's `server_version`.
    pub server_version: String,
    /// The TimescaleDB version when hypertables were created in the dry run.
    pub timescaledb: Option<String>,
    /// Tables present in the probe schema after the run.
    pub tables: Vec<String>,
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
    tx.rollback()
        .await
        .map_err(|e| pg_error(&e, "cannot roll the dry run back"))?;
    Ok(ProbeReport {
        server_version,
        timescaledb: ts_schema.and(ts_version),
        tables,
    })
}
