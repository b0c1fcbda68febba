//! Applying one op to the records, noting what it touched for the view refresh.

use std::collections::{BTreeMap, BTreeSet};

use crate::change::Change;
use crate::channel::{ChannelRec, ListEntry, Topic};
use crate::clock::Stamp;
use crate::error::ApplyError;
use crate::ids::Uid;
use crate::op::{ListKind, Op, OpBody};
use crate::prefix::is_prefix_mode;
use crate::user::{Arrival, LiveUser, Text, UserRec, UserView};

use super::TenantState;

/// A touched user as it was before the op.
#[derive(Debug)]
pub(super) struct Before {
    /// How clients saw it (`None`: not a visible user).
    pub view: Option<UserView>,
    /// Its nick claim as indexed, which is what the nick index holds for it.
    pub claim: Option<(Text, Stamp)>,
}

/// What one op touched: the views to recompute after it.
#[derive(Debug, Default)]
pub(super) struct Touched {
    /// Users whose record changed, with how they were before: how clients saw them (views are
    /// not stored, so the refresh could not tell what changed otherwise) and the nick claim the
    /// index holds for them (which the refresh moves).
    pub users: BTreeMap<Uid, Before>,
    /// The departing user and its quit message, for a UserDepart.
    pub departure: Option<(Uid, String)>,
    /// Channels by folded name.
    pub channels: BTreeMap<String, ChannelTouch>,
}

/// What one op touched in one channel.
#[derive(Debug, Default)]
pub(super) struct ChannelTouch {
    /// Members (or would-be members) whose membership or prefixes may have changed.
    pub uids: BTreeSet<Uid>,
    /// Every current member's prefixes may have changed (a reset).
    pub all_members: bool,
    /// Last-writer-wins fields may have changed.
    pub fields: bool,
    /// Lists that may have changed.
    pub lists: BTreeSet<ListKind>,
}

impl Touched {
    fn channel(&mut self, folded: &str) -> &mut ChannelTouch {
        self.channels.entry(folded.to_owned()).or_default()
    }
}

impl TenantState {
    /// Apply one op, in any order relative to the others and any number of times. Ops about
    /// users or channels not known yet are kept and take effect when the rest arrives. Returns
    /// what became visibly different; fails only for an op of another tenant.
    pub fn apply(&mut self, op: &Op) -> Result<Vec<Change>, ApplyError> {
        if op.tenant != self.tenant {
            return Err(ApplyError::WrongTenant {
                op: op.id,
                op_tenant: op.tenant.clone(),
                state_tenant: self.tenant.clone(),
            });
        }
        let mut touched = Touched::default();
        self.record(op, &mut touched);
        Ok(self.refresh(touched))
    }

    /// The record of a user that has not departed, created on first mention.
    fn live_user(&mut self, uid: Uid) -> Option<&mut LiveUser> {
        match self
            .users
            .entry(uid)
            .or_insert_with(|| UserRec::Live(Box::default()))
        {
            UserRec::Live(user) => Some(user),
            UserRec::Departed => None,
        }
    }

    /// The record of a user an op changes, created on first mention (`None` if it departed);
    /// notes the user as touched, with its view from before the change.
    fn changing_user(&mut self, uid: Uid, t: &mut Touched) -> Option<&mut LiveUser> {
        if matches!(self.users.get(&uid), Some(UserRec::Departed)) {
            return None;
        }
        self.note_before(uid, t);
        self.live_user(uid)
    }

    /// Note `uid` as touched, with its view and claim before this op (once: the op's first
    /// change).
    fn note_before(&self, uid: Uid, t: &mut Touched) {
        t.users.entry(uid).or_insert_with(|| Before {
            view: self.user(uid),
            claim: self.indexed_claim(uid),
        });
    }

    /// The record of a channel, created on first mention, and its folded name.
    fn channel_mut(&mut self, name: &str) -> (String, &mut ChannelRec) {
        let folded = self.casemapping.fold(name);
        let rec = self.channels.entry(folded.clone()).or_default();
        (folded, rec)
    }

    /// Note that `uid` has entries in channel `folded`; false if it departed (then it gets none).
    fn note_membership(&mut self, uid: Uid, folded: &str) -> bool {
        match self.live_user(uid) {
            Some(user) => {
                if !user.channels.contains(folded) {
                    user.channels.insert(folded.to_owned());
                }
                true
            }
            None => false,
        }
    }

