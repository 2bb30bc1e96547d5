//! A worker's flow table: a hash index over a slab of flows threaded on a
//! recency list, so that finding a flow, touching it, and finding the
//! longest-idle one are all O(1). Slots are reused, so a warm table
//! allocates nothing per packet.

use std::collections::HashMap;

use super::key::{FlowHasher, FlowKey};

const NIL: u32 = u32::MAX;

struct Slot<T> {
    key: FlowKey,
    value: T,
    /// Toward the most recently used end.
    newer: u32,
    /// Toward the least recently used end.
    older: u32,
}

/// Flows by key, ordered by last use.
pub(super) struct LruTable<T> {
    index: HashMap<FlowKey, u32, FlowHasher>,
    slots: Vec<Option<Slot<T>>>,
    free: Vec<u32>,
    newest: u32,
    oldest: u32,
}

impl<T> LruTable<T> {
    pub fn with_capacity(capacity: usize) -> LruTable<T> {
        LruTable {
            index: HashMap::with_capacity_and_hasher(capacity, FlowHasher::default()),
            slots: Vec::with_capacity(capacity),
            free: Vec::new(),
            newest: NIL,
            oldest: NIL,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The value for `key`, marked as the most recently used.
    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut T> {
        let at = *self.index.get(key)?;
        self.unlink(at);
        self.push_newest(at);
        self.slot_mut(at).map(|s| &mut s.value)
    }

    /// Inserts a value for a key that is not in the table, as the most
    /// recently used.
    pub fn insert(&mut self, key: FlowKey, value: T) -> &mut T {
        let slot = Slot {
            key,
            value,
            newer: NIL,
            older: NIL,
        };
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at as usize] = Some(slot);
                at
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, at);
        self.push_newest(at);
        // The slot was just filled, so this always finds it.
        let filled = self.slots[at as usize].as_mut().map(|s| &mut s.value);
        match filled {
            Some(value) => value,
            None => unreachable!("slot {at} was just filled"),
        }
    }

    /// The least recently used entry.
    pub fn oldest(&self) -> Option<(&FlowKey, &T)> {
        let slot = self.slots.get(self.oldest as usize)?.as_ref()?;
        Some((&slot.key, &slot.value))
    }

    /// Removes the entry for `key`.
    pub fn remove(&mut self, key: &FlowKey) -> Option<T> {
        let at = self.index.remove(key)?;
        self.unlink(at);
        self.free.push(at);
        self.slots[at as usize].take().map(|s| s.value)
    }

    /// Removes and returns the least recently used entry.
    pub fn pop_oldest(&mut self) -> Option<(FlowKey, T)> {
        let key = *self.oldest()?.0;
        self.remove(&key).map(|v| (key, v))
    }

    fn slot_mut(&mut self, at: u32) -> Option<&mut Slot<T>> {
        self.slots.get_mut(at as usize)?.as_mut()
    }

    fn unlink(&mut self, at: u32) {
        let Some((newer, older)) = self.slot_mut(at).map(|s| (s.newer, s.older)) else {
            return;
        };
        match self.slot_mut(newer) {
            Some(s) => s.older = older,
            None => self.newest = older,
        }
        match self.slot_mut(older) {
            Some(s) => s.newer = newer,
            None => self.oldest = newer,
        }
        if let Some(s) = self.slot_mut(at) {
            s.newer = NIL;
            s.older = NIL;
        }
    }

    fn push_newest(&mut self, at: u32) {
        let previous = self.newest;
        if let Some(s) = self.slot_mut(at) {
            s.older = previous;
            s.newer = NIL;
        }
        match self.slot_mut(previous) {
            Some(s) => s.newer = at,
            None => self.oldest = at,
        }
        self.newest = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Vlans;
    use crate::flow::key::Endpoint;

    fn key(port: u16) -> FlowKey {
        let ep = |p| Endpoint {
            ip: [10, 0, 0, 1].into(),
            port: p,
        };
        FlowKey::new(ep(port), ep(80), 6, Vlans::default()).0
    }

    #[test]
    fn keeps_recency_order_and_reuses_slots() {
        let mut t = LruTable::with_capacity(4);
        for p in 1..=3 {
            t.insert(key(p), p);
        }
        assert_eq!(t.oldest().map(|(_, v)| *v), Some(1));
        assert_eq!(t.get_mut(&key(1)).copied(), Some(1));
        assert_eq!(t.oldest().map(|(_, v)| *v), Some(2));
        assert_eq!(t.remove(&key(3)), Some(3));
        assert_eq!(t.len(), 2);
        t.insert(key(4), 4);
        assert_eq!(t.slots.len(), 3, "freed slot reused");
        let order: Vec<u16> = std::iter::from_fn(|| t.pop_oldest()).map(|(_, v)| v).collect();
        assert_eq!(order, [2, 1, 4]);
        assert_eq!(t.len(), 0);
        assert_eq!((t.newest, t.oldest), (NIL, NIL));
    }
}
