//! Fleet migrations, the rules without I/O: which tenants a filter picks,
//! how a run is split into waves (`--canary N|N%|LIST`), when a wave stops
//! (`--max-failures`), how long to wait before retrying a lock, and how the
//! steps between two positions of a tenant are cut into transactions (every
//! transactional step of consecutive versions in one; each
//! non-transactional step on its own).

use std::time::Duration;

use serde::Serialize;

use crate::domain::template::Template;
use crate::error::{Error, Result};

/// `--tenants FILTER`: comma-separated patterns, each matched against the
/// tenant's domain (with `*` as a wildcard), or equal to its id or schema.
pub fn filter_matches(filter: &str, domain: &str, id: &str, schema: &str) -> bool {
    filter
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|p| p == id || p == schema || glob(&p.to_ascii_lowercase(), domain))
}

fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The canary wave: a number of tenants, a share of them, or named tenants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Canary {
    Count(usize),
    Percent(u8),
    /// Domains, ids or schema names.
    List(Vec<String>),
}

impl Canary {
    /// `5`, `10%`, or `a.example.com,b.example.com`.
    pub fn parse(s: &str) -> Result<Self> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            let n: u8 = p.trim().parse().ok().filter(|n| *n <= 100).ok_or_else(|| {
                Error::invalid(format!("--canary {t}: a share must be 0% to 100%"))
            })?;
            return Ok(Self::Percent(n));
        }
        if t.chars().all(|c| c.is_ascii_digit()) && !t.is_empty() {
            return t
                .parse()
                .map(Self::Count)
                .map_err(|_| Error::invalid(format!("--canary {t}: not a number of tenants")));
        }
        let list: Vec<String> = t
            .split(',')
            .map(|x| x.trim().to_ascii_lowercase())
            .filter(|x| !x.is_empty())
            .collect();
        if list.is_empty() {
            return Err(Error::invalid(
                "--canary: give a number of tenants, a share such as 5%, or tenant domains",
            ));
        }
        Ok(Self::List(list))
    }
}

/// Wave numbers for `n` tenants in plan order: 0 for the canary wave, 1 for
/// the rest. `keys(i)` gives tenant i's domain, id and schema (for a list).
/// A share rounds up, so 1% of 50 tenants is one canary.
pub fn waves(n: usize, canary: &Canary, keys: impl Fn(usize) -> [String; 3]) -> Vec<u32> {
    let size = match canary {
        Canary::Count(c) => (*c).min(n),
        Canary::Percent(p) => (n * usize::from(*p)).div_ceil(100).min(n),
        Canary::List(list) => {
            return (0..n)
                .map(|i| u32::from(!keys(i).iter().any(|k| list.contains(k))))
                .collect();
        }
    };
    (0..n).map(|i| u32::from(i >= size)).collect()
}

/// How many failures a wave of `size` tenants tolerates before it stops:
/// `--max-failures` when given; else none in the canary wave (the first
/// failure stops it) and 1 % of the wave after it.
pub fn max_failures(given: Option<usize>, wave: u32, size: usize) -> usize {
    match given {
        Some(m) => m,
        None if wave == 0 => 0,
        None => size / 100,
    }
}

/// Delay before retry `attempt` (1-based) after a lock was not granted:
/// exponential from 200 ms, capped at 5 s, with jitter `j` in [0, 1) taking
/// off up to half (so concurrent runs do not retry in step).
pub fn backoff(attempt: u32, j: f64) -> Duration {
    let base = 200u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(10));
    let capped = base.min(5_000);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a delay of at most 5000 ms"
    )]
    let ms = (capped as f64 * (1.0 - 0.5 * j.clamp(0.0, 1.0))) as u64;
    Duration::from_millis(ms)
}

/// One piece of a tenant's migration that runs on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Transactional steps `(path, sql)` in one transaction, ending at
    /// version `end.0` with `end.1` steps of the next migration applied.
    Tx {
        steps: Vec<(String, String)>,
        end: (i32, i32),
    },
    /// One non-transactional step (`CREATE INDEX CONCURRENTLY`): step
    /// `step` of the migration from `at.0`; it builds `index`.
    NonTx {
        path: String,
        sql: String,
        index: String,
        at: (i32, i32),
        end: (i32, i32),
    },
}

impl Segment {
    /// Where the tenant is after this segment.
    pub fn end(&self) -> (i32, i32) {
        match self {
            Self::Tx { end, .. } | Self::NonTx { end, .. } => *end,
        }
    }
}

