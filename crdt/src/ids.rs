//! Typed ids for every replicated object, so a node id can never be mistaken for a counter or a
//! user for a message.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A node of the cluster. Part of every stamp and op id, so ops from different nodes never clash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A tenant network. Every op and every piece of state carries one, so no code path can mix two
/// tenants' state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TenantId(pub String);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's network-unique id: the node that created it and a per-node counter.
///
/// Its [`Display`](fmt::Display) form is the nick a user is shown with when it loses a nick
/// collision: three decimal digits of `node % 1000` (zero padded) followed by `n` in base 36 with
/// the digits `0-9A-Z`, zero padded to at least six characters (longer only past 36^6 - 1), e.g.
/// `Uid { node: NodeId(1), n: 1 }` is `001000001`. It starts with a digit, so no client can
/// claim it as a nick. Node ids are expected below 1000 (the cluster configuration's job), so the
/// form is unique per uid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Uid {
    /// The node on which the user registered.
    pub node: NodeId,
    /// That node's counter of users.
    pub n: u64,
}

/// Width of the base-36 part of a [`Uid`]'s display form.
const UID_COUNTER_WIDTH: usize = 6;

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut buf = [b'0'; 13];
        let mut at = buf.len();
        let mut n = self.n;
        loop {
            at -= 1;
            buf[at] = DIGITS[(n % 36) as usize];
            n /= 36;
            if n == 0 {
                break;
            }
        }
        let start = at.min(buf.len() - UID_COUNTER_WIDTH);
        let counter = std::str::from_utf8(&buf[start..]).map_err(|_| fmt::Error)?;
        write!(f, "{:03}{}", self.node.0 % 1000, counter)
    }
}

/// Identity of an op, and the "dot" of every element it adds to an observed-remove set: the origin
/// node and that node's op sequence number (1-based, contiguous per origin, so a version vector
/// can tell which ops a peer is missing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpId {
    /// The node that created the op.
    pub origin: NodeId,
    /// The op's number among that node's ops.
    pub seq: u64,
}

/// A network-unique message id (a UUIDv7 as `u128`, made by the node). It doubles as the history
/// key and the IRCv3 `msgid` tag; its display form is 32 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MsgId(pub u128);

impl MsgId {
    /// The Unix time in milliseconds a UUIDv7 carries in its top 48 bits. A node makes this the
    /// wall time of the message's op, so the event log can find a message's place in history
    /// from its msgid and target alone, without a msgid index. Ids that are not UUIDv7s give
    /// whatever their top bits say; readers must check the op they find.
    pub fn time_ms(self) -> u64 {
        (self.0 >> 80) as u64
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_display_is_padded_base36_after_three_node_digits() {
        let uid = |node, n| {
            Uid {
                node: NodeId(node),
                n,
            }
            .to_string()
        };
        assert_eq!(uid(1, 1), "001000001");
        assert_eq!(uid(42, 35), "04200000Z");
        assert_eq!(uid(7, 36), "007000010");
        assert_eq!(uid(1234, 0), "234000000");
        assert_eq!(uid(1, 36u64.pow(6) - 1), "001ZZZZZZ");
        assert_eq!(uid(1, 36u64.pow(6)), "0011000000");
        assert_eq!(uid(999, u64::MAX), "9993W5E11264SGSF");
    }

    #[test]
    fn uid_display_starts_with_a_digit() {
        for n in [0, 1, 1000, u64::MAX] {
            let shown = Uid { node: NodeId(5), n }.to_string();
            assert!(shown.starts_with(|c: char| c.is_ascii_digit()), "{shown}");
        }
    }

    #[test]
    fn msgid_display_is_32_lowercase_hex_digits() {
        assert_eq!(MsgId(0xAB).to_string(), format!("{}ab", "0".repeat(30)));
        assert_eq!(MsgId(u128::MAX).to_string(), "f".repeat(32));
    }

    #[test]
    fn msgid_time_is_the_uuid_v7_timestamp() {
        let v7 = 0x0190_6f2c_8a31_7abc_8def_0123_4567_89abu128;
        assert_eq!(MsgId(v7).time_ms(), 0x0190_6f2c_8a31);
        assert_eq!(MsgId(0xAB).time_ms(), 0);
        assert_eq!(MsgId(u128::MAX).time_ms(), (1 << 48) - 1);
    }

    #[test]
    fn tenant_and_node_display() {
        assert_eq!(TenantId("default".into()).to_string(), "default");
        assert_eq!(NodeId(12).to_string(), "12");
    }
}
