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
        /// inside a transaction that is rolled back.
        #[arg(long)]
        against: bool,
        #[arg(long)]
        json: bool,
    },
}

impl TemplatesCommand {
    pub fn json(&self) -> bool {
        match self {
            Self::List { json } | Self::Show { json, .. } | Self::Validate { json, .. } => *json,
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
            let probe = if *against {
                let db = crate::db::Db::connect(config).await?;
                Some(
                    crate::db::template_probe::probe(
                        &db,
                        &t,
                        config.provisioning.timescaledb,
                        config.provisioning.creation_timeout.0.as_millis(),
                    )
                    .await?,
                )
            } else {
                None
            };
            if super::output::structured(*json) {
                print_json(&serde_json::json!({ "valid": true, "template": t, "dry_run": probe }));
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
    }
    Ok(0)
}
