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

/// How far ahead of this node's clock a message id it has seen may be and still be followed by
/// [`MsgId::following`]: a peer whose clock runs further ahead does not drag this node's message
/// times along; its messages keep their order by time alone.
pub const MSGID_FOLLOW_MS: u64 = 1_000;

impl MsgId {
    /// `fresh` (a UUIDv7 just made), or if it does not sort after `seen` (the highest id the node
    /// has seen, from any node), the first UUIDv7 after `seen` with `fresh`'s random bits. So a
    /// message sorts after every message its node had delivered when it was sent, even in the
    /// same millisecond on another node: history order respects what a sender could have read.
    /// The time and 12-bit counter field (the top 64 bits but the version) count on from `seen`'s;
    /// the random low 62 bits keep ids of different nodes apart. A `seen` more than
    /// [`MSGID_FOLLOW_MS`] ahead of `fresh` is not followed.
    pub fn following(fresh: MsgId, seen: MsgId) -> MsgId {
        const LOW_BITS: u32 = 64;
        const COUNTER_BITS: u32 = 12;
        let time_and_counter = |id: MsgId| {
            let top = (id.0 >> LOW_BITS) as u64;
            ((top >> 16) << COUNTER_BITS) | (top & 0xfff)
        };
        if fresh > seen || seen.time_ms() > fresh.time_ms().saturating_add(MSGID_FOLLOW_MS) {
            return fresh;
        }
        let next = time_and_counter(seen).saturating_add(1);
        let top = ((next >> COUNTER_BITS) << 16) | (0x7 << 12) | (next & 0xfff);
        MsgId((u128::from(top) << LOW_BITS) | (fresh.0 & u128::from(u64::MAX)))
    }

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

    fn v7(ms: u64, counter: u64, low: u64) -> MsgId {
        let top = (ms << 16) | (0x7 << 12) | counter;
        MsgId((u128::from(top) << 64) | u128::from(low))
    }

    #[test]
    fn a_fresh_id_after_everything_seen_is_kept() {
        let fresh = v7(1_000, 5, 42);
        assert_eq!(MsgId::following(fresh, v7(999, 4095, u64::MAX)), fresh);
        assert_eq!(MsgId::following(fresh, v7(1_000, 4, u64::MAX)), fresh);
    }

    #[test]
    fn an_id_made_in_the_millisecond_of_one_seen_sorts_after_it() {
        let seen = v7(1_000, 7, u64::MAX);
        let next = MsgId::following(v7(1_000, 3, 42), seen);
        assert_eq!(next, v7(1_000, 8, 42));
        assert!(next > seen);
        assert_eq!(next.time_ms(), 1_000);
        assert_eq!((next.0 >> 76) & 0xf, 7, "still a UUIDv7");
    }

    #[test]
    fn the_counter_carries_into_the_next_millisecond() {
        let next = MsgId::following(v7(1_000, 0, 9), v7(1_000, 0xfff, 1));
        assert_eq!(next, v7(1_001, 0, 9));
    }

    #[test]
    fn a_peer_slightly_ahead_is_followed_one_far_ahead_is_not() {
        let fresh = v7(1_000, 0, 9);
        let near = v7(1_000 + MSGID_FOLLOW_MS, 0, 1);
        assert_eq!(
            MsgId::following(fresh, near).time_ms(),
            1_000 + MSGID_FOLLOW_MS
        );
        let far = v7(1_001 + MSGID_FOLLOW_MS, 0, 1);
        assert_eq!(MsgId::following(fresh, far), fresh);
    }

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
