//! Shipping this node's ops to its peers as they are made, a batch's ops in one frame.
//!
//! One frame per op cost each op a frame of its own: an encoding, a queue slot, a length prefix
//! and, on the receiving side, a decode and a causal-past check under the tenant lock. So ops
//! made while a connection handles a batch of lines wait until the batch ends
//! (`outbound::at_batch_end`) and go out together: consecutive ops of one tenant in frames of at
//! most [`MAX_OPS_PER_FRAME`], each frame carrying the causal past of its last op, which covers
//! every op before it. An op made outside a batch goes out at once, unless ops of a batch still
//! open on another thread are waiting: it then goes with them, when that batch ends. Pending ops
//! are shipped in the order they were made, whichever thread ships them.

use std::sync::Arc;

use latticed_actors::outbound::at_batch_end;
use latticed_cluster::ClusterHandle;
use latticed_crdt::{Op, TenantId};
use latticed_eventlog::{Entry, EventLog, VersionVector};
use parking_lot::Mutex;

use crate::cluster_metrics::ReplMetrics;
use crate::lagging::Lagging;
use crate::replication::ReplFrame;

/// Most ops in one live frame: a frame is one queue slot, and a peer whose queue is full is sent
/// the rest from the log, so frames stay small enough to keep the queue a fair measure.
const MAX_OPS_PER_FRAME: usize = 64;

/// An op made here and not shipped yet.
struct Pending {
    op: Op,
    /// Its causal past (what this node had applied of other origins when it made it).
    after: VersionVector,
}

/// Ships local ops to every linked peer, live or, for a peer whose queue was full, from the log.
pub(crate) struct Shipper {
    cluster: ClusterHandle<ReplFrame>,
    metrics: ReplMetrics,
    lagging: Arc<Lagging>,
    /// Ops waiting for the end of the batch they were made in, in the order they were made.
    pending: Mutex<Vec<Pending>>,
}

impl Shipper {
    /// A shipper whose lagging peers are served from `log`.
    pub fn new(log: EventLog, cluster: ClusterHandle<ReplFrame>, metrics: ReplMetrics) -> Self {
        Shipper {
            lagging: Arc::new(Lagging::new(log, cluster.clone(), metrics.clone())),
            cluster,
            metrics,
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Ships `op` (made here, appended to the log already) when the batch open on this thread
    /// ends, with the ops made meanwhile, or at once outside a batch.
    pub fn ship(self: &Arc<Self>, op: &Op, after: VersionVector) {
        let first = {
            let mut pending = self.pending.lock();
            pending.push(Pending {
                op: op.clone(),
                after,
            });
            pending.len() == 1
        };
        if first {
            let shipper = Arc::clone(self);
            at_batch_end(move || shipper.ship_pending());
        }
    }

    /// Ships every pending op: consecutive ops of one tenant in frames of at most
    /// [`MAX_OPS_PER_FRAME`]. The queue stays locked meanwhile, so a flush on another thread
    /// cannot overtake this one.
    fn ship_pending(&self) {
        let mut pending = self.pending.lock();
        let mut ops = std::mem::take(&mut *pending).into_iter().peekable();
        while let Some(first) = ops.next() {
            let tenant = first.op.tenant.clone();
            let mut after = first.after;
            let mut entries = vec![Entry::Op(first.op)];
            while entries.len() < MAX_OPS_PER_FRAME {
                let Some(next) = ops.next_if(|next| next.op.tenant == tenant) else {
                    break;
                };
                after = next.after;
                entries.push(Entry::Op(next.op));
            }
            self.ship_frame(tenant, after, entries);
        }
    }

    /// Queues one frame of consecutive ops of `tenant` for every peer not being sent them from
    /// the log; a peer whose queue refuses it is sent them from the log from then on.
    fn ship_frame(&self, tenant: TenantId, after: VersionVector, entries: Vec<Entry>) {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return;
        };
        let (origin, first, last) = (first.id().origin, first.id().seq, last.id().seq);
        let count = entries.len() as u64;
        let frame = ReplFrame::Ops {
            tenant: tenant.clone(),
            after: Some(after),
            entries,
        };
        let tenant = &tenant;
        let shipped = self.cluster.encode(&frame).and_then(|encoded| {
            let mut table = self.lagging.table.lock();
            let outcome = self
                .cluster
                .broadcast_except(&encoded, |peer| table.defer(peer, tenant, last))?;
            for peer in outcome.full {
                if table.start(peer, tenant, first, last) {
                    tokio::spawn(
                        self.lagging
                            .clone()
                            .send_from_log(peer, tenant.clone(), origin),
                    );
                }
            }
            Ok(())
        });
        match shipped {
            Ok(()) => self.metrics.ops_shipped.inc_by(count),
            Err(err) => {
                tracing::warn!(%err, %tenant, first, last, "could not ship ops to peers; they will catch up")
            }
        }
    }
}
