//! Last-writer-wins register: the CRDT for fields where the latest write simply replaces the
//! previous one (topic, simple modes, key, limit, away, realname...).

use serde::{Deserialize, Serialize};

use crate::clock::Stamp;

/// A value and the stamp of the write that put it there. The write with the highest stamp wins,
/// whatever order writes arrive in; a write with the stamp already held is the same op seen again
/// and changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LwwRegister<T> {
    value: T,
    stamp: Stamp,
}

impl<T: PartialEq> LwwRegister<T> {
    /// A register holding `value`, written at `stamp`.
    pub fn new(value: T, stamp: Stamp) -> Self {
        LwwRegister { value, stamp }
    }

    /// Apply a write. Returns true if it changed the value (a later stamp with the same value
    /// is recorded but is not a visible change).
    pub fn set(&mut self, value: T, stamp: Stamp) -> bool {
        if stamp <= self.stamp {
            return false;
        }
        self.stamp = stamp;
        if self.value == value {
            return false;
        }
        self.value = value;
        true
    }

    /// The current value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// The stamp of the write that holds the register.
    pub fn stamp(&self) -> Stamp {
        self.stamp
    }
}

impl<T: PartialEq + Default> Default for LwwRegister<T> {
    /// The default value, at [`Stamp::ZERO`]: any real write wins over it.
    fn default() -> Self {
        LwwRegister::new(T::default(), Stamp::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ids::NodeId;
    use crate::test_support::delivery;

    fn stamp(counter: u64, node: u32) -> Stamp {
        Stamp {
            counter,
            node: NodeId(node),
        }
    }

    #[test]
    fn higher_stamp_wins_in_either_order() {
        let mut a = LwwRegister::new(0, Stamp::ZERO);
        assert!(a.set(1, stamp(5, 1)));
        assert!(!a.set(2, stamp(4, 9)));
        let mut b = LwwRegister::new(0, Stamp::ZERO);
        assert!(b.set(2, stamp(4, 9)));
        assert!(b.set(1, stamp(5, 1)));
        assert_eq!(a, b);
        assert_eq!(*a.get(), 1);
        assert_eq!(a.stamp(), stamp(5, 1));
    }

    #[test]
    fn node_breaks_counter_ties() {
        let mut r = LwwRegister::<&str>::default();
        r.set("low", stamp(3, 1));
        assert!(r.set("high", stamp(3, 2)));
        assert!(!r.set("low", stamp(3, 1)));
        assert_eq!(*r.get(), "high");
    }

    #[test]
    fn same_stamp_is_a_no_op_and_same_value_is_not_a_change() {
        let mut r = LwwRegister::<u8>::default();
        assert!(r.set(7, stamp(1, 1)));
        assert!(!r.set(7, stamp(1, 1)));
        assert!(!r.set(7, stamp(2, 1)));
        assert_eq!(r.stamp(), stamp(2, 1));
    }

    /// Writes of values at stamps.
    type Writes = Vec<(u8, Stamp)>;

    /// Distinct-stamp writes (one write per stamp, as in a real cluster), and two deliveries of them.
    fn writes_and_deliveries() -> impl Strategy<Value = (Writes, Writes, Writes)> {
        prop::collection::btree_map((1u64..20, 1u32..4), 0u8..4, 1..30)
            .prop_map(|m| {
                m.into_iter()
                    .map(|((c, n), v)| (v, stamp(c, n)))
                    .collect::<Vec<_>>()
            })
            .prop_flat_map(|writes| {
                (
                    Just(writes.clone()),
                    delivery(writes.clone()),
                    delivery(writes),
                )
            })
    }

    fn run(order: &[(u8, Stamp)]) -> Result<LwwRegister<u8>, TestCaseError> {
        let mut r = LwwRegister::<u8>::default();
        for (value, stamp) in order {
            let before = *r.get();
            let changed = r.set(*value, *stamp);
            prop_assert_eq!(changed, before != *r.get());
        }
        Ok(r)
    }

    proptest! {
        /// Any order, any duplicates: the same final register, holding the highest-stamped write.
        #[test]
        fn converges_in_any_order((writes, a, b) in writes_and_deliveries()) {
            let in_order = run(&writes)?;
            let a = run(&a)?;
            let b = run(&b)?;
            prop_assert_eq!(&in_order, &a);
            prop_assert_eq!(&a, &b);
            let (last_value, last_stamp) = writes.iter().max_by_key(|(_, s)| *s).copied().unwrap_or((0, Stamp::ZERO));
            prop_assert_eq!(*a.get(), last_value);
            prop_assert_eq!(a.stamp(), last_stamp);
        }
    }
}
