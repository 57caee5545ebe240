//! Unit tests for template loading and validation: the shipped `default`
//! template, field paths in error messages, the type and default allow-lists,
//! raw statement checks and chunk intervals.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::sql::{default_expr, sql_type};
use super::*;
use crate::template_files::{Lookup, list, load, validate_file};

fn shipped_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates")
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn default_template_is_the_platform_schema() {
    // The shipped file and the built-in copy are the same template.
    let t = load(&Lookup::from(shipped_dir()), "default").expect("default loads");
    let built = load(&Lookup::built_in(), "default").expect("built-in default");
    assert_eq!(t, built);
    assert_eq!(t.format, Format::Sql);
    assert_eq!(
        t.table_names(),
        ["portfolios", "positions", "trades", "market_data"]
    );
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    let cols = |table: &str| -> Vec<(String, String)> {
        t.table(table)
            .expect("table")
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect()
    };
    let pf = cols("portfolios");
    assert!(pf.contains(&("user_id".into(), "uuid".into())));
    assert!(pf.contains(&("is_active".into(), "boolean".into())));
    let pos = cols("positions");
    assert!(pos.contains(&("avg_price".into(), "decimal(20,8)".into())));
    assert!(pos.contains(&("current_price".into(), "decimal(20,8)".into())));
    assert!(cols("trades").contains(&("created_at".into(), "timestamptz".into())));
    assert!(cols("market_data").contains(&("volume".into(), "bigint".into())));
    let trades = t.table("trades").expect("trades");
    assert_eq!(trades.primary_key, ["id", "timestamp"]);
    assert!(t.description.contains("primary key is (id, timestamp)"));
    let ht: Vec<&str> = t.timescale_tables.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(ht, ["trades", "market_data"]);
    assert!(
        t.timescale_tables
            .iter()
            .all(|h| h.chunk_interval == Duration::from_secs(86_400))
    );
    let expected = t.expected_index_names();
    for ix in [
        "portfolios_pkey",
        "trades_pkey",
        "idx_portfolios_user_id",
        "idx_market_data_symbol_timestamp",
    ] {
        assert!(expected.contains(&ix.to_string()), "{ix}: {expected:?}");
    }
    assert_eq!(list(&Lookup::from(shipped_dir())).expect("list").len(), 1);
}

