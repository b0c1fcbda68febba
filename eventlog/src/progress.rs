//! Which sequence numbers of each origin the log holds, kept in memory so version vectors are
//! answered without a scan.

use std::collections::{BTreeMap, BTreeSet};

use latticed_crdt::NodeId;

/// For every origin, the highest sequence number up to which the log holds every op of that
/// origin (contiguous from 1). This is what a node sends a peer so the peer can send exactly the
/// missing ops.
pub type VersionVector = BTreeMap<NodeId, u64>;

/// The seqs held from one origin: everything up to `contiguous`, plus some above it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OriginProgress {
    /// Every seq in `1..=contiguous` is held.
    pub contiguous: u64,
    /// Held seqs above `contiguous + 1` (out-of-order arrivals waiting for the gap to fill).
    pub ahead: BTreeSet<u64>,
}

impl OriginProgress {
    /// Whether `seq` is held.
    pub fn holds(&self, seq: u64) -> bool {
        seq <= self.contiguous || self.ahead.contains(&seq)
    }

    /// Notes that `seq` is now held; returns whether `contiguous` moved.
    pub fn hold(&mut self, seq: u64) -> bool {
        if seq <= self.contiguous {
            return false;
        }
        if seq != self.contiguous + 1 {
            self.ahead.insert(seq);
            return false;
        }
        self.contiguous = seq;
        while self.ahead.remove(&(self.contiguous + 1)) {
            self.contiguous += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_moves_only_over_filled_gaps() {
        let mut p = OriginProgress::default();
        assert!(!p.hold(3));
        assert!(!p.hold(5));
        assert_eq!(p.contiguous, 0);
        assert!(p.hold(1));
        assert_eq!(p.contiguous, 1);
        assert!(p.hold(2));
        assert_eq!(p.contiguous, 3);
        assert!(!p.hold(2));
        assert!(p.hold(4));
        assert_eq!(p.contiguous, 5);
        assert!(p.ahead.is_empty());
    }

    #[test]
    fn holds_what_was_noted_and_nothing_else() {
        let mut p = OriginProgress::default();
        for seq in [1, 2, 5] {
            p.hold(seq);
        }
        let held: Vec<u64> = (1..8).filter(|&s| p.holds(s)).collect();
        assert_eq!(held, [1, 2, 5]);
    }

    #[test]
    fn any_arrival_order_reaches_the_same_contiguous_seq() {
        let orders: [&[u64]; 3] = [&[1, 2, 3, 4], &[4, 3, 2, 1], &[2, 4, 1, 3, 3, 1]];
        for order in orders {
            let mut p = OriginProgress::default();
            for &seq in order {
                p.hold(seq);
            }
            assert_eq!(p.contiguous, 4, "{order:?}");
        }
    }
}
