//! Window state: a map whose entries stay ordered by the event time they were last touched, so
//! that expiring everything older than a cutoff costs only the entries removed.
//!
//! Architecture invariant: the engine touches entries in non-decreasing event time (the
//! reorder buffer guarantees it, and late events are clamped), so "move to the back on touch"
//! keeps the list sorted and the front is always the oldest entry. Counts derived from it are
//! exact: nothing is sampled, sketched or evicted early.

use ahash::RandomState;
use hashbrown::HashTable;

/// No entry.
pub(crate) const NIL: u32 = u32::MAX;

/// Maps with at most this many entries find keys by scanning: no table, no hashing, no
/// allocation beyond the entries. Most groups are this small.
const SCAN_LIMIT: usize = 8;

/// An encoded key, stored inline when short (group and value keys usually are: an address is 5
/// bytes, a customer id about 10), so that most entries cost no allocation of their own.
pub(crate) enum Key {
    Inline(u8, [u8; INLINE]),
    Heap(Box<[u8]>),
}

const INLINE: usize = 22;

impl Key {
    fn new(bytes: &[u8]) -> Key {
        if bytes.len() <= INLINE {
            let mut inline = [0u8; INLINE];
            inline[..bytes.len()].copy_from_slice(bytes);
            Key::Inline(u8::try_from(bytes.len()).unwrap_or(0), inline)
        } else {
            Key::Heap(bytes.into())
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline(length, bytes) => &bytes[..usize::from(*length)],
            Key::Heap(bytes) => bytes,
        }
    }
}

impl Default for Key {
    fn default() -> Self {
        Key::Inline(0, [0; INLINE])
    }
}

struct Slot<V> {
    key: Key,
    time: i64,
    prev: u32,
    /// The next entry in touch order, or the next free slot.
    next: u32,
    value: V,
}

struct Index {
    table: HashTable<u32>,
    hasher: RandomState,
}

/// Keys (encoded bytes) to values, in order of last touch.
pub(crate) struct ExpiringMap<V> {
    /// Built once the map outgrows [`SCAN_LIMIT`]; boxed so that the many small maps (one per
    /// group) stay small.
    index: Option<Box<Index>>,
    slots: Vec<Slot<V>>,
    len: u32,
    free: u32,
    head: u32,
    tail: u32,
}

impl<V: Default> Default for ExpiringMap<V> {
    fn default() -> Self {
        ExpiringMap {
            index: None,
            slots: Vec::new(),
            len: 0,
            free: NIL,
            head: NIL,
            tail: NIL,
        }
    }
}

impl<V: Default> ExpiringMap<V> {
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn find(&self, key: &[u8]) -> Option<u32> {
        let slots = &self.slots;
        match &self.index {
            Some(index) => {
                let hash = index.hasher.hash_one(key);
                index
                    .table
                    .find(hash, |&candidate| {
                        slots[candidate as usize].key.as_bytes() == key
                    })
                    .copied()
            }
            None => {
                let mut candidate = self.head;
                while candidate != NIL {
                    let slot = &slots[candidate as usize];
                    if slot.key.as_bytes() == key {
                        return Some(candidate);
                    }
                    candidate = slot.next;
                }
                None
            }
        }
    }

    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// The value under `key` and when it was last touched.
    pub(crate) fn get(&self, key: &[u8]) -> Option<(&V, i64)> {
        self.find(key).map(|index| {
            let slot = &self.slots[index as usize];
            (&slot.value, slot.time)
        })
    }

