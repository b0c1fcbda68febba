//! Counters for monitoring links: plain numbers the node exports as Prometheus metrics.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use latticed_crdt::NodeId;
use parking_lot::Mutex;

use crate::reject::{RejectReason, Rejection};

/// How many rejections [`Stats::recent_rejections`] keeps.
const RECENT_REJECTIONS: usize = 32;

/// Frames and bytes moved over one link (or over all links).
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    frames_sent: AtomicU64,
    bytes_sent: AtomicU64,
    frames_received: AtomicU64,
    bytes_received: AtomicU64,
}

impl Traffic {
    pub(crate) fn sent(&self, frames: usize, bytes: usize) {
        self.frames_sent.fetch_add(frames as u64, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.frames_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> TrafficCounts {
        TrafficCounts {
            frames_sent: self.frames_sent.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            frames_received: self.frames_received.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
        }
    }
}

/// Frames and bytes, as read at one moment. Bytes count the whole frame, length prefix included;
/// frames include the link's own Peers messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficCounts {
    /// Frames written to the link's stream.
    pub frames_sent: u64,
    /// Bytes written to the link's stream.
    pub bytes_sent: u64,
    /// Frames read from the link's stream.
    pub frames_received: u64,
    /// Bytes read from the link's stream.
    pub bytes_received: u64,
}

/// Node-wide counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) traffic: Traffic,
    links_established: AtomicU64,
    handshakes_rejected: AtomicU64,
    recent: Mutex<VecDeque<Rejection>>,
}

impl Stats {
    pub(crate) fn link_established(&self) {
        self.links_established.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts, logs and remembers a refused link.
    pub(crate) fn rejected(&self, remote: SocketAddr, reason: RejectReason) {
        tracing::warn!(%remote, %reason, "cluster link refused");
        self.handshakes_rejected.fetch_add(1, Ordering::Relaxed);
        let mut recent = self.recent.lock();
        if recent.len() == RECENT_REJECTIONS {
            recent.pop_front();
        }
        recent.push_back(Rejection {
            at: SystemTime::now(),
            remote,
            reason,
        });
    }

    pub(crate) fn recent_rejections(&self) -> Vec<Rejection> {
        self.recent.lock().iter().cloned().collect()
    }

    pub(crate) fn snapshot(&self, peers_up: usize) -> ClusterMetrics {
        ClusterMetrics {
            peers_up,
            traffic: self.traffic.snapshot(),
            links_established: self.links_established.load(Ordering::Relaxed),
            handshakes_rejected: self.handshakes_rejected.load(Ordering::Relaxed),
        }
    }
}

/// Node-wide link metrics at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterMetrics {
    /// Peers with a link up now.
    pub peers_up: usize,
    /// Traffic over all links since start.
    pub traffic: TrafficCounts,
    /// Links that completed the handshake since start (reconnects count again).
    pub links_established: u64,
    /// Handshakes refused since start, by either side.
    pub handshakes_rejected: u64,
}

/// One linked peer at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer's node id.
    pub id: NodeId,
    /// The peer's node name.
    pub name: String,
    /// The peer's current incarnation.
    pub epoch: u64,
    /// The address the link runs to.
    pub remote: SocketAddr,
    /// QUIC's current round-trip estimate.
    pub rtt: Duration,
    /// How long this link has been up.
    pub up_for: Duration,
    /// Frames waiting in the send queue.
    pub queued: usize,
    /// Traffic over this link.
    pub traffic: TrafficCounts,
}
