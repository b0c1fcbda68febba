//! Errors of the event log, each saying what the log was doing when it failed.

use std::path::PathBuf;

use latticed_crdt::{ApplyError, MsgId, OpId, TenantId};
use thiserror::Error;

use crate::codec::{DecodeError, EncodeError};
use crate::storage::StorageError;

/// Why a log operation failed.
#[derive(Debug, Error)]
pub enum LogError {
    /// The storage engine failed.
    #[error("event log storage failed while {action}: {source}")]
    Storage {
        /// What the log was doing.
        action: &'static str,
        /// The engine's error.
        #[source]
        source: StorageError,
    },
    /// A stored record could not be decoded.
    #[error("event log record {what} cannot be decoded: {source}")]
    Decode {
        /// Which record.
        what: String,
        /// Why.
        #[source]
        source: DecodeError,
    },
    /// A record could not be encoded.
    #[error("cannot encode {what} for the event log: {source}")]
    Encode {
        /// Which record.
        what: String,
        /// Why.
        #[source]
        source: EncodeError,
    },
    /// A stored key or index value is malformed.
    #[error("event log key or index value is corrupt: {detail}")]
    CorruptKey {
        /// What was wrong.
        detail: String,
    },
    /// A name is too long to be part of a key.
    #[error("a key part of {len} bytes is too long")]
    KeyPartTooLong {
        /// Its length.
        len: usize,
    },
    /// The op cannot be logged as it is.
    #[error("op {id:?} of tenant {tenant} refused: {reason}")]
    InvalidOp {
        /// The op's tenant.
        tenant: TenantId,
        /// The op's id.
        id: OpId,
        /// Why.
        reason: &'static str,
    },
    /// A history anchor names a message the log does not hold.
    #[error("message {msgid} is not in the history of tenant {tenant}")]
    UnknownMsgId {
        /// The tenant.
        tenant: TenantId,
        /// The msgid asked for.
        msgid: MsgId,
    },
    /// Replay met an op the state refused.
    #[error("replay of tenant {tenant} failed: {source}")]
    Replay {
        /// The tenant replayed.
        tenant: TenantId,
        /// The state's error.
        #[source]
        source: ApplyError,
    },
    /// Replay output could not be rendered as JSON.
    #[error("cannot render tenant {tenant} as JSON: {source}")]
    Json {
        /// The tenant.
        tenant: TenantId,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// A stored casemapping name is unknown to this build.
    #[error("tenant {tenant} has an unknown stored casemapping {name:?}")]
    UnknownCaseMapping {
        /// The tenant.
        tenant: TenantId,
        /// The stored name.
        name: String,
    },
    /// A background thread of the log could not be started.
    #[error("cannot start {what}: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl LogError {
    /// Wraps a storage error with what the log was doing.
    pub(crate) fn storage(action: &'static str) -> impl FnOnce(StorageError) -> LogError {
        move |source| LogError::Storage { action, source }
    }

    /// Whether the error comes from damaged stored data (as opposed to the environment, like a
    /// full disk, or the caller's input).
    pub fn is_corruption(&self) -> bool {
        match self {
            LogError::Storage { source, .. } => source.is_corruption(),
            LogError::Decode { .. } | LogError::CorruptKey { .. } => true,
            LogError::UnknownCaseMapping { .. } => true,
            _ => false,
        }
    }
}

/// Why the log could not be opened.
#[derive(Debug, Error)]
pub enum OpenError {
    /// The storage engine could not open the directory.
    #[error("cannot open event log at {path}: {source}")]
    Storage {
        /// The directory.
        path: PathBuf,
        /// The engine's error.
        #[source]
        source: StorageError,
    },
    /// The directory opened but its contents could not be loaded.
    #[error("cannot load event log at {path}: {source}")]
    Load {
        /// The directory.
        path: PathBuf,
        /// What failed.
        #[source]
        source: LogError,
    },
    /// The directory was a log, but the storage engine no longer holds its data.
    #[error("event log at {path} lost its data: the engine cannot read what it stored")]
    Lost {
        /// The directory.
        path: PathBuf,
    },
    /// The log was written in a format this build does not know (a newer version).
    #[error("event log at {path} has unsupported format marker {found:?}")]
    UnsupportedFormat {
        /// The directory.
        path: PathBuf,
        /// The marker found.
        found: Vec<u8>,
    },
    /// The sentinel marking the directory as a log could not be written.
    #[error("cannot write event log sentinel {path}: {source}")]
    Sentinel {
        /// The sentinel file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A damaged log could not be moved aside.
    #[error("cannot quarantine damaged event log {path} to {to}: {source}")]
    Quarantine {
        /// The damaged directory.
        path: PathBuf,
        /// Where it was to be moved.
        to: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl OpenError {
    /// Whether the directory's data is damaged (quarantine it and resync) rather than
    /// unreachable (permissions, lock held, disk error).
    pub fn is_corruption(&self) -> bool {
        match self {
            OpenError::Storage { source, .. } => source.is_corruption(),
            OpenError::Load { source, .. } => source.is_corruption(),
            OpenError::Lost { .. } => true,
            OpenError::UnsupportedFormat { .. }
            | OpenError::Sentinel { .. }
            | OpenError::Quarantine { .. } => false,
        }
    }
}