#[test]
fn the_original_default_json_differs_from_ours_only_in_trades_key() {
    let orig = validate_file(&fixture("original/default.json")).expect("original loads");
    let ours = load(&Lookup::built_in(), "default").expect("default");
    assert_eq!(orig.format, Format::Sql);
    for (a, b) in orig.tables.iter().zip(&ours.tables) {
        assert_eq!(a.name, b.name);
        let names = |t: &Table| -> Vec<(String, String)> {
            t.columns
                .iter()
                .map(|c| (c.name.clone(), c.ty.clone()))
                .collect()
        };
        assert_eq!(names(a), names(b), "columns of {}", a.name);
    }
    assert_eq!(orig.table("trades").expect("t").primary_key, ["id"]);
    // The original cannot make trades a hypertable: said, not refused.
    assert_eq!(orig.warnings.len(), 1, "{:?}", orig.warnings);
    assert!(
        orig.warnings[0].starts_with("timescale_tables[0].time_column: "),
        "{}",
        orig.warnings[0]
    );
    assert_eq!(orig.indexes.len(), 4);
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
    assert!(
        problem(&v).starts_with("tables[0].colums: unknown field"),
        "{}",
        problem(&v)
    );

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
    for ok in [
        "CREATE VIEW v AS SELECT 1",
        "CREATE TABLE a (x int);",
        "CREATE UNIQUE INDEX i ON a (x)",
        "CREATE SEQUENCE s",
        "COMMENT ON TABLE a IS 'the a''s'",
        "COMMENT ON COLUMN a.x IS 'x'",
        "ALTER TABLE a ADD COLUMN y text",
        "CREATE TABLE b (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), a_id int REFERENCES a(x) ON DELETE CASCADE, CHECK (a_id > 0))",
        "CREATE VIEW w AS SELECT a.x FROM a JOIN b ON b.a_id = a.x",
    ] {
        assert!(
            check_statement(ok).is_ok(),
            "{ok}: {:?}",
            check_statement(ok)
        );
    }
    for (bad, why) in [
        ("RESET ROLE", "allowed"),
        ("SET ROLE postgres", "allowed"),
        ("SELECT set_config('role', 'postgres', true)", "allowed"),
        ("COMMIT", "allowed"),
        ("CREATE TABLE a (x int); RESET ROLE", "one statement"),
        (
            "CREATE TABLE a (x int); CREATE TABLE b (y int)",
            "one statement",
        ),
        (
            "CREATE FUNCTION f() RETURNS int AS $$ select 1 $$ LANGUAGE sql",
            "dollar",
        ),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'select 1'",
            "allowed",
        ),
        (
            "CREATE TABLE a (x text default E'\\x41'); DROP TABLE a",
            "one statement",
        ),
        ("DO 'begin end'", "allowed"),
        ("COPY a FROM PROGRAM 'id'", "allowed"),
        ("COPY a TO PROGRAM 'id'", "allowed"),
        ("CREATE TABLE public.a (x int)", "another schema"),
        ("CREATE TABLE other_tenant.a (x int)", "another schema"),
        ("CREATE TABLE pg_temp.a (x int)", "another schema"),
        ("CREATE TEMP TABLE a (x int)", "temporary"),
        ("CREATE INDEX i ON public.a (x)", "another schema"),
        (
            "CREATE VIEW v AS SELECT * FROM other.trades",
            "another schema",
        ),
        (
            "CREATE VIEW v AS SELECT pg_catalog.set_config('role', 'x', true)",
            "schema-qualified",
        ),
        (
            "CREATE TABLE b (x int REFERENCES other.a(x))",
            "another schema",
        ),
        ("ALTER TABLE a OWNER TO postgres", "ALTER TABLE may"),
        ("ALTER TABLE other.a ADD COLUMN y int", "another schema"),
        ("CREATE TABLE a (x int) INHERITS (other.b)", "INHERITS"),
        ("CREATE TABLE a AS SELECT 1 AS x", "AS"),
        ("CREATE MATERIALIZED VIEW v AS SELECT 1", "MATERIALIZED"),
        ("COMMENT ON FUNCTION f() IS 'x'", "allowed"),
        (
            "COMMENT ON SCHEMA public IS 'x'",
            "COMMENT ON is allowed for",
        ),
        ("GRANT ALL ON a TO PUBLIC", "allowed"),
        ("DROP SCHEMA public CASCADE", "allowed"),
        ("INSERT INTO a (x) VALUES (1)", "allowed"),
        ("CREATE INDEX CONCURRENTLY i ON a (x)", "CONCURRENTLY"),
        ("CREATE TABLE \u{1b}[2Ja (x int)", "control"),
        ("", "empty"),
    ] {
        let e = check_statement(bad).expect_err(bad);
        assert!(e.contains(why), "{bad}: {e}");
    }
}

