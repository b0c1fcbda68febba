//! Recomputing the views an op touched, and reporting the differences as [`Change`]s.

use std::collections::{BTreeMap, BTreeSet};

use crate::change::Change;
use crate::channel::{ChannelFields, ChannelView, ListEntry};
use crate::ids::Uid;
use crate::op::ListKind;
use crate::prefix::{Prefixes, PREFIX_MODES};
use crate::user::{UserRec, UserView};

use super::apply::{ChannelTouch, Touched};
use super::TenantState;

/// A user's view before and after the op.
type UserDiff = (Option<UserView>, Option<UserView>);

impl TenantState {
    /// Bring the views touched by an op up to date; return what visibly changed, in order.
    pub(super) fn refresh(&mut self, mut touched: Touched) -> Vec<Change> {
        let mut changes = Vec::new();
        let diffs = self.refresh_users(&mut touched);
        self.report_users(&diffs, touched.departure.as_ref(), &mut changes);
        for (uid, (before, after)) in diffs {
            if let Some(before) = &before {
                self.count_modes(before.modes.iter(), false);
            }
            if let Some(after) = &after {
                self.count_modes(after.modes.iter(), true);
                self.visible.insert(uid);
            } else {
                self.visible.remove(&uid);
            }
        }
        for (folded, touch) in touched.channels {
            self.refresh_channel(folded, touch, &mut changes);
        }
        changes
    }

    /// New views of the touched users and of everyone whose nick collision outcome they affect.
    fn refresh_users(&mut self, touched: &mut Touched) -> BTreeMap<Uid, UserDiff> {
        let mut diffs = BTreeMap::new();
        let mut groups = BTreeSet::new();
        for (uid, before) in std::mem::take(&mut touched.users) {
            let (after, claim) = match self.users.get(&uid) {
                Some(UserRec::Live(rec)) => (rec.view(uid), rec.indexed_claim()),
                _ => (None, None),
            };
            groups.extend(self.nicks.move_claim(uid, before.claim, claim));
            let before = before.view;
            if before.is_none() && after.is_some() {
                if let Some(UserRec::Live(rec)) = self.users.get(&uid) {
                    for folded in &rec.channels {
                        touched
                            .channels
                            .entry(folded.clone())
                            .or_default()
                            .uids
                            .insert(uid);
                    }
                }
            }
            diffs.insert(uid, (before, after));
        }
        for folded in &groups {
            for uid in self.nicks.group(folded) {
                diffs.entry(uid).or_insert_with(|| {
                    // Not changed by the op, and its loser state is still the one from before.
                    let view = self.user(uid);
                    (view.clone(), view)
                });
            }
        }
        for (uid, (_, after)) in diffs.iter_mut() {
            let loser_key = after.as_mut().and_then(|view| {
                let holds = self
                    .indexed_claim(*uid)
                    .is_some_and(|(folded, _)| self.nicks.holds(*uid, &folded));
                if holds {
                    view.nick.clone_from(&view.claimed_nick);
                    None
                } else {
                    view.nick = super::loser_nick(*uid);
                    Some(self.casemapping.fold(&view.nick))
                }
            });
            self.nicks.set_loser(*uid, loser_key);
        }
        diffs
    }

    fn report_users(
        &self,
        diffs: &BTreeMap<Uid, UserDiff>,
        departure: Option<&(Uid, String)>,
        changes: &mut Vec<Change>,
    ) {
        for (uid, diff) in diffs {
            if let (Some(before), None) = diff {
                let channels = self.channels_of(*uid).map(|c| c.name.clone()).collect();
                let reason = departure
                    .filter(|(d, _)| d == uid)
                    .map(|(_, r)| r.clone())
                    .unwrap_or_default();
                changes.push(Change::UserDeparted {
                    uid: *uid,
                    nick: before.nick.to_string(),
                    user: before.user.to_string(),
                    host: before.host.to_string(),
                    channels,
                    reason,
                });
            }
        }
        let renames = diffs.iter().filter_map(|(uid, diff)| match diff {
            (Some(before), Some(after)) if before.nick != after.nick => {
                Some((*uid, before.nick.to_string(), after.nick.to_string()))
            }
            _ => None,
        });
        self.report_renames(renames.collect(), changes);
        for (uid, diff) in diffs {
            if let (None, Some(_)) = diff {
                changes.push(Change::UserArrived { uid: *uid });
            }
        }
        for (uid, diff) in diffs {
            if let (Some(before), Some(after)) = diff {
                report_user_fields(*uid, before, after, changes);
            }
        }
    }

    /// Nick changes in an order where no nick is taken before it is freed: a change is reported
    /// once no other pending change still has its new nick as old nick.
    fn report_renames(&self, mut pending: Vec<(Uid, String, String)>, changes: &mut Vec<Change>) {
        let fold = |nick: &str| self.casemapping.fold(nick);
        while !pending.is_empty() {
            let next = (0..pending.len())
                .find(|&i| {
                    let wanted = fold(&pending[i].2);
                    pending
                        .iter()
                        .enumerate()
                        .all(|(j, other)| j == i || fold(&other.1) != wanted)
                })
                .unwrap_or(0);
            let (uid, old, new) = pending.remove(next);
            changes.push(Change::NickChanged { uid, old, new });
        }
    }

