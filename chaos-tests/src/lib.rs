//! Fault-injection harness for latticed clusters: starts real node processes, drives a seeded IRC
//! workload, injects a seeded fault schedule (kills, pauses, partitions, lossy links through a UDP
//! link proxy), heals, and checks the invariants of ARCHITECTURE §9 through IRC. See README.md.

pub mod check;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod irc;
pub mod netns;
pub mod proxy;
pub mod replay;
pub mod report;
pub mod run;
pub mod schedule;
pub mod workload;
