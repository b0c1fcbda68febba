//! Connection deadlines (registration timeout, ping interval, ping timeout) kept by one sweeper
//! task per tenant instead of a timer in every connection's task.
//!
//! A timer is 112 bytes inside the task of each connection, and tokio allocates tasks in steps of
//! 128 bytes: without it, an idle connection's task takes one step less. These deadlines are
//! seconds long and need no precision finer than [`SWEEP_EVERY`], so each connection only stores
//! its next deadline in its send queue ([`Outbound::set_wake_at`]), and the sweeper wakes the
//! connections whose deadline passed; they then check their deadlines against the clock
//! themselves, as they did when their own timer fired. Fakelag, which needs precise times, keeps
//! a timer of its own, made only while lines are held back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use slab::Slab;
use tokio::time::{Instant, MissedTickBehavior};

use crate::outbound::Outbound;

/// How often the sweeper looks at the deadlines: a deadline is noticed at most this late.
pub const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// The deadlines of a tenant's connections, and the sweeper that wakes them.
pub struct Deadlines {
    /// Deadlines are stored as milliseconds since this instant.
    epoch: Instant,
    /// The send queue of every connection being watched, which holds its deadline and the
    /// waker of its task.
    watched: Mutex<Slab<Outbound>>,
    /// Set once the sweeper task was started (by the first connection watched).
    sweeping: AtomicBool,
}

impl Deadlines {
    /// No connections watched; the sweeper starts with the first one.
    pub fn new() -> Arc<Deadlines> {
        Arc::new(Deadlines {
            epoch: Instant::now(),
            watched: Mutex::new(Slab::new()),
            sweeping: AtomicBool::new(false),
        })
    }

    /// Watch the deadline `out` will hold, until the returned slot is given to
    /// [`Deadlines::forget`]. Starts the sweeper on the current tokio runtime if it is not
    /// running yet; it stops once the tenant is gone.
    pub fn watch(self: &Arc<Self>, out: &Outbound) -> DeadlineSlot {
        if !self.sweeping.swap(true, Ordering::AcqRel) {
            tokio::spawn(sweep_until_gone(Arc::downgrade(self)));
        }
        let mut watched = self.watched.lock();
        let entry = watched.vacant_entry();
        let key = u32::try_from(entry.key()).expect("fewer than 2^32 connections");
        entry.insert(out.clone());
        DeadlineSlot { key }
    }

    /// Stop watching a connection.
    pub fn forget(&self, slot: DeadlineSlot) {
        self.watched.lock().remove(slot.key as usize);
    }

    /// Set the next deadline of the watched connection whose send queue is `out`: its task is
    /// woken at most [`SWEEP_EVERY`] after it.
    pub fn set(&self, out: &Outbound, at: Instant) {
        out.set_wake_at(self.millis(at));
    }

    /// Wake every watched connection whose deadline is at or before `now`.
    pub fn sweep(&self, now: Instant) {
        let now_ms = self.millis(now);
        for (_, out) in self.watched.lock().iter() {
            out.wake_if_due(now_ms);
        }
    }

    /// Milliseconds from the epoch to `at`, rounded up, so a deadline is never seen as passed
    /// before it has; at least 1 (0 means "woken" to a queue, see [`Outbound::set_wake_at`]).
    fn millis(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.epoch);
        let ms = since.as_millis() + u128::from(!since.subsec_nanos().is_multiple_of(1_000_000));
        u64::try_from(ms).unwrap_or(u64::MAX - 1).max(1)
    }
}

/// A watched connection, until given to [`Deadlines::forget`] (not `Clone`: forgotten once).
/// Four bytes in the connection's task, which reaches the deadlines through its tenant.
#[must_use = "a slot not given to `Deadlines::forget` stays watched"]
pub struct DeadlineSlot {
    key: u32,
}

async fn sweep_until_gone(deadlines: Weak<Deadlines>) {
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(deadlines) = deadlines.upgrade() else {
            return;
        };
        deadlines.sweep(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Poll, Wake, Waker};

    use super::*;

    /// Counts the wake-ups of a pretend connection task.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Wakes {
        fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A send queue whose idle writer was polled by a task counting its wake-ups.
    fn parked_queue() -> (Outbound, crate::outbound::WriterHandle, Arc<Wakes>) {
        let (out, mut writer) = Outbound::new(1 << 16);
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let mut sink = tokio::io::sink();
        let polled = writer.poll_write(&mut Context::from_waker(&waker), Pin::new(&mut sink));
        assert_eq!(polled, Poll::Pending, "an idle writer parks");
        (out, writer, wakes)
    }

    #[tokio::test]
    async fn a_sweep_wakes_each_connection_past_its_deadline_once() {
        let deadlines = Deadlines::new();
        let (due, _due_writer, due_wakes) = parked_queue();
        let (later, _later_writer, later_wakes) = parked_queue();
        let _due_slot = deadlines.watch(&due);
        let _later_slot = deadlines.watch(&later);
        let start = deadlines.epoch;
        deadlines.set(&due, start + Duration::from_secs(1));
        deadlines.set(&later, start + Duration::from_secs(10));

        deadlines.sweep(start + Duration::from_millis(999));
        assert_eq!(due_wakes.count(), 0, "not before its deadline");

        deadlines.sweep(start + Duration::from_secs(2));
        assert_eq!(due_wakes.count(), 1);
        assert!(due.woken());
        assert_eq!(later_wakes.count(), 0);
        assert!(!later.woken());

        deadlines.sweep(start + Duration::from_secs(3));
        assert_eq!(
            due_wakes.count(),
            1,
            "woken once until it sets a new deadline"
        );

        deadlines.set(&due, start + Duration::from_secs(20));
        assert!(!due.woken(), "a new deadline clears the wake");
    }

    #[tokio::test]
    async fn a_forgotten_slot_is_no_longer_watched() {
        let deadlines = Deadlines::new();
        let (out, _writer, _wakes) = parked_queue();
        let slot = deadlines.watch(&out);
        assert_eq!(deadlines.watched.lock().len(), 1);
        deadlines.forget(slot);
        assert_eq!(deadlines.watched.lock().len(), 0);
    }

    #[tokio::test]
    async fn the_sweeper_wakes_a_due_connection_by_itself_and_does_not_keep_the_tenant_alive() {
        let deadlines = Deadlines::new();
        let (out, _writer, wakes) = parked_queue();
        let slot = deadlines.watch(&out);
        deadlines.set(&out, Instant::now());
        let woken = tokio::time::timeout(SWEEP_EVERY * 10, async {
            while wakes.count() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        woken.await.expect("the sweeper wakes a due connection");
        deadlines.forget(slot);
        let sweeper_gone = Arc::downgrade(&deadlines);
        drop(deadlines);
        assert!(
            sweeper_gone.upgrade().is_none(),
            "the sweeper holds no strong reference"
        );
    }
}
