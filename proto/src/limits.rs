//! The IRCv3 message-tags size limits, checked on a raw client line.
//!
//! A line has two separately limited parts: the tag section (`@` … first space) and the
//! body (source, command and params, plus the CRLF that the codec already stripped). The
//! server checks a client line with [`check_client_line`] *before* parsing it and answers
//! `ERR_INPUTTOOLONG` (417) for either violation. [`crate::Message::parse`] does not apply
//! these limits because it also reads server-generated lines, whose tag budget is larger.

use memchr::memchr;

/// Maximum body of any line, in bytes, *including* the CRLF (RFC 1459 §2.3): 510 bytes of
/// content. The body is everything after the tag section.
pub const MAX_LINE_BODY: usize = 512;

/// Maximum tag *data* a client may send, in bytes, *excluding* the leading `@` and the
/// space that ends the tag section (message-tags: "Clients MUST NOT send messages with tag
/// data exceeding 4094 bytes"). The whole client tag section is thus at most 4096 bytes.
pub const MAX_CLIENT_TAGS: usize = 4094;

/// Maximum tag section of any message, in bytes, *including* the leading `@` and the
/// trailing space: 4094 bytes of client tags + 4094 bytes of server tags + `;` + `@` + space.
/// This bounds what the server may send after adding its own tags.
pub const MAX_TAGS_SECTION: usize = 8191;

/// Maximum length of any line (server to client included), in bytes, including CRLF: the
/// largest tag section plus the largest body. Use it to size buffers for server-made lines.
pub const MAX_LINE_TOTAL: usize = MAX_TAGS_SECTION + MAX_LINE_BODY;

/// Maximum length of a line a client may send, in bytes, including CRLF: `@`, 4094 bytes
/// of tag data, a space and a 512-byte body. A client connection's [`crate::LineCodec`]
/// uses `MAX_CLIENT_LINE - 2` as its `max_line` (the codec limit excludes the CRLF).
pub const MAX_CLIENT_LINE: usize = 1 + MAX_CLIENT_TAGS + 1 + MAX_LINE_BODY;

/// Which size limit a client line broke. Both are answered with `ERR_INPUTTOOLONG`; they
/// are told apart so logs and metrics can say which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The body (everything after the tag section) is longer than 510 bytes.
    #[error("message body exceeds {} bytes", MAX_LINE_BODY - 2)]
    BodyTooLong,
    /// The tag data is longer than [`MAX_CLIENT_TAGS`] bytes.
    #[error("message tags exceed {MAX_CLIENT_TAGS} bytes")]
    TagsTooLong,
}

/// Checks a client line (without its CRLF) against the tag-data and body limits.
///
/// The tag section is recognised as the parser does: leading spaces are skipped, and a
/// section starting with `@` runs up to the first space. Leading spaces count as body.
pub fn check_client_line(line: &[u8]) -> Result<(), LimitError> {
    let leading = line.iter().take_while(|&&b| b == b' ').count();
    let after_spaces = &line[leading..];
    let body_len = if after_spaces.first() == Some(&b'@') {
        let (tag_data, body) = match memchr(b' ', after_spaces) {
            Some(space) => (space - 1, after_spaces.len() - space - 1),
            None => (after_spaces.len() - 1, 0),
        };
        if tag_data > MAX_CLIENT_TAGS {
            return Err(LimitError::TagsTooLong);
        }
        leading + body
    } else {
        line.len()
    };
    if body_len + 2 > MAX_LINE_BODY {
        return Err(LimitError::BodyTooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(len: usize) -> Vec<u8> {
        let mut line = b"PRIVMSG #c :".to_vec();
        line.resize(len, b'x');
        line
    }

    fn tagged(tag_data: usize, body_len: usize) -> Vec<u8> {
        let mut line = b"@a=".to_vec();
        line.resize(1 + tag_data, b'v');
        line.push(b' ');
        line.extend(body(body_len));
        line
    }

    #[test]
    fn constants_follow_the_spec_arithmetic() {
        assert_eq!(
            MAX_TAGS_SECTION,
            1 + MAX_CLIENT_TAGS + 1 + MAX_CLIENT_TAGS + 1
        );
        assert_eq!(MAX_LINE_TOTAL, 8703);
        assert_eq!(MAX_CLIENT_LINE, 4608);
    }

    #[test]
    fn body_of_510_bytes_is_accepted_and_511_rejected() {
        assert_eq!(check_client_line(&body(510)), Ok(()));
        assert_eq!(check_client_line(&body(511)), Err(LimitError::BodyTooLong));
    }

    #[test]
    fn tag_data_of_4094_bytes_is_accepted_and_4095_rejected() {
        assert_eq!(check_client_line(&tagged(4094, 510)), Ok(()));
        assert_eq!(
            check_client_line(&tagged(4095, 10)),
            Err(LimitError::TagsTooLong)
        );
    }

    #[test]
    fn body_after_tags_is_limited_separately() {
        assert_eq!(
            check_client_line(&tagged(10, 511)),
            Err(LimitError::BodyTooLong)
        );
        assert_eq!(
            check_client_line(&tagged(4095, 511)),
            Err(LimitError::TagsTooLong)
        );
    }

    #[test]
    fn tags_without_a_body_are_measured_to_the_end() {
        let mut line = vec![b'@'];
        line.resize(1 + 4094, b'k');
        assert_eq!(check_client_line(&line), Ok(()));
        line.push(b'k');
        assert_eq!(check_client_line(&line), Err(LimitError::TagsTooLong));
    }

    #[test]
    fn leading_spaces_count_as_body_and_do_not_hide_tags() {
        let mut line = vec![b' '; 3];
        line.extend(tagged(4094, 507));
        assert_eq!(check_client_line(&line), Ok(()));
        line.insert(0, b' ');
        assert_eq!(check_client_line(&line), Err(LimitError::BodyTooLong));
        let mut long_tags = vec![b' '];
        long_tags.extend(tagged(4095, 5));
        assert_eq!(check_client_line(&long_tags), Err(LimitError::TagsTooLong));
    }

    #[test]
    fn empty_and_tiny_lines_pass() {
        assert_eq!(check_client_line(b""), Ok(()));
        assert_eq!(check_client_line(b"@"), Ok(()));
        assert_eq!(check_client_line(b"@ "), Ok(()));
        assert_eq!(check_client_line(b"   "), Ok(()));
    }
}
