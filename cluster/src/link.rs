//! A live link: installed in the link table (one per peer), a writer draining its send queue, a reader
//! turning frames into events, and a clean removal that reports `PeerDown`.
//!
//! Duplicate links are resolved the same way on both sides (see [`resolve`]), so two nodes that dial
//! each other at the same moment keep the same link.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use latticed_crdt::NodeId;
use quinn::{Connection, ConnectionError, RecvStream, SendStream};
use tokio::sync::{mpsc, watch};

use crate::dialer;
use crate::error::FrameError;
use crate::event::ClusterEvent;
use crate::frame;
use crate::handshake::Handshake;
use crate::membership::{Learned, PeerInfo};
use crate::metrics::{Stats, Traffic};
use crate::shared::{wait_ended, LinkEntry, Payload, Shared};
use crate::tls::Role;
use crate::wire::{close, Message, MessageRef};

/// How long a shutting-down link may spend delivering its queued frames before it is closed anyway.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// What to do with a new link when one to the same peer is already installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// The installed link stays; the new one is closed as a duplicate.
    KeepExisting,
    /// The installed link is closed and the new one takes its place.
    ReplaceExisting,
}

/// The link facts [`resolve`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LinkFacts {
    /// The peer's incarnation on that link.
    pub(crate) epoch: u64,
    /// The node that dialed it.
    pub(crate) initiator: NodeId,
}

/// Decides between an installed link and a new one to the same peer, identically on both nodes.
///
/// - Another epoch: the peer restarted, so the old link is dead; the new one wins.
/// - A new link this node dialed: a link came up the other way while dialing, and the peer never
///   installs the new one (it waits for this node's peer list), so the installed one stays.
/// - A new link the peer dialed, and the installed one was dialed by the peer too: the peer gave up
///   on the old one; the new one wins.
/// - Otherwise both nodes dialed at once: the link dialed by the lower node id wins on both sides.
pub(crate) fn resolve(
    existing: LinkFacts,
    new: LinkFacts,
    new_role: Role,
    local: NodeId,
    peer: NodeId,
) -> Resolution {
    if existing.epoch != new.epoch {
        return Resolution::ReplaceExisting;
    }
    match new_role {
        Role::Dialer => Resolution::KeepExisting,
        Role::Acceptor if existing.initiator == new.initiator => Resolution::ReplaceExisting,
        Role::Acceptor if local < peer => Resolution::KeepExisting,
        Role::Acceptor => Resolution::ReplaceExisting,
    }
}

/// Why a link's reader stopped.
enum LinkEnd {
    Shutdown,
    /// The peer finished its stream: it is shutting down.
    Finished,
    /// The connection closed or was lost.
    Closed(ConnectionError),
    /// The peer broke the frame protocol.
    Protocol(FrameError),
}

