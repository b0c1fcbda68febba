//! What the event log keeps across the life of the real `latticed` process: a `kill -9` under
//! write load and on a quiet node, a damaged data directory, the offline `replay` / `events`
//! CLI, and the authenticated admin API over the same log.
//!
//! Every test runs the binary as a child process (see `support::process`) on fresh loopback
//! ports and a scratch data directory; the child is killed when the test ends, even on panic.

mod support;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::time::Duration;

use latticed_crdt::TenantId;
use latticed_eventlog::EventLog;
use serde_json::Value;
use support::files::{damage, files_under, quarantined};
use support::http::must_get;
use support::json::{array, at, has_string, objects_with};
use support::msg::Msg;
use support::process::{NodeProcess, FLUSH_INTERVAL_MS};
use support::time::{iso8601, now_ms, parse_server_time};
use support::{bare_nick, join_all, realname, Client, Read};
use tokio::time::Instant;

/// Capabilities of the load clients: every line they send comes back with its msgid and time.
const LOAD_CAPS: &[&str] = &["echo-message", "message-tags", "server-time"];
/// Capabilities of clients that read history.
const HISTORY_CAPS: &[&str] = &["draft/chathistory", "batch", "message-tags", "server-time"];
/// Lines each load client sends per round trip.
const WINDOW: usize = 25;
/// How long the write load runs before the kill.
const LOAD_TIME: Duration = Duration::from_secs(2);
/// What was acknowledged this long before the kill must have been flushed: the flush interval
/// plus a wide margin for a loaded machine.
const DURABLE_AFTER: Duration = Duration::from_millis(FLUSH_INTERVAL_MS + 450);
/// History page size for reading everything back.
const PAGE: usize = 500;
/// The admin token of the admin API test.
const TOKEN: &str = "0123456789abcdef0123";

/// One line a load client sent, waiting for its echo.
#[derive(Clone, Debug)]
enum Sent {
    Message(String),
    Join(String),
    Topic(String, String),
    Secret(String),
}

/// A sent line whose echo arrived, and when.
#[derive(Clone, Debug)]
struct Ack {
    line: Sent,
    msgid: Option<String>,
    at: Instant,
}

/// Whether `m` is the echo of `sent` by `nick`.
fn echoes(m: &Msg, nick: &str, sent: &Sent) -> bool {
    match sent {
        Sent::Message(text) => {
            m.is_from("PRIVMSG", nick) && m.param(0) == "#durable" && m.last() == text
        }
        Sent::Join(channel) => m.is_from("JOIN", nick) && m.param(0) == channel,
        Sent::Topic(channel, text) => {
            m.is_from("TOPIC", nick) && m.param(0) == channel && m.last() == text
        }
        Sent::Secret(channel) => m.is_from("MODE", nick) && m.params == [channel.as_str(), "+s"],
    }
}

/// Sends PRIVMSGs to `#durable` (and now and then JOINs a side channel, sets its topic and makes
/// it secret) as fast as the echoes come back, until the connection dies; returns every echo.
async fn load(mut client: Client, who: usize) -> Vec<Ack> {
    let nick = client.nick.clone();
    let mut acks = Vec::new();
    let mut seq = 0usize;
    let mut round = 0usize;
    loop {
        round += 1;
        let mut batch = String::new();
        let mut waiting = VecDeque::new();
        if round % 8 == 7 {
            let channel = format!("#side-{who}-{round}");
            let topic = format!("side topic {who} {round}");
            batch.push_str(&format!(
                "JOIN {channel}\r\nTOPIC {channel} :{topic}\r\nMODE {channel} +s\r\n"
            ));
            waiting.push_back(Sent::Join(channel.clone()));
            waiting.push_back(Sent::Topic(channel.clone(), topic));
            waiting.push_back(Sent::Secret(channel));
        }
        for _ in 0..WINDOW {
            let text = format!("load {who} {seq}");
            batch.push_str(&format!("PRIVMSG #durable :{text}\r\n"));
            waiting.push_back(Sent::Message(text));
            seq += 1;
        }
        if client.try_send_raw(batch.as_bytes()).await.is_err() {
            return acks;
        }
        while let Some(front) = waiting.front() {
            match client.recv_or_end(Duration::from_secs(10)).await {
                Read::Line(m) if echoes(&m, &nick, front) => {
                    acks.push(Ack {
                        line: front.clone(),
                        msgid: m.tag("msgid").map(str::to_owned),
                        at: Instant::now(),
                    });
                    waiting.pop_front();
                }
                Read::Line(_) => {}
                Read::Eof => return acks,
                Read::Timeout => client.fail(&format!("no echo of {front:?} within 10 s")),
            }
        }
    }
}

