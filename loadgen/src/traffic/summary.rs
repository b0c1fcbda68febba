//! Turns the per-client figures of a traffic run into the report's totals: throughput, latency
//! percentiles, loss, duplicates, disconnects and error numerics, overall and per server.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;

use super::{Outcome, Plan};
use crate::procfs::CpuUsage;
use crate::stats::{self, LatencySummary};

/// Figures of one traffic run (the scenario adds its parameters around them).
#[derive(Debug, Serialize)]
pub struct TrafficFigures {
    /// Last phase reached: "done" unless the deadline cut the run short.
    pub phase_reached: &'static str,
    /// Clients in the plan.
    pub clients_requested: usize,
    /// Clients in their channels when sending started.
    pub clients_ready: usize,
    /// Setup failures by reason.
    pub setup_failures: BTreeMap<String, u64>,
    /// Connections the server ended after setup, by reason.
    pub disconnects: BTreeMap<String, u64>,
    /// Clients that did not stop within the grace time and were aborted (their figures are lost).
    pub aborted_clients: usize,
    /// Error numerics received by all clients, by numeric.
    pub error_numerics: BTreeMap<u16, u64>,
    /// Messages written by senders.
    pub messages_sent: u64,
    /// Deliveries those messages should have produced.
    pub expected_deliveries: u64,
    /// First deliveries received.
    pub received_deliveries: u64,
    /// Expected deliveries that never arrived.
    pub lost_deliveries: u64,
    /// Deliveries of a message a receiver already had.
    pub duplicate_deliveries: u64,
    /// Data messages no receiver should have got (unknown sender or sequence).
    pub unexpected_deliveries: u64,
    /// Seconds spent on setup and the barrier.
    pub setup_secs: f64,
    /// Seconds from the start signal until the last message was written.
    pub send_secs: Option<f64>,
    /// Seconds from the start signal until the last delivery.
    pub window_secs: f64,
    /// Received deliveries per second over the window.
    pub deliveries_per_sec: f64,
    /// Delivery latency over all receivers.
    pub latency_ms: Option<LatencySummary>,
    /// The same per server, when the run used several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_node: Vec<NodeFigures>,
    /// Server CPU over the measured phase (start signal to end of drain), with --server-pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu: Option<CpuUsage>,
    /// Why the server CPU could not be measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_error: Option<String>,
    /// Percent of the machine's CPU time a virtual machine's host took (steal) over the measured
    /// phase: latencies of any server rise with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_steal_percent: Option<f64>,
    /// CPU the whole machine used over the measured phase (the server, this load generator and
    /// the kernel's interrupt work), as a percentage of one core: on loopback part of a server's
    /// socket work is done in its clients' processes, so this is the scenario's full cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_cpu_percent: Option<f64>,
}

/// Delivery figures of the clients of one server.
#[derive(Debug, Serialize)]
pub struct NodeFigures {
    /// The server's address.
    pub addr: SocketAddr,
    /// Its clients in the plan.
    pub clients: usize,
    /// Of those, how many send (in `cross`, only the first server has senders).
    pub senders: usize,
    /// Of those, present when sending started.
    pub clients_ready: usize,
    /// Deliveries its clients should have got.
    pub expected_deliveries: u64,
    /// First deliveries its clients got.
    pub received_deliveries: u64,
    /// Expected deliveries that never arrived.
    pub lost_deliveries: u64,
    /// Repeated deliveries.
    pub duplicate_deliveries: u64,
    /// Delivery latency to its clients.
    pub latency_ms: Option<LatencySummary>,
}

