//! One scenario with one seed, start to finish: start the cluster, run the workload while the
//! schedule injects faults, heal, wait for quiescence and check every invariant. Every phase is
//! bounded, so a seed always ends (see [`Options::hard_deadline`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::check::{self, Observer, Verdict};
use crate::cluster::{Cluster, NetMode, TENANTS};
use crate::error::Result;
use crate::replay;
use crate::schedule::{self, Scenario, Step};
use crate::workload::{Workload, BETA_CHANNEL, CHANNELS};

/// How long tenant beta (no workload after its start) has to agree across nodes before the
/// replay instant is taken.
const BETA_CONVERGE: Duration = Duration::from_secs(5);
/// Pause after the replay instant before the next query, so no op made by a later check falls in
/// the same millisecond as that instant.
const AFTER_INSTANT: Duration = Duration::from_millis(20);

/// Settings shared by every seed of a run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The latticed binary.
    pub latticed: PathBuf,
    /// Number of nodes (at least 2).
    pub nodes: u16,
    /// Workload duration (the faults happen inside it).
    pub duration: Duration,
    /// How long after heal the cluster has to converge.
    pub converge: Duration,
    /// Workload clients per node.
    pub clients_per_node: usize,
    /// Network namespaces or loopback.
    pub net: NetMode,
}

impl Options {
    /// The longest one seed can take: startup, workload, settling, convergence and the checks,
    /// each with its own bound, then stopping the nodes and replaying their logs.
    pub fn hard_deadline(&self) -> Duration {
        self.duration
            + self.converge
            + Duration::from_secs(90)
            + BETA_CONVERGE
            + replay::STOP_BOUND
            + replay::REPLAY_BOUND
    }
}

/// Everything the report says about one seed.
#[derive(Debug)]
pub struct SeedReport {
    /// Scenario.
    pub scenario: Scenario,
    /// Seed.
    pub seed: u64,
    /// The fault schedule that was applied.
    pub schedule: Vec<Step>,
    /// Faults that could not be applied (e.g. a restart that failed).
    pub fault_errors: Vec<String>,
    /// Workload figures: steps, acknowledged and unacknowledged messages, collision attempts.
    pub stats: String,
    /// One verdict per invariant.
    pub verdicts: Vec<Verdict>,
    /// How the nodes were networked.
    pub network: String,
    /// Where the node logs were (deleted after the run unless kept).
    pub logs: Option<PathBuf>,
}

impl SeedReport {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.pass) && self.fault_errors.is_empty()
    }
}

