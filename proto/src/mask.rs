//! Hostmask globbing, normalisation and splitting, for bans, excepts, invex and opers.
//!
//! Masks use `*` (any run, possibly empty) and `?` (exactly one char); everything else,
//! including `[` and `]`, is literal. A backslash escapes `*`, `?` and `\` itself; before
//! any other char it is a literal backslash, so nicks containing `\` still match
//! themselves.

use crate::casemap::CaseMapping;

/// One element of a mask.
#[derive(Clone, Copy)]
enum Token {
    Star,
    AnyChar,
    Literal(char),
}

/// Reads the mask token at byte offset `at` (a char boundary, possibly the end): the token
/// and its length in bytes, or `None` at the end of the mask.
fn token_at(mask: &str, at: usize) -> Option<(Token, usize)> {
    let mut chars = mask[at..].chars();
    let c = chars.next()?;
    Some(match c {
        '*' => (Token::Star, 1),
        '?' => (Token::AnyChar, 1),
        '\\' => match chars.next() {
            Some(e @ ('*' | '?' | '\\')) => (Token::Literal(e), 2),
            _ => (Token::Literal('\\'), 1),
        },
        other => (Token::Literal(other), other.len_utf8()),
    })
}

/// Whether `subject` matches the glob `mask`, comparing chars folded with `cm`.
///
/// Greedy matching that backtracks only to the last `*`: at most
/// `O(mask × subject)` steps and no allocation.
pub fn mask_match(mask: &str, subject: &str, cm: CaseMapping) -> bool {
    let (mut m, mut s) = (0, 0);
    // After a `*`: the mask position following it and the subject position it resumes at.
    let mut backtrack: Option<(usize, usize)> = None;
    loop {
        let next_subject = subject[s..].chars().next();
        match token_at(mask, m) {
            Some((Token::Star, len)) => {
                m += len;
                backtrack = Some((m, s));
                continue;
            }
            Some((Token::AnyChar, len)) => {
                if let Some(c) = next_subject {
                    m += len;
                    s += c.len_utf8();
                    continue;
                }
            }
            Some((Token::Literal(want), len)) => {
                if let Some(c) = next_subject.filter(|&c| cm.fold_char(c) == cm.fold_char(want)) {
                    m += len;
                    s += c.len_utf8();
                    continue;
                }
            }
            None if next_subject.is_none() => return true,
            None => {}
        }
        match backtrack {
            Some((star_m, star_s)) => match subject[star_s..].chars().next() {
                Some(c) => {
                    let resume = star_s + c.len_utf8();
                    backtrack = Some((star_m, resume));
                    m = star_m;
                    s = resume;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

/// Completes a ban-style mask to `nick!user@host`, filling missing or empty parts with `*`:
/// `nick` → `nick!*@*`, `user@host` → `*!user@host`, `nick!user` → `nick!user@*`, and a
/// bare word with a `.` or `:` (a hostname or IP, which no nick contains) → `*!*@word`.
pub fn normalize_mask(mask: &str) -> String {
    let (nick, user, host) = match (mask.split_once('!'), mask.split_once('@')) {
        (Some((nick, rest)), _) => match rest.split_once('@') {
            Some((user, host)) => (nick, user, host),
            None => (nick, rest, ""),
        },
        (None, Some((user, host))) => ("", user, host),
        (None, None) if mask.contains(['.', ':']) => ("", "", mask),
        (None, None) => (mask, "", ""),
    };
    let or_star = |part: &str| if part.is_empty() { "*" } else { part }.to_owned();
    format!("{}!{}@{}", or_star(nick), or_star(user), or_star(host))
}

/// Splits `nick!user@host` into its parts; an absent or empty part is `None`.
///
/// The nick runs to the first `!` or `@`; the user follows a `!` up to the next `@`; the
/// host is everything after that `@`. So `nick@host` has no user and `nick!user` no host,
/// as the ircdocs userhost-split vectors expect.
pub fn split_userhost(s: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let nick_end = s.find(['!', '@']).unwrap_or(s.len());
    let nick = &s[..nick_end];
    let rest = &s[nick_end..];
    let (user, host) = match rest.strip_prefix('!') {
        Some(after) => match after.split_once('@') {
            Some((user, host)) => (user, Some(host)),
            None => (after, None),
        },
        None => ("", rest.strip_prefix('@')),
    };
    (non_empty(nick), non_empty(user), host.and_then(non_empty))
}

/// `None` for an empty part, so absent and empty parts look the same.
fn non_empty(part: &str) -> Option<&str> {
    (!part.is_empty()).then_some(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CM: CaseMapping = CaseMapping::Rfc1459;

    #[test]
    fn stars_and_question_marks() {
        assert!(mask_match("*", "", CM));
        assert!(mask_match("*", "anything", CM));
        assert!(mask_match("a*b*c", "aXXbYYc", CM));
        assert!(mask_match("a**c", "ac", CM));
        assert!(!mask_match("a?c", "ac", CM));
        assert!(mask_match("a?c", "abc", CM));
        assert!(!mask_match("abc", "abcd", CM));
        assert!(!mask_match("", "a", CM));
        assert!(mask_match("", "", CM));
        assert!(mask_match("*a", "aaaa", CM));
        assert!(!mask_match("*a", "aaab", CM));
    }

    #[test]
    fn question_mark_is_one_char_not_one_byte() {
        assert!(mask_match("n?ck!*@*", "néck!u@h", CM));
        assert!(!mask_match("n??ck!*@*", "néck!u@h", CM));
        assert!(mask_match("*é", "abcé", CM));
    }

    #[test]
    fn matching_is_casefolded_with_the_mapping() {
        assert!(mask_match("NICK!*@*", "nick!u@h", CM));
        assert!(mask_match("a[b]!*@*", "A{B}!u@h", CaseMapping::Rfc1459));
        assert!(!mask_match("a[b]!*@*", "A{B}!u@h", CaseMapping::Ascii));
    }

    #[test]
    fn backslash_escapes_wildcards_and_is_literal_elsewhere() {
        assert!(mask_match(r"a\*b", "a*b", CM));
        assert!(!mask_match(r"a\*b", "axxb", CM));
        assert!(mask_match(r"a\?b", "a?b", CM));
        assert!(!mask_match(r"a\?b", "axb", CM));
        assert!(mask_match(r"a\\b", r"a\b", CM));
        assert!(mask_match(r"a\b!*@*", r"a\b!u@h", CaseMapping::Ascii));
        assert!(mask_match(r"trail\", r"trail\", CaseMapping::Ascii));
    }

    #[test]
    fn pathological_masks_finish_quickly() {
        let subject = "a".repeat(500);
        let mask = format!("{}b", "*a".repeat(100));
        assert!(!mask_match(&mask, &subject, CM));
    }

    #[test]
    fn normalize_fills_missing_parts() {
        assert_eq!(normalize_mask("nick"), "nick!*@*");
        assert_eq!(normalize_mask("user@host"), "*!user@host");
        assert_eq!(normalize_mask("nick!user"), "nick!user@*");
        assert_eq!(normalize_mask("host.with.dot"), "*!*@host.with.dot");
        assert_eq!(normalize_mask("2001:db8::1"), "*!*@2001:db8::1");
        assert_eq!(normalize_mask("n!u@h"), "n!u@h");
        assert_eq!(normalize_mask("!@"), "*!*@*");
        assert_eq!(normalize_mask(""), "*!*@*");
        assert_eq!(normalize_mask("*"), "*!*@*");
        assert_eq!(normalize_mask("n!u@h@x"), "n!u@h@x");
        assert_eq!(normalize_mask("@host"), "*!*@host");
    }

    #[test]
    fn split_edge_cases() {
        assert_eq!(split_userhost(""), (None, None, None));
        assert_eq!(split_userhost("!u@h"), (None, Some("u"), Some("h")));
        assert_eq!(split_userhost("n!@h"), (Some("n"), None, Some("h")));
        assert_eq!(split_userhost("n!u@"), (Some("n"), Some("u"), None));
        assert_eq!(split_userhost("n@h!x"), (Some("n"), None, Some("h!x")));
    }
}
