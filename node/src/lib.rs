//! The latticed node: binds a node's listeners, runs its tenants, serves its admin endpoints.
//!
//! [`start`] is what `latticed run` and the integration tests both use, so tests exercise the same
//! start-up path as operators.

pub mod admin;
mod cluster_metrics;
mod incarnation;
pub mod inspect;
mod lagging;
mod listener;
mod reach;
mod rehash;
pub mod replication;
mod retention;
pub mod runtime;
mod shipping;
pub mod snapshots;
mod split_timers;
pub mod storage;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use latticed_actors::{Metrics, NodeInfo, OpSink, Reactor, Tenant};
use latticed_config::Config;
use latticed_crdt::NodeId;
use latticed_eventlog::EventLog;
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The software version clients see.
pub const VERSION: &str = concat!("latticed-", env!("CARGO_PKG_VERSION"));

/// A node that is serving. Dropping it does not stop it; call [`RunningNode::shutdown`].
pub struct RunningNode {
    clients: HashMap<String, Vec<SocketAddr>>,
    admin: SocketAddr,
    tenants: Vec<Arc<Tenant>>,
    restores: HashMap<String, storage::Restored>,
    log: EventLog,
    /// Writes the ops handed to the log; stopped (after writing what is queued) at shutdown.
    log_writer: latticed_eventlog::Writer,
    cluster: Option<latticed_cluster::ClusterHandle<replication::ReplFrame>>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningNode {
    /// The bound client addresses of a tenant's listeners (port 0 in the config is resolved here).
    pub fn client_addrs(&self, tenant: &str) -> Vec<SocketAddr> {
        self.clients.get(tenant).cloned().unwrap_or_default()
    }

    /// How a tenant's state was rebuilt at start-up: from which snapshot, and how many ops of the
    /// log were replayed after it.
    pub fn restored(&self, tenant: &str) -> Option<storage::Restored> {
        self.restores.get(tenant).copied()
    }

    /// The bound admin address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// The bound cluster (QUIC) address, when the node is part of a cluster.
    pub fn cluster_addr(&self) -> Option<SocketAddr> {
        self.cluster.as_ref().map(|c| c.local_addr())
    }

    /// Stop accepting, tell every client the server is going away, close the cluster links (peers
    /// notice at once), and stop the admin listener.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Some(cluster) = &self.cluster {
            cluster.shutdown().await;
        }
        for tenant in &self.tenants {
            let core = tenant.lock();
            for local in core.local.values() {
                local.out.close(
                    latticed_actors::outbound::CloseReason::Server("Server shutting down".into()),
                    "Server shutting down",
                );
            }
        }
        for task in self.tasks {
            let _ = task.await;
        }
        drop(self.log_writer);
        if let Err(err) = self.log.flush() {
            tracing::error!(%err, "final event log flush failed");
        }
    }

    /// Completes when the node has been told to stop.
    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }
}

/// How a node was asked to start, beyond its configuration.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// The file the configuration came from (REHASH and SIGHUP re-read it).
    pub config_path: Option<PathBuf>,
    /// `--join HOST:PORT`: a running cluster node to learn the cluster from.
    pub join: Option<SocketAddr>,
}

/// Start a node from `config`, with no config file behind it (REHASH then keeps the running config).
pub async fn start(config: Config) -> Result<RunningNode> {
    start_with(config, StartOptions::default()).await
}

