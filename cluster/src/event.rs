//! What the cluster endpoint tells its user: peers coming and going, and the frames they send.

use std::net::SocketAddr;

use latticed_crdt::NodeId;

/// One thing that happened on the links, in order per peer: a `PeerUp`, that peer's frames, then a
/// `PeerDown`. Frames sent in one up-period arrive in order; after a `PeerDown`, anything sent during
/// that period may or may not have arrived, so the next `PeerUp` is the moment to resynchronise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent<T> {
    /// A link to a peer completed its handshake.
    PeerUp {
        /// The peer's node id.
        id: NodeId,
        /// The peer's node name.
        name: String,
        /// The peer's incarnation: a new value means the peer restarted.
        epoch: u64,
        /// Where the peer's cluster endpoint listens.
        address: SocketAddr,
    },
    /// The link to a peer is gone (lost, closed, replaced, or this node is shutting down).
    PeerDown {
        /// The peer's node id.
        id: NodeId,
        /// The incarnation the link was with.
        epoch: u64,
    },
    /// A frame from a peer.
    Frame {
        /// The sending peer.
        from: NodeId,
        /// The decoded frame.
        frame: T,
    },
}
