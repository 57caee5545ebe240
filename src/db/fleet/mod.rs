//! Fleet migrations: every tenant schema of a template moved to a newer
//! template version, in waves, resumable (issue 13).
//!
//! - [`plan`]: per tenant its version, the target, the steps and the drift
//!   found now (a drifted tenant is held back unless asked otherwise).
//! - [`apply`]: runs a plan (or resumes a run) tenant by tenant, each by a
//!   worker of the run acting for that tenant alone (tenant rights; see
//!   [`worker`]) with `search_path` set to its schema, its DDL, its
//!   `template_version` bump and its ledger step in one transaction (see
//!   `V4__migrations.sql` and `V5__migration_workers.sql`).
//! - [`ledger`]: the run and ledger rows in the control schema.
//! - [`catalog`]: catalogs of versions and schemas, and the proof that a
//!   template's migrations rebuild its current body.

pub mod apply;
pub mod catalog;
pub mod control;
pub mod ledger;
pub mod worker;

use std::collections::BTreeMap;

use serde::Serialize;
use uuid::Uuid;

use super::Db;
use crate::config::TimescaleMode;
use crate::domain::fleet::filter_matches;
use crate::domain::template::Template;
use crate::domain::tenant::{Tenant, TenantStatus};
use crate::error::{Error, Result};

pub use apply::{ApplyEvent, ApplyOptions, Summary, apply, resume};

/// What to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// Target version; `None`: the template's latest.
    pub to: Option<i32>,
    /// `--tenants FILTER` (see [`filter_matches`]).
    pub tenants: Option<String>,
    /// Migrate drifted tenants too.
    pub include_drifted: bool,
}

/// What the plan does with a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Behind: will be migrated.
    Migrate,
    /// At the target already.
    Current,
    /// Its schema differs from its version's catalog (see `drift`).
    HeldDrifted,
    /// Newer than the target, or older than the template's baseline.
    HeldVersion,
    /// Not active or suspended (being created or restored).
    HeldStatus,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Migrate => "migrate",
            Self::Current => "current",
            Self::HeldDrifted => "held: drifted",
            Self::HeldVersion => "held: version",
            Self::HeldStatus => "held: status",
        }
    }
}

/// One tenant in a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanTenant {
    pub id: Uuid,
    pub domain: String,
    pub schema: String,
    pub status: String,
    pub from: i32,
    pub to: i32,
    pub action: Action,
    /// Field paths of the steps to run, in order.
    pub steps: Vec<String>,
    /// How many of them run outside a transaction.
    pub non_transactional: usize,
    /// How the schema differs from the catalog of its version, now.
    pub drift: Vec<String>,
    /// False when a table of the schema was locked exclusively while the
    /// plan read the catalogs, so its drift is unknown. Such a tenant is
    /// not held back for it: its migration waits for the lock like any
    /// other, and a step that does not fit its schema fails and changes
    /// nothing.
    pub drift_checked: bool,
}

/// Totals of a plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub tenants: usize,
    pub migrate: usize,
    pub current: usize,
    pub held: usize,
    pub steps: usize,
}

/// A plan for one template.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub template: String,
    pub latest: i32,
    pub to: i32,
    pub tenants: Vec<PlanTenant>,
    pub totals: Totals,
}

impl Plan {
    /// The tenants the plan migrates, in order.
    pub fn to_migrate(&self) -> impl Iterator<Item = &PlanTenant> {
        self.tenants.iter().filter(|t| t.action == Action::Migrate)
    }
}

/// Check a target version against the template.
pub fn target(t: &Template, to: Option<i32>) -> Result<i32> {
    let to = to.unwrap_or(t.version);
    if to > t.version {
        return Err(Error::invalid(format!(
            "--to {to} is beyond the latest version of template {} ({})",
            t.name, t.version
        )));
    }
    if to < t.baseline_version() {
        return Err(Error::invalid(format!(
            "--to {to} is older than the baseline of template {} (version {})",
            t.name,
            t.baseline_version()
        )));
    }
    Ok(to)
}

/// The plan for template `t`: tenants of the template (not deleted),
/// filtered, each with its action. Reading the tenant list is one query;
/// when someone is behind, one rolled-back dry run builds every version and
/// three catalog queries read the drift of all tenants behind (a few more
/// when a schema is locked; see [`catalog::read_schemas_unlocked`]).
pub async fn plan(db: &Db, t: &Template, mode: TimescaleMode, req: &PlanRequest) -> Result<Plan> {
    let to = target(t, req.to)?;
    let all = super::tenants::list_tenants(db, None).await?;
    let mine: Vec<Tenant> = all
        .into_iter()
        .filter(|x| x.template == t.name)
        .filter(|x| {
            req.tenants
                .as_deref()
                .is_none_or(|f| filter_matches(f, &x.domain, &x.id.to_string(), &x.schema_name))
        })
        .collect();
    let behind: Vec<&Tenant> = mine
        .iter()
        .filter(|x| x.template_version < to && x.template_version >= t.baseline_version())
        .filter(|x| matches!(x.status, TenantStatus::Active | TenantStatus::Suspended))
        .collect();
    let mut drift: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut locked: Vec<String> = Vec::new();
    if !behind.is_empty() {
        let versions = catalog::versions(db, t, mode).await?;
        catalog::ensure_consistent(t, &versions)?;
        let schemas: Vec<String> = behind.iter().map(|x| x.schema_name.clone()).collect();
        let have = catalog::read_schemas_unlocked(db, &schemas).await?;
        locked = have.locked;
        for x in &behind {
            if let (Some(want), Some(got)) = (
                versions.by_version.get(&x.template_version),
                have.read.get(&x.schema_name),
            ) {
                drift.insert(x.schema_name.clone(), catalog::compare(want, got));
            }
        }
    }
    let mut tenants = Vec::with_capacity(mine.len());
    let mut totals = Totals::default();
    for x in mine {
        let d = drift.remove(&x.schema_name).unwrap_or_default();
        let drift_checked = locked.binary_search(&x.schema_name).is_err();
        let action = if !matches!(x.status, TenantStatus::Active | TenantStatus::Suspended) {
            Action::HeldStatus
        } else if x.template_version == to {
            Action::Current
        } else if x.template_version > to || x.template_version < t.baseline_version() {
            Action::HeldVersion
        } else if !d.is_empty() && !req.include_drifted {
            Action::HeldDrifted
        } else {
            Action::Migrate
        };
        let (steps, nontx) = if matches!(action, Action::Migrate | Action::HeldDrifted) {
            let ms = t.migrations_between(x.template_version, to)?;
            (
                ms.iter()
                    .flat_map(|m| m.steps.iter().map(|s| s.path.clone()))
                    .collect(),
                ms.iter()
                    .flat_map(|m| &m.steps)
                    .filter(|s| s.non_transactional)
                    .count(),
            )
        } else {
            (Vec::new(), 0)
        };
        totals.tenants += 1;
        match action {
            Action::Migrate => {
                totals.migrate += 1;
                totals.steps += steps.len();
            }
            Action::Current => totals.current += 1,
            _ => totals.held += 1,
        }
        tenants.push(PlanTenant {
            id: x.id,
            domain: x.domain,
            schema: x.schema_name,
            status: x.status.as_str().to_string(),
            from: x.template_version,
            to,
            action,
            steps,
            non_transactional: nontx,
            drift: d,
            drift_checked,
        });
    }
    Ok(Plan {
        template: t.name.clone(),
        latest: t.version,
        to,
        tenants,
        totals,
    })
}
