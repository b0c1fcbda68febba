//! The receive path: a reusable byte buffer split into lines with `memchr`, and a borrowing parser
//! that picks out only the command and parameters. Nothing here allocates per line, so the load
//! generator's own receive loop stays cheap next to the server it measures.

use memchr::memchr;

/// Smallest buffer a connection starts with; most servers send short lines.
const INITIAL_CAPACITY: usize = 4096;
/// Largest line accepted: 8191 bytes of IRCv3 tags plus a 512-byte RFC 1459 line, with room to spare.
pub const MAX_LINE: usize = 16384;
/// Most parameters a message can have (RFC 1459 §2.3).
pub const MAX_PARAMS: usize = 15;

/// Why received bytes could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The server sent more than [`MAX_LINE`] bytes without a line ending.
    #[error("line longer than {MAX_LINE} bytes")]
    TooLong,
}

/// Bytes read from a socket, consumed line by line. Reading into [`LineBuffer::spare`] is a single
/// `read` call, so it is safe to cancel inside `tokio::select!` without losing data.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl LineBuffer {
    /// An empty buffer of [`INITIAL_CAPACITY`] bytes; it grows only for long lines.
    pub fn new() -> Self {
        Self {
            buf: vec![0; INITIAL_CAPACITY],
            start: 0,
            end: 0,
        }
    }

    /// Free space to read into. Moves unconsumed bytes to the front or grows the buffer first, and
    /// fails once a partial line fills [`MAX_LINE`] bytes.
    pub fn spare(&mut self) -> Result<&mut [u8], LineError> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_LINE {
                let grown = (self.buf.len() * 2).min(MAX_LINE);
                self.buf.resize(grown, 0);
            } else {
                return Err(LineError::TooLong);
            }
        }
        Ok(&mut self.buf[self.end..])
    }

    /// Record that `n` bytes were read into the slice [`LineBuffer::spare`] returned.
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// The next complete line without its `\n` or `\r\n`, or `None` until more bytes arrive.
    /// Empty lines are skipped.
    pub fn next_line(&mut self) -> Option<&[u8]> {
        loop {
            let pending = &self.buf[self.start..self.end];
            let newline = memchr(b'\n', pending)?;
            let line_start = self.start;
            self.start += newline + 1;
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            }
            let mut line_end = line_start + newline;
            if line_end > line_start && self.buf[line_end - 1] == b'\r' {
                line_end -= 1;
            }
            if line_end > line_start {
                return Some(&self.buf[line_start..line_end]);
            }
        }
    }
}

/// Why a line is not an IRC message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Only tags, a source or spaces: there is no command.
    #[error("line has no command")]
    NoCommand,
}

/// One IRC message, borrowed from the receive buffer. Tags are skipped: nothing measured needs them.
/// Parameters are split when asked for: the receive loop reads at most the first two, and a
/// message this small is returned in registers instead of being copied (an array of all fifteen
/// parameter slices made copying the parsed message a tenth of the load generator's time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The `:source` prefix without its colon, if present.
    pub source: Option<&'a [u8]>,
    /// The command word or three-digit numeric.
    pub command: &'a [u8],
    /// Everything after the command, leading spaces skipped.
    rest: &'a [u8],
}

impl<'a> Message<'a> {
    /// The parameters, the trailing one included (without its colon).
    pub fn params(&self) -> Params<'a> {
        Params {
            rest: self.rest,
            count: 0,
        }
    }

    /// Parameter `index`, if present.
    pub fn param(&self, index: usize) -> Option<&'a [u8]> {
        self.params().nth(index)
    }

    /// The numeric reply code when the command is three ASCII digits.
    pub fn numeric(&self) -> Option<u16> {
        match self.command {
            [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
                Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
            }
            _ => None,
        }
    }
}

/// Split one line into source, command and parameters without copying.
pub fn parse(line: &[u8]) -> Result<Message<'_>, ParseError> {
    let mut rest = skip_spaces(line);
    if rest.first() == Some(&b'@') {
        rest = skip_spaces(after_word(rest).1);
    }
    let mut source = None;
    if rest.first() == Some(&b':') {
        let (word, tail) = after_word(rest);
        source = Some(&word[1..]);
        rest = skip_spaces(tail);
    }
    let (command, tail) = after_word(rest);
    if command.is_empty() {
        return Err(ParseError::NoCommand);
    }
    Ok(Message {
        source,
        command,
        rest: skip_spaces(tail),
    })
}

/// The parameters of a [`Message`], split one at a time: words, then a trailing parameter (after
/// a colon, or the fifteenth) that takes the rest of the line.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a [u8],
    count: usize,
}

impl<'a> Iterator for Params<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() || self.count == MAX_PARAMS {
            return None;
        }
        self.count += 1;
        if self.rest[0] == b':' || self.count == MAX_PARAMS {
            let trailing = self.rest.strip_prefix(b":").unwrap_or(self.rest);
            self.rest = &[];
            return Some(trailing);
        }
        let (word, tail) = after_word(self.rest);
        self.rest = skip_spaces(tail);
        Some(word)
    }
}

fn skip_spaces(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != b' ').unwrap_or(bytes.len());
    &bytes[first..]
}

