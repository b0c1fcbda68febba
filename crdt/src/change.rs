//! What applying an op made visibly different: the node renders these to its clients.

use crate::ids::Uid;
use crate::op::ListKind;

/// One visible difference caused by applying an op. [`crate::TenantState::apply`] returns them in
/// a deterministic order: departures, nick changes (those freeing a nick before those taking it),
/// arrivals, other user changes (by uid), then channel changes by case-folded channel name, each
/// channel's membership changes (by uid) before its mode, key, limit, topic and list changes.
///
/// `channel` fields hold the channel's display name (after the op, or before it if the channel
/// disappeared). Nothing is reported for a duplicate op, a Join whose dot was already removed, a
/// Leave of a member nobody sees, or a channel nobody is in. A channel that appears (its first
/// visible member) reports its fields as changes too, and one that disappears only reports the
/// Left of its last member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A user became visible.
    UserArrived {
        /// The user.
        uid: Uid,
    },
    /// A user left the network; its channel memberships went with it (no `Left` is reported).
    UserDeparted {
        /// The user.
        uid: Uid,
        /// Its last effective nick.
        nick: String,
        /// Its last username.
        user: String,
        /// Its last host.
        host: String,
        /// Display names of the channels it was visibly in just before.
        channels: Vec<String>,
        /// Quit message.
        reason: String,
    },
    /// A user's effective nick changed: a nick change, or a collision won or lost because of
    /// another op.
    NickChanged {
        /// The user.
        uid: Uid,
        /// Effective nick before.
        old: String,
        /// Effective nick after.
        new: String,
    },
    /// Away message changed.
    AwayChanged {
        /// The user.
        uid: Uid,
    },
    /// Realname changed.
    RealnameChanged {
        /// The user.
        uid: Uid,
    },
    /// Username or host changed (CHGHOST).
    HostChanged {
        /// The user.
        uid: Uid,
        /// Username before.
        old_user: String,
        /// Host before.
        old_host: String,
    },
    /// Account changed.
    AccountChanged {
        /// The user.
        uid: Uid,
    },
    /// A user mode letter changed.
    UserModeChanged {
        /// The user.
        uid: Uid,
        /// Mode letter.
        mode: char,
        /// Now set or unset.
        on: bool,
    },
    /// A user became a visible member of a channel.
    Joined {
        /// Channel display name.
        channel: String,
        /// The member.
        uid: Uid,
    },
    /// A visible member stopped being one while staying on the network (PART, KICK).
    Left {
        /// Channel display name.
        channel: String,
        /// The former member.
        uid: Uid,
    },
    /// A member's prefix mode changed.
    PrefixChanged {
        /// Channel display name.
        channel: String,
        /// The member.
        uid: Uid,
        /// Prefix mode letter.
        mode: char,
        /// Now set or unset.
        on: bool,
    },
    /// A simple channel flag changed.
    ChannelFlagChanged {
        /// Channel display name.
        channel: String,
        /// Mode letter.
        mode: char,
        /// Now set or unset.
        on: bool,
    },
    /// The channel key changed.
    KeyChanged {
        /// Channel display name.
        channel: String,
    },
    /// The member limit changed.
    LimitChanged {
        /// Channel display name.
        channel: String,
    },
    /// The topic changed.
    TopicChanged {
        /// Channel display name.
        channel: String,
    },
    /// A list mode entry appeared or disappeared.
    ListChanged {
        /// Channel display name.
        channel: String,
        /// Which list.
        kind: ListKind,
        /// The entry's mask as displayed.
        mask: String,
        /// Appeared (true) or disappeared.
        added: bool,
    },
}
