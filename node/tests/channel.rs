//! Channels: JOIN/PART/NAMES/LIST, messages, TOPIC, INVITE, KICK and channel modes.

mod support;

use std::collections::BTreeSet;
use support::msg::Msg;
use support::{bare_nick, TestNode};

fn set(names: &[String]) -> BTreeSet<&str> {
    names.iter().map(String::as_str).collect()
}

fn privmsgs(msgs: &[Msg]) -> Vec<&Msg> {
    msgs.iter()
        .filter(|m| m.command == "PRIVMSG" || m.command == "NOTICE")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creator_gets_ops_and_names_lists_both_members() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let mut bob = node.register("bob").await;

    let names = alice.join("#chan").await;
    assert_eq!(
        names,
        vec!["@alice".to_owned()],
        "the creator is the only member, with ops"
    );
    let names = bob.join("#chan").await;
    assert_eq!(set(&names), BTreeSet::from(["@alice", "bob"]));
    let join = alice.expect_join("bob", "#chan").await;
    assert_eq!(
        join.params.len(),
        1,
        "plain JOIN has just the channel: {join}"
    );
    assert!(
        join.source.as_deref().unwrap_or("").contains('!'),
        "JOIN source is nick!user@host"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_names_are_case_insensitive() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#Chan", ["alice", "bob"]).await;
    bob.send("PRIVMSG #CHAN :case").await;
    let m = alice.expect_from("PRIVMSG", "bob").await;
    assert!(m.param(0).eq_ignore_ascii_case("#chan"));
    assert_eq!(m.last(), "case");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privmsg_reaches_members_and_is_not_echoed_without_echo_message() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob, mut carol] = node.channel("#chan", ["alice", "bob", "carol"]).await;
    alice.send("PRIVMSG #chan :hello there").await;
    for peer in [&mut bob, &mut carol] {
        let m = peer.expect_from("PRIVMSG", "alice").await;
        assert_eq!(m.params, vec!["#chan", "hello there"]);
    }
    let own = alice.sync().await;
    assert!(
        privmsgs(&own).is_empty(),
        "echoed without echo-message: {own:?}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_messages_and_notices_are_delivered() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let mut bob = node.register("bob").await;
    alice.send("PRIVMSG bob :psst").await;
    let m = bob.expect_from("PRIVMSG", "alice").await;
    assert_eq!(m.params, vec!["bob", "psst"]);
    alice.send("NOTICE BOB :note").await;
    let m = bob.expect_from("NOTICE", "alice").await;
    assert_eq!(m.last(), "note");
    alice.send("PRIVMSG nobody :hello?").await;
    let err = alice.expect("401").await;
    assert_eq!(err.param(1), "nobody");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_notice_reaches_members() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#chan", ["alice", "bob"]).await;
    alice.send("NOTICE #chan :heads up").await;
    let m = bob.expect_from("NOTICE", "alice").await;
    assert_eq!(m.params, vec!["#chan", "heads up"]);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privmsg_to_several_targets_reaches_each() {
    let node = TestNode::default_open().await;
    let [mut alice, mut carol] = node.channel("#a", ["alice", "carol"]).await;
    let mut bob = node.register("bob").await;
    alice.send("PRIVMSG #a,bob :hi all").await;
    let m = carol.expect_from("PRIVMSG", "alice").await;
    assert_eq!(m.params, vec!["#a", "hi all"]);
    let m = bob.expect_from("PRIVMSG", "alice").await;
    assert_eq!(m.params, vec!["bob", "hi all"]);
    // Each target gets exactly one copy.
    let rest = carol.sync().await;
    assert!(privmsgs(&rest).is_empty(), "duplicate delivery: {rest:?}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_with_reason_is_seen_by_members() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#chan", ["alice", "bob"]).await;
    bob.send("PART #chan :gone fishing").await;
    let own = bob.expect_from("PART", "bob").await;
    assert_eq!(own.param(0), "#chan");
    let m = alice.expect_from("PART", "bob").await;
    assert_eq!(m.params, vec!["#chan", "gone fishing"]);
    assert_eq!(alice.names("#chan").await, vec!["@alice".to_owned()]);

    bob.send("PART #chan").await;
    let err = bob.expect("442").await;
    assert_eq!(
        err.param(1),
        "#chan",
        "parting a channel you are not on gives 442"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_zero_parts_every_channel() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#a", ["alice", "bob"]).await;
    alice.join("#b").await;
    alice.send("JOIN 0").await;
    let mut parted = BTreeSet::new();
    for _ in 0..2 {
        let m = alice.expect_from("PART", "alice").await;
        parted.insert(m.param(0).to_lowercase());
    }
    assert_eq!(parted, BTreeSet::from(["#a".to_owned(), "#b".to_owned()]));
    let m = bob.expect_from("PART", "alice").await;
    assert_eq!(m.param(0), "#a");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_set_and_query() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#chan", ["alice", "bob"]).await;

    bob.send("TOPIC #chan").await;
    let none = bob.expect_numeric_or(&["331", "332"]).await;
    assert_eq!(none.command, "331", "no topic yet: {none}");
    assert_eq!(none.param(1), "#chan");

    alice.send("TOPIC #chan :Welcome to the test").await;
    for c in [&mut alice, &mut bob] {
        let m = c.expect_from("TOPIC", "alice").await;
        assert_eq!(m.params, vec!["#chan", "Welcome to the test"]);
    }

    bob.send("TOPIC #chan").await;
    let topic = bob.expect("332").await;
    assert_eq!(topic.params, vec!["bob", "#chan", "Welcome to the test"]);
    let who_time = bob.expect("333").await;
    assert_eq!(who_time.param(1), "#chan");
    assert_eq!(
        bare_nick(who_time.param(2)),
        "alice",
        "333 names the setter: {who_time}"
    );
    let ts: u64 = who_time
        .param(3)
        .parse()
        .expect("333 time is a unix timestamp");
    assert!(ts > 1_600_000_000, "333 time is a unix timestamp: {ts}");

    // A newcomer gets 332 and 333 in its join burst.
    let mut carol = node.register("carol").await;
    carol.send("JOIN #chan").await;
    let t = carol.expect("332").await;
    assert_eq!(t.last(), "Welcome to the test");

    // Clearing the topic.
    alice.send("TOPIC #chan :").await;
    alice.expect_from("TOPIC", "alice").await;
    alice.send("TOPIC #chan").await;
    alice.expect("331").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_lock_requires_ops() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#chan", ["alice", "bob"]).await;
    alice.send_sync("MODE #chan +t").await;
    bob.send("TOPIC #chan :bob was here").await;
    let err = bob.expect("482").await;
    assert_eq!(err.param(1), "#chan");

    alice.send("MODE #chan -t").await;
    bob.expect_mode("alice", &["#chan", "-t"]).await;
    bob.send("TOPIC #chan :bob was here").await;
    let t = alice.expect_from("TOPIC", "bob").await;
    assert_eq!(t.last(), "bob was here");

    // A topic longer than TOPICLEN (390) is cut or refused, never stored whole.
    alice
        .send(&format!("TOPIC #chan :{}", "t".repeat(450)))
        .await;
    let seen = alice.sync().await;
    let outcome = seen
        .iter()
        .find(|m| {
            m.command == "TOPIC" || m.command == "FAIL" || support::is_error_numeric(&m.command)
        })
        .unwrap_or_else(|| panic!("an over-long TOPIC got no answer: {seen:?}"));
    if outcome.command == "TOPIC" {
        let len = outcome.last().len();
        assert!(len <= 390, "topic over TOPICLEN stored whole: {len} bytes");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_list() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#chan", ["alice", "bob"]).await;
    alice.send_sync("TOPIC #chan :listed topic").await;
    assert_eq!(
        set(&bob.names("#chan").await),
        BTreeSet::from(["@alice", "bob"])
    );

    let mut carol = node.register("carol").await;
    carol.send("LIST").await;
    let list = carol.collect_until("323").await;
    assert!(
        list.iter().any(|m| m.command == "321"),
        "LIST starts with 321: {list:?}"
    );
    let entries: Vec<&Msg> = list.iter().filter(|m| m.command == "322").collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].param(1), "#chan");
    assert_eq!(entries[0].param(2), "2", "member count");
    assert!(entries[0].last().contains("listed topic"), "{}", entries[0]);

    carol.send("LIST #chan").await;
    let list = carol.collect_until("323").await;
    assert_eq!(list.iter().filter(|m| m.command == "322").count(), 1);
    carol.send("LIST #nothing-here").await;
    let list = carol.collect_until("323").await;
    assert_eq!(list.iter().filter(|m| m.command == "322").count(), 0);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_only_needs_an_invite() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let mut bob = node.register("bob").await;
    alice.join("#chan").await;
    alice.send_sync("MODE #chan +i").await;

    bob.send("JOIN #chan").await;
    let err = bob.expect("473").await;
    assert_eq!(err.param(1), "#chan");

    alice.send("INVITE bob #chan").await;
    let inviting = alice.expect("341").await;
    assert_eq!(inviting.params[..3], ["alice", "bob", "#chan"]);
    let invite = bob.expect_from("INVITE", "alice").await;
    assert_eq!(invite.params, vec!["bob", "#chan"]);

    bob.join("#chan").await;
    alice.expect_join("bob", "#chan").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_is_required_to_join() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let mut bob = node.register("bob").await;
    alice.join("#chan").await;
    alice.send_sync("MODE #chan +k sesame").await;

    bob.send("JOIN #chan").await;
    assert_eq!(bob.expect("475").await.param(1), "#chan");
    bob.send("JOIN #chan wrong").await;
    assert_eq!(bob.expect("475").await.param(1), "#chan");
    bob.send("JOIN #chan sesame").await;
    bob.expect_join("bob", "#chan").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_limit_blocks_joins_when_full() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let mut bob = node.register("bob").await;
    alice.join("#chan").await;
    alice.send_sync("MODE #chan +l 1").await;
    bob.send("JOIN #chan").await;
    assert_eq!(bob.expect("471").await.param(1), "#chan");
    alice.send_sync("MODE #chan -l").await;
    bob.join("#chan").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderated_channel_needs_voice() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#chan", ["alice", "bob"]).await;
    alice.send("MODE #chan +m").await;
    bob.expect_mode("alice", &["#chan", "+m"]).await;
    bob.send("PRIVMSG #chan :unvoiced").await;
    let err = bob.expect("404").await;
    assert_eq!(err.param(1), "#chan");

    alice.send("MODE #chan +v bob").await;
    bob.expect_mode("alice", &["#chan", "+v", "bob"]).await;
    bob.send("PRIVMSG #chan :voiced").await;
    let m = alice.expect_from("PRIVMSG", "bob").await;
    assert_eq!(
        m.last(),
        "voiced",
        "the unvoiced message must not have been delivered"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_external_messages() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let mut bob = node.register("bob").await;
    alice.join("#chan").await;
    alice.send_sync("MODE #chan +n").await;
    bob.send("PRIVMSG #chan :from outside").await;
    assert_eq!(bob.expect("404").await.param(1), "#chan");
    alice.send_sync("MODE #chan -n").await;
    bob.send("PRIVMSG #chan :allowed now").await;
    let m = alice.expect_from("PRIVMSG", "bob").await;
    assert_eq!(
        m.last(),
        "allowed now",
        "the blocked message must not have been delivered"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_channel_is_hidden_from_non_members() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let mut bob = node.register("bob").await;
    alice.join("#hidden").await;
    alice.send_sync("MODE #hidden +s").await;

    bob.send("LIST").await;
    let list = bob.collect_until("323").await;
    assert!(
        list.iter().all(|m| m.command != "322"),
        "a +s channel appears in a non-member's LIST: {list:?}"
    );
    let names = bob.names("#hidden").await;
    assert!(
        names.is_empty(),
        "NAMES of a +s channel leaks members: {names:?}"
    );

    alice.send("LIST").await;
    let list = alice.collect_until("323").await;
    assert!(list
        .iter()
        .any(|m| m.command == "322" && m.param(1) == "#hidden"));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_is_seen_by_all_and_removes_the_member() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob, mut carol] = node.channel("#chan", ["alice", "bob", "carol"]).await;
    let _dave = node.register("dave").await;

    alice.send("KICK #chan bob :behave").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        let m = c.expect_from("KICK", "alice").await;
        assert_eq!(m.params, vec!["#chan", "bob", "behave"]);
    }
    let names = alice.names("#chan").await;
    assert_eq!(set(&names), BTreeSet::from(["@alice", "carol"]));

    carol.send("KICK #chan alice :mutiny").await;
    assert_eq!(carol.expect("482").await.param(1), "#chan");

    alice.send("KICK #chan dave").await;
    let err = alice.expect("441").await;
    assert_eq!(err.param(1), "dave");
    assert_eq!(err.param(2), "#chan");

    // The kicked user no longer receives channel traffic.
    alice.send("PRIVMSG #chan :after the kick").await;
    carol.expect_from("PRIVMSG", "alice").await;
    let seen = bob.sync().await;
    assert!(
        privmsgs(&seen).is_empty(),
        "kicked user still gets messages: {seen:?}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ban_blocks_join() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let mut bob = node.register("bob").await;
    alice.join("#chan").await;
    alice.send_sync("MODE #chan +b bob!*@*").await;
    bob.send("JOIN #chan").await;
    assert_eq!(bob.expect("474").await.param(1), "#chan");
    alice.send_sync("MODE #chan -b bob!*@*").await;
    bob.join("#chan").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banned_member_cannot_speak() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#chan", ["alice", "bob"]).await;
    alice.send("MODE #chan +b bob!*@*").await;
    bob.expect_mode("alice", &["#chan", "+b", "bob!*@*"]).await;
    bob.send("PRIVMSG #chan :banned words").await;
    assert_eq!(bob.expect("404").await.param(1), "#chan");
    alice.send_sync("MODE #chan -b bob!*@*").await;
    bob.expect_mode("alice", &["#chan", "-b", "bob!*@*"]).await;
    bob.send("PRIVMSG #chan :free again").await;
    let m = alice.expect_from("PRIVMSG", "bob").await;
    assert_eq!(
        m.last(),
        "free again",
        "the banned message must not have been delivered"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ban_exception_lets_the_user_in() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let mut bob = node.register("bob").await;
    let mut carol = node.register("carol").await;
    alice.join("#chan").await;
    alice.send_sync("MODE #chan +b *!*@*").await;
    alice.send_sync("MODE #chan +e bob!*@*").await;
    bob.join("#chan").await;
    carol.send("JOIN #chan").await;
    assert_eq!(carol.expect("474").await.param(1), "#chan");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ban_and_exception_lists() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#chan", ["alice", "bob"]).await;
    alice.send_sync("MODE #chan +b bob!*@*").await;
    alice.send_sync("MODE #chan +b *!*@evil.example").await;
    alice.send_sync("MODE #chan +e friend!*@*").await;

    for query in ["MODE #chan b", "MODE #chan +b"] {
        bob.send(query).await;
        let seen = bob.collect_until("368").await;
        let masks: BTreeSet<&str> = seen
            .iter()
            .filter(|m| m.command == "367")
            .map(|m| {
                assert_eq!(m.param(1), "#chan");
                m.param(2)
            })
            .collect();
        assert_eq!(
            masks,
            BTreeSet::from(["bob!*@*", "*!*@evil.example"]),
            "{query}"
        );
    }

    alice.send("MODE #chan e").await;
    let seen = alice.collect_until("349").await;
    let excepts: Vec<&str> = seen
        .iter()
        .filter(|m| m.command == "348")
        .map(|m| m.param(2))
        .collect();
    assert_eq!(excepts, vec!["friend!*@*"]);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_mode_query_gives_324_and_329() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#chan", ["alice", "bob"]).await;
    alice.send_sync("MODE #chan +nt").await;
    alice.send_sync("MODE #chan +l 25").await;
    bob.send("MODE #chan").await;
    let modes = bob.expect("324").await;
    assert_eq!(modes.param(1), "#chan");
    let modestring = modes.param(2);
    assert!(modestring.starts_with('+'), "{modes}");
    for flag in ['n', 't', 'l'] {
        assert!(modestring.contains(flag), "324 lacks {flag}: {modes}");
    }
    assert!(
        modes.params.iter().any(|p| p == "25"),
        "324 shows the limit: {modes}"
    );
    let created = bob.expect("329").await;
    assert_eq!(created.param(1), "#chan");
    let ts: u64 = created
        .param(2)
        .parse()
        .expect("329 time is a unix timestamp");
    assert!(ts > 1_600_000_000);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_and_voice_give_prefixes_and_need_ops() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob, mut carol] = node.channel("#chan", ["alice", "bob", "carol"]).await;

    alice.send("MODE #chan +o bob").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.expect_mode("alice", &["#chan", "+o", "bob"]).await;
    }
    alice.send("MODE #chan +v carol").await;
    carol.expect_mode("alice", &["#chan", "+v", "carol"]).await;
    let names = alice.names("#chan").await;
    assert_eq!(set(&names), BTreeSet::from(["@alice", "@bob", "+carol"]));

    carol.send("MODE #chan +o carol").await;
    assert_eq!(carol.expect("482").await.param(1), "#chan");
    carol.send("MODE #chan -o alice").await;
    carol.expect("482").await;

    alice.send("MODE #chan -o bob").await;
    bob.expect_mode("alice", &["#chan", "-o", "bob"]).await;
    let names = bob.names("#chan").await;
    assert_eq!(set(&names), BTreeSet::from(["@alice", "bob", "+carol"]));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_channel_mode_gives_472() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    alice.join("#chan").await;
    alice.send("MODE #chan +Y").await;
    let err = alice.expect("472").await;
    assert_eq!(err.param(1), "Y");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nick_change_is_seen_by_channel_peers() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#chan", ["alice", "bob"]).await;
    bob.send("NICK robert").await;
    let own = bob.expect_from("NICK", "bob").await;
    assert_eq!(own.param(0), "robert");
    let m = alice.expect_from("NICK", "bob").await;
    assert_eq!(m.param(0), "robert");
    bob.nick = "robert".to_owned();
    assert_eq!(
        set(&alice.names("#chan").await),
        BTreeSet::from(["@alice", "robert"])
    );

    // The old nick is free again and the new one is taken.
    let mut other = node.register("bob").await;
    other.send("NICK Robert").await;
    other.expect("433").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_is_seen_by_peers_with_its_reason() {
    let node = TestNode::default_open().await;
    let [mut alice, bob] = node.channel("#chan", ["alice", "bob"]).await;
    bob.quit("off to bed").await;
    let m = alice.expect_from("QUIT", "bob").await;
    assert!(
        m.last().contains("off to bed"),
        "QUIT carries the reason: {m}"
    );
    assert_eq!(alice.names("#chan").await, vec!["@alice".to_owned()]);
    node.shutdown().await;
}
