//! Rules for the strings in a config: names, masks, tokens and lines of free text.
//!
//! Each rule returns the reason a value is wrong, quoting the value (escaped, so a stray newline cannot
//! break the one-line error) and saying what would be accepted.

/// Longest server name: the traditional HOSTLEN, which clients and other servers assume.
const MAX_SERVER_NAME: usize = 63;

/// A hostname-like server name: dot-separated labels of letters, digits and inner hyphens, with at
/// least one dot (IRC tells servers from nicks by the dot).
pub(super) fn server_name(name: &str) -> Result<(), String> {
    let problem = if name.len() > MAX_SERVER_NAME {
        Some(format!("it is longer than {MAX_SERVER_NAME} bytes"))
    } else if !name.contains('.') {
        Some("it needs at least one `.`".to_owned())
    } else if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        Some(format!(
            "{bad:?} is not allowed (letters, digits, `-` and `.` only)"
        ))
    } else if name.split('.').any(str::is_empty) {
        Some("it has an empty label (a leading, trailing or doubled `.`)".to_owned())
    } else if name
        .split('.')
        .any(|label| label.starts_with('-') || label.ends_with('-'))
    {
        Some("a label starts or ends with `-`".to_owned())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(format!(
            "{name:?} is not a valid server name: {problem}; use a hostname-like name such as irc.example.net"
        )),
    }
}

/// A tenant id: `[a-z0-9_-]{1,32}`, safe in keys, metric labels and file names.
pub(super) fn tenant_name(name: &str) -> Result<(), String> {
    let valid = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid tenant name: use 1 to 32 of a-z, 0-9, `_` and `-`"
        ))
    }
}

/// A NETWORK= value: 1 to 64 printable ASCII characters, none of which ISUPPORT would need to escape
/// (space, `=`, `\`).
pub(super) fn network(name: &str) -> Result<(), String> {
    let problem = if name.is_empty() {
        Some("it is empty".to_owned())
    } else if name.len() > 64 {
        Some("it is longer than 64 bytes".to_owned())
    } else if name.contains(' ') {
        Some("it contains a space".to_owned())
    } else {
        name.chars()
            .find(|c| !c.is_ascii_graphic() || *c == '=' || *c == '\\')
            .map(|bad| format!("{bad:?} is not allowed"))
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(format!(
            "{name:?} is not a valid network name: {problem}; use printable ASCII without spaces, `=` or `\\`"
        )),
    }
}

/// One line of free text sent to clients: no NUL, CR or LF (they would end or corrupt the IRC line), and
/// at most `max` bytes. IRC formatting codes are allowed.
pub(super) fn line(text: &str, max: usize) -> Result<(), String> {
    if let Some(bad) = text.chars().find(|c| matches!(c, '\0' | '\r' | '\n')) {
        return Err(format!(
            "{text:?} contains {bad:?}, which cannot be sent on an IRC line"
        ));
    }
    if text.len() > max {
        return Err(format!(
            "is {} bytes long; at most {max} fit in a reply",
            text.len()
        ));
    }
    Ok(())
}

/// An operator name: one OPER parameter, so printable ASCII without spaces, not starting with `:`.
pub(super) fn oper_name(name: &str) -> Result<(), String> {
    let valid = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_graphic())
        && !name.starts_with(':');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid oper name: use 1 to 64 printable ASCII characters, no spaces, not starting with `:`"
        ))
    }
}

/// An operator password: not empty, and sendable in an OPER line.
pub(super) fn oper_password(password: &str) -> Result<(), String> {
    if password.is_empty() {
        return Err("is empty; an operator needs a password".to_owned());
    }
    if password.chars().any(|c| matches!(c, '\0' | '\r' | '\n')) {
        return Err("contains NUL, CR or LF, so no client could send it".to_owned());
    }
    if password.len() > 400 {
        return Err(format!(
            "is {} bytes long; at most 400 fit in an OPER line",
            password.len()
        ));
    }
    Ok(())
}

/// A `user@host` mask with `*`/`?` wildcards: exactly one `@`, both sides present, no whitespace.
pub(super) fn host_mask(mask: &str) -> Result<(), String> {
    let valid = mask.len() <= 255
        && mask.chars().all(|c| c.is_ascii_graphic() || !c.is_ascii())
        && !mask.chars().any(char::is_whitespace)
        && matches!(mask.split_once('@'), Some((user, host)) if !user.is_empty() && !host.is_empty() && !host.contains('@'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{mask:?} is not a valid host mask: write `user@host`, e.g. \"*@*\" or \"*@192.0.2.*\""
        ))
    }
}

/// An admin bearer token: 16 to 256 printable ASCII characters, so it is not trivially guessable and
/// fits an `Authorization` header as is.
pub(super) fn admin_token(token: &str) -> Result<(), String> {
    if !(16..=256).contains(&token.len()) || !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(
            "must be 16 to 256 printable ASCII characters without spaces (e.g. `openssl rand -hex 32`)"
                .to_owned(),
        );
    }
    Ok(())
}

