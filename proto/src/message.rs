//! The owned IRC message type and its builder helpers.

use bytes::{Bytes, BytesMut};

use crate::parse::{self, ParseError};
use crate::write;

/// One IRC message: what one line carries.
///
/// Owned, so it can be moved between actors and kept in history. Tag values are stored
/// *unescaped*; escaping happens only on the wire. The command is stored as given:
/// [`Message::parse`] uppercases it, and server code builds messages with uppercase
/// commands and numerics.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Message {
    /// IRCv3 message tags, in wire order, keys unique.
    pub tags: Vec<Tag>,
    /// The source (prefix) without its leading `:`, e.g. `nick!user@host` or a server name.
    pub source: Option<String>,
    /// The command or three-digit numeric.
    pub command: String,
    /// The parameters; the last one may contain spaces (it is sent as the trailing one).
    pub params: Vec<String>,
}

/// One IRCv3 message tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// The key, including any client-only `+` prefix and vendor, e.g. `+draft/reply`.
    pub key: String,
    /// The unescaped value. `None` for both `@key` and `@key=`: the spec makes them
    /// equivalent, and a parsed message never holds `Some("")`.
    pub value: Option<String>,
}

impl Message {
    /// A message with this command and nothing else, to be completed with the builders.
    pub fn new(command: impl Into<String>) -> Self {
        Message {
            command: command.into(),
            ..Message::default()
        }
    }

    /// Sets the source (without the leading `:`).
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Appends one parameter.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.params.push(param.into());
        self
    }

    /// Sets a tag, replacing any tag with the same key so keys stay unique.
    /// `Some("")` is stored as `None`, the equivalent form a parse would produce.
    pub fn with_tag(mut self, key: impl Into<String>, value: Option<String>) -> Self {
        let key = key.into();
        let value = value.filter(|v| !v.is_empty());
        match self.tags.iter_mut().find(|t| t.key == key) {
            Some(tag) => tag.value = value,
            None => self.tags.push(Tag { key, value }),
        }
        self
    }

    /// Parses one line *without* its trailing CR/LF (the codec strips them).
    ///
    /// Does not apply the size limits: call [`crate::check_client_line`] first for client
    /// input, or use [`Message::parse_client`], which does both.
    pub fn parse(line: &[u8]) -> Result<Message, ParseError> {
        parse::parse(line)
    }

    /// Checks the client size limits, then parses: the one call for a line from a client.
    pub fn parse_client(line: &[u8]) -> Result<Message, ParseError> {
        crate::limits::check_client_line(line)?;
        parse::parse(line)
    }

    /// Serializes to `buf` followed by `"\r\n"`.
    ///
    /// The last param is sent as a trailing one (`:` prefix) only when it must be: when it
    /// is empty, contains a space, or starts with `:`. The caller keeps the other params
    /// valid (non-empty, no space, no leading `:`) and keeps NUL, CR and LF out of the
    /// source, command and params; a message from [`Message::parse`] always satisfies this.
    pub fn write_to(&self, buf: &mut BytesMut) {
        write::write_message(self, buf, false);
    }

    /// Like [`Message::write_to`], but always prefixes the last param with `:`. Some
    /// clients only read free text (PRIVMSG bodies, numeric text) after a `:`.
    pub fn write_to_force_trailing(&self, buf: &mut BytesMut) {
        write::write_message(self, buf, true);
    }

    /// Serializes into a fresh buffer, for a line that is sent to many connections.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(write::estimated_len(self));
        self.write_to(&mut buf);
        buf.freeze()
    }

    /// Looks a tag up: `None` if absent, `Some(None)` if present without a value.
    pub fn tag(&self, key: &str) -> Option<Option<&str>> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_fill_the_fields() {
        let msg = Message::new("PRIVMSG")
            .with_source("nick!user@host")
            .with_param("#chan")
            .with_param("hello there")
            .with_tag("msgid", Some("abc".into()));
        assert_eq!(msg.command, "PRIVMSG");
        assert_eq!(msg.source.as_deref(), Some("nick!user@host"));
        assert_eq!(msg.params, ["#chan", "hello there"]);
        assert_eq!(msg.tag("msgid"), Some(Some("abc")));
        assert_eq!(msg.tag("time"), None);
    }

    #[test]
    fn with_tag_replaces_and_normalises_empty_values() {
        let msg = Message::new("TAGMSG")
            .with_tag("a", Some("1".into()))
            .with_tag("b", Some(String::new()))
            .with_tag("a", Some("2".into()));
        assert_eq!(msg.tags.len(), 2);
        assert_eq!(msg.tag("a"), Some(Some("2")));
        assert_eq!(msg.tag("b"), Some(None));
    }

    #[test]
    fn to_bytes_writes_one_crlf_terminated_line() {
        let msg = Message::new("PRIVMSG")
            .with_source("n!u@h")
            .with_param("#c")
            .with_param("hi you");
        assert_eq!(&msg.to_bytes()[..], b":n!u@h PRIVMSG #c :hi you\r\n");
    }

    #[test]
    fn parse_client_applies_the_limits() {
        let mut line = b"PRIVMSG #c :".to_vec();
        line.resize(511, b'x');
        assert_eq!(
            Message::parse_client(&line),
            Err(ParseError::Limit(crate::LimitError::BodyTooLong))
        );
        line.pop();
        assert!(Message::parse(&line).is_ok());
        assert!(Message::parse_client(&line).is_ok());
    }
}
