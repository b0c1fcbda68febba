//! REHASH / SIGHUP: re-read the config file and apply what can change while running.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, Weak};

use latticed_actors::{Rehasher, Tenant};
use latticed_config::Config;

/// Reloads the file the node was started from. MOTD, limits, flood settings and oper blocks take
/// effect for new commands; listeners, casemapping and the server name need a restart.
pub struct FileRehasher {
    path: Option<PathBuf>,
    tenants: OnceLock<Vec<Weak<Tenant>>>,
}

impl FileRehasher {
    /// A rehasher for a node started from `path` (None: started with built-in defaults).
    pub fn new(path: Option<PathBuf>) -> FileRehasher {
        FileRehasher {
            path,
            tenants: OnceLock::new(),
        }
    }

    /// Register the node's tenants once they exist.
    pub fn attach(&self, tenants: &[Arc<Tenant>]) {
        let _ = self
            .tenants
            .set(tenants.iter().map(Arc::downgrade).collect());
    }
}

impl Rehasher for FileRehasher {
    fn rehash(&self) -> Result<(), String> {
        let Some(path) = &self.path else {
            tracing::info!("REHASH: running with built-in defaults, nothing to reload");
            return Ok(());
        };
        let config = Config::load(path).map_err(|e| e.to_string())?;
        for tenant in self
            .tenants
            .get()
            .into_iter()
            .flatten()
            .filter_map(Weak::upgrade)
        {
            match config.tenant(&tenant.id.0) {
                Some(fresh) => tenant.set_config(Arc::new(fresh.clone())),
                None => {
                    tracing::warn!(tenant = %tenant.id, "REHASH: tenant missing from the new config; keeping its old settings")
                }
            }
        }
        tracing::info!(path = %path.display(), "REHASH: configuration reloaded");
        Ok(())
    }
}