/// The segments from position `(at_version, at_step)` to version `to`.
pub fn segments(t: &Template, at_version: i32, at_step: i32, to: i32) -> Result<Vec<Segment>> {
    let migrations = t.migrations_between(at_version, to)?;
    let mut out = Vec::new();
    let mut tx: Vec<(String, String)> = Vec::new();
    for (mi, m) in migrations.iter().enumerate() {
        let from = m.to - 1;
        let skip = if mi == 0 {
            usize::try_from(at_step).unwrap_or(0)
        } else {
            0
        };
        if skip > m.steps.len() {
            return Err(Error::invalid(format!(
                "the ledger says {skip} steps of the migration to version {} ran, but it has {}",
                m.to,
                m.steps.len()
            )));
        }
        for (k, st) in m.steps.iter().enumerate().skip(skip) {
            let k = i32::try_from(k).unwrap_or(i32::MAX);
            if st.non_transactional {
                if !tx.is_empty() {
                    out.push(Segment::Tx {
                        steps: std::mem::take(&mut tx),
                        end: (from, k),
                    });
                }
                let last = usize::try_from(k).unwrap_or(0) + 1 == m.steps.len();
                out.push(Segment::NonTx {
                    path: st.path.clone(),
                    sql: st.sql.clone(),
                    index: st.index.clone().unwrap_or_default(),
                    at: (from, k),
                    end: if last { (m.to, 0) } else { (from, k + 1) },
                });
            } else {
                tx.push((st.path.clone(), st.sql.clone()));
            }
        }
    }
    if !tx.is_empty() {
        out.push(Segment::Tx {
            steps: tx,
            end: (to, 0),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert!(filter_matches("*.example.com", "a.example.com", "x", "s"));
        assert!(filter_matches("b.x, a*", "acme.io", "x", "s"));
        assert!(filter_matches("s1", "acme.io", "x", "s1"));
        assert!(!filter_matches("*.example.com", "a.example.org", "x", "s"));
        assert!(filter_matches("a*c*e", "abcde", "", ""));
        assert!(!filter_matches("a*c*e", "abcd", "", ""));
        // Without a wildcard the whole domain must match.
        assert!(filter_matches("acme.io", "acme.io", "x", "s"));
        assert!(!filter_matches("acme.io", "acme.iox", "x", "s"));
        assert!(!filter_matches("acme.io", "xacme.io", "x", "s"));
        // The last part must end the domain, not merely occur in it.
        assert!(!filter_matches("a*b", "abx", "", ""));
        // A middle part is consumed whole: nothing of it is left for the end.
        assert!(!filter_matches("x*ab*b", "xab", "", ""));
        assert!(filter_matches("x*ab*b", "xabb", "", ""));
    }

    #[test]
    fn canary_waves_and_failure_budgets() {
        assert_eq!(Canary::parse("3").expect("n"), Canary::Count(3));
        assert_eq!(Canary::parse("10%").expect("p"), Canary::Percent(10));
        assert!(Canary::parse("101%").is_err());
        let k = |i: usize| [format!("t{i}.io"), String::new(), String::new()];
        assert_eq!(waves(4, &Canary::Count(1), k), [0, 1, 1, 1]);
        assert_eq!(
            waves(50, &Canary::Percent(1), k)
                .iter()
                .filter(|w| **w == 0)
                .count(),
            1
        );
        assert_eq!(waves(2, &Canary::Count(9), k), [0, 0]);
        let canaries = |n: usize, p: u8| {
            waves(n, &Canary::Percent(p), k)
                .iter()
                .filter(|w| **w == 0)
                .count()
        };
        assert_eq!(canaries(200, 10), 20);
        assert_eq!(canaries(201, 10), 21, "a share rounds up");
        assert_eq!(canaries(7, 100), 7);
        let l = Canary::parse("t2.io").expect("list");
        assert_eq!(waves(3, &l, k), [1, 1, 0]);
        assert_eq!(max_failures(None, 0, 500), 0);
        assert_eq!(max_failures(None, 1, 500), 5);
        assert_eq!(max_failures(Some(2), 0, 5), 2);
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(2, 0.0), Duration::from_millis(400));
        assert_eq!(backoff(2, 0.999), Duration::from_millis(200));
        assert_eq!(backoff(30, 0.0), Duration::from_secs(5));
    }

    #[test]
    fn steps_are_cut_at_non_transactional_ones() {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("templates/examples/default-migrations.json");
        let t = crate::template_files::validate_file(&path).expect("example");
        // v1 -> v3: the ALTER, then the concurrent index on its own (ending
        // v2), then v3's two steps in one transaction.
        let s = segments(&t, 1, 0, 3).expect("segments");
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(matches!(&s[0], Segment::Tx { steps, end: (1, 1) } if steps.len() == 1));
        assert!(
            matches!(&s[1], Segment::NonTx { at: (1, 1), end: (2, 0), index, .. } if index == "idx_positions_symbol")
        );
        assert!(matches!(&s[2], Segment::Tx { steps, end: (3, 0) } if steps.len() == 2));
        assert_eq!(
            s.iter().map(Segment::end).collect::<Vec<_>>(),
            [(1, 1), (2, 0), (3, 0)]
        );
        // Resumed after the first transaction.
        let s = segments(&t, 1, 1, 3).expect("resumed");
        assert_eq!(s.len(), 2);
        // Every step of v2 recorded as run (its last one not yet bumped):
        // only v3's remain.
        let s = segments(&t, 1, 2, 3).expect("all of v2 ran");
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].end(), (3, 0));
        assert!(segments(&t, 3, 0, 3).expect("none").is_empty());
        assert!(segments(&t, 1, 5, 3).is_err());
    }

    #[test]
    fn a_concurrent_index_in_the_middle_ends_at_the_next_step() {
        let t = crate::domain::template::parse(
            r#"{"name": "m", "version": 2,
                "tables": ["CREATE TABLE a (id bigint PRIMARY KEY, n text)"],
                "baseline": {"version": 1, "tables": ["CREATE TABLE a (id bigint PRIMARY KEY)"]},
                "migrations": [{"to": 2, "steps": [
                    "ALTER TABLE a ADD COLUMN n text",
                    "CREATE INDEX CONCURRENTLY a_n_idx ON a (n)",
                    "DROP INDEX a_n_idx"
                ]}]}"#,
        )
        .expect("parses");
        let s = segments(&t, 1, 0, 2).expect("segments");
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(matches!(
            &s[1],
            Segment::NonTx {
                at: (1, 1),
                end: (1, 2),
                ..
            }
        ));
        assert_eq!(
            s.iter().map(Segment::end).collect::<Vec<_>>(),
            [(1, 1), (1, 2), (2, 0)]
        );
    }
}
