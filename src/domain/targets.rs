//! What is monitored: one path from tenant rows and templates to the
//! collector's targets, shared by the console backend, `top`, `health` and
//! the demo, so one tenant gets the same score and reasons on every face.
//! Pure: the templates are read at the edge and passed in.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::metrics::MonitoredTenant;
use crate::domain::template::Template;
use crate::domain::tenant::{Tenant, TenantStatus};

/// What a template's tenants should have, built once and shared by them all.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expectations {
    version: i32,
    tables: Arc<[String]>,
    indexes: Arc<[String]>,
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
        assert_eq!(list[2].latest_template_version, None, "unknown template");
        assert!(list[2].expected_tables.is_empty());
    }
}
