//! The tenant list: columns, the filter, and the sorted/filtered index. The
//! index is a `Vec<usize>` into the tenant vector, recomputed when tenants,
//! metrics (only if a metric is sorted or filtered on), the filter or the
//! sort change — never per frame.

use std::cmp::Ordering;

use uuid::Uuid;

use crate::domain::metrics::{TenantMap, TenantMetrics};
use crate::domain::tenant::Tenant;

/// A column of the tenant list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Name,
    Domain,
    Status,
    Health,
    Size,
    Connections,
    Calls,
    Writes,
    Template,
}

impl Column {
    pub const ALL: [Column; 9] = [
        Column::Name,
        Column::Domain,
        Column::Status,
        Column::Health,
        Column::Size,
        Column::Connections,
        Column::Calls,
        Column::Writes,
        Column::Template,
    ];

    /// The header text.
    pub fn title(self) -> &'static str {
        match self {
            Column::Name => "NAME",
            Column::Domain => "DOMAIN",
            Column::Status => "STATUS",
            Column::Health => "HEALTH",
            Column::Size => "SIZE",
            Column::Connections => "CONNS",
            Column::Calls => "CALLS/S",
            Column::Writes => "WRITES/S",
            Column::Template => "TEMPLATE",
        }
    }

    /// The name `:sort` accepts.
    pub fn key(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Domain => "domain",
            Column::Status => "status",
            Column::Health => "health",
            Column::Size => "size",
            Column::Connections => "connections",
            Column::Calls => "calls",
            Column::Writes => "writes",
            Column::Template => "template",
        }
    }

    /// Parse a `:sort` argument (prefixes allowed).
    pub fn parse(s: &str) -> Option<Column> {
        let s = s.trim().to_ascii_lowercase();
        if s.is_empty() {
            return None;
        }
        Column::ALL.into_iter().find(|c| c.key().starts_with(&s))
    }

    /// Whether the column's values come from the live snapshot.
    pub fn uses_metrics(self) -> bool {
        matches!(
            self,
            Column::Health | Column::Size | Column::Connections | Column::Calls | Column::Writes
        )
    }

    /// Numeric columns sort biggest first by default.
    pub fn descending_by_default(self) -> bool {
        self.uses_metrics()
    }

    #[must_use]
    pub fn next(self) -> Column {
        let i = Column::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Column::ALL[(i + 1) % Column::ALL.len()]
    }
}

/// One term of the filter.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    /// Matches name, domain or status.
    Any(String),
    Status(String),
    Name(String),
    Domain(String),
    Template(String),
    /// `health<N`.
    HealthBelow(u8),
}

/// The `/` filter: words match name, domain or status; `status=`, `name=`,
/// `domain=`, `template=` and `health<N` narrow to one field. All terms must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub text: String,
    terms: Vec<Term>,
}

