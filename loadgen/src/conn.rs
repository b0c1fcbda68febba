//! One plain-TCP IRC client connection: connect, RFC 1459 registration (NICK/USER, answering
//! PING and any CAP the server starts), joining channels, and the buffered read and write halves
//! the scenario loops use directly.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Duration, Instant};

use crate::line::{self, LineBuffer, LineError, Message};

/// Error replies (4xx and 5xx numerics except 422, "no MOTD") received, counted by numeric.
pub type NumericCounts = BTreeMap<u16, u64>;

/// Longest ERROR text kept as a failure reason; reasons are aggregated, so they must stay short.
const MAX_REASON: usize = 80;

/// Why one client's connection failed or ended.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The TCP connection could not be opened.
    #[error("connect: {0}")]
    Connect(io::Error),
    /// Reading or writing failed after connecting.
    #[error("i/o: {0}")]
    Io(io::Error),
    /// The server closed the connection without an ERROR line.
    #[error("server closed the connection")]
    Eof,
    /// The server said `ERROR :<text>` (flood, SendQ, K-line, ...).
    #[error("server sent ERROR: {0}")]
    Closed(String),
    /// The server sent an unusable line.
    #[error(transparent)]
    Line(#[from] LineError),
    /// Registration or a join was refused with this numeric.
    #[error("refused with numeric {0}")]
    Refused(u16),
    /// The run's deadline passed first.
    #[error("timed out")]
    Timeout,
}

impl ConnError {
    /// A short category for counting failures by reason in the report.
    pub fn reason(&self) -> String {
        match self {
            ConnError::Connect(err) => format!("connect: {:?}", err.kind()),
            ConnError::Io(err) => format!("io: {:?}", err.kind()),
            ConnError::Eof => "closed by server".to_owned(),
            ConnError::Closed(text) => format!("ERROR: {text}"),
            ConnError::Line(err) => err.to_string(),
            ConnError::Refused(numeric) => format!("numeric {numeric:03}"),
            ConnError::Timeout => "timeout".to_owned(),
        }
    }
}

/// What a step of [`Conn::drive`] decided about one message.
pub enum Step<T> {
    /// Keep reading.
    Continue,
    /// The awaited reply arrived.
    Done(T),
    /// The server refused with this numeric.
    Fail(u16),
}

/// A connected client: read half with its line buffer, write half with its output buffer.
pub struct Conn {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    /// Received bytes not yet consumed as lines.
    pub lines: LineBuffer,
    /// Lines queued for the next [`Conn::flush`].
    pub out: Vec<u8>,
}

impl Conn {
    /// Open a TCP connection (Nagle off, so single lines are not held back), bounded by `deadline`.
    pub async fn connect(addr: SocketAddr, deadline: Instant) -> Result<Self, ConnError> {
        let stream = timeout_at(deadline, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnError::Timeout)?
            .map_err(ConnError::Connect)?;
        stream.set_nodelay(true).map_err(ConnError::Connect)?;
        let (reader, writer) = stream.into_split();
        Ok(Self {
            reader,
            writer,
            lines: LineBuffer::new(),
            out: Vec::with_capacity(512),
        })
    }

    /// Read once from the socket into the line buffer. Cancel-safe: a cancelled read loses nothing.
    pub async fn fill(&mut self) -> Result<(), ConnError> {
        let spare = self.lines.spare()?;
        let n = self.reader.read(spare).await.map_err(ConnError::Io)?;
        if n == 0 {
            return Err(ConnError::Eof);
        }
        self.lines.commit(n);
        Ok(())
    }

