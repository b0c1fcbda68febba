//! Replicated data types for latticed: the state of a tenant network as a set of ops.
//!
//! Every state change is an [`Op`]. A node applies its own ops and everyone else's through
//! [`TenantState::apply`], in whatever order they arrive, duplicates included, and every node that
//! applied the same ops shows the same network ([`TenantState::snapshot`]). The building blocks
//! stand on their own and are property-tested on their own:
//!
//! - [`Stamp`] and [`LamportClock`]: a total order of ops, persisted so restarts never reuse one.
//! - [`LwwRegister`]: last-writer-wins fields (topic, simple modes, key, limit, away...).
//! - [`OrSet`]: add-wins observed-remove sets with dots (membership, prefixes, ban lists).
//! - The nick collision rule: the earliest claim keeps a nick; others are shown as their [`Uid`].
//!
//! Channel rules: names are compared case-folded. A channel is visible while it has a visible
//! member. Its display name and creation time come from its *founding join*: the lowest-stamped
//! join above its reset floor, or, if every such join is gone, the lowest-stamped live join.
//! A [`OpBody::ChannelReset`] raises the reset floor, hiding topic, flags, key and limit written
//! before it, and removes the list and prefix dots its issuer saw.

mod casemapping;
mod change;
mod channel;
mod clock;
mod error;
mod ids;
mod lww;
mod nick;
mod op;
mod orset;
mod prefix;
mod snapshot;
mod sorted;
mod tenant;
mod user;

#[cfg(test)]
mod test_support;

pub use change::Change;
pub use channel::{ChannelView, ListEntry, Topic};
pub use clock::{LamportClock, Stamp, CEILING_BLOCK, RESERVE_AHEAD};
pub use error::ApplyError;
pub use ids::{MsgId, NodeId, OpId, TenantId, Uid, MSGID_FOLLOW_MS};
pub use lww::LwwRegister;
pub use op::{LeaveCause, ListKind, MessageKind, MessageTarget, Op, OpBody};
pub use orset::OrSet;
pub use prefix::{is_prefix_mode, Prefixes, PREFIX_MODES};
pub use snapshot::{ChannelSnapshot, MemberSnapshot, TenantSnapshot};
pub use tenant::TenantState;
pub use user::UserView;
