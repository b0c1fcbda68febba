//! A cluster of real `latticed` processes serves one network (issue 3 acceptance).
//!
//! - Clients on different nodes chat in a channel and in private, and every node answers the same
//!   NAMES, TOPIC and MODE for the channel.
//! - After `kill -9` of a node the others keep serving; restarted on the same data directory, the
//!   node catches up: the channel's members and topic and its CHATHISTORY include what happened
//!   while it was down.
//! - A node started with `--join` (and no peer list) serves the same state and history.
//! - A split (SIGSTOP past the idle timeout) shorter than the grace period is invisible: the
//!   paused node's clients get every message sent meanwhile, in order, and nobody sees a QUIT or
//!   JOIN.
//! - A split longer than the grace period shows the lost node's users quitting with
//!   `*.net *.split` and hides them from queries; when the node returns they JOIN again (with
//!   their channel prefixes), and users lost with a restarted node do not quit twice.
//! - A node joining a cluster with a long log starts from a peer's snapshot and still receives
//!   every op (its CHATHISTORY has the messages from before it joined).
//! - A `kill -9` that loses ops the node had already shipped to a peer still ends its users'
//!   sessions everywhere when it restarts: no ghost user keeps a nick.
//! - A burst far bigger than a link's queue reaches the far node's client whole and in order;
//!   the peer got what its queue refused from the sender's event log. With the default queue, a
//!   burst goes out several ops to a frame.
//!
//! Every cross-node expectation waits at most [`CONVERGE`], polling; the only fixed wait is the
//! length of the pause itself.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::cluster::{Cluster, Timing};
use support::msg::Msg;
use support::process::metric_value;
use support::{bare_nick, http, Client, Read};
use tokio::time::Instant;

/// How long a change may take to reach every node that should see it.
const CONVERGE: Duration = Duration::from_secs(10);
/// How often a converging query is repeated.
const POLL: Duration = Duration::from_millis(100);
/// Every client negotiates these: message ids and times to compare copies, echoes so a sender
/// learns its own message's id, full NAMES entries, and history.
const CAPS: &[&str] = &[
    "message-tags",
    "server-time",
    "echo-message",
    "multi-prefix",
    "userhost-in-names",
    "batch",
    "draft/chathistory",
];

/// A client that keeps every line it reads through [`Watched::expect`], so a test can check
/// afterwards everything it was shown.
struct Watched {
    client: Client,
    seen: Vec<Msg>,
}

impl Watched {
    /// Registers `nick` on `node` with [`CAPS`].
    async fn register(cluster: &Cluster, node: u64, nick: &str) -> Watched {
        Watched {
            client: cluster.node(node).register(nick, CAPS).await,
            seen: Vec::new(),
        }
    }

    fn nick(&self) -> String {
        self.client.nick.clone()
    }

    /// Reads (keeping every line) until `pred` holds, for at most [`CONVERGE`].
    async fn expect(&mut self, what: &str, pred: impl Fn(&Msg) -> bool) -> Msg {
        self.expect_within(what, CONVERGE, pred).await
    }

    /// Reads (keeping every line) until `pred` holds, for at most `wait`.
    async fn expect_within(
        &mut self,
        what: &str,
        wait: Duration,
        pred: impl Fn(&Msg) -> bool,
    ) -> Msg {
        let deadline = Instant::now() + wait;
        loop {
            match self
                .client
                .recv_or_end(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Read::Line(m) => {
                    self.seen.push(m.clone());
                    if pred(&m) {
                        return m;
                    }
                }
                Read::Eof => self
                    .client
                    .fail(&format!("connection closed before {what}")),
                Read::Timeout => self
                    .client
                    .fail(&format!("{what} did not arrive within {wait:?}")),
            }
        }
    }

    /// Waits for `nick` to join `chan`.
    async fn expect_join(&mut self, nick: &str, chan: &str) {
        self.expect(&format!("{nick} joining {chan}"), |m| {
            m.is_from("JOIN", nick) && m.param(0).eq_ignore_ascii_case(chan)
        })
        .await;
    }

    /// Waits for `by` to send exactly `command params...` (e.g. a TOPIC or MODE change).
    async fn expect_change(&mut self, by: &str, command: &str, params: &[&str]) {
        self.expect(&format!("{command} {params:?} by {by}"), |m| {
            m.is_from(command, by) && m.params == params
        })
        .await;
    }

