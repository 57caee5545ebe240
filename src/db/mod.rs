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

pub use connect::{Db, TEMPLATE_SESSION_USES, TemplateClient};

use crate::error::Error;

/// Quote an identifier for SQL text (PostgreSQL's `quote_ident`, always quoting).
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quote a string literal for SQL text where a parameter cannot be used (DDL).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Run `sql` and turn each row into a `T` as it arrives, instead of
/// collecting every [`tokio_postgres::Row`] first as `query` does: a row
/// holds its column ranges and pins its part of the read buffer, so the
/// monitoring queries' 50,000 rows took about 15 MB each before the first
/// was mapped. The driver reads ahead one batch at a time.
pub async fn query_map<C, T>(
    client: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    mut row: impl FnMut(&tokio_postgres::Row) -> T,
) -> Result<Vec<T>, tokio_postgres::Error>
where
    C: tokio_postgres::GenericClient + Sync,
{
    use futures::TryStreamExt;
    let stream = client.query_raw(sql, params.iter().copied()).await?;
    let mut stream = std::pin::pin!(stream);
    let mut out = Vec::new();
    while let Some(r) = stream.try_next().await? {
        out.push(row(&r));
    }
    out.shrink_to_fit();
    Ok(out)
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