/// Runs a link from handshake to `PeerDown`. Returns when the link is gone.
pub(crate) async fn run<T: Payload>(shared: &Arc<Shared<T>>, handshake: Handshake) {
    let Handshake {
        conn,
        send,
        recv,
        peer,
        role,
        peers,
    } = handshake;
    let local = shared.settings.node_id;
    let initiator = match role {
        Role::Dialer => local,
        Role::Acceptor => peer.id,
    };
    let (queue, queue_rx) = mpsc::channel(shared.settings.queue_frames);
    let (ended_tx, ended) = watch::channel(());
    let traffic = Arc::new(Traffic::default());
    let link_id = shared.next_link_id();

    let known = shared.membership.lock().all();
    match frame::encode(
        &MessageRef::<T>::Peers(&known),
        shared.settings.max_frame_bytes,
    ) {
        Ok(bytes) => {
            let _ = queue.try_send(bytes);
        }
        Err(err) => tracing::warn!(%err, "cannot encode the peer list"),
    }
    let entry = LinkEntry {
        link_id,
        name: peer.name.clone(),
        epoch: peer.epoch,
        initiator,
        conn: conn.clone(),
        queue,
        traffic: traffic.clone(),
        ended,
        since: Instant::now(),
    };
    if !install(shared, entry, role, peer.id).await {
        return;
    }
    shared.stats.link_established();
    learn(
        shared,
        PeerInfo {
            id: peer.id,
            name: peer.name.clone(),
            address: peer.address,
        },
    );
    tracing::info!(peer = %peer.id, name = %peer.name, epoch = peer.epoch, remote = %conn.remote_address(), "cluster link up");
    let writer = shared.tasks.spawn(write_loop(
        send,
        queue_rx,
        traffic.clone(),
        Arc::clone(shared),
        conn.clone(),
    ));
    shared
        .emit(ClusterEvent::PeerUp {
            id: peer.id,
            name: peer.name.clone(),
            epoch: peer.epoch,
            address: peer.address,
        })
        .await;
    for info in peers {
        learn(shared, info);
    }

    let end = tokio::select! {
        () = shared.cancel.cancelled() => LinkEnd::Shutdown,
        end = read_loop(shared, &conn, recv, peer.id, &traffic) => end,
    };
    remove(shared, peer.id, link_id);
    match end {
        LinkEnd::Shutdown => {
            let _ = tokio::time::timeout(FLUSH_TIMEOUT, writer).await;
            conn.close(close::SHUTDOWN, b"node shutting down");
            tracing::info!(peer = %peer.id, "cluster link closed for shutdown");
        }
        LinkEnd::Finished => {
            conn.close(close::SHUTDOWN, b"stream finished");
            tracing::info!(peer = %peer.id, "cluster link ended: the peer shut down");
        }
        LinkEnd::Closed(err) => {
            tracing::info!(peer = %peer.id, reason = %err, "cluster link down");
        }
        LinkEnd::Protocol(err) => {
            conn.close(close::PROTOCOL, err.to_string().as_bytes());
            tracing::warn!(peer = %peer.id, reason = %err, "cluster link closed: protocol error");
        }
    }
    shared
        .emit(ClusterEvent::PeerDown {
            id: peer.id,
            epoch: peer.epoch,
        })
        .await;
    drop(ended_tx);
}

/// Puts the link in the table, first retiring or yielding to an installed one (see [`resolve`]).
/// Returns false if the link was dropped.
async fn install<T: Payload>(
    shared: &Shared<T>,
    entry: LinkEntry,
    role: Role,
    peer: NodeId,
) -> bool {
    let conn = entry.conn.clone();
    let new = LinkFacts {
        epoch: entry.epoch,
        initiator: entry.initiator,
    };
    let mut entry = Some(entry);
    loop {
        let retiring = {
            let mut links = shared.links.lock();
            match links.get(&peer) {
                None => {
                    if let Some(entry) = entry.take() {
                        links.insert(peer, entry);
                    }
                    return true;
                }
                Some(existing) => {
                    let facts = LinkFacts {
                        epoch: existing.epoch,
                        initiator: existing.initiator,
                    };
                    match resolve(facts, new, role, shared.settings.node_id, peer) {
                        Resolution::KeepExisting => None,
                        Resolution::ReplaceExisting => {
                            existing
                                .conn
                                .close(close::REPLACED, b"replaced by a newer link");
                            Some(existing.ended.clone())
                        }
                    }
                }
            }
        };
        let Some(ended) = retiring else {
            tracing::debug!(%peer, "dropping a duplicate cluster link");
            conn.close(close::DUPLICATE, b"a link to this node is already up");
            return false;
        };
        tokio::select! {
            () = wait_ended(ended) => {}
            () = shared.cancel.cancelled() => {
                conn.close(close::SHUTDOWN, b"node shutting down");
                return false;
            }
        }
    }
}

/// Takes the link out of the table if it is still the installed one, so sends fail from now on.
fn remove<T>(shared: &Shared<T>, peer: NodeId, link_id: u64) {
    let mut links = shared.links.lock();
    if links
        .get(&peer)
        .is_some_and(|entry| entry.link_id == link_id)
    {
        links.remove(&peer);
    }
}

async fn read_loop<T: Payload>(
    shared: &Arc<Shared<T>>,
    conn: &Connection,
    mut recv: RecvStream,
    from: NodeId,
    traffic: &Traffic,
) -> LinkEnd {
    loop {
        let payload = match frame::read(&mut recv, shared.settings.max_frame_bytes).await {
            Ok(Some(payload)) => payload,
            Ok(None) => return LinkEnd::Finished,
            Err(err) => {
                return match conn.close_reason() {
                    Some(lost) => LinkEnd::Closed(lost),
                    None => LinkEnd::Protocol(err),
                }
            }
        };
        let wire_bytes = payload.len() + 4;
        traffic.received(wire_bytes);
        shared.stats.traffic.received(wire_bytes);
        match frame::decode::<Message<T>>(&payload) {
            Ok(Message::Data(frame)) => shared.emit(ClusterEvent::Frame { from, frame }).await,
            Ok(Message::Peers(peers)) => {
                for info in peers {
                    learn(shared, info);
                }
            }
            Err(err) => return LinkEnd::Protocol(err),
        }
    }
}