    /// Recompute one touched channel's view and report its differences.
    fn refresh_channel(&mut self, folded: String, touch: ChannelTouch, changes: &mut Vec<Change>) {
        let Some(rec) = self.channels.get(&folded) else {
            return;
        };
        let existing = self.channel_views.remove(&folded);
        let was_visible = existing.is_some();
        let mut view = existing.unwrap_or_else(ChannelView::empty);
        let old_name = view.name.clone();

        let mut check = touch.uids;
        if touch.all_members {
            check.extend(view.members.keys().copied());
        }
        let mut moved = Vec::new();
        for uid in check {
            let before = view.members.get(&uid).copied();
            let after = (rec.members.contains(&uid) && self.visible.contains(&uid))
                .then(|| rec.prefixes_of(uid));
            if before == after {
                continue;
            }
            match after {
                Some(prefixes) => {
                    view.members.insert(uid, prefixes);
                    self.user_channels
                        .entry(uid)
                        .or_default()
                        .insert(folded.clone());
                }
                None => {
                    view.members.remove(&uid);
                    if let Some(set) = self.user_channels.get_mut(&uid) {
                        set.remove(&folded);
                        if set.is_empty() {
                            self.user_channels.remove(&uid);
                        }
                    }
                }
            }
            moved.push((uid, before, after));
        }

        if view.members.is_empty() {
            for (uid, before, after) in moved {
                if before.is_some() && after.is_none() && self.visible.contains(&uid) {
                    changes.push(Change::Left {
                        channel: old_name.clone(),
                        uid,
                    });
                }
            }
            return;
        }

        if let Some((name, created_ms)) = rec.founding() {
            name.clone_into(&mut view.name);
            view.created_ms = created_ms;
        }
        let channel = view.name.clone();
        for (uid, before, after) in moved {
            self.report_member(&channel, uid, before, after, changes);
        }
        if touch.fields || !was_visible {
            let fields = rec.fields();
            report_fields(&channel, &view.fields, &fields, changes);
            view.fields = fields;
        }
        let kinds: Vec<ListKind> = if was_visible {
            touch.lists.into_iter().collect()
        } else {
            ListKind::ALL.to_vec()
        };
        for kind in kinds {
            let entries = rec.list(kind);
            let old = view.lists.get(&kind).map(Vec::as_slice).unwrap_or_default();
            report_list(&channel, kind, old, &entries, changes);
            if entries.is_empty() {
                view.lists.remove(&kind);
            } else {
                view.lists.insert(kind, entries);
            }
        }
        self.channel_views.insert(folded, view);
    }

    fn report_member(
        &self,
        channel: &str,
        uid: Uid,
        before: Option<Prefixes>,
        after: Option<Prefixes>,
        changes: &mut Vec<Change>,
    ) {
        let prefix = |mode: char, on: bool| Change::PrefixChanged {
            channel: channel.to_owned(),
            uid,
            mode,
            on,
        };
        match (before, after) {
            (None, Some(now)) => {
                changes.push(Change::Joined {
                    channel: channel.to_owned(),
                    uid,
                });
                changes.extend(now.modes().chars().map(|m| prefix(m, true)));
            }
            (Some(_), None) => {
                if self.visible.contains(&uid) {
                    changes.push(Change::Left {
                        channel: channel.to_owned(),
                        uid,
                    });
                }
            }
            (Some(was), Some(now)) => {
                for (mode, _) in PREFIX_MODES {
                    if was.has(mode) != now.has(mode) {
                        changes.push(prefix(mode, now.has(mode)));
                    }
                }
            }
            (None, None) => {}
        }
    }
}

fn report_user_fields(uid: Uid, before: &UserView, after: &UserView, changes: &mut Vec<Change>) {
    if before.away != after.away {
        changes.push(Change::AwayChanged { uid });
    }
    if before.realname != after.realname {
        changes.push(Change::RealnameChanged { uid });
    }
    if before.user != after.user || before.host != after.host {
        changes.push(Change::HostChanged {
            uid,
            old_user: before.user.to_string(),
            old_host: before.host.to_string(),
        });
    }
    if before.account != after.account {
        changes.push(Change::AccountChanged { uid });
    }
    for mode in before.modes.symmetric_difference(&after.modes) {
        changes.push(Change::UserModeChanged {
            uid,
            mode: *mode,
            on: after.modes.contains(mode),
        });
    }
}

fn report_fields(
    channel: &str,
    before: &ChannelFields,
    after: &ChannelFields,
    changes: &mut Vec<Change>,
) {
    for mode in before.flags.symmetric_difference(&after.flags) {
        changes.push(Change::ChannelFlagChanged {
            channel: channel.to_owned(),
            mode: *mode,
            on: after.flags.contains(mode),
        });
    }
    let channel = || channel.to_owned();
    if before.key != after.key {
        changes.push(Change::KeyChanged { channel: channel() });
    }
    if before.limit != after.limit {
        changes.push(Change::LimitChanged { channel: channel() });
    }
    if before.topic != after.topic {
        changes.push(Change::TopicChanged { channel: channel() });
    }
}

fn report_list(
    channel: &str,
    kind: ListKind,
    before: &[ListEntry],
    after: &[ListEntry],
    changes: &mut Vec<Change>,
) {
    let mut entry = |mask: &str, added: bool| {
        changes.push(Change::ListChanged {
            channel: channel.to_owned(),
            kind,
            mask: mask.to_owned(),
            added,
        })
    };
    for old in before {
        if !after.iter().any(|e| e.mask == old.mask) {
            entry(&old.mask, false);
        }
    }
    for new in after {
        if !before.iter().any(|e| e.mask == new.mask) {
            entry(&new.mask, true);
        }
    }
}
