//! Invariant 6, replay agreement (issue 4): every node's event log rebuilds the same network.
//!
//! After the live checks, every running node is stopped cleanly (SIGTERM: the node flushes its
//! log on the way out), then `latticed replay --at T` is run on each node's data directory for
//! each tenant, twice. `T` is the instant the convergence snapshots were complete (taken by
//! [`crate::run`] before the later checks' observers joined channels), so the state at `T` is
//! exactly what the observers recorded over IRC. The invariant holds when
//!
//! * (a) the output is byte-identical on every node,
//! * (b) it equals what that node's observer recorded over IRC ([`state`] maps the JSON to that
//!   form), and
//! * (c) replaying the same directory again prints the same bytes.
//!
//! A node that is not running at the end (a scenario that leaves it down) is named in the
//! evidence and skipped.

mod command;
pub mod first_diff;
pub mod state;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::check::{self, NodeSnapshots, Verdict};
use crate::cluster::Cluster;
use first_diff::first_difference;
use state::Replayed;

/// How long the nodes together have to exit after SIGTERM.
pub const STOP_BOUND: Duration = Duration::from_secs(15);
/// How long all the replays of one seed may take together.
pub const REPLAY_BOUND: Duration = Duration::from_secs(60);
/// Differences against IRC shown per node and tenant (the first one, then a few more).
const SHOWN_DIFFS: usize = 3;

/// One tenant's live view: what each node's observer recorded over IRC.
pub struct Live<'a> {
    /// The tenant.
    pub tenant: &'static str,
    /// The channels the observers' snapshots cover.
    pub channels: &'static [&'static str],
    /// Per node, its snapshot (or why it has none).
    pub snaps: &'a NodeSnapshots,
}

/// One tenant replayed on one node.
struct Replay {
    node: u16,
    tenant: &'static str,
    output: Vec<u8>,
}

/// Stops every running node and checks the replays (see the module docs). Afterwards no node of
/// `cluster` is running.
pub fn agreement(cluster: &mut Cluster, latticed: &Path, at_ms: u64, live: &[Live<'_>]) -> Verdict {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let stopped = stop_all(cluster, &mut problems, &mut notes);

    let replay_start = Instant::now();
    let deadline = replay_start + REPLAY_BOUND;
    let mut runs = 0usize;
    let mut replays = Vec::new();
    for view in live {
        for &(node, data) in &stopped {
            let run = || command::replay(latticed, data, view.tenant, at_ms, deadline);
            runs += 2;
            match (run(), run()) {
                (Ok(first), Ok(second)) => {
                    if let Some(d) = first_difference(&first, &second) {
                        problems.push(format!(
                            "n{node} {}: a second replay of the same directory differs: {d}",
                            view.tenant
                        ));
                    }
                    replays.push(Replay {
                        node,
                        tenant: view.tenant,
                        output: first,
                    });
                }
                (Err(e), _) | (_, Err(e)) => problems.push(format!("n{node} {}: {e}", view.tenant)),
            }
        }
    }

    if runs > 0 {
        notes.push(format!(
            "{runs} replays in {:.1} s",
            replay_start.elapsed().as_secs_f64()
        ));
    }
    for view in live {
        let mine: Vec<&Replay> = replays.iter().filter(|r| r.tenant == view.tenant).collect();
        if let Some((reference, others)) = mine.split_first() {
            for other in others {
                if let Some(d) = first_difference(&reference.output, &other.output) {
                    problems.push(format!(
                        "{}: n{} and n{} replays differ, first at {d}",
                        view.tenant, reference.node, other.node
                    ));
                }
            }
            notes.push(summary(view, &mine, at_ms));
        }
        for replay in &mine {
            problems.extend(against_irc(view, replay));
        }
    }

    let pass = problems.is_empty();
    let mut evidence = problems;
    evidence.extend(notes);
    Verdict {
        name: "6 replay",
        pass,
        evidence,
    }
}

/// SIGTERM to every running node, then waits for them all (bounded by [`STOP_BOUND`]). Returns
/// the nodes whose data directory can be replayed: every node that was running, also one that
/// had to be killed (its process is gone either way; the failure is reported).
fn stop_all<'a>(
    cluster: &'a mut Cluster,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Vec<(u16, &'a Path)> {
    let started = Instant::now();
    let mut running = Vec::new();
    for node in &mut cluster.nodes {
        let id = node.spec.id;
        if !node.is_up() {
            notes.push(format!(
                "n{id} skipped: not running at the end (the scenario left it down)"
            ));
        } else if node.sigterm() {
            running.push(id);
        } else {
            problems.push(format!("n{id}: SIGTERM could not be sent"));
            node.kill9();
        }
    }
    let deadline = started + STOP_BOUND;
    for &id in &running {
        match cluster.node(id).wait_exit(deadline) {
            Ok(status) if status.success() => {}
            Ok(status) => problems.push(format!("n{id}: exited with {status} after SIGTERM")),
            Err(e) => problems.push(e),
        }
    }
    if !running.is_empty() {
        notes.push(format!(
            "stopped {} with SIGTERM in {:.1} s",
            node_list(&running),
            started.elapsed().as_secs_f64()
        ));
    }
    cluster
        .nodes
        .iter()
        .filter(|n| running.contains(&n.spec.id))
        .map(|n| (n.spec.id, n.spec.data.as_path()))
        .collect()
}

/// (b): one node's replay against what its observer recorded over IRC.
fn against_irc(view: &Live<'_>, replay: &Replay) -> Vec<String> {
    let who = format!("n{} {}", replay.node, view.tenant);
    let live = match view.snaps.iter().find(|(n, _)| *n == replay.node) {
        Some((_, Ok(snap))) => state::canonical(snap),
        Some((_, Err(e))) => return vec![format!("{who}: no IRC snapshot to compare with: {e}")],
        None => {
            return vec![format!(
                "{who}: no IRC snapshot to compare with (no observer)"
            )]
        }
    };
    let replayed =
        match Replayed::parse(&replay.output).and_then(|r| r.as_seen_over_irc(view.channels)) {
            Ok(snap) => snap,
            Err(e) => return vec![format!("{who}: {e}")],
        };
    let diffs = check::diff(
        &format!("n{} IRC", replay.node),
        &live,
        &format!("n{} replay", replay.node),
        &replayed,
    );
    let Some(first) = diffs.first() else {
        return Vec::new();
    };
    let mut out = vec![format!(
        "{who}: replay differs from IRC in {} field(s), first: {first}",
        diffs.len()
    )];
    out.extend(
        diffs[1..]
            .iter()
            .take(SHOWN_DIFFS - 1)
            .map(|d| format!("{who}: also {d}")),
    );
    out
}

/// What was compared for one tenant, for the evidence.
fn summary(view: &Live<'_>, replays: &[&Replay], at_ms: u64) -> String {
    let nodes: Vec<u16> = replays.iter().map(|r| r.node).collect();
    let size = replays.first().map_or(0, |r| r.output.len());
    let counts = replays
        .first()
        .and_then(|r| Replayed::parse(&r.output).ok())
        .map(|r| format!("{} users, {} channels", r.users.len(), r.channels.len()))
        .unwrap_or_else(|| "unreadable".to_owned());
    format!(
        "{}: replay --at {at_ms} on {}: {size} bytes ({counts}), compared across nodes, twice per \
         node, and with each node's IRC snapshot of {}",
        view.tenant,
        node_list(&nodes),
        view.channels.join(" ")
    )
}

fn node_list(ids: &[u16]) -> String {
    ids.iter()
        .map(|id| format!("n{id}"))
        .collect::<Vec<_>>()
        .join(", ")
}
