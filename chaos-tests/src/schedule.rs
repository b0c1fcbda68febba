//! Scenarios and their seeded fault schedules: which node or link breaks, when, and how badly. The
//! same scenario, seed, node count and duration always give the same schedule.

use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::RngExt;

use crate::cluster::Cluster;
use crate::proxy::Impairment;

/// The fault scenarios the harness knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// One node is cut off from all the others in both directions, then healed.
    Partition2Plus1,
    /// Datagrams from one node to another are dropped, the reverse direction still flows.
    AsymmetricPartition,
    /// One node is killed with SIGKILL, then restarted on the same data dir.
    KillRestart,
    /// One node is frozen with SIGSTOP, then resumed with SIGCONT.
    Pause,
    /// Every link drops, delays, duplicates and reorders datagrams.
    LossyLink,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 5] = [
        Scenario::Partition2Plus1,
        Scenario::AsymmetricPartition,
        Scenario::KillRestart,
        Scenario::Pause,
        Scenario::LossyLink,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Partition2Plus1 => "partition-2+1",
            Scenario::AsymmetricPartition => "asymmetric-partition",
            Scenario::KillRestart => "kill-restart",
            Scenario::Pause => "pause",
            Scenario::LossyLink => "lossy-link",
        }
    }

    /// Looks a scenario up by its name.
    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One change the schedule makes to the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Block both directions between the nodes in `side` and all the others.
    Isolate {
        /// The cut-off side.
        side: Vec<u16>,
    },
    /// Block datagrams from `from` to `to` only.
    OneWay {
        /// Sender whose datagrams are lost.
        from: u16,
        /// Intended receiver.
        to: u16,
    },
    /// Impair every direction of every link.
    Lossy(Impairment),
    /// SIGKILL a node.
    Kill(u16),
    /// Start a killed node again on its data dir.
    Restart(u16),
    /// SIGSTOP a node.
    Pause(u16),
    /// SIGCONT a paused node.
    Resume(u16),
    /// Remove every link impairment.
    Heal,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Isolate { side } => write!(
                f,
                "partition: isolate {side:?} from the rest (both directions)"
            ),
            Fault::OneWay { from, to } => write!(
                f,
                "asymmetric partition: drop n{from} -> n{to} (n{to} -> n{from} flows)"
            ),
            Fault::Lossy(i) => write!(
                f,
                "lossy links: drop {}%, duplicate {}%, delay {} ms, reorder {}%",
                i.drop_pct, i.dup_pct, i.delay_ms, i.reorder_pct
            ),
            Fault::Kill(n) => write!(f, "kill -9 n{n}"),
            Fault::Restart(n) => write!(f, "restart n{n} on the same data dir"),
            Fault::Pause(n) => write!(f, "SIGSTOP n{n}"),
            Fault::Resume(n) => write!(f, "SIGCONT n{n}"),
            Fault::Heal => write!(f, "heal all links"),
        }
    }
}

/// A fault at an offset from the start of the workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// When, from the start of the workload.
    pub at: Duration,
    /// What.
    pub fault: Fault,
}

/// Shortest fault: longer than the nodes' idle timeout, so links really go down.
const MIN_FAULT_MS: u64 = 4000;

/// Builds the schedule of `scenario` for `nodes` nodes over a workload of `duration`: the fault
/// starts in the first third and ends by about three quarters, so the workload runs before,
/// during and after it; it lasts at least [`MIN_FAULT_MS`]. The last step always heals (and resumes / restarts).
pub fn build(scenario: Scenario, rng: &mut StdRng, nodes: u16, duration: Duration) -> Vec<Step> {
    let total = duration.as_millis().max(3000) as u64;
    let start = rng.random_range(total / 6..=total / 3);
    let end = rng
        .random_range(total * 2 / 3..=total * 3 / 4)
        .max(start + MIN_FAULT_MS);
    let ms = Duration::from_millis;
    let victim = rng.random_range(1..=nodes);
    let (first, last) = match scenario {
        Scenario::Partition2Plus1 => (Fault::Isolate { side: vec![victim] }, Fault::Heal),
        Scenario::AsymmetricPartition => {
            let mut to = rng.random_range(1..nodes);
            if to >= victim {
                to += 1;
            }
            (Fault::OneWay { from: victim, to }, Fault::Heal)
        }
        Scenario::KillRestart => (Fault::Kill(victim), Fault::Restart(victim)),
        Scenario::Pause => (Fault::Pause(victim), Fault::Resume(victim)),
        Scenario::LossyLink => (
            Fault::Lossy(Impairment {
                blocked: false,
                drop_pct: rng.random_range(5..=30),
                dup_pct: rng.random_range(0..=10),
                delay_ms: rng.random_range(0..=50),
                reorder_pct: rng.random_range(0..=20),
            }),
            Fault::Heal,
        ),
    };
    let mut steps = vec![
        Step {
            at: ms(start),
            fault: first,
        },
        Step {
            at: ms(end),
            fault: last,
        },
    ];
    if !matches!(steps[1].fault, Fault::Heal) {
        steps.push(Step {
            at: ms(end),
            fault: Fault::Heal,
        });
    }
    steps
}

/// Applies one fault to the cluster. Returns an error text when a node fails to restart.
pub fn apply(cluster: &mut Cluster, fault: &Fault) -> Result<(), String> {
    let ids: Vec<u16> = cluster.nodes.iter().map(|n| n.spec.id).collect();
    let blocked = Impairment {
        blocked: true,
        ..Impairment::default()
    };
    match fault {
        Fault::Isolate { side } => {
            for &a in side {
                for &b in ids.iter().filter(|b| !side.contains(b)) {
                    cluster.faults.set(a, b, blocked);
                    cluster.faults.set(b, a, blocked);
                }
            }
        }
        Fault::OneWay { from, to } => cluster.faults.set(*from, *to, blocked),
        Fault::Lossy(imp) => {
            for &a in &ids {
                for &b in ids.iter().filter(|&&b| b != a) {
                    cluster.faults.set(a, b, *imp);
                }
            }
        }
        Fault::Kill(n) => cluster.node(*n).kill9(),
        Fault::Restart(n) => cluster.node(*n).start().map_err(|e| e.to_string())?,
        Fault::Pause(n) => cluster.node(*n).pause(),
        Fault::Resume(n) => cluster.node(*n).resume(),
        Fault::Heal => cluster.faults.heal(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn same_seed_same_schedule_and_it_ends_healed() {
        for s in Scenario::ALL {
            let a = build(s, &mut StdRng::seed_from_u64(9), 3, Duration::from_secs(10));
            let b = build(s, &mut StdRng::seed_from_u64(9), 3, Duration::from_secs(10));
            assert_eq!(a, b);
            assert_eq!(a.last().map(|s| &s.fault), Some(&Fault::Heal));
            assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
            assert_eq!(Scenario::parse(s.name()), Some(s));
        }
    }

    #[test]
    fn asymmetric_partition_never_targets_itself() {
        for seed in 0..50 {
            let steps = build(
                Scenario::AsymmetricPartition,
                &mut StdRng::seed_from_u64(seed),
                3,
                Duration::from_secs(6),
            );
            let Fault::OneWay { from, to } = steps[0].fault else {
                panic!("not one-way")
            };
            assert_ne!(from, to);
            assert!((1..=3).contains(&from) && (1..=3).contains(&to));
        }
    }
}
