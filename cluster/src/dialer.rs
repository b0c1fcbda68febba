//! Keeping links up: one dial loop per known peer, and the one-off `--join` dial.
//!
//! A dial loop sleeps while its peer is linked (whichever side dialed), and redials with backoff
//! while it is not. The node with the higher id waits one initial backoff step before dialing, so
//! when both nodes notice a loss together the lower one usually wins the race and no duplicate link
//! is made.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use latticed_crdt::NodeId;

use crate::backoff::Backoff;
use crate::handshake::{self, HandshakeError};
use crate::link;
use crate::shared::{wait_ended, Payload, Shared};

/// Starts a dial loop for `peer` unless one is running.
pub(crate) fn ensure<T: Payload>(shared: &Arc<Shared<T>>, peer: NodeId) {
    if shared.dialing.lock().insert(peer) {
        let task = Arc::clone(shared);
        shared
            .tasks
            .spawn(async move { dial_loop(task, peer).await });
    }
}

async fn dial_loop<T: Payload>(shared: Arc<Shared<T>>, peer: NodeId) {
    let seed = shared.epoch ^ u64::from(peer.0);
    let mut backoff = Backoff::new(shared.settings.backoff, seed);
    let mut yield_first = shared.settings.node_id > peer;
    loop {
        if let Some(ended) = shared.link_ended(peer) {
            tokio::select! {
                () = wait_ended(ended) => {}
                () = shared.cancel.cancelled() => return,
            }
            backoff.reset();
            yield_first = shared.settings.node_id > peer;
            continue;
        }
        if yield_first {
            yield_first = false;
            if !sleep(&shared, shared.settings.backoff.initial).await {
                return;
            }
            continue;
        }
        let Some(info) = shared.membership.lock().get(peer).cloned() else {
            shared.dialing.lock().remove(&peer);
            return;
        };
        let attempt = tokio::select! {
            attempt = handshake::dial(&shared, info.address, Some(&info)) => attempt,
            () = shared.cancel.cancelled() => return,
        };
        match attempt {
            Ok(handshake) => {
                backoff.reset();
                link::run(&shared, handshake).await;
                continue;
            }
            Err(err) => report(&shared, info.address, err),
        }
        if !sleep(&shared, backoff.next_delay()).await {
            return;
        }
    }
}

/// Dials the `--join` address until one link is made, and runs that link. From then on the peer is
/// known (it was learned from its Hello) and its own dial loop keeps it linked.
pub(crate) async fn join<T: Payload>(shared: Arc<Shared<T>>, address: SocketAddr) {
    let mut backoff = Backoff::new(shared.settings.backoff, shared.epoch);
    loop {
        let attempt = tokio::select! {
            attempt = handshake::dial(&shared, address, None) => attempt,
            () = shared.cancel.cancelled() => return,
        };
        match attempt {
            Ok(handshake) => {
                tracing::info!(%address, peer = %handshake.peer.id, "joined the cluster");
                link::run(&shared, handshake).await;
                return;
            }
            Err(err) => report(&shared, address, err),
        }
        if !sleep(&shared, backoff.next_delay()).await {
            return;
        }
    }
}

/// Logs a failed attempt, and counts it if it was a refusal.
pub(crate) fn report<T>(shared: &Shared<T>, remote: SocketAddr, err: HandshakeError) {
    match err {
        HandshakeError::Rejected(reason) => shared.stats.rejected(remote, reason),
        other => tracing::debug!(%remote, reason = %other, "cluster link attempt failed"),
    }
}

/// Sleeps unless the node shuts down first; false means it did.
async fn sleep<T>(shared: &Shared<T>, delay: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = shared.cancel.cancelled() => false,
    }
}
