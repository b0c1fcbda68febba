//! Replication between nodes: every op a node creates is shipped to its peers; when a link comes
//! up the two sides exchange version vectors and send each other exactly what the other lacks;
//! ops from peers are applied through the same path as local ones (and rendered to local clients)
//! and stored in this node's event log, so any node's log holds the whole network. Nodes also
//! tell each other whom they are linked to, so a node cut off from one peer but still linked to
//! another is neither shown as split nor left without that peer's live ops (reach.rs).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use latticed_actors::outbound::WakeBatch;
use latticed_actors::tenant::{incarnation_of, CoreSnapshot, Foreign, Outbox};
use latticed_actors::{OpSink, Tenant};
use latticed_cluster::{ClusterEvent, ClusterHandle, NodeId, SendError};
use latticed_crdt::{Op, OpBody, TenantId};
use latticed_eventlog::{Entry, EventLog, VersionVector};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cluster_metrics::ReplMetrics;
use crate::reach::Reach;
use crate::shipping::Shipper;
use crate::split_timers::SplitTimers;

/// Ops per catch-up frame (also for a lagging peer, lagging.rs).
pub(crate) const CATCH_UP_BATCH: usize = 512;

/// Most op frames applied in one run before local clients are woken (see
/// [`Replicator::receive_queued_ops`]).
const OPS_FRAMES_PER_BATCH: usize = 64;

/// Version of the encoding of [`ReplFrame`] and everything in it (ops, entries, snapshots),
/// checked when two nodes link: a node of another build is refused with both versions named,
/// instead of linking and dropping the link at the first frame it cannot read. Raise it with
/// every change to that encoding. 1: the first versioned form (`Relayed`, `Resync` and `Links`
/// added).
pub const FRAME_VERSION: u32 = 1;

/// What nodes say to each other.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ReplFrame {
    /// "This is what I hold": per tenant, the highest contiguous sequence per origin. The receiver
    /// answers with every op the sender lacks.
    Vectors(Vec<(TenantId, VersionVector)>),
    /// A tenant's state for a peer that holds none of it (a new node, or one whose log was
    /// quarantined): it serves the current state at once, instead of after replaying every op.
    /// The catch-up ops that follow still bring every op into its log (history, later restarts).
    Snapshot {
        /// The tenant.
        tenant: TenantId,
        /// The ops the state includes.
        applied: VersionVector,
        /// The state, as the sender's newest stored snapshot holds it.
        state: Box<CoreSnapshot>,
    },
    /// Ops of one tenant, in sequence order per origin (live, or a catch-up batch).
    Ops {
        /// The tenant.
        tenant: TenantId,
        /// For a live op: what its origin had applied when it made it (its causal past). The
        /// receiver holds the op back until it has applied all of that, so a reply is never
        /// shown before what it answers. None for catch-up batches (ordered per origin only).
        after: Option<VersionVector>,
        /// The ops (or pruned-message placeholders).
        entries: Vec<Entry>,
    },
    /// The ops of an [`ReplFrame::Ops`] frame another node sent of its own, passed on by a node
    /// linked to both because the receiver's own link to that node is down (reach.rs). Applied
    /// like the original; never passed on again.
    Relayed {
        /// The tenant.
        tenant: TenantId,
        /// The causal past of the last op, as its origin sent it (None if it sent none).
        after: Option<VersionVector>,
        /// The origin's ops.
        entries: Vec<Entry>,
    },
    /// "You may lack ops I hold for this tenant: tell me what you hold." Sent by a relay whose
    /// queue to the receiver refused ops to pass on; the receiver answers with its version
    /// vector, and the catch-up that follows brings what was not passed on.
    Resync(TenantId),
    /// "These are the nodes I am linked to now": sent to every linked peer whenever a link of
    /// the sender comes up or goes down, and to a peer when its link comes up.
    Links(Vec<NodeId>),
}

