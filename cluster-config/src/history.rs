//! Per-tenant message history (IRCv3 `draft/chathistory`): how long it is kept and how much one query returns.

use serde::{Deserialize, Serialize};

/// History retention and query limits for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Messages older than this many days are pruned from history (state ops are never pruned).
    pub retention_days: u32,
    /// Most messages one CHATHISTORY request returns (advertised as `CHATHISTORY=` in ISUPPORT).
    pub max_query: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            retention_days: 30,
            max_query: 100,
        }
    }
}
