//! When unreachable peers' users stop being shown to local clients.
//!
//! A peer that goes away (link down, or not linked since this node started) gets a deadline one
//! grace period later. If it links again before the deadline nothing was ever shown to clients;
//! once the deadline passes its users are hidden (see `latticed_actors::split`), and when it
//! links again they are shown again. This module only keeps the deadlines: it is pure so the
//! timing rules are tested without sockets.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use latticed_cluster::NodeId;
use tokio::time::Instant;

/// Grace deadlines of unreachable peers and which peers are past theirs.
#[derive(Debug)]
pub struct SplitTimers {
    grace: Duration,
    deadlines: BTreeMap<NodeId, Instant>,
    expired: BTreeSet<NodeId>,
}

impl SplitTimers {
    /// No peer unreachable yet; each one that goes away stays shown for `grace`.
    pub fn new(grace: Duration) -> SplitTimers {
        SplitTimers {
            grace,
            deadlines: BTreeMap::new(),
            expired: BTreeSet::new(),
        }
    }

    /// `peer` became unreachable at `now` (a link went down, or it is not linked at start).
    /// A peer already waiting or already past its deadline keeps its state.
    pub fn down(&mut self, peer: NodeId, now: Instant) {
        if self.expired.contains(&peer) {
            return;
        }
        self.deadlines.entry(peer).or_insert(now + self.grace);
    }

    /// `peer` linked again. Returns true if its users had been hidden and must be shown again.
    pub fn up(&mut self, peer: NodeId) -> bool {
        self.deadlines.remove(&peer);
        self.expired.remove(&peer)
    }

    /// The earliest pending deadline, if any: when the caller should next call [`Self::expire`].
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.values().min().copied()
    }

    /// Peers whose deadline is at or before `now`; they count as expired from now on.
    pub fn expire(&mut self, now: Instant) -> Vec<NodeId> {
        let due: Vec<NodeId> = self
            .deadlines
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in &due {
            self.deadlines.remove(peer);
            self.expired.insert(*peer);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(30);

    #[test]
    fn a_peer_back_within_the_grace_period_was_never_hidden() {
        let mut timers = SplitTimers::new(GRACE);
        let t0 = Instant::now();
        timers.down(NodeId(2), t0);
        assert_eq!(timers.next_deadline(), Some(t0 + GRACE));
        assert!(timers
            .expire(t0 + GRACE - Duration::from_millis(1))
            .is_empty());
        assert!(!timers.up(NodeId(2)), "nothing to show again");
        assert_eq!(timers.next_deadline(), None);
        assert!(timers.expire(t0 + GRACE * 2).is_empty());
    }

    #[test]
    fn a_peer_past_its_deadline_is_expired_once_and_shown_again_when_it_returns() {
        let mut timers = SplitTimers::new(GRACE);
        let t0 = Instant::now();
        timers.down(NodeId(2), t0);
        timers.down(NodeId(3), t0 + Duration::from_secs(10));
        assert_eq!(timers.expire(t0 + GRACE), vec![NodeId(2)]);
        assert!(timers.expire(t0 + GRACE).is_empty(), "expired only once");
        assert_eq!(
            timers.next_deadline(),
            Some(t0 + GRACE + Duration::from_secs(10))
        );
        timers.down(NodeId(2), t0 + GRACE * 2);
        assert_eq!(
            timers.expire(t0 + GRACE * 4),
            vec![NodeId(3)],
            "a second down of an expired peer starts no new deadline"
        );
        assert!(timers.up(NodeId(2)));
        assert!(timers.up(NodeId(3)));
        assert!(!timers.up(NodeId(3)), "shown again only once");
    }

    #[test]
    fn repeated_downs_keep_the_first_deadline() {
        let mut timers = SplitTimers::new(GRACE);
        let t0 = Instant::now();
        timers.down(NodeId(2), t0);
        timers.down(NodeId(2), t0 + Duration::from_secs(20));
        assert_eq!(timers.next_deadline(), Some(t0 + GRACE));
    }
}