/// Reads a channel's whole history with LATEST and then BEFORE paging; returns it oldest first.
async fn whole_history(client: &mut Client, channel: &str) -> Vec<Msg> {
    let mut all = client.history(&format!("LATEST {channel} * {PAGE}")).await;
    loop {
        let Some(oldest) = all.first().and_then(|m| m.tag("msgid")) else {
            return all;
        };
        let page = client
            .history(&format!("BEFORE {channel} msgid={oldest} {PAGE}"))
            .await;
        assert!(page.len() <= PAGE, "a page of {} > {PAGE}", page.len());
        if page.is_empty() {
            return all;
        }
        all.splice(0..0, page);
    }
}

/// The tenant's state at the end of the log in `dir`, read with the event log library.
fn logged_state(dir: &Path) -> latticed_crdt::TenantSnapshot {
    let log = EventLog::open(dir).expect("the log a killed node left opens");
    log.replay(&TenantId("default".to_owned()), now_ms())
        .expect("replay the log")
        .snapshot()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_write_load_keeps_everything_acknowledged_before_the_last_flush() {
    let mut node = NodeProcess::configure("", "\n[tenants.history]\nmax_query = 500\n");
    node.start();
    let alice = Client::register_with_caps(node.client, "alice", LOAD_CAPS).await;
    let bob = Client::register_with_caps(node.client, "bob", LOAD_CAPS).await;
    let carol = Client::register_with_caps(node.client, "carol", LOAD_CAPS).await;
    let [mut alice, bob, carol] = join_all("#durable", [alice, bob, carol]).await;
    alice.send("TOPIC #durable :durable topic").await;
    alice.expect_from("TOPIC", "alice").await;
    alice.send("MODE #durable +s").await;
    alice.expect_mode("alice", &["#durable", "+s"]).await;
    alice.send("MODE #durable +l 50").await;
    alice.expect_mode("alice", &["#durable", "+l", "50"]).await;

    let loads: Vec<_> = [alice, bob, carol]
        .into_iter()
        .enumerate()
        .map(|(who, client)| tokio::spawn(load(client, who)))
        .collect();
    tokio::time::sleep(LOAD_TIME).await;
    let killed_at = Instant::now();
    node.kill();
    let mut acks = Vec::new();
    for handle in loads {
        let done = tokio::time::timeout(Duration::from_secs(20), handle)
            .await
            .expect("a load client did not notice the kill within 20 s");
        acks.extend(done.expect("a load client panicked"));
    }
    let cutoff = killed_at - DURABLE_AFTER;
    let (durable, recent): (Vec<Ack>, Vec<Ack>) = acks.into_iter().partition(|a| a.at < cutoff);
    let durable_messages: BTreeMap<String, String> = durable
        .iter()
        .filter_map(|a| match &a.line {
            Sent::Message(text) => Some((
                text.clone(),
                a.msgid
                    .clone()
                    .unwrap_or_else(|| panic!("echo without msgid: {a:?}")),
            )),
            _ => None,
        })
        .collect();
    assert!(
        durable_messages.len() >= 100,
        "the load was too light to test anything: {} messages",
        durable_messages.len()
    );
    assert!(
        !recent.is_empty(),
        "no echo in the last {DURABLE_AFTER:?}: the kill did not hit a loaded node"
    );

    // State: the log alone, read after the kill, holds every acknowledged state change. It is
    // read here rather than with TOPIC / MODE after the restart because a restart ends every
    // session of the killed process, which empties and so ends every channel of a lone node.
    let state = logged_state(&node.data_dir());
    let channel = |name: &str| state.channels.iter().find(|c| c.name == name);
    let durable_chan = channel("#durable").expect("#durable is in the log");
    assert_eq!(
        durable_chan.topic.as_ref().map(|t| t.text.as_str()),
        Some("durable topic")
    );
    assert!(durable_chan.flags.contains('s'), "{durable_chan:?}");
    assert_eq!(durable_chan.limit, Some(50));
    let mut side_checked = 0;
    let side_acked: BTreeSet<String> = durable
        .iter()
        .filter_map(|a| match &a.line {
            Sent::Secret(channel) => Some(channel.clone()),
            _ => None,
        })
        .collect();
    for ack in &durable {
        if let Sent::Topic(name, text) = &ack.line {
            let side = channel(name).unwrap_or_else(|| panic!("acknowledged {name} lost"));
            assert_eq!(
                side.topic.as_ref().map(|t| t.text.as_str()),
                Some(text.as_str()),
                "{name}"
            );
            if side_acked.contains(name) {
                assert!(side.flags.contains('s'), "acknowledged +s lost: {side:?}");
                side_checked += 1;
            }
        }
    }
    assert!(side_checked > 0, "no side channel was acknowledged early");

    node.start();
    assert_eq!(node.metric("latticed_log_quarantines_total"), 0.0);
    let mut alice = Client::register_with_caps(node.client, "alice", HISTORY_CAPS).await;
    alice.send("WHOWAS carol").await;
    let whowas = alice.expect_numeric_or(&["314", "406"]).await;
    assert_eq!(
        whowas.command, "314",
        "carol's session was restored, then ended: {whowas}"
    );
    assert_eq!(whowas.last(), realname("carol"));
    let names = alice.join("#durable").await;
    let names: Vec<&str> = names.iter().map(|n| bare_nick(n)).collect();
    assert_eq!(names, ["alice"], "sessions of the killed process ended");
    node.wait_for_flush();
    assert!(
        node.metric("latticed_log_appends_total") >= 2.0,
        "alice's arrival and join were written by the log's writer thread"
    );
    assert_eq!(node.metric("latticed_log_append_errors_total"), 0.0);
    assert_eq!(node.metric("latticed_log_writer_backlog"), 0.0);
    assert_eq!(
        node.metric(r#"latticed_log_commit_waits_total{cause="writer_backlog"}"#),
        0.0,
        "a handful of ops never fills the writer's backlog"
    );
    assert!(node.metric(r#"latticed_log_commit_wait_seconds_total{cause="clock_ceiling"}"#) >= 0.0);

    let history = whole_history(&mut alice, "#durable").await;
    let mut seen = BTreeMap::new();
    let mut last_time = 0;
    for m in &history {
        let time = parse_server_time(m.tag("time").unwrap_or_else(|| panic!("no time: {m}")));
        assert!(time >= last_time, "history out of order at {m}");
        last_time = time;
        let msgid = m.tag("msgid").unwrap_or_else(|| panic!("no msgid: {m}"));
        let earlier = seen.insert(m.last().to_owned(), msgid.to_owned());
        assert!(earlier.is_none(), "message twice in history: {m}");
    }
    let lost: Vec<_> = durable_messages
        .iter()
        .filter(|(text, msgid)| seen.get(*text) != Some(*msgid))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} messages acknowledged over {DURABLE_AFTER:?} before the kill are missing or \
         changed id (history holds {}); first: {:?}",
        lost.len(),
        durable_messages.len(),
        history.len(),
        &lost[..lost.len().min(5)]
    );

    let bob = Client::register_with_caps(node.client, "bob", LOAD_CAPS).await;
    let carol = Client::register(node.client, "carol").await;
    let [mut bob, mut carol] = join_all("#after", [bob, carol]).await;
    bob.send("PRIVMSG #after :the restarted node serves").await;
    let got = carol.expect_from("PRIVMSG", "bob").await;
    assert_eq!(got.last(), "the restarted node serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_on_a_quiet_node_keeps_what_was_acknowledged_a_few_flush_intervals_earlier() {
    // On a quiet node nothing but the node's own flush timer writes the log out (the storage
    // engine's timer is ten times slower), so this fails if that timer does not do its job.
    let quiet = Duration::from_millis(4 * FLUSH_INTERVAL_MS);
    let mut node = NodeProcess::configure("", "");
    node.start();
    let mut sent = Vec::new();
    for round in 0..3 {
        let mut alice = Client::register_with_caps(node.client, "alice", LOAD_CAPS).await;
        alice.join("#quiet").await;
        let text = format!("quiet {round}");
        alice.send(&format!("PRIVMSG #quiet :{text}")).await;
        let echo = alice.expect_from("PRIVMSG", "alice").await;
        let msgid = echo.tag("msgid").expect("echo with msgid").to_owned();
        sent.push((text, msgid));
        tokio::time::sleep(quiet).await;
        node.kill();
        node.start();
    }
    let mut reader = Client::register_with_caps(node.client, "reader", HISTORY_CAPS).await;
    reader.join("#quiet").await;
    let history: Vec<(String, String)> = reader
        .history("LATEST #quiet * 10")
        .await
        .iter()
        .map(|m| {
            let msgid = m.tag("msgid").unwrap_or_else(|| panic!("no msgid: {m}"));
            (m.last().to_owned(), msgid.to_owned())
        })
        .collect();
    assert_eq!(
        history, sent,
        "each message was acknowledged {quiet:?} before a kill -9"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_data_directory_is_moved_aside_and_the_node_starts_fresh() {
    let mut node = NodeProcess::configure("", "");
    node.start();
    let mut alice = Client::register_with_caps(node.client, "alice", HISTORY_CAPS).await;
    alice.join("#old").await;
    alice.send("PRIVMSG #old :before the damage").await;
    alice.sync().await;
    let status = node.terminate();
    assert!(status.success(), "SIGTERM is a clean stop: {status}");

    let damaged = damage(&node.data_dir());
    node.start();
    assert_eq!(node.metric("latticed_log_quarantines_total"), 1.0);
    let aside = quarantined(&node.data_dir());
    assert_eq!(aside.len(), 1, "one quarantined copy: {aside:?}");
    assert_eq!(
        files_under(&aside[0]),
        damaged,
        "the damaged files are kept as they were"
    );
    assert!(node.data_dir().is_dir(), "a fresh data directory");

    let mut alice = Client::register_with_caps(node.client, "alice", HISTORY_CAPS).await;
    let names = alice.join("#old").await;
    assert_eq!(names, ["@alice"], "a new channel on an empty log");
    assert!(
        alice.history("LATEST #old * 10").await.is_empty(),
        "the fresh log has no history"
    );
    alice.send("PRIVMSG #old :after the damage").await;
    alice.sync().await;
    let status = node.terminate();
    assert!(status.success(), "SIGTERM is a clean stop: {status}");

    node.start();
    assert_eq!(
        node.metric("latticed_log_quarantines_total"),
        0.0,
        "the fresh log opens cleanly"
    );
    assert_eq!(
        quarantined(&node.data_dir()),
        aside,
        "nothing else was moved aside"
    );
    let mut alice = Client::register_with_caps(node.client, "alice", HISTORY_CAPS).await;
    alice.join("#old").await;
    let history = alice.history("LATEST #old * 10").await;
    let texts: Vec<&str> = history.iter().map(Msg::last).collect();
    assert_eq!(
        texts,
        ["after the damage"],
        "the fresh log kept its own writes"
    );
}

/// The nick of the user whose `uid` value is `uid` in a replayed state.
fn nick_of<'a>(state: &'a Value, uid: &Value) -> &'a str {
    array(at(state, &["users"]))
        .iter()
        .find(|u| u.get("uid") == Some(uid))
        .and_then(|u| u.get("nick"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no user with uid {uid} in:\n{state:#}"))
}

/// The channel named `name` in a replayed state.
fn channel_in<'a>(state: &'a Value, name: &str) -> Option<&'a Value> {
    array(at(state, &["channels"]))
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
}

/// A channel's members in a replayed state as NAMES shows them without multi-prefix: the
/// highest prefix symbol, then the nick.
fn members_as_names(state: &Value, channel: &Value) -> BTreeSet<String> {
    array(at(channel, &["members"]))
        .iter()
        .map(|m| {
            let prefixes = at(m, &["prefixes"]).as_str().expect("prefixes is text");
            let symbol = match prefixes.chars().next() {
                Some('o') => "@",
                Some('v') => "+",
                Some(other) => panic!("unexpected prefix mode {other} in {m}"),
                None => "",
            };
            format!("{symbol}{}", nick_of(state, at(m, &["uid"])))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_events_read_what_the_node_left_and_repeat_exactly() {
    let mut node = NodeProcess::configure("", "");
    node.start();
    let alice = Client::register(node.client, "alice").await;
    let bob = Client::register(node.client, "bob").await;
    let [mut alice, mut bob] = join_all("#replay", [alice, bob]).await;
    alice.send("TOPIC #replay :what replay shows").await;
    bob.expect_from("TOPIC", "alice").await;
    alice.send("MODE #replay +v bob").await;
    bob.expect_mode("alice", &["#replay", "+v", "bob"]).await;
    alice.send("PRIVMSG #replay :hello replay").await;
    bob.expect_from("PRIVMSG", "alice").await;
    alice.send("PRIVMSG bob :private hello").await;
    bob.expect_from("PRIVMSG", "alice").await;
    let live_names: BTreeSet<String> = bob.names("#replay").await.into_iter().collect();
    bob.send("TOPIC #replay").await;
    let live_topic = bob.expect("332").await.last().to_owned();

    let t1 = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    alice.join("#later").await;
    let t2 = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let refused = must_get(node.admin, "/admin/events?tenant=default", None);
    assert_eq!(refused.status, 403, "no token configured: {refused:?}");
    let refused = must_get(node.admin, "/admin/events?tenant=default", Some(TOKEN));
    assert_eq!(refused.status, 403, "no token configured: {refused:?}");

    node.wait_for_flush();
    node.kill();

    let now = iso8601(now_ms());
    let replay = [
        "replay", "--data", "data", "--tenant", "default", "--at", &now,
    ];
    let first = node.cli_ok(&replay);
    let second = node.cli_ok(&replay);
    assert_eq!(first, second, "replaying twice prints the same bytes");
    assert!(first.ends_with('\n'), "output ends with a newline");
    let state: Value = serde_json::from_str(&first)
        .unwrap_or_else(|e| panic!("replay output is not JSON ({e}):\n{first}"));
    let replayed = channel_in(&state, "#replay")
        .unwrap_or_else(|| panic!("#replay is not in the replay:\n{state:#}"));
    assert_eq!(
        at(replayed, &["topic", "text"]).as_str(),
        Some(live_topic.as_str()),
        "topic as TOPIC showed it"
    );
    assert_eq!(
        members_as_names(&state, replayed),
        live_names,
        "members as NAMES showed them"
    );
    assert!(channel_in(&state, "#later").is_some(), "{state:#}");

    let before_later = iso8601(t1);
    let earlier = node.cli_ok(&[
        "replay",
        "--data",
        "data",
        "--tenant",
        "default",
        "--at",
        &before_later,
    ]);
    let earlier: Value = serde_json::from_str(&earlier).expect("replay output is JSON");
    assert!(channel_in(&earlier, "#replay").is_some(), "{earlier:#}");
    assert!(
        channel_in(&earlier, "#later").is_none(),
        "--at is honoured: #later did not exist at t1"
    );

    let diff = node.cli_ok(&[
        "replay",
        "--data",
        "data",
        "--tenant",
        "default",
        "--diff",
        &t1.to_string(),
        &t2.to_string(),
    ]);
    let diff: Value = serde_json::from_str(&diff)
        .unwrap_or_else(|e| panic!("diff output is not JSON ({e}):\n{diff}"));
    let added = at(&diff, &["channels", "added"]);
    assert_eq!(objects_with(added, "name", "#later").len(), 1, "{diff:#}");
    assert!(
        objects_with(added, "name", "#replay").is_empty(),
        "{diff:#}"
    );

    let events = node.cli_ok(&["events", "--data", "data", "--type", "message"]);
    let lines: Vec<Value> = events
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object ({e}): {l}"))
        })
        .collect();
    assert_eq!(lines.len(), 2, "two messages were sent:\n{events}");
    assert!(lines.iter().all(Value::is_object), "{events}");
    assert!(has_string(&lines[0], "hello replay"), "{events}");
    assert!(has_string(&lines[1], "private hello"), "{events}");

    let filtered = node.cli_ok(&[
        "events", "--data", "data", "--tenant", "default", "--type", "message", "--target",
        "#replay", "--limit", "10",
    ]);
    let filtered: Vec<&str> = filtered.lines().collect();
    assert_eq!(filtered.len(), 1, "{filtered:?}");
    assert!(filtered[0].contains("hello replay"), "{filtered:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_requires_the_token_and_serves_events_and_replay() {
    let mut node = NodeProcess::configure(&format!("token = \"{TOKEN}\""), "");
    node.start();
    let before_channel = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut alice = Client::register(node.client, "alice").await;
    alice.join("#admin").await;
    alice.send("TOPIC #admin :admin topic").await;
    alice.expect_from("TOPIC", "alice").await;
    alice.send("PRIVMSG #admin :admin api message").await;
    alice.sync().await;
    let now = now_ms();

    assert_eq!(must_get(node.admin, "/healthz", None).status, 200);
    let events = "/admin/events?tenant=default";
    let replay = format!("/admin/replay?tenant=default&at={now}");
    for path in [events, replay.as_str()] {
        let anonymous = must_get(node.admin, path, None);
        assert_eq!(
            anonymous.status, 401,
            "{path} without a token: {anonymous:?}"
        );
        let wrong = must_get(node.admin, path, Some("0123456789abcdef0124"));
        assert_eq!(wrong.status, 401, "{path} with a wrong token: {wrong:?}");
    }

    let all = must_get(node.admin, events, Some(TOKEN));
    assert_eq!(all.status, 200, "{all:?}");
    let all = all.json();
    assert!(has_string(&all, "admin api message"), "{all:#}");
    assert!(has_string(&all, "admin topic"), "{all:#}");
    let messages = must_get(
        node.admin,
        &format!("{events}&type=message&target=%23admin&from={before_channel}&to={now}&limit=10"),
        Some(TOKEN),
    );
    assert_eq!(messages.status, 200, "{messages:?}");
    let messages = messages.json();
    assert!(has_string(&messages, "admin api message"), "{messages:#}");
    assert!(
        !has_string(&messages, "admin topic"),
        "type=message leaves the topic out: {messages:#}"
    );

    let state = must_get(node.admin, &replay, Some(TOKEN));
    assert_eq!(state.status, 200, "{state:?}");
    let state = state.json();
    let channels = objects_with(&state, "name", "#admin");
    assert_eq!(channels.len(), 1, "{state:#}");
    assert_eq!(
        at(channels[0], &["topic", "text"]).as_str(),
        Some("admin topic")
    );
    let earlier = must_get(
        node.admin,
        &format!("/admin/replay?tenant=default&at={before_channel}"),
        Some(TOKEN),
    );
    assert_eq!(earlier.status, 200, "{earlier:?}");
    assert!(
        objects_with(&earlier.json(), "name", "#admin").is_empty(),
        "at= is honoured"
    );
}
