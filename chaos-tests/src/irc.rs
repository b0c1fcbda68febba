//! A small blocking IRC client: just enough protocol to drive a workload and to ask a node what
//! it believes (NAMES, TOPIC, MODE, WHO, CHATHISTORY). It is deliberately independent of the
//! server's own crates, so the harness checks the node through the wire format only.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Capabilities every harness client asks for: echoes are the acknowledgement of a message, and
/// history needs batches, tags and msgids.
pub const CAPS: &str = "echo-message draft/chathistory batch message-tags server-time";

/// One parsed IRC line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// Message tags (`@k=v;...`), unescaped only as far as the harness needs (not at all).
    pub tags: Vec<(String, String)>,
    /// The source (`nick!user@host` or a server name), without the colon.
    pub prefix: Option<String>,
    /// The command or numeric, upper-case as sent.
    pub command: String,
    /// Parameters, the trailing one included.
    pub params: Vec<String>,
}

impl Msg {
    /// Parses one line (without CR LF); `None` for an empty or malformed line.
    pub fn parse(line: &str) -> Option<Msg> {
        let mut rest = line.trim_end_matches(['\r', '\n']);
        let mut tags = Vec::new();
        if let Some(t) = rest.strip_prefix('@') {
            let (tagstr, r) = t.split_once(' ')?;
            for kv in tagstr.split(';').filter(|s| !s.is_empty()) {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                tags.push((k.to_owned(), v.to_owned()));
            }
            rest = r.trim_start_matches(' ');
        }
        let mut prefix = None;
        if let Some(p) = rest.strip_prefix(':') {
            let (pre, r) = p.split_once(' ')?;
            prefix = Some(pre.to_owned());
            rest = r.trim_start_matches(' ');
        }
        let (command, mut rest) = match rest.split_once(' ') {
            Some((c, r)) => (c, r),
            None => (rest, ""),
        };
        if command.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_owned());
                break;
            }
            match rest.split_once(' ') {
                Some((p, r)) => {
                    params.push(p.to_owned());
                    rest = r;
                }
                None => {
                    params.push(rest.to_owned());
                    break;
                }
            }
        }
        Some(Msg {
            tags,
            prefix,
            command: command.to_owned(),
            params,
        })
    }

    /// The value of a tag, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The nick part of the source, if the source is a user.
    pub fn source_nick(&self) -> Option<&str> {
        self.prefix
            .as_deref()
            .map(|p| p.split_once('!').map(|(n, _)| n).unwrap_or(p))
    }

    /// Parameter `i`, or "" when absent.
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    /// The last parameter, or "".
    pub fn last(&self) -> &str {
        self.params.last().map(String::as_str).unwrap_or("")
    }
}

/// Case-folds a nick or channel name the way the tenants are configured (rfc1459).
pub fn fold(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            '[' => '{',
            ']' => '}',
            '\\' => '|',
            '~' => '^',
            other => other,
        })
        .collect()
}

/// One registered connection to a node. It tracks its own nick (the server may rename it after a
/// collision) and the channels it is in, from what the server tells it.
pub struct Client {
    /// Who this is, for error messages and reports ("n2/alpha/k2_1").
    pub label: String,
    /// The nick the server last confirmed.
    pub nick: String,
    /// Channels the server says this client is in (case-folded).
    pub channels: BTreeSet<String>,
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    partial: Vec<u8>,
    /// Whether the connection is known to be gone.
    pub closed: bool,
    /// Every nick the server moved this client to, in order (requested changes and renames
    /// imposed by the collision rule alike).
    pub nick_changes: Vec<String>,
    /// Every QUIT this client saw, as "nick: reason".
    pub quits_seen: Vec<String>,
}

