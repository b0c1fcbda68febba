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
/// Larger blocks mean fewer writes; a restart skips at most this many counter values.
pub const CEILING_BLOCK: u64 = 1024;

/// A node's Lamport clock.
///
/// Stamps it issues are strictly increasing and move past every stamp it observes (the receive
/// rule). To stay unique across crashes the clock works against a *ceiling*: the highest counter
/// it may issue that is known to be durable. When a tick passes the ceiling, the clock reserves a
/// new block of [`CEILING_BLOCK`] counters and [`LamportClock::take_ceiling_to_persist`] hands the
/// new ceiling to the caller, who must persist it before the stamp is used (shipped or logged).
/// After a crash, [`LamportClock::restore`] starts strictly above the last persisted ceiling.
///
/// Counters saturate at `u64::MAX` instead of overflowing; no honest cluster gets there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LamportClock {
    node: NodeId,
    counter: u64,
    ceiling: u64,
    pending: Option<u64>,
}

impl LamportClock {
    /// A fresh clock for a node that has never issued a stamp.
    pub fn new(node: NodeId) -> Self {
        Self::restore(node, 0)
    }

    /// Restart after a crash: the next stamp is strictly above `persisted_ceiling`, the last value
    /// [`LamportClock::take_ceiling_to_persist`] returned and the caller persisted, so no stamp is
    /// ever reused.
    pub fn restore(node: NodeId, persisted_ceiling: u64) -> Self {
        LamportClock {
            node,
            counter: persisted_ceiling,
            ceiling: persisted_ceiling,
            pending: None,
        }
    }

    /// The next local stamp. If it passed the persisted ceiling, a new ceiling is waiting in
    /// [`LamportClock::take_ceiling_to_persist`] and must be persisted before this stamp is used.
    pub fn tick(&mut self) -> Stamp {
        self.counter = self.counter.saturating_add(1);
        if self.counter > self.ceiling {
            self.ceiling = self.counter.saturating_add(CEILING_BLOCK - 1);
            self.pending = Some(self.ceiling);
        }
        Stamp {
            counter: self.counter,
            node: self.node,
        }
    }

    /// The receive rule: after seeing `seen`, every later local stamp is above it. Observing does
    /// not issue a stamp, so it never needs a new ceiling by itself; the next tick asks for one.
    pub fn observe(&mut self, seen: Stamp) {
        self.counter = self.counter.max(seen.counter);
    }

    /// The counter of the last stamp issued or observed.
    pub fn current(&self) -> u64 {
        self.counter
    }

    /// The node whose stamps this clock issues.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// A ceiling the caller must persist before using the stamp the last tick returned, or `None`
    /// when the current ceiling still covers it. Each new ceiling is returned once.
    pub fn take_ceiling_to_persist(&mut self) -> Option<u64> {
        self.pending.take()
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
    fn first_tick_asks_for_a_ceiling_then_not_until_the_block_is_used() {
        let mut clock = LamportClock::new(NodeId(3));
        let first = clock.tick();
        assert_eq!(first.counter, 1);
        assert_eq!(first.node, NodeId(3));
        assert_eq!(clock.take_ceiling_to_persist(), Some(CEILING_BLOCK));
        assert_eq!(clock.take_ceiling_to_persist(), None);
        for _ in 1..CEILING_BLOCK {
            clock.tick();
            assert_eq!(clock.take_ceiling_to_persist(), None);
        }
        assert_eq!(clock.tick().counter, CEILING_BLOCK + 1);
        assert_eq!(clock.take_ceiling_to_persist(), Some(2 * CEILING_BLOCK));
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
    fn observing_past_the_ceiling_makes_the_next_tick_ask_again() {
        let mut clock = LamportClock::new(NodeId(1));
        clock.tick();
        assert_eq!(clock.take_ceiling_to_persist(), Some(CEILING_BLOCK));
        clock.observe(Stamp {
            counter: 5 * CEILING_BLOCK,
            node: NodeId(2),
        });
        assert_eq!(clock.take_ceiling_to_persist(), None);
        assert_eq!(clock.tick().counter, 5 * CEILING_BLOCK + 1);
        assert_eq!(clock.take_ceiling_to_persist(), Some(6 * CEILING_BLOCK));
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
        /// Whatever ticks, observations and crashes happen, a node never issues the same stamp
        /// twice, and a restored clock starts above everything issued before the crash.
        #[test]
        fn no_stamp_reused_across_crashes(
            steps in prop::collection::vec((0u8..3, 0u64..5000), 1..200)
        ) {
            let node = NodeId(7);
            let mut clock = LamportClock::new(node);
            let mut persisted = 0;
            let mut issued = std::collections::BTreeSet::new();
            let mut highest_issued = 0;
            for (kind, value) in steps {
                match kind {
                    0 => {
                        let stamp = clock.tick();
                        if let Some(ceiling) = clock.take_ceiling_to_persist() {
                            persisted = ceiling;
                        }
                        prop_assert!(stamp.counter <= persisted);
                        prop_assert!(stamp.counter > highest_issued);
                        prop_assert!(issued.insert(stamp));
                        highest_issued = stamp.counter;
                    }
                    1 => clock.observe(Stamp { counter: value, node: NodeId(1) }),
                    _ => {
                        clock = LamportClock::restore(node, persisted);
                        prop_assert!(clock.current() >= highest_issued);
                    }
                }
            }
        }
    }
}
