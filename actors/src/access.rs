//! Channel access rules shared by JOIN, PRIVMSG and friends: bans, exceptions and invite exceptions.

use latticed_crdt::{ChannelView, ListKind, Uid};
use latticed_proto::{mask_match, CaseMapping};

use crate::tenant::Core;

/// The masks a user is matched against: by hostname and by IP address.
fn user_masks(core: &Core, uid: Uid) -> Vec<String> {
    let Some(user) = core.state.user(uid) else {
        return Vec::new();
    };
    let mut masks = vec![format!("{}!{}@{}", user.nick, user.user, user.host)];
    if user.ip != user.host && !user.ip.is_empty() {
        masks.push(format!("{}!{}@{}", user.nick, user.user, user.ip));
    }
    masks
}

fn any_entry_matches(
    chan: &ChannelView,
    kind: ListKind,
    masks: &[String],
    cm: CaseMapping,
) -> bool {
    chan.list(kind)
        .any(|entry| masks.iter().any(|m| mask_match(&entry.mask, m, cm)))
}

/// Whether `uid` matches a ban of `chan` and no exception.
pub fn is_banned(core: &Core, chan: &ChannelView, uid: Uid) -> bool {
    let masks = user_masks(core, uid);
    let cm = core.casemapping();
    any_entry_matches(chan, ListKind::Ban, &masks, cm)
        && !any_entry_matches(chan, ListKind::Except, &masks, cm)
}

/// Whether `uid` matches an invite exception (+I) of `chan`.
pub fn has_invex(core: &Core, chan: &ChannelView, uid: Uid) -> bool {
    let masks = user_masks(core, uid);
    any_entry_matches(chan, ListKind::Invite, &masks, core.casemapping())
}

/// Whether `uid` is an operator of `chan`.
pub fn is_op(chan: &ChannelView, uid: Uid) -> bool {
    chan.member(uid).is_some_and(|p| p.has('o'))
}
