//! libpq-compatible connection parameters: URL or keyword string, the `PG*`
//! environment variables, `~/.pgpass`, and every `sslmode`.

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
            other => {
                return Err(Error::invalid(format!(
                    "invalid sslmode \"{other}\": use disable, allow, prefer, require, verify-ca or verify-full"
                )));
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

/// Everything needed to open a connection, resolved from a conninfo string,
/// the environment and `.pgpass`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnParams {
    /// Host names, IP addresses, or Unix socket directories (starting with `/`).
    pub hosts: Vec<String>,
    pub ports: Vec<u16>,
    pub user: String,
    pub dbname: String,
    pub password: Option<Secret>,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub application_name: Option<String>,
    pub connect_timeout: Option<Duration>,
    pub options: Option<String>,
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
                Error::invalid(format!(
                    "malformed connection URL: query parameter \"{pair}\" has no value"
                ))
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
            return Err(Error::invalid(format!(
                "malformed connection string: missing \"=\" after \"{key}\" (use key=value pairs or a postgres:// URL)"
            )));
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
                return Err(Error::invalid(format!(
                    "malformed connection string: unterminated quoted value for \"{key}\""
                )));
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

const KNOWN: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "dbname",
    "password",
    "sslmode",
    "sslrootcert",
    "application_name",
    "connect_timeout",
    "options",
    "passfile",
];

/// Resolve a conninfo string into parameters, filling gaps from the `PG*`
/// variables, libpq's defaults and the password file.
pub fn resolve(conninfo: &str, env: &dyn Env) -> Result<ConnParams> {
    let kw = parse_keywords(conninfo)?;
    if let Some(unknown) = kw.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(Error::invalid(format!(
            "unsupported connection parameter \"{unknown}\": supported are {}",
            KNOWN.join(", ")
        )));
    }
    let get = |k: &str, var: &str| {
        kw.get(k)
            .filter(|v| !v.is_empty())
            .cloned()
            .or_else(|| env.var(var))
    };
    let hosts: Vec<String> = get("host", "PGHOST")
        .or_else(|| get("hostaddr", "PGHOSTADDR"))
        .map_or_else(
            || vec![default_host()],
            |h| h.split(',').map(str::to_string).collect(),
        );
    let ports: Vec<u16> = match get("port", "PGPORT") {
        None => vec![5432],
        Some(p) => p
            .split(',')
            .map(|x| {
                if x.is_empty() {
                    Ok(5432)
                } else {
                    x.parse::<u16>().map_err(|_| {
                        Error::invalid(format!(
                            "invalid port \"{x}\": it must be a number between 1 and 65535"
                        ))
                    })
                }
            })
            .collect::<Result<_>>()?,
    };
    if ports.len() != 1 && ports.len() != hosts.len() {
        return Err(Error::invalid(format!(
            "connection string names {} hosts but {} ports: give one port or one per host",
            hosts.len(),
            ports.len()
        )));
    }
    let user = get("user", "PGUSER").unwrap_or_else(os_user);
    let dbname = get("dbname", "PGDATABASE").unwrap_or_else(|| user.clone());
    let sslmode = match get("sslmode", "PGSSLMODE") {
        Some(m) => SslMode::parse(&m)?,
        None => SslMode::Prefer,
    };
    let sslrootcert = get("sslrootcert", "PGSSLROOTCERT").map(PathBuf::from);
    let connect_timeout = match get("connect_timeout", "PGCONNECT_TIMEOUT") {
        Some(t) => Some(Duration::from_secs(t.parse::<u64>().map_err(|_| {
            Error::invalid(format!(
                "invalid connect_timeout \"{t}\": give whole seconds"
            ))
        })?)),
        None => None,
    };
    let mut params = ConnParams {
        hosts,
        ports,
        user,
        dbname,
        password: get("password", "PGPASSWORD").map(Secret::new),
        sslmode,
        sslrootcert,
        application_name: get("application_name", "PGAPPNAME"),
        connect_timeout,
        options: get("options", "PGOPTIONS"),
    };
    if params.password.is_none() {
        let passfile = get("passfile", "PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| dirs::home_dir().map(|h| h.join(".pgpass")));
        if let Some(path) = passfile {
            params.password = pgpass_lookup(&path, &params)?;
        }
    }
    Ok(params)
}

fn default_host() -> String {
    for dir in ["/var/run/postgresql", "/tmp"] {
        if Path::new(dir).join(".s.PGSQL.5432").exists() {
            return dir.to_string();
        }
    }
    "localhost".to_string()
}

fn os_user() -> String {
    std::env::var("USER")
        .ok()
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "postgres".to_string())
}

/// Find the password for `params` in a `.pgpass` file. A file readable by
/// group or others is ignored with a warning, as libpq does.
pub fn pgpass_lookup(path: &Path, params: &ConnParams) -> Result<Option<Secret>> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            "password file has group or world access; permissions should be u=rw (0600) or less, ignoring it"
        );
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::failure(format!("cannot read password file {}: {e}", path.display()))
    })?;
    let host = params.hosts.first().map_or("localhost", String::as_str);
    let host = if host.starts_with('/') {
        "localhost"
    } else {
        host
    };
    let port = params.ports.first().copied().unwrap_or(5432).to_string();
    Ok(pgpass_match(&text, host, &port, &params.dbname, &params.user).map(Secret::new))
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

impl ConnParams {
    /// A display form without the password, for status bars and logs.
    pub fn describe(&self) -> String {
        let host = self.hosts.join(",");
        let port = self.ports.first().copied().unwrap_or(5432);
        format!("{}@{}:{}/{}", self.user, host, port, self.dbname)
    }

    /// The driver's config. TLS is decided separately by `db::connect`.
    pub fn to_pg_config(&self, application_name: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        // Notice a silently dropped network within about a minute, not two hours.
        c.keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3);
        for (i, h) in self.hosts.iter().enumerate() {
            if h.starts_with('/') {
                c.host_path(h);
            } else {
                c.host(h);
            }
            let port = self
                .ports
                .get(i)
                .or(self.ports.first())
                .copied()
                .unwrap_or(5432);
            c.port(port);
        }
        c.user(&self.user).dbname(&self.dbname);
        if let Some(p) = &self.password {
            c.password(p.expose());
        }
        c.application_name(self.application_name.as_deref().unwrap_or(application_name));
        if let Some(t) = self.connect_timeout {
            c.connect_timeout(t);
        } else {
            c.connect_timeout(Duration::from_secs(10));
        }
        if let Some(o) = &self.options {
            c.options(o);
        }
        c.ssl_mode(match self.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        c
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
            ("bogus=1", "unsupported connection parameter"),
            ("password='open", "unterminated"),
        ] {
            let err = resolve(input, &e).expect_err(input);
            assert!(err.message.contains(needle), "{input}: {}", err.message);
            assert!(!err.message.contains('\n'));
        }
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