impl Client {
    /// Connects, negotiates [`CAPS`], registers as `nick` (appending `_` on 433) and makes itself
    /// visible (`MODE -i`) so `WHO *` lists it on every node. Fails after `timeout`.
    pub fn connect(
        addr: SocketAddr,
        label: &str,
        nick: &str,
        user: &str,
        realname: &str,
        timeout: Duration,
    ) -> Result<Client> {
        let deadline = Instant::now() + timeout;
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| Error::io(format!("{label}: connect to {addr}"), e))?;
        stream.set_nodelay(true).ok();
        let reader = stream
            .try_clone()
            .map_err(|e| Error::io(format!("{label}: clone socket"), e))?;
        let mut client = Client {
            label: label.to_owned(),
            nick: nick.to_owned(),
            channels: BTreeSet::new(),
            writer: stream,
            reader: BufReader::new(reader),
            partial: Vec::new(),
            closed: false,
            nick_changes: Vec::new(),
            quits_seen: Vec::new(),
        };
        client.send(&format!("CAP REQ :{CAPS}"))?;
        client.send(&format!("NICK {nick}"))?;
        client.send(&format!("USER {user} 0 * :{realname}"))?;
        let mut cap_done = false;
        loop {
            let Some(m) = client.next(deadline)? else {
                return Err(client.fail("no welcome before the deadline"));
            };
            match m.command.as_str() {
                "CAP" if !cap_done && (m.param(1) == "ACK" || m.param(1) == "NAK") => {
                    cap_done = true;
                    client.send("CAP END")?;
                }
                "001" => {
                    client.nick = m.param(0).to_owned();
                    break;
                }
                "433" | "432" => {
                    client.nick.push('_');
                    let next = client.nick.clone();
                    client.send(&format!("NICK {next}"))?;
                }
                "ERROR" => return Err(client.fail(&format!("refused: {}", m.last()))),
                _ => {}
            }
        }
        let me = client.nick.clone();
        client.send(&format!("MODE {me} -i"))?;
        Ok(client)
    }

    fn fail(&self, reason: &str) -> Error {
        Error::Irc {
            client: self.label.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Sends one line (CR LF appended).
    pub fn send(&mut self, line: &str) -> Result<()> {
        let mut bytes = line.as_bytes().to_vec();
        bytes.extend_from_slice(b"\r\n");
        let r = self.writer.write_all(&bytes);
        if let Err(e) = r {
            self.closed = true;
            return Err(Error::io(format!("{}: send {line:?}", self.label), e));
        }
        Ok(())
    }

    /// Reads the next line before `deadline`; `Ok(None)` when the deadline passes. Answers PINGs
    /// and keeps the nick and channel set up to date on the way.
    pub fn next(&mut self, deadline: Instant) -> Result<Option<Msg>> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.reader
                .get_ref()
                .set_read_timeout(Some(wait))
                .map_err(|e| Error::io(format!("{}: set timeout", self.label), e))?;
            match self.reader.read_until(b'\n', &mut self.partial) {
                Ok(0) => {
                    self.closed = true;
                    return Err(self.fail("connection closed by the server"));
                }
                Ok(_) if self.partial.ends_with(b"\n") => {
                    let line = String::from_utf8_lossy(&self.partial).into_owned();
                    self.partial.clear();
                    if let Some(m) = Msg::parse(&line) {
                        self.observe(&m)?;
                        return Ok(Some(m));
                    }
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => {
                    self.closed = true;
                    return Err(Error::io(format!("{}: read", self.label), e));
                }
            }
        }
    }

    fn observe(&mut self, m: &Msg) -> Result<()> {
        let mine = m.source_nick().is_some_and(|n| fold(n) == fold(&self.nick));
        match m.command.as_str() {
            "PING" => {
                let token = m.last().to_owned();
                self.send(&format!("PONG :{token}"))?;
            }
            "NICK" if mine => {
                self.nick = m.param(0).to_owned();
                self.nick_changes.push(self.nick.clone());
            }
            "JOIN" if mine => {
                self.channels.insert(fold(m.param(0)));
            }
            "PART" if mine => {
                self.channels.remove(&fold(m.param(0)));
            }
            "KICK" if fold(m.param(1)) == fold(&self.nick) => {
                self.channels.remove(&fold(m.param(0)));
            }
            "QUIT" => {
                let who = m.source_nick().unwrap_or("?").to_owned();
                self.quits_seen.push(format!("{who}: {}", m.last()));
            }
            "ERROR" => self.closed = true,
            _ => {}
        }
        Ok(())
    }

    /// Reads until a line satisfies `pred`, returning it; `Ok(None)` at the deadline.
    pub fn wait_for(
        &mut self,
        deadline: Instant,
        mut pred: impl FnMut(&Msg) -> bool,
    ) -> Result<Option<Msg>> {
        while let Some(m) = self.next(deadline)? {
            if pred(&m) {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    /// Reads every line up to and including the first that satisfies `end`; `None` if the
    /// deadline passes first.
    pub fn collect_until(
        &mut self,
        deadline: Instant,
        mut end: impl FnMut(&Msg) -> bool,
    ) -> Result<Option<Vec<Msg>>> {
        let mut out = Vec::new();
        while let Some(m) = self.next(deadline)? {
            let done = end(&m);
            out.push(m);
            if done {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }

    /// Reads whatever has arrived, for at most `budget`, so the server's send queue toward this
    /// client never fills up while the workload is busy elsewhere.
    pub fn drain(&mut self, budget: Duration) -> Result<()> {
        let deadline = Instant::now() + budget;
        while self.next(deadline)?.is_some() {}
        Ok(())
    }

    /// Sends PING with a token and waits for its PONG: the liveness probe.
    pub fn ping(&mut self, token: &str, timeout: Duration) -> Result<bool> {
        self.send(&format!("PING :{token}"))?;
        let deadline = Instant::now() + timeout;
        Ok(self
            .wait_for(deadline, |m| m.command == "PONG" && m.last() == token)?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_prefix_and_trailing() {
        let m =
            Msg::parse("@msgid=abc;time=2026-01-01T00:00:00.000Z :a!u@h PRIVMSG #c :hi there\r\n")
                .expect("parses");
        assert_eq!(m.tag("msgid"), Some("abc"));
        assert_eq!(m.source_nick(), Some("a"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, vec!["#c".to_owned(), "hi there".to_owned()]);
    }

    #[test]
    fn parses_bare_command_and_rejects_empty() {
        let m = Msg::parse("PING x").expect("parses");
        assert_eq!(m.params, vec!["x".to_owned()]);
        assert_eq!(m.prefix, None);
        assert!(Msg::parse("").is_none());
        assert!(Msg::parse(":onlyprefix").is_none());
    }

    #[test]
    fn folds_rfc1459() {
        assert_eq!(fold("Nick[A]\\~"), "nick{a}|^");
    }
}
