//! Per-tenant state between ticks, sorted by tenant id: a map's lookups in
//! a list's space. A hash map of 50,000 tenants has 65,536 buckets (the
//! spare quarter costs as much as the state itself: the store's map took
//! 24 MB, its list takes 18 MB), and it doubles while it grows.
//!
//! Lookups are binary searches. Adding one entry moves the entries after
//! it, so the monitor adds a tick's new tenants at once
//! ([`IdMap::add_missing`]: appended, then one in-place sort).

use std::collections::HashSet;

use uuid::Uuid;

/// Values by tenant id, in id order.
#[derive(Debug, Clone)]
pub struct IdMap<V>(Vec<(Uuid, V)>);

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> IdMap<V> {
    fn find(&self, id: &Uuid) -> Result<usize, usize> {
        self.0.binary_search_by_key(id, |e| e.0)
    }

    pub fn get(&self, id: &Uuid) -> Option<&V> {
        self.find(id).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, id: &Uuid) -> Option<&mut V> {
        self.find(id).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, id: &Uuid) -> bool {
        self.find(id).is_ok()
    }

    /// The value of `id`, inserted from `make` when absent (in place: it
    /// moves the entries after it; add many at once with [`Self::add_missing`]).
    pub fn get_or_insert_with(&mut self, id: Uuid, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&id) {
            Ok(i) => i,
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, (id, make()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Add every id of `ids` not held yet, its value from `make`; ids
    /// already held keep theirs (and of an id given twice, the first
    /// counts). One sort for all of them, in place.
    pub fn add_missing<I, F>(&mut self, ids: I, mut make: F)
    where
        I: IntoIterator<Item = Uuid>,
        F: FnMut(&Uuid) -> V,
    {
        let held = self.0.len();
        // Only new ids go in here: empty on a tick that adds none.
        let mut fresh: HashSet<Uuid> = HashSet::new();
        for id in ids {
            if self.0[..held].binary_search_by_key(&id, |e| e.0).is_err() && fresh.insert(id) {
                let v = make(&id);
                self.0.push((id, v));
            }
        }
        if self.0.len() == held {
            return;
        }
        // Unstable is in place (no merge buffer); the ids are distinct.
        self.0.sort_unstable_by_key(|e| e.0);
        self.shrink();
    }

    /// Keep the entries whose id `keep` holds; returns the ids dropped, in
    /// id order.
    pub fn retain_ids(&mut self, keep: &HashSet<Uuid>) -> Vec<Uuid> {
        let gone: Vec<Uuid> = self
            .0
            .iter()
            .map(|e| e.0)
            .filter(|id| !keep.contains(id))
            .collect();
        if !gone.is_empty() {
            self.0.retain(|e| keep.contains(&e.0));
            self.shrink();
        }
        gone
    }

    /// Give back spare room beyond a quarter of the entries (after many
    /// tenants left).
    fn shrink(&mut self) {
        if self.0.capacity() > self.0.len() + self.0.len() / 4 {
            self.0.shrink_to_fit();
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entries the allocation has room for.
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// Entries in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &V)> {
        self.0.iter().map(|(id, v)| (id, v))
    }

    /// Entries in id order, values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Uuid, &mut V)> {
        self.0.iter_mut().map(|(id, v)| (&*id, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|e| &e.1)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|e| &mut e.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn ids<V>(m: &IdMap<V>) -> Vec<u128> {
        m.iter().map(|(k, _)| k.as_u128()).collect()
    }

    #[test]
    fn finds_by_id_and_keeps_id_order_whatever_the_insertion_order() {
        let mut m: IdMap<u32> = IdMap::default();
        assert!(m.is_empty());
        assert_eq!(m.get(&id(1)), None);
        *m.get_or_insert_with(id(5), || 50) += 1;
        *m.get_or_insert_with(id(2), || 20) += 1;
        *m.get_or_insert_with(id(9), || 90) += 1;
        // Present: `make` is not called, the value stays.
        *m.get_or_insert_with(id(5), || unreachable!("5 is held")) += 1;
        assert_eq!(ids(&m), [2, 5, 9]);
        assert_eq!(m.get(&id(5)), Some(&52));
        assert_eq!(m.get(&id(2)), Some(&21));
        assert_eq!(m.get(&id(3)), None);
        assert!(m.contains_key(&id(9)));
        assert!(!m.contains_key(&id(10)));
        if let Some(v) = m.get_mut(&id(9)) {
            *v = 7;
        }
        assert_eq!(m.get(&id(9)), Some(&7));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn add_missing_adds_only_new_ids_once_and_sorts() {
        let mut m: IdMap<u128> = IdMap::default();
        m.add_missing([7, 3, 11].map(id), |k| k.as_u128() * 10);
        assert_eq!(ids(&m), [3, 7, 11]);
        *m.get_mut(&id(7)).expect("7") = 1;
        let mut made = Vec::new();
        m.add_missing([8, 7, 1, 8, 20, 3].map(id), |k| {
            made.push(k.as_u128());
            k.as_u128() * 10
        });
        assert_eq!(made, [8, 1, 20], "one value per new id, none for held ids");
        assert_eq!(ids(&m), [1, 3, 7, 8, 11, 20]);
        assert_eq!(m.get(&id(7)), Some(&1), "a held value is kept");
        assert_eq!(m.get(&id(20)), Some(&200));
        for k in [1, 3, 8, 11, 20] {
            assert_eq!(m.get(&id(k)), Some(&(k * 10)), "{k}");
        }
        let cap = m.capacity();
        m.add_missing([3, 20].map(id), |_| unreachable!("held"));
        assert_eq!(m.capacity(), cap, "nothing new, nothing moved");
    }

    #[test]
    fn retain_ids_drops_the_others_and_says_which() {
        let mut m: IdMap<u8> = IdMap::default();
        m.add_missing((1..=100).map(id), |_| 0);
        let keep: HashSet<Uuid> = [4, 50, 99].map(id).into_iter().collect();
        let gone = m.retain_ids(&keep);
        assert_eq!(gone.len(), 97);
        assert!(gone.contains(&id(1)) && gone.contains(&id(100)));
        assert!(!gone.contains(&id(50)));
        assert_eq!(ids(&m), [4, 50, 99]);
        assert!(m.capacity() < 100, "the room of the dropped is given back");
        assert!(m.retain_ids(&keep).is_empty());
        for (_, v) in m.iter_mut() {
            *v += 1;
        }
        for v in m.values_mut() {
            *v += 1;
        }
        assert_eq!(m.values().copied().collect::<Vec<_>>(), [2, 2, 2]);
    }

    #[test]
    fn lookups_agree_with_a_hash_map() {
        use std::collections::HashMap;
        // A pseudo-random sequence of inserts, batch adds and removals.
        let (mut m, mut h): (IdMap<u64>, HashMap<Uuid, u64>) = (IdMap::default(), HashMap::new());
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..50u64 {
            let batch: Vec<Uuid> = (0..20).map(|_| id(u128::from(next() % 300))).collect();
            m.add_missing(batch.iter().copied(), |_| round);
            for k in &batch {
                h.entry(*k).or_insert(round);
            }
            let one = id(u128::from(next() % 300));
            *m.get_or_insert_with(one, || 1000) += 1;
            *h.entry(one).or_insert(1000) += 1;
            if round % 7 == 6 {
                let keep: HashSet<Uuid> =
                    h.keys().copied().filter(|k| k.as_u128() % 3 != 0).collect();
                let mut gone = m.retain_ids(&keep);
                let mut want: Vec<Uuid> = h.keys().copied().filter(|k| !keep.contains(k)).collect();
                gone.sort();
                want.sort();
                assert_eq!(gone, want);
                h.retain(|k, _| keep.contains(k));
            }
            assert_eq!(m.len(), h.len());
            for k in 0..300 {
                assert_eq!(m.get(&id(k)), h.get(&id(k)), "round {round}, id {k}");
            }
            assert!(
                ids(&m).windows(2).all(|w| w[0] < w[1]),
                "sorted, no duplicate"
            );
        }
    }
}
