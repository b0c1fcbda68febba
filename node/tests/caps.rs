//! IRCv3 capabilities as they change what clients receive.

mod support;

use std::collections::BTreeSet;
use support::msg::Msg;
use support::{is_server_time, join_all, realname, TestNode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_time_tags_delivered_messages() {
    let node = TestNode::default_open().await;
    let alice = node.register("alice").await;
    let bob = node.register_with_caps("bob", &["server-time"]).await;
    let carol = node.register("carol").await;
    let [mut alice, mut bob, mut carol] = join_all("#chan", [alice, bob, carol]).await;

    alice.send("PRIVMSG #chan :what time is it").await;
    let m = bob.expect_from("PRIVMSG", "alice").await;
    let time = m.tag("time").unwrap_or_else(|| panic!("no time tag: {m}"));
    assert!(
        is_server_time(time),
        "time tag must be YYYY-MM-DDThh:mm:ss.sssZ: {time}"
    );
    let plain = carol.expect_from("PRIVMSG", "alice").await;
    assert!(
        plain.tags.is_empty(),
        "a client without caps gets no tags: {plain}"
    );

    alice.send("PRIVMSG bob :direct").await;
    let m = bob.expect_from("PRIVMSG", "alice").await;
    assert!(m.tag("time").is_some_and(is_server_time), "{m}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_tags_give_every_message_a_unique_msgid() {
    let node = TestNode::default_open().await;
    let alice = node.register("alice").await;
    let bob = node.register_with_caps("bob", &["message-tags"]).await;
    let [mut alice, mut bob] = join_all("#chan", [alice, bob]).await;

    alice.send("PRIVMSG #chan :one").await;
    alice.send("PRIVMSG #chan :two").await;
    alice.send("PRIVMSG bob :three").await;
    alice.send("NOTICE bob :four").await;
    let mut ids = BTreeSet::new();
    for text in ["one", "two", "three", "four"] {
        let m = bob
            .expect_where(text, |m| {
                (m.command == "PRIVMSG" || m.command == "NOTICE") && m.last() == text
            })
            .await;
        let id = m.tag("msgid").unwrap_or_else(|| panic!("no msgid: {m}"));
        assert!(!id.is_empty(), "empty msgid: {m}");
        ids.insert(id.to_owned());
    }
    assert_eq!(ids.len(), 4, "msgids must be unique: {ids:?}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_only_tags_reach_only_message_tags_clients() {
    let node = TestNode::default_open().await;
    let alice = node.register_with_caps("alice", &["message-tags"]).await;
    let bob = node.register_with_caps("bob", &["message-tags"]).await;
    let carol = node.register("carol").await;
    let [mut alice, mut bob, mut carol] = join_all("#chan", [alice, bob, carol]).await;

    alice
        .send("@+draft/react=x;+example.com/note=a\\sb PRIVMSG #chan :tagged")
        .await;
    let m = bob.expect_from("PRIVMSG", "alice").await;
    assert_eq!(m.tag("+draft/react"), Some("x"), "{m}");
    assert_eq!(
        m.tag("+example.com/note"),
        Some("a b"),
        "escapes survive relay: {m}"
    );
    let plain = carol.expect_from("PRIVMSG", "alice").await;
    assert!(
        plain.tags.keys().all(|k| !k.starts_with('+')),
        "client-only tags leaked to a client without message-tags: {plain}"
    );
    assert_eq!(plain.last(), "tagged");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagmsg_reaches_only_message_tags_clients() {
    let node = TestNode::default_open().await;
    let alice = node.register_with_caps("alice", &["message-tags"]).await;
    let bob = node.register_with_caps("bob", &["message-tags"]).await;
    let carol = node.register("carol").await;
    let [mut alice, mut bob, mut carol] = join_all("#chan", [alice, bob, carol]).await;

    alice.send("@+draft/react=y TAGMSG #chan").await;
    alice.send("PRIVMSG #chan :marker").await;

    let m = bob.expect_from("TAGMSG", "alice").await;
    assert_eq!(m.param(0), "#chan");
    assert_eq!(m.tag("+draft/react"), Some("y"));
    assert!(m.tag("msgid").is_some(), "TAGMSG carries a msgid: {m}");

    // Carol's first message from alice must be the marker: the TAGMSG was never sent to her.
    let first = carol
        .expect_where("a TAGMSG or PRIVMSG from alice", |m| {
            m.is_from("TAGMSG", "alice") || m.is_from("PRIVMSG", "alice")
        })
        .await;
    assert_eq!(
        first.command, "PRIVMSG",
        "TAGMSG sent to a client without message-tags"
    );
    assert_eq!(first.last(), "marker");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_message_returns_the_same_msgid_the_recipient_got() {
    let node = TestNode::default_open().await;
    let alice = node
        .register_with_caps("alice", &["echo-message", "message-tags", "server-time"])
        .await;
    let bob = node.register_with_caps("bob", &["message-tags"]).await;
    let [mut alice, mut bob] = join_all("#chan", [alice, bob]).await;

    for target in ["#chan", "bob"] {
        alice.send(&format!("PRIVMSG {target} :echo me")).await;
        let echo = alice.expect_from("PRIVMSG", "alice").await;
        assert_eq!(echo.params, vec![target, "echo me"]);
        let got = bob.expect_from("PRIVMSG", "alice").await;
        let echo_id = echo
            .tag("msgid")
            .unwrap_or_else(|| panic!("echo lacks msgid: {echo}"));
        assert_eq!(
            Some(echo_id),
            got.tag("msgid"),
            "echo and delivery share one msgid"
        );
        assert!(echo.tag("time").is_some_and(is_server_time), "{echo}");
    }

    alice.send("NOTICE #chan :echoed notice").await;
    let echo = alice.expect_from("NOTICE", "alice").await;
    assert_eq!(echo.last(), "echoed notice");
    node.shutdown().await;
}

const LABEL_CAPS: [&str; 3] = ["labeled-response", "batch", "message-tags"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labeled_single_reply_carries_the_label() {
    let node = TestNode::default_open().await;
    let mut alice = node.register_with_caps("alice", &LABEL_CAPS).await;
    alice.send("@label=abc PING :x").await;
    let pong = alice.expect("PONG").await;
    assert_eq!(pong.tag("label"), Some("abc"), "{pong}");
    assert_eq!(pong.last(), "x");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labeled_multi_reply_is_wrapped_in_a_batch() {
    let node = TestNode::default_open().await;
    let mut alice = node.register_with_caps("alice", &LABEL_CAPS).await;
    alice.join("#chan").await;
    alice.send("@label=b2 NAMES #chan").await;

    let start = alice.expect("BATCH").await;
    assert_eq!(
        start.tag("label"),
        Some("b2"),
        "the label goes on the BATCH start: {start}"
    );
    let reference = start
        .param(0)
        .strip_prefix('+')
        .unwrap_or_else(|| panic!("BATCH start is +ref: {start}"))
        .to_owned();
    assert_eq!(start.param(1), "labeled-response");

    let mut inner: Vec<Msg> = Vec::new();
    loop {
        let m = alice.recv().await;
        if m.command == "BATCH" {
            assert_eq!(
                m.param(0),
                format!("-{reference}"),
                "batch closed with its ref"
            );
            break;
        }
        assert_eq!(
            m.tag("batch"),
            Some(reference.as_str()),
            "inside the batch: {m}"
        );
        inner.push(m);
    }
    let cmds: Vec<&str> = inner.iter().map(|m| m.command.as_str()).collect();
    assert!(
        cmds.contains(&"353") && cmds.last() == Some(&"366"),
        "{cmds:?}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labeled_command_without_reply_gets_ack() {
    let node = TestNode::default_open().await;
    let alice = node.register_with_caps("alice", &LABEL_CAPS).await;
    let bob = node.register("bob").await;
    let [mut alice, mut bob] = join_all("#chan", [alice, bob]).await;
    alice.send("@label=c3 PRIVMSG #chan :no echo for me").await;
    let ack = alice
        .expect_where("ACK or an echo", |m| {
            m.command == "ACK" || m.command == "PRIVMSG"
        })
        .await;
    assert_eq!(
        ack.command, "ACK",
        "without echo-message the sender gets ACK: {ack}"
    );
    assert_eq!(ack.tag("label"), Some("c3"));
    let got = bob.expect_from("PRIVMSG", "alice").await;
    assert!(
        got.tag("label").is_none(),
        "labels never reach other clients: {got}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_prefix_shows_every_prefix_in_names() {
    let node = TestNode::default_open().await;
    let alice = node.register_with_caps("alice", &["multi-prefix"]).await;
    let bob = node.register("bob").await;
    let [mut alice, mut bob] = join_all("#chan", [alice, bob]).await;
    alice.send("MODE #chan +v alice").await;
    bob.expect_mode("alice", &["#chan", "+v", "alice"]).await;

    let names = alice.names("#chan").await;
    assert!(
        names.contains(&"@+alice".to_owned()),
        "multi-prefix NAMES: {names:?}"
    );
    let names = bob.names("#chan").await;
    assert!(
        names.contains(&"@alice".to_owned()),
        "highest prefix only: {names:?}"
    );

    alice.send("WHO #chan").await;
    let who = alice.collect_until("315").await;
    let own = who
        .iter()
        .find(|m| m.command == "352" && m.param(5) == "alice")
        .expect("352 for alice");
    assert!(
        own.param(6).contains("@+"),
        "multi-prefix applies to WHO flags: {own}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userhost_in_names_gives_full_masks() {
    let node = TestNode::default_open().await;
    let alice = node
        .register_with_caps("alice", &["userhost-in-names"])
        .await;
    let bob = node.register("bob").await;
    let [mut alice, _bob] = join_all("#chan", [alice, bob]).await;
    let names = alice.names("#chan").await;
    for entry in &names {
        let mask = entry.trim_start_matches(['@', '+']);
        let (nick, userhost) = mask
            .split_once('!')
            .unwrap_or_else(|| panic!("entry without !user@host: {entry}"));
        let (user, host) = userhost
            .split_once('@')
            .unwrap_or_else(|| panic!("entry without @host: {entry}"));
        assert!(["alice", "bob"].contains(&nick), "{entry}");
        assert!(user.ends_with(support::USERNAME), "{entry}");
        assert!(!host.is_empty(), "{entry}");
    }
    assert_eq!(names.len(), 2);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_join_carries_account_and_realname() {
    let node = TestNode::default_open().await;
    let mut alice = node.register_with_caps("alice", &["extended-join"]).await;
    let mut bob = node.register("bob").await;
    alice.join("#chan").await;
    bob.join("#chan").await;
    let join = alice.expect_join("bob", "#chan").await;
    assert_eq!(
        join.params,
        vec!["#chan".to_owned(), "*".to_owned(), realname("bob")]
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn away_notify_reports_away_changes_of_channel_peers() {
    let node = TestNode::default_open().await;
    let alice = node.register_with_caps("alice", &["away-notify"]).await;
    let bob = node.register("bob").await;
    let [mut alice, mut bob] = join_all("#chan", [alice, bob]).await;

    bob.send("AWAY :out to lunch").await;
    bob.expect("306").await;
    let m = alice.expect_from("AWAY", "bob").await;
    assert_eq!(m.params, vec!["out to lunch"]);
    bob.send("AWAY").await;
    bob.expect("305").await;
    let m = alice.expect_from("AWAY", "bob").await;
    assert!(
        m.params.is_empty(),
        "back from away is AWAY without params: {m}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setname_changes_the_realname_and_is_broadcast() {
    let node = TestNode::default_open().await;
    let alice = node.register_with_caps("alice", &["setname"]).await;
    let bob = node.register_with_caps("bob", &["setname"]).await;
    let carol = node.register("carol").await;
    let [mut alice, mut bob, mut carol] = join_all("#chan", [alice, bob, carol]).await;

    bob.send("SETNAME :Robert Tables").await;
    let own = bob.expect_from("SETNAME", "bob").await;
    assert_eq!(own.params, vec!["Robert Tables"]);
    let m = alice.expect_from("SETNAME", "bob").await;
    assert_eq!(m.params, vec!["Robert Tables"]);
    let seen = carol.sync().await;
    assert!(
        seen.iter().all(|m| m.command != "SETNAME"),
        "SETNAME sent to a client without the cap: {seen:?}"
    );

    alice.send("WHOIS bob").await;
    let whois = alice.expect("311").await;
    assert_eq!(whois.last(), "Robert Tables");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_notify_tells_channel_operators() {
    let node = TestNode::default_open().await;
    let alice = node.register("alice").await;
    let carol = node.register_with_caps("carol", &["invite-notify"]).await;
    let [mut alice, mut carol] = join_all("#chan", [alice, carol]).await;
    let mut bob = node.register("bob").await;
    alice.send("MODE #chan +o carol").await;
    carol.expect_mode("alice", &["#chan", "+o", "carol"]).await;
    alice.send_sync("MODE #chan +i").await;

    alice.send("INVITE bob #chan").await;
    alice.expect("341").await;
    bob.expect_from("INVITE", "alice").await;
    let note = carol.expect_from("INVITE", "alice").await;
    assert_eq!(note.params, vec!["bob", "#chan"]);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_notify_is_advertised_and_302_values_are_well_formed() {
    let node = TestNode::default_open().await;
    let mut c = node.connect().await;
    c.send("CAP LS 302").await;
    let caps = c.read_cap_ls().await;
    assert!(caps.contains_key("cap-notify"), "{caps:?}");
    for (name, value) in &caps {
        assert!(!name.is_empty() && !name.contains(' '), "cap name {name:?}");
        assert!(!value.contains(' '), "cap value {value:?} of {name}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_can_be_negotiated_after_registration() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = node.channel("#chan", ["alice", "bob"]).await;
    bob.send("CAP REQ :server-time").await;
    let ack = bob.expect("CAP").await;
    assert_eq!(ack.param(0), "bob");
    assert_eq!(ack.param(1), "ACK");
    alice.send("PRIVMSG #chan :now with time").await;
    let m = bob.expect_from("PRIVMSG", "alice").await;
    assert!(m.tag("time").is_some_and(is_server_time), "{m}");
    node.shutdown().await;
}
