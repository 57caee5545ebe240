//! SQL text for provisioning: every identifier quoted, every value either a
//! validated number or a quoted literal built by us. User input that is not
//! an identifier we generated travels as bind parameters elsewhere.

use std::fmt::Write as _;
use std::time::Duration;

use crate::db::{quote_ident, quote_literal};
use crate::domain::template::{Format, Table, Template, pkey_name};

/// The name of the temporary function that runs a template's raw statements.
pub const APPLY_FN: &str = "_tenantctl_apply";
const BODY_TAG: &str = "$tenantctl_body$";

/// The template's tables, indexes, hypertables and extra statements, run as
/// `role` (the schema's owner) with `search_path` set to the schema.
/// `timescale_schema` names the TimescaleDB extension's schema when
/// hypertables should be created. Ends back as the admin.
///
/// Every step runs inside one SECURITY DEFINER function owned by `role`
/// (see [`run_steps`]), labelled with its field path (`tables[2]`,
/// `timescale_tables[0]`), so a failure reads `tables[2]: <server message>`
/// and rolls the whole creation back. A structured template's SQL is
/// written here, every identifier quoted; a SQL-string template's
/// statements run verbatim, so unqualified names land in the schema and a
/// statement that names another schema fails for lack of rights.
pub fn template(t: &Template, role: &str, schema: &str, timescale_schema: Option<&str>) -> String {
    template_then(t, &[], role, schema, timescale_schema)
}

/// Version `v` of template `t` for a new tenant: the current body when `v`
/// is the current version, else the baseline followed by the migrations up
/// to `v`, every step inside the creation transaction (`CREATE INDEX
/// CONCURRENTLY` without `CONCURRENTLY`: the tables are new and empty).
pub fn template_at(
    t: &Template,
    v: i32,
    role: &str,
    schema: &str,
    timescale_schema: Option<&str>,
) -> crate::Result<String> {
    let (body, migrations) = t.body_at(v)?;
    let more: Vec<Step> = migrations
        .iter()
        .flat_map(|m| &m.steps)
        .map(|st| (st.path.clone(), st.transactional_sql().to_string()))
        .collect();
    Ok(template_then(body, &more, role, schema, timescale_schema))
}

/// Version `v` of template `t` built the long way, always from the baseline
/// and the migrations (the current body only for a template without
/// migrations): what a migrated tenant has, for dry runs and proofs.
pub fn baseline_then(
    t: &Template,
    v: i32,
    role: &str,
    schema: &str,
    timescale_schema: Option<&str>,
) -> crate::Result<String> {
    let Some(base) = t.baseline.as_deref() else {
        return template_at(t, v, role, schema, timescale_schema);
    };
    let more: Vec<Step> = t
        .migrations_between(base.version, v)?
        .iter()
        .flat_map(|m| &m.steps)
        .map(|st| (st.path.clone(), st.transactional_sql().to_string()))
        .collect();
    Ok(template_then(base, &more, role, schema, timescale_schema))
}

/// [`template`], then the steps `more` (migrations) in the same function.
fn template_then(
    t: &Template,
    more: &[Step],
    role: &str,
    schema: &str,
    timescale_schema: Option<&str>,
) -> String {
    let s = quote_ident(schema);
    let (main, mut extra) = statements(t, schema);
    extra.extend_from_slice(more);
    let mut hypertables = Vec::new();
    if let Some(ts) = timescale_schema {
        for (i, h) in t.timescale_tables.iter().enumerate() {
            hypertables.push((
                format!("timescale_tables[{i}]"),
                create_hypertable(ts, schema, &h.name, &h.time_column, h.chunk_interval, true),
                create_hypertable(ts, schema, &h.name, &h.time_column, h.chunk_interval, false),
            ));
        }
    }
    let mut sql = format!(
        "SET LOCAL ROLE {};\nSET LOCAL search_path = {s};\n",
        quote_ident(role)
    );
    sql.push_str(&run_steps(
        &main,
        &hypertables,
        &extra,
        timescale_schema,
        schema,
    ));
    sql.push_str("RESET ROLE;\nSET LOCAL search_path TO DEFAULT;\n");
    sql
}

/// One statement with its field path: `("tables[0]", "CREATE TABLE ...")`.
pub type Step = (String, String);

