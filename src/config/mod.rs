//! Configuration: defaults, then the TOML file, then the environment, then
//! flags. The file is found at `--config`, `$TENANTCTL_CONFIG`, or
//! `$XDG_CONFIG_HOME/tenantctl/config.toml`. Unknown keys are errors.

pub mod conninfo;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::units::{parse_duration, parse_size};
use crate::error::{Error, Result};
pub use conninfo::{ConnParams, Env, ProcessEnv, Secret, SslMode};

pub use crate::domain::units::Dur;

/// A size written as `"10GB"` in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Size(n)),
            Raw::S(s) => parse_size(&s).map(Size).map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// What to do about TimescaleDB hypertables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimescaleMode {
    /// Create hypertables when the extension is installed, else warn on the tenant.
    #[default]
    Auto,
    /// Refuse to create a tenant when the extension is missing.
    Require,
    /// Never create hypertables.
    Off,
}

/// One `[clusters.NAME]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// libpq URL or keyword string; empty means the `PG*` variables alone.
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default = "default_control_schema")]
    pub control_schema: String,
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// PEM file of trusted roots for `verify-ca`/`verify-full` (overrides `sslrootcert`).
    #[serde(default)]
    pub ssl_root_cert: Option<PathBuf>,
}

fn default_control_schema() -> String {
    "tenant_admin".into()
}
fn default_pool_size() -> usize {
    8
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            read_only: false,
            control_schema: default_control_schema(),
            pool_size: default_pool_size(),
            ssl_root_cert: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvisioningConfig {
    /// The template search path: `template_dir = "PATH"` in the file
    /// (relative to the file), completed by [`Config::from_parts`] with
    /// `--template-dir` before it and the data home and built-ins after it.
    pub template_dir: crate::template_files::Lookup,
    pub default_template: String,
    pub creation_timeout: Dur,
    pub timescaledb: TimescaleMode,
    pub backup_dir: PathBuf,
    /// A shared application role granted every tenant role, if the platform uses one.
    pub app_role: Option<String>,
    pub default_connection_limit: i32,
    pub default_statement_timeout: Dur,
    pub default_storage_quota: Option<Size>,
    /// Set on every tenant's login role: an idle transaction is ended past it.
    pub idle_in_transaction_timeout: Dur,
    /// Set on every tenant's login role when the operator may (superuser,
    /// or `GRANT SET ON PARAMETER temp_file_limit`); `None` leaves it unset.
    pub temp_file_limit: Option<Size>,
}

impl Default for ProvisioningConfig {
    fn default() -> Self {
        Self {
            template_dir: crate::template_files::Lookup::default(),
            default_template: "default".into(),
            creation_timeout: Dur(Duration::from_secs(10)),
            timescaledb: TimescaleMode::Auto,
            backup_dir: state_dir().join("backups"),
            app_role: None,
            default_connection_limit: 20,
            default_statement_timeout: Dur(Duration::from_secs(30)),
            default_storage_quota: None,
            idle_in_transaction_timeout: Dur(Duration::from_secs(60)),
            temp_file_limit: Some(Size(1 << 30)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    pub interval: Dur,
    pub history: Dur,
    pub query_timeout: Dur,
    pub exact_sweep_budget: Dur,
    pub exact_sweep_batch: usize,
    pub record_usage: bool,
    /// The limits guard (one console or `tenantctl guard` is elected):
    /// cancels statements past a tenant's timeout, ends idle transactions
    /// past its limit, puts back role settings the tenant changed, and
    /// withholds writes above the storage quota.
    pub guard: bool,
    /// How far past its limit a statement or idle transaction may go before
    /// the guard acts (the server's own timeouts act first when in place).
    pub guard_grace: Dur,
    /// How often the guard measures exact sizes of tenants with a quota.
    pub quota_interval: Dur,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self {
            interval: Dur(Duration::from_secs(2)),
            history: Dur(Duration::from_secs(15 * 60)),
            query_timeout: Dur(Duration::from_secs(2)),
            exact_sweep_budget: Dur(Duration::from_millis(200)),
            exact_sweep_batch: 50,
            record_usage: false,
            guard: true,
            guard_grace: Dur(Duration::from_secs(1)),
            quota_interval: Dur(Duration::from_secs(30)),
        }
    }
}

/// Health and alert thresholds: plain data in `domain`, read from `[thresholds]`.
pub use crate::domain::thresholds::Thresholds;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeName {
    #[default]
    Dark,
    Light,
    Mono,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    pub theme: ThemeName,
    pub mouse: bool,
    pub tick: Dur,
    pub render: Dur,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            theme: ThemeName::Dark,
            mouse: false,
            tick: Dur(Duration::from_millis(250)),
            render: Dur(Duration::from_millis(50)),
        }
    }
}

/// One key or several for an action in `[keys]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum KeySpec {
    One(String),
    Many(Vec<String>),
}

