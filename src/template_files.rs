//! Template files on disk: `NAME.json` in a template directory, read at the
//! edge (the backend, the CLI, provisioning) and handed to `domain` as text,
//! so the rules never touch the file system.

use std::path::{Path, PathBuf};

use crate::domain::template::{Template, parse};
use crate::error::{Error, Result};

/// Load `NAME.json` from `dir`. The name is checked first, so a path never
/// reaches the file system.
pub fn load(dir: &Path, name: &str) -> Result<Template> {
    let name = crate::domain::tenant::validate_template_name(name)?;
    let path = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            let known = list_names(dir).unwrap_or_default();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            Error::not_found(format!(
                "unknown template \"{name}\": no {} (known: {known})",
                path.display()
            ))
        } else {
            Error::failure(format!("cannot read template {}: {e}", path.display()))
        }
    })?;
    let t = parse(&text).map_err(|e| e.context(&format!("template {}", path.display())))?;
    if t.name != name {
        return Err(Error::invalid(format!(
            "template {}: name: \"{}\" does not match the file name \"{name}\"",
            path.display(),
            t.name
        )));
    }
    Ok(t)
}

/// Validate any template file (for `templates validate FILE`).
pub fn validate_file(path: &Path) -> Result<Template> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::not_found(format!("no template file {}", path.display()))
        } else {
            Error::failure(format!("cannot read {}: {e}", path.display()))
        }
    })?;
    parse(&text).map_err(|e| e.context(&format!("template {}", path.display())))
}

fn template_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        Error::failure(format!(
            "cannot read the template directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn list_names(dir: &Path) -> Result<Vec<String>> {
    Ok(template_files(dir)?
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
        .collect())
}

/// Every template in `dir`, sorted by name; the first invalid one is an error.
pub fn list(dir: &Path) -> Result<Vec<Template>> {
    template_files(dir)?
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
        .map(|n| load(dir, &n))
        .collect()
}
