//! Message history for IRCv3 `draft/chathistory`: per channel and per private conversation,
//! ordered by (server time, msgid), with LATEST / BEFORE / AFTER / AROUND / BETWEEN / TARGETS
//! queries. Retention is in `retention`.
//!
//! Channel history is indexed under the channel name folded with RFC 1459 casemapping, which
//! identifies every pair of names any supported casemapping identifies; reads then keep only
//! messages whose channel equals the asked one under the tenant's own casemapping. So the index
//! never has to be rebuilt when a tenant's casemapping is set or changed.
//!
//! Every query returns complete `Message` ops in ascending (time, msgid) order.

use std::collections::BTreeSet;
use std::ops::Bound;

use latticed_crdt::{MessageTarget, MsgId, Op, OpBody, OpId, TenantId, Uid};
use latticed_proto::CaseMapping;

use crate::entry::Entry;
use crate::error::LogError;
use crate::events::EventFilter;
use crate::history_group::PositionScan;
use crate::keys::{self, KeyBuf, KeyReader, POSITION_LEN};
use crate::log::EventLog;
use crate::storage::{scan_prefix, Space};

/// Where a message's history lives: a channel, or the private conversation of two users.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HistoryTarget {
    /// A channel, by name (compared with the tenant's casemapping).
    Channel(String),
    /// Private messages between two users, in either direction. `Conversation(a, b)` and
    /// `Conversation(b, a)` are the same conversation.
    Conversation(Uid, Uid),
}

impl HistoryTarget {
    /// The conversation's other participant, seen from `user`.
    pub fn peer_of(&self, user: Uid) -> Option<Uid> {
        match *self {
            HistoryTarget::Conversation(a, b) if a == user => Some(b),
            HistoryTarget::Conversation(a, b) if b == user => Some(a),
            _ => None,
        }
    }

    /// Key prefix of this target's history in `tenant`.
    pub(crate) fn prefix(&self, tenant: &TenantId) -> Result<Vec<u8>, LogError> {
        let key = KeyBuf::tenant(tenant)?;
        Ok(match self {
            HistoryTarget::Channel(name) => key
                .byte(b'c')
                .str(&CaseMapping::Rfc1459.fold(name))?
                .into_vec(),
            HistoryTarget::Conversation(a, b) => {
                let (lo, hi) = if a <= b { (*a, *b) } else { (*b, *a) };
                key.byte(b'u').uid(lo).uid(hi).into_vec()
            }
        })
    }
}

/// A point in a history: a server time (Unix milliseconds), or a message by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// A server time: messages at exactly this millisecond are neither before nor after it.
    Time(u64),
    /// A message: its position is its (time, msgid).
    MsgId(MsgId),
}

/// A target with recent history, as listed by `CHATHISTORY TARGETS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetActivity {
    /// The channel or conversation.
    pub target: HistoryTarget,
    /// Server time of its latest message within the asked range.
    pub latest_ms: u64,
}

/// An anchor resolved against one target's key prefix.
struct Resolved {
    /// Where the anchor sits: (time, msgid), a time anchor at msgid 0.
    point: (u64, u128),
    /// Keys strictly below this are before the anchor.
    before: Vec<u8>,
    /// Keys strictly above this are after the anchor.
    after: Vec<u8>,
}

/// One history query on one target.
struct Query<'a> {
    log: &'a EventLog,
    tenant: &'a TenantId,
    target: &'a HistoryTarget,
    casemapping: CaseMapping,
    prefix: Vec<u8>,
}

impl<'a> Query<'a> {
    fn new(
        log: &'a EventLog,
        tenant: &'a TenantId,
        target: &'a HistoryTarget,
    ) -> Result<Self, LogError> {
        log.settle();
        Ok(Query {
            log,
            tenant,
            target,
            casemapping: log.casemapping(tenant),
            prefix: target.prefix(tenant)?,
        })
    }

    fn first(&self) -> Bound<Vec<u8>> {
        Bound::Included(self.prefix.clone())
    }

    fn last(&self) -> Bound<Vec<u8>> {
        Bound::Included(
            KeyBuf::from_prefix(&self.prefix)
                .max_suffix(POSITION_LEN)
                .into_vec(),
        )
    }

    fn resolve(&self, anchor: Anchor) -> Result<Resolved, LogError> {
        match anchor {
            Anchor::Time(t) => Ok(Resolved {
                point: (t, 0),
                before: keys::with_position(&self.prefix, t, MsgId(0)),
                after: keys::with_position(&self.prefix, t, MsgId(u128::MAX)),
            }),
            Anchor::MsgId(msgid) => {
                let wall = self
                    .message_time(msgid)?
                    .ok_or_else(|| LogError::UnknownMsgId {
                        tenant: self.tenant.clone(),
                        msgid,
                    })?;
                let key = keys::with_position(&self.prefix, wall, msgid);
                Ok(Resolved {
                    point: (wall, msgid.0),
                    before: key.clone(),
                    after: key,
                })
            }
        }
    }

