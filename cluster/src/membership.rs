//! Who belongs to the cluster as far as this node knows: the configured peers, and the peers it
//! learned from others when joins are allowed. It decides whom a handshake admits.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use latticed_crdt::NodeId;
use serde::{Deserialize, Serialize};

use crate::reject::RejectReason;

/// A node of the cluster as other nodes dial it. Nodes send each other these lists so a node that
/// joined through one peer finds all the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The node's `node.id`.
    pub id: NodeId,
    /// The node's `node.name`, the DNS name in its certificate.
    pub name: String,
    /// Where the node's cluster endpoint listens.
    pub address: SocketAddr,
}

/// What [`Membership::learn`] did with a peer it was told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Learned {
    /// A node this node did not know: start dialing it and tell the others.
    New,
    /// A known learned node at a new address.
    Updated,
    /// Nothing new, or not something this node may learn (itself, a configured peer, joins off).
    Ignored,
}

/// The known nodes and the admission rule.
#[derive(Debug)]
pub(crate) struct Membership {
    local_id: NodeId,
    local_name: String,
    admit_unlisted: bool,
    configured: BTreeMap<NodeId, PeerInfo>,
    learned: BTreeMap<NodeId, PeerInfo>,
}

impl Membership {
    /// `admit_unlisted` lets in any node the CA signed (joins); otherwise only `configured` ones.
    pub(crate) fn new(
        local_id: NodeId,
        local_name: &str,
        configured: &[PeerInfo],
        admit_unlisted: bool,
    ) -> Self {
        Self {
            local_id,
            local_name: local_name.to_owned(),
            admit_unlisted,
            configured: configured
                .iter()
                .map(|peer| (peer.id, peer.clone()))
                .collect(),
            learned: BTreeMap::new(),
        }
    }

    /// Whether a peer claiming `id` and `name` (already proven by its certificate) may link.
    pub(crate) fn admit(&self, id: NodeId, name: &str) -> Result<(), RejectReason> {
        if id == self.local_id || name.eq_ignore_ascii_case(&self.local_name) {
            return Err(RejectReason::OwnIdentity);
        }
        let by_id = self.configured.get(&id);
        let by_name = self
            .configured
            .values()
            .find(|peer| peer.name.eq_ignore_ascii_case(name));
        match (by_id, by_name) {
            (Some(_), Some(found)) if found.id == id => Ok(()),
            (Some(expected), _) | (None, Some(expected)) => Err(RejectReason::IdentityMismatch {
                expected_id: expected.id,
                expected_name: expected.name.clone(),
                id,
                name: name.to_owned(),
            }),
            (None, None) if self.admit_unlisted => Ok(()),
            (None, None) => Err(RejectReason::UnknownPeer {
                id,
                name: name.to_owned(),
            }),
        }
    }

    /// The node known under `id`, configured or learned.
    pub(crate) fn get(&self, id: NodeId) -> Option<&PeerInfo> {
        self.configured.get(&id).or_else(|| self.learned.get(&id))
    }

    /// Every known node, configured first, in id order.
    pub(crate) fn all(&self) -> Vec<PeerInfo> {
        self.configured
            .values()
            .chain(self.learned.values())
            .cloned()
            .collect()
    }

    /// Records a node this node was told about (in a Peers list, or by the node's own Hello).
    pub(crate) fn learn(&mut self, info: PeerInfo) -> Learned {
        let is_self = info.id == self.local_id || info.name.eq_ignore_ascii_case(&self.local_name);
        let is_configured = self.configured.contains_key(&info.id)
            || self
                .configured
                .values()
                .any(|peer| peer.name.eq_ignore_ascii_case(&info.name));
        if is_self || is_configured || !self.admit_unlisted {
            return Learned::Ignored;
        }
        self.learned
            .retain(|id, peer| *id == info.id || !peer.name.eq_ignore_ascii_case(&info.name));
        match self.learned.insert(info.id, info.clone()) {
            None => Learned::New,
            Some(previous) if previous == info => Learned::Ignored,
            Some(_) => Learned::Updated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: u32, name: &str, port: u16) -> PeerInfo {
        PeerInfo {
            id: NodeId(id),
            name: name.to_owned(),
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn membership(admit_unlisted: bool) -> Membership {
        Membership::new(
            NodeId(1),
            "irc1.example.net",
            &[peer(2, "irc2.example.net", 7002)],
            admit_unlisted,
        )
    }

    #[test]
    fn configured_peers_are_admitted_only_under_their_own_id_and_name() {
        let members = membership(true);
        assert_eq!(members.admit(NodeId(2), "IRC2.example.net"), Ok(()));
        assert!(matches!(
            members.admit(NodeId(3), "irc2.example.net"),
            Err(RejectReason::IdentityMismatch {
                expected_id: NodeId(2),
                ..
            })
        ));
        assert!(matches!(
            members.admit(NodeId(2), "irc9.example.net"),
            Err(RejectReason::IdentityMismatch {
                expected_id: NodeId(2),
                ..
            })
        ));
    }

    #[test]
    fn nobody_may_claim_this_nodes_identity() {
        let members = membership(true);
        assert_eq!(
            members.admit(NodeId(1), "irc7.example.net"),
            Err(RejectReason::OwnIdentity)
        );
        assert_eq!(
            members.admit(NodeId(7), "irc1.example.net"),
            Err(RejectReason::OwnIdentity)
        );
    }

    #[test]
    fn unlisted_nodes_need_joins_allowed() {
        assert_eq!(
            membership(false).admit(NodeId(3), "irc3.example.net"),
            Err(RejectReason::UnknownPeer {
                id: NodeId(3),
                name: "irc3.example.net".into()
            })
        );
        assert_eq!(
            membership(true).admit(NodeId(3), "irc3.example.net"),
            Ok(())
        );
    }

    #[test]
    fn learning_adds_updates_and_ignores() {
        let mut members = membership(true);
        assert_eq!(
            members.learn(peer(3, "irc3.example.net", 7003)),
            Learned::New
        );
        assert_eq!(
            members.learn(peer(3, "irc3.example.net", 7003)),
            Learned::Ignored
        );
        assert_eq!(
            members.learn(peer(3, "irc3.example.net", 7333)),
            Learned::Updated
        );
        assert_eq!(members.get(NodeId(3)).map(|p| p.address.port()), Some(7333));
        assert_eq!(
            members.learn(peer(1, "irc1.example.net", 7001)),
            Learned::Ignored
        );
        assert_eq!(
            members.learn(peer(2, "irc2.example.net", 9999)),
            Learned::Ignored
        );
        assert_eq!(members.get(NodeId(2)).map(|p| p.address.port()), Some(7002));
        let ids: Vec<_> = members.all().iter().map(|p| p.id.0).collect();
        assert_eq!(ids, [2, 3]);
    }

    #[test]
    fn a_renumbered_node_replaces_its_old_entry() {
        let mut members = membership(true);
        members.learn(peer(3, "irc3.example.net", 7003));
        assert_eq!(
            members.learn(peer(4, "irc3.example.net", 7003)),
            Learned::New
        );
        assert!(members.get(NodeId(3)).is_none());
        assert!(members.get(NodeId(4)).is_some());
    }

    #[test]
    fn without_joins_nothing_is_learned() {
        let mut members = membership(false);
        assert_eq!(
            members.learn(peer(3, "irc3.example.net", 7003)),
            Learned::Ignored
        );
        assert!(members.get(NodeId(3)).is_none());
    }
}