/// The statements a template runs, each with its field path: first its
/// tables and indexes (verbatim for a SQL-string template, written here with
/// quoted identifiers for a structured one), then — after the hypertables —
/// its extra `statements`. Also what `templates show` prints.
pub fn statements(t: &Template, schema: &str) -> (Vec<Step>, Vec<Step>) {
    let s = quote_ident(schema);
    let mut main: Vec<(String, String)> = Vec::new();
    match t.format {
        Format::Sql => {
            for st in &t.sql {
                main.push((st.path.clone(), st.sql.clone()));
            }
        }
        Format::Structured => {
            for (i, table) in t.tables.iter().enumerate() {
                main.push((format!("tables[{i}]"), create_table(table, &s)));
            }
            for (i, ix) in t.indexes.iter().enumerate() {
                main.push((
                    format!("indexes[{i}]"),
                    format!(
                        "CREATE {}INDEX {} ON {s}.{} ({})",
                        if ix.unique { "UNIQUE " } else { "" },
                        quote_ident(&ix.name),
                        quote_ident(&ix.table),
                        idents(&ix.columns)
                    ),
                ));
            }
        }
    }
    let extra = t
        .statements
        .iter()
        .enumerate()
        .map(|(i, st)| (format!("statements[{i}]"), st.clone()))
        .collect();
    (main, extra)
}

fn create_table(table: &Table, s: &str) -> String {
    let mut sql = format!("CREATE TABLE {s}.{} (", quote_ident(&table.name));
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
    sql.push(')');
    sql
}

/// `create_hypertable` in the API of the installed TimescaleDB: from 2.13 on
/// the dimension builder `by_range(column, interval)`; before it the old
/// signature with `chunk_time_interval =>`. Either way the table keeps its
/// owner, and chunks created by later inserts carry the hypertable's
/// privileges.
pub fn create_hypertable(
    ts_schema: &str,
    schema: &str,
    table: &str,
    time_column: &str,
    chunk: Duration,
    new_api: bool,
) -> String {
    let ts = quote_ident(ts_schema);
    let rel = quote_literal(&format!("{}.{}", quote_ident(schema), quote_ident(table)));
    let col = quote_literal(time_column);
    let every = format!(
        "interval {}",
        quote_literal(&format!("{} seconds", chunk.as_secs()))
    );
    if new_api {
        format!("SELECT {ts}.create_hypertable({rel}::regclass, {ts}.by_range({col}, {every}))")
    } else {
        format!(
            "SELECT {ts}.create_hypertable({rel}::regclass, {col}, chunk_time_interval => {every})"
        )
    }
}

