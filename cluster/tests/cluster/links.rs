//! Links that should come up: meshes of two and three nodes, restarts, shutdown, `--join`, and the
//! limits on what a link carries.

use std::time::{Duration, Instant};

use latticed_cluster::{ClusterEvent, FrameError, NodeId, SendError};

use crate::support::{
    all_up, eventually, frame_from, free_addr, mesh, name, next, peer, peer_up, settings, start,
    text, until, TestCa, TestFrame,
};

#[tokio::test]
async fn two_nodes_link_and_exchange_frames_both_ways() {
    let ca = TestCa::new("two");
    let mut nodes = mesh(&ca, 2).await;
    let (b, mut b_events) = nodes.pop().expect("node 2");
    let (a, mut a_events) = nodes.pop().expect("node 1");

    match until(&mut a_events, "PeerUp at node 1", |e| {
        matches!(e, ClusterEvent::PeerUp { .. })
    })
    .await
    {
        ClusterEvent::PeerUp {
            id,
            name: peer_name,
            epoch,
            address,
        } => {
            assert_eq!(id, NodeId(2));
            assert_eq!(peer_name, name(2));
            assert_eq!(epoch, b.epoch());
            assert_eq!(address, b.local_addr());
        }
        other => unreachable!("{other:?}"),
    }
    assert_eq!(peer_up(&mut b_events, 1).await, a.epoch());

    a.send(NodeId(2), &text("hello from 1"))
        .expect("send 1 -> 2");
    assert_eq!(frame_from(&mut b_events, 1).await, text("hello from 1"));
    b.send(NodeId(1), &text("hello from 2"))
        .expect("send 2 -> 1");
    b.send(NodeId(1), &TestFrame::Blob(vec![7; 100_000]))
        .expect("send a blob");
    assert_eq!(
        next(&mut a_events).await,
        ClusterEvent::Frame {
            from: NodeId(2),
            frame: text("hello from 2")
        }
    );
    assert_eq!(
        next(&mut a_events).await,
        ClusterEvent::Frame {
            from: NodeId(2),
            frame: TestFrame::Blob(vec![7; 100_000])
        }
    );

    let peers = a.peers();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].id, NodeId(2));
    assert_eq!(peers[0].name, name(2));
    assert!(peers[0].rtt > Duration::ZERO);
    assert!(
        peers[0].traffic.frames_received >= 2,
        "{:?}",
        peers[0].traffic
    );
    assert!(
        peers[0].traffic.bytes_received > 100_000,
        "{:?}",
        peers[0].traffic
    );
    assert_eq!(
        b.peers()[0].traffic.frames_sent,
        peers[0].traffic.frames_received,
        "every frame counted once on each side, however many went out in one write"
    );
    let metrics = a.metrics();
    assert_eq!(metrics.peers_up, 1);
    assert!(metrics.links_established >= 1);
    assert!(metrics.traffic.frames_sent >= 2, "{metrics:?}");
    assert_eq!(metrics.handshakes_rejected, 0);

    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn three_nodes_form_a_full_mesh_and_broadcast() {
    let ca = TestCa::new("three");
    let mut nodes = mesh(&ca, 3).await;
    for (index, (_, events)) in nodes.iter_mut().enumerate() {
        let me = index as u32 + 1;
        let others: Vec<u32> = (1..=3).filter(|other| *other != me).collect();
        all_up(events, &others).await;
    }
    for (index, (handle, _)) in nodes.iter().enumerate() {
        let outcome = handle
            .broadcast(&text(&format!("from {}", index + 1)))
            .expect("broadcast");
        assert_eq!(outcome.queued.len(), 2, "{outcome:?}");
        assert!(outcome.full.is_empty());
    }
    for (index, (handle, events)) in nodes.iter_mut().enumerate() {
        let me = index as u32 + 1;
        let mut received = Vec::new();
        while received.len() < 2 {
            if let ClusterEvent::Frame { from, frame } = next(events).await {
                received.push((from.0, frame));
            }
        }
        received.sort_by_key(|(from, _)| *from);
        let expected: Vec<_> = (1..=3)
            .filter(|other| *other != me)
            .map(|other| (other, text(&format!("from {other}"))))
            .collect();
        assert_eq!(received, expected, "frames at node {me}");
        assert_eq!(handle.peers().len(), 2);
    }
    for (handle, _) in &nodes {
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn a_restarted_peer_reconnects_with_a_new_epoch() {
    let ca = TestCa::new("restart");
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let (a, mut a_events) = start(settings(&ca, 1, a_addr, &[peer(2, b_addr)])).await;
    let b_settings = settings(&ca, 2, b_addr, &[peer(1, a_addr)]);
    let (b, _b_events) = start(b_settings.clone()).await;
    let first_epoch = peer_up(&mut a_events, 2).await;
    assert_eq!(first_epoch, b.epoch());

    b.shutdown().await;
    drop(b);
    assert_eq!(
        until(&mut a_events, "PeerDown", |e| matches!(
            e,
            ClusterEvent::PeerDown { .. }
        ))
        .await,
        ClusterEvent::PeerDown {
            id: NodeId(2),
            epoch: first_epoch
        }
    );

    let (b, mut b_events) = start(b_settings).await;
    let second_epoch = peer_up(&mut a_events, 2).await;
    assert_eq!(second_epoch, b.epoch());
    assert_ne!(second_epoch, first_epoch, "a restart is a new incarnation");
    peer_up(&mut b_events, 1).await;
    a.send(NodeId(2), &text("welcome back"))
        .expect("send after restart");
    assert_eq!(frame_from(&mut b_events, 1).await, text("welcome back"));

    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn shutdown_delivers_queued_frames_and_is_noticed_before_the_idle_timeout() {
    let ca = TestCa::new("shutdown");
    let mut nodes = mesh(&ca, 2).await;
    let (b, mut b_events) = nodes.pop().expect("node 2");
    let (a, mut a_events) = nodes.pop().expect("node 1");
    let b_epoch = peer_up(&mut a_events, 2).await;
    peer_up(&mut b_events, 1).await;

    b.send(NodeId(1), &text("last words"))
        .expect("send before shutdown");
    let started = Instant::now();
    b.shutdown().await;
    assert_eq!(frame_from(&mut a_events, 2).await, text("last words"));
    assert_eq!(
        next(&mut a_events).await,
        ClusterEvent::PeerDown {
            id: NodeId(2),
            epoch: b_epoch
        }
    );
    let noticed = started.elapsed();
    assert!(
        noticed < Duration::from_millis(1500),
        "PeerDown took {noticed:?}; the idle timeout is 3 s"
    );
    assert!(matches!(
        b.send(NodeId(1), &text("too late")),
        Err(SendError::ShutDown)
    ));
    a.shutdown().await;
}

#[tokio::test]
async fn sends_to_unlinked_peers_and_full_queues_are_refused() {
    let ca = TestCa::new("refusals");
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let mut a_settings = settings(&ca, 1, a_addr, &[peer(2, b_addr)]);
    a_settings.queue_frames = 1;
    let (a, mut a_events) = start(a_settings).await;
    assert!(matches!(
        a.send(NodeId(2), &text("nobody there")),
        Err(SendError::NotConnected { peer: NodeId(2) })
    ));
    let (b, mut b_events) = start(settings(&ca, 2, b_addr, &[peer(1, a_addr)])).await;
    peer_up(&mut a_events, 2).await;
    peer_up(&mut b_events, 1).await;

    // The test runtime has one thread: the link's writer cannot run between these two calls.
    a.send(NodeId(2), &text("fills the queue"))
        .expect("first send");
    assert!(matches!(
        a.send(NodeId(2), &text("no room")),
        Err(SendError::QueueFull {
            peer: NodeId(2),
            capacity: 1
        })
    ));
    a.send_wait(NodeId(2), &text("waits for room"))
        .await
        .expect("send_wait");
    assert_eq!(frame_from(&mut b_events, 1).await, text("fills the queue"));
    assert_eq!(frame_from(&mut b_events, 1).await, text("waits for room"));

    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn oversize_frames_are_refused_by_the_sender_and_by_the_receiver() {
    let ca = TestCa::new("oversize");
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let (a, mut a_events) = start(settings(&ca, 1, a_addr, &[peer(2, b_addr)])).await;
    let mut b_settings = settings(&ca, 2, b_addr, &[peer(1, a_addr)]);
    b_settings.max_frame_bytes = 64 * 1024;
    let (b, mut b_events) = start(b_settings).await;
    let b_epoch = peer_up(&mut a_events, 2).await;
    peer_up(&mut b_events, 1).await;

    // The sender refuses what its own limit forbids, before queueing anything.
    match b.send(NodeId(1), &TestFrame::Blob(vec![0; 65 * 1024])) {
        Err(SendError::Frame(FrameError::TooLarge { size, max })) => {
            assert!(size > 65 * 1024);
            assert_eq!(max, 64 * 1024);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }

    // A frame over the receiver's limit breaks the link: the receiver closes it.
    a.send(NodeId(2), &TestFrame::Blob(vec![0; 65 * 1024]))
        .expect("within node 1's limit");
    assert_eq!(
        until(&mut a_events, "PeerDown", |e| matches!(
            e,
            ClusterEvent::PeerDown { .. }
        ))
        .await,
        ClusterEvent::PeerDown {
            id: NodeId(2),
            epoch: b_epoch
        }
    );
    assert!(
        !matches!(next(&mut b_events).await, ClusterEvent::Frame { .. }),
        "the oversize frame must not be delivered"
    );

    // The link comes back, and frames within the limit flow again.
    peer_up(&mut a_events, 2).await;
    peer_up(&mut b_events, 1).await;
    a.send(NodeId(2), &text("small again")).expect("send");
    assert_eq!(frame_from(&mut b_events, 1).await, text("small again"));

    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_joining_node_discovers_the_whole_cluster() {
    let ca = TestCa::new("join");
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let mut a_settings = settings(&ca, 1, a_addr, &[peer(2, b_addr)]);
    a_settings.allow_join = true;
    let mut b_settings = settings(&ca, 2, b_addr, &[peer(1, a_addr)]);
    b_settings.allow_join = true;
    let (a, mut a_events) = start(a_settings).await;
    let (b, mut b_events) = start(b_settings).await;
    peer_up(&mut a_events, 2).await;
    peer_up(&mut b_events, 1).await;

    let mut c_settings = settings(&ca, 3, free_addr(), &[]);
    c_settings.join = Some(a_addr);
    let (c, mut c_events) = start(c_settings).await;
    all_up(&mut c_events, &[1, 2]).await;
    peer_up(&mut a_events, 3).await;
    peer_up(&mut b_events, 3).await;

    let known: Vec<_> = c
        .known_peers()
        .into_iter()
        .map(|p| (p.id, p.name, p.address))
        .collect();
    assert_eq!(
        known,
        [(NodeId(1), name(1), a_addr), (NodeId(2), name(2), b_addr)]
    );
    eventually("node 1 to know node 3", || {
        a.known_peers()
            .iter()
            .any(|p| p.id == NodeId(3) && p.address == c.local_addr())
    })
    .await;
    c.send(NodeId(2), &text("hi from the new node"))
        .expect("send 3 -> 2");
    assert_eq!(
        frame_from(&mut b_events, 3).await,
        text("hi from the new node")
    );

    for node in [&a, &b, &c] {
        node.shutdown().await;
    }
}
