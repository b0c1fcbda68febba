//! Prometheus metrics of the cluster: links, round-trip times, ops shipped and applied,
//! replication lag per peer, heal events. Labels are node ids (bounded by the cluster's size).

use prometheus::{GaugeVec, IntCounter, IntGauge, IntGaugeVec, Opts, Registry};

/// The cluster metric families.
#[derive(Clone)]
pub struct ReplMetrics {
    /// Peers with a link up.
    pub peers_up: IntGauge,
    /// Round-trip time per peer, from QUIC's estimate.
    pub rtt_seconds: GaugeVec,
    /// Frames written to cluster links since start (ops travel several to a frame).
    pub frames_sent: IntCounter,
    /// Frames read from cluster links since start.
    pub frames_received: IntCounter,
    /// Bytes written to cluster links since start.
    pub bytes_sent: IntCounter,
    /// Bytes read from cluster links since start.
    pub bytes_received: IntCounter,
    /// Local ops broadcast to peers.
    pub ops_shipped: IntCounter,
    /// Ops from peers applied here.
    pub ops_applied: IntCounter,
    /// Local ops a peer got from the event log instead of live, because its link queue was full
    /// (counted once per peer and op).
    pub ops_sent_from_log: IntCounter,
    /// Peers' live ops passed on to peers whose own link to their origin is down (reach.rs),
    /// counted once per receiving peer and op.
    pub ops_relayed: IntCounter,
    /// Ops a peer lacked when it last told us its version vector.
    pub lag_ops: IntGaugeVec,
    /// A peer linked again after its link went down.
    pub heals: IntCounter,
    /// A peer stayed unreachable past the grace period and its users were shown as split.
    pub split_expiries: IntCounter,
    /// Tenant snapshots sent to peers that held none of the tenant's ops.
    pub snapshots_sent: IntCounter,
    /// Tenants this node started from a peer's snapshot.
    pub snapshots_applied: IntCounter,
}

impl ReplMetrics {
    /// Register the families in `registry`.
    pub fn register(registry: &Registry) -> Result<ReplMetrics, prometheus::Error> {
        let m = ReplMetrics {
            peers_up: IntGauge::new("latticed_cluster_peers_up", "Peers with a cluster link up")?,
            rtt_seconds: GaugeVec::new(
                Opts::new(
                    "latticed_cluster_link_rtt_seconds",
                    "Round-trip time of a cluster link",
                ),
                &["peer"],
            )?,
            frames_sent: IntCounter::new(
                "latticed_cluster_frames_sent_total",
                "Frames written to cluster links",
            )?,
            frames_received: IntCounter::new(
                "latticed_cluster_frames_received_total",
                "Frames read from cluster links",
            )?,
            bytes_sent: IntCounter::new(
                "latticed_cluster_bytes_sent_total",
                "Bytes written to cluster links (frames with their length prefix)",
            )?,
            bytes_received: IntCounter::new(
                "latticed_cluster_bytes_received_total",
                "Bytes read from cluster links (frames with their length prefix)",
            )?,
            ops_shipped: IntCounter::new(
                "latticed_replication_ops_shipped_total",
                "Local ops sent to peers",
            )?,
            ops_sent_from_log: IntCounter::new(
                "latticed_replication_ops_sent_from_log_total",
                "Local ops a peer got from the event log, in order, because its link queue was full",
            )?,
            ops_relayed: IntCounter::new(
                "latticed_replication_ops_relayed_total",
                "Peers' live ops passed on to peers cut off from their origin (partial partition)",
            )?,
            ops_applied: IntCounter::new(
                "latticed_replication_ops_applied_total",
                "Ops from peers applied on this node",
            )?,
            lag_ops: IntGaugeVec::new(
                Opts::new(
                    "latticed_replication_lag_ops",
                    "Ops a peer lacked at its last version-vector exchange",
                ),
                &["peer"],
            )?,
            heals: IntCounter::new(
                "latticed_cluster_heal_events_total",
                "Links that came back after going down",
            )?,
            split_expiries: IntCounter::new(
                "latticed_cluster_split_expiries_total",
                "Peers unreachable past the grace period, whose users local clients saw quit",
            )?,
            snapshots_sent: IntCounter::new(
                "latticed_replication_snapshots_sent_total",
                "Tenant snapshots sent to peers that held none of the tenant's ops",
            )?,
            snapshots_applied: IntCounter::new(
                "latticed_replication_snapshots_applied_total",
                "Tenants this node started from a peer's snapshot",
            )?,
        };
        registry.register(Box::new(m.peers_up.clone()))?;
        registry.register(Box::new(m.rtt_seconds.clone()))?;
        for counter in [
            &m.frames_sent,
            &m.frames_received,
            &m.bytes_sent,
            &m.bytes_received,
        ] {
            registry.register(Box::new(counter.clone()))?;
        }
        registry.register(Box::new(m.ops_shipped.clone()))?;
        registry.register(Box::new(m.ops_applied.clone()))?;
        registry.register(Box::new(m.ops_sent_from_log.clone()))?;
        registry.register(Box::new(m.ops_relayed.clone()))?;
        registry.register(Box::new(m.lag_ops.clone()))?;
        registry.register(Box::new(m.heals.clone()))?;
        registry.register(Box::new(m.split_expiries.clone()))?;
        registry.register(Box::new(m.snapshots_sent.clone()))?;
        registry.register(Box::new(m.snapshots_applied.clone()))?;
        Ok(m)
    }

    /// Refresh the link gauges from the cluster's current view (called on every scrape).
    pub fn refresh<T: latticed_cluster::Payload>(
        &self,
        cluster: &latticed_cluster::ClusterHandle<T>,
    ) {
        let traffic = cluster.metrics().traffic;
        for (counter, total) in [
            (&self.frames_sent, traffic.frames_sent),
            (&self.frames_received, traffic.frames_received),
            (&self.bytes_sent, traffic.bytes_sent),
            (&self.bytes_received, traffic.bytes_received),
        ] {
            // The cluster keeps the totals; a counter only moves up, by what is new.
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        let peers = cluster.peers();
        self.peers_up.set(peers.len() as i64);
        self.rtt_seconds.reset();
        for peer in peers {
            self.rtt_seconds
                .with_label_values(&[&peer.id.0.to_string()])
                .set(peer.rtt.as_secs_f64());
        }
    }
}
