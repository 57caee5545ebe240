//! Template files, read at the edge (the backend, the CLI, provisioning)
//! and handed to `domain` as text, so the rules never touch the file system.
//!
//! Where templates come from: a chain of directories — `--template-dir`,
//! the config's `template_dir` (relative to the config file), then
//! `$XDG_DATA_HOME/tenantctl/templates` — and last the templates compiled
//! into the binary, so an installed `tenantctl` creates tenants from any
//! working directory. The first directory holding `NAME.json` wins.
//!
//! A directory named on the command line or in the config must exist; the
//! data-home directory is optional.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::template::{Template, parse_bytes};
use crate::error::{Error, Result};

/// The templates built into the binary: `(name, JSON text)`.
pub const BUILT_IN: &[(&str, &str)] = &[("default", include_str!("../templates/default.json"))];

/// Where a directory of the chain (or a template) came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `--template-dir`.
    Flag,
    /// The config file's `template_dir`.
    Config,
    /// `$XDG_DATA_HOME/tenantctl/templates`.
    DataHome,
    /// Compiled into the binary.
    BuiltIn,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Flag => "--template-dir",
            Self::Config => "config template_dir",
            Self::DataHome => "$XDG_DATA_HOME",
            Self::BuiltIn => "built-in",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Dir {
    path: PathBuf,
    origin: Origin,
}

/// The template search path. In the config file it is written as
/// `template_dir = "PATH"`; [`Lookup::resolve`] completes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lookup {
    dirs: Vec<Dir>,
}

impl<'de> Deserialize<'de> for Lookup {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let path = PathBuf::deserialize(d)?;
        Ok(Self {
            dirs: vec![Dir {
                path,
                origin: Origin::Config,
            }],
        })
    }
}

impl Serialize for Lookup {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.dirs.iter().map(|d| d.path.display().to_string()))
    }
}

/// One directory: `Lookup::from(path)` searches it, then the built-in set.
impl From<PathBuf> for Lookup {
    fn from(path: PathBuf) -> Self {
        Self {
            dirs: vec![Dir {
                path,
                origin: Origin::Flag,
            }],
        }
    }
}

/// A template with where it was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    #[serde(flatten)]
    pub template: Template,
    pub origin: Origin,
    /// The file it was read from; `None` for a built-in template.
    pub path: Option<PathBuf>,
    /// Templates of the same name further down the chain that this one hides.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shadows: Vec<String>,
}

impl Lookup {
    /// Only the built-in templates.
    pub fn built_in() -> Self {
        Self::default()
    }

    /// Complete the search path: the flag's directory first, the config's
    /// (made absolute against the config file's directory), then the data
    /// home's `tenantctl/templates`.
    #[must_use]
    pub fn resolve(
        self,
        flag: Option<&Path>,
        config_file: Option<&Path>,
        data_home: Option<&Path>,
    ) -> Self {
        let mut dirs = Vec::new();
        if let Some(f) = flag {
            dirs.push(Dir {
                path: f.to_path_buf(),
                origin: Origin::Flag,
            });
        }
        for d in self.dirs {
            let path = match (d.origin, config_file.and_then(Path::parent)) {
                (Origin::Config, Some(base)) if d.path.is_relative() => base.join(&d.path),
                _ => d.path,
            };
            dirs.push(Dir { path, ..d });
        }
        if let Some(h) = data_home {
            dirs.push(Dir {
                path: h.join("tenantctl").join("templates"),
                origin: Origin::DataHome,
            });
        }
        Self { dirs }
    }

    /// Directories of the chain, in order, with their origin.
    pub fn dirs(&self) -> impl Iterator<Item = (&Path, Origin)> {
        self.dirs.iter().map(|d| (d.path.as_path(), d.origin))
    }

    /// The directories that exist; a missing one named by the flag or the
    /// config is an error.
    fn existing(&self) -> Result<Vec<&Dir>> {
        let mut out = Vec::new();
        for d in &self.dirs {
            if d.path.is_dir() {
                out.push(d);
            } else if d.origin != Origin::DataHome {
                return Err(Error::not_found(format!(
                    "the template directory {} (from {}) does not exist",
                    d.path.display(),
                    d.origin
                )));
            }
        }
        Ok(out)
    }
}

fn read_file(path: &Path) -> Result<Template> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::failure(format!("cannot read template {}: {e}", path.display())))?;
    parse_bytes(&bytes).map_err(|e| e.context(&format!("template {}", path.display())))
}

