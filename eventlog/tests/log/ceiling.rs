//! Waiting for the disk. Clock ceilings persisted by the keeper's thread: asking never waits, a
//! commit waits only for a ceiling that covers its stamp, and what was asked for survives a
//! restart. Every wait of a commit, for a ceiling or for a full writer backlog, is counted.

use std::ops::Bound;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use latticed_crdt::NodeId;
use latticed_eventlog::{
    Entry, EventLog, Scan, SledStorage, Space, Storage, StorageError, MAX_BACKLOG,
};
use parking_lot::{Condvar, Mutex};

use crate::support::{fresh, uid, Origin};

/// Long enough for anything that does not wait for the disk to finish on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn asked_ceilings_are_durable_and_never_go_back() {
    let (dir, log) = fresh();
    let keeper = log.spawn_ceiling_keeper(NodeId(1)).expect("keeper");
    keeper.request(70_000);
    keeper.request(5_000);
    keeper.await_covering(70_000);
    assert_eq!(log.clock_ceiling(NodeId(1)).unwrap(), 70_000);
    drop(keeper);
    drop(log);
    let reopened = EventLog::open(dir.path().join("log")).expect("reopen");
    assert_eq!(reopened.clock_ceiling(NodeId(1)).unwrap(), 70_000);
}

#[test]
fn awaiting_a_counter_nobody_asked_for_persists_a_ceiling_covering_it() {
    let (_dir, log) = fresh();
    let keeper = log.spawn_ceiling_keeper(NodeId(2)).expect("keeper");
    keeper.await_covering(1_234);
    assert!(log.clock_ceiling(NodeId(2)).unwrap() >= 1_234);
}

#[test]
fn dropping_the_keeper_persists_what_was_asked() {
    let (dir, log) = fresh();
    let keeper = log.spawn_ceiling_keeper(NodeId(1)).expect("keeper");
    keeper.request(9_000);
    drop(keeper);
    drop(log);
    let reopened = EventLog::open(dir.path().join("log")).expect("reopen");
    assert_eq!(reopened.clock_ceiling(NodeId(1)).unwrap(), 9_000);
}

#[test]
fn a_stored_ceiling_covers_counters_below_it_without_touching_the_disk() {
    let (_dir, gate, log) = gated_log();
    gate.open();
    log.persist_clock_ceiling(NodeId(1), 500).unwrap();
    gate.close();
    let keeper = log.spawn_ceiling_keeper(NodeId(1)).expect("keeper");
    let (done, finished) = mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            keeper.await_covering(500);
            done.send(()).unwrap();
        });
        let waited = finished.recv_timeout(PATIENCE);
        gate.open();
        assert!(waited.is_ok(), "a stored ceiling made the commit wait");
    });
    assert_eq!(log.metrics().ceiling_waits.count, 0);
}

#[test]
fn asking_returns_while_the_disk_is_stuck_and_a_commit_above_waits_for_it() {
    let (_dir, gate, log) = gated_log();
    let keeper = log.spawn_ceiling_keeper(NodeId(1)).expect("keeper");
    gate.close();
    let (asked, asking_done) = mpsc::channel();
    let (covered, covering_done) = mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            keeper.request(65_536);
            asked.send(()).unwrap();
        });
        let asking = asking_done.recv_timeout(PATIENCE);
        scope.spawn(|| {
            keeper.await_covering(1);
            covered.send(()).unwrap();
        });
        // The flush cannot finish while the gate is shut, so the commit is still waiting.
        let early = covering_done.recv_timeout(Duration::from_millis(200));
        gate.open();
        assert!(asking.is_ok(), "asking for a ceiling waited for the disk");
        assert!(
            early.is_err(),
            "a stamp was let through before its ceiling was durable"
        );
        assert!(
            covering_done.recv_timeout(PATIENCE).is_ok(),
            "the commit went on waiting after the flush"
        );
    });
    assert_eq!(log.clock_ceiling(NodeId(1)).unwrap(), 65_536);
    let waits = log.metrics().ceiling_waits;
    assert_eq!(waits.count, 1, "the one commit that waited is counted");
    assert!(waits.total >= Duration::from_millis(200), "{waits:?}");
}

