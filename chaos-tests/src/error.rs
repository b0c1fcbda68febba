//! The harness's errors. A chaos run separates two kinds of failure: the harness could not do its
//! job (these errors: a node would not start, a socket would not bind), and the cluster broke an
//! invariant (reported as a FAIL in the report, not as an error).

use std::path::PathBuf;

/// Why the harness itself could not run a scenario.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is wrong; the message says which argument and why.
    #[error("bad arguments: {0}")]
    Usage(String),
    /// No latticed binary at the given or default path.
    #[error("latticed binary not found at {0} (build it with `cargo build -p latticed` or pass --latticed)")]
    NoBinary(PathBuf),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A latticed helper subcommand (cluster-ca, node-cert) failed.
    #[error("`latticed {command}` failed: {stderr}")]
    Subcommand {
        /// The subcommand and its arguments.
        command: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// An IRC conversation did not go as the protocol says (no welcome, connection closed).
    #[error("IRC client {client}: {reason}")]
    Irc {
        /// Which client (node and nick).
        client: String,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    /// Wraps an I/O error with what the harness was doing when it happened.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// The harness's result type.
pub type Result<T> = std::result::Result<T, Error>;
