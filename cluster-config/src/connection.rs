//! Per-connection behaviour: send queue size, timeouts and the text encoding policy.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a tenant treats each client connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionConfig {
    /// Bytes that may wait unsent to one client before it is dropped with "SendQ exceeded"
    /// (8192..=67108864). This bounds the memory a slow reader can pin.
    pub sendq_bytes: usize,
    /// Seconds a client has to finish NICK/USER (and CAP) before it is dropped (5..=600).
    pub registration_timeout_secs: u64,
    /// Seconds of silence from a client before the server sends it a PING (10..=3600).
    pub ping_interval_secs: u64,
    /// Seconds to wait for the PONG before dropping the client with "Ping timeout" (5..=3600).
    pub ping_timeout_secs: u64,
    /// Reject lines that are not valid UTF-8 (and advertise UTF8ONLY) instead of passing bytes through.
    pub utf8_only: bool,
}

impl ConnectionConfig {
    /// `registration_timeout_secs` as a `Duration`, from a connection's start.
    pub fn registration_timeout(&self) -> Duration {
        Duration::from_secs(self.registration_timeout_secs)
    }
}

impl Default for ConnectionConfig {
    /// 256 KiB of send queue, an ircd-typical size: room for a large channel's NAMES or a history
    /// replay burst, while one slow reader cannot pin much memory.
    fn default() -> Self {
        Self {
            sendq_bytes: 256 * 1024,
            registration_timeout_secs: 30,
            ping_interval_secs: 120,
            ping_timeout_secs: 60,
            utf8_only: true,
        }
    }
}
