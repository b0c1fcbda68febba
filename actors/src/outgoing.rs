//! One message going to many recipients, serialised once per capability variant.
//!
//! Recipients differ only in which tags they may see (`time` for server-time, `msgid` and client-only
//! tags for message-tags, `account` for account-tag). There are at most eight variants, each built
//! the first time a recipient needs it and then shared as `Bytes` by every recipient with the same caps.

use bytes::{Bytes, BytesMut};
use latticed_proto::{Message, Tag};

use crate::caps::Caps;
use crate::time::iso8601;

const TIME: usize = 1;
const MSG_TAGS: usize = 2;
const ACCOUNT: usize = 4;

/// A message plus the tags some recipients get, with a lazily filled cache of serialised variants.
pub struct Outgoing {
    message: Message,
    time: String,
    msgid: Option<String>,
    account: Option<String>,
    bot: bool,
    client_tags: Vec<Tag>,
    variants: [Option<Bytes>; 8],
}

impl Outgoing {
    /// `message` without tags; `wall_ms` becomes the `time` tag.
    pub fn new(message: Message, wall_ms: u64) -> Outgoing {
        Outgoing {
            message,
            time: iso8601(wall_ms),
            msgid: None,
            account: None,
            bot: false,
            client_tags: Vec::new(),
            variants: Default::default(),
        }
    }

    /// Attach a message id, shown to message-tags recipients.
    pub fn msgid(mut self, msgid: String) -> Outgoing {
        self.msgid = Some(msgid);
        self
    }

    /// Attach the sender's account, shown to account-tag recipients.
    pub fn account(mut self, account: Option<&str>) -> Outgoing {
        self.account = account.map(str::to_owned);
        self
    }

    /// Mark the message as sent by a bot (`bot` tag, shown to message-tags recipients).
    pub fn bot(mut self, bot: bool) -> Outgoing {
        self.bot = bot;
        self
    }

    /// Attach client-only (`+`) tags, shown to message-tags recipients.
    pub fn client_tags(mut self, tags: Vec<Tag>) -> Outgoing {
        self.client_tags = tags;
        self
    }

    /// The serialised line for a recipient with `caps`.
    pub fn for_caps(&mut self, caps: Caps) -> Bytes {
        let mut index = 0;
        if caps.has(Caps::SERVER_TIME) {
            index |= TIME;
        }
        if caps.has(Caps::MESSAGE_TAGS) {
            index |= MSG_TAGS;
        }
        if caps.has(Caps::ACCOUNT_TAG) && self.account.is_some() {
            index |= ACCOUNT;
        }
        if let Some(line) = &self.variants[index] {
            return line.clone();
        }
        let line = self.build(index);
        self.variants[index] = Some(line.clone());
        line
    }

    fn build(&self, index: usize) -> Bytes {
        let mut msg = Message {
            tags: Vec::new(),
            source: self.message.source.clone(),
            command: self.message.command.clone(),
            params: self.message.params.clone(),
        };
        if index & MSG_TAGS != 0 {
            msg.tags.extend(self.client_tags.iter().cloned());
            if self.bot {
                msg.tags.push(Tag {
                    key: "bot".into(),
                    value: None,
                });
            }
            if let Some(id) = &self.msgid {
                msg.tags.push(Tag {
                    key: "msgid".into(),
                    value: Some(id.clone()),
                });
            }
        }
        if index & TIME != 0 {
            msg.tags.push(Tag {
                key: "time".into(),
                value: Some(self.time.clone()),
            });
        }
        if index & ACCOUNT != 0 {
            msg.tags.push(Tag {
                key: "account".into(),
                value: self.account.clone(),
            });
        }
        let mut buf = BytesMut::with_capacity(128);
        msg.write_to(&mut buf);
        buf.freeze()
    }
}

/// A PRIVMSG / NOTICE / TAGMSG from `source` to `target` with its msgid and client-only tags, as
/// live delivery and CHATHISTORY both send it (TAGMSG has no text parameter).
pub fn message_line(
    kind: latticed_crdt::MessageKind,
    source: &str,
    target: String,
    text: &str,
    msgid: latticed_crdt::MsgId,
    tags: &[(String, Option<String>)],
    wall_ms: u64,
) -> Outgoing {
    use latticed_crdt::MessageKind;
    let command = match kind {
        MessageKind::Privmsg => "PRIVMSG",
        MessageKind::Notice => "NOTICE",
        MessageKind::Tagmsg => "TAGMSG",
    };
    let mut message = Message::new(command)
        .with_source(source.to_owned())
        .with_param(target);
    if kind != MessageKind::Tagmsg {
        message = message.with_param(text.to_owned());
    }
    let client_tags = tags
        .iter()
        .map(|(key, value)| Tag {
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    Outgoing::new(message, wall_ms)
        .msgid(msgid.to_string())
        .client_tags(client_tags)
}

/// Add a tag to an already serialised line (used for `label` and `batch` on a command's own replies).
pub fn prepend_tag(line: &[u8], key: &str, value: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(line.len() + key.len() + value.len() + 3);
    if let Some(rest) = line.strip_prefix(b"@") {
        buf.extend_from_slice(b"@");
        push_tag(&mut buf, key, value);
        buf.extend_from_slice(b";");
        buf.extend_from_slice(rest);
    } else {
        buf.extend_from_slice(b"@");
        push_tag(&mut buf, key, value);
        buf.extend_from_slice(b" ");
        buf.extend_from_slice(line);
    }
    buf.freeze()
}

fn push_tag(buf: &mut BytesMut, key: &str, value: &str) {
    buf.extend_from_slice(key.as_bytes());
    if !value.is_empty() {
        buf.extend_from_slice(b"=");
        for b in value.bytes() {
            match b {
                b';' => buf.extend_from_slice(b"\\:"),
                b' ' => buf.extend_from_slice(b"\\s"),
                b'\\' => buf.extend_from_slice(b"\\\\"),
                b'\r' => buf.extend_from_slice(b"\\r"),
                b'\n' => buf.extend_from_slice(b"\\n"),
                _ => buf.extend_from_slice(&[b]),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn privmsg() -> Outgoing {
        Outgoing::new(
            Message::new("PRIVMSG")
                .with_source("a!u@h")
                .with_param("#c")
                .with_param("hi there"),
            0,
        )
        .msgid("abc".into())
    }

    #[test]
    fn variants_differ_by_caps_and_are_cached() {
        let mut out = privmsg();
        let plain = out.for_caps(Caps::default());
        assert_eq!(&plain[..], b":a!u@h PRIVMSG #c :hi there\r\n");
        let tagged = out.for_caps(Caps(Caps::MESSAGE_TAGS.0 | Caps::SERVER_TIME.0));
        assert_eq!(
            &tagged[..],
            b"@msgid=abc;time=1970-01-01T00:00:00.000Z :a!u@h PRIVMSG #c :hi there\r\n"
        );
        let again = out.for_caps(Caps(Caps::MESSAGE_TAGS.0 | Caps::SERVER_TIME.0));
        assert_eq!(tagged.as_ptr(), again.as_ptr());
    }

    #[test]
    fn prepend_tag_to_tagged_and_untagged_lines() {
        assert_eq!(
            &prepend_tag(b":s PONG s x\r\n", "label", "a b")[..],
            b"@label=a\\sb :s PONG s x\r\n"
        );
        assert_eq!(
            &prepend_tag(b"@time=1 :s X\r\n", "batch", "1")[..],
            b"@batch=1;time=1 :s X\r\n"
        );
    }
}
