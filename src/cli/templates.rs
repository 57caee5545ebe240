//! `templates list | show NAME | validate FILE [--against]`: no database
//! needed, except for `validate --against` (a dry run on the connected
//! cluster, rolled back).

use std::fmt::Write as _;

use crate::{out, outln};
use std::path::PathBuf;

use clap::Subcommand;

use super::output::{print_json, table};
use crate::config::Config;
use crate::db::provision::render;
use crate::domain::template::{self, Format, Template};
use crate::error::Result;
use crate::template_files::Origin;

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Every template found (--template-dir, the config's template_dir,
    /// $XDG_DATA_HOME/tenantctl/templates, built-in) and where it came from.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Tables, indexes and hypertables of one template, and the SQL it runs.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Check a template file (`-` reads stdin) and report its first problem.
    Validate {
        file: PathBuf,
        /// Also run it on the connected cluster, as a throwaway probe role
        /// inside a transaction that is rolled back; with migrations, prove
        /// that the baseline plus every migration builds the same catalog
        /// as the current body.
        #[arg(long)]
        against: bool,
        #[arg(long)]
        json: bool,
    },
    /// What changes from version V1 to V2: the migration steps, and with
    /// --against the catalog difference built on the connected cluster.
    Diff {
        name: String,
        v1: i32,
        v2: i32,
        /// Build both versions on the connected cluster (rolled back) and
        /// compare their catalogs.
        #[arg(long)]
        against: bool,
        #[arg(long)]
        json: bool,
    },
}

impl TemplatesCommand {
    pub fn json(&self) -> bool {
        match self {
            Self::List { json }
            | Self::Show { json, .. }
            | Self::Validate { json, .. }
            | Self::Diff { json, .. } => *json,
        }
    }
}

fn describe(t: &Template) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for tb in &t.tables {
        let cols: Vec<String> = tb
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.ty))
            .collect();
        let kind = if t.timescale_tables.iter().any(|h| h.name == tb.name) {
            "hypertable"
        } else {
            "table"
        };
        rows.push(vec![kind.into(), tb.name.clone(), cols.join(", ")]);
        if !tb.primary_key.is_empty() {
            rows.push(vec![
                "primary key".into(),
                template::pkey_name(&tb.name),
                tb.primary_key.join(", "),
            ]);
        }
    }
    for ix in &t.indexes {
        rows.push(vec![
            if ix.unique { "unique index" } else { "index" }.into(),
            ix.name.clone(),
            format!("{} ({})", ix.table, ix.columns.join(", ")),
        ]);
    }
    for h in &t.timescale_tables {
        rows.push(vec![
            "chunks".into(),
            h.name.clone(),
            format!(
                "by {} every {}",
                h.time_column,
                crate::domain::units::format_duration(h.chunk_interval)
            ),
        ]);
    }
    for (i, s) in t.statements.iter().enumerate() {
        rows.push(vec!["statement".into(), format!("#{}", i + 1), s.clone()]);
    }
    let mut out = format!(
        "{} v{} ({}): {}\n{}",
        t.name,
        t.version,
        match t.format {
            Format::Sql => "SQL statements",
            Format::Structured => "structured",
        },
        t.description,
        table(&["KIND", "NAME", "DEFINITION"], &rows)
    );
    for w in &t.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = write!(out, "\n{}", sql_text(t));
    out
}

/// The SQL the template runs for a tenant, in order, each statement under its
/// field path. `<schema>` stands for the tenant's schema; every statement
/// runs as the schema's owner with `search_path` set to it.
fn sql_text(t: &Template) -> String {
    let schema = "<schema>";
    let (main, extra) = render::statements(t, schema);
    let mut out =
        String::from("-- The SQL it runs, as the schema's owner with search_path = <schema>:\n");
    for (path, sql) in &main {
        let _ = write!(out, "-- {path}\n{sql};\n");
    }
    for (i, h) in t.timescale_tables.iter().enumerate() {
        let _ = write!(
            out,
            "-- timescale_tables[{i}] (where TimescaleDB is installed; before 2.13: create_hypertable(..., chunk_time_interval => ...))\n{};\n",
            render::create_hypertable(
                "<timescaledb>",
                schema,
                &h.name,
                &h.time_column,
                h.chunk_interval,
                true
            )
        );
    }
    for (path, sql) in &extra {
        let _ = write!(out, "-- {path}\n{sql};\n");
    }
    out
}

fn origin_text(f: &crate::template_files::Found) -> String {
    match (&f.path, f.origin) {
        (_, Origin::BuiltIn) | (None, _) => "built-in".to_string(),
        (Some(p), o) => format!("{} ({o})", p.display()),
    }
}

