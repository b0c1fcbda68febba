//! Everything [`Cluster::start`](crate::Cluster::start) needs, with the PEM texts already read, so
//! tests can build it from generated certificates and the node from its config file.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use latticed_config::{ClusterConfig, NodeConfig};
use latticed_crdt::NodeId;
use rustls::pki_types::ServerName;

use crate::error::ClusterError;
use crate::frame::MAX_FRAME_BYTES;
use crate::membership::PeerInfo;

/// Frames that may wait for one peer before [`send`](crate::ClusterHandle::send) reports the queue
/// full: enough for a burst of replication batches, small enough to notice a stuck peer quickly.
pub const DEFAULT_QUEUE_FRAMES: usize = 1024;
/// Events that may wait for the receiver before the links stop reading (QUIC flow control then
/// slows the senders down).
pub const DEFAULT_EVENT_CAPACITY: usize = 4096;

/// Reconnect delays: the first retry after `initial`, doubling up to `max`, each with random jitter
/// so that nodes restarted together do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffSettings {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Longest delay between retries.
    pub max: Duration,
}

impl Default for BackoffSettings {
    /// 100 ms, doubling up to 5 s.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

/// How this node takes part in the cluster.
#[derive(Clone)]
pub struct ClusterSettings {
    /// This node's `node.id`.
    pub node_id: NodeId,
    /// This node's `node.name`; its certificate must be issued for it.
    pub node_name: String,
    /// UDP address to bind (port 0 picks a free one; see [`ClusterHandle::local_addr`](crate::ClusterHandle::local_addr)).
    pub listen: SocketAddr,
    /// PEM of the cluster CA certificate.
    pub ca_pem: String,
    /// PEM of this node's certificate (chain).
    pub cert_pem: String,
    /// PEM of this node's private key.
    pub key_pem: String,
    /// The shared cluster secret.
    pub secret: String,
    /// The configured peers, each dialed and admitted under exactly this id and name.
    pub peers: Vec<PeerInfo>,
    /// Admit nodes the CA signed that are not in `peers`, and learn peers from other nodes.
    pub allow_join: bool,
    /// Dial this address first and learn the cluster from whoever answers (`latticed run --join`);
    /// implies admitting and learning unlisted nodes.
    pub join: Option<SocketAddr>,
    /// QUIC keep-alive interval.
    pub keepalive: Duration,
    /// QUIC idle timeout: how long a silent link lives. Also bounds each handshake.
    pub idle_timeout: Duration,
    /// Frames that may wait per peer before sends are refused.
    pub queue_frames: usize,
    /// Capacity of the event channel.
    pub event_capacity: usize,
    /// Largest frame payload sent or accepted, at most [`MAX_FRAME_BYTES`].
    pub max_frame_bytes: usize,
    /// Reconnect delays.
    pub backoff: BackoffSettings,
    /// The version of the frames the application sends (the encoding of `T`): a peer whose
    /// version differs is refused at the handshake with a reason naming both, instead of
    /// linking and failing on the first frame it cannot decode. Raise it with every change to
    /// that encoding. 0 in [`ClusterSettings::new`].
    pub payload_version: u32,
}

impl ClusterSettings {
    /// Settings with no peers, no join, and defaults for everything that has one (1 s keep-alive,
    /// 5 s idle timeout, [`DEFAULT_QUEUE_FRAMES`], [`DEFAULT_EVENT_CAPACITY`], [`MAX_FRAME_BYTES`]).
    pub fn new(
        node_id: NodeId,
        node_name: impl Into<String>,
        listen: SocketAddr,
        ca_pem: impl Into<String>,
        cert_pem: impl Into<String>,
        key_pem: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        Self {
            node_id,
            node_name: node_name.into(),
            listen,
            ca_pem: ca_pem.into(),
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
            secret: secret.into(),
            peers: Vec::new(),
            allow_join: false,
            join: None,
            keepalive: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(5),
            queue_frames: DEFAULT_QUEUE_FRAMES,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            max_frame_bytes: MAX_FRAME_BYTES,
            backoff: BackoffSettings::default(),
            payload_version: 0,
        }
    }

    /// Settings for a node from its validated config: reads the three PEM files named in `cluster`.
    /// `join` comes from the command line (`latticed run --join HOST:PORT`).
    pub fn from_config(
        node: &NodeConfig,
        cluster: &ClusterConfig,
        join: Option<SocketAddr>,
    ) -> Result<Self, ClusterError> {
        let mut settings = Self::new(
            NodeId(node.id),
            node.name.clone(),
            cluster.listen,
            read_pem(&cluster.ca, "the cluster CA certificate")?,
            read_pem(&cluster.cert, "the node certificate")?,
            read_pem(&cluster.key, "the node key")?,
            cluster.secret.clone(),
        );
        settings.peers = cluster
            .peers
            .iter()
            .map(|peer| PeerInfo {
                id: NodeId(peer.id),
                name: peer.name.clone(),
                address: peer.address,
            })
            .collect();
        settings.allow_join = cluster.allow_join;
        settings.join = join;
        settings.keepalive = cluster.keepalive();
        settings.idle_timeout = cluster.idle_timeout();
        settings.queue_frames = cluster.link_queue_frames;
        Ok(settings)
    }