/// Start a node from `config` with start-up options.
pub async fn start_with(config: Config, options: StartOptions) -> Result<RunningNode> {
    let path = options.config_path;
    tls::install_crypto_provider();
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).context("registering metrics")?;
    let started = latticed_actors::time::iso8601(latticed_actors::time::unix_now_ms());
    let rehasher = Arc::new(rehash::FileRehasher::new(path));
    let stop = CancellationToken::new();
    let log_metrics =
        storage::LogMetrics::register(&registry).context("registering log metrics")?;
    let log = storage::open(&config.node.data_dir, &log_metrics)?;
    let log_writer = log
        .spawn_writer()
        .context("starting the event log's writer thread")?;
    let node_id = NodeId(config.node.id);
    let local_sink = storage::LogSink {
        log: log.clone(),
        ceilings: log
            .spawn_ceiling_keeper(node_id)
            .context("starting the clock ceiling thread")?,
        metrics: metrics.clone(),
    };
    let cluster = match &config.cluster {
        Some(cluster_config) => {
            let mut settings = latticed_cluster::ClusterSettings::from_config(
                &config.node,
                cluster_config,
                options.join,
            )
            .context("reading the cluster settings")?;
            settings.payload_version = replication::FRAME_VERSION;
            let (handle, events) =
                latticed_cluster::Cluster::start::<replication::ReplFrame>(settings)
                    .context("starting the cluster links")?;
            tracing::info!(address = %handle.local_addr(), epoch = handle.epoch(), "cluster endpoint ready");
            Some((handle, events))
        }
        None => {
            if options.join.is_some() {
                anyhow::bail!("--join needs a [cluster] section in the configuration (certificates, secret, listen address)");
            }
            None
        }
    };
    let mut cluster = cluster;
    let peers = cluster.as_mut().map(|(handle, events)| incarnation::Peers {
        handle: &*handle,
        events,
    });
    let (epoch, early_events) =
        incarnation::begin(&log, node_id, peers, incarnation::PEER_WAIT).await?;
    tracing::info!(data_dir = %config.node.data_dir.display(), epoch, "event log open");
    let repl_metrics =
        cluster_metrics::ReplMetrics::register(&registry).context("registering cluster metrics")?;
    let sink: Arc<dyn OpSink> = match &cluster {
        Some((handle, _)) => Arc::new(replication::ReplicatingSink::new(
            local_sink,
            log.clone(),
            handle.clone(),
            repl_metrics.clone(),
        )),
        None => Arc::new(local_sink),
    };
    let ready = Arc::new(AtomicBool::new(false));

    let mut snapshotter = snapshots::Snapshotter::new(
        log.clone(),
        config.node.snapshot_every_ops,
        log_metrics.clone(),
    );
    let mut tenants = Vec::new();
    let mut restores = HashMap::new();
    let mut clients: HashMap<String, Vec<SocketAddr>> = HashMap::new();
    let mut tasks = Vec::new();
    let reactor = Reactor::start().context("starting the client socket reactor")?;
    for tenant_config in &config.tenants {
        let node = NodeInfo {
            id: node_id,
            server_name: tenant_config
                .server_name
                .clone()
                .unwrap_or_else(|| config.node.name.clone()),
            description: config.node.description.clone(),
            version: VERSION.to_owned(),
            started: started.clone(),
            peers: config
                .cluster
                .iter()
                .flat_map(|c| c.peers.iter())
                .map(|p| (NodeId(p.id), p.name.clone()))
                .collect(),
            epoch,
        };
        let tenant = Arc::new(Tenant::new(
            Arc::new(tenant_config.clone()),
            node,
            metrics.for_tenant(&tenant_config.name),
            sink.clone(),
            log.clone(),
            Some(rehasher.clone() as Arc<dyn latticed_actors::Rehasher>),
        ));
        log.set_casemapping(&tenant.id, tenant.lock().casemapping())
            .context("recording the tenant's casemapping")?;
        let restored = storage::restore(&tenant, &log, node_id)?;
        tracing::info!(
            tenant = %tenant.id,
            snapshot_ops = restored.snapshot.map_or(0, |s| s.ops),
            replayed_ops = restored.replayed,
            "tenant state restored from the event log"
        );
        snapshotter.track(tenant.clone(), &restored);
        restores.insert(tenant.id.0.clone(), restored);
        for listener_config in &tenant_config.listeners {
            let acceptor = match &listener_config.tls {
                Some(files) => Some(tls::acceptor(&files.cert, &files.key).with_context(|| {
                    format!(
                        "TLS for tenant {} listener {}",
                        tenant_config.name, listener_config.address
                    )
                })?),
                None => None,
            };
            let listener = TcpListener::bind(listener_config.address)
                .await
                .with_context(|| {
                    format!(
                        "binding client listener {} of tenant {}",
                        listener_config.address, tenant_config.name
                    )
                })?;
            let bound = listener.local_addr()?;
            tracing::info!(tenant = %tenant_config.name, address = %bound, tls = acceptor.is_some(), "client listener ready");
            clients
                .entry(tenant_config.name.clone())
                .or_default()
                .push(bound);
            let listener = listener::Listener::new(listener)
                .with_context(|| format!("watching client listener {bound}"))?;
            tasks.push(tokio::spawn(listener::accept_loop(
                listener,
                reactor.clone(),
                tenant.clone(),
                acceptor,
                stop.clone(),
            )));
        }
        tenants.push(tenant);
    }
    rehasher.attach(&tenants);
    tasks.push(tokio::spawn(retention::prune_loop(
        log.clone(),
        tenants.clone(),
        retention::PRUNE_INTERVAL,
        stop.clone(),
    )));
    let cluster = match cluster {
        Some((handle, events)) => {
            let grace = config
                .cluster
                .as_ref()
                .map(|c| c.grace_period())
                .unwrap_or_default();
            let replicator = Arc::new(replication::Replicator::new(
                &tenants,
                log.clone(),
                handle.clone(),
                repl_metrics.clone(),
                grace,
            ));
            tasks.push(tokio::spawn(replicator.run(
                early_events,
                events,
                stop.clone(),
            )));
            Some(handle)
        }
        None => None,
    };
    tasks.push(tokio::spawn(snapshotter.run(stop.clone())));
    tasks.push(tokio::spawn(storage::flush_loop(
        log.clone(),
        std::time::Duration::from_millis(config.node.flush_interval_ms),
        log_metrics.clone(),
        stop.clone(),
    )));

    let admin_listener = TcpListener::bind(config.admin.listen)
        .await
        .with_context(|| format!("binding admin listener {}", config.admin.listen))?;
    let admin = admin_listener.local_addr()?;
    tracing::info!(address = %admin, "admin listener ready (/metrics, /healthz, /readyz)");
    let router = admin::router(admin::AdminState {
        registry,
        ready: ready.clone(),
        log: log.clone(),
        log_metrics,
        token: config.admin.token.clone(),
        cluster: cluster.clone().map(|handle| (handle, repl_metrics)),
    });
    let admin_stop = stop.clone();
    tasks.push(tokio::spawn(async move {
        let served = axum::serve(admin_listener, router)
            .with_graceful_shutdown(async move { admin_stop.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(%err, "admin listener failed");
        }
    }));
    ready.store(true, Ordering::Release);
    Ok(RunningNode {
        clients,
        admin,
        tenants,
        restores,
        log,
        log_writer,
        cluster,
        stop,
        tasks,
    })
}

/// Trigger a configuration reload of a running node (SIGHUP).
pub fn rehash(node: &RunningNode) -> Result<(), String> {
    match node.tenants.first() {
        Some(tenant) => tenant.rehash(),
        None => Ok(()),
    }
}
