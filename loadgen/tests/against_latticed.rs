//! Every scenario, end to end and at a tiny size, against a real latticed node started in this
//! process: the barrier must pass, every expected delivery must arrive exactly once, and the
//! figures must add up. Two listeners of one tenant stand in for two servers in `cross`.

use std::net::SocketAddr;
use std::path::Path;

use clap::Parser;
use latticed_config::Config;
use latticed_loadgen::cli::Cli;
use latticed_loadgen::scenario;
use serde_json::Value;

const CONFIG: &str = r#"
[node]
id = 1
name = "loadgen.test"

[admin]
listen = "127.0.0.1:0"

[[tenants]]
name = "default"
network = "LoadgenTest"

[[tenants.listeners]]
address = "127.0.0.1:0"

[[tenants.listeners]]
address = "127.0.0.1:0"

[tenants.flood]
enabled = false
max_connections_per_ip = 10000
"#;

/// A running node, its two client addresses, and the temporary directory of its event log
/// (removed when dropped, after the node has been shut down).
struct Node {
    node: latticed::RunningNode,
    addrs: Vec<SocketAddr>,
    _data: tempfile::TempDir,
}

async fn start() -> Node {
    let data = tempfile::tempdir().expect("temporary data directory");
    let mut config = Config::from_toml_str(CONFIG, Path::new("loadgen-test.toml")).expect("config");
    config.node.data_dir = data.path().to_path_buf();
    let node = latticed::start(config).await.expect("start latticed");
    let addrs = node.client_addrs("default");
    assert_eq!(addrs.len(), 2);
    Node {
        node,
        addrs,
        _data: data,
    }
}

impl Node {
    async fn shutdown(self) {
        self.node.shutdown().await;
    }
}

async fn run(args: &[&str]) -> Value {
    let mut argv = vec!["latticed-loadgen"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("arguments");
    let line = scenario::run(cli.scenario).await.expect("scenario runs");
    assert!(!line.contains('\n'), "one JSON line: {line}");
    serde_json::from_str(&line).expect("valid JSON")
}

fn assert_complete_delivery(report: &Value, expected: u64) {
    assert_eq!(report["timed_out"], false, "{report}");
    assert_eq!(report["phase_reached"], "done", "{report}");
    assert_eq!(report["expected_deliveries"], expected, "{report}");
    assert_eq!(report["received_deliveries"], expected, "{report}");
    assert_eq!(report["lost_deliveries"], 0, "{report}");
    assert_eq!(report["duplicate_deliveries"], 0, "{report}");
    assert_eq!(report["unexpected_deliveries"], 0, "{report}");
    assert_eq!(report["disconnects"], serde_json::json!({}), "{report}");
    assert_eq!(report["latency_ms"]["count"], expected, "{report}");
    assert!(
        report["deliveries_per_sec"].as_f64().unwrap() > 0.0,
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_delivers_every_message_to_every_other_member() {
    let node = start().await;
    let addr = node.addrs[0].to_string();
    let pid = std::process::id().to_string();
    let report = run(&[
        "fanout",
        "--addr",
        &addr,
        "--clients",
        "12",
        "--senders",
        "3",
        "--messages",
        "15",
        "--timeout",
        "30",
        "--server-pid",
        &pid,
        "--label",
        "test",
    ])
    .await;
    assert_complete_delivery(&report, 3 * 15 * 11);
    assert_eq!(report["scenario"], "fanout");
    assert_eq!(report["label"], "test");
    assert_eq!(report["messages_sent"], 45);
    assert_eq!(report["params"]["clients"], 12);
    assert!(
        report["server_cpu"]["percent_of_one_core"]
            .as_f64()
            .is_some(),
        "{report}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_channels_scenario_counts_only_shared_channels() {
    let node = start().await;
    let addr = node.addrs[0].to_string();
    // 8 clients over 4 channels, 2 each: every channel has 4 members, so each message reaches 3.
    let report = run(&[
        "channels",
        "--addr",
        &addr,
        "--clients",
        "8",
        "--channels",
        "4",
        "--per-client",
        "2",
        "--rate",
        "10",
        "--duration",
        "0.5",
        "--timeout",
        "30",
    ])
    .await;
    assert_complete_delivery(&report, 8 * 5 * 3);
    assert!(report["send_secs"].as_f64().unwrap() >= 0.4, "{report}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_registers_everyone_and_reports_memory() {
    let node = start().await;
    let addr = node.addrs[0].to_string();
    let pid = std::process::id().to_string();
    let report = run(&[
        "connect",
        "--addr",
        &addr,
        "--clients",
        "30",
        "--concurrency",
        "7",
        "--server-pid",
        &pid,
        "--settle-ms",
        "50",
        "--timeout",
        "30",
    ])
    .await;
    assert_eq!(report["timed_out"], false, "{report}");
    assert_eq!(report["registered"], 30, "{report}");
    assert_eq!(report["failures"], serde_json::json!({}), "{report}");
    assert_eq!(report["registration_latency_ms"]["count"], 30, "{report}");
    assert!(
        report["rss_per_connection_bytes"].as_f64().is_some(),
        "{report}"
    );
    let (before, half, after) = (
        report["server_rss_before_bytes"].as_u64(),
        report["server_rss_half_bytes"].as_u64(),
        report["server_rss_after_bytes"].as_u64(),
    );
    assert!(
        before.is_some() && half.is_some() && after.is_some(),
        "memory read before, at the half and after: {report}"
    );
    let added = report["rss_per_added_connection_bytes"]
        .as_f64()
        .unwrap_or_else(|| panic!("no per-added-connection figure: {report}"));
    let expected = (after.unwrap_or(0) as f64 - half.unwrap_or(0) as f64) / 15.0;
    assert!(
        (added - expected).abs() < 1e-6,
        "second half's growth over its 15 clients: {report}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_reports_each_server_separately() {
    let node = start().await;
    let (sender, receiver) = (node.addrs[0].to_string(), node.addrs[1].to_string());
    let report = run(&[
        "cross",
        "--sender-addr",
        &sender,
        "--receiver-addrs",
        &receiver,
        "--clients-per-node",
        "5",
        "--senders",
        "2",
        "--messages",
        "10",
        "--rate",
        "200",
        "--timeout",
        "30",
    ])
    .await;
    // Each message reaches the 4 other clients of the sender's server and the 5 of the other.
    assert_complete_delivery(&report, 2 * 10 * 9);
    let nodes = report["per_node"].as_array().expect("per-node figures");
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0]["senders"], 2);
    assert_eq!(nodes[0]["received_deliveries"], 2 * 10 * 4);
    assert_eq!(nodes[1]["senders"], 0);
    assert_eq!(nodes[1]["received_deliveries"], 2 * 10 * 5);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_fails_setup_within_the_timeout() {
    let node = start().await;
    let addr = node.addrs[0].to_string();
    node.shutdown().await;
    let report = run(&[
        "fanout",
        "--addr",
        &addr,
        "--clients",
        "3",
        "--senders",
        "1",
        "--messages",
        "1",
        "--timeout",
        "5",
    ])
    .await;
    assert_eq!(report["clients_ready"], 0, "{report}");
    assert_eq!(
        report["setup_failures"]["connect: ConnectionRefused"], 3,
        "{report}"
    );
    assert_eq!(report["received_deliveries"], 0, "{report}");
}
