//! Errors that stop a whole run (bad parameters, unreadable /proc files), as opposed to one
//! client's connection failing, which is counted in the report instead (see [`crate::conn::ConnError`]).

use std::io;
use std::net::SocketAddr;

/// A reason the load generator cannot run or cannot report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Load is only ever aimed at this machine, so a mistyped address cannot flood someone else.
    #[error("{addr} is not a loopback address: latticed-loadgen only targets 127.0.0.0/8 or ::1")]
    NotLoopback {
        /// The refused address.
        addr: SocketAddr,
    },
    /// The address is not `IP:PORT` (host names are not resolved, so nothing can point elsewhere).
    #[error(
        "cannot parse target address {input:?}: expected IP:PORT such as 127.0.0.1:6667 ({reason})"
    )]
    BadAddress {
        /// What the user typed.
        input: String,
        /// Why it did not parse.
        reason: String,
    },
    /// Scenario parameters that cannot describe a run (zero clients, more senders than clients, ...).
    #[error("invalid parameters: {0}")]
    Params(String),
    /// A /proc file of the server process could not be read (wrong PID, process gone).
    #[error("reading {path}: {source}")]
    Proc {
        /// The file.
        path: String,
        /// The I/O failure.
        source: io::Error,
    },
    /// A /proc file did not have the documented layout.
    #[error("unexpected content in {path}: {detail}")]
    ProcFormat {
        /// The file.
        path: String,
        /// What was missing or malformed.
        detail: String,
    },
    /// The tokio runtime could not start.
    #[error("starting the async runtime: {0}")]
    Runtime(io::Error),
    /// The JSON report could not be written to stdout.
    #[error("writing the JSON report: {0}")]
    Report(io::Error),
}
