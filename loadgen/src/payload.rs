//! What the measured messages carry. Every data message names its sender, its sequence number
//! and its send time, so each receiver can compute latency and spot loss and duplicates on its
//! own; marker messages only prove that a channel's delivery path is set up.

use std::io::Write;

/// Marks a data message: `LG <sender> <seq> <sent_ns> [padding]`.
const DATA_TAG: &[u8] = b"LG";
/// Marks a barrier message: `LGMARK <round>`.
const MARKER_TAG: &[u8] = b"LGMARK";

/// The identity and send time of one data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Global index of the sending client.
    pub sender: u32,
    /// Position of the message in that sender's sequence, from 0.
    pub seq: u32,
    /// Nanoseconds since the run's shared start instant, when the line was written.
    pub sent_ns: u64,
}

/// A recognised message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// A measured message.
    Data(Stamp),
    /// A barrier marker of the given round.
    Marker(u32),
}

/// Append `PRIVMSG <target> :LG <sender> <seq> <sent_ns>` (padded with `pad` bytes) and CRLF.
pub fn write_data(out: &mut Vec<u8>, target: &str, stamp: Stamp, pad: usize) {
    out.extend_from_slice(b"PRIVMSG ");
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" :");
    out.extend_from_slice(DATA_TAG);
    // Writing into a Vec cannot fail.
    let _ = write!(out, " {} {} {}", stamp.sender, stamp.seq, stamp.sent_ns);
    if pad > 0 {
        out.push(b' ');
        out.resize(out.len() + pad, b'x');
    }
    out.extend_from_slice(b"\r\n");
}

/// Append `PRIVMSG <target> :LGMARK <round>` and CRLF.
pub fn write_marker(out: &mut Vec<u8>, target: &str, round: u32) {
    out.extend_from_slice(b"PRIVMSG ");
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" :");
    out.extend_from_slice(MARKER_TAG);
    let _ = write!(out, " {round}");
    out.extend_from_slice(b"\r\n");
}

/// Recognise a message text written by [`write_data`] or [`write_marker`]; anything else is `None`.
pub fn parse(text: &[u8]) -> Option<Payload> {
    let mut words = text.split(|b| *b == b' ');
    match words.next()? {
        DATA_TAG => {
            let sender = u32::try_from(number(words.next()?)?).ok()?;
            let seq = u32::try_from(number(words.next()?)?).ok()?;
            let sent_ns = number(words.next()?)?;
            Some(Payload::Data(Stamp {
                sender,
                seq,
                sent_ns,
            }))
        }
        MARKER_TAG => Some(Payload::Marker(u32::try_from(number(words.next()?)?).ok()?)),
        _ => None,
    }
}

fn number(word: &[u8]) -> Option<u64> {
    if word.is_empty() || word.len() > 20 {
        return None;
    }
    word.iter().try_fold(0u64, |acc, b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line;

    fn text_of(wire: &[u8]) -> Vec<u8> {
        let line = wire.strip_suffix(b"\r\n").unwrap();
        line::parse(line).unwrap().param(1).unwrap().to_vec()
    }

    #[test]
    fn data_round_trips_with_and_without_padding() {
        let stamp = Stamp {
            sender: 7,
            seq: 123,
            sent_ns: u64::MAX,
        };
        for pad in [0, 1, 50] {
            let mut out = Vec::new();
            write_data(&mut out, "#bench", stamp, pad);
            assert!(out.starts_with(b"PRIVMSG #bench :LG 7 123 "));
            assert_eq!(parse(&text_of(&out)), Some(Payload::Data(stamp)));
        }
    }

    #[test]
    fn marker_round_trips() {
        let mut out = Vec::new();
        write_marker(&mut out, "#c", 4);
        assert_eq!(out, b"PRIVMSG #c :LGMARK 4\r\n");
        assert_eq!(parse(&text_of(&out)), Some(Payload::Marker(4)));
    }

    #[test]
    fn foreign_or_damaged_texts_are_not_payloads() {
        for text in [
            &b""[..],
            b"hello",
            b"LG",
            b"LG 1 2",
            b"LG 1 2 x",
            b"LG -1 2 3",
            b"LG 4294967296 0 0",
            b"LG 1 2 99999999999999999999999",
            b"LGMARK",
            b"LGMARK a",
            b"lg 1 2 3",
        ] {
            assert_eq!(parse(text), None, "{}", String::from_utf8_lossy(text));
        }
    }
}
