//! IRCv3 tag value escaping, both directions.
//!
//! The wire form cannot carry `;`, space, CR or LF inside a value, so they travel as
//! `\:`, `\s`, `\r`, `\n`, and `\` itself as `\\`.

use bytes::{BufMut, BytesMut};

/// Unescapes a raw tag value, returning `None` when the result is empty (an empty value
/// means the same as a missing one).
///
/// Unknown escapes `\x` become `x`, and a lone trailing `\` is dropped, as the spec says.
/// Works on runs between backslashes so a value without escapes is one copy.
pub(crate) fn unescape_value(raw: &str) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(slash) = memchr::memchr(b'\\', rest.as_bytes()) {
        out.push_str(&rest[..slash]);
        let mut after = rest[slash + 1..].chars();
        match after.next() {
            Some(escaped) => {
                out.push(match escaped {
                    ':' => ';',
                    's' => ' ',
                    'r' => '\r',
                    'n' => '\n',
                    other => other,
                });
                rest = after.as_str();
            }
            None => rest = "",
        }
    }
    out.push_str(rest);
    (!out.is_empty()).then_some(out)
}

/// Appends the escaped form of `value` to `buf`, copying unescaped runs whole.
pub(crate) fn write_escaped(value: &str, buf: &mut BytesMut) {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b';' => b"\\:",
            b' ' => b"\\s",
            b'\\' => b"\\\\",
            b'\r' => b"\\r",
            b'\n' => b"\\n",
            _ => continue,
        };
        buf.put_slice(&bytes[start..i]);
        buf.put_slice(escape);
        start = i + 1;
    }
    buf.put_slice(&bytes[start..]);
}

/// How many bytes [`write_escaped`] will write, so callers can reserve once.
pub(crate) fn escaped_len(value: &str) -> usize {
    value.len()
        + value
            .bytes()
            .filter(|b| matches!(b, b';' | b' ' | b'\\' | b'\r' | b'\n'))
            .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(value: &str) -> String {
        let mut buf = BytesMut::new();
        write_escaped(value, &mut buf);
        assert_eq!(buf.len(), escaped_len(value));
        String::from_utf8(buf.to_vec()).expect("escaping keeps UTF-8")
    }

    #[test]
    fn unescape_maps_every_escape() {
        assert_eq!(
            unescape_value(r"a\:b\sc\\d\re\nf").as_deref(),
            Some("a;b c\\d\re\nf")
        );
    }

    #[test]
    fn unknown_escape_keeps_the_char_and_trailing_slash_is_dropped() {
        assert_eq!(unescape_value(r"x\1y\").as_deref(), Some("x1y"));
        assert_eq!(unescape_value(r"\é").as_deref(), Some("é"));
    }

    #[test]
    fn empty_results_are_none() {
        assert_eq!(unescape_value(""), None);
        assert_eq!(unescape_value("\\"), None);
    }

    #[test]
    fn escape_is_the_inverse() {
        let value = "semi;space \\back\rcr\nlf é";
        let wire = escaped(value);
        assert_eq!(wire, r"semi\:space\s\\back\rcr\nlf\sé");
        assert_eq!(unescape_value(&wire).as_deref(), Some(value));
    }
}
