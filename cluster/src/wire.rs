//! What travels on a link, besides the user's frames: the Hello that opens it, the peer lists that
//! spread membership, and the QUIC close codes that tell the other side why a link was closed.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::membership::PeerInfo;

/// Version of everything in this module. A peer with another version is refused with a clear reason.
/// 2: the Hello carries the payload version ([`ClusterSettings::payload_version`](crate::ClusterSettings::payload_version)).
pub(crate) const PROTOCOL_VERSION: u32 = 2;

/// ALPN protocol id: a TLS peer that speaks something else fails the handshake instead of being
/// mistaken for a node.
pub(crate) const ALPN: &[u8] = b"latticed-cluster/1";

/// Length of the secret proof in a Hello.
pub(crate) const PROOF_BYTES: usize = 32;

/// The first frame each way. `protocol_version` must stay the first field: it is decoded on its own
/// before the rest, so a version mismatch is reported as such rather than as garbage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub protocol_version: u32,
    /// The version of the sender's own frames (`T`), which must be this node's too.
    pub payload_version: u32,
    /// The sender's `node.id`.
    pub node_id: u32,
    /// The sender's `node.name`, which its certificate must be valid for.
    pub node_name: String,
    /// Random per process start, so a restarted node is told from its previous incarnation.
    pub epoch: u64,
    /// The address the sender's endpoint is bound to; an unspecified IP is replaced by the address
    /// the link came from.
    pub listen: SocketAddr,
    /// Proof of the cluster secret, bound to this TLS session and to the sender's role (see `tls`).
    pub proof: [u8; PROOF_BYTES],
}

/// Every frame after the Hello, owned form for decoding.
#[derive(Debug, Deserialize)]
pub(crate) enum Message<T> {
    /// The peers the sender knows, so a joining node finds the whole cluster. The first message of
    /// a link each way; sent again whenever the sender learns a new peer.
    Peers(Vec<PeerInfo>),
    /// One of the user's frames.
    Data(T),
}

/// Borrowed twin of [`Message`] for encoding without cloning; serde encodes both identically.
#[derive(Serialize)]
pub(crate) enum MessageRef<'a, T> {
    /// See [`Message::Peers`].
    Peers(&'a [PeerInfo]),
    /// See [`Message::Data`].
    Data(&'a T),
}

/// QUIC application close codes, so the other side can log why and react (a duplicate is not an error).
pub(crate) mod close {
    use quinn::VarInt;

    /// The node is shutting down.
    pub(crate) const SHUTDOWN: VarInt = VarInt::from_u32(0);
    /// The handshake was refused; the reason text says why.
    pub(crate) const REJECTED: VarInt = VarInt::from_u32(1);
    /// Another link to the same peer is kept instead of this one.
    pub(crate) const DUPLICATE: VarInt = VarInt::from_u32(2);
    /// A newer link to the same peer replaced this one.
    pub(crate) const REPLACED: VarInt = VarInt::from_u32(3);
    /// The peer broke the frame protocol (oversize frame, undecodable payload).
    pub(crate) const PROTOCOL: VarInt = VarInt::from_u32(4);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame;

    #[test]
    fn owned_and_borrowed_messages_share_one_encoding() {
        let peers = vec![PeerInfo {
            id: latticed_crdt::NodeId(2),
            name: "irc2.example.net".into(),
            address: "127.0.0.1:7001".parse().expect("addr"),
        }];
        let bytes = frame::encode(&MessageRef::<u8>::Peers(&peers), frame::MAX_FRAME_BYTES)
            .expect("encode");
        match frame::decode::<Message<u8>>(&bytes[4..]).expect("decode") {
            Message::Peers(decoded) => assert_eq!(decoded, peers),
            Message::Data(_) => panic!("decoded the wrong variant"),
        }
        let bytes = frame::encode(
            &MessageRef::Data(&"text".to_owned()),
            frame::MAX_FRAME_BYTES,
        )
        .expect("encode");
        match frame::decode::<Message<String>>(&bytes[4..]).expect("decode") {
            Message::Data(text) => assert_eq!(text, "text"),
            Message::Peers(_) => panic!("decoded the wrong variant"),
        }
    }

    #[test]
    fn the_protocol_version_is_readable_on_its_own() {
        let hello = Hello {
            protocol_version: 77,
            payload_version: 5,
            node_id: 3,
            node_name: "irc3.example.net".into(),
            epoch: 42,
            listen: "127.0.0.1:7003".parse().expect("addr"),
            proof: [7; PROOF_BYTES],
        };
        let bytes = frame::encode(&hello, frame::MAX_FRAME_BYTES).expect("encode");
        assert_eq!(frame::decode_prefix_u32(&bytes[4..]).expect("prefix"), 77);
        assert_eq!(frame::decode::<Hello>(&bytes[4..]).expect("decode"), hello);
    }
}
