//! Parsing one IRC line into a [`Message`].
//!
//! The line is checked for NUL, CR, LF and UTF-8 in whole-buffer passes first, then split
//! on `&str` at ASCII delimiters (always char boundaries). Work is linear in the line
//! length: one `String` per param, source and tag, nothing else.

use std::collections::HashSet;

use memchr::{memchr, memchr2};

use crate::limits::LimitError;
use crate::message::{Message, Tag};
use crate::tags::unescape_value;

/// Most params a message may have (RFC 1459: 14 middle params and a trailing one).
pub const MAX_PARAMS: usize = 15;

/// Up to this many tags, duplicate keys are found by scanning; beyond it, with a set, so a
/// line with thousands of tags stays linear.
const LINEAR_DEDUP_MAX: usize = 16;

/// Why a line is not a message. Each variant maps to one server reaction (ignore the line,
/// `ERR_UNKNOWNCOMMAND`, `FAIL … INVALID_UTF8`, `ERR_INPUTTOOLONG`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is empty or only spaces/tabs; the server ignores it.
    #[error("empty line")]
    Empty,
    /// The line has tags or a source but no command.
    #[error("line has no command")]
    NoCommand,
    /// The command token is not visible ASCII.
    #[error("invalid command {command:?}: must be visible ASCII")]
    InvalidCommand {
        /// The offending token (at most 64 bytes of it), so the server can name it in 421.
        command: String,
    },
    /// The line is not valid UTF-8. `command` is the uppercased command when that token
    /// itself is valid, so the server can answer `FAIL <command> INVALID_UTF8`.
    #[error("line is not valid UTF-8 (command: {command:?})")]
    InvalidUtf8 {
        /// The command token, if it was a valid command.
        command: Option<String>,
    },
    /// The line contains a NUL byte.
    #[error("line contains a NUL byte")]
    NulByte,
    /// The line contains a CR or LF (only the codec may see those, at the end).
    #[error("line contains a CR or LF")]
    LineBreak,
    /// The line has more than [`MAX_PARAMS`] params.
    #[error("more than {MAX_PARAMS} params")]
    TooManyParams,
    /// A client line broke a size limit (only from [`Message::parse_client`]).
    #[error("client line too long: {0}")]
    Limit(#[from] LimitError),
}

/// The implementation of [`Message::parse`].
pub(crate) fn parse(line: &[u8]) -> Result<Message, ParseError> {
    if memchr(0, line).is_some() {
        return Err(ParseError::NulByte);
    }
    if memchr2(b'\r', b'\n', line).is_some() {
        return Err(ParseError::LineBreak);
    }
    match std::str::from_utf8(line) {
        Ok(text) => parse_text(text),
        Err(_) => Err(ParseError::InvalidUtf8 {
            command: command_of_invalid(line),
        }),
    }
}

/// The parts of a line before its params, as slices of the line.
struct Frame<'a> {
    tags: Option<&'a str>,
    source: Option<&'a str>,
    command: &'a str,
    rest: &'a str,
}

/// Splits off tags, source and command, tolerating runs of spaces between them.
fn frame(text: &str) -> Result<Frame<'_>, ParseError> {
    if text.bytes().all(|b| b == b' ' || b == b'\t') {
        return Err(ParseError::Empty);
    }
    let mut rest = skip_spaces(text);
    let mut tags = None;
    if let Some(after) = rest.strip_prefix('@') {
        let (section, r) = split_word(after);
        tags = Some(section);
        rest = skip_spaces(r);
    }
    let mut source = None;
    if let Some(after) = rest.strip_prefix(':') {
        let (src, r) = split_word(after);
        source = Some(src);
        rest = skip_spaces(r);
    }
    let (command, rest) = split_word(rest);
    if command.is_empty() {
        return Err(ParseError::NoCommand);
    }
    Ok(Frame {
        tags,
        source,
        command,
        rest,
    })
}

/// Parses a line already known to be UTF-8 without NUL, CR or LF.
fn parse_text(text: &str) -> Result<Message, ParseError> {
    let frame = frame(text)?;
    if !is_command(frame.command) {
        let mut end = frame.command.len().min(64);
        while !frame.command.is_char_boundary(end) {
            end -= 1;
        }
        return Err(ParseError::InvalidCommand {
            command: frame.command[..end].to_owned(),
        });
    }
    let mut msg = Message {
        command: frame.command.to_ascii_uppercase(),
        source: frame.source.map(str::to_owned),
        ..Message::default()
    };
    if let Some(section) = frame.tags {
        parse_tags(section, &mut msg.tags);
    }
    parse_params(frame.rest, &mut msg.params)?;
    Ok(msg)
}

