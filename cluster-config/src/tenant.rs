//! One tenant network: its identity, listeners, MOTD, ADMIN info, limits, flood policy and operators.
//!
//! Tenants share nothing (ARCHITECTURE §2), so everything a client of one tenant can observe is here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::connection::ConnectionConfig;
use crate::flood::FloodConfig;
use crate::history::HistoryConfig;
use crate::limits::Limits;
use crate::oper::OperConfig;

/// A fully resolved tenant: the MOTD is already read and TLS paths are already resolved against the
/// config file's directory.
///
/// In the file, `motd` may be a string (split into lines) or an array of lines, or `motd_file` may name
/// a file to read instead; see `examples/single-node.toml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantConfig {
    /// Tenant id, `[a-z0-9_-]{1,32}`, unique on the node; it labels every key, metric and log line.
    pub name: String,
    /// NETWORK= in ISUPPORT: what clients show as the network name (no spaces).
    pub network: String,
    /// Server name this tenant's clients see, overriding `node.name` (irctest wants `My.Little.Server`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// CASEMAPPING: how nicks and channel names compare.
    pub casemapping: CaseMappingName,
    /// Where this tenant accepts clients; at least one.
    pub listeners: Vec<ListenerConfig>,
    /// MOTD lines, sent as 372 replies.
    pub motd: Vec<String>,
    /// The three lines of the ADMIN reply.
    pub admin_info: AdminInfo,
    /// Lengths and counts advertised in ISUPPORT and enforced.
    pub limits: Limits,
    /// Fakelag and per-IP connection limits.
    pub flood: FloodConfig,
    /// Send queue, timeouts and encoding policy.
    pub connection: ConnectionConfig,
    /// Operator accounts.
    pub opers: Vec<OperConfig>,
    /// Message history retention and query limits.
    pub history: HistoryConfig,
}

impl TenantConfig {
    /// The server name this tenant's clients see: `server_name` if set, else the node's name.
    pub fn server_name_or<'a>(&'a self, node_name: &'a str) -> &'a str {
        self.server_name.as_deref().unwrap_or(node_name)
    }

    /// The operator block called `name`, for OPER.
    pub fn oper(&self, name: &str) -> Option<&OperConfig> {
        self.opers.iter().find(|oper| oper.name == name)
    }
}

impl Default for TenantConfig {
    /// The built-in tenant: `default` on network `Latticed`, plain text on 127.0.0.1:6667.
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            network: "Latticed".to_owned(),
            server_name: None,
            casemapping: CaseMappingName::default(),
            listeners: vec![ListenerConfig {
                address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6667),
                tls: None,
            }],
            motd: default_motd(),
            admin_info: AdminInfo::default(),
            limits: Limits::default(),
            flood: FloodConfig::default(),
            connection: ConnectionConfig::default(),
            opers: Vec::new(),
            history: HistoryConfig::default(),
        }
    }
}

/// The MOTD a tenant gets when the config sets none: it says what the server is and how to change it.
pub fn default_motd() -> Vec<String> {
    [
        "Welcome to latticed, a distributed IRC server.",
        "This is the built-in message of the day.",
        "Operators: set `motd` or `motd_file` for this tenant in the config file.",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// The CASEMAPPING a tenant advertises and applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseMappingName {
    /// Only `A-Z` fold to `a-z`.
    Ascii,
    /// `A-Z` and `[]\~` fold to `a-z` and `{}|^`; the traditional IRC default.
    #[default]
    Rfc1459,
}

impl CaseMappingName {
    /// The ISUPPORT token value (`CASEMAPPING=rfc1459`), which is also the spelling in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ascii => "ascii",
            Self::Rfc1459 => "rfc1459",
        }
    }
}

/// A socket a tenant accepts clients on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address and port to bind, e.g. `"0.0.0.0:6697"` or `"[::]:6667"`; port 0 picks a free port.
    /// Required: a listener without an address is a mistake, not a default.
    pub address: SocketAddr,
    /// Serve TLS with these files; plain text when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
}

/// PEM files for a TLS listener. Relative paths in the file are resolved against the config file's
/// directory when it is loaded, and both files must exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key for the leaf certificate.
    pub key: PathBuf,
}

/// The lines of the ADMIN reply (RPL_ADMINLOC1, RPL_ADMINLOC2, RPL_ADMINEMAIL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminInfo {
    /// RPL_ADMINLOC1: usually where the server is.
    pub location1: String,
    /// RPL_ADMINLOC2: usually who runs it.
    pub location2: String,
    /// RPL_ADMINEMAIL: how to reach the administrators.
    pub email: String,
}

impl Default for AdminInfo {
    fn default() -> Self {
        Self {
            location1: "latticed IRC server".to_owned(),
            location2: "Administrative info not configured".to_owned(),
            email: "admin@localhost".to_owned(),
        }
    }
}
