//! Bounded line framing for a connection's byte stream.
//!
//! A client that never sends LF must not make the server buffer without end, so a line
//! longer than the limit is dropped up to its LF and reported once; the buffer holds at
//! most `max_line + 1` bytes of an unfinished line. Only LF ends a line (RFC 1459 says
//! CRLF, many clients send LF alone); a CR just before the LF is stripped.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;
use tokio_util::codec::{Decoder, Encoder};

/// Splits a stream into lines (LF, optional preceding CR stripped) and writes
/// ready-made lines. Empty lines (`\r\n` or `\n` alone) are skipped, not yielded.
#[derive(Debug, Clone)]
pub struct LineCodec {
    /// Longest accepted line content, excluding the CR/LF. `u32`, like `searched`: every
    /// client connection holds a codec.
    max_line: u32,
    /// Inside an overlong line that was already reported: drop bytes up to the next LF.
    discarding: bool,
    /// Bytes of the buffer already searched for LF, so a line arriving a byte at a time
    /// is scanned once, not once per read. At most `max_line + 1`.
    searched: u32,
}

/// What the codec produced from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// One line, CR/LF stripped, never empty, at most `max_line` bytes.
    Line(BytesMut),
    /// A line exceeded `max_line`; it is discarded up to its LF (answer
    /// `ERR_INPUTTOOLONG`). Reported once per overlong line.
    TooLong,
}

impl LineCodec {
    /// A codec accepting lines of up to `max_line` bytes, excluding the CR/LF. For client
    /// connections use [`crate::MAX_CLIENT_LINE`]` - 2`.
    /// Limits beyond `u32::MAX - 1` bytes are taken as that.
    pub fn new(max_line: usize) -> Self {
        LineCodec {
            max_line: u32::try_from(max_line)
                .unwrap_or(u32::MAX)
                .min(u32::MAX - 1),
            discarding: false,
            searched: 0,
        }
    }

    /// Longest accepted line content.
    fn max_line(&self) -> usize {
        self.max_line as usize
    }

    /// Longest unfinished line kept in the buffer: the limit plus a CR awaiting its LF.
    fn max_pending(&self) -> usize {
        self.max_line() + 1
    }
}

impl Decoder for LineCodec {
    type Item = LineEvent;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<LineEvent>, io::Error> {
        loop {
            if self.discarding {
                match memchr(b'\n', src) {
                    Some(lf) => {
                        src.advance(lf + 1);
                        self.discarding = false;
                    }
                    None => {
                        src.clear();
                        return Ok(None);
                    }
                }
            }
            // The caller owns the buffer: if it shrank since the last call, search it anew.
            let searched = self.searched as usize;
            let start = if searched <= src.len() { searched } else { 0 };
            let Some(offset) = memchr(b'\n', &src[start..]) else {
                if src.len() > self.max_pending() {
                    src.clear();
                    self.discarding = true;
                    self.searched = 0;
                    return Ok(Some(LineEvent::TooLong));
                }
                // At most `max_pending`, which fits.
                self.searched = src.len() as u32;
                return Ok(None);
            };
            let lf = start + offset;
            self.searched = 0;
            let mut line = src.split_to(lf + 1);
            line.truncate(strip_cr(&line[..lf]));
            if line.len() > self.max_line() {
                return Ok(Some(LineEvent::TooLong));
            }
            if !line.is_empty() {
                return Ok(Some(LineEvent::Line(line)));
            }
        }
    }

    /// At end of stream an unterminated last line is still a line (a client may close
    /// right after `QUIT` without a newline).
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<LineEvent>, io::Error> {
        if let Some(event) = self.decode(src)? {
            return Ok(Some(event));
        }
        self.searched = 0;
        let mut line = src.split();
        line.truncate(strip_cr(&line));
        if line.len() > self.max_line() {
            return Ok(Some(LineEvent::TooLong));
        }
        Ok((!line.is_empty()).then_some(LineEvent::Line(line)))
    }
}

/// Writes an already serialized, CRLF-terminated line as is.
impl Encoder<Bytes> for LineCodec {
    type Error = io::Error;

    fn encode(&mut self, line: Bytes, dst: &mut BytesMut) -> Result<(), io::Error> {
        dst.extend_from_slice(&line);
        Ok(())
    }
}

