//! Connection registration, ISUPPORT, LUSERS, MOTD, PING, nick errors and CAP negotiation.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;
use support::config::{node_toml, tenant_toml, FLOOD_OFF};
use support::msg::Msg;
use support::{realname, TestNode, USERNAME};

fn commands(msgs: &[Msg]) -> Vec<&str> {
    msgs.iter().map(|m| m.command.as_str()).collect()
}

/// The position of the first message with `command`, failing with the burst if absent.
fn position(msgs: &[Msg], command: &str) -> usize {
    msgs.iter()
        .position(|m| m.command == command)
        .unwrap_or_else(|| panic!("no {command} in {:?}", commands(msgs)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn welcome_burst_is_001_to_005_then_lusers_then_motd() {
    let node = TestNode::default_open().await;
    let alice = node.register("alice").await;
    let burst = &alice.registration;

    let order: Vec<usize> = [
        "001", "002", "003", "004", "005", "251", "252", "253", "254", "255", "375", "372", "376",
    ]
    .iter()
    .map(|c| position(burst, c))
    .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted, "burst out of order: {:?}", commands(burst));

    let welcome = &burst[position(burst, "001")];
    assert_eq!(welcome.param(0), "alice", "001 must address the new nick");
    let myinfo = &burst[position(burst, "004")];
    assert!(
        myinfo.params.len() >= 5,
        "004 needs client, server, version, user and channel modes: {myinfo}"
    );

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isupport_advertises_the_required_tokens() {
    let node = TestNode::default_open().await;
    let alice = node.register("alice").await;
    let is = &alice.isupport;

    for key in [
        "NETWORK",
        "CASEMAPPING",
        "CHANTYPES",
        "CHANMODES",
        "PREFIX",
        "NICKLEN",
        "CHANNELLEN",
        "TOPICLEN",
        "TARGMAX",
        "MODES",
        "MAXLIST",
        "UTF8ONLY",
    ] {
        assert!(is.contains_key(key), "ISUPPORT lacks {key}: {is:?}");
    }
    assert_eq!(is["NETWORK"], "TestNet");
    assert_eq!(is["CASEMAPPING"], "rfc1459");
    assert!(is["CHANTYPES"].contains('#'));
    let groups: Vec<&str> = is["CHANMODES"].split(',').collect();
    assert_eq!(
        groups.len(),
        4,
        "CHANMODES has four groups: {}",
        is["CHANMODES"]
    );
    assert!(
        groups[0].contains('b') && groups[0].contains('e'),
        "b and e are list modes"
    );
    assert!(groups[1].contains('k'), "k always takes a parameter");
    assert!(groups[2].contains('l'), "l takes a parameter only when set");
    for flag in ['i', 'm', 'n', 's', 't'] {
        assert!(
            groups[3].contains(flag),
            "{flag} is a flag mode: {}",
            is["CHANMODES"]
        );
    }
    let prefix = &is["PREFIX"];
    assert!(prefix.starts_with('('), "PREFIX=(modes)symbols: {prefix}");
    let (modes, symbols) = prefix[1..].split_once(')').expect("PREFIX=(modes)symbols");
    assert_eq!(modes.len(), symbols.len());
    let pairs: Vec<(char, char)> = modes.chars().zip(symbols.chars()).collect();
    assert!(
        pairs.contains(&('o', '@')) && pairs.contains(&('v', '+')),
        "{prefix}"
    );
    assert_eq!(is["NICKLEN"], "32");
    assert_eq!(is["CHANNELLEN"], "64");
    assert_eq!(is["TOPICLEN"], "390");
    assert!(
        is["TARGMAX"].split(',').any(|t| t.starts_with("PRIVMSG:")),
        "TARGMAX names PRIVMSG: {}",
        is["TARGMAX"]
    );
    assert!(
        is["MAXLIST"].contains('b'),
        "MAXLIST covers bans: {}",
        is["MAXLIST"]
    );

    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motd_lines_come_from_the_config() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let motd: Vec<&str> = alice
        .registration
        .iter()
        .filter(|m| m.command == "372")
        .map(|m| m.last())
        .collect();
    assert!(motd.iter().any(|l| l.contains("line one")), "{motd:?}");
    assert!(motd.iter().any(|l| l.contains("line two")), "{motd:?}");

    alice.send("MOTD").await;
    let again = alice.collect_until("376").await;
    let lines: Vec<&str> = again
        .iter()
        .filter(|m| m.command == "372")
        .map(|m| m.last())
        .collect();
    assert!(
        again.iter().any(|m| m.command == "375"),
        "MOTD starts with 375"
    );
    assert!(lines.iter().any(|l| l.contains("line two")), "{lines:?}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_motd_gives_422() {
    let toml = node_toml(&[tenant_toml("default", "TestNet", Some(""), FLOOD_OFF)]);
    let node = TestNode::start(&toml).await;
    let alice = node.register("alice").await;
    let last = alice.registration.last().expect("burst");
    assert_eq!(last.command, "422", "an empty MOTD is reported with 422");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_is_answered_with_the_same_token() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    alice.send("PING :hello-token-42").await;
    let pong = alice.expect("PONG").await;
    assert_eq!(pong.last(), "hello-token-42");

    // PING is allowed before registration too.
    let mut early = node.connect().await;
    early.send("PING early").await;
    let pong = early.expect("PONG").await;
    assert_eq!(pong.last(), "early");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nick_in_use_gives_433_and_another_nick_still_registers() {
    let node = TestNode::default_open().await;
    let _alice = node.register("alice").await;

    let mut c = node.connect().await;
    c.send("NICK ALICE").await; // rfc1459 casemapping: same nick
    c.send(&format!("USER {USERNAME} 0 * :{}", realname("x")))
        .await;
    let err = c.expect("433").await;
    assert_eq!(
        err.param(0),
        "*",
        "an unregistered client is addressed as *"
    );
    assert!(err.param(1).eq_ignore_ascii_case("alice"));
    c.send("NICK alice2").await;
    let welcome = c.expect("001").await;
    assert_eq!(welcome.param(0), "alice2");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nick_change_to_a_taken_nick_gives_433() {
    let node = TestNode::default_open().await;
    let _alice = node.register("alice").await;
    let mut bob = node.register("bob").await;
    bob.send("NICK Alice").await;
    let err = bob.expect("433").await;
    assert_eq!(err.param(0), "bob");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc1459_casemapping_treats_brackets_as_case() {
    let node = TestNode::default_open().await;
    let _a = node.register("nick[a]").await;
    let mut c = node.connect().await;
    c.send("NICK NICK{A}").await;
    c.send(&format!("USER {USERNAME} 0 * :x")).await;
    c.expect("433").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erroneous_nicks_give_432() {
    let node = TestNode::default_open().await;
    let mut c = node.connect().await;
    // A channel prefix, the separators of nick!user@host, the target separator and wildcards.
    for bad in [
        "#chan", "bad!nick", "bad@nick", "bad,nick", "bad*nick", "bad?nick",
    ] {
        c.send(&format!("NICK {bad}")).await;
        let err = c.expect_numeric_or(&["432", "001", "433"]).await;
        assert_eq!(err.command, "432", "nick {bad:?} must be refused: {err}");
    }
    // A nick starting with ':' can only be sent as a trailing parameter.
    c.send("NICK ::colon").await;
    let err = c.expect_numeric_or(&["432", "001", "433"]).await;
    assert_eq!(err.command, "432", "nick \":colon\" must be refused: {err}");
    let too_long = "n".repeat(33); // NICKLEN is 32
    c.send(&format!("NICK {too_long}")).await;
    let err = c.expect_numeric_or(&["432", "433"]).await;
    assert_eq!(
        err.command, "432",
        "a nick longer than NICKLEN is erroneous, not truncated"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_nick_gives_431() {
    let node = TestNode::default_open().await;
    let mut c = node.connect().await;
    c.send("NICK :").await;
    c.expect("431").await;
    let mut alice = node.register("alice").await;
    alice.send("NICK :").await;
    let err = alice.expect("431").await;
    assert_eq!(err.param(0), "alice");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_before_registration_give_451() {
    let node = TestNode::default_open().await;
    let mut c = node.connect().await;
    for line in [
        "JOIN #chan",
        "PRIVMSG someone :hi",
        "WHOIS someone",
        "MODE #chan",
    ] {
        c.send(line).await;
        let err = c.expect_numeric_or(&["451", "421"]).await;
        assert_eq!(err.command, "451", "{line} before registration: {err}");
    }
    // And the connection can still register afterwards.
    c.send("NICK late").await;
    c.send(&format!("USER {USERNAME} 0 * :x")).await;
    c.expect("001").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_and_user_after_registration_give_462() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    alice.send("PASS something").await;
    let err = alice.expect("462").await;
    assert_eq!(err.param(0), "alice");
    alice.send(&format!("USER {USERNAME} 0 * :again")).await;
    alice.expect("462").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_gets_error_and_close() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    alice.send("QUIT :see you").await;
    let error = alice.expect_disconnect().await;
    assert!(
        error.is_some(),
        "QUIT is answered with an ERROR line before the close"
    );

    // Quitting before registration closes too.
    let mut early = node.connect().await;
    early.send("QUIT").await;
    early.expect_disconnect().await;
    node.shutdown().await;
}

const REQUIRED_CAPS: [&str; 16] = [
    "cap-notify",
    "message-tags",
    "server-time",
    "echo-message",
    "multi-prefix",
    "userhost-in-names",
    "extended-join",
    "away-notify",
    "account-tag",
    "account-notify",
    "batch",
    "labeled-response",
    "invite-notify",
    "setname",
    "chghost",
    "standard-replies",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_ls_302_lists_the_supported_caps() {
    let node = TestNode::default_open().await;
    let mut c = node.connect().await;
    c.send("CAP LS 302").await;
    let caps = c.read_cap_ls().await;
    for cap in REQUIRED_CAPS {
        assert!(caps.contains_key(cap), "CAP LS lacks {cap}: {caps:?}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_advertised_cap_can_be_requested() {
    let node = TestNode::default_open().await;
    let c = node.register_with_caps("alice", &REQUIRED_CAPS).await;
    assert_eq!(c.nick, "alice");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_req_is_acked_or_naked_atomically() {
    let node = TestNode::default_open().await;
    let mut c = node.connect().await;
    c.send("CAP LS 302").await;
    c.read_cap_ls().await;

    c.send("CAP REQ :server-time").await;
    let ack = c.expect("CAP").await;
    assert_eq!(ack.param(1), "ACK");
    assert_eq!(ack.last().trim(), "server-time");

    c.send("CAP REQ :no-such-cap").await;
    let nak = c.expect("CAP").await;
    assert_eq!(nak.param(1), "NAK");
    assert_eq!(nak.last().trim(), "no-such-cap");

    // A request with one unknown cap is refused whole: echo-message must not be enabled.
    c.send("CAP REQ :echo-message no-such-cap").await;
    let nak = c.expect("CAP").await;
    assert_eq!(nak.param(1), "NAK", "{nak}");

    c.send("CAP LIST").await;
    let list = c.expect("CAP").await;
    assert_eq!(list.param(1), "LIST");
    let enabled: BTreeSet<&str> = list.last().split_whitespace().collect();
    assert!(enabled.contains("server-time"), "{list}");
    assert!(
        !enabled.contains("echo-message"),
        "a NAKed request changed state: {list}"
    );

    // Disabling with `-cap`.
    c.send("CAP REQ :-server-time").await;
    let ack = c.expect("CAP").await;
    assert_eq!(ack.param(1), "ACK");
    c.send("CAP LIST").await;
    let list = c.expect("CAP").await;
    assert!(
        !list.last().split_whitespace().any(|x| x == "server-time"),
        "{list}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_waits_for_cap_end() {
    let node = TestNode::default_open().await;
    let mut c = node.connect().await;
    c.send("CAP LS 302").await;
    c.read_cap_ls().await;
    c.send("NICK alice").await;
    c.send(&format!("USER {USERNAME} 0 * :{}", realname("alice")))
        .await;
    // Nothing at all may come back (no 001, no error) while negotiation is open.
    c.assert_silent(Duration::from_millis(500)).await;
    c.send("CAP END").await;
    let welcome = c.expect("001").await;
    assert_eq!(welcome.param(0), "alice");
    node.shutdown().await;
}
