//! The human-readable report: per seed the schedule, workload figures and each invariant's
//! verdict with its evidence, then one table row per scenario and seed.

use std::fmt::Write as _;

use crate::run::SeedReport;

/// The detailed section of one seed.
pub fn seed_section(r: &SeedReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "=== scenario {} seed {} ===", r.scenario.name(), r.seed);
    let _ = writeln!(s, "network: {}", r.network);
    let _ = writeln!(s, "fault schedule:");
    for step in &r.schedule {
        let _ = writeln!(s, "  t={:>6.2}s  {}", step.at.as_secs_f64(), step.fault);
    }
    for e in &r.fault_errors {
        let _ = writeln!(s, "  FAULT ERROR: {e}");
    }
    let _ = writeln!(s, "workload: {}", r.stats);
    for v in &r.verdicts {
        let _ = writeln!(s, "[{}] {}", if v.pass { "PASS" } else { "FAIL" }, v.name);
        for e in &v.evidence {
            let _ = writeln!(s, "       {e}");
        }
    }
    if let Some(dir) = &r.logs {
        let _ = writeln!(s, "node configs, data and logs kept in {}", dir.display());
    }
    s
}

/// The final table: one row per seed, one column per invariant.
pub fn table(reports: &[SeedReport]) -> String {
    let mut s = String::new();
    let names: Vec<&str> = reports
        .first()
        .map(|r| r.verdicts.iter().map(|v| v.name).collect())
        .unwrap_or_default();
    let _ = write!(s, "{:<22} {:>6}", "scenario", "seed");
    for n in &names {
        let _ = write!(s, " {n:>14}");
    }
    let _ = writeln!(s, " {:>7}", "result");
    for r in reports {
        let _ = write!(s, "{:<22} {:>6}", r.scenario.name(), r.seed);
        for v in &r.verdicts {
            let _ = write!(s, " {:>14}", if v.pass { "PASS" } else { "FAIL" });
        }
        let _ = writeln!(s, " {:>7}", if r.passed() { "ok" } else { "VIOLATED" });
    }
    s
}
