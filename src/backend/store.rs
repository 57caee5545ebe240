//! The metrics store: per-tenant counters for rates, the last exact size,
//! and history rings at tick resolution, pruned by capacity and freezable.
//!
//! Memory is bounded and flat. Per tenant, with `capacity` points of
//! history (15 min at 2 s = 450):
//!
//! - history: [`SERIES`] (5: calls, writes, size, connections, health)
//!   rings of `u16` (bfloat16: 8-bit exponent, 7-bit mantissa, under 0.4%
//!   relative error, plenty for a sparkline): `5 × 2 × 450 = 4,500` bytes, one boxed slice, allocated only when the
//!   tenant's window needs it. Most tenants of a large cluster are idle:
//!   their points change a few times (no rate on the first tick, then 0;
//!   the approximate size, then the exact one) and then stay, so the store
//!   keeps up to [`RUNS`] runs of equal points inline and no ring. A
//!   tenant whose points change more often gets the ring; a whole window
//!   of equal points gives it back.
//! - [`TenantState`] itself: about 300 bytes of counters, the inline runs
//!   (sharing their space with the ring's pointer) and the last point;
//! - its id, the key of a list sorted by id ([`IdMap`]: a hash map's
//!   spare buckets held a quarter more again), 16 bytes.
//!
//! At most about 4.8 KiB per tenant (every tenant busy; 3.9 KiB before
//! the health series); an idle tenant holds about 330 bytes. [`Store::bytes_per_tenant`]
//! computes the bound from the actual sizes, [`Store::bytes_total`] what is
//! held now, and the benchmark prints both. Timestamps are kept once for
//! everyone. Not counted here: the current values, which live once in the
//! last [`Snapshot`] (shared with the console by `Arc`).
//!
//! [`Snapshot`]: crate::domain::metrics::Snapshot

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::id_map::IdMap;
use crate::domain::metrics::{History, HistoryPoint, Series};

/// The per-tenant series, in ring order.
pub const SERIES: [Series; N] = Series::TENANT;
/// The cluster series.
pub const CLUSTER_SERIES: [Series; NC] = Series::CLUSTER;
/// How many series the cluster has.
pub const NC: usize = Series::CLUSTER.len();
/// How many series a tenant has.
pub const N: usize = Series::TENANT.len();

const NONE_BITS: u16 = 0x7fc1;

/// Runs of equal points a tenant keeps inline before it needs a ring.
pub const RUNS: usize = 6;

/// A tenant's points in the window.
#[derive(Debug, Clone)]
enum Points {
    /// Runs of equal points, oldest first: the push number where each
    /// begins and its value per series. A run lasts until the next begins
    /// (the newest, until now); points before the first are gaps. Runs
    /// that left the window are dropped lazily.
    Runs {
        len: u8,
        runs: [(u64, [u16; N]); RUNS],
    },
    /// Every point of the window, series after series, by slot.
    Ring(Box<[u16]>),
}

impl Points {
    const EMPTY: Self = Self::Runs {
        len: 0,
        runs: [(0, [NONE_BITS; N]); RUNS],
    };

    fn one_run(start: u64, v: [u16; N]) -> Self {
        let mut runs = [(0, [NONE_BITS; N]); RUNS];
        runs[0] = (start, v);
        Self::Runs { len: 1, runs }
    }
}

/// The value of the point pushed `seq`-th, from inline runs.
fn run_value(runs: &[(u64, [u16; N])], seq: u64) -> [u16; N] {
    runs.iter()
        .rev()
        .find(|(start, _)| *start <= seq)
        .map_or([NONE_BITS; N], |(_, v)| *v)
}

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
    /// Push number of the tenant's first point; older points are gaps.
    since: u64,
    /// The newest point, one value per series.
    last: [u16; N],
    /// How many of the newest points equal `last`.
    same: u64,
    points: Points,
}

impl TenantState {
    fn new(since: u64, last_activity_ms: i64) -> Self {
        Self {
            rows: None,
            calls: None,
            exec_us: None,
            scans: None,
            exact: None,
            last_activity_ms,
            usage: UsageAccum::default(),
            since,
            last: [NONE_BITS; N],
            same: 0,
            points: Points::EMPTY,
        }
    }

    /// Whether the tenant holds a full ring (its points changed more often
    /// than the inline runs can hold).
    pub fn has_ring(&self) -> bool {
        matches!(self.points, Points::Ring(_))
    }
}

