//! Peers that fell behind this node's live ops, and the task that brings each back.
//!
//! A node ships the ops it makes to every linked peer through that link's bounded queue
//! (shipping.rs). When a burst filled a peer's queue, dropping the op and letting the peer notice
//! the gap made every later live op a gap too: each one triggered a version-vector exchange and
//! a catch-up, the catch-ups overlapped, and an 8 000-message burst took seconds to reach the far
//! nodes, some of it not at all within ten seconds (docs/benchmarks.md). Instead, from the first
//! frame a peer's queue refuses, that peer gets no live ops of that tenant: one task sends it
//! this node's ops from the event log, in order, in catch-up sized frames, waiting for room in
//! the queue; once it has sent every op recorded meanwhile, live shipping resumes. The frames the
//! queue held before are ahead of those on the same stream, so the peer sees every op once and
//! in order.

use std::collections::HashMap;
use std::sync::Arc;

use latticed_cluster::{ClusterHandle, NodeId};
use latticed_crdt::TenantId;
use latticed_eventlog::EventLog;
use parking_lot::Mutex;

use crate::cluster_metrics::ReplMetrics;
use crate::replication::{ReplFrame, CATCH_UP_BATCH};

/// How far a lagging peer has been sent this node's ops of one tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lag {
    /// Highest seq sent to the peer (queued on its link).
    shipped: u64,
    /// Highest seq recorded here since the peer began lagging.
    recorded: u64,
}

/// Which peers are sent which tenants' ops from the log, and how far. Looked up for every op
/// and peer, so keyed without building a key (no tenant name is cloned on the live path).
#[derive(Debug, Default)]
pub(crate) struct LagTable {
    lagging: HashMap<NodeId, HashMap<TenantId, Lag>>,
}

impl LagTable {
    fn lag(&mut self, peer: NodeId, tenant: &TenantId) -> Option<&mut Lag> {
        self.lagging.get_mut(&peer)?.get_mut(tenant)
    }

    /// Whether op `seq` of `tenant` is to be left out of the live frames for `peer`, because
    /// that peer is sent the tenant's ops from the log; if so, the op is noted as recorded.
    pub fn defer(&mut self, peer: NodeId, tenant: &TenantId, seq: u64) -> bool {
        match self.lag(peer, tenant) {
            Some(lag) => {
                lag.recorded = lag.recorded.max(seq);
                true
            }
            None => false,
        }
    }

    /// `peer`'s queue refused the frame of ops `first..=last` of `tenant`: from `first` on, the
    /// peer is sent from the log. True if it was not lagging before, so a task must start
    /// sending to it.
    pub fn start(&mut self, peer: NodeId, tenant: &TenantId, first: u64, last: u64) -> bool {
        if self.defer(peer, tenant, last) {
            return false;
        }
        self.lagging.entry(peer).or_default().insert(
            tenant.clone(),
            Lag {
                shipped: first.saturating_sub(1),
                recorded: last,
            },
        );
        true
    }

    /// The last seq sent to a lagging peer, where its next frame from the log starts.
    pub fn shipped(&self, peer: NodeId, tenant: &TenantId) -> Option<u64> {
        Some(self.lagging.get(&peer)?.get(tenant)?.shipped)
    }

    /// Ops up to `seq` were queued for `peer`. True once every op recorded since it began
    /// lagging was: it is then sent live again.
    pub fn advance(&mut self, peer: NodeId, tenant: &TenantId, seq: u64) -> bool {
        let Some(lag) = self.lag(peer, tenant) else {
            return true;
        };
        lag.shipped = lag.shipped.max(seq);
        if lag.shipped < lag.recorded {
            return false;
        }
        self.forget(peer, tenant);
        true
    }

    /// Stops sending `peer` from the log (its link went down: the version-vector exchange of
    /// the next link sends it what it lacks).
    pub fn forget(&mut self, peer: NodeId, tenant: &TenantId) {
        if let Some(tenants) = self.lagging.get_mut(&peer) {
            tenants.remove(tenant);
            if tenants.is_empty() {
                self.lagging.remove(&peer);
            }
        }
    }
}

/// What the tasks that send lagging peers their ops from the log share with the live path.
pub(crate) struct Lagging {
    /// The table the live path consults for every op.
    pub table: Mutex<LagTable>,
    log: EventLog,
    cluster: ClusterHandle<ReplFrame>,
    metrics: ReplMetrics,
}

