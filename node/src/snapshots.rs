//! Periodic snapshots of every tenant's state, so a restart replays only the ops after the newest
//! one ([`crate::storage::rebuild`]) instead of the whole log.
//!
//! A tenant is snapshotted once `node.snapshot_every_ops` ops were applied since its last snapshot
//! (checked every [`POLL`]) and once more at a clean shutdown. The tenant lock is held only to
//! clone the state; encoding and writing run on a blocking thread. The event log keeps the newest
//! two snapshots of each tenant.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use latticed_actors::tenant::CoreSnapshot;
use latticed_actors::time::unix_now_ms;
use latticed_actors::Tenant;
use latticed_crdt::{NodeId, TenantId};
use latticed_eventlog::{EventLog, VersionVector};
use tokio_util::sync::CancellationToken;

use crate::storage::{LogMetrics, Restored};

/// How often the number of ops applied since the last snapshot is checked. A snapshot is due
/// after a count of ops, but is written at most this often per tenant.
pub const POLL: Duration = Duration::from_millis(500);

/// How many ops a version vector covers: every origin's ops are contiguous from 1.
pub fn op_count(vv: &VersionVector) -> u64 {
    vv.values().fold(0u64, |sum, seq| sum.saturating_add(*seq))
}

/// The first origin for which `vv` includes ops that `held` (what the log holds) lacks, with the
/// highest such seq. A snapshot with such ops must be neither written nor used: the log could not
/// back it, and peers resending those ops would find them already applied and never store them.
pub fn unbacked(vv: &VersionVector, held: &VersionVector) -> Option<(NodeId, u64)> {
    vv.iter()
        .find(|(origin, seq)| held.get(origin).copied().unwrap_or(0) < **seq)
        .map(|(origin, seq)| (*origin, *seq))
}

/// One tenant and where its newest snapshot stands.
struct Tracked {
    tenant: Arc<Tenant>,
    /// Ops included in the newest snapshot (or in the last attempt to write one).
    covered: u64,
    /// When the newest snapshot was written (Unix milliseconds), if there is one.
    taken_ms: Option<u64>,
}

/// Writes the snapshots of this node's tenants.
pub struct Snapshotter {
    log: EventLog,
    every_ops: u64,
    metrics: LogMetrics,
    tenants: Vec<Tracked>,
}

impl Snapshotter {
    /// A snapshotter writing into `log` after every `every_ops` ops applied per tenant.
    pub fn new(log: EventLog, every_ops: u64, metrics: LogMetrics) -> Snapshotter {
        Snapshotter {
            log,
            every_ops,
            metrics,
            tenants: Vec::new(),
        }
    }

    /// Snapshot `tenant` from now on; `restored` says what its state started from, so a tenant
    /// rebuilt from a long replay is snapshotted at the first check.
    pub fn track(&mut self, tenant: Arc<Tenant>, restored: &Restored) {
        self.tenants.push(Tracked {
            tenant,
            covered: restored.snapshot.map_or(0, |s| s.ops),
            taken_ms: restored.snapshot.map(|s| s.taken_ms),
        });
    }

    /// Check every [`POLL`] until `stop`, then snapshot every tenant that applied any op since
    /// its last snapshot, and return.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                _ = ticker.tick() => false,
                _ = stop.cancelled() => true,
            };
            let due_after = if stopping { 1 } else { self.every_ops };
            for index in 0..self.tenants.len() {
                self.snapshot_if_due(index, due_after).await;
            }
            self.export_ages();
            if stopping {
                return;
            }
        }
    }

    /// Snapshot one tenant if at least `due_after` ops were applied since its last snapshot.
    async fn snapshot_if_due(&mut self, index: usize, due_after: u64) {
        let tracked = &mut self.tenants[index];
        let (snapshot, vv) = {
            let core = tracked.tenant.lock();
            if op_count(core.version_vector()) < tracked.covered.saturating_add(due_after) {
                return;
            }
            core.snapshot()
        };
        let tenant = tracked.tenant.id.clone();
        // A failed write is retried only after another `every_ops` ops, not at every check.
        tracked.covered = op_count(&vv);
        let log = self.log.clone();
        let started = Instant::now();
        let written = tokio::task::spawn_blocking(move || write(&log, &tenant, &snapshot, &vv))
            .await
            .context("the snapshot task failed")
            .and_then(|result| result);
        match written {
            Ok(()) => {
                tracked.taken_ms = Some(unix_now_ms());
                tracing::debug!(
                    tenant = %tracked.tenant.id,
                    ops = tracked.covered,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "state snapshot written"
                );
            }
            Err(err) => {
                tracing::error!(tenant = %tracked.tenant.id, err = format!("{err:#}"), "writing a state snapshot failed");
            }
        }
    }

    fn export_ages(&self) {
        let now = unix_now_ms();
        for tracked in &self.tenants {
            if let Some(taken_ms) = tracked.taken_ms {
                let age = Duration::from_millis(now.saturating_sub(taken_ms));
                self.metrics.set_snapshot_age(&tracked.tenant.id, age);
            }
        }
    }
}

/// Store a snapshot of `tenant` covering exactly the ops in `vv`, unless the log lacks some of
/// them (an append failed).
fn write(
    log: &EventLog,
    tenant: &TenantId,
    snapshot: &CoreSnapshot,
    vv: &VersionVector,
) -> Result<()> {
    if let Some((origin, seq)) = unbacked(vv, &log.version_vector(tenant)) {
        bail!("the state includes ops of origin {origin} up to seq {seq} that the event log lacks; not writing a snapshot the log cannot back");
    }
    log.write_snapshot(tenant, snapshot, vv)
        .with_context(|| format!("writing a state snapshot of tenant {tenant}"))
}
