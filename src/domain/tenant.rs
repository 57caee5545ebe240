//! Tenants as the control schema holds them, and the rules for what a user may
//! ask for. Validation here is shared by the command line and the wizard.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// Lifecycle state (`tenants.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Provisioning,
    Active,
    Suspended,
    Deleted,
    /// A restore in progress, or one that was killed: the next restore of
    /// the same tenant finishes or removes it.
    Restoring,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
            Self::Restoring => "restoring",
        }
    }
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "provisioning" => Ok(Self::Provisioning),
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "deleted" => Ok(Self::Deleted),
            "restoring" => Ok(Self::Restoring),
            other => Err(Error::invalid(format!(
                "unknown status \"{other}\": use provisioning, active, suspended, deleted or restoring"
            ))),
        }
    }
}

impl std::fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant's settings object, held as its compact JSON text: a list of
/// thousands of tenants keeps one small string each, not a tree of maps.
/// It serializes as the JSON value itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings(Box<str>);

impl Settings {
    /// The settings as a JSON value.
    pub fn value(&self) -> serde_json::Value {
        // The text was written from a value, so it parses; an empty default
        // reads as an empty object.
        serde_json::from_str(&self.0).unwrap_or_else(|_| serde_json::json!({}))
    }

    pub fn as_str(&self) -> &str {
        if self.0.is_empty() { "{}" } else { &self.0 }
    }
}

impl From<&serde_json::Value> for Settings {
    fn from(v: &serde_json::Value) -> Self {
        Self(v.to_string().into_boxed_str())
    }
}

impl From<serde_json::Value> for Settings {
    fn from(v: serde_json::Value) -> Self {
        Self::from(&v)
    }
}

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Settings {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Settings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(Self::from)
    }
}

/// One row of `tenants`. JSON field names follow DESIGN.md §3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub domain: String,
    pub schema_name: String,
    /// The login role the application connects as.
    pub role_name: String,
    /// The NOLOGIN role that owns the schema and its objects; `None` for a
    /// tenant created before owner roles, whose login role owns them
    /// (`tenantctl convert` splits it).
    #[serde(default)]
    pub owner_role: Option<String>,
    pub status: TenantStatus,
    pub template: String,
    pub template_version: i32,
    pub settings: Settings,
    /// -1 means no limit.
    pub connection_limit: i32,
    /// Milliseconds; `None` means the server default.
    pub statement_timeout: Option<u64>,
    pub storage_quota_bytes: Option<u64>,
    /// Milliseconds, set on the login role.
    #[serde(default)]
    pub idle_in_transaction_timeout: Option<u64>,
    /// Bytes of temporary files per session, set on the login role.
    #[serde(default)]
    pub temp_file_limit_bytes: Option<u64>,
    /// Writes revoked because the tenant is over its storage quota.
    #[serde(default)]
    pub quota_blocked: bool,
    /// Recorded at creation, e.g. hypertables skipped without TimescaleDB.
    pub warnings: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
    pub provision_ms: Option<i32>,
}

/// `tenant_<uuid with underscores>`: both the schema and the login role name.
pub fn object_name(id: &Uuid) -> String {
    format!(
        "tenant_{}",
        id.as_hyphenated().to_string().replace('-', "_")
    )
}

/// `tenant_<uuid with underscores>_owner`: the role that owns the schema.
pub fn owner_name(id: &Uuid) -> String {
    format!("{}_owner", object_name(id))
}

impl Tenant {
    /// The role that owns the tenant's objects: tenant code (constraints,
    /// defaults, triggers) is only ever run as this role.
    pub fn owner(&self) -> &str {
        self.owner_role.as_deref().unwrap_or(&self.role_name)
    }
}

/// A validated request to create a tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewTenant {
    pub name: String,
    pub domain: String,
    pub template: String,
    pub connection_limit: i32,
    pub statement_timeout: Option<Duration>,
    pub storage_quota_bytes: Option<u64>,
    pub settings: serde_json::Value,
}

/// A validated change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TenantUpdate {
    pub name: Option<String>,
    pub connection_limit: Option<i32>,
    pub statement_timeout: Option<Duration>,
    pub storage_quota_bytes: Option<u64>,
    pub settings: Option<serde_json::Value>,
    /// Remove the statement timeout (the server's default applies again).
    pub clear_statement_timeout: bool,
    /// Remove the storage quota.
    pub clear_storage_quota: bool,
}

