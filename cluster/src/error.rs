//! The errors of this crate, one type per kind of caller: making certificates, starting a node's
//! cluster endpoint, sending a frame, and coding frames on the wire.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use latticed_crdt::NodeId;

/// Making or writing cluster certificates failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The cluster name cannot go into a certificate subject.
    #[error("{name:?} is not a usable cluster name: {reason}")]
    InvalidClusterName {
        /// The name given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The node name is not a DNS name, so no peer could verify a certificate issued for it.
    #[error("{name:?} is not a valid node name for a certificate: use a DNS name such as irc1.example.net")]
    InvalidNodeName {
        /// The name given.
        name: String,
    },
    /// rcgen could not generate a key, parse the CA, or sign a certificate.
    #[error("{what}: {source}")]
    Certificate {
        /// The step that failed, e.g. "parsing the cluster CA certificate".
        what: &'static str,
        /// The underlying rcgen error.
        #[source]
        source: rcgen::Error,
    },
    /// A file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    File {
        /// What the file is, e.g. "writing the node key".
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
}

/// The cluster endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A setting is out of range or inconsistent.
    #[error("invalid cluster settings: {0}")]
    InvalidSettings(String),
    /// A PEM file named in the configuration could not be read.
    #[error("reading {what} {}: {source}", path.display())]
    ReadFile {
        /// What the file is, e.g. "the cluster CA certificate".
        what: &'static str,
        /// The path from the configuration.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// A PEM text does not hold what it should (no certificate, no key, or garbage).
    #[error("{what}: {reason}")]
    Pem {
        /// What was being read, e.g. "the node certificate".
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// rustls refused the certificate, key or CA.
    #[error("building the TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The UDP socket could not be bound.
    #[error("binding the cluster endpoint on {address}: {source}")]
    Bind {
        /// The configured listen address.
        address: SocketAddr,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
}

/// A frame could not be queued for a peer. Nothing is dropped silently: every refusal is one of these.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No link to that peer is up right now; the frame was not queued.
    #[error("node {peer} is not linked")]
    NotConnected {
        /// The peer the frame was for.
        peer: NodeId,
    },
    /// The peer's send queue is full (it reads slower than this node writes); the frame was not queued.
    #[error("the send queue to node {peer} is full ({capacity} frames)")]
    QueueFull {
        /// The peer the frame was for.
        peer: NodeId,
        /// The queue's capacity in frames.
        capacity: usize,
    },
    /// The frame could not be encoded, or is too large.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The cluster endpoint has been shut down.
    #[error("the cluster endpoint is shut down")]
    ShutDown,
}

/// A frame could not be encoded, read or decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The frame is larger than the agreed maximum; it is refused before any buffer is allocated.
    #[error("frame of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The frame's payload size.
        size: usize,
        /// The maximum payload size.
        max: usize,
    },
    /// bincode could not encode the value.
    #[error("encoding a frame: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// bincode could not decode the payload into the expected type.
    #[error("decoding a frame: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// The payload decoded but bytes were left over, so sender and receiver disagree on the type.
    #[error("decoding a frame: {extra} bytes left over after the value")]
    TrailingBytes {
        /// How many bytes were not consumed.
        extra: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("the stream ended in the middle of a frame")]
    Truncated,
    /// Reading the stream failed.
    #[error("reading a frame: {0}")]
    Io(#[from] io::Error),
}
