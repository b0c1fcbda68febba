//! The whole configuration of a node, and the entry points that load it.

use std::path::Path;

use serde::Serialize;

use crate::cluster::ClusterConfig;
use crate::error::ConfigError;
use crate::file::{read_bounded, ConfigFile};
use crate::node::{AdminConfig, NodeConfig};
use crate::tenant::TenantConfig;
use crate::validate;

/// A config file larger than this is refused before parsing (thousands of tenants fit well below it).
const MAX_CONFIG_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Everything a node needs to run: its identity, its admin endpoint, the tenants it serves and, in a
/// cluster, its links to the other nodes.
///
/// `Config::default()` is a complete, valid single-node setup, so a node runs with no config file;
/// `examples/single-node.toml` spells out every key with its default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Identity of this node.
    pub node: NodeConfig,
    /// The HTTP admin and metrics endpoint.
    pub admin: AdminConfig,
    /// The tenant networks served by this node, at least one.
    pub tenants: Vec<TenantConfig>,
    /// Links to the other nodes of the cluster; `None` (the default) runs a single node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
}

impl Default for Config {
    /// Node 1 (`irc.latticed.local`), admin on 127.0.0.1:6680 without a token, and one tenant `default`
    /// (network `Latticed`) listening in plain text on 127.0.0.1:6667 with default limits and flood control,
    /// and no cluster.
    fn default() -> Self {
        Self {
            node: NodeConfig::default(),
            admin: AdminConfig::default(),
            tenants: vec![TenantConfig::default()],
            cluster: None,
        }
    }
}

impl Config {
    /// Reads, parses, resolves and validates the config file at `path`. Relative paths inside it
    /// (`motd_file`, TLS files, cluster PEM files) are taken relative to the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_bounded(path, MAX_CONFIG_FILE_BYTES)
            .map_err(|err| ConfigError::new(path, "", format!("cannot read config file: {err}")))?;
        Self::from_toml_str(&text, path)
    }

    /// Parses, resolves and validates TOML text. `origin` names the file the text came from: it is
    /// quoted in errors, and relative paths inside the text are taken relative to its directory.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let base_dir = origin.parent().unwrap_or(Path::new(""));
        let config = ConfigFile::parse(text, origin)?.resolve(base_dir, origin)?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Checks every rule the types cannot express (ranges, name syntax, uniqueness, address clashes,
    /// TLS files present), reporting the first problem against `origin`. Call it on configs built in
    /// code; `load` and `from_toml_str` already do.
    pub fn validate(&self, origin: &Path) -> Result<(), ConfigError> {
        validate::config(self, origin)
    }

    /// The tenant called `name`, if this node serves it.
    pub fn tenant(&self, name: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|tenant| tenant.name == name)
    }
}
