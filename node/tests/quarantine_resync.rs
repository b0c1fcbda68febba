//! A damaged data directory in a cluster (issue 4 acceptance): the node moves it aside, counts it
//! in `latticed_log_quarantines_total`, starts with an empty event log and resyncs everything
//! from its peers, so its clients see the same channel (NAMES, TOPIC, MODE, bans) as everyone
//! else's, and CHATHISTORY on it returns the messages sent before the damage with their
//! original msgids.
//!
//! Three `latticed` processes (see `support::cluster`); node 2 is stopped cleanly, its data
//! directory overwritten with garbage, and restarted. Every cross-node expectation polls for at
//! most [`RESYNC`].

mod support;

use std::time::Duration;

use support::cluster::{Cluster, Timing};
use support::files::{damage, files_under, quarantined};
use support::msg::Msg;
use support::{bare_nick, Client};
use tokio::time::Instant;

/// How long a change (or the whole resync) may take to reach a node.
const RESYNC: Duration = Duration::from_secs(10);
/// How often a converging query is repeated.
const POLL: Duration = Duration::from_millis(100);
/// Message ids and times, echoes (a sender learns its message's id), every prefix in NAMES, and
/// history.
const CAPS: &[&str] = &[
    "message-tags",
    "server-time",
    "echo-message",
    "multi-prefix",
    "batch",
    "draft/chathistory",
];
/// The channel whose state and history must survive the damage.
const CHAN: &str = "#resync";
/// The topic set before the damage.
const TOPIC: &str = "kept by the peers";
/// The ban set before the damage.
const BAN: &str = "spam!*@*";

/// What one node answers about [`CHAN`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct View {
    /// NAMES entries, sorted.
    names: Vec<String>,
    /// 332 text; `None` for no topic or no channel.
    topic: Option<String>,
    /// 324 mode string and arguments; `None` when the channel does not exist.
    modes: Option<Vec<String>>,
    /// Ban masks (367), sorted.
    bans: Vec<String>,
}

/// Whether `m` is a reply about [`CHAN`] with one of `numerics`.
fn about(m: &Msg, numerics: &[&str]) -> bool {
    numerics.contains(&m.command.as_str())
        && m.params
            .get(1)
            .is_some_and(|p| p.eq_ignore_ascii_case(CHAN))
}

/// Asks NAMES, TOPIC, MODE and the ban list of [`CHAN`].
async fn view(c: &mut Client) -> View {
    let mut names = c.names(CHAN).await;
    names.sort();
    c.send(&format!("TOPIC {CHAN}")).await;
    let reply = c
        .expect_where("the reply to TOPIC", |m| about(m, &["331", "332", "403"]))
        .await;
    let topic = (reply.command == "332").then(|| reply.last().to_owned());
    c.send(&format!("MODE {CHAN}")).await;
    let reply = c
        .expect_where("the reply to MODE", |m| about(m, &["324", "403"]))
        .await;
    let modes = (reply.command == "324").then(|| reply.params[2..].to_vec());
    c.send(&format!("MODE {CHAN} b")).await;
    let mut bans = Vec::new();
    loop {
        let m = c
            .expect_where("the ban list", |m| about(m, &["367", "368", "403"]))
            .await;
        if m.command != "367" {
            break;
        }
        bans.push(m.param(2).to_owned());
    }
    bans.sort();
    View {
        names,
        topic,
        modes,
        bans,
    }
}

