//! Tenant isolation: two tenant networks on one node share nothing a client can observe.

mod support;

use std::time::Duration;
use support::config::{node_toml, tenant_toml, FLOOD_OFF};
use support::{Client, TestNode};

async fn two_tenants() -> TestNode {
    TestNode::start(&node_toml(&[
        tenant_toml("alpha", "AlphaNet", Some("alpha motd text"), FLOOD_OFF),
        tenant_toml("beta", "BetaNet", Some("beta motd text"), FLOOD_OFF),
    ]))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_has_its_own_listener_network_name_and_motd() {
    let node = two_tenants().await;
    assert_ne!(node.tenant_addr("alpha"), node.tenant_addr("beta"));
    let a = Client::register(node.tenant_addr("alpha"), "alice").await;
    let b = Client::register(node.tenant_addr("beta"), "alice").await;

    assert_eq!(
        a.isupport.get("NETWORK").map(String::as_str),
        Some("AlphaNet")
    );
    assert_eq!(
        b.isupport.get("NETWORK").map(String::as_str),
        Some("BetaNet")
    );
    let motd = |c: &Client| -> String {
        c.registration
            .iter()
            .filter(|m| m.command == "372")
            .map(|m| m.last().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        motd(&a).contains("alpha motd text") && !motd(&a).contains("beta"),
        "{}",
        motd(&a)
    );
    assert!(
        motd(&b).contains("beta motd text") && !motd(&b).contains("alpha"),
        "{}",
        motd(&b)
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_nick_and_channel_in_two_tenants_do_not_collide() {
    let node = two_tenants().await;
    let mut a_alice = Client::register(node.tenant_addr("alpha"), "alice").await;
    let mut b_alice = Client::register(node.tenant_addr("beta"), "alice").await;
    // Both create #chan and both get ops: it is a new channel in each tenant.
    assert_eq!(a_alice.join("#chan").await, vec!["@alice".to_owned()]);
    assert_eq!(b_alice.join("#chan").await, vec!["@alice".to_owned()]);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_and_private_messages_never_cross_tenants() {
    let node = two_tenants().await;
    let (alpha, beta) = (node.tenant_addr("alpha"), node.tenant_addr("beta"));
    let a_alice = Client::register(alpha, "alice").await;
    let a_bob = Client::register(alpha, "bob").await;
    let b_alice = Client::register(beta, "alice").await;
    let b_carol = Client::register(beta, "carol").await;
    let [mut a_alice, mut a_bob] = support::join_all("#chan", [a_alice, a_bob]).await;
    let [mut b_alice, mut b_carol] = support::join_all("#chan", [b_alice, b_carol]).await;

    a_alice.send("PRIVMSG #chan :secret of alpha").await;
    a_alice.send("PRIVMSG alice :note to self in alpha").await;
    a_alice.send("PRIVMSG carol :are you there?").await;
    let m = a_bob.expect_from("PRIVMSG", "alice").await;
    assert_eq!(m.last(), "secret of alpha");
    let err = a_alice.expect("401").await;
    assert_eq!(err.param(1), "carol", "carol exists only in beta");

    // Beta's members see nothing of it, even the user who shares alice's nick.
    for c in [&mut b_alice, &mut b_carol] {
        let seen = c.sync().await;
        assert!(seen.is_empty(), "alpha traffic reached beta: {seen:?}");
        c.assert_silent(Duration::from_millis(200)).await;
    }
    b_alice.send("PRIVMSG #chan :hello beta").await;
    let m = b_carol.expect_from("PRIVMSG", "alice").await;
    assert_eq!(m.last(), "hello beta");
    let seen = a_bob.sync().await;
    assert!(seen.is_empty(), "beta traffic reached alpha: {seen:?}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_in_one_tenant_show_nothing_of_the_other() {
    let node = two_tenants().await;
    let (alpha, beta) = (node.tenant_addr("alpha"), node.tenant_addr("beta"));
    let a_dave = Client::register(alpha, "dave").await;
    let a_alice = Client::register(alpha, "alice").await;
    let [_a_dave, _a_alice] = support::join_all("#alpha-only", [a_dave, a_alice]).await;
    let mut b_alice = Client::register(beta, "alice").await;
    b_alice.join("#chan").await;

    // NAMES: the alpha channel does not exist here, and beta's #chan has only beta members.
    assert!(b_alice.names("#alpha-only").await.is_empty());
    assert_eq!(b_alice.names("#chan").await, vec!["@alice".to_owned()]);

    // WHO shows no alpha users, by channel or by nick.
    b_alice.send("WHO #alpha-only").await;
    let who = b_alice.collect_until("315").await;
    assert!(who.iter().all(|m| m.command != "352"), "{who:?}");
    b_alice.send("WHO dave").await;
    let who = b_alice.collect_until("315").await;
    assert!(who.iter().all(|m| m.command != "352"), "{who:?}");

    // WHOIS of a nick that only exists in alpha.
    b_alice.send("WHOIS dave").await;
    let err = b_alice.expect_numeric_or(&["401", "311"]).await;
    assert_eq!(err.command, "401", "{err}");
    assert_eq!(err.param(1), "dave");

    // LIST shows beta's channel only.
    b_alice.send("LIST").await;
    let list = b_alice.collect_until("323").await;
    let channels: Vec<&str> = list
        .iter()
        .filter(|m| m.command == "322")
        .map(|m| m.param(1))
        .collect();
    assert_eq!(channels, vec!["#chan"]);

    // ISON and a JOIN to the alpha channel name create nothing shared.
    b_alice.send("ISON dave alice").await;
    let ison = b_alice.expect("303").await;
    assert_eq!(
        ison.last().split_whitespace().collect::<Vec<_>>(),
        vec!["alice"]
    );
    assert_eq!(b_alice.join("#alpha-only").await, vec!["@alice".to_owned()]);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lusers_counts_only_the_own_tenant() {
    let node = two_tenants().await;
    let (alpha, beta) = (node.tenant_addr("alpha"), node.tenant_addr("beta"));
    let mut a1 = Client::register(alpha, "a1").await;
    a1.join("#one").await;
    let mut a2 = Client::register(alpha, "a2").await;
    a2.join("#two").await;
    let b = Client::register(beta, "b1").await;
    let channels = b
        .registration
        .iter()
        .find(|m| m.command == "254")
        .expect("254 in the burst");
    assert_eq!(channels.param(1), "0", "beta has no channels: {channels}");
    node.shutdown().await;
}
