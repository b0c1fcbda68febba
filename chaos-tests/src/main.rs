//! `chaos-tests run ...`: runs scenarios over seeds and prints the report; exits 1 on any
//! invariant violation, 2 when the harness itself could not run.

use std::process::ExitCode;

use chaos_tests::{cli, report, run};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match cli::parse(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let mut reports = Vec::new();
    let mut harness_failed = false;
    for &scenario in &parsed.scenarios {
        for &seed in &parsed.seeds {
            println!(
                "--- running {} seed {seed} ({} nodes, {:?} workload, hard deadline {:?})",
                scenario.name(),
                parsed.options.nodes,
                parsed.options.duration,
                parsed.options.hard_deadline()
            );
            match run::run_seed(&parsed.options, scenario, seed, parsed.keep) {
                Ok(r) => {
                    print!("{}", report::seed_section(&r));
                    reports.push(r);
                }
                Err(e) => {
                    println!(
                        "=== scenario {} seed {seed}: HARNESS ERROR: {e}",
                        scenario.name()
                    );
                    harness_failed = true;
                }
            }
        }
    }
    println!("\n{}", report::table(&reports));
    if reports.iter().any(|r| !r.passed()) {
        ExitCode::from(1)
    } else if harness_failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
