//! Runs: consecutive ops of one origin and one kind stored as one `ops` record and one `time`
//! entry.
//!
//! sled pays per key far more than per byte: its leaves hold 16 items, so keys appended in order
//! split a leaf every few inserts and each split copies the parent index node. With three keys
//! per message (`ops`, `time`, `history`) the log's writer thread was about half of a node's CPU
//! during a message burst, and a burst of registrations left about 2.5 KB of sled's copied
//! nodes resident per user (docs/benchmarks.md). The writer thread takes appends in batches, and
//! consecutive ops of one origin and one [`OpKind`] in a batch are stored as a run: one `ops`
//! record under the first op's key, one `time` entry at the first op's time (its kind is every
//! op's kind, so kind filters, replay and retention read it as before), and for messages one
//! `history` entry per target (history_group.rs). Readers expand runs; nothing outside this crate
//! sees them.
//!
//! A run record is [`RUN_VERSION`], the entry count (`u32`), the end offset of each entry (`u32`
//! each, counted from the first entry), then the entries, each a complete op record
//! ([`crate::codec::encode_op_record`]), so one entry is decoded without decoding the others.

use latticed_crdt::OpId;

use crate::codec::{encode_op_record, DecodeError, OP_RECORD_LIMIT};
use crate::entry::Entry;
use crate::error::LogError;
use crate::kind::OpKind;

/// First byte of a run record; a single entry's record starts with
/// [`crate::codec::RECORD_VERSION`] (1).
pub(crate) const RUN_VERSION: u8 = 2;

/// Most ops in one run. Bounds what reading one op of a run costs (retention rewrites a run of
/// messages when it prunes part of it).
pub(crate) const MAX_RUN_LEN: usize = 64;

/// Most wall time between a run's first and last op. A time-range query starts its scan
/// this much before its range, so it sees runs that began before the range and reach into it.
pub(crate) const MAX_RUN_SPAN_MS: u64 = 1_000;

/// Largest run record: the limit of a single op record, so a run is never harder to hold than
/// the largest single op.
const MAX_RUN_BYTES: usize = OP_RECORD_LIMIT;

const HEADER_LEN: usize = 1 + 4;