pub async fn run(config: &Config, cmd: &TemplatesCommand) -> Result<i32> {
    let lookup = &config.provisioning.template_dir;
    match cmd {
        TemplatesCommand::List { json } => {
            let all = crate::template_files::list_found(lookup)?;
            if super::output::structured(*json) {
                print_json(&all);
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|f| {
                        let t = &f.template;
                        vec![
                            t.name.clone(),
                            t.version.to_string(),
                            match t.format {
                                Format::Sql => "sql".into(),
                                Format::Structured => "structured".into(),
                            },
                            t.tables.len().to_string(),
                            t.timescale_tables.len().to_string(),
                            origin_text(f),
                            if f.shadows.is_empty() {
                                String::new()
                            } else {
                                format!("hides {}", f.shadows.join(", "))
                            },
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(
                        &[
                            "NAME",
                            "VERSION",
                            "FORMAT",
                            "TABLES",
                            "HYPERTABLES",
                            "FROM",
                            "NOTE"
                        ],
                        &rows
                    )
                );
            }
        }
        TemplatesCommand::Show { name, json } => {
            let f = crate::template_files::load_found(lookup, name)?;
            if super::output::structured(*json) {
                let (main, extra) = render::statements(&f.template, "<schema>");
                print_json(&serde_json::json!({
                    "template": f.template,
                    "origin": f.origin,
                    "path": f.path,
                    "sql": main.iter().chain(extra.iter())
                        .map(|(p, s)| serde_json::json!({"path": p, "sql": s}))
                        .collect::<Vec<_>>(),
                }));
            } else {
                outln!("from: {}", origin_text(&f));
                out!("{}", describe(&f.template));
            }
        }
        TemplatesCommand::Validate {
            file,
            against,
            json,
        } => {
            let t = if file.as_os_str() == "-" {
                let text = super::output::read_stdin("the template")?;
                template::parse(&text).map_err(|e| e.context("template on stdin"))?
            } else {
                crate::template_files::validate_file(file)?
            };
            let (probe, proof) = if *against {
                let db = crate::db::Db::connect(config).await?;
                let probe = crate::db::template_probe::probe(
                    &db,
                    &t,
                    config.provisioning.timescaledb,
                    config.provisioning.creation_timeout.0.as_millis(),
                )
                .await?;
                let proof = if t.migrations.is_empty() {
                    None
                } else {
                    let v = crate::db::fleet::catalog::versions(
                        &db,
                        &t,
                        config.provisioning.timescaledb,
                    )
                    .await?;
                    crate::db::fleet::catalog::ensure_consistent(&t, &v)?;
                    Some(v.body)
                };
                (Some(probe), proof)
            } else {
                (None, None)
            };
            if super::output::structured(*json) {
                print_json(&serde_json::json!({
                    "valid": true, "template": t, "dry_run": probe,
                    "migrations_rebuild_body": proof.as_ref().map(|_| true),
                }));
            } else {
                outln!(
                    "{} is valid: template {} v{} with {} tables, {} indexes, {} hypertables",
                    if file.as_os_str() == "-" {
                        "stdin".into()
                    } else {
                        file.display().to_string()
                    },
                    t.name,
                    t.version,
                    t.tables.len(),
                    t.indexes.len(),
                    t.timescale_tables.len()
                );
                for w in &t.warnings {
                    outln!("warning: {w}");
                }
                if !t.migrations.is_empty() {
                    if let Some(c) = &proof {
                        outln!(
                            "migrations v{} to v{} rebuild the current body: same {} columns, {} indexes and {} constraints (built on the server, rolled back)",
                            t.baseline_version(),
                            t.version,
                            c.columns.len(),
                            c.indexes.len(),
                            c.constraints.len()
                        );
                    } else {
                        outln!(
                            "{} migrations (v{} to v{}) checked; --against proves on the server that they rebuild the current body",
                            t.migrations.len(),
                            t.baseline_version(),
                            t.version
                        );
                    }
                }
                if let Some(p) = probe {
                    outln!(
                        "dry run on PostgreSQL {}{}: created {} as a probe role, then rolled back",
                        p.server_version,
                        p.timescaledb.as_deref().map_or_else(
                            || " (no TimescaleDB: hypertables as plain tables)".into(),
                            |v| format!(" with TimescaleDB {v}")
                        ),
                        p.tables.join(", ")
                    );
                }
            }
        }
        TemplatesCommand::Diff {
            name,
            v1,
            v2,
            against,
            json,
        } => diff(config, name, *v1, *v2, *against, *json).await?,
    }
    Ok(0)
}

async fn diff(
    config: &Config,
    name: &str,
    v1: i32,
    v2: i32,
    against: bool,
    json: bool,
) -> Result<()> {
    let t = crate::template_files::load(&config.provisioning.template_dir, name)?;
    let (lo, hi) = (v1.min(v2), v1.max(v2));
    t.body_at(lo)?;
    t.body_at(hi)?;
    let steps: Vec<&template::MigrationStep> = t
        .migrations_between(lo, hi)?
        .iter()
        .flat_map(|m| &m.steps)
        .collect();
    let catalog = if against {
        let db = crate::db::Db::connect(config).await?;
        let v =
            crate::db::fleet::catalog::versions(&db, &t, config.provisioning.timescaledb).await?;
        let a = v.by_version.get(&v1).cloned().unwrap_or_default();
        let b = v.by_version.get(&v2).cloned().unwrap_or_default();
        Some(crate::db::fleet::catalog::diff(&a, &b))
    } else {
        None
    };
    if super::output::structured(json) {
        print_json(&serde_json::json!({
            "template": t.name, "from": v1, "to": v2,
            "steps": if v1 <= v2 { steps.clone() } else { Vec::new() },
            "catalog": catalog,
        }));
        return Ok(());
    }
    if v1 > v2 {
        outln!(
            "{} v{v1} to v{v2}: migrations only go forward; the catalog difference is shown backwards",
            t.name
        );
    } else if steps.is_empty() {
        outln!("{} v{v1} and v{v2} are the same version", t.name);
    } else {
        outln!(
            "-- {} v{v1} to v{v2}, as the schema's owner with search_path = <schema>:",
            t.name
        );
        let mut last = 0;
        for m in t.migrations_between(lo, hi)? {
            if m.to != last {
                outln!("-- v{} to v{}: {}", m.to - 1, m.to, m.description);
                last = m.to;
            }
            for st in &m.steps {
                outln!(
                    "{};{}",
                    st.sql,
                    if st.non_transactional {
                        "  -- runs outside a transaction"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    if let Some(c) = catalog {
        outln!("-- catalog, v{v1} to v{v2}:");
        for line in c {
            outln!("{line}");
        }
    }
    Ok(())
}
