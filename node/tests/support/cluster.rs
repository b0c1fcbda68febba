//! A real cluster of `latticed run` child processes on this machine, for the multi-node tests.
//!
//! [`Cluster::start`] makes a cluster CA and one certificate per node at test time (with
//! `latticed_cluster::pki`, the functions behind `latticed cluster-ca` / `latticed node-cert`),
//! gives every node its own scratch directory (config, output, `data` event log) and fresh
//! loopback ports, lists every node as a peer of every other, and starts them all. A node can be
//! crashed (SIGKILL), restarted on the same data directory and ports, paused (SIGSTOP) and resumed
//! (SIGCONT); [`Cluster::join`] adds a node with `--join` instead of a peer list.
//! [`Cluster::start_with_cuttable`] puts chosen links behind [`LinkProxy`]s a test can cut.
//!
//! Every child is killed when its [`ClusterNode`] drops, also when a test panics (a paused child
//! too: SIGKILL ends a stopped process), and the tail of its output is then printed.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use super::config::open_tenant;
use super::link_proxy::LinkProxy;
use super::process::metric_value;
use super::{http, Client};

/// The shared secret every node of a test cluster proves it knows.
const SECRET: &str = "a very long shared cluster secret";
/// How long a node may take to serve after its process starts.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a wait for an event log flush may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a node may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How often start-up polls `/readyz` (and a flush wait `/metrics`).
const READY_POLL: Duration = Duration::from_millis(20);
/// How many lines of a node's output a failure shows.
const LOG_TAIL_LINES: usize = 40;
/// The CA and every node's certificate live here, beside the nodes' directories.
const PKI_DIR: &str = "pki";
/// Each node's event log directory, inside its own directory.
const DATA_DIR: &str = "data";
/// The Prometheus counter of completed event log flushes.
const FLUSH_COUNT: &str = "latticed_log_flush_seconds_count";

/// The timing settings every node of a test cluster shares.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// QUIC keep-alive interval (`cluster.keepalive_ms`).
    pub keepalive_ms: u64,
    /// Silence after which a link is declared dead (`cluster.idle_timeout_ms`).
    pub idle_timeout_ms: u64,
    /// How long a lost peer's users stay visible (`cluster.grace_period_secs`).
    pub grace_period_secs: u64,
    /// How often the event log is flushed (`node.flush_interval_ms`): what a crash can lose.
    pub flush_interval_ms: u64,
    /// Ops between state snapshots (`node.snapshot_every_ops`).
    pub snapshot_every_ops: u64,
    /// Frames that may wait on one link (`cluster.link_queue_frames`).
    pub link_queue_frames: usize,
}

impl Timing {
    /// The built-in defaults: 1 s keep-alive, 5 s idle timeout, 30 s grace period, 50 ms flushes,
    /// a snapshot every 10 000 ops, 1024 frames per link queue.
    pub const DEFAULT: Timing = Timing {
        keepalive_ms: 1000,
        idle_timeout_ms: 5000,
        grace_period_secs: 30,
        flush_interval_ms: 50,
        snapshot_every_ops: 10_000,
        link_queue_frames: 1024,
    };
}

/// The loopback ports one node listens on.
#[derive(Clone, Copy, Debug)]
struct Ports {
    client: SocketAddr,
    admin: SocketAddr,
    cluster: SocketAddr,
}

/// Nodes of one cluster and the scratch directory they share (the CA and one directory each).
pub struct Cluster {
    // Declared before `root`: the children must be gone (and their output read) before the
    // directory they work in is removed.
    nodes: Vec<ClusterNode>,
    root: tempfile::TempDir,
    timing: Timing,
    /// For each cuttable link (a, b) with a < b: the proxies a dials b through and b dials a.
    cuttable: Vec<((u64, u64), [LinkProxy; 2])>,
}

impl Cluster {
    /// Makes a CA and certificates for nodes `1..=count` (named `n<id>.test`), configures each to
    /// link to all the others (and to admit joiners), starts them all and waits until each serves.
    pub async fn start(count: u64, timing: Timing) -> Cluster {
        Self::start_with_cuttable(count, timing, &[]).await
    }