/// Aggregate a finished run; `per_node` adds a breakdown by server.
pub fn summarize(plan: &Plan, outcome: Outcome, per_node: bool) -> TrafficFigures {
    let sent: Vec<Vec<u64>> = outcome
        .reports
        .iter()
        .map(|r| r.sent_per_channel.clone())
        .collect();
    let expected_per_client: Vec<u64> = (0..plan.clients.len())
        .map(|i| plan.expected_for(i, &sent, &outcome.present))
        .collect();

    let mut setup_failures = BTreeMap::new();
    let mut disconnects = BTreeMap::new();
    let mut error_numerics = BTreeMap::new();
    let mut nodes: Vec<NodeAccumulator> = plan
        .nodes
        .iter()
        .map(|_| NodeAccumulator::default())
        .collect();
    let mut all_latencies = Vec::new();
    let mut last_delivery_ns = None;
    let mut messages_sent = 0;
    for (idx, report) in outcome.reports.into_iter().enumerate() {
        if let Some(reason) = report.setup_failure {
            *setup_failures.entry(reason).or_insert(0) += 1;
        }
        if let Some(reason) = report.disconnect {
            *disconnects.entry(reason).or_insert(0) += 1;
        }
        for (numeric, count) in report.numerics {
            *error_numerics.entry(numeric).or_insert(0) += count;
        }
        messages_sent += report.sent_per_channel.iter().sum::<u64>();
        last_delivery_ns = last_delivery_ns.max(report.last_delivery_ns);
        let node = &mut nodes[report.node];
        node.clients += 1;
        node.senders += usize::from(plan.clients[idx].sends);
        node.ready += usize::from(outcome.present[idx]);
        node.expected += expected_per_client[idx];
        node.received += report.unique;
        node.duplicates += report.duplicates;
        node.unexpected += report.unexpected;
        if per_node {
            all_latencies.extend_from_slice(&report.latencies);
            node.latencies.extend(report.latencies);
        } else {
            all_latencies.extend(report.latencies);
        }
    }

    let expected: u64 = nodes.iter().map(|n| n.expected).sum();
    let received: u64 = nodes.iter().map(|n| n.received).sum();
    let window_secs = match (outcome.go_ns, last_delivery_ns) {
        (Some(go), Some(last)) => last.saturating_sub(go) as f64 / 1e9,
        _ => 0.0,
    };
    let (server_cpu, server_cpu_error) = match outcome.cpu {
        Some(Ok(usage)) => (Some(usage), None),
        Some(Err(err)) => (None, Some(err)),
        None => (None, None),
    };
    TrafficFigures {
        phase_reached: outcome.phase,
        clients_requested: plan.clients.len(),
        clients_ready: outcome.present.iter().filter(|p| **p).count(),
        setup_failures,
        disconnects,
        aborted_clients: outcome.aborted,
        error_numerics,
        messages_sent,
        expected_deliveries: expected,
        received_deliveries: received,
        lost_deliveries: expected.saturating_sub(received),
        duplicate_deliveries: nodes.iter().map(|n| n.duplicates).sum(),
        unexpected_deliveries: nodes.iter().map(|n| n.unexpected).sum(),
        setup_secs: outcome.setup_secs,
        send_secs: outcome.send_secs,
        window_secs,
        deliveries_per_sec: if window_secs > 0.0 {
            received as f64 / window_secs
        } else {
            0.0
        },
        latency_ms: stats::summarize(&mut all_latencies),
        per_node: if per_node {
            plan.nodes
                .iter()
                .zip(nodes)
                .map(|(addr, mut node)| NodeFigures {
                    addr: *addr,
                    clients: node.clients,
                    senders: node.senders,
                    clients_ready: node.ready,
                    expected_deliveries: node.expected,
                    received_deliveries: node.received,
                    lost_deliveries: node.expected.saturating_sub(node.received),
                    duplicate_deliveries: node.duplicates,
                    latency_ms: stats::summarize(&mut node.latencies),
                })
                .collect()
        } else {
            Vec::new()
        },
        server_cpu,
        server_cpu_error,
        host_steal_percent: outcome.host_steal_percent,
        machine_cpu_percent: outcome.machine_cpu_percent,
    }
}

#[derive(Default)]
struct NodeAccumulator {
    clients: usize,
    senders: usize,
    ready: usize,
    expected: u64,
    received: u64,
    duplicates: u64,
    unexpected: u64,
    latencies: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::client::ClientReport;
    use crate::traffic::{ClientPlan, Pacing};
    use std::time::Duration;

    fn plan() -> Plan {
        let client = |node, sends| ClientPlan {
            node,
            nick: "n".to_owned(),
            channels: vec![0],
            sends,
            phase: Duration::ZERO,
        };
        Plan::new(
            vec![
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.1:2".parse().unwrap(),
            ],
            vec!["#c".to_owned()],
            vec![
                client(0, true),
                client(0, false),
                client(1, false),
                client(1, false),
            ],
            4,
            Pacing::Burst,
            0,
        )
        .unwrap()
    }

