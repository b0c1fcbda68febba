//! The kind of an op, as a small stable code: stored in the time index so filters and replay can
//! skip records without decoding them, and named for the admin API and `latticed events`.

use latticed_crdt::{MessageTarget, OpBody, Uid};

/// Which [`OpBody`] variant an op is. The numeric codes are part of the on-disk format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum OpKind {
    /// [`OpBody::UserArrive`].
    UserArrive = 1,
    /// [`OpBody::UserDepart`].
    UserDepart = 2,
    /// [`OpBody::NickChange`].
    NickChange = 3,
    /// [`OpBody::SetAway`].
    SetAway = 4,
    /// [`OpBody::SetRealname`].
    SetRealname = 5,
    /// [`OpBody::SetHost`].
    SetHost = 6,
    /// [`OpBody::SetAccount`].
    SetAccount = 7,
    /// [`OpBody::SetUserMode`].
    SetUserMode = 8,
    /// [`OpBody::Join`].
    Join = 9,
    /// [`OpBody::Leave`].
    Leave = 10,
    /// [`OpBody::SetPrefix`].
    SetPrefix = 11,
    /// [`OpBody::SetChannelFlag`].
    SetChannelFlag = 12,
    /// [`OpBody::SetKey`].
    SetKey = 13,
    /// [`OpBody::SetLimit`].
    SetLimit = 14,
    /// [`OpBody::SetTopic`].
    SetTopic = 15,
    /// [`OpBody::ListAdd`].
    ListAdd = 16,
    /// [`OpBody::ListRemove`].
    ListRemove = 17,
    /// [`OpBody::ChannelReset`].
    ChannelReset = 18,
    /// [`OpBody::Message`].
    Message = 19,
}

impl OpKind {
    /// Every kind, in code order.
    pub const ALL: [OpKind; 19] = [
        OpKind::UserArrive,
        OpKind::UserDepart,
        OpKind::NickChange,
        OpKind::SetAway,
        OpKind::SetRealname,
        OpKind::SetHost,
        OpKind::SetAccount,
        OpKind::SetUserMode,
        OpKind::Join,
        OpKind::Leave,
        OpKind::SetPrefix,
        OpKind::SetChannelFlag,
        OpKind::SetKey,
        OpKind::SetLimit,
        OpKind::SetTopic,
        OpKind::ListAdd,
        OpKind::ListRemove,
        OpKind::ChannelReset,
        OpKind::Message,
    ];

    /// The kind of an op body.
    pub fn of(body: &OpBody) -> OpKind {
        match body {
            OpBody::UserArrive { .. } => OpKind::UserArrive,
            OpBody::UserDepart { .. } => OpKind::UserDepart,
            OpBody::NickChange { .. } => OpKind::NickChange,
            OpBody::SetAway { .. } => OpKind::SetAway,
            OpBody::SetRealname { .. } => OpKind::SetRealname,
            OpBody::SetHost { .. } => OpKind::SetHost,
            OpBody::SetAccount { .. } => OpKind::SetAccount,
            OpBody::SetUserMode { .. } => OpKind::SetUserMode,
            OpBody::Join { .. } => OpKind::Join,
            OpBody::Leave { .. } => OpKind::Leave,
            OpBody::SetPrefix { .. } => OpKind::SetPrefix,
            OpBody::SetChannelFlag { .. } => OpKind::SetChannelFlag,
            OpBody::SetKey { .. } => OpKind::SetKey,
            OpBody::SetLimit { .. } => OpKind::SetLimit,
            OpBody::SetTopic { .. } => OpKind::SetTopic,
            OpBody::ListAdd { .. } => OpKind::ListAdd,
            OpBody::ListRemove { .. } => OpKind::ListRemove,
            OpBody::ChannelReset { .. } => OpKind::ChannelReset,
            OpBody::Message { .. } => OpKind::Message,
        }
    }

