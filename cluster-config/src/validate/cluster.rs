//! Rules for the `[cluster]` section: a secret worth the name, PEM files that are there, timeouts that
//! keep a healthy link up, and a peer list this node can really dial.

use std::collections::HashMap;

use super::{listeners, text, Checker};
use crate::cluster::{ClusterConfig, PeerConfig};
use crate::error::ConfigError;
use crate::node::NodeConfig;

/// Longest grace period: a day. Longer would keep a dead node's users visible for days.
const MAX_GRACE_PERIOD_SECS: u64 = 86_400;
/// Most frames one cluster link may queue: about 300 MB of typical op frames.
const MAX_LINK_QUEUE_FRAMES: usize = 1 << 20;
/// Longest idle timeout: ten minutes. Longer and a dead peer would go unnoticed for too long.
const MAX_IDLE_TIMEOUT_MS: u64 = 600_000;

impl Checker<'_> {
    /// Checks the cluster section against this node's identity (`node`).
    pub(super) fn cluster(
        &self,
        cluster: &ClusterConfig,
        node: &NodeConfig,
    ) -> Result<(), ConfigError> {
        self.at("cluster.secret", text::cluster_secret(&cluster.secret))?;
        for (field, path, what) in [
            ("ca", &cluster.ca, "cluster CA certificate"),
            ("cert", &cluster.cert, "node certificate"),
            ("key", &cluster.key, "node key"),
        ] {
            self.at(&format!("cluster.{field}"), listeners::tls_file(path, what))?;
        }
        self.range("cluster.keepalive_ms", cluster.keepalive_ms, 100..=60_000)?;
        self.range(
            "cluster.idle_timeout_ms",
            cluster.idle_timeout_ms,
            200..=MAX_IDLE_TIMEOUT_MS,
        )?;
        if cluster.idle_timeout_ms < 2 * cluster.keepalive_ms {
            return Err(self.error(
                "cluster.idle_timeout_ms",
                format!(
                    "must be at least twice keepalive_ms ({}), so one lost keep-alive does not drop a link; got {}",
                    cluster.keepalive_ms, cluster.idle_timeout_ms
                ),
            ));
        }
        self.range(
            "cluster.grace_period_secs",
            cluster.grace_period_secs,
            0..=MAX_GRACE_PERIOD_SECS,
        )?;
        self.range(
            "cluster.link_queue_frames",
            cluster.link_queue_frames,
            1..=MAX_LINK_QUEUE_FRAMES,
        )?;
        self.peers(cluster, node)
    }

    fn peers(&self, cluster: &ClusterConfig, node: &NodeConfig) -> Result<(), ConfigError> {
        let mut ids: HashMap<u32, usize> = HashMap::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        for (index, peer) in cluster.peers.iter().enumerate() {
            let key = format!("cluster.peers[{index}]");
            self.peer(&key, peer, cluster, node)?;
            if let Some(first) = ids.insert(peer.id, index) {
                return Err(self.error(
                    format!("{key}.id"),
                    format!("id {} is already used by peers[{first}]", peer.id),
                ));
            }
            if let Some(first) = names.insert(peer.name.to_ascii_lowercase(), index) {
                return Err(self.error(
                    format!("{key}.name"),
                    format!("name {:?} is already used by peers[{first}]", peer.name),
                ));
            }
        }
        Ok(())
    }

    fn peer(
        &self,
        key: &str,
        peer: &PeerConfig,
        cluster: &ClusterConfig,
        node: &NodeConfig,
    ) -> Result<(), ConfigError> {
        self.range(&format!("{key}.id"), peer.id, 1..=999)?;
        if peer.id == node.id {
            return Err(self.error(
                format!("{key}.id"),
                format!(
                    "{} is this node's own id (node.id); list only the other nodes",
                    peer.id
                ),
            ));
        }
        self.at(&format!("{key}.name"), text::server_name(&peer.name))?;
        if peer.name.eq_ignore_ascii_case(&node.name) {
            return Err(self.error(
                format!("{key}.name"),
                format!(
                    "{:?} is this node's own name (node.name); list only the other nodes",
                    peer.name
                ),
            ));
        }
        let address = peer.address;
        if address.ip().is_unspecified() || address.port() == 0 {
            return Err(self.error(
                format!("{key}.address"),
                format!("{address} cannot be dialed: give the peer's real IP address and port"),
            ));
        }
        if address == cluster.listen {
            return Err(self.error(
                format!("{key}.address"),
                format!("{address} is this node's own cluster.listen address"),
            ));
        }
        Ok(())
    }
}
