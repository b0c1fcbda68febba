//! Appending ops: idempotent, indexed, and cheap (no disk sync per call).
//!
//! Index entries are written before the op record and the record is written last with an
//! insert-if-absent, so after a crash an op is never on disk without its indexes (a crash can
//! only leave index entries whose op is missing; readers skip them and the op's next arrival
//! rewrites them identically). An op already held is recognised from the log's in-memory
//! progress, without a read; one the progress misses is caught by the insert-if-absent, after
//! rewriting identical index entries.

use std::collections::BTreeSet;

use latticed_crdt::{MessageTarget, Op, OpBody, TenantId, Uid};

use crate::codec::encode_op_record;
use crate::entry::{Entry, EntryRef};
use crate::error::LogError;
use crate::history::HistoryTarget;
use crate::history_group;
use crate::keys::{self, TimeValue};
use crate::kind::OpKind;
use crate::log::EventLog;
use crate::run::{encode_entries, encode_run, kind_of, Push, RunBuilder};
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

    /// Appends several entries (ops or tombstones, from any origins) at once: consecutive ops
    /// of one origin and kind are stored as a run under one key (far cheaper than one key each;
    /// see run.rs), everything else one by one, each origin's entries in the order given. Reads
    /// see exactly what appending them one by one would give. Idempotent like
    /// [`EventLog::append_entry`]; every entry is attempted, and the first failure is returned.
    pub fn append_batch(&self, entries: impl IntoIterator<Item = Entry>) -> Result<(), LogError> {
        let mut first_error = None;
        self.append_grouped(entries.into_iter(), |error, _| {
            first_error.get_or_insert(error);
        });
        first_error.map_or(Ok(()), Err)
    }

    /// [`EventLog::append_batch`] with each failure handed to `failed` with the number of
    /// entries it cost, so the writer thread can count them and go on.
    pub(crate) fn append_grouped(
        &self,
        batch: impl Iterator<Item = Entry>,
        mut failed: impl FnMut(LogError, usize),
    ) {
        let mut runs = RunBuilder::default();
        let held = |entry: &Entry| self.holds(entry.tenant(), entry.id());
        for entry in batch {
            let mut offered = Some(entry);
            while let Some(entry) = offered.take() {
                match runs.push(entry, held) {
                    Push::Taken => {}
                    Push::Alone(entry) => {
                        if let Err(error) = self.append_entry(&entry) {
                            failed(error, 1);
                        }
                    }
                    Push::Closed(run, entry) => {
                        if let Err(error) = self.append_run(&run) {
                            failed(error, run.len());
                        }
                        offered = Some(entry);
                    }
                }
            }
        }
        for run in runs.finish() {
            if let Err(error) = self.append_run(&run) {
                failed(error, run.len());
            }
        }
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

    /// Appends consecutive ops of one origin and kind, none of them held (the writer thread's
    /// [`crate::run::RunBuilder`] groups them), as one run record with one time index entry and,
    /// for messages, one history entry per target (history_group.rs). Falls back to single
    /// appends for a run of one, one too large for a run record, or if a record is unexpectedly
    /// found under the run's key (so no op is ever lost to a run that was not written).
    fn append_run(&self, run: &[Entry]) -> Result<(), LogError> {
        let [first, ..] = run else {
            return Ok(());
        };
        let record = match run {
            [_] => None,
            _ => encode_run(&encode_entries(run)?),
        };
        let (Some(record), Some(kind)) = (record, kind_of(first)) else {
            for entry in run {
                self.append_entry(entry)?;
            }
            return Ok(());
        };
        let ops: Vec<&Op> = run.iter().filter_map(Entry::op).collect();
        self.write_message_indexes(&ops)?;
        let tenant = first.tenant();
        let time = TimeValue {
            kind,
            stamp: first.stamp(),
            count: run.len() as u64,
        };
        self.store()
            .insert(
                Space::Time,
                &keys::time_key(tenant, first.wall_ms(), first.id())?,
                &time.encode(),
            )
            .map_err(LogError::storage("writing the time index"))?;
        let new = self
            .store()
            .insert_if_absent(Space::Ops, &keys::op_key(tenant, first.id())?, &record)
            .map_err(LogError::storage("writing a run of ops"))?;
        if !new {
            for entry in run {
                self.append_entry(entry)?;
            }
            return Ok(());
        }
        for entry in run {
            self.note_held(tenant, entry.id());
            self.count_append(true);
        }
        Ok(())
    }

    fn write_indexes(&self, op: &Op) -> Result<(), LogError> {
        let time = TimeValue {
            kind: OpKind::of(&op.body),
            stamp: op.stamp,
            count: 1,
        };
        self.store()
            .insert(
                Space::Time,
                &keys::time_key(&op.tenant, op.wall_ms, op.id)?,
                &time.encode(),
            )
            .map_err(LogError::storage("writing the time index"))?;
        self.write_message_indexes(&[op])
    }

    /// Writes the history entries of messages of one origin (grouped per target as
    /// [`history_group::layout`] says), and their msgid and conversation indexes. Other ops get
    /// none.
    fn write_message_indexes(&self, ops: &[&Op]) -> Result<(), LogError> {
        let store = self.store();
        for (key, value) in history_group::layout(ops.iter().copied())? {
            store
                .insert(Space::History, &key, &value)
                .map_err(LogError::storage("writing the history index"))?;
        }
        let mut conversations = BTreeSet::new();
        for op in ops {
            let OpBody::Message {
                msgid,
                from,
                target,
                ..
            } = &op.body
            else {
                continue;
            };
            if msgid.time_ms() != op.wall_ms {
                // Only a msgid that does not carry its message's time needs the msgid index;
                // the others are found at their history position (`Query::message_time`).
                let mut msgid_value = op.wall_ms.to_be_bytes().to_vec();
                msgid_value.extend_from_slice(&keys::op_id_value(op.id));
                store
                    .insert(
                        Space::MsgIds,
                        &keys::msgid_key(&op.tenant, *msgid)?,
                        &msgid_value,
                    )
                    .map_err(LogError::storage("writing the msgid index"))?;
            }
            if let MessageTarget::User(to) = target {
                conversations.insert((&op.tenant, *from, *to));
                conversations.insert((&op.tenant, *to, *from));
            }
        }
        for (tenant, user, peer) in conversations {
            store
                .insert(
                    Space::Conversations,
                    &keys::conversation_key(tenant, user, peer)?,
                    &[],
                )
                .map_err(LogError::storage("writing the conversation index"))?;
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