impl TenantUpdate {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A display name: 1–255 characters, no control characters, not blank.
pub fn validate_name(name: &str) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(
            "tenant name is empty: give a name of 1 to 255 characters",
        ));
    }
    if trimmed.chars().count() > 255 {
        return Err(Error::invalid(format!(
            "tenant name is {} characters long: the limit is 255",
            trimmed.chars().count()
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(
            "tenant name contains control characters: use printable text only",
        ));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(Error::invalid(
            "tenant name contains bidirectional control characters (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C): they can make text display in a misleading order",
        ));
    }
    if !trimmed.chars().any(is_visible) {
        return Err(Error::invalid(
            "tenant name has no visible character: give a name with at least one letter, digit or symbol",
        ));
    }
    Ok(trimmed.to_string())
}

/// A statement timeout must be positive: zero would mean "no limit" to
/// PostgreSQL, which is spelled `--no-statement-timeout` here.
pub fn validate_statement_timeout(d: std::time::Duration) -> Result<std::time::Duration> {
    if d.is_zero() {
        return Err(Error::invalid(
            "a statement timeout of 0 is refused: to remove the limit use --no-statement-timeout",
        ));
    }
    Ok(d)
}

/// Bidirectional formatting controls, which reorder how text is displayed.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// A character that leaves a mark: not whitespace, not zero-width (ZWSP,
/// joiners, word joiner, BOM, soft hyphen, variation selectors...).
fn is_visible(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
        && unicode_width::UnicodeWidthChar::width(c).unwrap_or(0) > 0
}

/// A domain per RFC 1123: labels of letters, digits and inner hyphens, 1–63
/// each, at most 253 in all; normalised to lowercase; a trailing dot is dropped.
pub fn validate_domain(domain: &str) -> Result<String> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let bad = |why: &str| {
        Err(Error::invalid(format!(
            "invalid domain \"{}\": {why}",
            crate::domain::sanitize::clean(domain.trim())
        )))
    };
    if d.is_empty() {
        return bad("it is empty");
    }
    if d.len() > 253 {
        return bad("it is longer than 253 characters");
    }
    for label in d.split('.') {
        if label.is_empty() {
            return bad("it has an empty label (two dots in a row)");
        }
        if label.len() > 63 {
            return bad("a label is longer than 63 characters");
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return bad("use only letters, digits, hyphens and dots");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label may not start or end with a hyphen");
        }
    }
    Ok(d)
}

/// Connection limit: -1 (unlimited) or 0..=10000.
pub fn validate_connection_limit(n: i64) -> Result<i32> {
    if !(-1..=10_000).contains(&n) {
        return Err(Error::invalid(format!(
            "connection limit {n} is out of range: use -1 (unlimited) or 0 to 10000"
        )));
    }
    i32::try_from(n).map_err(|_| Error::invalid("connection limit out of range"))
}

/// Settings must be a JSON object.
pub fn validate_settings(text: &str) -> Result<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::invalid(format!(
            "settings are not valid JSON ({e}): give an object such as {{\"tier\": \"gold\"}}"
        ))
    })?;
    if !v.is_object() {
        return Err(Error::invalid(
            "settings must be a JSON object such as {\"tier\": \"gold\"}",
        ));
    }
    Ok(v)
}