    /// The value under `key`, without touching it.
    #[cfg(test)]
    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.find(key)
            .map(|index| &mut self.slots[index as usize].value)
    }

    /// Marks `key` as seen at `time` (moving it to the back) and returns its value. If it is
    /// absent and `may_insert` allows, inserts it with the default value; the flag says whether
    /// it was inserted. `None` when absent and not allowed to insert.
    pub(crate) fn touch(
        &mut self,
        key: &[u8],
        time: i64,
        may_insert: impl FnOnce() -> bool,
    ) -> Option<(&mut V, bool)> {
        self.touch_tracked(key, time, may_insert, |_, _, _| {})
            .map(|(_, value, inserted)| (value, inserted))
    }

    /// [`ExpiringMap::touch`], also telling `before_move` the entry's slot, previous time and
    /// successor before an existing entry moves to the back, and returning the entry's slot.
    pub(crate) fn touch_tracked(
        &mut self,
        key: &[u8],
        time: i64,
        may_insert: impl FnOnce() -> bool,
        before_move: impl FnOnce(u32, i64, u32),
    ) -> Option<(u32, &mut V, bool)> {
        // Entries stay sorted by time: a caller never goes back in time, and if it did the
        // entry is kept at the back's time rather than breaking the order.
        let time = match self.tail {
            NIL => time,
            tail => time.max(self.slots[tail as usize].time),
        };
        if let Some(index) = self.find(key) {
            let (old_time, next) = {
                let slot = &self.slots[index as usize];
                (slot.time, slot.next)
            };
            before_move(index, old_time, next);
            if index != self.tail {
                self.unlink(index);
                self.link_back(index);
            }
            let slot = &mut self.slots[index as usize];
            slot.time = time;
            return Some((index, &mut slot.value, false));
        }
        if !may_insert() {
            return None;
        }
        let slot = Slot {
            key: Key::new(key),
            time,
            prev: NIL,
            next: NIL,
            value: V::default(),
        };
        let index = match self.free {
            NIL => {
                let index = u32::try_from(self.slots.len()).unwrap_or(NIL);
                // Grow 1, 2, 4 … rather than the default first step of 4: most maps are
                // groups holding one or two entries.
                if self.slots.len() == self.slots.capacity() {
                    self.slots.reserve_exact(self.slots.len().max(1));
                }
                self.slots.push(slot);
                index
            }
            free => {
                self.free = self.slots[free as usize].next;
                self.slots[free as usize] = slot;
                free
            }
        };
        self.len += 1;
        self.link_back(index);
        if self.index.is_none() && self.len() > SCAN_LIMIT {
            self.build_index();
        } else if let Some(index_box) = &mut self.index {
            let Index { table, hasher } = &mut **index_box;
            let slots = &self.slots;
            table.insert_unique(hasher.hash_one(key), index, |&other| {
                hasher.hash_one(slots[other as usize].key.as_bytes())
            });
        }
        Some((index, &mut self.slots[index as usize].value, true))
    }

    /// The time entry `index` was last touched.
    pub(crate) fn time_of(&self, index: u32) -> i64 {
        self.slots[index as usize].time
    }

    /// The entry touched after entry `index`, or [`NIL`].
    pub(crate) fn next_of(&self, index: u32) -> u32 {
        self.slots[index as usize].next
    }

    /// Builds the hash index over every live entry.
    fn build_index(&mut self) {
        let hasher = RandomState::new();
        let mut table = HashTable::with_capacity(self.len() * 2);
        let slots = &self.slots;
        let mut index = self.head;
        while index != NIL {
            table.insert_unique(
                hasher.hash_one(slots[index as usize].key.as_bytes()),
                index,
                |&other| hasher.hash_one(slots[other as usize].key.as_bytes()),
            );
            index = slots[index as usize].next;
        }
        self.index = Some(Box::new(Index { table, hasher }));
    }

    /// Removes every entry last touched before `cutoff`, oldest first, handing each to
    /// `removed`.
    pub(crate) fn expire(&mut self, cutoff: i64, mut removed: impl FnMut(&[u8], V)) {
        while self.head != NIL && self.slots[self.head as usize].time < cutoff {
            let index = self.head;
            let (key, value) = self.remove_slot(index);
            removed(key.as_bytes(), value);
        }
    }

    fn remove_slot(&mut self, index: u32) -> (Key, V) {
        self.unlink(index);
        if let Some(index_box) = &mut self.index {
            let Index { table, hasher } = &mut **index_box;
            let hash = hasher.hash_one(self.slots[index as usize].key.as_bytes());
            if let Ok(entry) = table.find_entry(hash, |&other| other == index) {
                entry.remove();
            }
        }
        self.len -= 1;
        let free = self.free;
        let slot = &mut self.slots[index as usize];
        slot.next = free;
        self.free = index;
        (
            std::mem::take(&mut slot.key),
            std::mem::take(&mut slot.value),
        )
    }

    /// Entries from oldest to newest touch: key, time, value.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], i64, &V)> {
        self.iter_from(self.head)
    }

    /// Entries from entry `start` (or nothing, for [`NIL`]) to the newest.
    pub(crate) fn iter_from(&self, start: u32) -> impl Iterator<Item = (&[u8], i64, &V)> {
        let mut index = start;
        std::iter::from_fn(move || {
            if index == NIL {
                return None;
            }
            let slot = &self.slots[index as usize];
            index = slot.next;
            Some((slot.key.as_bytes(), slot.time, &slot.value))
        })
    }

    fn unlink(&mut self, index: u32) {
        let (prev, next) = {
            let slot = &self.slots[index as usize];
            (slot.prev, slot.next)
        };
        match prev {
            NIL => self.head = next,
            prev => self.slots[prev as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.slots[next as usize].prev = prev,
        }
        let slot = &mut self.slots[index as usize];
        slot.prev = NIL;
        slot.next = NIL;
    }

    fn link_back(&mut self, index: u32) {
        let tail = self.tail;
        {
            let slot = &mut self.slots[index as usize];
            slot.prev = tail;
            slot.next = NIL;
        }
        match tail {
            NIL => self.head = index,
            tail => self.slots[tail as usize].next = index,
        }
        self.tail = index;
    }
}

