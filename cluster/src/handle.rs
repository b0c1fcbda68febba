//! Starting a node's cluster endpoint, and the handle the rest of the node uses to send frames,
//! watch its peers and shut it down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use latticed_crdt::NodeId;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::dialer;
use crate::endpoint;
use crate::error::{ClusterError, SendError};
use crate::event::ClusterEvent;
use crate::frame;
use crate::membership::PeerInfo;
use crate::metrics::{ClusterMetrics, PeerStatus};
use crate::reject::Rejection;
use crate::settings::ClusterSettings;
use crate::shared::{Clients, Payload, Shared};
use crate::tls::Tls;
use crate::wire::{close, MessageRef};

/// How long [`ClusterHandle::shutdown`] waits for links to deliver what they queued and close.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long [`ClusterHandle::shutdown`] then lets the endpoint send its close frames. Waiting for
/// full idleness would take up to the idle timeout (closed QUIC connections linger to absorb late
/// packets); peers already have the close by then.
const CLOSE_GRACE: Duration = Duration::from_millis(250);

/// Entry point of the crate.
pub struct Cluster;

impl Cluster {
    /// Binds the endpoint, starts accepting links and dialing every configured peer (and the `join`
    /// address), and returns the handle and the event stream. Must be called inside a tokio runtime.
    ///
    /// `T` is the frame type the node exchanges with its peers; every node must use the same one.
    pub fn start<T: Payload>(
        settings: ClusterSettings,
    ) -> Result<(ClusterHandle<T>, mpsc::Receiver<ClusterEvent<T>>), ClusterError> {
        settings.validate()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ClusterError::InvalidSettings(
                "Cluster::start must be called inside a tokio runtime".to_owned(),
            ));
        }
        let tls = Tls::new(
            &settings.ca_pem,
            &settings.cert_pem,
            &settings.key_pem,
            &settings.node_name,
        )?;
        let epoch = tls.random_u64()?;
        let transport = Arc::new(endpoint::transport(&settings)?);
        let quic = endpoint::bind(&settings, tls.server_config(transport.clone())?)?;
        let local_addr = quic.local_addr().map_err(|source| ClusterError::Bind {
            address: settings.listen,
            source,
        })?;
        let clients = Clients {
            named: tls.client_config(transport.clone(), false)?,
            join: tls.client_config(transport, true)?,
        };
        let (events, receiver) = mpsc::channel(settings.event_capacity);
        let join = settings.join;
        let shared = Arc::new(Shared::new(
            settings, epoch, quic, local_addr, clients, events,
        ));
        tracing::info!(node = %shared.settings.node_id, %local_addr, epoch, "cluster endpoint started");
        shared
            .tasks
            .spawn(endpoint::accept_loop(Arc::clone(&shared)));
        for peer in &shared.settings.peers {
            dialer::ensure(&shared, peer.id);
        }
        if let Some(address) = join {
            shared
                .tasks
                .spawn(dialer::join(Arc::clone(&shared), address));
        }
        let guard = Arc::new(StopOnDrop {
            cancel: shared.cancel.clone(),
            endpoint: shared.endpoint.clone(),
        });
        Ok((
            ClusterHandle {
                shared,
                _guard: guard,
            },
            receiver,
        ))
    }
}

/// Stops the endpoint when the last handle is dropped, so a forgotten shutdown does not leave
/// links running (peers still get a close, just without the flush of [`ClusterHandle::shutdown`]).
struct StopOnDrop {
    cancel: CancellationToken,
    endpoint: quinn::Endpoint,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.endpoint.close(close::SHUTDOWN, b"node shutting down");
    }
}

/// A frame encoded once, to be queued for several peers without encoding it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    bytes: Bytes,
}

impl EncodedFrame {
    /// Size on the wire, length prefix included.
    pub fn wire_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Where a broadcast went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Broadcast {
    /// Peers the frame was queued for.
    pub queued: Vec<NodeId>,
    /// Linked peers whose queue was full: the frame was not queued for them.
    pub full: Vec<NodeId>,
}

/// The node's handle on its cluster endpoint. Cheap to clone; dropping the last clone stops the
/// endpoint.
pub struct ClusterHandle<T> {
    shared: Arc<Shared<T>>,
    _guard: Arc<StopOnDrop>,
}

impl<T> Clone for ClusterHandle<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            _guard: Arc::clone(&self._guard),
        }
    }
}

