//! The metrics store: per-tenant counters for rates, the last exact size,
//! and history rings at tick resolution, pruned by capacity and freezable.
//!
//! Memory is bounded and flat. Per tenant, with `capacity` points of
//! history (15 min at 2 s = 450):
//!
//! - history: [`SERIES`] (4) rings of `u16` (bfloat16: 8-bit exponent,
//!   7-bit mantissa, under 0.4% relative error, plenty for a sparkline):
//!   `4 × 2 × 450 = 3,600` bytes, one boxed slice;
//! - [`TenantState`] itself: about 185 bytes of counters and the ring's
//!   pointer;
//! - the hash map entry: key and control byte, about 25 bytes.
//!
//! 3,809 bytes per tenant in all (3.7 KiB), below the 4 KiB target;
//! [`Store::bytes_per_tenant`] computes it from the actual sizes and the
//! benchmark prints it. Timestamps are kept once for everyone. Not counted
//! here: the current values, which live once in the last [`Snapshot`]
//! (shared with the console by `Arc`), about 300 bytes per tenant.
//!
//! [`Snapshot`]: crate::domain::metrics::Snapshot

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::metrics::{History, HistoryPoint};

/// Names of the per-tenant series, in ring order.
pub const SERIES: [&str; 4] = ["calls/s", "writes/s", "size", "connections"];
/// Names of the cluster series.
pub const CLUSTER_SERIES: [&str; 4] = ["commits/s", "connections", "cache hit %", "size"];

const NONE_BITS: u16 = 0x7fc1;

/// f64 to bfloat16 bits, rounding to nearest; `None` is a NaN pattern.
pub fn encode(v: Option<f64>) -> u16 {
    match v {
        #[allow(clippy::cast_possible_truncation)]
        // reason: the narrowing to f32 and to the top 16 bits is the encoding
        Some(x) if x.is_finite() => {
            let bits = (x as f32).to_bits();
            let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1));
            let out = (rounded >> 16) as u16;
            // Rounding up the largest finite values overflows to infinity; keep them finite.
            if out & 0x7f80 == 0x7f80 {
                (bits >> 16) as u16
            } else {
                out
            }
        }
        _ => NONE_BITS,
    }
}

/// bfloat16 bits back to f64; NaN is `None`.
pub fn decode(b: u16) -> Option<f64> {
    let f = f32::from_bits(u32::from(b) << 16);
    if f.is_nan() { None } else { Some(f64::from(f)) }
}

/// Server time as milliseconds since the epoch (compact).
pub fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A cumulative counter's last reading.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reading {
    pub at_ms: i64,
    pub value: u64,
}

/// The increase of a counter since the previous reading and the server
/// seconds between them; `None` on the first reading, when the clock did
/// not advance, and when the counter went down (a reset). Always records
/// the new reading.
pub fn delta(prev: &mut Option<Reading>, at_ms: i64, value: u64) -> Option<(u64, f64)> {
    let out = match *prev {
        Some(p) if at_ms > p.at_ms && value >= p.value => {
            Some((value - p.value, (at_ms - p.at_ms) as f64 / 1000.0))
        }
        _ => None,
    };
    *prev = Some(Reading { at_ms, value });
    out
}

/// A rate per second from [`delta`].
pub fn rate(prev: &mut Option<Reading>, at_ms: i64, value: u64) -> Option<f64> {
    delta(prev, at_ms, value).map(|(d, s)| d as f64 / s)
}

/// Usage accumulated for the current rollup period.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct UsageAccum {
    pub calls: u64,
    pub exec_ms: f64,
    pub rows_written: u64,
    pub max_connections: u32,
    pub bytes: u64,
    pub statements_seen: bool,
}

/// Everything kept for one tenant between ticks.
#[derive(Debug, Clone)]
pub struct TenantState {
    pub rows: Option<Reading>,
    pub calls: Option<Reading>,
    /// Statement time, in microseconds so it is a counter like the others.
    pub exec_us: Option<Reading>,
    pub scans: Option<Reading>,
    /// Last exact size and when it was measured (server ms).
    pub exact: Option<(u64, i64)>,
    /// Server ms of the last activity seen (or of the first sight).
    pub last_activity_ms: i64,
    pub usage: UsageAccum,
    ring: Box<[u16]>,
}