    /// The stable on-disk code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind with an on-disk code, if any.
    pub fn from_code(code: u8) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The snake_case name used by the admin API and the CLI, e.g. `set_topic`.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::UserArrive => "user_arrive",
            OpKind::UserDepart => "user_depart",
            OpKind::NickChange => "nick_change",
            OpKind::SetAway => "set_away",
            OpKind::SetRealname => "set_realname",
            OpKind::SetHost => "set_host",
            OpKind::SetAccount => "set_account",
            OpKind::SetUserMode => "set_user_mode",
            OpKind::Join => "join",
            OpKind::Leave => "leave",
            OpKind::SetPrefix => "set_prefix",
            OpKind::SetChannelFlag => "set_channel_flag",
            OpKind::SetKey => "set_key",
            OpKind::SetLimit => "set_limit",
            OpKind::SetTopic => "set_topic",
            OpKind::ListAdd => "list_add",
            OpKind::ListRemove => "list_remove",
            OpKind::ChannelReset => "channel_reset",
            OpKind::Message => "message",
        }
    }

    /// The kind with a [`OpKind::name`], for parsing filters.
    pub fn parse(name: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether ops of this kind change tenant state (everything but messages): these are never
    /// pruned and are the only ones replay applies.
    pub fn is_state(self) -> bool {
        self != OpKind::Message
    }
}

/// The channel an op is about, if any (as written in the op).
pub(crate) fn channel_of(body: &OpBody) -> Option<&str> {
    match body {
        OpBody::Join { channel, .. }
        | OpBody::Leave { channel, .. }
        | OpBody::SetPrefix { channel, .. }
        | OpBody::SetChannelFlag { channel, .. }
        | OpBody::SetKey { channel, .. }
        | OpBody::SetLimit { channel, .. }
        | OpBody::SetTopic { channel, .. }
        | OpBody::ListAdd { channel, .. }
        | OpBody::ListRemove { channel, .. }
        | OpBody::ChannelReset { channel, .. } => Some(channel),
        OpBody::Message {
            target: MessageTarget::Channel(channel),
            ..
        } => Some(channel),
        _ => None,
    }
}

/// Whether an op involves `uid`: as its subject, its author (`by`, a kicker, a sender) or the
/// recipient of a private message.
pub(crate) fn involves_user(body: &OpBody, uid: Uid) -> bool {
    match body {
        OpBody::UserArrive { uid: u, .. }
        | OpBody::UserDepart { uid: u, .. }
        | OpBody::NickChange { uid: u, .. }
        | OpBody::SetAway { uid: u, .. }
        | OpBody::SetRealname { uid: u, .. }
        | OpBody::SetHost { uid: u, .. }
        | OpBody::SetAccount { uid: u, .. }
        | OpBody::SetUserMode { uid: u, .. }
        | OpBody::Join { uid: u, .. } => *u == uid,
        OpBody::Leave { uid: u, cause, .. } => {
            *u == uid || matches!(cause, latticed_crdt::LeaveCause::Kick { by, .. } if *by == uid)
        }
        OpBody::SetPrefix { uid: u, by, .. } => *u == uid || *by == uid,
        OpBody::SetChannelFlag { by, .. }
        | OpBody::SetKey { by, .. }
        | OpBody::SetLimit { by, .. }
        | OpBody::SetTopic { by, .. }
        | OpBody::ListAdd { by, .. }
        | OpBody::ListRemove { by, .. } => *by == uid,
        OpBody::ChannelReset { .. } => false,
        OpBody::Message { from, target, .. } => {
            *from == uid || matches!(target, MessageTarget::User(to) if *to == uid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip_and_are_unique() {
        let mut codes = std::collections::BTreeSet::new();
        for kind in OpKind::ALL {
            assert_eq!(OpKind::from_code(kind.code()), Some(kind));
            assert_eq!(OpKind::parse(kind.name()), Some(kind));
            assert!(codes.insert(kind.code()));
        }
        assert_eq!(OpKind::from_code(0), None);
        assert_eq!(OpKind::parse("nope"), None);
    }

    #[test]
    fn only_messages_are_not_state() {
        let stateless: Vec<_> = OpKind::ALL.into_iter().filter(|k| !k.is_state()).collect();
        assert_eq!(stateless, vec![OpKind::Message]);
    }
}