/// Runs `scenario` with `seed`. An `Err` means the harness could not run it at all (the cluster
/// did not start); invariant violations are in the report.
pub fn run_seed(
    opts: &Options,
    scenario: Scenario,
    seed: u64,
    keep_logs: bool,
) -> Result<SeedReport> {
    let mut rng = StdRng::seed_from_u64(seed);
    let steps = schedule::build(scenario, &mut rng, opts.nodes, opts.duration);
    let mut cluster = Cluster::start(&opts.latticed, opts.nodes, seed, opts.net)?;
    std::thread::sleep(Duration::from_millis(1500));
    let mut workload = Workload::start(&cluster, rng, seed, opts.clients_per_node);
    let mut pending: Vec<Step> = steps.clone();
    let mut fault_errors = Vec::new();
    let mut fault_window: Option<(f64, f64)> = None;
    workload.run(&mut cluster, opts.duration, |cluster, elapsed| {
        while pending.first().is_some_and(|s| s.at <= elapsed) {
            let step = pending.remove(0);
            let at = elapsed.as_secs_f64();
            match fault_window.as_mut() {
                None => fault_window = Some((at, at)),
                Some(w) => w.1 = at,
            }
            if let Err(e) = schedule::apply(cluster, &step.fault) {
                fault_errors.push(format!("{}: {e}", step.fault));
            }
        }
    });
    for step in pending.drain(..) {
        if let Err(e) = schedule::apply(&mut cluster, &step.fault) {
            fault_errors.push(format!("{}: {e}", step.fault));
        }
    }
    workload.settle(Duration::from_millis(500));

    let mut verdicts = Vec::new();
    let serving: Vec<u16> = cluster
        .nodes
        .iter()
        .filter(|n| n.serving())
        .map(|n| n.spec.id)
        .collect();
    let mut alpha = Vec::new();
    let mut beta = Vec::new();
    let mut observer_errors = Vec::new();
    for &id in &serving {
        match Observer::connect(&cluster, id, 0) {
            Ok(o) => alpha.push(o),
            Err(e) => {
                observer_errors.push(format!("n{id}: alpha observer could not register: {e}"))
            }
        }
        match Observer::connect(&cluster, id, 1) {
            Ok(o) => beta.push(o),
            Err(e) => observer_errors.push(format!("n{id}: beta observer could not register: {e}")),
        }
    }
    let (snaps, took) = check::await_convergence(&mut alpha, opts.converge);
    let (beta_snaps, _) = check::await_convergence(&mut beta, BETA_CONVERGE);
    let replay_at = unix_now_ms();
    std::thread::sleep(AFTER_INSTANT);
    workload.settle(Duration::from_millis(300));
    verdicts.push(check::convergence(&snaps, took, opts.converge));
    verdicts.push(check::uniqueness(&snaps, &workload.believed_nicks()));
    verdicts.push(check::no_loss(&mut alpha, &workload.acked));
    let alpha_users: BTreeSet<String> = snaps
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok())
        .flat_map(|s| s.users.keys().cloned())
        .collect();
    verdicts.push(check::isolation(
        &mut alpha,
        &mut beta,
        &alpha_users,
        &workload.beta_nicks(),
    ));
    verdicts.push(liveness(
        &workload,
        &observer_errors,
        took,
        opts.converge,
        fault_window,
    ));

    let renames = workload.forced_renames();
    let quits = workload.quits_seen();
    let stats = format!(
        "{} steps, {} messages acknowledged, {} without echo, {} deliberate nick collisions tried, \
         {} renames by the collision rule {:?}, {} liveness probes answered; node logs: {}; \
         anchors saw {} QUITs{}",
        workload.steps,
        workload.acked.len(),
        workload.unacked,
        workload.collisions_tried,
        renames.len(),
        renames,
        workload.probes_ok,
        link_events(&cluster),
        quits.len(),
        if quits.is_empty() { String::new() } else { format!(" (first: {:?})", &quits[..quits.len().min(5)]) }
    );
    verdicts.push(replay::agreement(
        &mut cluster,
        &opts.latticed,
        replay_at,
        &[
            replay::Live {
                tenant: TENANTS[0],
                channels: &CHANNELS,
                snaps: &snaps,
            },
            replay::Live {
                tenant: TENANTS[1],
                channels: &[BETA_CHANNEL],
                snaps: &beta_snaps,
            },
        ],
    ));
    let logs = keep_logs.then(|| {
        cluster.dir.disable_cleanup(true);
        cluster.dir.path().to_path_buf()
    });
    let network = cluster.network.clone();
    drop(cluster);
    Ok(SeedReport {
        scenario,
        seed,
        schedule: steps,
        fault_errors,
        stats,
        verdicts,
        network,
        logs,
    })
}

/// The wall clock in Unix milliseconds: the nodes stamp their ops with the same clock (they run on
/// this machine), so it names an instant for `latticed replay --at`.
fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Cluster link transitions each node logged ("n1 3 down/4 up"): evidence that a fault really
/// cut links (or did not).
fn link_events(cluster: &Cluster) -> String {
    cluster
        .nodes
        .iter()
        .map(|n| {
            let log = std::fs::read_to_string(&n.spec.log).unwrap_or_default();
            let down = log.matches("cluster link down").count();
            let up = log.matches("cluster link up").count();
            format!("n{} {down} link down/{up} up", n.spec.id)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Invariant 5: every serving node answered every probe, and the cluster converged in time.
fn liveness(
    w: &Workload,
    observer_errors: &[String],
    took: Option<Duration>,
    bound: Duration,
    window: Option<(f64, f64)>,
) -> Verdict {
    let mut evidence: Vec<String> = w
        .misses
        .iter()
        .map(|m| format!("n{} at {:.1} s: {}", m.node, m.at_secs, m.what))
        .collect();
    evidence.extend(observer_errors.iter().cloned());
    if took.is_none() {
        evidence.push(format!("did not converge within {bound:?} after heal"));
    }
    let pass = evidence.is_empty();
    if pass {
        let win = window
            .map(|(a, b)| format!(" (faults from {a:.1} s to {b:.1} s)"))
            .unwrap_or_default();
        evidence.push(format!(
            "{} PINGs answered by serving nodes{win}, none missed; converged in {:.1} s",
            w.probes_ok,
            took.map(|d| d.as_secs_f64()).unwrap_or(0.0)
        ));
    }
    Verdict {
        name: "5 liveness",
        pass,
        evidence,
    }
}