/// Rings for all tenants and the cluster, with one shared timeline.
#[derive(Debug, Clone)]
pub struct Store {
    capacity: usize,
    times: Box<[i64]>,
    head: usize,
    len: usize,
    frozen: bool,
    tenants: HashMap<Uuid, TenantState>,
    cluster: Box<[f32]>,
}

impl Store {
    /// A store holding `capacity` points (at least 2).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(2);
        Self {
            capacity,
            times: vec![0; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
            frozen: false,
            tenants: HashMap::new(),
            cluster: vec![f32::NAN; capacity * CLUSTER_SERIES.len()].into_boxed_slice(),
        }
    }

    /// Points for `history` at one per `interval` (capped at 3,600).
    pub fn capacity_for(history: std::time::Duration, interval: std::time::Duration) -> usize {
        let i = interval.as_millis().max(1);
        usize::try_from(history.as_millis().div_ceil(i))
            .unwrap_or(3600)
            .clamp(2, 3600)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Change the number of points kept (the interval or window changed),
    /// keeping the newest points that fit.
    pub fn resize(&mut self, capacity: usize) {
        let capacity = capacity.max(2);
        if capacity == self.capacity {
            return;
        }
        let keep = self.len.min(capacity);
        let slots: Vec<usize> = self.slots().skip(self.len - keep).collect();
        let old = self.capacity;
        let mut times = vec![0; capacity].into_boxed_slice();
        let mut cluster = vec![f32::NAN; capacity * CLUSTER_SERIES.len()].into_boxed_slice();
        for (k, slot) in slots.iter().enumerate() {
            times[k] = self.times[*slot];
            for s in 0..CLUSTER_SERIES.len() {
                cluster[s * capacity + k] = self.cluster[s * old + slot];
            }
        }
        for st in self.tenants.values_mut() {
            let mut ring = vec![NONE_BITS; capacity * SERIES.len()].into_boxed_slice();
            for (k, slot) in slots.iter().enumerate() {
                for s in 0..SERIES.len() {
                    ring[s * capacity + k] = st.ring[s * old + slot];
                }
            }
            st.ring = ring;
        }
        self.times = times;
        self.cluster = cluster;
        self.capacity = capacity;
        self.len = keep;
        self.head = keep % capacity;
    }

    /// Points currently held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stop (true) or resume (false) appending history.
    pub fn set_frozen(&mut self, frozen: bool) {
        self.frozen = frozen;
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// The tenant's state, created on first sight with empty history.
    pub fn tenant_mut(&mut self, id: Uuid, now_ms: i64) -> &mut TenantState {
        let cap = self.capacity;
        self.tenants.entry(id).or_insert_with(|| TenantState {
            rows: None,
            calls: None,
            exec_us: None,
            scans: None,
            exact: None,
            last_activity_ms: now_ms,
            usage: UsageAccum::default(),
            ring: vec![NONE_BITS; cap * SERIES.len()].into_boxed_slice(),
        })
    }

    pub fn tenant(&self, id: &Uuid) -> Option<&TenantState> {
        self.tenants.get(id)
    }

    pub fn tenants_mut(&mut self) -> impl Iterator<Item = (&Uuid, &mut TenantState)> {
        self.tenants.iter_mut()
    }

    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// Drop tenants not in `keep`; returns the ones dropped.
    pub fn retain(&mut self, keep: &HashSet<Uuid>) -> Vec<Uuid> {
        let gone: Vec<Uuid> = self
            .tenants
            .keys()
            .filter(|k| !keep.contains(k))
            .copied()
            .collect();
        for g in &gone {
            self.tenants.remove(g);
        }
        gone
    }

    /// Append one point for everyone: `values` gives a tenant's series in
    /// [`SERIES`] order (tenants it is not asked about get gaps). Does
    /// nothing while frozen.
    pub fn push(
        &mut self,
        at: DateTime<Utc>,
        mut values: impl FnMut(&Uuid) -> [Option<f64>; 4],
        cluster: [Option<f64>; 4],
    ) {
        if self.frozen {
            return;
        }
        let cap = self.capacity;
        let slot = self.head;
        self.times[slot] = ms(at);
        for (id, st) in &mut self.tenants {
            let v = values(id);
            for (s, x) in v.iter().enumerate() {
                st.ring[s * cap + slot] = encode(*x);
            }
        }
        for (s, x) in cluster.iter().enumerate() {
            #[allow(clippy::cast_possible_truncation)] // reason: sparkline precision
            let f = x.map_or(f32::NAN, |v| v as f32);
            self.cluster[s * cap + slot] = f;
        }
        self.head = (self.head + 1) % cap;
        self.len = (self.len + 1).min(cap);
    }

    fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        let start = (self.head + self.capacity - self.len) % self.capacity;
        (0..self.len).map(move |k| (start + k) % self.capacity)
    }

    fn at(&self, slot: usize) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.times[slot]).unwrap_or_default()
    }

    /// Series for these tenants (unknown ones are skipped), then the cluster's.
    pub fn history(&self, tenants: &[Uuid]) -> Vec<History> {
        let cap = self.capacity;
        let mut out = Vec::with_capacity(tenants.len() + 1);
        for id in tenants {
            let Some(st) = self.tenants.get(id) else {
                continue;
            };
            let series = SERIES
                .iter()
                .enumerate()
                .map(|(s, name)| {
                    let pts = self
                        .slots()
                        .map(|slot| HistoryPoint {
                            at: self.at(slot),
                            value: decode(st.ring[s * cap + slot]),
                        })
                        .collect();
                    ((*name).to_string(), pts)
                })
                .collect();
            out.push(History {
                tenant_id: Some(*id),
                series,
            });
        }
        let series = CLUSTER_SERIES
            .iter()
            .enumerate()
            .map(|(s, name)| {
                let pts = self
                    .slots()
                    .map(|slot| {
                        let v = self.cluster[s * cap + slot];
                        HistoryPoint {
                            at: self.at(slot),
                            value: (!v.is_nan()).then_some(f64::from(v)),
                        }
                    })
                    .collect();
                ((*name).to_string(), pts)
            })
            .collect();
        out.push(History {
            tenant_id: None,
            series,
        });
        out
    }

    /// Bytes of state per tenant: the struct, its ring and the map entry.
    pub fn bytes_per_tenant(&self) -> usize {
        std::mem::size_of::<TenantState>()
            + self.capacity * SERIES.len() * std::mem::size_of::<u16>()
            + std::mem::size_of::<Uuid>()
            + std::mem::size_of::<usize>()
            + 1
    }

    /// Bytes held by the store in all (per-tenant state plus shared rings).
    pub fn bytes_total(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.tenants.capacity() * (self.bytes_per_tenant() - self.ring_bytes())
            + self.tenants.len() * self.ring_bytes()
            + self.times.len() * std::mem::size_of::<i64>()
            + self.cluster.len() * std::mem::size_of::<f32>()
    }

    fn ring_bytes(&self) -> usize {
        self.capacity * SERIES.len() * std::mem::size_of::<u16>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    #[test]
    fn bf16_round_trips_closely() {
        for v in [0.0, 1.0, 3.0, 255.0, 1234.5, 1.0e9, 7.3e12, 0.001] {
            let back = decode(encode(Some(v))).expect("some");
            assert!((back - v).abs() <= v.abs() * 0.004, "{v} -> {back}");
        }
        assert_eq!(decode(encode(None)), None);
        assert_eq!(decode(encode(Some(f64::NAN))), None);
        assert!(decode(encode(Some(f64::MAX))).is_some());
    }

    #[test]
    fn rates_and_resets() {
        let mut prev = None;
        assert_eq!(rate(&mut prev, 0, 100), None, "first reading");
        assert_eq!(rate(&mut prev, 2000, 300), Some(100.0));
        assert_eq!(
            rate(&mut prev, 4000, 50),
            None,
            "reset: no rate, never negative"
        );
        assert_eq!(rate(&mut prev, 5000, 60), Some(10.0));
        assert_eq!(rate(&mut prev, 5000, 70), None, "clock did not advance");
    }

    #[test]
    fn ring_keeps_the_newest_points_in_order() {
        let mut s = Store::new(3);
        let a = Uuid::from_u128(1);
        s.tenant_mut(a, 0);
        for i in 0..5 {
            let v = f64::from(i);
            s.push(
                t(i64::from(i)),
                |_| [Some(v), None, Some(v), Some(1.0)],
                [Some(v); 4],
            );
        }
        let h = s.history(&[a, Uuid::from_u128(2)]);
        assert_eq!(h.len(), 2, "unknown tenant skipped, cluster last");
        let calls = &h[0].series[0].1;
        assert_eq!(calls.len(), 3);
        assert_eq!(
            calls.iter().map(|p| p.value).collect::<Vec<_>>(),
            vec![Some(2.0), Some(3.0), Some(4.0)]
        );
        assert_eq!(calls[0].at, t(2));
        assert!(h[0].series[1].1.iter().all(|p| p.value.is_none()));
        assert_eq!(h[1].tenant_id, None);
        assert_eq!(h[1].series[0].1[2].value, Some(4.0));
    }

    #[test]
    fn resize_keeps_the_newest_points() {
        let mut s = Store::new(4);
        let a = Uuid::from_u128(1);
        s.tenant_mut(a, 0);
        for i in 0..6 {
            let v = f64::from(i);
            s.push(t(i64::from(i)), |_| [Some(v); 4], [Some(v); 4]);
        }
        s.resize(2);
        let h = s.history(&[a]);
        let vals: Vec<_> = h[0].series[0].1.iter().map(|p| p.value).collect();
        assert_eq!(vals, vec![Some(4.0), Some(5.0)]);
        assert_eq!(h[1].series[0].1[1].value, Some(5.0));
        s.resize(5);
        s.push(t(6), |_| [Some(6.0); 4], [None; 4]);
        let h = s.history(&[a]);
        let vals: Vec<_> = h[0].series[0].1.iter().map(|p| p.value).collect();
        assert_eq!(vals, vec![Some(4.0), Some(5.0), Some(6.0)]);
        assert_eq!(h[0].series[0].1[2].at, t(6));
    }

    #[test]
    fn frozen_store_does_not_move() {
        let mut s = Store::new(4);
        let a = Uuid::from_u128(1);
        s.tenant_mut(a, 0);
        s.push(t(0), |_| [Some(1.0); 4], [None; 4]);
        s.set_frozen(true);
        s.push(t(1), |_| [Some(2.0); 4], [None; 4]);
        assert_eq!(s.len(), 1);
        s.set_frozen(false);
        s.push(t(2), |_| [Some(3.0); 4], [None; 4]);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn late_tenant_has_gaps_and_dropped_tenant_goes() {
        let mut s = Store::new(4);
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        s.tenant_mut(a, 0);
        s.push(t(0), |_| [Some(1.0); 4], [None; 4]);
        s.tenant_mut(b, 0);
        s.push(t(1), |_| [Some(2.0); 4], [None; 4]);
        let h = s.history(&[b]);
        assert_eq!(h[0].series[0].1[0].value, None);
        assert_eq!(h[0].series[0].1[1].value, Some(2.0));
        let gone = s.retain(&HashSet::from([a]));
        assert_eq!(gone, vec![b]);
        assert_eq!(s.tenant_count(), 1);
    }

    #[test]
    fn fifteen_minutes_at_two_seconds_fits_in_4_kib() {
        let cap = Store::capacity_for(
            std::time::Duration::from_secs(900),
            std::time::Duration::from_secs(2),
        );
        assert_eq!(cap, 450);
        let s = Store::new(cap);
        assert!(
            s.bytes_per_tenant() <= 4096,
            "{} bytes per tenant",
            s.bytes_per_tenant()
        );
    }
}
