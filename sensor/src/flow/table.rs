//! A worker's flow table: a hash index over a slab of flows threaded on a
//! recency list, so that finding a flow, touching it, and finding the
//! longest-idle one are all O(1). Slots are reused, so a warm table
//! allocates nothing per packet.
//!
//! The index holds only each key's hash and its slot number; the keys live
//! in the slots. Flows are looked up at random, and an index of 16-byte
//! entries misses the cache far less than one holding the keys would.
//! The recency links live in their own compact array: moving a flow to the
//! front touches its neighbours' links, and keeping those out of the large
//! flow records keeps the touch in cache. The flow records live in chunks
//! that never move: a growing table adds a chunk instead of copying every
//! live flow into a buffer twice the size (and faulting it in again). A
//! flow leaving the table is handed over where it lies, not moved out.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::key::{FlowHasher, FlowKey};

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Links {
    /// Toward the most recently used end.
    newer: u32,
    /// Toward the least recently used end.
    older: u32,
}

const UNLINKED: Links = Links {
    newer: NIL,
    older: NIL,
};

/// An index entry: a key's hash and the slot holding the key.
#[derive(Clone, Copy)]
struct Indexed {
    hash: u64,
    at: u32,
}

/// A value that carries its key (a flow its 5-tuple): the table keeps no
/// copy of it.
pub(super) trait Keyed {
    fn key(&self) -> &FlowKey;
}

/// Values by key, ordered by last use.
pub(super) struct LruTable<T> {
    index: HashTable<Indexed>,
    hasher: FlowHasher,
    slots: Chunked<Option<T>>,
    links: Vec<Links>,
    free: Vec<u32>,
    newest: u32,
    oldest: u32,
}

