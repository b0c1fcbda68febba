//! State snapshots across a restart: a node snapshots a tenant after `node.snapshot_every_ops` ops
//! and at shutdown, and a restart starts from the newest snapshot and replays only the ops after
//! it, ending up with the state a full replay of the log gives.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use latticed::snapshots::op_count;
use latticed::storage::{self, LogSink, Restored};
use latticed::RunningNode;
use latticed_actors::tenant::CoreSnapshot;
use latticed_actors::{Metrics, NodeInfo, Tenant};
use latticed_config::Config;
use latticed_crdt::{NodeId, Op, OpBody, OpId, Stamp, TenantId, Uid};
use latticed_eventlog::EventLog;
use prometheus::Registry;
use support::config::{node_toml, open_tenant};
use support::http::must_get;
use support::time::now_ms;
use support::Client;
use tokio::time::Instant;

/// Ops between snapshots in this test.
const EVERY: u64 = 50;
/// Ops made after the periodic snapshot: too few for another, so only the shutdown snapshot
/// can include them.
const AFTER_PERIODIC: usize = 10;
/// The channel kept alive across restarts by a member on another node.
const CHANNEL: &str = "#keep";

fn default_tenant() -> TenantId {
    TenantId("default".to_owned())
}

fn config(data: &Path) -> Config {
    let toml = node_toml(&[open_tenant("")]).replacen(
        "[node]\n",
        &format!("[node]\nsnapshot_every_ops = {EVERY}\n"),
        1,
    );
    let mut config = Config::from_toml_str(&toml, Path::new("test.toml"))
        .unwrap_or_else(|e| panic!("test configuration rejected: {e}\n{toml}"));
    config.node.data_dir = data.to_path_buf();
    config
}

async fn start(data: &Path) -> RunningNode {
    tokio::time::timeout(Duration::from_secs(20), latticed::start(config(data)))
        .await
        .expect("node did not start within 20 s")
        .unwrap_or_else(|e| panic!("node failed to start: {e}"))
}

fn client_addr(node: &RunningNode) -> std::net::SocketAddr {
    node.client_addrs("default")[0]
}

async fn stop(node: RunningNode) {
    tokio::time::timeout(Duration::from_secs(20), node.shutdown())
        .await
        .expect("node did not shut down within 20 s");
}

/// Puts a user of node 2 into the log, in `CHANNEL`: it outlives node 1's restarts (which end
/// node 1's own users), so the channel and its topic stay visible.
fn seed_remote_member(data: &Path) {
    let log = EventLog::open(data).expect("open the log");
    let carol = Uid {
        node: NodeId(2),
        n: 1,
    };
    let bodies = [
        OpBody::UserArrive {
            uid: carol,
            nick: "carol".into(),
            user: "carol".into(),
            host: "remote.test".into(),
            realname: "Carol".into(),
            ip: "192.0.2.7".into(),
            account: None,
            modes: String::new(),
        },
        OpBody::Join {
            channel: CHANNEL.into(),
            uid: carol,
        },
    ];
    for (seq, body) in (1..).zip(bodies) {
        let op = Op {
            tenant: default_tenant(),
            id: OpId {
                origin: NodeId(2),
                seq,
            },
            stamp: Stamp {
                counter: seq,
                node: NodeId(2),
            },
            wall_ms: now_ms(),
            body,
        };
        log.append(&op).expect("append a remote op");
    }
    log.flush().expect("flush");
}

