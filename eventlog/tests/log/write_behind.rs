//! Appends handed to the writer thread: every read sees them, nothing is lost at shutdown.

use latticed_crdt::NodeId;
use latticed_eventlog::{Entry, EventLog, HistoryTarget};

use crate::support::{fresh, tenant, texts, uid, Origin};

#[test]
fn reads_right_after_a_handover_see_the_entry() {
    let (_dir, log) = fresh();
    let _writer = log.spawn_writer().expect("writer thread");
    let mut origin = Origin::new(1);
    let channel = HistoryTarget::Channel("#chan".into());
    for i in 1..=200u64 {
        log.append_behind(Entry::Op(origin.say(
            i,
            uid(1, 1),
            "#chan",
            i.into(),
            &format!("m{i}"),
        )));
        let latest = log.history_latest(&tenant(), &channel, None, 1).unwrap();
        assert_eq!(texts(&latest), vec![format!("m{i}")]);
        assert_eq!(log.version_vector(&tenant()).get(&NodeId(1)), Some(&i));
    }
}

#[test]
fn dropping_the_writer_writes_everything_queued_and_later_appends_still_land() {
    let (dir, log) = fresh();
    let mut origin = Origin::new(1);
    let writer = log.spawn_writer().expect("writer thread");
    for i in 1..=5_000u64 {
        log.append_behind(Entry::Op(origin.say(i, uid(1, 1), "#chan", i.into(), "x")));
    }
    drop(writer);
    log.append_behind(Entry::Op(origin.say(
        5_001,
        uid(1, 1),
        "#chan",
        5_001,
        "after",
    )));
    assert_eq!(log.metrics().appends, 5_001);
    assert_eq!(log.metrics().append_errors, 0);
    drop(log);
    let reopened = EventLog::open(dir.path().join("log")).expect("reopen");
    assert_eq!(
        reopened.version_vector(&tenant()).get(&NodeId(1)),
        Some(&5_001)
    );
}

#[test]
fn many_threads_hand_over_at_once_and_the_log_holds_each_entry_once() {
    let (_dir, log) = fresh();
    let _writer = log.spawn_writer().expect("writer thread");
    std::thread::scope(|scope| {
        for node in 1..=4u32 {
            let log = log.clone();
            scope.spawn(move || {
                let mut origin = Origin::new(node);
                for i in 1..=1_000u64 {
                    let op = origin.say(
                        i,
                        uid(node, 1),
                        "#chan",
                        u128::from(node) << 32 | u128::from(i),
                        "x",
                    );
                    log.append_behind(Entry::Op(op.clone()));
                    log.append_behind(Entry::Op(op));
                }
            });
        }
    });
    let vv = log.version_vector(&tenant());
    for node in 1..=4u32 {
        assert_eq!(vv.get(&NodeId(node)), Some(&1_000), "origin {node}");
    }
    assert_eq!(log.metrics().appends, 4_000);
    assert_eq!(log.metrics().duplicates, 4_000);
}

#[test]
fn a_second_writer_is_refused() {
    let (_dir, log) = fresh();
    let _writer = log.spawn_writer().expect("writer thread");
    let error = log.spawn_writer().err().expect("second writer refused");
    assert_eq!(error.kind(), std::io::ErrorKind::AlreadyExists);
}
