//! Settings that belong to the node process rather than to any tenant: its identity and its admin port.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Who this node is. The id goes into every op stamp, so it must be unique within a cluster and stable
/// across restarts; the name is what clients see as the server they are connected to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Node id, 1..=999, unique in the cluster (it breaks ties between equal Lamport counters).
    pub id: u32,
    /// Server name shown to clients (hostname-like, with at least one `.`); a tenant may override it.
    pub name: String,
    /// Free text shown in LINKS and similar replies.
    pub description: String,
    /// Where the event log lives; a relative path is taken from the node's working directory (the
    /// systemd unit runs in its state directory). It holds every op this node has seen, so a
    /// restart resumes from it.
    pub data_dir: PathBuf,
    /// How often the event log is flushed to disk, in milliseconds: about the most a power cut or a
    /// process crash can lose (the engine buffers writes in the process until a flush; peers resend
    /// what a node lost).
    pub flush_interval_ms: u64,
    /// Write a snapshot of a tenant's state after this many ops applied since the last one (and at
    /// a clean shutdown), so a restart replays only the ops after it. Lower: faster restarts, more
    /// snapshot writes (each encodes the whole tenant state).
    pub snapshot_every_ops: u64,
    /// Threads that run the node's tasks: client connections, cluster links, timers. A tenant's
    /// commands run one at a time under its lock whatever the count, so with more threads the
    /// work mostly moves between them, and each move wakes a sleeping thread: one thread used about
    /// 10 % less CPU in the `channels` benchmark on 2 cores, at the same throughput and, on an
    /// otherwise idle machine, the same latency. More can pay where other processes compete for
    /// the cores (a single thread then waits for its turn, and tail latency grows) or on many cores
    /// with several busy tenants, whose connections then run in parallel. Read at start; a change
    /// needs a restart.
    pub worker_threads: usize,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            id: 1,
            name: "irc.latticed.local".to_owned(),
            description: "latticed IRC server".to_owned(),
            data_dir: PathBuf::from("latticed-data"),
            flush_interval_ms: 50,
            snapshot_every_ops: 10_000,
            worker_threads: 1,
        }
    }
}

/// The HTTP admin endpoint: `/metrics`, `/healthz` and `/readyz` for monitoring, `/admin/*` for operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Address the admin HTTP server binds; loopback by default so nothing is exposed unasked.
    pub listen: SocketAddr,
    /// Bearer token required by `/admin/*` (at least 16 characters); metrics and health checks need
    /// none. `None` means no token is configured, and the node refuses `/admin/*` rather than serve
    /// it unauthenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6680),
            token: None,
        }
    }
}
