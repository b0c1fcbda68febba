//! Write-behind: appends handed to a background thread, so the caller (a node committing an op
//! under its tenant lock, or applying a peer's batch) does not wait for the storage engine.
//!
//! Readers never see the difference: every read of the log first waits until the appends handed
//! over before it have been written ([`EventLog::settle`]), so a client reading its history right
//! after sending, a snapshot checked against the log, or a peer's catch-up all see every op
//! committed before them. An op handed over is durable after the next [`EventLog::flush`], which
//! settles first; what a crash can lose grows only by the bounded backlog ([`MAX_BACKLOG`]).

use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use crate::entry::Entry;
use crate::log::EventLog;

/// Most entries waiting to be written. Past it, [`EventLog::append_behind`] waits for the writer:
/// when the storage engine cannot keep up, committing slows down instead of the backlog growing.
/// Small on purpose: it bounds how long an acknowledged op can wait before the next flush makes
/// it durable (a few milliseconds of appends in a release build), while still letting the
/// writer take a batch at a time.
pub const MAX_BACKLOG: usize = 256;

/// Entries waiting for the writer thread, and how far it has got.
#[derive(Default)]
pub(crate) struct Backlog {
    state: Mutex<BacklogState>,
    /// Signalled when entries are queued or the writer must stop.
    work: Condvar,
    /// Signalled when the writer has written a batch.
    written: Condvar,
}

#[derive(Default)]
struct BacklogState {
    queue: Vec<Entry>,
    /// Entries handed over since the log was opened.
    queued_total: u64,
    /// Entries written (or failed and counted) since the log was opened.
    written_total: u64,
    /// A writer thread is taking entries.
    running: bool,
    /// The writer was told to stop once the queue is empty.
    stopping: bool,
}

/// The running writer thread of a log ([`EventLog::spawn_writer`]). Dropping it writes
/// everything still queued, then stops the thread; appends after that are written by the caller.
pub struct Writer {
    backlog: Arc<Backlog>,
    thread: Option<JoinHandle<()>>,
}

impl EventLog {
    /// Starts the writer thread: from now on [`EventLog::append_behind`] returns at once and the
    /// thread writes the entries in batches. Fails if a writer is already running, or if the
    /// thread cannot be created.
    pub fn spawn_writer(&self) -> std::io::Result<Writer> {
        let backlog = self.inner.backlog.clone();
        {
            let mut state = backlog.state.lock();
            if state.running {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the event log already has a writer thread",
                ));
            }
            state.running = true;
            state.stopping = false;
        }
        let log = self.clone();
        let spawned = std::thread::Builder::new()
            .name("eventlog-writer".into())
            .spawn(move || write_until_stopped(&log));
        match spawned {
            Ok(thread) => Ok(Writer {
                backlog,
                thread: Some(thread),
            }),
            Err(error) => {
                backlog.state.lock().running = false;
                Err(error)
            }
        }
    }

    /// Appends an entry (an op of this node or a peer's entry) without waiting for the storage
    /// engine when a writer thread runs; otherwise appends it at once. Like
    /// [`EventLog::append_entry`] it is idempotent; failures are logged and counted in
    /// [`crate::LogMetrics::append_errors`], since the caller has moved on.
    pub fn append_behind(&self, entry: Entry) {
        let backlog = &self.inner.backlog;
        let mut state = backlog.state.lock();
        if !state.running {
            drop(state);
            self.append_counting_errors(&entry);
            return;
        }
        while state.queue.len() >= MAX_BACKLOG && state.running {
            backlog.written.wait(&mut state);
        }
        if !state.running {
            drop(state);
            self.append_counting_errors(&entry);
            return;
        }
        state.queue.push(entry);
        state.queued_total += 1;
        drop(state);
        backlog.work.notify_one();
    }

    /// Entries handed to the writer thread and not written yet: a backlog that stays high means
    /// the storage engine is what limits how fast this node commits.
    pub fn writer_backlog(&self) -> usize {
        self.inner.backlog.state.lock().queue.len()
    }

    /// Waits until every entry handed to [`EventLog::append_behind`] before this call has been
    /// written. Every read of the log calls it first, so reads always see earlier appends.
    pub(crate) fn settle(&self) {
        let backlog = &self.inner.backlog;
        let mut state = backlog.state.lock();
        let target = state.queued_total;
        while state.written_total < target && state.running {
            backlog.written.wait(&mut state);
        }
    }

    fn append_counting_errors(&self, entry: &Entry) {
        if let Err(error) = self.append_entry(entry) {
            self.count_append_error();
            tracing::error!(%error, id = ?entry.id(), "event log: append failed");
        }
    }
}

/// The writer thread: take everything queued, write it, report progress; until told to stop
/// with nothing left.
fn write_until_stopped(log: &EventLog) {
    let backlog = &log.inner.backlog;
    // Swapped with the queue each round, so neither is reallocated from empty every batch.
    let mut batch = Vec::with_capacity(MAX_BACKLOG);
    loop {
        {
            let mut state = backlog.state.lock();
            while state.queue.is_empty() && !state.stopping {
                backlog.work.wait(&mut state);
            }
            if state.queue.is_empty() {
                state.running = false;
                drop(state);
                backlog.written.notify_all();
                return;
            }
            std::mem::swap(&mut state.queue, &mut batch);
        }
        let count = batch.len() as u64;
        for entry in batch.drain(..) {
            log.append_counting_errors(&entry);
        }
        backlog.state.lock().written_total += count;
        backlog.written.notify_all();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.backlog.state.lock().stopping = true;
        self.backlog.work.notify_one();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("event log: writer thread panicked");
                let mut state = self.backlog.state.lock();
                state.running = false;
                state.written_total = state.queued_total;
                drop(state);
                self.backlog.written.notify_all();
            }
        }
    }
}