    /// The wall time of this target's message `msgid`: the time the msgid carries if the message
    /// is at that position of the history, or else what the msgid index says (messages whose
    /// msgid does not carry their time, e.g. from logs written before messages took their
    /// msgid's time).
    fn message_time(&self, msgid: MsgId) -> Result<Option<u64>, LogError> {
        let carried = msgid.time_ms();
        let position = keys::with_position(&self.prefix, carried, msgid);
        let mut at_position = PositionScan::new(
            self.log.store(),
            &self.prefix,
            Bound::Included(position.clone()),
            Bound::Included(position),
            false,
        );
        if at_position.next_placed()?.is_some() {
            return Ok(Some(carried));
        }
        self.log
            .indexed_message(self.tenant, msgid)?
            .map_or(Ok(None), |(wall, _)| Ok(Some(wall)))
    }

    /// Up to `limit` messages of this target within the bounds, walking forward or backward
    /// from the start or end, returned in ascending order.
    fn collect(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        backward: bool,
        limit: usize,
    ) -> Result<Vec<Op>, LogError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let mut scan = PositionScan::new(self.log.store(), &self.prefix, start, end, backward);
        while let Some(placed) = scan.next_placed()? {
            let Some(op) = self
                .log
                .get(self.tenant, placed.id)?
                .and_then(Entry::into_op)
            else {
                continue;
            };
            if self.matches(&op) {
                out.push(op);
                if out.len() == limit {
                    break;
                }
            }
        }
        if backward {
            out.reverse();
        }
        Ok(out)
    }

    /// Whether a message indexed under this target's key really belongs to it (channel names
    /// compared with the tenant's casemapping, not the index's RFC 1459 folding).
    fn matches(&self, op: &Op) -> bool {
        match (&op.body, self.target) {
            (
                OpBody::Message {
                    target: MessageTarget::Channel(name),
                    ..
                },
                HistoryTarget::Channel(asked),
            ) => self.casemapping.eq(name, asked),
            (
                OpBody::Message {
                    target: MessageTarget::User(_),
                    ..
                },
                HistoryTarget::Conversation(..),
            ) => true,
            _ => false,
        }
    }

    /// Time of the latest message within `[lo, hi]`.
    fn latest_within(&self, lo: u64, hi: u64) -> Result<Option<u64>, LogError> {
        let start = keys::with_position(&self.prefix, lo, MsgId(0));
        let end = keys::with_position(&self.prefix, hi, MsgId(u128::MAX));
        Ok(self
            .collect(Bound::Included(start), Bound::Included(end), true, 1)?
            .first()
            .map(|op| op.wall_ms))
    }
}

impl EventLog {
    /// The latest `limit` messages of a target, or with `after`, the latest `limit` messages
    /// strictly after that anchor (`CHATHISTORY LATEST`).
    pub fn history_latest(
        &self,
        tenant: &TenantId,
        target: &HistoryTarget,
        after: Option<Anchor>,
        limit: usize,
    ) -> Result<Vec<Op>, LogError> {
        let q = Query::new(self, tenant, target)?;
        let start = match after {
            Some(anchor) => Bound::Excluded(q.resolve(anchor)?.after),
            None => q.first(),
        };
        q.collect(start, q.last(), true, limit)
    }

    /// The `limit` messages closest before an anchor, excluding it (`CHATHISTORY BEFORE`).
    pub fn history_before(
        &self,
        tenant: &TenantId,
        target: &HistoryTarget,
        anchor: Anchor,
        limit: usize,
    ) -> Result<Vec<Op>, LogError> {
        let q = Query::new(self, tenant, target)?;
        let end = Bound::Excluded(q.resolve(anchor)?.before);
        q.collect(q.first(), end, true, limit)
    }

    /// The `limit` messages closest after an anchor, excluding it (`CHATHISTORY AFTER`).
    pub fn history_after(
        &self,
        tenant: &TenantId,
        target: &HistoryTarget,
        anchor: Anchor,
        limit: usize,
    ) -> Result<Vec<Op>, LogError> {
        let q = Query::new(self, tenant, target)?;
        let start = Bound::Excluded(q.resolve(anchor)?.after);
        q.collect(start, q.last(), false, limit)
    }

    /// At most `limit` messages around an anchor (`CHATHISTORY AROUND`): about half before it
    /// and the rest from it on (a msgid anchor's own message included), taking more from one
    /// side when the other has too few.
    pub fn history_around(
        &self,
        tenant: &TenantId,
        target: &HistoryTarget,
        anchor: Anchor,
        limit: usize,
    ) -> Result<Vec<Op>, LogError> {
        let q = Query::new(self, tenant, target)?;
        let at = q.resolve(anchor)?;
        let before = q.collect(q.first(), Bound::Excluded(at.before.clone()), true, limit)?;
        let after = q.collect(Bound::Included(at.before), q.last(), false, limit)?;
        let take_before = before
            .len()
            .min((limit / 2).max(limit.saturating_sub(after.len())));
        let take_after = after.len().min(limit - take_before);
        let skip = before.len() - take_before;
        Ok(before
            .into_iter()
            .skip(skip)
            .chain(after.into_iter().take(take_after))
            .collect())
    }