/// Encodes entry records (consecutive seqs of one origin) as a run record, or `None` if they
/// would not fit in [`MAX_RUN_BYTES`].
pub(crate) fn encode_run(records: &[Vec<u8>]) -> Option<Vec<u8>> {
    let body: usize = records.iter().map(Vec::len).sum();
    let len = HEADER_LEN + 4 * records.len() + body;
    if len > MAX_RUN_BYTES || records.len() > MAX_RUN_LEN {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    out.push(RUN_VERSION);
    out.extend_from_slice(&u32::try_from(records.len()).ok()?.to_be_bytes());
    let mut end = 0usize;
    for record in records {
        end += record.len();
        out.extend_from_slice(&u32::try_from(end).ok()?.to_be_bytes());
    }
    for record in records {
        out.extend_from_slice(record);
    }
    Some(out)
}

/// Each entry's own record, as a run record holds them (and as a single entry is stored).
pub(crate) fn encode_entries(entries: &[Entry]) -> Result<Vec<Vec<u8>>, LogError> {
    entries
        .iter()
        .map(|entry| {
            encode_op_record(&entry.as_ref()).map_err(|source| LogError::Encode {
                what: format!(
                    "op {}/{} of tenant {}",
                    entry.id().origin,
                    entry.id().seq,
                    entry.tenant()
                ),
                source,
            })
        })
        .collect()
}

/// What one `ops` value holds: a single entry's record, or a run.
pub(crate) enum Stored<'a> {
    /// One entry's record.
    One(&'a [u8]),
    /// Several consecutive entries.
    Run {
        /// End offsets of the entries within `body`, 4 bytes each.
        ends: &'a [u8],
        /// The entries' records, back to back.
        body: &'a [u8],
    },
}

impl<'a> Stored<'a> {
    /// Reads an `ops` value's layout, checking a run's header against its length (the entries
    /// themselves are checked when decoded).
    pub fn parse(value: &'a [u8]) -> Result<Stored<'a>, DecodeError> {
        if value.first() != Some(&RUN_VERSION) {
            return Ok(Stored::One(value));
        }
        if value.len() > MAX_RUN_BYTES {
            return Err(DecodeError::TooLarge {
                len: value.len(),
                limit: MAX_RUN_BYTES,
            });
        }
        let malformed = |detail| DecodeError::MalformedRun { detail };
        let count = value
            .get(1..HEADER_LEN)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or(malformed("shorter than its header"))? as usize;
        if !(2..=MAX_RUN_LEN).contains(&count) {
            return Err(malformed("entry count out of range"));
        }
        let ends = value
            .get(HEADER_LEN..HEADER_LEN + 4 * count)
            .ok_or(malformed("shorter than its offsets"))?;
        let body = &value[HEADER_LEN + 4 * count..];
        let mut previous = 0;
        for end in ends.chunks_exact(4) {
            let end = u32::from_be_bytes([end[0], end[1], end[2], end[3]]) as usize;
            if end <= previous || end > body.len() {
                return Err(malformed("entry offsets out of order or out of bounds"));
            }
            previous = end;
        }
        if previous != body.len() {
            return Err(malformed("entry offsets do not cover the record"));
        }
        Ok(Stored::Run { ends, body })
    }

    /// How many entries the value holds.
    pub fn len(&self) -> u64 {
        match self {
            Stored::One(_) => 1,
            Stored::Run { ends, .. } => (ends.len() / 4) as u64,
        }
    }

    /// The record of the `index`th entry, if there is one.
    pub fn record(&self, index: u64) -> Option<&'a [u8]> {
        match *self {
            Stored::One(record) => (index == 0).then_some(record),
            Stored::Run { ends, body } => {
                let index = usize::try_from(index).ok()?;
                let end_at = |i: usize| {
                    let b = ends.get(4 * i..4 * i + 4)?;
                    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
                };
                let end = end_at(index)?;
                let start = if index == 0 { 0 } else { end_at(index - 1)? };
                body.get(start..end)
            }
        }
    }
}

/// Groups the writer thread's batch into runs. An op extends the open run of its tenant and
/// origin when it is of the run's kind and the run's next seq, not earlier in wall time than the
/// run's last op, and within [`MAX_RUN_LEN`] and [`MAX_RUN_SPAN_MS`] of the run's start; any
/// other entry of that tenant and origin closes the run first, so each origin's entries are
/// written in batch order.
#[derive(Default)]
pub(crate) struct RunBuilder {
    open: Vec<Vec<Entry>>,
}

/// What to do with an entry handed to [`RunBuilder::push`].
pub(crate) enum Push {
    /// It joined (or started) an open run.
    Taken,
    /// It closed this run, which is to be written before the entry is offered again.
    Closed(Vec<Entry>, Entry),
    /// Write it on its own.
    Alone(Entry),
}

impl RunBuilder {
    /// Offers an entry to the open runs. `held` says whether the log already holds an op id.
    pub fn push(&mut self, entry: Entry, held: impl Fn(&Entry) -> bool) -> Push {
        let slot = self
            .open
            .iter()
            .position(|run| same_origin(&run[0], &entry));
        if let Some(i) = slot {
            if extends(&self.open[i], &entry) && !held(&entry) {
                self.open[i].push(entry);
                return Push::Taken;
            }
            let closed = self.open.swap_remove(i);
            return Push::Closed(closed, entry);
        }
        if kind_of(&entry).is_some() && !held(&entry) {
            self.open.push(vec![entry]);
            return Push::Taken;
        }
        Push::Alone(entry)
    }

    /// The runs still open, to be written at the end of the batch.
    pub fn finish(self) -> Vec<Vec<Entry>> {
        self.open
    }
}

/// The kind of an op; `None` for a pruned message's tombstone, which never joins a run.
pub(crate) fn kind_of(entry: &Entry) -> Option<OpKind> {
    entry.op().map(|op| OpKind::of(&op.body))
}

fn same_origin(a: &Entry, b: &Entry) -> bool {
    a.id().origin == b.id().origin && a.tenant() == b.tenant()
}

fn extends(run: &[Entry], entry: &Entry) -> bool {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return false;
    };
    kind_of(entry).is_some_and(|kind| kind_of(first) == Some(kind))
        && run.len() < MAX_RUN_LEN
        && entry.id()
            == OpId {
                origin: last.id().origin,
                seq: last.id().seq.wrapping_add(1),
            }
        && entry.wall_ms() >= last.wall_ms()
        && entry.wall_ms() - first.wall_ms() <= MAX_RUN_SPAN_MS
}

#[cfg(test)]
mod tests {
    use latticed_crdt::{
        LamportClock, MessageKind, MessageTarget, MsgId, NodeId, Op, OpBody, OpId, TenantId, Uid,
    };

    use super::*;
    use crate::entry::PrunedMessage;

    fn op(origin: u32, seq: u64, wall_ms: u64, message: bool) -> Entry {
        let from = Uid {
            node: NodeId(origin),
            n: 1,
        };
        let body = if message {
            OpBody::Message {
                msgid: MsgId(u128::from(seq)),
                from,
                source: "n!u@h".into(),
                target: MessageTarget::Channel("#c".into()),
                kind: MessageKind::Privmsg,
                text: "hi".into(),
                tags: vec![],
            }
        } else {
            OpBody::Join {
                channel: "#c".into(),
                uid: from,
            }
        };
        Entry::Op(Op {
            tenant: TenantId("t".into()),
            id: OpId {
                origin: NodeId(origin),
                seq,
            },
            stamp: LamportClock::new(NodeId(origin)).tick(),
            wall_ms,
            body,
        })
    }

