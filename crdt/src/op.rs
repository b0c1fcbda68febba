//! Ops: every change to a tenant network's state, as created, logged, shipped and applied.

use serde::{Deserialize, Serialize};

use crate::clock::Stamp;
use crate::ids::{MsgId, OpId, TenantId, Uid};

/// One state change of one tenant network. Nodes never mutate state in place: they create an op,
/// apply it locally, log it and ship it; peers apply the same op, in any order, possibly twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The tenant whose state the op changes.
    pub tenant: TenantId,
    /// Origin node and sequence number; also the dot of anything the op adds.
    pub id: OpId,
    /// Lamport stamp: orders last-writer-wins fields and nick claims.
    pub stamp: Stamp,
    /// Wall-clock time at the origin (Unix milliseconds), for display only (never for ordering).
    pub wall_ms: u64,
    /// What changed.
    pub body: OpBody,
}

/// The three list modes of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum ListKind {
    /// Bans (`+b`).
    Ban,
    /// Ban exceptions (`+e`).
    Except,
    /// Invite exceptions (`+I`).
    Invite,
}

impl ListKind {
    /// Every kind, in mode-letter order of `b`, `e`, `I`.
    pub const ALL: [ListKind; 3] = [ListKind::Ban, ListKind::Except, ListKind::Invite];

    /// The channel mode letter.
    pub fn letter(self) -> char {
        match self {
            ListKind::Ban => 'b',
            ListKind::Except => 'e',
            ListKind::Invite => 'I',
        }
    }

    /// The kind for a channel mode letter, if it is a list mode.
    pub fn from_letter(letter: char) -> Option<ListKind> {
        ListKind::ALL.into_iter().find(|k| k.letter() == letter)
    }
}