/// The engine-wide count of state entries against its cap. Entries are only ever refused,
/// never evicted: a refused entry raises the `engine.state_cap` alert.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) used: u64,
    pub(crate) cap: u64,
}

impl Budget {
    /// Takes `entries` if they fit under the cap.
    pub(crate) fn take(&mut self, entries: u64) -> bool {
        if self.used.saturating_add(entries) > self.cap {
            return false;
        }
        self.used += entries;
        true
    }

    pub(crate) fn release(&mut self, entries: u64) {
        self.used = self.used.saturating_sub(entries);
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_in_touch_order() {
        let mut map: ExpiringMap<u32> = ExpiringMap::default();
        for (key, time) in [(b"a", 1), (b"b", 2), (b"c", 3)] {
            let (value, inserted) = map.touch(key, time, || true).unwrap();
            assert!(inserted);
            *value = u32::try_from(time).unwrap();
        }
        // Touching `a` again moves it behind `c`.
        let (_, inserted) = map.touch(b"a", 4, || true).unwrap();
        assert!(!inserted);
        let order: Vec<&[u8]> = map.iter().map(|(key, _, _)| key).collect();
        assert_eq!(order, vec![&b"b"[..], b"c", b"a"]);
        let mut removed = Vec::new();
        map.expire(4, |key, value| removed.push((key.to_vec(), value)));
        assert_eq!(removed, vec![(b"b".to_vec(), 2), (b"c".to_vec(), 3)]);
        assert_eq!(map.len(), 1);
        assert!(map.contains(b"a"));
        // Freed slots are reused.
        map.touch(b"d", 5, || true).unwrap();
        assert_eq!(map.slots.len(), 3);
        let long = [7u8; 40];
        map.touch(&long, 6, || true).unwrap();
        assert!(map.contains(&long));
        assert!(map.touch(b"e", 6, || false).is_none());
        assert_eq!(map.get(b"d").map(|(_, time)| time), Some(5));
    }

    #[test]
    fn many_keys_survive_table_growth() {
        let mut map: ExpiringMap<u64> = ExpiringMap::default();
        for index in 0..10_000u64 {
            *map.touch(&index.to_be_bytes(), 0, || true).unwrap().0 = index;
        }
        for index in 0..10_000u64 {
            assert_eq!(map.get_mut(&index.to_be_bytes()).copied(), Some(index));
        }
        assert!(map.index.is_some());
        // Expire half, touch some, and check the rest is still found through the index.
        map.expire(1, |_, _| {});
        assert!(map.is_empty());
        for index in 0..100u64 {
            map.touch(&index.to_be_bytes(), 2, || true).unwrap();
        }
        for index in 0..50u64 {
            map.touch(&index.to_be_bytes(), 3, || true).unwrap();
        }
        map.expire(3, |_, _| {});
        assert_eq!(map.len(), 50);
        assert!((0..50u64).all(|index| map.contains(&index.to_be_bytes())));
        assert!((50..100u64).all(|index| !map.contains(&index.to_be_bytes())));
    }
}
