//! Runs: a log written with `append_batch` (consecutive ops of one origin and kind under one
//! key) answers every read exactly like a log written op by op, before and after reopening and
//! pruning, while holding fewer `ops` keys.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use latticed_crdt::{MsgId, NodeId, OpBody, OpId};
use latticed_eventlog::{
    Anchor, Entry, EventFilter, EventLog, EventTarget, HistoryTarget, OpKind, SledStorage, Space,
    Storage, VersionVector, DEFAULT_CACHE_BYTES,
};

use crate::support::{tenant, uid, Origin};

/// Two origins interleaved: a burst of arrivals and joins, long bursts of channel and private
/// messages (longer than a run may be, with a jump in time and a clock step back), a topic in
/// the middle of a burst.
fn workload() -> Vec<Entry> {
    let mut one = Origin::new(1);
    let mut two = Origin::new(2);
    let (alice, bob) = (uid(1, 1), uid(2, 1));
    let mut ops = vec![
        one.arrive(1_000, alice, "alice"),
        one.join(1_001, alice, "#a"),
        two.arrive(1_002, bob, "bob"),
        two.join(1_003, bob, "#a"),
    ];
    // Registrations and joins as a netjoin or a busy minute brings them: runs of state ops.
    for n in 10..50 {
        ops.push(two.arrive(1_000 + n, uid(2, n), &format!("user{n}")));
    }
    for n in 10..50 {
        let channel = if n % 3 == 0 { "#b" } else { "#a" };
        ops.push(two.join(1_040 + n, uid(2, n), channel));
    }
    let mut wall = 2_000u64;
    for n in 0..300u64 {
        wall += match n {
            120 => 5_000,
            _ => 7,
        };
        let msgid = |w: u64| (u128::from(w) << 80) | u128::from(n);
        let op = match n % 5 {
            0 | 1 => one.say(wall, alice, "#a", msgid(wall), &format!("a{n}")),
            2 => one.say(wall, alice, "#b", msgid(wall), &format!("b{n}")),
            3 => one.tell(wall, alice, bob, msgid(wall), &format!("t{n}")),
            _ => two.say(wall, bob, "#a", msgid(wall), &format!("r{n}")),
        };
        ops.push(op);
        if n == 77 {
            ops.push(one.topic(wall, alice, "#a", "midway"));
        }
        if n == 200 {
            // A clock stepped back: the next message is earlier than the last.
            wall -= 40;
        }
    }
    ops.into_iter().map(Entry::Op).collect()
}

fn origins() -> [NodeId; 2] {
    [NodeId(1), NodeId(2)]
}

/// Every read the log offers, over the workload's ids, times and targets.
fn reads(log: &EventLog) -> Vec<String> {
    let t = tenant();
    let mut out = Vec::new();
    for origin in origins() {
        for seq in 0..=260 {
            out.push(format!("{:?}", log.get(&t, OpId { origin, seq }).unwrap()));
        }
    }
    out.push(format!("{:?}", log.version_vector(&t)));
    for origin in origins() {
        for after in [0, 5, 43, 44, 77, 200, u64::MAX] {
            for limit in [1, 30, 1_000] {
                let entries = log.origin_ops_after(&t, origin, after, limit).unwrap();
                out.push(format!("{origin:?} after {after} ({limit}): {entries:?}"));
            }
        }
    }
    for first in (0..=250).step_by(9) {
        for second in [0, 30, 61] {
            let vv: VersionVector = BTreeMap::from([(NodeId(1), first), (NodeId(2), second)]);
            for limit in [1, 5, 1_000] {
                out.push(format!("{:?}", log.ops_after(&t, &vv, limit).unwrap()));
            }
        }
    }
    let filters = [
        EventFilter::default(),
        EventFilter::default().kind(OpKind::Message),
        EventFilter::default().kind(OpKind::SetTopic),
        EventFilter::default().kind(OpKind::Join),
        EventFilter::default().target(EventTarget::Channel("#A".into())),
        EventFilter::default().target(EventTarget::User(uid(2, 1))),
    ];
    for (from, to) in [
        (0, u64::MAX),
        (1_025, 1_070),
        (2_300, 2_900),
        (2_420, 2_421),
        (3_000, 8_000),
        (7_800, 9_000),
    ] {
        for filter in &filters {
            for limit in [1, 7, 10_000] {
                let ops = log.ops_in_time_range(&t, from, to, filter, limit).unwrap();
                out.push(format!("{from}..{to} {filter:?} {limit}: {ops:?}"));
            }
        }
    }
    let targets = [
        HistoryTarget::Channel("#a".into()),
        HistoryTarget::Channel("#b".into()),
        HistoryTarget::Conversation(uid(1, 1), uid(2, 1)),
    ];
    // Anchors at message times and msgids (inside bursts, at their edges, across the jump in
    // time and the clock step back), and between them.
    let msgids: Vec<MsgId> = log
        .ops_in_time_range(
            &t,
            0,
            u64::MAX,
            &EventFilter::default().kind(OpKind::Message),
            usize::MAX,
        )
        .unwrap()
        .iter()
        .filter_map(|op| match &op.body {
            OpBody::Message { msgid, .. } => Some(*msgid),
            _ => None,
        })
        .collect();
    let mut anchors: Vec<Anchor> = [0, 2_007, 2_420, 2_500, 2_850, 7_850, 8_700, 9_999]
        .into_iter()
        .map(Anchor::Time)
        .collect();
    anchors.extend(msgids.iter().step_by(13).map(|m| Anchor::MsgId(*m)));
    for target in &targets {
        for limit in [1, 3, 1_000] {
            out.push(format!("{:?}", log.history_latest(&t, target, None, limit)));
            for (i, &anchor) in anchors.iter().enumerate() {
                out.push(format!(
                    "{:?}",
                    log.history_latest(&t, target, Some(anchor), limit)
                ));
                out.push(format!(
                    "{:?}",
                    log.history_before(&t, target, anchor, limit)
                ));
                out.push(format!(
                    "{:?}",
                    log.history_after(&t, target, anchor, limit)
                ));
                out.push(format!(
                    "{:?}",
                    log.history_around(&t, target, anchor, limit)
                ));
                let other = anchors[(i * 7 + 3) % anchors.len()];
                out.push(format!(
                    "{:?}",
                    log.history_between(&t, target, anchor, other, limit)
                ));
            }
        }
    }
    for (from, to) in [(0, u64::MAX), (u64::MAX, 0), (2_400, 2_430), (7_900, 2_000)] {
        out.push(format!(
            "{:?}",
            log.history_targets(&t, uid(2, 1), ["#a", "#b", "#c"], from, to, 10)
        ));
    }
    for msgid in msgids.iter().step_by(5) {
        out.push(format!("{:?}", log.message(&t, *msgid)));
    }
    for at in [1_030, 1_065, 1_500, 2_600, 9_000] {
        out.push(log.replay_json(&t, at).unwrap());
    }
    out
}

