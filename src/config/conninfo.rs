//! libpq-compatible connection parameters: URL or keyword string, services
//! from pg_service.conf, the `PG*` environment variables, `~/.pgpass` per
//! host, and every `sslmode`. Errors never repeat the connection string's
//! text (it may hold a password).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use percent_encoding::percent_decode_str;

use crate::error::{Error, Result};

/// A password that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The plain text; call only where the value is handed to the driver.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Allow,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => {
                return Err(Error::invalid(
                    "invalid sslmode: use disable, allow, prefer, require, verify-ca or verify-full",
                ));
            }
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// libpq's `target_session_attrs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetSessionAttrs {
    #[default]
    Any,
    /// `SHOW transaction_read_only` is off.
    ReadWrite,
    /// `SHOW transaction_read_only` is on.
    ReadOnly,
    /// `pg_is_in_recovery()` is false.
    Primary,
    /// `pg_is_in_recovery()` is true.
    Standby,
    /// A standby if any answers, else any server.
    PreferStandby,
}

impl TargetSessionAttrs {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::ReadWrite => "read-write",
            Self::ReadOnly => "read-only",
            Self::Primary => "primary",
            Self::Standby => "standby",
            Self::PreferStandby => "prefer-standby",
        }
    }
}

/// libpq's `channel_binding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelBinding {
    Disable,
    #[default]
    Prefer,
    Require,
}

/// Everything needed to open a connection, resolved from a conninfo string,
/// a service file, the environment and `.pgpass`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnParams {
    /// Host names, IP addresses, or Unix socket directories (starting with `/`).
    pub hosts: Vec<String>,
    /// `hostaddr` per host (numeric addresses), or empty.
    pub hostaddrs: Vec<String>,
    pub ports: Vec<u16>,
    pub user: String,
    pub dbname: String,
    /// The password given (keyword, URL, service or `PGPASSWORD`).
    pub password: Option<Secret>,
    /// Per host, its `.pgpass` entry (used when no password was given).
    pub passwords: Vec<Option<Secret>>,
    pub sslmode: SslMode,
    /// A PEM file of trusted roots, or `system` for the operating system's store.
    pub sslrootcert: Option<PathBuf>,
    /// Client certificate and key (PEM), for certificate authentication.
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    pub application_name: Option<String>,
    pub fallback_application_name: Option<String>,
    /// As given: `None` takes the 10 s default, zero waits forever.
    pub connect_timeout: Option<Duration>,
    pub options: Option<String>,
    pub target_session_attrs: TargetSessionAttrs,
    pub load_balance_hosts: bool,
    pub channel_binding: ChannelBinding,
    pub keepalives: bool,
    pub keepalives_idle: Option<Duration>,
    pub keepalives_interval: Option<Duration>,
    pub keepalives_count: Option<u32>,
    pub tcp_user_timeout: Option<Duration>,
    /// The pg_service.conf service used, if any.
    pub service: Option<String>,
    /// No host was given: the default socket directory (or localhost) was used.
    pub host_defaulted: bool,
}

/// The environment as a lookup function, so tests can pass their own.
pub trait Env {
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

/// Parse a URL (`postgres://`, `postgresql://`) or a keyword/value string into
/// raw keywords. Values are not yet validated.
pub fn parse_keywords(conninfo: &str) -> Result<BTreeMap<String, String>> {
    let s = conninfo.trim();
    if let Some(rest) = s
        .strip_prefix("postgresql://")
        .or_else(|| s.strip_prefix("postgres://"))
    {
        parse_url(rest)
    } else if s.contains("://") {
        Err(Error::invalid(
            "malformed connection URL: it must start with postgres:// or postgresql://",
        ))
    } else {
        parse_kv(s)
    }
}

fn decode(s: &str, what: &str) -> Result<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| {
            Error::invalid(format!(
                "malformed connection URL: the {what} is not valid UTF-8 after percent-decoding"
            ))
        })
}

fn parse_url(rest: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (before_query, None),
    };
    let hostlist = if let Some((userinfo, hosts)) = authority.rsplit_once('@') {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            out.insert("user".into(), decode(user, "user name")?);
        }
        if let Some(p) = password {
            out.insert("password".into(), decode(p, "password")?);
        }
        hosts
    } else {
        authority
    };
    if !hostlist.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for item in hostlist.split(',') {
            let (host, port) = if let Some(v6) = item.strip_prefix('[') {
                let (h, after) = v6.split_once(']').ok_or_else(|| {
                    Error::invalid(
                        "malformed connection URL: an IPv6 host is missing its closing ]",
                    )
                })?;
                (h.to_string(), after.strip_prefix(':').map(str::to_string))
            } else {
                match item.rsplit_once(':') {
                    Some((h, p)) => (h.to_string(), Some(p.to_string())),
                    None => (item.to_string(), None),
                }
            };
            hosts.push(decode(&host, "host")?);
            ports.push(port.unwrap_or_default());
        }
        out.insert("host".into(), hosts.join(","));
        if ports.iter().any(|p| !p.is_empty()) {
            out.insert("port".into(), ports.join(","));
        }
    }
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        out.insert("dbname".into(), decode(db, "database name")?);
    }
    if let Some(q) = query {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                Error::invalid(
                    "malformed connection URL: a query parameter has no value (use ?name=value&name=value)",
                )
            })?;
            out.insert(decode(k, "parameter name")?, decode(v, "parameter value")?);
        }
    }
    Ok(out)
}

