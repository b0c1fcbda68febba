//! Shared support for the node's integration tests: a small, independent IRC client over real TCP,
//! a parser for the lines the server sends, and builders for test configurations.
//!
//! The client deliberately does not use `latticed-proto`: the tests must judge the server with a
//! parser of their own, so a bug shared by the server and its protocol crate cannot hide itself.
//! Every wait is bounded; a wait that expires fails the test and prints what the connection saw.

// Each test binary compiles this module and uses a different subset of its helpers.
#![allow(dead_code)]

pub mod cluster;
pub mod config;
pub mod files;
pub mod history;
pub mod http;
pub mod json;
pub mod link_proxy;
pub mod msg;
pub mod process;
pub mod time;

use config::{node_toml, open_tenant};
use msg::Msg;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// How long any single expectation may wait before the test fails.
const TIMEOUT: Duration = Duration::from_secs(5);

/// How many transcript lines a failure message shows; floods would otherwise drown the output.
const TRANSCRIPT_LINES: usize = 200;

/// The real name every test client registers with, so tests can check it comes back intact.
pub fn realname(nick: &str) -> String {
    format!("Real Name of {nick}")
}

/// The username every test client registers with.
pub const USERNAME: &str = "tester";

/// A node started for one test, on ephemeral ports, torn down by [`TestNode::shutdown`].
pub struct TestNode {
    node: latticed::RunningNode,
    /// The node's event log directory, removed when the test ends.
    data: tempfile::TempDir,
}

impl TestNode {
    /// Starts a node from a TOML configuration string and waits until it listens.
    pub async fn start(toml: &str) -> TestNode {
        let data = tempfile::tempdir().expect("temporary data directory");
        TestNode::start_in(toml, data).await
    }

    /// Starts a node whose event log lives in `data` (a restart test passes the previous node's).
    pub async fn start_in(toml: &str, data: tempfile::TempDir) -> TestNode {
        let mut cfg =
            latticed_config::Config::from_toml_str(toml, std::path::Path::new("test.toml"))
                .unwrap_or_else(|e| panic!("test configuration rejected: {e}\n{toml}"));
        cfg.node.data_dir = data.path().to_path_buf();
        let node = tokio::time::timeout(Duration::from_secs(20), latticed::start(cfg))
            .await
            .expect("node did not start within 20 s")
            .unwrap_or_else(|e| panic!("node failed to start: {e}"));
        TestNode { node, data }
    }

    /// A single `default` tenant with flood control disabled and the standard oper blocks.
    pub async fn default_open() -> TestNode {
        TestNode::start(&node_toml(&[open_tenant("")])).await
    }

    /// The first client listener of the `default` tenant.
    pub fn addr(&self) -> SocketAddr {
        self.tenant_addr("default")
    }

    /// The first client listener of the named tenant.
    pub fn tenant_addr(&self, tenant: &str) -> SocketAddr {
        let addrs = self.node.client_addrs(tenant);
        *addrs
            .first()
            .unwrap_or_else(|| panic!("tenant {tenant} has no client listener"))
    }

    /// Opens an unregistered connection to the `default` tenant.
    pub async fn connect(&self) -> Client {
        Client::connect(self.addr()).await
    }

    /// Registers `nick` on the `default` tenant.
    pub async fn register(&self, nick: &str) -> Client {
        Client::register(self.addr(), nick).await
    }

    /// Registers `nick` on the `default` tenant after negotiating `caps`.
    pub async fn register_with_caps(&self, nick: &str, caps: &[&str]) -> Client {
        Client::register_with_caps(self.addr(), nick, caps).await
    }

    /// Registers `nicks` on the `default` tenant and joins them all to `channel` in order, so the
    /// first one is its operator; every member has consumed every later member's JOIN.
    pub async fn channel<const N: usize>(&self, channel: &str, nicks: [&str; N]) -> [Client; N] {
        let mut clients = Vec::with_capacity(N);
        for nick in nicks {
            clients.push(self.register(nick).await);
        }
        let clients: [Client; N] = clients
            .try_into()
            .unwrap_or_else(|v: Vec<Client>| panic!("registered {} clients, not {N}", v.len()));
        join_all(channel, clients).await
    }

    /// Stops the node; bounded so a hanging shutdown fails the test instead of stalling CI.
    pub async fn shutdown(self) {
        tokio::time::timeout(Duration::from_secs(20), self.node.shutdown())
            .await
            .expect("node did not shut down within 20 s");
    }
}

