//! The only room with SQL. Connections and TLS, control-schema migrations,
//! the tenant repository and provisioning, monitoring queries, audit.

pub mod activity;
pub mod audit;
pub mod connect;
pub mod detail;
pub mod doctor;
pub mod fleet;
pub mod guard;
pub mod harden;
pub mod lease;
pub mod metrics;
pub mod migrate;
pub mod notify;
pub mod provision;
pub mod runner;
pub mod seed;
pub mod template_probe;
pub mod tenants;
pub mod tls;
pub mod usage;

pub use connect::Db;

use crate::error::Error;

/// Quote an identifier for SQL text (PostgreSQL's `quote_ident`, always quoting).
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quote a string literal for SQL text where a parameter cannot be used (DDL).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Turn a driver error into one sentence: what failed (`what`) and the
/// server's message, with the SQLSTATE deciding the kind.
pub fn pg_error(e: &tokio_postgres::Error, what: &str) -> Error {
    use tokio_postgres::error::SqlState;
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let msg = db.message();
        let kind = if *code == SqlState::UNIQUE_VIOLATION {
            crate::error::ErrorKind::Conflict
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            crate::error::ErrorKind::Refused
        } else {
            crate::error::ErrorKind::Failure
        };
        let hint = if *code == SqlState::INVALID_PASSWORD {
            ": check the password (PGPASSWORD, ~/.pgpass or the URL)"
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            ": check dbname in the connection string"
        } else if *code == SqlState::QUERY_CANCELED {
            " (statement timeout or cancel)"
        } else {
            ""
        };
        return Error::new(kind, format!("{what}: {msg}{hint}"));
    }
    let text = e.to_string();
    let source = std::error::Error::source(e)
        .map(ToString::to_string)
        .unwrap_or_default();
    let detail = if source.is_empty() {
        text
    } else {
        format!("{text}: {source}")
    };
    Error::failure(format!("{what}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("tenant_1"), "\"tenant_1\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
