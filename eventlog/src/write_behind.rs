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

/// How long the writer thread, woken by a first entry, waits for more before writing: entries
/// taken together are written as runs (run.rs), far cheaper than one by one. Waiting costs no
/// durability: nothing is durable before the next [`EventLog::flush`], and a flush, like any
/// read, settles first, which ends the wait at once. It is set just under the default flush
/// interval so a node at a modest message rate writes one batch per flush instead of one per
/// few messages: a tenth of the writer wake-ups and fewer history keys (`latticed-loadgen
/// channels`, 1000 clients at 1 msg/s: 5 ms → 40 ms took the node from 41.4 / 39.9 % to
/// 39.2 / 37.2 % of a core, p99 unchanged at about 1 ms).
const LINGER: std::time::Duration = std::time::Duration::from_millis(40);

/// Entries that end the writer's wait at once: a full run's worth.
const LINGER_UNTIL: usize = crate::run::MAX_RUN_LEN;

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
    /// Reads waiting for the writer ([`EventLog::settle`]), which it must not keep waiting.
    readers: usize,
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
        if state.queue.len() >= MAX_BACKLOG && state.running {
            let started = std::time::Instant::now();
            while state.queue.len() >= MAX_BACKLOG && state.running {
                backlog.written.wait(&mut state);
            }
            self.count_backlog_wait(started.elapsed());
        }
        if !state.running {
            drop(state);
            self.append_counting_errors(&entry);
            return;
        }
        state.queue.push(entry);
        state.queued_total += 1;
        // The writer waits for a first entry, then lingers until a run's worth is queued.
        let wake = state.queue.len() == 1 || state.queue.len() >= LINGER_UNTIL;
        drop(state);
        if wake {
            backlog.work.notify_one();
        }
    }

    /// Entries handed to the writer thread and not written yet, the batch it is writing
    /// included: a backlog that stays high means the storage engine is what limits how fast
    /// this node commits.
    pub fn writer_backlog(&self) -> usize {
        let state = self.inner.backlog.state.lock();
        usize::try_from(state.queued_total.saturating_sub(state.written_total))
            .unwrap_or(usize::MAX)
    }

    /// Waits until every entry handed to [`EventLog::append_behind`] before this call has been
    /// written. Every read of the log calls it first, so reads always see earlier appends.
    pub(crate) fn settle(&self) {
        let backlog = &self.inner.backlog;
        let mut state = backlog.state.lock();
        let target = state.queued_total;
        if state.written_total >= target || !state.running {
            return;
        }
        state.readers += 1;
        backlog.work.notify_one();
        while state.written_total < target && state.running {
            backlog.written.wait(&mut state);
        }
        state.readers -= 1;
    }

    /// Appends a batch taken by the writer thread like [`EventLog::append_batch`], counting and
    /// logging failures, since the callers have moved on.
    fn append_batch_counting_errors(&self, batch: impl Iterator<Item = Entry>) {
        self.append_grouped(batch, |error, entries| {
            for _ in 0..entries {
                self.count_append_error();
            }
            tracing::error!(%error, entries, "event log: append failed");
        });
    }

    fn append_counting_errors(&self, entry: &Entry) {
        if let Err(error) = self.append_entry(entry) {
            self.count_append_error();
            tracing::error!(%error, id = ?entry.id(), "event log: append failed");
        }
    }
}

/// The writer thread: wait for entries, linger a moment for more, take everything queued, write
/// it, report progress; until told to stop with nothing left.
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
            let deadline = std::time::Instant::now() + LINGER;
            while state.queue.len() < LINGER_UNTIL && state.readers == 0 && !state.stopping {
                if backlog.work.wait_until(&mut state, deadline).timed_out() {
                    break;
                }
            }
            std::mem::swap(&mut state.queue, &mut batch);
        }
        let count = batch.len() as u64;
        log.append_batch_counting_errors(batch.drain(..));
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
