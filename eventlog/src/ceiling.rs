//! Clock ceilings made durable on a thread of their own, ahead of need.
//!
//! A node uses a Lamport stamp only below a durable ceiling, so that after a crash its clock
//! restarts above everything it issued. Persisting a ceiling costs an fsync. Done on the commit
//! path (under the tenant's lock), every new block of stamps made one commit, and every client of
//! the tenant behind it, wait for the disk: with other traffic on the disk, 11–44 ms about once a
//! second at 1,000 ops/s, and a p99 delivery latency of 14–76 ms instead of about 1.3 ms. The
//! clock asks for its next ceiling half a block early (`LamportClock::take_ceiling_to_persist`);
//! the [`CeilingKeeper`] persists it here, and a commit waits ([`CeilingKeeper::await_covering`])
//! only if its stamp is above every durable ceiling, which takes a disk half a block of ops
//! behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use latticed_crdt::NodeId;
use parking_lot::{Condvar, Mutex};

use crate::error::LogError;
use crate::log::EventLog;

/// A commit that waited this long for its ceiling is logged: the disk fell half a block of ops
/// behind. Shorter waits happen at start-up, when the first block is still on its way.
const SLOW_WAIT: Duration = Duration::from_millis(100);

/// Persists one node's clock ceilings in the background ([`EventLog::spawn_ceiling_keeper`]).
/// Dropping it persists what was asked for, then stops the thread.
pub struct CeilingKeeper {
    log: EventLog,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a ceiling is asked for or the keeper must stop.
    asked: Condvar,
    /// Signalled when a ceiling was persisted (or persisting it failed).
    settled: Condvar,
    /// `State::settled`, readable without the lock: the fast path of every commit.
    settled_fast: AtomicU64,
}

struct State {
    /// The highest ceiling asked for.
    asked: u64,
    /// The highest ceiling persisted, or whose persisting failed (logged): a commit waits for
    /// the disk, not forever for a disk that fails, as it did when it persisted in place.
    settled: u64,
    stopping: bool,
}

impl EventLog {
    /// Starts persisting `node`'s clock ceilings on a thread of its own. Ceilings already
    /// stored count as durable.
    pub fn spawn_ceiling_keeper(&self, node: NodeId) -> Result<CeilingKeeper, LogError> {
        let stored = self.clock_ceiling(node)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                asked: stored,
                settled: stored,
                stopping: false,
            }),
            asked: Condvar::new(),
            settled: Condvar::new(),
            settled_fast: AtomicU64::new(stored),
        });
        let log = self.clone();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("clock-ceiling".into())
            .spawn(move || persist_until_stopped(&log, node, &thread_shared))
            .map_err(|source| LogError::Thread {
                what: "the clock ceiling thread",
                source,
            })?;
        Ok(CeilingKeeper {
            log: self.clone(),
            shared,
            thread: Some(thread),
        })
    }
}

impl CeilingKeeper {
    /// Asks for `ceiling` to be persisted; returns at once. A lower ceiling than one asked for
    /// before changes nothing.
    pub fn request(&self, ceiling: u64) {
        let mut state = self.shared.state.lock();
        if ceiling > state.asked {
            state.asked = ceiling;
            drop(state);
            self.shared.asked.notify_one();
        }
    }

    /// Returns once a ceiling at or above `counter` is durable (or failed to persist, which is
    /// logged). At once when one is: the usual case, since ceilings are asked for ahead. A
    /// wait is counted in [`crate::LogMetrics::ceiling_waits`].
    pub fn await_covering(&self, counter: u64) {
        if self.shared.settled_fast.load(Ordering::Acquire) >= counter {
            return;
        }
        let started = Instant::now();
        let mut state = self.shared.state.lock();
        if state.asked < counter {
            state.asked = counter;
            self.shared.asked.notify_one();
        }
        while state.settled < counter {
            self.shared.settled.wait(&mut state);
        }
        drop(state);
        let waited = started.elapsed();
        self.log.count_ceiling_wait(waited);
        if waited >= SLOW_WAIT {
            tracing::warn!(
                counter,
                waited_ms = waited.as_millis() as u64,
                "a commit waited for the clock ceiling to reach the disk: the disk is slow"
            );
        }
    }
}

impl Drop for CeilingKeeper {
    fn drop(&mut self) {
        self.shared.state.lock().stopping = true;
        self.shared.asked.notify_one();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("event log: clock ceiling thread panicked");
            }
        }
    }
}

/// The keeper's thread: persist the highest ceiling asked for, tell the waiters, repeat; once
/// told to stop, persist what is still asked for and end.
fn persist_until_stopped(log: &EventLog, node: NodeId, shared: &Shared) {
    loop {
        let target = {
            let mut state = shared.state.lock();
            while state.asked <= state.settled && !state.stopping {
                shared.asked.wait(&mut state);
            }
            if state.asked <= state.settled {
                return;
            }
            state.asked
        };
        if let Err(error) = log.persist_clock_ceiling(node, target) {
            tracing::error!(%error, ceiling = target, "persisting the clock ceiling failed");
        }
        let mut state = shared.state.lock();
        state.settled = state.settled.max(target);
        shared.settled_fast.store(state.settled, Ordering::Release);
        drop(state);
        shared.settled.notify_all();
    }
}
