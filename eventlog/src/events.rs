//! Ops by time range, filtered by kind and target: what the admin API and `latticed events`
//! show.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::ops::Bound;

use latticed_crdt::{NodeId, Op, TenantId, Uid};

use crate::error::LogError;
use crate::keys::{KeyBuf, KeyReader, TimeValue, TIME_SUFFIX_LEN};
use crate::kind::{channel_of, involves_user, OpKind};
use crate::log::EventLog;
use crate::run::MAX_RUN_SPAN_MS;
use crate::storage::Space;

/// What an event query is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventTarget {
    /// Ops about a channel (compared with the tenant's casemapping), messages to it included.
    Channel(String),
    /// Ops about a user, made by them (`by`, a kick, a message they sent), or messages to them.
    User(Uid),
}

/// Which ops an event query returns. The default matches every op.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only these kinds; empty means every kind.
    pub kinds: BTreeSet<OpKind>,
    /// Only ops about this target.
    pub target: Option<EventTarget>,
}

impl EventFilter {
    /// Keeps only ops of `kind` (and of any other kind added the same way).
    pub fn kind(mut self, kind: OpKind) -> Self {
        self.kinds.insert(kind);
        self
    }

    /// Keeps only ops about `target`.
    pub fn target(mut self, target: EventTarget) -> Self {
        self.target = Some(target);
        self
    }

    fn wants_kind(&self, kind: OpKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }
}

impl EventLog {
    /// Up to `limit` ops of `tenant` with wall time in `[from_ms, to_ms]` matching `filter`,
    /// by wall time (then origin and seq). Pruned messages are not returned.
    pub fn ops_in_time_range(
        &self,
        tenant: &TenantId,
        from_ms: u64,
        to_ms: u64,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<Op>, LogError> {
        self.settle();
        let casemapping = self.casemapping(tenant);
        // A run of messages is indexed at its first message's time, up to MAX_RUN_SPAN_MS before
        // later ones, so the scan starts that much earlier and runs are expanded in time order.
        let scan_from = from_ms.saturating_sub(MAX_RUN_SPAN_MS);
        let start = KeyBuf::tenant(tenant)?.u64(scan_from).into_vec();
        let end = KeyBuf::tenant(tenant)?
            .u64(to_ms)
            .max_suffix(TIME_SUFFIX_LEN)
            .into_vec();
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let wanted = |op: &Op| {
            (from_ms..=to_ms).contains(&op.wall_ms)
                && match &filter.target {
                    None => true,
                    Some(EventTarget::Channel(name)) => {
                        channel_of(&op.body).is_some_and(|c| casemapping.eq(c, name))
                    }
                    Some(EventTarget::User(uid)) => involves_user(&op.body, *uid),
                }
        };
        // Ops read, waiting until the scan has passed their place in time order (a run's later
        // ops come before other entries' ops that the scan reaches first).
        let mut waiting: BinaryHeap<Reverse<Timed>> = BinaryHeap::new();
        let scan = self.store().scan(
            Space::Time,
            Bound::Included(start),
            Bound::Included(end),
            false,
        );
        for item in scan {
            let (key, value) = item.map_err(LogError::storage("reading the time index"))?;
            let time = TimeValue::decode(&value)?;
            if !filter.wants_kind(time.kind) {
                continue;
            }
            let mut r = KeyReader::new(&key);
            r.str()?;
            let wall_ms = r.u64()?;
            let id = r.op_id()?;
            r.finish()?;
            let here = (wall_ms, id.origin, id.seq);
            while waiting.peek().is_some_and(|Reverse(t)| t.order() < here) {
                if let Some(Reverse(t)) = waiting.pop() {
                    emit(&mut out, t.0);
                }
                if out.len() == limit {
                    return Ok(out);
                }
            }
            waiting.extend(
                self.ops_of_time_entry(tenant, id, time.count)?
                    .into_iter()
                    .filter(|op| wanted(op))
                    .map(|op| Reverse(Timed(op))),
            );
        }
        while out.len() < limit {
            let Some(Reverse(t)) = waiting.pop() else {
                break;
            };
            emit(&mut out, t.0);
        }
        Ok(out)
    }
}

/// Adds an op to a query's result unless it is the op added last: after a crash part way
/// through a run's append, the ops can be appended again in other runs, and a time index entry
/// left by the first attempt then counts them too.
fn emit(out: &mut Vec<Op>, op: Op) {
    if out
        .last()
        .is_none_or(|last| (last.wall_ms, last.id) != (op.wall_ms, op.id))
    {
        out.push(op);
    }
}

/// An op ordered as the time index orders them: wall time, origin, seq.
struct Timed(Op);

impl Timed {
    fn order(&self) -> (u64, NodeId, u64) {
        (self.0.wall_ms, self.0.id.origin, self.0.id.seq)
    }
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        self.order() == other.order()
    }
}

impl Eq for Timed {}

impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

#[cfg(test)]
mod tests {
    use latticed_crdt::{LamportClock, MessageKind, MessageTarget, MsgId, OpBody, OpId};

    use super::*;
    use crate::entry::Entry;
    use crate::keys;

    #[test]
    fn ops_counted_by_two_time_entries_are_returned_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        let tenant = TenantId("t".into());
        let mut clock = LamportClock::new(NodeId(1));
        let ops: Vec<Op> = (1..=3u64)
            .map(|seq| Op {
                tenant: tenant.clone(),
                id: OpId {
                    origin: NodeId(1),
                    seq,
                },
                stamp: clock.tick(),
                wall_ms: 100 + seq,
                body: OpBody::Message {
                    msgid: MsgId((u128::from(100 + seq) << 80) | u128::from(seq)),
                    from: Uid {
                        node: NodeId(1),
                        n: 1,
                    },
                    source: "n!u@h".into(),
                    target: MessageTarget::Channel("#c".into()),
                    kind: MessageKind::Privmsg,
                    text: format!("m{seq}"),
                    tags: vec![],
                },
            })
            .collect();
        log.append_batch(ops.iter().cloned().map(Entry::Op))
            .unwrap();
        // What a first attempt that stored ops 2 and 3 as a run, then crashed before writing
        // their record, leaves behind.
        let orphan = TimeValue {
            kind: OpKind::Message,
            stamp: ops[1].stamp,
            count: 2,
        };
        log.store()
            .insert(
                Space::Time,
                &keys::time_key(&tenant, ops[1].wall_ms, ops[1].id).unwrap(),
                &orphan.encode(),
            )
            .unwrap();
        let found = log
            .ops_in_time_range(&tenant, 0, u64::MAX, &EventFilter::default(), 100)
            .unwrap();
        assert_eq!(found, ops);
    }
}