/// An [`OpSink`] that records locally (appending to the event log), then ships the op to every
/// linked peer: live, a batch's ops in one frame (shipping.rs), or from the log to a peer whose
/// link queue was full (lagging.rs).
pub struct ReplicatingSink<S> {
    local: S,
    shipper: Arc<Shipper>,
}

impl<S: OpSink> ReplicatingSink<S> {
    /// Ships what `local` records (it must append each op to `log` before it returns) through
    /// `cluster`.
    pub fn new(
        local: S,
        log: EventLog,
        cluster: ClusterHandle<ReplFrame>,
        metrics: ReplMetrics,
    ) -> Self {
        ReplicatingSink {
            shipper: Arc::new(Shipper::new(log, cluster, metrics)),
            local,
        }
    }
}

impl<S: OpSink> OpSink for ReplicatingSink<S> {
    fn record(&self, op: &Op, seen: &BTreeMap<NodeId, u64>) {
        self.local.record(op, seen);
        let after = seen
            .iter()
            .filter(|(origin, _)| **origin != op.id.origin)
            .map(|(origin, seq)| (*origin, *seq))
            .collect();
        self.shipper.ship(op, after);
    }

    fn persist_clock_ceiling(&self, ceiling: u64) {
        self.local.persist_clock_ceiling(ceiling);
    }

    fn await_clock_ceiling(&self, counter: u64) {
        self.local.await_clock_ceiling(counter);
    }
}

/// Applies peers' frames and answers their catch-up requests.
pub struct Replicator {
    tenants: HashMap<TenantId, Arc<Tenant>>,
    log: EventLog,
    cluster: ClusterHandle<ReplFrame>,
    metrics: ReplMetrics,
    held: parking_lot::Mutex<Vec<HeldFrame>>,
    /// Peers (and tenants) a [`ReplFrame::Resync`] is waiting to be sent to.
    resync_asked: Arc<parking_lot::Mutex<HashSet<(NodeId, TenantId)>>>,
    /// How long an unreachable peer's users stay shown to local clients.
    grace: Duration,
}

/// A live frame waiting for ops in its causal past.
struct HeldFrame {
    from: NodeId,
    tenant: TenantId,
    after: VersionVector,
    entries: Vec<Entry>,
}

/// Most live frames held back at once; past it the oldest are dropped and recovered through a
/// version-vector exchange with their sender (catch-up resends them).
const MAX_HELD: usize = 10_000;

impl Replicator {
    /// A replicator for this node's tenants.
    pub fn new(
        tenants: &[Arc<Tenant>],
        log: EventLog,
        cluster: ClusterHandle<ReplFrame>,
        metrics: ReplMetrics,
        grace: Duration,
    ) -> Self {
        Replicator {
            tenants: tenants.iter().map(|t| (t.id.clone(), t.clone())).collect(),
            log,
            cluster,
            metrics,
            held: parking_lot::Mutex::new(Vec::new()),
            resync_asked: Arc::default(),
            grace,
        }
    }

