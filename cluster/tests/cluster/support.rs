//! Shared helpers for the link tests: a test CA, nodes on loopback with fast timings, and bounded
//! waits for events.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use latticed_cluster::pki::{self, PemPair};
use latticed_cluster::{
    BackoffSettings, Cluster, ClusterError, ClusterEvent, ClusterHandle, ClusterSettings, NodeId,
    PeerInfo,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// The frame type the tests exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TestFrame {
    Text(String),
    Blob(Vec<u8>),
}

pub type Events = mpsc::Receiver<ClusterEvent<TestFrame>>;
pub type Handle = ClusterHandle<TestFrame>;

pub const SECRET: &str = "a long shared cluster secret";

/// Every wait in the tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(8);

/// A cluster CA made for one test.
pub struct TestCa {
    pub ca: PemPair,
}

impl TestCa {
    pub fn new(cluster: &str) -> Self {
        Self {
            ca: pki::generate_ca(cluster).expect("generate CA"),
        }
    }

    pub fn issue(&self, node_name: &str) -> PemPair {
        pki::issue_node_cert(&self.ca.cert, &self.ca.key, node_name).expect("issue node cert")
    }
}

pub fn name(id: u32) -> String {
    format!("irc{id}.test.local")
}

/// A loopback UDP address that was free a moment ago, so nodes can be configured with each other's
/// addresses before they start.
pub fn free_addr() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
    socket.local_addr().expect("probe address")
}

pub fn peer(id: u32, address: SocketAddr) -> PeerInfo {
    PeerInfo {
        id: NodeId(id),
        name: name(id),
        address,
    }
}

/// Settings for node `id` (named [`name`]) on `listen`, with fast keep-alive and backoff.
pub fn settings(ca: &TestCa, id: u32, listen: SocketAddr, peers: &[PeerInfo]) -> ClusterSettings {
    let cert = ca.issue(&name(id));
    let mut settings = ClusterSettings::new(
        NodeId(id),
        name(id),
        listen,
        ca.ca.cert.clone(),
        cert.cert,
        cert.key,
        SECRET,
    );
    settings.peers = peers.to_vec();
    settings.keepalive = Duration::from_millis(200);
    settings.idle_timeout = Duration::from_secs(3);
    settings.backoff = BackoffSettings {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
    };
    settings
}

/// Starts a node, retrying briefly while its port is still held by a node that just shut down.
pub async fn start(settings: ClusterSettings) -> (Handle, Events) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match Cluster::start::<TestFrame>(settings.clone()) {
            Ok(started) => return started,
            Err(ClusterError::Bind { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => panic!("node {} did not start: {err}", settings.node_id),
        }
    }
}

/// Starts a full mesh of nodes with ids `1..=count`, each configured with all the others.
pub async fn mesh(ca: &TestCa, count: u32) -> Vec<(Handle, Events)> {
    let addrs: Vec<SocketAddr> = (0..count).map(|_| free_addr()).collect();
    let mut nodes = Vec::new();
    for id in 1..=count {
        let peers: Vec<PeerInfo> = (1..=count)
            .filter(|other| *other != id)
            .map(|other| peer(other, addrs[other as usize - 1]))
            .collect();
        nodes.push(start(settings(ca, id, addrs[id as usize - 1], &peers)).await);
    }
    nodes
}

/// The next event, failing the test if none comes within [`WAIT`].
pub async fn next(events: &mut Events) -> ClusterEvent<TestFrame> {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event within the wait")
        .expect("the event channel is open")
}

/// Skips events until one matches, failing the test if none does within [`WAIT`].
pub async fn until(
    events: &mut Events,
    what: &str,
    matches: impl Fn(&ClusterEvent<TestFrame>) -> bool,
) -> ClusterEvent<TestFrame> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|| panic!("event channel closed while waiting for {what}"));
        if matches(&event) {
            return event;
        }
    }
}

/// Waits for `PeerUp` from `id` and returns its epoch.
pub async fn peer_up(events: &mut Events, id: u32) -> u64 {
    match until(
        events,
        &format!("PeerUp from node {id}"),
        |event| matches!(event, ClusterEvent::PeerUp { id: up, .. } if up.0 == id),
    )
    .await
    {
        ClusterEvent::PeerUp { epoch, .. } => epoch,
        other => unreachable!("until returned {other:?}"),
    }
}

/// Waits until every node in `ids` has reported `PeerUp`, in any order, skipping other events.
pub async fn all_up(events: &mut Events, ids: &[u32]) {
    let mut missing: Vec<u32> = ids.to_vec();
    while !missing.is_empty() {
        let event = until(events, &format!("PeerUp from nodes {missing:?}"), |event| {
            matches!(event, ClusterEvent::PeerUp { .. })
        })
        .await;
        if let ClusterEvent::PeerUp { id, .. } = event {
            missing.retain(|wanted| *wanted != id.0);
        }
    }
}

/// Waits for a frame from `from` and returns it.
pub async fn frame_from(events: &mut Events, from: u32) -> TestFrame {
    match until(
        events,
        &format!("a frame from node {from}"),
        |event| matches!(event, ClusterEvent::Frame { from: sender, .. } if sender.0 == from),
    )
    .await
    {
        ClusterEvent::Frame { frame, .. } => frame,
        other => unreachable!("until returned {other:?}"),
    }
}

/// Polls `condition` until it holds, failing the test after [`WAIT`].
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn text(text: &str) -> TestFrame {
    TestFrame::Text(text.to_owned())
}