/// Waits until the node exports a snapshot age for the default tenant: a periodic snapshot was
/// written.
async fn wait_for_periodic_snapshot(node: &RunningNode) {
    let admin = node.admin_addr();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = tokio::task::spawn_blocking(move || must_get(admin, "/metrics", None).body)
            .await
            .expect("metrics request");
        if body.contains("latticed_log_snapshot_age_seconds{tenant=\"default\"}") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot after {EVERY}+ ops; metrics:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A tenant runtime over `log`, as the node builds it, for rebuilding state outside a node.
fn tenant_over(log: &EventLog, config: &Config) -> Tenant {
    let metrics = Metrics::register(&Registry::new()).expect("metrics");
    let tenant_config = config.tenants[0].clone();
    let sink = LogSink {
        log: log.clone(),
        ceilings: log
            .spawn_ceiling_keeper(NodeId(config.node.id))
            .expect("ceiling keeper"),
        metrics: metrics.clone(),
    };
    Tenant::new(
        Arc::new(tenant_config),
        NodeInfo {
            id: NodeId(config.node.id),
            server_name: config.node.name.clone(),
            description: String::new(),
            version: latticed::VERSION.to_owned(),
            started: String::new(),
            peers: Default::default(),
            epoch: log.begin_epoch(NodeId(config.node.id)).expect("epoch"),
        },
        metrics.for_tenant("default"),
        Arc::new(sink),
        log.clone(),
        None,
    )
}

/// Reads the stopped node's log: a snapshot is there, and rebuilding from it plus the ops after
/// it gives the state a full replay of the log gives. Returns how that rebuild went.
fn check_log(data: &Path) -> Restored {
    let log = EventLog::open(data).expect("open the stopped node's log");
    let tenant = default_tenant();
    let snapshot = log
        .latest_snapshot::<CoreSnapshot>(&tenant)
        .expect("the snapshot decodes")
        .expect("a snapshot was written");
    let held = log.version_vector(&tenant);
    assert!(
        snapshot
            .vv
            .iter()
            .all(|(origin, seq)| held.get(origin) >= Some(seq)),
        "snapshot {:?} covers ops the log lacks {held:?}",
        snapshot.vv
    );
    let runtime = tenant_over(&log, &config(data));
    let rebuilt = storage::rebuild(&runtime, &log).expect("rebuild");
    let full = log
        .replay(&tenant, now_ms() + 60_000)
        .expect("full replay")
        .snapshot();
    assert_eq!(runtime.lock().state.snapshot(), full);
    assert_eq!(runtime.lock().version_vector(), &held);
    let used = rebuilt.snapshot.expect("the rebuild used the snapshot");
    assert_eq!(used.ops, op_count(&snapshot.vv));
    assert_eq!(
        used.ops + rebuilt.replayed as u64,
        op_count(&held),
        "{rebuilt:?}"
    );
    rebuilt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_starts_from_the_snapshot_and_replays_only_the_tail() {
    let data = tempfile::tempdir().expect("data directory");
    seed_remote_member(data.path());

    let node = start(data.path()).await;
    let first = node.restored("default").expect("restored");
    assert_eq!((first.snapshot, first.replayed), (None, 2));
    let mut alice = Client::register(client_addr(&node), "alice").await;
    alice.join(CHANNEL).await;
    let burst = EVERY as usize + 8;
    for i in 0..burst {
        alice.send(&format!("TOPIC {CHANNEL} :topic {i}")).await;
    }
    alice.sync().await;
    wait_for_periodic_snapshot(&node).await;
    for i in 0..AFTER_PERIODIC {
        alice
            .send(&format!("TOPIC {CHANNEL} :late topic {i}"))
            .await;
    }
    alice.sync().await;
    stop(node).await;

    let rebuilt = check_log(data.path());
    assert!(
        rebuilt.replayed < AFTER_PERIODIC,
        "the shutdown snapshot should include the late topics: {rebuilt:?}"
    );

    let node = start(data.path()).await;
    assert_eq!(node.restored("default"), Some(rebuilt));
    let mut dave = Client::register(client_addr(&node), "dave").await;
    dave.send(&format!("TOPIC {CHANNEL}")).await;
    let topic = dave.expect("332").await;
    assert_eq!(
        topic.last(),
        format!("late topic {}", AFTER_PERIODIC - 1),
        "{topic}"
    );
    assert_eq!(dave.names(CHANNEL).await, vec!["carol".to_owned()]);
    stop(node).await;
}

#[test]
fn an_unusable_snapshot_falls_back_to_replaying_the_whole_log() {
    let data = tempfile::tempdir().expect("data directory");
    seed_remote_member(data.path());
    let log = EventLog::open(data.path()).expect("open the log");
    let tenant = default_tenant();
    let config = config(data.path());
    let full_replay = Restored {
        snapshot: None,
        replayed: 2,
    };
    let expected = log
        .replay(&tenant, now_ms() + 60_000)
        .expect("full replay")
        .snapshot();
    let rebuilt_with = |config: &Config| {
        let runtime = tenant_over(&log, config);
        let restored = storage::rebuild(&runtime, &log).expect("rebuild");
        assert_eq!(runtime.lock().state.snapshot(), expected);
        restored
    };
    let (good, vv) = tenant_over(&log, &config).lock().snapshot();

    // Bytes that do not decode as a state.
    log.write_snapshot(&tenant, &"not a tenant state", &vv)
        .expect("write");
    assert_eq!(rebuilt_with(&config), full_replay);

    // A state that claims ops the log does not hold.
    let mut ahead = vv.clone();
    ahead.insert(NodeId(2), 5);
    log.write_snapshot(&tenant, &good, &ahead).expect("write");
    assert_eq!(rebuilt_with(&config), full_replay);

    // A state folded with another casemapping than the configured one.
    log.write_snapshot(&tenant, &good, &vv).expect("write");
    let mut ascii = config.clone();
    ascii.tenants[0].casemapping = latticed_config::CaseMappingName::Ascii;
    assert_eq!(rebuilt_with(&ascii), full_replay);

    // The same snapshot with the configured casemapping is used.
    let used = rebuilt_with(&config);
    assert_eq!(used.snapshot.map(|s| s.ops), Some(0));
    assert_eq!(used.replayed, 2);
}
