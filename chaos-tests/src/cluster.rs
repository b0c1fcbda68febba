//! A real latticed cluster on this machine: certificates from `latticed cluster-ca` / `node-cert`,
//! one config file and data directory per node, the node processes themselves (kill -9, restart on
//! the same data, SIGSTOP / SIGCONT) and the link proxies every cluster datagram goes through.

use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::netns::{self, Netns};
use crate::proxy::{FaultTable, LinkProxy};

/// Where the nodes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetMode {
    /// Network namespaces when root and `ip netns` work, else loopback.
    Auto,
    /// Distinct 127.0.0.x addresses in the harness's own namespace.
    Loopback,
    /// One network namespace per node; fail if that is impossible.
    Netns,
}

/// The two tenants every node serves: the workload runs on the first, the second must stay empty
/// of anything from the first (isolation).
pub const TENANTS: [&str; 2] = ["alpha", "beta"];

/// Cluster link timing given to every node: fast failure detection keeps scenarios short.
const KEEPALIVE_MS: u32 = 300;
/// See [`KEEPALIVE_MS`].
const IDLE_TIMEOUT_MS: u32 = 3000;
/// How long a lost peer's users stay visible.
pub const GRACE_PERIOD_SECS: u32 = 30;

/// Where one node listens and keeps its files.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// Node id, 1-based.
    pub id: u16,
    /// node.name, also its certificate name.
    pub name: String,
    /// Client listener of each tenant, in [`TENANTS`] order.
    pub irc: [SocketAddr; 2],
    /// Admin HTTP listener.
    pub admin: SocketAddr,
    /// Real cluster (QUIC) address.
    pub cluster: SocketAddr,
    /// Config file path.
    pub config: PathBuf,
    /// Data directory (the node's event log), which `latticed replay` reads after the run.
    pub data: PathBuf,
    /// Log file the node's stdout and stderr go to.
    pub log: PathBuf,
    /// The network namespace it runs in (netns mode).
    pub netns: Option<String>,
}

/// A running (or stopped) node process.
pub struct Node {
    /// Its addresses and files.
    pub spec: NodeSpec,
    child: Option<Child>,
    /// Whether it is SIGSTOPped.
    pub paused: bool,
    binary: PathBuf,
}

impl Node {
    /// Whether the process is up (it may be paused).
    pub fn is_up(&self) -> bool {
        self.child.is_some()
    }

    /// Whether its clients can expect answers right now.
    pub fn serving(&self) -> bool {
        self.child.is_some() && !self.paused
    }

    /// Starts the process on its config and data dir, and waits until its first tenant accepts
    /// TCP connections.
    pub fn start(&mut self) -> Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.log)
            .map_err(|e| Error::io(format!("open {}", self.spec.log.display()), e))?;
        let err = log
            .try_clone()
            .map_err(|e| Error::io("clone log handle", e))?;
        let dir = self.spec.config.parent().unwrap_or(Path::new("."));
        let mut command = match &self.spec.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.binary);
                c
            }
            None => Command::new(&self.binary),
        };
        let child = command
            .arg("run")
            .arg("--config")
            .arg(&self.spec.config)
            .current_dir(dir)
            .env("RUST_LOG", "warn,latticed_cluster=info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::io(format!("start node {}", self.spec.id), e))?;
        self.child = Some(child);
        self.paused = false;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect_timeout(&self.spec.irc[0], Duration::from_millis(200))
                .is_ok()
            {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    return Err(Error::io(
                        format!(
                            "node {} exited at start ({status}); see {}",
                            self.spec.id,
                            self.spec.log.display()
                        ),
                        std::io::Error::other("early exit"),
                    ));
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(Error::io(
            format!("node {} did not listen within 20 s", self.spec.id),
            std::io::Error::from(std::io::ErrorKind::TimedOut),
        ))
    }

    /// kill -9: the process dies without flushing anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.paused = false;
    }

    /// SIGTERM: asks for the clean stop, in which the node flushes its event log on the way out
    /// (a paused node is resumed first, or it could not act on it). Returns whether the signal
    /// was sent; [`Node::wait_exit`] then reaps the process.
    pub fn sigterm(&mut self) -> bool {
        if self.paused {
            self.resume();
        }
        self.signal(libc::SIGTERM)
    }

    /// Waits until `deadline` for the process to exit and returns its status. A node still
    /// running at the deadline is killed with SIGKILL and the error says so; either way the
    /// process is gone afterwards.
    pub fn wait_exit(&mut self, deadline: Instant) -> std::result::Result<ExitStatus, String> {
        let id = self.spec.id;
        while let Some(child) = self.child.as_mut() {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Ok(status);
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    self.kill9();
                    return Err(format!(
                        "n{id}: still running at its stop deadline; killed with SIGKILL"
                    ));
                }
                Err(e) => {
                    self.kill9();
                    return Err(format!("n{id}: waiting for its exit failed: {e}"));
                }
            }
        }
        Err(format!("n{id}: not running"))
    }

    /// SIGSTOP: the process freezes with its sockets open.
    pub fn pause(&mut self) {
        if self.signal(libc::SIGSTOP) {
            self.paused = true;
        }
    }

    /// SIGCONT after [`Node::pause`].
    pub fn resume(&mut self) {
        if self.signal(libc::SIGCONT) {
            self.paused = false;
        }
    }

    fn signal(&self, sig: libc::c_int) -> bool {
        let Some(c) = &self.child else { return false };
        let Ok(pid) = libc::pid_t::try_from(c.id()) else {
            return false;
        };
        // SAFETY: kill(2) on a pid this harness spawned and has not yet reaped.
        unsafe { libc::kill(pid, sig) == 0 }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.paused {
            self.resume();
        }
        self.kill9();
    }
}