/// A cluster secret: 16 to 1024 bytes, none of them control characters, so it is not trivially
/// guessable and survives being copied between config files intact.
pub(super) fn cluster_secret(secret: &str) -> Result<(), String> {
    if !(16..=1024).contains(&secret.len()) {
        return Err(format!(
            "is {} bytes long; use 16 to 1024 (e.g. `openssl rand -hex 32`)",
            secret.len()
        ));
    }
    if secret.chars().any(char::is_control) {
        return Err("contains a control character; use printable text".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        for good in [
            "irc.latticed.local",
            "My.Little.Server",
            "a.b",
            "irc-1.example.net",
        ] {
            assert_eq!(server_name(good), Ok(()), "{good}");
        }
        let cases = [
            ("localhost", "needs at least one `.`"),
            ("irc_1.example", "'_' is not allowed"),
            ("irc..example", "empty label"),
            (".irc.example", "empty label"),
            ("irc.example.", "empty label"),
            ("-irc.example", "starts or ends with `-`"),
            ("irc.example net", "' ' is not allowed"),
            ("irc.\nexample", "'\\n' is not allowed"),
        ];
        for (bad, why) in cases {
            let reason = server_name(bad).expect_err(bad);
            assert!(reason.contains(why), "{bad}: {reason}");
            assert!(reason.contains(&format!("{bad:?}")), "{bad}: {reason}");
        }
        let long = format!("{}.net", "a".repeat(60));
        assert!(server_name(&long)
            .expect_err("too long")
            .contains("longer than 63 bytes"));
    }

    #[test]
    fn tenant_names() {
        for good in ["default", "a", "tenant_2-b", &"x".repeat(32)] {
            assert_eq!(tenant_name(good), Ok(()), "{good}");
        }
        for bad in ["", "Default", "my tenant", "ténant", "a.b", &"x".repeat(33)] {
            assert!(tenant_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn network_names() {
        for good in ["Latticed", "Libera.Chat", "my-net_2"] {
            assert_eq!(network(good), Ok(()), "{good}");
        }
        let cases = [
            ("", "it is empty"),
            ("My Net", "it contains a space"),
            ("A=B", "'=' is not allowed"),
            ("A\\B", "'\\\\' is not allowed"),
            ("Réseau", "'é' is not allowed"),
        ];
        for (bad, why) in cases {
            let reason = network(bad).expect_err(bad);
            assert!(reason.contains(why), "{bad}: {reason}");
        }
        assert!(network(&"N".repeat(65)).is_err());
    }

    #[test]
    fn lines_of_text() {
        assert_eq!(line("\u{2}bold\u{2} and colours \u{3}4red", 100), Ok(()));
        assert_eq!(line("", 10), Ok(()));
        assert!(line("two\nlines", 100)
            .expect_err("newline")
            .contains("'\\n'"));
        assert!(line("nul\0", 100).expect_err("nul").contains("'\\0'"));
        assert!(line("cr\r", 100).expect_err("cr").contains("'\\r'"));
        assert!(line("abcdef", 5)
            .expect_err("too long")
            .contains("is 6 bytes long; at most 5"));
    }

    #[test]
    fn oper_fields() {
        assert_eq!(oper_name("operuser"), Ok(()));
        for bad in ["", "oper user", ":oper", &"o".repeat(65)] {
            assert!(oper_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(oper_password("operpassword"), Ok(()));
        assert_eq!(oper_password("with space"), Ok(()));
        assert!(oper_password("").expect_err("empty").contains("is empty"));
        assert!(oper_password("a\nb").is_err());
        assert!(oper_password(&"p".repeat(401)).is_err());
    }

    #[test]
    fn host_masks() {
        for good in [
            "*@*",
            "~alice@192.0.2.*",
            "*@*.example.net",
            "bob@2001:db8::*",
        ] {
            assert_eq!(host_mask(good), Ok(()), "{good}");
        }
        for bad in ["", "*", "@host", "user@", "a@b@c", "a b@c", "a@b\n"] {
            assert!(host_mask(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cluster_secrets() {
        assert_eq!(cluster_secret("long shared secret"), Ok(()));
        assert_eq!(cluster_secret(&"s".repeat(1024)), Ok(()));
        assert!(cluster_secret("too short")
            .expect_err("short")
            .contains("is 9 bytes long; use 16 to 1024"));
        assert!(cluster_secret(&"s".repeat(1025)).is_err());
        assert!(cluster_secret("sixteen chars\tand a tab")
            .expect_err("tab")
            .contains("control character"));
    }

    #[test]
    fn admin_tokens() {
        assert_eq!(admin_token("0123456789abcdef"), Ok(()));
        assert!(admin_token("short").is_err());
        assert!(admin_token("0123456789 abcdef").is_err());
        assert!(admin_token(&"t".repeat(257)).is_err());
    }
}