fn check_name(t: &Template, name: &str, place: &str) -> Result<()> {
    if t.name != name {
        return Err(Error::invalid(format!(
            "template {place}: name: \"{}\" does not match the file name \"{name}\"",
            t.name
        )));
    }
    Ok(())
}

fn built_in(name: &str) -> Option<Result<Template>> {
    BUILT_IN.iter().find(|(n, _)| *n == name).map(|(_, text)| {
        let t = crate::domain::template::parse(text)
            .map_err(|e| e.context(&format!("built-in template {name}")))?;
        check_name(&t, name, "(built-in)")?;
        Ok(t)
    })
}

/// Load template `name` from the first place of the chain that has it. The
/// name is checked first, so a path never reaches the file system.
pub fn load(lookup: &Lookup, name: &str) -> Result<Template> {
    load_found(lookup, name).map(|f| f.template)
}

/// [`load`], with where the template was found.
pub fn load_found(lookup: &Lookup, name: &str) -> Result<Found> {
    let name = crate::domain::tenant::validate_template_name(name)?;
    for d in lookup.existing()? {
        let path = d.path.join(format!("{name}.json"));
        if path.is_file() {
            let t = read_file(&path)?;
            check_name(&t, &name, &path.display().to_string())?;
            return Ok(Found {
                template: t,
                origin: d.origin,
                path: Some(path),
                shadows: Vec::new(),
            });
        }
    }
    if let Some(t) = built_in(&name) {
        return Ok(Found {
            template: t?,
            origin: Origin::BuiltIn,
            path: None,
            shadows: Vec::new(),
        });
    }
    let known = names(lookup).unwrap_or_default();
    let searched: Vec<String> = lookup
        .dirs
        .iter()
        .map(|d| d.path.display().to_string())
        .chain(std::iter::once("the built-in set".to_string()))
        .collect();
    Err(Error::not_found(format!(
        "unknown template \"{name}\": not in {} (known: {})",
        searched.join(", "),
        known.join(", ")
    )))
}

fn stems(dir: &Path) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        Error::failure(format!(
            "cannot read the template directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut out: Vec<String> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
        .collect();
    out.sort();
    Ok(out)
}

fn names(lookup: &Lookup) -> Result<Vec<String>> {
    let mut all: Vec<String> = BUILT_IN.iter().map(|(n, _)| (*n).to_string()).collect();
    for d in lookup.existing()? {
        all.extend(stems(&d.path)?);
    }
    all.sort();
    all.dedup();
    Ok(all)
}

/// Every template the chain offers, one per name (the first found wins),
/// sorted by name, each with where it came from; the first invalid one is
/// an error.
pub fn list_found(lookup: &Lookup) -> Result<Vec<Found>> {
    let mut by_name: BTreeMap<String, Found> = BTreeMap::new();
    for d in lookup.existing()? {
        for stem in stems(&d.path)? {
            let path = d.path.join(format!("{stem}.json"));
            if let Some(f) = by_name.get_mut(&stem) {
                f.shadows.push(path.display().to_string());
                continue;
            }
            crate::domain::tenant::validate_template_name(&stem)
                .map_err(|e| e.context(&format!("template file {}", path.display())))?;
            let t = read_file(&path)?;
            check_name(&t, &stem, &path.display().to_string())?;
            by_name.insert(
                stem,
                Found {
                    template: t,
                    origin: d.origin,
                    path: Some(path),
                    shadows: Vec::new(),
                },
            );
        }
    }
    for (name, _) in BUILT_IN {
        if let Some(f) = by_name.get_mut(*name) {
            f.shadows.push("built-in".into());
        } else if let Some(t) = built_in(name) {
            by_name.insert(
                (*name).to_string(),
                Found {
                    template: t?,
                    origin: Origin::BuiltIn,
                    path: None,
                    shadows: Vec::new(),
                },
            );
        }
    }
    Ok(by_name.into_values().collect())
}

/// Every template the chain offers (see [`list_found`]).
pub fn list(lookup: &Lookup) -> Result<Vec<Template>> {
    Ok(list_found(lookup)?
        .into_iter()
        .map(|f| f.template)
        .collect())
}

/// Validate any template file (for `templates validate FILE`).
pub fn validate_file(path: &Path) -> Result<Template> {
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::not_found(format!("no template file {}", path.display()))
        } else {
            Error::failure(format!("cannot read {}: {e}", path.display()))
        }
    })?;
    parse_bytes(&bytes).map_err(|e| e.context(&format!("template {}", path.display())))
}
