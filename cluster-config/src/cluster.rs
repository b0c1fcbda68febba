//! The `[cluster]` section: how this node links to the other nodes of its cluster (ARCHITECTURE §4).
//!
//! Leaving the section out gives a single node, a cluster of one. With it, the node listens for QUIC
//! links on `listen`, proves its identity with a certificate signed by the cluster CA plus the shared
//! `secret`, and dials every node listed in `peers`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Cluster membership and link settings. Relative `ca`, `cert` and `key` paths are resolved against
/// the config file's directory when the file is loaded.
///
/// `Debug` prints the secret as `<redacted>`, so the struct can be logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// UDP address the node's QUIC endpoint binds, for links in both directions.
    pub listen: SocketAddr,
    /// Shared secret every node must prove it knows during the link handshake: a second factor
    /// next to the certificate, 16 to 1024 bytes of printable text.
    pub secret: String,
    /// PEM file with the cluster CA certificate that signed every node's certificate.
    pub ca: PathBuf,
    /// PEM file with this node's certificate, issued by the cluster CA for `node.name`.
    pub cert: PathBuf,
    /// PEM file with this node's private key (keep it readable by the node only).
    pub key: PathBuf,
    /// Milliseconds between QUIC keep-alives on an idle link (100..=60000).
    #[serde(default = "default_keepalive_ms")]
    pub keepalive_ms: u64,
    /// Milliseconds of silence after which a link is declared dead (at least twice `keepalive_ms`,
    /// at most 600000). This is how fast a lost peer is noticed.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Seconds a lost peer's users stay visible before local clients see them quit (0..=86400),
    /// so a short split is invisible to users.
    #[serde(default = "default_grace_period_secs")]
    pub grace_period_secs: u64,
    /// Frames that may wait to be sent on one link (1..=1048576). Past it, this node's new ops are
    /// not queued for that peer live: it gets them from the event log, in order, once the link
    /// has room again, so a burst bigger than the queue costs latency, never ops.
    #[serde(default = "default_link_queue_frames")]
    pub link_queue_frames: usize,
    /// Accept links from nodes that are not in `peers` but hold a certificate signed by the cluster
    /// CA (and know the secret). Needed on a running cluster for new nodes to `--join` it.
    #[serde(default)]
    pub allow_join: bool,
    /// The other nodes of the cluster, each dialed and kept linked.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
}

fn default_keepalive_ms() -> u64 {
    1000
}

fn default_idle_timeout_ms() -> u64 {
    5000
}

fn default_grace_period_secs() -> u64 {
    30
}

fn default_link_queue_frames() -> usize {
    1024
}

impl ClusterConfig {
    /// A config with the given required fields and every optional key at its default, for configs
    /// built in code (tests, tools).
    pub fn new(
        listen: SocketAddr,
        secret: impl Into<String>,
        ca: PathBuf,
        cert: PathBuf,
        key: PathBuf,
    ) -> Self {
        Self {
            listen,
            secret: secret.into(),
            ca,
            cert,
            key,
            keepalive_ms: default_keepalive_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
            grace_period_secs: default_grace_period_secs(),
            link_queue_frames: default_link_queue_frames(),
            allow_join: false,
            peers: Vec::new(),
        }
    }

    /// `keepalive_ms` as a `Duration`, ready for the transport.
    pub fn keepalive(&self) -> Duration {
        Duration::from_millis(self.keepalive_ms)
    }

    /// `idle_timeout_ms` as a `Duration`, ready for the transport.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    /// `grace_period_secs` as a `Duration`, ready for a timer.
    pub fn grace_period(&self) -> Duration {
        Duration::from_secs(self.grace_period_secs)
    }
}

impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("listen", &self.listen)
            .field("secret", &"<redacted>")
            .field("ca", &self.ca)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("keepalive_ms", &self.keepalive_ms)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .field("grace_period_secs", &self.grace_period_secs)
            .field("link_queue_frames", &self.link_queue_frames)
            .field("allow_join", &self.allow_join)
            .field("peers", &self.peers)
            .finish()
    }
}

/// Another node of the cluster, as this node dials and recognises it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The peer's `node.id` (1..=999); its link is refused if the peer claims another id.
    pub id: u32,
    /// The peer's `node.name`, which is also the DNS name its certificate was issued for.
    pub name: String,
    /// The peer's `cluster.listen` address as reachable from this node (IP and port).
    pub address: SocketAddr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_secret() {
        let config = ClusterConfig::new(
            "127.0.0.1:7000".parse().expect("addr"),
            "a very secret cluster phrase",
            "ca.pem".into(),
            "node.pem".into(),
            "node.key".into(),
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("very secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert_eq!(config.keepalive(), Duration::from_secs(1));
        assert_eq!(config.idle_timeout(), Duration::from_secs(5));
        assert_eq!(config.grace_period(), Duration::from_secs(30));
    }
}
