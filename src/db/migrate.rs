//! Versioned control-schema migrations, embedded in the binary.
//!
//! Each migration runs once, in order, inside one transaction that holds a
//! lock on `schema_version`, and is recorded in `<schema>.schema_version`. Other commands
//! call [`check`] first and refuse a missing or newer schema.

use super::{Db, pg_error, quote_ident, quote_literal};
use crate::error::{Error, Result};

/// One embedded migration.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    sql: &'static str,
}

/// Every migration this binary knows, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "control_schema",
        sql: include_str!("migrations/V1__control_schema.sql"),
    },
    Migration {
        version: 2,
        name: "usage_samples",
        sql: include_str!("migrations/V2__usage_samples.sql"),
    },
    Migration {
        version: 3,
        name: "containment",
        sql: include_str!("migrations/V3__containment.sql"),
    },
    Migration {
        version: 4,
        name: "migrations",
        sql: include_str!("migrations/V4__migrations.sql"),
    },
    Migration {
        version: 5,
        name: "migration_workers",
        sql: include_str!("migrations/V5__migration_workers.sql"),
    },
    Migration {
        version: 6,
        name: "one_ledger_call",
        sql: include_str!("migrations/V6__one_ledger_call.sql"),
    },
    Migration {
        version: 7,
        name: "leaner_advance",
        sql: include_str!("migrations/V7__leaner_advance.sql"),
    },
];

/// The newest control-schema version this binary knows.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// What `init` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InitReport {
    pub schema: String,
    pub from_version: Option<i32>,
    pub to_version: i32,
    pub applied: Vec<String>,
}

fn render(sql: &str, schema: &str) -> String {
    sql.replace("{schema}", &quote_ident(schema))
        .replace("{channel}", &quote_literal(&format!("{schema}_events")))
}

/// The installed version, `None` when the control schema is absent.
pub async fn installed_version(db: &Db) -> Result<Option<i32>> {
    let client = db.client().await?;
    let row = client
        .query_one(
            "SELECT to_regclass(format('%I.schema_version', $1::text)) IS NOT NULL",
            &[&db.schema],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the control schema version"))?;
    if !row.get::<_, bool>(0) {
        return Ok(None);
    }
    let sql = format!("SELECT max(version) FROM {}.schema_version", db.q_schema());
    let row = client
        .query_one(&sql, &[])
        .await
        .map_err(|e| pg_error(&e, "cannot read the control schema version"))?;
    Ok(row.get::<_, Option<i32>>(0))
}

/// Refuse to work on a missing or newer control schema.
pub async fn check(db: &Db) -> Result<i32> {
    match installed_version(db).await? {
        None => Err(Error::failure(
            "control schema not installed: run tenantctl init",
        )),
        Some(v) if v > latest_version() => Err(Error::failure(format!(
            "control schema version {v} is newer than this tenantctl (knows up to {}): upgrade tenantctl",
            latest_version()
        ))),
        Some(v) => Ok(v),
    }
}

/// Install or upgrade the control schema to the newest version. Safe to run twice.
pub async fn init(db: &Db) -> Result<InitReport> {
    apply_up_to(db, latest_version()).await
}

/// Apply migrations up to and including `target` (tests use it to stage old versions).
pub async fn apply_up_to(db: &Db, target: i32) -> Result<InitReport> {
    let mut client = db.client().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error(&e, "cannot begin the migration"))?;
    let schema = db.q_schema();
    // The lock is a table lock on our own table, not an advisory lock: any
    // role can take an advisory key first and block every init.
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.schema_version (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );
         LOCK TABLE {schema}.schema_version IN SHARE ROW EXCLUSIVE MODE;"
    ))
    .await
    .map_err(|e| pg_error(&e, "cannot create the control schema"))?;
    let current: Option<i32> = tx
        .query_one(
            &format!("SELECT max(version) FROM {schema}.schema_version"),
            &[],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot read the control schema version"))?
        .get(0);
    if let Some(v) = current.filter(|v| *v > latest_version()) {
        return Err(Error::failure(format!(
            "control schema version {v} is newer than this tenantctl (knows up to {}): upgrade tenantctl",
            latest_version()
        )));
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS
        .iter()
        .filter(|m| Some(m.version) > current && m.version <= target)
    {
        tx.batch_execute(&render(m.sql, &db.schema))
            .await
            .map_err(|e| pg_error(&e, &format!("migration {} ({}) failed", m.version, m.name)))?;
        tx.execute(
            &format!("INSERT INTO {schema}.schema_version (version, name) VALUES ($1, $2)"),
            &[&m.version, &m.name],
        )
        .await
        .map_err(|e| pg_error(&e, "cannot record the migration"))?;
        applied.push(format!("V{}__{}", m.version, m.name));
    }
    tx.commit()
        .await
        .map_err(|e| pg_error(&e, "cannot commit the migration"))?;
    let to_version = if applied.is_empty() {
        current.unwrap_or(0)
    } else {
        target.min(latest_version())
    };
    Ok(InitReport {
        schema: db.schema.clone(),
        from_version: current,
        to_version,
        applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_ordered_and_unique() {
        for w in MIGRATIONS.windows(2) {
            assert!(w[0].version < w[1].version);
        }
        assert_eq!(latest_version(), 7);
    }

    #[test]
    fn render_quotes_schema() {
        let s = render(
            "CREATE TABLE {schema}.t (); SELECT pg_notify({channel}, '')",
            "ctl",
        );
        assert_eq!(
            s,
            "CREATE TABLE \"ctl\".t (); SELECT pg_notify('ctl_events', '')"
        );
    }
}
