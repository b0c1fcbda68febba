//! Appending, idempotence, version vectors, catch-up batches, reopening and node metadata.

use std::collections::BTreeMap;

use latticed_crdt::{NodeId, OpId, TenantId};
use latticed_eventlog::{Entry, EventLog, LogError};

use crate::support::{append_all, fresh, tenant, uid, Origin};

#[test]
fn appending_the_same_op_twice_keeps_one_record() {
    let (_dir, log) = fresh();
    let op = Origin::new(1).arrive(10, uid(1, 1), "alice");
    assert!(log.append(&op).unwrap());
    assert!(!log.append(&op).unwrap());
    assert!(!log.append_entry(&Entry::Op(op.clone())).unwrap());
    assert_eq!(
        log.get(&tenant(), op.id).unwrap(),
        Some(Entry::Op(op.clone()))
    );
    assert_eq!(
        log.ops_after(&tenant(), &BTreeMap::new(), 100)
            .unwrap()
            .len(),
        1
    );
    let m = log.metrics();
    assert_eq!((m.appends, m.duplicates), (1, 2));
    assert_eq!(
        log.ops_in_time_range(&tenant(), 0, u64::MAX, &Default::default(), 100)
            .unwrap(),
        vec![op]
    );
}

#[test]
fn seq_zero_is_refused() {
    let (_dir, log) = fresh();
    let mut op = Origin::new(1).arrive(10, uid(1, 1), "alice");
    op.id.seq = 0;
    assert!(matches!(log.append(&op), Err(LogError::InvalidOp { .. })));
}

#[test]
fn version_vector_counts_only_contiguous_seqs() {
    let (_dir, log) = fresh();
    let mut a = Origin::new(1);
    let mut b = Origin::new(2);
    let a_ops: Vec<_> = (1..=5).map(|i| a.join(i, uid(1, 1), "#c")).collect();
    let b_ops: Vec<_> = (1..=3).map(|i| b.join(i, uid(2, 1), "#c")).collect();
    append_all(
        &log,
        &[a_ops[0].clone(), a_ops[1].clone(), a_ops[3].clone()],
    );
    append_all(&log, &b_ops[1..]);
    assert_eq!(
        log.version_vector(&tenant()),
        BTreeMap::from([(NodeId(1), 2)])
    );
    append_all(&log, &[a_ops[2].clone(), b_ops[0].clone()]);
    assert_eq!(
        log.version_vector(&tenant()),
        BTreeMap::from([(NodeId(1), 4), (NodeId(2), 3)])
    );
    assert!(log.version_vector(&TenantId("other".into())).is_empty());
}

#[test]
fn ops_after_sends_exactly_what_a_peer_misses_in_batches() {
    let (_dir, log) = fresh();
    let mut a = Origin::new(1);
    let mut b = Origin::new(2);
    let a_ops: Vec<_> = (1..=6).map(|i| a.join(i, uid(1, 1), "#c")).collect();
    let b_ops: Vec<_> = (1..=4).map(|i| b.join(i, uid(2, 1), "#c")).collect();
    append_all(&log, &a_ops);
    append_all(&log, &b_ops);

    let peer = BTreeMap::from([(NodeId(1), 4), (NodeId(2), 1)]);
    let missing = log.ops_after(&tenant(), &peer, 100).unwrap();
    let ids: Vec<(u32, u64)> = missing
        .iter()
        .map(|e| (e.id().origin.0, e.id().seq))
        .collect();
    assert_eq!(
        ids,
        vec![(2, 2), (2, 3), (2, 4), (1, 5), (1, 6)],
        "in stamp order (each origin's stamps rise with its seqs)"
    );

    // Paging: raise the vector to the last seq sent per origin until nothing is left.
    let mut cursor = BTreeMap::new();
    let mut received = Vec::new();
    loop {
        let batch = log.ops_after(&tenant(), &cursor, 3).unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 3);
        assert!(
            batch.windows(2).all(|w| w[0].stamp() < w[1].stamp()),
            "a batch is in stamp order"
        );
        for entry in &batch {
            cursor.insert(entry.id().origin, entry.id().seq);
        }
        received.extend(batch);
    }
    assert_eq!(received.len(), 10);

    // A peer that applies everything received ends with the same vector.
    let (_dir2, replica) = fresh();
    for entry in received {
        assert!(replica.append_entry(&entry).unwrap());
    }
    assert_eq!(
        replica.version_vector(&tenant()),
        log.version_vector(&tenant())
    );
}

