//! Add-wins observed-remove set with dots: the CRDT for sets that support removal (channel
//! membership, prefix modes, ban/except/invite lists).
//!
//! A Lamport stamp alone cannot tell "removed after seeing the add" from "added concurrently with
//! the remove". Dots can: every add carries the unique id of its op, and a remove names exactly the
//! dots its issuer had seen. An add whose dot the remove did not name survives (add wins).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::OpId;

/// An add-wins observed-remove set.
///
/// Removed dots are kept as tombstones, so a remove that arrives before the add it observed
/// still beats that add. Every operation is commutative and idempotent: the same adds and removes
/// in any order, with duplicates, give the same set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrSet<E: Ord> {
    /// Live dots per element; an element is present iff it has at least one.
    live: BTreeMap<E, BTreeSet<OpId>>,
    /// Dots removed from one element.
    removed: BTreeMap<E, BTreeSet<OpId>>,
    /// Dots removed from whatever element they belong to (see [`OrSet::remove_dots`]).
    removed_anywhere: BTreeSet<OpId>,
}

impl<E: Ord> Default for OrSet<E> {
    fn default() -> Self {
        OrSet {
            live: BTreeMap::new(),
            removed: BTreeMap::new(),
            removed_anywhere: BTreeSet::new(),
        }
    }
}