    /// Feeds entries through a builder; returns the groups in the order they would be written.
    fn group(entries: Vec<Entry>) -> Vec<Vec<u64>> {
        let mut builder = RunBuilder::default();
        let mut out = Vec::new();
        for entry in entries {
            let mut offered = Some(entry);
            while let Some(entry) = offered.take() {
                match builder.push(entry, |_| false) {
                    Push::Taken => {}
                    Push::Alone(e) => out.push(vec![e.id().seq]),
                    Push::Closed(run, e) => {
                        out.push(run.iter().map(|e| e.id().seq).collect());
                        offered = Some(e);
                    }
                }
            }
        }
        out.extend(
            builder
                .finish()
                .into_iter()
                .map(|run| run.iter().map(|e| e.id().seq).collect()),
        );
        out
    }

    #[test]
    fn runs_hold_consecutive_ops_of_one_origin_and_kind() {
        let groups = group(vec![
            op(1, 1, 10, true),
            op(2, 1, 10, true),
            op(1, 2, 11, true),
            op(1, 3, 11, false),
            op(1, 4, 11, false),
            op(1, 5, 12, true),
            op(1, 7, 12, true),
            op(1, 8, 5, true),
            op(1, 9, 5 + MAX_RUN_SPAN_MS + 1, true),
            op(2, 2, 10, true),
        ]);
        assert_eq!(
            groups,
            vec![
                vec![1, 2],
                vec![3, 4],
                vec![5],
                vec![7],
                vec![8],
                vec![1, 2],
                vec![9],
            ]
        );
        let long: Vec<Entry> = (1..=MAX_RUN_LEN as u64 + 1)
            .map(|seq| op(1, seq, 10, true))
            .collect();
        let lens: Vec<usize> = group(long).iter().map(Vec::len).collect();
        assert_eq!(lens, [MAX_RUN_LEN, 1]);
    }

    #[test]
    fn tombstones_and_held_ops_neither_start_nor_extend_a_run() {
        let mut builder = RunBuilder::default();
        let held = |e: &Entry| e.id().seq == 2;
        assert!(matches!(builder.push(op(1, 1, 1, true), held), Push::Taken));
        assert!(matches!(
            builder.push(op(1, 2, 1, true), held),
            Push::Closed(run, _) if run.len() == 1
        ));
        assert!(matches!(
            builder.push(op(1, 2, 1, true), held),
            Push::Alone(_)
        ));
        let tombstone = |seq| {
            let Entry::Op(op) = op(1, seq, 1, true) else {
                unreachable!("op() makes ops")
            };
            Entry::Pruned(PrunedMessage {
                tenant: op.tenant,
                id: op.id,
                stamp: op.stamp,
                wall_ms: op.wall_ms,
            })
        };
        assert!(matches!(builder.push(op(1, 3, 1, true), held), Push::Taken));
        assert!(matches!(
            builder.push(tombstone(4), held),
            Push::Closed(run, _) if run.len() == 1
        ));
        assert!(matches!(builder.push(tombstone(4), held), Push::Alone(_)));
    }

    #[test]
    fn a_run_record_gives_back_each_record() {
        let records = vec![vec![1, 10, 11], vec![1, 20], vec![1, 30, 31, 32]];
        let value = encode_run(&records).unwrap();
        let stored = Stored::parse(&value).unwrap();
        assert_eq!(stored.len(), 3);
        for (i, record) in records.iter().enumerate() {
            assert_eq!(stored.record(i as u64), Some(&record[..]));
        }
        assert_eq!(stored.record(3), None);
        assert!(matches!(Stored::parse(&[1, 5]), Ok(Stored::One(_))));
    }

    #[test]
    fn every_damaged_run_header_is_an_error_not_a_panic() {
        let value = encode_run(&[vec![1, 10], vec![1, 20, 21]]).unwrap();
        for len in 0..value.len() {
            let cut = &value[..len];
            if cut.first() == Some(&RUN_VERSION) {
                assert!(Stored::parse(cut).is_err(), "truncated to {len}");
            }
        }
        for i in 1..value.len() {
            for byte in [0, 1, 0x7f, 0xff] {
                let mut damaged = value.clone();
                damaged[i] = byte;
                if let Ok(stored) = Stored::parse(&damaged) {
                    for index in 0..stored.len() + 1 {
                        let _ = stored.record(index);
                    }
                }
            }
        }
        assert!(encode_run(&vec![vec![1]; MAX_RUN_LEN + 1]).is_none());
        assert!(encode_run(&[vec![1; MAX_RUN_BYTES], vec![1]]).is_none());
    }
}
