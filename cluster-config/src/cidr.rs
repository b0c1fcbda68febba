//! IP networks in CIDR notation (`10.0.0.0/8`, `::1/128`, or a bare address).
//!
//! Flood exemptions are written as CIDR blocks. Parsing them here (rather than pulling in a crate) keeps
//! the rules strict and the errors specific: a block with host bits set (`10.0.0.1/8`) is almost always a
//! typo, so it is rejected with the block the operator probably meant.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a CIDR string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    #[error("invalid CIDR `{input}`: `{address}` is not an IP address")]
    BadAddress {
        /// The whole input.
        input: String,
        /// The address part that failed to parse.
        address: String,
    },
    /// The part after `/` is not a number within the address family's width.
    #[error("invalid CIDR `{input}`: prefix length must be a number from 0 to {max}")]
    BadPrefix {
        /// The whole input.
        input: String,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// The address has bits set beyond the prefix, so the block is ambiguous.
    #[error("invalid CIDR `{input}`: host bits are set (did you mean {suggestion}?)")]
    HostBitsSet {
        /// The whole input.
        input: String,
        /// The network the operator most likely meant.
        suggestion: String,
    },
}

/// A block of IP addresses: a network address and a prefix length.
///
/// Membership treats IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`, as seen on dual-stack sockets) as the
/// IPv4 address they carry, so `127.0.0.0/8` matches a client accepted on `[::]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNetwork {
    /// Makes a network from its address and prefix length; fails if the prefix is too long for the
    /// address family or if host bits are set.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, CidrError> {
        let input = format!("{addr}/{prefix_len}");
        let max = max_prefix(addr);
        if prefix_len > max {
            return Err(CidrError::BadPrefix { input, max });
        }
        let network = Self { addr, prefix_len };
        let masked = network.masked(addr);
        if masked != addr {
            return Err(CidrError::HostBitsSet {
                input,
                suggestion: format!("{masked}/{prefix_len}"),
            });
        }
        Ok(network)
    }

    /// The network address (host bits all zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The number of leading bits that identify the network.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` lies inside this block (see the type docs for IPv4-mapped addresses).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            _ => ip,
        };
        self.masked(ip) == self.addr
    }

    /// `ip` with every bit past the prefix cleared; `ip` must be of this network's family.
    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        }
    }
}

impl CidrError {
    /// The same error, quoting `input` (what the operator wrote) instead of the normalised form.
    fn for_input(self, input: &str) -> Self {
        let input = input.to_owned();
        match self {
            Self::BadAddress { address, .. } => Self::BadAddress { input, address },
            Self::BadPrefix { max, .. } => Self::BadPrefix { input, max },
            Self::HostBitsSet { suggestion, .. } => Self::HostBitsSet { input, suggestion },
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl FromStr for IpNetwork {
    type Err = CidrError;

    /// Parses `addr/len`, or a bare address meaning a single host (`/32` or `/128`).
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match input.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (input, None),
        };
        let addr: IpAddr = address.parse().map_err(|_| CidrError::BadAddress {
            input: input.to_owned(),
            address: address.to_owned(),
        })?;
        let max = max_prefix(addr);
        let prefix_len = match prefix {
            None => max,
            Some(text) => parse_prefix(text).ok_or_else(|| CidrError::BadPrefix {
                input: input.to_owned(),
                max,
            })?,
        };
        Self::new(addr, prefix_len).map_err(|err| err.for_input(input))
    }
}

/// Digits only: `u8::from_str` would also take `+8`, which nobody means in a CIDR.
fn parse_prefix(text: &str) -> Option<u8> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl Serialize for IpNetwork {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpNetwork {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNetwork {
        text.parse()
            .unwrap_or_else(|e| panic!("{text} should parse: {e}"))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn parses_blocks_and_bare_addresses() {
        assert_eq!(net("10.0.0.0/8").prefix_len(), 8);
        assert_eq!(net("127.0.0.1").prefix_len(), 32);
        assert_eq!(net("::1").prefix_len(), 128);
        assert_eq!(net("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        let cases = [
            ("10.0.0.300/8", "`10.0.0.300` is not an IP address"),
            ("", "`` is not an IP address"),
            ("10.0.0.0/33", "prefix length must be a number from 0 to 32"),
            ("::/129", "prefix length must be a number from 0 to 128"),
            ("10.0.0.0/+8", "prefix length must be a number from 0 to 32"),
            ("10.0.0.0/", "prefix length must be a number from 0 to 32"),
            (
                "10.0.0.0/8/8",
                "prefix length must be a number from 0 to 32",
            ),
            ("10.0.0.1/8", "host bits are set (did you mean 10.0.0.0/8?)"),
            ("2001:db8::1/32", "did you mean 2001:db8::/32?"),
        ];
        for (input, expected) in cases {
            let err = input.parse::<IpNetwork>().expect_err(input).to_string();
            assert!(err.contains(expected), "{input}: {err}");
            assert!(err.contains(&format!("`{input}`")), "{input}: {err}");
        }
    }

    #[test]
    fn membership_respects_the_prefix() {
        let block = net("192.168.4.0/22");
        assert!(block.contains(ip("192.168.4.0")));
        assert!(block.contains(ip("192.168.7.255")));
        assert!(!block.contains(ip("192.168.8.0")));
        assert!(!block.contains(ip("192.168.3.255")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(net("::/0").contains(ip("2001:db8::5")));
        assert!(!net("::1/128").contains(ip("::2")));
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_blocks() {
        assert!(net("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
        assert!(!net("127.0.0.0/8").contains(ip("::1")));
        assert!(net("::ffff:0:0/96").contains(ip("10.1.2.3")));
        assert!(!net("2001:db8::/32").contains(ip("10.1.2.3")));
    }

    #[test]
    fn new_checks_prefix_and_host_bits() {
        assert!(IpNetwork::new(ip("10.0.0.0"), 8).is_ok());
        assert!(matches!(
            IpNetwork::new(ip("10.0.0.0"), 40),
            Err(CidrError::BadPrefix { max: 32, .. })
        ));
        assert!(matches!(
            IpNetwork::new(ip("10.0.0.1"), 8),
            Err(CidrError::HostBitsSet { .. })
        ));
    }
}
