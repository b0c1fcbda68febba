//! latticed-loadgen: drives an IRC server (latticed or any other) with many plain-TCP clients and
//! reports throughput, latency, loss and server cost as one JSON line per run.
//!
//! The binary is a thin wrapper around [`scenario::run`]; the pieces are public so they can be
//! tested on their own: [`line`] (receive buffer and parser), [`payload`] (what measured messages
//! carry), [`stats`] (percentiles), [`receipts`] (loss and duplicate tracking), [`conn`] (one
//! client connection), [`traffic`] (the phased message engine) and [`procfs`] (server cost).

pub mod cli;
pub mod conn;
pub mod error;
pub mod line;
pub mod payload;
pub mod procfs;
pub mod receipts;
pub mod scenario;
pub mod stats;
pub mod target;
pub mod traffic;

pub use error::Error;