/// Splits params on runs of spaces; a param starting with `:` takes the rest of the line.
fn parse_params(mut rest: &str, params: &mut Vec<String>) -> Result<(), ParseError> {
    loop {
        rest = skip_spaces(rest);
        if rest.is_empty() {
            return Ok(());
        }
        if params.len() == MAX_PARAMS {
            return Err(ParseError::TooManyParams);
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            params.push(trailing.to_owned());
            return Ok(());
        }
        let (param, r) = split_word(rest);
        params.push(param.to_owned());
        rest = r;
    }
}

/// Parses `key[=value];…`, skipping empty items and empty keys (the spec forbids
/// rejecting a message for a malformed key), and keeping only the last of duplicate keys.
fn parse_tags(section: &str, tags: &mut Vec<Tag>) {
    for item in section.split(';') {
        let (key, raw) = match item.split_once('=') {
            Some((key, raw)) => (key, raw),
            None => (item, ""),
        };
        if key.is_empty() {
            continue;
        }
        tags.push(Tag {
            key: key.to_owned(),
            value: unescape_value(raw),
        });
    }
    dedup_keep_last(tags);
}

/// Removes every tag whose key occurs again later, keeping the order of the survivors.
fn dedup_keep_last(tags: &mut Vec<Tag>) {
    if tags.len() <= LINEAR_DEDUP_MAX {
        let mut i = 0;
        while i < tags.len() {
            if tags[i + 1..].iter().any(|later| later.key == tags[i].key) {
                tags.remove(i);
            } else {
                i += 1;
            }
        }
        return;
    }
    let keep = {
        let mut seen = HashSet::with_capacity(tags.len());
        let mut keep = vec![false; tags.len()];
        for (i, tag) in tags.iter().enumerate().rev() {
            keep[i] = seen.insert(tag.key.as_str());
        }
        keep
    };
    let mut flags = keep.into_iter();
    tags.retain(|_| flags.next().unwrap_or(false));
}

/// Any token of visible ASCII is a command as far as the wire format goes: whether the server
/// knows it is the server's decision (ERR_UNKNOWNCOMMAND), and parsing the rest of the line —
/// notably a `label` tag — lets that answer be labeled like any other. The one exception is a
/// token starting with `@` or `:`: written as the first word of a line (a message with no tags
/// and no source), it would read back as a tag section or a source, so such a token is not a
/// command (`@ @` must not parse to a message that writes as `@`).
fn is_command(token: &str) -> bool {
    let bytes = token.as_bytes();
    matches!(bytes.first(), Some(first) if *first != b'@' && *first != b':')
        && bytes.iter().all(u8::is_ascii_graphic)
}

/// Finds the command of a line that is not UTF-8. Replacing invalid sequences keeps every
/// ASCII delimiter in place, and a replaced token can never pass [`is_command`].
fn command_of_invalid(line: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(line);
    let frame = frame(&text).ok()?;
    is_command(frame.command).then(|| frame.command.to_ascii_uppercase())
}

fn skip_spaces(s: &str) -> &str {
    s.trim_start_matches(' ')
}

