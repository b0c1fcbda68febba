//! Binary key layout of every keyspace.
//!
//! All integers are big-endian so byte order is numeric order, and every variable-length part
//! (tenant, channel) is prefixed with its `u32` length, so no key of one tenant or channel is a
//! prefix of another's. Every key starts with its tenant: no scan can leave a tenant.
//!
//! | space | key | value |
//! | --- | --- | --- |
//! | ops | tenant, origin `u32`, seq `u64` | entry record |
//! | time | tenant, wall_ms `u64`, origin, seq | [`TimeValue`] (op kind, stamp) |
//! | history | tenant, [`crate::HistoryTarget`] key, wall_ms, msgid `u128` | origin, seq |
//! | msgids | tenant, msgid | wall_ms, origin, seq |
//! | conversations | tenant, user uid, peer uid | empty |
//! | snapshots | tenant, taken_ms | snapshot record |
//! | meta | tag byte, then per tag | `u64` or text |
//!
//! A uid is its node `u32` then its counter `u64`. A history target key is `c`, then the channel
//! name folded with RFC 1459 casemapping (length-prefixed), or `u`, then the two uids of a private
//! conversation, lower first.

use latticed_crdt::{MsgId, NodeId, OpId, Stamp, TenantId, Uid};

use crate::error::LogError;
use crate::kind::OpKind;

/// Bytes of a history position: wall_ms then msgid.
pub(crate) const POSITION_LEN: usize = 24;
/// Bytes after the wall time in a time-index key: origin then seq.
pub(crate) const TIME_SUFFIX_LEN: usize = 12;

/// Meta tag of a node's persisted Lamport clock ceiling.
pub(crate) const META_CLOCK: u8 = b'c';
/// Meta tag of a node's epoch.
pub(crate) const META_EPOCH: u8 = b'e';
/// Meta tag of a tenant's casemapping.
pub(crate) const META_CASEMAPPING: u8 = b'm';
/// Meta key of the log's format marker.
pub(crate) const META_FORMAT: u8 = b'f';
/// Meta tag of a checkpoint of the contiguous seq held per (tenant, origin).
pub(crate) const META_PROGRESS: u8 = b'v';

/// Builds one key, part by part.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyBuf(Vec<u8>);

impl KeyBuf {
    /// A key starting with the tenant.
    pub fn tenant(tenant: &TenantId) -> Result<KeyBuf, LogError> {
        KeyBuf::default().str(&tenant.0)
    }

    /// A key continuing `prefix`.
    pub fn from_prefix(prefix: &[u8]) -> KeyBuf {
        KeyBuf(prefix.to_vec())
    }

    /// A meta key starting with its tag.
    pub fn meta(tag: u8) -> KeyBuf {
        KeyBuf(vec![tag])
    }

    /// Appends a length-prefixed string.
    pub fn str(mut self, s: &str) -> Result<KeyBuf, LogError> {
        let len = u32::try_from(s.len()).map_err(|_| LogError::KeyPartTooLong { len: s.len() })?;
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
        Ok(self)
    }

    /// Appends one byte.
    pub fn byte(mut self, b: u8) -> KeyBuf {
        self.0.push(b);
        self
    }