fn parse_kv(s: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(Error::invalid(
                "malformed connection string: a word is missing \"=\" (use key=value pairs, quote values containing spaces as key='a b', or a postgres:// URL)",
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(Error::invalid(
                    "malformed connection string: a quoted value is not closed with '",
                ));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// Every keyword tenantctl honours, as libpq spells it.
pub const KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "dbname",
    "password",
    "passfile",
    "service",
    "options",
    "application_name",
    "fallback_application_name",
    "connect_timeout",
    "client_encoding",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "target_session_attrs",
    "load_balance_hosts",
    "channel_binding",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslsni",
    "sslcompression",
    "sslnegotiation",
    "gssencmode",
];

/// libpq keywords tenantctl knows but cannot honour (named in the refusal).
const LIBPQ_UNSUPPORTED: &[&str] = &[
    "requiressl",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslcertmode",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requirepeer",
    "require_auth",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "replication",
    "scram_client_key",
    "scram_server_key",
    "oauth_issuer",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
    "max_protocol_version",
    "min_protocol_version",
];

/// The environment variable of each keyword (libpq's table).
const ENV_VARS: &[(&str, &str)] = &[
    ("host", "PGHOST"),
    ("hostaddr", "PGHOSTADDR"),
    ("port", "PGPORT"),
    ("user", "PGUSER"),
    ("dbname", "PGDATABASE"),
    ("password", "PGPASSWORD"),
    ("passfile", "PGPASSFILE"),
    ("options", "PGOPTIONS"),
    ("application_name", "PGAPPNAME"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("client_encoding", "PGCLIENTENCODING"),
    ("target_session_attrs", "PGTARGETSESSIONATTRS"),
    ("load_balance_hosts", "PGLOADBALANCEHOSTS"),
    ("channel_binding", "PGCHANNELBINDING"),
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
    ("sslsni", "PGSSLSNI"),
    ("sslcompression", "PGSSLCOMPRESSION"),
    ("sslnegotiation", "PGSSLNEGOTIATION"),
    ("gssencmode", "PGGSSENCMODE"),
];

/// Where libpq (as Debian and Ubuntu build it) puts the server's socket; a
/// `.pgpass` entry for `localhost` matches this directory.
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// Socket directories tried, in order, when no host is given.
const SOCKET_DIRS: &[&str] = &[DEFAULT_SOCKET_DIR, "/tmp"];

/// Connection timeout when none is given (libpq waits forever; an on-call
/// tool should not).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn one_of<T: Copy>(key: &str, value: &str, choices: &[(&str, T)]) -> Result<T> {
    choices
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            Error::invalid(format!(
                "invalid value for connection parameter {key}: use {}",
                names.join(", ")
            ))
        })
}

fn parse_bool_01(key: &str, value: &str) -> Result<bool> {
    match value {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(Error::invalid(format!(
            "invalid value for connection parameter {key}: use 1 or 0"
        ))),
    }
}

fn parse_secs(key: &str, value: &str) -> Result<Duration> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| {
            Error::invalid(format!(
                "invalid value for connection parameter {key}: give whole seconds"
            ))
        })
}

/// Read a pg_service.conf-style file: `[name]` sections of `key=value`.
/// `Ok(None)` when the file does not exist or lacks the service.
fn read_service(path: &Path, service: &str) -> Result<Option<BTreeMap<String, String>>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let mut current: Option<&str> = None;
    let mut found: Option<BTreeMap<String, String>> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if found.is_some() {
                break;
            }
            current = Some(name.trim());
            if current == Some(service) {
                found = Some(BTreeMap::new());
            }
            continue;
        }
        if current != Some(service) {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Error::invalid(format!(
                "syntax error in service file {}, line {}: expected key=value",
                path.display(),
                n + 1
            )));
        };
        let k = k.trim();
        if k == "service" {
            return Err(Error::invalid(format!(
                "nested service specifications are not supported in service file {}, line {}",
                path.display(),
                n + 1
            )));
        }
        if let Some(map) = found.as_mut() {
            map.entry(k.to_string())
                .or_insert_with(|| v.trim().to_string());
        }
    }
    Ok(found)
}

