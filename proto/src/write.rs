//! Serializing a [`Message`] straight into a caller's buffer.
//!
//! One `reserve` for the whole line, then slice copies: no intermediate `String`s, so a
//! channel message is built once and its `Bytes` shared by every recipient.

use bytes::{BufMut, BytesMut};

use crate::message::Message;
use crate::tags::{escaped_len, write_escaped};

/// An upper bound of the bytes [`write_message`] appends, exact when the last param gets a
/// `:`, used to reserve the buffer once.
pub(crate) fn estimated_len(msg: &Message) -> usize {
    let tags: usize = if msg.tags.is_empty() {
        0
    } else {
        // '@' + keys + ';' separators + '=' and escaped values + ' '
        1 + msg
            .tags
            .iter()
            .map(|t| t.key.len() + 1 + t.value.as_deref().map_or(0, |v| 1 + escaped_len(v)))
            .sum::<usize>()
    };
    let source = msg.source.as_ref().map_or(0, |s| s.len() + 2);
    let params: usize =
        msg.params.iter().map(|p| p.len() + 1).sum::<usize>() + usize::from(!msg.params.is_empty());
    tags + source + msg.command.len() + params + 2
}

/// Appends `msg` and CRLF to `buf`; `force_trailing` always puts `:` before the last param.
pub(crate) fn write_message(msg: &Message, buf: &mut BytesMut, force_trailing: bool) {
    buf.reserve(estimated_len(msg));
    if !msg.tags.is_empty() {
        buf.put_u8(b'@');
        for (i, tag) in msg.tags.iter().enumerate() {
            if i > 0 {
                buf.put_u8(b';');
            }
            buf.put_slice(tag.key.as_bytes());
            if let Some(value) = tag.value.as_deref().filter(|v| !v.is_empty()) {
                buf.put_u8(b'=');
                write_escaped(value, buf);
            }
        }
        buf.put_u8(b' ');
    }
    if let Some(source) = &msg.source {
        buf.put_u8(b':');
        buf.put_slice(source.as_bytes());
        buf.put_u8(b' ');
    }
    buf.put_slice(msg.command.as_bytes());
    if let Some((last, middle)) = msg.params.split_last() {
        for param in middle {
            buf.put_u8(b' ');
            buf.put_slice(param.as_bytes());
        }
        buf.put_u8(b' ');
        if force_trailing || needs_trailing(last) {
            buf.put_u8(b':');
        }
        buf.put_slice(last.as_bytes());
    }
    buf.put_slice(b"\r\n");
}

/// A last param must be sent after `:` when it would otherwise not survive a parse.
fn needs_trailing(param: &str) -> bool {
    param.is_empty() || param.starts_with(':') || param.contains(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(msg: &Message, force: bool) -> String {
        let mut buf = BytesMut::new();
        write_message(msg, &mut buf, force);
        assert!(
            buf.len() <= estimated_len(msg),
            "estimate is an upper bound"
        );
        String::from_utf8(buf.to_vec()).expect("UTF-8 in, UTF-8 out")
    }

    #[test]
    fn trailing_colon_only_when_needed() {
        let base = Message::new("CMD").with_param("a");
        assert_eq!(written(&base.clone().with_param("b"), false), "CMD a b\r\n");
        assert_eq!(written(&base.clone().with_param(""), false), "CMD a :\r\n");
        assert_eq!(
            written(&base.clone().with_param(":b"), false),
            "CMD a ::b\r\n"
        );
        assert_eq!(written(&base.with_param("b c"), false), "CMD a :b c\r\n");
    }

    #[test]
    fn forced_trailing_always_has_a_colon() {
        let msg = Message::new("PRIVMSG").with_param("#c").with_param("hi");
        assert_eq!(written(&msg, true), "PRIVMSG #c :hi\r\n");
        assert_eq!(written(&Message::new("AWAY"), true), "AWAY\r\n");
    }

    #[test]
    fn estimate_is_exact_when_the_last_param_has_a_colon() {
        let msg = Message::new("PRIVMSG")
            .with_tag("a", Some("x;y z".into()))
            .with_tag("b", None)
            .with_source("n!u@h")
            .with_param("#c")
            .with_param("hello world");
        let mut buf = BytesMut::new();
        write_message(&msg, &mut buf, false);
        assert_eq!(buf.len(), estimated_len(&msg));
        assert_eq!(
            &buf[..],
            b"@a=x\\:y\\sz;b :n!u@h PRIVMSG #c :hello world\r\n"
        );
    }

    #[test]
    fn empty_tag_value_is_written_as_missing() {
        let mut msg = Message::new("TAGMSG");
        msg.tags.push(crate::Tag {
            key: "k".into(),
            value: Some(String::new()),
        });
        assert_eq!(written(&msg, false), "@k TAGMSG\r\n");
    }
}