/// Everyone's values at one kept instant ([`Store::point_at`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PointAt {
    pub at: DateTime<Utc>,
    /// Each tenant's series in [`SERIES`] order.
    pub tenants: Vec<(Uuid, [Option<f64>; N])>,
    /// The cluster's series in [`CLUSTER_SERIES`] order.
    pub cluster: [Option<f64>; NC],
}

/// Rings for all tenants and the cluster, with one shared timeline.
#[derive(Debug, Clone)]
pub struct Store {
    capacity: usize,
    times: Box<[i64]>,
    head: usize,
    len: usize,
    /// Points pushed since the start (not reset by `resize`).
    seq: u64,
    frozen: bool,
    /// By id, sorted (a hash map's spare buckets held a quarter more).
    tenants: IdMap<TenantState>,
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
            seq: 0,
            frozen: false,
            tenants: IdMap::default(),
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
            let Points::Ring(old_ring) = &st.points else {
                continue;
            };
            let mut ring = vec![NONE_BITS; capacity * SERIES.len()].into_boxed_slice();
            for (k, slot) in slots.iter().enumerate() {
                for s in 0..SERIES.len() {
                    ring[s * capacity + k] = old_ring[s * old + slot];
                }
            }
            st.points = Points::Ring(ring);
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

    /// The tenant's state, created on first sight with empty history
    /// (in place: a tick's new tenants go in at once with [`Self::add_tenants`]).
    pub fn tenant_mut(&mut self, id: Uuid, now_ms: i64) -> &mut TenantState {
        let seq = self.seq;
        self.tenants
            .get_or_insert_with(id, || TenantState::new(seq, now_ms))
    }

    /// A state with empty history for each tenant not seen before, its
    /// last activity from `first_seen` (server ms).
    pub fn add_tenants<I, F>(&mut self, ids: I, mut first_seen: F)
    where
        I: IntoIterator<Item = Uuid>,
        F: FnMut(&Uuid) -> i64,
    {
        let seq = self.seq;
        self.tenants
            .add_missing(ids, |id| TenantState::new(seq, first_seen(id)));
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
        self.tenants.retain_ids(keep)
    }

    /// Append one point for everyone: `values` gives a tenant's series in
    /// [`SERIES`] order (tenants it is not asked about get gaps). Does
    /// nothing while frozen.
    pub fn push(
        &mut self,
        at: DateTime<Utc>,
        mut values: impl FnMut(&Uuid) -> [Option<f64>; N],
        cluster: [Option<f64>; NC],
    ) {
        if self.frozen {
            return;
        }
        let cap = self.capacity;
        let slot = self.head;
        // The points kept before this one: how many, the slot and push
        // number of the oldest (a full window loses its oldest to this one).
        let before = self.len.min(cap - 1);
        let first_slot = (slot + cap - before) % cap;
        let first_seq = self.seq - before as u64;
        self.times[slot] = ms(at);
        let len_after = (self.len + 1).min(cap);
        let seq_after = self.seq + 1;
        // Push number of the oldest point the window keeps after this one.
        let window_start = seq_after - len_after as u64;
        for (id, st) in self.tenants.iter_mut() {
            let v = values(id).map(encode);
            st.same = if v == st.last { st.same + 1 } else { 1 };
            st.last = v;
            let held = (seq_after - st.since).min(len_after as u64);
            match &mut st.points {
                Points::Runs { len, runs } => {
                    let n = usize::from(*len);
                    if n > 0 && runs[n - 1].1 == v {
                        continue; // the newest run goes on
                    }
                    // Forget runs that ended before the window.
                    let gone = (1..n).take_while(|&i| runs[i].0 <= window_start).count();
                    runs.copy_within(gone..n, 0);
                    let n = n - gone;
                    if n < RUNS {
                        runs[n] = (self.seq, v);
                        *len = u8::try_from(n + 1).unwrap_or(u8::MAX);
                        continue;
                    }
                    // Changing too often for runs: write out the window.
                    let mut ring = vec![NONE_BITS; cap * SERIES.len()].into_boxed_slice();
                    for k in 0..before {
                        let b = (first_slot + k) % cap;
                        let p = run_value(&runs[..n], first_seq + k as u64);
                        for s in 0..SERIES.len() {
                            ring[s * cap + b] = p[s];
                        }
                    }
                    for s in 0..SERIES.len() {
                        ring[s * cap + slot] = v[s];
                    }
                    st.points = Points::Ring(ring);
                }
                Points::Ring(ring) => {
                    if st.same >= held {
                        // Every point held is `v` again: one run.
                        st.points = Points::one_run(seq_after - held, v);
                    } else {
                        for s in 0..SERIES.len() {
                            ring[s * cap + slot] = v[s];
                        }
                    }
                }
            }
        }
        for (s, x) in cluster.iter().enumerate() {
            #[allow(clippy::cast_possible_truncation)] // reason: sparkline precision
            let f = x.map_or(f32::NAN, |v| v as f32);
            self.cluster[s * cap + slot] = f;
        }
        self.head = (self.head + 1) % cap;
        self.len = (self.len + 1).min(cap);
        self.seq += 1;
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
            let first_seq = self.seq - self.len as u64;
            let series = SERIES
                .iter()
                .enumerate()
                .map(|(s, name)| {
                    let pts = self
                        .slots()
                        .enumerate()
                        .map(|(k, slot)| {
                            let bits = match &st.points {
                                Points::Ring(ring) => ring[s * cap + slot],
                                Points::Runs { len, runs } => {
                                    run_value(&runs[..usize::from(*len)], first_seq + k as u64)[s]
                                }
                            };
                            HistoryPoint {
                                at: self.at(slot),
                                value: decode(bits),
                            }
                        })
                        .collect();
                    (*name, pts)
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
                (*name, pts)
            })
            .collect();
        out.push(History {
            tenant_id: None,
            series,
        });
        out
    }

