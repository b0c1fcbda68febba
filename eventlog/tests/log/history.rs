//! CHATHISTORY queries and retention.

use latticed_crdt::{MsgId, TenantId};
use latticed_eventlog::{Anchor, Entry, HistoryTarget, LogError, TargetActivity};
use latticed_proto::CaseMapping;

use crate::support::{append_all, fresh, tenant, texts, uid, Origin};

fn chan(name: &str) -> HistoryTarget {
    HistoryTarget::Channel(name.into())
}

/// A log with ten messages m1..m10 in #chan at times 10, 20, ... 100 (msgid = 1..10), sent
/// from two origins and appended out of order, plus noise in another channel and a query.
fn ten_messages() -> (tempfile::TempDir, latticed_eventlog::EventLog) {
    let (dir, log) = fresh();
    let mut a = Origin::new(1);
    let mut b = Origin::new(2);
    let mut ops = Vec::new();
    for i in 1..=10u64 {
        let origin = if i % 2 == 0 { &mut a } else { &mut b };
        ops.push(origin.say(i * 10, uid(1, 1), "#Chan", i.into(), &format!("m{i}")));
    }
    ops.push(a.say(55, uid(1, 1), "#other", 100, "noise"));
    ops.push(a.tell(56, uid(1, 1), uid(2, 1), 101, "query"));
    ops.reverse();
    append_all(&log, &ops);
    (dir, log)
}