    /// Write and clear everything in [`Conn::out`].
    pub async fn flush(&mut self) -> Result<(), ConnError> {
        if !self.out.is_empty() {
            self.writer
                .write_all(&self.out)
                .await
                .map_err(ConnError::Io)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Register as `nick` and wait for the end of the MOTD (376) or its absence (422).
    pub async fn register(
        &mut self,
        nick: &str,
        deadline: Instant,
        numerics: &mut NumericCounts,
    ) -> Result<(), ConnError> {
        self.out.extend_from_slice(b"NICK ");
        self.out.extend_from_slice(nick.as_bytes());
        self.out.extend_from_slice(b"\r\nUSER ");
        self.out.extend_from_slice(nick.as_bytes());
        self.out.extend_from_slice(b" 0 * :latticed-loadgen\r\n");
        self.flush().await?;
        self.drive(deadline, numerics, |msg| match msg.numeric() {
            Some(376 | 422) => Step::Done(()),
            Some(n @ (431 | 432 | 433 | 436 | 437 | 463 | 464 | 465)) => Step::Fail(n),
            _ => Step::Continue,
        })
        .await
    }

    /// Join `channels` and wait until the server has sent the end of NAMES (366) for each.
    pub async fn join(
        &mut self,
        channels: &[&str],
        deadline: Instant,
        numerics: &mut NumericCounts,
    ) -> Result<(), ConnError> {
        for channel in channels {
            self.out.extend_from_slice(b"JOIN ");
            self.out.extend_from_slice(channel.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        self.flush().await?;
        let mut joined = vec![false; channels.len()];
        let mut remaining = channels.len();
        if remaining == 0 {
            return Ok(());
        }
        self.drive(deadline, numerics, |msg| match msg.numeric() {
            Some(366) => {
                let name = msg.param(1).unwrap_or_default();
                if let Some(i) = channels.iter().position(|c| irc_eq(c.as_bytes(), name)) {
                    if !joined[i] {
                        joined[i] = true;
                        remaining -= 1;
                    }
                }
                if remaining == 0 {
                    Step::Done(())
                } else {
                    Step::Continue
                }
            }
            Some(n @ (403 | 405 | 471 | 473 | 474 | 475 | 476 | 477 | 489)) => Step::Fail(n),
            _ => Step::Continue,
        })
        .await
    }

    /// Say QUIT and close, waiting at most a second: the run is over, the server may be slow.
    pub async fn quit(mut self) {
        self.out
            .extend_from_slice(b"QUIT :latticed-loadgen done\r\n");
        let _ = timeout(Duration::from_secs(1), self.flush()).await;
        let _ = timeout(Duration::from_secs(1), self.writer.shutdown()).await;
    }

    /// Read messages until `step` is done or fails, answering PING and CAP, counting error numerics
    /// and stopping on ERROR, end of stream or `deadline`. Lines after the awaited one stay buffered.
    pub async fn drive<T>(
        &mut self,
        deadline: Instant,
        numerics: &mut NumericCounts,
        mut step: impl FnMut(&Message<'_>) -> Step<T>,
    ) -> Result<T, ConnError> {
        loop {
            while let Some(raw) = self.lines.next_line() {
                let Ok(msg) = line::parse(raw) else {
                    continue;
                };
                match react(&msg, &mut self.out, numerics) {
                    Reaction::Handled => continue,
                    Reaction::Closed(reason) => return Err(ConnError::Closed(reason)),
                    Reaction::Other => {}
                }
                match step(&msg) {
                    Step::Continue => {}
                    Step::Done(value) => {
                        self.flush().await?;
                        return Ok(value);
                    }
                    Step::Fail(numeric) => return Err(ConnError::Refused(numeric)),
                }
            }
            self.flush().await?;
            timeout_at(deadline, self.fill())
                .await
                .map_err(|_| ConnError::Timeout)??;
        }
    }
}

/// How [`react`] dealt with a message.
pub enum Reaction {
    /// A PING or CAP, answered in the output buffer.
    Handled,
    /// `ERROR`: the server is closing the connection, for this summarised reason.
    Closed(String),
    /// Anything else (error numerics have been counted).
    Other,
}

/// The protocol chores every client does whatever the scenario: answer PING with PONG, end any
/// capability negotiation the server starts (nothing is requested), count error numerics, and
/// notice ERROR.
pub fn react(msg: &Message<'_>, out: &mut Vec<u8>, numerics: &mut NumericCounts) -> Reaction {
    match msg.command {
        b"PING" => {
            out.extend_from_slice(b"PONG :");
            out.extend_from_slice(msg.param(0).unwrap_or_default());
            out.extend_from_slice(b"\r\n");
            Reaction::Handled
        }
        b"CAP" => {
            if msg.param(1) == Some(b"LS") && msg.param(2) != Some(b"*") {
                out.extend_from_slice(b"CAP END\r\n");
            }
            Reaction::Handled
        }
        b"ERROR" => Reaction::Closed(closing_reason(msg.param(0).unwrap_or_default())),
        _ => {
            match msg.numeric() {
                // ERR_NOMOTD only says the server has no MOTD: it ends registration normally.
                Some(422) => {}
                Some(numeric @ 400..=599) => *numerics.entry(numeric).or_default() += 1,
                _ => {}
            }
            Reaction::Other
        }
    }
}

/// The part of an ERROR text that says why, without the nick and host that would keep equal
/// reasons apart: InspIRCd puts it in the last `[...]`, latticed in the last `(...)`.
pub fn closing_reason(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let text = text.trim();
    let inner = bracketed(text, '[', ']').or_else(|| bracketed(text, '(', ')'));
    let reason = inner.filter(|r| !r.is_empty()).unwrap_or(text);
    reason.chars().take(MAX_REASON).collect()
}

fn bracketed(text: &str, open: char, close: char) -> Option<&str> {
    let body = text.strip_suffix(close)?;
    Some(&body[body.rfind(open)? + open.len_utf8()..])
}

/// Compare names under RFC 1459 case mapping (A-Z, `[]\~` fold to a-z, `{}|^`), the widest mapping
/// a server may use, so a server's echo of a channel name always matches the one joined.
pub fn irc_eq(a: &[u8], b: &[u8]) -> bool {
    fn fold(byte: u8) -> u8 {
        match byte {
            b'A'..=b'Z' => byte + 32,
            b'[' => b'{',
            b']' => b'}',
            b'\\' => b'|',
            b'~' => b'^',
            _ => byte,
        }
    }
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| fold(*x) == fold(*y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn react_to(line: &[u8]) -> (String, Vec<u8>, NumericCounts) {
        let mut out = Vec::new();
        let mut numerics = NumericCounts::new();
        let reaction = match react(&line::parse(line).unwrap(), &mut out, &mut numerics) {
            Reaction::Handled => "handled".to_owned(),
            Reaction::Closed(reason) => format!("closed: {reason}"),
            Reaction::Other => "other".to_owned(),
        };
        (reaction, out, numerics)
    }

    #[test]
    fn answers_ping_with_its_token() {
        let (reaction, out, _) = react_to(b"PING :irc.example 123");
        assert_eq!(reaction, "handled");
        assert_eq!(out, b"PONG :irc.example 123\r\n");
        let (_, out, _) = react_to(b"PING");
        assert_eq!(out, b"PONG :\r\n");
    }

    #[test]
    fn ends_capability_negotiation_after_the_last_ls_line() {
        assert_eq!(react_to(b":srv CAP * LS * :a b").1, b"");
        assert_eq!(react_to(b":srv CAP * LS :c d").1, b"CAP END\r\n");
        assert_eq!(react_to(b":srv CAP * ACK :x").1, b"");
    }

    #[test]
    fn counts_only_error_numerics() {
        let (reaction, _, numerics) = react_to(b":srv 404 me #c :Cannot send to channel");
        assert_eq!(reaction, "other");
        assert_eq!(numerics.get(&404), Some(&1));
        assert!(react_to(b":srv 366 me #c :End").2.is_empty());
        assert!(react_to(b":srv 422 me :MOTD File is missing").2.is_empty());
        assert!(react_to(b":srv 600 me x").2.is_empty());
    }

    #[test]
    fn error_lines_give_a_short_reason() {
        assert_eq!(
            react_to(b"ERROR :Closing link: (lg1@127.0.0.1) [SendQ exceeded]").0,
            "closed: SendQ exceeded"
        );
        assert_eq!(
            react_to(b"ERROR :Closing link: (Excess Flood)").0,
            "closed: Excess Flood"
        );
        assert_eq!(
            react_to(b"ERROR :Too many connections from your IP address").0,
            "closed: Too many connections from your IP address"
        );
        assert_eq!(closing_reason(b"Closing link ()"), "Closing link ()");
        assert_eq!(closing_reason(&[b'x'; 500]).len(), MAX_REASON);
        assert_eq!(closing_reason(b"\xff\xfe [\xff]"), "\u{fffd}");
    }

    #[test]
    fn rfc1459_comparison() {
        assert!(irc_eq(b"#Bench[1]", b"#bench{1}"));
        assert!(irc_eq(b"#a\\~", b"#A|^"));
        assert!(!irc_eq(b"#a", b"#b"));
        assert!(!irc_eq(b"#a", b"#ab"));
    }
}
