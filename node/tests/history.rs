//! IRCv3 `draft/chathistory` with real clients: every subcommand and anchor kind, batch framing,
//! tags, ordering, limits, access to targets and the errors for bad requests.
//!
//! Each test sends its messages one at a time, at distinct server milliseconds, and keeps the
//! copy delivered live; history must give back exactly those lines (same msgid, same time).

mod support;

use std::time::Duration;

use support::config::{node_toml, open_tenant};
use support::msg::Msg;
use support::time::{iso8601, now_ms, parse_server_time};
use support::{bare_nick, is_server_time, join_all, Client, TestNode};

/// What a history client negotiates: history itself, batches, tags and echoes of its own lines.
const CAPS: &[&str] = &[
    "draft/chathistory",
    "batch",
    "message-tags",
    "server-time",
    "echo-message",
];

/// One message as it was delivered live: what history must reproduce.
#[derive(Clone, Debug)]
struct Live {
    command: String,
    from: String,
    target: String,
    text: String,
    msgid: String,
    time: String,
}

impl Live {
    fn ms(&self) -> u64 {
        parse_server_time(&self.time)
    }
}

/// `from` sends `command target :text`; waits for its echo and for `to`'s copy, which must carry
/// the same msgid; returns the delivered copy. Then waits 2 ms so the next message has a later
/// server time.
async fn say(from: &mut Client, to: &mut Client, command: &str, target: &str, text: &str) -> Live {
    from.send(&format!("{command} {target} :{text}")).await;
    let sender = from.nick.clone();
    let echo = from
        .expect_where(&format!("the echo of {text:?}"), |m| {
            m.is_from(command, &sender) && m.last() == text
        })
        .await;
    let got = to
        .expect_where(&format!("{text:?} from {sender}"), |m| {
            m.is_from(command, &sender) && m.last() == text
        })
        .await;
    let msgid = got
        .tag("msgid")
        .unwrap_or_else(|| panic!("delivered without msgid: {got}"));
    assert!(!msgid.is_empty(), "empty msgid: {got}");
    assert_eq!(echo.tag("msgid"), Some(msgid), "echo and delivery differ");
    let time = got
        .tag("time")
        .unwrap_or_else(|| panic!("delivered without time: {got}"));
    assert!(is_server_time(time), "{got}");
    let carried = u64::from_str_radix(msgid.get(..12).unwrap_or_default(), 16);
    assert_eq!(
        carried,
        Ok(parse_server_time(time)),
        "the msgid (a UUIDv7) carries the message's time: {got}"
    );
    tokio::time::sleep(Duration::from_millis(2)).await;
    Live {
        command: command.to_owned(),
        from: sender,
        target: target.to_owned(),
        text: text.to_owned(),
        msgid: msgid.to_owned(),
        time: time.to_owned(),
    }
}

/// `count` channel messages `<prefix>0`, `<prefix>1`, ... from `from`, as `to` received them,
/// checked to have strictly increasing server times.
async fn series(
    from: &mut Client,
    to: &mut Client,
    target: &str,
    prefix: &str,
    count: usize,
) -> Vec<Live> {
    let mut sent = Vec::with_capacity(count);
    for i in 0..count {
        sent.push(say(from, to, "PRIVMSG", target, &format!("{prefix}{i}")).await);
    }
    for pair in sent.windows(2) {
        assert!(
            pair[0].ms() < pair[1].ms(),
            "server times do not increase: {pair:?}"
        );
    }
    sent
}

/// Checks that `got` is exactly `want`, in order: command, source, target, text, msgid, time.
fn assert_lines(what: &str, got: &[Msg], want: &[Live]) {
    let texts = |g: &[Msg]| -> Vec<String> { g.iter().map(|m| m.last().to_owned()).collect() };
    let wanted: Vec<String> = want.iter().map(|l| l.text.clone()).collect();
    assert_eq!(texts(got), wanted, "{what}: wrong messages or order");
    for (m, l) in got.iter().zip(want) {
        assert_eq!(m.command, l.command, "{what}: {m}");
        assert_eq!(m.nick(), l.from, "{what}: source of {m}");
        assert_eq!(m.param(0), l.target, "{what}: target of {m}");
        assert_eq!(
            m.tag("msgid"),
            Some(l.msgid.as_str()),
            "{what}: msgid of {m}"
        );
        assert_eq!(m.tag("time"), Some(l.time.as_str()), "{what}: time of {m}");
    }
}

