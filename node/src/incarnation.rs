//! Which epoch this process's incarnation of the node gets.
//!
//! Op origins and user ids are scoped to the epoch (`node + 1000 * epoch`), so an epoch must
//! never repeat one whose ops peers hold: they would take the new ops for duplicates of the old
//! ones and the nodes would diverge for good. A log that holds an epoch just counts on. A log
//! without one is new, or replaces a lost or quarantined log whose epochs only the peers still
//! know; in a cluster such a node asks them first: it waits (bounded) for the first peer's
//! version vectors and starts above the newest of its own incarnations they hold. Should no
//! peer answer, a random epoch from the lower half of the range makes a collision with the lost
//! log's few epochs improbable and leaves room for restarts.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{Context, Result};
use latticed_actors::tenant::incarnation_of;
use latticed_cluster::{ClusterEvent, ClusterHandle, NodeId};
use latticed_crdt::TenantId;
use latticed_eventlog::{EventLog, VersionVector};
use tokio::sync::mpsc;

use crate::replication::ReplFrame;

/// Highest epoch handed out: `node + 1000 * epoch` must fit in an op origin's 32 bits.
pub const MAX_EPOCH: u64 = (u32::MAX as u64 - 999) / 1000;

/// How long a node with a fresh log waits for a peer to tell it which epochs it already used.
pub const PEER_WAIT: Duration = Duration::from_secs(10);

/// The cluster side of the choice: the links and their events, which the wait reads first.
pub struct Peers<'a> {
    /// The cluster links (their random link epoch seeds the fallback).
    pub handle: &'a ClusterHandle<ReplFrame>,
    /// The cluster's events; what the wait reads is returned for the replicator to handle.
    pub events: &'a mut mpsc::Receiver<ClusterEvent<ReplFrame>>,
}

/// Begin this process's incarnation of `node` in `log` and return its epoch, together with the
/// cluster events read while asking the peers (the caller must handle them before any other).
pub async fn begin(
    log: &EventLog,
    node: NodeId,
    peers: Option<Peers<'_>>,
    wait: Duration,
) -> Result<(u64, VecDeque<ClusterEvent<ReplFrame>>)> {
    let stored = log
        .epoch(node)
        .context("reading this node's last epoch from the event log")?;
    let mut read = VecDeque::new();
    let floor = match peers {
        Some(mut peers) if stored == 0 => {
            let fallback = 1 + peers.handle.epoch() % (MAX_EPOCH / 2);
            let learned = newest_known_incarnation(log, node, &mut peers, &mut read, wait).await;
            match learned {
                Some(newest) => {
                    tracing::info!(
                        newest,
                        "a peer told this fresh log which epochs this node used"
                    );
                    (newest + 1).max(fallback)
                }
                None => {
                    tracing::warn!(
                        wait_secs = wait.as_secs(),
                        "fresh event log and no peer answered: starting at a random epoch"
                    );
                    fallback
                }
            }
        }
        _ => 1,
    };
    let epoch = log
        .begin_epoch_at_least(node, floor.min(MAX_EPOCH))
        .context("recording this start in the event log")?;
    Ok((epoch, read))
}

/// Reads cluster events, keeping them in `read`, until a peer's version vectors arrive (then
/// the newest epoch of `node` among their origins, 0 if none) or `wait` passes (None). Every
/// peer that links meanwhile is sent this log's vectors at once: a peer that is itself waiting
/// (a whole cluster starting from fresh logs) learns from them and goes on.
async fn newest_known_incarnation(
    log: &EventLog,
    node: NodeId,
    peers: &mut Peers<'_>,
    read: &mut VecDeque<ClusterEvent<ReplFrame>>,
    wait: Duration,
) -> Option<u64> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let event = tokio::time::timeout_at(deadline, peers.events.recv())
            .await
            .ok()??;
        if let ClusterEvent::PeerUp { id, .. } = &event {
            let vectors = log
                .tenants()
                .into_iter()
                .map(|t| {
                    let vv = log.version_vector(&t);
                    (t, vv)
                })
                .collect();
            if let Err(err) = peers
                .handle
                .send_wait(*id, &ReplFrame::Vectors(vectors))
                .await
            {
                tracing::debug!(peer = %id, %err, "could not tell a peer this log's vectors");
            }
        }
        let newest = match &event {
            ClusterEvent::Frame {
                frame: ReplFrame::Vectors(vectors),
                ..
            } => Some(newest_incarnation_in(vectors, node).unwrap_or(0)),
            _ => None,
        };
        read.push_back(event);
        if newest.is_some() {
            return newest;
        }
    }
}

/// The newest incarnation (epoch) of `node` among the op origins of a peer's version vectors,
/// if they hold any op of it.
pub fn newest_incarnation_in(vectors: &[(TenantId, VersionVector)], node: NodeId) -> Option<u64> {
    vectors
        .iter()
        .flat_map(|(_, vv)| vv.keys())
        .map(|origin| incarnation_of(*origin))
        .filter(|(of, _)| *of == node)
        .map(|(_, epoch)| epoch)
        .max()
}