    /// [`Cluster::start`], with each link in `links` (pairs of node ids) running through a pair
    /// of [`LinkProxy`]s (one for each side's dials), so [`Cluster::cut`] can break that link
    /// alone.
    pub async fn start_with_cuttable(count: u64, timing: Timing, links: &[(u64, u64)]) -> Cluster {
        let root = tempfile::tempdir().expect("cluster scratch directory");
        latticed_cluster::pki::write_ca(&root.path().join(PKI_DIR), "clustertest")
            .expect("write the cluster CA");
        let ids: Vec<u64> = (1..=count).collect();
        let ports = free_ports(ids.len());
        let peers: Vec<(u64, SocketAddr)> = ids
            .iter()
            .zip(&ports)
            .map(|(&id, p)| (id, p.cluster))
            .collect();
        let mut cuttable = Vec::new();
        for &(a, b) in links {
            let (a, b) = (a.min(b), a.max(b));
            let address = |id: u64| {
                peers
                    .iter()
                    .find(|(p, _)| *p == id)
                    .expect("a node of the cluster")
                    .1
            };
            let proxies = [
                LinkProxy::start(address(b)).await,
                LinkProxy::start(address(a)).await,
            ];
            cuttable.push(((a, b), proxies));
        }
        let mut cluster = Cluster {
            nodes: Vec::new(),
            root,
            timing,
            cuttable,
        };
        for (&id, &ports) in ids.iter().zip(&ports) {
            let others: Vec<(u64, SocketAddr)> = peers
                .iter()
                .copied()
                .filter(|&(p, _)| p != id)
                .map(|(p, address)| (p, cluster.dial_address(id, p).unwrap_or(address)))
                .collect();
            let node = cluster.prepare(id, ports, &others, None);
            cluster.nodes.push(node);
        }
        // Spawn every process first so they start in parallel, then wait for each.
        for node in &mut cluster.nodes {
            node.spawn();
        }
        for node in &mut cluster.nodes {
            node.wait_ready().await;
        }
        cluster.wait_for_full_mesh().await;
        cluster
    }

    /// Waits until every node has a link to every other. Nodes pass each other's ops on while a
    /// link is missing, so a test that needs every link up (to take one down) must not rely on
    /// traffic arriving to tell it that they are.
    async fn wait_for_full_mesh(&self) {
        let want = (self.nodes.len() - 1) as f64;
        let deadline = Instant::now() + START_TIMEOUT;
        for node in &self.nodes {
            while node.metric("latticed_cluster_peers_up") < want {
                assert!(
                    Instant::now() < deadline,
                    "node {} did not link to every peer within {START_TIMEOUT:?}:\n{}",
                    node.id,
                    node.log_tail()
                );
                tokio::time::sleep(READY_POLL).await;
            }
        }
    }

    /// Adds and starts the next node, configured with no peers at all and started with
    /// `--join <cluster address of node via>`: it learns the cluster from that node.
    pub async fn join(&mut self, via: u64) -> &mut ClusterNode {
        let id = self.nodes.len() as u64 + 1;
        let join = self.node(via).cluster;
        let ports = free_ports(1)[0];
        let node = self.prepare(id, ports, &[], Some(join));
        self.nodes.push(node);
        let node = self.node_mut(id);
        node.start().await;
        node
    }

    /// Node `id` (1-based, in the order nodes were added).
    pub fn node(&self, id: u64) -> &ClusterNode {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("the cluster has no node {id}"))
    }

    /// Node `id`, to crash, restart, pause or resume it.
    pub fn node_mut(&mut self, id: u64) -> &mut ClusterNode {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("the cluster has no node {id}"))
    }

    /// Where node `from` dials node `to` if their link is cuttable: the proxy of that side.
    fn dial_address(&self, from: u64, to: u64) -> Option<SocketAddr> {
        self.cuttable.iter().find_map(|((a, b), [a_to_b, b_to_a])| {
            if (from, to) == (*a, *b) {
                Some(a_to_b.address)
            } else if (from, to) == (*b, *a) {
                Some(b_to_a.address)
            } else {
                None
            }
        })
    }

    /// Breaks the cuttable link between `a` and `b`, both ways, until [`Cluster::mend`].
    pub fn cut(&self, a: u64, b: u64) {
        for proxy in self.link_proxies(a, b) {
            proxy.cut();
        }
    }

    /// Lets the cuttable link between `a` and `b` through again.
    pub fn mend(&self, a: u64, b: u64) {
        for proxy in self.link_proxies(a, b) {
            proxy.mend();
        }
    }

    fn link_proxies(&self, a: u64, b: u64) -> &[LinkProxy; 2] {
        let key = (a.min(b), a.max(b));
        self.cuttable
            .iter()
            .find(|(link, _)| *link == key)
            .map(|(_, proxies)| proxies)
            .unwrap_or_else(|| panic!("the link {a}-{b} was not started cuttable"))
    }

    /// Issues node `id`'s certificate and writes its configuration; starts nothing.
    fn prepare(
        &self,
        id: u64,
        ports: Ports,
        peers: &[(u64, SocketAddr)],
        join: Option<SocketAddr>,
    ) -> ClusterNode {
        let name = node_name(id);
        let pki = self.root.path().join(PKI_DIR);
        latticed_cluster::pki::write_node_cert(&pki, &name, &pki)
            .unwrap_or_else(|e| panic!("issue the certificate of {name}: {e}"));
        let dir = self.root.path().join(format!("n{id}"));
        std::fs::create_dir(&dir).expect("create the node directory");
        let config = dir.join("node.toml");
        std::fs::write(&config, node_config(id, ports, peers, self.timing))
            .expect("write the node config");
        ClusterNode {
            id,
            client: ports.client,
            admin: ports.admin,
            cluster: ports.cluster,
            output: dir.join("node.log"),
            dir,
            config,
            join,
            child: None,
        }
    }
}

