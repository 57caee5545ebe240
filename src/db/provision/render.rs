//! SQL text for provisioning: every identifier quoted, every value either a
//! validated number or a quoted literal built by us. User input that is not
//! an identifier we generated travels as bind parameters elsewhere.

use std::fmt::Write as _;

use crate::db::{quote_ident, quote_literal};
use crate::domain::template::{Template, pkey_name};

/// The name of the temporary function that runs a template's raw statements.
pub const APPLY_FN: &str = "_tenantctl_apply";
const BODY_TAG: &str = "$tenantctl_body$";

/// The template's tables and indexes, schema-qualified, run as the tenant
/// role with `search_path` set to the schema; `hypertables` names the
/// TimescaleDB schema when they should be created. Ends back as the admin.
pub fn template(t: &Template, role: &str, schema: &str, timescale_schema: Option<&str>) -> String {
    let s = quote_ident(schema);
    let mut sql = format!(
        "SET LOCAL ROLE {};\nSET LOCAL search_path = {s};\n",
        quote_ident(role)
    );
    for table in &t.tables {
        let _ = write!(sql, "CREATE TABLE {s}.{} (", quote_ident(&table.name));
        for (i, c) in table.columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "{} {}", quote_ident(&c.name), c.ty);
            if !c.nullable {
                sql.push_str(" NOT NULL");
            }
            if let Some(d) = &c.default {
                let _ = write!(sql, " DEFAULT {d}");
            }
            if let Some(r) = &c.references {
                let _ = write!(
                    sql,
                    " REFERENCES {s}.{} ({}) ON DELETE {}",
                    quote_ident(&r.table),
                    quote_ident(&r.column),
                    r.on_delete.to_ascii_uppercase()
                );
            }
        }
        if !table.primary_key.is_empty() {
            let _ = write!(
                sql,
                ", CONSTRAINT {} PRIMARY KEY ({})",
                quote_ident(&pkey_name(&table.name)),
                idents(&table.primary_key)
            );
        }
        sql.push_str(");\n");
    }
    for ix in &t.indexes {
        let _ = writeln!(
            sql,
            "CREATE {}INDEX {} ON {s}.{} ({});",
            if ix.unique { "UNIQUE " } else { "" },
            quote_ident(&ix.name),
            quote_ident(&ix.table),
            idents(&ix.columns)
        );
    }
    if let Some(ts) = timescale_schema {
        for h in &t.timescale_tables {
            let _ = writeln!(
                sql,
                "SELECT {}.create_hypertable({}::regclass, {}, chunk_time_interval => interval {});",
                quote_ident(ts),
                quote_literal(&format!("{s}.{}", quote_ident(&h.name))),
                quote_literal(&h.time_column),
                quote_literal(&format!("{} seconds", h.chunk_interval.as_secs()))
            );
        }
    }
    if !t.statements.is_empty() {
        sql.push_str(&statements(&t.statements, schema));
    }
    sql.push_str("RESET ROLE;\nSET LOCAL search_path TO DEFAULT;\n");
    sql
}

/// Raw statements run inside a SECURITY DEFINER function owned by the tenant
/// role: inside one, PostgreSQL refuses any change of role or session
/// authorization, so even a statement that slipped past validation cannot
/// leave the tenant's privileges. The function is dropped at once.
fn statements(stmts: &[String], schema: &str) -> String {
    let s = quote_ident(schema);
    let f = format!("{s}.{}", quote_ident(APPLY_FN));
    let mut body = String::from("BEGIN\n");
    for st in stmts {
        let _ = writeln!(body, "EXECUTE {};", quote_literal(st));
    }
    body.push_str("END");
    // Validation forbids `$` outside literals; inside one it is harmless
    // unless it spells our tag, which we refuse to embed.
    let body = body.replace(BODY_TAG, "$ tenantctl_body$");
    format!(
        "CREATE FUNCTION {f}() RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = {s} AS {BODY_TAG}\n{body}\n{BODY_TAG};\nSELECT {f}();\nDROP FUNCTION {f}();\n"
    )
}

fn idents(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_template_renders_quoted() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates");
        let t = crate::template_files::load(&dir, "default").expect("default");
        let sql = template(&t, "tenant_x", "tenant_x", None);
        assert!(sql.starts_with("SET LOCAL ROLE \"tenant_x\";"));
        assert!(sql.contains("CREATE TABLE \"tenant_x\".\"trades\" ("));
        assert!(sql.contains("CONSTRAINT \"trades_pkey\" PRIMARY KEY (\"id\", \"timestamp\")"));
        assert!(!sql.contains("create_hypertable"));
        let with_ts = template(&t, "tenant_x", "tenant_x", Some("public"));
        assert_eq!(with_ts.matches("create_hypertable").count(), 2);
    }
}