/// The whole cluster: nodes, proxies and the shared fault table. Dropping it kills every node.
pub struct Cluster {
    /// Nodes, index = id - 1.
    pub nodes: Vec<Node>,
    /// Impairments the proxies apply.
    pub faults: Arc<FaultTable>,
    _proxies: Vec<LinkProxy>,
    _netns: Option<Netns>,
    /// How the nodes are networked, for the report.
    pub network: String,
    /// The temporary directory with certificates, configs, data and logs.
    pub dir: tempfile::TempDir,
}

/// The loopback address node `id` listens on (127.0.0.x, distinct per node).
fn node_ip(id: u16) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 20 + id as u8))
}

fn free_tcp(ip: IpAddr) -> Result<SocketAddr> {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| Error::io(format!("find a free TCP port on {ip}"), e))
}

fn free_udp(ip: IpAddr) -> Result<SocketAddr> {
    UdpSocket::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| Error::io(format!("find a free UDP port on {ip}"), e))
}

fn latticed(binary: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new(binary)
        .args(args)
        .output()
        .map_err(|e| Error::io(format!("run {}", binary.display()), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Subcommand {
            command: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

impl Cluster {
    /// Makes certificates, configs and proxies for `n` nodes and starts them all.
    pub fn start(binary: &Path, n: u16, seed: u64, mode: NetMode) -> Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("latticed-chaos-")
            .tempdir()
            .map_err(|e| Error::io("create temp dir", e))?;
        let root = dir.path().to_path_buf();
        let pki = root.join("pki");
        let pki_s = pki.to_string_lossy().into_owned();
        latticed(binary, &["cluster-ca", "--out", &pki_s, "--name", "chaos"])?;
        let (net, network) = match mode {
            NetMode::Loopback => (None, "loopback 127.0.0.x (by request)".to_owned()),
            NetMode::Netns => (
                Some(Netns::create(n)?),
                "network namespaces 10.77.0.x".to_owned(),
            ),
            NetMode::Auto => match Netns::create(n) {
                Ok(net) => (Some(net), "network namespaces 10.77.0.x".to_owned()),
                Err(e) => (None, format!("loopback 127.0.0.x (no namespaces: {e})")),
            },
        };
        let proxy_ip = if net.is_some() {
            IpAddr::V4(netns::HOST_IP)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        };
        let mut specs = Vec::new();
        for id in 1..=n {
            let name = format!("n{id}.chaos.test");
            latticed(
                binary,
                &[
                    "node-cert",
                    "--ca",
                    &pki_s,
                    "--name",
                    &name,
                    "--out",
                    &pki_s,
                ],
            )?;
            let (irc, admin, cluster, ns) = match &net {
                Some(net) => {
                    let ip = Netns::node_ip(id);
                    let at = |port| SocketAddr::new(ip, port);
                    (
                        [at(6667), at(6668)],
                        at(6680),
                        at(7000),
                        Some(net.namespace(id).to_owned()),
                    )
                }
                None => {
                    let ip = node_ip(id);
                    (
                        [free_tcp(ip)?, free_tcp(ip)?],
                        free_tcp(ip)?,
                        free_udp(ip)?,
                        None,
                    )
                }
            };
            specs.push(NodeSpec {
                id,
                name,
                irc,
                admin,
                cluster,
                config: root.join(format!("n{id}.toml")),
                data: root.join(format!("data{id}")),
                log: root.join(format!("n{id}.log")),
                netns: ns,
            });
        }
        let faults = Arc::new(FaultTable::default());
        let mut proxies = Vec::new();
        let mut peer_addr = std::collections::HashMap::new();
        for a in &specs {
            for b in &specs {
                if a.id != b.id {
                    let p =
                        LinkProxy::start(a.id, b.id, proxy_ip, b.cluster, faults.clone(), seed)?;
                    peer_addr.insert((a.id, b.id), p.front);
                    proxies.push(p);
                }
            }
        }
        let mut nodes = Vec::new();
        for spec in &specs {
            let toml = node_config(spec, &specs, &peer_addr, &pki);
            fs::write(&spec.config, toml)
                .map_err(|e| Error::io(format!("write {}", spec.config.display()), e))?;
            nodes.push(Node {
                spec: spec.clone(),
                child: None,
                paused: false,
                binary: binary.to_path_buf(),
            });
        }
        let mut cluster = Cluster {
            nodes,
            faults,
            _proxies: proxies,
            _netns: net,
            network,
            dir,
        };
        for node in &mut cluster.nodes {
            node.start()?;
        }
        Ok(cluster)
    }

    /// The node with this id.
    pub fn node(&mut self, id: u16) -> &mut Node {
        &mut self.nodes[usize::from(id - 1)]
    }
}

/// The TOML config of one node: two tenants without flood control, a cluster section whose peers
/// are reached through the link proxies.
fn node_config(
    spec: &NodeSpec,
    all: &[NodeSpec],
    peer_addr: &std::collections::HashMap<(u16, u16), SocketAddr>,
    pki: &Path,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "[node]\nid = {}\nname = \"{}\"\ndata_dir = \"{}\"\nflush_interval_ms = 10\n\n[admin]\nlisten = \"{}\"\n",
        spec.id,
        spec.name,
        spec.data.display(),
        spec.admin
    );
    for (i, tenant) in TENANTS.iter().enumerate() {
        let _ = writeln!(
            s,
            "[[tenants]]\nname = \"{tenant}\"\nnetwork = \"{tenant}net\"\n[[tenants.listeners]]\naddress = \"{}\"\n\
             [tenants.flood]\nenabled = false\nmax_connections_per_ip = 10000\n\
             [tenants.history]\nmax_query = 1000\n[tenants.limits]\nmax_list_entries = 10000\n",
            spec.irc[i]
        );
    }
    let _ = writeln!(
        s,
        "[cluster]\nlisten = \"{}\"\nsecret = \"chaos harness shared cluster secret\"\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n\
         keepalive_ms = {KEEPALIVE_MS}\nidle_timeout_ms = {IDLE_TIMEOUT_MS}\ngrace_period_secs = {GRACE_PERIOD_SECS}\n",
        spec.cluster,
        pki.join("ca.pem").display(),
        pki.join(format!("{}.pem", spec.name)).display(),
        pki.join(format!("{}.key", spec.name)).display(),
    );
    for peer in all.iter().filter(|p| p.id != spec.id) {
        let addr = peer_addr[&(spec.id, peer.id)];
        let _ = writeln!(
            s,
            "[[cluster.peers]]\nid = {}\nname = \"{}\"\naddress = \"{addr}\"\n",
            peer.id, peer.name
        );
    }
    s
}