/// The service's keywords, looked up as libpq does: `PGSERVICEFILE` or
/// `~/.pg_service.conf` first, then `pg_service.conf` in `PGSYSCONFDIR`
/// (default `/etc/postgresql-common`, Debian's, then `/etc`).
fn service_keywords(service: &str, env: &dyn Env) -> Result<BTreeMap<String, String>> {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(f) = env.var("PGSERVICEFILE") {
        files.push(PathBuf::from(f));
    } else if let Some(h) = home_dir(env) {
        files.push(h.join(".pg_service.conf"));
    }
    if let Some(d) = env.var("PGSYSCONFDIR") {
        files.push(PathBuf::from(d).join("pg_service.conf"));
    } else {
        files.push(PathBuf::from("/etc/postgresql-common/pg_service.conf"));
        files.push(PathBuf::from("/etc/pg_service.conf"));
    }
    for f in &files {
        if let Some(map) = read_service(f, service)? {
            return Ok(map);
        }
    }
    Err(Error::invalid(format!(
        "definition of service \"{}\" not found (looked in {})",
        crate::domain::sanitize::clean_truncate(service, 60),
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

fn home_dir(env: &dyn Env) -> Option<PathBuf> {
    env.var("HOME").map(PathBuf::from).or_else(dirs::home_dir)
}

fn check_keywords(kw: &BTreeMap<String, String>, origin: &str) -> Result<()> {
    for k in kw.keys() {
        if KEYWORDS.contains(&k.as_str()) {
            continue;
        }
        // Name the keyword only when it is one of libpq's: an unknown word
        // may be a piece of a mistyped password.
        return Err(if LIBPQ_UNSUPPORTED.contains(&k.as_str()) {
            Error::invalid(format!(
                "connection parameter {k} ({origin}) is not supported by tenantctl"
            ))
        } else {
            Error::invalid(format!(
                "{origin} has a parameter libpq does not know: check its spelling (see `tenantctl --help` and README's configuration section for the supported ones)"
            ))
        });
    }
    Ok(())
}

/// Resolve a conninfo string into parameters as libpq does: the string's
/// keywords, then the service's (`service=` or `PGSERVICE`), then the `PG*`
/// variables, then the defaults; the password file last, per host.
pub fn resolve(conninfo: &str, env: &dyn Env) -> Result<ConnParams> {
    let kw = parse_keywords(conninfo)?;
    check_keywords(&kw, "the connection string")?;
    let given = |k: &str| kw.get(k).filter(|v| !v.is_empty()).cloned();
    let service = given("service").or_else(|| env.var("PGSERVICE"));
    let svc = match &service {
        Some(name) => {
            let m = service_keywords(name, env)?;
            check_keywords(&m, "the service file")?;
            m
        }
        None => BTreeMap::new(),
    };
    let get = |k: &str| -> Option<String> {
        given(k)
            .or_else(|| svc.get(k).filter(|v| !v.is_empty()).cloned())
            .or_else(|| {
                ENV_VARS
                    .iter()
                    .find(|(key, _)| *key == k)
                    .and_then(|(_, var)| env.var(var))
            })
    };
    let split = |v: String| -> Vec<String> { v.split(',').map(|x| x.trim().to_string()).collect() };
    let host_given = get("host").map(split);
    let hostaddrs: Vec<String> = get("hostaddr").map(split).unwrap_or_default();
    for a in &hostaddrs {
        if !a.is_empty() && a.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::invalid(
                "invalid hostaddr: give numeric IP addresses (use host for names)",
            ));
        }
    }
    let ports: Vec<u16> = match get("port") {
        None => vec![5432],
        Some(p) => p
            .split(',')
            .map(|x| {
                let x = x.trim();
                if x.is_empty() {
                    Ok(5432)
                } else {
                    x.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        Error::invalid("invalid port: it must be a number between 1 and 65535")
                    })
                }
            })
            .collect::<Result<_>>()?,
    };
    let host_defaulted = host_given.is_none() && hostaddrs.is_empty();
    let hosts: Vec<String> = match host_given {
        Some(h) => h,
        None if !hostaddrs.is_empty() => hostaddrs.clone(),
        None => vec![default_host(ports.first().copied().unwrap_or(5432))],
    };
    if !hostaddrs.is_empty() && hostaddrs.len() != hosts.len() {
        return Err(Error::invalid(format!(
            "connection string names {} hosts but {} hostaddr values: give one per host",
            hosts.len(),
            hostaddrs.len()
        )));
    }
    if ports.len() != 1 && ports.len() != hosts.len() {
        return Err(Error::invalid(format!(
            "connection string names {} hosts but {} ports: give one port or one per host",
            hosts.len(),
            ports.len()
        )));
    }
    let user = get("user").unwrap_or_else(os_user);
    let dbname = get("dbname").unwrap_or_else(|| user.clone());
    let sslrootcert = get("sslrootcert").map(PathBuf::from);
    let system_roots = sslrootcert.as_deref() == Some(Path::new("system"));
    let sslmode = match get("sslmode") {
        Some(m) => {
            let m = SslMode::parse(&m)?;
            if system_roots && m != SslMode::VerifyFull {
                return Err(Error::invalid(format!(
                    "sslmode={} may not be used with sslrootcert=system: use sslmode=verify-full (the default with system roots)",
                    m.as_str()
                )));
            }
            m
        }
        // libpq: the system's roots imply checking the host name too.
        None if system_roots => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    let connect_timeout = match get("connect_timeout") {
        // libpq: zero or negative waits forever; 1 is taken as 2.
        Some(t) => {
            let n: i64 = t.trim().parse().map_err(|_| {
                Error::invalid(
                    "invalid value for connection parameter connect_timeout: give whole seconds (0 waits forever)",
                )
            })?;
            Some(Duration::from_secs(
                u64::try_from(n.max(0))
                    .unwrap_or(0)
                    .max(if n == 1 { 2 } else { 0 }),
            ))
        }
        None => None,
    };
    let target_session_attrs = match get("target_session_attrs") {
        Some(v) => one_of(
            "target_session_attrs",
            &v,
            &[
                ("any", TargetSessionAttrs::Any),
                ("read-write", TargetSessionAttrs::ReadWrite),
                ("read-only", TargetSessionAttrs::ReadOnly),
                ("primary", TargetSessionAttrs::Primary),
                ("standby", TargetSessionAttrs::Standby),
                ("prefer-standby", TargetSessionAttrs::PreferStandby),
            ],
        )?,
        None => TargetSessionAttrs::Any,
    };
    let load_balance_hosts = match get("load_balance_hosts") {
        Some(v) => one_of(
            "load_balance_hosts",
            &v,
            &[("disable", false), ("random", true)],
        )?,
        None => false,
    };
    let channel_binding = match get("channel_binding") {
        Some(v) => one_of(
            "channel_binding",
            &v,
            &[
                ("disable", ChannelBinding::Disable),
                ("prefer", ChannelBinding::Prefer),
                ("require", ChannelBinding::Require),
            ],
        )?,
        None => ChannelBinding::Prefer,
    };
    if let Some(v) = get("gssencmode") {
        // No GSSAPI in tenantctl: prefer falls back to no GSS encryption, as
        // libpq does without a Kerberos ticket.
        let ok = one_of(
            "gssencmode",
            &v,
            &[("disable", true), ("prefer", true), ("require", false)],
        )?;
        if !ok {
            return Err(Error::invalid(
                "gssencmode=require is not supported: tenantctl has no GSSAPI; use sslmode for encryption",
            ));
        }
    }
    if let Some(v) = get("sslnegotiation") {
        let ok = one_of(
            "sslnegotiation",
            &v,
            &[("postgres", true), ("direct", false)],
        )?;
        if !ok {
            return Err(Error::invalid(
                "sslnegotiation=direct is not supported: use sslnegotiation=postgres (the default)",
            ));
        }
    }
    if let Some(v) = get("client_encoding") {
        if !matches!(v.to_ascii_uppercase().as_str(), "UTF8" | "UTF-8" | "AUTO") {
            return Err(Error::invalid(
                "client_encoding must be UTF8: tenantctl speaks UTF-8 to the server",
            ));
        }
    }
    for k in ["sslsni", "sslcompression"] {
        if let Some(v) = get(k) {
            parse_bool_01(k, &v)?;
        }
    }
    let keepalives = match get("keepalives") {
        Some(v) => parse_bool_01("keepalives", &v)?,
        None => true,
    };
    let dur = |k: &str| get(k).map(|v| parse_secs(k, &v)).transpose();
    let keepalives_count = match get("keepalives_count") {
        Some(v) => Some(v.trim().parse::<u32>().map_err(|_| {
            Error::invalid(
                "invalid value for connection parameter keepalives_count: give a whole number",
            )
        })?),
        None => None,
    };
    let tcp_user_timeout = match get("tcp_user_timeout") {
        Some(v) => Some(Duration::from_millis(v.trim().parse::<u64>().map_err(|_| {
            Error::invalid(
                "invalid value for connection parameter tcp_user_timeout: give whole milliseconds",
            )
        })?)),
        None => None,
    };
    let mut params = ConnParams {
        hostaddrs,
        ports: ports.clone(),
        user,
        dbname,
        password: get("password").map(Secret::new),
        passwords: Vec::new(),
        sslmode,
        sslrootcert,
        sslcert: get("sslcert").map(PathBuf::from),
        sslkey: get("sslkey").map(PathBuf::from),
        application_name: get("application_name"),
        fallback_application_name: get("fallback_application_name"),
        connect_timeout,
        options: get("options"),
        target_session_attrs,
        load_balance_hosts,
        channel_binding,
        keepalives,
        keepalives_idle: dur("keepalives_idle")?,
        keepalives_interval: dur("keepalives_interval")?,
        keepalives_count,
        tcp_user_timeout,
        service,
        hosts,
        host_defaulted,
    };
    if params.password.is_none() {
        let passfile = get("passfile")
            .map(PathBuf::from)
            .or_else(|| home_dir(env).map(|h| h.join(".pgpass")));
        if let Some(path) = passfile {
            params.passwords = pgpass_lookup_all(&path, &params)?;
        }
    }
    Ok(params)
}

/// The socket directory libpq would use for `port`: the first of the usual
/// directories holding `.s.PGSQL.<port>`; `localhost` when none does.
fn default_host(port: u16) -> String {
    for dir in SOCKET_DIRS {
        if Path::new(dir).join(format!(".s.PGSQL.{port}")).exists() {
            return (*dir).to_string();
        }
    }
    "localhost".to_string()
}

fn os_user() -> String {
    // The effective uid's name, as libpq does (not $USER, which anyone can set).
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(|| "postgres".to_string(), |u| u.name)
}

/// The host name `.pgpass` is searched for, by libpq's rules: the host (or
/// the hostaddr when no host is given); `localhost` for the default socket
/// directory; any other socket directory as its path.
pub fn pgpass_host(params: &ConnParams, i: usize) -> String {
    let host = params.hosts.get(i).map_or("", String::as_str);
    let host = if host.is_empty() {
        params.hostaddrs.get(i).map_or("", String::as_str)
    } else {
        host
    };
    if host.is_empty()
        || (host.starts_with('/')
            && (params.host_defaulted || host.trim_end_matches('/') == DEFAULT_SOCKET_DIR))
    {
        "localhost".to_string()
    } else {
        host.to_string()
    }
}

/// Look up the password of every host in `.pgpass`. A file readable by
/// group or others is ignored with a warning on stderr, as libpq does.
pub fn pgpass_lookup_all(path: &Path, params: &ConnParams) -> Result<Vec<Option<Secret>>> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(Vec::new());
    };
    if !meta.is_file() {
        crate::logging::warn_user(&format!(
            "password file \"{}\" is not a plain file",
            path.display()
        ));
        return Ok(Vec::new());
    }
    if meta.permissions().mode() & 0o077 != 0 {
        crate::logging::warn_user(&format!(
            "password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            path.display()
        ));
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::failure(format!("cannot read password file {}: {e}", path.display()))
    })?;
    Ok((0..params.hosts.len())
        .map(|i| {
            let host = pgpass_host(params, i);
            let port = params.port_of(i).to_string();
            pgpass_match(&text, &host, &port, &params.dbname, &params.user).map(Secret::new)
        })
        .collect())
}