impl KeySpec {
    pub fn keys(&self) -> Vec<&str> {
        match self {
            KeySpec::One(k) => vec![k.as_str()],
            KeySpec::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// The file as written.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub default_cluster: Option<String>,
    pub clusters: BTreeMap<String, ClusterConfig>,
    pub provisioning: ProvisioningConfig,
    pub monitoring: MonitoringConfig,
    pub thresholds: Thresholds,
    pub ui: UiConfig,
    pub keys: BTreeMap<String, KeySpec>,
}

/// Flags that override the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_path: Option<PathBuf>,
    pub cluster: Option<String>,
    pub database_url: Option<String>,
    pub read_only: bool,
    pub no_color: bool,
    pub mouse: bool,
    /// `--template-dir`: searched before every other template directory.
    pub template_dir: Option<PathBuf>,
}

/// The resolved configuration every command works from.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the file came from, if one was read.
    pub source: Option<PathBuf>,
    pub cluster_name: String,
    pub cluster: ClusterConfig,
    /// `--cluster all`: every configured cluster at once (a fleet); then
    /// `cluster_name` is `all` and `cluster` the first of them. See
    /// [`Config::fleet_members`].
    pub fleet: bool,
    /// Every configured cluster, for `:cluster NAME`.
    pub clusters: BTreeMap<String, ClusterConfig>,
    pub provisioning: ProvisioningConfig,
    pub monitoring: MonitoringConfig,
    pub thresholds: Thresholds,
    pub ui: UiConfig,
    pub keys: BTreeMap<String, KeySpec>,
    pub read_only: bool,
    pub no_color: bool,
    pub log_level: Option<String>,
}

/// The `--cluster` name that selects every configured cluster (unless a
/// cluster is itself named `all`).
pub const FLEET: &str = "all";

/// `$XDG_STATE_HOME/tenantctl` (logs, backups).
pub fn state_dir() -> PathBuf {
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("tenantctl")
}

/// Parse config text; errors name the file, the line and the key.
pub fn parse_file(text: &str, path: &Path) -> Result<FileConfig> {
    toml::from_str::<FileConfig>(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let key = e
            .span()
            .map(|s| text.get(s.clone()).unwrap_or("").trim().to_string())
            .filter(|k| !k.is_empty() && k.len() < 60 && !k.contains('\n'));
        let msg = e.message().trim().replace('\n', " ");
        let mut out = format!("invalid config file {}", path.display());
        if let Some(l) = line {
            let _ = write!(out, " at line {l}");
        }
        if let Some(k) = key {
            let _ = write!(out, " (`{k}`)");
        }
        let _ = write!(out, ": {msg}");
        Error::invalid(out)
    })
}

/// The config file these overrides select (`--config`, `TENANTCTL_CONFIG`,
/// else `~/.config/tenantctl/config.toml`), whether or not it exists.
pub fn config_file(ov: &Overrides) -> Option<PathBuf> {
    find_file(ov, &ProcessEnv).map(|(p, _)| p)
}

fn find_file(ov: &Overrides, env: &dyn Env) -> Option<(PathBuf, bool)> {
    if let Some(p) = &ov.config_path {
        return Some((p.clone(), true));
    }
    if let Some(p) = env.var("TENANTCTL_CONFIG") {
        return Some((PathBuf::from(p), true));
    }
    dirs::config_dir().map(|d| (d.join("tenantctl/config.toml"), false))
}

impl Config {
    /// Load from the process environment.
    pub fn load(ov: &Overrides) -> Result<Self> {
        Self::load_with(ov, &ProcessEnv)
    }

