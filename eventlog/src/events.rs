//! Ops by time range, filtered by kind and target: what the admin API and `latticed events`
//! show.

use std::collections::BTreeSet;
use std::ops::Bound;

use latticed_crdt::{Op, TenantId, Uid};

use crate::entry::Entry;
use crate::error::LogError;
use crate::keys::{KeyBuf, KeyReader, TimeValue, TIME_SUFFIX_LEN};
use crate::kind::{channel_of, involves_user, OpKind};
use crate::log::EventLog;
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
        let start = KeyBuf::tenant(tenant)?.u64(from_ms).into_vec();
        let end = KeyBuf::tenant(tenant)?
            .u64(to_ms)
            .max_suffix(TIME_SUFFIX_LEN)
            .into_vec();
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let scan = self.store().scan(
            Space::Time,
            Bound::Included(start),
            Bound::Included(end),
            false,
        );
        for item in scan {
            let (key, value) = item.map_err(LogError::storage("reading the time index"))?;
            if !filter.wants_kind(TimeValue::decode(&value)?.kind) {
                continue;
            }
            let mut r = KeyReader::new(&key);
            r.str()?;
            r.u64()?;
            let id = r.op_id()?;
            r.finish()?;
            let Some(Entry::Op(op)) = self.get(tenant, id)? else {
                continue;
            };
            let wanted = match &filter.target {
                None => true,
                Some(EventTarget::Channel(name)) => {
                    channel_of(&op.body).is_some_and(|c| casemapping.eq(c, name))
                }
                Some(EventTarget::User(uid)) => involves_user(&op.body, *uid),
            };
            if wanted {
                out.push(op);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }
}