/// The password of `params`' first host in `.pgpass` (see [`pgpass_lookup_all`]).
pub fn pgpass_lookup(path: &Path, params: &ConnParams) -> Result<Option<Secret>> {
    Ok(pgpass_lookup_all(path, params)?
        .into_iter()
        .next()
        .flatten())
}

/// Match one connection against `.pgpass` text: `host:port:db:user:password`,
/// `*` as a wildcard, `\:` and `\\` as escapes, `#` comments.
pub fn pgpass_match(text: &str, host: &str, port: &str, db: &str, user: &str) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass(line);
        if fields.len() < 5 {
            continue;
        }
        let m = |f: &str, v: &str| f == "*" || f == v;
        if m(&fields[0], host) && m(&fields[1], port) && m(&fields[2], db) && m(&fields[3], user) {
            return Some(fields[4..].join(":"));
        }
    }
    None
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    if let Some(last) = fields.last_mut() {
                        last.push(n);
                    }
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(last) = fields.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    fields
}

/// Mask the password of any `scheme://user:password@` URL in `text`.
pub fn mask_url_password(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rsplit_once('@') {
            Some((userinfo, hosts)) if userinfo.contains(':') => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                out.push_str(user);
                out.push_str(":***@");
                out.push_str(hosts);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

impl ConnParams {
    /// The port of host `i`.
    pub fn port_of(&self, i: usize) -> u16 {
        self.ports
            .get(i)
            .or(self.ports.first())
            .copied()
            .unwrap_or(5432)
    }

    /// The password for host `i`: the given one, else its `.pgpass` entry.
    pub fn password_of(&self, i: usize) -> Option<&Secret> {
        self.password
            .as_ref()
            .or_else(|| self.passwords.get(i).and_then(Option::as_ref))
    }

    /// The host as it is written in a display: a socket directory, a name or
    /// an IPv6 address in brackets.
    fn host_display(&self, i: usize) -> String {
        let h = self.hosts.get(i).map_or("", String::as_str);
        if h.contains(':') && !h.starts_with('/') {
            format!("[{h}]")
        } else {
            h.to_string()
        }
    }

    /// A display form without the password, for status bars and logs:
    /// `user@host:port/db`, every host when there are several.
    /// `host:port` of the first host (the one connected to, once a host has
    /// been chosen); a socket directory shows as its path.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.host_display(0), self.port_of(0))
    }

    pub fn describe(&self) -> String {
        let hosts: Vec<String> = (0..self.hosts.len())
            .map(|i| format!("{}:{}", self.host_display(i), self.port_of(i)))
            .collect();
        format!("{}@{}/{}", self.user, hosts.join(","), self.dbname)
    }

    /// These parameters narrowed to host `i` alone, with its password: what
    /// the pool connects to once a host has been chosen.
    #[must_use]
    pub fn only_host(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.hosts = vec![self.hosts.get(i).cloned().unwrap_or_default()];
        p.hostaddrs = self.hostaddrs.get(i).cloned().into_iter().collect();
        p.ports = vec![self.port_of(i)];
        p.password = self.password_of(i).cloned();
        p.passwords = Vec::new();
        p.load_balance_hosts = false;
        p
    }

    /// Whether host `i` is a Unix socket directory (where TLS is skipped).
    pub fn is_socket(&self, i: usize) -> bool {
        self.hosts
            .get(i)
            .is_some_and(|h| h.starts_with('/') || h.starts_with('@'))
            && self.hostaddrs.get(i).is_none_or(String::is_empty)
    }

    /// The driver's config for every host. TLS is decided separately by
    /// `db::connect`, which also picks the host for `target_session_attrs`.
    pub fn to_pg_config(&self, application_name: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        // Notice a silently dropped network within about a minute, not two hours.
        c.keepalives(self.keepalives)
            .keepalives_idle(self.keepalives_idle.unwrap_or(Duration::from_secs(30)))
            .keepalives_interval(self.keepalives_interval.unwrap_or(Duration::from_secs(10)))
            .keepalives_retries(self.keepalives_count.unwrap_or(3));
        if let Some(t) = self.tcp_user_timeout {
            c.tcp_user_timeout(t);
        }
        for (i, h) in self.hosts.iter().enumerate() {
            if h.starts_with('/') {
                c.host_path(h);
            } else {
                c.host(h);
            }
            if let Some(a) = self.hostaddrs.get(i).and_then(|a| a.parse().ok()) {
                c.hostaddr(a);
            }
            c.port(self.port_of(i));
        }
        c.user(&self.user).dbname(&self.dbname);
        if let Some(p) = self.password_of(0) {
            c.password(p.expose());
        }
        c.application_name(
            self.application_name
                .as_deref()
                .or(self.fallback_application_name.as_deref())
                .unwrap_or(application_name),
        );
        match self.connect_timeout {
            Some(t) if t.is_zero() => {}
            Some(t) => {
                c.connect_timeout(t);
            }
            None => {
                c.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
            }
        }
        if let Some(o) = &self.options {
            c.options(o);
        }
        c.channel_binding(match self.channel_binding {
            ChannelBinding::Disable => tokio_postgres::config::ChannelBinding::Disable,
            ChannelBinding::Prefer => tokio_postgres::config::ChannelBinding::Prefer,
            ChannelBinding::Require => tokio_postgres::config::ChannelBinding::Require,
        });
        c.load_balance_hosts(if self.load_balance_hosts {
            tokio_postgres::config::LoadBalanceHosts::Random
        } else {
            tokio_postgres::config::LoadBalanceHosts::Disable
        });
        // A Unix socket never uses TLS, whatever sslmode says (as libpq).
        let socket_only = (0..self.hosts.len()).all(|i| self.is_socket(i));
        c.ssl_mode(match self.sslmode {
            _ if socket_only => tokio_postgres::config::SslMode::Disable,
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        c
    }

    /// The connection timeout in force: `None` waits forever.
    pub fn effective_connect_timeout(&self) -> Option<Duration> {
        match self.connect_timeout {
            Some(t) if t.is_zero() => None,
            Some(t) => Some(t),
            None => Some(DEFAULT_CONNECT_TIMEOUT),
        }
    }
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
    fn url_with_everything() {
        let p = resolve(
            "postgresql://al%40ice:s%3Acret@db1:6432,[::1]:6433/trade?sslmode=verify-full&application_name=x",
            &env(&[("PGPASSFILE", "/nonexistent")]),
        )
        .expect("parses");
        assert_eq!(p.user, "al@ice");
        assert_eq!(p.password.as_ref().map(Secret::expose), Some("s:cret"));
        assert_eq!(p.hosts, vec!["db1", "::1"]);
        assert_eq!(p.ports, vec![6432, 6433]);
        assert_eq!(p.dbname, "trade");
        assert_eq!(p.sslmode, SslMode::VerifyFull);
        assert_eq!(p.application_name.as_deref(), Some("x"));
    }

    #[test]
    fn keyword_string_with_quotes() {
        let p = resolve(
            "host=/tmp/sock port=5433 user=bob dbname='my db' password='it\\'s'",
            &env(&[]),
        )
        .expect("parses");
        assert_eq!(p.hosts, vec!["/tmp/sock"]);
        assert_eq!(p.ports, vec![5433]);
        assert_eq!(p.dbname, "my db");
        assert_eq!(p.password.as_ref().map(Secret::expose), Some("it's"));
    }

    #[test]
    fn env_fills_gaps_but_string_wins() {
        let e = env(&[
            ("PGHOST", "envhost"),
            ("PGPORT", "7777"),
            ("PGUSER", "envuser"),
            ("PGDATABASE", "envdb"),
            ("PGSSLMODE", "require"),
            ("PGPASSWORD", "pw"),
        ]);
        let p = resolve("user=explicit", &e).expect("parses");
        assert_eq!(p.hosts, vec!["envhost"]);
        assert_eq!(p.ports, vec![7777]);
        assert_eq!(p.user, "explicit");
        assert_eq!(p.dbname, "envdb");
        assert_eq!(p.sslmode, SslMode::Require);
        assert_eq!(p.password.as_ref().map(Secret::expose), Some("pw"));
    }

    #[test]
    fn dbname_defaults_to_user() {
        let p =
            resolve("user=carol host=h", &env(&[("PGPASSFILE", "/nonexistent")])).expect("parses");
        assert_eq!(p.dbname, "carol");
    }

    #[test]
    fn bad_inputs_are_one_sentence() {
        let e = env(&[]);
        for (input, needle) in [
            ("http://x/y", "postgres://"),
            ("host", "missing \"=\""),
            ("port=99999", "invalid port"),
            ("sslmode=maybe", "invalid sslmode"),
            ("bogus=1", "libpq does not know"),
            (
                "sslcrl=x",
                "sslcrl (the connection string) is not supported",
            ),
            ("password='open", "not closed"),
            ("target_session_attrs=writable", "read-write"),
            ("gssencmode=require", "not supported"),
            ("keepalives=yes", "1 or 0"),
        ] {
            let err = resolve(input, &e).expect_err(input);
            assert!(err.message.contains(needle), "{input}: {}", err.message);
            assert!(!err.message.contains('\n'));
        }
    }

    #[test]
    fn parse_errors_never_echo_the_string() {
        let e = env(&[]);
        let mut refused = 0;
        for input in [
            "host=h password=my zqsecret user=u",
            "postgres://u:pa/zq@h/db",
            "postgres://u:p?zq word@h/db",
            "postgres://u:zq ret@h/db?x",
            "host=h password=pw port=zq9",
            "postgresql://u:zq%FF@h/db",
            "host=h zqword=1",
            "sslmode=zq",
            "password='zq",
        ] {
            if let Err(err) = resolve(input, &e) {
                refused += 1;
                assert!(!err.message.contains("zq"), "{input}: {}", err.message);
            }
        }
        assert_eq!(refused, 9, "every one of them is malformed");
    }

    #[test]
    fn libpq_parameters_pass_through() {
        let p = resolve(
            "host=a,b port=5432,5433 target_session_attrs=read-write keepalives=1 keepalives_idle=5 \
             tcp_user_timeout=9000 channel_binding=require load_balance_hosts=random \
             sslcert=/c.pem sslkey=/k.pem fallback_application_name=fb gssencmode=disable \
             connect_timeout=0 sslsni=1 client_encoding=UTF8",
            &env(&[("PGPASSFILE", "/nonexistent")]),
        )
        .expect("every one is honoured");
        assert_eq!(p.target_session_attrs, TargetSessionAttrs::ReadWrite);
        assert!(p.keepalives && p.load_balance_hosts);
        assert_eq!(p.keepalives_idle, Some(Duration::from_secs(5)));
        assert_eq!(p.tcp_user_timeout, Some(Duration::from_secs(9)));
        assert_eq!(p.channel_binding, ChannelBinding::Require);
        assert_eq!(p.sslcert.as_deref(), Some(Path::new("/c.pem")));
        assert_eq!(p.effective_connect_timeout(), None, "0 waits forever");
        let c = p.to_pg_config("tenantctl");
        assert_eq!(c.get_application_name(), Some("fb"));
        assert_eq!(c.get_connect_timeout(), None);
        assert_eq!(c.get_ports(), &[5432, 5433]);
        for (v, want) in [
            ("primary", TargetSessionAttrs::Primary),
            ("standby", TargetSessionAttrs::Standby),
            ("read-only", TargetSessionAttrs::ReadOnly),
            ("prefer-standby", TargetSessionAttrs::PreferStandby),
        ] {
            let p = resolve(&format!("host=h target_session_attrs={v}"), &env(&[])).expect("tsa");
            assert_eq!(p.target_session_attrs, want);
        }
        let p = resolve(
            "host=h",
            &env(&[
                ("PGTARGETSESSIONATTRS", "standby"),
                ("PGCONNECT_TIMEOUT", "0"),
            ]),
        )
        .expect("env");
        assert_eq!(p.target_session_attrs, TargetSessionAttrs::Standby);
        assert_eq!(p.effective_connect_timeout(), None);
        assert_eq!(
            resolve("host=h", &env(&[]))
                .expect("default")
                .effective_connect_timeout(),
            Some(DEFAULT_CONNECT_TIMEOUT)
        );
    }

    #[test]
    fn unix_sockets_skip_tls() {
        let p = resolve("host=/tmp/x sslmode=require", &env(&[])).expect("ok");
        assert_eq!(
            p.to_pg_config("t").get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
        let p = resolve("host=db sslmode=require", &env(&[])).expect("ok");
        assert_eq!(
            p.to_pg_config("t").get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
    }

    #[test]
    fn system_roots_force_verify_full() {
        let p = resolve("host=db sslrootcert=system", &env(&[])).expect("ok");
        assert_eq!(p.sslmode, SslMode::VerifyFull);
        let e = resolve("host=db sslrootcert=system sslmode=require", &env(&[]))
            .expect_err("weaker mode");
        assert!(e.message.contains("verify-full"), "{}", e.message);
    }

    #[test]
    fn service_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("services.conf");
        std::fs::write(
            &file,
            "# ops\n[other]\nhost=nope\n\n[prod]\nhost=db.prod\nport=6543\ndbname=trade\nuser=ops\nsslmode=require\n",
        )
        .expect("write");
        let f = file.to_str().expect("utf8");
        let p = resolve("service=prod", &env(&[("PGSERVICEFILE", f)])).expect("service=");
        assert_eq!(p.hosts, vec!["db.prod"]);
        assert_eq!(p.ports, vec![6543]);
        assert_eq!(p.dbname, "trade");
        assert_eq!(p.sslmode, SslMode::Require);
        assert_eq!(p.service.as_deref(), Some("prod"));
        // PGSERVICE; the string beats the service, the service beats PG*.
        let p = resolve(
            "dbname=mine",
            &env(&[
                ("PGSERVICEFILE", f),
                ("PGSERVICE", "prod"),
                ("PGPORT", "1111"),
            ]),
        )
        .expect("PGSERVICE");
        assert_eq!(p.dbname, "mine");
        assert_eq!(p.ports, vec![6543]);
        // PGSYSCONFDIR/pg_service.conf when the user file lacks it.
        let sys = tempfile::tempdir().expect("tempdir");
        std::fs::write(sys.path().join("pg_service.conf"), "[sys]\nhost=sysdb\n").expect("write");
        let p = resolve(
            "service=sys",
            &env(&[
                ("PGSERVICEFILE", f),
                ("PGSYSCONFDIR", sys.path().to_str().expect("utf8")),
            ]),
        )
        .expect("sysconfdir");
        assert_eq!(p.hosts, vec!["sysdb"]);
        let e = resolve(
            "service=missing",
            &env(&[("PGSERVICEFILE", f), ("PGSYSCONFDIR", "/nonexistent")]),
        )
        .expect_err("unknown service");
        assert!(
            e.message
                .contains("definition of service \"missing\" not found"),
            "{}",
            e.message
        );
        // HOME/.pg_service.conf by default.
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(home.path().join(".pg_service.conf"), "[h]\nhost=homedb\n").expect("write");
        let p = resolve(
            "service=h",
            &env(&[
                ("HOME", home.path().to_str().expect("utf8")),
                ("PGSYSCONFDIR", "/nonexistent"),
            ]),
        )
        .expect("home file");
        assert_eq!(p.hosts, vec!["homedb"]);
    }

    #[test]
    fn pgpass_per_host_and_socket_paths() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pgpass");
        std::fs::write(
            &path,
            "/tmp/sock1:5432:*:u:sockpw\nlocalhost:5432:*:u:localpw\nhostb:5433:*:u:bpw\n",
        )
        .expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let pf = path.to_str().expect("utf8");
        let p = resolve(
            "host=/tmp/sock1,hostb port=5432,5433 user=u",
            &env(&[("PGPASSFILE", pf)]),
        )
        .expect("ok");
        assert_eq!(p.password_of(0).map(Secret::expose), Some("sockpw"));
        assert_eq!(p.password_of(1).map(Secret::expose), Some("bpw"));
        // A socket directory other than the default does not match localhost.
        let p = resolve("host=/tmp/other user=u", &env(&[("PGPASSFILE", pf)])).expect("ok");
        assert_eq!(p.password_of(0), None);
        // The default socket directory does.
        let p = resolve(
            &format!("host={DEFAULT_SOCKET_DIR} user=u"),
            &env(&[("PGPASSFILE", pf)]),
        )
        .expect("ok");
        assert_eq!(p.password_of(0).map(Secret::expose), Some("localpw"));
    }

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            mask_url_password("cannot use postgres://bob:s3cr%2Ft@db:5432/x now"),
            "cannot use postgres://bob:***@db:5432/x now"
        );
        assert_eq!(
            mask_url_password("postgres://bob@db/x"),
            "postgres://bob@db/x"
        );
    }

    #[test]
    fn pgpass_matching_and_escapes() {
        let text = "# comment\nother:*:*:*:nope\ndb1:5432:*:bob:pa\\:ss:word\n*:*:*:*:fallback\n";
        assert_eq!(
            pgpass_match(text, "db1", "5432", "x", "bob").as_deref(),
            Some("pa:ss:word")
        );
        assert_eq!(
            pgpass_match(text, "db2", "5432", "x", "bob").as_deref(),
            Some("fallback")
        );
        assert_eq!(pgpass_match("h:1:d:u:p\n", "h", "2", "d", "u"), None);
    }

    #[test]
    fn pgpass_permissions_rule() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:secret\n").expect("write");
        let p = resolve(
            "host=h user=u",
            &env(&[("PGPASSFILE", path.to_str().expect("utf8"))]),
        )
        .expect("ok");
        // tempfile creates 0600 on unix? Force both ways to be sure.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            pgpass_lookup(&path, &p)
                .expect("ok")
                .as_ref()
                .map(Secret::expose),
            Some("secret")
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(pgpass_lookup(&path, &p).expect("ok"), None);
    }

    #[test]
    fn secret_debug_is_masked() {
        let p = resolve("password=hunter2 host=h user=u", &env(&[])).expect("ok");
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(!p.describe().contains("hunter2"));
    }
}