    /// Load with an explicit environment (tests).
    pub fn load_with(ov: &Overrides, env: &dyn Env) -> Result<Self> {
        let (file, source) = match find_file(ov, env) {
            Some((path, required)) => match std::fs::read_to_string(&path) {
                Ok(text) => (parse_file(&text, &path)?, Some(path)),
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                    (FileConfig::default(), None)
                }
                Err(e) => {
                    return Err(Error::failure(format!(
                        "cannot read config file {}: {e}",
                        path.display()
                    )));
                }
            },
            None => (FileConfig::default(), None),
        };
        Self::from_parts(file, source, ov, env)
    }

    /// Apply environment and flags over a parsed file.
    pub fn from_parts(
        file: FileConfig,
        source: Option<PathBuf>,
        ov: &Overrides,
        env: &dyn Env,
    ) -> Result<Self> {
        let FileConfig {
            default_cluster,
            clusters,
            mut provisioning,
            monitoring,
            thresholds,
            mut ui,
            keys,
        } = file;
        let wanted = ov.cluster.clone().or(default_cluster);
        let fleet = wanted.as_deref() == Some(FLEET) && !clusters.contains_key(FLEET);
        let (cluster_name, mut cluster) = if fleet {
            let Some(first) = clusters.values().next() else {
                return Err(Error::usage(
                    "--cluster all needs clusters in the config file ([clusters.NAME] sections)",
                ));
            };
            (FLEET.to_string(), first.clone())
        } else if let Some(name) = &wanted {
            let Some(c) = clusters.get(name) else {
                let known: Vec<&str> = clusters.keys().map(String::as_str).collect();
                let known = if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                };
                return Err(Error::not_found(format!(
                    "no cluster named \"{name}\" in the config file (known: {known})"
                )));
            };
            (name.clone(), c.clone())
        } else if let (1, Some((n, c))) = (clusters.len(), clusters.iter().next()) {
            (n.clone(), c.clone())
        } else {
            ("default".to_string(), ClusterConfig::default())
        };
        if fleet && ov.database_url.is_some() {
            return Err(Error::usage(
                "--cluster all and --database-url do not go together: the fleet is the config file's clusters",
            ));
        }
        if let Some(url) = ov.database_url.clone().or_else(|| env.var("DATABASE_URL")) {
            if !fleet && (ov.database_url.is_some() || wanted.is_none()) {
                cluster.url = url;
            }
        }
        if let Some(n) = env.var("DATABASE_POOL_SIZE") {
            cluster.pool_size = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::invalid(format!(
                    "DATABASE_POOL_SIZE=\"{n}\" is not a positive number"
                ))
            })?;
        }
        if let Some(t) = env.var("SCHEMA_CREATION_TIMEOUT") {
            provisioning.creation_timeout =
                Dur(parse_duration(&t).map_err(|e| e.context("SCHEMA_CREATION_TIMEOUT"))?);
        }
        if let Some(v) = env.var("ENABLE_TIMESCALEDB") {
            provisioning.timescaledb = match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "auto" => TimescaleMode::Auto,
                "require" => TimescaleMode::Require,
                "false" | "0" | "no" | "off" => TimescaleMode::Off,
                other => {
                    return Err(Error::invalid(format!(
                        "ENABLE_TIMESCALEDB=\"{other}\" is not true, false or require"
                    )));
                }
            };
        }
        if ov.mouse {
            ui.mouse = true;
        }
        let no_color = ov.no_color || env.var("NO_COLOR").is_some();
        if no_color {
            ui.theme = ThemeName::Mono;
        }
        let data_home = env
            .var("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                env.var("HOME")
                    .map(|h| PathBuf::from(h).join(".local/share"))
            });
        provisioning.template_dir = provisioning.template_dir.resolve(
            ov.template_dir.as_deref(),
            source.as_deref(),
            data_home.as_deref(),
        );
        let log_level = env.var("RUST_LOG").or_else(|| env.var("LOG_LEVEL"));
        // A fleet's members each add their own `read_only` (see `with_cluster`).
        let read_only = ov.read_only || (cluster.read_only && !fleet);
        validate_ident(&cluster.control_schema, "control_schema")?;
        Ok(Config {
            source,
            cluster_name,
            cluster,
            fleet,
            clusters,
            provisioning,
            monitoring,
            thresholds,
            ui,
            keys,
            read_only,
            no_color,
            log_level,
        })
    }

    /// The connection parameters of the selected cluster.
    pub fn conn_params(&self) -> Result<ConnParams> {
        let mut p = conninfo::resolve(&self.cluster.url, &ProcessEnv)?;
        if let Some(root) = &self.cluster.ssl_root_cert {
            p.sslrootcert = Some(root.clone());
        }
        Ok(p)
    }

    /// The same config pointed at another configured cluster.
    pub fn with_cluster(&self, name: &str) -> Result<Self> {
        let c = self.clusters.get(name).ok_or_else(|| {
            Error::not_found(format!("no cluster named \"{name}\" in the config file"))
        })?;
        let mut out = self.clone();
        out.cluster_name = name.to_string();
        out.cluster = c.clone();
        out.fleet = false;
        out.read_only = self.read_only || c.read_only;
        Ok(out)
    }

    /// The clusters this config covers: every configured one, in name order,
    /// under `--cluster all`; else this one alone.
    pub fn fleet_members(&self) -> Result<Vec<Config>> {
        if !self.fleet {
            return Ok(vec![self.clone()]);
        }
        self.clusters.keys().map(|n| self.with_cluster(n)).collect()
    }

    /// Refuse `--cluster all` for a command that works on one cluster.
    pub fn one_cluster(&self, command: &str) -> Result<()> {
        if self.fleet {
            let known: Vec<&str> = self.clusters.keys().map(String::as_str).collect();
            return Err(Error::usage(format!(
                "{command} works on one cluster: name it with --cluster ({}); --cluster all works with list, top and health (the console opens one cluster at a time; :cluster NAME switches)",
                known.join(", ")
            )));
        }
        Ok(())
    }

    /// A config for a given URL with every default (tests, demo).
    pub fn for_url(url: &str) -> Self {
        let ov = Overrides {
            database_url: Some(url.to_string()),
            ..Overrides::default()
        };
        let env: BTreeMap<String, String> = BTreeMap::new();
        let mut c = Self::from_parts(FileConfig::default(), None, &ov, &env)
            .unwrap_or_else(|_| unreachable!("defaults always validate"));
        // Only the built-in templates: tests do not see the user's data home.
        c.provisioning.template_dir = crate::template_files::Lookup::built_in();
        c
    }
}