impl<E: Ord + Clone> OrSet<E> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `elem` with the dot of the adding op. Returns true if `elem` became present. A dot that
    /// was already removed stays removed.
    pub fn add(&mut self, elem: E, dot: OpId) -> bool {
        if self.removed_anywhere.contains(&dot)
            || self.removed.get(&elem).is_some_and(|r| r.contains(&dot))
        {
            return false;
        }
        let dots = self.live.entry(elem).or_default();
        let was_empty = dots.is_empty();
        dots.insert(dot);
        was_empty
    }

    /// Remove exactly the `observed` dots from `elem`. Returns true if `elem` stopped being
    /// present. Dots of `elem` not in `observed` (concurrent adds) keep it present.
    pub fn remove(&mut self, elem: &E, observed: &[OpId]) -> bool {
        if observed.is_empty() {
            return false;
        }
        self.removed
            .entry(elem.clone())
            .or_default()
            .extend(observed.iter().copied());
        let Some(dots) = self.live.get_mut(elem) else {
            return false;
        };
        for dot in observed {
            dots.remove(dot);
        }
        if dots.is_empty() {
            self.live.remove(elem);
            return true;
        }
        false
    }

    /// Remove the `observed` dots from whichever elements they belong to, including elements
    /// whose add has not arrived yet. For removes whose issuer names dots, not elements (a channel
    /// reset). Returns the elements that stopped being present, in order.
    pub fn remove_dots(&mut self, observed: &[OpId]) -> Vec<E> {
        if observed.is_empty() {
            return Vec::new();
        }
        self.removed_anywhere.extend(observed.iter().copied());
        let mut gone = Vec::new();
        for (elem, dots) in self.live.iter_mut() {
            let before = dots.len();
            dots.retain(|d| !self.removed_anywhere.contains(d));
            if before > 0 && dots.is_empty() {
                gone.push(elem.clone());
            }
        }
        for elem in &gone {
            self.live.remove(elem);
        }
        gone
    }

    /// Forget `elem` entirely, tombstones included. Only for an element that can never be added
    /// again (a departed user), so its history stops taking memory.
    pub fn purge(&mut self, elem: &E) {
        self.live.remove(elem);
        self.removed.remove(elem);
    }

    /// Whether `elem` is present.
    pub fn contains(&self, elem: &E) -> bool {
        self.live.contains_key(elem)
    }

    /// Whether `dot` is a live dot of `elem`.
    pub fn has_dot(&self, elem: &E, dot: OpId) -> bool {
        self.live.get(elem).is_some_and(|d| d.contains(&dot))
    }

    /// The present elements, in order.
    pub fn iter(&self) -> impl Iterator<Item = &E> {
        self.live.keys()
    }

    /// Number of present elements.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no element is present.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The live dots of `elem`, in order: what a remover must name to remove it.
    pub fn dots(&self, elem: &E) -> Vec<OpId> {
        self.live
            .get(elem)
            .map(|d| d.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Every live dot of every element, in element order.
    pub fn all_dots(&self) -> impl Iterator<Item = OpId> + '_ {
        self.live.values().flat_map(|d| d.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::sample::Index;

    use super::*;
    use crate::ids::NodeId;
    use crate::test_support::delivery;

    fn dot(origin: u32, seq: u64) -> OpId {
        OpId {
            origin: NodeId(origin),
            seq,
        }
    }

    #[test]
    fn add_then_remove_observed() {
        let mut s = OrSet::new();
        assert!(s.add("ban", dot(1, 1)));
        assert!(!s.add("ban", dot(1, 1)));
        assert!(s.contains(&"ban"));
        assert_eq!(s.dots(&"ban"), vec![dot(1, 1)]);
        assert!(s.remove(&"ban", &[dot(1, 1)]));
        assert!(!s.contains(&"ban"));
        assert!(s.is_empty());
    }

    #[test]
    fn concurrent_add_wins_over_remove() {
        let mut s = OrSet::new();
        s.add("ban", dot(1, 1));
        // Node 2 adds again while node 1 removes what it saw.
        assert!(!s.add("ban", dot(2, 1)));
        assert!(!s.remove(&"ban", &[dot(1, 1)]));
        assert!(s.contains(&"ban"));
        assert_eq!(s.dots(&"ban"), vec![dot(2, 1)]);
    }

    #[test]
    fn remove_before_add_still_wins() {
        let mut s = OrSet::new();
        assert!(!s.remove(&"x", &[dot(1, 1)]));
        assert!(!s.add("x", dot(1, 1)));
        assert!(!s.contains(&"x"));
        assert!(s.add("x", dot(1, 2)));
    }

    #[test]
    fn remove_only_touches_the_named_element() {
        let mut s = OrSet::new();
        s.add("a", dot(1, 1));
        s.add("b", dot(1, 2));
        assert!(!s.remove(&"a", &[dot(1, 2)]));
        assert!(s.contains(&"a"));
        assert!(s.contains(&"b"));
    }

    #[test]
    fn remove_dots_finds_the_element_even_later() {
        let mut s = OrSet::new();
        s.add("a", dot(1, 1));
        s.add("b", dot(1, 2));
        assert_eq!(s.remove_dots(&[dot(1, 1), dot(3, 9)]), vec!["a"]);
        assert!(!s.add("c", dot(3, 9)));
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!(s.all_dots().collect::<Vec<_>>(), vec![dot(1, 2)]);
    }

    #[test]
    fn purge_forgets_element_and_tombstones() {
        let mut s = OrSet::new();
        s.add("a", dot(1, 1));
        s.remove(&"a", &[dot(1, 1)]);
        s.add("b", dot(1, 2));
        s.purge(&"a");
        s.purge(&"b");
        assert_eq!(s, OrSet::new());
    }

    #[derive(Clone, Debug)]
    enum SetOp {
        Add(u8, OpId),
        Remove(u8, Vec<OpId>),
        RemoveDots(Vec<OpId>),
    }

    /// Ops over 3 elements; each add has its own dot; removes name dots drawn from the adds
    /// (usually of the same element, sometimes of others, sometimes of adds not delivered yet).
    fn ops() -> impl Strategy<Value = Vec<SetOp>> {
        let spec = (
            0u8..3,
            0u8..3,
            1u32..4,
            prop::collection::vec(any::<Index>(), 0..4),
        );
        prop::collection::vec(spec, 1..25).prop_map(|specs| {
            let mut seq = 0;
            let adds: Vec<(u8, OpId)> = specs
                .iter()
                .filter(|(kind, ..)| *kind == 0)
                .map(|(_, elem, node, _)| {
                    seq += 1;
                    (*elem, dot(*node, seq))
                })
                .collect();
            let mut next_add = adds.iter();
            specs
                .into_iter()
                .filter_map(|(kind, elem, _, picks)| {
                    let picked = || {
                        picks
                            .iter()
                            .filter(|_| !adds.is_empty())
                            .map(|i| adds[i.index(adds.len())].1)
                            .collect::<Vec<_>>()
                    };
                    match kind {
                        0 => next_add.next().map(|(e, d)| SetOp::Add(*e, *d)),
                        1 => Some(SetOp::Remove(elem, picked())),
                        _ => Some(SetOp::RemoveDots(picked())),
                    }
                })
                .collect()
        })
    }

    fn run(order: &[SetOp]) -> Result<OrSet<u8>, TestCaseError> {
        let mut s = OrSet::new();
        for op in order {
            let before = s.contains(&op_elem(op));
            match op {
                SetOp::Add(e, d) => {
                    let appeared = s.add(*e, *d);
                    prop_assert_eq!(appeared, !before && s.contains(e));
                }
                SetOp::Remove(e, observed) => {
                    let gone = s.remove(e, observed);
                    prop_assert_eq!(gone, before && !s.contains(e));
                }
                SetOp::RemoveDots(observed) => {
                    let had: Vec<u8> = s.iter().copied().collect();
                    let gone = s.remove_dots(observed);
                    let expected: Vec<u8> = had.into_iter().filter(|e| !s.contains(e)).collect();
                    prop_assert_eq!(gone, expected);
                }
            }
        }
        Ok(s)
    }

    fn op_elem(op: &SetOp) -> u8 {
        match op {
            SetOp::Add(e, _) | SetOp::Remove(e, _) => *e,
            SetOp::RemoveDots(_) => 0,
        }
    }

    /// What the set must hold, straight from the definition: an element is present iff one of
    /// its adds has a dot that no remove of that element, and no dot-remove, named.
    fn expected(ops: &[SetOp]) -> BTreeSet<u8> {
        let removed = |e: u8, d: OpId| {
            ops.iter().any(|op| match op {
                SetOp::Remove(re, observed) => *re == e && observed.contains(&d),
                SetOp::RemoveDots(observed) => observed.contains(&d),
                SetOp::Add(..) => false,
            })
        };
        ops.iter()
            .filter_map(|op| match op {
                SetOp::Add(e, d) if !removed(*e, *d) => Some(*e),
                _ => None,
            })
            .collect()
    }

    proptest! {
        /// Same ops in any order with duplicates: the same set, and the one the definition gives.
        #[test]
        fn converges_in_any_order(
            (ops, a, b) in ops().prop_flat_map(|ops| (Just(ops.clone()), delivery(ops.clone()), delivery(ops)))
        ) {
            let in_order = run(&ops)?;
            let a = run(&a)?;
            let b = run(&b)?;
            prop_assert_eq!(&in_order, &a);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.iter().copied().collect::<BTreeSet<u8>>(), expected(&ops));
        }
    }
}
