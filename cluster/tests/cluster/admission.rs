//! Links that must not come up: another CA, a name the cluster does not list, a wrong secret, a peer
//! lying about its id, another build's frames. Each refusal is recorded with its reason, and no `PeerUp` is ever reported.

use std::time::Duration;

use latticed_cluster::{ClusterEvent, NodeId, RejectReason};
use tokio::sync::mpsc::error::TryRecvError;

use crate::support::{
    eventually, free_addr, name, peer, settings, start, Events, Handle, TestCa, SECRET,
};

/// Waits until `node` has recorded a rejection matching `expected`.
async fn rejected(node: &Handle, what: &str, expected: impl Fn(&RejectReason) -> bool) {
    eventually(what, || {
        node.recent_rejections()
            .iter()
            .any(|rejection| expected(&rejection.reason))
    })
    .await;
}

/// Asserts no `PeerUp` was ever reported (only the events so far; none may be pending).
fn never_linked(events: &mut Events) {
    loop {
        match events.try_recv() {
            Ok(ClusterEvent::PeerUp { id, .. }) => panic!("a link to node {id} came up"),
            Ok(_) => {}
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
        }
    }
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let (ours, theirs) = (TestCa::new("ours"), TestCa::new("theirs"));
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let (a, mut a_events) = start(settings(&ours, 1, a_addr, &[peer(2, b_addr)])).await;
    let (b, mut b_events) = start(settings(&theirs, 2, b_addr, &[peer(1, a_addr)])).await;

    let tls = |reason: &RejectReason| matches!(reason, RejectReason::Tls(_));
    rejected(&a, "node 1 to refuse the foreign certificate", tls).await;
    rejected(&b, "node 2 to refuse the foreign certificate", tls).await;
    assert!(a.peers().is_empty() && b.peers().is_empty());
    never_linked(&mut a_events);
    never_linked(&mut b_events);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn an_unlisted_node_with_a_valid_certificate_is_refused() {
    let ca = TestCa::new("unlisted");
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let (a, mut a_events) = start(settings(&ca, 1, a_addr, &[peer(2, b_addr)])).await;
    let (stranger, mut stranger_events) =
        start(settings(&ca, 3, free_addr(), &[peer(1, a_addr)])).await;

    rejected(&a, "node 1 to refuse node 3", |reason| {
        *reason
            == RejectReason::UnknownPeer {
                id: NodeId(3),
                name: name(3),
            }
    })
    .await;
    rejected(&stranger, "node 3 to hear it was refused", |reason| {
        matches!(reason, RejectReason::ByPeer(text) if text.contains("not a configured peer"))
    })
    .await;
    never_linked(&mut a_events);
    never_linked(&mut stranger_events);
    a.shutdown().await;
    stranger.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_is_refused() {
    let ca = TestCa::new("secret");
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let (a, mut a_events) = start(settings(&ca, 1, a_addr, &[peer(2, b_addr)])).await;
    let mut b_settings = settings(&ca, 2, b_addr, &[peer(1, a_addr)]);
    b_settings.secret = format!("not {SECRET}");
    let (b, mut b_events) = start(b_settings).await;

    let wrong_secret = |reason: &RejectReason| *reason == RejectReason::WrongSecret;
    eventually("a node to detect the wrong secret", || {
        [&a, &b].iter().any(|node| {
            node.recent_rejections()
                .iter()
                .any(|rejection| wrong_secret(&rejection.reason))
        })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    never_linked(&mut a_events);
    never_linked(&mut b_events);
    assert!(a.metrics().handshakes_rejected >= 1);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_configured_name_under_another_id_is_refused() {
    let ca = TestCa::new("impostor");
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let (a, mut a_events) = start(settings(&ca, 1, a_addr, &[peer(2, b_addr)])).await;
    // Node 2's certificate and name, but it says it is node 5.
    let mut impostor = settings(&ca, 2, b_addr, &[peer(1, a_addr)]);
    impostor.node_id = NodeId(5);
    let (b, mut b_events) = start(impostor).await;

    rejected(&a, "node 1 to refuse the id mismatch", |reason| {
        matches!(
            reason,
            RejectReason::IdentityMismatch {
                expected_id: NodeId(2),
                id: NodeId(5),
                ..
            }
        )
    })
    .await;
    never_linked(&mut a_events);
    never_linked(&mut b_events);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_peer_of_another_payload_version_is_refused_naming_both() {
    let ca = TestCa::new("payload");
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let mut a_settings = settings(&ca, 1, a_addr, &[peer(2, b_addr)]);
    a_settings.payload_version = 7;
    let (a, mut a_events) = start(a_settings).await;
    let mut b_settings = settings(&ca, 2, b_addr, &[peer(1, a_addr)]);
    b_settings.payload_version = 8;
    let (b, mut b_events) = start(b_settings).await;

    let mismatch = |reason: &RejectReason| {
        matches!(
            reason,
            RejectReason::PayloadVersion { ours: 7, theirs: 8 }
                | RejectReason::PayloadVersion { ours: 8, theirs: 7 }
        )
    };
    eventually("a node to refuse the other's payload version", || {
        [&a, &b].iter().any(|node| {
            node.recent_rejections()
                .iter()
                .any(|rejection| mismatch(&rejection.reason))
        })
    })
    .await;
    let reason = RejectReason::PayloadVersion { ours: 7, theirs: 8 }.to_string();
    assert!(reason.contains('7') && reason.contains('8'), "{reason}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    never_linked(&mut a_events);
    never_linked(&mut b_events);
    a.shutdown().await;
    b.shutdown().await;
}
