//! Which nodes this node can reach, directly or through one linked peer, and whose live ops it
//! passes on.
//!
//! Nodes link in a full mesh, and each ships its ops only over its own links. A partial partition
//! (the link between A and C down, B still linked to both) would otherwise look to A like C had
//! gone away: after the grace period A's clients would see C's users quit although B still
//! hears them, and C's messages would reach A only through catch-up. So every node tells its
//! peers which nodes it is linked to ([`crate::replication::ReplFrame::Links`]); a node counts
//! as reachable while some linked peer is linked to it, and one common neighbour passes the
//! live ops of each side on to the other until their own link is back. This module holds only
//! that bookkeeping; it is pure, so the rules are tested without sockets.

use std::collections::{BTreeMap, BTreeSet};

use latticed_cluster::NodeId;

/// This node's links and what its linked peers said of theirs.
#[derive(Debug)]
pub struct Reach {
    me: NodeId,
    linked: BTreeSet<NodeId>,
    /// For each linked peer that said so: the nodes it is linked to (itself and this node left
    /// out).
    their_links: BTreeMap<NodeId, BTreeSet<NodeId>>,
}

impl Reach {
    /// No link yet.
    pub fn new(me: NodeId) -> Reach {
        Reach {
            me,
            linked: BTreeSet::new(),
            their_links: BTreeMap::new(),
        }
    }

    /// The nodes this node is linked to now, what it tells its peers.
    pub fn linked(&self) -> Vec<NodeId> {
        self.linked.iter().copied().collect()
    }

    /// Whether this node has a link of its own to `node`.
    pub fn is_linked(&self, node: NodeId) -> bool {
        self.linked.contains(&node)
    }

    /// A link to `peer` came up. What it is linked to is unknown until it says.
    pub fn up(&mut self, peer: NodeId) {
        self.linked.insert(peer);
    }

    /// The link to `peer` went down: what it said of its links no longer counts.
    pub fn down(&mut self, peer: NodeId) {
        self.linked.remove(&peer);
        self.their_links.remove(&peer);
    }

    /// Linked `peer` says it is linked to `links` now. Ignored from a peer not linked here (a
    /// frame that arrived just before its link's down event).
    pub fn links_of(&mut self, peer: NodeId, links: impl IntoIterator<Item = NodeId>) {
        if !self.linked.contains(&peer) {
            return;
        }
        let links = links
            .into_iter()
            .filter(|node| *node != peer && *node != self.me)
            .collect();
        self.their_links.insert(peer, links);
    }

    /// Whether `node` is linked here, or to a peer linked here.
    pub fn reachable(&self, node: NodeId) -> bool {
        self.linked.contains(&node) || self.their_links.values().any(|l| l.contains(&node))
    }

    /// Every node this node has heard of: its links and theirs.
    pub fn known(&self) -> BTreeSet<NodeId> {
        let mut known = self.linked.clone();
        for links in self.their_links.values() {
            known.extend(links.iter().copied());
        }
        known
    }

    /// The linked peers that must be passed the live ops `origin` sent here: those not linked to
    /// `origin` themselves (by what they said) for which this node is the relay, the lowest id
    /// among the nodes linked to both. Nodes that have not said what they are linked to yet get
    /// nothing: the version-vector exchange of a new link brings them what they lack.
    pub fn relay_targets(&self, origin: NodeId) -> Vec<NodeId> {
        let Some(origin_links) = self.their_links.get(&origin) else {
            return Vec::new();
        };
        self.their_links
            .iter()
            .filter(|(peer, links)| **peer != origin && !links.contains(&origin))
            .filter(|(peer, links)| {
                let lowest_other = origin_links
                    .iter()
                    .filter(|n| links.contains(n))
                    .min()
                    .copied();
                lowest_other.is_none_or(|other| self.me < other) && self.linked.contains(peer)
            })
            .map(|(peer, _)| *peer)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: u32) -> NodeId {
        NodeId(id)
    }

    /// Node `me` of a mesh where every pair in `links` is linked (both directions said).
    fn mesh(me: u32, links: &[(u32, u32)]) -> Reach {
        let mut reach = Reach::new(n(me));
        let of = |node: u32| {
            links
                .iter()
                .filter_map(move |(a, b)| match (*a == node, *b == node) {
                    (true, _) => Some(n(*b)),
                    (_, true) => Some(n(*a)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        for peer in of(me) {
            reach.up(peer);
        }
        for peer in of(me) {
            reach.links_of(peer, of(peer.0));
        }
        reach
    }

    #[test]
    fn a_node_cut_off_from_this_one_but_linked_to_a_peer_stays_reachable() {
        // 1-2 and 2-3 linked, 1-3 cut.
        let reach = mesh(1, &[(1, 2), (2, 3)]);
        assert!(reach.reachable(n(2)));
        assert!(reach.reachable(n(3)), "through node 2");
        assert!(!reach.is_linked(n(3)));
        assert!(!reach.reachable(n(4)));
    }

    #[test]
    fn reachability_through_a_peer_ends_with_its_link_or_with_what_it_says() {
        let mut reach = mesh(1, &[(1, 2), (2, 3)]);
        reach.links_of(n(2), [n(1)]);
        assert!(!reach.reachable(n(3)), "node 2 lost its link to node 3");
        reach.links_of(n(2), [n(1), n(3)]);
        assert!(reach.reachable(n(3)));
        reach.down(n(2));
        assert!(
            !reach.reachable(n(3)),
            "what node 2 said died with its link"
        );
        reach.links_of(n(2), [n(3)]);
        assert!(
            !reach.reachable(n(3)),
            "a late frame from an unlinked peer is ignored"
        );
    }

    #[test]
    fn the_common_neighbour_relays_each_side_to_the_other() {
        // 1-3 cut; 2 is linked to both.
        let two = mesh(2, &[(1, 2), (2, 3)]);
        assert_eq!(two.relay_targets(n(1)), vec![n(3)]);
        assert_eq!(two.relay_targets(n(3)), vec![n(1)]);
        let one = mesh(1, &[(1, 2), (2, 3)]);
        assert!(
            one.relay_targets(n(2)).is_empty(),
            "node 1 is linked to nobody node 2 is not"
        );
    }

    #[test]
    fn a_full_mesh_relays_nothing() {
        let reach = mesh(2, &[(1, 2), (1, 3), (2, 3)]);
        assert!(reach.relay_targets(n(1)).is_empty());
        assert!(reach.relay_targets(n(3)).is_empty());
    }

    #[test]
    fn of_several_common_neighbours_only_the_lowest_relays() {
        // 1-4 cut; 2 and 3 are linked to both (and to each other).
        let links = [(1, 2), (1, 3), (2, 3), (2, 4), (3, 4)];
        assert_eq!(mesh(2, &links).relay_targets(n(1)), vec![n(4)]);
        assert_eq!(mesh(2, &links).relay_targets(n(4)), vec![n(1)]);
        assert!(mesh(3, &links).relay_targets(n(1)).is_empty());
        assert!(mesh(3, &links).relay_targets(n(4)).is_empty());
    }

    #[test]
    fn a_peer_that_has_not_said_its_links_is_not_relayed_to() {
        let mut reach = Reach::new(n(2));
        reach.up(n(1));
        reach.up(n(3));
        reach.links_of(n(1), [n(2)]);
        assert!(reach.relay_targets(n(1)).is_empty(), "node 3 said nothing");
        reach.links_of(n(3), [n(2)]);
        assert_eq!(reach.relay_targets(n(1)), vec![n(3)]);
    }
}
