//! Lamport stamps and the clock that issues them, with a persisted ceiling so that a node that
//! restarts after a crash never issues a stamp twice.

use serde::{Deserialize, Serialize};

use crate::ids::NodeId;

/// A Lamport stamp. Totally ordered: by counter, then by node, so two stamps from different nodes
/// are never equal and last-writer-wins picks the same winner everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// The Lamport counter.
    pub counter: u64,
    /// The node that issued the stamp (the tie-breaker).
    pub node: NodeId,
}

impl Stamp {
    /// Below every stamp a [`LamportClock`] issues (their counters start at 1): the stamp of a
    /// register nobody has written yet.
    pub const ZERO: Stamp = Stamp {
        counter: 0,
        node: NodeId(0),
    };
}

impl Default for Stamp {
    /// [`Stamp::ZERO`].
    fn default() -> Self {
        Stamp::ZERO
    }
}

/// How many counter values the clock reserves each time it asks for its ceiling to be persisted.
/// Larger blocks mean fewer writes; a restart skips at most this many counter values, which
/// costs nothing (counters are 64-bit and only their order matters).
pub const CEILING_BLOCK: u64 = 1 << 16;

/// The clock asks for its next ceiling once fewer than this many counter values are left below
/// the last one it asked for, so the caller can persist it while the rest are used.
pub const RESERVE_AHEAD: u64 = CEILING_BLOCK / 2;

/// A node's Lamport clock.
///
/// Stamps it issues are strictly increasing and move past every stamp it observes (the receive
/// rule). To stay unique across crashes the clock works against a *ceiling*: a counter value
/// persisted before any stamp up to it is used. The clock reserves blocks of [`CEILING_BLOCK`]
/// counters ahead of need: once fewer than [`RESERVE_AHEAD`] are left below the last ceiling it
/// asked for, [`LamportClock::take_ceiling_to_persist`] hands the caller a new one. The caller
/// persists it (in the background: persisting costs an fsync, which must not hold up a commit)
/// and uses a stamp only once a ceiling at or above its counter is durable; normally that
/// happened half a block earlier. After a crash, [`LamportClock::restore`] starts strictly above
/// the last durable ceiling.
///
/// Counters saturate at `u64::MAX` instead of overflowing; no honest cluster gets there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LamportClock {
    node: NodeId,
    counter: u64,
    /// The highest ceiling handed to the caller (durable or not yet).
    reserved: u64,
    pending: Option<u64>,
}

impl LamportClock {
    /// A fresh clock for a node that has never issued a stamp.
    pub fn new(node: NodeId) -> Self {
        Self::restore(node, 0)
    }

    /// Restart after a crash: the next stamp is strictly above `persisted_ceiling`, the highest
    /// ceiling known durable, so no stamp is ever reused. The clock asks for its first block at
    /// once, so that it can be persisted while the node starts.
    pub fn restore(node: NodeId, persisted_ceiling: u64) -> Self {
        let mut clock = LamportClock {
            node,
            counter: persisted_ceiling,
            reserved: persisted_ceiling,
            pending: None,
        };
        clock.reserve_ahead();
        clock
    }

    /// The next local stamp. It may be used (shipped or logged) only once a ceiling at or above
    /// its counter is durable; [`LamportClock::take_ceiling_to_persist`] may have a new one to
    /// persist.
    pub fn tick(&mut self) -> Stamp {
        self.counter = self.counter.saturating_add(1);
        self.reserve_ahead();
        Stamp {
            counter: self.counter,
            node: self.node,
        }
    }

    /// The receive rule: after seeing `seen`, every later local stamp is above it. Observing
    /// issues no stamp, but a jump ahead may ask for a new ceiling, so that it is on its way to
    /// the disk before the next tick needs it.
    pub fn observe(&mut self, seen: Stamp) {
        self.counter = self.counter.max(seen.counter);
        self.reserve_ahead();
    }

    /// The counter of the last stamp issued or observed.
    pub fn current(&self) -> u64 {
        self.counter
    }

    /// The node whose stamps this clock issues.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// A new ceiling for the caller to persist, or `None` when the last one handed out still
    /// leaves [`RESERVE_AHEAD`] counters. Each new ceiling is returned once, and is at or above
    /// every counter issued or observed so far.
    pub fn take_ceiling_to_persist(&mut self) -> Option<u64> {
        self.pending.take()
    }