    /// Every tenant's point `back` points before the newest (0: the newest),
    /// with its time and the cluster's point; `None` past the oldest kept.
    /// One pass over the tenants: what time travel reads.
    pub fn point_at(&self, back: usize) -> Option<PointAt> {
        if back >= self.len {
            return None;
        }
        let cap = self.capacity;
        let k = self.len - 1 - back;
        let slot = (self.head + cap - self.len + k) % cap;
        let seq = self.seq - self.len as u64 + k as u64;
        let tenants = self
            .tenants
            .iter()
            .map(|(id, st)| {
                let bits: [u16; N] = if seq < st.since {
                    [NONE_BITS; N]
                } else {
                    match &st.points {
                        Points::Ring(ring) => std::array::from_fn(|s| ring[s * cap + slot]),
                        Points::Runs { len, runs } => run_value(&runs[..usize::from(*len)], seq),
                    }
                };
                (*id, bits.map(decode))
            })
            .collect();
        let cluster = std::array::from_fn(|s| {
            let v = self.cluster[s * cap + slot];
            (!v.is_nan()).then_some(f64::from(v))
        });
        Some(PointAt {
            at: self.at(slot),
            tenants,
            cluster,
        })
    }

    /// Bytes of state per tenant at most (its ring allocated): the struct,
    /// the ring and the id it is listed under.
    pub fn bytes_per_tenant(&self) -> usize {
        std::mem::size_of::<TenantState>()
            + self.capacity * SERIES.len() * std::mem::size_of::<u16>()
            + std::mem::size_of::<Uuid>()
    }

    /// Bytes held by the store now: per-tenant state, the rings that are
    /// allocated, the shared timeline and the cluster's series.
    pub fn bytes_total(&self) -> usize {
        let rings = self.rings_held();
        std::mem::size_of::<Self>()
            + self.tenants.capacity() * (self.bytes_per_tenant() - self.ring_bytes())
            + rings * self.ring_bytes()
            + self.times.len() * std::mem::size_of::<i64>()
            + self.cluster.len() * std::mem::size_of::<f32>()
    }

