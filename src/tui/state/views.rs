//! The monitoring views' own state: the chart window, the Neighbours
//! ranking, the Locks cursor and the heat map (its order, groups, levels
//! and cursor). `update` writes it; the panes in `ui/` read it. The heat
//! map's geometry lives here so drawing and cursor movement agree.

use std::time::Duration;

use uuid::Uuid;

use crate::domain::activity::NeighbourMetric;
use crate::domain::metrics::TenantMetrics;
use crate::domain::tenant::Tenant;

/// Chart windows `w` steps through, in minutes.
pub const WINDOWS_MIN: [u64; 4] = [1, 5, 15, 60];

/// Rows the Neighbours view ranks (it scrolls).
pub const NEIGHBOURS_TOP: usize = 200;

/// Columns a heat-map cell takes (a glyph and a gap).
pub const CELL_W: u16 = 2;

/// What the heat map colours its cells by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeatMetric {
    Health,
    Share,
    Calls,
    Writes,
    Size,
    Connections,
    Wal,
    CacheHit,
}

impl HeatMetric {
    pub const ALL: [HeatMetric; 8] = [
        HeatMetric::Health,
        HeatMetric::Share,
        HeatMetric::Calls,
        HeatMetric::Writes,
        HeatMetric::Size,
        HeatMetric::Connections,
        HeatMetric::Wal,
        HeatMetric::CacheHit,
    ];

    pub fn title(self) -> &'static str {
        match self {
            HeatMetric::Health => "health",
            HeatMetric::Share => "share of statement time",
            HeatMetric::Calls => "calls/s",
            HeatMetric::Writes => "writes/s",
            HeatMetric::Size => "size",
            HeatMetric::Connections => "connections",
            HeatMetric::Wal => "WAL/s",
            HeatMetric::CacheHit => "cache hit",
        }
    }

    #[must_use]
    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|m| *m == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// The value, oriented so that bigger is worse; `None`: not measured.
    pub fn badness(self, m: &TenantMetrics) -> Option<f64> {
        match self {
            HeatMetric::Health => Some(100.0 - f64::from(m.health.score)),
            HeatMetric::Share => m.share_score,
            HeatMetric::Calls => m.calls_per_s,
            HeatMetric::Writes => m.writes_per_s,
            HeatMetric::Size => Some(m.size_bytes as f64),
            HeatMetric::Connections => Some(f64::from(m.sessions_total)),
            HeatMetric::Wal => m.wal_bytes_per_s,
            HeatMetric::CacheHit => m.cache_hit.map(|h| 1.0 - h),
        }
    }
}

/// How the heat map groups its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeatGroup {
    TemplateVersion,
    Status,
}

impl HeatGroup {
    pub fn title(self) -> &'static str {
        match self {
            HeatGroup::TemplateVersion => "template version",
            HeatGroup::Status => "status",
        }
    }

    fn key(self, t: &Tenant) -> (String, String) {
        match self {
            HeatGroup::TemplateVersion => (
                format!("{}\u{0}{:06}", t.template, t.template_version),
                format!("{} v{}", t.template, t.template_version),
            ),
            HeatGroup::Status => (
                format!("{}", status_order(t.status)),
                t.status.as_str().to_string(),
            ),
        }
    }
}

fn status_order(s: crate::domain::tenant::TenantStatus) -> u8 {
    use crate::domain::tenant::TenantStatus as S;
    match s {
        S::Active => 0,
        S::Provisioning => 1,
        S::Suspended | S::Restoring => 2,
        S::Deleted => 3,
    }
}

/// One group of the heat map: its label and its slice of `order`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeatGroupRow {
    pub label: String,
    pub start: usize,
    pub len: usize,
}

/// A line of the heat map: a group label, or up to `cols` cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeatLine {
    Label(usize),
    Cells { start: usize, len: usize },
}

/// The heat map.
#[derive(Debug, Clone)]
pub struct Heat {
    pub metric: HeatMetric,
    pub group: HeatGroup,
    /// Tenants in group order (then by name).
    pub order: Vec<Uuid>,
    pub groups: Vec<HeatGroupRow>,
    /// Per tenant of `order`: 0 no data, 1 (fine) to 5 (an outlier).
    pub levels: Vec<u8>,
    /// Index into `order`.
    pub cursor: usize,
    /// The tenant list `order` was built from (address, length).
    pub source: (usize, usize),
}

impl Default for Heat {
    fn default() -> Self {
        Self {
            metric: HeatMetric::Health,
            group: HeatGroup::TemplateVersion,
            order: Vec::new(),
            groups: Vec::new(),
            levels: Vec::new(),
            cursor: 0,
            source: (0, 0),
        }
    }
}

impl Heat {
    /// Cells per line in `width` columns.
    pub fn cols(width: u16) -> usize {
        usize::from((width / CELL_W).max(1))
    }

