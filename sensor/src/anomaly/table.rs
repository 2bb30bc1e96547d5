//! A bounded map for detector state: entries remember when they were last
//! touched, and when the map is full the sixteenth that has been idle
//! longest goes (counted), so one sweep pays for many inserts.

use std::collections::HashMap;
use std::hash::Hash;

use crate::capture::Timestamp;

#[derive(Debug, Clone)]
pub struct Table<K: Hash + Eq, V> {
    entries: HashMap<K, (Timestamp, V), foldhash::fast::FixedState>,
    cap: usize,
    /// Entries dropped to stay under the cap.
    pub evicted: u64,
}

impl<K: Hash + Eq + Clone, V: Default> Table<K, V> {
    pub fn new(cap: usize) -> Table<K, V> {
        Table {
            entries: HashMap::default(),
            cap: cap.max(16),
            evicted: 0,
        }
    }

    /// The entry for `key`, created if need be, marked as touched at `ts`.
    pub fn touch(&mut self, key: K, ts: Timestamp) -> &mut V {
        if self.entries.len() >= self.cap && !self.entries.contains_key(&key) {
            self.evict();
        }
        let entry = self
            .entries
            .entry(key)
            .or_insert_with(|| (ts, V::default()));
        entry.0 = entry.0.max(ts);
        &mut entry.1
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.entries.iter_mut().map(|(k, (_, v))| (k, v))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, (_, v))| (k, v))
    }

    fn evict(&mut self) {
        let excess = (self.cap / 16).max(1);
        let mut ages: Vec<Timestamp> = self.entries.values().map(|(t, _)| *t).collect();
        let at = excess.min(ages.len() - 1);
        ages.select_nth_unstable(at);
        let cutoff = ages[at];
        let before = self.entries.len();
        self.entries.retain(|_, (t, _)| *t > cutoff);
        self.evicted += (before - self.entries.len()) as u64;
    }
}
