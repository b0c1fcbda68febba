//! Retention: old message bodies are removed, state ops never are.

use std::collections::BTreeSet;
use std::ops::Bound;

use latticed_crdt::{Op, OpBody, OpId, TenantId};

use crate::append::history_target;
use crate::entry::{Entry, PrunedMessage};
use crate::error::LogError;
use crate::history::HistoryTarget;
use crate::history_group;
use crate::keys::{self, KeyBuf, KeyReader, TimeValue};
use crate::kind::OpKind;
use crate::log::EventLog;
use crate::run::{encode_entries, encode_run};
use crate::storage::{scan_prefix, Space};
use crate::stored;

/// What pruning one record did.
#[derive(Default)]
struct Pruning {
    /// Messages pruned now.
    pruned: u64,
    /// Whether every op the time index entry counts is pruned (now or before), so the entry can go.
    all_pruned: bool,
    /// Conversations that lost messages.
    conversations: BTreeSet<HistoryTarget>,
}

impl EventLog {
    /// Retention: removes the bodies and history indexes of `tenant`'s messages older than
    /// `older_than_ms` (server time), leaving a [`PrunedMessage`] tombstone in place of each so
    /// version vectors stay contiguous. State ops are never pruned: replay and convergence are
    /// unaffected. Returns how many messages were pruned. Durable at the next flush; safe to
    /// rerun after a crash part way through.
    pub fn prune_history(&self, tenant: &TenantId, older_than_ms: u64) -> Result<u64, LogError> {
        self.settle();
        let start = KeyBuf::tenant(tenant)?.u64(0).into_vec();
        let end = KeyBuf::tenant(tenant)?.u64(older_than_ms).into_vec();
        let mut pruned = 0;
        let mut conversations = BTreeSet::new();
        let scan = self.store().scan(
            Space::Time,
            Bound::Included(start),
            Bound::Excluded(end),
            false,
        );
        for item in scan {
            let (time_key, value) = item.map_err(LogError::storage("scanning for retention"))?;
            let time = TimeValue::decode(&value)?;
            if time.kind != OpKind::Message {
                continue;
            }
            let mut r = KeyReader::new(&time_key);
            r.str()?;
            r.u64()?;
            let id = r.op_id()?;
            r.finish()?;
            let outcome = self.prune_record(tenant, id, time.count, older_than_ms)?;
            pruned += outcome.pruned;
            conversations.extend(outcome.conversations);
            if outcome.all_pruned {
                self.store()
                    .remove(Space::Time, &time_key)
                    .map_err(LogError::storage("removing a pruned message's time index"))?;
            }
        }
        for conversation in conversations {
            self.forget_conversation_if_empty(tenant, &conversation)?;
        }
        Ok(pruned)
    }

    /// Prunes the messages older than `older_than_ms` among the `count` ops from `first` on (one
    /// op, or a run of messages) and rewrites their record once, with tombstones in their place.
    fn prune_record(
        &self,
        tenant: &TenantId,
        first: OpId,
        count: u64,
        older_than_ms: u64,
    ) -> Result<Pruning, LogError> {
        let mut outcome = Pruning {
            all_pruned: true,
            ..Pruning::default()
        };
        let Some(record) = stored::find(self.store(), tenant, first)? else {
            return Ok(outcome);
        };
        let mut entries = record.entries()?;
        let old_history = history_group::layout(entries.iter().filter_map(Entry::op))?;
        let range = first.seq..first.seq.saturating_add(count);
        let mut changed = false;
        for entry in entries.iter_mut() {
            if !range.contains(&entry.id().seq) {
                continue;
            }
            let Entry::Op(op) = &*entry else {
                continue;
            };
            if op.wall_ms >= older_than_ms {
                outcome.all_pruned = false;
                continue;
            }
            if let Some(conversation) = self.remove_msgid_index(op)? {
                outcome.conversations.insert(conversation);
            }
            *entry = Entry::Pruned(PrunedMessage {
                tenant: tenant.clone(),
                id: op.id,
                stamp: op.stamp,
                wall_ms: op.wall_ms,
            });
            outcome.pruned += 1;
            changed = true;
        }
        if changed {
            // The record's history entries are recomputed from what stays, written before the
            // old ones go and before the record changes, so a crash part way leaves every kept
            // message findable and a rerun redoes the same steps.
            let new_history = history_group::layout(entries.iter().filter_map(Entry::op))?;
            for (key, value) in &new_history {
                self.store()
                    .insert(Space::History, key, value)
                    .map_err(LogError::storage("rewriting history after pruning"))?;
            }
            for (key, _) in &old_history {
                if !new_history.iter().any(|(kept, _)| kept == key) {
                    self.store()
                        .remove(Space::History, key)
                        .map_err(LogError::storage("removing a pruned message from history"))?;
                }
            }
            let records = encode_entries(&entries)?;
            let value = match records.as_slice() {
                [single] => single.clone(),
                _ => encode_run(&records).ok_or_else(|| LogError::InvalidOp {
                    tenant: tenant.clone(),
                    id: first,
                    reason: "a pruned run no longer fits a run record",
                })?,
            };
            self.store()
                .insert(Space::Ops, &record.key, &value)
                .map_err(LogError::storage("writing a pruned message's tombstone"))?;
        }
        Ok(outcome)
    }

    /// Removes a pruned message's msgid index entry, if it has one; returns its conversation if
    /// it was a private message.
    fn remove_msgid_index(&self, op: &Op) -> Result<Option<HistoryTarget>, LogError> {
        let OpBody::Message {
            msgid,
            from,
            target,
            ..
        } = &op.body
        else {
            return Ok(None);
        };
        let tenant = &op.tenant;
        let history = history_target(*from, target);
        let store = self.store();
        let msgid_key = keys::msgid_key(tenant, *msgid)?;
        let indexed_here = store
            .get(Space::MsgIds, &msgid_key)
            .map_err(LogError::storage("reading the msgid index"))?
            .is_some_and(|v| v.get(8..) == Some(&keys::op_id_value(op.id)[..]));
        if indexed_here {
            store
                .remove(Space::MsgIds, &msgid_key)
                .map_err(LogError::storage("removing a pruned msgid"))?;
        }
        Ok(matches!(history, HistoryTarget::Conversation(..)).then_some(history))
    }

    fn forget_conversation_if_empty(
        &self,
        tenant: &TenantId,
        conversation: &HistoryTarget,
    ) -> Result<(), LogError> {
        let HistoryTarget::Conversation(a, b) = *conversation else {
            return Ok(());
        };
        let prefix = conversation.prefix(tenant)?;
        if scan_prefix(self.store(), Space::History, &prefix, false)
            .next()
            .is_some()
        {
            return Ok(());
        }
        for (user, peer) in [(a, b), (b, a)] {
            self.store()
                .remove(
                    Space::Conversations,
                    &keys::conversation_key(tenant, user, peer)?,
                )
                .map_err(LogError::storage("removing an empty conversation"))?;
        }
        Ok(())
    }
}