/// Keys in the `ops` and `history` keyspaces of the log in `dir`.
fn keys_held(dir: &Path) -> (usize, usize) {
    let store = SledStorage::open(dir, DEFAULT_CACHE_BYTES).unwrap();
    let count = |space| {
        store
            .scan(space, Bound::Unbounded, Bound::Unbounded, false)
            .count()
    };
    (count(Space::Ops), count(Space::History))
}

#[test]
fn a_log_written_in_runs_reads_like_one_written_op_by_op() {
    let dir = tempfile::tempdir().unwrap();
    let (single_dir, batch_dir) = (dir.path().join("single"), dir.path().join("batch"));
    let single = EventLog::open(&single_dir).unwrap();
    let batch = EventLog::open(&batch_dir).unwrap();
    let entries = workload();
    for entry in &entries {
        single.append_entry(entry).unwrap();
    }
    // In several batches, one of them cutting a burst, with a repeated entry.
    let (head, tail) = entries.split_at(100);
    batch.append_batch(head.to_vec()).unwrap();
    batch
        .append_batch(tail.iter().chain(&head[99..]).cloned())
        .unwrap();
    assert_eq!(batch.metrics().appends, entries.len() as u64);
    assert_eq!(batch.metrics().duplicates, 1);
    assert_eq!(reads(&batch), reads(&single));
    let seqs: Vec<(NodeId, u64)> = batch
        .origin_ops_after(&tenant(), NodeId(2), 10, 40)
        .unwrap()
        .iter()
        .map(|entry| (entry.id().origin, entry.id().seq))
        .collect();
    assert_eq!(
        seqs,
        (11..=50).map(|seq| (NodeId(2), seq)).collect::<Vec<_>>()
    );

    drop(batch);
    drop(single);
    let (single_keys, batch_keys) = (keys_held(&single_dir), keys_held(&batch_dir));
    assert_eq!(single_keys.0, entries.len());
    assert_eq!(single_keys.1, 300);
    assert!(
        batch_keys.0 * 5 < single_keys.0 && batch_keys.1 * 3 < single_keys.1,
        "ops and history keys: {batch_keys:?} in runs, {single_keys:?} one by one"
    );

    let single = EventLog::open(&single_dir).unwrap();
    let batch = EventLog::open(&batch_dir).unwrap();
    assert_eq!(reads(&batch), reads(&single), "after reopening");

    for cutoff in [2_421, 2_700, 7_900, 7_900, u64::MAX] {
        let pruned = batch.prune_history(&tenant(), cutoff).unwrap();
        assert_eq!(pruned, single.prune_history(&tenant(), cutoff).unwrap());
        assert_eq!(
            reads(&batch),
            reads(&single),
            "after pruning before {cutoff}"
        );
    }
    // Appending a run again after pruning changes nothing.
    batch.append_batch(entries.clone()).unwrap();
    assert_eq!(
        reads(&batch),
        reads(&single),
        "after appending everything again"
    );
}
