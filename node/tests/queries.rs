//! Query and operator commands: WHO/WHOX, WHOIS, WHOWAS, AWAY, ISON, USERHOST, MONITOR, OPER,
//! KILL, server information, user modes and REHASH.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;
use support::config::{OPER_NAME, OPER_PASSWORD};
use support::msg::Msg;
use support::{realname, Client, TestNode, USERNAME};

async fn oper_up(c: &mut Client) {
    c.send(&format!("OPER {OPER_NAME} {OPER_PASSWORD}")).await;
    let m = c.expect_numeric_or(&["381", "464", "491"]).await;
    assert_eq!(m.command, "381", "OPER with the right password: {m}");
}

fn nicks_in(list: &str) -> BTreeSet<String> {
    list.split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(|s| s.split('!').next().unwrap_or(s).to_lowercase())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_channel_lists_members_with_352_and_315() {
    let node = TestNode::default_open().await;
    let [mut alice, _bob] = node.channel("#chan", ["alice", "bob"]).await;
    alice.send("WHO #chan").await;
    let replies = alice.collect_until("315").await;
    let rows: Vec<&Msg> = replies.iter().filter(|m| m.command == "352").collect();
    let nicks: BTreeSet<&str> = rows.iter().map(|m| m.param(5)).collect();
    assert_eq!(nicks, BTreeSet::from(["alice", "bob"]));
    for row in &rows {
        assert_eq!(row.param(0), "alice");
        assert_eq!(row.param(1), "#chan");
        assert!(row.param(2).ends_with(USERNAME), "{row}");
        assert!(row.param(6).starts_with('H'), "here, not gone: {row}");
        let (hops, real) = row.last().split_once(' ').expect("hopcount realname");
        assert!(hops.parse::<u32>().is_ok(), "{row}");
        assert_eq!(real, realname(row.param(5)));
    }
    let op = rows
        .iter()
        .find(|m| m.param(5) == "alice")
        .expect("alice row");
    assert!(op.param(6).contains('@'), "the op has @ in WHO flags: {op}");
    let end = replies.last().expect("315");
    assert_eq!(end.param(1), "#chan");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whox_returns_requested_fields_with_the_token() {
    let node = TestNode::default_open().await;
    let [mut alice, _bob] = node.channel("#chan", ["alice", "bob"]).await;
    assert!(
        alice.isupport.contains_key("WHOX"),
        "WHOX is advertised in ISUPPORT"
    );
    alice.send("WHO #chan %tnuhraf,42").await;
    let replies = alice.collect_until("315").await;
    let rows: Vec<&Msg> = replies.iter().filter(|m| m.command == "354").collect();
    assert_eq!(rows.len(), 2, "{replies:?}");
    // Fields come in the fixed order t, u, h, n, f, a, r whatever order they were asked in.
    for row in rows {
        assert_eq!(row.params.len(), 8, "{row}");
        assert_eq!(row.param(1), "42", "the query token comes back: {row}");
        assert!(row.param(2).ends_with(USERNAME), "{row}");
        let nick = row.param(4);
        assert!(nick == "alice" || nick == "bob", "{row}");
        assert!(row.param(5).starts_with('H'), "{row}");
        assert_eq!(row.param(6), "0", "not logged in: {row}");
        assert_eq!(row.param(7), realname(nick));
    }
    assert!(
        replies.iter().all(|m| m.command != "352"),
        "WHOX replaces 352"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whois_gives_user_server_channels_and_end() {
    let node = TestNode::default_open().await;
    let [mut bob, mut alice] = node.channel("#chan", ["bob", "alice"]).await;
    alice.send("WHOIS bob").await;
    let replies = alice.collect_until("318").await;
    let find = |c: &str| {
        replies
            .iter()
            .find(|m| m.command == c)
            .unwrap_or_else(|| panic!("WHOIS lacks {c}: {replies:?}"))
    };
    let user = find("311");
    assert_eq!(user.param(1), "bob");
    assert!(user.param(2).ends_with(USERNAME));
    assert_eq!(user.last(), realname("bob"));
    assert_eq!(find("312").param(1), "bob");
    let chans = find("319");
    assert!(
        chans.last().split_whitespace().any(|c| c == "@#chan"),
        "{chans}"
    );
    assert!(replies
        .iter()
        .all(|m| m.command != "301" && m.command != "313"));

    bob.send("AWAY :not here").await;
    bob.expect("306").await;
    oper_up(&mut bob).await;
    alice.send("WHOIS bob").await;
    let replies = alice.collect_until("318").await;
    let away = replies
        .iter()
        .find(|m| m.command == "301")
        .expect("301 when away");
    assert_eq!(away.params[1..], ["bob", "not here"]);
    assert!(
        replies.iter().any(|m| m.command == "313"),
        "313 for an oper: {replies:?}"
    );

    alice.send("WHOIS nobody").await;
    let err = alice.expect_numeric_or(&["401", "311"]).await;
    assert_eq!(err.command, "401");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whowas_remembers_a_quit_user() {
    let node = TestNode::default_open().await;
    let [mut alice, bob] = node.channel("#chan", ["alice", "bob"]).await;
    bob.quit("bye").await;
    alice.expect_from("QUIT", "bob").await;

    alice.send("WHOWAS bob").await;
    let replies = alice.collect_until("369").await;
    let was = replies
        .iter()
        .find(|m| m.command == "314")
        .unwrap_or_else(|| panic!("no 314: {replies:?}"));
    assert_eq!(was.param(1), "bob");
    assert!(was.param(2).ends_with(USERNAME));
    assert_eq!(was.last(), realname("bob"));

    alice.send("WHOWAS neverseen").await;
    let replies = alice.collect_until("369").await;
    assert!(replies.iter().any(|m| m.command == "406"), "{replies:?}");
    assert!(replies.iter().all(|m| m.command != "314"));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn away_sets_and_clears_and_is_reported_to_senders() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let mut bob = node.register("bob").await;
    bob.send("AWAY :gone fishing").await;
    assert_eq!(bob.expect("306").await.param(0), "bob");

    alice.send("PRIVMSG bob :are you there?").await;
    let away = alice.expect("301").await;
    assert_eq!(away.params[1..], ["bob", "gone fishing"]);
    bob.expect_from("PRIVMSG", "alice").await;

    alice.send("USERHOST bob").await;
    let uh = alice.expect("302").await;
    assert!(uh.last().starts_with("bob=-"), "away users show '-': {uh}");

    bob.send("AWAY").await;
    bob.expect("305").await;
    alice.send("PRIVMSG bob :back?").await;
    let seen = alice.sync().await;
    assert!(seen.iter().all(|m| m.command != "301"), "{seen:?}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ison_and_userhost() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let _bob = node.register("bob").await;
    alice.send("ISON alice BOB nobody").await;
    let ison = alice.expect("303").await;
    assert_eq!(
        nicks_in(ison.last()),
        BTreeSet::from(["alice".into(), "bob".into()])
    );

    alice.send("USERHOST bob nobody").await;
    let uh = alice.expect("302").await;
    let entries: Vec<&str> = uh.last().split_whitespace().collect();
    assert_eq!(entries.len(), 1, "unknown nicks are skipped: {uh}");
    let (nick, rest) = entries[0].split_once('=').expect("nick=+user@host");
    assert_eq!(nick, "bob");
    assert!(rest.starts_with('+'), "here, not away: {uh}");
    assert!(rest[1..].contains('@'), "{uh}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_tracks_nicks_coming_and_going() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let _bob = node.register("bob").await;
    assert!(
        alice.isupport.contains_key("MONITOR"),
        "MONITOR in ISUPPORT"
    );

    alice.send("MONITOR + bob,carol").await;
    let replies = alice.expect_all(&["730", "731"]).await;
    let online = replies.iter().find(|m| m.command == "730").expect("730");
    assert_eq!(nicks_in(online.last()), BTreeSet::from(["bob".into()]));
    let offline = replies.iter().find(|m| m.command == "731").expect("731");
    assert_eq!(nicks_in(offline.last()), BTreeSet::from(["carol".into()]));

    let carol = node.register("carol").await;
    let on = alice.expect("730").await;
    assert_eq!(nicks_in(on.last()), BTreeSet::from(["carol".into()]));
    carol.quit("leaving").await;
    let off = alice.expect("731").await;
    assert_eq!(nicks_in(off.last()), BTreeSet::from(["carol".into()]));

    alice.send("MONITOR L").await;
    let listed = alice.collect_until("733").await;
    let all: BTreeSet<String> = listed
        .iter()
        .filter(|m| m.command == "732")
        .flat_map(|m| nicks_in(m.last()))
        .collect();
    assert_eq!(all, BTreeSet::from(["bob".into(), "carol".into()]));

    alice.send("MONITOR - bob").await;
    alice.send("MONITOR L").await;
    let listed = alice.collect_until("733").await;
    let all: BTreeSet<String> = listed
        .iter()
        .filter(|m| m.command == "732")
        .flat_map(|m| nicks_in(m.last()))
        .collect();
    assert_eq!(all, BTreeSet::from(["carol".into()]));

    alice.send("MONITOR C").await;
    alice.send("MONITOR L").await;
    let listed = alice.collect_until("733").await;
    assert!(listed.iter().all(|m| m.command != "732"), "{listed:?}");
    // Cleared: carol coming back is not reported.
    let _carol = node.register("carol").await;
    let seen = alice.sync().await;
    assert!(seen.iter().all(|m| m.command != "730"), "{seen:?}");
    alice.assert_silent(Duration::from_millis(200)).await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oper_succeeds_with_the_right_password() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    oper_up(&mut alice).await;
    alice.send("MODE alice").await;
    let modes = alice.expect("221").await;
    assert!(modes.param(1).contains('o'), "opers have +o: {modes}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oper_with_a_wrong_password_is_refused() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    alice.send(&format!("OPER {OPER_NAME} wrong")).await;
    // RFC 2812 and modern.ircdocs say 464; Ergo and InspIRCd answer 491 for every failure.
    let err = alice.expect_numeric_or(&["381", "464", "491"]).await;
    assert_ne!(err.command, "381", "{err}");
    alice.send("MODE alice").await;
    assert!(!alice.expect("221").await.param(1).contains('o'));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oper_from_a_host_without_an_oper_block_gets_491() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    // `farhost` exists but only for 192.0.2.1.
    alice.send(&format!("OPER farhost {OPER_PASSWORD}")).await;
    let err = alice.expect_numeric_or(&["381", "464", "491"]).await;
    assert_eq!(err.command, "491", "{err}");

    // An unknown oper name is refused too (491, or 464 so names cannot be probed).
    let mut bob = node.register("bob").await;
    bob.send(&format!("OPER nosuchoper {OPER_PASSWORD}")).await;
    let err = bob.expect_numeric_or(&["381", "464", "491"]).await;
    assert_ne!(err.command, "381", "{err}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_by_an_oper_disconnects_the_victim() {
    let node = TestNode::default_open().await;
    let [mut carol, mut bob] = node.channel("#chan", ["carol", "bob"]).await;
    let mut alice = node.register("alice").await;
    oper_up(&mut alice).await;

    alice.send("KILL bob :spamming").await;
    let error = bob.expect_disconnect().await;
    assert!(error.is_some(), "the victim gets an ERROR line");
    let quit = carol.expect_from("QUIT", "bob").await;
    assert!(
        quit.last().contains("spamming"),
        "the QUIT carries the kill reason: {quit}"
    );
    let seen = alice.sync().await;
    assert!(
        seen.iter().all(|m| !support::is_error_numeric(&m.command)),
        "{seen:?}"
    );

    alice.send("KILL nobody :x").await;
    assert_eq!(alice.expect("401").await.param(1), "nobody");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_by_a_non_oper_gets_481() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let mut bob = node.register("bob").await;
    alice.send("KILL bob :nope").await;
    alice.expect("481").await;
    let seen = bob.sync().await;
    assert!(seen.iter().all(|m| m.command != "ERROR"));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_information_commands() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;

    alice.send("VERSION").await;
    let version = alice.expect("351").await;
    assert_eq!(version.param(0), "alice");
    assert!(version.params.len() >= 3, "{version}");
    alice.sync().await; // VERSION may be followed by 005 lines

    alice.send("TIME").await;
    let time = alice.expect("391").await;
    assert_eq!(time.param(0), "alice");
    assert!(time.params.len() >= 3, "{time}");

    alice.send("INFO").await;
    let info = alice.collect_until("374").await;
    assert!(info.iter().any(|m| m.command == "371"), "{info:?}");

    alice.send("ADMIN").await;
    let admin = alice.expect_all(&["256", "257", "258", "259"]).await;
    assert_eq!(admin[0].command, "256", "ADMIN starts with 256: {admin:?}");

    alice.send("LUSERS").await;
    let lusers = alice.expect_all(&["251", "252", "253", "254", "255"]).await;
    assert!(lusers.iter().all(|m| m.param(0) == "alice"));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lusers_counts_opers_and_channels() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    alice.join("#one").await;
    alice.join("#two").await;
    oper_up(&mut alice).await;
    alice.send("LUSERS").await;
    let lusers = alice.expect_all(&["252", "254", "255"]).await;
    let count = |c: &str| {
        lusers
            .iter()
            .find(|m| m.command == c)
            .expect(c)
            .param(1)
            .to_owned()
    };
    assert_eq!(count("252"), "1", "one oper");
    assert_eq!(count("254"), "2", "two channels");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_modes_can_be_set_and_queried_only_for_oneself() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let _bob = node.register("bob").await;

    alice.send("MODE alice +iw").await;
    let change = alice.expect_from("MODE", "alice").await;
    assert_eq!(change.param(0), "alice");
    alice.send("MODE alice").await;
    let modes = alice.expect("221").await;
    assert!(modes.param(1).starts_with('+'), "{modes}");
    assert!(
        modes.param(1).contains('i') && modes.param(1).contains('w'),
        "{modes}"
    );

    alice.send("MODE alice -w").await;
    alice.expect_from("MODE", "alice").await;
    alice.send("MODE alice").await;
    let modes = alice.expect("221").await;
    assert!(
        modes.param(1).contains('i') && !modes.param(1).contains('w'),
        "{modes}"
    );

    alice.send("MODE bob").await;
    alice.expect("502").await;
    alice.send("MODE bob +i").await;
    alice.expect("502").await;
    // Opering is not a user mode anyone can grant themselves.
    alice.send_sync("MODE alice +o").await;
    alice.send("MODE alice").await;
    assert!(!alice.expect("221").await.param(1).contains('o'));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehash_needs_an_oper() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    alice.send("REHASH").await;
    alice.expect("481").await;
    oper_up(&mut alice).await;
    alice.send("REHASH").await;
    let done = alice.expect_numeric_or(&["382", "481"]).await;
    assert_eq!(done.command, "382", "{done}");
    // The node still serves after a rehash.
    let mut bob = node.register("bob").await;
    bob.send("PRIVMSG alice :after rehash").await;
    alice.expect_from("PRIVMSG", "bob").await;
    node.shutdown().await;
}