/// Template names are file stems: lowercase letters, digits, `_` and `-`; no paths.
pub fn validate_template_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty()
        || n.len() > 64
        || !n
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(Error::invalid(format!(
            "invalid template name \"{}\": use the name of a file in the template directory (letters, digits, _ and -), not a path",
            crate::domain::sanitize::clean(n)
        )));
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn object_names() {
        let id = Uuid::parse_str("7d3c1f0e-1234-4abc-8def-0123456789ab").expect("uuid");
        assert_eq!(
            object_name(&id),
            "tenant_7d3c1f0e_1234_4abc_8def_0123456789ab"
        );
        assert!(object_name(&id).len() <= 63);
    }

    #[test]
    fn names() {
        assert_eq!(validate_name("  Acme  ").expect("ok"), "Acme");
        assert!(validate_name("").is_err());
        assert!(validate_name("   ").is_err());
        assert!(validate_name(&"x".repeat(256)).is_err());
        assert!(validate_name(&"x".repeat(255)).is_ok());
        assert!(validate_name("a\u{1b}[31mb").is_err());
        for invisible in [
            "\u{200B}",
            "\u{200B}\u{200D}\u{FEFF}",
            "\u{2060}\u{00AD}",
            "\u{3000}\u{200C}",
        ] {
            let e = validate_name(invisible).expect_err("only invisible characters");
            assert!(e.message.contains("no visible character"), "{}", e.message);
        }
        for bidi in [
            "abc\u{202E}fed",
            "x\u{2066}y",
            "a\u{200F}",
            "\u{061C}b",
            "\u{202A}q",
        ] {
            let e = validate_name(bidi).expect_err("bidi control");
            assert!(e.message.contains("bidirectional"), "{}", e.message);
        }
        assert_eq!(
            validate_name("東京トレード").expect("CJK is visible"),
            "東京トレード"
        );
        assert_eq!(
            validate_name("a\u{200D}b").expect("a joiner between letters"),
            "a\u{200D}b"
        );
        assert_eq!(
            validate_name("'; DROP TABLE tenants; --").expect("data, not SQL"),
            "'; DROP TABLE tenants; --"
        );
    }

    #[test]
    fn domains() {
        assert_eq!(
            validate_domain("Acme.Example.COM.").expect("ok"),
            "acme.example.com"
        );
        for bad in [
            "",
            "-a.com",
            "a-.com",
            "a..com",
            "a_b.com",
            "a b.com",
            "x'; drop",
            &"a".repeat(64),
        ] {
            assert!(validate_domain(bad).is_err(), "{bad}");
        }
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(validate_domain(&long).is_err(), "255 chars");
    }

    #[test]
    fn limits_and_settings() {
        assert!(validate_connection_limit(-2).is_err());
        assert_eq!(validate_connection_limit(-1).expect("ok"), -1);
        assert!(validate_settings("[1]").is_err());
        assert!(validate_settings("{").is_err());
        assert!(validate_settings("{\"a\":1}").is_ok());
        assert!(validate_template_name("../etc/passwd").is_err());
        assert!(validate_template_name("default").is_ok());
    }

    proptest! {
        #[test]
        fn validated_domains_are_clean(s in "\\PC{0,70}") {
            if let Ok(d) = validate_domain(&s) {
                prop_assert!(d.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'));
            }
        }
    }

    #[test]
    fn settings_keep_their_json_and_read_back_as_a_value() {
        let v = serde_json::json!({"tier": "gold", "seats": 3});
        let s = Settings::from(v.clone());
        assert_eq!(s.value(), v);
        assert_eq!(Settings::from(&v), s);
        assert_eq!(s.as_str(), v.to_string());
        assert_eq!(s.to_string(), v.to_string());
        let back: Settings = serde_json::from_str(r#"{"tier":"gold","seats":3}"#).expect("json");
        assert_eq!(back.value(), v);
        assert_eq!(serde_json::to_value(&back).expect("ser"), v);
        // The empty default reads as an empty object.
        assert_eq!(Settings::default().as_str(), "{}");
        assert_eq!(Settings::default().value(), serde_json::json!({}));
    }

    #[test]
    fn statuses_display_as_their_names_and_owners_are_named_after_the_tenant() {
        assert_eq!(TenantStatus::Suspended.to_string(), "suspended");
        assert_eq!(format!("{}", TenantStatus::Active), "active");
        let id = Uuid::parse_str("7d3c1f0e-1234-4abc-8def-0123456789ab").expect("uuid");
        assert_eq!(
            owner_name(&id),
            "tenant_7d3c1f0e_1234_4abc_8def_0123456789ab_owner"
        );
        assert!(owner_name(&id).len() <= 63);
    }

    #[test]
    fn a_zero_statement_timeout_is_refused_and_others_kept() {
        assert!(validate_statement_timeout(std::time::Duration::ZERO).is_err());
        let d = std::time::Duration::from_millis(1500);
        assert_eq!(validate_statement_timeout(d).expect("positive"), d);
    }

    #[test]
    fn a_name_of_wide_spaces_has_nothing_visible() {
        // U+3000 is whitespace two columns wide.
        assert!(validate_name("\u{3000}\u{3000}").is_err());
        assert!(validate_name("a\u{3000}b").is_ok());
    }

    #[test]
    fn domain_and_template_name_lengths_stop_exactly_at_their_limits() {
        let label63 = "a".repeat(63);
        assert!(validate_domain(&format!("{label63}.io")).is_ok());
        assert!(validate_domain(&format!("a{label63}.io")).is_err());
        // 253 characters in all: four labels of 62 and one of 1, dotted.
        let l62 = "b".repeat(62);
        let d253 = format!("{l62}.{l62}.{l62}.{l62}.c");
        assert_eq!(d253.len(), 253);
        assert!(validate_domain(&d253).is_ok());
        assert!(validate_domain(&format!("{d253}c")).is_err());
        assert!(validate_template_name(&"t".repeat(64)).is_ok());
        assert!(validate_template_name(&"t".repeat(65)).is_err());
        for bad in ["", "Default", "../default", "a b", "a.json"] {
            assert!(validate_template_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(validate_template_name(" my_t-2 ").expect("ok"), "my_t-2");
    }

    #[test]
    fn a_name_of_zero_width_marks_has_nothing_visible() {
        // U+0300 (a combining accent) takes no column.
        assert!(validate_name("\u{0300}\u{0301}").is_err());
        assert!(validate_name("e\u{0301}").is_ok());
    }
}