/// Splits at the first space: the word before it and the text after it.
fn split_word(s: &str) -> (&str, &str) {
    match memchr(b' ', s.as_bytes()) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Message {
        parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?} should parse: {e}"))
    }

    #[test]
    fn command_is_uppercased() {
        assert_eq!(ok("privmsg #a :b").command, "PRIVMSG");
        assert_eq!(ok("001 nick :hi").command, "001");
    }

    #[test]
    fn blank_lines_are_empty() {
        for line in ["", " ", "   ", "\t", " \t "] {
            assert_eq!(parse(line.as_bytes()), Err(ParseError::Empty), "{line:?}");
        }
    }

    #[test]
    fn tags_or_source_without_command() {
        for line in ["@a=b", "@a=b ", ":src", ":src   ", "@a :src ", "@", ":"] {
            assert_eq!(
                parse(line.as_bytes()),
                Err(ParseError::NoCommand),
                "{line:?}"
            );
        }
    }

    #[test]
    fn invalid_commands() {
        for line in ["\tFOO", "ÉTÉ x", "\x01 x", "@ @", "@a=b :src :x", ": @CMD"] {
            assert!(
                matches!(
                    parse(line.as_bytes()),
                    Err(ParseError::InvalidCommand { .. })
                ),
                "{line:?}"
            );
        }
    }

    #[test]
    fn nul_anywhere_is_rejected_before_other_checks() {
        assert_eq!(parse(b"PRIVMSG #a :b\0c"), Err(ParseError::NulByte));
        assert_eq!(parse(b"\0"), Err(ParseError::NulByte));
        assert_eq!(parse(b"PRIV\rMSG \xff\0"), Err(ParseError::NulByte));
    }

    #[test]
    fn cr_or_lf_inside_is_rejected() {
        assert_eq!(parse(b"PRIVMSG #a :b\rc"), Err(ParseError::LineBreak));
        assert_eq!(parse(b"PRIVMSG #a :b\n"), Err(ParseError::LineBreak));
    }

    #[test]
    fn invalid_utf8_reports_a_valid_command() {
        assert_eq!(
            parse(b"@a=b :n!u@h privmsg #chan :caf\xe9"),
            Err(ParseError::InvalidUtf8 {
                command: Some("PRIVMSG".into())
            })
        );
        assert_eq!(
            parse(b"@bad=\xff NOTICE x :y"),
            Err(ParseError::InvalidUtf8 {
                command: Some("NOTICE".into())
            })
        );
        assert_eq!(
            parse(b"PRIV\xffMSG #chan :x"),
            Err(ParseError::InvalidUtf8 { command: None })
        );
        assert_eq!(
            parse(b":\xff"),
            Err(ParseError::InvalidUtf8 { command: None })
        );
    }

    #[test]
    fn fifteen_params_are_accepted_sixteen_rejected() {
        let fifteen = format!("CMD {}", vec!["p"; 15].join(" "));
        assert_eq!(ok(&fifteen).params.len(), 15);
        let trailing = format!("CMD {} :last one", vec!["p"; 14].join(" "));
        assert_eq!(ok(&trailing).params[14], "last one");
        let sixteen = format!("CMD {}", vec!["p"; 16].join(" "));
        assert_eq!(parse(sixteen.as_bytes()), Err(ParseError::TooManyParams));
        let sixteen_trailing = format!("CMD {} :x", vec!["p"; 15].join(" "));
        assert_eq!(
            parse(sixteen_trailing.as_bytes()),
            Err(ParseError::TooManyParams)
        );
    }

    #[test]
    fn leading_spaces_and_space_runs_are_tolerated() {
        let msg = ok("  @a=1   :src   CMD   x  :y z");
        assert_eq!(msg.tag("a"), Some(Some("1")));
        assert_eq!(msg.source.as_deref(), Some("src"));
        assert_eq!(msg.params, ["x", "y z"]);
    }

    #[test]
    fn malformed_tag_items_are_skipped_not_fatal() {
        let msg = ok("@;=x;;a;b=;=;c=\\ CMD");
        assert_eq!(
            msg.tags,
            [
                Tag {
                    key: "a".into(),
                    value: None
                },
                Tag {
                    key: "b".into(),
                    value: None
                },
                Tag {
                    key: "c".into(),
                    value: None
                },
            ]
        );
    }

    #[test]
    fn tag_value_keeps_equals_signs_after_the_first() {
        assert_eq!(ok("@k=a=b CMD").tag("k"), Some(Some("a=b")));
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_small_and_large() {
        let msg = ok("@a=1;b=2;a=3 CMD");
        assert_eq!(msg.tags.len(), 2);
        assert_eq!(msg.tag("a"), Some(Some("3")));

        let mut section: Vec<String> = (0..40).map(|i| format!("k{i}={i}")).collect();
        section.push("k7=last".into());
        section.push("k0".into());
        let msg = ok(&format!("@{} CMD", section.join(";")));
        assert_eq!(msg.tags.len(), 40);
        assert_eq!(msg.tag("k7"), Some(Some("last")));
        assert_eq!(msg.tag("k0"), Some(None));
        assert_eq!(msg.tags[0].key, "k1");
        assert_eq!(msg.tags.last().map(|t| t.key.as_str()), Some("k0"));
    }

    #[test]
    fn thousands_of_duplicate_tags_stay_fast() {
        let section = vec!["a=1"; 2000].join(";");
        let msg = ok(&format!("@{section} CMD"));
        assert_eq!(msg.tags.len(), 1);
    }

    #[test]
    fn empty_source_is_kept_as_empty() {
        let msg = ok(": CMD x");
        assert_eq!(msg.source.as_deref(), Some(""));
        assert_eq!(msg.params, ["x"]);
    }
}
