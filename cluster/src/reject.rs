//! Why a link was refused, kept so operators (and tests) can see more than "it did not connect".

use std::net::SocketAddr;
use std::time::SystemTime;

use latticed_crdt::NodeId;

/// The reason a link handshake failed. Each refusal is logged, counted and kept in
/// [`ClusterHandle::recent_rejections`](crate::ClusterHandle::recent_rejections).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// The TLS handshake failed: the certificate is not signed by the cluster CA, is not valid for
    /// the expected name, or the other side refused ours.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The peer speaks another version of the link protocol.
    #[error("protocol version {theirs} is not ours ({ours})")]
    ProtocolVersion {
        /// This node's version.
        ours: u32,
        /// The peer's version.
        theirs: u32,
    },
    /// The peer's application frames are another version (another build of the node).
    #[error("the peer's frames are version {theirs}, ours are version {ours}: run the same build on every node")]
    PayloadVersion {
        /// This node's payload version.
        ours: u32,
        /// The peer's payload version.
        theirs: u32,
    },
    /// The peer's Hello was missing, malformed or late.
    #[error("bad Hello: {0}")]
    BadHello(String),
    /// The peer does not know the cluster secret.
    #[error("the peer does not know the cluster secret")]
    WrongSecret,
    /// The peer claims this node's own id or name.
    #[error("the peer claims this node's own id or name")]
    OwnIdentity,
    /// The peer is not a configured peer, and this node does not accept unlisted nodes.
    #[error("node {id} ({name}) is not a configured peer and joins are not allowed")]
    UnknownPeer {
        /// The id the peer claimed.
        id: NodeId,
        /// The name the peer claimed.
        name: String,
    },
    /// The peer's id and name do not match what this node expects of it.
    #[error(
        "expected node {expected_id} ({expected_name}), the peer says it is node {id} ({name})"
    )]
    IdentityMismatch {
        /// The id this node expected.
        expected_id: NodeId,
        /// The name this node expected.
        expected_name: String,
        /// The id the peer claimed.
        id: NodeId,
        /// The name the peer claimed.
        name: String,
    },
    /// The peer's certificate was not issued for the name it claims.
    #[error("the peer's certificate is not valid for the name {name:?} it claims")]
    CertificateName {
        /// The name the peer claimed.
        name: String,
    },
    /// The other side refused this node's handshake; the text is its reason.
    #[error("refused by the peer: {0}")]
    ByPeer(String),
}

/// One refused link, as kept in the recent-rejections list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// When it happened.
    pub at: SystemTime,
    /// The address of the other side.
    pub remote: SocketAddr,
    /// Why.
    pub reason: RejectReason,
}
