//! The composed state of one tenant network: users, nick claims and channels, built only from
//! ops, and the visible view of it that clients see.
//!
//! The state keeps two layers. The *records* hold everything ops said, as CRDTs (registers,
//! observed-remove sets, the nick history), so the same ops in any order with duplicates give the
//! same records. The *views* are what is visible now, kept up to date incrementally: after each op,
//! only the users and channels it touched are recomputed, and the differences become the
//! [`Change`]s that [`TenantState::apply`] returns. Channel views are stored; a user's view is
//! built from its record when asked for (only which users are visible is stored), so the op
//! notes a touched user's view before changing its record.

mod apply;
mod refresh;
mod stored;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use latticed_proto::CaseMapping;
use rustc_hash::FxHashMap;

use crate::channel::{ChannelRec, ChannelView};
use crate::clock::Stamp;
use crate::ids::{OpId, TenantId, Uid};
use crate::nick::NickIndex;
use crate::op::ListKind;
use crate::snapshot::TenantSnapshot;
use crate::sorted::SortedSet;
use crate::user::{Text, UserRec, UserView};

/// The replicated state of one tenant network on one node.
///
/// It serializes whole (records and views, see stored.rs), so a node can store it in a snapshot
/// and later go on applying ops to the restored copy exactly as to the original: the restored
/// state is a full replica, not just the visible network.
#[derive(Clone, Debug)]
pub struct TenantState {
    tenant: TenantId,
    casemapping: CaseMapping,
    /// Records by uid. Uids are minted by nodes, never chosen by clients, so a fast
    /// non-keyed hash is safe here.
    users: FxHashMap<Uid, UserRec>,
    /// Records by folded channel name.
    channels: HashMap<String, ChannelRec>,
    /// Live users: arrived, not departed, with a nick claim. Their views are built from the
    /// records when asked for ([`TenantState::user`]); a stored copy cost every user of the
    /// network about 250 bytes.
    visible: BTreeSet<Uid>,
    /// How many live users have each user mode set: LUSERS reports invisible users and opers on
    /// every registration, which must not mean building every user's view.
    mode_counts: BTreeMap<char, usize>,
    /// Views of visible channels by folded name.
    channel_views: BTreeMap<String, ChannelView>,
    /// Folded names of the channels each visible user is visibly in.
    user_channels: FxHashMap<Uid, SortedSet<String>>,
    nicks: NickIndex,
}

impl TenantState {
    /// An empty network.
    pub fn new(tenant: TenantId, casemapping: CaseMapping) -> Self {
        TenantState {
            tenant,
            casemapping,
            users: FxHashMap::default(),
            channels: HashMap::new(),
            visible: BTreeSet::new(),
            mode_counts: BTreeMap::new(),
            channel_views: BTreeMap::new(),
            user_channels: FxHashMap::default(),
            nicks: NickIndex::default(),
        }
    }

    /// The tenant this state belongs to.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// How nicks, channel names and masks are compared.
    pub fn casemapping(&self) -> CaseMapping {
        self.casemapping
    }

    /// A live (arrived, not departed) user, as clients see it: built from its record, with its
    /// uid's display form as nick while it loses a nick collision.
    pub fn user(&self, uid: Uid) -> Option<UserView> {
        let Some(UserRec::Live(rec)) = self.users.get(&uid) else {
            return None;
        };
        let mut view = rec.view(uid)?;
        if self.nicks.is_loser(uid) {
            view.nick = loser_nick(uid);
        }
        Some(view)
    }

    /// The nick claim of `uid` as the collision rule indexes it ([`LiveUser::indexed_claim`]).
    fn indexed_claim(&self, uid: Uid) -> Option<(Text, Stamp)> {
        match self.users.get(&uid) {
            Some(UserRec::Live(rec)) => rec.indexed_claim(),
            _ => None,
        }
    }

