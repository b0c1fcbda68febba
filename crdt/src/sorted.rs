//! Ordered collections kept in one sorted slice, for the per-user sets that are nearly always
//! tiny: a user's modes, the channels it has entries in, the channels it is visibly in.
//!
//! A `BTreeMap` or `BTreeSet` allocates a whole node of eleven slots for its first entry: about
//! 330 bytes for one user mode, 290 for one channel name, in the record of every user that has
//! one. These take one allocation sized to what they hold (grown one slot at a time: they are
//! small, and written far less often than read), held as a [`FittedSlice`]: a pointer and a
//! length, two words in the record instead of a vector's three. They iterate in key order and
//! serialize exactly as the B-tree collections do (a map, a sequence), so stored states read
//! the same.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A boxed slice grown and shrunk one slot at a time, always allocated to exactly its length.
///
/// For the collections of every user record that nearly always hold zero to two entries: it
/// costs two words where a `Vec` costs three, and no spare capacity. Each insert or removal
/// reallocates, which is what a small, rarely written collection wants.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct FittedSlice<T>(Box<[T]>);

impl<T> Default for FittedSlice<T> {
    fn default() -> Self {
        FittedSlice(Box::default())
    }
}

impl<T> FittedSlice<T> {
    /// Puts `value` at `at`, shifting what follows.
    pub(crate) fn insert(&mut self, at: usize, value: T) {
        let mut slots = std::mem::take(&mut self.0).into_vec();
        slots.reserve_exact(1);
        slots.insert(at, value);
        self.0 = slots.into_boxed_slice();
    }

    /// Takes out the value at `at`, shifting what follows.
    pub(crate) fn remove(&mut self, at: usize) -> T {
        let mut slots = std::mem::take(&mut self.0).into_vec();
        let value = slots.remove(at);
        self.0 = slots.into_boxed_slice();
        value
    }
}

impl<T> Deref for FittedSlice<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> DerefMut for FittedSlice<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<T> FromIterator<T> for FittedSlice<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        FittedSlice(iter.into_iter().collect())
    }
}

impl<T: fmt::Debug> fmt::Debug for FittedSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A map in key order, in one sorted slice.
#[derive(Clone, PartialEq, Eq)]
pub struct SortedMap<K, V>(FittedSlice<(K, V)>);

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap(FittedSlice::default())
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        let at = self.0.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
        Some(&self.0[at].1)
    }

    /// The value under `key`, inserted as the default first if there is none.
    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let at = match self.0.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(at) => at,
            Err(at) => {
                self.0.insert(at, (key, V::default()));
                at
            }
        };
        &mut self.0[at].1
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for SortedMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K: Serialize, V: Serialize> Serialize for SortedMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de, K: Ord + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for SortedMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<K, V>::deserialize(deserializer)?;
        Ok(SortedMap(map.into_iter().collect()))
    }
}

/// A set in order, in one sorted slice.
#[derive(Clone, PartialEq, Eq)]
pub struct SortedSet<T>(FittedSlice<T>);

impl<T> Default for SortedSet<T> {
    fn default() -> Self {
        SortedSet(FittedSlice::default())
    }
}

impl<T: Ord> SortedSet<T> {
    /// Whether `value` is in the set.
    pub fn contains<Q: Ord + ?Sized>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        self.0.binary_search_by(|v| v.borrow().cmp(value)).is_ok()
    }

    /// Add `value`; false if it was in the set already.
    pub fn insert(&mut self, value: T) -> bool {
        match self.0.binary_search(&value) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, value);
                true
            }
        }
    }

    /// Take `value` out; false if it was not in the set.
    pub fn remove<Q: Ord + ?Sized>(&mut self, value: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        match self.0.binary_search_by(|v| v.borrow().cmp(value)) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values in order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }
}

impl<'a, T> IntoIterator for &'a SortedSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: fmt::Debug> fmt::Debug for SortedSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

impl<T: Serialize> Serialize for SortedSet<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl<'de, T: Ord + Deserialize<'de>> Deserialize<'de> for SortedSet<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let set = BTreeSet::<T>::deserialize(deserializer)?;
        Ok(SortedSet(set.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The event log's binary encoding (bincode, standard configuration) of any serializable value.
    mod erased {
        pub trait Encode {
            fn encode(&self) -> Vec<u8>;
        }

        impl<T: serde::Serialize> Encode for T {
            fn encode(&self) -> Vec<u8> {
                bincode::serde::encode_to_vec(self, bincode::config::standard()).expect("encode")
            }
        }
    }

    proptest! {
        /// Whatever is inserted, in any order, the map answers and iterates as a `BTreeMap`
        /// given the same writes would.
        #[test]
        fn a_map_behaves_as_a_btree_map(writes in prop::collection::vec((0u8..20, any::<u16>()), 0..60)) {
            let mut sorted = SortedMap::<u8, u32>::default();
            let mut btree = BTreeMap::new();
            for (key, value) in writes {
                *sorted.get_or_default(key) += u32::from(value);
                *btree.entry(key).or_default() += u32::from(value);
            }
            prop_assert!(sorted.iter().map(|(k, v)| (*k, *v)).eq(btree.iter().map(|(k, v)| (*k, *v))));
            for key in 0u8..20 {
                prop_assert_eq!(sorted.get(&key), btree.get(&key));
            }
        }

        /// The same for sets, written and looked up by a borrowed form.
        #[test]
        fn a_set_behaves_as_a_btree_set(values in prop::collection::vec("[a-e]{1,2}", 0..40)) {
            let mut sorted = SortedSet::default();
            let mut btree = BTreeSet::new();
            for (n, value) in values.into_iter().enumerate() {
                if n % 3 == 2 {
                    prop_assert_eq!(sorted.remove(value.as_str()), btree.remove(value.as_str()));
                } else {
                    prop_assert_eq!(sorted.insert(value.clone()), btree.insert(value));
                }
                prop_assert_eq!(sorted.is_empty(), btree.is_empty());
            }
            prop_assert!(sorted.iter().eq(btree.iter()));
            for probe in ["a", "ab", "e", "ee", "z"] {
                prop_assert_eq!(sorted.contains(probe), btree.contains(probe));
            }
        }

        /// Serialized, they are the B-tree collections' forms, and read back from them.
        #[test]
        fn the_serialized_forms_are_the_btree_ones(
            map in prop::collection::btree_map(any::<char>(), any::<bool>(), 0..8),
            set in prop::collection::btree_set("[a-z#]{1,6}", 0..8),
        ) {
            let mut sorted_map = SortedMap::default();
            for (k, v) in &map {
                *sorted_map.get_or_default(*k) = *v;
            }
            let sorted_set = set.iter().cloned().fold(SortedSet::default(), |mut s, v| {
                s.insert(v);
                s
            });
            let map_json = serde_json::to_string(&map).expect("map");
            let set_json = serde_json::to_string(&set).expect("set");
            prop_assert_eq!(serde_json::to_string(&sorted_map).expect("sorted map"), map_json.clone());
            prop_assert_eq!(serde_json::to_string(&sorted_set).expect("sorted set"), set_json.clone());
            let binary = |value: &dyn erased::Encode| value.encode();
            prop_assert_eq!(binary(&sorted_map), binary(&map));
            prop_assert_eq!(binary(&sorted_set), binary(&set));
            let map_back: SortedMap<char, bool> = serde_json::from_str(&map_json).expect("map back");
            let set_back: SortedSet<String> = serde_json::from_str(&set_json).expect("set back");
            prop_assert_eq!(map_back, sorted_map);
            prop_assert_eq!(set_back, sorted_set);
        }
    }
}
