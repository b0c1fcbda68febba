//! What the log holds for one op id: the op itself, or, once retention pruned a message, a
//! tombstone that keeps its place so version vectors stay contiguous.

use latticed_crdt::{Op, OpId, Stamp, TenantId};
use serde::{Deserialize, Serialize};

/// A message op whose body retention removed. It keeps the op's identity, stamp and time, so the
/// origin's sequence has no hole (peers catching up receive the tombstone and stop asking for
/// it) and clocks still move past its stamp. It never changed state, so state is unaffected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedMessage {
    /// The tenant of the op.
    pub tenant: TenantId,
    /// Origin and sequence number.
    pub id: OpId,
    /// The op's Lamport stamp.
    pub stamp: Stamp,
    /// The op's wall time at its origin (Unix milliseconds).
    pub wall_ms: u64,
}

/// One record of the log, as stored and as shipped to a peer that is missing it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry {
    /// A complete op.
    Op(Op),
    /// A message op whose body was pruned by retention.
    Pruned(PrunedMessage),
}

/// Borrowed twin of [`Entry`] with the identical serde layout, so appending an op encodes it
/// without cloning it.
#[derive(Serialize)]
pub(crate) enum EntryRef<'a> {
    /// See [`Entry::Op`].
    Op(&'a Op),
    /// See [`Entry::Pruned`].
    Pruned(&'a PrunedMessage),
}

impl Entry {
    /// The op's tenant.
    pub fn tenant(&self) -> &TenantId {
        match self {
            Entry::Op(op) => &op.tenant,
            Entry::Pruned(p) => &p.tenant,
        }
    }

    /// The op's id.
    pub fn id(&self) -> OpId {
        match self {
            Entry::Op(op) => op.id,
            Entry::Pruned(p) => p.id,
        }
    }

    /// The op's stamp.
    pub fn stamp(&self) -> Stamp {
        match self {
            Entry::Op(op) => op.stamp,
            Entry::Pruned(p) => p.stamp,
        }
    }

    /// The op's wall time (Unix milliseconds).
    pub fn wall_ms(&self) -> u64 {
        match self {
            Entry::Op(op) => op.wall_ms,
            Entry::Pruned(p) => p.wall_ms,
        }
    }

    /// The complete op, unless it was pruned.
    pub fn op(&self) -> Option<&Op> {
        match self {
            Entry::Op(op) => Some(op),
            Entry::Pruned(_) => None,
        }
    }

    /// The complete op, unless it was pruned.
    pub fn into_op(self) -> Option<Op> {
        match self {
            Entry::Op(op) => Some(op),
            Entry::Pruned(_) => None,
        }
    }

    pub(crate) fn as_ref(&self) -> EntryRef<'_> {
        match self {
            Entry::Op(op) => EntryRef::Op(op),
            Entry::Pruned(p) => EntryRef::Pruned(p),
        }
    }
}

impl From<Op> for Entry {
    fn from(op: Op) -> Self {
        Entry::Op(op)
    }
}
