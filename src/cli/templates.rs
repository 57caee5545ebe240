//! `templates list | show NAME | validate FILE`: no database needed.

use crate::{out, outln};
use std::path::PathBuf;

use clap::Subcommand;

use super::output::{print_json, table};
use crate::config::Config;
use crate::domain::template::{self, Template};
use crate::error::Result;

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Templates in the template directory.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Tables, indexes and hypertables of one template.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Check a template file (`-` reads stdin) and report its first problem.
    Validate {
        file: PathBuf,
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
    format!(
        "{} v{}: {}\n{}",
        t.name,
        t.version,
        t.description,
        table(&["KIND", "NAME", "DEFINITION"], &rows)
    )
}

pub fn run(config: &Config, cmd: &TemplatesCommand) -> Result<i32> {
    let dir = &config.provisioning.template_dir;
    match cmd {
        TemplatesCommand::List { json } => {
            let all = template::list(dir)?;
            if super::output::structured(*json) {
                print_json(&all);
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|t| {
                        vec![
                            t.name.clone(),
                            t.version.to_string(),
                            t.tables.len().to_string(),
                            t.indexes.len().to_string(),
                            t.timescale_tables.len().to_string(),
                            t.description.clone(),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(
                        &[
                            "NAME",
                            "VERSION",
                            "TABLES",
                            "INDEXES",
                            "HYPERTABLES",
                            "DESCRIPTION"
                        ],
                        &rows
                    )
                );
            }
        }
        TemplatesCommand::Show { name, json } => {
            let t = template::load(dir, name)?;
            if super::output::structured(*json) {
                print_json(&t);
            } else {
                out!("{}", describe(&t));
            }
        }
        TemplatesCommand::Validate { file, json } => {
            let t = if file.as_os_str() == "-" {
                let text = super::output::read_stdin("the template")?;
                template::parse(&text).map_err(|e| e.context("template on stdin"))?
            } else {
                template::validate_file(file)?
            };
            if super::output::structured(*json) {
                print_json(&serde_json::json!({ "valid": true, "template": t }));
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
            }
        }
    }
    Ok(0)
}