    /// Handle cluster events until `stop`: first `early` (events read before the replicator
    /// existed, while choosing this incarnation's epoch), then the rest from `events`.
    pub async fn run(
        self: Arc<Self>,
        mut early: VecDeque<ClusterEvent<ReplFrame>>,
        mut events: mpsc::Receiver<ClusterEvent<ReplFrame>>,
        stop: CancellationToken,
    ) {
        let mut seen_down: HashSet<NodeId> = HashSet::new();
        let mut splits = SplitTimers::new(self.grace);
        let mut returning: HashSet<NodeId> = HashSet::new();
        let mut reach = Reach::new(self.cluster.node_id());
        let mut known = self.peers_with_users();
        let start = tokio::time::Instant::now();
        for peer in &known {
            splits.down(*peer, start);
        }
        loop {
            let deadline = splits.next_deadline();
            let event = if let Some(event) = early.pop_front() {
                event
            } else {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = sleep_until_some(deadline) => {
                        for peer in splits.expire(tokio::time::Instant::now()) {
                            self.hide_users_of(peer);
                        }
                        continue;
                    }
                    event = events.recv() => match event {
                        Some(event) => event,
                        None => return,
                    },
                }
            };
            match event {
                ClusterEvent::PeerUp {
                    id, name, epoch, ..
                } => {
                    tracing::info!(peer = %id, %name, epoch, "peer linked; exchanging version vectors");
                    if seen_down.remove(&id) {
                        self.metrics.heals.inc();
                    }
                    reach.up(id);
                    self.reassess(&reach, &mut known, &mut splits, &mut returning);
                    self.tell_links(&reach).await;
                    self.send_vectors(id, None).await;
                }
                ClusterEvent::PeerDown { id, epoch } => {
                    seen_down.insert(id);
                    reach.down(id);
                    if reach.reachable(id) {
                        tracing::warn!(peer = %id, epoch, "peer link down; still reachable through another peer, which passes its ops on");
                    } else {
                        tracing::warn!(peer = %id, epoch, grace_secs = self.grace.as_secs_f64(), "peer link down; its users stay shown for the grace period");
                    }
                    self.reassess(&reach, &mut known, &mut splits, &mut returning);
                    self.tell_links(&reach).await;
                }
                ClusterEvent::Frame { from, frame } => match frame {
                    ReplFrame::Links(links) => {
                        reach.links_of(from, links);
                        self.reassess(&reach, &mut known, &mut splits, &mut returning);
                    }
                    ReplFrame::Resync(tenant) => self.send_vectors(from, Some(&tenant)).await,
                    ReplFrame::Vectors(vectors) => {
                        if returning.remove(&from) {
                            self.show_users_of(from, &vectors);
                        }
                        let this = self.clone();
                        tokio::spawn(async move { this.catch_up(from, vectors).await });
                    }
                    ReplFrame::Snapshot {
                        tenant,
                        applied,
                        state,
                    } => self.receive_snapshot(from, &tenant, applied, *state),
                    frame @ (ReplFrame::Ops { .. } | ReplFrame::Relayed { .. }) => {
                        let resync = {
                            let _wakes = WakeBatch::begin();
                            let mut resync = self.receive_op_frame(&reach, from, frame);
                            if early.is_empty() {
                                resync.extend(self.receive_queued_ops(
                                    &reach,
                                    &mut events,
                                    &mut early,
                                ));
                            }
                            resync
                        };
                        for (peer, tenant) in resync {
                            self.send_vectors(peer, Some(&tenant)).await;
                        }
                    }
                },
            }
        }
    }

    /// Apply the op frames already waiting behind the one just applied (at most
    /// [`OPS_FRAMES_PER_BATCH`]), inside the caller's wake batch: each local client is then woken
    /// once and writes the whole run with one system call, instead of once per op. The first
    /// other event stops the run and is handled next, in order. Returns the resyncs needed.
    fn receive_queued_ops(
        &self,
        reach: &Reach,
        events: &mut mpsc::Receiver<ClusterEvent<ReplFrame>>,
        early: &mut VecDeque<ClusterEvent<ReplFrame>>,
    ) -> Vec<(NodeId, TenantId)> {
        let mut resync = Vec::new();
        for _ in 1..OPS_FRAMES_PER_BATCH {
            match events.try_recv() {
                Ok(ClusterEvent::Frame {
                    from,
                    frame: frame @ (ReplFrame::Ops { .. } | ReplFrame::Relayed { .. }),
                }) => resync.extend(self.receive_op_frame(reach, from, frame)),
                Ok(other) => {
                    early.push_back(other);
                    break;
                }
                Err(_) => break,
            }
        }
        resync
    }

    /// An op frame from `from`: its own ops in it are first passed on to the peers cut off from
    /// it (reach.rs), then either kind is applied. Returns the resyncs needed.
    fn receive_op_frame(
        &self,
        reach: &Reach,
        from: NodeId,
        frame: ReplFrame,
    ) -> Vec<(NodeId, TenantId)> {
        match frame {
            ReplFrame::Ops {
                tenant,
                after,
                entries,
            } => {
                self.relay(reach, from, &tenant, after.as_ref(), &entries);
                self.receive(from, tenant, after, entries)
            }
            ReplFrame::Relayed {
                tenant,
                after,
                entries,
            } => self.receive(from, tenant, after, entries),
            _ => Vec::new(),
        }
    }

    /// Pass `origin`'s own ops in a frame it sent (live, or from its log when its queue to this
    /// node was full) on to the linked peers whose own link to `origin` is down and for which
    /// this node is the relay. Ops of other origins in a catch-up frame are not passed on: they
    /// reach a peer from their own origin or relay. A gap in what a peer is passed starts a
    /// version-vector exchange with this node; a queue that refuses a frame gets, once room is
    /// back, a [`ReplFrame::Resync`], which starts one too.
    fn relay(
        &self,
        reach: &Reach,
        origin: NodeId,
        tenant: &TenantId,
        after: Option<&VersionVector>,
        entries: &[Entry],
    ) {
        let targets = reach.relay_targets(origin);
        if targets.is_empty() {
            return;
        }
        let own: Vec<Entry> = entries
            .iter()
            .filter(|entry| incarnation_of(entry.id().origin).0 == origin)
            .cloned()
            .collect();
        if own.is_empty() {
            return;
        }
        let count = own.len() as u64;
        let frame = ReplFrame::Relayed {
            tenant: tenant.clone(),
            after: after.cloned(),
            entries: own,
        };
        let encoded = match self.cluster.encode(&frame) {
            Ok(encoded) => encoded,
            Err(err) => {
                tracing::warn!(%origin, %err, "could not encode ops to pass on; the peers cut off from their origin resync");
                return;
            }
        };
        for peer in targets {
            match self.cluster.send_encoded(peer, &encoded) {
                Ok(()) => {}
                Err(SendError::QueueFull { .. }) => {
                    self.ask_to_resync(peer, tenant);
                    continue;
                }
                Err(err) => {
                    tracing::debug!(%peer, %err, "could not pass ops on; the peer resyncs when linked");
                    continue;
                }
            }
            self.metrics.ops_relayed.inc_by(count);
        }
    }

    /// `peer`'s queue refused ops to pass on: once it has room, ask it for its version vector
    /// of `tenant` (one request waiting per peer and tenant at most).
    fn ask_to_resync(&self, peer: NodeId, tenant: &TenantId) {
        if !self.resync_asked.lock().insert((peer, tenant.clone())) {
            return;
        }
        let (cluster, asked, tenant) = (
            self.cluster.clone(),
            self.resync_asked.clone(),
            tenant.clone(),
        );
        tokio::spawn(async move {
            let frame = ReplFrame::Resync(tenant.clone());
            if let Err(err) = cluster.send_wait(peer, &frame).await {
                tracing::debug!(%peer, %err, "could not ask a peer to resync; it does when linked again");
            }
            asked.lock().remove(&(peer, tenant));
        });
    }

    /// After this node's links or a peer's changed: start the grace period of every known node
    /// no longer reachable, and end it for those reachable again. Users hidden because their
    /// node's grace period ran out are shown again at once when it is reachable through a peer;
    /// over a link of its own, once its version vectors arrive (`returning`), which tell its
    /// current incarnation.
    fn reassess(
        &self,
        reach: &Reach,
        known: &mut BTreeSet<NodeId>,
        splits: &mut SplitTimers,
        returning: &mut HashSet<NodeId>,
    ) {
        known.extend(reach.known());
        let now = tokio::time::Instant::now();
        for node in known.iter().copied() {
            if !reach.reachable(node) {
                splits.down(node, now);
            } else if splits.up(node) {
                if reach.is_linked(node) {
                    returning.insert(node);
                } else {
                    let vectors: Vec<(TenantId, VersionVector)> = self
                        .tenants
                        .keys()
                        .map(|t| (t.clone(), self.log.version_vector(t)))
                        .collect();
                    self.show_users_of(node, &vectors);
                }
            }
        }
    }

    /// Tell every linked peer whom this node is linked to now.
    async fn tell_links(&self, reach: &Reach) {
        let frame = ReplFrame::Links(reach.linked());
        for peer in reach.linked() {
            if let Err(err) = self.cluster.send_wait(peer, &frame).await {
                tracing::debug!(%peer, %err, "could not tell a peer this node's links");
            }
        }
    }

    /// Nodes other than this one whose users are in some tenant's state but that are not linked
    /// now: at start they count as unreachable, so a dead peer's users do not linger forever.
    fn peers_with_users(&self) -> BTreeSet<NodeId> {
        let me = self.cluster.node_id();
        let linked: BTreeSet<NodeId> = self.cluster.peers().iter().map(|p| p.id).collect();
        let mut out = BTreeSet::new();
        for tenant in self.tenants.values() {
            let core = tenant.lock();
            out.extend(
                core.state
                    .uids()
                    .map(|uid| uid.node)
                    .filter(|node| *node != me && !linked.contains(node)),
            );
        }
        out
    }

    /// `peer` stayed unreachable for the grace period: hide its users from local clients.
    fn hide_users_of(&self, peer: NodeId) {
        let mut hidden = 0;
        for tenant in self.tenants.values() {
            hidden += tenant.lock().hide_users_of(peer);
        }
        self.metrics.split_expiries.inc();
        tracing::warn!(%peer, users = hidden, "grace period over: the peer's users are shown as split");
    }

    /// An expired peer is reachable again: show its users again, those of its current
    /// incarnation (the newest of its origins in `vectors`). Over its own link `vectors` are its
    /// first version vectors, handled before any of its catch-up ops, which follow on the same
    /// link; through a peer they are this node's, and ops of a newer incarnation arrive passed on.
    fn show_users_of(&self, peer: NodeId, vectors: &[(TenantId, VersionVector)]) {
        let Some(incarnation) = crate::incarnation::newest_incarnation_in(vectors, peer) else {
            // A peer whose log holds none of its own ops starts afresh (new or quarantined
            // log): every user it had ended with its earlier runs and stays gone here.
            tracing::info!(%peer, "split peer is back with an empty log: its earlier users stay gone");
            return;
        };
        let mut shown = 0;
        for tenant in self.tenants.values() {
            shown += tenant.lock().show_users_of(peer, incarnation);
        }
        tracing::info!(%peer, incarnation, users = shown, "split peer is back: its users are shown again");
    }

    /// Tell `peer` what this node holds (for one tenant, or all), so it sends what is missing.
    async fn send_vectors(&self, peer: NodeId, only: Option<&TenantId>) {
        let vectors = self
            .tenants
            .keys()
            .filter(|t| only.is_none_or(|o| o == *t))
            .map(|t| (t.clone(), self.log.version_vector(t)))
            .collect();
        if let Err(err) = self
            .cluster
            .send_wait(peer, &ReplFrame::Vectors(vectors))
            .await
        {
            tracing::warn!(%peer, %err, "could not send version vectors");
        }
    }

    /// Apply a frame now if its causal past is applied here, else hold it; then release every
    /// held frame that became ready. Returns the (peer, tenant) pairs that need a version-vector
    /// exchange: a gap, or a frame held for ops this node has not received.
    fn receive(
        &self,
        from: NodeId,
        tenant: TenantId,
        after: Option<VersionVector>,
        entries: Vec<Entry>,
    ) -> Vec<(NodeId, TenantId)> {
        let mut resync = Vec::new();
        let ready = after
            .as_ref()
            .is_none_or(|after| self.causal_past_applied(&tenant, after));
        if !ready {
            let mut held = self.held.lock();
            let first_for_peer = !held.iter().any(|h| h.from == from && h.tenant == tenant);
            if held.len() >= MAX_HELD {
                let dropped = held.remove(0);
                resync.push((dropped.from, dropped.tenant));
            }
            held.push(HeldFrame {
                from,
                tenant: tenant.clone(),
                after: after.unwrap_or_default(),
                entries,
            });
            if first_for_peer {
                resync.push((from, tenant));
            }
            return resync;
        }
        if self.apply(&tenant, entries) {
            resync.push((from, tenant));
        }
        loop {
            let next = {
                let mut held = self.held.lock();
                let position = held
                    .iter()
                    .position(|h| self.causal_past_applied(&h.tenant, &h.after));
                position.map(|i| held.remove(i))
            };
            let Some(frame) = next else { break };
            if self.apply(&frame.tenant, frame.entries) {
                resync.push((frame.from, frame.tenant));
            }
        }
        resync
    }

    /// Whether this node has applied every op in `after` for `tenant`.
    fn causal_past_applied(&self, tenant: &TenantId, after: &VersionVector) -> bool {
        let Some(tenant) = self.tenants.get(tenant) else {
            return true;
        };
        let core = tenant.lock();
        let applied = core.version_vector();
        after
            .iter()
            .all(|(origin, seq)| applied.get(origin).copied().unwrap_or(0) >= *seq)
    }

    /// Apply a peer's ops; returns true if one was out of order (a gap), so a resync is needed.
    fn apply(&self, tenant_id: &TenantId, entries: Vec<Entry>) -> bool {
        let Some(tenant) = self.tenants.get(tenant_id) else {
            tracing::debug!(tenant = %tenant_id, "ops for a tenant this node does not host");
            return false;
        };
        let mut core = tenant.lock();
        let mut gap = false;
        let mut own_user_arrived = false;
        for entry in entries {
            let outcome = match &entry {
                Entry::Op(op) if op.tenant == *tenant_id => core.apply_foreign(op, true),
                Entry::Op(op) => {
                    tracing::warn!(op = ?op.id, "op labelled with another tenant; dropped");
                    continue;
                }
                Entry::Pruned(p) => core.apply_pruned(p.id, p.stamp),
            };
            match outcome {
                Foreign::Applied(changes) => {
                    if let Entry::Op(Op {
                        body: OpBody::UserArrive { uid, .. },
                        ..
                    }) = &entry
                    {
                        own_user_arrived |= uid.node == self.cluster.node_id();
                    }
                    self.metrics.ops_applied.inc();
                    tell_renamed_users(&mut core, &changes);
                    self.log.append_behind(entry);
                }
                // Already applied, through a snapshot or an earlier delivery: the log may still
                // lack it (a snapshot's ops arrive afterwards), and must hold every op.
                Foreign::Duplicate => self.log.append_behind(entry),
                Foreign::Gap { .. } => gap = true,
            }
        }
        if own_user_arrived {
            core.end_previous_incarnations();
        }
        gap
    }

    /// Start a tenant this node holds nothing of from a peer's snapshot. Ignored once any op was
    /// applied here: the ops that follow the snapshot bring such a node up to date anyway.
    fn receive_snapshot(
        &self,
        from: NodeId,
        tenant_id: &TenantId,
        applied: VersionVector,
        state: CoreSnapshot,
    ) {
        let Some(tenant) = self.tenants.get(tenant_id) else {
            return;
        };
        let ops = crate::snapshots::op_count(&applied);
        let mut core = tenant.lock();
        match core.restore_snapshot(state, applied) {
            Ok(()) => {
                self.metrics.snapshots_applied.inc();
                let ended = core.end_previous_incarnations();
                tracing::info!(peer = %from, tenant = %tenant_id, ops, ended, "started from a peer's snapshot; its ops follow for the log");
            }
            Err(err) => {
                tracing::debug!(peer = %from, tenant = %tenant_id, %err, "peer's snapshot not used; its ops follow");
            }
        }
    }

    /// The newest stored snapshot of `tenant`, for a peer that holds none of its ops.
    async fn snapshot_for_new_peer(&self, tenant: &TenantId) -> Option<ReplFrame> {
        let log = self.log.clone();
        let t = tenant.clone();
        let read =
            tokio::task::spawn_blocking(move || log.latest_snapshot::<CoreSnapshot>(&t)).await;
        match read {
            Ok(Ok(Some(snapshot))) => Some(ReplFrame::Snapshot {
                tenant: tenant.clone(),
                applied: snapshot.vv,
                state: Box::new(snapshot.state),
            }),
            Ok(Ok(None)) => None,
            Ok(Err(err)) => {
                tracing::warn!(%err, %tenant, "could not read a snapshot for a new peer; sending ops only");
                None
            }
            Err(err) => {
                tracing::warn!(%err, "snapshot read task failed; sending ops only");
                None
            }
        }
    }

    /// Send `peer` every op it lacks according to its vectors, in batches; a peer that holds
    /// nothing of a tenant gets its newest snapshot first.
    async fn catch_up(&self, peer: NodeId, vectors: Vec<(TenantId, VersionVector)>) {
        let mut lag = 0u64;
        for (tenant, vv) in &vectors {
            if self.tenants.contains_key(tenant) {
                for (origin, have) in self.log.version_vector(tenant) {
                    lag += have.saturating_sub(vv.get(&origin).copied().unwrap_or(0));
                }
            }
        }
        self.metrics
            .lag_ops
            .with_label_values(&[&peer.0.to_string()])
            .set(lag as i64);
        for (tenant, mut vv) in vectors {
            if !self.tenants.contains_key(&tenant) {
                continue;
            }
            if vv.is_empty() {
                if let Some(frame) = self.snapshot_for_new_peer(&tenant).await {
                    match self.cluster.send_wait(peer, &frame).await {
                        Ok(()) => self.metrics.snapshots_sent.inc(),
                        Err(err) => {
                            tracing::warn!(%peer, %tenant, %err, "could not send a snapshot; sending ops only")
                        }
                    }
                }
            }
            loop {
                let log = self.log.clone();
                let (t, v) = (tenant.clone(), vv.clone());
                let batch =
                    tokio::task::spawn_blocking(move || log.ops_after(&t, &v, CATCH_UP_BATCH))
                        .await;
                let entries = match batch {
                    Ok(Ok(entries)) => entries,
                    Ok(Err(err)) => {
                        tracing::error!(%err, "reading ops for catch-up");
                        break;
                    }
                    Err(err) => {
                        tracing::error!(%err, "catch-up task failed");
                        break;
                    }
                };
                if entries.is_empty() {
                    break;
                }
                for entry in &entries {
                    let id = entry.id();
                    let seen = vv.entry(id.origin).or_insert(0);
                    *seen = (*seen).max(id.seq);
                }
                let frame = ReplFrame::Ops {
                    tenant: tenant.clone(),
                    after: None,
                    entries,
                };
                if let Err(err) = self.cluster.send_wait(peer, &frame).await {
                    tracing::warn!(%peer, %err, "catch-up interrupted");
                    return;
                }
            }
        }
    }
}

/// Sleep until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A merge can take a nick from a local user (the earlier claim keeps it): tell them why their
/// nick changed, as the conflict rules promise.
fn tell_renamed_users(core: &mut latticed_actors::tenant::Core, changes: &[latticed_crdt::Change]) {
    for change in changes {
        if let latticed_crdt::Change::NickChanged { uid, old, new } = change {
            if core.local.contains_key(uid) && *new == uid.to_string() {
                let line = latticed_proto::Message::new("NOTICE")
                    .with_source(core.server_name.clone())
                    .with_param(new.clone())
                    .with_param(format!(
                        "Your nick {old} was claimed earlier by another user on the other side of a network split; you are now {new}. Pick a new nick with /nick."
                    ));
                let mut outbox = Outbox::new(None);
                core.deliver(&mut outbox, *uid, line.to_bytes());
            }
        }
    }
}