impl Filter {
    pub fn parse(text: &str) -> Self {
        let mut terms = Vec::new();
        for word in text.split_whitespace() {
            let w = word.to_lowercase();
            let term = if let Some(v) = w.strip_prefix("status=") {
                Term::Status(v.to_string())
            } else if let Some(v) = w.strip_prefix("name=") {
                Term::Name(v.to_string())
            } else if let Some(v) = w.strip_prefix("domain=") {
                Term::Domain(v.to_string())
            } else if let Some(v) = w.strip_prefix("template=") {
                Term::Template(v.to_string())
            } else if let Some(n) = w.strip_prefix("health<").and_then(|v| v.parse().ok()) {
                Term::HealthBelow(n)
            } else {
                Term::Any(w)
            };
            terms.push(term);
        }
        Self {
            text: text.to_string(),
            terms,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    fn uses_metrics(&self) -> bool {
        self.terms.iter().any(|t| matches!(t, Term::HealthBelow(_)))
    }

    fn matches(&self, t: &Tenant, key: &SearchKey, m: Option<&TenantMetrics>) -> bool {
        self.terms.iter().all(|term| match term {
            Term::Any(w) => {
                key.name.contains(w)
                    || key.domain.contains(w)
                    || t.status.as_str().starts_with(w.as_str())
            }
            Term::Status(s) => t.status.as_str().starts_with(s.as_str()),
            Term::Name(s) => key.name.contains(s.as_str()),
            Term::Domain(s) => key.domain.contains(s.as_str()),
            Term::Template(s) => t.template.to_lowercase().contains(s.as_str()),
            Term::HealthBelow(n) => m.is_some_and(|m| m.health.score < *n),
        })
    }
}

/// Lowercased, sanitized name and domain, computed once per tenant list.
#[derive(Debug, Clone, Default)]
pub struct SearchKey {
    pub name: String,
    pub domain: String,
}

impl SearchKey {
    pub fn of(t: &Tenant) -> Self {
        Self {
            name: crate::domain::sanitize::clean(&t.name).to_lowercase(),
            domain: crate::domain::sanitize::clean(&t.domain).to_lowercase(),
        }
    }
}

/// Cursor, scroll, sort and filter of the tenant list.
#[derive(Debug, Clone)]
pub struct ListState {
    /// Positions into `State::tenants`, filtered and sorted.
    pub index: Vec<usize>,
    /// Position of the selected row within `index`.
    pub cursor: usize,
    /// First visible row.
    pub offset: usize,
    /// The selected tenant, kept across recomputes and reconnects.
    pub selected: Option<Uuid>,
    pub sort: Column,
    pub descending: bool,
    pub filter: Filter,
}

impl Default for ListState {
    fn default() -> Self {
        Self {
            index: Vec::new(),
            cursor: 0,
            offset: 0,
            selected: None,
            sort: Column::Name,
            descending: false,
            filter: Filter::default(),
        }
    }
}

impl ListState {
    /// Whether a new snapshot changes the order or the membership.
    pub fn depends_on_metrics(&self) -> bool {
        self.sort.uses_metrics() || self.filter.uses_metrics()
    }

    /// Rebuild the index and put the cursor back on the selected tenant.
    pub fn recompute(
        &mut self,
        tenants: &[Tenant],
        keys: &[SearchKey],
        metrics: Option<&TenantMap>,
        page: usize,
    ) {
        let m = |t: &Tenant| metrics.and_then(|m| m.get(&t.id));
        self.index.clear();
        self.index.extend((0..tenants.len()).filter(|&i| {
            self.filter.is_empty() || self.filter.matches(&tenants[i], &keys[i], m(&tenants[i]))
        }));
        let col = self.sort;
        let desc = self.descending;
        // One metrics lookup per tenant, not two per comparison.
        let nums: Vec<f64> = if col.uses_metrics() {
            tenants
                .iter()
                .map(|t| {
                    let Some(x) = m(t) else {
                        return f64::NEG_INFINITY;
                    };
                    match col {
                        Column::Health => f64::from(x.health.score),
                        Column::Size => x.size_bytes as f64,
                        Column::Connections => f64::from(x.sessions_total),
                        Column::Calls => x.calls_per_s.unwrap_or(f64::NEG_INFINITY),
                        Column::Writes => x.writes_per_s.unwrap_or(f64::NEG_INFINITY),
                        _ => 0.0,
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let cmp = |a: &usize, b: &usize| -> Ordering {
            let (ta, tb) = (&tenants[*a], &tenants[*b]);
            let o = match col {
                Column::Name => keys[*a].name.cmp(&keys[*b].name),
                Column::Domain => keys[*a].domain.cmp(&keys[*b].domain),
                Column::Status => ta.status.cmp(&tb.status),
                Column::Template => ta
                    .template
                    .cmp(&tb.template)
                    .then(ta.template_version.cmp(&tb.template_version)),
                _ => nums[*a].total_cmp(&nums[*b]),
            };
            let o = if desc { o.reverse() } else { o };
            // A stable, total tiebreak so equal rows never swap between frames.
            o.then_with(|| keys[*a].domain.cmp(&keys[*b].domain))
                .then_with(|| ta.id.cmp(&tb.id))
        };
        self.index.sort_unstable_by(cmp);
        self.reselect(tenants, page);
    }

    /// Put the cursor on `selected` if it is still listed, else clamp it.
    fn reselect(&mut self, tenants: &[Tenant], page: usize) {
        if let Some(id) = self.selected {
            if let Some(pos) = self.index.iter().position(|&i| tenants[i].id == id) {
                self.cursor = pos;
            }
        }
        self.cursor = self.cursor.min(self.index.len().saturating_sub(1));
        self.selected = self.index.get(self.cursor).map(|&i| tenants[i].id);
        self.scroll_into_view(page);
    }

    /// Move the cursor by `delta` rows (clamped).
    pub fn move_by(&mut self, delta: isize, tenants: &[Tenant], page: usize) {
        if self.index.is_empty() {
            return;
        }
        let last = self.index.len() - 1;
        self.cursor = self.cursor.saturating_add_signed(delta).min(last);
        self.selected = Some(tenants[self.index[self.cursor]].id);
        self.scroll_into_view(page);
    }

    /// Keep the cursor within the visible window of `page` rows.
    pub fn scroll_into_view(&mut self, page: usize) {
        let page = page.max(1);
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + page {
            self.offset = self.cursor + 1 - page;
        }
        let max_offset = self.index.len().saturating_sub(page);
        self.offset = self.offset.min(max_offset);
    }
}