/// What an op does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpBody {
    /// A user registered on `uid.node`. Claims `nick` with this op's stamp.
    UserArrive {
        /// The new user.
        uid: Uid,
        /// Requested nick.
        nick: String,
        /// Username (ident).
        user: String,
        /// Hostname shown to others.
        host: String,
        /// Realname (gecos).
        realname: String,
        /// Address the user connected from.
        ip: String,
        /// Logged-in account, if any.
        account: Option<String>,
        /// Initial user mode letters, e.g. `"i"`.
        modes: String,
    },
    /// The user left the network (QUIT, KILL, disconnect). Removes it from every channel. Final:
    /// nothing resurrects a departed uid.
    UserDepart {
        /// The departing user.
        uid: Uid,
        /// Quit message.
        reason: String,
    },
    /// Nick change: a new claim stamped by this op.
    NickChange {
        /// The user.
        uid: Uid,
        /// The new nick.
        nick: String,
    },
    /// Away message, last writer wins; `None` is back.
    SetAway {
        /// The user.
        uid: Uid,
        /// Away message.
        away: Option<String>,
    },
    /// Realname, last writer wins (SETNAME).
    SetRealname {
        /// The user.
        uid: Uid,
        /// New realname.
        realname: String,
    },
    /// Username and host together, last writer wins (CHGHOST).
    SetHost {
        /// The user.
        uid: Uid,
        /// New username.
        user: String,
        /// New host.
        host: String,
    },
    /// Logged-in account, last writer wins; `None` is logged out.
    SetAccount {
        /// The user.
        uid: Uid,
        /// Account name.
        account: Option<String>,
    },
    /// One user mode letter (i, w, o, B ...), last writer wins per letter.
    SetUserMode {
        /// The user.
        uid: Uid,
        /// Mode letter.
        mode: char,
        /// Set or unset.
        on: bool,
    },
    /// Channel membership: adds `uid` with this op's id as dot.
    Join {
        /// Channel name as the joiner wrote it.
        channel: String,
        /// The joining user.
        uid: Uid,
    },
    /// PART or KICK: removes the observed dots of the member entry (its join dots and its prefix
    /// dots). `cause` is for rendering only; state semantics are identical.
    Leave {
        /// Channel name.
        channel: String,
        /// The leaving user.
        uid: Uid,
        /// Join and prefix dots the issuer saw ([`crate::TenantState::member_dots`]).
        observed: Vec<OpId>,
        /// PART or KICK.
        cause: LeaveCause,
    },
    /// Prefix mode (`o`, `v`) on a member: add-wins per (uid, mode); `on` adds with this op's id as
    /// dot, `off` removes the `observed` dots. Letters that are not prefix modes are ignored.
    SetPrefix {
        /// Channel name.
        channel: String,
        /// The member.
        uid: Uid,
        /// Prefix mode letter.
        mode: char,
        /// Grant or take.
        on: bool,
        /// For `off`: the dots the issuer saw ([`crate::TenantState::prefix_dots`]).
        observed: Vec<OpId>,
        /// Who changed it.
        by: Uid,
    },
    /// A simple channel flag (i m n s t or any other letter), last writer wins per letter.
    SetChannelFlag {
        /// Channel name.
        channel: String,
        /// Mode letter.
        mode: char,
        /// Set or unset.
        on: bool,
        /// Who changed it.
        by: Uid,
    },
    /// Channel key (`+k`), last writer wins; `None` unsets.
    SetKey {
        /// Channel name.
        channel: String,
        /// The key.
        key: Option<String>,
        /// Who changed it.
        by: Uid,
    },
    /// Member limit (`+l`), last writer wins; `None` unsets.
    SetLimit {
        /// Channel name.
        channel: String,
        /// The limit.
        limit: Option<u32>,
        /// Who changed it.
        by: Uid,
    },
    /// Topic, last writer wins; `""` unsets.
    SetTopic {
        /// Channel name.
        channel: String,
        /// New topic text.
        topic: String,
        /// `nick!user@host` of the setter, as shown in RPL_TOPICWHOTIME.
        setter: String,
        /// Who changed it.
        by: Uid,
    },
    /// Adds a mask to a list mode: add-wins per (channel, kind, folded mask); the entry keeps the
    /// setter and wall time of its add op.
    ListAdd {
        /// Channel name.
        channel: String,
        /// Which list.
        kind: ListKind,
        /// The mask as written.
        mask: String,
        /// `nick!user@host` of the setter, as shown in the list.
        setter: String,
        /// Who changed it.
        by: Uid,
    },
    /// Removes the observed dots of a list entry.
    ListRemove {
        /// Channel name.
        channel: String,
        /// Which list.
        kind: ListKind,
        /// The mask (compared case-folded).
        mask: String,
        /// Dots the issuer saw ([`crate::TenantState::list_dots`]).
        observed: Vec<OpId>,
        /// Who changed it.
        by: Uid,
    },
    /// The last local member left: ends the channel's incarnation. Removes the `observed` dots
    /// (every list and prefix entry the issuer saw) and hides every last-writer-wins field (topic,
    /// flags, key, limit) stamped below this op. Members added by dots not observed stay.
    ChannelReset {
        /// Channel name.
        channel: String,
        /// Dots the issuer saw ([`crate::TenantState::channel_reset_dots`]).
        observed: Vec<OpId>,
    },
    /// PRIVMSG / NOTICE / TAGMSG: no effect on state (history only); applying it changes nothing.
    Message {
        /// Network-unique id.
        msgid: MsgId,
        /// Sender.
        from: Uid,
        /// The sender's `nick!user@host` when it was sent: history shows the sender as it was,
        /// even after it changed nick or left.
        source: String,
        /// Channel or user.
        target: MessageTarget,
        /// Which command.
        kind: MessageKind,
        /// The text.
        text: String,
        /// Client-visible message tags.
        tags: Vec<(String, Option<String>)>,
    },
}

/// Why a member left a channel; for rendering PART or KICK.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaveCause {
    /// PART, with an optional message.
    Part {
        /// Part message.
        reason: Option<String>,
    },
    /// KICK by another user.
    Kick {
        /// The kicker.
        by: Uid,
        /// Kick message.
        reason: String,
    },
}

/// Where a message goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageTarget {
    /// A channel, by name.
    Channel(String),
    /// A user.
    User(Uid),
}

/// Which message command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageKind {
    /// PRIVMSG.
    Privmsg,
    /// NOTICE.
    Notice,
    /// TAGMSG.
    Tagmsg,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_kind_letters_round_trip() {
        for kind in ListKind::ALL {
            assert_eq!(ListKind::from_letter(kind.letter()), Some(kind));
        }
        assert_eq!(ListKind::from_letter('o'), None);
    }
}
