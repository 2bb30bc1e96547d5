//! A worker's flow table: a hash index over a slab of flows threaded on a
//! recency list, so that finding a flow, touching it, and finding the
//! longest-idle one are all O(1). Slots are reused, so a warm table
//! allocates nothing per packet.
//!
//! The recency links live in their own compact array: moving a flow to the
//! front touches its neighbours' links, and keeping those out of the large
//! flow records keeps the touch in cache. The flow records live in chunks
//! that never move: a growing table adds a chunk instead of copying every
//! live flow into a buffer twice the size (and faulting it in again).

use std::collections::HashMap;

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

/// Values by key, ordered by last use.
pub(super) struct LruTable<T> {
    index: HashMap<FlowKey, u32, FlowHasher>,
    slots: Chunked<Option<(FlowKey, T)>>,
    links: Vec<Links>,
    free: Vec<u32>,
    newest: u32,
    oldest: u32,
}

impl<T> LruTable<T> {
    pub fn with_capacity(capacity: usize) -> LruTable<T> {
        LruTable {
            index: HashMap::with_capacity_and_hasher(capacity, FlowHasher::default()),
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

    /// The value for `key`, marked as the most recently used.
    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut T> {
        let at = *self.index.get(key)?;
        if at != self.newest {
            self.unlink(at);
            self.push_newest(at);
        }
        self.slots.get_mut(at)?.as_mut().map(|(_, v)| v)
    }

    /// Inserts a value for a key that is not in the table, as the most
    /// recently used.
    pub fn insert(&mut self, key: FlowKey, value: T) -> &mut T {
        let at = match self.free.pop() {
            Some(at) => at,
            None => {
                self.links.push(UNLINKED);
                self.slots.push(None)
            }
        };
        self.index.insert(key, at);
        self.push_newest(at);
        let slot = self.slots.slot(at);
        &mut slot.insert((key, value)).1
    }

    /// The most recently used value: the one just inserted or looked up.
    pub fn newest_mut(&mut self) -> Option<&mut T> {
        let (_, value) = self.slots.get_mut(self.newest)?.as_mut()?;
        Some(value)
    }

    /// The least recently used entry.
    pub fn oldest(&self) -> Option<(&FlowKey, &T)> {
        let (key, value) = self.slots.get(self.oldest)?.as_ref()?;
        Some((key, value))
    }

    /// Visits values from the most recently used on, while `visit` says to go on.
    pub fn visit_newest_while(&mut self, mut visit: impl FnMut(&mut T) -> bool) {
        let mut at = self.newest;
        while let Some(Some((_, value))) = self.slots.get_mut(at) {
            if !visit(value) {
                return;
            }
            at = self.links[at as usize].older;
        }
    }

    /// Removes the entry for `key`.
    pub fn remove(&mut self, key: &FlowKey) -> Option<T> {
        let at = self.index.remove(key)?;
        self.unlink(at);
        self.free.push(at);
        self.slots.get_mut(at)?.take().map(|(_, v)| v)
    }

    /// Removes and returns the least recently used entry.
    pub fn pop_oldest(&mut self) -> Option<(FlowKey, T)> {
        let key = *self.oldest()?.0;
        self.remove(&key).map(|v| (key, v))
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

    #[test]
    fn keeps_recency_order_and_reuses_slots() {
        let mut t = LruTable::with_capacity(4);
        for p in 1..=3 {
            t.insert(key(p), p);
        }
        assert_eq!(t.oldest().map(|(_, v)| *v), Some(1));
        assert_eq!(t.get_mut(&key(1)).copied(), Some(1));
        assert_eq!(t.oldest().map(|(_, v)| *v), Some(2));
        assert_eq!(
            t.get_mut(&key(1)).copied(),
            Some(1),
            "touching the newest keeps order"
        );
        assert_eq!(t.remove(&key(3)), Some(3));
        assert_eq!(t.len(), 2);
        t.insert(key(4), 4);
        assert_eq!(t.slots.len(), 3, "freed slot reused");
        let order: Vec<u16> = std::iter::from_fn(|| t.pop_oldest())
            .map(|(_, v)| v)
            .collect();
        assert_eq!(order, [2, 1, 4]);
        assert_eq!(t.len(), 0);
        assert_eq!((t.newest, t.oldest), (NIL, NIL));
    }
}
