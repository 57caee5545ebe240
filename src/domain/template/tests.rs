//! Unit tests for template loading and validation: the shipped `default`
//! template, field paths in error messages, the type and default allow-lists,
//! raw statement checks and chunk intervals.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::parse::from_value;
use super::sql::{default_expr, sql_type};
use super::*;

fn shipped_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates")
}

#[test]
fn default_template_loads() {
    let t = crate::template_files::load(&shipped_dir(), "default").expect("default loads");
    assert_eq!(t.version, 1);
    assert_eq!(
        t.table_names(),
        ["portfolios", "positions", "trades", "market_data"]
    );
    assert_eq!(t.indexes.len(), 4);
    let trades = t.table("trades").expect("trades");
    assert_eq!(trades.primary_key, ["id", "timestamp"]);
    let ht: Vec<&str> = t.timescale_tables.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(ht, ["trades", "market_data"]);
    assert!(
        t.timescale_tables
            .iter()
            .all(|h| h.chunk_interval == Duration::from_secs(86_400))
    );
    assert!(
        t.expected_index_names()
            .contains(&"trades_pkey".to_string())
    );
    assert_eq!(
        crate::template_files::list(&shipped_dir())
            .expect("list")
            .len(),
        1
    );
}

fn base() -> Value {
    serde_json::json!({
        "name": "t",
        "tables": [
            {"name": "a", "columns": [{"name": "id", "type": "uuid"}, {"name": "ts", "type": "timestamptz"}], "primary_key": ["id"]},
            {"name": "b", "columns": [{"name": "id", "type": "bigint"}]}
        ]
    })
}

fn problem(v: &Value) -> String {
    from_value(v).expect_err("should be invalid").message
}

#[test]
fn problems_name_their_field_path() {
    let mut v = base();
    v["tables"][1]["columns"][0]["type"] = "evil; drop".into();
    assert!(
        problem(&v).starts_with("tables[1].columns[0].type: "),
        "{}",
        problem(&v)
    );

    let mut v = base();
    v["tables"][0]["columns"][1]["default"] = "now(); DROP TABLE x".into();
    assert!(problem(&v).starts_with("tables[0].columns[1].default: "));

    let mut v = base();
    v["tables"][0]["name"] = "other.x".into();
    assert!(problem(&v).starts_with("tables[0].name: "));

    let mut v = base();
    v["tables"][0]["colums"] = serde_json::json!([]);
    assert!(problem(&v).starts_with("tables[0].colums: unknown field"));

    let mut v = base();
    v["indexes"] = serde_json::json!([{"name": "i", "table": "a", "columns": ["nope"]}]);
    assert!(problem(&v).starts_with("indexes[0].columns[0]: "));

    let mut v = base();
    v["timescale_tables"] =
        serde_json::json!([{"name": "a", "time_column": "ts", "chunk_interval": "1 day"}]);
    assert!(
        problem(&v).contains("primary key"),
        "hypertable PK must include the time column"
    );

    let mut v = base();
    v["version"] = serde_json::json!(0);
    assert!(problem(&v).starts_with("version: "));

    let mut v = base();
    v["name"] = "../etc".into();
    assert!(problem(&v).starts_with("name: "));

    assert!(parse("{").expect_err("bad json").message.contains("line 1"));
}

#[test]
fn types_and_defaults() {
    assert_eq!(sql_type("NUMERIC(18, 8)").expect("ok"), "numeric(18,8)");
    assert_eq!(sql_type("text[]").expect("ok"), "text[]");
    assert!(sql_type("public.evil").is_err());
    assert!(sql_type("int) ; drop table x; --").is_err());
    assert_eq!(default_expr("'{}'::jsonb").expect("ok"), "'{}'::jsonb");
    assert_eq!(default_expr("NOW()").expect("ok"), "now()");
    assert_eq!(default_expr("'it''s'").expect("ok"), "'it''s'");
    assert_eq!(default_expr("-1.5").expect("ok"), "-1.5");
    for bad in [
        "'a' || 'b'",
        "'a'); drop table x; --",
        "set_config('role','postgres',true)",
        "pg_sleep(1)",
        "'x''",
    ] {
        assert!(default_expr(bad).is_err(), "{bad}");
    }
}

#[test]
fn statements_are_single_and_of_allowed_kinds() {
    assert!(check_statement("CREATE VIEW v AS SELECT 1").is_ok());
    assert!(check_statement("insert into a (id) values ('x;y')").is_ok());
    for bad in [
        "RESET ROLE",
        "SET ROLE postgres",
        "SELECT set_config('role', 'postgres', true)",
        "COMMIT",
        "CREATE TABLE a (x int); RESET ROLE",
        "CREATE FUNCTION f() RETURNS int AS $$ select 1 $$ LANGUAGE sql",
        "CREATE TABLE a (x int) -- hi",
        "CREATE TABLE a (x text default E'\\x41')",
        "DO 'begin end'",
        "",
    ] {
        assert!(check_statement(bad).is_err(), "{bad}");
    }
}

#[test]
fn intervals() {
    assert_eq!(parse_interval("1 day"), Ok(Duration::from_secs(86_400)));
    assert_eq!(parse_interval("6h"), Ok(Duration::from_secs(21_600)));
    assert!(parse_interval("0 days").is_err());
    assert!(parse_interval("1 fortnight").is_err());
}
