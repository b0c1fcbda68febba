//! The command line: `chaos-tests run --scenario NAME[,NAME] --seeds A..B [--nodes N]
//! [--duration-secs S] [--converge-secs S] [--clients N] [--net MODE] [--latticed PATH] [--keep]`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cluster::NetMode;
use crate::error::{Error, Result};
use crate::run::Options;
use crate::schedule::Scenario;

/// A parsed `run` command.
#[derive(Debug)]
pub struct RunArgs {
    /// Scenarios to run (`all` expands to every scenario).
    pub scenarios: Vec<Scenario>,
    /// Seeds, in order.
    pub seeds: Vec<u64>,
    /// Cluster and workload settings.
    pub options: Options,
    /// Keep each seed's temp dir (configs, data, logs).
    pub keep: bool,
}

/// The usage text.
pub const USAGE: &str =
    "usage: chaos-tests run --scenario NAME[,NAME...]|all --seeds A..B|A..=B|A \
[--nodes N (default 3)] [--duration-secs S (default 20)] [--converge-secs S (default 30)] \
[--clients N per node (default 3)] [--net auto|loopback|netns (default auto)] [--latticed PATH] [--keep]\n\
scenarios: partition-2+1, asymmetric-partition, kill-restart, pause, lossy-link";

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// Parses `A..B` (B excluded), `A..=B` or a single seed.
pub fn parse_seeds(s: &str) -> Result<Vec<u64>> {
    let num = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| usage(format!("--seeds: {t:?} is not a number")))
    };
    let (a, b) = if let Some((a, b)) = s.split_once("..=") {
        (
            num(a)?,
            num(b)?
                .checked_add(1)
                .ok_or_else(|| usage("--seeds: end too large"))?,
        )
    } else if let Some((a, b)) = s.split_once("..") {
        (num(a)?, num(b)?)
    } else {
        let a = num(s)?;
        (a, a + 1)
    };
    if b <= a {
        return Err(usage(format!("--seeds {s}: empty range")));
    }
    if b - a > 10_000 {
        return Err(usage(format!("--seeds {s}: more than 10000 seeds")));
    }
    Ok((a..b).collect())
}

/// The default latticed binary: the one beside this executable (`cargo run -p chaos-tests` puts
/// both in the same target profile dir), else target/release/latticed, else target/debug/latticed
/// under the workspace target directory (CARGO_TARGET_DIR if set).
pub fn default_latticed() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("latticed")))
        .filter(|p| p.is_file());
    if let Some(found) = beside {
        return found;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        });
    let release = target.join("release").join("latticed");
    if release.exists() {
        release
    } else {
        target.join("debug").join("latticed")
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<RunArgs> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("run") => {}
        Some(other) => return Err(usage(format!("unknown command {other:?}"))),
        None => return Err(usage("missing command `run`")),
    }
    let mut scenarios = None;
    let mut seeds = None;
    let mut nodes = 3u16;
    let mut duration = 20u64;
    let mut converge = 30u64;
    let mut clients = 3usize;
    let mut latticed = None;
    let mut keep = false;
    let mut net = NetMode::Auto;
    while let Some(flag) = it.next() {
        if flag == "--keep" {
            keep = true;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| usage(format!("{flag} needs a value")))?;
        let int = |what: &str| {
            value
                .parse::<u64>()
                .map_err(|_| usage(format!("{what}: {value:?} is not a number")))
        };
        match flag.as_str() {
            "--scenario" => {
                let list = if value == "all" {
                    Scenario::ALL.to_vec()
                } else {
                    value
                        .split(',')
                        .map(|n| {
                            Scenario::parse(n)
                                .ok_or_else(|| usage(format!("unknown scenario {n:?}")))
                        })
                        .collect::<Result<Vec<_>>>()?
                };
                scenarios = Some(list);
            }
            "--seeds" => seeds = Some(parse_seeds(value)?),
            "--nodes" => {
                nodes = u16::try_from(int("--nodes")?)
                    .ok()
                    .filter(|n| (2..=9).contains(n))
                    .ok_or_else(|| usage("--nodes must be 2..=9"))?
            }
            "--duration-secs" => duration = int("--duration-secs")?.clamp(3, 3600),
            "--converge-secs" => converge = int("--converge-secs")?.clamp(1, 3600),
            "--clients" => clients = usize::try_from(int("--clients")?).unwrap_or(1).clamp(1, 50),
            "--net" => {
                net = match value.as_str() {
                    "auto" => NetMode::Auto,
                    "loopback" => NetMode::Loopback,
                    "netns" => NetMode::Netns,
                    other => return Err(usage(format!("--net: unknown mode {other:?}"))),
                }
            }
            "--latticed" => latticed = Some(PathBuf::from(value)),
            other => return Err(usage(format!("unknown option {other:?}"))),
        }
    }
    let latticed = latticed.unwrap_or_else(default_latticed);
    if !latticed.is_file() {
        return Err(Error::NoBinary(latticed));
    }
    Ok(RunArgs {
        scenarios: scenarios.ok_or_else(|| usage("--scenario is required"))?,
        seeds: seeds.ok_or_else(|| usage("--seeds is required"))?,
        options: Options {
            latticed,
            nodes,
            duration: Duration::from_secs(duration),
            converge: Duration::from_secs(converge),
            clients_per_node: clients,
            net,
        },
        keep,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges() {
        assert_eq!(parse_seeds("3..6").expect("ok"), vec![3, 4, 5]);
        assert_eq!(parse_seeds("3..=4").expect("ok"), vec![3, 4]);
        assert_eq!(parse_seeds("7").expect("ok"), vec![7]);
        assert!(parse_seeds("5..5").is_err());
        assert!(parse_seeds("x..2").is_err());
    }

    #[test]
    fn rejects_unknown_scenario_and_flags() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches!(
            parse(&args(&["run", "--scenario", "nope", "--seeds", "1"])),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            parse(&args(&["run", "--bogus", "1"])),
            Err(Error::Usage(_))
        ));
        assert!(matches!(parse(&args(&["walk"])), Err(Error::Usage(_))));
    }
}