/// One outcome of reading a line without failing the test: a load generator must keep what it
/// saw when the server dies under it.
pub enum Read {
    /// A line arrived.
    Line(Msg),
    /// The server closed the connection (or it broke).
    Eof,
    /// Nothing arrived in time.
    Timeout,
}

/// A test IRC client over one TCP connection.
pub struct Client {
    /// The nick this client registered with (or `*` before registration).
    pub nick: String,
    /// Everything received during registration (001 to end of MOTD), for burst assertions.
    pub registration: Vec<Msg>,
    /// ISUPPORT tokens from 005; a token without a value maps to "".
    pub isupport: BTreeMap<String, String>,
    /// Capabilities the server advertised in `CAP LS 302`, name to value ("" without one).
    pub caps_ls: BTreeMap<String, String>,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    pending: Vec<u8>,
    transcript: VecDeque<String>,
    sync_counter: u64,
}

impl Client {
    /// Connects without registering.
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("connect to {addr} timed out"))
            .unwrap_or_else(|e| panic!("connect to {addr} failed: {e}"));
        Client::from_stream(stream)
    }

    /// Connects with a tiny kernel receive buffer, so a client that stops reading makes the
    /// server's send queue fill after kilobytes instead of megabytes.
    pub async fn connect_small_rcvbuf(addr: SocketAddr) -> Client {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .expect("create socket");
        socket.set_recv_buffer_size(4096).expect("set SO_RCVBUF");
        let stream = tokio::time::timeout(TIMEOUT, socket.connect(addr))
            .await
            .unwrap_or_else(|_| panic!("connect to {addr} timed out"))
            .unwrap_or_else(|e| panic!("connect to {addr} failed: {e}"));
        Client::from_stream(stream)
    }

    fn from_stream(stream: TcpStream) -> Client {
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        let (reader, writer) = stream.into_split();
        Client {
            nick: "*".to_owned(),
            registration: Vec::new(),
            isupport: BTreeMap::new(),
            caps_ls: BTreeMap::new(),
            reader,
            writer,
            pending: Vec::new(),
            transcript: VecDeque::new(),
            sync_counter: 0,
        }
    }

    /// Connects and registers with NICK/USER, waiting for 001 and the end of the MOTD.
    pub async fn register(addr: SocketAddr, nick: &str) -> Client {
        Client::connect(addr).await.register_as(nick).await
    }

    /// Registers this (fresh) connection with NICK/USER, waiting for 001 and the end of the MOTD.
    pub async fn register_as(mut self, nick: &str) -> Client {
        self.send(&format!("NICK {nick}")).await;
        self.send(&format!("USER {USERNAME} 0 * :{}", realname(nick)))
            .await;
        self.finish_registration(nick).await;
        self
    }

    /// Connects, negotiates `caps` with `CAP LS 302` / `CAP REQ` (all must be ACKed), then registers.
    pub async fn register_with_caps(addr: SocketAddr, nick: &str, caps: &[&str]) -> Client {
        let mut c = Client::connect(addr).await;
        c.send("CAP LS 302").await;
        c.caps_ls = c.read_cap_ls().await;
        if !caps.is_empty() {
            c.send(&format!("CAP REQ :{}", caps.join(" "))).await;
            let ack = c.expect("CAP").await;
            assert_eq!(
                ack.param(1),
                "ACK",
                "CAP REQ {caps:?} not acknowledged: {ack}"
            );
            let acked: BTreeSet<&str> = ack.last().split_whitespace().collect();
            let wanted: BTreeSet<&str> = caps.iter().copied().collect();
            assert_eq!(acked, wanted, "CAP ACK does not match the request");
        }
        c.send(&format!("NICK {nick}")).await;
        c.send(&format!("USER {USERNAME} 0 * :{}", realname(nick)))
            .await;
        c.send("CAP END").await;
        c.finish_registration(nick).await;
        c
    }

    /// Reads a (possibly multi-line) `CAP * LS` reply into a name-to-value map.
    pub async fn read_cap_ls(&mut self) -> BTreeMap<String, String> {
        let mut caps = BTreeMap::new();
        loop {
            let m = self.expect("CAP").await;
            assert_eq!(m.param(1), "LS", "expected a CAP LS reply: {m}");
            for token in m.last().split_whitespace() {
                let (name, value) = token.split_once('=').unwrap_or((token, ""));
                caps.insert(name.to_owned(), value.to_owned());
            }
            // A continuation line is `CAP * LS * :caps`; the final one has no `*`.
            if !(m.params.len() >= 4 && m.param(2) == "*") {
                return caps;
            }
        }
    }

    /// Waits for 001 (which must come before any error numeric) and then 376 or 422.
    async fn finish_registration(&mut self, nick: &str) {
        let deadline = Instant::now() + TIMEOUT;
        let mut burst = Vec::new();
        let mut welcomed = false;
        loop {
            let m = match self.read(deadline).await {
                Read::Line(m) => m,
                Read::Eof => self.fail(&format!("connection closed while registering {nick}")),
                Read::Timeout => self.fail(&format!("registration of {nick} timed out")),
            };
            if m.command == "001" {
                welcomed = true;
            } else if !welcomed && is_error_numeric(&m.command) {
                self.fail(&format!("registration of {nick} failed: {m}"));
            }
            let end = welcomed && (m.command == "376" || m.command == "422");
            burst.push(m);
            if end {
                break;
            }
        }
        self.nick = nick.to_owned();
        for m in burst.iter().filter(|m| m.command == "005") {
            // Params are: client, tokens..., human text.
            for token in &m.params[1..m.params.len().saturating_sub(1)] {
                let (k, v) = token.split_once('=').unwrap_or((token.as_str(), ""));
                self.isupport.insert(k.to_owned(), v.to_owned());
            }
        }
        self.registration = burst;
    }

    /// Sends one line; CRLF is appended.
    pub async fn send(&mut self, line: &str) {
        let mut bytes = line.as_bytes().to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.send_raw(&bytes).await;
    }

    /// Sends bytes exactly as given (no CRLF is added); a write error fails the test.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        if let Err(e) = self.try_send_raw(bytes).await {
            self.fail(&format!("write failed: {e}"));
        }
    }

    /// Sends bytes exactly as given, reporting a write error instead of failing (for tests where
    /// the server is expected to drop the connection).
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let shown = String::from_utf8_lossy(bytes);
        let shown = shown.trim_end_matches(['\r', '\n']);
        self.note(format!(">> {}", truncate(shown, 300)));
        match tokio::time::timeout(TIMEOUT, self.writer.write_all(bytes)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write blocked for 5 s",
            )),
        }
    }

    /// The next message; fails the test after [`TIMEOUT`] or on a closed connection.
    pub async fn recv(&mut self) -> Msg {
        let deadline = Instant::now() + TIMEOUT;
        match self.read(deadline).await {
            Read::Line(m) => m,
            Read::Eof => self.fail("connection closed while waiting for a message"),
            Read::Timeout => self.fail("timed out waiting for a message"),
        }
    }

    /// The next message within `wait`, or how reading ended; never fails the test.
    pub async fn recv_or_end(&mut self, wait: Duration) -> Read {
        self.read(Instant::now() + wait).await
    }

    /// Reads until a message with `command` (a word or a numeric) arrives, dropping others.
    pub async fn expect(&mut self, command: &str) -> Msg {
        self.expect_where(&format!("a {command} message"), |m| {
            m.command.eq_ignore_ascii_case(command)
        })
        .await
    }

    /// Reads until any of `commands` arrives, dropping others.
    pub async fn expect_numeric_or(&mut self, commands: &[&str]) -> Msg {
        self.expect_where(&format!("one of {commands:?}"), |m| {
            commands.iter().any(|c| m.command.eq_ignore_ascii_case(c))
        })
        .await
    }

    /// Reads until a message satisfies `pred`, dropping others; `what` describes it on failure.
    pub async fn expect_where(&mut self, what: &str, pred: impl Fn(&Msg) -> bool) -> Msg {
        self.expect_where_within(TIMEOUT, what, pred).await
    }

    /// [`Client::expect_where`] with its own bound, for waits that are long by nature.
    pub async fn expect_where_within(
        &mut self,
        wait: Duration,
        what: &str,
        pred: impl Fn(&Msg) -> bool,
    ) -> Msg {
        let deadline = Instant::now() + wait;
        let mut skipped = Vec::new();
        loop {
            match self.read(deadline).await {
                Read::Line(m) if pred(&m) => return m,
                Read::Line(m) => skipped.push(m.raw),
                Read::Eof => self.fail(&format!(
                    "connection closed while waiting for {what}; skipped: {skipped:#?}"
                )),
                Read::Timeout => self.fail(&format!(
                    "timed out waiting for {what}; skipped: {skipped:#?}"
                )),
            }
        }
    }

    /// Reads until every command in `commands` has arrived at least once, returning all the
    /// messages read (in order), for replies whose relative order is not fixed.
    pub async fn expect_all(&mut self, commands: &[&str]) -> Vec<Msg> {
        let deadline = Instant::now() + TIMEOUT;
        let mut missing: BTreeSet<String> = commands.iter().map(|c| c.to_uppercase()).collect();
        let mut seen = Vec::new();
        while !missing.is_empty() {
            match self.read(deadline).await {
                Read::Line(m) => {
                    missing.remove(&m.command);
                    seen.push(m);
                }
                Read::Eof => self.fail(&format!("connection closed; still missing {missing:?}")),
                Read::Timeout => self.fail(&format!("timed out; still missing {missing:?}")),
            }
        }
        seen
    }

    /// Reads messages up to and including the first `command`, returning all of them.
    pub async fn collect_until(&mut self, command: &str) -> Vec<Msg> {
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        loop {
            match self.read(deadline).await {
                Read::Line(m) => {
                    let end = m.command.eq_ignore_ascii_case(command);
                    seen.push(m);
                    if end {
                        return seen;
                    }
                }
                Read::Eof => self.fail(&format!("connection closed before {command}")),
                Read::Timeout => self.fail(&format!("timed out waiting for {command}")),
            }
        }
    }

    /// Fails if any message arrives within `wait` (server PINGs are answered and ignored).
    pub async fn assert_silent(&mut self, wait: Duration) {
        match self.read(Instant::now() + wait).await {
            Read::Line(m) => self.fail(&format!("expected silence, got {m}")),
            Read::Eof => self.fail("expected silence, but the connection closed"),
            Read::Timeout => {}
        }
    }

    /// Round-trips a PING and returns everything that arrived before its PONG. Because the server
    /// handles one client's lines in order, anything our earlier commands caused is in here.
    pub async fn sync(&mut self) -> Vec<Msg> {
        self.sync_counter += 1;
        let token = format!("sync-{}", self.sync_counter);
        self.send(&format!("PING :{token}")).await;
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        loop {
            match self.read(deadline).await {
                Read::Line(m) if m.command == "PONG" && m.params.last() == Some(&token) => {
                    return seen;
                }
                Read::Line(m) => seen.push(m),
                Read::Eof => self.fail("connection closed during sync"),
                Read::Timeout => self.fail(&format!("no PONG for {token}; got {seen:#?}")),
            }
        }
    }

    /// Reads until the server closes the connection (within `wait`), returning the ERROR line
    /// if one was sent. Other lines before the close are allowed.
    pub async fn expect_disconnect_within(&mut self, wait: Duration) -> Option<Msg> {
        let deadline = Instant::now() + wait;
        let mut error = None;
        loop {
            match self.read(deadline).await {
                Read::Line(m) if m.command == "ERROR" => error = Some(m),
                Read::Line(_) => {}
                Read::Eof => return error,
                Read::Timeout => self.fail("the server did not close the connection"),
            }
        }
    }

    /// [`Client::expect_disconnect_within`] with the default timeout.
    pub async fn expect_disconnect(&mut self) -> Option<Msg> {
        self.expect_disconnect_within(TIMEOUT).await
    }

    /// JOINs `channel`, waits for our own JOIN echo and the end of NAMES, returns the NAMES entries.
    pub async fn join(&mut self, channel: &str) -> Vec<String> {
        self.send(&format!("JOIN {channel}")).await;
        let nick = self.nick.clone();
        let m = self
            .expect_where(&format!("our JOIN to {channel}"), |m| {
                let ours = m.is_from("JOIN", &nick) && m.param(0).eq_ignore_ascii_case(channel);
                let refused = is_error_numeric(&m.command)
                    && m.params.iter().any(|p| p.eq_ignore_ascii_case(channel));
                ours || refused
            })
            .await;
        if m.command != "JOIN" {
            self.fail(&format!("JOIN {channel} was refused: {m}"));
        }
        self.read_names(channel).await
    }

    /// Reads until `nick` JOINs `channel`.
    pub async fn expect_join(&mut self, nick: &str, channel: &str) -> Msg {
        self.expect_where(&format!("{nick} joining {channel}"), |m| {
            m.is_from("JOIN", nick) && m.param(0).eq_ignore_ascii_case(channel)
        })
        .await
    }

    /// Reads until a `command` whose source nick is `nick` arrives.
    pub async fn expect_from(&mut self, command: &str, nick: &str) -> Msg {
        self.expect_where(&format!("{command} from {nick}"), |m| {
            m.is_from(command, nick)
        })
        .await
    }

    /// Reads until `by` sends exactly `MODE <params...>` (other MODE lines are skipped), so a
    /// test never mistakes an earlier, still-queued mode change for the one it waits for.
    pub async fn expect_mode(&mut self, by: &str, params: &[&str]) -> Msg {
        self.expect_where(&format!("MODE {params:?} by {by}"), |m| {
            m.is_from("MODE", by) && m.params == params
        })
        .await
    }

    /// Sends `line` and waits for its effects to be processed (see [`Client::sync`]), returning
    /// what arrived meanwhile.
    pub async fn send_sync(&mut self, line: &str) -> Vec<Msg> {
        self.send(line).await;
        self.sync().await
    }

    /// Sends NAMES and returns the entries listed for `channel`.
    pub async fn names(&mut self, channel: &str) -> Vec<String> {
        self.send(&format!("NAMES {channel}")).await;
        self.read_names(channel).await
    }

    /// Collects 353 entries for `channel` up to its 366.
    async fn read_names(&mut self, channel: &str) -> Vec<String> {
        let mut names = Vec::new();
        loop {
            let m = self
                .expect_where(&format!("NAMES of {channel}"), |m| {
                    (m.command == "353" || m.command == "366")
                        && m.params.iter().any(|p| p.eq_ignore_ascii_case(channel))
                })
                .await;
            if m.command == "366" {
                return names;
            }
            names.extend(m.last().split_whitespace().map(str::to_owned));
        }
    }

    /// Sends QUIT and waits for the server to close the connection.
    pub async fn quit(mut self, reason: &str) {
        self.send(&format!("QUIT :{reason}")).await;
        self.expect_disconnect().await;
    }

    async fn read(&mut self, deadline: Instant) -> Read {
        loop {
            if let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                self.note(format!("<< {}", truncate(&text, 300)));
                let m = match Msg::parse(&text) {
                    Ok(m) => m,
                    Err(e) => self.fail(&format!("server sent a malformed line ({e}): {text:?}")),
                };
                if m.command == "PING" && m.source.is_some() {
                    // A keepalive from the server: answer it, it is not what the test waits for.
                    let token = m.params.last().cloned().unwrap_or_default();
                    self.send(&format!("PONG :{token}")).await;
                    continue;
                }
                return Read::Line(m);
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.reader.read(&mut chunk)).await {
                Err(_) => return Read::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => {
                    if !self.pending.is_empty() {
                        let rest = String::from_utf8_lossy(&self.pending).into_owned();
                        self.note(format!("<< (unterminated) {}", truncate(&rest, 300)));
                        self.pending.clear();
                    }
                    self.note("<< (connection closed)".to_owned());
                    return Read::Eof;
                }
                Ok(Ok(n)) => self.pending.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn note(&mut self, line: String) {
        if self.transcript.len() == TRANSCRIPT_LINES {
            self.transcript.pop_front();
        }
        self.transcript.push_back(line);
    }

    /// Fails the test with `why` and the recent transcript of this connection.
    pub fn fail(&self, why: &str) -> ! {
        let lines: Vec<&str> = self.transcript.iter().map(String::as_str).collect();
        panic!(
            "[client {}] {why}\n--- transcript (last {} lines) ---\n{}",
            self.nick,
            lines.len(),
            lines.join("\n")
        );
    }
}

/// Joins `clients` to `channel` in order; each earlier member waits for each later one's JOIN,
/// so afterwards every member's stream is past all the joins.
pub async fn join_all<const N: usize>(channel: &str, mut clients: [Client; N]) -> [Client; N] {
    for i in 0..N {
        let (before, rest) = clients.split_at_mut(i);
        let joiner = &mut rest[0];
        joiner.join(channel).await;
        for member in before {
            member.expect_join(&joiner.nick, channel).await;
        }
    }
    clients
}

/// Whether `command` is a numeric in the error ranges (400-599) that ends a registration attempt.
pub fn is_error_numeric(command: &str) -> bool {
    command.len() == 3
        && command.bytes().all(|b| b.is_ascii_digit())
        && matches!(command.as_bytes()[0], b'4' | b'5')
}

/// Strips channel-membership prefixes from a NAMES entry and any `!user@host` suffix.
pub fn bare_nick(entry: &str) -> &str {
    let entry = entry.trim_start_matches(['~', '&', '@', '%', '+']);
    entry.split('!').next().unwrap_or(entry)
}

/// Whether `value` has the exact IRCv3 server-time shape `YYYY-MM-DDThh:mm:ss.sssZ`.
pub fn is_server_time(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| range.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}
