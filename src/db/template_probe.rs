//! `templates validate FILE --against`: a dry run of a template on the
//! connected cluster. Inside one transaction that is always rolled back, a
//! throwaway NOLOGIN probe role gets a schema of its own and the template runs
//! exactly as `create` would run it (as the schema's owner, `search_path`
//! set, hypertables when TimescaleDB is installed), so a template that parses
//! but fails on the server is caught before any tenant depends on it.
//! Nothing remains afterwards: no role, no schema, no audit row.
//!
//! The same dry run yields the reference catalog of a template (what
//! PostgreSQL made from it, read by [`crate::db::fleet::catalog::read`]), and
//! [`schema_drift`] compares a tenant's schema with it: drift checks for
//! SQL-string templates, whose columns are not data tenantctl could compare
//! directly. [`references`] builds the references monitoring judges
//! SQL-string templates' tenants against: one per template version, with the
//! digest that lets one catalog query find the tenants that differ.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fleet::catalog::{self, Catalog as Reference};
use super::provision::render;
use super::{Db, pg_error, quote_ident};
use crate::config::TimescaleMode;
use crate::domain::template::Template;
use crate::error::{Error, Result};

/// The columns and indexes of a schema built from a template, as
/// `templates validate --against --json` prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Catalog {
    /// `(table, column, type as format_type prints it, NOT NULL)`, sorted.
    pub columns: Vec<(String, String, String, bool)>,
    /// Index names, sorted.
    pub indexes: Vec<String>,
}

impl From<&Reference> for Catalog {
    fn from(r: &Reference) -> Self {
        Self {
            columns: r
                .columns
                .iter()
                .map(|((t, c), (ty, nn, _))| (t.clone(), c.clone(), ty.clone(), *nn))
                .collect(),
            indexes: r.indexes.keys().cloned().collect(),
        }
    }
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
    /// The probe schema's columns and indexes.
    pub catalog: Catalog,
    /// The probe schema's whole catalog, the reference for drift checks.
    #[serde(skip)]
    pub reference: Reference,
}

/// How `schema` differs from `reference`, the catalog of its template
/// (see [`catalog::compare`]). Empty when it matches.
pub async fn schema_drift(db: &Db, schema: &str, reference: &Reference) -> Result<Vec<String>> {
    let have = catalog::read_schemas(db, &[schema.to_string()])
        .await?
        .remove(schema)
        .unwrap_or_default();
    Ok(catalog::compare(reference, &have))
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
    // The template runs inside a function: see `Db::client_for_templates`.
    let mut client = db.client_for_templates().await?;
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
    tx.batch_execute("SET LOCAL search_path = pg_catalog, pg_temp")
        .await
        .map_err(|e| pg_error(&e, "cannot read the probe's catalog"))?;
    let reference = catalog::read(&*tx, std::slice::from_ref(&name))
        .await?
        .remove(&name)
        .unwrap_or_default();
    tx.rollback()
        .await
        .map_err(|e| pg_error(&e, "cannot roll the dry run back"))?;
    Ok(ProbeReport {
        server_version,
        timescaledb: ts_schema.and(ts_version),
        tables,
        catalog: Catalog::from(&reference),
        reference,
    })
}

/// What monitoring judges the tenants of one version of a SQL-string
/// template against: the catalog of a schema built from it, and its digest
/// ([`catalog::digests`]), so that one catalog query finds the tenants whose
/// catalog differs and only those are read and compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionReference {
    pub catalog: Reference,
    pub digest: String,
}

