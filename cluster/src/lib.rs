//! Authenticated QUIC links between the nodes of a latticed cluster (ARCHITECTURE §4).
//!
//! This crate is the transport only: it keeps one link up to every other node and carries opaque,
//! typed frames over it; replication lives on top. A node
//!
//! - proves its identity with a certificate from the cluster's own CA ([`pki`]) whose DNS name is
//!   its `node.name`, and the shared secret, in a handshake that both sides check;
//! - dials every configured peer (and, with `--join`, learns the others from the first one it
//!   reaches), redialing with exponential backoff and jitter;
//! - keeps exactly one link per peer, chosen the same way on both sides when they dial each other;
//! - reports [`ClusterEvent::PeerUp`], [`ClusterEvent::Frame`] and [`ClusterEvent::PeerDown`] in
//!   order, and detects a lost peer within the QUIC idle timeout.
//!
//! See the crate README for the handshake, the frame format and failure handling.

mod backoff;
mod dialer;
mod endpoint;
mod error;
mod event;
mod frame;
mod handle;
mod handshake;
mod link;
mod membership;
mod metrics;
pub mod pki;
mod reject;
mod settings;
mod shared;
mod tls;
mod wire;

pub use error::{ClusterError, FrameError, PkiError, SendError};
pub use event::ClusterEvent;
pub use frame::MAX_FRAME_BYTES;
pub use handle::{Broadcast, Cluster, ClusterHandle, EncodedFrame};
pub use latticed_crdt::NodeId;
pub use membership::PeerInfo;
pub use metrics::{ClusterMetrics, PeerStatus, TrafficCounts};
pub use reject::{RejectReason, Rejection};
pub use settings::{
    BackoffSettings, ClusterSettings, DEFAULT_EVENT_CAPACITY, DEFAULT_QUEUE_FRAMES,
};
pub use shared::Payload;
