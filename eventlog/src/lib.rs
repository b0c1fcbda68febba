//! The event log of a latticed node: every op the node has seen, from every origin, for every
//! tenant, in sled, plus the indexes and snapshots that make it useful.
//!
//! - **Ops** are stored by `(tenant, origin, seq)`; [`EventLog::append`] is idempotent, so
//!   at-least-once delivery is safe. [`EventLog::version_vector`] and [`EventLog::ops_after`]
//!   drive catch-up between peers.
//! - **History** of channels and private conversations answers IRCv3 `CHATHISTORY`
//!   ([`EventLog::history_latest`] and friends); retention ([`EventLog::prune_history`]) removes
//!   old message bodies but never state ops.
//! - **Events** by time range and target serve the admin API ([`EventLog::ops_in_time_range`]).
//! - **Replay** rebuilds a tenant's state at any instant ([`EventLog::replay_json`],
//!   [`EventLog::diff_json`]); **snapshots** ([`EventLog::write_snapshot`]) spare restarts a full
//!   replay.
//! - **Node metadata**: the persisted Lamport clock ceiling and the node's epoch.
//!
//! # Durability
//!
//! Appends are written to the engine's in-memory log (at once, or by the writer thread with
//! [`EventLog::append_behind`]; reads always wait for earlier appends) and made durable by [`EventLog::flush`]
//! (one fsync for every append before it). [`EventLog::spawn_flusher`] flushes every 50 ms by
//! default, and the log flushes when the flusher stops and when the last handle is dropped.
//! A power cut or kernel crash loses the ops appended since the last completed flush (at most
//! one flush interval plus one flush's duration), and so does a process crash: sled buffers
//! writes in the process until a flush (measured: `kill -9` right after an append lost it 5
//! times in 6; after 100 ms, never). The clock ceiling and epoch are flushed before their
//! setters return; a [`CeilingKeeper`] calls the ceiling's setter on a thread of its own, ahead
//! of need, so that commits do not wait for the disk. Whatever a node loses, its peers still
//! hold and resend through catch-up.
//!
//! Records are versioned and decoded with a size limit ([`codec`]): damaged or hostile bytes
//! are errors, never panics. A directory the engine cannot open as a log is quarantined
//! ([`EventLog::open_or_quarantine`]).

pub mod codec;

mod append;
mod ceiling;
mod diff;
mod entry;
mod error;
mod events;
mod flusher;
mod history;
mod history_group;
mod keys;
mod kind;
mod load;
mod log;
mod marker;
mod meta;
mod progress;
mod quarantine;
mod replay;
mod retention;
mod run;
mod snapshot;
mod storage;
mod stored;
mod write_behind;

pub use ceiling::CeilingKeeper;
pub use diff::{FieldDiff, ObjectDiff, SectionDiff, StateDiff};
pub use entry::{Entry, PrunedMessage};
pub use error::{LogError, OpenError};
pub use events::{EventFilter, EventTarget};
pub use flusher::{Flusher, DEFAULT_FLUSH_INTERVAL};
pub use history::{Anchor, HistoryTarget, TargetActivity};
pub use kind::OpKind;
pub use log::{EventLog, LogMetrics, LogOptions, Waits, DEFAULT_CACHE_BYTES};
pub use marker::{LOG_FORMAT, SENTINEL_FILE};
pub use progress::VersionVector;
pub use quarantine::Opened;
pub use snapshot::{Snapshot, SNAPSHOTS_KEPT};
pub use storage::{KeyValue, Scan, SledStorage, Space, Storage, StorageError};
pub use write_behind::{Writer, MAX_BACKLOG};