/// Run the steps inside a SECURITY DEFINER function owned by the schema's
/// owner: inside one, PostgreSQL refuses any change of role or session
/// authorization, so even a statement that slipped past validation cannot
/// leave the owner's privileges. A failing step is re-raised with its field
/// path and SQLSTATE (a timeout stays a timeout). Hypertables pick the API of
/// the installed TimescaleDB version at run time. The function is dropped at
/// once.
///
/// The steps are one array the function loops over, not a statement each:
/// PL/pgSQL keeps every statement's saved plan for as long as the session
/// lives, even after the function is dropped, and every later cache
/// invalidation walks them all; a loop leaves the same few plans whatever
/// the template's size (see `Db::client_for_templates`).
fn run_steps(
    main: &[(String, String)],
    hypertables: &[(String, String, String)],
    extra: &[(String, String)],
    timescale_schema: Option<&str>,
    schema: &str,
) -> String {
    let s = quote_ident(schema);
    let f = format!("{s}.{}", quote_ident(APPLY_FN));
    let hypertables: &[(String, String, String)] = if timescale_schema.is_some() {
        hypertables
    } else {
        &[]
    };
    // `[path, sql, sql before TimescaleDB 2.13 (hypertables only)]`.
    let mut rows: Vec<String> = Vec::new();
    for (path, sql) in main {
        rows.push(format!(
            "[{}, {}, NULL]",
            quote_literal(path),
            quote_literal(sql)
        ));
    }
    for (path, new_sql, old_sql) in hypertables {
        rows.push(format!(
            "[{}, {}, {}]",
            quote_literal(path),
            quote_literal(new_sql),
            quote_literal(old_sql)
        ));
    }
    for (path, sql) in extra {
        rows.push(format!(
            "[{}, {}, NULL]",
            quote_literal(path),
            quote_literal(sql)
        ));
    }
    let mut body = String::from(
        "DECLARE\n  step text := '';\n  new_api boolean := false;\n  x text[];\nBEGIN\n",
    );
    if !hypertables.is_empty() {
        // extversion is like '2.28.3' (or '2.14.0-dev'); compare major.minor.
        body.push_str(
            "  step := 'timescale_tables (the TimescaleDB version)';\n  SELECT (string_to_array(split_part(extversion, '-', 1), '.')::int[])[1:2] >= ARRAY[2, 13]\n    INTO new_api FROM pg_catalog.pg_extension WHERE extname = 'timescaledb';\n",
        );
    }
    // FOREACH refuses an empty array: no steps, no loop.
    if !rows.is_empty() {
        let _ = write!(
            body,
            "  FOREACH x SLICE 1 IN ARRAY ARRAY[\n    {}\n  ]::text[] LOOP\n    step := x[1];\n    IF new_api OR x[3] IS NULL THEN\n      EXECUTE x[2];\n    ELSE\n      EXECUTE x[3];\n    END IF;\n  END LOOP;\n",
            rows.join(",\n    ")
        );
    }
    body.push_str(
        "EXCEPTION WHEN OTHERS THEN\n  RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = step || ': ' || SQLERRM;\nEND",
    );
    // A dollar-quote tag that does not occur in the body.
    let mut tag = BODY_TAG.to_string();
    let mut n = 0;
    while body.contains(&tag) {
        n += 1;
        tag = format!("$tenantctl_body{n}$");
    }
    format!(
        "CREATE FUNCTION {f}() RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = {s} AS {tag}\n{body}\n{tag};\nSELECT {f}();\nDROP FUNCTION {f}();\n"
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
    use crate::domain::template::parse;
    use crate::template_files::{BUILT_IN, Lookup, load};

    #[test]
    fn default_template_runs_its_statements_verbatim_as_the_owner() {
        let t = load(&Lookup::built_in(), "default").expect("default");
        let sql = template(&t, "owner_x", "tenant_x", None);
        assert!(
            sql.starts_with("SET LOCAL ROLE \"owner_x\";\nSET LOCAL search_path = \"tenant_x\";")
        );
        assert!(sql.contains("SECURITY DEFINER SET search_path = \"tenant_x\""));
        // The original statements, verbatim (quoted as a literal for EXECUTE).
        assert!(sql.contains("['tables[0]', 'CREATE TABLE IF NOT EXISTS portfolios (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), user_id UUID NOT NULL"));
        assert!(sql.contains("['indexes[0]', "));
        // One loop over the steps, whatever their number.
        assert_eq!(sql.matches("EXECUTE x[").count(), 2);
        assert!(!sql.contains("create_hypertable"));
        let with_ts = template(&t, "owner_x", "tenant_x", Some("public"));
        // Both APIs, picked at run time by the installed version.
        assert_eq!(with_ts.matches("by_range(").count(), 2);
        assert_eq!(with_ts.matches("chunk_time_interval =>").count(), 2);
        assert!(with_ts.contains(">= ARRAY[2, 13]"));
        assert!(with_ts.ends_with("RESET ROLE;\nSET LOCAL search_path TO DEFAULT;\n"));
        assert_eq!(BUILT_IN.len(), 1);
    }

    #[test]
    fn hypertable_calls_in_both_apis() {
        let new = create_hypertable(
            "ts",
            "tenant_x",
            "trades",
            "timestamp",
            Duration::from_secs(86_400),
            true,
        );
        assert_eq!(
            new,
            "SELECT \"ts\".create_hypertable('\"tenant_x\".\"trades\"'::regclass, \"ts\".by_range('timestamp', interval '86400 seconds'))"
        );
        let old = create_hypertable(
            "ts",
            "tenant_x",
            "trades",
            "timestamp",
            Duration::from_secs(3_600),
            false,
        );
        assert_eq!(
            old,
            "SELECT \"ts\".create_hypertable('\"tenant_x\".\"trades\"'::regclass, 'timestamp', chunk_time_interval => interval '3600 seconds')"
        );
    }

    #[test]
    fn structured_tables_are_quoted_and_the_body_tag_cannot_be_spelled() {
        let t = parse(
            r#"{"name": "s", "tables": [{"name": "a", "columns": [
                {"name": "id", "type": "uuid", "nullable": false},
                {"name": "note", "type": "text", "default": "'$tenantctl_body$'"}], "primary_key": ["id"]}]}"#,
        )
        .expect("parses");
        let sql = template(&t, "r", "tenant_x", None);
        assert!(sql.contains("CREATE TABLE \"tenant_x\".\"a\" (\"id\" uuid NOT NULL"));
        assert!(sql.contains("CONSTRAINT \"a_pkey\" PRIMARY KEY (\"id\")"));
        assert!(sql.contains("AS $tenantctl_body1$\n"), "{sql}");
    }
}
