//! Opening a link: TLS, then one bidirectional stream on which both sides exchange a Hello.
//!
//! The dialer opens the stream and sends its Hello first; the acceptor checks it and answers with
//! its own. The dialer checks that, then installs the link and sends its peer list; only when the
//! acceptor reads that list does it install the link too. So an acceptor never reports a peer up
//! that the dialer refused, and a dialer that drops a duplicate link drops it on both sides.

use std::net::SocketAddr;

use latticed_crdt::NodeId;
use quinn::{Connection, ConnectionError, RecvStream, SendStream};

use crate::frame;
use crate::membership::PeerInfo;
use crate::reject::RejectReason;
use crate::shared::{Payload, Shared};
use crate::tls::{self, Role, JOIN_SERVER_NAME};
use crate::wire::{close, Hello, Message, PROTOCOL_VERSION};

/// Largest Hello accepted: a name and a few numbers; anything bigger is not a Hello.
const MAX_HELLO_BYTES: usize = 4096;

/// The other side of a link that passed the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerHello {
    pub(crate) id: NodeId,
    pub(crate) name: String,
    pub(crate) epoch: u64,
    /// Where the peer listens, as reachable from here.
    pub(crate) address: SocketAddr,
}

/// A link that passed the handshake, ready to be installed.
pub(crate) struct Handshake {
    pub(crate) conn: Connection,
    pub(crate) send: SendStream,
    pub(crate) recv: RecvStream,
    pub(crate) peer: PeerHello,
    /// This node's side of the link.
    pub(crate) role: Role,
    /// The dialer's peer list (acceptor side only; the dialer's list is sent after install).
    pub(crate) peers: Vec<PeerInfo>,
}

/// Why a handshake did not produce a link.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// Nobody answered, or the connection broke: retry later, nothing to report.
    Unreachable(String),
    /// One side refused the other; counted and kept as a rejection.
    Rejected(RejectReason),
    /// The other side closed the link on purpose (a duplicate, or shutting down).
    Closed(String),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(reason) => write!(f, "unreachable: {reason}"),
            Self::Rejected(reason) => write!(f, "rejected: {reason}"),
            Self::Closed(reason) => write!(f, "closed by the peer: {reason}"),
        }
    }
}

/// Dials `address`. With `expected`, the peer must be exactly that node (name checked by TLS, id by
/// the Hello); without, any node the CA signed and this node admits (`--join`).
pub(crate) async fn dial<T: Payload>(
    shared: &Shared<T>,
    address: SocketAddr,
    expected: Option<&PeerInfo>,
) -> Result<Handshake, HandshakeError> {
    let (config, server_name) = match expected {
        Some(peer) => (shared.clients.named.clone(), peer.name.as_str()),
        None => (shared.clients.join.clone(), JOIN_SERVER_NAME),
    };
    let connecting = shared
        .endpoint
        .connect_with(config, address, server_name)
        .map_err(|err| HandshakeError::Unreachable(err.to_string()))?;
    let within = shared.settings.idle_timeout;
    let attempt = async {
        let conn = connecting.await.map_err(classify)?;
        let (mut send, mut recv) = conn.open_bi().await.map_err(classify)?;
        send_hello(shared, &conn, &mut send, Role::Dialer).await?;
        let hello = read_hello(&conn, &mut recv).await?;
        let peer = check_hello(shared, &conn, hello, Role::Acceptor, expected)?;
        Ok(Handshake {
            conn,
            send,
            recv,
            peer,
            role: Role::Dialer,
            peers: Vec::new(),
        })
    };
    tokio::time::timeout(within, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(HandshakeError::Unreachable(
                "handshake timed out".to_owned(),
            ))
        })
}

/// Answers an incoming connection.
pub(crate) async fn accept<T: Payload>(
    shared: &Shared<T>,
    incoming: quinn::Incoming,
) -> Result<Handshake, HandshakeError> {
    let within = shared.settings.idle_timeout;
    let attempt = async {
        let conn = incoming.await.map_err(classify)?;
        let (mut send, mut recv) = conn.accept_bi().await.map_err(classify)?;
        let hello = read_hello(&conn, &mut recv).await?;
        let peer = check_hello(shared, &conn, hello, Role::Dialer, None)?;
        send_hello(shared, &conn, &mut send, Role::Acceptor).await?;
        let peers = read_first_peers::<T>(shared, &conn, &mut recv).await?;
        Ok(Handshake {
            conn,
            send,
            recv,
            peer,
            role: Role::Acceptor,
            peers,
        })
    };
    tokio::time::timeout(within, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(HandshakeError::Unreachable(
                "handshake timed out".to_owned(),
            ))
        })
}

async fn send_hello<T>(
    shared: &Shared<T>,
    conn: &Connection,
    send: &mut SendStream,
    role: Role,
) -> Result<(), HandshakeError> {
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        payload_version: shared.settings.payload_version,
        node_id: shared.settings.node_id.0,
        node_name: shared.settings.node_name.clone(),
        epoch: shared.epoch,
        listen: shared.local_addr,
        proof: tls::proof(conn, &shared.settings.secret, role).map_err(HandshakeError::Rejected)?,
    };
    let bytes = frame::encode(&hello, MAX_HELLO_BYTES)
        .map_err(|err| HandshakeError::Rejected(RejectReason::BadHello(err.to_string())))?;
    send.write_all(&bytes)
        .await
        .map_err(|err| connection_or(conn, err.to_string()))
}