    /// Tenants whose window is not flat (they hold a ring).
    pub fn rings_held(&self) -> usize {
        self.tenants.values().filter(|t| t.has_ring()).count()
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
                |_| [Some(v), None, Some(v), Some(1.0), Some(100.0)],
                [Some(v); NC],
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
    fn a_point_back_in_time_reads_rings_runs_and_gaps() {
        let mut s = Store::new(4);
        let (busy, idle, late) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        s.tenant_mut(busy, 0);
        s.tenant_mut(idle, 0);
        for i in 0..6 {
            if i == 4 {
                s.tenant_mut(late, 0);
            }
            let v = f64::from(i);
            s.push(
                t(i64::from(i)),
                |id| {
                    if *id == idle {
                        [Some(7.0); N]
                    } else {
                        [Some(v); N]
                    }
                },
                [Some(v * 10.0); NC],
            );
        }
        let value =
            |p: &PointAt, id: Uuid| p.tenants.iter().find(|(i, _)| *i == id).map(|(_, v)| v[0]);
        let now = s.point_at(0).expect("newest");
        assert_eq!(now.at, t(5));
        assert_eq!(value(&now, busy), Some(Some(5.0)));
        assert_eq!(now.cluster[0], Some(50.0));
        let back = s.point_at(3).expect("oldest kept");
        assert_eq!(back.at, t(2));
        assert_eq!(value(&back, busy), Some(Some(2.0)));
        assert_eq!(value(&back, idle), Some(Some(7.0)), "from the runs");
        assert_eq!(value(&back, late), Some(None), "not watched yet: a gap");
        assert_eq!(
            value(&s.point_at(1).expect("one back"), late),
            Some(Some(4.0))
        );
        assert!(s.point_at(4).is_none(), "past the window");
    }

    #[test]
    fn resize_keeps_the_newest_points() {
        let mut s = Store::new(4);
        let a = Uuid::from_u128(1);
        s.tenant_mut(a, 0);
        for i in 0..6 {
            let v = f64::from(i);
            s.push(t(i64::from(i)), |_| [Some(v); N], [Some(v); NC]);
        }
        s.resize(2);
        let h = s.history(&[a]);
        let vals: Vec<_> = h[0].series[0].1.iter().map(|p| p.value).collect();
        assert_eq!(vals, vec![Some(4.0), Some(5.0)]);
        assert_eq!(h[1].series[0].1[1].value, Some(5.0));
        s.resize(5);
        s.push(t(6), |_| [Some(6.0); N], [None; NC]);
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
        s.push(t(0), |_| [Some(1.0); N], [None; NC]);
        s.set_frozen(true);
        s.push(t(1), |_| [Some(2.0); N], [None; NC]);
        assert_eq!(s.len(), 1);
        s.set_frozen(false);
        s.push(t(2), |_| [Some(3.0); N], [None; NC]);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn late_tenant_has_gaps_and_dropped_tenant_goes() {
        let mut s = Store::new(4);
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        s.tenant_mut(a, 0);
        s.push(t(0), |_| [Some(1.0); N], [None; NC]);
        s.tenant_mut(b, 0);
        s.push(t(1), |_| [Some(2.0); N], [None; NC]);
        let h = s.history(&[b]);
        assert_eq!(h[0].series[0].1[0].value, None);
        assert_eq!(h[0].series[0].1[1].value, Some(2.0));
        let gone = s.retain(&HashSet::from([a]));
        assert_eq!(gone, vec![b]);
        assert_eq!(s.tenant_count(), 1);
    }

    #[test]
    fn idle_tenants_hold_no_ring_and_busy_ones_give_it_back() {
        let cap = 4 * RUNS;
        let mut s = Store::new(cap);
        let (idle, busy) = (Uuid::from_u128(1), Uuid::from_u128(2));
        s.tenant_mut(idle, 0);
        s.tenant_mut(busy, 0);
        let mut n = 0;
        let mut push = |s: &mut Store, busy_value: f64| {
            s.push(
                t(n),
                |id| {
                    let calls = if *id == busy { busy_value } else { 0.0 };
                    // The first point has no rate, as after a real first tick.
                    [
                        (n > 0).then_some(calls),
                        None,
                        Some(100.0),
                        Some(0.0),
                        Some(100.0),
                    ]
                },
                [None; NC],
            );
            n += 1;
        };
        // A few changes fit in the runs.
        for i in 0..RUNS - 1 {
            push(&mut s, i as f64);
        }
        assert_eq!(s.rings_held(), 0, "{RUNS} runs hold a few changes");
        // More changes than runs: the busy tenant gets a ring, the idle one not.
        for i in 0..RUNS {
            push(&mut s, (i * 10) as f64);
        }
        assert!(!s.tenant(&idle).expect("idle").has_ring());
        assert!(s.tenant(&busy).expect("busy").has_ring());
        assert_eq!(s.rings_held(), 1);
        // A whole window of equal points: the ring goes.
        for _ in 0..cap {
            push(&mut s, 9.0);
        }
        assert_eq!(s.rings_held(), 0, "the busy window is flat again");
        let h = s.history(&[busy, idle]);
        assert_eq!(
            h[0].series[0].1.iter().map(|p| p.value).collect::<Vec<_>>(),
            vec![Some(9.0); cap]
        );
        assert_eq!(h[1].series[2].1.len(), cap);
        assert!(h[1].series[2].1.iter().all(|p| p.value == Some(100.0)));
    }

    /// The flat and ring forms read back exactly what a plain list of every
    /// point would, whatever the order of pushes, late tenants and resizes.
    mod model {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Push(Vec<u8>),
            Add(u8),
            Resize(usize),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                8 => proptest::collection::vec(0u8..3, 4).prop_map(Op::Push),
                1 => (0u8..4).prop_map(Op::Add),
                1 => (2usize..24).prop_map(Op::Resize),
            ]
        }

        fn value(tenant: u8, pick: &[u8], series: usize) -> Option<f64> {
            // Tenant 0 is always idle; the others take few distinct values
            // so runs of equal points are common.
            match (tenant, pick[(usize::from(tenant) + series) % pick.len()]) {
                (0, _) | (_, 0) => Some(0.0),
                (_, 1) => Some(f64::from(tenant) * 10.0),
                _ => None,
            }
        }

        proptest! {
            #[test]
            fn matches_a_plain_list_of_points(ops in proptest::collection::vec(op(), 1..200)) {
                let mut s = Store::new(12);
                let mut cap = 12usize;
                let mut points: Vec<(u64, Vec<[Option<f64>; N]>)> = Vec::new(); // per push: tenants' values
                let mut present: Vec<u8> = vec![0];
                s.tenant_mut(Uuid::from_u128(0), 0);
                let mut n = 0i64;
                for op in ops {
                    match op {
                        Op::Add(k) => {
                            if !present.contains(&k) {
                                present.push(k);
                                s.tenant_mut(Uuid::from_u128(u128::from(k)), 0);
                            }
                        }
                        Op::Resize(c) => {
                            s.resize(c);
                            cap = c;
                            let keep = points.len().min(c);
                            points.drain(..points.len() - keep);
                        }
                        Op::Push(pick) => {
                            s.push(
                                t(n),
                                |id| {
                                    let k = u8::try_from(id.as_u128()).expect("small id");
                                    std::array::from_fn(|sr| value(k, &pick, sr))
                                },
                                [None; NC],
                            );
                            n += 1;
                            let row = (0..4u8)
                                .map(|k| {
                                    if present.contains(&k) {
                                        std::array::from_fn(|sr| value(k, &pick, sr))
                                    } else {
                                        [None; N]
                                    }
                                })
                                .collect();
                            let mask = (0..4u8).fold(0u64, |m, k| if present.contains(&k) { m | 1 << k } else { m });
                            points.push((mask, row));
                            if points.len() > cap {
                                points.remove(0);
                            }
                            // Right after a push, a tenant whose points are all equal holds no ring.
                            for &k in &present {
                                let mine: Vec<&[Option<f64>; N]> = points
                                    .iter()
                                    .filter(|(m, _)| m & (1 << k) != 0)
                                    .map(|(_, row)| &row[usize::from(k)])
                                    .collect();
                                let flat = mine.windows(2).all(|w| w[0] == w[1]);
                                let ring = s.tenant(&Uuid::from_u128(u128::from(k))).expect("present").has_ring();
                                prop_assert!(!(flat && ring), "tenant {} holds a ring for a flat window after push {}", k, n);
                            }
                        }
                    }
                }
                for &k in &present {
                    let h = s.history(&[Uuid::from_u128(u128::from(k))]);
                    for sr in 0..N {
                        let got: Vec<Option<f64>> = h[0].series[sr].1.iter().map(|p| p.value).collect();
                        let want: Vec<Option<f64>> = points.iter().map(|(_, row)| row[usize::from(k)][sr]).collect();
                        prop_assert_eq!(got, want, "tenant {} series {}", k, sr);
                    }
                }
                prop_assert!(!s.tenant(&Uuid::from_u128(0)).expect("idle").has_ring(), "an idle tenant holds no ring");
            }
        }
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
            s.bytes_per_tenant() <= 5 * 1024,
            "{} bytes per tenant",
            s.bytes_per_tenant()
        );
    }
}