    /// Whether nodes outside `peers` are admitted and learned.
    pub(crate) fn admits_unlisted(&self) -> bool {
        self.allow_join || self.join.is_some()
    }

    /// Checks what the types cannot: the rules a config file would have been validated against,
    /// for settings built in code.
    pub(crate) fn validate(&self) -> Result<(), ClusterError> {
        let invalid = |reason: String| Err(ClusterError::InvalidSettings(reason));
        if self.secret.len() < 16 {
            return invalid("the cluster secret must be at least 16 bytes".to_owned());
        }
        if self.keepalive.is_zero() || self.idle_timeout < self.keepalive.saturating_mul(2) {
            return invalid(format!(
                "the idle timeout ({:?}) must be at least twice the keep-alive interval ({:?})",
                self.idle_timeout, self.keepalive
            ));
        }
        if self.queue_frames == 0 || self.event_capacity == 0 {
            return invalid("queue_frames and event_capacity must be at least 1".to_owned());
        }
        if !(1024..=MAX_FRAME_BYTES).contains(&self.max_frame_bytes) {
            return invalid(format!(
                "max_frame_bytes must be between 1024 and {MAX_FRAME_BYTES}"
            ));
        }
        if self.backoff.initial.is_zero() || self.backoff.max < self.backoff.initial {
            return invalid(
                "the backoff must start above zero and not exceed its maximum".to_owned(),
            );
        }
        if !is_dns_name(&self.node_name) {
            return invalid(format!("node name {:?} is not a DNS name", self.node_name));
        }
        for peer in &self.peers {
            if !is_dns_name(&peer.name) {
                return invalid(format!("peer name {:?} is not a DNS name", peer.name));
            }
            if peer.id == self.node_id || peer.name.eq_ignore_ascii_case(&self.node_name) {
                return invalid(format!("peer {} ({}) is this node", peer.id, peer.name));
            }
            if self
                .peers
                .iter()
                .filter(|other| other.id == peer.id)
                .count()
                > 1
            {
                return invalid(format!("peer id {} is listed twice", peer.id));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSettings")
            .field("node_id", &self.node_id)
            .field("node_name", &self.node_name)
            .field("listen", &self.listen)
            .field("secret", &"<redacted>")
            .field("key_pem", &"<redacted>")
            .field("peers", &self.peers)
            .field("allow_join", &self.allow_join)
            .field("join", &self.join)
            .field("keepalive", &self.keepalive)
            .field("idle_timeout", &self.idle_timeout)
            .field("queue_frames", &self.queue_frames)
            .field("event_capacity", &self.event_capacity)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("backoff", &self.backoff)
            .field("payload_version", &self.payload_version)
            .finish_non_exhaustive()
    }
}

/// Whether `name` can be a certificate's DNS name and a TLS server name.
fn is_dns_name(name: &str) -> bool {
    matches!(ServerName::try_from(name), Ok(ServerName::DnsName(_)))
}

fn read_pem(path: &Path, what: &'static str) -> Result<String, ClusterError> {
    std::fs::read_to_string(path).map_err(|source| ClusterError::ReadFile {
        what,
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ClusterSettings {
        let mut settings = ClusterSettings::new(
            NodeId(1),
            "irc1.example.net",
            "127.0.0.1:0".parse().expect("addr"),
            "ca",
            "cert",
            "key",
            "a long shared cluster secret",
        );
        settings.peers.push(PeerInfo {
            id: NodeId(2),
            name: "irc2.example.net".to_owned(),
            address: "127.0.0.1:7002".parse().expect("addr"),
        });
        settings
    }

    fn reason(edit: impl FnOnce(&mut ClusterSettings)) -> String {
        let mut settings = valid();
        edit(&mut settings);
        match settings.validate() {
            Err(ClusterError::InvalidSettings(reason)) => reason,
            other => panic!("expected invalid settings, got {other:?}"),
        }
    }

    #[test]
    fn defaults_with_a_peer_are_valid() {
        assert!(valid().validate().is_ok());
        assert!(!valid().admits_unlisted());
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        assert!(reason(|s| s.secret = "short".into()).contains("at least 16 bytes"));
        assert!(reason(|s| s.idle_timeout = Duration::from_millis(1500))
            .contains("at least twice the keep-alive"));
        assert!(reason(|s| s.queue_frames = 0).contains("at least 1"));
        assert!(reason(|s| s.max_frame_bytes = MAX_FRAME_BYTES + 1).contains("max_frame_bytes"));
        assert!(reason(|s| s.backoff.max = Duration::ZERO).contains("backoff"));
        assert!(reason(|s| s.node_name = "not a name".into()).contains("not a DNS name"));
        assert!(reason(|s| s.peers[0].name = "bad name".into()).contains("not a DNS name"));
        assert!(reason(|s| s.peers[0].id = NodeId(1)).contains("is this node"));
        assert!(reason(|s| {
            let twin = s.peers[0].clone();
            s.peers.push(twin);
        })
        .contains("listed twice"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let shown = format!("{:?}", valid());
        assert!(!shown.contains("a long shared cluster secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn a_join_address_admits_unlisted_nodes() {
        let mut settings = valid();
        settings.join = Some("127.0.0.1:7000".parse().expect("addr"));
        assert!(settings.admits_unlisted());
    }
}
