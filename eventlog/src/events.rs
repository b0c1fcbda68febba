//! Ops by time range, filtered by kind and target: what the admin API and `latticed events`
//! show.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::ops::Bound;

use latticed_crdt::{NodeId, Op, TenantId, Uid};

use crate::entry::Entry;
use crate::error::LogError;
use crate::keys::{KeyBuf, KeyReader, TimeValue, TIME_SUFFIX_LEN};
use crate::kind::{channel_of, involves_user, OpKind};
use crate::log::EventLog;
use crate::run::MAX_RUN_SPAN_MS;
use crate::storage::Space;
use crate::stored;

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
        // Ops from runs, waiting until the scan has passed their place in time order.
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
                    out.push(t.0);
                }
                if out.len() == limit {
                    return Ok(out);
                }
            }
            let ops: Vec<Op> = if time.count == 1 {
                self.get(tenant, id)?
                    .and_then(Entry::into_op)
                    .into_iter()
                    .collect()
            } else {
                match stored::find(self.store(), tenant, id)? {
                    Some(record) => record
                        .entries()?
                        .into_iter()
                        .filter(|e| {
                            (id.seq..id.seq.saturating_add(time.count)).contains(&e.id().seq)
                        })
                        .filter_map(Entry::into_op)
                        .collect(),
                    None => Vec::new(),
                }
            };
            for op in ops.into_iter().filter(|op| wanted(op)) {
                if (op.wall_ms, op.id.origin, op.id.seq) == here {
                    out.push(op);
                    if out.len() == limit {
                        return Ok(out);
                    }
                } else {
                    waiting.push(Reverse(Timed(op)));
                }
            }
        }
        while out.len() < limit {
            let Some(Reverse(t)) = waiting.pop() else {
                break;
            };
            out.push(t.0);
        }
        Ok(out)
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