    /// Asks LUSERS until its first line (251, users and invisible users) reads `want`, for at
    /// most [`CONVERGE`]: a user's modes reach other nodes a moment after they are set.
    async fn lusers_become(&mut self, want: &str) {
        let deadline = Instant::now() + CONVERGE;
        loop {
            self.client.send("LUSERS").await;
            let line = self.expect("LUSERS 251", |m| m.command == "251").await;
            self.sync().await;
            if line.last() == want {
                return;
            }
            if Instant::now() > deadline {
                self.client
                    .fail(&format!("LUSERS said {:?}, not {want:?}", line.last()));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Asks LIST until its entries (channel name and member count) are exactly `want`, for at
    /// most [`CONVERGE`]; lines that are not part of the LIST reply are kept in `seen`.
    async fn list_becomes(&mut self, want: &[(&str, &str)]) {
        let deadline = Instant::now() + CONVERGE;
        loop {
            self.client.send("LIST").await;
            let reply = self.client.collect_until("323").await;
            let (entries, other): (Vec<Msg>, Vec<Msg>) = reply
                .into_iter()
                .partition(|m| ["321", "322", "323"].contains(&m.command.as_str()));
            self.seen.extend(other);
            let listed: BTreeSet<(String, String)> = entries
                .iter()
                .filter(|m| m.command == "322")
                .map(|m| (m.param(1).to_lowercase(), m.param(2).to_string()))
                .collect();
            let wanted: BTreeSet<(String, String)> = want
                .iter()
                .map(|(chan, count)| (chan.to_lowercase(), count.to_string()))
                .collect();
            if listed == wanted {
                return;
            }
            if Instant::now() > deadline {
                self.client
                    .fail(&format!("LIST said {listed:?}, not {wanted:?}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The lines seen so far that a split shorter than the grace period must never show
    /// ([`SPLIT_SIGNS`]).
    fn split_signs(&self) -> Vec<&Msg> {
        self.seen
            .iter()
            .filter(|m| SPLIT_SIGNS.contains(&m.command.as_str()))
            .collect()
    }

    /// Round-trips a PING, keeping what arrived before the PONG.
    async fn sync(&mut self) {
        let lines = self.client.sync().await;
        self.seen.extend(lines);
    }

    /// The whole history of `chan` on this client's node: its PRIVMSGs, as delivered.
    async fn history(&mut self, chan: &str) -> Vec<Delivered> {
        self.client
            .history(&format!("LATEST {chan} * 50"))
            .await
            .iter()
            .filter(|m| m.command == "PRIVMSG")
            .map(delivered)
            .collect()
    }
}

/// One message as a client saw it: a copy of the same message must agree on every field.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Delivered {
    from: String,
    target: String,
    text: String,
    msgid: String,
    time: String,
}

/// The fields of a delivered PRIVMSG; a copy without msgid or time fails the test.
fn delivered(m: &Msg) -> Delivered {
    let tag = |key: &str| {
        m.tag(key)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| panic!("a message without {key}: {m}"))
            .to_owned()
    };
    Delivered {
        from: m.nick().to_owned(),
        target: m.param(0).to_owned(),
        text: m.last().to_owned(),
        msgid: tag("msgid"),
        time: tag("time"),
    }
}

/// `from` sends `PRIVMSG target :text`; waits for its echo and for the copy of every client in
/// `to`, all of which must be the same message (same msgid and server time). Returns it.
async fn say(from: &mut Watched, target: &str, text: &str, to: &mut [&mut Watched]) -> Delivered {
    from.client.send(&format!("PRIVMSG {target} :{text}")).await;
    let sender = from.nick();
    let is_it = |m: &Msg| {
        m.is_from("PRIVMSG", &sender) && m.param(0).eq_ignore_ascii_case(target) && m.last() == text
    };
    let what = format!("{sender}'s {text:?} to {target}");
    let sent = delivered(&from.expect(&format!("the echo of {what}"), is_it).await);
    for receiver in to.iter_mut() {
        let copy = delivered(&receiver.expect(&what, is_it).await);
        assert_eq!(
            copy,
            sent,
            "{} got another copy of {what} than its sender",
            receiver.nick()
        );
    }
    sent
}

/// What one node answers about a channel to a client that is not in it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ChannelView {
    /// NAMES entries (all prefixes, `nick!user@host`), sorted: NAMES order carries no meaning.
    names: Vec<String>,
    /// 332 text, 333 setter and 333 time; `None` for 331 (no topic) or 403 (no such channel).
    topic: Option<[String; 3]>,
    /// 324 mode string and arguments, with the 329 creation time; `None` for 403.
    modes: Option<(Vec<String>, String)>,
}

impl ChannelView {
    /// The members' bare nicks.
    fn nicks(&self) -> BTreeSet<&str> {
        self.names.iter().map(|e| bare_nick(e)).collect()
    }

    /// The topic text, if one is set.
    fn topic_text(&self) -> Option<&str> {
        self.topic.as_ref().map(|t| t[0].as_str())
    }
}

/// Asks `NAMES`, `TOPIC` and `MODE` for `chan`.
async fn view(c: &mut Client, chan: &str) -> ChannelView {
    let mut names = c.names(chan).await;
    names.sort();
    let about = |m: &Msg, numerics: &[&str]| {
        numerics.contains(&m.command.as_str())
            && m.params
                .get(1)
                .is_some_and(|p| p.eq_ignore_ascii_case(chan))
    };
    c.send(&format!("TOPIC {chan}")).await;
    let reply = c
        .expect_where("the reply to TOPIC", |m| about(m, &["331", "332", "403"]))
        .await;
    let topic = if reply.command == "332" {
        let who = c.expect_where("333", |m| about(m, &["333"])).await;
        Some([
            reply.param(2).to_owned(),
            who.param(2).to_owned(),
            who.param(3).to_owned(),
        ])
    } else {
        None
    };
    c.send(&format!("MODE {chan}")).await;
    let reply = c
        .expect_where("the reply to MODE", |m| about(m, &["324", "403"]))
        .await;
    let modes = if reply.command == "324" {
        let created = c.expect_where("329", |m| about(m, &["329"])).await;
        Some((reply.params[2..].to_vec(), created.param(2).to_owned()))
    } else {
        None
    };
    ChannelView {
        names,
        topic,
        modes,
    }
}

/// Polls every client's view of `chan` until all are equal and `done` holds; returns the view.
async fn agreed_view(
    clients: &mut [&mut Client],
    chan: &str,
    what: &str,
    done: impl Fn(&ChannelView) -> bool,
) -> ChannelView {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let mut views = Vec::with_capacity(clients.len());
        for c in clients.iter_mut() {
            views.push(view(c, chan).await);
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
                "the nodes did not agree on {chan} ({what}) within {CONVERGE:?}:\n{}",
                shown.join("\n")
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `c`'s node until its history of `chan` equals `want`.
async fn history_becomes(c: &mut Watched, chan: &str, want: &[Delivered]) {
    // History is ordered by (server time, msgid): two messages within one millisecond come in
    // msgid order, whatever order they were sent in.
    let mut want = want.to_vec();
    want.sort_by(|a, b| (&a.time, &a.msgid).cmp(&(&b.time, &b.msgid)));
    let deadline = Instant::now() + CONVERGE;
    loop {
        let got = c.history(chan).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}'s node did not reach the history of {chan} within {CONVERGE:?}\nwant: {want:#?}\ngot: {got:#?}",
            c.nick()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `c`'s NAMES of `chan` until it lists `nick` (another node's member has reached this one).
async fn wait_for_member(c: &mut Watched, chan: &str, nick: &str) {
    let deadline = Instant::now() + CONVERGE;
    while !c
        .client
        .names(chan)
        .await
        .iter()
        .any(|e| bare_nick(e) == nick)
    {
        assert!(
            Instant::now() < deadline,
            "{nick} did not appear in {chan} on {}'s node within {CONVERGE:?}",
            c.nick()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The messages `sender` sent, in `list`'s order.
fn from(list: &[Delivered], sender: &str) -> Vec<Delivered> {
    list.iter().filter(|d| d.from == sender).cloned().collect()
}

/// Whether `want` appears in `all` in the same order (other items may come between).
fn in_order(all: &[Delivered], want: &[Delivered]) -> bool {
    let mut rest = all.iter();
    want.iter().all(|w| rest.any(|a| a == w))
}

/// Issue 3, items 1 to 3, on one cluster: chat across nodes and agreement on channel state; a
/// crash of node 2 that nodes 1 and 3 serve through, and node 2's catch-up after its restart; a
/// fourth node that joins with `--join` and serves the same state and history.
#[tokio::test]
async fn three_nodes_serve_one_network_through_a_crash_and_a_join() {
    let chan = "#lattice";
    let mut cluster = Cluster::start(3, Timing::DEFAULT).await;

    // 1. Clients on nodes 1 and 3 share a channel.
    let mut alice = Watched::register(&cluster, 1, "alice").await;
    alice.client.join(chan).await;
    let mut bob = Watched::register(&cluster, 3, "bob").await;
    // Join only once node 3 knows the channel, so bob joins alice's channel instead of founding
    // one of his own concurrently.
    wait_for_member(&mut bob, chan, "alice").await;
    let names = bob.client.join(chan).await;
    let nicks: BTreeSet<&str> = names.iter().map(|e| bare_nick(e)).collect();
    assert_eq!(nicks, BTreeSet::from(["alice", "bob"]), "{names:?}");
    assert!(
        names.iter().any(|e| e.starts_with("@alice")),
        "alice founded {chan} on node 1, so node 3 shows her as operator: {names:?}"
    );
    alice.expect_join("bob", chan).await;

    let topic = "one network, three nodes";
    alice.client.send(&format!("TOPIC {chan} :{topic}")).await;
    for member in [&mut alice, &mut bob] {
        member.expect_change("alice", "TOPIC", &[chan, topic]).await;
    }
    alice.client.send(&format!("MODE {chan} +l 42")).await;
    for member in [&mut alice, &mut bob] {
        member
            .expect_change("alice", "MODE", &[chan, "+l", "42"])
            .await;
    }
    alice.client.send(&format!("MODE {chan} +v bob")).await;
    for member in [&mut alice, &mut bob] {
        member
            .expect_change("alice", "MODE", &[chan, "+v", "bob"])
            .await;
    }

    let mut before = vec![
        say(&mut alice, chan, "hello from node 1", &mut [&mut bob]).await,
        say(&mut bob, chan, "hello from node 3", &mut [&mut alice]).await,
    ];
    say(&mut alice, "bob", "a private word, 1 to 3", &mut [&mut bob]).await;
    say(
        &mut bob,
        "alice",
        "a private answer, 3 to 1",
        &mut [&mut alice],
    )
    .await;

    // Every node answers the same to a client that is not in the channel: carol on node 2,
    // which has no member of it, and one client on each of the other two nodes.
    let mut q1 = cluster.node(1).register("query1", CAPS).await;
    let mut carol = cluster.node(2).register("carol", CAPS).await;
    let mut q3 = cluster.node(3).register("query3", CAPS).await;
    let agreed = agreed_view(
        &mut [&mut q1, &mut carol, &mut q3],
        chan,
        "members, topic and modes",
        |v| {
            v.nicks() == BTreeSet::from(["alice", "bob"])
                && v.topic_text() == Some(topic)
                && v.modes
                    .as_ref()
                    .is_some_and(|(m, _)| m.contains(&"42".to_owned()))
        },
    )
    .await;
    let entry = |nick: &str| {
        agreed
            .names
            .iter()
            .find(|e| bare_nick(e) == nick)
            .map(String::as_str)
    };
    assert!(
        entry("alice").is_some_and(|e| e.starts_with("@alice!"))
            && entry("bob").is_some_and(|e| e.starts_with("+bob!")),
        "every node shows alice as operator and bob voiced: {agreed:#?}"
    );
    let topic_by = agreed.topic.as_ref().map(|t| bare_nick(&t[1]));
    assert_eq!(topic_by, Some("alice"), "{agreed:#?}");
    let (modes, _) = agreed.modes.as_ref().expect("checked above");
    assert!(
        modes[0].starts_with('+') && modes[0].contains('l'),
        "{agreed:#?}"
    );

    // 2. kill -9 node 2: nodes 1 and 3 keep serving a new client and the channel. The kill
    // comes after a flush, so node 2 has not lost ops its peers hold (a crash before the flush is
    // `a_crash_before_the_flush_leaves_no_ghost_user`).
    cluster.node(2).wait_for_flush().await;
    cluster.node_mut(2).kill();
    drop(carol);
    let mut dave = Watched::register(&cluster, 1, "dave").await;
    dave.client.join(chan).await;
    for member in [&mut alice, &mut bob] {
        member.expect_join("dave", chan).await;
    }
    let topic_while_down = "set while node 2 was down";
    alice
        .client
        .send(&format!("TOPIC {chan} :{topic_while_down}"))
        .await;
    for member in [&mut alice, &mut bob, &mut dave] {
        member
            .expect_change("alice", "TOPIC", &[chan, topic_while_down])
            .await;
    }
    let while_down = [
        say(
            &mut dave,
            chan,
            "node 2 is down, 1",
            &mut [&mut alice, &mut bob],
        )
        .await,
        say(
            &mut bob,
            chan,
            "node 2 is down, 2",
            &mut [&mut alice, &mut dave],
        )
        .await,
        say(
            &mut dave,
            chan,
            "node 2 is down, 3",
            &mut [&mut alice, &mut bob],
        )
        .await,
    ];
    say(
        &mut dave,
        "bob",
        "private while node 2 is down",
        &mut [&mut bob],
    )
    .await;

    // Node 2 restarts on the same data directory and catches up.
    cluster.node_mut(2).start().await;
    let mut carol = cluster.node(2).register("carol", CAPS).await;
    let agreed = agreed_view(
        &mut [&mut q1, &mut carol, &mut q3],
        chan,
        "what changed while node 2 was down",
        |v| {
            v.nicks() == BTreeSet::from(["alice", "bob", "dave"])
                && v.topic_text() == Some(topic_while_down)
        },
    )
    .await;
    let mut erin = Watched::register(&cluster, 2, "erin").await;
    let names = erin.client.join(chan).await;
    let nicks: BTreeSet<&str> = names.iter().map(|e| bare_nick(e)).collect();
    assert_eq!(
        nicks,
        BTreeSet::from(["alice", "bob", "dave", "erin"]),
        "{names:?}"
    );
    for member in [&mut alice, &mut bob, &mut dave] {
        member.expect_join("erin", chan).await;
    }
    let history = alice.history(chan).await;
    before.extend(while_down);
    assert!(
        in_order(&history, &before),
        "node 1's history of {chan} lacks messages or reorders them\nwant: {before:#?}\ngot: {history:#?}"
    );
    history_becomes(&mut erin, chan, &history).await;
    say(
        &mut erin,
        chan,
        "node 2 is back",
        &mut [&mut alice, &mut bob, &mut dave],
    )
    .await;
    say(&mut alice, "erin", "welcome back", &mut [&mut erin]).await;

    // 3. A fourth node joins through node 1 and serves the same state and history.
    cluster.join(1).await;
    let mut q4 = cluster.node(4).register("query4", CAPS).await;
    let joined = agreed_view(
        &mut [&mut q1, &mut carol, &mut q3, &mut q4],
        chan,
        "the state a joining node learns",
        |v| v.nicks() == BTreeSet::from(["alice", "bob", "dave", "erin"]),
    )
    .await;
    assert_eq!(joined.topic, agreed.topic, "the topic did not change");
    assert_eq!(joined.modes, agreed.modes, "the modes did not change");
    let mut frank = Watched::register(&cluster, 4, "frank").await;
    frank.client.join(chan).await;
    // Node 4 learned nodes 2 and 3 from node 1 and linked to them directly.
    for member in [&mut alice, &mut bob, &mut dave, &mut erin] {
        member.expect_join("frank", chan).await;
    }
    let history = alice.history(chan).await;
    history_becomes(&mut frank, chan, &history).await;
    say(
        &mut frank,
        chan,
        "hello from the joiner",
        &mut [&mut alice, &mut bob, &mut dave, &mut erin],
    )
    .await;
    say(&mut bob, "frank", "node 3 to node 4", &mut [&mut frank]).await;
    say(&mut erin, "frank", "node 2 to node 4", &mut [&mut frank]).await;
}

/// What must never reach a client because of a split shorter than the grace period.
const SPLIT_SIGNS: &[&str] = &[
    "QUIT", "JOIN", "PART", "KICK", "KILL", "NICK", "ERROR", "BATCH",
];

/// Issue 3, item 6: node 2 is frozen (SIGSTOP) for longer than the idle timeout, so every link to
/// it goes down and comes back, but for less than the grace period, while nodes 1 and 3 chat.
/// After SIGCONT its clients get every message sent meanwhile, in stamp order and with their
/// original ids and times, and no client anywhere sees a QUIT, JOIN or other sign of a split.
#[tokio::test]
async fn a_split_shorter_than_the_grace_period_is_invisible() {
    const PAUSE: Duration = Duration::from_secs(3);
    let timing = Timing {
        keepalive_ms: 300,
        idle_timeout_ms: 1000,
        ..Timing::DEFAULT
    };
    assert!(PAUSE > Duration::from_millis(timing.idle_timeout_ms) * 2);
    assert!(PAUSE < Duration::from_secs(timing.grace_period_secs));
    let chan = "#pause";
    let cluster = Cluster::start(3, timing).await;

    let mut alice = Watched::register(&cluster, 1, "alice").await;
    alice.client.join(chan).await;
    let mut carol = Watched::register(&cluster, 2, "carol").await;
    wait_for_member(&mut carol, chan, "alice").await;
    carol.client.join(chan).await;
    alice.expect_join("carol", chan).await;
    let mut dan = Watched::register(&cluster, 2, "dan").await;
    dan.client.join(chan).await;
    for member in [&mut alice, &mut carol] {
        member.expect_join("dan", chan).await;
    }
    let mut bob = Watched::register(&cluster, 3, "bob").await;
    wait_for_member(&mut bob, chan, "dan").await;
    bob.client.join(chan).await;
    for member in [&mut alice, &mut carol, &mut dan] {
        member.expect_join("bob", chan).await;
    }
    // Every link has carried ops both ways; from here on, every line is kept.
    for member in [&mut alice, &mut bob, &mut carol, &mut dan] {
        member.sync().await;
        member.seen.clear();
    }

    cluster.node(2).pause();
    let paused = Instant::now();
    let mut in_channel = Vec::new();
    for round in 0..5 {
        in_channel.push(
            say(
                &mut alice,
                chan,
                &format!("pause {round}, node 1"),
                &mut [&mut bob],
            )
            .await,
        );
        in_channel.push(
            say(
                &mut bob,
                chan,
                &format!("pause {round}, node 3"),
                &mut [&mut alice],
            )
            .await,
        );
    }
    let to_carol = say(
        &mut alice,
        "carol",
        "private to carol during the pause",
        &mut [],
    )
    .await;
    let to_dan = say(&mut bob, "dan", "private to dan during the pause", &mut []).await;
    assert!(
        paused.elapsed() < PAUSE,
        "sending took longer than the pause; the test would not test a pause"
    );
    tokio::time::sleep_until(paused + PAUSE).await;
    cluster.node(2).resume();

    let mut on_node_2 = Vec::new();
    for (member, private) in [(&mut carol, &to_carol), (&mut dan, &to_dan)] {
        let mut got = Vec::new();
        let mut got_private = Vec::new();
        while got.len() < in_channel.len() || got_private.is_empty() {
            let m = member
                .expect("the messages of the pause", |m| m.command == "PRIVMSG")
                .await;
            if m.param(0) == chan {
                got.push(delivered(&m));
            } else {
                got_private.push(delivered(&m));
            }
        }
        // Every message once, with its original id and time, each sender's in the order sent.
        for sender in ["alice", "bob"] {
            assert_eq!(
                from(&got, sender),
                from(&in_channel, sender),
                "{} did not get {sender}'s messages of the pause in order",
                member.nick()
            );
        }
        assert_eq!(
            got_private,
            std::slice::from_ref(private),
            "{}",
            member.nick()
        );
        on_node_2.push((member.nick(), got));
    }
    // The links work both ways after the pause.
    let again = say(
        &mut carol,
        chan,
        "node 2 again",
        &mut [&mut alice, &mut bob, &mut dan],
    )
    .await;
    say(&mut bob, "dan", "node 3 to node 2 again", &mut [&mut dan]).await;
    // Every node's history holds the split's messages, in stamp order, with the same ids.
    let mut whole = in_channel.clone();
    whole.push(again);
    for member in [&mut alice, &mut bob, &mut carol] {
        history_becomes(member, chan, &whole).await;
    }
    for member in [&mut alice, &mut bob, &mut carol, &mut dan] {
        member.sync().await;
        let signs = member.split_signs();
        assert!(
            signs.is_empty(),
            "{} saw signs of a split during a short pause: {signs:#?}",
            member.nick()
        );
    }
    // The two senders' messages interleave as sent: each was sent after its sender saw the
    // previous one, so this is also their stamp order, the order ARCHITECTURE §4 promises for
    // messages that crossed a split shorter than the grace period.
    for (nick, got) in on_node_2 {
        let texts = |list: &[Delivered]| list.iter().map(|d| d.text.clone()).collect::<Vec<_>>();
        assert_eq!(
            texts(&got),
            texts(&in_channel),
            "{nick} got the messages of the pause out of their causal (and stamp) order"
        );
    }
    for node in [1, 3] {
        // Node 2's messages may have come through the other node (which passes a peer's ops
        // on to a node not linked to it) before this node's own link to node 2 was back.
        peers_up_become(&cluster, node, 2.0).await;
        assert!(
            cluster
                .node(node)
                .metric("latticed_cluster_heal_events_total")
                >= 1.0,
            "node {node}'s link to node 2 never went down: the pause did not split the network"
        );
        assert_eq!(
            cluster
                .node(node)
                .metric("latticed_cluster_split_expiries_total"),
            0.0,
            "node {node} let the grace period expire"
        );
    }
}

/// A `kill -9` after node 2 shipped ops to its peer but before it flushed them: node 1 holds
/// carol's arrival and join, node 2's own log lost them. The crash ended carol's session all the
/// same, so after node 2 restarts every node must drop her (her channel sees her QUIT) and her
/// nick must be free again.
#[tokio::test]
async fn a_crash_before_the_flush_leaves_no_ghost_user() {
    // Flushes are rare here, so node 2's newest ops exist only in its memory and on node 1 when
    // it is killed.
    let timing = Timing {
        flush_interval_ms: 10_000,
        ..Timing::DEFAULT
    };
    let chan = "#ghost";
    let mut cluster = Cluster::start(2, timing).await;
    let mut alice = Watched::register(&cluster, 1, "alice").await;
    alice.client.join(chan).await;
    let mut carol = Watched::register(&cluster, 2, "carol").await;
    wait_for_member(&mut carol, chan, "alice").await;
    carol.client.join(chan).await;
    alice.expect_join("carol", chan).await;

    cluster.node_mut(2).kill();
    drop(carol);
    cluster.node_mut(2).start().await;
    alice
        .expect("carol's QUIT, since her connection died with node 2", |m| {
            m.is_from("QUIT", "carol")
        })
        .await;
    let mut carol = Watched::register(&cluster, 2, "carol").await;
    carol.client.join(chan).await;
    alice.expect_join("carol", chan).await;
    let mut q1 = cluster.node(1).register("query1", CAPS).await;
    let mut q2 = cluster.node(2).register("query2", CAPS).await;
    agreed_view(&mut [&mut q1, &mut q2], chan, "one alice, one carol", |v| {
        v.names.len() == 2 && v.nicks() == BTreeSet::from(["alice", "carol"])
    })
    .await;
}

/// Messages in the bursts of the link queue tests.
const BURST: usize = 1500;

/// Starts two nodes with `link_queue_frames`, alice on node 1 and bob on node 2 in one channel,
/// and has alice send [`BURST`] messages in one write; bob must get each once, in order.
async fn burst_across(link_queue_frames: usize) -> Cluster {
    let timing = Timing {
        link_queue_frames,
        ..Timing::DEFAULT
    };
    let chan = "#burst";
    let cluster = Cluster::start(2, timing).await;
    let mut alice = cluster.node(1).register("alice", &[]).await;
    alice.join(chan).await;
    let mut bob = Watched::register(&cluster, 2, "bob").await;
    wait_for_member(&mut bob, chan, "alice").await;
    bob.client.join(chan).await;
    alice.expect("JOIN").await;

    let burst: String = (0..BURST)
        .map(|n| format!("PRIVMSG {chan} :m{n}\r\n"))
        .collect();
    alice.send_raw(burst.as_bytes()).await;
    for n in 0..BURST {
        let got = bob
            .expect(&format!("message {n} of the burst"), |m| {
                m.command == "PRIVMSG"
            })
            .await;
        assert_eq!(got.last(), format!("m{n}"), "the burst in order, once each");
    }
    cluster
}

#[tokio::test]
async fn a_burst_goes_out_several_ops_to_a_frame() {
    let cluster = burst_across(1024).await;
    let node = cluster.node(1);
    let shipped = node.metric("latticed_replication_ops_shipped_total");
    let frames = node.metric("latticed_cluster_frames_sent_total");
    assert!(shipped >= BURST as f64, "{shipped} ops shipped");
    assert!(
        frames * 4.0 < shipped,
        "{shipped} ops went out in {frames} frames"
    );
    assert_eq!(
        node.metric("latticed_replication_ops_sent_from_log_total"),
        0.0,
        "the queue had room"
    );
}

#[tokio::test]
async fn a_burst_bigger_than_the_link_queue_arrives_whole_and_in_order() {
    // Two frames fit in a link's queue: the burst overflows it at once.
    let cluster = burst_across(2).await;
    let from_log = cluster
        .node(1)
        .metric("latticed_replication_ops_sent_from_log_total");
    assert!(
        from_log > 0.0,
        "node 1's link queue overflowed and node 2 got the rest from its log"
    );
}

/// The QUIT reason of users hidden by an expired split.
const SPLIT_REASON: &str = "*.net *.split";

/// Issue 3, item 6: node 2 stays unreachable past the grace period. Its users quit for node 1's
/// clients with `*.net *.split` and vanish from NAMES and WHOIS there; node 2's own clients see
/// nothing (its grace period never expired). When node 2 links again, its users JOIN again with
/// their prefixes. Then node 2 crashes and restarts: its users' sessions ended with it, so node
/// 1's clients, who already saw them quit, see no second QUIT and no JOIN of the dead sessions,
/// and a new user there joins as usual.
#[tokio::test]
async fn a_split_longer_than_the_grace_period_quits_and_rejoins_the_lost_users() {
    let timing = Timing {
        keepalive_ms: 300,
        idle_timeout_ms: 1000,
        grace_period_secs: 2,
        ..Timing::DEFAULT
    };
    let chan = "#longsplit";
    let mut cluster = Cluster::start(2, timing).await;
    let mut alice = Watched::register(&cluster, 1, "alice").await;
    alice.client.join(chan).await;
    let mut carol = Watched::register(&cluster, 2, "carol").await;
    wait_for_member(&mut carol, chan, "alice").await;
    carol.client.join(chan).await;
    alice.expect_join("carol", chan).await;
    alice.client.send(&format!("MODE {chan} +v carol")).await;
    carol
        .expect_change("alice", "MODE", &[chan, "+v", "carol"])
        .await;
    carol.client.send("MODE carol +i").await;
    carol
        .expect("carol's +i", |m| m.command == "MODE" && m.last() == "+i")
        .await;
    alice
        .lusers_become("There are 1 users and 1 invisible on 2 servers")
        .await;
    let carols_own = "#carolsown";
    carol.client.join(carols_own).await;
    alice.list_becomes(&[(chan, "2"), (carols_own, "1")]).await;
    for member in [&mut alice, &mut carol] {
        member.sync().await;
        member.seen.clear();
    }

    cluster.node(2).pause();
    let quit = alice
        .expect("carol's split QUIT", |m| m.is_from("QUIT", "carol"))
        .await;
    assert_eq!(quit.last(), SPLIT_REASON);
    // LUSERS counts only the users alice can see: the hidden carol, invisible, is not one.
    alice
        .lusers_become("There are 1 users and 0 invisible on 2 servers")
        .await;
    let names = alice.client.names(chan).await;
    assert_eq!(names.len(), 1, "only alice is left: {names:?}");
    assert_eq!(bare_nick(&names[0]), "alice");
    // LIST agrees: carol is not counted, and her channel, where alice saw everyone quit, is gone.
    alice.list_becomes(&[(chan, "1")]).await;
    alice.client.send("WHOIS carol").await;
    alice
        .expect("401 for the hidden carol", |m| m.command == "401")
        .await;
    let said = say(&mut alice, chan, "said while carol was split off", &mut []).await;
    cluster.node(2).resume();

    let join = alice
        .expect("carol joining again", |m| m.is_from("JOIN", "carol"))
        .await;
    assert!(join.param(0).eq_ignore_ascii_case(chan), "{join:?}");
    let mode = alice
        .expect("carol's voice again", |m| m.command == "MODE")
        .await;
    assert_eq!(mode.params, [chan, "+v", "carol"], "{mode:?}");
    let got = carol
        .expect("the message of the split", |m| m.command == "PRIVMSG")
        .await;
    assert_eq!(delivered(&got), said);
    say(&mut carol, chan, "carol is back", &mut [&mut alice]).await;
    alice.sync().await;
    carol.sync().await;
    let shown = carol.split_signs();
    assert!(
        shown.is_empty(),
        "node 2's grace period never expired, yet carol saw: {shown:#?}"
    );
    assert_eq!(
        cluster
            .node(1)
            .metric("latticed_cluster_split_expiries_total"),
        1.0
    );

    cluster.node_mut(2).kill();
    drop(carol);
    // The pause inflated QUIC's round-trip estimate, and a link is only declared dead after the
    // idle timeout or three probe timeouts, whichever is longer: allow for that here.
    let quit = alice
        .expect_within("carol's split QUIT after the crash", CONVERGE * 2, |m| {
            m.is_from("QUIT", "carol")
        })
        .await;
    assert_eq!(quit.last(), SPLIT_REASON);
    alice.seen.clear();
    cluster.node_mut(2).start().await;
    let mut dave = Watched::register(&cluster, 2, "dave").await;
    wait_for_member(&mut dave, chan, "alice").await;
    dave.client.join(chan).await;
    alice.expect_join("dave", chan).await;
    alice.sync().await;
    let about_carol: Vec<&Msg> = alice.seen.iter().filter(|m| m.nick() == "carol").collect();
    assert!(
        about_carol.is_empty(),
        "carol already quit for alice; her restarted node must not show her again: {about_carol:#?}"
    );
    let mut q1 = cluster.node(1).register("query1", CAPS).await;
    let mut q2 = cluster.node(2).register("query2", CAPS).await;
    agreed_view(&mut [&mut q1, &mut q2], chan, "alice and dave", |v| {
        v.nicks() == BTreeSet::from(["alice", "dave"])
    })
    .await;
}

/// A partial partition: the link between nodes 1 and 3 is cut for well past the grace period
/// while both stay linked to node 2. Node 2 tells both that it still reaches the other, so nobody
/// is shown as split, and it passes each side's live ops on, so messages between the two sides
/// keep arriving as they are sent. Mending the link changes nothing a client sees.
#[tokio::test]
async fn a_partial_partition_is_bridged_by_the_peer_linked_to_both_sides() {
    let timing = Timing {
        keepalive_ms: 300,
        idle_timeout_ms: 1000,
        grace_period_secs: 2,
        ..Timing::DEFAULT
    };
    let chan = "#bridged";
    let (cluster, mut alice, mut carol) = partially_partitioned(timing, chan).await;
    // Past the grace period, counted from the links' end.
    tokio::time::sleep(Duration::from_secs(timing.grace_period_secs + 1)).await;
    say(
        &mut carol,
        chan,
        "from node 3 across the cut",
        &mut [&mut alice],
    )
    .await;
    say(
        &mut alice,
        chan,
        "from node 1 across the cut",
        &mut [&mut carol],
    )
    .await;
    alice.client.send("WHOIS carol").await;
    alice
        .expect("carol's WHOIS", |m| {
            m.command == "311" || m.command == "401"
        })
        .await;
    assert!(
        alice.seen.iter().any(|m| m.command == "311"),
        "carol must stay known on node 1: {:?}",
        alice.seen
    );
    assert!(
        cluster
            .node(2)
            .metric("latticed_replication_ops_relayed_total")
            >= 2.0
    );
    for node in [1, 3] {
        assert_eq!(
            cluster
                .node(node)
                .metric("latticed_cluster_split_expiries_total"),
            0.0,
            "node {node} counted a split"
        );
    }

    cluster.mend(1, 3);
    for node in [1, 3] {
        peers_up_become(&cluster, node, 2.0).await;
    }
    say(&mut carol, chan, "from node 3, mended", &mut [&mut alice]).await;
    say(&mut alice, chan, "from node 1, mended", &mut [&mut carol]).await;
    for member in [&mut alice, &mut carol] {
        member.sync().await;
        let shown = member.split_signs();
        assert!(
            shown.is_empty(),
            "{} saw signs of a split: {shown:#?}",
            member.nick()
        );
    }
}

/// A burst from one side of a partial partition through link queues far too small for it: the
/// origin falls back to sending its ops from its log, the relay's queue refuses frames to pass
/// on and it asks the far side to resync. The far side still gets every message, once and in
/// order.
#[tokio::test]
async fn a_burst_across_a_partial_partition_arrives_whole_and_in_order() {
    let timing = Timing {
        keepalive_ms: 300,
        idle_timeout_ms: 1000,
        // Two frames fit in a link's queue: the burst overflows it at once.
        link_queue_frames: 2,
        ..Timing::DEFAULT
    };
    let chan = "#bridgedburst";
    let (cluster, mut alice, mut carol) = partially_partitioned(timing, chan).await;

    let burst: String = (0..BURST)
        .map(|n| format!("PRIVMSG {chan} :m{n}\r\n"))
        .collect();
    carol.client.send_raw(burst.as_bytes()).await;
    for n in 0..BURST {
        let got = alice
            .expect(&format!("message {n} of the burst"), |m| {
                m.command == "PRIVMSG"
            })
            .await;
        assert_eq!(got.last(), format!("m{n}"), "the burst in order, once each");
    }
    assert!(
        cluster
            .node(2)
            .metric("latticed_replication_ops_relayed_total")
            > 0.0
    );
    assert!(
        cluster
            .node(3)
            .metric("latticed_replication_ops_sent_from_log_total")
            > 0.0,
        "node 3's queue to node 2 overflowed and node 2 got the rest from its log"
    );
}

/// Three nodes with `timing`, alice on node 1 and carol on node 3 in `chan` (lines seen so far
/// forgotten), then the link between nodes 1 and 3 cut, both sides having noticed.
async fn partially_partitioned(timing: Timing, chan: &str) -> (Cluster, Watched, Watched) {
    let cluster = Cluster::start_with_cuttable(3, timing, &[(1, 3)]).await;
    let mut alice = Watched::register(&cluster, 1, "alice").await;
    alice.client.join(chan).await;
    let mut carol = Watched::register(&cluster, 3, "carol").await;
    wait_for_member(&mut carol, chan, "alice").await;
    carol.client.join(chan).await;
    alice.expect_join("carol", chan).await;
    for member in [&mut alice, &mut carol] {
        member.sync().await;
        member.seen.clear();
    }
    cluster.cut(1, 3);
    for node in [1, 3] {
        peers_up_become(&cluster, node, 1.0).await;
    }
    (cluster, alice, carol)
}

/// Waits until node `node` reports `want` linked peers.
async fn peers_up_become(cluster: &Cluster, node: u64, want: f64) {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let up = cluster.node(node).metric("latticed_cluster_peers_up");
        if up == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {node} has {up} peers up, not {want}, after {CONVERGE:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Issue 4, item 2: a node joining a cluster whose log is long starts from a peer's snapshot, so
/// it serves the current state without replaying every op, and still receives every op for its
/// own log: CHATHISTORY on it holds the messages from before it joined, with their ids.
#[tokio::test]
async fn a_new_node_starts_from_a_peers_snapshot_and_still_gets_every_op() {
    let timing = Timing {
        snapshot_every_ops: 20,
        ..Timing::DEFAULT
    };
    let chan = "#snapshot";
    let mut cluster = Cluster::start(2, timing).await;
    let mut alice = Watched::register(&cluster, 1, "alice").await;
    alice.client.join(chan).await;
    alice
        .client
        .send(&format!("TOPIC {chan} :set before the join"))
        .await;
    let mut said = Vec::new();
    for i in 0..30 {
        said.push(say(&mut alice, chan, &format!("before the join {i}"), &mut []).await);
    }
    let snapshot_age = "latticed_log_snapshot_age_seconds{tenant=\"default\"}";
    let deadline = Instant::now() + CONVERGE;
    while metric_value(
        &http::must_get(cluster.node(1).admin, "/metrics", None).body,
        snapshot_age,
    )
    .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "node 1 wrote no snapshot within {CONVERGE:?}"
        );
        tokio::time::sleep(POLL).await;
    }

    cluster.join(1).await;
    // No client is on node 3 yet, so nothing but the snapshot can start its state.
    let deadline = Instant::now() + CONVERGE;
    while cluster
        .node(3)
        .metric("latticed_replication_snapshots_applied_total")
        < 1.0
    {
        assert!(
            Instant::now() < deadline,
            "node 3 did not start from node 1's snapshot within {CONVERGE:?}"
        );
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(
        cluster
            .node(1)
            .metric("latticed_replication_snapshots_sent_total"),
        1.0
    );
    let mut q1 = cluster.node(1).register("query1", CAPS).await;
    let mut q3 = cluster.node(3).register("query3", CAPS).await;
    let view = agreed_view(&mut [&mut q1, &mut q3], chan, "alice and the topic", |v| {
        v.nicks().contains("alice") && v.topic_text() == Some("set before the join")
    })
    .await;
    assert!(view.modes.is_some(), "{view:#?}");
    let mut reader = Watched {
        client: q3,
        seen: Vec::new(),
    };
    reader.client.join(chan).await;
    history_becomes(&mut reader, chan, &said).await;
}
