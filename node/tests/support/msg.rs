//! A minimal parser for lines received from the server: `[@tags] [:source] COMMAND params...`.
//!
//! Written independently of `latticed-proto` so the tests check the server's output on their own.

use std::collections::BTreeMap;
use std::fmt;

/// One parsed IRC message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// The line as received, without CRLF.
    pub raw: String,
    /// Message tags with escapes decoded; a tag without a value maps to "".
    pub tags: BTreeMap<String, String>,
    /// The source (prefix) without the leading colon.
    pub source: Option<String>,
    /// The command, uppercased (numerics stay as three digits).
    pub command: String,
    /// All parameters, the trailing one included without its colon.
    pub params: Vec<String>,
}

impl Msg {
    /// Parses one line (without CRLF); an empty command is an error.
    pub fn parse(line: &str) -> Result<Msg, String> {
        let mut rest = line;
        let mut tags = BTreeMap::new();
        if let Some(after) = rest.strip_prefix('@') {
            let (tag_text, tail) = after
                .split_once(' ')
                .ok_or_else(|| "tags without a command".to_owned())?;
            for item in tag_text.split(';').filter(|t| !t.is_empty()) {
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                tags.insert(k.to_owned(), unescape_tag_value(v));
            }
            rest = tail;
        }
        rest = rest.trim_start_matches(' ');
        let mut source = None;
        if let Some(after) = rest.strip_prefix(':') {
            let (src, tail) = after
                .split_once(' ')
                .ok_or_else(|| "source without a command".to_owned())?;
            source = Some(src.to_owned());
            rest = tail.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return Err("empty command".to_owned());
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_owned());
                break;
            }
            let (param, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(param.to_owned());
            rest = tail;
        }
        Ok(Msg {
            raw: line.to_owned(),
            tags,
            source,
            command: command.to_ascii_uppercase(),
            params,
        })
    }

    /// Parameter `i`; a missing parameter fails the test, naming the line.
    pub fn param(&self, i: usize) -> &str {
        self.params
            .get(i)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("message has no parameter {i}: {}", self.raw))
    }

    /// The last parameter (usually the trailing one); a message without any fails the test.
    pub fn last(&self) -> &str {
        self.params
            .last()
            .map(String::as_str)
            .unwrap_or_else(|| panic!("message has no parameters: {}", self.raw))
    }

    /// The value of tag `key`, if present ("" for a tag without a value).
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    /// The nick part of the source (`nick` in `nick!user@host`), or "" without a source.
    pub fn nick(&self) -> &str {
        let src = self.source.as_deref().unwrap_or("");
        src.split('!').next().unwrap_or(src)
    }

    /// Whether the command is `cmd` and the source nick is `nick` (both case-insensitive).
    pub fn is_from(&self, cmd: &str, nick: &str) -> bool {
        self.command.eq_ignore_ascii_case(cmd) && self.nick().eq_ignore_ascii_case(nick)
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Decodes IRCv3 tag-value escapes: `\:` `\s` `\\` `\r` `\n`; other escaped chars stand for
/// themselves and a trailing lone backslash is dropped.
fn unescape_tag_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