async fn read_hello(conn: &Connection, recv: &mut RecvStream) -> Result<Hello, HandshakeError> {
    let refuse = |reason: RejectReason| {
        conn.close(close::REJECTED, reason.to_string().as_bytes());
        HandshakeError::Rejected(reason)
    };
    let payload = match frame::read(recv, MAX_HELLO_BYTES).await {
        Ok(Some(payload)) => payload,
        Ok(None) => {
            return Err(refuse(RejectReason::BadHello(
                "the stream ended before the Hello".to_owned(),
            )))
        }
        Err(err) => {
            if let Some(lost) = conn.close_reason() {
                return Err(classify(lost));
            }
            return Err(refuse(RejectReason::BadHello(err.to_string())));
        }
    };
    let version = frame::decode_prefix_u32(&payload)
        .map_err(|err| refuse(RejectReason::BadHello(err.to_string())))?;
    if version != PROTOCOL_VERSION {
        return Err(refuse(RejectReason::ProtocolVersion {
            ours: PROTOCOL_VERSION,
            theirs: version,
        }));
    }
    frame::decode(&payload).map_err(|err| refuse(RejectReason::BadHello(err.to_string())))
}

/// Checks a Hello sent by the side in `sender_role`, closing the connection if it is refused.
fn check_hello<T>(
    shared: &Shared<T>,
    conn: &Connection,
    hello: Hello,
    sender_role: Role,
    expected: Option<&PeerInfo>,
) -> Result<PeerHello, HandshakeError> {
    if let Err(reason) = verdict(shared, conn, &hello, sender_role, expected) {
        conn.close(close::REJECTED, reason.to_string().as_bytes());
        return Err(HandshakeError::Rejected(reason));
    }
    let address = if hello.listen.ip().is_unspecified() {
        SocketAddr::new(conn.remote_address().ip(), hello.listen.port())
    } else {
        hello.listen
    };
    Ok(PeerHello {
        id: NodeId(hello.node_id),
        name: hello.node_name,
        epoch: hello.epoch,
        address,
    })
}

/// The rules a Hello must pass: the secret first, so a node without it learns nothing more, then
/// the certificate name, then the expected identity and membership.
fn verdict<T>(
    shared: &Shared<T>,
    conn: &Connection,
    hello: &Hello,
    sender_role: Role,
    expected: Option<&PeerInfo>,
) -> Result<(), RejectReason> {
    let proof = tls::proof(conn, &shared.settings.secret, sender_role)?;
    if !tls::proofs_match(&proof, &hello.proof) {
        return Err(RejectReason::WrongSecret);
    }
    tls::check_peer_name(conn, &hello.node_name)?;
    if hello.payload_version != shared.settings.payload_version {
        return Err(RejectReason::PayloadVersion {
            ours: shared.settings.payload_version,
            theirs: hello.payload_version,
        });
    }
    let id = NodeId(hello.node_id);
    if let Some(peer) = expected {
        if peer.id != id || !peer.name.eq_ignore_ascii_case(&hello.node_name) {
            return Err(RejectReason::IdentityMismatch {
                expected_id: peer.id,
                expected_name: peer.name.clone(),
                id,
                name: hello.node_name.clone(),
            });
        }
    }
    shared.membership.lock().admit(id, &hello.node_name)
}

/// Waits for the dialer's first message, which must be its peer list: it means the dialer accepted
/// this side and installed the link.
async fn read_first_peers<T: Payload>(
    shared: &Shared<T>,
    conn: &Connection,
    recv: &mut RecvStream,
) -> Result<Vec<PeerInfo>, HandshakeError> {
    let payload = match frame::read(recv, shared.settings.max_frame_bytes).await {
        Ok(Some(payload)) => payload,
        Ok(None) => return Err(HandshakeError::Closed("the stream ended".to_owned())),
        Err(err) => return Err(connection_or(conn, err.to_string())),
    };
    match frame::decode::<Message<T>>(&payload) {
        Ok(Message::Peers(peers)) => Ok(peers),
        Ok(Message::Data(_)) => Err(protocol_violation(
            conn,
            "expected the peer list before any frame",
        )),
        Err(err) => Err(protocol_violation(conn, &err.to_string())),
    }
}

fn protocol_violation(conn: &Connection, reason: &str) -> HandshakeError {
    conn.close(close::PROTOCOL, reason.as_bytes());
    HandshakeError::Rejected(RejectReason::BadHello(reason.to_owned()))
}

/// The connection's own close reason if it has one (it explains a failed read or write best).
fn connection_or(conn: &Connection, fallback: String) -> HandshakeError {
    match conn.close_reason() {
        Some(err) => classify(err),
        None => HandshakeError::Unreachable(fallback),
    }
}

/// Sorts a connection failure into "refused" (worth reporting) and the rest.
pub(crate) fn classify(err: ConnectionError) -> HandshakeError {
    match err {
        ConnectionError::ApplicationClosed(closed) => {
            let reason = String::from_utf8_lossy(&closed.reason).into_owned();
            if closed.error_code == close::REJECTED || closed.error_code == close::PROTOCOL {
                HandshakeError::Rejected(RejectReason::ByPeer(reason))
            } else {
                HandshakeError::Closed(reason)
            }
        }
        ConnectionError::ConnectionClosed(closed) => {
            HandshakeError::Rejected(RejectReason::Tls(closed.to_string()))
        }
        ConnectionError::TransportError(err) => {
            HandshakeError::Rejected(RejectReason::Tls(err.to_string()))
        }
        other => HandshakeError::Unreachable(other.to_string()),
    }
}
