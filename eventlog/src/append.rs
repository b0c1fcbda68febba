//! Appending ops: idempotent, indexed, and cheap (no disk sync per call).
//!
//! Index entries are written before the op record and the record is written last with an
//! insert-if-absent, so after a crash an op is never on disk without its indexes (a crash can
//! only leave index entries whose op is missing; readers skip them and the op's next arrival
//! rewrites them identically). An op already held is recognised from the log's in-memory
//! progress, without a read; one the progress misses is caught by the insert-if-absent, after
//! rewriting identical index entries.

use latticed_crdt::{MessageTarget, Op, OpBody, TenantId, Uid};

use crate::codec::encode_op_record;
use crate::entry::{Entry, EntryRef};
use crate::error::LogError;
use crate::history::HistoryTarget;
use crate::keys::{self, TimeValue};
use crate::kind::OpKind;
use crate::log::EventLog;
use crate::storage::Space;

impl EventLog {
    /// Appends an op (from this node or any peer). Returns whether it was new: appending an op
    /// id the log already holds changes nothing and returns `false`.
    ///
    /// Not durable until the next [`EventLog::flush`].
    pub fn append(&self, op: &Op) -> Result<bool, LogError> {
        self.append_ref(&op.tenant, op.id, EntryRef::Op(op))
    }

    /// Appends an entry received from a peer: an op, or the tombstone of a message the peer's
    /// retention pruned (which keeps this log's version vector contiguous). Idempotent like
    /// [`EventLog::append`]; an entry whose id is already held is ignored whatever its form.
    pub fn append_entry(&self, entry: &Entry) -> Result<bool, LogError> {
        self.append_ref(entry.tenant(), entry.id(), entry.as_ref())
    }

    fn append_ref(
        &self,
        tenant: &TenantId,
        id: latticed_crdt::OpId,
        entry: EntryRef<'_>,
    ) -> Result<bool, LogError> {
        if id.seq == 0 {
            return Err(LogError::InvalidOp {
                tenant: tenant.clone(),
                id,
                reason: "sequence numbers start at 1",
            });
        }
        let key = keys::op_key(tenant, id)?;
        if self.holds(tenant, id) {
            self.count_append(false);
            return Ok(false);
        }
        let record = encode_op_record(&entry).map_err(|source| LogError::Encode {
            what: format!("op {}/{} of tenant {tenant}", id.origin, id.seq),
            source,
        })?;
        if let EntryRef::Op(op) = entry {
            self.write_indexes(op)?;
        }
        let new = self
            .store()
            .insert_if_absent(Space::Ops, &key, &record)
            .map_err(LogError::storage("writing an op"))?;
        if new {
            self.note_held(tenant, id);
        }
        self.count_append(new);
        Ok(new)
    }

    fn write_indexes(&self, op: &Op) -> Result<(), LogError> {
        let store = self.store();
        let tenant = &op.tenant;
        let time = TimeValue {
            kind: OpKind::of(&op.body),
            stamp: op.stamp,
        };
        store
            .insert(
                Space::Time,
                &keys::time_key(tenant, op.wall_ms, op.id)?,
                &time.encode(),
            )
            .map_err(LogError::storage("writing the time index"))?;
        let OpBody::Message {
            msgid,
            from,
            target,
            ..
        } = &op.body
        else {
            return Ok(());
        };
        let history = history_target(*from, target);
        let position = keys::with_position(&history.prefix(tenant)?, op.wall_ms, *msgid);
        store
            .insert(Space::History, &position, &keys::op_id_value(op.id))
            .map_err(LogError::storage("writing the history index"))?;
        if msgid.time_ms() != op.wall_ms {
            // Only a msgid that does not carry its message's time needs the msgid index; the
            // others are found at their history position (`Query::message_time` in history.rs).
            let mut msgid_value = op.wall_ms.to_be_bytes().to_vec();
            msgid_value.extend_from_slice(&keys::op_id_value(op.id));
            store
                .insert(
                    Space::MsgIds,
                    &keys::msgid_key(tenant, *msgid)?,
                    &msgid_value,
                )
                .map_err(LogError::storage("writing the msgid index"))?;
        }
        if let MessageTarget::User(to) = target {
            for (user, peer) in [(*from, *to), (*to, *from)] {
                store
                    .insert(
                        Space::Conversations,
                        &keys::conversation_key(tenant, user, peer)?,
                        &[],
                    )
                    .map_err(LogError::storage("writing the conversation index"))?;
            }
        }
        Ok(())
    }
}

/// The history a message belongs to.
pub(crate) fn history_target(from: Uid, target: &MessageTarget) -> HistoryTarget {
    match target {
        MessageTarget::Channel(name) => HistoryTarget::Channel(name.clone()),
        MessageTarget::User(to) => HistoryTarget::Conversation(from, *to),
    }
}