    fn report(node: usize, unique: u64, latencies_ms: &[u64]) -> ClientReport {
        ClientReport {
            node,
            unique,
            latencies: latencies_ms.iter().map(|ms| ms * 1_000_000).collect(),
            last_delivery_ns: latencies_ms
                .iter()
                .max()
                .map(|ms| 1_000_000_000 + ms * 1_000_000),
            ..ClientReport::default()
        }
    }

    #[test]
    fn totals_loss_rate_and_per_node_figures() {
        let plan = plan();
        let mut sender = report(0, 0, &[]);
        sender.sent_per_channel = vec![4];
        let mut gone = report(0, 2, &[1, 2]);
        gone.disconnect = Some("ERROR: SendQ exceeded".to_owned());
        gone.numerics.insert(404, 2);
        let mut dup = report(1, 4, &[3, 4, 5, 6]);
        dup.duplicates = 1;
        dup.numerics.insert(404, 1);
        let failed = ClientReport {
            node: 1,
            setup_failure: Some("numeric 433".to_owned()),
            ..ClientReport::default()
        };
        let outcome = Outcome {
            reports: vec![sender, gone, dup, failed],
            present: vec![true, true, true, false],
            timed_out: false,
            phase: "done",
            aborted: 0,
            setup_secs: 1.0,
            go_ns: Some(1_000_000_000),
            send_secs: Some(0.001),
            cpu: Some(Err("gone".to_owned())),
            host_steal_percent: Some(2.5),
            machine_cpu_percent: Some(61.0),
        };
        let figures = summarize(&plan, outcome, true);
        assert_eq!(figures.clients_ready, 3);
        assert_eq!(figures.messages_sent, 4);
        assert_eq!(figures.expected_deliveries, 8);
        assert_eq!(figures.received_deliveries, 6);
        assert_eq!(figures.lost_deliveries, 2);
        assert_eq!(figures.duplicate_deliveries, 1);
        assert_eq!(figures.setup_failures.get("numeric 433"), Some(&1));
        assert_eq!(figures.disconnects.get("ERROR: SendQ exceeded"), Some(&1));
        assert_eq!(figures.error_numerics.get(&404), Some(&3));
        assert!((figures.window_secs - 0.006).abs() < 1e-12);
        assert!((figures.deliveries_per_sec - 1000.0).abs() < 1e-6);
        assert_eq!(figures.latency_ms.as_ref().unwrap().max_ms, 6.0);
        assert_eq!(figures.server_cpu_error.as_deref(), Some("gone"));
        assert_eq!(figures.host_steal_percent, Some(2.5));
        assert_eq!(figures.machine_cpu_percent, Some(61.0));
        let [first, second] = &figures.per_node[..] else {
            panic!("expected two servers");
        };
        assert_eq!(
            (first.clients, first.senders, first.expected_deliveries),
            (2, 1, 4)
        );
        assert_eq!(
            (second.clients, second.senders, second.expected_deliveries),
            (2, 0, 4)
        );
        assert_eq!(first.latency_ms.as_ref().unwrap().p50_ms, 1.0);
        assert_eq!(second.latency_ms.as_ref().unwrap().p50_ms, 4.0);
    }

    #[test]
    fn no_deliveries_gives_zero_rate_and_no_latency() {
        let plan = plan();
        let outcome = Outcome {
            reports: (0..4).map(|i| report(i / 2, 0, &[])).collect(),
            present: vec![false; 4],
            timed_out: true,
            phase: "setup",
            aborted: 1,
            setup_secs: 0.0,
            go_ns: None,
            send_secs: None,
            cpu: None,
            host_steal_percent: None,
            machine_cpu_percent: None,
        };
        let figures = summarize(&plan, outcome, false);
        assert_eq!(figures.deliveries_per_sec, 0.0);
        assert!(figures.latency_ms.is_none());
        assert!(figures.per_node.is_empty());
        assert_eq!(figures.phase_reached, "setup");
        assert_eq!(figures.aborted_clients, 1);
    }
}