    /// Every live user, by uid.
    pub fn users(&self) -> impl Iterator<Item = UserView> + '_ {
        self.visible.iter().filter_map(|uid| self.user(*uid))
    }

    /// Every live user's uid, in order: all some callers need, without building views.
    pub fn uids(&self) -> impl Iterator<Item = Uid> + '_ {
        self.visible.iter().copied()
    }

    /// Number of live users.
    pub fn user_count(&self) -> usize {
        self.visible.len()
    }

    /// Number of live users with user mode `mode` set.
    pub fn users_with_mode(&self, mode: char) -> usize {
        self.mode_counts.get(&mode).copied().unwrap_or(0)
    }

    /// Whether the live user `uid` has user mode `mode` set.
    pub fn has_user_mode(&self, uid: Uid, mode: char) -> bool {
        self.visible.contains(&uid)
            && matches!(self.users.get(&uid), Some(UserRec::Live(rec)) if rec.has_mode(mode))
    }

    /// Count `modes` as set for one more live user (`added`) or one fewer.
    fn count_modes<'a>(&mut self, modes: impl Iterator<Item = &'a char>, added: bool) {
        for mode in modes {
            let count = self.mode_counts.entry(*mode).or_default();
            if added {
                *count += 1;
            } else {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.mode_counts.remove(mode);
                }
            }
        }
    }

    /// The live user whose effective nick is `nick` (case-folded), including a collision loser
    /// looked up by its uid's display form.
    pub fn uid_by_nick(&self, nick: &str) -> Option<Uid> {
        self.nicks.lookup(&self.casemapping.fold(nick))
    }

    /// A visible channel (at least one visible member), by name (case-folded).
    pub fn channel(&self, name: &str) -> Option<&ChannelView> {
        self.channel_views.get(&self.casemapping.fold(name))
    }

    /// Every visible channel, by folded name.
    pub fn channels(&self) -> impl Iterator<Item = &ChannelView> {
        self.channel_views.values()
    }

    /// Number of visible channels.
    pub fn channel_count(&self) -> usize {
        self.channel_views.len()
    }

    /// The channels `uid` is visibly in, by folded name.
    pub fn channels_of(&self, uid: Uid) -> impl Iterator<Item = &ChannelView> {
        self.user_channels
            .get(&uid)
            .into_iter()
            .flatten()
            .filter_map(|folded| self.channel_views.get(folded))
    }

    /// Join and prefix dots of a member: the `observed` of a Leave (PART, KICK).
    pub fn member_dots(&self, channel: &str, uid: Uid) -> Vec<OpId> {
        self.channel_rec(channel)
            .map(|c| c.member_dots(uid))
            .unwrap_or_default()
    }

    /// Dots of one prefix mode of a member: the `observed` of a SetPrefix taking it.
    pub fn prefix_dots(&self, channel: &str, uid: Uid, mode: char) -> Vec<OpId> {
        self.channel_rec(channel)
            .map(|c| c.prefixes.dots(&(uid, mode)))
            .unwrap_or_default()
    }

    /// Dots of a list entry (mask compared case-folded): the `observed` of a ListRemove.
    pub fn list_dots(&self, channel: &str, kind: ListKind, mask: &str) -> Vec<OpId> {
        self.channel_rec(channel)
            .map(|c| c.list_dots(kind, &self.casemapping.fold(mask)))
            .unwrap_or_default()
    }

    /// Every list and prefix dot of a channel: the `observed` of a ChannelReset.
    pub fn channel_reset_dots(&self, channel: &str) -> Vec<OpId> {
        self.channel_rec(channel)
            .map(ChannelRec::reset_dots)
            .unwrap_or_default()
    }

    /// Everything visible, in a canonical order-independent form: equal for two replicas that
    /// applied the same ops.
    pub fn snapshot(&self) -> TenantSnapshot {
        TenantSnapshot::new(
            self.tenant.clone(),
            self.users(),
            self.channel_views.values(),
        )
    }

    fn channel_rec(&self, name: &str) -> Option<&ChannelRec> {
        self.channels.get(&self.casemapping.fold(name))
    }
}

/// The nick shown for a user that loses a nick collision: its uid's display form.
fn loser_nick(uid: Uid) -> crate::user::Text {
    uid.to_string().into()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;
