//! The in-process runtime of a latticed node: one actor (task) per client connection, the tenant
//! op path that turns every state change into a replicated op, and the IRC command handlers.
//!
//! The node binary owns sockets, TLS and configuration files; this crate owns what happens between
//! a line arriving from a client and lines leaving for clients.

mod access;
pub mod caps;
mod commands;
pub mod connection;
mod deadlines;
mod flood;
mod isupport;
pub mod metrics;
mod modes;
pub mod outbound;
pub mod outgoing;
pub mod reactor;
mod render;
pub mod split;
pub mod tenant;
pub mod time;
mod whowas;

pub use connection::{serve, serve_tcp, ConnInfo};
pub use metrics::{Metrics, TenantMetrics};
pub use reactor::{ClientSocket, Reactor};
pub use tenant::{NodeInfo, OpSink, Rehasher, Tenant};
