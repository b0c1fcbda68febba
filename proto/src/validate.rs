//! Which names the server accepts: nicks, channels, usernames and hostnames.
//!
//! A name that would break the wire format (spaces, commas, `:` at the start, control
//! bytes) or a mask (`*`, `?`, `!`, `@`) must be refused at the door, because every other
//! part of the server assumes names are safe to put in a param.

/// RFC 2812 "special" characters, allowed anywhere in a nick.
const NICK_SPECIAL: &[u8] = b"[]\\`_^{|}";

/// Whether `nick` is a valid nickname of at most `max_len` bytes.
///
/// RFC 2812: a letter or special (`[]\`_^{|}`) first, then letters, digits, specials and
/// `-`. That excludes digits and `-` in front (they would read as numerics or UIDs) and
/// every char with a protocol meaning: space, `:` `#` `&` `,` `*` `?` `!` `@` `.`.
/// Only ASCII is accepted, so both case mappings fold every nick.
pub fn is_valid_nick(nick: &str, max_len: usize) -> bool {
    let bytes = nick.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    let is_start = |b: u8| b.is_ascii_alphabetic() || NICK_SPECIAL.contains(&b);
    bytes.len() <= max_len
        && is_start(first)
        && rest
            .iter()
            .all(|&b| is_start(b) || b.is_ascii_digit() || b == b'-')
}

/// Whether `name` is a valid channel name of at most `max_len` bytes.
///
/// It starts with one of `chantypes` (the ISUPPORT `CHANTYPES`, e.g. `#&`) and has at
/// least one more char. Refused anywhere: space and `,` (they separate params and list
/// items), `:` (RFC 2812 reserves it for channel masks), and every control char, which
/// covers BEL, NUL, CR and LF. Other Unicode is allowed.
pub fn is_valid_channel(name: &str, chantypes: &str, max_len: usize) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= max_len
        && chantypes.contains(first)
        && !chars.as_str().is_empty()
        && chars.all(|c| !matches!(c, ' ' | ',' | ':') && !c.is_control())
}

/// Whether `user` is acceptable as the username param of `USER`: non-empty and without
/// space, `@` (it would split the hostmask), NUL, CR or LF.
pub fn is_valid_user(user: &str) -> bool {
    !user.is_empty()
        && !user
            .bytes()
            .any(|b| matches!(b, b' ' | b'@' | b'\0' | b'\r' | b'\n'))
}

/// Longest DNS name, in bytes, not counting a trailing `.`.
const MAX_HOSTNAME: usize = 253;
/// Longest DNS label, in bytes.
const MAX_LABEL: usize = 63;

/// Whether `host` is a valid server or client hostname (ircdocs validate-hostname rules).
///
/// DNS labels of ASCII letters, digits and `-`, not starting or ending with `-`, 1 to 63
/// bytes; at least one `.` (a bare word such as `irc` could be anything; `services.`
/// counts, as fully qualified); one trailing `.` allowed; at most 253 bytes without it. Internationalised names must
/// arrive as punycode (`xn--…`); `_` is refused. An IPv6 literal fails (`:`) while a
/// dotted IPv4 address passes as digit labels: callers that must tell addresses from names
/// parse the address first.
pub fn is_valid_hostname(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host);
    host.contains('.')
        && !name.is_empty()
        && name.len() <= MAX_HOSTNAME
        && name.split('.').all(is_valid_label)
}

/// One DNS label: 1 to 63 letters, digits and `-`, without `-` at either end.
fn is_valid_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_LABEL
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_nicks() {
        for nick in [
            "a", "Nick", "n1ck-", "[away]", "`x", "_under", "a\\b", "{|}^", "x9",
        ] {
            assert!(is_valid_nick(nick, 30), "{nick:?}");
        }
    }

    #[test]
    fn invalid_nicks() {
        for nick in [
            "", "1abc", "-abc", "a b", "a:b", ":a", "#a", "&a", "a,b", "a*", "a?", "a!b", "a@b",
            "a.b", "né", "a\0", "a\r", "a\x07", "~a", "a~", "a/b",
        ] {
            assert!(!is_valid_nick(nick, 30), "{nick:?}");
        }
    }

    #[test]
    fn nick_length_is_bounded_in_bytes() {
        assert!(is_valid_nick("abcde", 5));
        assert!(!is_valid_nick("abcdef", 5));
        assert!(!is_valid_nick("a", 0));
    }

    #[test]
    fn valid_channels() {
        for name in [
            "#a", "#Chan-1", "&local", "#über", "##", "#a[b]", "#a.b!c@d",
        ] {
            assert!(is_valid_channel(name, "#&", 50), "{name:?}");
        }
    }

    #[test]
    fn invalid_channels() {
        for name in [
            "", "#", "a", "+a", "#a b", "#a,b", "#a:b", "#a\x07", "#a\0", "#a\r", "#a\n", "#a\x02",
            "#a\x7f", "#a\u{85}",
        ] {
            assert!(!is_valid_channel(name, "#&", 50), "{name:?}");
        }
        assert!(!is_valid_channel("&local", "#", 50));
    }

    #[test]
    fn channel_length_is_bounded_in_bytes() {
        assert!(is_valid_channel("#abcd", "#", 5));
        assert!(!is_valid_channel("#abcde", "#", 5));
        assert!(!is_valid_channel("#é", "#", 2));
    }

    #[test]
    fn usernames() {
        for user in ["u", "~user", "a.b-c_d", "ünï"] {
            assert!(is_valid_user(user), "{user:?}");
        }
        for user in ["", "a b", "a@b", "a\0", "a\r", "a\n"] {
            assert!(!is_valid_user(user), "{user:?}");
        }
    }

    #[test]
    fn hostname_lengths() {
        let label63 = "a".repeat(63);
        assert!(is_valid_hostname(&format!("{label63}.com")));
        assert!(!is_valid_hostname(&format!("a{label63}.com")));
        let long = format!("{0}.{0}.{0}.{1}", label63, "b".repeat(61));
        assert_eq!(long.len(), 253);
        assert!(is_valid_hostname(&long));
        assert!(is_valid_hostname(&format!("{long}.")));
        assert!(!is_valid_hostname(&format!("x{long}")));
    }

    #[test]
    fn hostname_structure() {
        for host in [
            "a..b",
            ".a.b",
            "a.b..",
            ".",
            "..",
            "a.-b",
            "a.b-",
            "a_b.c",
            "2001:db8::1",
        ] {
            assert!(!is_valid_hostname(host), "{host:?}");
        }
        assert!(is_valid_hostname("127.0.0.1"));
        assert!(is_valid_hostname("localhost."));
        assert!(!is_valid_hostname("localhost"));
    }
}
