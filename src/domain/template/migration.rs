//! Template migrations: each takes a tenant's schema from version N to N+1
//! as an ordered list of SQL statements. A step is checked like a SQL-string
//! template entry (see [`super::statement`]), and may also be
//!
//! - `CREATE INDEX CONCURRENTLY name ON table (...)`: it cannot run inside a
//!   transaction, so it runs on its own and is recorded as such; it must be
//!   named, so that an interrupted run can tell from the catalog whether it
//!   finished (a valid index), half-finished (an invalid one, dropped and
//!   built again) or never started;
//! - `UPDATE` / `INSERT` on the tenant's own (unqualified) tables, for
//!   backfills;
//! - `DROP TABLE | VIEW | INDEX | SEQUENCE` of the tenant's own objects,
//!   without `CASCADE` (which could reach objects outside the schema).
//!
//! Messages carry no field path; the parser adds it.

use serde::Serialize;
use sqlparser::ast::{ObjectType, Statement};

use super::statement::{self, names_stay_home, parse_one, unqualified};

const ALLOWED: &str = "a migration step may be CREATE TABLE, CREATE [UNIQUE] INDEX [CONCURRENTLY], CREATE VIEW, CREATE SEQUENCE, COMMENT ON, ALTER TABLE, UPDATE, INSERT, or DROP TABLE/VIEW/INDEX/SEQUENCE";

/// One migration: the schema from version `to - 1` to `to`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Migration {
    /// The version this migration brings the schema to.
    pub to: i32,
    pub description: String,
    pub steps: Vec<MigrationStep>,
}

/// One statement of a migration, with its field path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationStep {
    /// `migrations[0].steps[2]`.
    pub path: String,
    /// The statement, verbatim (trimmed, without a trailing `;`).
    pub sql: String,
    /// `CREATE INDEX CONCURRENTLY`: runs outside any transaction.
    pub non_transactional: bool,
    /// The same step as it runs inside a transaction (a new tenant's create
    /// transaction, a dry run): `CONCURRENTLY` dropped. Equal to `sql` for
    /// transactional steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_tx_sql: Option<String>,
    /// The index a non-transactional step builds (as PostgreSQL folds it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
}

impl MigrationStep {
    /// The text to run inside a transaction.
    pub fn transactional_sql(&self) -> &str {
        self.in_tx_sql.as_deref().unwrap_or(&self.sql)
    }
}

/// What a checked step is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Checked {
    pub non_transactional: bool,
    pub in_tx_sql: Option<String>,
    pub index: Option<String>,
}

const TX: Checked = Checked {
    non_transactional: false,
    in_tx_sql: None,
    index: None,
};

/// Check one migration step (already trimmed of a trailing `;`).
pub(super) fn check_step(text: &str) -> Result<Checked, String> {
    let stmt = parse_one(text, ALLOWED)?;
    let checked = match &stmt {
        Statement::CreateIndex(ci) if ci.concurrently => {
            unqualified(&ci.table_name, "the indexed table")?;
            let Some(name) = &ci.name else {
                return Err(
                    "CREATE INDEX CONCURRENTLY needs an index name, so that an interrupted run can tell whether it finished"
                        .into(),
                );
            };
            let name = unqualified(name, "an index name")?;
            let mut plain = ci.clone();
            plain.concurrently = false;
            Checked {
                non_transactional: true,
                in_tx_sql: Some(Statement::CreateIndex(plain).to_string()),
                index: Some(name),
            }
        }
        Statement::Update(_) | Statement::Insert(_) => TX,
        Statement::Drop {
            object_type,
            names,
            cascade,
            temporary,
            table,
            ..
        } => {
            if !matches!(
                object_type,
                ObjectType::Table | ObjectType::View | ObjectType::Index | ObjectType::Sequence
            ) {
                return Err("DROP is allowed for tables, views, indexes and sequences".into());
            }
            if *cascade {
                return Err(
                    "DROP ... CASCADE is not allowed (it can reach objects outside the tenant's schema): drop the dependent objects first"
                        .into(),
                );
            }
            if *temporary || table.is_some() {
                return Err("DROP may name the tenant's own objects only".into());
            }
            for n in names {
                unqualified(n, "a dropped object")?;
            }
            TX
        }
        _ => {
            statement::check(text).map_err(|m| {
                if m.starts_with("only CREATE TABLE") {
                    ALLOWED.to_string()
                } else {
                    m
                }
            })?;
            TX
        }
    };
    names_stay_home(&stmt)?;
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_of_every_allowed_kind() {
        for ok in [
            "ALTER TABLE trades ADD COLUMN fee numeric(20,8) NOT NULL DEFAULT 0",
            "ALTER TABLE portfolios DROP COLUMN description",
            "UPDATE positions SET market_value = quantity * current_price WHERE market_value IS NULL",
            "INSERT INTO settings (k, v) VALUES ('a', 'b')",
            "DROP INDEX idx_old",
            "DROP TABLE IF EXISTS scratch",
            "CREATE INDEX idx_a ON trades (symbol)",
        ] {
            let c = check_step(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(!c.non_transactional, "{ok}");
        }
        let c = check_step("CREATE INDEX CONCURRENTLY idx_pos_symbol ON positions (symbol)")
            .expect("concurrently");
        assert!(c.non_transactional);
        assert_eq!(c.index.as_deref(), Some("idx_pos_symbol"));
        let plain = c.in_tx_sql.expect("in-tx form");
        assert!(
            !plain.to_ascii_uppercase().contains("CONCURRENTLY"),
            "{plain}"
        );
        assert!(plain.starts_with("CREATE INDEX idx_pos_symbol ON positions"));
    }

    #[test]
    fn forbidden_steps_are_refused_with_a_reason() {
        for (bad, why) in [
            ("UPDATE other.trades SET fee = 1", "names another schema"),
            (
                "INSERT INTO t SELECT * FROM public.secrets",
                "names another schema",
            ),
            ("DROP TABLE trades CASCADE", "CASCADE"),
            ("DROP SCHEMA x", "DROP is allowed for"),
            ("DROP TABLE other.trades", "names another schema"),
            (
                "CREATE INDEX CONCURRENTLY ON trades (symbol)",
                "needs an index name",
            ),
            ("GRANT ALL ON trades TO public", "a migration step may be"),
            ("DELETE FROM trades", "a migration step may be"),
            ("ALTER TABLE trades OWNER TO postgres", "ALTER TABLE may"),
            (
                "UPDATE t SET a = 1; DROP TABLE t",
                "one statement per entry",
            ),
            ("UPDATE t SET a = $1", "dollar quoting"),
        ] {
            let e = check_step(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