fn validate_ident(s: &str, what: &str) -> Result<()> {
    if s.is_empty()
        || s.len() > 63
        || !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(Error::invalid(format!(
            "{what} \"{s}\" must be 1-63 lowercase letters, digits or underscores"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn example_file_parses_and_matches_defaults() {
        let text = include_str!("../../config.example.toml");
        let f = parse_file(text, Path::new("config.example.toml")).expect("example parses");
        assert_eq!(f.monitoring, MonitoringConfig::default());
        assert_eq!(f.thresholds, Thresholds::default());
        assert_eq!(f.ui, UiConfig::default());
        assert_eq!(
            f.provisioning.creation_timeout,
            ProvisioningConfig::default().creation_timeout
        );
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = "[monitoring]\ninterval = \"2s\"\nintervall = \"3s\"\n";
        let e = parse_file(text, Path::new("/etc/t.toml")).expect_err("unknown key");
        assert!(e.message.contains("/etc/t.toml"), "{}", e.message);
        assert!(e.message.contains("line 3"), "{}", e.message);
        assert!(e.message.contains("intervall"), "{}", e.message);
        assert!(!e.message.contains('\n'));
    }

    #[test]
    fn bad_value_names_line() {
        let text = "[monitoring]\n\ninterval = \"fast\"\n";
        let e = parse_file(text, Path::new("c.toml")).expect_err("bad duration");
        assert!(e.message.contains("line 3"), "{}", e.message);
        assert!(e.message.contains("invalid duration"), "{}", e.message);
    }

    #[test]
    fn precedence_flags_env_file_defaults() {
        let file = parse_file(
            "default_cluster = \"prod\"\n[clusters.prod]\nurl = \"host=prod\"\npool_size = 3\n[clusters.stage]\nurl = \"host=stage\"\nread_only = true\n[provisioning]\ncreation_timeout = \"20s\"\n",
            Path::new("c.toml"),
        )
        .expect("parses");
        let none = Overrides::default();
        let c = Config::from_parts(file.clone(), None, &none, &env(&[])).expect("ok");
        assert_eq!(c.cluster_name, "prod");
        assert_eq!(c.cluster.pool_size, 3);
        assert_eq!(c.provisioning.creation_timeout.0, Duration::from_secs(20));
        // environment beats the file
        let e = env(&[
            ("DATABASE_POOL_SIZE", "11"),
            ("SCHEMA_CREATION_TIMEOUT", "5"),
            ("DATABASE_URL", "host=env"),
        ]);
        let c = Config::from_parts(file.clone(), None, &none, &e).expect("ok");
        assert_eq!(c.cluster.pool_size, 11);
        assert_eq!(c.provisioning.creation_timeout.0, Duration::from_secs(5));
        assert_eq!(
            c.cluster.url, "host=prod",
            "a named cluster is not replaced by DATABASE_URL"
        );
        // flags beat both
        let ov = Overrides {
            cluster: Some("stage".into()),
            database_url: Some("host=flag".into()),
            ..Overrides::default()
        };
        let c = Config::from_parts(file.clone(), None, &ov, &e).expect("ok");
        assert_eq!(c.cluster_name, "stage");
        assert_eq!(c.cluster.url, "host=flag");
        assert!(c.read_only, "stage is read-only in the file");
        let ov = Overrides {
            cluster: Some("nope".into()),
            ..Overrides::default()
        };
        let err = Config::from_parts(file, None, &ov, &e).expect_err("unknown cluster");
        assert!(err.message.contains("prod, stage"), "{}", err.message);
    }

    #[test]
    fn cluster_all_is_the_fleet() {
        let file = parse_file(
            "[clusters.b]\nurl = \"host=b\"\n[clusters.a]\nurl = \"host=a\"\nread_only = true\n",
            Path::new("c.toml"),
        )
        .expect("parses");
        let ov = Overrides {
            cluster: Some("all".into()),
            ..Overrides::default()
        };
        let c = Config::from_parts(
            file.clone(),
            None,
            &ov,
            &env(&[("DATABASE_URL", "host=env")]),
        )
        .expect("ok");
        assert!(c.fleet);
        assert_eq!(c.cluster_name, "all");
        let m = c.fleet_members().expect("members");
        let names: Vec<&str> = m.iter().map(|c| c.cluster_name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            m[0].cluster.url, "host=a",
            "DATABASE_URL replaces no member"
        );
        assert!(m[0].read_only && !m[1].read_only);
        assert!(m.iter().all(|c| !c.fleet));
        let e = c.one_cluster("create").expect_err("one cluster");
        assert!(e.message.contains("a, b"), "{}", e.message);
        let with_url = Overrides {
            database_url: Some("host=x".into()),
            ..ov.clone()
        };
        assert!(Config::from_parts(file, None, &with_url, &env(&[])).is_err());
        let e = Config::from_parts(FileConfig::default(), None, &ov, &env(&[])).expect_err("none");
        assert!(e.message.contains("[clusters.NAME]"), "{}", e.message);
        // A cluster really named `all` is just that cluster.
        let all_named =
            parse_file("[clusters.all]\nurl = \"host=z\"\n", Path::new("c")).expect("p");
        let c = Config::from_parts(all_named, None, &ov, &env(&[])).expect("ok");
        assert!(!c.fleet);
        assert_eq!(c.cluster.url, "host=z");
    }

    #[test]
    fn database_url_used_without_file() {
        let c = Config::from_parts(
            FileConfig::default(),
            None,
            &Overrides::default(),
            &env(&[("DATABASE_URL", "postgres://x/y")]),
        )
        .expect("ok");
        assert_eq!(c.cluster.url, "postgres://x/y");
    }

    #[test]
    fn legacy_variables() {
        let f = FileConfig::default;
        let c = Config::from_parts(
            f(),
            None,
            &Overrides::default(),
            &env(&[("ENABLE_TIMESCALEDB", "false")]),
        )
        .expect("ok");
        assert_eq!(c.provisioning.timescaledb, TimescaleMode::Off);
        let e = Config::from_parts(
            f(),
            None,
            &Overrides::default(),
            &env(&[("ENABLE_TIMESCALEDB", "perhaps")]),
        )
        .expect_err("bad");
        assert!(e.message.contains("ENABLE_TIMESCALEDB"));
        let e = Config::from_parts(
            f(),
            None,
            &Overrides::default(),
            &env(&[("DATABASE_POOL_SIZE", "0")]),
        )
        .expect_err("bad");
        assert!(e.message.contains("DATABASE_POOL_SIZE"));
        let c = Config::from_parts(
            f(),
            None,
            &Overrides::default(),
            &env(&[("NO_COLOR", "1"), ("LOG_LEVEL", "debug")]),
        )
        .expect("ok");
        assert!(c.no_color);
        assert_eq!(c.ui.theme, ThemeName::Mono);
        assert_eq!(c.log_level.as_deref(), Some("debug"));
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let ov = Overrides {
            config_path: Some("/nonexistent/tenantctl.toml".into()),
            ..Overrides::default()
        };
        let e = Config::load_with(&ov, &env(&[])).expect_err("missing");
        assert!(e.message.contains("/nonexistent/tenantctl.toml"));
    }

    #[test]
    fn control_schema_must_be_an_identifier() {
        let file = parse_file(
            "[clusters.a]\ncontrol_schema = \"x; drop\"\n",
            Path::new("c"),
        )
        .expect("parses");
        let e = Config::from_parts(file, None, &Overrides::default(), &env(&[])).expect_err("bad");
        assert!(e.message.contains("control_schema"));
    }
}