#[test]
fn sql_string_templates_refuse_with_their_field_path() {
    let sql = |tables: Value, extra: Value| -> Value {
        let mut v = serde_json::json!({"name": "t", "tables": tables});
        if let Value::Object(m) = extra {
            for (k, x) in m {
                v[k] = x;
            }
        }
        v
    };
    let ok = serde_json::json!(["CREATE TABLE a (id uuid PRIMARY KEY, ts timestamptz NOT NULL)"]);
    let t = from_value(&sql(ok.clone(), serde_json::json!({}))).expect("ok");
    assert_eq!(t.sql[0].path, "tables[0]");

    let v = sql(
        serde_json::json!(["CREATE TABLE a (x int)", "SET ROLE postgres"]),
        serde_json::json!({}),
    );
    assert!(problem(&v).starts_with("tables[1]: "), "{}", problem(&v));
    let v = sql(
        ok.clone(),
        serde_json::json!({"indexes": ["CREATE INDEX i ON public.a (id)"]}),
    );
    assert!(problem(&v).starts_with("indexes[0]: "), "{}", problem(&v));
    let v = sql(
        ok.clone(),
        serde_json::json!({"statements": ["DO 'begin end'"]}),
    );
    assert!(
        problem(&v).starts_with("statements[0]: "),
        "{}",
        problem(&v)
    );
    // Mixed formats are refused.
    let v = sql(
        serde_json::json!(["CREATE TABLE a (x int)", {"name": "b", "columns": [{"name": "x", "type": "int"}]}]),
        serde_json::json!({}),
    );
    assert!(
        problem(&v).starts_with("tables[1]: expected a SQL string"),
        "{}",
        problem(&v)
    );
    let v = sql(
        ok.clone(),
        serde_json::json!({"indexes": [{"name": "i", "table": "a", "columns": ["id"]}]}),
    );
    assert!(
        problem(&v).starts_with("indexes[0]: expected a SQL string"),
        "{}",
        problem(&v)
    );
    // Hypertables: missing time column, bad interval, unknown table.
    let ht = |h: Value| sql(ok.clone(), serde_json::json!({"timescale_tables": [h]}));
    let v = ht(serde_json::json!({"name": "a", "time_column": "nope"}));
    assert!(
        problem(&v).starts_with("timescale_tables[0].time_column: "),
        "{}",
        problem(&v)
    );
    let v = ht(serde_json::json!({"name": "a", "time_column": "ts", "chunk_interval": "one day"}));
    assert!(
        problem(&v).starts_with("timescale_tables[0].chunk_interval: "),
        "{}",
        problem(&v)
    );
    let v = ht(serde_json::json!({"name": "zz", "time_column": "ts"}));
    assert!(
        problem(&v).starts_with("timescale_tables[0].name: "),
        "{}",
        problem(&v)
    );
    let v = ht(serde_json::json!({"name": "a", "time_column": "id"}));
    assert!(
        problem(&v).contains("must be a timestamp"),
        "{}",
        problem(&v)
    );
    // A key without the time column: a warning for SQL strings.
    let t = from_value(&ht(serde_json::json!({"name": "a", "time_column": "ts"}))).expect("loads");
    assert_eq!(t.warnings.len(), 1);
    assert!(t.warnings[0].contains("(id)"), "{}", t.warnings[0]);
    // ... also from a unique index in `indexes`.
    let v = sql(
        serde_json::json!(["CREATE TABLE a (id uuid, ts timestamptz NOT NULL)"]),
        serde_json::json!({"indexes": ["CREATE UNIQUE INDEX a_id ON a (id)"], "timescale_tables": [{"name": "a", "time_column": "ts"}]}),
    );
    let t = from_value(&v).expect("loads");
    assert!(t.warnings[0].contains("indexes[0]"), "{:?}", t.warnings);
    // Twice the same table.
    let v = sql(
        serde_json::json!([
            "CREATE TABLE a (x int)",
            "CREATE TABLE IF NOT EXISTS A (y int)"
        ]),
        serde_json::json!({}),
    );
    assert!(problem(&v).starts_with("tables[1]: "), "{}", problem(&v));
}