/// Writes queued frames until the queue closes (the link was removed), then finishes the stream and
/// waits for the peer to have read it, so a graceful shutdown delivers what was queued.
/// Most queued frames handed to QUIC in one write: everything that queued up while the previous
/// write was in progress goes out together (fewer wake-ups and packets under load), bounded so one
/// write never holds a long burst.
const MAX_CHUNKS_PER_WRITE: usize = 64;

async fn write_loop<T>(
    mut send: SendStream,
    mut queue: mpsc::Receiver<Bytes>,
    traffic: Arc<Traffic>,
    shared: Arc<Shared<T>>,
    conn: Connection,
) {
    let stats: &Stats = &shared.stats;
    let mut chunks: Vec<Bytes> = Vec::new();
    while let Some(first) = queue.recv().await {
        chunks.push(first);
        while chunks.len() < MAX_CHUNKS_PER_WRITE {
            match queue.try_recv() {
                Ok(more) => chunks.push(more),
                Err(_) => break,
            }
        }
        let (frames, len) = (chunks.len(), chunks.iter().map(Bytes::len).sum());
        if let Err(err) = send.write_all_chunks(&mut chunks).await {
            tracing::debug!(%err, "cluster link write failed");
            conn.close(close::PROTOCOL, b"stream write failed");
            return;
        }
        chunks.clear();
        traffic.sent(frames, len);
        stats.traffic.sent(frames, len);
    }
    if send.finish().is_ok() {
        let _ = send.stopped().await;
    }
}

/// Records a peer this node was told about; a new one gets a dial loop and is announced to the others.
pub(crate) fn learn<T: Payload>(shared: &Arc<Shared<T>>, info: PeerInfo) {
    let id = info.id;
    let outcome = shared.membership.lock().learn(info);
    match outcome {
        Learned::New => {
            tracing::info!(peer = %id, "learned a new cluster node");
            dialer::ensure(shared, id);
            announce(shared);
        }
        Learned::Updated => announce(shared),
        Learned::Ignored => {}
    }
}

/// Sends the current peer list to every linked peer. Best effort: a peer whose queue is full gets
/// the list with the next change or at its next link.
fn announce<T: Payload>(shared: &Shared<T>) {
    let known = shared.membership.lock().all();
    let Ok(bytes) = frame::encode(
        &MessageRef::<T>::Peers(&known),
        shared.settings.max_frame_bytes,
    ) else {
        return;
    };
    for (id, entry) in shared.links.lock().iter() {
        if entry.queue.try_send(bytes.clone()).is_err() {
            tracing::debug!(peer = %id, "peer list not sent: queue full");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = NodeId(1);
    const B: NodeId = NodeId(2);

    fn link(epoch: u64, initiator: NodeId) -> LinkFacts {
        LinkFacts { epoch, initiator }
    }

    #[test]
    fn a_new_epoch_always_wins() {
        for role in [Role::Dialer, Role::Acceptor] {
            assert_eq!(
                resolve(link(1, A), link(2, B), role, A, B),
                Resolution::ReplaceExisting
            );
        }
    }

    #[test]
    fn a_dialer_yields_to_a_link_that_came_up_meanwhile() {
        assert_eq!(
            resolve(link(1, B), link(1, A), Role::Dialer, A, B),
            Resolution::KeepExisting
        );
    }

    #[test]
    fn a_peer_redialing_replaces_its_own_old_link() {
        assert_eq!(
            resolve(link(1, B), link(1, B), Role::Acceptor, A, B),
            Resolution::ReplaceExisting
        );
    }

    #[test]
    fn crossed_dials_keep_the_link_of_the_lower_id_on_both_sides() {
        // Node A (1) dialed X, node B (2) dialed Y; each installed its own first and then accepts the other.
        let at_a = resolve(link(1, A), link(1, B), Role::Acceptor, A, B);
        let at_b = resolve(link(1, B), link(1, A), Role::Acceptor, B, A);
        assert_eq!(at_a, Resolution::KeepExisting, "A keeps X");
        assert_eq!(at_b, Resolution::ReplaceExisting, "B replaces Y with X");
    }
}