    /// Appends a big-endian `u32`.
    pub fn u32(mut self, n: u32) -> KeyBuf {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    /// Appends a big-endian `u64`.
    pub fn u64(mut self, n: u64) -> KeyBuf {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    /// Appends a big-endian `u128`.
    pub fn u128(mut self, n: u128) -> KeyBuf {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    /// Appends a uid.
    pub fn uid(self, uid: Uid) -> KeyBuf {
        self.u32(uid.node.0).u64(uid.n)
    }

    /// Appends `n` bytes of `0xFF`: with a fixed-width suffix, the greatest key under a prefix.
    pub fn max_suffix(mut self, n: usize) -> KeyBuf {
        self.0.resize(self.0.len() + n, 0xFF);
        self
    }

    /// The finished key.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

/// Reads the parts of a key back, failing (never panicking) on a short or corrupt key.
pub(crate) struct KeyReader<'a> {
    rest: &'a [u8],
}

impl<'a> KeyReader<'a> {
    /// Reads `key` from its start.
    pub fn new(key: &'a [u8]) -> Self {
        KeyReader { rest: key }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], LogError> {
        if self.rest.len() < n {
            return Err(LogError::CorruptKey {
                detail: format!("needed {n} more bytes, {} left", self.rest.len()),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], LogError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, LogError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, LogError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads one byte.
    pub fn byte(&mut self) -> Result<u8, LogError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a uid.
    pub fn uid(&mut self) -> Result<Uid, LogError> {
        Ok(Uid {
            node: NodeId(self.u32()?),
            n: self.u64()?,
        })
    }

    /// Reads a length-prefixed string.
    pub fn str(&mut self) -> Result<&'a str, LogError> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|e| LogError::CorruptKey {
            detail: format!("string part is not UTF-8: {e}"),
        })
    }

    /// Reads an op id (origin then seq).
    pub fn op_id(&mut self) -> Result<OpId, LogError> {
        Ok(OpId {
            origin: NodeId(self.u32()?),
            seq: self.u64()?,
        })
    }

    /// Whether every byte was read.
    pub fn at_end(&self) -> bool {
        self.rest.is_empty()
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<(), LogError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(LogError::CorruptKey {
                detail: format!("{} unexpected trailing bytes", self.rest.len()),
            })
        }
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None` when no such key
/// exists (a prefix of only `0xFF` bytes).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

/// Key of an op record.
pub(crate) fn op_key(tenant: &TenantId, id: OpId) -> Result<Vec<u8>, LogError> {
    Ok(KeyBuf::tenant(tenant)?
        .u32(id.origin.0)
        .u64(id.seq)
        .into_vec())
}

/// Prefix of every op record of one origin in a tenant.
pub(crate) fn origin_prefix(tenant: &TenantId, origin: NodeId) -> Result<Vec<u8>, LogError> {
    Ok(KeyBuf::tenant(tenant)?.u32(origin.0).into_vec())
}

/// Key of a time-index entry.
pub(crate) fn time_key(tenant: &TenantId, wall_ms: u64, id: OpId) -> Result<Vec<u8>, LogError> {
    Ok(KeyBuf::tenant(tenant)?
        .u64(wall_ms)
        .u32(id.origin.0)
        .u64(id.seq)
        .into_vec())
}

/// What the time index holds about an op, so kind filters and replay ordering need no record
/// read: its kind and stamp, and for a run (run.rs) how many ops it holds, the first being the
/// op the key names (the stamp is the first op's; replay reads a run's other stamps from its
/// record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeValue {
    /// The op's kind.
    pub kind: OpKind,
    /// The op's stamp.
    pub stamp: Stamp,
    /// Ops in the entry: 1, or the length of a run, every op of it of `kind`.
    pub count: u64,
}

impl TimeValue {
    /// Encoded form: kind code, stamp counter, stamp node, then the count unless it is 1 (the
    /// form every single op has always had).
    pub fn encode(self) -> Vec<u8> {
        let single = KeyBuf::meta(self.kind.code())
            .u64(self.stamp.counter)
            .u32(self.stamp.node.0);
        match self.count {
            1 => single.into_vec(),
            count => single.u64(count).into_vec(),
        }
    }

    /// Parses the encoded form.
    pub fn decode(bytes: &[u8]) -> Result<TimeValue, LogError> {
        let mut r = KeyReader::new(bytes);
        let code = r.byte()?;
        let kind = OpKind::from_code(code).ok_or_else(|| LogError::CorruptKey {
            detail: format!("unknown op kind code {code} in the time index"),
        })?;
        let stamp = Stamp {
            counter: r.u64()?,
            node: NodeId(r.u32()?),
        };
        let count = if r.at_end() { 1 } else { r.u64()? };
        r.finish()?;
        if count == 0 {
            return Err(LogError::CorruptKey {
                detail: "a time index entry counts no ops".into(),
            });
        }
        Ok(TimeValue { kind, stamp, count })
    }
}

/// Appends a history position (wall_ms, msgid) to a prefix.
pub(crate) fn with_position(prefix: &[u8], wall_ms: u64, msgid: MsgId) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(&wall_ms.to_be_bytes());
    key.extend_from_slice(&msgid.0.to_be_bytes());
    key
}

/// Key of a msgid-index entry.
pub(crate) fn msgid_key(tenant: &TenantId, msgid: MsgId) -> Result<Vec<u8>, LogError> {
    Ok(KeyBuf::tenant(tenant)?.u128(msgid.0).into_vec())
}

/// Key of a conversation-index entry: `user` has a private conversation with `peer`.
pub(crate) fn conversation_key(
    tenant: &TenantId,
    user: Uid,
    peer: Uid,
) -> Result<Vec<u8>, LogError> {
    Ok(KeyBuf::tenant(tenant)?.uid(user).uid(peer).into_vec())
}

/// Encodes an op id as an index value.
pub(crate) fn op_id_value(id: OpId) -> Vec<u8> {
    KeyBuf::default().u32(id.origin.0).u64(id.seq).into_vec()
}

/// Parses an index value holding an op id.
pub(crate) fn parse_op_id_value(bytes: &[u8]) -> Result<OpId, LogError> {
    let mut r = KeyReader::new(bytes);
    let id = r.op_id()?;
    r.finish()?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId(name.into())
    }

    #[test]
    fn op_keys_order_by_seq_within_an_origin() {
        let id = |seq| OpId {
            origin: NodeId(1),
            seq,
        };
        let t = tenant("t");
        assert!(op_key(&t, id(9)).unwrap() < op_key(&t, id(10)).unwrap());
        assert!(op_key(&t, id(255)).unwrap() < op_key(&t, id(256)).unwrap());
        assert!(op_key(&t, id(u64::MAX))
            .unwrap()
            .starts_with(&origin_prefix(&t, NodeId(1)).unwrap()));
    }

    #[test]
    fn no_tenant_prefix_covers_another_tenant() {
        let a = KeyBuf::tenant(&tenant("ab")).unwrap().into_vec();
        let b = KeyBuf::tenant(&tenant("a")).unwrap().into_vec();
        assert!(!a.starts_with(&b));
        assert!(!b.starts_with(&a));
    }

    #[test]
    fn prefix_successor_skips_trailing_ff() {
        assert_eq!(prefix_successor(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
    }

    #[test]
    fn short_and_corrupt_keys_are_errors() {
        assert!(KeyReader::new(&[0, 0, 0]).u32().is_err());
        assert!(KeyReader::new(&[0, 0, 0, 9, b'a']).str().is_err());
        assert!(KeyReader::new(&[0, 0, 0, 1, 0xFF]).str().is_err());
        assert!(parse_op_id_value(&[0; 13]).is_err());
        assert!(TimeValue::decode(&[250; 13]).is_err());
    }

    #[test]
    fn time_value_round_trips() {
        for count in [1, 2, 64] {
            let v = TimeValue {
                kind: OpKind::Message,
                stamp: Stamp {
                    counter: 77,
                    node: NodeId(3),
                },
                count,
            };
            assert_eq!(TimeValue::decode(&v.encode()).unwrap(), v);
        }
    }

    #[test]
    fn single_time_value_keeps_its_old_form_and_zero_count_is_refused() {
        let single = TimeValue {
            kind: OpKind::Join,
            stamp: Stamp {
                counter: 1,
                node: NodeId(2),
            },
            count: 1,
        };
        assert_eq!(single.encode().len(), 13);
        let mut zero = single.encode();
        zero.extend_from_slice(&0u64.to_be_bytes());
        assert!(TimeValue::decode(&zero).is_err());
    }
}