    /// The lines of the map at `cols` cells per line.
    pub fn lines(&self, cols: usize) -> Vec<HeatLine> {
        let cols = cols.max(1);
        let mut out = Vec::with_capacity(self.groups.len() + self.order.len() / cols + 1);
        for (g, row) in self.groups.iter().enumerate() {
            out.push(HeatLine::Label(g));
            let mut k = 0;
            while k < row.len {
                let len = cols.min(row.len - k);
                out.push(HeatLine::Cells {
                    start: row.start + k,
                    len,
                });
                k += len;
            }
        }
        out
    }

    /// The line holding the cursor.
    pub fn cursor_line(&self, lines: &[HeatLine]) -> usize {
        lines
            .iter()
            .position(|l| matches!(l, HeatLine::Cells { start, len } if (*start..start + len).contains(&self.cursor)))
            .unwrap_or(0)
    }

    /// Move the cursor: `dx` cells along, `dy` lines of cells up or down
    /// (to the same column, or the last cell of a shorter line).
    pub fn move_cursor(&mut self, dx: isize, dy: isize, cols: usize) {
        if self.order.is_empty() {
            self.cursor = 0;
            return;
        }
        let last = self.order.len() - 1;
        if dx != 0 {
            self.cursor = self.cursor.saturating_add_signed(dx).min(last);
        }
        if dy != 0 {
            let lines = self.lines(cols);
            let cells: Vec<(usize, usize)> = lines
                .iter()
                .filter_map(|l| match l {
                    HeatLine::Cells { start, len } => Some((*start, *len)),
                    HeatLine::Label(_) => None,
                })
                .collect();
            let here = cells
                .iter()
                .position(|(s, l)| (*s..s + l).contains(&self.cursor))
                .unwrap_or(0);
            let col = self.cursor - cells[here].0;
            let to = here
                .saturating_add_signed(dy)
                .min(cells.len().saturating_sub(1));
            let (s, l) = cells[to];
            self.cursor = s + col.min(l - 1);
        }
    }

    /// Regroup the tenants (the list or the grouping changed), keeping the
    /// cursor on its tenant.
    pub fn regroup(&mut self, tenants: &[Tenant]) {
        let keep = self.order.get(self.cursor).copied();
        let mut keyed: Vec<((String, String), String, Uuid)> = tenants
            .iter()
            .filter(|t| t.status != crate::domain::tenant::TenantStatus::Deleted)
            .map(|t| (self.group.key(t), t.name.to_lowercase(), t.id))
            .collect();
        keyed.sort_unstable_by(|a, b| (&a.0.0, &a.1, a.2).cmp(&(&b.0.0, &b.1, b.2)));
        self.groups.clear();
        self.order.clear();
        for (i, ((k, label), _, id)) in keyed.iter().enumerate() {
            let new_group = self
                .groups
                .last()
                .is_none_or(|_| i == 0 || keyed[i - 1].0.0 != *k);
            if new_group {
                self.groups.push(HeatGroupRow {
                    label: label.clone(),
                    start: i,
                    len: 0,
                });
            }
            if let Some(g) = self.groups.last_mut() {
                g.len += 1;
            }
            self.order.push(*id);
        }
        self.cursor = keep
            .and_then(|id| self.order.iter().position(|o| *o == id))
            .unwrap_or(0)
            .min(self.order.len().saturating_sub(1));
        self.levels.clear();
    }

    /// Each tenant's level against the fleet: health by fixed bands (a
    /// score means the same everywhere); the other metrics by where the
    /// value falls among all tenants' (median, p75, p90, p99), so outliers
    /// stand out whatever the scale.
    pub fn relevel(&mut self, metrics: impl Fn(&Uuid) -> Option<f64>) {
        let values: Vec<Option<f64>> = self.order.iter().map(&metrics).collect();
        self.levels = if self.metric == HeatMetric::Health {
            values
                .iter()
                .map(|v| match v {
                    None => 0,
                    Some(b) if *b <= 0.0 => 1,
                    Some(b) if *b <= 10.0 => 2,
                    Some(b) if *b <= 25.0 => 3,
                    Some(b) if *b <= 50.0 => 4,
                    Some(_) => 5,
                })
                .collect()
        } else {
            let mut sorted: Vec<f64> = values.iter().flatten().copied().collect();
            sorted.sort_unstable_by(f64::total_cmp);
            let q = |p: f64| -> f64 {
                if sorted.is_empty() {
                    return 0.0;
                }
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                // reason: a quantile's index
                let i = ((sorted.len() - 1) as f64 * p).round() as usize;
                sorted[i]
            };
            let cuts = [q(0.5), q(0.75), q(0.9), q(0.99)];
            values
                .iter()
                .map(|v| match v {
                    None => 0,
                    Some(x) => {
                        let above = cuts.iter().filter(|c| *x > **c).count();
                        // Nothing at all (an idle tenant) is fine, whatever the fleet.
                        if *x <= 0.0 {
                            1
                        } else {
                            1 + u8::try_from(above).unwrap_or(4)
                        }
                    }
                })
                .collect()
        };
    }
}

