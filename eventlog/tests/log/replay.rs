//! Replay at an instant, determinism, diffs and snapshots.

use latticed_crdt::{Op, TenantSnapshot};
use std::ops::Bound;

use latticed_eventlog::{EventLog, SledStorage, Snapshot, Space, Storage, SNAPSHOTS_KEPT};

use crate::support::{append_all, fresh, tenant, uid, Origin};

/// A small network history: two users from two nodes, a channel with a topic change, a part
/// and a nick collision, at wall times 10..=90.
fn history() -> Vec<Op> {
    let mut a = Origin::new(1);
    let mut b = Origin::new(2);
    let (alice, bob) = (uid(1, 1), uid(2, 1));
    let alice_arrives = a.arrive(10, alice, "alice");
    let bob_arrives = b.arrive(11, bob, "Alice");
    let alice_joins = a.join(20, alice, "#Rust");
    let bob_joins = b.join(21, bob, "#rust");
    let first_topic = a.topic(30, alice, "#rust", "first");
    let message = b.say(40, bob, "#rust", 1, "hi");
    let second_topic = b.topic(50, bob, "#rust", "second");
    let bob_parts = b.part(60, bob, "#rust", vec![bob_joins.id]);
    let carol = a.arrive(90, uid(1, 2), "carol");
    vec![
        alice_arrives,
        bob_arrives,
        alice_joins,
        bob_joins,
        first_topic,
        message,
        second_topic,
        bob_parts,
        carol,
    ]
}

#[test]
fn replay_at_an_instant_applies_only_ops_up_to_it() {
    let (_dir, log) = fresh();
    append_all(&log, &history());
    let t = tenant();
    let at = |ms| log.replay(&t, ms).unwrap();
    assert_eq!(at(5).user_count(), 0);
    assert_eq!(at(10).user_count(), 1);
    assert_eq!(at(11).user_count(), 2);
    let mid = at(55);
    let channel = mid.channel("#RUST").unwrap();
    assert_eq!(channel.member_count(), 2);
    assert_eq!(channel.topic().unwrap().text, "second");
    assert_eq!(at(60).channel("#rust").unwrap().member_count(), 1);
    assert_eq!(at(u64::MAX).user_count(), 3);
}

#[test]
fn replay_json_is_byte_identical_across_runs_and_arrival_orders() {
    let ops = history();
    let t = tenant();
    let (_d1, in_order) = fresh();
    append_all(&in_order, &ops);
    let (_d2, reversed) = fresh();
    let mut rev = ops.clone();
    rev.reverse();
    append_all(&reversed, &rev);
    let (_d3, shuffled) = fresh();
    for i in [4, 0, 8, 2, 6, 1, 7, 3, 5, 2, 4] {
        shuffled.append(&ops[i]).unwrap();
    }
    for at in [0, 15, 35, 55, 65, u64::MAX] {
        let first = in_order.replay_json(&t, at).unwrap();
        assert_eq!(first, in_order.replay_json(&t, at).unwrap());
        assert_eq!(first, reversed.replay_json(&t, at).unwrap(), "at {at}");
        assert_eq!(first, shuffled.replay_json(&t, at).unwrap(), "at {at}");
        assert!(first.ends_with("}\n"));
    }
    let full = in_order.replay_json(&t, u64::MAX).unwrap();
    let parsed: TenantSnapshot = serde_json::from_str(&full).unwrap();
    assert_eq!(parsed, in_order.replay(&t, u64::MAX).unwrap().snapshot());
}

#[test]
fn diff_reports_added_removed_and_changed_fields() {
    let (_dir, log) = fresh();
    append_all(&log, &history());
    let t = tenant();
    let diff = log.diff(&t, 45, u64::MAX).unwrap();
    assert!(diff.users.removed.is_empty());
    assert_eq!(diff.users.added.len(), 1);
    assert_eq!(diff.users.added[0]["nick"], "carol");
    assert!(diff.channels.added.is_empty() && diff.channels.removed.is_empty());
    assert_eq!(diff.channels.changed.len(), 1);
    let rust = &diff.channels.changed[0];
    assert_eq!(rust.id, "#rust");
    let fields: Vec<&str> = rust.fields.keys().map(String::as_str).collect();
    assert_eq!(fields, ["members", "topic"]);
    assert_eq!(rust.fields["topic"].before["text"], "first");
    assert_eq!(rust.fields["topic"].after["text"], "second");

    let json = log.diff_json(&t, 45, u64::MAX).unwrap();
    assert_eq!(json, log.diff_json(&t, 45, u64::MAX).unwrap());
    assert!(json.ends_with("}\n"));
    assert!(log.diff(&t, 70, 80).unwrap().is_empty());

    let gone = log.diff(&t, u64::MAX, 45).unwrap();
    assert_eq!(gone.users.removed.len(), 1);
    assert_eq!(gone.users.removed[0]["nick"], "carol");
}

#[test]
fn snapshots_round_trip_keep_the_newest_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let t = tenant();
    let ops = history();
    {
        let log = EventLog::open(&path).unwrap();
        assert!(log.latest_snapshot::<TenantSnapshot>(&t).unwrap().is_none());
        assert!(log.snapshot_age(&t).unwrap().is_none());
        append_all(&log, &ops[..4]);
        for i in 0..SNAPSHOTS_KEPT + 2 {
            let state = log.replay(&t, u64::MAX).unwrap().snapshot();
            log.write_snapshot(&t, &state, &log.version_vector(&t))
                .unwrap();
            if i + 1 < SNAPSHOTS_KEPT + 2 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        append_all(&log, &ops[4..]);
    }
    let log = EventLog::open(&path).unwrap();
    let snap: Snapshot<TenantSnapshot> = log.latest_snapshot(&t).unwrap().unwrap();
    assert_eq!(snap.state.users.len(), 2);
    assert_eq!(
        snap.vv,
        [(latticed_crdt::NodeId(1), 2), (latticed_crdt::NodeId(2), 2)].into()
    );
    let missing = log.ops_after(&t, &snap.vv, 100).unwrap();
    assert_eq!(missing.len(), ops.len() - 4);
    assert!(log.snapshot_age(&t).unwrap().is_some());
    drop(log);

    let store = SledStorage::open(&path, 1 << 20).unwrap();
    let stored = store
        .scan(Space::Snapshots, Bound::Unbounded, Bound::Unbounded, false)
        .count();
    assert_eq!(stored, SNAPSHOTS_KEPT);
}