/// One `latticed run` child process of a [`Cluster`], with its directory and ports, which stay
/// the same across restarts.
pub struct ClusterNode {
    /// The node's `node.id`.
    pub id: u64,
    /// The `default` tenant's client listener.
    pub client: SocketAddr,
    /// The admin listener (`/readyz`, `/metrics`).
    pub admin: SocketAddr,
    /// The QUIC cluster address (what `--join` takes).
    pub cluster: SocketAddr,
    dir: PathBuf,
    config: PathBuf,
    output: PathBuf,
    join: Option<SocketAddr>,
    child: Option<Child>,
}

impl ClusterNode {
    /// Starts the process (again, after [`kill`](ClusterNode::kill): same config, same data
    /// directory, same ports) and waits until it serves.
    pub async fn start(&mut self) {
        self.spawn();
        self.wait_ready().await;
    }

    /// `kill -9`: the process dies at once, flushing nothing and closing no link.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the node is running");
        child.kill().expect("SIGKILL the node");
        child.wait().expect("reap the node");
    }

    /// SIGTERM, the clean stop (the node flushes its event log and ends its links), then waits
    /// for the process to exit (bounded); returns its exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("the node is running");
            if let Some(status) = child.try_wait().expect("poll the node process") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not exit within {STOP_TIMEOUT:?} of SIGTERM:\n{}",
                self.id,
                self.log_tail()
            );
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// The node's own directory: its config, its output, and its data directory with anything
    /// moved beside it (a quarantined copy).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The node's data directory (its event log).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(DATA_DIR)
    }

    /// SIGSTOP: the process freezes; its sockets stay open but nothing is read or answered.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// SIGCONT: a paused process runs again.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// Waits until the event log has completed a flush that started after this call, so
    /// everything this node did before it is on disk and survives a `kill -9`.
    pub async fn wait_for_flush(&self) {
        // A flush in progress now may have started before the last write; the one after it
        // cannot have.
        let target = self.metric(FLUSH_COUNT) + 2.0;
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        while self.metric(FLUSH_COUNT) < target {
            assert!(
                Instant::now() < deadline,
                "node {} did not flush its event log within {FLUSH_TIMEOUT:?}:\n{}",
                self.id,
                self.log_tail()
            );
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// The value of an unlabelled metric on `/metrics`; a missing metric fails the test.
    pub fn metric(&self, name: &str) -> f64 {
        let page = http::must_get(self.admin, "/metrics", None);
        assert_eq!(page.status, 200, "/metrics of node {}: {page:?}", self.id);
        metric_value(&page.body, name)
            .unwrap_or_else(|| panic!("no metric {name} on /metrics of node {}", self.id))
    }

    /// Registers `nick` on this node's `default` tenant after negotiating `caps`.
    pub async fn register(&self, nick: &str, caps: &[&str]) -> Client {
        Client::register_with_caps(self.client, nick, caps).await
    }

    /// The last lines the node wrote to its output.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.output).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "node {} is already running", self.id);
        let out = File::options()
            .create(true)
            .append(true)
            .open(&self.output)
            .expect("open the node output file");
        let err = out.try_clone().expect("clone the output file handle");
        let mut command = Command::new(env!("CARGO_BIN_EXE_latticed"));
        command.arg("run").arg("--config").arg(&self.config);
        if let Some(join) = self.join {
            command.arg("--join").arg(join.to_string());
        }
        let child = command
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            // An error that ends the process is then its last lines, not a backtrace that pushes
            // the message out of the tail a failure shows (panics keep RUST_BACKTRACE).
            .env("RUST_LIB_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn latticed run");
        self.child = Some(child);
    }

    /// Polls `/readyz` until it answers 200; fails if the process exits or the wait expires.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("the node is running");
            if let Some(status) = child.try_wait().expect("poll the node process") {
                self.child = None;
                panic!(
                    "node {} exited during start-up ({status}):\n{}",
                    self.id,
                    self.log_tail()
                );
            }
            if http::get(self.admin, "/readyz", None).is_ok_and(|r| r.status == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {} was not ready within {START_TIMEOUT:?}:\n{}",
                self.id,
                self.log_tail()
            );
            tokio::time::sleep(READY_POLL).await;
        }
    }

    fn signal(&self, name: &str) {
        let pid = self
            .child
            .as_ref()
            .expect("the node is running")
            .id()
            .to_string();
        let sent = Command::new("kill")
            .args([&format!("-{name}"), pid.as_str()])
            .status()
            .unwrap_or_else(|e| panic!("run kill -{name}: {e}"));
        assert!(sent.success(), "kill -{name} {pid} failed: {sent}");
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- node {} output (last lines) ---\n{}",
                self.id,
                self.log_tail()
            );
        }
    }
}