#[test]
fn documents_refused_with_their_path() {
    // Duplicate keys: serde refuses the second, where it is.
    let e = parse(r#"{"name": "t", "name": "u", "tables": []}"#).expect_err("dup");
    assert!(e.message.contains("duplicate field `name`"), "{e}");
    let e = parse(
        r#"{"name": "t", "tables": [{"name": "a", "columns": [{"name": "x", "type": "int", "type": "text"}]}]}"#,
    )
    .expect_err("dup");
    assert!(e.message.starts_with("tables[0].columns[0]"), "{e}");
    assert!(e.message.contains("duplicate field `type`"), "{e}");
    let e = parse(
        r#"{"name": "t", "tables": ["CREATE TABLE a (x int)"], "timescale_tables": [{"name": "a", "time_column": "x", "time_column": "x"}]}"#,
    )
    .expect_err("dup");
    assert!(e.message.starts_with("timescale_tables[0]"), "{e}");
    // Unknown keys, wrong types.
    let e = parse(r#"{"name": "t", "tabels": []}"#).expect_err("unknown");
    assert!(e.message.contains("unknown field `tabels`"), "{e}");
    let e = parse(r#"{"name": "t", "tables": [42]}"#).expect_err("type");
    assert!(e.message.starts_with("tables[0]: "), "{e}");
    let e = parse(r#"{"name": "t", "tables": ["CREATE TABLE a (x int)"]} trailing"#)
        .expect_err("trailing");
    assert!(e.message.contains("not valid JSON"), "{e}");
    // Not UTF-8.
    let e = parse_bytes(b"{\"name\": \"t\xff\"}").expect_err("utf8");
    assert!(e.message.starts_with("not UTF-8"), "{e}");
}

#[test]
fn intervals() {
    assert_eq!(parse_interval("1 day"), Ok(Duration::from_secs(86_400)));
    assert_eq!(parse_interval("6h"), Ok(Duration::from_secs(21_600)));
    assert!(parse_interval("0 days").is_err());
    assert!(parse_interval("1 fortnight").is_err());
}

fn example() -> Template {
    validate_file(&shipped_dir().join("examples/default-migrations.json")).expect("example loads")
}

#[test]
fn the_example_is_the_default_template_at_version_3_with_its_history() {
    let t = example();
    assert_eq!(
        (t.name.as_str(), t.version, t.baseline_version()),
        ("default", 3, 1)
    );
    let base = t.baseline.as_deref().expect("baseline");
    let default = load(&Lookup::built_in(), "default").expect("default");
    assert_eq!(base.sql, default.sql, "the baseline is the default body");
    assert_eq!(
        t.migrations.iter().map(|m| m.to).collect::<Vec<_>>(),
        [2, 3]
    );
    let cic = &t.migrations[0].steps[1];
    assert!(cic.non_transactional && cic.index.as_deref() == Some("idx_positions_symbol"));
    assert_eq!(t.migrations_between(1, 3).expect("1..3").len(), 2);
    assert_eq!(t.migrations_between(2, 3).expect("2..3")[0].to, 3);
    assert!(t.migrations_between(3, 3).expect("none").is_empty());
    let e = t.migrations_between(1, 4).expect_err("beyond");
    assert!(e.message.contains("no version 4"), "{}", e.message);
    let (body, steps) = t.body_at(2).expect("v2");
    assert_eq!((body.version, steps.len()), (1, 1));
    let (body, steps) = t.body_at(3).expect("v3");
    assert!(std::ptr::eq(body, &raw const t) && steps.is_empty());
    for v in [0, 4] {
        let e = t.body_at(v).expect_err("no such version");
        assert!(
            e.message.contains("its versions are 1 to 3"),
            "{}",
            e.message
        );
    }
}

#[test]
fn a_squashed_template_starts_at_its_baseline() {
    let t = with_migrations(|v| {
        v["baseline"]["version"] = 2.into();
        if let Some(m) = v["migrations"].as_array_mut() {
            m.remove(0);
        }
    })
    .expect("a template squashed to version 2");
    assert_eq!(t.baseline_version(), 2);
    let e = t.body_at(1).expect_err("before the baseline");
    assert!(
        e.message.contains("its versions are 2 to 3"),
        "{}",
        e.message
    );
    let (body, steps) = t.body_at(2).expect("the baseline");
    assert_eq!((body.version, steps.len()), (2, 0));
}

#[test]
fn bytes_that_are_not_utf8_name_their_line() {
    let mut bytes = b"{\n  \"name\": \"x\",\n  \"description\": \"".to_vec();
    bytes.push(0xff);
    let e = parse_bytes(&bytes).expect_err("not UTF-8");
    assert!(e.message.contains("line 3)"), "{}", e.message);
}

fn with_migrations(edit: impl FnOnce(&mut Value)) -> Result<Template> {
    let text = include_str!("../../../templates/examples/default-migrations.json");
    let mut v: Value = serde_json::from_str(text).expect("json");
    edit(&mut v);
    from_value(&v)
}

#[test]
#[allow(clippy::type_complexity, reason = "a table of edits")]
fn malformed_migration_lists_are_refused_with_their_field_path() {
    let cases: Vec<(Box<dyn FnOnce(&mut Value)>, &str)> = vec![
        (
            Box::new(|v| v["migrations"][1]["to"] = 4.into()),
            "migrations[1].to: expected 3, found 4",
        ),
        (
            Box::new(|v| v["version"] = 4.into()),
            "version: 4: the baseline is version 1 and there are 2 migrations",
        ),
        (
            Box::new(|v| {
                v["migrations"][0]["steps"][0] =
                    "ALTER TABLE public.trades ADD COLUMN x int".into();
            }),
            "migrations[0].steps[0]: \"public.trades\" names another schema",
        ),
        (
            Box::new(|v| {
                v["migrations"][1]["steps"][1] = "UPDATE other.positions SET x = 1".into();
            }),
            "migrations[1].steps[1]: \"other.positions\" names another schema",
        ),
        (
            Box::new(|v| v["migrations"][0]["steps"][1] = "GRANT ALL ON trades TO PUBLIC".into()),
            "migrations[0].steps[1]: a migration step may be",
        ),
        (
            Box::new(|v| v["migrations"][0]["steps"] = Value::Array(vec![])),
            "migrations[0].steps: a migration needs at least one step",
        ),
        (
            Box::new(|v| {
                v.as_object_mut().expect("object").remove("baseline");
            }),
            "baseline: a template with migrations needs its baseline body",
        ),
        (
            Box::new(|v| v["baseline"]["tables"][0] = "DROP TABLE x".into()),
            "baseline.tables[0]: only CREATE TABLE",
        ),
        (
            Box::new(|v| v["migrations"][0]["bogus"] = 1.into()),
            "migrations[0].bogus: unknown field `bogus`",
        ),
    ];
    for (edit, want) in cases {
        let e = with_migrations(edit).expect_err(want);
        assert!(
            e.message.starts_with(want),
            "want {want}\n got {}",
            e.message
        );
    }
}

#[test]
fn a_concurrent_index_runs_plainly_inside_a_transaction() {
    let t = example();
    let cic = &t.migrations[0].steps[1];
    assert!(cic.sql.contains("CONCURRENTLY"), "{}", cic.sql);
    let plain = cic.transactional_sql();
    assert!(
        plain.starts_with("CREATE INDEX") && !plain.contains("CONCURRENTLY"),
        "{plain}"
    );
    let alter = &t.migrations[0].steps[0];
    assert_eq!(alter.transactional_sql(), alter.sql);
}

#[test]
fn drop_of_a_temporary_or_another_tables_object_is_refused() {
    for sql in ["DROP TEMPORARY TABLE x", "DROP INDEX i ON t"] {
        match super::migration::check_step(sql) {
            Err(e) => assert!(e.contains("own objects") || e.contains("not"), "{sql}: {e}"),
            Ok(_) => panic!("{sql} was accepted"),
        }
    }
    assert!(super::migration::check_step("DROP TABLE x").is_ok());
}

#[test]
fn json_errors_say_where_once_and_what_an_entry_may_be() {
    // Syntax: the position once, in our words.
    let e = parse("{\"name\": \"x\",\n  \"tables\": [}").expect_err("syntax");
    assert!(
        e.message.starts_with("not valid JSON at line 2 column"),
        "{}",
        e.message
    );
    assert_eq!(e.message.matches(" at line ").count(), 1, "{}", e.message);
    // Cut short: also a position.
    let e = parse("{\"name\": \"x\", \"tables\": [").expect_err("eof");
    assert!(
        e.message.starts_with("not valid JSON at line 1 column"),
        "{}",
        e.message
    );
    // A table entry that is neither a statement nor an object.
    let e = parse(r#"{"name": "x", "tables": [42]}"#).expect_err("a number");
    assert!(
        e.message
            .contains("a SQL statement (a string) or an object"),
        "{}",
        e.message
    );
    assert!(!e.message.contains(" at line "), "{}", e.message);
}

#[test]
fn a_structured_name_may_start_with_an_underscore_but_not_a_digit() {
    let t = |name: &str| {
        parse(&format!(
            r#"{{"name": "s", "tables": [{{"name": "{name}", "columns": [{{"name": "id", "type": "bigint"}}]}}]}}"#
        ))
    };
    assert!(t("_audit").is_ok());
    let e = t("1abc").expect_err("a digit first");
    assert!(
        e.message.contains("not a plain identifier"),
        "{}",
        e.message
    );
    assert!(t("Abc").is_err());
}

#[test]
fn type_arguments_defaults_and_intervals_at_their_edges() {
    assert_eq!(sql_type("numeric(20,8)").expect("two"), "numeric(20,8)");
    assert_eq!(sql_type("varchar(255)").expect("one"), "varchar(255)");
    assert_eq!(
        sql_type("numeric(1000)").expect("four digits"),
        "numeric(1000)"
    );
    for bad in [
        "numeric(1,2,3)",
        "numeric(10000)",
        "numeric()",
        "numeric(a)",
        "numeric(1,)",
    ] {
        assert!(sql_type(bad).is_err(), "{bad}");
    }
    // A `::` inside a string is not a cast; one after it is.
    assert!(default_expr("'a::b'").is_ok());
    assert!(default_expr("'a'::text").is_ok());
    assert!(default_expr("'a'::no such type").is_err());
    assert_eq!(parse_interval("30m"), Ok(Duration::from_secs(1_800)));
    assert_eq!(
        parse_interval("2 weeks"),
        Ok(Duration::from_secs(1_209_600))
    );
    assert_eq!(
        parse_interval("10000 minutes"),
        Ok(Duration::from_secs(600_000))
    );
    assert!(parse_interval("10001 minutes").is_err());
}

/// A structured template with `tables`, `indexes` and `timescale_tables`.
fn structured(tables: &Value, indexes: &Value, hypertables: &Value) -> Result<Template> {
    parse(
        &serde_json::json!({
            "name": "s", "tables": tables, "indexes": indexes, "timescale_tables": hypertables
        })
        .to_string(),
    )
}

fn table(name: &str, pk: &[&str]) -> Value {
    serde_json::json!({"name": name, "columns": [
        {"name": "id", "type": "bigint", "nullable": false},
        {"name": "at", "type": "timestamptz", "nullable": false},
        {"name": "n", "type": "text"}
    ], "primary_key": pk})
}

#[test]
fn structured_indexes_name_their_own_table_and_a_free_name() {
    let tables = serde_json::json!([table("a", &["id"]), table("b", &["id"])]);
    let ix = |name: &str, table: &str, cols: &[&str]| serde_json::json!({"name": name, "table": table, "columns": cols});
    assert!(
        structured(
            &tables,
            &serde_json::json!([ix("b_n", "b", &["n"])]),
            &serde_json::json!([])
        )
        .is_ok()
    );
    for (indexes, path, words) in [
        (
            serde_json::json!([ix("x", "a", &["n"]), ix("x", "b", &["n"])]),
            "indexes[1].name",
            "already used",
        ),
        (
            serde_json::json!([ix("b", "a", &["n"])]),
            "indexes[0].name",
            "already used",
        ),
        (
            serde_json::json!([ix("a_pkey", "b", &["n"])]),
            "indexes[0].name",
            "already used",
        ),
        (
            serde_json::json!([ix("x", "c", &["n"])]),
            "indexes[0].table",
            "no table",
        ),
        (
            serde_json::json!([ix("x", "a", &[])]),
            "indexes[0].columns",
            "needs a column",
        ),
    ] {
        let e = structured(&tables, &indexes, &serde_json::json!([])).expect_err(path);
        assert!(
            e.message.contains(path) && e.message.contains(words),
            "{path}: {}",
            e.message
        );
    }
}

#[test]
fn a_hypertables_unique_keys_must_hold_its_time_column() {
    let hyper = serde_json::json!([{"name": "m", "time_column": "at"}]);
    let with = |pk: &[&str], indexes: Value| {
        structured(
            &serde_json::json!([table("m", pk), table("other", &["id"])]),
            &indexes,
            &hyper,
        )
    };
    assert!(with(&["id", "at"], serde_json::json!([])).is_ok());
    assert!(
        with(&[], serde_json::json!([])).is_ok(),
        "no primary key, nothing to include"
    );
    let e = with(&["id"], serde_json::json!([])).expect_err("pk without the time column");
    assert!(
        e.message
            .contains("primary key of \"m\" must include \"at\""),
        "{}",
        e.message
    );
    let unique = |table: &str, cols: &[&str]| serde_json::json!([{"name": "u", "table": table, "columns": cols, "unique": true}]);
    let e = with(&[], unique("m", &["n"])).expect_err("a unique index without it");
    assert!(
        e.message.contains("unique index \"u\" must include \"at\""),
        "{}",
        e.message
    );
    assert!(with(&[], unique("m", &["n", "at"])).is_ok());
    assert!(
        with(&[], unique("other", &["n"])).is_ok(),
        "another table's index"
    );
    let plain = serde_json::json!([{"name": "p", "table": "m", "columns": ["n"]}]);
    assert!(with(&[], plain).is_ok(), "a plain index need not");
}

#[test]
fn structured_references_and_keys_name_what_exists() {
    let refs = |r: Value| {
        serde_json::json!([table("a", &["id"]), {"name": "b", "columns": [
            {"name": "id", "type": "bigint"},
            {"name": "r", "type": "bigint", "references": r}
        ], "primary_key": ["id"]}])
    };
    let none = serde_json::json!([]);
    assert!(
        structured(
            &refs(serde_json::json!({"table": "a", "column": "id"})),
            &none,
            &none
        )
        .is_ok()
    );
    assert!(
        structured(
            &refs(serde_json::json!({"table": "b", "column": "id"})),
            &none,
            &none
        )
        .is_ok(),
        "a table may reference itself"
    );
    for (r, path, words) in [
        (
            serde_json::json!({"table": "a", "column": "zz"}),
            "references.column",
            "has no column",
        ),
        (
            serde_json::json!({"table": "c", "column": "id"}),
            "references.table",
            "no table",
        ),
        (
            serde_json::json!({"table": "a", "column": "id", "on_delete": "explode"}),
            "references.on_delete",
            "use cascade",
        ),
    ] {
        let e = structured(&refs(r), &none, &none).expect_err(path);
        assert!(
            e.message.contains(path) && e.message.contains(words),
            "{path}: {}",
            e.message
        );
    }
    let e = structured(
        &serde_json::json!([table("a", &["id", "zz"])]),
        &none,
        &none,
    )
    .expect_err("pk");
    assert!(
        e.message.contains("tables[0].primary_key[1]") && e.message.contains("no column \"zz\""),
        "{}",
        e.message
    );
}

/// A SQL-string template of `tables`.
fn sql_tables(tables: &[&str]) -> Result<Template> {
    parse(&serde_json::json!({"name": "q", "tables": tables}).to_string())
}

#[test]
fn sql_tables_take_every_allowed_constraint_and_keep_names_home() {
    sql_tables(&[
        "CREATE TABLE a (id bigint PRIMARY KEY, code text UNIQUE NULL CHECK (length(code) < 9), \
         twice bigint GENERATED ALWAYS AS (id * 2) STORED)",
        "CREATE TABLE b (id bigint GENERATED ALWAYS AS IDENTITY, a_id bigint, k text, \
         CONSTRAINT b_k UNIQUE (k), FOREIGN KEY (a_id) REFERENCES a (id), CHECK (a_id > 0))",
    ])
    .expect("every allowed column option and table constraint");
    for (sql, words) in [
        (
            "CREATE TABLE c (id bigint, a_id bigint, FOREIGN KEY (a_id) REFERENCES public.a (id))",
            "names another schema",
        ),
        (
            "CREATE TABLE c (id bigint CHECK (public.a.id > 0))",
            "names another schema",
        ),
        (
            "CREATE TABLE c (id bigint DEFAULT public.nextval('s'))",
            "schema-qualified",
        ),
    ] {
        let e = sql_tables(&[sql]).expect_err(sql);
        assert!(e.message.contains(words), "{sql}: {}", e.message);
    }
    // A table-qualified column is the table's own.
    sql_tables(&["CREATE TABLE c (id bigint, CHECK (c.id > 0))"]).expect("two parts stay home");
}