    fn reserve_ahead(&mut self) {
        if self.reserved.saturating_sub(self.counter) >= RESERVE_AHEAD {
            return;
        }
        let ceiling = self.counter.saturating_add(CEILING_BLOCK - 1);
        if ceiling > self.reserved {
            self.reserved = ceiling;
            self.pending = Some(ceiling);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn stamps_order_by_counter_then_node() {
        let s = |counter, node| Stamp {
            counter,
            node: NodeId(node),
        };
        assert!(s(1, 9) < s(2, 1));
        assert!(s(2, 1) < s(2, 2));
        assert!(Stamp::ZERO < s(1, 0));
    }

    #[test]
    fn a_new_clock_asks_for_a_block_then_again_half_a_block_before_it_is_used() {
        let mut clock = LamportClock::restore(NodeId(3), 10);
        assert_eq!(
            clock.take_ceiling_to_persist(),
            Some(10 + CEILING_BLOCK - 1)
        );
        assert_eq!(clock.take_ceiling_to_persist(), None);
        let first = clock.tick();
        assert_eq!(first.counter, 11);
        assert_eq!(first.node, NodeId(3));
        assert_eq!(clock.take_ceiling_to_persist(), None);
        // Counters below the ceiling by RESERVE_AHEAD or more ask for nothing.
        let ceiling = 10 + CEILING_BLOCK - 1;
        while clock.current() < ceiling - RESERVE_AHEAD {
            clock.tick();
            assert_eq!(clock.take_ceiling_to_persist(), None);
        }
        let stamp = clock.tick();
        assert_eq!(stamp.counter, ceiling - RESERVE_AHEAD + 1);
        assert_eq!(
            clock.take_ceiling_to_persist(),
            Some(stamp.counter + CEILING_BLOCK - 1),
            "the next ceiling is asked for while half the block is left"
        );
    }

    #[test]
    fn observe_moves_past_seen_stamps() {
        let mut clock = LamportClock::new(NodeId(1));
        clock.observe(Stamp {
            counter: 50,
            node: NodeId(2),
        });
        assert_eq!(clock.current(), 50);
        clock.observe(Stamp {
            counter: 10,
            node: NodeId(2),
        });
        assert_eq!(clock.current(), 50);
        assert_eq!(clock.tick().counter, 51);
    }

    #[test]
    fn observing_a_jump_asks_for_a_ceiling_above_it_before_the_next_tick() {
        let mut clock = LamportClock::new(NodeId(1));
        clock.tick();
        assert_eq!(clock.take_ceiling_to_persist(), Some(CEILING_BLOCK - 1));
        clock.observe(Stamp {
            counter: 5 * CEILING_BLOCK,
            node: NodeId(2),
        });
        assert_eq!(
            clock.take_ceiling_to_persist(),
            Some(6 * CEILING_BLOCK - 1),
            "persisting can start as soon as the jump is seen"
        );
        assert_eq!(clock.tick().counter, 5 * CEILING_BLOCK + 1);
        assert_eq!(clock.take_ceiling_to_persist(), None);
    }

    #[test]
    fn observing_below_the_reserve_asks_for_nothing() {
        let mut clock = LamportClock::new(NodeId(1));
        clock.tick();
        clock.take_ceiling_to_persist();
        clock.observe(Stamp {
            counter: 100,
            node: NodeId(2),
        });
        assert_eq!(clock.take_ceiling_to_persist(), None);
    }

    #[test]
    fn counter_saturates_instead_of_panicking() {
        let mut clock = LamportClock::new(NodeId(1));
        clock.observe(Stamp {
            counter: u64::MAX,
            node: NodeId(2),
        });
        assert_eq!(clock.tick().counter, u64::MAX);
        assert_eq!(clock.take_ceiling_to_persist(), Some(u64::MAX));
        assert_eq!(clock.tick().counter, u64::MAX);
        assert_eq!(clock.take_ceiling_to_persist(), None);
    }

    proptest! {
        /// Whatever ticks, observations, background persists and crashes happen, a node never
        /// issues the same stamp twice, a restored clock starts above everything issued before
        /// the crash, and every stamp is covered by a ceiling already asked for (so waiting for
        /// the ceilings asked for is always enough).
        #[test]
        fn no_stamp_reused_across_crashes(
            steps in prop::collection::vec((0u8..4, 0u64..300_000), 1..300)
        ) {
            let node = NodeId(7);
            let mut clock = LamportClock::new(node);
            let mut requested = 0;
            let mut persisted = 0;
            let mut issued = std::collections::BTreeSet::new();
            let mut highest_issued = 0;
            for (kind, value) in steps {
                match kind {
                    0 => {
                        let stamp = clock.tick();
                        if let Some(ceiling) = clock.take_ceiling_to_persist() {
                            requested = ceiling;
                        }
                        prop_assert!(stamp.counter <= requested);
                        if stamp.counter > persisted {
                            // The caller waits for the ceilings asked for.
                            persisted = requested;
                        }
                        prop_assert!(stamp.counter > highest_issued);
                        prop_assert!(issued.insert(stamp));
                        highest_issued = stamp.counter;
                    }
                    1 => {
                        clock.observe(Stamp { counter: value, node: NodeId(1) });
                        if let Some(ceiling) = clock.take_ceiling_to_persist() {
                            requested = ceiling;
                        }
                        prop_assert!(clock.current() <= requested);
                    }
                    // The background persist of everything asked for completes.
                    2 => persisted = requested,
                    // A crash: what was asked for but not persisted is lost.
                    _ => {
                        clock = LamportClock::restore(node, persisted);
                        requested = persisted;
                        prop_assert!(clock.current() >= highest_issued);
                    }
                }
            }
        }
    }
}