/// The `node.name` (and certificate name) of node `id`.
fn node_name(id: u64) -> String {
    format!("n{id}.test")
}

/// A node's whole configuration: one open `default` tenant on `ports.client`, the admin endpoint,
/// and a `[cluster]` section listing `peers` that admits joiners. Paths are relative to the
/// node's directory, where the process runs and the file lives.
fn node_config(id: u64, ports: Ports, peers: &[(u64, SocketAddr)], timing: Timing) -> String {
    let name = node_name(id);
    let tenant = open_tenant("").replace("127.0.0.1:0", &ports.client.to_string());
    let mut toml = format!(
        "[node]\nid = {id}\nname = \"{name}\"\ndata_dir = \"{DATA_DIR}\"\n\
         flush_interval_ms = {}\nsnapshot_every_ops = {}\n\n\
         [admin]\nlisten = \"{admin}\"\n\n{tenant}\n\
         [cluster]\nlisten = \"{cluster}\"\nsecret = \"{SECRET}\"\n\
         ca = \"../{PKI_DIR}/ca.pem\"\ncert = \"../{PKI_DIR}/{name}.pem\"\n\
         key = \"../{PKI_DIR}/{name}.key\"\n\
         keepalive_ms = {}\nidle_timeout_ms = {}\ngrace_period_secs = {}\n\
         link_queue_frames = {}\nallow_join = true\n",
        timing.flush_interval_ms,
        timing.snapshot_every_ops,
        timing.keepalive_ms,
        timing.idle_timeout_ms,
        timing.grace_period_secs,
        timing.link_queue_frames,
        admin = ports.admin,
        cluster = ports.cluster,
    );
    for (peer, address) in peers {
        toml.push_str(&format!(
            "\n[[cluster.peers]]\nid = {peer}\nname = \"{}\"\naddress = \"{address}\"\n",
            node_name(*peer)
        ));
    }
    toml
}

/// Fresh loopback ports for `count` nodes: all sockets are bound at once so every port differs,
/// then released for the nodes (TCP for clients and admin, UDP for QUIC).
fn free_ports(count: usize) -> Vec<Ports> {
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let client = TcpListener::bind("127.0.0.1:0").expect("bind a free TCP port");
        let admin = TcpListener::bind("127.0.0.1:0").expect("bind a free TCP port");
        let cluster = UdpSocket::bind("127.0.0.1:0").expect("bind a free UDP port");
        held.push((client, admin, cluster));
    }
    held.iter()
        .map(|(client, admin, cluster)| Ports {
            client: client.local_addr().expect("bound address"),
            admin: admin.local_addr().expect("bound address"),
            cluster: cluster.local_addr().expect("bound address"),
        })
        .collect()
}