#[test]
fn appends_that_wait_for_a_stuck_writer_are_counted() {
    let (_dir, gate, log) = gated_log();
    let writer = log.spawn_writer().expect("writer thread");
    gate.close();
    let mut origin = Origin::new(1);
    // The writer's first batch holds at most MAX_BACKLOG; the queue behind it fills again.
    let entries: Vec<Entry> = (1..=2 * MAX_BACKLOG as u64 + 2)
        .map(|i| Entry::Op(origin.say(i, uid(1, 1), "#chan", i.into(), "x")))
        .collect();
    let (done, finished) = mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for entry in entries {
                log.append_behind(entry);
            }
            done.send(()).unwrap();
        });
        // The writer holds its first batch at the gate; the backlog fills and the last append
        // waits.
        let early = finished.recv_timeout(Duration::from_millis(300));
        // The backlog (the batch held at the gate and the queue behind it) reads at least full
        // while the disk is stuck, with no flush to sample it.
        let deadline = Instant::now() + PATIENCE;
        while log.writer_backlog() < MAX_BACKLOG && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let stuck_backlog = log.writer_backlog();
        gate.open();
        assert!(
            early.is_err(),
            "the backlog limit did not hold the appender"
        );
        assert!(
            stuck_backlog >= MAX_BACKLOG,
            "the backlog while the disk is stuck: {stuck_backlog}"
        );
        assert!(
            finished.recv_timeout(PATIENCE).is_ok(),
            "the appender stayed stuck"
        );
    });
    drop(writer);
    assert_eq!(log.writer_backlog(), 0, "everything queued was written");
    let waits = log.metrics().backlog_waits;
    assert!(waits.count >= 1, "{waits:?}");
    assert!(waits.total >= Duration::from_millis(300), "{waits:?}");
}

#[test]
fn a_batch_the_writer_holds_at_a_stuck_disk_counts_in_the_backlog() {
    let (_dir, gate, log) = gated_log();
    let writer = log.spawn_writer().expect("writer thread");
    gate.close();
    let mut origin = Origin::new(1);
    log.append_behind(Entry::Op(origin.say(1, uid(1, 1), "#chan", 1, "x")));
    // Long past the writer's linger: it has taken the entry and waits at the gate with it.
    std::thread::sleep(Duration::from_millis(300));
    let held = log.writer_backlog();
    gate.open();
    assert_eq!(held, 1, "the entry being written is not written yet");
    drop(writer);
    assert_eq!(log.writer_backlog(), 0);
}

/// A log on sled behind a [`Gate`], open to begin with.
fn gated_log() -> (tempfile::TempDir, Arc<Gate>, EventLog) {
    let gate = Arc::new(Gate::default());
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStorage::open(&dir.path().join("log"), 1 << 20).expect("sled");
    let log = EventLog::from_storage(Box::new(Gated {
        inner: sled,
        gate: gate.clone(),
    }))
    .expect("log");
    (dir, gate, log)
}

/// Shuts the disk: writes and flushes wait while it is closed.
#[derive(Default)]
struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn close(&self) {
        *self.closed.lock() = true;
    }

    fn open(&self) {
        *self.closed.lock() = false;
        self.opened.notify_all();
    }

    fn pass(&self) {
        let mut closed = self.closed.lock();
        while *closed {
            self.opened.wait(&mut closed);
        }
    }
}

/// Sled behind a [`Gate`]: every write and flush first waits for the gate to be open, like a
/// disk stuck behind other traffic.
struct Gated {
    inner: SledStorage,
    gate: Arc<Gate>,
}

impl Storage for Gated {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(space, key)
    }

    fn contains(&self, space: Space, key: &[u8]) -> Result<bool, StorageError> {
        self.inner.contains(space, key)
    }

    fn insert(&self, space: Space, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        self.gate.pass();
        self.inner.insert(space, key, value)
    }

    fn insert_if_absent(
        &self,
        space: Space,
        key: &[u8],
        value: &[u8],
    ) -> Result<bool, StorageError> {
        self.gate.pass();
        self.inner.insert_if_absent(space, key, value)
    }

    fn remove(&self, space: Space, key: &[u8]) -> Result<(), StorageError> {
        self.gate.pass();
        self.inner.remove(space, key)
    }

    fn scan(
        &self,
        space: Space,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Scan<'_> {
        self.inner.scan(space, start, end, reverse)
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.gate.pass();
        self.inner.flush()
    }

    fn size_on_disk(&self) -> Result<u64, StorageError> {
        self.inner.size_on_disk()
    }
}