    fn record(&mut self, op: &Op, t: &mut Touched) {
        let stamp = op.stamp;
        let cm = self.casemapping;
        match &op.body {
            OpBody::UserArrive {
                uid,
                nick,
                user,
                host,
                realname,
                ip,
                account,
                modes,
            } => {
                let Some(rec) = self.changing_user(*uid, t) else {
                    return;
                };
                // A host that is the address (no cloak, no reverse DNS) shares its text.
                let ip = Text::from(ip.as_str());
                let host = if *host == *ip {
                    ip.clone()
                } else {
                    Text::from(host.as_str())
                };
                if rec.arrival.as_ref().is_none_or(|a| stamp < a.stamp) {
                    rec.arrival = Some(Arrival {
                        stamp,
                        ip,
                        wall_ms: op.wall_ms,
                    });
                }
                rec.nicks.record(stamp, nick, cm.fold(nick), op.wall_ms);
                rec.ident.set((user.as_str().into(), host), stamp);
                rec.realname.set(realname.as_str().into(), stamp);
                rec.account.set(account.as_deref().map(Text::from), stamp);
                for mode in modes.chars() {
                    rec.modes.get_or_default(mode).set(true, stamp);
                }
            }
            OpBody::UserDepart { uid, reason } => {
                if matches!(self.users.get(uid), Some(UserRec::Departed)) {
                    return;
                }
                self.note_before(*uid, t);
                if let Some(UserRec::Live(rec)) = self.users.insert(*uid, UserRec::Departed) {
                    for folded in &rec.channels {
                        if let Some(channel) = self.channels.get_mut(folded) {
                            channel.purge(*uid);
                        }
                        t.channel(folded).uids.insert(*uid);
                    }
                }
                t.departure = Some((*uid, reason.clone()));
            }
            OpBody::NickChange { uid, nick } => {
                if let Some(rec) = self.changing_user(*uid, t) {
                    rec.nicks.record(stamp, nick, cm.fold(nick), op.wall_ms);
                }
            }
            OpBody::SetAway { uid, away } => {
                if let Some(rec) = self.changing_user(*uid, t) {
                    rec.away.set(away.as_deref().map(Text::from), stamp);
                }
            }
            OpBody::SetRealname { uid, realname } => {
                if let Some(rec) = self.changing_user(*uid, t) {
                    rec.realname.set(realname.as_str().into(), stamp);
                }
            }
            OpBody::SetHost { uid, user, host } => {
                if let Some(rec) = self.changing_user(*uid, t) {
                    rec.ident
                        .set((user.as_str().into(), host.as_str().into()), stamp);
                }
            }
            OpBody::SetAccount { uid, account } => {
                if let Some(rec) = self.changing_user(*uid, t) {
                    rec.account.set(account.as_deref().map(Text::from), stamp);
                }
            }
            OpBody::SetUserMode { uid, mode, on } => {
                if let Some(rec) = self.changing_user(*uid, t) {
                    rec.modes.get_or_default(*mode).set(*on, stamp);
                }
            }
            OpBody::Join { channel, uid } => {
                let folded = cm.fold(channel);
                let live = self.note_membership(*uid, &folded);
                let (_, rec) = self.channel_mut(channel);
                rec.join(op.id, stamp, *uid, channel, op.wall_ms, live);
                t.channel(&folded).uids.insert(*uid);
            }
            OpBody::Leave {
                channel,
                uid,
                observed,
                ..
            } => {
                let folded = cm.fold(channel);
                if self.note_membership(*uid, &folded) {
                    self.channel_mut(channel).1.leave(*uid, observed);
                    t.channel(&folded).uids.insert(*uid);
                }
            }
            OpBody::SetPrefix {
                channel,
                uid,
                mode,
                on,
                observed,
                ..
            } => {
                let folded = cm.fold(channel);
                if is_prefix_mode(*mode) && self.note_membership(*uid, &folded) {
                    let (_, rec) = self.channel_mut(channel);
                    if *on {
                        rec.prefixes.add((*uid, *mode), op.id);
                    } else {
                        rec.prefixes.remove(&(*uid, *mode), observed);
                    }
                    t.channel(&folded).uids.insert(*uid);
                }
            }
            OpBody::SetChannelFlag {
                channel, mode, on, ..
            } => {
                let (folded, rec) = self.channel_mut(channel);
                rec.set_flag(*mode, *on, stamp);
                t.channel(&folded).fields = true;
            }
            OpBody::SetKey { channel, key, .. } => {
                let (folded, rec) = self.channel_mut(channel);
                rec.set_key(key.clone(), stamp);
                t.channel(&folded).fields = true;
            }
            OpBody::SetLimit { channel, limit, .. } => {
                let (folded, rec) = self.channel_mut(channel);
                rec.set_limit(*limit, stamp);
                t.channel(&folded).fields = true;
            }
            OpBody::SetTopic {
                channel,
                topic,
                setter,
                ..
            } => {
                let value = (!topic.is_empty()).then(|| Topic {
                    text: topic.clone(),
                    setter: setter.clone(),
                    set_ms: op.wall_ms,
                });
                let (folded, rec) = self.channel_mut(channel);
                rec.set_topic(value, stamp);
                t.channel(&folded).fields = true;
            }
            OpBody::ListAdd {
                channel,
                kind,
                mask,
                setter,
                ..
            } => {
                let entry = ListEntry {
                    mask: mask.clone(),
                    setter: setter.clone(),
                    set_ms: op.wall_ms,
                };
                let (folded, rec) = self.channel_mut(channel);
                rec.list_add(*kind, cm.fold(mask), op.id, stamp, entry);
                t.channel(&folded).lists.insert(*kind);
            }
            OpBody::ListRemove {
                channel,
                kind,
                mask,
                observed,
                ..
            } => {
                let (folded, rec) = self.channel_mut(channel);
                rec.list_remove(*kind, &cm.fold(mask), observed);
                t.channel(&folded).lists.insert(*kind);
            }
            OpBody::ChannelReset { channel, observed } => {
                let (folded, rec) = self.channel_mut(channel);
                rec.reset(stamp, observed);
                let touch = t.channel(&folded);
                touch.all_members = true;
                touch.fields = true;
                touch.lists.extend(ListKind::ALL);
            }
            OpBody::Message { .. } => {}
        }
    }
}
