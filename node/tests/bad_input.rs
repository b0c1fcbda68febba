//! Hostile or broken input: over-long lines, bad encodings, NUL bytes, floods, slow readers and
//! connection limits. The node must answer with errors, never panic, and keep serving others.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::config::{node_toml, open_tenant, tenant_toml};
use support::{Client, TestNode};
use tokio::time::Instant;

/// Alice and bob share #chan; returns after both joined.
async fn pair(node: &TestNode) -> [Client; 2] {
    node.channel("#chan", ["alice", "bob"]).await
}

/// Alice sends a marker; bob's next PRIVMSG must be that marker, proving nothing else got through.
async fn assert_next_privmsg_is_marker(alice: &mut Client, bob: &mut Client) {
    alice.send("PRIVMSG #chan :marker").await;
    let m = bob.expect("PRIVMSG").await;
    assert_eq!(
        m.last(),
        "marker",
        "bob got a message that should have been refused: {m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_line_gets_417_and_the_connection_stays_usable() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = pair(&node).await;
    alice
        .send(&format!("PRIVMSG #chan :{}", "x".repeat(600)))
        .await;
    let err = alice.expect_numeric_or(&["417", "PONG"]).await;
    assert_eq!(err.command, "417", "{err}");
    let pong = alice.sync().await;
    assert!(pong.iter().all(|m| m.command != "ERROR"), "{pong:?}");
    assert_next_privmsg_is_marker(&mut alice, &mut bob).await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_of_exactly_512_bytes_is_within_the_limit() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    let prefix = "PRIVMSG nobody :";
    let line = format!("{prefix}{}", "y".repeat(512 - 2 - prefix.len()));
    assert_eq!(line.len() + 2, 512);
    alice.send(&line).await;
    // The line is parsed and handled (no such nick), not refused as too long.
    let reply = alice.expect_numeric_or(&["401", "417"]).await;
    assert_eq!(reply.command, "401", "{reply}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_tags_get_417() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = pair(&node).await;
    alice
        .send(&format!("@+big={} PRIVMSG #chan :tagged", "v".repeat(5000)))
        .await;
    let err = alice.expect_numeric_or(&["417", "PONG"]).await;
    assert_eq!(err.command, "417", "{err}");
    assert_next_privmsg_is_marker(&mut alice, &mut bob).await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_command_gets_421() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    alice.send("FROBNICATE the widget").await;
    let err = alice.expect("421").await;
    assert_eq!(err.param(0), "alice");
    assert_eq!(err.param(1), "FROBNICATE");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_parameters_get_461() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    for (line, command) in [
        ("JOIN", "JOIN"),
        ("MODE", "MODE"),
        ("KICK #chan", "KICK"),
        ("TOPIC", "TOPIC"),
        ("OPER", "OPER"),
    ] {
        alice.send(line).await;
        let err = alice.expect_numeric_or(&["461", "PONG"]).await;
        assert_eq!(err.command, "461", "{line}: {err}");
        assert_eq!(err.param(1), command, "461 names the command: {err}");
    }
    alice.send("PRIVMSG").await;
    let err = alice.expect_numeric_or(&["411", "461"]).await;
    assert!(err.command == "411" || err.command == "461", "{err}");
    alice.send("PRIVMSG alice").await;
    let err = alice.expect_numeric_or(&["412", "461"]).await;
    assert!(err.command == "412" || err.command == "461", "{err}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_lines_are_ignored() {
    let node = TestNode::default_open().await;
    let mut alice = node.register("alice").await;
    alice.send_raw(b"\r\n\n   \r\n").await;
    let seen = alice.sync().await;
    assert!(
        seen.is_empty(),
        "empty lines must produce no reply: {seen:?}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_privmsg_gets_fail_and_is_not_delivered() {
    let toml = node_toml(&[open_tenant("\n[tenants.connection]\nutf8_only = true\n")]);
    let node = TestNode::start(&toml).await;
    let alice = node
        .register_with_caps("alice", &["standard-replies"])
        .await;
    let bob = node.register("bob").await;
    let [mut alice, mut bob] = support::join_all("#chan", [alice, bob]).await;
    assert!(alice.isupport.contains_key("UTF8ONLY"));

    alice.send_raw(b"PRIVMSG #chan :caf\xe9 au lait\r\n").await;
    let fail = alice.expect("FAIL").await;
    assert_eq!(fail.param(0), "PRIVMSG");
    assert_eq!(fail.param(1), "INVALID_UTF8");
    assert_next_privmsg_is_marker(&mut alice, &mut bob).await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_byte_is_refused_without_harming_others() {
    let node = TestNode::default_open().await;
    let [mut alice, mut bob] = pair(&node).await;
    let mut carol = node.register("carol").await;
    carol.join("#chan").await;
    alice.expect_join("carol", "#chan").await;

    bob.send_raw(b"PRIVMSG #chan :nul\0inside\r\n").await;
    // Either an error reply on a connection that stays usable, or ERROR and a close.
    let reply = bob
        .expect_where("an error reply", |m| {
            m.command == "ERROR" || m.command == "FAIL" || support::is_error_numeric(&m.command)
        })
        .await;
    if reply.command == "ERROR" {
        bob.expect_disconnect().await;
    } else {
        let seen = bob.sync().await;
        assert!(seen.iter().all(|m| m.command != "ERROR"), "{seen:?}");
    }

    // Nobody received the line, and the others carry on.
    carol.send("PRIVMSG #chan :still here").await;
    let m = alice.expect("PRIVMSG").await;
    assert_eq!(m.last(), "still here", "the NUL line was relayed: {m}");
    assert!(!m.raw.contains('\0'));
    let seen = alice.sync().await;
    assert!(seen.iter().all(|m| !m.raw.contains('\0')), "{seen:?}");
    node.shutdown().await;
}

/// Flood control on, loopback not exempt, a small burst.
fn flood_config() -> String {
    node_toml(&[tenant_toml(
        "default",
        "TestNet",
        None,
        "
[tenants.flood]
enabled = true
burst = 5
per_second = 2.0
max_connections_per_ip = 10
exempt = []
excess_disconnect_lines = 20
",
    )])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooder_is_disconnected_and_others_keep_getting_pongs() {
    let node = TestNode::start(&flood_config()).await;
    let mut calm = node.register("calm").await;
    let mut flooder = node.register("flooder").await;

    let mut burst = Vec::new();
    for i in 0..100 {
        burst.extend_from_slice(format!("PRIVMSG calm :flood line {i}\r\n").as_bytes());
    }
    // The server may close while we are still writing: that is a pass, not a failure.
    let _ = flooder.try_send_raw(&burst).await;

    let started = Instant::now();
    let before_pong = calm.sync().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a calm client waited {:?} for PONG during a flood",
        started.elapsed()
    );

    let error = flooder
        .expect_disconnect_within(Duration::from_secs(15))
        .await;
    let error = error.expect("the flooder gets an ERROR line before the close");
    assert!(
        error.last().to_lowercase().contains("flood"),
        "ERROR names the flood: {error}"
    );

    // The calm client received at most the burst plus what the rate allowed, never all 100.
    let after = calm.sync().await;
    let floods = before_pong
        .iter()
        .chain(after.iter())
        .filter(|m| m.is_from("PRIVMSG", "flooder"))
        .count();
    assert!(
        floods < 100,
        "flood control let every line through ({floods})"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendq_overflow_disconnects_only_the_slow_reader() {
    let toml = node_toml(&[open_tenant("\n[tenants.connection]\nsendq_bytes = 8192\n")]);
    let node = TestNode::start(&toml).await;
    let addr = node.addr();

    let mut slow = Client::connect_small_rcvbuf(addr)
        .await
        .register_as("slow")
        .await;
    // Each line the sender writes reaches slow four times (TARGMAX allows 4 targets), so the
    // kernel buffers in between fill four times faster.
    const FLOODS: &str = "#f1,#f2,#f3,#f4";
    for channel in FLOODS.split(',') {
        slow.join(channel).await;
    }
    slow.join("#quiet").await;
    let mut watcher = node.register("watcher").await;
    watcher.join("#quiet").await;
    let mut sender = node.register("sender").await;
    for channel in FLOODS.split(',') {
        sender.join(channel).await;
    }

    // Slow stops reading. Another task writes 4 KB at a time, with a PING round trip every 32 KB
    // so it never runs far ahead of the node, until the node gives up on slow; kernel buffers on
    // both sides can hold a few MB before that happens.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let batch = format!("PRIVMSG {FLOODS} :{}\r\n", "z".repeat(400)).repeat(10);
        tokio::spawn(async move {
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) && sent < 32 << 20 {
                for _ in 0..8 {
                    sender.send_raw(batch.as_bytes()).await;
                    sent += batch.len();
                }
                sender.sync().await;
            }
            sender
        })
    };
    let quit = watcher
        .expect_where_within(Duration::from_secs(30), "slow's QUIT", |m| {
            m.is_from("QUIT", "slow")
        })
        .await;
    stop.store(true, Ordering::Relaxed);
    let mut sender = writer.await.expect("the writer task panicked");
    assert!(
        quit.last().to_lowercase().contains("sendq"),
        "the QUIT reason names the SendQ: {quit}"
    );

    // Slow's stream ends; the others are fine.
    slow.expect_disconnect_within(Duration::from_secs(10)).await;
    let pong = watcher.sync().await;
    assert!(pong.iter().all(|m| m.command != "ERROR"));
    let pong = sender.sync().await;
    assert!(pong.iter().all(|m| m.command != "ERROR"));
    sender.send("PRIVMSG watcher :you ok?").await;
    assert_eq!(
        watcher.expect_from("PRIVMSG", "sender").await.last(),
        "you ok?"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_connection_limit_refuses_the_extra_connection() {
    let toml = node_toml(&[tenant_toml(
        "default",
        "TestNet",
        None,
        "
[tenants.flood]
enabled = true
burst = 100
per_second = 100.0
max_connections_per_ip = 3
exempt = []
",
    )]);
    let node = TestNode::start(&toml).await;
    let mut first = node.register("first").await;
    let _second = node.register("second").await;
    let _third = node.register("third").await;

    let mut fourth = node.connect().await;
    let error = fourth.expect_disconnect().await;
    assert!(error.is_some(), "the refused connection gets an ERROR line");

    // The refused attempt does not count: once one user leaves, a new one fits.
    first.send("QUIT :making room").await;
    first.expect_disconnect().await;
    let mut admitted = None;
    for _ in 0..50 {
        let mut c = node.connect().await;
        c.send("NICK late").await;
        c.send(&format!("USER {} 0 * :x", support::USERNAME)).await;
        let m = c
            .expect_where("001 or ERROR", |m| {
                m.command == "001" || m.command == "ERROR"
            })
            .await;
        if m.command == "001" {
            admitted = Some(c);
            break;
        }
        c.expect_disconnect().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        admitted.is_some(),
        "the slot freed by QUIT was never reused"
    );
    node.shutdown().await;
}
