//! Typed, validated configuration for a latticed node and the tenant networks it serves.
//!
//! A node runs with no file at all ([`Config::default`]); a TOML file overrides any part of it, and any
//! key left out keeps its default. Every problem — unreadable file, TOML syntax, unknown key, wrong type,
//! out-of-range value, clashing listener, missing TLS file — comes back as one [`ConfigError`] naming the
//! file, the dotted key path and the reason. `examples/single-node.toml` documents every key.

mod cidr;
mod cluster;
mod config;
mod connection;
mod error;
mod file;
mod flood;
mod history;
mod limits;
mod node;
mod oper;
mod tenant;
mod validate;

pub use cidr::{CidrError, IpNetwork};
pub use cluster::{ClusterConfig, PeerConfig};
pub use config::Config;
pub use connection::ConnectionConfig;
pub use error::ConfigError;
pub use flood::FloodConfig;
pub use history::HistoryConfig;
pub use limits::Limits;
pub use node::{AdminConfig, NodeConfig};
pub use oper::{OperConfig, OperPrivilege};
pub use tenant::{
    default_motd, AdminInfo, CaseMappingName, ListenerConfig, TenantConfig, TlsFiles,
};
