//! Reading entries from the `ops` keyspace, where a key holds one entry or a run of consecutive
//! ops (run.rs): finding the record that holds an op id, and scanning entries in seq order.

use std::collections::VecDeque;
use std::ops::Bound;

use latticed_crdt::{OpId, TenantId};

use crate::codec::{decode_op_record, DecodeError};
use crate::entry::Entry;
use crate::error::LogError;
use crate::keys::{self, KeyReader};
use crate::run::Stored;
use crate::storage::{Scan, Space, Storage};

/// An `ops` record as read: the seq of its first entry and its value.
pub(crate) struct Record {
    /// Key it is stored under.
    pub key: Vec<u8>,
    /// Seq of its first (or only) entry.
    pub first: u64,
    /// The stored value.
    pub value: Vec<u8>,
}

impl Record {
    /// A record as scanned from the `ops` keyspace.
    pub fn from_item(key: Vec<u8>, value: Vec<u8>) -> Result<Record, LogError> {
        let first = first_seq(&key)?;
        Ok(Record { key, first, value })
    }

    /// The layout of the value.
    pub fn stored(&self) -> Result<Stored<'_>, LogError> {
        Stored::parse(&self.value).map_err(|source| self.decode_error(source))
    }

    /// How many entries it holds.
    pub fn len(&self) -> Result<u64, LogError> {
        Ok(self.stored()?.len())
    }

    /// The entry with seq `seq`, if the record holds it.
    pub fn entry(&self, seq: u64) -> Result<Option<Entry>, LogError> {
        let Some(index) = seq.checked_sub(self.first) else {
            return Ok(None);
        };
        let stored = self.stored()?;
        let Some(bytes) = stored.record(index) else {
            return Ok(None);
        };
        self.decode_at(bytes, seq).map(Some)
    }

    /// Every entry it holds, in seq order.
    pub fn entries(&self) -> Result<Vec<Entry>, LogError> {
        let stored = self.stored()?;
        let mut out = Vec::with_capacity(stored.len() as usize);
        for index in 0..stored.len() {
            let bytes = stored.record(index).ok_or_else(|| {
                self.decode_error(DecodeError::MalformedRun {
                    detail: "an entry is missing",
                })
            })?;
            out.push(self.decode_at(bytes, self.first + index)?);
        }
        Ok(out)
    }

    fn decode_at(&self, bytes: &[u8], seq: u64) -> Result<Entry, LogError> {
        let entry: Entry = decode_op_record(bytes).map_err(|source| self.decode_error(source))?;
        let origin = entry_origin(&self.key)?;
        if entry.id() != (OpId { origin, seq }) {
            return Err(self.decode_error(DecodeError::MalformedRun {
                detail: "an entry's op id does not match its place under the key",
            }));
        }
        Ok(entry)
    }

    fn decode_error(&self, source: DecodeError) -> LogError {
        LogError::Decode {
            what: crate::log::describe_op_key(&self.key),
            source,
        }
    }
}

/// The record holding op `id` of `tenant`, if any: its own, or the run it belongs to.
pub(crate) fn find(
    store: &dyn Storage,
    tenant: &TenantId,
    id: OpId,
) -> Result<Option<Record>, LogError> {
    let key = keys::op_key(tenant, id)?;
    if let Some(value) = store
        .get(Space::Ops, &key)
        .map_err(LogError::storage("reading an op"))?
    {
        return Record::from_item(key, value).map(Some);
    }
    let prefix = keys::origin_prefix(tenant, id.origin)?;
    let Some(item) = store
        .scan(
            Space::Ops,
            Bound::Included(prefix),
            Bound::Excluded(key),
            true,
        )
        .next()
    else {
        return Ok(None);
    };
    let (key, value) = item.map_err(LogError::storage("reading an op"))?;
    let record = Record::from_item(key, value)?;
    Ok((id.seq - record.first < record.len()?).then_some(record))
}

/// Entries of one origin in seq order, from a given seq on, across single records and runs.
pub(crate) struct EntryScan<'a> {
    scan: Scan<'a>,
    from: u64,
    pending: VecDeque<Entry>,
}

impl<'a> EntryScan<'a> {
    /// Entries of `tenant` from `origin` with seq `from` or higher.
    pub fn new(
        store: &'a dyn Storage,
        tenant: &TenantId,
        origin: latticed_crdt::NodeId,
        from: u64,
    ) -> Result<EntryScan<'a>, LogError> {
        let id = OpId { origin, seq: from };
        let start = match find(store, tenant, id)? {
            Some(record) => record.key,
            None => keys::op_key(tenant, id)?,
        };
        let prefix = keys::origin_prefix(tenant, origin)?;
        let end = keys::prefix_successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
        Ok(EntryScan {
            scan: store.scan(Space::Ops, Bound::Included(start), end, false),
            from,
            pending: VecDeque::new(),
        })
    }

    /// The next entry, if any.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, LogError> {
        loop {
            if let Some(entry) = self.pending.pop_front() {
                return Ok(Some(entry));
            }
            let Some(item) = self.scan.next() else {
                return Ok(None);
            };
            let (key, value) = item.map_err(LogError::storage("reading ops to ship"))?;
            let record = Record::from_item(key, value)?;
            let from = self.from;
            self.pending
                .extend(record.entries()?.into_iter().filter(|e| e.id().seq >= from));
        }
    }
}

/// The seq in an `ops` key (tenant, origin, seq).
fn first_seq(key: &[u8]) -> Result<u64, LogError> {
    Ok(op_id_of(key)?.seq)
}

fn entry_origin(key: &[u8]) -> Result<latticed_crdt::NodeId, LogError> {
    Ok(op_id_of(key)?.origin)
}

fn op_id_of(key: &[u8]) -> Result<OpId, LogError> {
    let mut r = KeyReader::new(key);
    r.str()?;
    let id = r.op_id()?;
    r.finish()?;
    Ok(id)
}
