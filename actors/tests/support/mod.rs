//! A tenant runtime as a node builds one, for tests that drive a tenant core directly.

use std::sync::Arc;

use latticed_actors::{Metrics, NodeInfo, OpSink, Tenant};
use latticed_config::TenantConfig;
use latticed_crdt::{NodeId, OpBody, Uid};
use latticed_eventlog::EventLog;
use prometheus::Registry;

/// The node every test tenant runs on.
pub const NODE: NodeId = NodeId(1);

/// A tenant configured by `config` on [`NODE`] (epoch 1), committing into `sink`, reading
/// history from `log`.
pub fn tenant(config: TenantConfig, sink: Arc<dyn OpSink>, log: &EventLog) -> Tenant {
    let metrics = Metrics::register(&Registry::new()).expect("metrics");
    let node = NodeInfo {
        id: NODE,
        server_name: "irc.test".into(),
        description: "test".into(),
        version: "test".into(),
        started: "now".into(),
        peers: Default::default(),
        epoch: 1,
    };
    let name = config.name.clone();
    Tenant::new(
        Arc::new(config),
        node,
        metrics.for_tenant(&name),
        sink,
        log.clone(),
        None,
    )
}

/// The op of user `uid` arriving as `nick`.
pub fn arrive(uid: Uid, nick: &str) -> OpBody {
    OpBody::UserArrive {
        uid,
        nick: nick.into(),
        user: "u".into(),
        host: "h".into(),
        realname: "r".into(),
        ip: "127.0.0.1".into(),
        account: None,
        modes: String::new(),
    }
}