fn m(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

#[test]
fn latest_returns_the_newest_in_ascending_order() {
    let (_dir, log) = ten_messages();
    let t = tenant();
    assert_eq!(
        texts(&log.history_latest(&t, &chan("#chan"), None, 3).unwrap()),
        m(8..=10)
    );
    assert_eq!(
        texts(&log.history_latest(&t, &chan("#CHAN"), None, 50).unwrap()),
        m(1..=10)
    );
    assert_eq!(
        texts(
            &log.history_latest(&t, &chan("#chan"), Some(Anchor::Time(70)), 50)
                .unwrap()
        ),
        m(8..=10)
    );
    assert_eq!(
        texts(
            &log.history_latest(&t, &chan("#chan"), Some(Anchor::MsgId(MsgId(2))), 3)
                .unwrap()
        ),
        m(8..=10)
    );
    assert!(log
        .history_latest(&t, &chan("#chan"), None, 0)
        .unwrap()
        .is_empty());
    assert!(log
        .history_latest(&t, &chan("#none"), None, 5)
        .unwrap()
        .is_empty());
    assert!(log
        .history_latest(&TenantId("other".into()), &chan("#chan"), None, 5)
        .unwrap()
        .is_empty());
}

#[test]
fn before_and_after_exclude_the_anchor() {
    let (_dir, log) = ten_messages();
    let t = tenant();
    let c = chan("#chan");
    assert_eq!(
        texts(&log.history_before(&t, &c, Anchor::Time(50), 2).unwrap()),
        m(3..=4)
    );
    assert_eq!(
        texts(
            &log.history_before(&t, &c, Anchor::MsgId(MsgId(5)), 10)
                .unwrap()
        ),
        m(1..=4)
    );
    assert_eq!(
        texts(&log.history_after(&t, &c, Anchor::Time(50), 2).unwrap()),
        m(6..=7)
    );
    assert_eq!(
        texts(
            &log.history_after(&t, &c, Anchor::MsgId(MsgId(5)), 10)
                .unwrap()
        ),
        m(6..=10)
    );
    assert_eq!(
        texts(&log.history_after(&t, &c, Anchor::Time(45), 1).unwrap()),
        m(5..=5)
    );
    assert!(log
        .history_after(&t, &c, Anchor::Time(100), 5)
        .unwrap()
        .is_empty());
    assert!(matches!(
        log.history_before(&t, &c, Anchor::MsgId(MsgId(999)), 5),
        Err(LogError::UnknownMsgId { .. })
    ));
}

#[test]
fn around_centres_on_the_anchor_and_fills_from_the_other_side() {
    let (_dir, log) = ten_messages();
    let t = tenant();
    let c = chan("#chan");
    assert_eq!(
        texts(
            &log.history_around(&t, &c, Anchor::MsgId(MsgId(5)), 4)
                .unwrap()
        ),
        m(3..=6)
    );
    assert_eq!(
        texts(&log.history_around(&t, &c, Anchor::Time(50), 3).unwrap()),
        m(4..=6)
    );
    assert_eq!(
        texts(
            &log.history_around(&t, &c, Anchor::MsgId(MsgId(1)), 4)
                .unwrap()
        ),
        m(1..=4)
    );
    assert_eq!(
        texts(
            &log.history_around(&t, &c, Anchor::MsgId(MsgId(10)), 4)
                .unwrap()
        ),
        m(7..=10)
    );
    assert_eq!(
        texts(&log.history_around(&t, &c, Anchor::Time(55), 20).unwrap()),
        m(1..=10)
    );
}

#[test]
fn between_counts_from_the_first_anchor() {
    let (_dir, log) = ten_messages();
    let t = tenant();
    let c = chan("#chan");
    let between = |from, to, limit| texts(&log.history_between(&t, &c, from, to, limit).unwrap());
    assert_eq!(between(Anchor::Time(20), Anchor::Time(80), 3), m(3..=5));
    assert_eq!(between(Anchor::Time(80), Anchor::Time(20), 3), m(5..=7));
    assert_eq!(
        between(Anchor::MsgId(MsgId(2)), Anchor::MsgId(MsgId(8)), 50),
        m(3..=7)
    );
    assert_eq!(
        between(Anchor::Time(25), Anchor::MsgId(MsgId(4)), 50),
        m(3..=3)
    );
    assert!(between(Anchor::Time(50), Anchor::Time(50), 5).is_empty());
}

#[test]
fn channel_names_follow_the_tenant_casemapping() {
    let (_dir, log) = fresh();
    let t = tenant();
    let mut a = Origin::new(1);
    append_all(
        &log,
        &[
            a.say(1, uid(1, 1), "#a[b]", 1, "brackets"),
            a.say(2, uid(1, 1), "#A{B}", 2, "braces"),
        ],
    );
    // rfc1459 (the default): [] and {} are the same letters.
    assert_eq!(
        texts(&log.history_latest(&t, &chan("#a{b}"), None, 10).unwrap()),
        ["brackets", "braces"]
    );
    log.set_casemapping(&t, CaseMapping::Ascii).unwrap();
    assert_eq!(
        texts(&log.history_latest(&t, &chan("#a[b]"), None, 10).unwrap()),
        ["brackets"]
    );
    assert_eq!(
        texts(&log.history_latest(&t, &chan("#a{B}"), None, 10).unwrap()),
        ["braces"]
    );
}

#[test]
fn private_messages_form_one_conversation_both_ways() {
    let (_dir, log) = fresh();
    let t = tenant();
    let (alice, bob, carol) = (uid(1, 1), uid(2, 1), uid(1, 2));
    let mut a = Origin::new(1);
    let mut b = Origin::new(2);
    append_all(
        &log,
        &[
            a.tell(10, alice, bob, 1, "hi bob"),
            b.tell(20, bob, alice, 2, "hi alice"),
            a.tell(30, carol, alice, 3, "psst"),
        ],
    );
    let ab = HistoryTarget::Conversation(bob, alice);
    assert_eq!(
        texts(&log.history_latest(&t, &ab, None, 10).unwrap()),
        ["hi bob", "hi alice"]
    );
    assert_eq!(ab.peer_of(alice), Some(bob));
    assert_eq!(
        log.message(&t, MsgId(3)).unwrap().map(|op| op.wall_ms),
        Some(30)
    );
}

#[test]
fn targets_lists_conversations_and_given_channels_by_latest_message() {
    let (_dir, log) = fresh();
    let t = tenant();
    let (alice, bob, carol) = (uid(1, 1), uid(2, 1), uid(1, 2));
    let mut a = Origin::new(1);
    append_all(
        &log,
        &[
            a.tell(10, alice, bob, 1, "to bob"),
            a.say(20, bob, "#rust", 2, "in rust"),
            a.tell(30, carol, alice, 3, "from carol"),
            a.say(40, carol, "#go", 4, "in go"),
            a.tell(50, alice, bob, 5, "to bob again"),
            a.tell(60, bob, carol, 6, "not alice's"),
        ],
    );
    let activity = |target, latest_ms| TargetActivity { target, latest_ms };
    let conv = |peer| HistoryTarget::Conversation(alice, peer);
    let all = log
        .history_targets(&t, alice, ["#rust", "#go", "#empty"], 0, 100, 10)
        .unwrap();
    assert_eq!(
        all,
        vec![
            activity(chan("#rust"), 20),
            activity(conv(carol), 30),
            activity(chan("#go"), 40),
            activity(conv(bob), 50),
        ]
    );
    let window = log
        .history_targets(&t, alice, ["#rust"], 5, 45, 10)
        .unwrap();
    assert_eq!(
        window,
        vec![
            activity(conv(bob), 10),
            activity(chan("#rust"), 20),
            activity(conv(carol), 30),
        ]
    );
    let earliest = log
        .history_targets(&t, alice, ["#rust", "#go"], 0, 100, 2)
        .unwrap();
    assert_eq!(earliest.len(), 2);
    assert_eq!(earliest[0].latest_ms, 20);
    let latest = log
        .history_targets(&t, alice, ["#rust", "#go"], 100, 0, 2)
        .unwrap();
    assert_eq!(
        latest,
        vec![activity(chan("#go"), 40), activity(conv(bob), 50)]
    );
}

#[test]
fn pruning_removes_old_messages_only_and_keeps_seqs_contiguous() {
    let (_dir, log) = fresh();
    let t = tenant();
    let (alice, bob) = (uid(1, 1), uid(2, 1));
    let mut a = Origin::new(1);
    let ops = vec![
        a.arrive(1, alice, "alice"),
        a.join(2, alice, "#c"),
        a.say(10, alice, "#c", 1, "old"),
        a.tell(11, alice, bob, 2, "old query"),
        a.topic(12, alice, "#c", "kept"),
        a.say(30, alice, "#c", 3, "new"),
    ];
    append_all(&log, &ops);
    let state_before = log.replay_json(&t, u64::MAX).unwrap();

    assert_eq!(log.prune_history(&t, 20).unwrap(), 2);
    assert_eq!(log.prune_history(&t, 20).unwrap(), 0);

    assert_eq!(
        texts(&log.history_latest(&t, &chan("#c"), None, 10).unwrap()),
        ["new"]
    );
    assert!(log
        .history_latest(&t, &HistoryTarget::Conversation(alice, bob), None, 10)
        .unwrap()
        .is_empty());
    assert!(log
        .history_targets(&t, alice, Vec::<String>::new(), 0, 100, 10)
        .unwrap()
        .is_empty());
    assert!(log.message(&t, MsgId(1)).unwrap().is_none());
    assert!(matches!(
        log.history_after(&t, &chan("#c"), Anchor::MsgId(MsgId(1)), 5),
        Err(LogError::UnknownMsgId { .. })
    ));
    assert!(matches!(
        log.get(&t, ops[2].id).unwrap(),
        Some(Entry::Pruned(_))
    ));
    assert_eq!(log.version_vector(&t)[&ops[0].id.origin], 6);
    assert_eq!(log.replay_json(&t, u64::MAX).unwrap(), state_before);

    // A peer catching up gets the tombstones and ends with the same vector.
    let (_dir2, peer) = fresh();
    for entry in log.ops_after(&t, &Default::default(), 100).unwrap() {
        peer.append_entry(&entry).unwrap();
    }
    assert_eq!(peer.version_vector(&t), log.version_vector(&t));
    assert_eq!(
        texts(&peer.history_latest(&t, &chan("#c"), None, 10).unwrap()),
        ["new"]
    );
}

/// A msgid carrying `wall_ms` in its top 48 bits, as a node mints them (a UUIDv7).
fn timed_msgid(wall_ms: u64, n: u128) -> u128 {
    (u128::from(wall_ms) << 80) | n
}

#[test]
fn msgids_carrying_their_time_are_found_like_indexed_ones() {
    let (_dir, log) = fresh();
    let t = tenant();
    let (alice, bob) = (uid(1, 1), uid(2, 1));
    let mut a = Origin::new(1);
    let timed = |wall, n| MsgId(timed_msgid(wall, n));
    let ops = vec![
        a.say(10, alice, "#c", timed_msgid(10, 1), "timed 1"),
        a.say(20, alice, "#c", 7, "legacy"),
        a.say(30, alice, "#c", timed_msgid(30, 2), "timed 2"),
        // Claims a time that is not its message's: found through the msgid index.
        a.say(40, alice, "#c", timed_msgid(35, 3), "mistimed"),
        a.tell(50, alice, bob, timed_msgid(50, 4), "timed query"),
    ];
    append_all(&log, &ops);
    let c = chan("#c");
    let after = |msgid| texts(&log.history_after(&t, &c, Anchor::MsgId(msgid), 10).unwrap());
    assert_eq!(after(timed(10, 1)), ["legacy", "timed 2", "mistimed"]);
    assert_eq!(after(MsgId(7)), ["timed 2", "mistimed"]);
    assert_eq!(after(timed(35, 3)), Vec::<String>::new());
    assert_eq!(
        texts(
            &log.history_before(&t, &c, Anchor::MsgId(timed(30, 2)), 10)
                .unwrap()
        ),
        ["timed 1", "legacy"]
    );
    // The query's msgid is not in the channel's history, whatever time it carries.
    assert!(matches!(
        log.history_after(&t, &c, Anchor::MsgId(timed(50, 4)), 5),
        Err(LogError::UnknownMsgId { .. })
    ));
    for (msgid, wall) in [
        (timed(10, 1), 10),
        (MsgId(7), 20),
        (timed(35, 3), 40),
        (timed(50, 4), 50),
    ] {
        assert_eq!(
            log.message(&t, msgid).unwrap().map(|op| op.wall_ms),
            Some(wall),
            "{msgid}"
        );
    }
    assert!(log.message(&t, timed(10, 9)).unwrap().is_none());

    assert_eq!(log.prune_history(&t, 45).unwrap(), 4);
    assert!(log.message(&t, timed(10, 1)).unwrap().is_none());
    assert!(log.message(&t, timed(35, 3)).unwrap().is_none());
    assert!(matches!(
        log.history_after(&t, &c, Anchor::MsgId(timed(30, 2)), 5),
        Err(LogError::UnknownMsgId { .. })
    ));
    assert_eq!(
        log.message(&t, timed(50, 4)).unwrap().map(|op| op.wall_ms),
        Some(50)
    );
}
