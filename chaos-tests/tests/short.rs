//! The CI pass: every scenario, one seed, a short workload, against the debug latticed binary.
//! The binary is the workspace's own `target/debug/latticed` (built by `cargo test --workspace`,
//! which builds the node's binary for its integration tests); when it is missing, as with
//! `cargo test -p chaos-tests` in a fresh clone, the test builds it into a separate target dir
//! (a nested cargo on the running test's own target dir would wait on its lock forever).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use chaos_tests::cluster::NetMode;
use chaos_tests::report;
use chaos_tests::run::{run_seed, Options};
use chaos_tests::schedule::Scenario;

/// `<target>/debug` of the running test executable (`<target>/debug/deps/short-*`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in <target>/<profile>/deps")
        .to_path_buf()
}

fn latticed() -> PathBuf {
    let beside = profile_dir().join("latticed");
    if beside.is_file() {
        return beside;
    }
    let target = profile_dir().join("..").join("chaos-latticed");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "latticed", "--target-dir"])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build -p latticed");
    assert!(status.success(), "cargo build -p latticed failed");
    let built = target.join("debug").join("latticed");
    assert!(built.is_file(), "no binary at {}", built.display());
    built
}

#[test]
fn every_scenario_keeps_the_invariants() {
    let opts = Options {
        latticed: latticed(),
        nodes: 3,
        duration: Duration::from_secs(9),
        converge: Duration::from_secs(20),
        clients_per_node: 2,
        net: NetMode::Auto,
    };
    let mut reports = Vec::new();
    let mut text = String::new();
    for scenario in Scenario::ALL {
        let started = Instant::now();
        let r = run_seed(&opts, scenario, 1, false).expect("the harness runs the scenario");
        assert!(
            started.elapsed() <= opts.hard_deadline(),
            "{} overran its deadline",
            scenario.name()
        );
        text.push_str(&report::seed_section(&r));
        reports.push(r);
    }
    text.push_str(&report::table(&reports));
    println!("{text}");
    assert_eq!(reports.len(), Scenario::ALL.len());
    assert!(reports.iter().all(|r| r.verdicts.len() == 6), "{text}");
    assert!(
        reports.iter().all(|r| r.passed()),
        "invariant violations:\n{text}"
    );
}