impl<T: Payload> ClusterHandle<T> {
    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.shared.settings.node_id
    }

    /// This process's incarnation, as peers see it in `PeerUp`.
    pub fn epoch(&self) -> u64 {
        self.shared.epoch
    }

    /// The address the endpoint is bound to (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Encodes a frame once for [`send_encoded`](Self::send_encoded) to several peers.
    pub fn encode(&self, frame: &T) -> Result<EncodedFrame, SendError> {
        let bytes = frame::encode(
            &MessageRef::Data(frame),
            self.shared.settings.max_frame_bytes,
        )?;
        Ok(EncodedFrame { bytes })
    }

    /// Queues a frame for `to`. Fails at once if the peer is not linked or its queue is full:
    /// nothing is dropped silently.
    pub fn send(&self, to: NodeId, frame: &T) -> Result<(), SendError> {
        let encoded = self.encode(frame)?;
        self.send_encoded(to, &encoded)
    }

    /// Queues an already encoded frame for `to`; see [`send`](Self::send).
    pub fn send_encoded(&self, to: NodeId, frame: &EncodedFrame) -> Result<(), SendError> {
        self.check_running()?;
        let links = self.shared.links.lock();
        let entry = links.get(&to).ok_or(SendError::NotConnected { peer: to })?;
        entry
            .queue
            .try_send(frame.bytes.clone())
            .map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => SendError::QueueFull {
                    peer: to,
                    capacity: entry.queue.max_capacity(),
                },
                mpsc::error::TrySendError::Closed(_) => SendError::NotConnected { peer: to },
            })
    }

    /// Queues a frame for `to`, waiting for room in its queue instead of failing when it is full
    /// (for bulk transfers such as catch-up). Fails if the link goes down or the node shuts down
    /// while waiting.
    pub async fn send_wait(&self, to: NodeId, frame: &T) -> Result<(), SendError> {
        let encoded = self.encode(frame)?;
        self.check_running()?;
        let queue = self
            .shared
            .links
            .lock()
            .get(&to)
            .map(|entry| entry.queue.clone())
            .ok_or(SendError::NotConnected { peer: to })?;
        tokio::select! {
            sent = queue.send(encoded.bytes) => sent.map_err(|_| SendError::NotConnected { peer: to }),
            () = self.shared.cancel.cancelled() => Err(SendError::ShutDown),
        }
    }

    /// Queues a frame, encoded once, for every linked peer, and says which queues were full.
    pub fn broadcast(&self, frame: &T) -> Result<Broadcast, SendError> {
        self.broadcast_except(&self.encode(frame)?, |_| false)
    }

    /// Queues an encoded frame for every linked peer `skip` does not name (a peer that is being
    /// sent what it missed another way, in order), and says which queues were full.
    pub fn broadcast_except(
        &self,
        encoded: &EncodedFrame,
        mut skip: impl FnMut(NodeId) -> bool,
    ) -> Result<Broadcast, SendError> {
        self.check_running()?;
        let mut outcome = Broadcast::default();
        for (id, entry) in self.shared.links.lock().iter() {
            if skip(*id) {
                continue;
            }
            match entry.queue.try_send(encoded.bytes.clone()) {
                Ok(()) => outcome.queued.push(*id),
                Err(_) => outcome.full.push(*id),
            }
        }
        outcome.queued.sort();
        outcome.full.sort();
        Ok(outcome)
    }

    /// The peers linked now, by id, with RTT, queue depth and traffic.
    pub fn peers(&self) -> Vec<PeerStatus> {
        let mut peers: Vec<PeerStatus> = self
            .shared
            .links
            .lock()
            .iter()
            .map(|(id, entry)| PeerStatus {
                id: *id,
                name: entry.name.clone(),
                epoch: entry.epoch,
                remote: entry.conn.remote_address(),
                rtt: entry.conn.rtt(),
                up_for: entry.since.elapsed(),
                queued: entry.queue.max_capacity() - entry.queue.capacity(),
                traffic: entry.traffic.snapshot(),
            })
            .collect();
        peers.sort_by_key(|peer| peer.id);
        peers
    }

    /// Every node this node knows of (configured and learned), linked or not.
    pub fn known_peers(&self) -> Vec<PeerInfo> {
        self.shared.membership.lock().all()
    }

    /// Node-wide counters.
    pub fn metrics(&self) -> ClusterMetrics {
        let peers_up = self.shared.links.lock().len();
        self.shared.stats.snapshot(peers_up)
    }

    /// The last refused handshakes (at most 32), oldest first.
    pub fn recent_rejections(&self) -> Vec<Rejection> {
        self.shared.stats.recent_rejections()
    }

    /// Stops dialing and accepting, lets each link deliver its queued frames (bounded), closes every
    /// link with the shutdown code so peers notice at once, and gives the close frames a moment to
    /// leave. Takes at most a few seconds.
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
        self.shared.tasks.close();
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, self.shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("cluster tasks did not stop in time");
        }
        self.shared
            .endpoint
            .close(close::SHUTDOWN, b"node shutting down");
        let _ = tokio::time::timeout(CLOSE_GRACE, self.shared.endpoint.wait_idle()).await;
    }

    fn check_running(&self) -> Result<(), SendError> {
        if self.shared.cancel.is_cancelled() {
            Err(SendError::ShutDown)
        } else {
            Ok(())
        }
    }
}
