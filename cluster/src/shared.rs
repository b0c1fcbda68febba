//! The state every task of one node's cluster endpoint shares: the live links, the membership, the
//! event channel and the shutdown signal.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use latticed_crdt::NodeId;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::event::ClusterEvent;
use crate::membership::Membership;
use crate::metrics::{Stats, Traffic};
use crate::settings::ClusterSettings;

/// What a frame type needs to cross a link: serde both ways, and ownership that can move to the
/// link's tasks.
pub trait Payload: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Payload for T {}

/// How many handshakes may run at once; more incoming connections are refused, so a flood of
/// connection attempts cannot pin unbounded memory.
pub(crate) const MAX_CONCURRENT_HANDSHAKES: usize = 64;

/// One live link, as the rest of the node sees it.
pub(crate) struct LinkEntry {
    /// Tells this link from a later one to the same peer.
    pub(crate) link_id: u64,
    pub(crate) name: String,
    pub(crate) epoch: u64,
    /// The node that dialed this link.
    pub(crate) initiator: NodeId,
    pub(crate) conn: quinn::Connection,
    /// Encoded frames waiting for the link's writer.
    pub(crate) queue: mpsc::Sender<Bytes>,
    pub(crate) traffic: Arc<Traffic>,
    /// Closes (its sender is dropped) once the link's task has finished and reported PeerDown.
    pub(crate) ended: watch::Receiver<()>,
    pub(crate) since: Instant,
}

/// The two client TLS setups a node dials with.
pub(crate) struct Clients {
    /// Checks the server against the name of the peer being dialed.
    pub(crate) named: quinn::ClientConfig,
    /// For `--join`: any name the CA signed.
    pub(crate) join: quinn::ClientConfig,
}

/// Everything the tasks of one cluster endpoint share.
pub(crate) struct Shared<T> {
    pub(crate) settings: ClusterSettings,
    pub(crate) epoch: u64,
    pub(crate) local_addr: SocketAddr,
    pub(crate) endpoint: quinn::Endpoint,
    pub(crate) clients: Clients,
    pub(crate) links: Mutex<HashMap<NodeId, LinkEntry>>,
    pub(crate) membership: Mutex<Membership>,
    /// Peers that have a dial loop running.
    pub(crate) dialing: Mutex<HashSet<NodeId>>,
    pub(crate) events: mpsc::Sender<ClusterEvent<T>>,
    pub(crate) cancel: CancellationToken,
    pub(crate) tasks: TaskTracker,
    pub(crate) stats: Stats,
    pub(crate) handshake_slots: Arc<Semaphore>,
    next_link_id: AtomicU64,
}

impl<T: Payload> Shared<T> {
    /// Assembles the shared state; nothing runs yet.
    pub(crate) fn new(
        settings: ClusterSettings,
        epoch: u64,
        endpoint: quinn::Endpoint,
        local_addr: SocketAddr,
        clients: Clients,
        events: mpsc::Sender<ClusterEvent<T>>,
    ) -> Self {
        let membership = Membership::new(
            settings.node_id,
            &settings.node_name,
            &settings.peers,
            settings.admits_unlisted(),
        );
        Self {
            settings,
            epoch,
            local_addr,
            endpoint,
            clients,
            links: Mutex::new(HashMap::new()),
            membership: Mutex::new(membership),
            dialing: Mutex::new(HashSet::new()),
            events,
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
            stats: Stats::default(),
            handshake_slots: Arc::new(Semaphore::new(MAX_CONCURRENT_HANDSHAKES)),
            next_link_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn next_link_id(&self) -> u64 {
        self.next_link_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The end signal of the live link to `peer`, if one is up.
    pub(crate) fn link_ended(&self, peer: NodeId) -> Option<watch::Receiver<()>> {
        self.links
            .lock()
            .get(&peer)
            .map(|entry| entry.ended.clone())
    }

    /// Sends an event, waiting for room (the receiver's pace bounds the links' reading), but never
    /// past shutdown, when it is delivered only if there is room.
    pub(crate) async fn emit(&self, event: ClusterEvent<T>) {
        tokio::select! {
            permit = self.events.reserve() => {
                if let Ok(permit) = permit {
                    permit.send(event);
                }
            }
            () = self.cancel.cancelled() => {
                let _ = self.events.try_send(event);
            }
        }
    }
}

/// Waits until a link's end signal closes.
pub(crate) async fn wait_ended(mut ended: watch::Receiver<()>) {
    while ended.changed().await.is_ok() {}
}