    /// At most `limit` messages strictly between two anchors (`CHATHISTORY BETWEEN`), counted
    /// from `from`: if `from` is the later anchor, the `limit` latest ones. Always returned in
    /// ascending order.
    pub fn history_between(
        &self,
        tenant: &TenantId,
        target: &HistoryTarget,
        from: Anchor,
        to: Anchor,
        limit: usize,
    ) -> Result<Vec<Op>, LogError> {
        let q = Query::new(self, tenant, target)?;
        let (a, b) = (q.resolve(from)?, q.resolve(to)?);
        if a.point <= b.point {
            q.collect(
                Bound::Excluded(a.after),
                Bound::Excluded(b.before),
                false,
                limit,
            )
        } else {
            q.collect(
                Bound::Excluded(b.after),
                Bound::Excluded(a.before),
                true,
                limit,
            )
        }
    }

    /// The targets `user` has history in between two times, inclusive (`CHATHISTORY TARGETS`):
    /// every private conversation the user had, plus the given `channels` (the ones the user
    /// may read, which only the caller knows), each with the time of its latest message in the
    /// range. Targets without a message in the range are left out. Sorted by that time (ties by
    /// target), ascending; `limit` counts from `from_ms`, so if `from_ms` is the later time the
    /// `limit` most recent targets are kept.
    pub fn history_targets<I, S>(
        &self,
        tenant: &TenantId,
        user: Uid,
        channels: I,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Result<Vec<TargetActivity>, LogError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.settle();
        let mut candidates: BTreeSet<HistoryTarget> = channels
            .into_iter()
            .map(|c| HistoryTarget::Channel(c.as_ref().to_owned()))
            .collect();
        let prefix = KeyBuf::tenant(tenant)?.uid(user).into_vec();
        for item in scan_prefix(self.store(), Space::Conversations, &prefix, false) {
            let (key, _) = item.map_err(LogError::storage("reading conversations"))?;
            let mut r = KeyReader::new(key.get(prefix.len()..).unwrap_or_default());
            let peer = r.uid()?;
            r.finish()?;
            candidates.insert(HistoryTarget::Conversation(user, peer));
        }
        let (lo, hi) = (from_ms.min(to_ms), from_ms.max(to_ms));
        let mut found = Vec::new();
        for target in candidates {
            if let Some(latest_ms) = Query::new(self, tenant, &target)?.latest_within(lo, hi)? {
                found.push(TargetActivity { target, latest_ms });
            }
        }
        found.sort_by(|a, b| (a.latest_ms, &a.target).cmp(&(b.latest_ms, &b.target)));
        if from_ms <= to_ms {
            found.truncate(limit);
        } else {
            found.drain(..found.len().saturating_sub(limit));
        }
        Ok(found)
    }

    /// The message with this msgid, if held (and not pruned).
    pub fn message(&self, tenant: &TenantId, msgid: MsgId) -> Result<Option<Op>, LogError> {
        self.settle();
        if let Some((_, id)) = self.indexed_message(tenant, msgid)? {
            return Ok(self.get(tenant, id)?.and_then(Entry::into_op));
        }
        let carried = msgid.time_ms();
        let same_time = self.ops_in_time_range(
            tenant,
            carried,
            carried,
            &EventFilter::default(),
            usize::MAX,
        )?;
        Ok(same_time
            .into_iter()
            .find(|op| matches!(&op.body, OpBody::Message { msgid: found, .. } if *found == msgid)))
    }

    /// What the msgid index holds for `msgid`: its message's wall time and op id. Only
    /// messages whose msgid does not carry their wall time are in it.
    fn indexed_message(
        &self,
        tenant: &TenantId,
        msgid: MsgId,
    ) -> Result<Option<(u64, OpId)>, LogError> {
        let Some(value) = self
            .store()
            .get(Space::MsgIds, &keys::msgid_key(tenant, msgid)?)
            .map_err(LogError::storage("reading the msgid index"))?
        else {
            return Ok(None);
        };
        let wall = crate::meta::parse_u64(value.get(..8).unwrap_or_default())?;
        let id = keys::parse_op_id_value(value.get(8..).unwrap_or_default())?;
        Ok(Some((wall, id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latticed_crdt::NodeId;

    #[test]
    fn conversations_are_direction_free_and_channels_fold() {
        let t = TenantId("t".into());
        let u = |n| Uid { node: NodeId(1), n };
        assert_eq!(
            HistoryTarget::Conversation(u(1), u(2)).prefix(&t).unwrap(),
            HistoryTarget::Conversation(u(2), u(1)).prefix(&t).unwrap()
        );
        assert_eq!(
            HistoryTarget::Channel("#Foo[".into()).prefix(&t).unwrap(),
            HistoryTarget::Channel("#foo{".into()).prefix(&t).unwrap()
        );
        assert_eq!(
            HistoryTarget::Conversation(u(1), u(2)).peer_of(u(2)),
            Some(u(1))
        );
        assert_eq!(HistoryTarget::Channel("#a".into()).peer_of(u(2)), None);
    }
}
