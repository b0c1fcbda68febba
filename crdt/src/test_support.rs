//! Helpers shared by the property tests: deliveries of the same ops in another order, with
//! duplicates, as a replica receives them from an at-least-once transport.

use std::fmt::Debug;

use proptest::prelude::*;
use proptest::sample::Index;

/// `items` with up to eight of them repeated, in a random order.
pub(crate) fn delivery<T: Clone + Debug>(items: Vec<T>) -> impl Strategy<Value = Vec<T>> {
    let n = items.len();
    prop::collection::vec(any::<Index>(), 0..=n.min(8))
        .prop_map(move |repeats| {
            let mut all = items.clone();
            all.extend(repeats.iter().map(|i| items[i.index(n)].clone()));
            all
        })
        .prop_shuffle()
}