/// Length of `line` without one trailing CR.
fn strip_cr(line: &[u8]) -> usize {
    match line.last() {
        Some(b'\r') => line.len() - 1,
        _ => line.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Option<LineEvent> {
        Some(LineEvent::Line(BytesMut::from(s)))
    }

    fn decode_all(codec: &mut LineCodec, buf: &mut BytesMut) -> Vec<LineEvent> {
        std::iter::from_fn(|| codec.decode(buf).expect("decode never fails")).collect()
    }

    #[test]
    fn splits_on_lf_and_strips_one_cr() {
        let mut codec = LineCodec::new(512);
        let mut buf = BytesMut::from("A\r\nB\nC\r\r\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), line("A"));
        assert_eq!(codec.decode(&mut buf).unwrap(), line("B"));
        assert_eq!(codec.decode(&mut buf).unwrap(), line("C\r"));
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn bare_cr_does_not_end_a_line() {
        let mut codec = LineCodec::new(512);
        let mut buf = BytesMut::from("A\rB\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), line("A\rB"));
    }

    #[test]
    fn empty_lines_are_skipped() {
        let mut codec = LineCodec::new(512);
        let mut buf = BytesMut::from("\r\n\n\r\nPING x\r\n\n");
        assert_eq!(decode_all(&mut codec, &mut buf), [line("PING x").unwrap()]);
        assert!(buf.is_empty());
    }

    #[test]
    fn line_split_across_reads() {
        let mut codec = LineCodec::new(512);
        let mut buf = BytesMut::new();
        for chunk in ["PRI", "VMSG #a", " :hi\r", "\nNI", "CK x\n"] {
            buf.extend_from_slice(chunk.as_bytes());
            let events = decode_all(&mut codec, &mut buf);
            match chunk {
                "\nNI" => assert_eq!(events, [line("PRIVMSG #a :hi").unwrap()]),
                "CK x\n" => assert_eq!(events, [line("NICK x").unwrap()]),
                _ => assert!(events.is_empty()),
            }
        }
    }

    #[test]
    fn exact_limit_is_accepted_even_with_cr_arriving_first() {
        let mut codec = LineCodec::new(5);
        let mut buf = BytesMut::from("12345\r");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), line("12345"));
    }

    #[test]
    fn overlong_complete_line_is_reported_and_next_line_is_fine() {
        let mut codec = LineCodec::new(5);
        let mut buf = BytesMut::from("123456\r\nOK\r\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(LineEvent::TooLong));
        assert_eq!(codec.decode(&mut buf).unwrap(), line("OK"));
    }

    #[test]
    fn overlong_streamed_line_is_reported_once_and_buffer_stays_bounded() {
        let mut codec = LineCodec::new(10);
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        for _ in 0..1000 {
            buf.extend_from_slice(b"xxxxxxx");
            events.extend(decode_all(&mut codec, &mut buf));
            assert!(buf.len() <= 11 + 7, "buffer grew to {}", buf.len());
        }
        buf.extend_from_slice(b"tail\r\nNEXT\r\n");
        events.extend(decode_all(&mut codec, &mut buf));
        assert_eq!(events, [LineEvent::TooLong, line("NEXT").unwrap()]);
    }

    #[test]
    fn eof_yields_an_unterminated_last_line() {
        let mut codec = LineCodec::new(10);
        let mut buf = BytesMut::from("A\nQUIT\r");
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), line("A"));
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), line("QUIT"));
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);

        let mut buf = BytesMut::from("12345678901");
        assert_eq!(
            codec.decode_eof(&mut buf).unwrap(),
            Some(LineEvent::TooLong)
        );
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    }

    #[test]
    fn eof_while_discarding_yields_nothing() {
        let mut codec = LineCodec::new(3);
        let mut buf = BytesMut::from("abcdefgh");
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(LineEvent::TooLong));
        buf.extend_from_slice(b"more");
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    }

    #[test]
    fn buffer_shrunk_by_the_caller_is_rescanned() {
        let mut codec = LineCodec::new(10);
        let mut buf = BytesMut::from("partial");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.clear();
        buf.extend_from_slice(b"A\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), line("A"));
    }

    #[test]
    fn encoder_writes_bytes_verbatim() {
        let mut codec = LineCodec::new(10);
        let mut dst = BytesMut::new();
        codec
            .encode(Bytes::from_static(b"PING :x\r\n"), &mut dst)
            .unwrap();
        codec
            .encode(Bytes::from_static(b"PONG :x\r\n"), &mut dst)
            .unwrap();
        assert_eq!(&dst[..], b"PING :x\r\nPONG :x\r\n");
    }
}
