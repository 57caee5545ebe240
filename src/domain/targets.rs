//! What is monitored: one path from tenant rows and templates to the
//! collector's targets, shared by the console backend, `top`, `health` and
//! the demo, so one tenant gets the same score and reasons on every face.
//! Pure: the templates are read at the edge and passed in.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::domain::metrics::MonitoredTenant;
use crate::domain::template::{Format, Template};
use crate::domain::tenant::{Tenant, TenantStatus};

/// A SQL-string template as monitoring judges drift against it: its
/// statements say which tables and indexes a tenant has but not the columns
/// as PostgreSQL stores them, so its tenants are compared with the catalog
/// of a schema built from it (one per template version, rebuilt when the
/// content changes: the content hash names it). Equal when the content is.
#[derive(Clone)]
pub struct Reference {
    /// SHA-256 of the template's content, hex.
    pub content_hash: String,
    pub template: Arc<Template>,
}

impl Reference {
    /// The reference of `t` when it is a SQL-string template.
    pub fn of(t: &Template) -> Option<Self> {
        if t.format != Format::Sql {
            return None;
        }
        let content = serde_json::to_vec(t).unwrap_or_default();
        let hash = Sha256::digest(&content);
        let content_hash = hash.iter().fold(String::with_capacity(64), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        });
        Some(Self {
            content_hash,
            template: Arc::new(t.clone()),
        })
    }
}

impl PartialEq for Reference {
    fn eq(&self, other: &Self) -> bool {
        self.content_hash == other.content_hash
    }
}

impl Eq for Reference {}

impl std::fmt::Debug for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reference")
            .field("template", &self.template.name)
            .field("content_hash", &self.content_hash)
            .finish()
    }
}

/// What a template's tenants should have, built once and shared by them all.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expectations {
    version: i32,
    tables: Arc<[String]>,
    indexes: Arc<[String]>,
    reference: Option<Arc<Reference>>,
}

/// The templates known at the edge, with the expectations drift and
/// "template version behind" are judged against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateSet {
    by_name: BTreeMap<String, Expectations>,
}

impl TemplateSet {
    /// Expectations of these templates (a later one of the same name wins).
    pub fn new<'a>(templates: impl IntoIterator<Item = &'a Template>) -> Self {
        let by_name = templates
            .into_iter()
            .map(|tpl| {
                let e = Expectations {
                    version: tpl.version,
                    tables: tpl.table_names().iter().map(|s| (*s).to_string()).collect(),
                    indexes: tpl.expected_index_names().into(),
                    reference: Reference::of(tpl).map(Arc::new),
                };
                (tpl.name.clone(), e)
            })
            .collect();
        Self { by_name }
    }

    /// How many templates are known.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// One tenant as the collector watches it, with its template's
/// expectations when the template is known.
pub fn target(t: &Tenant, templates: &TemplateSet) -> MonitoredTenant {
    let mut m = MonitoredTenant::from(t);
    if let Some(e) = templates.by_name.get(&t.template) {
        m.latest_template_version = Some(e.version);
        m.expected_tables = Arc::clone(&e.tables);
        m.expected_indexes = Arc::clone(&e.indexes);
        m.reference.clone_from(&e.reference);
    }
    m
}

/// Every tenant that is monitored (tombstones left out), in the given order.
/// Tenants of one template share its lists (one `Arc`, not a copy each).
pub fn targets(tenants: &[Tenant], templates: &TemplateSet) -> Arc<Vec<MonitoredTenant>> {
    let mut list = Vec::with_capacity(tenants.len());
    list.extend(
        tenants
            .iter()
            .filter(|t| t.status != TenantStatus::Deleted)
            .map(|t| target(t, templates)),
    );
    Arc::new(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    fn tenant(n: u128, template: &str, version: i32, status: TenantStatus) -> Tenant {
        let id = Uuid::from_u128(n);
        Tenant {
            id,
            name: format!("T{n}"),
            domain: format!("t{n}.test"),
            schema_name: format!("s{n}"),
            role_name: format!("r{n}"),
            owner_role: None,
            status,
            template: template.into(),
            template_version: version,
            settings: crate::domain::tenant::Settings::default(),
            connection_limit: 10,
            statement_timeout: None,
            storage_quota_bytes: None,
            idle_in_transaction_timeout: None,
            temp_file_limit_bytes: None,
            quota_blocked: false,
            warnings: Vec::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            created_by: "test".into(),
            provision_ms: None,
        }
    }

    fn default_template() -> Template {
        crate::domain::template::parse(include_str!("../../templates/default.json"))
            .expect("the shipped default template")
    }

    #[test]
    fn targets_carry_template_expectations_shared_and_skip_tombstones() {
        let tpl = default_template();
        assert!(TemplateSet::default().is_empty());
        let set = TemplateSet::new([&tpl]);
        assert_eq!(set.len(), 1);
        assert!(!set.is_empty());
        let mut other = tpl.clone();
        other.name = "other".into();
        assert_eq!(TemplateSet::new([&tpl, &other]).len(), 2);
        let rows = [
            tenant(1, "default", tpl.version - 1, TenantStatus::Active),
            tenant(2, "default", tpl.version, TenantStatus::Suspended),
            tenant(3, "default", tpl.version, TenantStatus::Deleted),
            tenant(4, "unknown", 1, TenantStatus::Active),
        ];
        let list = targets(&rows, &set);
        let ids: Vec<u128> = list.iter().map(|t| t.id.as_u128()).collect();
        assert_eq!(ids, vec![1, 2, 4], "tombstone left out, order kept");
        assert_eq!(list[0].latest_template_version, Some(tpl.version));
        assert_eq!(list[0].template_version, tpl.version - 1);
        assert!(!list[0].expected_tables.is_empty());
        assert!(list[0].expected_tables.iter().any(|t| t == "market_data"));
        assert!(!list[0].expected_indexes.is_empty());
        assert!(Arc::ptr_eq(
            &list[0].expected_tables,
            &list[1].expected_tables
        ));
        let r = list[0]
            .reference
            .as_ref()
            .expect("a SQL-string template has a reference");
        assert!(Arc::ptr_eq(r, list[1].reference.as_ref().expect("shared")));
        assert_eq!(r.content_hash.len(), 64);
        let mut changed = tpl.clone();
        changed.description.push('.');
        assert_ne!(
            Reference::of(&changed).map(|c| c.content_hash),
            Some(r.content_hash.clone()),
            "new content, new reference"
        );
        // Equal exactly when the content is; Debug names the template.
        let same = Reference::of(&tpl).expect("a reference");
        assert!(*r.as_ref() == same);
        assert!(Reference::of(&changed).expect("a reference") != same);
        let debug = format!("{same:?}");
        assert!(
            debug.contains(&tpl.name) && debug.contains(&same.content_hash),
            "{debug}"
        );
        // The owner: its own role, or (before owner roles) the login role.
        let mut t = tenant(9, "default", 1, TenantStatus::Active);
        assert_eq!(t.owner(), "r9");
        t.owner_role = Some("o9".into());
        assert_eq!(t.owner(), "o9");
        assert_eq!(list[2].latest_template_version, None, "unknown template");
        assert!(list[2].reference.is_none());
        assert!(list[2].expected_tables.is_empty());
    }
}
