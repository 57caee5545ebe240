//! The rooms of DESIGN.md §1, checked on the sources: `domain` is pure (no
//! `config`, `db`, `backend`, `tui`, `cli`, no file system, environment or
//! tokio), and `db` never reaches up into `backend`, `tui` or `cli`.
//! Nothing is exempt.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Code without its comments (`//` to the end of the line, outside strings
/// is close enough for our sources: no `//` appears inside a string that
/// also names a module).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every (file, line, forbidden path) in `room`.
fn violations(room: &str, forbidden: &[&str]) -> (usize, Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(room);
    let mut files = Vec::new();
    sources(&dir, &mut files);
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read source");
        // `use crate::{config, db::X}` names its modules inside the braces.
        let body = code(&text);
        for root in ["crate", "std"] {
            let prefix = format!("{root}::");
            for group in groups(&body, root) {
                for bad in forbidden
                    .iter()
                    .filter_map(|b| b.strip_prefix(prefix.as_str()))
                {
                    if group_names(&group).iter().any(|m| m == bad) {
                        found.push(format!(
                            "{}: {root}::{bad} in {root}::{{{group}}}",
                            f.display()
                        ));
                    }
                }
            }
        }
        for (n, line) in body.lines().enumerate() {
            for bad in forbidden {
                if contains_path(line, bad) {
                    found.push(format!("{}:{}: {bad}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    (files.len(), found)
}

/// The text inside each `ROOT::{ ... }` (across lines, nested braces kept).
fn groups(code: &str, root: &str) -> Vec<String> {
    let open = format!("{root}::{{");
    let mut out = Vec::new();
    for (i, _) in code.match_indices(open.as_str()) {
        let rest = &code[i + open.len()..];
        let mut depth = 1;
        for (j, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                out.push(rest[..j].to_string());
                break;
            }
        }
    }
    out
}

/// The first path segment of each top-level item of a use group.
fn group_names(group: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    for c in group.chars().chain(std::iter::once(',')) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                let first = item
                    .trim()
                    .split("::")
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                if !first.is_empty() {
                    names.push(first);
                }
                item.clear();
                continue;
            }
            _ => {}
        }
        // Inside a nested group: not a top-level name.
        if depth == 0 {
            item.push(c);
        }
    }
    names
}

/// Whether `line` names the path `p` (not as part of a longer identifier).
fn contains_path(line: &str, p: &str) -> bool {
    line.match_indices(p).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + p.len()..].chars().next();
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[test]
fn domain_imports_no_io_and_no_outer_room() {
    let (files, found) = violations(
        "domain",
        &[
            "crate::config",
            "crate::db",
            "crate::backend",
            "crate::tui",
            "crate::cli",
            "std::fs",
            "std::env",
            "tokio",
            "tokio_postgres",
        ],
    );
    assert!(files >= 10, "the domain sources were found ({files})");
    assert!(
        found.is_empty(),
        "domain must stay pure:\n{}",
        found.join("\n")
    );
}

#[test]
fn db_does_not_reach_into_backend_tui_or_cli() {
    let (files, found) = violations("db", &["crate::backend", "crate::tui", "crate::cli"]);
    assert!(files >= 10, "the db sources were found ({files})");
    assert!(
        found.is_empty(),
        "db must not import:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_finds_what_it_looks_for() {
    assert!(contains_path(
        "use crate::config::Thresholds;",
        "crate::config"
    ));
    assert!(contains_path(
        "    let x = std::env::var(\"USER\");",
        "std::env"
    ));
    assert!(contains_path("use tokio::sync::mpsc;", "tokio"));
    assert!(!contains_path("use crate::configuration;", "crate::config"));
    assert!(!contains_path("mytokio::spawn()", "tokio"));
    assert_eq!(code("use a; // crate::db here"), "use a; ");
    let g = groups(
        "use crate::{\n    config::Dur,\n    domain::{a, b},\n    db,\n};",
        "crate",
    );
    assert_eq!(g.len(), 1);
    assert_eq!(group_names(&g[0]), ["config", "domain", "db"]);
    assert_eq!(
        group_names(&groups("use std::{env, fs::File};", "std")[0]),
        ["env", "fs"]
    );
}