fn after_word(bytes: &[u8]) -> (&[u8], &[u8]) {
    match memchr(b' ', bytes) {
        Some(space) => (&bytes[..space], &bytes[space + 1..]),
        None => (bytes, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(buffer: &mut LineBuffer, bytes: &[u8]) {
        let mut offset = 0;
        while offset < bytes.len() {
            let spare = buffer.spare().unwrap();
            let n = spare.len().min(bytes.len() - offset);
            spare[..n].copy_from_slice(&bytes[offset..offset + n]);
            buffer.commit(n);
            offset += n;
        }
    }

    fn drain(buffer: &mut LineBuffer) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        while let Some(line) = buffer.next_line() {
            lines.push(line.to_vec());
        }
        lines
    }

    #[test]
    fn splits_crlf_and_bare_lf_and_skips_empty_lines() {
        let mut buffer = LineBuffer::new();
        feed(&mut buffer, b"PING :a\r\n\r\n\nPONG b\nPART");
        assert_eq!(
            drain(&mut buffer),
            vec![b"PING :a".to_vec(), b"PONG b".to_vec()]
        );
        feed(&mut buffer, b" #c\r");
        assert!(buffer.next_line().is_none());
        feed(&mut buffer, b"\n");
        assert_eq!(drain(&mut buffer), vec![b"PART #c".to_vec()]);
    }

    #[test]
    fn partial_lines_survive_compaction() {
        let mut buffer = LineBuffer::new();
        let line = vec![b'x'; INITIAL_CAPACITY - 10];
        let mut first = line.clone();
        first.push(b'\n');
        first.extend_from_slice(b"half");
        feed(&mut buffer, &first);
        assert_eq!(drain(&mut buffer), vec![line]);
        let mut second = vec![b'y'; INITIAL_CAPACITY];
        second.push(b'\n');
        feed(&mut buffer, &second);
        let lines = drain(&mut buffer);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with(b"halfyyy"));
        assert_eq!(lines[0].len(), 4 + INITIAL_CAPACITY);
    }

    #[test]
    fn overlong_line_is_an_error_not_a_panic() {
        let mut buffer = LineBuffer::new();
        let mut filled = 0;
        let err = loop {
            match buffer.spare() {
                Ok(spare) => {
                    let n = spare.len();
                    spare.fill(b'z');
                    buffer.commit(n);
                    filled += n;
                }
                Err(err) => break err,
            }
        };
        assert_eq!(err, LineError::TooLong);
        assert_eq!(filled, MAX_LINE);
        assert!(buffer.next_line().is_none());
    }

    #[test]
    fn parses_source_command_and_trailing() {
        let msg = parse(b":nick!u@h PRIVMSG #chan :hello there").unwrap();
        assert_eq!(msg.source, Some(&b"nick!u@h"[..]));
        assert_eq!(msg.command, b"PRIVMSG");
        assert_eq!(
            msg.params().collect::<Vec<_>>(),
            [&b"#chan"[..], &b"hello there"[..]]
        );
        assert_eq!(msg.numeric(), None);
    }

    #[test]
    fn parses_tags_numerics_and_extra_spaces() {
        let msg = parse(b"@time=x;msgid=y  :srv   366  me #c :End of /NAMES list.").unwrap();
        assert_eq!(msg.source, Some(&b"srv"[..]));
        assert_eq!(msg.numeric(), Some(366));
        assert_eq!(msg.param(0), Some(&b"me"[..]));
        assert_eq!(msg.param(1), Some(&b"#c"[..]));
        assert_eq!(msg.param(2), Some(&b"End of /NAMES list."[..]));
        assert_eq!(msg.param(3), None);
    }

    #[test]
    fn parses_messages_without_params_or_source() {
        let msg = parse(b"PING").unwrap();
        assert_eq!(msg.command, b"PING");
        assert_eq!(msg.params().count(), 0);
        let msg = parse(b"PING :").unwrap();
        assert_eq!(msg.params().collect::<Vec<_>>(), [&b""[..]]);
        assert_eq!(
            parse(b"ERROR :Closing link").unwrap().param(0),
            Some(&b"Closing link"[..])
        );
    }

    #[test]
    fn rejects_lines_without_command() {
        assert_eq!(parse(b"   "), Err(ParseError::NoCommand));
        assert_eq!(parse(b"@a=b"), Err(ParseError::NoCommand));
        assert_eq!(parse(b":source"), Err(ParseError::NoCommand));
        assert_eq!(parse(b":source   "), Err(ParseError::NoCommand));
    }

    #[test]
    fn fifteenth_parameter_takes_the_rest() {
        let line = b"CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17";
        let msg = parse(line).unwrap();
        assert_eq!(msg.params().count(), MAX_PARAMS);
        assert_eq!(msg.param(14), Some(&b"15 16 17"[..]));
    }

    #[test]
    fn numeric_requires_three_digits() {
        for (command, expected) in [
            ("001", Some(1)),
            ("433", Some(433)),
            ("43", None),
            ("4a3", None),
            ("4333", None),
        ] {
            let line = format!("{command} x");
            assert_eq!(
                parse(line.as_bytes()).unwrap().numeric(),
                expected,
                "{command}"
            );
        }
    }
}