impl<T: Keyed> LruTable<T> {
    pub fn with_capacity(capacity: usize) -> LruTable<T> {
        LruTable {
            index: HashTable::with_capacity(capacity),
            hasher: FlowHasher::default(),
            slots: Chunked::default(),
            links: Vec::with_capacity(capacity),
            free: Vec::new(),
            newest: NIL,
            oldest: NIL,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The slot holding `key`.
    fn find(&self, key: &FlowKey) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        let holds_key = |e: &Indexed| {
            e.hash == hash && matches!(slots.get(e.at), Some(Some(v)) if v.key() == key)
        };
        self.index.find(hash, holds_key).map(|e| e.at)
    }

    /// The value for `key`, leaving the recency order as it is.
    pub fn peek(&self, key: &FlowKey) -> Option<&T> {
        self.slots.get(self.find(key)?)?.as_ref()
    }

    /// The value for `key`, marked as the most recently used.
    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut T> {
        let at = self.find(key)?;
        if at != self.newest {
            self.unlink(at);
            self.push_newest(at);
        }
        self.slots.get_mut(at)?.as_mut()
    }

    /// Inserts a value whose key is not in the table, as the most recently
    /// used.
    pub fn insert(&mut self, value: T) -> &mut T {
        let at = match self.free.pop() {
            Some(at) => at,
            None => {
                self.links.push(UNLINKED);
                self.slots.push(None)
            }
        };
        let hash = self.hasher.hash_one(value.key());
        self.index
            .insert_unique(hash, Indexed { hash, at }, |e| e.hash);
        self.push_newest(at);
        self.slots.slot(at).insert(value)
    }

    /// The most recently used value: the one just inserted or looked up.
    pub fn newest_mut(&mut self) -> Option<&mut T> {
        self.slots.get_mut(self.newest)?.as_mut()
    }

    /// The least recently used value.
    pub fn oldest(&self) -> Option<&T> {
        self.slots.get(self.oldest)?.as_ref()
    }

    /// Visits values from the most recently used on, while `visit` says to go on.
    pub fn visit_newest_while(&mut self, mut visit: impl FnMut(&mut T) -> bool) {
        let mut at = self.newest;
        while let Some(Some(value)) = self.slots.get_mut(at) {
            if !visit(value) {
                return;
            }
            at = self.links[at as usize].older;
        }
    }

    /// Removes the entry for `key`, handing its value to `last` before it
    /// is dropped; returns whether there was one.
    pub fn remove_with(&mut self, key: &FlowKey, last: impl FnOnce(&mut T)) -> bool {
        match self.find(key) {
            Some(at) => {
                self.remove_at(at, last);
                true
            }
            None => false,
        }
    }

    /// Removes the least recently used entry, handing its value to `last`
    /// before it is dropped; returns whether there was one.
    pub fn pop_oldest_with(&mut self, last: impl FnOnce(&mut T)) -> bool {
        let at = self.oldest;
        if self.slots.get(at).is_none_or(Option::is_none) {
            return false;
        }
        self.remove_at(at, last);
        true
    }

    /// Removes the entry in slot `at`, which holds one.
    fn remove_at(&mut self, at: u32, last: impl FnOnce(&mut T)) {
        let slot = self.slots.slot(at);
        if let Some(value) = slot {
            let hash = self.hasher.hash_one(value.key());
            if let Ok(entry) = self.index.find_entry(hash, |e| e.at == at) {
                entry.remove();
            }
            last(value);
        }
        // Dropped where it lies.
        *slot = None;
        self.unlink(at);
        self.free.push(at);
    }

    fn unlink(&mut self, at: u32) {
        let Links { newer, older } = self.links[at as usize];
        match self.links.get_mut(newer as usize) {
            Some(l) => l.older = older,
            None => self.newest = older,
        }
        match self.links.get_mut(older as usize) {
            Some(l) => l.newer = newer,
            None => self.oldest = newer,
        }
        self.links[at as usize] = UNLINKED;
    }

    fn push_newest(&mut self, at: u32) {
        let previous = self.newest;
        self.links[at as usize] = Links {
            newer: NIL,
            older: previous,
        };
        match self.links.get_mut(previous as usize) {
            Some(l) => l.newer = at,
            None => self.oldest = at,
        }
        self.newest = at;
    }
}

/// Slots in fixed chunks of `CHUNK`: growing allocates one more chunk and
/// moves nothing.
struct Chunked<T> {
    chunks: Vec<Box<[T]>>,
    len: u32,
}

const CHUNK: u32 = 1024;

impl<T> Default for Chunked<T> {
    fn default() -> Chunked<T> {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Default> Chunked<T> {
    /// Appends `value`; returns its index.
    fn push(&mut self, value: T) -> u32 {
        let at = self.len;
        if at % CHUNK == 0 {
            self.chunks.push((0..CHUNK).map(|_| T::default()).collect());
        }
        self.len += 1;
        *self.slot(at) = value;
        at
    }
}

impl<T> Chunked<T> {
    fn get(&self, at: u32) -> Option<&T> {
        if at >= self.len {
            return None;
        }
        self.chunks
            .get((at / CHUNK) as usize)?
            .get((at % CHUNK) as usize)
    }

    fn get_mut(&mut self, at: u32) -> Option<&mut T> {
        if at >= self.len {
            return None;
        }
        self.chunks
            .get_mut((at / CHUNK) as usize)?
            .get_mut((at % CHUNK) as usize)
    }

    /// The slot at an index handed out by `push`.
    fn slot(&mut self, at: u32) -> &mut T {
        &mut self.chunks[(at / CHUNK) as usize][(at % CHUNK) as usize]
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len as usize
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

    /// A value and its key.
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Entry(FlowKey, u16);

    impl Keyed for Entry {
        fn key(&self) -> &FlowKey {
            &self.0
        }
    }

    fn entry(port: u16) -> Entry {
        Entry(key(port), port)
    }

    #[test]
    fn keeps_recency_order_and_reuses_slots() {
        let mut t = LruTable::with_capacity(4);
        for p in 1..=3 {
            t.insert(entry(p));
        }
        assert_eq!(t.oldest().map(|e| e.1), Some(1));
        assert_eq!(t.get_mut(&key(1)).map(|e| e.1), Some(1));
        assert_eq!(t.oldest().map(|e| e.1), Some(2));
        assert_eq!(
            t.get_mut(&key(1)).map(|e| e.1),
            Some(1),
            "touching the newest keeps order"
        );
        let mut removed = None;
        assert!(t.remove_with(&key(3), |e| removed = Some(e.1)));
        assert_eq!(removed, Some(3));
        assert_eq!(t.len(), 2);
        t.insert(entry(4));
        assert_eq!(t.slots.len(), 3, "freed slot reused");
        let mut order = Vec::new();
        while t.pop_oldest_with(|e| order.push(e.1)) {}
        assert_eq!(order, [2, 1, 4]);
        assert_eq!(t.len(), 0);
        assert_eq!((t.newest, t.oldest), (NIL, NIL));
    }
}