/// Polls every client's view until all are equal and `done` holds; returns the view.
async fn agreed_view(
    clients: &mut [&mut Client],
    what: &str,
    done: impl Fn(&View) -> bool,
) -> View {
    let deadline = Instant::now() + RESYNC;
    loop {
        let mut views = Vec::with_capacity(clients.len());
        for c in clients.iter_mut() {
            views.push(view(c).await);
        }
        if views.iter().all(|v| *v == views[0]) && done(&views[0]) {
            return views.swap_remove(0);
        }
        if Instant::now() > deadline {
            let shown: Vec<String> = clients
                .iter()
                .zip(&views)
                .map(|(c, v)| format!("{}: {v:#?}", c.nick))
                .collect();
            panic!(
                "the nodes did not agree on {CHAN} ({what}) within {RESYNC:?}:\n{}",
                shown.join("\n")
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `c`'s NAMES of [`CHAN`] until it lists `nick`, so a join lands in the existing channel
/// instead of founding a concurrent one.
async fn wait_for_member(c: &mut Client, nick: &str) {
    let deadline = Instant::now() + RESYNC;
    while !c.names(CHAN).await.iter().any(|e| bare_nick(e) == nick) {
        assert!(
            Instant::now() < deadline,
            "{nick} did not appear in {CHAN} on {}'s node within {RESYNC:?}",
            c.nick
        );
        tokio::time::sleep(POLL).await;
    }
}

/// One channel message: (msgid, text).
type Said = (String, String);

/// `c` says `text` in [`CHAN`]; returns it with the msgid of its echo.
async fn say(c: &mut Client, text: &str) -> Said {
    c.send(&format!("PRIVMSG {CHAN} :{text}")).await;
    let nick = c.nick.clone();
    let echo = c
        .expect_where(&format!("the echo of {text:?}"), |m| {
            m.is_from("PRIVMSG", &nick) && m.last() == text
        })
        .await;
    let msgid = echo
        .tag("msgid")
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| panic!("an echo without msgid: {echo}"))
        .to_owned();
    (msgid, text.to_owned())
}

/// The channel's messages in `c`'s node's history, oldest first.
async fn history(c: &mut Client) -> Vec<Said> {
    c.history(&format!("LATEST {CHAN} * 50"))
        .await
        .iter()
        .filter(|m| m.command == "PRIVMSG")
        .map(|m| {
            (
                m.tag("msgid").unwrap_or_default().to_owned(),
                m.last().to_owned(),
            )
        })
        .collect()
}

/// Polls `c`'s node until its history of [`CHAN`] equals `want`.
async fn history_becomes(c: &mut Client, want: &[Said]) {
    let deadline = Instant::now() + RESYNC;
    loop {
        let got = history(c).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}'s node did not reach the history of {CHAN} within {RESYNC:?}\nwant: {want:#?}\ngot: {got:#?}",
            c.nick
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The channel as every node must show it: alice founded it (so she is an operator), bob is
/// voiced, and the topic, limit and ban set before the damage are there.
fn settled(v: &View) -> bool {
    v.names == ["+bob", "@alice"]
        && v.topic.as_deref() == Some(TOPIC)
        && v.modes
            .as_ref()
            .is_some_and(|m| m.contains(&"42".to_owned()))
        && v.bans == [BAN]
}

/// The timing of both tests' clusters: fast link failure detection keeps them short.
const TIMING: Timing = Timing {
    keepalive_ms: 300,
    idle_timeout_ms: 3000,
    ..Timing::DEFAULT
};

/// Node 2 holds only what its peers made (its own clients are the second test's business), loses
/// it all to damage, and gets all of it back from nodes 1 and 3.
#[tokio::test]
async fn a_damaged_node_quarantines_its_log_and_resyncs_from_its_peers() {
    let mut cluster = Cluster::start(3, TIMING).await;

    // Channel state and messages made on nodes 1 and 3; node 2 replicates them.
    let mut alice = cluster.node(1).register("alice", CAPS).await;
    alice.join(CHAN).await;
    let mut bob = cluster.node(3).register("bob", CAPS).await;
    wait_for_member(&mut bob, "alice").await;
    bob.join(CHAN).await;
    // Alice can voice bob only once his JOIN has reached her node.
    wait_for_member(&mut alice, "bob").await;
    for line in [
        format!("TOPIC {CHAN} :{TOPIC}"),
        format!("MODE {CHAN} +l 42"),
        format!("MODE {CHAN} +v bob"),
        format!("MODE {CHAN} +b {BAN}"),
    ] {
        alice.send(&line).await;
    }
    let sent = [
        say(&mut alice, "before the damage, from node 1").await,
        say(&mut bob, "before the damage, from node 3").await,
        say(&mut alice, "before the damage, from node 1 again").await,
    ];
    agreed_view(
        &mut [&mut alice, &mut bob],
        "the state before the damage",
        settled,
    )
    .await;

    // Node 2 stops cleanly; its data directory is damaged while it is down.
    let status = cluster.node_mut(2).terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
    let data = cluster.node(2).data_dir();
    let damaged = damage(&data);

    // It restarts: the damaged copy is moved aside untouched and counted.
    cluster.node_mut(2).start().await;
    assert_eq!(
        cluster.node(2).metric("latticed_log_quarantines_total"),
        1.0,
        "one quarantine at this start"
    );
    let aside = quarantined(&data);
    assert_eq!(aside.len(), 1, "one quarantined copy: {aside:?}");
    assert!(
        aside[0].starts_with(cluster.node(2).dir()),
        "moved beside the data directory: {aside:?}"
    );
    assert_eq!(
        files_under(&aside[0]),
        damaged,
        "the damaged files are kept as they were"
    );
    assert!(data.is_dir(), "a fresh data directory");

    // It resyncs from its peers: the same channel state as the others, then the same history.
    let mut dave = cluster.node(2).register("dave", CAPS).await;
    agreed_view(
        &mut [&mut alice, &mut dave, &mut bob],
        "the state node 2 learns from its peers",
        settled,
    )
    .await;
    let mut names = dave.join(CHAN).await;
    names.sort();
    assert_eq!(
        names,
        ["+bob", "@alice", "dave"],
        "dave joins the resynced channel instead of founding a new one"
    );
    // History is ordered by (server time, msgid); messages sent on two nodes within one
    // millisecond may come in either order, so node 1's history is the reference.
    let on_node_1 = history(&mut alice).await;
    let mut held: Vec<&Said> = on_node_1.iter().collect();
    let mut wanted: Vec<&Said> = sent.iter().collect();
    held.sort();
    wanted.sort();
    assert_eq!(held, wanted, "node 1 holds exactly the messages sent");
    history_becomes(&mut dave, &on_node_1).await;
}

/// A node that lost its log (quarantined) must not reuse the user ids and op ids of its earlier
/// incarnation, which its peers still hold, and must end that incarnation's sessions when its
/// peers hand them back (their connections died with the old process). Carol was on node 2
/// before the damage; after the restart dave registers there and joins nothing: both nodes must
/// agree, list neither carol (a ghost) nor dave (who never joined).
#[tokio::test]
async fn a_node_that_lost_its_log_reuses_no_id_and_leaves_no_ghost() {
    let mut cluster = Cluster::start(2, TIMING).await;
    let mut alice = cluster.node(1).register("alice", CAPS).await;
    alice.join(CHAN).await;
    let mut carol = cluster.node(2).register("carol", CAPS).await;
    wait_for_member(&mut carol, "alice").await;
    carol.join(CHAN).await;
    alice.expect_join("carol", CHAN).await;
    say(&mut carol, "before the damage, from node 2").await;
    cluster.node(2).wait_for_flush().await;

    let status = cluster.node_mut(2).terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
    drop(carol);
    damage(&cluster.node(2).data_dir());
    cluster.node_mut(2).start().await;
    assert_eq!(
        cluster.node(2).metric("latticed_log_quarantines_total"),
        1.0,
        "one quarantine at this start"
    );

    let mut dave = cluster.node(2).register("dave", CAPS).await;
    let deadline = Instant::now() + RESYNC;
    loop {
        let on_1 = alice.names(CHAN).await;
        let on_2 = dave.names(CHAN).await;
        if on_1 == ["@alice"] && on_2 == ["@alice"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{CHAN} must list only alice on both nodes within {RESYNC:?} of node 2's restart on a \
             fresh log (carol's session ended with the old process, dave joined nothing): \
             node 1 lists {on_1:?}, node 2 lists {on_2:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}