impl Lagging {
    pub fn new(log: EventLog, cluster: ClusterHandle<ReplFrame>, metrics: ReplMetrics) -> Self {
        Lagging {
            table: Mutex::new(LagTable::default()),
            log,
            cluster,
            metrics,
        }
    }

    /// Sends `peer` the ops of `tenant` this node made (as `origin`, its current incarnation)
    /// from the log, from where its queue refused one, until it has every op recorded meanwhile;
    /// then returns, and live shipping resumes.
    pub async fn send_from_log(self: Arc<Self>, peer: NodeId, tenant: TenantId, origin: NodeId) {
        tracing::info!(%peer, %tenant, "link queue full; sending this node's ops from the event log until the peer has caught up");
        // Whether the previous read found nothing: an op may be noted between an empty read and
        // the check after it (it was appended after the read began), so one more read is due.
        let mut empty_before = false;
        loop {
            let Some(shipped) = self.table.lock().shipped(peer, &tenant) else {
                return;
            };
            let (log, t) = (self.log.clone(), tenant.clone());
            let read = tokio::task::spawn_blocking(move || {
                log.origin_ops_after(&t, origin, shipped, CATCH_UP_BATCH)
                    .map_err(|err| format!("{err:#}"))
            })
            .await
            .unwrap_or_else(|err| Err(err.to_string()));
            let entries = match read {
                Ok(entries) => entries,
                Err(err) => {
                    tracing::error!(%peer, %tenant, %err, "reading ops for a lagging peer failed; it gets them through a version-vector exchange");
                    self.table.lock().forget(peer, &tenant);
                    return;
                }
            };
            let Some(last) = entries.last().map(|entry| entry.id().seq) else {
                // Every op is appended before the live path notes it, and the read waits for
                // pending appends: two empty reads in a row with ops still noted mean the log
                // lacks them.
                if self.table.lock().advance(peer, &tenant, shipped) {
                    return;
                }
                if empty_before {
                    tracing::error!(%peer, %tenant, shipped, "the log lacks ops recorded for a lagging peer; it gets them through a version-vector exchange");
                    self.table.lock().forget(peer, &tenant);
                    return;
                }
                empty_before = true;
                continue;
            };
            empty_before = false;
            let count = entries.len() as u64;
            let frame = ReplFrame::Ops {
                tenant: tenant.clone(),
                after: None,
                entries,
            };
            if let Err(err) = self.cluster.send_wait(peer, &frame).await {
                tracing::warn!(%peer, %tenant, %err, "sending ops from the log stopped; the next link's version-vector exchange takes over");
                self.table.lock().forget(peer, &tenant);
                return;
            }
            self.metrics.ops_sent_from_log.inc_by(count);
            if self.table.lock().advance(peer, &tenant, last) {
                tracing::info!(%peer, %tenant, "lagging peer caught up; shipping live again");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> TenantId {
        TenantId("t".into())
    }

    #[test]
    fn a_peer_is_sent_from_the_log_from_the_refused_op_until_it_has_every_later_one() {
        let mut table = LagTable::default();
        let (p, q) = (NodeId(2), NodeId(3));
        assert!(!table.defer(p, &t(), 9));
        assert!(table.start(p, &t(), 10, 10));
        assert_eq!(table.shipped(p, &t()), Some(9));
        assert!(
            !table.start(p, &t(), 11, 11),
            "one task per peer and tenant"
        );
        assert!(table.defer(p, &t(), 12));
        assert!(!table.defer(q, &t(), 12), "other peers stay live");
        assert!(
            !table.defer(p, &TenantId("u".into()), 12),
            "and other tenants"
        );
        assert!(!table.advance(p, &t(), 11));
        assert_eq!(table.shipped(p, &t()), Some(11));
        assert!(table.defer(p, &t(), 13));
        assert!(table.advance(p, &t(), 13), "caught up");
        assert!(!table.defer(p, &t(), 14), "live again");
        assert_eq!(table.shipped(p, &t()), None);
    }

    #[test]
    fn a_forgotten_peer_is_live_again() {
        let mut table = LagTable::default();
        assert!(table.start(NodeId(2), &t(), 1, 4));
        assert_eq!(table.shipped(NodeId(2), &t()), Some(0));
        assert!(
            !table.advance(NodeId(2), &t(), 3),
            "the whole refused frame is owed"
        );
        table.forget(NodeId(2), &t());
        assert!(!table.defer(NodeId(2), &t(), 2));
        assert!(table.advance(NodeId(2), &t(), 2));
    }
}