/// Build `versions` of `t` on `client`, inside one transaction that is
/// always rolled back, each in a schema of a throwaway NOLOGIN probe role,
/// exactly as a tenant at that version has it: the current version as
/// `create` builds it, an older one as the baseline plus the migrations up
/// to it; hypertables when TimescaleDB is installed and `mode` is not
/// `off`. A version this template cannot build (older than its baseline)
/// is an `Err` of its own; a failure on the server fails the whole build.
/// Nothing remains: no role, no schema.
pub async fn references(
    client: &mut tokio_postgres::Client,
    t: &Template,
    versions: &[i32],
    mode: TimescaleMode,
    timeout_ms: u128,
) -> Result<BTreeMap<i32, Result<VersionReference>>> {
    let what = format!("template {} fails on the server", t.name);
    let role = catalog::probe_role_name();
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error(&e, "cannot start the reference build"))?;
    let ts = catalog::timescale_schema(&tx).await?;
    let ts = if mode == TimescaleMode::Off || t.timescale_tables.is_empty() {
        None
    } else {
        ts
    };
    let r = quote_ident(&role);
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = '{}ms';
         CREATE ROLE {r} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
         GRANT {r} TO CURRENT_USER;",
        timeout_ms.max(1)
    ))
    .await
    .map_err(|e| {
        pg_error(
            &e,
            "cannot create the probe role for the template references",
        )
    })?;
    let mut out = BTreeMap::new();
    let mut built: Vec<(i32, String)> = Vec::new();
    for &v in versions {
        let sql = if v == t.version {
            Ok(render::template(
                t,
                &role,
                &role_schema(&role, v),
                ts.as_deref(),
            ))
        } else {
            render::baseline_then(t, v, &role, &role_schema(&role, v), ts.as_deref())
        };
        let sql = match sql {
            Ok(sql) => sql,
            Err(e) => {
                out.insert(v, Err(e));
                continue;
            }
        };
        let schema = role_schema(&role, v);
        let q = quote_ident(&schema);
        tx.batch_execute(&format!(
            "CREATE SCHEMA {q} AUTHORIZATION {r}; REVOKE ALL ON SCHEMA {q} FROM PUBLIC;"
        ))
        .await
        .map_err(|e| pg_error(&e, "cannot create a probe schema"))?;
        tx.batch_execute(&sql)
            .await
            .map_err(|e| match e.as_db_error() {
                Some(d) => Error::invalid(format!(
                    "{what} at version {v}: {}",
                    crate::domain::sanitize::clean(d.message())
                )),
                None => pg_error(&e, &what),
            })?;
        built.push((v, schema));
    }
    tx.batch_execute("SET LOCAL search_path = pg_catalog, pg_temp")
        .await
        .map_err(|e| pg_error(&e, "cannot read the probe's catalog"))?;
    let names: Vec<String> = built.iter().map(|(_, s)| s.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut cats = catalog::read(&tx, &names).await?;
    let mut digests: BTreeMap<String, String> =
        catalog::digests(&tx, &refs).await?.into_iter().collect();
    tx.rollback()
        .await
        .map_err(|e| pg_error(&e, "cannot roll the reference build back"))?;
    for (v, schema) in built {
        out.insert(
            v,
            Ok(VersionReference {
                catalog: cats.remove(&schema).unwrap_or_default(),
                digest: digests.remove(&schema).unwrap_or_default(),
            }),
        );
    }
    Ok(out)
}

fn role_schema(role: &str, version: i32) -> String {
    format!("{role}_v{version}")
}

/// At most this many distinct catalogs are read and compared per check;
/// schemas beyond them are reported as differing, not itemized.
pub const DISTINCT_DRIFTS_READ: usize = 200;

/// Which of `checked` — `(schema, the reference of its template version,
/// the names the name check already covers)` — differ from their reference
/// beyond those names ([`catalog::beyond_names`]): one digest query for
/// them all; then, since schemas with equal digests have equal catalogs,
/// one schema per distinct digest is read ([`catalog::read`], one query
/// set for all of them) and compared, and every schema of that digest gets
/// its sentences (a thousand tenants drifted the same way cost one read).
/// Past [`DISTINCT_DRIFTS_READ`] distinct digests, a schema is reported as
/// differing without the details. Run it on a session with the
/// `search_path` the references were built with. `(schema, sentences)`
/// for schemas with a difference.
pub async fn catalog_drift(
    client: &impl tokio_postgres::GenericClient,
    checked: &[(&str, &VersionReference, &[String])],
) -> Result<Vec<(String, Vec<String>)>> {
    let schemas: Vec<&str> = checked.iter().map(|c| c.0).collect();
    let digests: std::collections::HashMap<String, String> = catalog::digests(client, &schemas)
        .await?
        .into_iter()
        .collect();
    // Distinct (catalog digest, reference, names): the first schema of each
    // stands for them all.
    let mut classes: Vec<(&str, &VersionReference, &[String], Vec<&str>)> = Vec::new();
    let mut class_of: std::collections::HashMap<(&str, &str, usize), usize> =
        std::collections::HashMap::new();
    for (s, r, names) in checked {
        let Some(d) = digests.get(*s).filter(|d| **d != r.digest) else {
            continue;
        };
        let key = (d.as_str(), r.digest.as_str(), names.as_ptr().addr());
        let i = *class_of.entry(key).or_insert_with(|| {
            classes.push((s, r, names, Vec::new()));
            classes.len() - 1
        });
        classes[i].3.push(s);
    }
    if classes.is_empty() {
        return Ok(Vec::new());
    }
    let shown = classes.len().min(DISTINCT_DRIFTS_READ);
    let reps: Vec<String> = classes[..shown].iter().map(|c| c.0.to_string()).collect();
    let mut have = catalog::read(client, &reps).await?;
    let mut out = Vec::new();
    for (i, (rep, r, expected, members)) in classes.into_iter().enumerate() {
        let d = if i < shown {
            let h = have.remove(rep).unwrap_or_default();
            catalog::beyond_names(&r.catalog, &h, expected)
        } else {
            vec![format!(
                "the catalog differs from the template (not itemized: more than {DISTINCT_DRIFTS_READ} distinct drifts)"
            )]
        };
        if d.is_empty() {
            continue;
        }
        for m in members {
            out.push((m.to_string(), d.clone()));
        }
    }
    Ok(out)
}
