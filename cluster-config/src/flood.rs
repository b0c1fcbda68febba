//! Flood protection: fakelag (a token bucket per client) and a per-IP connection cap.
//!
//! Fakelag delays a client's excess lines instead of dropping them, the way Ergo and most ircds do: a
//! client may send `burst` lines at once, then `per_second` lines a second; lines beyond that wait in a
//! queue, and a client whose queue grows past `excess_disconnect_lines` is disconnected ("Excess Flood").

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::cidr::IpNetwork;

/// Flood limits for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FloodConfig {
    /// Whether fakelag applies at all (the per-IP cap applies either way).
    pub enabled: bool,
    /// Lines a client may send back to back before fakelag starts (1..=1000).
    pub burst: u32,
    /// Refill rate of the bucket, lines per second (above 0, at most 1000).
    pub per_second: f64,
    /// Most simultaneous connections from one IP address (1..=100000).
    pub max_connections_per_ip: u32,
    /// Address blocks that skip both fakelag and the per-IP cap (trusted bouncers, the local host).
    pub exempt: Vec<IpNetwork>,
    /// Lines that may wait behind fakelag before the client is disconnected (1..=10000).
    pub excess_disconnect_lines: u32,
}

impl FloodConfig {
    /// Whether `ip` is in one of the exempt blocks, so the node can skip fakelag and the per-IP cap.
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        self.exempt.iter().any(|block| block.contains(ip))
    }
}

impl Default for FloodConfig {
    /// Ergo-like defaults for a public network: a burst of 5 lines, then 2 lines a second.
    fn default() -> Self {
        Self {
            enabled: true,
            burst: 5,
            per_second: 2.0,
            max_connections_per_ip: 10,
            exempt: Vec::new(),
            excess_disconnect_lines: 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exemption_checks_every_block() {
        let flood = FloodConfig {
            exempt: vec![
                "10.0.0.0/8".parse().expect("cidr"),
                "::1".parse().expect("cidr"),
            ],
            ..FloodConfig::default()
        };
        assert!(flood.is_exempt("10.9.8.7".parse().expect("ip")));
        assert!(flood.is_exempt("::1".parse().expect("ip")));
        assert!(!flood.is_exempt("11.0.0.1".parse().expect("ip")));
        assert!(!FloodConfig::default().is_exempt("127.0.0.1".parse().expect("ip")));
    }
}