#[test]
fn tenants_are_isolated() {
    let (_dir, log) = fresh();
    let mut a = Origin::for_tenant(TenantId("a".into()), 1);
    let mut ab = Origin::for_tenant(TenantId("ab".into()), 1);
    append_all(&log, &[a.say(5, uid(1, 1), "#c", 1, "in a")]);
    append_all(
        &log,
        &[
            ab.say(5, uid(1, 1), "#c", 2, "in ab"),
            ab.say(6, uid(1, 1), "#c", 3, "in ab"),
        ],
    );
    assert_eq!(
        log.tenants(),
        vec![TenantId("a".into()), TenantId("ab".into())]
    );
    assert_eq!(log.version_vector(&TenantId("a".into()))[&NodeId(1)], 1);
    assert_eq!(
        log.ops_after(&TenantId("a".into()), &BTreeMap::new(), 10)
            .unwrap()
            .len(),
        1
    );
    assert!(log
        .get(
            &TenantId("a".into()),
            OpId {
                origin: NodeId(1),
                seq: 2
            }
        )
        .unwrap()
        .is_none());
}

#[test]
fn flushed_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut a = Origin::new(1);
    let mut b = Origin::new(2);
    let ops: Vec<_> = (1..=20).map(|i| a.join(i, uid(1, 1), "#c")).collect();
    let b1 = b.join(1, uid(2, 1), "#c");
    let b2 = b.join(2, uid(2, 1), "#c");
    {
        let log = EventLog::open(&path).unwrap();
        append_all(&log, &ops[..10]);
        log.flush().unwrap();
        // Appended after the last explicit flush, with a gap for origin 2.
        append_all(&log, &ops[10..]);
        append_all(&log, std::slice::from_ref(&b2));
        log.set_casemapping(&tenant(), latticed_proto::CaseMapping::Ascii)
            .unwrap();
        let m = log.metrics();
        assert_eq!(m.flushes, 1);
        assert!(m.last_flush_latency.is_some());
    }
    let log = EventLog::open(&path).unwrap();
    assert_eq!(
        log.version_vector(&tenant()),
        BTreeMap::from([(NodeId(1), 20)])
    );
    assert_eq!(
        log.casemapping(&tenant()),
        latticed_proto::CaseMapping::Ascii
    );
    assert!(log.append(&b1).unwrap());
    assert_eq!(
        log.version_vector(&tenant()),
        BTreeMap::from([(NodeId(1), 20), (NodeId(2), 2)])
    );
    assert!(!log.append(&ops[5]).unwrap());
    assert!(log.size_on_disk().unwrap() > 0);
}

#[test]
fn clock_ceiling_and_epoch_persist_and_never_go_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    {
        let log = EventLog::open(&path).unwrap();
        assert_eq!(log.clock_ceiling(NodeId(1)).unwrap(), 0);
        log.persist_clock_ceiling(NodeId(1), 2048).unwrap();
        log.persist_clock_ceiling(NodeId(1), 1024).unwrap();
        assert_eq!(log.begin_epoch(NodeId(1)).unwrap(), 1);
    }
    let log = EventLog::open(&path).unwrap();
    assert_eq!(log.clock_ceiling(NodeId(1)).unwrap(), 2048);
    assert_eq!(log.clock_ceiling(NodeId(2)).unwrap(), 0);
    assert_eq!(log.epoch(NodeId(1)).unwrap(), 1);
    assert_eq!(log.begin_epoch(NodeId(1)).unwrap(), 2);
}

#[test]
fn flusher_flushes_periodically_and_on_shutdown() {
    let (_dir, log) = fresh();
    let flusher = log
        .spawn_flusher(std::time::Duration::from_millis(5))
        .unwrap();
    append_all(&log, &[Origin::new(1).join(1, uid(1, 1), "#c")]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while log.metrics().flushes == 0 {
        assert!(std::time::Instant::now() < deadline, "no periodic flush");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let before = log.metrics().flushes;
    flusher.shutdown().unwrap();
    assert!(log.metrics().flushes > before, "no final flush");
}

#[test]
fn flusher_ends_when_the_log_is_gone() {
    let (_dir, log) = fresh();
    let flusher = log
        .spawn_flusher(std::time::Duration::from_millis(1))
        .unwrap();
    drop(log);
    // Joins the thread: would hang if the flusher kept the log alive or looped forever.
    flusher.shutdown().unwrap();
}