/// A `default` tenant with flood control off and the given `[tenants.history]` keys.
async fn node_with_history(keys: &str) -> TestNode {
    let extra = format!("\n[tenants.history]\n{keys}\n");
    TestNode::start(&node_toml(&[open_tenant(&extra)])).await
}

async fn pair(node: &TestNode, channel: &str) -> [Client; 2] {
    let alice = node.register_with_caps("alice", CAPS).await;
    let bob = node.register_with_caps("bob", CAPS).await;
    join_all(channel, [alice, bob]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_gives_the_newest_messages_oldest_first_as_delivered_live() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = pair(&node, "#hist").await;
    let mut sent = series(&mut alice, &mut bob, "#hist", "m", 10).await;

    let latest = bob.history("LATEST #hist * 5").await;
    assert_lines("LATEST * 5", &latest, &sent[5..]);
    let everything = alice.history("LATEST #HIST * 100").await;
    assert_lines("LATEST * 100 by the sender", &everything, &sent);

    let after_m6 = bob
        .history(&format!("LATEST #hist msgid={} 10", sent[6].msgid))
        .await;
    assert_lines("LATEST msgid=m6", &after_m6, &sent[7..]);
    let after_t6 = bob
        .history(&format!("LATEST #hist timestamp={} 2", sent[6].time))
        .await;
    assert_lines("LATEST timestamp=t6 2", &after_t6, &sent[8..]);

    sent.push(say(&mut alice, &mut bob, "NOTICE", "#hist", "a notice").await);
    let last = bob.history("LATEST #hist * 2").await;
    assert_lines("LATEST with a NOTICE", &last, &sent[9..]);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_after_around_and_between_take_msgid_and_timestamp_anchors() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = pair(&node, "#hist").await;
    let sent = series(&mut alice, &mut bob, "#hist", "m", 10).await;
    let id = |i: usize| format!("msgid={}", sent[i].msgid);
    let ts = |i: usize| format!("timestamp={}", sent[i].time);

    for anchor in [id(5), ts(5)] {
        let before = bob.history(&format!("BEFORE #hist {anchor} 3")).await;
        assert_lines(&format!("BEFORE {anchor} 3"), &before, &sent[2..5]);
        let after = bob.history(&format!("AFTER #hist {anchor} 3")).await;
        assert_lines(&format!("AFTER {anchor} 3"), &after, &sent[6..9]);
    }
    let before_all = bob.history(&format!("BEFORE #hist {} 100", id(3))).await;
    assert_lines("BEFORE m3 100", &before_all, &sent[..3]);
    let after_all = bob.history(&format!("AFTER #hist {} 100", ts(7))).await;
    assert_lines("AFTER t7 100", &after_all, &sent[8..]);
    let none = bob.history(&format!("BEFORE #hist {} 10", id(0))).await;
    assert_lines("BEFORE the first message", &none, &[]);

    // AROUND: a window of `limit` consecutive messages that holds the anchor's own message,
    // however the server splits it between the two sides.
    for (anchor, limit) in [(5, 4), (0, 4), (9, 3), (5, 1)] {
        let around = bob
            .history(&format!("AROUND #hist {} {limit}", id(anchor)))
            .await;
        assert_eq!(around.len(), limit, "AROUND m{anchor} {limit}: {around:?}");
        let start = sent
            .iter()
            .position(|l| l.text == around[0].last())
            .unwrap_or_else(|| panic!("AROUND returned an unknown line: {}", around[0]));
        assert_lines(
            &format!("AROUND m{anchor} {limit}"),
            &around,
            &sent[start..start + limit],
        );
        assert!(
            (start..start + limit).contains(&anchor),
            "AROUND m{anchor} {limit} does not hold m{anchor}: from m{start}"
        );
    }
    let around_time = bob.history(&format!("AROUND #hist {} 10", ts(5))).await;
    assert_lines("AROUND t5 10", &around_time, &sent);

    let between = bob
        .history(&format!("BETWEEN #hist {} {} 100", id(2), id(7)))
        .await;
    assert_lines("BETWEEN m2 m7", &between, &sent[3..7]);
    let between = bob
        .history(&format!("BETWEEN #hist {} {} 100", ts(2), ts(7)))
        .await;
    assert_lines("BETWEEN t2 t7", &between, &sent[3..7]);
    let from_start = bob
        .history(&format!("BETWEEN #hist {} {} 2", id(2), ts(7)))
        .await;
    assert_lines("BETWEEN m2 t7 2 counts from m2", &from_start, &sent[3..5]);
    let from_end = bob
        .history(&format!("BETWEEN #hist {} {} 2", id(7), id(2)))
        .await;
    assert_lines(
        "BETWEEN m7 m2 2 counts back from m7",
        &from_end,
        &sent[5..7],
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_and_private_conversations_are_per_participant() {
    let node = TestNode::default_open().await;
    let alice = node.register_with_caps("alice", CAPS).await;
    let mut bob = node.register_with_caps("bob", CAPS).await;
    let mut carol = node.register_with_caps("carol", CAPS).await;
    let dave = node.register_with_caps("dave", CAPS).await;
    let [mut alice, mut dave] = join_all("#tgt", [alice, dave]).await;
    let start = now_ms();

    let in_channel = say(&mut alice, &mut dave, "PRIVMSG", "#tgt", "in the channel").await;
    let to_bob = say(&mut alice, &mut bob, "PRIVMSG", "bob", "to bob").await;
    let to_alice = say(&mut bob, &mut alice, "PRIVMSG", "alice", "to alice").await;
    let notice = say(&mut alice, &mut bob, "NOTICE", "bob", "a notice for bob").await;
    let from_carol = say(&mut carol, &mut alice, "PRIVMSG", "alice", "carol here").await;
    let end = now_ms() + 1000;

    let conversation = [to_bob, to_alice, notice];
    let seen_by_alice = alice.history("LATEST bob * 10").await;
    assert_lines(
        "alice's conversation with bob",
        &seen_by_alice,
        &conversation,
    );
    let seen_by_bob = bob.history("LATEST alice * 10").await;
    assert_lines("bob's conversation with alice", &seen_by_bob, &conversation);
    let carols = carol.history("LATEST alice * 10").await;
    assert_lines(
        "carol's conversation with alice",
        &carols,
        std::slice::from_ref(&from_carol),
    );
    let before = alice
        .history(&format!("BEFORE bob msgid={} 10", conversation[2].msgid))
        .await;
    assert_lines("BEFORE in a conversation", &before, &conversation[..2]);

    let range = format!("timestamp={} timestamp={}", iso8601(start), iso8601(end));
    let expected = vec![
        ("#tgt".to_owned(), in_channel.time.clone()),
        ("bob".to_owned(), conversation[2].time.clone()),
        ("carol".to_owned(), from_carol.time.clone()),
    ];
    assert_eq!(
        alice.history_targets(&format!("{range} 10")).await,
        expected
    );
    assert_eq!(
        alice.history_targets(&format!("{range} 1")).await,
        expected[..1],
        "a limit keeps the oldest targets"
    );
    let reversed = format!("timestamp={} timestamp={} 10", iso8601(end), iso8601(start));
    assert_eq!(
        alice.history_targets(&reversed).await,
        expected,
        "the same targets, oldest first, whichever timestamp comes first"
    );
    assert_eq!(
        bob.history_targets(&format!("{range} 10")).await,
        vec![("alice".to_owned(), conversation[2].time.clone())],
        "bob is in no channel and talked only to alice"
    );
    assert_eq!(
        dave.history_targets(&format!("{range} 10")).await,
        vec![("#tgt".to_owned(), in_channel.time.clone())]
    );
    let before_everything = format!(
        "timestamp={} timestamp={} 10",
        iso8601(start - 10_000),
        iso8601(start - 5_000)
    );
    assert!(alice.history_targets(&before_everything).await.is_empty());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_query_caps_every_request_and_is_advertised() {
    let node = node_with_history("max_query = 5").await;
    let [mut alice, mut bob] = pair(&node, "#cap").await;
    assert_eq!(
        bob.isupport.get("CHATHISTORY").map(String::as_str),
        Some("5"),
        "ISUPPORT advertises the cap"
    );
    let sent = series(&mut alice, &mut bob, "#cap", "c", 8).await;

    let latest = bob.history("LATEST #cap * 100").await;
    assert_lines("LATEST * 100 capped at 5", &latest, &sent[3..]);
    let before = bob
        .history(&format!("BEFORE #cap msgid={} 1000", sent[7].msgid))
        .await;
    assert_lines("BEFORE m7 1000 capped at 5", &before, &sent[2..7]);
    let after = bob
        .history(&format!("AFTER #cap msgid={} 6", sent[0].msgid))
        .await;
    assert_lines("AFTER m0 6 capped at 5", &after, &sent[1..6]);
    let small = bob.history("LATEST #cap * 2").await;
    assert_lines("a limit under the cap is kept", &small, &sent[6..]);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_and_participants_read_history() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = pair(&node, "#secret").await;
    let mut carol = node.register_with_caps("carol", CAPS).await;
    let sent = series(&mut alice, &mut bob, "#secret", "s", 2).await;

    for args in [
        "LATEST #secret * 10",
        &format!("BEFORE #secret msgid={} 10", sent[1].msgid),
        &format!("AROUND #secret msgid={} 10", sent[0].msgid),
        "LATEST #nowhere * 10",
        "LATEST nobody * 10",
    ] {
        let fail = carol.history_fail(args).await;
        assert_eq!(fail.param(1), "INVALID_TARGET", "{args}: {fail}");
        let subcommand = args.split_whitespace().next().expect("subcommand");
        let target = args.split_whitespace().nth(1).expect("target");
        assert_eq!(
            fail.params[2..4],
            [subcommand, target],
            "the FAIL names the subcommand and target: {fail}"
        );
    }

    bob.send("PART #secret").await;
    bob.expect_from("PART", "bob").await;
    let fail = bob.history_fail("LATEST #secret * 10").await;
    assert_eq!(fail.param(1), "INVALID_TARGET", "a former member: {fail}");

    carol.join("#secret").await;
    let now_member = carol.history("LATEST #secret * 10").await;
    assert_lines("a member reads the channel", &now_member, &sent);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_fail_with_invalid_params() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = pair(&node, "#c").await;
    let sent = say(&mut alice, &mut bob, "PRIVMSG", "#c", "only").await;
    let id = format!("msgid={}", sent.msgid);
    let ts = format!("timestamp={}", sent.time);

    for args in [
        "LATEST #c * 0".to_owned(),
        "LATEST #c * -1".to_owned(),
        "LATEST #c * ten".to_owned(),
        "LATEST #c *".to_owned(),
        "BEFORE #c * 10".to_owned(),
        "AFTER #c msgid=zz 10".to_owned(),
        "AFTER #c msgid=0123 10".to_owned(),
        format!("AFTER #c msgid={}g 10", &sent.msgid[1..]),
        "BEFORE #c timestamp=yesterday 10".to_owned(),
        "BEFORE #c timestamp=2024-13-01T00:00:00.000Z 10".to_owned(),
        format!("AROUND #c {} 10", sent.msgid),
        format!("AROUND #c {id}"),
        format!("BETWEEN #c {id} 10"),
        format!("BETWEEN #c {id} later 10"),
        format!("BETWEEN #c {ts} {ts} 0"),
        format!("TARGETS {ts} 10"),
        format!("TARGETS * {ts} 10"),
        format!("TARGETS {ts} {ts} none"),
    ] {
        let fail = alice.history_fail(&args).await;
        assert_eq!(
            fail.param(1),
            "INVALID_PARAMS",
            "CHATHISTORY {args}: {fail}"
        );
    }
    let unknown = alice.history_fail("SIDEWAYS #c * 10").await;
    assert_eq!(unknown.param(1), "UNKNOWN_COMMAND", "{unknown}");

    let still = alice.history("LATEST #c * 10").await;
    assert_lines("the connection still works", &still, &[sent]);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_tags_gets_plain_lines_inside_the_batch() {
    let node = TestNode::default_open().await;
    let alice = node.register_with_caps("alice", CAPS).await;
    let bob = node
        .register_with_caps("bob", &["draft/chathistory", "batch"])
        .await;
    let [mut alice, mut bob] = join_all("#plain", [alice, bob]).await;
    alice.send("PRIVMSG #plain :untagged").await;
    bob.expect_from("PRIVMSG", "alice").await;

    let lines = bob.history("LATEST #plain * 10").await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let m = &lines[0];
    assert_eq!(m.params, ["#plain", "untagged"], "{m}");
    let tags: Vec<&str> = m.tags.keys().map(String::as_str).collect();
    assert_eq!(
        tags,
        ["batch"],
        "only the batch tag without message-tags/server-time: {m}"
    );
    assert_eq!(bare_nick(m.source.as_deref().unwrap_or("")), "alice");
    node.shutdown().await;
}