/// State of the monitoring views.
#[derive(Debug, Clone)]
pub struct Views {
    /// The charts' time window.
    pub window: Duration,
    /// The configured history (the longest window there is data for).
    pub history: Duration,
    pub neighbour_metric: NeighbourMetric,
    /// Tenants ranked by `neighbour_metric`, recomputed per snapshot.
    pub neighbours: Vec<Uuid>,
    pub neighbour_cursor: usize,
    /// Selected chain of the Locks view.
    pub locks_cursor: usize,
    /// Time travel while paused: points back from the newest kept (0: now).
    pub time_back: usize,
    /// The snapshot paused on, to come back to at `time_back` 0.
    pub present: Option<std::sync::Arc<crate::domain::metrics::Snapshot>>,
    pub heat: Heat,
}

impl Views {
    pub fn new(history: Duration) -> Self {
        let mut v = Self {
            window: Duration::from_secs(15 * 60),
            history,
            neighbour_metric: NeighbourMetric::Share,
            neighbours: Vec::new(),
            neighbour_cursor: 0,
            locks_cursor: 0,
            time_back: 0,
            present: None,
            heat: Heat::default(),
        };
        v.window = v.clamp_window(v.window);
        v
    }

    /// The window, no longer than the history (at least a minute).
    pub fn clamp_window(&self, w: Duration) -> Duration {
        w.min(self.history).max(Duration::from_secs(60))
    }

    /// The next window of [`WINDOWS_MIN`] within the history (wraps).
    pub fn next_window(&self) -> Duration {
        let cur = self.window.as_secs() / 60;
        let fits: Vec<u64> = WINDOWS_MIN
            .iter()
            .copied()
            .filter(|m| Duration::from_secs(m * 60) <= self.history.max(Duration::from_secs(60)))
            .collect();
        let next = fits
            .iter()
            .find(|m| **m > cur)
            .or(fits.first())
            .copied()
            .unwrap_or(1);
        Duration::from_secs(next * 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::sample;

    #[test]
    fn heat_map_groups_and_moves_by_lines() {
        let mut h = Heat::default();
        let tenants = sample::tenants(25);
        h.regroup(&tenants);
        // template v1 (every fifth) then v2.
        assert_eq!(h.groups.len(), 2);
        assert_eq!(h.groups[0].label, "default v1");
        assert_eq!(h.groups[0].len, 5);
        assert_eq!(h.groups[1].len, 20);
        let lines = h.lines(8);
        // label, 5 cells; label, 8, 8, 4.
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[5], HeatLine::Cells { start: 21, len: 4 });
        h.cursor = 3;
        h.move_cursor(0, 1, 8);
        assert_eq!(h.cursor, 8, "next line, same column");
        h.move_cursor(0, 2, 8);
        assert_eq!(h.cursor, 24, "a shorter line: its last cell");
        h.move_cursor(0, 5, 8);
        assert_eq!(h.cursor, 24, "stays on the last line");
        h.move_cursor(1, 0, 8);
        assert_eq!(h.cursor, 24, "stays on the last cell");
        h.move_cursor(0, -3, 8);
        assert_eq!(h.cursor, 3, "first group's line, same column");
        h.move_cursor(-10, 0, 8);
        assert_eq!(h.cursor, 0);
    }

    #[test]
    fn levels_against_the_fleet() {
        let mut h = Heat::default();
        h.regroup(&sample::tenants(100));
        h.metric = HeatMetric::Calls;
        let pos: std::collections::HashMap<Uuid, usize> =
            (0..100).map(|i| (sample::id(i), i)).collect();
        h.relevel(|id| {
            let i = pos[id];
            match i {
                0 => None,
                1 => Some(0.0),
                99 => Some(10_000.0),
                _ => Some(i as f64),
            }
        });
        let level = |h: &Heat, i: usize| {
            h.levels[h
                .order
                .iter()
                .position(|o| *o == sample::id(i))
                .expect("there")]
        };
        assert_eq!(level(&h, 0), 0, "not measured");
        assert_eq!(level(&h, 1), 1, "idle is fine");
        assert_eq!(level(&h, 99), 5, "the outlier");
        assert_eq!(level(&h, 10), 1, "below the median");
        h.metric = HeatMetric::Health;
        h.relevel(|id| Some(if pos[id] == 5 { 60.0 } else { 0.0 }));
        assert_eq!(level(&h, 5), 5);
        assert_eq!(level(&h, 6), 1);
    }

    #[test]
    fn windows_stay_within_the_history() {
        let v = Views::new(Duration::from_secs(15 * 60));
        assert_eq!(v.window, Duration::from_secs(15 * 60));
        let mut v2 = v.clone();
        v2.window = v.next_window();
        assert_eq!(
            v2.window,
            Duration::from_secs(60),
            "60 min exceeds 15: wraps to 1"
        );
        v2.window = v2.next_window();
        assert_eq!(v2.window, Duration::from_secs(300));
        let long = Views::new(Duration::from_secs(3600));
        assert_eq!(
            long.clamp_window(Duration::from_secs(7200)),
            Duration::from_secs(3600)
        );
    }
}
