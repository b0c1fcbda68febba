//! Channel and user mode letters: what the server supports, how MODE strings parse, and how
//! applied changes are written back as one MODE line.

use latticed_crdt::ListKind;
use latticed_proto::Message;

/// Channel modes without a parameter (CHANMODES type D), all last-writer-wins flags.
pub const CHANNEL_FLAGS: &str = "imnst";
/// User modes a client may set on itself.
pub const USER_SETTABLE: &str = "iwB";
/// Every user mode (004).
pub const USER_MODES: &str = "Biow";
/// Every channel mode (004).
pub const CHANNEL_MODES: &str = "Ibeiklmnostv";
/// Channel modes taking a parameter (004).
pub const CHANNEL_PARAM_MODES: &str = "Ibeklov";

/// The mode letter of a list kind.
pub fn list_letter(kind: ListKind) -> char {
    match kind {
        ListKind::Ban => 'b',
        ListKind::Except => 'e',
        ListKind::Invite => 'I',
    }
}

/// The list kind of a mode letter, if it is a list mode.
pub fn list_kind(letter: char) -> Option<ListKind> {
    match letter {
        'b' => Some(ListKind::Ban),
        'e' => Some(ListKind::Except),
        'I' => Some(ListKind::Invite),
        _ => None,
    }
}

/// One requested channel mode change, before authorisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModeRequest {
    /// A flag from [`CHANNEL_FLAGS`].
    Flag { on: bool, letter: char },
    /// `+k key` / `-k`.
    Key { on: bool, key: Option<String> },
    /// `+l n` / `-l`; `limit` is None when `+l` had a missing or invalid argument.
    Limit { on: bool, limit: Option<String> },
    /// `+o nick`, `-v nick`.
    Prefix {
        on: bool,
        letter: char,
        nick: String,
    },
    /// `+b mask` / `-b mask`.
    List {
        on: bool,
        kind: ListKind,
        mask: String,
    },
    /// `b` / `e` / `I` without an argument: show the list.
    ShowList { kind: ListKind },
    /// A parameterised mode with its parameter missing.
    MissingParam { letter: char },
    /// An unknown letter.
    Unknown { letter: char },
}

/// Parse a channel modestring and its arguments, in order.
pub fn parse_channel_modes(modestring: &str, args: &[String]) -> Vec<ModeRequest> {
    let mut out = Vec::new();
    let mut on = true;
    let mut args = args.iter();
    for letter in modestring.chars() {
        match letter {
            '+' => on = true,
            '-' => on = false,
            'b' | 'e' | 'I' => {
                let kind = list_kind(letter).unwrap_or(ListKind::Ban);
                match args.next() {
                    Some(mask) => out.push(ModeRequest::List {
                        on,
                        kind,
                        mask: mask.clone(),
                    }),
                    None => out.push(ModeRequest::ShowList { kind }),
                }
            }
            'k' => match args.next() {
                Some(key) => out.push(ModeRequest::Key {
                    on,
                    key: Some(key.clone()),
                }),
                None if on => out.push(ModeRequest::MissingParam { letter }),
                None => out.push(ModeRequest::Key { on, key: None }),
            },
            'l' if on => match args.next() {
                Some(limit) => out.push(ModeRequest::Limit {
                    on,
                    limit: Some(limit.clone()),
                }),
                None => out.push(ModeRequest::MissingParam { letter }),
            },
            'l' => out.push(ModeRequest::Limit { on, limit: None }),
            'o' | 'v' => match args.next() {
                Some(nick) => out.push(ModeRequest::Prefix {
                    on,
                    letter,
                    nick: nick.clone(),
                }),
                None => out.push(ModeRequest::MissingParam { letter }),
            },
            c if CHANNEL_FLAGS.contains(c) => out.push(ModeRequest::Flag { on, letter: c }),
            c => out.push(ModeRequest::Unknown { letter: c }),
        }
    }
    out
}

/// One MODE line for several applied changes `(adding, letter, argument)`, e.g. `+o-v alice bob`.
pub fn mode_message(
    source: String,
    target: String,
    changes: &[(bool, char, Option<String>)],
) -> Message {
    let mut modestring = String::new();
    let mut sign = None;
    let mut args = Vec::new();
    for (on, letter, arg) in changes {
        if sign != Some(*on) {
            modestring.push(if *on { '+' } else { '-' });
            sign = Some(*on);
        }
        modestring.push(*letter);
        if let Some(arg) = arg {
            args.push(arg.clone());
        }
    }
    let mut msg = Message::new("MODE")
        .with_source(source)
        .with_param(target)
        .with_param(modestring);
    for arg in args {
        msg = msg.with_param(arg);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_mixed_modestring_in_order() {
        let got = parse_channel_modes("+ob-k+lxb", &s(&["alice", "*!*@bad", "key", "10"]));
        assert_eq!(
            got,
            vec![
                ModeRequest::Prefix {
                    on: true,
                    letter: 'o',
                    nick: "alice".into()
                },
                ModeRequest::List {
                    on: true,
                    kind: ListKind::Ban,
                    mask: "*!*@bad".into()
                },
                ModeRequest::Key {
                    on: false,
                    key: Some("key".into())
                },
                ModeRequest::Limit {
                    on: true,
                    limit: Some("10".into())
                },
                ModeRequest::Unknown { letter: 'x' },
                ModeRequest::ShowList {
                    kind: ListKind::Ban
                },
            ]
        );
    }

    #[test]
    fn missing_parameters_are_reported() {
        assert_eq!(
            parse_channel_modes("+k", &[]),
            vec![ModeRequest::MissingParam { letter: 'k' }]
        );
        assert_eq!(
            parse_channel_modes("-kl", &[]),
            vec![
                ModeRequest::Key {
                    on: false,
                    key: None
                },
                ModeRequest::Limit {
                    on: false,
                    limit: None
                }
            ]
        );
    }

    #[test]
    fn mode_line_groups_signs() {
        let msg = mode_message(
            "a!u@h".into(),
            "#c".into(),
            &[
                (true, 'o', Some("b".into())),
                (true, 'n', None),
                (false, 'v', Some("c".into())),
            ],
        );
        assert_eq!(msg.params, s(&["#c", "+on-v", "b", "c"]));
    }
}
